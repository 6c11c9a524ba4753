"""Names a PUT may give a resource, as Azure's naming rules allow them: a name too long or with
characters Azure refuses is a 400 before anything is stored (a 10,000-character scale set name
would otherwise become a row, an id in every response, a directory name on disk...).

Lengths and characters from Azure's "naming rules and restrictions for Azure resources":
resource groups 1-90 (letters, digits, '_', '-', '.', '(', ')'; not ending in '.'), scale sets 1-64,
network resources 1-80 (letters, digits, '_', '-', '.'; starting with a letter or digit),
deployments 1-64 (as groups). Image names (ours to publish) are held to 1-128 of the same.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from scaleset.service.errors import ArmError


@dataclass(frozen=True)
class NameRule:
    kind: str
    longest: int
    pattern: re.Pattern[str]
    code: str = "InvalidResourceName"


_GROUPISH = re.compile(r"^[-\w.()]*[-\w()]$")
_RESOURCE = re.compile(r"^[^\W_][-\w.]*$")
GROUP = NameRule("resource group", 90, _GROUPISH, code="InvalidResourceGroup")
SCALE_SET = NameRule("scale set", 64, _RESOURCE)
NETWORK = NameRule("network resource", 80, _RESOURCE)
DEPLOYMENT = NameRule("deployment", 64, _GROUPISH, code="InvalidDeploymentName")
IMAGE = NameRule("image", 128, _RESOURCE)

# route parameter -> its rule; `name` is a scale set's or a network resource's, by the template
_RULES = {"group": GROUP, "deployment": DEPLOYMENT, "child": NETWORK, "publisher": IMAGE, "offer": IMAGE, "sku": IMAGE,
          "location": IMAGE}


def check(template: str, params: dict[str, str]) -> None:
    """Raise the ARM 400 for the first name in `params` that its rule refuses."""
    for param, value in params.items():
        rule = _RULES.get(param)
        if param == "name":
            rule = SCALE_SET if "virtualMachineScaleSets" in template else NETWORK
        if rule is None:
            continue
        if len(value) > rule.longest or not rule.pattern.match(value):
            shown = value if len(value) <= 100 else value[:100] + "..."
            raise ArmError(400, rule.code,
                           f"The {rule.kind} name '{shown}' is invalid: it must be 1 to {rule.longest} characters of "
                           "letters, digits, '_', '-' and '.' (and '(' ')' for groups and deployments).",
                           target=param)
