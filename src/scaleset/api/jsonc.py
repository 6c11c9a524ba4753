"""JSONC bodies, as ARM reads them for deployments: `az deployment group create` splices the
template file, comments and all, into its body after an unquoted `template:` key.

The json5 package reads all of that but is pure Python and slow: 3 MB of template took three
minutes of the event loop. So the usual JSONC (comments, unquoted keys, trailing commas) is
rewritten to JSON with regular expressions and read by the C parser; only a small body that still
does not parse goes to json5, in a thread, for what JSON5 allows beyond that.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import json5

JSON5_AT_MOST = 64 * 1024  # json5 reads about 20 KB/s of dense JSON; beyond this it would take seconds

_STRING = r'"[^"\\]*(?:\\.[^"\\]*)*"'
_COMMENTS = re.compile(rf"({_STRING})|//[^\n]*|/\*.*?\*/", re.DOTALL)
_KEYS_AND_COMMAS = re.compile(rf"({_STRING})|([A-Za-z_$][\w$]*)(?=\s*:)|,(?=\s*[}}\]])")


def _strip_comment(match: re.Match[str]) -> str:
    return match.group(1) or " "


def _quote_key(match: re.Match[str]) -> str:
    if match.group(1):
        return match.group(1)
    if match.group(2):
        return f'"{match.group(2)}"'
    return ""  # a trailing comma


def to_json(text: str) -> str:
    """JSONC text as JSON: strings kept as they are, comments dropped, bare keys quoted, trailing commas gone."""
    return _KEYS_AND_COMMAS.sub(_quote_key, _COMMENTS.sub(_strip_comment, text))


async def loads(raw: bytes) -> Any:
    """Parse a JSONC body; raises ValueError (or RecursionError) as json.loads does."""
    try:
        return json.loads(raw)
    except ValueError:
        pass
    text = raw.decode("utf-8")
    try:
        return json.loads(to_json(text))
    except ValueError:
        if len(raw) > JSON5_AT_MOST:
            raise
    return await asyncio.to_thread(json5.loads, text)
