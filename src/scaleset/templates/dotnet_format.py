"""format(): .NET composite formatting ('{0}', '{1,-8}', '{0:D3}'), which ARM uses as is.

Arguments print as ARM passes them to String.Format: integers honour numeric format strings
(standard D, X, N, F, E, P, G and simple custom patterns like '000' or '#,##0'), booleans print
'True'/'False', null prints nothing, strings ignore the format string, and objects/arrays print as
compact JSON with double quotes turned into single ones.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal

from scaleset.templates.json_values import Json, compact_json, dotnet_string, is_int

_STANDARD = re.compile(r"^([DdXxNnFfEePpGg])(\d{1,2})?$")
_CUSTOM = re.compile(r"^[0#,]+(\.[0#]+)?$")


class FormatError(ValueError):
    """What .NET would throw as a FormatException; the message is .NET's."""


def composite_format(template: str, arguments: Sequence[Json]) -> str:
    out: list[str] = []
    position = 0
    while position < len(template):
        char = template[position]
        if char == "{" and template.startswith("{{", position):
            out.append("{")
            position += 2
        elif char == "}" and template.startswith("}}", position):
            out.append("}")
            position += 2
        elif char == "{":
            end = template.find("}", position)
            if end < 0:
                raise FormatError("Input string was not in a correct format.")
            out.append(_format_item(template[position + 1:end], arguments))
            position = end + 1
        elif char == "}":
            raise FormatError("Input string was not in a correct format.")
        else:
            out.append(char)
            position += 1
    return "".join(out)


def _format_item(item: str, arguments: Sequence[Json]) -> str:
    head, _, format_string = item.partition(":")
    index_text, _, alignment_text = head.partition(",")
    if not index_text.strip().isdigit() or (alignment_text and not re.match(r"^\s*-?\d+\s*$", alignment_text)):
        raise FormatError("Input string was not in a correct format.")
    index = int(index_text)
    if index >= len(arguments):
        raise FormatError("Index (zero based) must be greater than or equal to zero and less than the size "
                          "of the argument list.")
    text = format_value(arguments[index], format_string)
    width = int(alignment_text) if alignment_text else 0
    return text.rjust(width) if width >= 0 else text.ljust(-width)


def format_value(value: Json, format_string: str) -> str:
    if is_int(value) and format_string:
        return _format_integer(value, format_string)
    if isinstance(value, (dict, list)):
        return compact_json(value).replace('"', "'")
    return dotnet_string(value)


def _format_integer(value: int, format_string: str) -> str:
    standard = _STANDARD.match(format_string)
    if standard:
        kind, digits = standard.group(1), standard.group(2)
        return _standard_format(value, kind, None if digits is None else int(digits))
    if _CUSTOM.match(format_string):
        return _custom_format(value, format_string)
    raise FormatError("Format specifier was invalid.")


def _standard_format(value: int, kind: str, precision: int | None) -> str:
    upper = kind.upper()
    sign = "-" if value < 0 else ""
    if upper == "D":
        return sign + str(abs(value)).zfill(precision or 0)
    if upper == "X":
        hex_digits = format(value & 0xFFFFFFFFFFFFFFFF if value < 0 else value, "X" if kind == "X" else "x")
        return hex_digits.zfill(precision or 0)
    decimals = "." + "0" * (2 if precision is None else precision)
    decimals = decimals if decimals != "." else ""  # integers have no fraction: only zeros to show
    if upper == "N":
        return f"{value:,}{decimals}"
    if upper == "F":
        return f"{value}{decimals}"
    if upper == "P":
        return f"{value * 100:,}{decimals} %"
    if upper == "E":  # Decimal, not float: 64-bit integers keep every digit
        mantissa, exponent = format(Decimal(abs(value)), f".{6 if precision is None else precision}E").split("E")
        return f"{sign}{mantissa}{kind}{exponent[0]}{int(exponent[1:]):03d}"
    return str(value)  # G: integers print in full


def _custom_format(value: int, pattern: str) -> str:
    integer_pattern, _, decimal_pattern = pattern.partition(".")
    minimum_digits = integer_pattern.count("0")
    digits = str(abs(value)).zfill(minimum_digits)
    if value == 0 and minimum_digits == 0:
        digits = ""  # '#' shows no digit for zero
    if "," in integer_pattern.strip(","):  # a comma between digit placeholders groups thousands
        digits = _group(digits)
    decimals = "0" * decimal_pattern.count("0")
    return ("-" if value < 0 else "") + digits + (f".{decimals}" if decimals else "")


def _group(digits: str) -> str:
    if not digits:
        return digits
    head = len(digits) % 3 or 3
    return ",".join([digits[:head]] + [digits[i:i + 3] for i in range(head, len(digits), 3)])
