"""Build time: cut the Compute operations this server serves out of the Azure OpenAPI files, with
every definition they reach, into one self-contained file shipped in the package
(`api/spec/compute.json`). The served document (api/openapi.py) starts from it.

    python -m scaleset.api.openapi_bundle ../shared/azure-compute-spec

The spec files are 2.2 MB across many files with cross-file `$ref`s; the bundle is the few hundred
kilobytes the served operations need, with every `$ref` local, so nothing outside the package is
read at runtime. tests/hostile/test_openapi.py checks the shipped bundle matches the spec files.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

VERSION = "2024-03-01"
SPEC_DIR = f"Microsoft.Compute/ComputeRP/stable/{VERSION}"
BUNDLE = Path(__file__).parent / "spec" / "compute.json"

# operationId -> why it is in (the route that serves it). Only what router.py really serves.
OPERATIONS: dict[str, tuple[str, ...]] = {
    "virtualMachineScaleSet.json": (
        "VirtualMachineScaleSets_CreateOrUpdate", "VirtualMachineScaleSets_Update", "VirtualMachineScaleSets_Delete",
        "VirtualMachineScaleSets_Get", "VirtualMachineScaleSets_List", "VirtualMachineScaleSets_ListAll",
        "VirtualMachineScaleSets_GetInstanceView", "VirtualMachineScaleSets_GetOSUpgradeHistory",
        "VirtualMachineScaleSets_Deallocate", "VirtualMachineScaleSets_DeleteInstances",
        "VirtualMachineScaleSets_PowerOff", "VirtualMachineScaleSets_Restart", "VirtualMachineScaleSets_Start",
        "VirtualMachineScaleSets_UpdateInstances", "VirtualMachineScaleSets_Reimage", "VirtualMachineScaleSets_ReimageAll",
        "VirtualMachineScaleSets_ApproveRollingUpgrade",
        "VirtualMachineScaleSetRollingUpgrades_Cancel", "VirtualMachineScaleSetRollingUpgrades_StartOSUpgrade",
        "VirtualMachineScaleSetRollingUpgrades_GetLatest",
        "VirtualMachineScaleSetVMs_Reimage", "VirtualMachineScaleSetVMs_ReimageAll",
        "VirtualMachineScaleSetVMs_ApproveRollingUpgrade", "VirtualMachineScaleSetVMs_Deallocate",
        "VirtualMachineScaleSetVMs_Delete", "VirtualMachineScaleSetVMs_Get", "VirtualMachineScaleSetVMs_GetInstanceView",
        "VirtualMachineScaleSetVMs_List", "VirtualMachineScaleSetVMs_PowerOff", "VirtualMachineScaleSetVMs_Restart",
        "VirtualMachineScaleSetVMs_Start",
    ),
    "virtualMachineImage.json": (
        "VirtualMachineImages_Get", "VirtualMachineImages_List", "VirtualMachineImages_ListOffers",
        "VirtualMachineImages_ListPublishers", "VirtualMachineImages_ListSkus",
    ),
}
_DROPPED_KEYS = ("x-ms-examples",)  # example files are not shipped


class _Bundler:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.files: dict[Path, dict[str, Any]] = {}
        self.sections: dict[str, dict[str, Any]] = {"definitions": {}, "parameters": {}}
        self.origin: dict[tuple[str, str], Path] = {}  # (section, name) -> the file it came from

    def load(self, path: Path) -> dict[str, Any]:
        path = path.resolve()
        if path not in self.files:
            self.files[path] = json.loads(path.read_text())
        return self.files[path]

    def localize(self, node: Any, here: Path) -> Any:
        """A copy of node with every $ref made local, pulling what it names into the bundle."""
        if isinstance(node, list):
            return [self.localize(item, here) for item in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            return {**{k: v for k, v in node.items() if k != "$ref"}, "$ref": self.pull(node["$ref"], here)}
        return {key: self.localize(value, here) for key, value in node.items() if key not in _DROPPED_KEYS}

    def pull(self, ref: str, here: Path) -> str:
        file_part, _, pointer = ref.partition("#")
        source = (here.parent / file_part).resolve() if file_part else here.resolve()
        _, section, name = pointer.split("/")
        local = name
        seen = self.origin.get((section, local))
        if seen is not None and seen != source:
            local = f"{source.stem}.{name}"  # the same name in two files: keep both apart
            seen = self.origin.get((section, local))
        if seen is None:
            self.origin[(section, local)] = source
            self.sections[section][local] = {}  # reserve first: definitions refer to themselves
            self.sections[section][local] = self.localize(self.load(source)[section][name], source)
        return f"#/{section}/{local}"


def bundle(spec_root: Path) -> dict[str, Any]:
    """The served Compute operations at VERSION, with every definition and parameter they use."""
    bundler = _Bundler(spec_root)
    paths: dict[str, dict[str, Any]] = {}
    for filename, wanted in OPERATIONS.items():
        source = spec_root / SPEC_DIR / filename
        spec = bundler.load(source)
        found = set()
        for path, item in spec["paths"].items():
            for method, operation in item.items():
                if isinstance(operation, dict) and operation.get("operationId") in wanted:
                    paths.setdefault(path, {})[method] = bundler.localize(copy.deepcopy(operation), source)
                    found.add(operation["operationId"])
        missing = set(wanted) - found
        if missing:
            raise SystemExit(f"{filename} has no operation {sorted(missing)}")
    return {"x-source": f"azure-rest-api-specs {SPEC_DIR} (+ common-types/v1)", "paths": paths,
            "definitions": dict(sorted(bundler.sections["definitions"].items())),
            "parameters": dict(sorted(bundler.sections["parameters"].items()))}


def main(argv: list[str]) -> None:
    if len(argv) != 1:
        raise SystemExit("usage: python -m scaleset.api.openapi_bundle <azure-compute-spec folder>")
    BUNDLE.parent.mkdir(exist_ok=True)
    BUNDLE.write_text(json.dumps(bundle(Path(argv[0])), indent=1, sort_keys=False) + "\n")
    print(f"wrote {BUNDLE} ({BUNDLE.stat().st_size} bytes)")


if __name__ == "__main__":
    main(sys.argv[1:])
