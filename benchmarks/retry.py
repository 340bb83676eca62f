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
    args = parser.parse_args()
    if not DATA.is_dir():
        sys.exit(f"data not found: {DATA}")
    alone = load_recognizer(args.model)
    shipped_retry, shipped_fallback = alone.retry, alone.fallback
    alone.retry = alone.fallback = None
    fallback_only = copy.copy(alone)
    fallback_only.fallback, fallback_only._fallback_reader = shipped_fallback, None
    whole = copy.copy(fallback_only)
    whole.retry = shipped_retry
    columns: dict[str, list[str]] = {}
    names, fraction = [], []
    for name, (images, labels, protocol) in sets().items():
        names.append(name)
        arrays = [prepare_turns(image, alone.preprocess)[0] for image in images]  # upright: these crops are wide
        base = alone.read_arrays(arrays)
        variants = [{v.name: v.array for v in retry_variants(a, alone.preprocess)} for a in arrays]
        looks = {look: alone.read_arrays([v[look] for v in variants]) for look in RETRY_LOOKS}
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
            for label, reader in (("shipped without retry (fallback only)", fallback_only),
                                  (f"shipped: retry T {shipped_retry['below']}, M {shipped_retry['margin']} "
                                   "+ fallback", whole)):
                columns.setdefault(label, []).append(score([p.text for p in reader.read_images(images)], labels,
                                                           protocol))
        print(name, "done", file=sys.stderr, flush=True)
    lines = [f"`{' '.join(['python', *sys.argv])}` on {platform.node()}, {time.strftime('%Y-%m-%d')} (default "
             "decoder; word accuracy under the community protocol, SROIE lines CER).", "",
             "| rule | " + " | ".join(names) + " |", "| --- |" + " --- |" * len(names)]
    lines += [f"| {rule} | " + " | ".join(cells) + " |" for rule, cells in columns.items()]
    if fraction:
        lines += ["", "Crops read again by the shipped rule (confidence under T): " + ", ".join(
            f"{n} {f}" for n, f in zip(names, fraction)) + "."]
    publish(lines, args.out)


if __name__ == "__main__":
    main()
