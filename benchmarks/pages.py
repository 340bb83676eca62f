"""Whole pages: textrec (line detector + recognizer) vs Tesseract 5 (`--psm 3`, full page) vs RapidOCR
(detection + recognition) on the SROIE test pages 240-299, same pages, one run.

    python benchmarks/pages.py [--pages 240-299] [--out benchmarks/PAGES.md]

Metrics (benchmarks/PAGES.md): line detection precision/recall/F1 at IoU >= 0.5 against the annotated quads;
per-page multisets of upper-cased whitespace-separated words -> word precision/recall/F1; line CER of each
annotated line against the text read in the box matched to it (an unmatched line counts as fully wrong);
seconds per page on this machine (each engine with its default threads).
Needs ../shared/data/sroie; an engine that is not installed is reported as missing, not faked.
"""
from __future__ import annotations

import argparse
import datetime
import json
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from textrec.data.sources import read_quads  # noqa: E402
from textrec.pages.evaluate import PageScores  # noqa: E402

SROIE = ROOT.parent / "shared" / "data" / "sroie"


def textrec_engine():
    from textrec.pages.pipeline import PageReader

    reader = PageReader()

    def run(path: Path) -> list:
        result = reader.read(path)
        return [(line.quad, line.text) for line in result.lines]

    return run, reader


def tesseract_engine():
    if not shutil.which("tesseract"):
        return None

    def run(path: Path) -> list:
        tsv = subprocess.run(["tesseract", str(path), "-", "--psm", "3", "--oem", "1", "tsv"], capture_output=True,
                             text=True, check=True).stdout
        lines: dict[tuple, list] = {}
        for row in tsv.splitlines()[1:]:
            cells = row.split("\t")
            if len(cells) < 12 or cells[0] != "5" or not cells[11].strip():
                continue
            key = tuple(int(c) for c in cells[1:5])  # page, block, paragraph, line
            left, top, width, height = (int(c) for c in cells[6:10])
            lines.setdefault(key, []).append((left, top, left + width, top + height, cells[11]))
        out = []
        for words in lines.values():
            x0, y0 = min(w[0] for w in words), min(w[1] for w in words)
            x1, y1 = max(w[2] for w in words), max(w[3] for w in words)
            out.append(((x0, y0, x1, y0, x1, y1, x0, y1), " ".join(w[4] for w in words)))
        return out

    return run


def rapidocr_engine():
    try:
        from rapidocr_onnxruntime import RapidOCR
    except ImportError:
        return None
    engine = RapidOCR()

    def run(path: Path) -> list:
        result, _ = engine(str(path))
        return [(tuple(float(v) for point in box for v in point), text) for box, text, _ in (result or [])]

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", default="240-299")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "PAGES.md"))
    parser.add_argument("--picture", default=str(ROOT / "benchmarks" / "pages-example.png"))
    args = parser.parse_args()
    low, high = (int(v) for v in args.pages.split("-"))
    pages = [(SROIE / "pages" / f"{n:03d}.jpg", SROIE / "boxes" / f"{n:03d}.csv") for n in range(low, high + 1)]
    pages = [(p, b) for p, b in pages if p.is_file() and b.is_file()]
    if not pages:
        sys.exit(f"no SROIE pages {args.pages} under {SROIE}")
    run_textrec, reader = textrec_engine()
    engines = {"textrec": run_textrec, "Tesseract 5 (--psm 3)": tesseract_engine(),
               "RapidOCR (det + rec)": rapidocr_engine()}
    rows = {}
    for name, engine in engines.items():
        if engine is None:
            rows[name] = None
            print(f"{name}: not installed", flush=True)
            continue
        engine(pages[0][0])  # warm-up (model loading) outside the timings
        scores = PageScores()
        for i, (page, boxes) in enumerate(pages):
            start = time.perf_counter()
            predicted = engine(page)
            scores.add(read_quads(boxes), predicted, time.perf_counter() - start)
            print(f"\r{name}: {i + 1}/{len(pages)} pages", end="", flush=True)
        rows[name] = scores.report()
        print(f"\n{name}: {json.dumps({k: round(v, 4) for k, v in rows[name].items()})}", flush=True)
    write_report(rows, args, len(pages))
    draw_example(reader, pages[0][0], Path(args.picture))


def write_report(rows: dict, args, count: int) -> None:
    command = f"python benchmarks/pages.py --pages {args.pages}"
    machine = f"{platform.machine()}, {__import__('os').cpu_count()} cores, {platform.python_version()}"
    lines = [f"# Whole pages: SROIE test pages {args.pages} ({count} pages)", "",
             f"Command: `{command}`; date {datetime.date.today()}; machine: {machine} (no GPU).", "",
             "| engine | det P | det R | det F1 (IoU>=0.5) | word P | word R | word F1 | line CER | s/page |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, r in rows.items():
        if r is None:
            lines.append(f"| {name} | not installed | | | | | | | |")
            continue
        lines.append(f"| {name} | {r['det_precision']:.3f} | {r['det_recall']:.3f} | {r['det_f1']:.3f} | "
                     f"{r['word_precision']:.3f} | {r['word_recall']:.3f} | {r['word_f1']:.3f} | "
                     f"{r['line_cer']:.3f} | {r['seconds_per_page']:.2f} |")
    Path(args.out).with_suffix(".json").write_text(json.dumps(rows, indent=2) + "\n")
    existing = Path(args.out).read_text() if Path(args.out).is_file() else ""
    notes = existing.split("<!-- notes -->", 1)[1] if "<!-- notes -->" in existing else "\n"
    Path(args.out).write_text("\n".join(lines) + "\n\n<!-- notes -->" + notes)
    print("\n".join(lines))


def draw_example(reader, page: Path, out: Path) -> None:
    from textrec.pages.outputs import draw_page

    picture = draw_page(page, reader.read(page))
    picture.thumbnail((900, 1400))
    picture.save(out)


if __name__ == "__main__":
    main()
