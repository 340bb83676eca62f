"""Fitting the confidence curves of textrec.calibration: Platt scaling (a logistic curve on the logit of the
decoder's raw score) by Newton's method, expected calibration error, a reliability diagram, and writing the
curves into a model folder's config.json."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from textrec.calibration import EPSILON
from textrec.errors import TextrecError
from textrec.modelfile import CONFIG

PULL = 1.0


def fit_curve(raw: np.ndarray, right: np.ndarray, steps: int = 50) -> tuple[float, float]:
    """(scale, shift) maximizing the likelihood of `right` (0/1) under sigmoid(scale * logit(raw) + shift)."""
    if right.min() == right.max():
        raise TextrecError("calibration needs both right and wrong readings in the validation data")
    p = np.clip(raw, EPSILON, 1 - EPSILON)
    x = np.stack([np.log(p / (1 - p)), np.ones_like(p)], axis=1)
    identity = np.array([1.0, 0.0])
    w = identity.copy()
    # Newton steps on the log-likelihood with a weak pull toward the identity curve (worth one sample): a few
    # hundred readings that a threshold nearly separates would otherwise send the scale to infinity
    for _ in range(steps):
        q = 1 / (1 + np.exp(-np.clip(x @ w, -30, 30)))
        gradient = x.T @ (right - q) - PULL * (w - identity)
        hessian = (x * (q * (1 - q))[:, None]).T @ x + PULL * np.eye(2)
        w = w + np.linalg.solve(hessian, gradient)
    return float(w[0]), float(w[1])


def expected_calibration_error(confidence: np.ndarray, right: np.ndarray, bins: int = 10) -> float:
    """Sum over equal-width confidence bins of (share of samples) x |accuracy - mean confidence|."""
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    error = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            error += mask.mean() * abs(right[mask].mean() - confidence[mask].mean())
    return float(error)


def reliability_diagram(curves: dict[str, tuple[np.ndarray, np.ndarray]], path: Path, bins: int = 10) -> None:
    """Accuracy against confidence per bin, one line per named (confidence, right) pair, the diagonal for
    reference, and each one's ECE in the legend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], color="#999", linestyle="--", linewidth=1)
    edges = np.linspace(0, 1, bins + 1)
    for name, (confidence, right) in curves.items():
        which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
        xs = [confidence[which == b].mean() for b in range(bins) if (which == b).any()]
        ys = [right[which == b].mean() for b in range(bins) if (which == b).any()]
        ax.plot(xs, ys, marker="o", label=f"{name} (ECE {expected_calibration_error(confidence, right, bins):.3f})")
    ax.set_xlabel("confidence")
    ax.set_ylabel("share of readings right")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def attach(model: Path, curves: dict[str, tuple[float, float]]) -> None:
    """Write the curves ({decoder: (scale, shift)}) into the model folder's config.json (export carries them)."""
    path = model / CONFIG
    if not path.is_file():
        raise TextrecError(f"{model} is not a model folder (no config.json)")
    config = json.loads(path.read_text())
    config["calibration"] = {decoder: [round(a, 5), round(b, 5)] for decoder, (a, b) in curves.items()}
    path.write_text(json.dumps(config, indent=2) + "\n")
