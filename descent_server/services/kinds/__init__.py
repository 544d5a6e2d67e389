"""Model kinds: one adapter module per kind (`base.py` says what a kind is), registered in
`registry.py`; the rest of the service asks the registry, never compares kind strings."""

from descent_server.services.kinds.base import KindAdapter, RunSpec
from descent_server.services.kinds.registry import (
    adapters,
    by_name,
    get,
    load_training_data,
    names,
    parse_request,
    register,
    request_data,
    request_union,
    training_data,
)

__all__ = [
    "KindAdapter", "RunSpec", "adapters", "by_name", "get", "load_training_data", "names",
    "parse_request", "register", "request_data", "request_union", "training_data",
]  # fmt: skip
