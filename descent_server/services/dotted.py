"""Dotted hyperparameter names: "optimizer.learning_rate" reaches a nested value.

Used by clone (overrides) and compare (what differs); a sweep's axes name values the same way.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any


def with_values(hyperparameters: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """Return a deep copy of `hyperparameters` with each (dotted) name set to its value.

    A plain name replaces the whole value; a dotted one sets one nested value (a parent that
    is not an object becomes one).
    """
    result = copy.deepcopy(dict(hyperparameters))
    for dotted, value in values.items():
        *parents, leaf = dotted.split(".")
        node = result
        for part in parents:
            child = node.get(part)
            node[part] = child if isinstance(child, dict) else {}
            node = node[part]
        node[leaf] = copy.deepcopy(value)
    return result


def flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Return every leaf of nested objects under its dotted name (lists are leaves)."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, prefix=f"{name}."))
        else:
            flat[name] = value
    return flat
