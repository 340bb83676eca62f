"""CRNN vs ViT + CTC vs attention decoder, trained the same way, measured the same way.

    python benchmarks/architectures.py [--captcha-minutes 3] [--synth-minutes 6] [--out benchmarks/ARCHITECTURES.md]

For each architecture: parameters; training throughput (samples/s, bf16 autocast, batch 64 of 32x100
word images, 2 CPU threads); ONNX latency at batch 1 (one thread, p50 over 300 IIIT5K test images) and
batched throughput (batch 32, two threads); word accuracy on the captcha-6char test split after
`configs/captcha-6char.yaml` with only the network swapped and the same wall-clock budget; and IIIT5K test
word accuracy (community protocol) after `configs/synth-words-20min.yaml` (synthetic words only) with the
network swapped and the same wall-clock budget.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
TEXTREC = [sys.executable, "-m", "textrec.cli"]
ARCHS = {
    "crnn": {"name": "crnn", "backbone": "vgg", "channels": [32, 64, 128, 256], "depth": [1, 1, 2, 2],
             "rnn": "lstm", "rnn_hidden": 128, "rnn_layers": 2, "dropout": 0.1},
    "vit": {"name": "vit", "patch": 8, "width": 256, "layers": 6, "heads": 8, "dropout": 0.1},
    "attn": {"name": "attn", "backbone": "vgg", "channels": [32, 64, 128, 256], "depth": [1, 1, 2, 2],
             "encoder_hidden": 128, "cell": "lstm", "hidden": 128, "attention": 128, "embedding": 64,
             "max_length": 26, "dropout": 0.1},
}
# the captcha config's own CRNN has no RNN (see configs/captcha-6char.yaml: a BiLSTM memorizes the label prior)
CAPTCHA_CRNN = dict(ARCHS["crnn"], rnn_layers=0)


def run(command: list[str]) -> str:
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)}\n{result.stderr[-3000:]}")
    return result.stdout


def flow(network: dict) -> str:
    return json.dumps(network).replace('"', "")


def train_throughput(network: dict, steps: int = 12) -> float:
    from textrec.training.system import RecognitionSystem

    torch.set_num_threads(2)
    system = RecognitionSystem(network, "0123456789abcdefghijklmnopqrstuvwxyz")
    optimizer = torch.optim.AdamW(system.parameters(), lr=1e-4)
    generator = torch.Generator().manual_seed(0)
    labels = torch.randint(1, 37, (64, 8), generator=generator)
    batch = {"images": torch.rand(64, 1, 32, 100, generator=generator), "widths": torch.full((64,), 100),
             "targets": labels.flatten(), "target_lengths": torch.full((64,), 8), "caseless": None}

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss, _, _ = system._loss(batch)
        optimizer.zero_grad(), loss.backward(), optimizer.step()

    step(), step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return 64 * steps / (time.perf_counter() - start)


def latency(onnx_file: Path, images: list[str]) -> tuple[float, float]:
    from textrec.preprocess import prepare
    from textrec.runtime import OnnxRecognizer

    single = OnnxRecognizer(onnx_file, threads=1, batch_size=1)
    arrays = [prepare(p, single.preprocess) for p in images]
    single.read_arrays(arrays[:10])
    times = []
    for array in arrays:
        start = time.perf_counter()
        single.read_arrays([array])
        times.append(time.perf_counter() - start)
    batched = OnnxRecognizer(onnx_file, threads=2, batch_size=32)
    batched.read_arrays(arrays[:32])
    start = time.perf_counter()
    batched.read_arrays(arrays)
    return 1000 * float(np.median(times)), len(arrays) / (time.perf_counter() - start)


def accuracy(output: str) -> float:
    return float(output.split("accuracy ")[1].split()[0])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--captcha-minutes", type=int, default=3)
    parser.add_argument("--synth-minutes", type=int, default=6)
    parser.add_argument("--only", nargs="*", default=list(ARCHS))
    parser.add_argument("--reuse", action="store_true", help="keep runs already in runs/arch-* instead of retraining")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "ARCHITECTURES.md")
    args = parser.parse_args()
    from textrec.networks import build_network

    tests = [str(SHARED / "iiit5k" / line.split("\t")[0])
             for line in (SHARED / "iiit5k" / "test.tsv").read_text().splitlines()[:300]]
    rows = {}
    for arch in args.only:
        network = ARCHS[arch]
        row = {"params": sum(p.numel() for p in build_network(network, 37).parameters())}
        row["train_samples_per_s"] = train_throughput(network)
        captcha = CAPTCHA_CRNN if arch == "crnn" else network
        if not (args.reuse and (ROOT / "runs" / f"arch-captcha-{arch}" / "model").is_dir()):
            run(TEXTREC + ["train", "--config", "configs/captcha-6char.yaml", "--set", f"name=arch-captcha-{arch}",
                           "--set", f"model.network={flow(captcha)}",
                           "--set", f"train.max_time=00:00:{args.captcha_minutes:02d}:00"])
        out = run(TEXTREC + ["test", "--model", f"runs/arch-captcha-{arch}/model", "--data",
                             str(SHARED / "captcha-6char" / "labels.tsv"), "--split", "test"])
        row["captcha_acc"] = accuracy(out)
        model = ROOT / "runs" / f"arch-synth-{arch}" / "model"
        if not (args.reuse and model.is_dir()):
            run(TEXTREC + ["train", "--config", "configs/synth-words-20min.yaml", "--set", f"name=arch-synth-{arch}",
                           "--set", f"model.network={flow(network)}", "--set", "train.max_steps=-1",
                           "--set", f"train.max_time=00:00:{args.synth_minutes:02d}:00"])
        out = run(TEXTREC + ["test", "--model", str(model), "--data", str(SHARED / "iiit5k" / "test.tsv"),
                             "--protocol", "alnum"])
        row["iiit5k_acc"] = accuracy(out)
        run(TEXTREC + ["export", "--model", str(model), "--out", str(model / "model.onnx")])
        row["ms_batch1"], row["batched_per_s"] = latency(model / "model.onnx", tests)
        summary = json.loads((model / "config.json").read_text())["training"]
        row["synth_steps"] = summary.get("step")
        rows[arch] = row
        print(arch, row, flush=True)
        (args.out.with_suffix(".json")).write_text(json.dumps(rows, indent=2) + "\n")  # kept as it goes
    lines = [f"| architecture | params | train samples/s (bf16, 2 cores) | ONNX ms/image, batch 1, 1 core | "
             f"ONNX images/s, batch 32, 2 cores | captcha-6char test acc ({args.captcha_minutes} min) | "
             f"IIIT5K acc after {args.synth_minutes} min of synthetic words (best-val step) |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for arch, r in rows.items():
        lines.append(f"| {arch} | {r['params'] / 1e6:.2f}M | {r['train_samples_per_s']:.0f} | {r['ms_batch1']:.2f} | "
                     f"{r['batched_per_s']:.0f} | {100 * r['captcha_acc']:.2f}% | {100 * r['iiit5k_acc']:.2f}% "
                     f"(step {r['synth_steps']}) |")
    header = (f"`python benchmarks/architectures.py --captcha-minutes {args.captcha_minutes} --synth-minutes "
              f"{args.synth_minutes}`, {date.today()}, {platform.machine()} Linux, {os.cpu_count()} CPU cores.\n")
    print(header + "\n".join(lines))
    (args.out.with_suffix(".table.md")).write_text(header + "\n" + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
