"""How much IIIT5K val (the first 15% of IIIT5K train by word) shares scene photos with the training part, and
how a model reads the val words from photos training saw against those from photos it never saw.

    python benchmarks/iiit_val_leak.py --models src/textrec/models/default [--decoder auto]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from validation import DATA  # noqa: E402


def photo(name: str) -> str:
    """`...train/2171_2.png)` -> `2171`: IIIT5K names a word by its photo and its place in it."""
    return Path(str(name).rstrip(")")).stem.split("_")[0]


def main() -> None:
    from textrec.data.sources import open_source
    from textrec.evaluation import normalize
    from textrec.recognizer import load_recognizer

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", required=True)
    parser.add_argument("--decoder", default="auto")
    args = parser.parse_args()
    labels_file = str(DATA / "iiit5k" / "train_cased.tsv")
    val = open_source({"path": labels_file, "split": {"range": [0.0, 0.15]}})
    seen = {photo(n) for n in open_source({"path": labels_file, "split": {"range": [0.15, 1.0]}}).names}
    unseen = [photo(n) not in seen for n in val.names]
    print(f"{len(val)} val words: {len(val) - sum(unseen)} from photos with training words, "
          f"{sum(unseen)} from unseen photos")
    images = [val.load(i) for i in range(len(val))]
    for model in args.models:
        readings = load_recognizer(model, decoder=args.decoder).read_images(images)
        right = [normalize(p.text, "alnum") == normalize(g, "alnum") for p, g in zip(readings, val.labels)]
        for label, flag in (("unseen photos", True), ("photos with training words", False)):
            group = [r for r, u in zip(right, unseen) if u == flag]
            print(f"{model} ({args.decoder}): {label}: {sum(group)}/{len(group)} = {sum(group) / len(group):.1%}")


if __name__ == "__main__":
    main()
