"""String functions: concat, format, case, trimming, searching, hashing, encoding, URIs."""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from urllib.parse import quote, unquote, urljoin, urlsplit

from scaleset.templates.context import EvaluationContext
from scaleset.templates.dotnet_format import FormatError, composite_format
from scaleset.templates.function_registry import (FunctionSpec, function_error, int_argument, string_argument,
                                                  type_error)
from scaleset.templates.hashing import deterministic_guid, unique_string
from scaleset.templates.json_values import Json, dotnet_string, is_int, json_equal


def _concat(ctx: EvaluationContext, args: list[Json]) -> Json:
    if all(isinstance(arg, list) for arg in args):
        return [element for arg in args for element in arg]
    parts = []
    for position, arg in enumerate(args):
        if isinstance(arg, (list, dict)):
            raise type_error("concat", "a string, integer or boolean (or every parameter an array)", arg, position)
        parts.append(dotnet_string(arg))
    return "".join(parts)


def _format(ctx: EvaluationContext, args: list[Json]) -> str:
    template = string_argument("format", args, 0)
    try:
        return composite_format(template, args[1:])
    except FormatError as error:
        raise function_error("format", str(error)) from None


def _to_lower(ctx: EvaluationContext, args: list[Json]) -> str:
    return string_argument("toLower", args).lower()


def _to_upper(ctx: EvaluationContext, args: list[Json]) -> str:
    return string_argument("toUpper", args).upper()


def _trim(ctx: EvaluationContext, args: list[Json]) -> str:
    return string_argument("trim", args).strip()


def _replace(ctx: EvaluationContext, args: list[Json]) -> str:
    text, old, new = (string_argument("replace", args, i) for i in range(3))
    if not old:
        raise function_error("replace", "the string to replace must not be empty.")
    return text.replace(old, new)


def _split(ctx: EvaluationContext, args: list[Json]) -> list[str]:
    text = string_argument("split", args, 0)
    delimiters = args[1]
    if isinstance(delimiters, str):
        delimiters = [delimiters]
    if not isinstance(delimiters, list) or not all(isinstance(d, str) for d in delimiters):
        raise type_error("split", "a string or an array of strings", args[1], 1)
    # .NET's Split(string[]) tries the delimiters in order at each position and ignores empty ones.
    usable = [re.escape(d) for d in delimiters if d]
    return re.split("|".join(usable), text) if usable else [text]


def _substring(ctx: EvaluationContext, args: list[Json]) -> str:
    text = string_argument("substring", args, 0)
    start = int_argument("substring", args, 1)
    length = int_argument("substring", args, 2) if len(args) == 3 else len(text) - start
    if start < 0 or length < 0 or start + length > len(text):
        raise function_error("substring", f"The index and length parameters must refer to a location within "
                                          f"the string. The index parameter: '{start}', the length parameter: "
                                          f"'{length}', the length of the string parameter: '{len(text)}'.")
    return text[start:start + length]


def _pad_left(ctx: EvaluationContext, args: list[Json]) -> str:
    value = args[0]
    if not isinstance(value, str) and not is_int(value):
        raise type_error("padLeft", "a string or an integer", value, 0)
    width = int_argument("padLeft", args, 1)
    padding = string_argument("padLeft", args, 2) if len(args) == 3 else " "
    if len(padding) != 1:
        raise function_error("padLeft", "the padding character must be a single character.")
    return str(value).rjust(width, padding)


def _starts_with(ctx: EvaluationContext, args: list[Json]) -> bool:
    text, prefix = (string_argument("startsWith", args, i) for i in range(2))
    return text.casefold().startswith(prefix.casefold())


def _ends_with(ctx: EvaluationContext, args: list[Json]) -> bool:
    text, suffix = (string_argument("endsWith", args, i) for i in range(2))
    return text.casefold().endswith(suffix.casefold())


def _index_of(ctx: EvaluationContext, args: list[Json]) -> int:
    return _search("indexOf", args, last=False)


def _last_index_of(ctx: EvaluationContext, args: list[Json]) -> int:
    return _search("lastIndexOf", args, last=True)


def _search(function: str, args: list[Json], *, last: bool) -> int:
    container, value = args
    if isinstance(container, list):
        positions = [i for i, element in enumerate(container) if json_equal(element, value)]
        return (positions[-1] if last else positions[0]) if positions else -1
    text = string_argument(function, args, 0)
    needle = string_argument(function, args, 1)
    # ARM searches strings case-insensitively.
    return text.casefold().rfind(needle.casefold()) if last else text.casefold().find(needle.casefold())


def _string_arguments(function: str, args: list[Json]) -> list[str]:
    return [string_argument(function, args, i) for i in range(len(args))]


def _unique_string(ctx: EvaluationContext, args: list[Json]) -> str:
    return unique_string(_string_arguments("uniqueString", args))


def _guid(ctx: EvaluationContext, args: list[Json]) -> str:
    return deterministic_guid(_string_arguments("guid", args))


def _new_guid(ctx: EvaluationContext, args: list[Json]) -> str:
    return str(uuid.uuid4())


def _base64(ctx: EvaluationContext, args: list[Json]) -> str:
    return base64.b64encode(string_argument("base64", args).encode("utf-8")).decode("ascii")


def _base64_decoded(function: str, args: list[Json]) -> str:
    try:
        return base64.b64decode(string_argument(function, args), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise function_error(function, "the value is not valid base64.") from None


def _base64_to_string(ctx: EvaluationContext, args: list[Json]) -> str:
    return _base64_decoded("base64ToString", args)


def _base64_to_json(ctx: EvaluationContext, args: list[Json]) -> Json:
    try:
        return json.loads(_base64_decoded("base64ToJson", args))
    except json.JSONDecodeError:
        raise function_error("base64ToJson", "the decoded value is not valid JSON.") from None


def _uri(ctx: EvaluationContext, args: list[Json]) -> str:
    base, relative = (string_argument("uri", args, i) for i in range(2))
    parts = urlsplit(base)
    if not parts.scheme or not parts.netloc:
        raise function_error("uri", f"the base URI '{base}' is not an absolute URI.")
    return urljoin(base, relative)


def _uri_component(ctx: EvaluationContext, args: list[Json]) -> str:
    return quote(string_argument("uriComponent", args), safe="-_.~")


def _uri_component_to_string(ctx: EvaluationContext, args: list[Json]) -> str:
    return unquote(string_argument("uriComponentToString", args))


FUNCTIONS = [
    FunctionSpec("concat", 1, None, _concat),
    FunctionSpec("format", 1, None, _format),
    FunctionSpec("toLower", 1, 1, _to_lower),
    FunctionSpec("toUpper", 1, 1, _to_upper),
    FunctionSpec("trim", 1, 1, _trim),
    FunctionSpec("replace", 3, 3, _replace),
    FunctionSpec("split", 2, 2, _split),
    FunctionSpec("substring", 2, 3, _substring),
    FunctionSpec("padLeft", 2, 3, _pad_left),
    FunctionSpec("startsWith", 2, 2, _starts_with),
    FunctionSpec("endsWith", 2, 2, _ends_with),
    FunctionSpec("indexOf", 2, 2, _index_of),
    FunctionSpec("lastIndexOf", 2, 2, _last_index_of),
    FunctionSpec("uniqueString", 1, None, _unique_string),
    FunctionSpec("guid", 1, None, _guid),
    FunctionSpec("newGuid", 0, 0, _new_guid, parameter_default_only=True),
    FunctionSpec("base64", 1, 1, _base64),
    FunctionSpec("base64ToString", 1, 1, _base64_to_string),
    FunctionSpec("base64ToJson", 1, 1, _base64_to_json),
    FunctionSpec("uri", 2, 2, _uri),
    FunctionSpec("uriComponent", 1, 1, _uri_component),
    FunctionSpec("uriComponentToString", 1, 1, _uri_component_to_string),
]
