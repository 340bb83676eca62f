"""Can the handwriting model be picked automatically (issue 19)? On benchmarks/validation.py's sets (printed photos,
synthetic handwriting of an unseen seed, SROIE lines), each image read by the default model, by the handwriting
model, and by a rule: the default's reading unless its confidence is under T and the handwriting model's is
higher by a margin M. Confidences are each model's calibrated ones (default decoder).

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
from validation import DATA, score, sets  # noqa: E402

RULES = [(threshold, margin) for threshold in (0.3, 0.5, 0.7, 0.9) for margin in (0.0, 0.1, 0.2)]


def main() -> None:
    from textrec.recognizer import load_recognizer

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--default", required=True)
    parser.add_argument("--handwriting", required=True)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if not DATA.is_dir():
        sys.exit(f"data not found: {DATA}")
    models = {"default": load_recognizer(args.default), "handwriting": load_recognizer(args.handwriting)}
    columns = ["default", "handwriting", *(f"T{t} M{m}" for t, m in RULES)]
    lines = [f"`{' '.join(['python', *sys.argv])}` on {platform.node()}, {date.today()}", "",
             "| set | " + " | ".join(columns) + " |", "| --- |" + " --- |" * len(columns)]
    for name, (images, labels, protocol) in sets().items():
        readings = {key: model.read_images(images) for key, model in models.items()}
        row = [score([p.text for p in readings[key]], labels, protocol) for key in models]
        for threshold, margin in RULES:
            picked = [h.text if d.confidence < threshold and h.confidence > d.confidence + margin else d.text
                      for d, h in zip(readings["default"], readings["handwriting"])]
            row.append(score(picked, labels, protocol))
        lines.append(f"| {name} | " + " | ".join(row) + " |")
        print(lines[-1], file=sys.stderr, flush=True)
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
