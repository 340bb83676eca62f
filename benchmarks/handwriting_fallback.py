"""Can the handwriting model be picked automatically (issue 19)? On benchmarks/validation.py's sets (printed photos,
synthetic handwriting of an unseen seed, SROIE lines), each image read by the default model alone, by the
handwriting model, and by rules: the default's reading unless its confidence is under T and the handwriting
model's is higher by a margin M and, with A set, the default network finds the other reading plausible (its CTC
log-likelihood at most A nats per character below that of its own reading; inference.BatchReader.plausible).
"folded": the default's doubt is measured up to letter case (Prediction.case_folded), so case alone does not
send a crop on. Confidences are each model's calibrated ones (default decoder).

    python benchmarks/handwriting_fallback.py --default src/textrec/models/default \
        --handwriting src/textrec/models/handwriting --out benchmarks/HANDWRITING_FALLBACK.md
"""
from __future__ import annotations

import argparse
import platform
import sys
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from report import publish  # noqa: E402
from validation import DATA, score, sets  # noqa: E402

RULES = [(t, m, a, f) for f in (False, True) for t in (0.3, 0.5, 0.7) for m in (0.1, 0.2) for a in (None, 2.0, 1.0)]


def main() -> None:
    from textrec.decoding import ctc_log_likelihood
    from textrec.preprocess import prepare_turns, turns
    from textrec.recognizer import load_recognizer

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--default", required=True)
    parser.add_argument("--handwriting", required=True)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if not DATA.is_dir():
        sys.exit(f"data not found: {DATA}")
    default, handwriting = load_recognizer(args.default), load_recognizer(args.handwriting)
    default.fallback = None  # the default alone: the rules below are what its fallback would do
    columns: dict[str, list[str]] = {"default alone": [], "handwriting model": []}
    names = []
    for name, (images, labels, protocol) in sets().items():
        names.append(name)
        mine, theirs = default.read_images(images), handwriting.read_images(images)
        # the default's frames for the way it read each crop (upright, or a tall one turned)
        arrays = [prepare_turns(image, default.preprocess)[turns(image).index(d.turned)]
                  for image, d in zip(images, mine)]
        log_probs = _log_probs(default, arrays)
        gaps = []
        for d, h, lp in zip(mine, theirs, log_probs):
            if default.charset.unknown(h.text):
                gaps.append(float("inf"))
                continue
            gap = ctc_log_likelihood(lp, default.charset.encode(d.text)) - ctc_log_likelihood(
                lp, default.charset.encode(h.text))
            gaps.append(gap / max(1, len(d.text), len(h.text)))
        columns["default alone"].append(score([p.text for p in mine], labels, protocol))
        columns["handwriting model"].append(score([p.text for p in theirs], labels, protocol))
        for t, m, a, fold in RULES:
            picked = [h.text if (d.case_folded if fold else d.confidence) < t and h.confidence > d.confidence + m
                      and (a is None or g <= a) else d.text for d, h, g in zip(mine, theirs, gaps)]
            rule = f"T {t}, M {m}, A {a if a is not None else '-'}{', folded' if fold else ''}"
            columns.setdefault(rule, []).append(score(picked, labels, protocol))
        print(name, "done", file=sys.stderr, flush=True)
    lines = [f"`{' '.join(['python', *sys.argv])}` on {platform.node()}, {date.today()}", "",
             "| rule | " + " | ".join(names) + " |", "| --- |" + " --- |" * len(names)]
    lines += [f"| {rule} | " + " | ".join(cells) + " |" for rule, cells in columns.items()]
    publish(lines, args.out)


def _log_probs(reader, arrays):
    from textrec.inference import read_sorted

    return read_sorted(arrays, reader.preprocess, reader._log_probs, reader.batch_size)


if __name__ == "__main__":
    main()
