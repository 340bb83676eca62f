"""Checkpoint files that survive a crash at any moment."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from textrec.model_io import atomic_write


class AtomicCheckpointIO(TorchCheckpointIO):
    """Checkpoints through `atomic_write` (temporary file, fsync, rename). Lightning's own save renames through
    an fsspec transaction but never fsyncs, so after a power cut the renamed file can be empty."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | os.PathLike,
                        storage_options: Any | None = None) -> None:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(target, lambda tmp: torch.save(checkpoint, tmp))


def model_from_checkpoint(run: Path, out: Path, averaged: bool = True) -> Path:
    """A model folder from a run's last.ckpt, with run/model/'s config: the moving average of the weights
    (train.ema; the only weights of a run without it) or, with `averaged=False`, the last step's own, so
    the two can be compared on any benchmark."""
    from textrec.errors import TextrecError
    from textrec.model_io import load_model, save_model
    from textrec.modelfile import CONFIG

    checkpoint_path, config_path = run / "checkpoints" / "last.ckpt", run / "model" / CONFIG
    for needed in (checkpoint_path, config_path):
        if not needed.is_file():
            raise TextrecError(f"{needed} not found: is {run} a finished or running textrec run folder?")
    checkpoint = torch.load(checkpoint_path, map_location="cpu", weights_only=False)  # our own run's file
    key = "state_dict" if averaged else "current_model_state"
    if key not in checkpoint:
        raise TextrecError(f"{checkpoint_path} has no last-step weights beside the average: train.ema was off")
    prefix = "network."
    network, config = load_model(run / "model")  # the run's network and config, to be given these weights
    network.load_state_dict({k[len(prefix):]: v for k, v in checkpoint[key].items() if k.startswith(prefix)})
    config["training"] = dict(config.get("training", {}), step=checkpoint["global_step"],
                              weights="moving average" if averaged else "last step")
    for stale in ("val_cer", "val_acc", "epoch"):  # scores of run/model/'s weights, not these
        config["training"].pop(stale, None)
    return save_model(out, network, config)


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description="A model folder from a run's last checkpoint: "
                                     "python -m textrec.training.checkpoints RUN --out DIR [--last-step]")
    parser.add_argument("run", type=Path, help="the run folder (runs/NAME)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--last-step", action="store_true",
                        help="the last step's weights instead of their moving average (runs with train.ema)")
    args = parser.parse_args()
    print(model_from_checkpoint(args.run, args.out, averaged=not args.last_step))


if __name__ == "__main__":
    main()
