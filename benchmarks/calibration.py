"""Calibrating a model's confidences on validation words, and checking the result (issue 20): the readings of
benchmarks/validation.py's validation sets (IIIT5K val as is, on arcs, angled and low-res, inverted: easy and
hard crops of real photos the model never trained on), right meaning the exact cased text.

    python benchmarks/calibration.py --model runs/x/model                 # report only
    python benchmarks/calibration.py --model runs/x/model --attach        # and write the curves into its config

For each decoder (greedy, and lm when the model has a language model): ECE of the raw score, and of the
calibrated one by 2-fold cross-validation (curve fitted on the photos of one half, scored on the other; the
four versions of a photo stay in one half); the attached curve is fitted on all. Writes CALIBRATION.md and
calibration.png (reliability diagram) into --out-dir.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
from datetime import date
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from validation import sets  # noqa: E402

from textrec.calibration import Calibration  # noqa: E402
from textrec.training.calibrate import attach, expected_calibration_error, fit_curve, reliability_diagram  # noqa: E402


def raw_scores(model: Path, decoder: str, data: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(raw score, right, photo index) over the IIIT5K-based sets, read with calibration switched off."""
    from textrec.recognizer import load_recognizer

    recognizer = load_recognizer(model, "torch", decoder=decoder)
    recognizer.calibration = None
    raw, right, photo = [], [], []
    for name, (images, labels, _) in data.items():
        if not name.startswith("IIIT5K"):
            continue
        for i, (prediction, label) in enumerate(zip(recognizer.read_images(images), labels)):
            raw.append(prediction.confidence)
            right.append(float(prediction.text == label))
            photo.append(i)
    return np.array(raw), np.array(right), np.array(photo)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--attach", action="store_true", help="write the fitted curves into the model's config.json")
    parser.add_argument("--out-dir", type=Path, default=Path(__file__).parent)
    args = parser.parse_args()
    config = json.loads((args.model / "config.json").read_text())
    decoders = ["greedy"] + (["lm"] if "language_model" in config else [])
    data = sets()
    lines = [f"`{' '.join(['python', *sys.argv])}` on {platform.node()}, {date.today()}", "",
             "| decoder | readings | right | ECE raw | ECE calibrated (2-fold) | curve (scale, shift) |",
             "| --- | --- | --- | --- | --- | --- |"]
    curves, diagram = {}, {}
    for decoder in decoders:
        raw, right, photo = raw_scores(args.model, decoder, data)
        calibrated = np.empty_like(raw)
        for half in (0, 1):
            train, held = photo % 2 != half, photo % 2 == half
            curve = Calibration(*fit_curve(raw[train], right[train]))
            calibrated[held] = [curve(r) for r in raw[held]]
        curves[decoder] = fit_curve(raw, right)
        diagram[f"{decoder} raw"] = (raw, right)
        diagram[f"{decoder} calibrated"] = (calibrated, right)
        lines.append(f"| {decoder} | {len(raw)} | {right.mean():.1%} | {expected_calibration_error(raw, right):.3f} | "
                     f"{expected_calibration_error(calibrated, right):.3f} | {curves[decoder][0]:.3f}, "
                     f"{curves[decoder][1]:.3f} |")
        print(lines[-1], file=sys.stderr, flush=True)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    reliability_diagram(diagram, args.out_dir / "calibration.png")
    text = "\n".join(lines) + "\n\n![reliability diagram](calibration.png)\n"
    (args.out_dir / "CALIBRATION.md").write_text(text)
    print(text)
    if args.attach:
        attach(args.model, curves)
        print(f"curves written into {args.model / 'config.json'}")


if __name__ == "__main__":
    main()
