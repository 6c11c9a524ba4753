"""Wire validation of request bodies, from the spec's constraints.

The models check what a body says about the fields the server acts on (types, enums, ranges,
formats) and let every other field through untouched: the stored body is the one the client sent.
A failure becomes a 400 InvalidParameter whose target is the JSON path of the field.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from scaleset.model.durations import parse_duration
from scaleset.model.image_reference import is_version
from scaleset.service.errors import ArmError


class Wire(BaseModel):
    # strict: a JSON true is not an integer and "2" is not a number, as ARM's own validation says
    model_config = ConfigDict(extra="allow", strict=True)


def _enum(*choices: str) -> Any:
    def check(value: str) -> str:
        if str(value).lower() not in {c.lower() for c in choices}:
            raise ValueError(f"'{value}' is not one of {', '.join(choices)}")
        return value

    return Annotated[str, AfterValidator(check)]


def _duration(value: str) -> str:
    parse_duration(value)
    return value


Duration = Annotated[str, AfterValidator(_duration)]


def _tags(tags: dict[str, str]) -> dict[str, str]:
    # Azure's limits on tags: 50 per resource, names up to 512 characters, values up to 256.
    if len(tags) > 50:
        raise ValueError(f"{len(tags)} tags; a resource takes at most 50")
    for name, value in tags.items():
        if not name or len(name) > 512:
            raise ValueError(f"the tag name '{name[:100]}' must be 1 to 512 characters")
        if len(value) > 256:
            raise ValueError(f"the value of tag '{name[:100]}' is longer than 256 characters")
    return tags


Tags = Annotated[dict[str, str], AfterValidator(_tags)]
Percent5 = Annotated[int, Field(ge=5, le=100)]
Percent0 = Annotated[int, Field(ge=0, le=100)]


class Sku(Wire):
    name: str | None = None
    tier: str | None = None
    capacity: Annotated[int, Field(ge=0, le=1000)] | None = None


class RollingUpgradePolicy(Wire):
    maxBatchInstancePercent: Percent5 | None = None
    maxUnhealthyInstancePercent: Percent5 | None = None
    maxUnhealthyUpgradedInstancePercent: Percent0 | None = None
    pauseTimeBetweenBatches: Duration | None = None
    enableCrossZoneUpgrade: bool | None = None
    prioritizeUnhealthyInstances: bool | None = None
    rollbackFailedInstancesOnPolicyBreach: bool | None = None
    maxSurge: bool | None = None


class AutomaticOSUpgradePolicy(Wire):
    enableAutomaticOSUpgrade: bool | None = None
    disableAutomaticRollback: bool | None = None
    useRollingUpgradePolicy: bool | None = None
    osRollingUpgradeDeferral: bool | None = None


class UpgradePolicy(Wire):
    mode: _enum("Automatic", "Manual", "Rolling") | None = None  # type: ignore[valid-type]
    rollingUpgradePolicy: RollingUpgradePolicy | None = None
    automaticOSUpgradePolicy: AutomaticOSUpgradePolicy | None = None


class AutomaticRepairsPolicy(Wire):
    enabled: bool | None = None
    gracePeriod: Duration | None = None


class ImageReference(Wire):
    publisher: str | None = None
    offer: str | None = None
    sku: str | None = None
    version: str | None = None

    @field_validator("version")
    @classmethod
    def _version(cls, value: str | None) -> str | None:
        if value is not None and value.lower() != "latest" and not is_version(value):
            raise ValueError(f"'{value}' is neither 'latest' nor a version Major.Minor.Build")
        return value


class OsDisk(Wire):
    createOption: _enum("FromImage", "Empty", "Attach") | None = None  # type: ignore[valid-type]
    caching: _enum("None", "ReadOnly", "ReadWrite") | None = None  # type: ignore[valid-type]
    diskSizeGB: Annotated[int, Field(ge=1)] | None = None


class DataDisk(Wire):
    lun: Annotated[int, Field(ge=0, le=63)]
    createOption: _enum("FromImage", "Empty", "Attach")  # type: ignore[valid-type]
    diskSizeGB: Annotated[int, Field(ge=1)] | None = None


class StorageProfile(Wire):
    imageReference: ImageReference | None = None
    osDisk: OsDisk | None = None
    dataDisks: list[DataDisk] | None = None

    @field_validator("dataDisks")
    @classmethod
    def _distinct_luns(cls, disks: list[DataDisk] | None) -> list[DataDisk] | None:
        luns = [d.lun for d in disks or ()]
        if len(luns) != len(set(luns)):
            raise ValueError("data disk luns must be distinct")
        return disks


def _base64(value: str) -> str:
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("customData must be base64") from None
    return value


class OsProfile(Wire):
    computerNamePrefix: Annotated[str, Field(min_length=1, max_length=58)] | None = None
    adminUsername: str | None = None
    adminPassword: str | None = None
    customData: Annotated[str, AfterValidator(_base64)] | None = None


class ApiEntityReference(Wire):
    id: str


class NetworkProfile(Wire):
    healthProbe: ApiEntityReference | None = None


class ExtensionProperties(Wire):
    publisher: str | None = None
    type: str | None = None
    typeHandlerVersion: str | None = None
    settings: dict[str, Any] | None = None
    protectedSettings: dict[str, Any] | None = None
    provisionAfterExtensions: list[str] | None = None


class Extension(Wire):
    name: Annotated[str, Field(min_length=1)]
    properties: ExtensionProperties | None = None


class ExtensionProfile(Wire):
    extensions: Annotated[list[Extension], Field(max_length=100)] | None = None

    @field_validator("extensions")
    @classmethod
    def _names(cls, extensions: list[Extension] | None) -> list[Extension] | None:
        names = [e.name.lower() for e in extensions or ()]
        if len(names) != len(set(names)):
            raise ValueError("extension names must be distinct")
        known = set(names)
        after: dict[str, list[str]] = {}
        for extension in extensions or ():
            wanted = (extension.properties.provisionAfterExtensions or []) if extension.properties else []
            for name in wanted:
                if name.lower() not in known:
                    raise ValueError(f"extension '{extension.name}' is to provision after '{name}', which is not in the profile")
            after[extension.name.lower()] = [name.lower() for name in wanted]
        cycle = _cycle(after)
        if cycle:
            raise ValueError(f"provisionAfterExtensions makes a cycle: {' -> '.join(cycle)}")
        return extensions


def _cycle(after: dict[str, list[str]]) -> list[str]:
    """A dependency cycle among extensions, as names in order, or [] when there is none."""
    done: set[str] = set()
    for start in after:
        path: list[str] = []
        on_path: set[str] = set()

        def visit(name: str) -> list[str]:
            if name in on_path:
                return path[path.index(name):] + [name]
            if name in done:
                return []
            on_path.add(name)
            path.append(name)
            for before in after.get(name, []):
                found = visit(before)
                if found:
                    return found
            path.pop()
            on_path.discard(name)
            done.add(name)
            return []

        found = visit(start)
        if found:
            return found
    return []


class VirtualMachineProfile(Wire):
    osProfile: OsProfile | None = None
    storageProfile: StorageProfile | None = None
    networkProfile: NetworkProfile | None = None
    extensionProfile: ExtensionProfile | None = None


class ScaleSetProperties(Wire):
    upgradePolicy: UpgradePolicy | None = None
    automaticRepairsPolicy: AutomaticRepairsPolicy | None = None
    virtualMachineProfile: VirtualMachineProfile | None = None
    overprovision: bool | None = None
    singlePlacementGroup: bool | None = None
    platformFaultDomainCount: Annotated[int, Field(ge=1, le=5)] | None = None


class ScaleSetUpdate(Wire):
    """PATCH body: no location, no zones."""

    sku: Sku | None = None
    tags: Tags | None = None
    properties: ScaleSetProperties | None = None


class ScaleSet(ScaleSetUpdate):
    location: Annotated[str, Field(min_length=1)]
    zones: list[str] | None = None


class ScaleSetCreate(ScaleSet):
    """A new scale set needs a sku; what it runs is checked by the service, which resolves it."""

    sku: Sku


class ResourceGroup(Wire):
    location: Annotated[str, Field(min_length=1)]
    tags: Tags | None = None


class ProbeProperties(Wire):
    protocol: _enum("Http", "Https", "Tcp")  # type: ignore[valid-type]
    port: Annotated[int, Field(ge=1, le=65535)]
    requestPath: str | None = None
    intervalInSeconds: Annotated[int, Field(ge=5, le=2147483647)] | None = None
    numberOfProbes: Annotated[int, Field(ge=1)] | None = None
    probeThreshold: Annotated[int, Field(ge=1)] | None = None

    @field_validator("requestPath")
    @classmethod
    def _path(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("/"):
            raise ValueError("requestPath must start with '/'")
        return value

    @model_validator(mode="after")
    def _path_fits_protocol(self) -> ProbeProperties:
        if self.protocol.lower() in ("http", "https") and not self.requestPath:
            raise ValueError("an Http or Https probe needs a requestPath")
        if self.protocol.lower() == "tcp" and self.requestPath:
            raise ValueError("a Tcp probe takes no requestPath")
        return self


class Probe(Wire):
    name: Annotated[str, Field(min_length=1)]
    properties: ProbeProperties


class LoadBalancerProperties(Wire):
    probes: list[Probe] | None = None


class NetworkResource(Wire):
    location: str | None = None
    tags: Tags | None = None


class LoadBalancer(NetworkResource):
    properties: LoadBalancerProperties | None = None


class InstanceIds(Wire):
    instanceIds: list[str] | None = None


class RequiredInstanceIds(Wire):
    instanceIds: Annotated[list[str], Field(min_length=1)]


def validate(model: type[BaseModel], body: Any) -> dict[str, Any]:
    """Check `body` against `model`; return it unchanged or raise the ARM 400."""
    if not isinstance(body, dict):
        raise ArmError(400, "InvalidRequestContent", "The request content must be a JSON object.")
    try:
        model.model_validate(body)
    except ValidationError as error:
        first = error.errors()[0]
        target = _path(first["loc"])
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] == "missing":
            raise ArmError(400, "InvalidParameter", f"Required parameter '{target}' is missing (null).", target=target) from None
        raise ArmError(400, "InvalidParameter", f"The value of parameter '{target}' is invalid: {message}.", target=target) from None
    return body


def _path(loc: tuple[int | str, ...]) -> str | None:
    """pydantic's location as a JSON path: properties.probes[0].properties.port"""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or None


class NewPrincipal(Wire):
    displayName: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    kind: _enum("ServicePrincipal", "ManagedIdentity") | None = None
    subscriptions: list[str] | None = None
