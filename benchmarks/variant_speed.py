"""What each network variant of issue 18 would cost at run time, before any is trained: the network alone
(random weights; int8 kernels cost the same whatever the values), exported as `textrec export --quantize`
exports (int8 convolutions, ReLU and pooling; LSTM/GRU and output layer float), one core, batch 1, median ms
at three word widths. Accuracy needs training (benchmarks/RESULTS.md); this says which variants fit the
latency budget at all.

    taskset -c 0 python benchmarks/variant_speed.py --out benchmarks/VARIANT_SPEED.md
    taskset -c 0 python benchmarks/variant_speed.py --only 1-1-2-3 1-1-3-3     # some rows, beside the shipped one
"""
from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from report import publish  # noqa: E402

from textrec.charset import Charset  # noqa: E402
from textrec.export import CALIBRATION_CHUNK, _quantize_convolutions  # noqa: E402
from textrec.networks import build_network  # noqa: E402

SHIPPED = {"name": "crnn", "backbone": "vgg", "channels": [32, 64, 128, 256], "depth": [1, 1, 2, 2],
           "rnn": "lstm", "rnn_hidden": 128, "rnn_layers": 2, "dropout": 0.1}
# name -> (network settings over the shipped ones, input channels, input height)
VARIANTS: dict[str, tuple[dict, int, int]] = {
    "shipped: VGG 32-64-128-256, BiLSTM 128 x 2, gray, height 32": ({}, 1, 32),
    "BiLSTM 128 x 1": ({"rnn_layers": 1}, 1, 32),
    "BiGRU 128 x 2": ({"rnn": "gru"}, 1, 32),
    "no recurrent layer (convolutions + output layer)": ({"rnn_layers": 0}, 1, 32),
    "BiLSTM 192 x 2": ({"rnn_hidden": 192}, 1, 32),
    "VGG 48-96-192-384, BiLSTM 128 x 2": ({"channels": [48, 96, 192, 384]}, 1, 32),
    "VGG 48-96-192-384, BiLSTM 128 x 1": ({"channels": [48, 96, 192, 384], "rnn_layers": 1}, 1, 32),
    "VGG 32-64-128-256 depth 1-2-2-2": ({"depth": [1, 2, 2, 2]}, 1, 32),
    "VGG 32-64-128-256 depth 1-1-2-3 (grown from the shipped weights)": ({"depth": [1, 1, 2, 3]}, 1, 32),
    "VGG 32-64-128-256 depth 1-1-3-3 (grown from the shipped weights)": ({"depth": [1, 1, 3, 3]}, 1, 32),
    "colour input (3 channels)": ({}, 3, 32),
    "height 48": ({}, 1, 48),
    "TPS rectifier in front": ({"rectifier": "tps"}, 1, 32),
}
WIDTHS = (60, 100, 200)


def export_int8(settings: dict, channels: int, height: int, folder: Path) -> tuple[Path, int]:
    classes = Charset.from_spec("printable").num_classes
    network = build_network({**SHIPPED, **settings, "in_channels": channels}, classes)
    network.eval()
    plain, quantized = folder / "plain.onnx", folder / "int8.onnx"
    with torch.no_grad():
        torch.onnx.export(network, (torch.zeros(1, channels, height, 100),), str(plain), input_names=["images"],
                          output_names=["logits"], dynamic_axes={"images": {0: "batch", 3: "width"}},
                          opset_version=17, dynamo=False)
    rng = np.random.default_rng(0)
    samples = [rng.uniform(-1, 1, (1, channels, height, 256)).astype(np.float32) for _ in range(CALIBRATION_CHUNK)]
    _quantize_convolutions(plain, quantized, "images", samples)
    return quantized, sum(p.numel() for p in network.parameters())


def median_ms(path: Path, channels: int, height: int, width: int, runs: int) -> float:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    image = np.random.default_rng(width).uniform(-1, 1, (1, channels, height, width)).astype(np.float32)
    for _ in range(20):
        session.run(None, {"images": image})
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        session.run(None, {"images": image})
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--only", nargs="+", default=[], help="also time the variants whose names hold one of these "
                        "words (the shipped network is always timed, first: the rows compare with it)")
    args = parser.parse_args()
    torch.manual_seed(0)
    rows = []
    chosen = {name: v for i, (name, v) in enumerate(VARIANTS.items())
              if i == 0 or not args.only or any(word in name for word in args.only)}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (settings, channels, height) in chosen.items():
            folder = Path(tmp) / str(len(rows))
            folder.mkdir()
            path, params = export_int8(settings, channels, height, folder)
            rows.append((name, params, [median_ms(path, channels, height, w * height // 32, args.runs)
                                        for w in WIDTHS]))
            print(name, rows[-1][2], flush=True)
    base = rows[0][2]
    lines = [f"`taskset -c 0 python benchmarks/variant_speed.py` on {platform.node()} ({platform.machine()}, one "
             f"core), {date.today()}: the network alone, int8 as shipped, batch 1, median of {args.runs} runs", "",
             "| variant | parameters | " + " | ".join(f"{w} px" for w in WIDTHS)
             + " | vs shipped, 100 px |", "| --- | --- | " + " | ".join("---" for _ in WIDTHS) + " | --- |"]
    for name, params, ms in rows:
        lines.append(f"| {name} | {params / 1e6:.2f}M | " + " | ".join(f"{m:.2f} ms" for m in ms)
                     + f" | {ms[1] / base[1]:.2f}x |")
    lines += ["", "Widths are for a 32 px high input; a 48 px high one is read at the same aspect ratio (1.5x the "
              "pixels). The VM's speed drifts by 20-40% over minutes: compare rows of one run only."]
    publish(lines, args.out)


if __name__ == "__main__":
    main()
