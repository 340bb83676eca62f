"""Confidences that mean what they say: among readings given confidence p, about p are right. A decoder's raw
score (greedy: the product of its letters' probabilities; beam and LM: the reading's share of the finished
beams) is mapped through a logistic curve fitted on validation words (Platt scaling; fitted by
textrec.training.calibrate and stored in the model's config, one curve per decoder). numpy only."""
from __future__ import annotations

import math
from dataclasses import dataclass

from textrec.errors import TextrecError

EPSILON = 1e-6


def logit(p: float) -> float:
    p = min(max(p, EPSILON), 1 - EPSILON)
    return math.log(p / (1 - p))


@dataclass(frozen=True)
class Calibration:
    scale: float
    shift: float

    def __call__(self, raw: float) -> float:
        z = self.scale * logit(raw) + self.shift
        return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))  # no overflow


def load_calibration(config: dict, decoder: str) -> Calibration | None:
    """The config's curve for this decoder ({"calibration": {"greedy": [scale, shift], "lm": [...]}}), if any."""
    table = config.get("calibration")
    if table is None:
        return None
    if not isinstance(table, dict):
        raise TextrecError(f"config 'calibration' must be an object of decoder: [scale, shift], got {table!r:.80}")
    value = table.get(decoder)
    return None if value is None else curve(value, f"'calibration' {decoder!r}")


def curve(value: object, name: str) -> Calibration:
    """A config's [scale, shift] as a Calibration; anything else is refused, naming the setting."""
    if (not isinstance(value, list) or len(value) != 2
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and abs(v) < 100
                       for v in value)):
        raise TextrecError(f"config {name} must be [scale, shift] (finite numbers), got {value!r:.80}")
    return Calibration(float(value[0]), float(value[1]))
