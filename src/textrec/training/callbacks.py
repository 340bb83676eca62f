"""Callbacks: write the best model (through the task's own writer), draw curves, report skipped samples, shard data."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Timer
from torch import nn
from torch.utils.data import DataLoader

from textrec.data.dataset import Shardable
from textrec.errors import TextrecError
from textrec.evaluation import plot_curves
from textrec.training.system import BaseSystem


def _system(module: L.LightningModule) -> BaseSystem:
    """The module these callbacks watch: train() pairs them with textrec's systems only."""
    assert isinstance(module, BaseSystem), type(module)
    return module


def averaged_weights(decay: float) -> L.Callback:
    """train.ema: Lightning's exponential moving average of the weights, swapped in for validation and at the
    end of training; checkpoints hold both (the average as `state_dict`), so a resume carries both on. Its
    `module()` is the averaged copy of the system (None before training starts). Imported only when asked
    for: the callback is new in Lightning 2.6, and the GPU machine's Lightning may be older."""
    if not 0.0 < decay < 1.0:
        raise TextrecError(f"train.ema must be between 0 and 1 (a decay such as 0.999), got {decay}")
    try:
        from lightning.pytorch.callbacks import EMAWeightAveraging
    except ImportError:
        raise TextrecError(f"train.ema needs Lightning 2.6 or later (EMAWeightAveraging); this is {L.__version__}: "
                           "pip install -U lightning, or leave train.ema at 0") from None

    class AveragedWeights(EMAWeightAveraging):
        def module(self) -> BaseSystem | None:
            return None if self._average_model is None else _system(self._average_model.module)  # type: ignore[arg-type]

    return AveragedWeights(decay=decay)


class ExportBestModel(L.Callback):
    """Each time the validation score improves, write `run/model/` through the task's `save`, so the best model
    is usable as soon as it exists, even if the run is stopped later. `monitor`: (metric, "min" or "max")."""

    def __init__(self, out: Path, save: Callable[[Path, nn.Module, dict], None], monitor: tuple[str, str],
                 summary: dict, averaged: Callable[[], BaseSystem | None] | None = None):
        self.out, self.save, self.monitor, self.summary = out, save, monitor, summary
        self.averaged = averaged  # with train.ema, validation scored the average: save that (its module())
        self.best: float | None = None

    def on_validation_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        name, mode = self.monitor
        metric = trainer.callback_metrics.get(name)
        if trainer.sanity_checking or metric is None or trainer.global_rank != 0:
            return
        score = float(metric)
        if self.best is None or (score < self.best if mode == "min" else score > self.best):
            self.best = score
            scores = {key.replace("/", "_"): float(value) for key, value in trainer.callback_metrics.items()
                      if key.startswith("val/") and key != "val/loss"}  # val_cer, val_acc; val_f1 ...
            scored = self.averaged() if self.averaged else None
            self.save(self.out, _system(scored or module).network,
                      dict(self.summary, step=trainer.global_step, epoch=trainer.current_epoch, **scores))

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best = state.get("best")


class Curves(L.Callback):
    """Loss and CER curves as a PNG in the run folder at the end (or interruption) of training."""

    def __init__(self, out: Path):
        self.out = out

    def _draw(self, module: L.LightningModule) -> None:
        try:
            plot_curves(_system(module).history, self.out)
        except ImportError:  # no matplotlib (the GPU training machine): the numbers are in the log and the logger
            print(f"curves not drawn ({self.out.name}): matplotlib is not installed")

    def on_fit_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if trainer.global_rank == 0:
            self._draw(module)

    def on_exception(self, trainer: L.Trainer, module: L.LightningModule, exception: BaseException) -> None:
        if trainer.global_rank == 0:
            self._draw(module)


class SkipReport(L.Callback):
    """Bad samples are skipped during the run; say how many and which at the end."""

    def on_fit_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        skipped = _system(module).skipped
        unique = sorted(set(skipped))
        if unique and trainer.global_rank == 0:
            print(f"\nskipped {len(unique)} unusable sample(s) ({len(skipped)} times in all):")
            for reason in unique[:20]:
                print(f"  {reason}")
            if len(unique) > 20:
                print(f"  ... and {len(unique) - 20} more")


class ShardData(L.Callback):
    """Tells the training and validation data which DDP rank they feed (once the process group exists, before
    any loader worker starts), and keeps the position in the epoch so a resumed run skips the batches it has
    already trained on instead of starting the epoch over."""

    def __init__(self, train_loader: DataLoader, val_loader: DataLoader | None):
        self.train_loader, self.val_loader = train_loader, val_loader
        self.epoch, self.batches = 0, 0  # batches consumed in `epoch` by this rank

    @staticmethod
    def _shardable(loader: DataLoader) -> Shardable:
        if isinstance(loader.dataset, Shardable):
            return loader.dataset
        sampler = loader.sampler
        assert isinstance(sampler, Shardable), type(sampler)  # a MixedSampler over a dataset that does not shard
        return sampler

    def setup(self, trainer: L.Trainer, module: L.LightningModule, stage: str) -> None:
        for loader in (self.train_loader, self.val_loader):
            if loader is None:  # (not `filter(None, ...)`: the truth of a loader is its length, and a stream has none)
                continue
            self._shardable(loader).shard(trainer.global_rank, trainer.world_size)
            # read by worker_init (getattr) to seed each rank apart; also on datasets that do not shard (ConcatDataset)
            setattr(loader.dataset, "rank", trainer.global_rank)

    def on_train_batch_end(self, trainer: L.Trainer, module: L.LightningModule, *args: Any) -> None:
        if trainer.current_epoch != self.epoch:
            self.epoch, self.batches = trainer.current_epoch, 0
        self.batches += 1

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "batches": self.batches}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch, self.batches = state["epoch"], state["batches"]
        if not hasattr(self.train_loader.dataset, "__len__"):  # an endless stream (the detector's page crops):
            return  # nothing to skip; the random state restored from the checkpoint draws new samples
        if self.batches >= len(self.train_loader):  # saved at the end of an epoch: the next one starts afresh
            self.epoch, self.batches = self.epoch + 1, 0
        target = self._shardable(self.train_loader)
        per_batch = 1 if target is self.train_loader.dataset else self.train_loader.batch_size
        assert per_batch is not None  # a sampler of samples: the loader makes the batches, of batch_size
        target.resume(self.epoch, self.batches * per_batch)


class ThroughputLog(L.Callback):
    """A plain line every `every` steps (step, loss, samples/s, elapsed, and the share of that time spent
    waiting for the data loader: near 0 means the network sets the pace, large means rendering does), for logs
    that are not a terminal: a progress bar redrawn in place says nothing in a file. Its figures are kept in
    `self.summary`."""

    def __init__(self, every: int = 50):
        self.every = every
        self.summary: dict[str, float] = {}
        self.waited = 0.0  # seconds spent fetching batches
        self.last_end: float | None = None  # when the last step ended

    def on_train_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        import time

        self.start, self.samples = time.perf_counter(), 0
        self.waited, self.last_end = 0.0, None

    def on_train_batch_start(self, trainer: L.Trainer, module: L.LightningModule, batch: Any,
                             batch_idx: int) -> None:
        import time

        if self.last_end is not None:  # from the end of one step to the start of the next: fetching the batch
            self.waited += time.perf_counter() - self.last_end

    def on_train_batch_end(self, trainer: L.Trainer, module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        import time

        if isinstance(batch, dict) and batch.get("images") is not None:
            self.samples += len(batch["images"]) * trainer.world_size
        self.last_end = time.perf_counter()
        step = trainer.global_step
        if step % self.every or trainer.global_rank != 0:
            return
        elapsed = self.last_end - self.start
        loss = trainer.callback_metrics.get("train/loss")
        self.summary = {"step": step, "samples": self.samples, "seconds": round(elapsed, 1),
                        "samples_per_s": round(self.samples / max(elapsed, 1e-9), 1),
                        "data_wait": round(self.waited / max(elapsed, 1e-9), 3)}
        metrics = {k: round(float(v), 4) for k, v in trainer.callback_metrics.items() if k.startswith("val/")}
        print(f"step {step}  loss {float(loss) if loss is not None else float('nan'):.3f}  "
              f"{self.summary['samples_per_s']:.0f} samples/s  {elapsed:.0f} s  "
              f"data wait {self.summary['data_wait']:.0%}  {metrics}", flush=True)

    def on_validation_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self.last_end = None  # validation between two steps is not waiting for training data


class InvocationTimer(Timer):
    """`train.max_time` as the budget of this invocation: a `--resume` gets its full max_time again instead of
    what the first invocation left. The time already spent is kept (it is added to the budget), so the learning
    rate schedule, which follows elapsed / budget, carries on from where the run stopped."""

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        if self._duration is not None:
            self._duration += self._offset
