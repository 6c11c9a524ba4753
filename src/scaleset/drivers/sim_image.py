"""The sim driver's image artifact: a JSON document of timings, health and fault knobs.

    {"bootSeconds": 30, "reimageSeconds": 60, "warmupSeconds": 0, "healthy": true,
     "failCreate": false, "failReimage": false, "extensionsFail": false}

Every key is optional (defaults above). Unknown keys are refused, so a typo does not silently
leave a knob at its default.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scaleset.drivers.base import InvalidArtifact

_NUMBERS = {"bootSeconds": "boot_seconds", "reimageSeconds": "reimage_seconds", "warmupSeconds": "warmup_seconds"}
_FLAGS = {
    "healthy": "healthy",
    "failCreate": "fail_create",
    "failReimage": "fail_reimage",
    "extensionsFail": "extensions_fail",
}


@dataclass(frozen=True, slots=True)
class SimImage:
    boot_seconds: float = 30.0  # create and start take this long on the clock
    reimage_seconds: float = 60.0
    # After each boot or reimage the app answers unhealthy this long (it warms up), as real apps do.
    warmup_seconds: float = 0.0
    healthy: bool = True  # what the machine's app answers health probes with
    fail_create: bool = False  # create takes boot_seconds, then fails and leaves nothing
    fail_reimage: bool = False  # reimage takes reimage_seconds, then fails and leaves it stopped
    extensions_fail: bool = False  # every extension ends FAILED

    @classmethod
    def parse(cls, text: str) -> SimImage:
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidArtifact(f"a sim image is a JSON document: {exc}") from exc
        return cls.from_document(document)

    @classmethod
    def from_document(cls, document: Any) -> SimImage:
        if not isinstance(document, dict):
            raise InvalidArtifact("a sim image is a JSON object")
        unknown = sorted(set(document) - set(_NUMBERS) - set(_FLAGS))
        if unknown:
            known = ", ".join([*_NUMBERS, *_FLAGS])
            raise InvalidArtifact(f"unknown sim image keys {', '.join(unknown)}; known: {known}")
        fields: dict[str, Any] = {}
        for key, attr in _NUMBERS.items():
            if key in document:
                value = document[key]
                # bool is an int in Python; `true` seconds is a mistake, not 1.
                if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                    raise InvalidArtifact(f"{key} must be a number of seconds")
                if value < 0:
                    raise InvalidArtifact(f"{key} must be at least 0")
                fields[attr] = float(value)
        for key, attr in _FLAGS.items():
            if key in document:
                if not isinstance(document[key], bool):
                    raise InvalidArtifact(f"{key} must be true or false")
                fields[attr] = document[key]
        return cls(**fields)

    def to_document(self) -> dict[str, Any]:
        return {key: getattr(self, attr) for key, attr in (_NUMBERS | _FLAGS).items()}


def install_sim_image(upload: Path, dest: Path) -> SimImage:
    """Check the uploaded JSON and write it, normalized, to `dest/image.json`; blocking."""
    if not upload.is_file():
        raise InvalidArtifact(f"{upload.name}: a sim image is a .json file")
    try:
        text = upload.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidArtifact(f"{upload.name} is not readable UTF-8 JSON: {exc}") from exc
    image = SimImage.parse(text)
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "image.json").write_text(json.dumps(image.to_document(), indent=1))
    return image
