"""Other looks at crops the model is unsure of (issue 18): on benchmarks/validation.py's sets, each crop read
by the default model alone, then by rules: a reading under calibrated confidence T is read again on every look
of preprocess.retry_variants (a margin of paper, contrast stretched, wider, narrower) and the surest look kept
where it is surer by M (inference.BatchReader.read_again). Then the whole shipped reader (retry and the
handwriting fallback together, default decoder) against the fallback alone.

    python benchmarks/retry.py --out benchmarks/RETRY.md
"""
from __future__ import annotations

import argparse
import copy
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from report import publish  # noqa: E402
from validation import DATA, score, sets  # noqa: E402

RULES = [(t, m) for t in (0.3, 0.5, 0.7, 0.9) for m in (0.0, 0.1, 0.2)]


def main() -> None:
    from textrec.preprocess import RETRY_LOOKS, prepare_turns, retry_variants
    from textrec.recognizer import load_recognizer

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="model folder (default: the bundled one)")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--attach", action="store_true",
                        help="write the retried readings' calibration curve into the model's config.json")
    args = parser.parse_args()
    if not DATA.is_dir():
        sys.exit(f"data not found: {DATA}")
    alone = load_recognizer(args.model)
    shipped_retry, shipped_fallback = alone.retry, alone.fallback
    alone.retry = alone.fallback = None
    fallback_only = copy.copy(alone)
    fallback_only.fallback, fallback_only._fallback_reader = shipped_fallback, None
    whole = copy.copy(fallback_only)
    whole.retry, whole._retry_curve = shipped_retry, None  # the readings as chosen, before their own curve
    columns: dict[str, list[str]] = {}
    names, fraction = [], []
    finals: list[tuple[int, float, bool, bool]] = []  # (photo, confidence, right, replaced) of every reading
    for index, (name, (images, labels, protocol)) in enumerate(sets().items()):
        names.append(name)
        arrays = [prepare_turns(image, alone.preprocess)[0] for image in images]  # upright: these crops are wide
        base = alone.read_arrays(arrays)
        variants = [{v.name: v.array for v in retry_variants(a, alone.preprocess)} for a in arrays]
        looks = {look: alone.read_arrays([v.get(look, a) for v, a in zip(variants, arrays)])
                 for look in RETRY_LOOKS}  # a look a crop does not get (straightened) is the crop as it is
        columns.setdefault("default alone", []).append(score([p.text for p in base], labels, protocol))
        for look in RETRY_LOOKS:
            columns.setdefault(f"only the {look} look", []).append(score([p.text for p in looks[look]], labels,
                                                                           protocol))
        for t, m in RULES:
            picked = []
            for k, reading in enumerate(base):
                best = max((looks[look][k] for look in RETRY_LOOKS), key=lambda p: p.confidence)
                picked.append(best.text if reading.confidence < t and best.confidence > reading.confidence + m
                              else reading.text)
            columns.setdefault(f"retry T {t}, M {m}", []).append(score(picked, labels, protocol))
        if shipped_retry:
            fraction.append(f"{sum(p.confidence < float(shipped_retry['below']) for p in base) / len(base):.0%}")
            before, after = fallback_only.read_images(images), whole.read_images(images)
            for label, readings in (("shipped without retry (fallback only)", before),
                                    (f"shipped: retry T {shipped_retry['below']}, M {shipped_retry['margin']} "
                                     "+ fallback", after)):
                columns.setdefault(label, []).append(score([p.text for p in readings], labels, protocol))
            if index < 4:  # the photo sets (as calibration.py): right means the exact cased text
                for k, (b, a, gold) in enumerate(zip(before, after, labels)):
                    replaced = (a.text, a.confidence) != (b.text, b.confidence)
                    finals.append((k, a.confidence, a.text == gold, replaced))
        print(name, "done", file=sys.stderr, flush=True)
    lines = [f"`{' '.join(['python', *sys.argv])}` on {platform.node()}, {time.strftime('%Y-%m-%d')} (default "
             "decoder; word accuracy under the community protocol, SROIE lines CER).", "",
             "| rule | " + " | ".join(names) + " |", "| --- |" + " --- |" * len(names)]
    lines += [f"| {rule} | " + " | ".join(cells) + " |" for rule, cells in columns.items()]
    if fraction:
        lines += ["", "Crops read again by the shipped rule (confidence under T): " + ", ".join(
            f"{n} {f}" for n, f in zip(names, fraction)) + "."]
    if finals:
        lines += ["", *calibration_lines(finals, Path(args.model) if args.model else None, args.attach)]
    publish(lines, args.out)


def calibration_lines(finals: list[tuple[int, float, bool, bool]], model: Path | None, attach: bool) -> list[str]:
    """The surest of five looks is surer than it is right: a curve for the readings the retry replaced, fitted
    on the photo sets (2-fold by photo for the reported error), and the whole reader's ECE with and without it."""
    import json

    import numpy as np

    from textrec.calibration import Calibration
    from textrec.recognizer import default_model_path
    from textrec.training.calibrate import expected_calibration_error, fit_curve

    photo, confidence, right, replaced = (np.array(column) for column in zip(*finals))
    right = right.astype(float)
    fixed = confidence.copy()
    for half in (0, 1):  # fit on one half of the photos, apply to the other
        fit, apply = replaced & (photo % 2 != half), replaced & (photo % 2 == half)
        fixed[apply] = [Calibration(*fit_curve(confidence[fit], right[fit]))(c) for c in confidence[apply]]
    curve = fit_curve(confidence[replaced], right[replaced])
    lines = [f"Calibration of the {int(replaced.sum())} readings the retry replaced (photo sets): accuracy "
             f"{right[replaced].mean():.1%}, mean confidence {confidence[replaced].mean():.1%} as read, "
             f"{fixed[replaced].mean():.1%} re-calibrated (2-fold by photo). Whole reader, all "
             f"{len(right)} readings: ECE {expected_calibration_error(confidence, right):.3f} as read, "
             f"{expected_calibration_error(fixed, right):.3f} re-calibrated; curve (scale, shift) on all: "
             f"{curve[0]:.3f}, {curve[1]:.3f}."]
    if attach:
        path = (model or default_model_path()) / "config.json"
        config = json.loads(path.read_text())
        config["retry"]["calibration"] = [round(curve[0], 5), round(curve[1], 5)]
        path.write_text(json.dumps(config, indent=2) + "\n")
        lines.append(f"Attached to {path} as retry.calibration (re-export its model.onnx).")
    return lines


if __name__ == "__main__":
    main()
