"""Validation errors of a run request, located for the client and with a hint when a name
is misplaced: `learning_rate` on an MLP is `optimizer.learning_rate`, `epoch` is `epochs`.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel

from descent_server.domain import CONTROL_CHAR_MSG, NO_CONTROL_CHARS


def located(
    errors: Iterable[Any], kinds: Mapping[str, Any], prefix: Sequence[str | int] = ()
) -> list[dict[str, Any]]:
    """Return `{"loc", "msg"}` per pydantic error: the union's kind tag left out of `loc`,
    `prefix` put before it, and a hint added to every unknown name of one of `kinds` (by
    name) that we can place."""
    known = set(kinds)
    detail = []
    for error in errors:
        loc = [p if isinstance(p, int) else str(p) for p in error.get("loc", ())]
        kind = next((p for p in loc if isinstance(p, str) and p in known), None)
        if kind is not None:
            loc.remove(kind)
        msg = _message(error)
        if error.get("type") in ("union_tag_invalid", "union_tag_not_found"):
            loc.append("kind")  # the request's kind is missing or unknown
            given = (error.get("ctx") or {}).get("tag")
            msg = f"unknown kind {given!r}" if given is not None else "Field required"
            msg += f"; one of {', '.join(sorted(known))}"
        if error.get("type") == "extra_forbidden" and kind is not None:
            msg += hint(kinds[kind], loc)
        detail.append({"loc": [*prefix, *loc], "msg": msg})
    return detail


def hint(adapter: Any, loc: list[str | int]) -> str:
    """Return "; did you mean …?" for the unknown name at the end of `loc`, or ""."""
    name = loc[-1]
    if not isinstance(name, str):
        return ""
    try:
        where = loc.index("hyperparameters")
    except ValueError:  # beside hyperparameters, at the top of the request
        if name in adapter.hyperparameters.model_fields:
            return f"; did you mean hyperparameters.{name}?"
        return _closest(name, _request_fields(adapter))
    path = [p for p in loc[where + 1 : -1] if isinstance(p, str)]
    if not path and name in adapter.hints:
        return f"; for {adapter.kind} it is hyperparameters.{adapter.hints[name]}"
    model = _model_at(adapter.hyperparameters, path)
    return _closest(name, list(model.model_fields) if model is not None else [])


def _closest(name: str, candidates: list[str]) -> str:
    match = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    return f"; did you mean {match[0]}?" if match else ""


def _request_fields(adapter: Any) -> list[str]:
    return list(adapter.request_model.model_fields)


def _model_at(model: type[BaseModel], path: list[str]) -> type[BaseModel] | None:
    """Return the nested model at `path` (e.g. ["optimizer"]), None past a non-model field."""
    for part in path:
        field = model.model_fields.get(part)
        annotation = getattr(field, "annotation", None)
        inner = [annotation, *getattr(annotation, "__args__", ())]
        nested = next((t for t in inner if isinstance(t, type) and issubclass(t, BaseModel)), None)
        if nested is None:
            return None
        model = nested
    return model


def _message(error: Any) -> str:
    """Return the error's message; a control character gets words, not the regex refusing it."""
    ctx = error.get("ctx") or {}
    if error.get("type") == "string_pattern_mismatch" and ctx.get("pattern") == NO_CONTROL_CHARS:
        return CONTROL_CHAR_MSG
    return str(error.get("msg"))
