"""Every threshold of the diagnostics rules, in one place (measured: docs/diagnostics.md).

`python -m bench.diagnostics` trains healthy and crafted bad runs and prints, per code, the
false-positive rate on the healthy ones and the detection on the crafted ones; the values
below are the ones that table was measured with.
"""

from __future__ import annotations

# Every loss rule also asks for a rise (or swing) that matters next to the first loss: a
# tiny late loss doubling (0.01 → 0.02, Adam's noise on small data) is no finding.
# diverging: the loss rose in each of the last DIVERGING_EPOCHS epochs and is now at least
# DIVERGING_RISE × the best loss seen; or one epoch put it JUMP × above the best at once;
# either way it has given back DIVERGING_GIVEN_BACK of the progress from the first loss.
DIVERGING_EPOCHS = 3
DIVERGING_RISE = 2.0
DIVERGING_JUMP = 10.0
DIVERGING_GIVEN_BACK = 0.25

# oscillating: over the last OSCILLATING_EPOCHS differences of the loss, the direction changed
# at least OSCILLATING_TURNS times and the mean swing is OSCILLATING_SWING × the loss and
# OSCILLATING_SWING_FIRST × the first loss or more.
OSCILLATING_EPOCHS = 6
OSCILLATING_TURNS = 4
OSCILLATING_SWING = 0.1
OSCILLATING_SWING_FIRST = 0.05

# plateau: the best loss of the last PLATEAU_EPOCHS epochs (at least PLATEAU_MIN_EPOCHS, else
# PLATEAU_SHARE of the run) improved on the best before it by less than PLATEAU_PROGRESS
# (relative), while the loss is far from done: less than PLATEAU_DONE of the way from the
# first loss to the floor (0, or the least-squares loss).
PLATEAU_MIN_EPOCHS = 10
PLATEAU_SHARE = 0.2
PLATEAU_PROGRESS = 0.01
PLATEAU_DONE = 0.5

# unscaled_features: the largest feature magnitude (max |x|, the bias counting as 1) over the
# smallest is at least UNSCALED_RATIO, with raw (not normalized) features; after
# STUCK_EPOCHS epochs a regression whose bias moved the predictions less than STUCK_SHARE of
# what the weights moved them is an error (the course's b that never moves).
UNSCALED_RATIO = 100.0
STUCK_EPOCHS = 10
STUCK_SHARE = 1e-3

# vanishing / exploding gradients: the first layer's gradient norm over the last layer's is
# below VANISHING_RATIO (above EXPLODING_RATIO) in GRADIENT_EPOCHS records in a row.
VANISHING_RATIO = 1e-2
EXPLODING_RATIO = 1e2
GRADIENT_EPOCHS = 2

# dead_units: the share of a hidden ReLU layer's units inactive on every measured training
# row, after epoch 0: at least DEAD_INFO is told (healthy ReLU nets on two minmax features
# reach ~0.5: a unit whose weights are both negative never fires on [0, 1]²), at least
# DEAD_WARNING is a warning, at least DEAD_ERROR an error.
DEAD_INFO = 0.5
DEAD_WARNING = 0.7
DEAD_ERROR = 0.9

# overfitting: over the last OVERFITTING_EPOCHS epochs the training loss fell, the validation
# loss rose in all but one of them and is OVERFITTING_RISE × its best or more (and above it
# by OVERFITTING_RISE_FIRST × the first val_loss), the gap grew.
OVERFITTING_EPOCHS = 4
OVERFITTING_RISE = 1.25
OVERFITTING_RISE_FIRST = 0.1

# class_imbalance: the largest training class over the smallest.
IMBALANCE_INFO = 3.0
IMBALANCE_WARNING = 10.0
