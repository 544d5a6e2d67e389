"""Hyperparameters per run kind for `descent runs submit --help`.

`hyperparameters.json` is the JSON schema of the server's own pydantic models, copied at build
time by scripts/sdk_hyperparameters.py (a test keeps it in sync): the SDK never imports the
server, and help must work offline.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

INT32_MAX = 2**31 - 1  # a storage bound on every integer, not worth a line of help


@cache
def schemas() -> dict[str, Any]:
    """Return {kind: hyperparameter JSON schema}."""
    text = resources.files("descent").joinpath("hyperparameters.json").read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def kinds() -> list[str]:
    """Return the run kinds the schema knows."""
    return list(schemas())


def rows(schema: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """Flatten a kind's schema into (dotted name, type, default, bounds, description) rows."""
    out: list[tuple[str, str, str, str, str]] = []
    _walk(schema, schema.get("$defs", {}), "", out)
    return out


def _walk(node: dict[str, Any], defs: dict[str, Any], prefix: str, out: list[Any]) -> None:
    for name, raw in node.get("properties", {}).items():
        prop = _resolve(raw, defs)
        branches = [_resolve(b, defs) for b in prop.get("anyOf", [prop])]
        nullable = any(b.get("type") == "null" for b in branches)
        main = next((b for b in branches if b.get("type") != "null"), prop)
        description = raw.get("description") or prop.get("description") or main.get("description")
        default = json.dumps(raw["default"]) if "default" in raw else "-"
        if "properties" in main:  # a nested object: its fields are set with dotted names
            if raw.get("description"):
                out.append((prefix + name, "object", default, "", description))
            _walk(main, defs, f"{prefix}{name}.", out)
            continue
        kind = _type(main, defs) + ("|null" if nullable else "")
        out.append((prefix + name, kind, default, _bounds(main, defs), description or ""))


def _resolve(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref", "")
    return {**defs[ref.rsplit("/", 1)[-1]], **node} if ref else node


def _type(node: dict[str, Any], defs: dict[str, Any]) -> str:
    if "enum" in node:
        return "|".join(map(str, node["enum"]))
    if "prefixItems" in node:
        return "[" + ", ".join(_type(_resolve(i, defs), defs) for i in node["prefixItems"]) + "]"
    if node.get("type") == "array":
        return f"list[{_type(_resolve(node.get('items', {}), defs), defs)}]"
    return str(node.get("type", "any"))


def _bounds(node: dict[str, Any], defs: dict[str, Any]) -> str:
    parts = []
    for key, sign in (
        ("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="), ("exclusiveMaximum", "<"),
    ):  # fmt: skip
        if key in node and not (key == "maximum" and node[key] == INT32_MAX):
            value = node[key]
            parts.append(f"{sign} {value if isinstance(value, int) else format(value, 'g')}")
    if "maxItems" in node and "prefixItems" not in node:
        parts.append(f"at most {node['maxItems']} items")
    items = node.get("items")
    if isinstance(items, dict) and (inner := _bounds(_resolve(items, defs), defs)):
        parts.append(f"each {inner}")
    return ", ".join(parts)


def help_text() -> str:
    """Return the hyperparameters of every kind, for an argparse epilog."""
    lines = ["hyperparameters (--set NAME=VALUE; dotted names nest), from the API's schema:"]
    for kind, schema in schemas().items():
        lines += ["", f"  {kind}: {schema.get('description', '')}"]
        for name, kind_of, default, bounds, description in rows(schema):
            head = f"    {name}: {kind_of}" + (f" = {default}" if default != "-" else "")
            lines.append(head + (f"  ({bounds})" if bounds else ""))
            if description:
                lines.append(f"        {description}")
    lines.append("\nThe server may also cap epochs, layer widths and cost (see its 422s).")
    return "\n".join(lines)
