"""What each handwriting-synthesis ingredient gives (issue 19): the variants in configs/ablation/, each trained
from the shipped default model for the same time budget, scored on synthetic handwriting by faces no variant
trained on (the 8 faces of font_split [0.7, 1)), exact text (case-sensitive) and CER, greedy decoding.

    python benchmarks/handwriting_ablation.py train            # every variant not yet trained, one after another
    python benchmarks/handwriting_ablation.py score --out benchmarks/HANDWRITING_ABLATION.md

Scores come from each run's validation history (its last checkpoint), at the last step every run reached (runs
that shared the CPU with other work made different numbers of steps in their budget) and at their best.
"""
from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from report import publish  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs" / "ablation"
VARIANTS = ["full", "no-variation", "no-elastic", "no-paper", "no-pen", "no-scan", "font-only"]


def run_folder(variant: str) -> Path:
    return ROOT / "runs" / f"ablation-hand-{variant}"


def train(variants: list[str]) -> None:
    for variant in variants:
        if (run_folder(variant) / "checkpoints" / "last.ckpt").is_file():
            print(f"{variant}: trained already ({run_folder(variant)})", flush=True)
            continue
        subprocess.run([sys.executable, "-m", "textrec.cli", "train", "--config",
                        str(CONFIGS / f"handwriting-{variant}.yaml"), "--set", "train.threads=1"], check=True, cwd=ROOT)


def baseline() -> tuple[float, float]:
    """The shipped default model (no handwriting in its training) on the same held-out-face set, greedy."""
    from textrec.data.sources import open_source
    from textrec.evaluation import character_error_rate
    from textrec.recognizer import load_recognizer
    from textrec.training.config import load_config

    spec = load_config(CONFIGS / "handwriting-full.yaml").data.val[0]
    source = open_source(spec)
    images, labels = zip(*(source.sample(i) for i in range(len(source))))
    reader = load_recognizer(None, decoder="greedy")
    reader.fallback = None
    texts = [p.text for p in reader.read_images(list(images))]
    return sum(t == g for t, g in zip(texts, labels)) / len(labels), character_error_rate(texts, list(labels))


def score(out: Path | None) -> None:
    import torch

    histories = {}
    for variant in VARIANTS:
        last = run_folder(variant) / "checkpoints" / "last.ckpt"
        if last.is_file():
            histories[variant] = torch.load(last, map_location="cpu", weights_only=False)["textrec_history"]
    if not histories:
        sys.exit("no ablation run found: python benchmarks/handwriting_ablation.py train")
    # the last validation step every run has (validations come every 200 steps; a run's final one is off-grid)
    common = max(set.intersection(*({step for step, _ in h["val/acc"]} for h in histories.values())))
    acc, cer = baseline()
    lines = [f"`{' '.join(['python', *sys.argv])}`; {platform.node()}, {platform.machine()}, "
             f"{time.strftime('%Y-%m-%d')}. 600 synthetic handwritten words and lines by 8 held-out faces; exact "
             "text (case-sensitive) / CER.", "",
             f"| variant | at step {common} (every run validated there) | best (step) | steps in budget |",
             "| --- | --- | --- | --- |",
             f"| shipped default model, no handwriting training | {acc:.1%} / {cer:.1%} | - | 0 |"]
    for variant, history in histories.items():
        accs, cers = dict(history["val/acc"]), dict(history["val/cer"])
        at = common
        best = max(accs, key=lambda s: accs[s])
        lines.append(f"| {variant} | {accs[at]:.1%} / {cers[at]:.1%} | {accs[best]:.1%} / {cers[best]:.1%} ({best}) "
                     f"| {max(accs)} |")
    lines.append("")
    lines.append("600 samples: a difference under about 5 points (two standard errors of a difference of two rates "
                 "near 25%) is within noise.")
    publish(lines, out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["train", "score"])
    parser.add_argument("--variants", nargs="+", default=VARIANTS, choices=VARIANTS)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    train(args.variants) if args.action == "train" else score(args.out)


if __name__ == "__main__":
    main()
