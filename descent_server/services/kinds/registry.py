"""The registry of model kinds: one adapter module per kind, registered here by name.

A new kind is one module with a `KindAdapter` subclass, registered by `register(...)`: the
built-in kinds below, or modules named in the `kind_modules` setting (imported by the API
and the workers alike). Everything else asks `get(run.kind)`.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Union

import numpy as np
from pydantic import Field, TypeAdapter, ValidationError
from sqlalchemy.orm import Session

from descent_server.db.models import Run
from descent_server.domain import Kind
from descent_server.services.datasets import load_columns
from descent_server.services.errors import InvalidInput
from descent_server.services.kinds.base import KindAdapter, RunSpec
from descent_server.services.kinds.hints import located
from descent_server.services.training_data import TrainingData, feature_matrix
from descent_server.settings import get_settings

_REGISTRY: dict[str, KindAdapter] = {}
_PARSER: TypeAdapter[Any] | None = None  # of request_union(), rebuilt after a register
_LOADED = False


def register(adapter: KindAdapter) -> KindAdapter:
    """Add (or replace) a kind; returns it, so a module can keep a handle."""
    _REGISTRY[adapter.kind] = adapter
    global _PARSER
    _PARSER = None
    return adapter


def _load() -> None:
    """Import the built-in kinds and the `kind_modules` setting's (each registers itself)."""
    builtin = [f"descent_server.services.kinds.{kind}" for kind in Kind]  # one module each
    for module in [*builtin, *get_settings().kind_modules]:
        importlib.import_module(module)


def adapters() -> list[KindAdapter]:
    """Return every registered kind, in registration order (built-ins first)."""
    global _LOADED
    if not _LOADED:
        _LOADED = True
        _load()
    return list(_REGISTRY.values())


def get(kind: str) -> KindAdapter:
    """Return the adapter of `kind` (ValueError for a kind no module registered)."""
    for adapter in adapters():
        if adapter.kind == kind:
            return adapter
    raise ValueError(f"unknown run kind {kind!r}")


def by_name() -> dict[str, KindAdapter]:
    """Return every kind's adapter by its name."""
    return {adapter.kind: adapter for adapter in adapters()}


def names() -> list[str]:
    """Return every kind's name."""
    return [adapter.kind for adapter in adapters()]


def request_union() -> Any:
    """Return the run request type: a union of every kind's model, told apart by `kind`."""
    models = tuple(adapter.request_model for adapter in adapters())
    if len(models) == 1:
        return models[0]
    return Annotated[Union[models], Field(discriminator="kind")]  # noqa: UP007 - a runtime tuple


def _parser() -> TypeAdapter[Any]:
    global _PARSER
    if _PARSER is None:
        _PARSER = TypeAdapter(request_union())
    return _PARSER


def parse_request(raw: Mapping[str, Any], loc: Sequence[str | int]) -> RunSpec:
    """Validate a run request given as a dict (sweeps, clones); errors are located under loc."""
    try:
        return _parser().validate_python(dict(raw))  # type: ignore[no-any-return]
    except ValidationError as exc:
        raise InvalidInput(located(exc.errors(include_url=False), by_name(), loc)) from None


def training_data(
    columns: Mapping[str, np.ndarray], *, kind: str, features: Sequence[str], target: str
) -> TrainingData:
    """Build the arrays of a `kind` run: X from the features, y as the kind wants its target."""
    X = feature_matrix(columns, features, target)
    y, classes = get(kind).target(columns[target], target)
    return TrainingData(X, y, classes)


def request_data(*, session: Session, owner: str, request: RunSpec) -> TrainingData:
    """Load the request's dataset and build its arrays (422 naming dataset_id if missing)."""
    from descent_server.services.errors import NotFound

    try:
        columns = load_columns(session=session, dataset_id=request.dataset_id, owner=owner)
    except NotFound:
        raise InvalidInput.at(["body", "dataset_id"], "dataset not found") from None
    kind: str = request.kind  # type: ignore[attr-defined]
    return training_data(columns, kind=kind, features=request.features, target=request.target)


def load_training_data(*, session: Session, run: Run) -> TrainingData:
    """Load the run's dataset (stored or builtin) and build its training arrays."""
    columns = load_columns(session=session, dataset_id=run.dataset_id, owner=run.owner)
    return training_data(columns, kind=run.kind, features=run.features, target=run.target)
