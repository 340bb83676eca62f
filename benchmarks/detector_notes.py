"""Does the line detector find handwritten lines (issue 19)? Line detection precision, recall and F1 (IoU >= 0.5)
of detector folders on: SROIE pages (printed receipts), synthetic handwritten notes of a seed the training
validated on, and notes of a seed no run has seen.

    python benchmarks/detector_notes.py src/textrec/models/detector runs/detector-en-notes/model \
        --sroie 225-239 --out benchmarks/DETECTOR_NOTES.md
"""
from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from report import publish  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SROIE = ROOT.parent / "shared" / "data" / "sroie"


def note_pages(seed: int, count: int) -> list[tuple]:
    from textrec.synth.pages import PageRenderer

    renderer = PageRenderer(seed, {"note": 1.0})
    return [(page, [line.quad for line in lines]) for page, lines in (renderer.sample(i) for i in range(count))]


def sroie_pages(span: str) -> list[tuple]:
    from textrec.training.detector import annotated_pages

    return [(path, [q for q, _ in rows]) for path, rows in
            annotated_pages([{"pages": str(SROIE / "pages"), "boxes": str(SROIE / "boxes"), "range": span}])]


def scores(detector, pages: list[tuple]) -> str:
    from textrec.pages.evaluate import match
    from textrec.preprocess import load_image

    hits = truth = found = 0
    for page, quads in pages:
        image = page if not isinstance(page, Path) else load_image(page)
        predicted = [box.quad() for box, _ in detector.detect(image)]
        hits, truth, found = hits + len(match(quads, predicted)), truth + len(quads), found + len(predicted)
    precision, recall = hits / max(1, found), hits / max(1, truth)
    return f"{precision:.3f} / {recall:.3f} / **{2 * precision * recall / max(1e-9, precision + recall):.3f}**"


def main() -> None:
    from textrec.pages.detect import LineDetector

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+", type=Path)
    parser.add_argument("--sroie", default="225-239", help="SROIE page range (225-239: the detector's validation)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    sets = {f"SROIE pages {args.sroie}": sroie_pages(args.sroie) if SROIE.is_dir() else [],
            "notes, validation seed (30)": note_pages(12345, 30), "notes, unseen seed (40)": note_pages(777, 40)}
    sets = {name: pages for name, pages in sets.items() if pages}
    lines = [f"`{' '.join(['python', *sys.argv])}`; {platform.node()}, {platform.machine()}, "
             f"{time.strftime('%Y-%m-%d')}. Precision / recall / F1 of lines at IoU >= 0.5.", "",
             "| detector | " + " | ".join(sets) + " |", "| --- |" + " --- |" * len(sets)]
    for folder in args.models:
        detector = LineDetector(folder, threads=1)
        lines.append(f"| `{folder}` | " + " | ".join(scores(detector, pages) for pages in sets.values()) + " |")
        print(lines[-1], file=sys.stderr, flush=True)
    publish(lines, args.out)


if __name__ == "__main__":
    main()
