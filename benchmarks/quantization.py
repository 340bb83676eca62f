"""int8 convolutions against the float network, on validation data only: accuracy on every set of
benchmarks/validation.py (greedy: the networks alone; default decoder: what a user gets) with a paired bootstrap
of the difference, and one-core latency of the network alone at three widths.

    python benchmarks/quantization.py --out benchmarks/QUANTIZATION.md

The int8 file is made as recipes/default-en.sh makes the shipped one: `textrec export --quantize`, calibrated on
SVT train and SROIE lines of pages 0-199 (never on a validation or test image) plus rendered words.
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
from rapidfuzz.distance import Levenshtein

sys.path.insert(0, str(Path(__file__).parent))
from report import publish  # noqa: E402
from validation import DATA, ROOT, sets  # noqa: E402

from textrec.evaluation import normalize  # noqa: E402

CALIBRATION = [str(DATA / "svt-train"), str(ROOT / "runs" / "data" / "sroie-lines-0-199.lmdb")]


def per_item(recognizer, images, labels, protocol) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    """Word sets: 1/0 per word. Receipt lines: edit distance per line, and the label lengths. And the readings."""
    predictions = [p.text for p in recognizer.read_images(images)]
    if protocol != "upper":
        return np.array([normalize(p, protocol) == normalize(g, protocol) for p, g in zip(predictions, labels)],
                        float), None, predictions
    truth = [normalize(g, "upper") for g in labels]
    return (np.array([Levenshtein.distance(normalize(p, "upper"), g) for p, g in zip(predictions, truth)], float),
            np.array([len(g) for g in truth], float), predictions)


def compare(a: tuple, b: tuple, rng: np.random.Generator) -> str:
    """'float -> int8 (difference [95% interval])', resampling items with replacement, paired."""
    (x, lengths, _), (y, _, _) = a, b
    draws = rng.integers(0, len(x), (2000, len(x)))
    if lengths is None:
        diff = (y[draws].mean(1) - x[draws].mean(1)) * 100
        head = f"{x.mean():.1%} -> {y.mean():.1%}"
    else:
        diff = (y[draws].sum(1) - x[draws].sum(1)) / lengths[draws].sum(1) * 100
        head = f"{x.sum() / lengths.sum():.2%} -> {y.sum() / lengths.sum():.2%} CER"
    return f"{head} ({np.mean(diff):+.2f} [{np.percentile(diff, 2.5):+.2f}, {np.percentile(diff, 97.5):+.2f}])"


def minmax_differ(model: Path, float_file: Path, data: dict) -> int:
    """Readings (greedy) in which an int8 export with min/max activation ranges differs from the float one."""
    from textrec.export import calibration_images, export_onnx
    from textrec.runtime import OnnxRecognizer

    folder = Path(tempfile.mkdtemp())
    readers = [OnnxRecognizer(float_file, decoder="greedy", batch_size=64),
               OnnxRecognizer(export_onnx(model, folder / "minmax.onnx", quantize=True, ranges="minmax",
                                          calibration=calibration_images(CALIBRATION, 256)[0]),
                              decoder="greedy", batch_size=64)]
    differ = 0
    for images, _, _ in data.values():
        a, b = ([p.text for p in reader.read_images(images)] for reader in readers)
        differ += sum(x != y for x, y in zip(a, b))
    return differ


def latency(path: Path, width: int, repeats: int = 300) -> float:
    """Median ms of one run of the network on a 1 x 1 x 32 x width input, one thread."""
    from textrec.runtime import onnx_session

    session = onnx_session(path, 1, "ONNX model")
    feed = {session.get_inputs()[0].name: np.random.default_rng(0).random((1, 1, 32, width), dtype=np.float32)}
    for _ in range(20):
        session.run(None, feed)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        session.run(None, feed)
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1000)


def main() -> None:
    from textrec.export import calibration_images, export_onnx
    from textrec.recognizer import default_model_path
    from textrec.runtime import OnnxRecognizer

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=None, help="model folder (default: the bundled one)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if not DATA.is_dir() or not Path(CALIBRATION[1]).is_dir():
        sys.exit(f"needs {DATA} and {CALIBRATION[1]} (textrec dataset ../shared/data/sroie --pages 0-199 --out ...)")
    model = args.model or default_model_path()
    folder = Path(tempfile.mkdtemp())
    files = {"float": export_onnx(model, folder / "float.onnx"),
             "int8": export_onnx(model, folder / "int8.onnx", quantize=True,
                                 calibration=calibration_images(CALIBRATION, 256)[0])}
    data = sets()
    rng = np.random.default_rng(0)
    lines = [f"`{' '.join(['python', *sys.argv])}` on {platform.node()}, {date.today()}; accuracy: float -> int8 "
             "(difference in points, 95% paired-bootstrap interval)", "",
             "| set | greedy (networks alone) | readings that differ (greedy) | default decoder (LM, fallback, "
             "retry) |", "| --- | --- | --- | --- |"]
    results: dict[str, dict[str, list]] = {name: {} for name in data}
    for decoder in ("greedy", "auto"):
        for kind, path in files.items():
            recognizer = OnnxRecognizer(path, decoder=decoder, batch_size=64)
            for name, (images, labels, protocol) in data.items():
                results[name].setdefault(decoder, []).append(per_item(recognizer, images, labels, protocol))
                print(kind, decoder, name, file=sys.stderr, flush=True)
    differ = 0
    for name, by_decoder in results.items():
        (_, _, a), (_, _, b) = by_decoder["greedy"]
        changed = sum(x != y for x, y in zip(a, b))
        differ += changed
        lines.append(f"| {name} | {compare(*by_decoder['greedy'], rng)} | {changed} of {len(a)} | "
                     f"{compare(*by_decoder['auto'], rng)} |")
    lines += ["", f"Readings that differ between the two networks (greedy), all sets: {differ}; with min/max "
              f"activation ranges instead of the 99.999th percentile: {minmax_differ(model, files['float'], data)}."]
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[-1]})
    lines += ["", "Network alone, one core, batch 1, median ms (onnxruntime, one thread):", "",
              "| input width | float | int8 convolutions | speed-up |", "| --- | --- | --- | --- |"]
    for width in (60, 100, 200):
        a, b = latency(files["float"], width), latency(files["int8"], width)
        lines.append(f"| {width} px | {a:.2f} | {b:.2f} | {a / b:.2f}x |")
    sizes = {kind: path.stat().st_size / 1e6 for kind, path in files.items()}
    lines += ["", f"File size: float {sizes['float']:.1f} MB, int8 {sizes['int8']:.1f} MB."]
    publish(lines, args.out)


if __name__ == "__main__":
    main()
