"""Every advertised hidden activation trains, and our numpy forward pass agrees with Keras's."""

from __future__ import annotations

import numpy as np
import pytest

from descent_server.ml import keras_backend as kb
from descent_server.ml.mlp import MLPConfig, train_mlp
from tests.ml.test_mlp_resume import blobs


@pytest.mark.parametrize("activation", ["elu", "selu", "gelu", "softplus", "swish"])
def test_the_activation_trains_and_serves_like_keras(activation):
    x, y = blobs(40)
    config = MLPConfig(
        hidden_layers=(6, 5), activation=activation, epochs=3, seed=1,
        optimizer="adam", learning_rate=0.01, snapshot_resolution=10,
    )  # fmt: skip
    result = train_mlp(x, y, [0, 1, 2], config)
    assert result.status == "succeeded" and result.model.activation == activation
    assert [r.epoch for r in result.history] == [0, 1, 2, 3]
    assert all(np.isfinite(list(r.grad_norms.values())).all() for r in result.history)
    ours = result.model.predict_proba(x)  # numpy, from the weights alone
    theirs = kb.predict(result.keras_model, result.model.normalizer.apply(x).astype(np.float32))
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-6)
