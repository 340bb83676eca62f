"""Accuracy side of the architecture choice: train each candidate CRNN size for the same wall-clock budget with the
default model's recipe (configs/default-en.yaml: same data mix, augmentation, schedule; only the widths change),
then score it on the same images as benchmarks/accuracy.py, beside its speed (benchmarks/arch.py's measure).

    python benchmarks/sizes.py --minutes 20 --sizes S M L --out benchmarks/SIZES.md
    python benchmarks/sizes.py --minutes 20 --sizes S M L --skip-training   # re-score runs/sizes/*

Equal time, not equal steps, because time is what a user of this machine spends: a smaller network sees more
samples in the same minutes. Runs go to runs/sizes/<size>-<minutes>min (the best model by validation CER in
model/). Needs ../shared/data.
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

sys.path.insert(0, str(Path(__file__).parent))
from accuracy import DATA, iiit5k, score, sroie  # noqa: E402  (same images and scoring as the accuracy table)
from arch import CANDIDATES, measure  # noqa: E402
from report import publish  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SIZES = {name.split()[0]: (name, settings) for name, settings in CANDIDATES.items()}


def train(size: str, minutes: int, folder: Path, base_config: Path) -> None:
    _, settings = SIZES[size]
    overrides = [f"name={folder.name}", f"train.max_time=00:00:{minutes:02d}:00", "train.samples_to_print=0",
                 f"model.network.channels={json.dumps(settings['channels'])}",
                 f"model.network.depth={json.dumps(settings['depth'])}",
                 f"model.network.rnn_hidden={settings['rnn_hidden']}"]
    command = ["textrec", "train", "--config", str(base_config)] + [a for o in overrides for a in ("--set", o)]
    print("$", " ".join(command), file=sys.stderr, flush=True)
    subprocess.run(command, check=True, cwd=ROOT, env={**os.environ, "TEXTREC_RUN_DIR": str(folder)})


def evaluate(model: Path, test_sets: dict[str, tuple]) -> dict:
    from textrec.recognizer import Recognizer

    recognizer = Recognizer(model, batch_size=64)
    result = {}
    for name, (images, plain, cased) in test_sets.items():
        predictions = [p.text for p in recognizer.read(images)]
        result[name] = score(name, predictions, plain, cased)
    result["training"] = json.loads((model / "config.json").read_text())["training"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=["S", "M", "L"], choices=list(SIZES))
    parser.add_argument("--minutes", type=int, default=20, help="training budget per size (wall clock)")
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "default-en.yaml")
    parser.add_argument("--limit", type=int, default=1000, help="random images per test set (0 = all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-training", action="store_true", help="score the runs already in runs/sizes")
    parser.add_argument("--out", type=Path, default=None, help="also write the table here")
    args = parser.parse_args()
    if not DATA.is_dir():
        sys.exit(f"benchmark data not found: {DATA}")
    rows, test_sets = [], None
    for size in args.sizes:
        folder = ROOT / "runs" / "sizes" / f"{size}-{args.minutes}min"
        if not args.skip_training:
            if folder.exists():
                sys.exit(f"{folder} exists: remove it, or pass --skip-training to score it")
            start = time.monotonic()
            train(size, args.minutes, folder, args.config)
            print(f"{size}: trained in {(time.monotonic() - start) / 60:.1f} min", file=sys.stderr)
        if test_sets is None:  # loaded once, after the first training run, for every size
            test_sets = {name: load(args.limit, args.seed) for name, load in (("iiit5k", iiit5k), ("sroie", sroie))}
        scores = evaluate(folder / "model", test_sets)
        speed = measure(SIZES[size][1])
        rows.append((size, scores, speed))
        print(size, json.dumps(scores), file=sys.stderr, flush=True)
    cores = len(os.sched_getaffinity(0))
    lines = [f"`{' '.join(['python', *sys.argv])}` on {platform.node() or 'this machine'} ({cores} core(s), "
             f"{platform.processor() or platform.machine()}), {date.today()}", "",
             f"Each size trained {args.minutes} minutes from scratch with {args.config.relative_to(ROOT)} (only the "
             "widths changed); scored on the same random images as benchmarks/accuracy.py.", "",
             "| model | params | step of the best model (by val CER), batches of 64 | IIIT5K word acc (community) | "
             "IIIT5K CER | "
             "SROIE line CER (upper) | ms/word, batch 1, 1 thread | img/s batch 64, 2 threads |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for size, s, speed in rows:
        lines.append(f"| {SIZES[size][0]} | {speed['params'] / 1e6:.2f}M | {s['training']['step']} | "
                     f"{s['iiit5k']['acc']:.1%} | {s['iiit5k']['cer']:.2%} | {s['sroie']['cer']:.2%} | "
                     f"{speed['latency_ms']:.2f} | {1000 / speed['batched_ms']:.0f} |")
    publish(lines, args.out)


if __name__ == "__main__":
    main()
