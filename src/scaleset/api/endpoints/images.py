"""The platform image catalogue (bare arrays, not paged) and publishing, which is ours.

Publishing: PUT .../versions/{version}?osType=Linux with the artifact as the raw body
(application/gzip for a .tar.gz, application/json for a simulator image, application/octet-stream
for a disk image).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from starlette.responses import Response

from scaleset.api import render
from scaleset.api.app import ArmRequest
from scaleset.api.endpoints.paths import COMPUTE_LOCATION
from scaleset.api.limits import MAX_ARTIFACT
from scaleset.api.responses import json_response
from scaleset.api.router import Router
from scaleset.model.image_reference import ImageReference
from scaleset.service.errors import ArmError

PUBLISHERS = COMPUTE_LOCATION + "/publishers"
OFFERS = PUBLISHERS + "/{publisher}/artifacttypes/vmimage/offers"
SKUS = OFFERS + "/{offer}/skus"
VERSIONS = SKUS + "/{sku}/versions"


def register(router: Router) -> None:
    router.add("GET", PUBLISHERS, list_publishers)
    router.add("GET", OFFERS, list_offers)
    router.add("GET", SKUS, list_skus)
    router.add("GET", VERSIONS, list_versions)
    router.add("GET", VERSIONS + "/{version}", get_version)
    router.add("PUT", VERSIONS + "/{version}", publish_version, raw_body=True, admin=True)


def _where(req: ArmRequest) -> tuple[str, str]:
    return req.param("subscription"), req.param("location")


async def list_publishers(req: ArmRequest) -> Response:
    sub, location = _where(req)
    return json_response([render.image_resource(sub, location, name, name)
                          for name in req.plane.images.names("publisher", location)])


async def list_offers(req: ArmRequest) -> Response:
    sub, location = _where(req)
    publisher = req.param("publisher")
    return json_response([render.image_resource(sub, location, name, publisher, name)
                          for name in req.plane.images.names("offer", location, publisher=publisher)])


async def list_skus(req: ArmRequest) -> Response:
    sub, location = _where(req)
    publisher, offer = req.param("publisher"), req.param("offer")
    return json_response([render.image_resource(sub, location, name, publisher, offer, name)
                          for name in req.plane.images.names("sku", location, publisher=publisher, offer=offer)])


async def list_versions(req: ArmRequest) -> Response:
    sub, location = _where(req)
    rows = req.plane.images.versions(location, req.param("publisher"), req.param("offer"), req.param("sku"))
    orderby = (req.query.get("$orderby") or "").lower()
    if "desc" in orderby:
        rows = list(reversed(rows))
    top = req.query.get("$top")
    if top is not None:
        if not top.isdigit():
            raise ArmError(400, "InvalidParameter", f"The value '{top}' of $top is not a non-negative integer.", target="$top")
        rows = rows[: int(top)]
    expand = "properties" in (req.query.get("$expand") or "").lower()
    return json_response([
        render.image(sub, row, location, eligible=req.plane.settings.eligible_images) if expand else render.image_resource(
            sub, location, row.version, row.names["publisher"], row.names["offer"], row.names["sku"], row.version)
        for row in rows
    ])


def _reference(req: ArmRequest) -> ImageReference:
    return ImageReference(req.param("publisher"), req.param("offer"), req.param("sku"), req.param("version"))


async def get_version(req: ArmRequest) -> Response:
    sub, location = _where(req)
    return json_response(render.image(sub, req.plane.images.get(location, _reference(req)), location,
                                      eligible=req.plane.settings.eligible_images))


async def publish_version(req: ArmRequest) -> Response:
    sub, location = _where(req)
    content_type = req.request.headers.get("content-type", "").split(";")[0].strip().lower()
    # Drivers recognise artifacts by their content; the suffix only helps someone reading uploads/.
    suffix = {"application/json": ".json", "application/octet-stream": ".img"}.get(content_type, ".tar.gz")
    uploads = req.plane.ctx.data_dir / "uploads"
    uploads.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=uploads, suffix=suffix, delete=False) as upload:
        path = Path(upload.name)
        size = 0
        try:
            async for chunk in req.request.stream():
                size += len(chunk)
                if size > MAX_ARTIFACT:  # RequestLimits stops it first; this holds without it too
                    raise ArmError(413, "RequestEntityTooLarge", "The artifact is larger than 4 GiB.")
                upload.write(chunk)
        except BaseException:  # too large, or the client went away: leave no partial upload behind
            path.unlink(missing_ok=True)
            raise
    try:
        if size == 0:
            raise ArmError(400, "InvalidArtifact", "The request carries no artifact; send it as the request body.", target="artifact")
        row, created = await req.plane.images.publish(location, _reference(req), os_type=req.query.get("osType", "Linux"), upload=path)
    finally:
        path.unlink(missing_ok=True)
    return json_response(render.image(sub, row, location, eligible=req.plane.settings.eligible_images),
                         201 if created else 200)
