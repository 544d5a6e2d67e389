"""The diagnostics engine: fed each epoch's record, it says what is going wrong, once.

Built with what is known before training (kind, feature scales, class counts, the
learning rate and its bound); `observe(record)` then returns only the new findings: each
code is reported once, and again only when its severity rises. The first call also reports
what the data and the settings alone reveal (scales, classes, the learning rate's bound).
Each record costs O(1) amortised: the curves keep the running minima the rules read.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from descent_server.domain import Kind
from descent_server.ml.diagnostics import data_rules, loss_rules, network_rules
from descent_server.ml.diagnostics.curve import Curve
from descent_server.ml.diagnostics.data_rules import FeatureScale
from descent_server.ml.diagnostics.findings import SEVERITY_RANK, Finding
from descent_server.ml.types import EpochRecord


class Diagnostics:
    """Per-run rule engine over the epoch records (pure: no I/O, no clocks)."""

    def __init__(
        self,
        *,
        kind: Kind,
        n_features: int,
        epochs: int,
        feature_scales: Sequence[FeatureScale] = (),
        feature_names: Sequence[str] = (),
        normalize: str = "none",
        train_classes: Mapping[str, int] | None = None,
        val_classes: Mapping[str, int] | None = None,
        learning_rate: float | None = None,
        lr_max: float | None = None,
        loss_floor: float = 0.0,
    ) -> None:
        """Set up the rules for one run.

        feature_scales: per feature of the training rows (`feature_scales(x)`), raw units;
        normalize: how the engine maps them ("none": raw features reach the model);
        train_classes / val_classes: `class_counts(...)` of the two splits (classifiers);
        learning_rate / lr_max: a full-batch regression's rate and 2/λ_max (else None);
        loss_floor: the least loss reachable (a regression's least-squares loss), else 0.
        """
        self.kind, self.epochs, self.normalize = Kind(kind), epochs, normalize
        self.n_features = n_features
        self.scales = list(feature_scales)
        self.names = list(feature_names) or [f"x{i + 1}" for i in range(n_features)]
        self.train_classes, self.val_classes = train_classes or {}, val_classes or {}
        self.learning_rate, self.lr_max, self.floor = learning_rate, lr_max, loss_floor
        self.loss, self.val_loss = Curve(), Curve()
        self.ratios: list[float | None] = []
        self.first_params: Mapping[str, object] = {}
        self.last_epoch: int | None = None
        self.reported: dict[str, Finding] = {}
        # A raw-feature regression is watched for a frozen bias: max |x| of each feature.
        self.stuck_bias = self.kind == Kind.LINEAR_REGRESSION and normalize == "none"
        self.magnitudes = [max(abs(s["min"]), abs(s["max"])) for s in self.scales]

    @property
    def findings(self) -> list[Finding]:
        """Return every code found so far, at its highest severity, in the order found."""
        return list(self.reported.values())

    def observe(self, record: EpochRecord) -> list[Finding]:
        """Feed one epoch's record; return the findings that are new (or newly more severe)."""
        if self.last_epoch is not None and record.epoch <= self.last_epoch:
            return []  # a resumed run repeats its last epoch first
        first = self.last_epoch is None
        self.last_epoch = record.epoch
        candidates = self._before_training() if first else []
        for finding in candidates:
            finding["epoch"] = record.epoch  # known before training: told with the first record
        if first:
            self.first_params = dict(record.params)
        candidates += self._epoch(record)
        return [f for f in candidates if f is not None and self._is_new(f)]

    def _before_training(self) -> list[Finding]:
        found = [
            data_rules.unscaled_features(self.scales, self.names, self.normalize),
            data_rules.class_imbalance(self.train_classes),
            data_rules.unrepresentative_validation(self.train_classes, self.val_classes),
            data_rules.learning_rate_bound(self.learning_rate, self.lr_max),
        ]
        return [f for f in found if f is not None]

    def _epoch(self, record: EpochRecord) -> list[Finding]:
        # A rule runs only while its finding could still be new: once its code is reported
        # at the most severe level the rule gives, its answer would be dropped anyway.
        epoch, found, can = record.epoch, [], self._can_rise
        if record.loss is not None and math.isfinite(record.loss):
            self.loss.append(float(record.loss))
            if can("diverging", "error"):
                found.append(loss_rules.diverging(epoch, self.loss, self.lr_max))
            if can("oscillating", "warning"):
                found.append(loss_rules.oscillating(epoch, self.loss))
            if can("plateau", "warning"):
                found.append(loss_rules.plateau(epoch, self.loss, self.epochs, self.floor))
        if record.val_loss is not None and math.isfinite(record.val_loss):
            self.val_loss.append(float(record.val_loss))
            if can("overfitting", "warning"):
                found.append(loss_rules.overfitting(epoch, self.loss, self.val_loss))
        if record.grad_norms:
            self.ratios.append(network_rules.first_last_ratio(record.grad_norms))
            if can("vanishing_gradients", "warning") or can("exploding_gradients", "warning"):
                found.append(network_rules.gradients(epoch, self.ratios, record.grad_norms))
        if record.dead_units and can("dead_units", "error"):
            found.append(network_rules.dead_units(epoch, record.dead_units))
        if self.stuck_bias and can("unscaled_features", "error"):
            found.append(
                network_rules.stuck_bias(epoch, self.first_params, record.params, self.magnitudes)
            )
        return [f for f in found if f is not None]

    def _can_rise(self, code: str, severity: str) -> bool:
        """Tell whether a finding of `code` at `severity` would be new."""
        seen = self.reported.get(code)
        return seen is None or SEVERITY_RANK[seen["severity"]] < SEVERITY_RANK[severity]

    def _is_new(self, finding: Finding) -> bool:
        seen = self.reported.get(finding["code"])
        rank = SEVERITY_RANK[finding["severity"]]
        if seen is not None and rank <= SEVERITY_RANK[seen["severity"]]:
            return False
        self.reported[finding["code"]] = finding
        return True
