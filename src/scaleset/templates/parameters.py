"""Template parameters: their definitions checked, the values a deployment sends bound to them.

Values are checked against the declared type, coercing strings the way ARM does for values that
arrive as text ("1023" for an int, "true" for a bool), then against allowedValues, min/maxValue and
min/maxLength. Default values may be expressions (parameters(), resourceGroup(), newGuid()...);
they are evaluated lazily, so a default may use another parameter, and cycles are reported.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from scaleset.templates.context import EvaluationContext
from scaleset.templates.errors import TemplateError, invalid_deployment, invalid_template
from scaleset.templates.evaluator import evaluate_tree
from scaleset.templates.json_paths import member
from scaleset.templates.json_values import Json, compact_json, dotnet_string, is_int, json_equal, type_name
from scaleset.templates.scope import Scope

PARAMETER_TYPES = {"string": "String", "securestring": "SecureString", "int": "Int", "bool": "Bool",
                   "object": "Object", "secureobject": "SecureObject", "array": "Array"}
SECURE_TYPES = {"SecureString", "SecureObject"}
_DEFINITION_KEYS = {"type", "defaultValue", "allowedValues", "minValue", "maxValue", "minLength", "maxLength",
                    "metadata"}
_INTEGER_TEXT = re.compile(r"^\s*[+-]?\d+\s*$")
_PARAMETER_FILE_HELP = "Please see https://aka.ms/arm-create-parameter-file for usage details."


@dataclass(frozen=True)
class ParameterDefinition:
    name: str  # as the template spells it
    type: str  # canonical: String, SecureString, Int, Bool, Object, SecureObject, Array
    definition: Mapping[str, Json]
    path: str

    @property
    def secure(self) -> bool:
        return self.type in SECURE_TYPES


def read_definitions(template: Mapping[str, Json]) -> dict[str, ParameterDefinition]:
    """The template's parameter definitions by lower-cased name (ARM names are case-insensitive)."""
    definitions: dict[str, ParameterDefinition] = {}
    for name, definition in (template.get("parameters") or {}).items():
        path = member("parameters", name)
        if name.lower() in definitions:
            raise invalid_template(f"The template parameter '{name}' is defined more than once.", path)
        definitions[name.lower()] = _read_definition(name, definition, path)
    return definitions


def _read_definition(name: str, definition: Json, path: str) -> ParameterDefinition:
    if not isinstance(definition, Mapping):
        raise invalid_template(f"The template parameter '{name}' must be an object with a 'type'.", path)
    for key in definition:
        if key not in _DEFINITION_KEYS:
            raise invalid_template(f"Could not find member '{key}' on object of type 'TemplateInputParameter'. "
                                   f"Path '{member(path, key)}'.", member(path, key))
    declared = definition.get("type")
    if not isinstance(declared, str) or declared.lower() not in PARAMETER_TYPES:
        raise invalid_template(f"The template parameter '{name}' has an invalid type '{declared}'. The supported "
                               f"types are 'string, securestring, int, bool, object, secureObject, array'.",
                               member(path, "type"))
    if "allowedValues" in definition and not isinstance(definition["allowedValues"], list):
        raise invalid_template(f"The allowedValues of template parameter '{name}' must be an array.",
                               member(path, "allowedValues"))
    for key in ("minValue", "maxValue", "minLength", "maxLength"):
        if key in definition and not is_int(definition[key]):
            raise invalid_template(f"The {key} of template parameter '{name}' must be an integer.", member(path, key))
    for low, high in (("minValue", "maxValue"), ("minLength", "maxLength")):
        if low in definition and high in definition and definition[low] > definition[high]:
            raise invalid_template(f"The {low} of template parameter '{name}' is greater than its {high}.",
                                   member(path, low))
    return ParameterDefinition(name, PARAMETER_TYPES[declared.lower()], definition, path)


class ParameterValues:
    """The value of every parameter for one deployment: supplied, or its default evaluated on demand."""

    def __init__(self, definitions: Mapping[str, ParameterDefinition], supplied: Json, scope: Scope,
                 deployment: Mapping[str, Json]) -> None:
        self._definitions = definitions
        try:
            self._supplied = _supplied_values(definitions, supplied)
        except TemplateError as error:
            raise error.in_given_values() from None
        # Defaults see other parameters, the scope and deployment(); never variables or resources.
        self._default_context = EvaluationContext(scope=scope, deployment=deployment, parameter=self.get)
        self._values: dict[str, Json] = {}
        self._resolving: list[str] = []

    def get(self, name: str) -> Json:
        """What parameters('name') returns."""
        key = name.lower()
        if key in self._values:
            return self._values[key]
        definition = self._definitions.get(key)
        if definition is None:
            raise invalid_template(f"The template parameter '{name}' is not found. Please see "
                                   "https://aka.ms/arm-syntax-parameters for usage details.")
        if key in self._resolving:
            chain = " -> ".join(self._definitions[k].name for k in self._resolving[self._resolving.index(key):])
            raise invalid_template(f"The template parameter '{definition.name}' has a circular reference in its "
                                   f"default value: {chain} -> {definition.name}.", definition.path)
        self._resolving.append(key)
        try:
            value = self._resolve(definition)
        finally:
            self._resolving.pop()
        self._values[key] = value
        return value

    def effective(self) -> dict[str, dict[str, Json]]:
        """Every parameter with its type and value as ARM reports them; secure values are left out."""
        result: dict[str, dict[str, Json]] = {}
        for key, definition in self._definitions.items():
            value = self.get(key)
            result[definition.name] = {"type": definition.type} if definition.secure else \
                {"type": definition.type, "value": value}
        return result

    def _resolve(self, definition: ParameterDefinition) -> Json:
        key = definition.name.lower()
        if key in self._supplied:
            try:
                return _checked_value(definition, self._supplied[key])
            except TemplateError as error:
                raise error.in_given_values() from None
        if "defaultValue" not in definition.definition:
            raise invalid_deployment(f"The value for the template parameter '{definition.name}' at "
                                     f"'{definition.path}' is not provided. {_PARAMETER_FILE_HELP}", definition.path)
        default = evaluate_tree(definition.definition["defaultValue"], self._default_context,
                                member(definition.path, "defaultValue"))
        return _checked_value(definition, default)


def _supplied_values(definitions: Mapping[str, ParameterDefinition], supplied: Json) -> dict[str, Json]:
    """{lower name: value} from a request's {"name": {"value": ...}}; null values count as not given."""
    if supplied is None:
        return {}
    if not isinstance(supplied, Mapping):
        raise invalid_deployment("The deployment parameters must be an object of the form "
                                 "{\"name\": {\"value\": ...}}.", "parameters")
    undeclared = [name for name in supplied if name.lower() not in definitions]
    if undeclared:
        raise invalid_template(f"The template parameters '{', '.join(undeclared)}' in the parameters file are not "
                               "valid; they are not present in the original template and can therefore not be "
                               "provided at deployment time. The only supported parameters for this template are "
                               f"'{', '.join(d.name for d in definitions.values())}'. {_PARAMETER_FILE_HELP}",
                               member("parameters", undeclared[0]))
    values = {}
    for name, wrapper in supplied.items():
        path = member("parameters", name)
        if isinstance(wrapper, Mapping) and "reference" in wrapper:
            raise invalid_deployment(f"The value of template parameter '{name}' is a Key Vault reference, which "
                                     "is not supported by this server: give the value itself.", path)
        if not isinstance(wrapper, Mapping) or "value" not in wrapper:
            raise invalid_deployment(f"The template parameter '{name}' must be given as an object with a 'value' "
                                     f"property: {{\"{name}\": {{\"value\": ...}}}}. {_PARAMETER_FILE_HELP}", path)
        if wrapper["value"] is not None:
            values[name.lower()] = wrapper["value"]
    return values


def _checked_value(definition: ParameterDefinition, value: Json) -> Json:
    try:
        value = _coerced(definition.type, value)
        _check_constraints(definition, value)
    except TemplateError as error:
        raise error.located(definition.path) from None
    return value


def _coerced(declared: str, value: Json) -> Json:
    if declared in ("String", "SecureString"):
        if isinstance(value, str):
            return value
        expected = "String, Uri"
    elif declared == "Int":
        if is_int(value):
            return value
        if isinstance(value, str) and _INTEGER_TEXT.match(value):
            return int(value)
        expected = "Integer"
    elif declared == "Bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        expected = "Boolean"
    elif declared in ("Object", "SecureObject"):
        if isinstance(value, Mapping):
            return value
        expected = "Object"
    else:
        if isinstance(value, list):
            return value
        expected = "Array"
    raise invalid_deployment(f"Template parameter JToken type is not valid. Expected '{expected}'. Actual "
                             f"'{type_name(value)}'. {_PARAMETER_FILE_HELP}")


def _check_constraints(definition: ParameterDefinition, value: Json) -> None:
    rules = definition.definition
    prefix = f"The provided value for the template parameter '{definition.name}' is not valid."
    allowed = rules.get("allowedValues")
    if allowed is not None:
        # An array parameter's elements must each be allowed; any other value must be allowed whole.
        for candidate in value if isinstance(value, list) and definition.type == "Array" else [value]:
            if not any(json_equal(candidate, option) for option in allowed):
                shown = "" if definition.secure else f" '{_display(candidate)}'"
                raise invalid_deployment(f"{prefix} The value{shown} is not part of the allowed value(s): "
                                         f"'{','.join(_display(option) for option in allowed)}'.")
    if is_int(value):
        if "minValue" in rules and value < rules["minValue"]:
            raise invalid_deployment(f"{prefix} The value '{value}' is less than the minimum value of "
                                     f"'{rules['minValue']}'.")
        if "maxValue" in rules and value > rules["maxValue"]:
            raise invalid_deployment(f"{prefix} The value '{value}' is greater than the maximum value of "
                                     f"'{rules['maxValue']}'.")
    if isinstance(value, (str, list)):
        if "minLength" in rules and len(value) < rules["minLength"]:
            raise invalid_deployment(f"{prefix} Length of the value should be greater than or equal to "
                                     f"'{rules['minLength']}'.")
        if "maxLength" in rules and len(value) > rules["maxLength"]:
            raise invalid_deployment(f"{prefix} Length of the value should be less than or equal to "
                                     f"'{rules['maxLength']}'.")


def _display(value: Json) -> str:
    return compact_json(value) if isinstance(value, (dict, list)) else dotnet_string(value)
