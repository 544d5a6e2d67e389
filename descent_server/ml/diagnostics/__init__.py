"""Training diagnostics: why a run is (or isn't) learning, in plain words, while it trains.

`Diagnostics(...)` is built with what is known before training and fed every epoch record;
`observe(record)` returns the new `Finding`s. The rules and their measured thresholds are
described in docs/diagnostics.md.
"""

from descent_server.ml.diagnostics.data_rules import FeatureScale, class_counts, feature_scales
from descent_server.ml.diagnostics.engine import Diagnostics
from descent_server.ml.diagnostics.findings import CODES, Finding, Severity
from descent_server.ml.diagnostics.setup import mlp_diagnostics, regression_diagnostics

__all__ = [
    "CODES", "Diagnostics", "FeatureScale", "Finding", "Severity", "class_counts",
    "feature_scales", "mlp_diagnostics", "regression_diagnostics",
]  # fmt: skip
