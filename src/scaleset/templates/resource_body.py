"""The JSON a resource is PUT with: its definition evaluated, minus what only the template reads."""

from __future__ import annotations

from scaleset.templates.context import EvaluationContext
from scaleset.templates.evaluator import evaluate_tree
from scaleset.templates.json_paths import member
from scaleset.templates.json_values import Json
from scaleset.templates.resources import PlannedResource

TEMPLATE_ONLY_KEYS = {"type", "apiversion", "name", "dependson", "copy", "condition", "comments", "metadata",
                      "resources"}


def evaluate_body(resource: PlannedResource, ctx: EvaluationContext) -> dict[str, Json]:
    """ctx must already be at the resource's copy position. Property 'copy' arrays are expanded."""
    return {key: evaluate_tree(value, ctx, member(resource.path, key), expand_copies=key.lower() == "properties")
            for key, value in resource.definition.items() if key.lower() not in TEMPLATE_ONLY_KEYS}
