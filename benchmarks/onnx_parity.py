"""ONNX vs PyTorch on real images: identical decoded text and word accuracy, float and int8.

    python benchmarks/onnx_parity.py               # the first 500 images of ../shared/data/iiit5k/test.tsv
    python benchmarks/onnx_parity.py --limit 0     # all 3000

Uses the bundled model's weights (PyTorch), a float ONNX export made on the fly, and its shipped model.onnx (int8
convolutions: `textrec export --quantize`); accuracy under the community protocol (lower-case alphanumerics).
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np

from textrec.evaluation import normalize, word_accuracy
from textrec.export import export_onnx
from textrec.preprocess import pad_batch, prepare
from textrec.recognizer import default_model_path, load_recognizer

sys.path.insert(0, str(Path(__file__).parent))
from report import publish  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "iiit5k"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=500)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    rows = [line.split("\t", 1) for line in (DATA / "test.tsv").read_text().splitlines() if line]
    rows = rows[: args.limit] if args.limit else rows
    labels = [normalize(label, "alnum") for _, label in rows]
    reference = load_recognizer(backend="torch", batch_size=64)
    arrays = [prepare(DATA / name, reference.preprocess) for name, _ in rows]
    with tempfile.TemporaryDirectory() as tmp:
        float32 = export_onnx(default_model_path(), Path(tmp) / "float.onnx")
        models = {"PyTorch (weights.safetensors)": reference,
                  "ONNX float (exported without --quantize)": load_recognizer(float32, batch_size=64),
                  "ONNX int8 convolutions (shipped model.onnx)": load_recognizer(backend="onnx", batch_size=64)}
        results = {}
        for name, model in models.items():
            model.read_arrays(arrays[:64])
            start = time.perf_counter()
            texts = [p.text for p in model.read_arrays(arrays)]
            results[name] = (texts, len(arrays) / (time.perf_counter() - start))
        batch, widths = pad_batch(arrays[:64], reference.preprocess)
        diff = float(np.abs(models["ONNX float (exported without --quantize)"].logits(batch, widths)[0]
                            - reference.logits(batch, widths)[0]).max())
    base = results["PyTorch (weights.safetensors)"][0]
    lines = [f"`{' '.join(['python', *sys.argv])}` on {platform.node() or 'this machine'}, "
             f"{len(os.sched_getaffinity(0))} cores, {date.today()}; {len(rows)} images of iiit5k/test.tsv "
             "(file order)",
             "", "| model | word accuracy | text identical to PyTorch | images/s (batched) |",
             "| --- | --- | --- | --- |"]
    for name, (texts, speed) in results.items():
        same = np.mean([a == b for a, b in zip(texts, base)])
        accuracy = word_accuracy([normalize(t, "alnum") for t in texts], labels)
        lines.append(f"| {name} | {accuracy:.2%} | {same:.2%} | {speed:.0f} |")
    lines += ["", f"max |logit difference| float ONNX vs PyTorch on the first 64 (one padded batch): {diff:.2e}"]
    publish(lines, args.out)


if __name__ == "__main__":
    main()
