"""The handwriting fallback with `blend` (issue 19): where the fallback model reads a crop surer, read the two
networks' per-column probabilities mixed instead of taking the fallback's own reading. The whole default reader
(default decoder, fallback, retry) on benchmarks/validation.py's sets, for each rule of a grid against the shipped
rule (the fallback's reading, kept where plausible to this model: `agree`).

    python benchmarks/fallback_blend.py [--fallback runs/some-handwriting-run/model] [--rules 0.3:0.7 ...] [--out FILE]
    python benchmarks/fallback_blend.py --model runs/candidate --rules 0.5:0.85    # a candidate default model

`--fallback`: a model folder to stand in for the bundled handwriting model (a candidate, before shipping it).
`--model`: the same for the default model (a folder with the shipped one's config: language model and rules).
"""
from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from report import publish  # noqa: E402
from validation import DATA, score, sets  # noqa: E402

GRID = [(0.3, 0.7), (0.5, 0.7), (0.5, 0.85), (0.7, 0.7), (0.7, 0.85)]  # (below, blend)


def main() -> None:
    from textrec.recognizer import load_recognizer

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fallback", type=Path, help="a model folder instead of the bundled handwriting model")
    parser.add_argument("--model", type=Path, help="a model folder instead of the bundled default model (its own "
                        "language model, calibration and rules; the bundled handwriting model as its fallback)")
    parser.add_argument("--rules", nargs="+", metavar="BELOW:BLEND", help="instead of the grid, e.g. 0.3:0.7")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    grid = [tuple(float(x) for x in rule.split(":")) for rule in args.rules] if args.rules else GRID
    if not DATA.is_dir():
        sys.exit(f"data not found: {DATA}")
    stand_in = load_recognizer(args.fallback) if args.fallback else None
    shipped = load_recognizer(args.model).fallback
    own = "the model's own" if args.model else "shipped"  # a candidate's config carries its own rule
    rules = {f"{own}: below {shipped['below']}, agree {shipped.get('agree')}": dict(shipped)}
    for below, blend in grid:
        rule = {k: v for k, v in shipped.items() if k != "agree"}
        rules[f"below {below}, blend {blend}"] = dict(rule, below=below, blend=blend)
    data = sets()
    columns: dict[str, list[str]] = {}
    for label, rule in rules.items():
        reader = load_recognizer(args.model)
        reader.fallback = rule
        if stand_in is not None:
            reader._fallback_reader = stand_in
        for name, (images, labels, protocol) in data.items():
            columns.setdefault(label, []).append(score([p.text for p in reader.read_images(images)], labels,
                                                       protocol))
        print(label, columns[label], file=sys.stderr, flush=True)
    fallback = args.fallback or "the bundled handwriting model"
    default = f" of {args.model}" if args.model else ""
    lines = [f"`{' '.join(['python', *sys.argv])}` on {platform.node()}, {time.strftime('%Y-%m-%d')} (whole default "
             f"reader{default}, default decoder, margin {shipped['margin']}; fallback: {fallback}; word accuracy "
             "under the community protocol, SROIE lines CER).", "",
             "| rule | " + " | ".join(data) + " |", "| --- |" + " --- |" * len(data)]
    lines += [f"| {label} | " + " | ".join(cells) + " |" for label, cells in columns.items()]
    publish(lines, args.out)


if __name__ == "__main__":
    main()
