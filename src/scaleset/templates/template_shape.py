"""The top level of a template: what must be there, of which type, and nothing ARM does not know."""

from __future__ import annotations

import re
from collections.abc import Mapping

from scaleset.templates.errors import invalid_template
from scaleset.templates.json_values import Json, type_name

_KNOWN_KEYS = {"$schema", "contentversion", "apiprofile", "parameters", "variables", "functions", "resources",
               "outputs", "metadata"}
_CONTENT_VERSION = re.compile(r"^\d+\.\d+\.\d+\.\d+$")
_OBJECT_SECTIONS = ("parameters", "variables", "outputs", "metadata")


def check_template_shape(template: Json) -> None:
    if not isinstance(template, Mapping):
        raise invalid_template(f"The template must be a JSON object; it is of type '{type_name(template)}'.")
    for key in template:
        if key.lower() == "languageversion":
            raise invalid_template("Templates with a 'languageVersion' (symbolic resource names) are not "
                                   "supported by this server.", key)
        if key.lower() not in _KNOWN_KEYS:
            raise invalid_template(f"Could not find member '{key}' on object of type 'Template'. Path '{key}'.", key)
    for key in ("$schema", "contentVersion"):
        if not isinstance(template.get(key), str):
            raise invalid_template(f"The template must have the property '{key}' as a string.", key)
    if not _CONTENT_VERSION.match(template["contentVersion"]):
        raise invalid_template(f"The template content version '{template['contentVersion']}' is not valid: it "
                               "must have four numeric parts, like '1.0.0.0'.", "contentVersion")
    if not isinstance(template.get("resources"), list):
        raise invalid_template("The template must have the property 'resources' as an array.", "resources")
    for section in _OBJECT_SECTIONS:
        if section in template and not isinstance(template[section], Mapping):
            raise invalid_template(f"The template property '{section}' must be an object; it is of type "
                                   f"'{type_name(template[section])}'.", section)
    if template.get("functions"):
        raise invalid_template("User-defined template functions are not supported by this server.", "functions")
