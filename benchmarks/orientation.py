"""Pages given sideways or upside down (issue 20): the SROIE test pages turned 0, 90, 180 and 270 degrees, read
by textrec with no options; the page reader finds the turn (a doubtful reading is tried turned and the clearly
better one kept) and answers in the pixels of the image it was given. Scored like benchmarks/pages.py, against
the annotated quads turned the same way.

    python benchmarks/orientation.py [--pages 240-299] [--out benchmarks/ORIENTATION.md]
"""
from __future__ import annotations

import argparse
import datetime
import json
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from report import publish  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SROIE = ROOT.parent / "shared" / "data" / "sroie"


def turn_point(x: float, y: float, angle: int, width: int, height: int) -> tuple[float, float]:
    """Where (x, y) of a width x height page lands in PIL's rotate(angle, expand=True)."""
    if angle == 90:
        return y, width - x
    if angle == 180:
        return width - x, height - y
    if angle == 270:
        return height - y, x
    return x, y


def main() -> None:
    from textrec.data.sources import read_quads
    from textrec.pages.evaluate import PageScores
    from textrec.pages.pipeline import PageReader
    from textrec.preprocess import load_image

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", default="240-299")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    low, high = (int(v) for v in args.pages.split("-"))
    pages = [(SROIE / "pages" / f"{n:03d}.jpg", SROIE / "boxes" / f"{n:03d}.csv") for n in range(low, high + 1)]
    pages = [(p, b) for p, b in pages if p.is_file() and b.is_file()]
    if not pages:
        sys.exit(f"no SROIE pages {args.pages} under {SROIE}")
    reader = PageReader()
    reader.read(load_image(pages[0][0]))  # warm-up outside the timings
    lines = [f"`{' '.join(['python', *sys.argv])}` on {platform.node()}, {datetime.date.today()}, "
             f"{len(pages)} SROIE test pages", "",
             "| page turned by | turn found | det F1 | word F1 | line CER | s/page |",
             "| --- | --- | --- | --- | --- | --- |"]
    for angle in (0, 90, 180, 270):
        scores, found = PageScores(), 0
        for page_path, boxes in pages:
            page = load_image(page_path)
            turned = page.rotate(angle, expand=True) if angle else page
            truth = [(tuple(v for i in range(0, 8, 2) for v in turn_point(q[i], q[i + 1], angle, *page.size)), text)
                     for q, text in read_quads(boxes)]
            start = time.perf_counter()
            result = reader.read(turned)
            found += result.turned == (360 - angle) % 360
            scores.add(truth, [(line.quad, line.text) for line in result.lines], time.perf_counter() - start)
        report = scores.report()
        print(angle, json.dumps({k: round(v, 4) for k, v in report.items()}), file=sys.stderr, flush=True)
        lines.append(f"| {angle} | {found}/{len(pages)} | {report['det_f1']:.3f} | {report['word_f1']:.3f} | "
                     f"{report['line_cer']:.3f} | {report['seconds_per_page']:.2f} |")
    publish(lines, args.out)


if __name__ == "__main__":
    main()
