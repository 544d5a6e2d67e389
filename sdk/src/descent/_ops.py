"""Every API operation once, as a generator of Requests (the clients only send them)."""

from __future__ import annotations

import io
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ._across import flatten
from ._base import Op, Request, jsonable
from ._domain import Kind
from ._exceptions import NotFound

RUN_FIELDS = ("kind", "dataset_id", "features", "target", "name", "device")


def call(request: Request) -> Op[Any]:
    """Send one request and return its decoded JSON body (None for an empty body)."""
    response = yield request
    if response.status_code == 204 or not response.content:
        return None
    return response.json()


def call_object(request: Request) -> Op[dict[str, Any]]:
    """Send one request whose answer is a JSON object (a Run, a Dataset, a Sweep)."""
    body: dict[str, Any] = yield from call(request)
    return body


def get(path: str, params: Mapping[str, Any] | None = None) -> Op[Any]:
    """GET a JSON resource."""
    return (yield from call(Request("GET", path, params=_clean(params))))


def delete(path: str) -> Op[None]:
    """DELETE a resource."""
    yield from call(Request("DELETE", path))


def raw(path: str, params: Mapping[str, Any] | None = None) -> Op[tuple[bytes, str]]:
    """GET a binary resource; return (content, media type)."""
    response = yield Request("GET", path, params=_clean(params))
    return response.content, response.headers.get("content-type", "application/octet-stream")


def paginate(path: str, params: Mapping[str, Any], limit: int | None) -> Op[list[Any]]:
    """Follow `next_cursor` until the list ends or `limit` items were collected."""
    items: list[Any] = []
    query = {**_clean(params), "limit": min(limit or 100, 100)}
    while True:
        page = yield from get(path, query)
        items.extend(page["items"])
        cursor = page.get("next_cursor")
        if not cursor or (limit is not None and len(items) >= limit):
            return items[:limit] if limit is not None else items
        query["cursor"] = cursor


def upload_dataset(
    source: Any, name: str | None, idempotency_key: str | None = None, dedupe: bool = True
) -> Op[dict[str, Any]]:
    """Upload a CSV path, a pandas DataFrame or a {column: values} dict.

    Contents identical to one of your datasets return that dataset unless `dedupe` is False.
    """
    headers = {"Idempotency-Key": idempotency_key or str(uuid.uuid4())}
    params = None if dedupe else {"dedupe": "false"}
    if isinstance(source, Mapping):
        body = {"name": name or "data", "columns": jsonable(source)}
        request = Request("POST", "/v1/datasets", params=params, json=body, headers=headers)
        return (yield from call_object(request))
    if isinstance(source, (str, Path)):
        path = Path(source)
        content, filename = path.read_bytes(), path.name
        name = name or path.stem
    elif hasattr(source, "to_csv"):  # a pandas DataFrame, without importing pandas
        buffer = io.StringIO()
        source.to_csv(buffer, index=False)
        content, filename = buffer.getvalue().encode(), f"{name or 'data'}.csv"
    else:
        raise TypeError("upload() takes a CSV path, a pandas DataFrame or a dict of columns")
    request = Request(
        "POST",
        "/v1/datasets",
        params=params,
        files={"file": (filename, content, "text/csv")},
        data={"name": name} if name else None,
        headers=headers,
    )
    return (yield from call_object(request))


def builtins() -> Op[list[dict[str, Any]]]:
    """List the ready-made course datasets."""
    body = yield from get("/v1/builtin-datasets")
    items = body["items"] if isinstance(body, Mapping) else body
    for item in items:
        item.setdefault("id", f"builtin:{item['name']}")
    return list(items)


def builtin(name: str) -> Op[dict[str, Any]]:
    """Return the builtin dataset called `name`."""
    name = name.removeprefix("builtin:")
    items = yield from builtins()
    for item in items:
        if item.get("name") == name:
            return item
    names = ", ".join(repr(item.get("name")) for item in items)
    raise NotFound(404, f"no builtin dataset named {name!r}; the builtins are {names}")


def run_request(
    *,
    kind: Kind | str,
    dataset: Any,
    features: Sequence[str] | str,
    target: str,
    name: str | None = None,
    device: str = "auto",
    hyperparameters: Mapping[str, Any] | None = None,
    **more: Any,
) -> dict[str, Any]:
    """Build a run request body; keyword arguments beyond the fields are hyperparameters."""
    if isinstance(features, str):
        features = [f.strip() for f in features.split(",") if f.strip()]
    dataset_id = getattr(dataset, "id", dataset)
    body: dict[str, Any] = {
        "kind": str(kind),
        "dataset_id": dataset_id,
        "features": list(features),
        "target": target,
        "device": device,
        "hyperparameters": jsonable({**(hyperparameters or {}), **more}),
    }
    if name is not None:
        body["name"] = name
    return body


def as_run_request(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Normalise a sweep's base run: `dataset=` or `dataset_id=`, loose hyperparameters."""
    spec = dict(spec)
    if "dataset_id" in spec:
        spec["dataset"] = spec.pop("dataset_id")
    return run_request(**spec)


def create_run(body: Mapping[str, Any], idempotency_key: str | None) -> Op[dict[str, Any]]:
    """Submit a run; the Idempotency-Key (generated if absent) makes retrying safe."""
    headers = {"Idempotency-Key": idempotency_key or str(uuid.uuid4())}
    return (yield from call_object(Request("POST", "/v1/runs", json=dict(body), headers=headers)))


def cancel_run(run_id: str) -> Op[dict[str, Any]]:
    """Ask a run to stop; cancelling twice is harmless, so it may be retried."""
    return (yield from call_object(Request("POST", f"/v1/runs/{run_id}/cancel", idempotent=True)))


def history(run_id: str, max_points: int | None = None) -> Op[list[dict[str, Any]]]:
    """Fetch every epoch row (all pages), or a downsampled view with `max_points`."""
    params: dict[str, Any] = {}  # no limit: the server's page size
    if max_points is not None:
        params["max_points"] = max_points
    rows: list[dict[str, Any]] = []
    while True:
        page = yield from get(f"/v1/runs/{run_id}/history", params)
        rows.extend(page["epochs"])
        following = page.get("next_since_epoch")
        if following is None or max_points is not None or not page["epochs"]:
            return rows
        params["since_epoch"] = following


def predict(run_id: str, inputs: Any) -> Op[dict[str, Any]]:
    """Predict with the run's latest parameters (a pure computation: safe to retry)."""
    body = {"inputs": jsonable(inputs)}
    request = Request("POST", f"/v1/runs/{run_id}/predict", json=body, idempotent=True)
    return (yield from call_object(request))


def plot_path(prefix: str, name: str) -> str:
    """Return the URL path of a plot; a bare name means PNG."""
    return f"{prefix}/plots/{name if '.' in name else name + '.png'}"


def run_filters(
    *,
    status: Any = None,
    kind: Any = None,
    dataset: Any = None,
    sweep: Any = None,
    tag: str | Sequence[str] | None = None,
    q: str | None = None,
    created_after: Any = None,
    created_before: Any = None,
    sort: str | None = None,
) -> dict[str, Any]:
    """Return the query of `GET /v1/runs` (objects stand for their ids; every tag must match)."""
    return {
        "status": status,
        "kind": kind,
        "dataset_id": getattr(dataset, "id", dataset),
        "sweep_id": getattr(sweep, "id", sweep),
        "tag": [tag] if isinstance(tag, str) else (list(tag) if tag else None),
        "q": q,
        "created_after": _timestamp(created_after),
        "created_before": _timestamp(created_before),
        "sort": sort,
    }


def update_run(run_id: str, changes: Mapping[str, Any]) -> Op[dict[str, Any]]:
    """PATCH a run's name, tags or notes (setting the same values twice is harmless)."""
    request = Request("PATCH", f"/v1/runs/{run_id}", json=dict(changes), idempotent=True)
    return (yield from call_object(request))


def clone_request(name: str | None, dataset: Any, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Build a clone body: nested overrides become dotted names, so they merge, not replace."""
    body: dict[str, Any] = {}
    if name is not None:
        body["name"] = name
    if dataset is not None:
        body["dataset_id"] = getattr(dataset, "id", dataset)
    if overrides:
        body["hyperparameters"] = jsonable(flatten(overrides))
    return body


def clone_run(run_id: str, body: Mapping[str, Any]) -> Op[dict[str, Any]]:
    """Submit a copy of a run with overrides (not retried: each call is a new run)."""
    request = Request("POST", f"/v1/runs/{run_id}/clone", json=dict(body), idempotent=False)
    return (yield from call_object(request))


def compare_ids(runs: Sequence[Any]) -> str:
    """Return the `ids` query value of a comparison (runs stand for their ids)."""
    return ",".join(str(getattr(run, "id", run)) for run in runs)


def create_sweep(
    run: Mapping[str, Any],
    grid: Mapping[str, Any] | None,
    name: str | None,
    search: Mapping[str, Any] | None = None,
) -> Op[dict[str, Any]]:
    """Submit a sweep: a grid, or `search` (strategy, n_runs, seed, axes, early_stop)."""
    body: dict[str, Any] = {"run": as_run_request(run)}
    if grid is not None:
        body["grid"] = jsonable(grid)
    body.update({k: jsonable(v) for k, v in (search or {}).items() if v is not None})
    if name is not None:
        body["name"] = name
    # Not retried: the API promises Idempotency-Key only for runs (and datasets).
    request = Request("POST", "/v1/sweeps", json=body, idempotent=False)
    return (yield from call_object(request))


def cancel_sweep(sweep_id: str) -> Op[dict[str, Any]]:
    """Cancel every unfinished run of a sweep."""
    return (
        yield from call_object(Request("POST", f"/v1/sweeps/{sweep_id}/cancel", idempotent=True))
    )


def _timestamp(value: Any) -> Any:
    """Spell a datetime as RFC 3339 (a string passes through)."""
    return value.isoformat() if hasattr(value, "isoformat") else value


def _clean(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """Drop None values and spell booleans as the server expects."""
    out: dict[str, Any] = {}
    for key, value in (params or {}).items():
        if value is None:
            continue
        out[key] = ("true" if value else "false") if isinstance(value, bool) else value
    return out
