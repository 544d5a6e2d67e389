"""Request bodies and small helpers shared by the API tests."""

from __future__ import annotations

from typing import Any

MOVIES_RUN: dict[str, Any] = {
    "kind": "linear_regression",
    "dataset_id": "builtin:movies",
    "features": ["num_want_to_see"],
    "target": "nums_audience",
    "hyperparameters": {"learning_rate": 2e-10, "epochs": 50},
}

BLOBS_RUN: dict[str, Any] = {
    "kind": "mlp_classifier",
    "dataset_id": "builtin:three-blobs",
    "features": ["x1", "x2"],
    "target": "label",
    "hyperparameters": {"epochs": 5},
}


def run_body(base: dict[str, Any], **hyperparameters: Any) -> dict[str, Any]:
    """Return a copy of `base` with hyperparameters changed."""
    return {**base, "hyperparameters": {**base["hyperparameters"], **hyperparameters}}


def locs(response: Any) -> list[list[Any]]:
    """Return the `loc` of every error in a 4xx detail list."""
    return [error["loc"] for error in response.json()["detail"]]
