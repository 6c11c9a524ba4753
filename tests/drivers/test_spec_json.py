from __future__ import annotations

import dataclasses
from pathlib import Path

from scaleset.drivers.base import ExtensionSpec, ImageArtifact, InstanceSpec
from scaleset.drivers.spec_json import spec_from_document, spec_to_document


def test_a_spec_comes_back_without_its_protected_settings() -> None:
    spec = InstanceSpec(
        key="rg/vmss/3", instance_id="3", computer_name="vmss000003", private_ip="10.0.0.7",
        image=ImageArtifact("p:o:s:1.0.0", Path("/images/1.0.0")), custom_data=b"#!/bin/sh\n\x00\xff",
        data_disk_luns=(0, 2),
        extensions=(ExtensionSpec("cse", "Microsoft.Azure.Extensions", "CustomScript", "2.1", {"a": [1]},
                                  {"commandToExecute": "secret"}, ("health",)),),
    )  # fmt: skip
    document = spec_to_document(spec)
    assert "secret" not in str(document)
    back = spec_from_document(document)
    assert back.extensions[0].protected_settings == {}
    public = dataclasses.replace(spec.extensions[0], protected_settings={})
    assert back == dataclasses.replace(spec, extensions=(public,))
