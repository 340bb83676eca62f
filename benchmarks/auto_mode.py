"""Auto mode against word mode on word crops: a word photo that happens to be page-sized must not lose its
word (issue 20). Reads every crop of each set both ways with the bundled model and counts disagreements.

    python benchmarks/auto_mode.py                  # IIIT5K test + SVT train crops
    python benchmarks/auto_mode.py --out benchmarks/AUTO_MODE.md
"""
from __future__ import annotations

import argparse
import platform
import re
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from report import publish  # noqa: E402

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SETS = {"IIIT5K test": DATA / "iiit5k" / "test.tsv", "SVT train": DATA / "svt-train" / "labels.tsv"}


def main() -> None:
    from textrec.pages.pipeline import is_page_sized
    from textrec.reading import Reader
    from textrec.recognizer import load_recognizer

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    recognizer = load_recognizer(None)
    auto, word = Reader(recognizer, "auto"), Reader(recognizer, "word")
    lines = [f"`{' '.join(['python', *sys.argv])}` on {platform.node()}, {date.today()}", "",
             "| set | crops | page-sized | read as pages in auto | auto right | word right | readings that differ |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for name, annotation in SETS.items():
        if not annotation.is_file():
            sys.exit(f"data not found: {annotation}")
        rows = [line.split("\t", 1) for line in annotation.read_text().splitlines() if line.strip()]
        paths, labels = [str(annotation.parent / p) for p, _ in rows], [label for _, label in rows]
        start = time.perf_counter()
        by_auto, by_word = auto.read(paths, paths), word.read(paths, paths)
        sized = sum(is_page_sized(*auto.load(p).size) for p in paths)
        pages = sum(not hasattr(r, "prediction") for r in by_auto)

        def key(text: str) -> str:
            return re.sub("[^0-9a-z]", "", text.lower())

        right_auto = sum(key(r.text) == key(g) for r, g in zip(by_auto, labels))
        right_word = sum(key(r.text) == key(g) for r, g in zip(by_word, labels))
        differ = sum(a.text != w.text for a, w in zip(by_auto, by_word))
        lines.append(f"| {name} | {len(paths)} | {sized} | {pages} | {right_auto / len(paths):.2%} | "
                     f"{right_word / len(paths):.2%} | {differ} |")
        print(lines[-1], f"({time.perf_counter() - start:.0f} s)", file=sys.stderr, flush=True)
    publish(lines, args.out)


if __name__ == "__main__":
    main()
