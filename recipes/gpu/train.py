"""The GPU recipe: train the default recognizer on one H100/H200 (16 CPU cores) in under 9 minutes of wall
time, with nothing but what that machine has (Python 3.12, PyTorch, Lightning, numpy, Pillow, PyYAML,
safetensors) and this repository plus runs/gpu-pack (python recipes/gpu/pack.py, here, first).

    bash recipes/gpu.sh                         # on the GPU machine: $OUT gets model/ (fp16), train.log, summary.json
    python recipes/gpu/train.py --dry-run --out /tmp/x    # the same path on this CPU, tiny (the test suite runs it)

Renders synthetic data in 14 loader workers, trains in bf16 through `textrec train`'s runner (the same code as
every CPU run), starts from `model.init_from` (the shipped weights, or --init), stops itself at the time
budget, and always writes the best weights it has as fp16 safetensors with the model config.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAX_FILE_BYTES = 16 * 1024 * 1024  # what one file may weigh to come back from the GPU machine


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "gpu" / "default-en.yaml")
    parser.add_argument("--out", type=Path, required=True, help="output folder (the device's $OUT)")
    parser.add_argument("--minutes", type=float, default=7.5, help="training budget (fit only)")
    parser.add_argument("--init", default=None, help="model folder to start from (default: the config's)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="config override KEY=VALUE")
    parser.add_argument("--dry-run", action="store_true", help="a few tiny steps on the CPU: checks the path")
    return parser.parse_args(argv)


def plan(args: argparse.Namespace) -> list[str]:
    overrides = [f"train.max_time=00:00:{int(args.minutes):02d}:{round(args.minutes % 1 * 60):02d}", *args.overrides]
    if args.init:
        overrides.append(f"model.init_from={Path(args.init).resolve()}")
    if args.dry_run:
        overrides += ["train.accelerator=cpu", "train.precision=bf16-mixed", "train.max_steps=3",
                      "data.batch_size=8", "data.num_workers=0", "data.epoch_size=16", "train.threads=1"]
    return overrides


def keep_ema_if_available(config) -> None:
    """train.ema needs Lightning 2.6's EMAWeightAveraging, and the GPU machine's Lightning may be older: there the
    run goes on without the average (said in the log) rather than spending the device time on an error."""
    import lightning
    import lightning.pytorch.callbacks

    if config.train.ema and not hasattr(lightning.pytorch.callbacks, "EMAWeightAveraging"):
        print(f"train.ema={config.train.ema} needs Lightning 2.6 or later; this is {lightning.__version__}: "
              "training without the moving average", flush=True)
        config.train.ema = 0.0


def write_fp16(model_folder: Path, out: Path) -> Path:
    """The model folder's weights as fp16 safetensors (with its config.json) in out/model."""
    from safetensors.torch import load_file, save_file

    target = out / "model"
    target.mkdir(parents=True, exist_ok=True)
    state = {k: (v.half() if v.is_floating_point() else v).contiguous()
             for k, v in load_file(str(model_folder / "weights.safetensors")).items()}
    size = sum(v.numel() * v.element_size() for v in state.values())
    if size > MAX_FILE_BYTES:
        raise SystemExit(f"fp16 weights are {size / 2**20:.1f} MiB, over the 16 MiB a returned file may weigh")
    save_file(state, str(target / "weights.safetensors"))
    (target / "weights.safetensors").chmod(0o644)  # safetensors writes 0600
    shutil.copy(model_folder / "config.json", target / "config.json")
    return target


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    started = time.perf_counter()
    import torch

    sys.path.insert(0, str(ROOT / "src"))
    from textrec.training.callbacks import ThroughputLog
    from textrec.training.config import load_config
    from textrec.training.run import train

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU (CPU)"
    overrides = plan(args)
    print(f"textrec GPU recipe: {device}, torch {torch.__version__}, {args.config.name}, "
          f"{args.minutes} min of training{' (dry run)' if args.dry_run else ''}", flush=True)
    print("overrides: " + " ".join(overrides), flush=True)
    config = load_config(args.config, overrides)
    keep_ema_if_available(config)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:  # checkpoints stay on the machine; only results come back
        config.out_dir = scratch
        throughput = ThroughputLog(every=1 if args.dry_run else 50)
        folder = train(config, callbacks=[throughput])
        model = write_fp16(folder / "model", args.out)
        saved = json.loads((model / "config.json").read_text()).get("training", {})
    summary = {"device": device, "torch": torch.__version__, "config": str(args.config), "overrides": overrides,
               **throughput.summary, "best": saved, "wall_s": round(time.perf_counter() - started, 1)}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
