"""Recognition speed, side by side in one run: textrec's ONNX runtime vs RapidOCR's recognizer vs Tesseract 5.

    python benchmarks/speed.py                      # 1000 random IIIT5K test words (seed 0), all cores
    python benchmarks/speed.py --limit 300 --out benchmarks/speed-2core.md

Batch 1: each image alone, from a decoded image in memory to text (preprocessing included); p50/p99 of the
per-image latency and the resulting images/s. Batched: all images in one call, each engine batching its own way
(textrec: sorted by width, 32 per forward pass; RapidOCR: its TextRecognizer, sorted by aspect ratio, with its
default batch of 6 and with 64). Tesseract has no batching: one `tesseract` process per image (--psm 7).
"""
from __future__ import annotations

import argparse
import io
import os
import platform
import shutil
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from accuracy import iiit5k  # noqa: E402  (same image sampling as the accuracy benchmark)


def latencies(read, images) -> np.ndarray:
    for image in images[:5]:
        read(image)  # warm-up
    out = []
    for image in images:
        start = time.perf_counter()
        read(image)
        out.append(time.perf_counter() - start)
    return np.array(out) * 1000


def throughput(read_all, images, repeats: int = 3) -> float:
    read_all(images[:64])
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        read_all(images)
        best = max(best, len(images) / (time.perf_counter() - start))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=1000)
    parser.add_argument("--tesseract-limit", type=int, default=200, help="Tesseract is slow: fewer images")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    images, _, _ = iiit5k(args.limit, args.seed)
    cores = len(os.sched_getaffinity(0))
    rows, notes = [], []

    from textrec.recognizer import load_recognizer

    textrec = load_recognizer(batch_size=32, threads=cores)  # the bundled model.onnx on onnxruntime
    ms = latencies(textrec.read, images)
    rows.append(("textrec default model, ONNX Runtime (fp32)", ms, throughput(textrec.read, images)))

    try:
        from rapidocr_onnxruntime import RapidOCR
    except ImportError:
        notes.append("RapidOCR left out: pip install rapidocr-onnxruntime")
    else:
        engine = RapidOCR()
        bgr = [np.ascontiguousarray(np.asarray(im.convert("RGB"))[:, :, ::-1]) for im in images]
        ms = latencies(lambda im: engine.text_rec([im]), bgr)
        engine.text_rec.rec_batch_num = 6
        default_batch = throughput(engine.text_rec, bgr)
        engine.text_rec.rec_batch_num = 64
        big_batch = throughput(engine.text_rec, bgr)
        rows.append(("RapidOCR PP-OCRv4 recognizer (rapidocr-onnxruntime)", ms, max(default_batch, big_batch)))
        notes.append(f"RapidOCR batched: {default_batch:.0f} images/s with its default batch of 6, "
                     f"{big_batch:.0f} with 64; the table shows the better.")

    if shutil.which("tesseract"):
        def tesseract(image):
            buffer = io.BytesIO()
            image.save(buffer, format="PNG")
            subprocess.run(["tesseract", "stdin", "stdout", "--psm", "7", "--oem", "1"], input=buffer.getvalue(),
                           capture_output=True, check=True)
        ms = latencies(tesseract, images[: args.tesseract_limit])
        rows.append((f"Tesseract 5 (--psm 7, {args.tesseract_limit} images)", ms, None))
    else:
        notes.append("Tesseract left out: apt-get install tesseract-ocr")

    lines = [f"`{' '.join(['python', *sys.argv])}` on {platform.node() or 'this machine'}, {cores} cores "
             f"({platform.processor() or platform.machine()}), {date.today()}; {len(images)} IIIT5K test words", "",
             "| engine | batch 1 p50 (ms) | batch 1 p99 (ms) | batch 1 images/s | batched images/s |",
             "| --- | --- | --- | --- | --- |"]
    for name, ms, batched in rows:
        lines.append(f"| {name} | {np.percentile(ms, 50):.2f} | {np.percentile(ms, 99):.2f} | {1000 / ms.mean():.0f} | "
                     f"{f'{batched:.0f}' if batched else '-'} |")
    if len(rows) >= 2 and rows[1][0].startswith("RapidOCR"):
        ours, theirs = rows[0], rows[1]
        lines.append("")
        lines.append(f"textrec / RapidOCR: batch 1 throughput {theirs[1].mean() / ours[1].mean():.1f}x, "
                     f"batched {ours[2] / theirs[2]:.1f}x (goal: 2x and 3x)")
    text = "\n".join(lines + [""] + [f"- {n}" for n in notes]) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
