"""Confidences you can act on (issue 20): the beam's share as the raw score, Platt curves fitted and applied,
bad curves refused."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from textrec.calibration import Calibration, load_calibration
from textrec.charset import Charset
from textrec.decoding import beam_decode
from textrec.errors import TextrecError
from textrec.recognizer import default_model_path, load_recognizer
from textrec.training.calibrate import attach, expected_calibration_error, fit_curve

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_fit_recovers_a_known_curve_and_ece_sees_the_difference():
    rng = np.random.default_rng(0)
    raw = rng.uniform(0.01, 0.99, 20000)
    truth = Calibration(0.7, -0.8)
    right = (rng.random(raw.size) < np.array([truth(r) for r in raw])).astype(float)
    scale, shift = fit_curve(raw, right)
    assert abs(scale - 0.7) < 0.05 and abs(shift + 0.8) < 0.05
    fitted = np.array([Calibration(scale, shift)(r) for r in raw])
    assert expected_calibration_error(fitted, right) < 0.02 < expected_calibration_error(raw, right)
    with pytest.raises(TextrecError, match="both right and wrong"):
        fit_curve(raw, np.ones_like(raw))


def test_a_beam_reading_scores_its_share_of_all_readings():
    import itertools

    charset = Charset("ab")
    probs = np.array([[0.01, 0.98, 0.01], [0.1, 0.5, 0.4], [0.98, 0.01, 0.01]])  # blank, a, b per frame
    totals: dict[str, float] = {}
    for path in itertools.product(range(3), repeat=3):  # every alignment, collapsed as CTC does
        text, previous = "", 0
        for k in path:
            if k and k != previous:
                text += charset.chars[k - 1]
            previous = k
        totals[text] = totals.get(text, 0.0) + float(np.prod([probs[t, k] for t, k in enumerate(path)]))
    best = max(totals, key=totals.get)
    reading = beam_decode(probs, charset, beam_width=50, prune=0.0)
    assert reading.text == best
    assert abs(reading.confidence - totals[best] / sum(totals.values())) < 1e-9
    assert reading.confidence < np.prod(reading.chars), "the product of letter peaks hides the doubt"


def test_curves_in_the_config_are_applied_and_bad_ones_refused(tmp_path):
    model = tmp_path / "model"
    shutil.copytree(default_model_path(), model, ignore=shutil.ignore_patterns("model.onnx"))
    config = json.loads((model / "config.json").read_text())
    config.pop("calibration", None)
    (model / "config.json").write_text(json.dumps(config))
    plain = load_recognizer(model, "torch", decoder="greedy").read(EXAMPLES / "hello.png")
    attach(model, {"greedy": (1.0, -2.0)})
    shifted = load_recognizer(model, "torch", decoder="greedy").read(EXAMPLES / "hello.png")
    assert shifted.text == plain.text and abs(shifted.confidence - Calibration(1.0, -2.0)(plain.confidence)) < 1e-6
    for bad in ({"greedy": [1, "x"]}, {"greedy": [1.0]}, ["greedy"], {"greedy": [float("inf"), 0]}):
        with pytest.raises(TextrecError, match="calibration"):
            load_calibration({"calibration": bad}, "greedy")
