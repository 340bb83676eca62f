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
