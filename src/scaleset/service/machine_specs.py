"""What a create or reimage asks of the driver: an `InstanceSpec`, from the scale set's model.

Most of a spec is the same for every instance of a scale set going to one image (the image's
artifact, the size, the ports, the extensions with their decrypted protected settings): a
`SpecTemplate` works that out once for a batch, and `spec()` adds what is the instance's own.
"""

from __future__ import annotations

import functools
import sys
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from scaleset.drivers.base import ExtensionSpec, ImageArtifact, InstanceSpec
from scaleset.images import catalog
from scaleset.images.artifacts import ArtifactStore
from scaleset.model.image_reference import ImageReference
from scaleset.model.scale_set import ScaleSetModel, computer_name
from scaleset.service import bodies
from scaleset.service.network import backend_ports, health_probe_of
from scaleset.store.secrets import SecretBox
from scaleset.store.tables import scale_sets


# Instance ids repeat from one scale set to the next: one string for each, not one per machine.
_id_text = functools.cache(str)


@dataclass(frozen=True)
class SpecTemplate:
    scale_set: sa.Row[Any]
    image: ImageArtifact
    model: ScaleSetModel
    ports: tuple[int, ...]
    extensions: tuple[ExtensionSpec, ...]  # one tuple shared by every spec made from the template

    @property
    def model_version(self) -> int:
        return int(self.scale_set.model_version)

    def spec(self, row: sa.Row[Any]) -> InstanceSpec:
        """The spec of one instance's create or reimage (its row in `instances`)."""
        return InstanceSpec(
            # Interned: the health watch keeps the same strings for the same machine.
            key=sys.intern(row.machine_key),
            instance_id=_id_text(row.instance_id),
            generation=row.action_seq,  # a reimage the driver already did for this intent is not redone
            computer_name=computer_name(self.model.computer_name_prefix, row.instance_id),
            private_ip=sys.intern(row.private_ip),
            image=self.image,
            custom_data=self.model.custom_data,
            sku=self.model.sku_name,
            ports=self.ports,
            data_disk_luns=self.model.data_disk_luns,
            extensions=self.extensions,
        )


def template(conn: sa.Connection, scale_set_key: str, image_urn: str, artifacts: ArtifactStore,
             secret_box: SecretBox) -> SpecTemplate:
    """Raises RuntimeError when the image left the catalogue."""
    scale_set = conn.execute(sa.select(scale_sets).where(scale_sets.c.key == scale_set_key)).one()
    ref = ImageReference.from_urn(image_urn)
    image = catalog.find(conn, scale_set.location, ref)
    if image is None:
        raise RuntimeError(f"image {ref.urn} is no longer in the catalogue")
    model = ScaleSetModel.from_body(scale_set.name, scale_set.body)
    secrets: bodies.Secrets = secret_box.decrypt(scale_set.secrets) if scale_set.secrets else {}
    protected = secrets.get("protectedSettings") or {}
    extensions = tuple(
        ExtensionSpec(name=e.name, publisher=e.publisher, type=e.type, type_handler_version=e.type_handler_version,
                      settings=e.settings, protected_settings=dict(protected.get(e.name) or {}),
                      provision_after=e.provision_after)
        for e in model.extensions
    )
    return SpecTemplate(scale_set, ImageArtifact(urn=ref.urn, path=artifacts.path(image.artifact)), model,
                        _machine_ports(conn, scale_set.body, model), extensions)


def _machine_ports(conn: sa.Connection, body: dict[str, Any], model: ScaleSetModel) -> tuple[int, ...]:
    """The ports of a machine the host must reach: its health probe's and its load balancer's backends."""
    ports = set(backend_ports(conn, model.health_probe_id)) if model.health_probe_id else set()
    try:
        probe = health_probe_of(conn, body, model.health_probe_id)
    except ValueError:
        probe = None  # a malformed probe is reported by the health monitor
    if probe is not None:
        ports.add(probe.port)
    return tuple(sorted(ports))
