"""`textrec train`: a config in, a run folder out (checkpoints, logs, curves, the best model artifact). One
runner for every task: the config's `task` picks what is trained (a Task: its data, its LightningModule, how
its model folder is written); run folder, checkpoints, resume, time budget, loggers, DDP and export are
shared."""
from __future__ import annotations

import json
import os
import random
import re
import sys
from itertools import islice
from pathlib import Path
from typing import Any, Protocol

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader

from textrec.charset import Charset
from textrec.data.augment import AugmentConfig, Augmenter
from textrec.data.dataset import BucketedBatches, Collate, TextDataset, mixed, worker_init
from textrec.data.sources import open_source
from textrec.errors import TextrecError
from textrec.model_io import load_model, make_config, save_model
from textrec.modelfile import CONFIG
from textrec.networks import build_network
from textrec.preprocess import PreprocessConfig
from textrec.training.callbacks import (
    Curves,
    ExportBestModel,
    InvocationTimer,
    ShardData,
    SkipReport,
    ThroughputLog,
    averaged_weights,
)
from textrec.training.checkpoints import AtomicCheckpointIO
from textrec.training.config import Config, DetectConfig, Precision, RecognizeConfig, as_dict
from textrec.training.grow import grown_state, grows, start_as_identity
from textrec.training.system import BaseSystem, CTCSystem, RecognitionSystem


def build_charset(config: RecognizeConfig, sources: list) -> Charset:
    spec = config.model.charset
    if spec == "auto":  # every character seen in the training labels (a synthetic source: its alphabet)
        return Charset.from_labels(source.renderer.alphabet if source.generated
                                   else "".join(source.labels) for source in sources)
    return Charset.from_spec(spec)


def build_datasets(config: RecognizeConfig, charset: Charset, preprocess: PreprocessConfig,
                   train_sources: list, val_sources: list) -> tuple[DataLoader, DataLoader | None]:
    data = config.data
    probe = build_network(config.model.network, charset.num_classes)
    stride = probe.width_stride if probe.decoder == "ctc" else 1  # CTC needs a column per character; attention not

    def make(source, train: bool, spec) -> TextDataset:
        options = spec if isinstance(spec, dict) else {}
        own = options.get("augment") or {}  # this source's changes to data.augment (e.g. less of a hard effect)
        augmenter = (Augmenter(AugmentConfig.from_dict({**(data.augment or {}), **own}))
                     if train and (data.augment is not None or own) else None)
        return TextDataset(source, charset, preprocess, stride, augmenter, data.on_unknown, data.cache,
                           caseless=bool(options.get("caseless", False)),
                           distill=teacher_share(options.get("path") or source.describe(), options.get("distill"),
                                                 config))

    train_sets = [make(s, True, spec) for s, spec in zip(train_sources, data.train)]
    weights = [float(spec.get("weight", 1.0)) if isinstance(spec, dict) else 1.0 for spec in data.train]
    for source, dataset in zip(train_sources, train_sets):
        if is_rank_zero():
            for reason in dataset.label_report.dropped[:5]:
                print(f"dropped: {reason}")
            if dataset.label_report.dropped:
                print(f"dropped {len(dataset.label_report.dropped)} sample(s) with characters outside the charset")
        if len(dataset) == 0:
            raise TextrecError(f"training source {source.describe()} has no usable sample")
    workers, batch_size, collate = data.num_workers, data.batch_size, Collate(preprocess)
    common: dict[str, Any] = dict(num_workers=workers, worker_init_fn=worker_init, persistent_workers=workers > 0)
    batching = batch_mode(data.batches, train_sources)
    if batching == "bucketed":  # the dataset makes whole batches itself
        batches = -(-(data.epoch_size or sum(len(d) for d in train_sets)) // batch_size)
        bucketed = BucketedBatches(train_sets, weights, batches, batch_size, collate, seed=config.seed)
        train_loader = DataLoader(bucketed, batch_size=None, **common)
    else:
        train_set, sampler = mixed(train_sets, weights, data.epoch_size, config.seed)
        train_loader = DataLoader(train_set, sampler=sampler, batch_size=batch_size,
                                  drop_last=len(sampler) > batch_size, collate_fn=collate, **common)
    val_loader = None
    if val_sources:
        val_specs = data.val
        val_set, val_sampler = mixed([make(s, False, spec) for s, spec in zip(val_sources, val_specs)],
                                     [1.0] * len(val_sources), None, shuffle=False)
        val_loader = DataLoader(val_set, sampler=val_sampler, batch_size=batch_size, collate_fn=collate, **common)
    return train_loader, val_loader


def teacher_share(source: str, share: Any, config: RecognizeConfig) -> float | None:
    """A data source's own teacher share of the loss (`distill: 1.0` reads that source through the teacher
    alone: held to what the teacher reads there, not fitted to its labels), checked."""
    if share is None:
        return None
    if not isinstance(share, (int, float)) or isinstance(share, bool) or not 0.0 <= share <= 1.0:
        raise TextrecError(f"data source {source}: distill must be a number in [0, 1], got {share!r}")
    if not config.train.distill_from:
        raise TextrecError(f"data source {source}: distill {share} needs train.distill_from (the "
                           "teacher)")
    return float(share)


def cpu_has_bf16() -> bool:
    """Whether this CPU does bf16 arithmetic itself (AVX-512 BF16 or AMX), as oneDNN sees it."""
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def effective_precision(precision: Precision, accelerator: str) -> Precision:
    """The config's precision, except bf16 on a CPU without bf16 arithmetic: there it is emulated and runs many
    times slower than fp32 (docs/training-at-scale.md), so such a run trains in fp32 and says so."""
    on_cpu = accelerator == "cpu" or (accelerator == "auto" and not torch.cuda.is_available())
    if on_cpu and precision.startswith("bf16") and not cpu_has_bf16():
        print(f"train.precision {precision}: this CPU has no bf16 arithmetic (AVX-512 BF16 or AMX), so training "
              "runs in 32-true (it would be many times slower emulated)", file=sys.stderr, flush=True)
        return "32-true"
    return precision


def batch_mode(setting: str, sources: list) -> str:  # setting: checked by the typed config
    """'bucketed' or 'mixed' for data.batches (auto: bucketed when widths vary), said in the log: padding every
    image of a batch to its widest one is what makes a words-and-lines mix train several times slower."""
    if setting != "auto":
        chosen, why = setting, "as the config says"
    elif any(source.generated for source in sources):
        chosen, why = "bucketed", "synthetic text varies in width"
    else:
        lengths = sorted(len(label) for source in sources for label in source.labels[:5000]) or [0]
        low, high = lengths[len(lengths) // 20], lengths[-1 - len(lengths) // 20]
        varies = high >= 2 * max(low, 1) and high > 8
        chosen = "bucketed" if varies else "mixed"
        why = f"label lengths {low}-{high} characters, 5th to 95th percentile: {'varied' if varies else 'similar'}"
    if is_rank_zero():
        print(f"batches: {chosen} ({why}; data.batches: {'mixed' if chosen == 'bucketed' else 'bucketed'} to "
              f"change)" if setting == "auto" else f"batches: {chosen}")
    return chosen


def is_rank_zero() -> bool:
    from lightning.pytorch.utilities import rank_zero_only

    return rank_zero_only.rank == 0  # type: ignore[attr-defined]  # an attribute Lightning sets on the function


def run_folder(config: Config, resume: bool) -> Path:
    """runs/NAME for a new run (NAME-2, -3... if taken); with resume, the newest one that has a checkpoint.
    Under DDP all ranks must agree: processes Lightning starts inherit TEXTREC_RUN_DIR from rank 0; ranks
    started together by torchrun or SLURM use runs/NAME itself, since none can know which of them came first."""
    if os.environ.get("TEXTREC_RUN_DIR"):
        return Path(os.environ["TEXTREC_RUN_DIR"])
    base = Path(config.out_dir) / config.name
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        return base
    candidates = [base] + [base.with_name(f"{base.name}-{i}") for i in range(2, 1000)]
    if resume:
        existing = [c for c in candidates if (c / "checkpoints" / "last.ckpt").is_file()]
        if not existing:
            raise TextrecError(f"nothing to resume: no {base}*/checkpoints/last.ckpt")
        return existing[-1]
    return next(c for c in candidates if not c.exists())


def make_logger(kind: str, folder: Path, resume: bool = False):
    metrics = folder / "logs" / "metrics.csv"
    if kind == "csv" and resume and metrics.is_file() and is_rank_zero():  # the CSV logger starts its file anew
        metrics.rename(next(p for i in range(1, 10_000)
                            if not (p := metrics.with_name(f"metrics-before-resume-{i}.csv")).exists()))
    try:
        return _logger(kind, folder)
    except (ImportError, ModuleNotFoundError) as exc:
        raise TextrecError(f"logger {kind!r} needs a package that is not installed ({exc.name}); "
                           f"pip install {exc.name}, or set train.logger: tensorboard") from None


def _logger(kind: str, folder: Path):
    if kind in (None, "none", False):
        return False
    if kind == "tensorboard":
        from lightning.pytorch.loggers import TensorBoardLogger

        return TensorBoardLogger(str(folder), name="logs", version="")
    if kind == "csv":
        from lightning.pytorch.loggers import CSVLogger

        return CSVLogger(str(folder), name="logs", version="")
    if kind == "mlflow":
        from lightning.pytorch.loggers import MLFlowLogger

        return MLFlowLogger(experiment_name=folder.name, tracking_uri=f"file:{folder / 'mlruns'}")
    if kind == "wandb":
        from lightning.pytorch.loggers import WandbLogger

        return WandbLogger(save_dir=str(folder), offline=True, name=folder.name)
    raise TextrecError(f"unknown logger {kind!r}; choose tensorboard, csv, mlflow, wandb or none")


def scaled_lr(lr: float, world_size: int, rule: str) -> float:
    """The configured learning rate is for one process's batch; N processes make an N-times larger global
    batch, so the rate grows with it (linear, the usual rule with warm-up, or sqrt, gentler for Adam)."""
    factors = {"linear": world_size, "sqrt": world_size**0.5, "none": 1}
    if rule not in factors:
        raise TextrecError(f"train.lr_scaling must be linear, sqrt or none, got {rule!r}")
    return lr * factors[rule]


def load_teacher(path: str, charset: Charset) -> torch.nn.Module:
    """A saved CTC model to distil from (train.distill_from): its charset must be this run's."""
    teacher, config = load_model(path)
    if config["charset"] != charset.chars:
        raise TextrecError(f"train.distill_from {path}: its charset of {len(config['charset'])} characters is not "
                           f"this run's ({len(charset.chars)})")
    if getattr(teacher, "decoder", "ctc") != "ctc":
        raise TextrecError(f"train.distill_from {path}: a CTC model is needed, this one decodes by attention")
    return teacher


def warm_start(network: torch.nn.Module, path: str, network_config: dict[str, Any], charset: Charset) -> list[int]:
    """Start from a saved model's weights (fine-tuning, or a longer run on top of a shorter one). The
    architecture and charset must be the same, except that a rectifier may be added (it starts as the identity),
    recurrent layers dropped (the first ones are kept: a faster network starts from a trained one) and convs
    added to VGG stages (training/grow.py); any other mismatch is refused, naming what differs. Returns the
    backbone layer numbers of added convs, which `grow.start_as_identity` must then set from training images."""
    saved, saved_config = load_model(path)
    growing = grows(saved_config["network"], network_config)
    keys = sorted(set(saved_config["network"]) | set(network_config))
    adding_rectifier = (saved_config["network"].get("rectifier", "none") == "none"
                        and network_config.get("rectifier", "none") != "none")
    kept_layers = _kept_recurrent_layers(saved_config["network"], network_config)
    differences = [f"{key}: {saved_config['network'].get(key)!r} in the model vs {network_config.get(key)!r}"
                   for key in keys if saved_config["network"].get(key) != network_config.get(key)
                   and not (adding_rectifier and key.startswith("rectifier"))
                   and not (kept_layers is not None and key == "rnn_layers")
                   and not (growing and key == "depth")]
    if saved_config["charset"] != charset.chars:
        differences.append(f"charset of {len(saved_config['charset'])} characters vs {len(charset.chars)}")
    if differences:
        raise TextrecError(f"model.init_from {path} does not fit this config: " + "; ".join(differences))
    state = saved.state_dict()
    if kept_layers is not None:
        layer = re.compile(r"^rnn\.\w+_l(\d+)(_reverse)?$")
        state = {k: v for k, v in state.items() if not ((m := layer.match(k)) and int(m.group(1)) >= kept_layers)}
        print(f"model.init_from: the first {kept_layers} of {saved_config['network']['rnn_layers']} recurrent "
              f"layers of {path}", flush=True)
    added: list[int] = []
    if growing:
        state, added = grown_state(state, saved_config["network"]["depth"], network_config["depth"])
        print(f"model.init_from: {path} grown from depth {saved_config['network']['depth']} to "
              f"{network_config['depth']}; {len(added)} added convs start as identities", flush=True)
    # a rectifier added to a trained model starts as the identity: the rest of the weights carry over unchanged
    missing, _ = network.load_state_dict(state, strict=not (adding_rectifier or added))
    new_layers = tuple(f"backbone.layers.{number}." for number in added)
    if any(not key.startswith(("rectifier.", *new_layers)) for key in missing):
        raise TextrecError(f"model.init_from {path} lacks weights: {', '.join(missing[:5])}")
    return added


def _kept_recurrent_layers(saved: dict[str, Any], wanted: dict[str, Any]) -> int | None:
    """How many recurrent layers to take from a saved CRNN with more of them (None: not that case)."""
    saved_layers, wanted_layers = saved.get("rnn_layers"), wanted.get("rnn_layers")
    if (saved.get("name", "crnn") == wanted.get("name", "crnn") == "crnn" and isinstance(saved_layers, int)
            and isinstance(wanted_layers, int) and 0 < wanted_layers < saved_layers):
        return wanted_layers
    return None


NOISE = (  # third-party warnings that say nothing about the run (each checked to be harmless here)
    r".*isinstance\(treespec, LeafSpec\)` is deprecated.*",
    r".*Your `IterableDataset` has `__len__` defined.*",
    r".*Checkpoint directory .* exists and is not empty.*",
    r".*does not have many workers which may be a bottleneck.*",
    r".*Exporting a model to ONNX with a batch_size other than 1.*",
    # a resume mid-epoch: ShardData skips what the recognizer's data already gave; the detector's is endless
    r".*resuming from a checkpoint that ended before the epoch ended.*",
    # the detector's scores are counts summed over ranks by DetectionSystem itself, before they are logged
    r".*It is recommended to use `self.log\('val/.*sync_dist=True.*",
    r".*module\(s\) in eval mode at the start of training.*",  # train.freeze keeps its parts in eval mode
    # best.ckpt is saved before the first validation of a run or a resume: the score it waits for is our own
    # and comes with that validation
    r".*ModelCheckpoint\(monitor='val/.*could not find the monitored key.*",
)


def quiet_known_noise() -> None:
    """Our progress and messages only: Lightning's tips and hardware lines, and known harmless warnings."""
    import logging
    import warnings

    for pattern in NOISE:
        warnings.filterwarnings("ignore", message=pattern)
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero",
                 "lightning.pytorch.accelerators.cuda"):
        logging.getLogger(name).setLevel(logging.WARNING)


class Task(Protocol):
    """What `train` needs of one kind of model: RecognizeTask here, DetectTask in training/detector.py."""

    monitor: tuple[str, str]  # the validation score that picks the best model, and "min" or "max"
    train_loader: DataLoader
    val_loader: DataLoader | None
    summary: dict[str, Any]  # what the saved model's config says of its training

    def system(self, lr: float) -> BaseSystem: ...

    def start(self, system: BaseSystem) -> None:  # before a fresh run (not a resume): e.g. model.init_from
        ...

    def save(self, folder: Path, network: torch.nn.Module, summary: dict[str, Any]) -> None: ...

    def trainer_settings(self) -> dict[str, Any]: ...


class RecognizeTask:
    """A text-line recognizer (task: recognize): labelled line images; CTC or attention by the network."""

    monitor = RecognitionSystem.monitor

    def __init__(self, config: RecognizeConfig):
        self.config = config
        if not config.data.train:
            raise TextrecError("config has no training data (data.train is empty)")
        train_sources = [open_source(spec) for spec in config.data.train]
        val_sources = [open_source(spec) for spec in config.data.val]
        self.charset = build_charset(config, train_sources)
        self.preprocess = PreprocessConfig.from_dict(config.model.preprocess)
        if config.model.network.get("name") == "vit":  # its row embedding is sized by the image height
            config.model.network.setdefault("height", self.preprocess.height)
        self.train_loader, self.val_loader = build_datasets(config, self.charset, self.preprocess, train_sources,
                                                            val_sources)
        self.summary = {"name": config.name, "train_sources": [s.describe() for s in train_sources],
                        "train_samples": sum(len(s) for s in train_sources)}

    def system(self, lr: float) -> BaseSystem:
        t = self.config.train
        system = RecognitionSystem(self.config.model.network, self.charset.chars, lr=lr,
                                   weight_decay=t.weight_decay, warmup=t.warmup, samples_to_print=t.samples_to_print,
                                   channels_last=t.channels_last, max_nonfinite=t.max_nonfinite)
        if t.distill_from:
            if not isinstance(system, CTCSystem):
                raise TextrecError("train.distill_from works for CTC networks (crnn, vit), not attention decoders")
            system.teach_with(load_teacher(t.distill_from, self.charset), t.distill_weight, t.distill_temperature)
            print(f"distilling from {t.distill_from} (weight {t.distill_weight}, temperature "
                  f"{t.distill_temperature})", flush=True)
        return system

    def start(self, system: BaseSystem) -> None:
        if self.config.model.init_from:
            added = warm_start(system.network, self.config.model.init_from, self.config.model.network, self.charset)
            if added:
                images = (batch["images"] for batch in islice(self.train_loader, 8) if batch["images"] is not None)
                change = start_as_identity(system.network, added, images)
                print(f"model.init_from: added convs set from 8 training batches; logits moved by at most "
                      f"{change:.2g}", flush=True)

    def save(self, folder: Path, network: torch.nn.Module, summary: dict[str, Any]) -> None:
        save_model(folder, network, make_config(self.config.model.network, self.charset, self.preprocess, summary))

    def trainer_settings(self) -> dict[str, Any]:
        return {}


def make_task(config: Config) -> Task:
    if isinstance(config, DetectConfig):
        from textrec.training.detector import DetectTask  # page rendering and the detector: only when asked

        return DetectTask(config)
    return RecognizeTask(config)


def train(config: Config, resume: bool = False, callbacks: list | None = None) -> Path:
    """Train per `config`; returns the run folder, whose `model/` holds the best model by the task's validation
    score (CER; a detector's F1). `callbacks` are added to the trainer's (tests use them to look inside a run)."""
    from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint, TQDMProgressBar

    t = config.train
    quiet_known_noise()
    L.seed_everything(config.seed, workers=True, verbose=False)
    random.seed(config.seed), np.random.seed(config.seed)
    if t.threads:
        torch.set_num_threads(t.threads)
    task = make_task(config)
    train_loader, val_loader = task.train_loader, task.val_loader
    monitor, mode = task.monitor

    folder = run_folder(config, resume)
    if is_rank_zero():
        folder.mkdir(parents=True, exist_ok=True)
        (folder / CONFIG).write_text(json.dumps(as_dict(config), indent=2) + "\n")
    checkpoints = folder / "checkpoints"
    averaged = averaged_weights(t.ema) if t.ema else None
    given = list(callbacks or [])
    logs_itself = any(isinstance(c, ThroughputLog) for c in given)  # the GPU recipe brings its own, for its summary
    callbacks = [
        # last.ckpt has a callback of its own: with a monitor, Lightning rewrites it only when the score
        # improves, and a resume would lose every epoch after the best one. It is also written every
        # `checkpoint_every` steps, so a crash costs at most that much work.
        ModelCheckpoint(checkpoints, filename="last", monitor=None, save_top_k=1, enable_version_counter=False),
        *([averaged] if averaged else []),
        ExportBestModel(folder / "model", task.save, task.monitor, task.summary,
                        averaged.module if averaged else None),  # type: ignore[attr-defined]
        Curves(folder / "curves.png"), SkipReport(),
        # a terminal gets a bar; a log file gets a plain line every 50 steps (a bar redrawn in place says nothing)
        *([TQDMProgressBar(refresh_rate=10)] if sys.stdout.isatty() else [] if logs_itself else [ThroughputLog(50)]),
        ShardData(train_loader, val_loader), *given,
    ]
    if t.max_time:
        callbacks.append(InvocationTimer(duration=t.max_time, interval="step"))
    if t.checkpoint_every:  # Lightning takes steps or epochs per callback, not both: same file, second writer
        callbacks.append(ModelCheckpoint(checkpoints, filename="last", monitor=None, save_top_k=1,
                                         enable_version_counter=False, every_n_train_steps=t.checkpoint_every))
    if val_loader:  # without validation there is no "best", only the last
        callbacks.append(ModelCheckpoint(checkpoints, filename="best", monitor=monitor, mode=mode))
    if t.early_stopping and val_loader:
        callbacks.append(EarlyStopping(monitor, patience=t.early_stopping, mode=mode))
    settings = dict(max_epochs=t.max_epochs, max_steps=t.max_steps, check_val_every_n_epoch=t.val_every,
                    log_every_n_steps=10)  # the task may change these
    trainer = L.Trainer(
        gradient_clip_val=t.gradient_clip or None, precision=effective_precision(t.precision, t.accelerator),
        callbacks=callbacks,
        logger=make_logger(t.logger, folder, resume), default_root_dir=str(folder), accelerator=t.accelerator,
        devices=t.devices, num_nodes=t.num_nodes, strategy=t.strategy,
        use_distributed_sampler=False,  # our samplers shard themselves (ShardData), by rank and worker
        plugins=[AtomicCheckpointIO()], num_sanity_val_steps=0, enable_model_summary=False,
        enable_progress_bar=sys.stdout.isatty(), **{**settings, **task.trainer_settings()},
    )
    system = task.system(scaled_lr(t.lr, trainer.world_size, t.lr_scaling))
    if t.freeze:
        kept = system.freeze_parts(t.freeze)
        print(f"train.freeze: kept as they are: {', '.join(t.freeze)} ({kept:,} parameters)", flush=True)
    if t.keep_statistics:
        layers = system.keep_statistics(t.keep_statistics)
        print(f"train.keep_statistics: {layers} BatchNorm layers keep their statistics", flush=True)
    if not resume:  # a resume restores its own weights from the checkpoint
        task.start(system)
    checkpoint = checkpoints / "last.ckpt" if resume else None
    saved = os.environ.get("TEXTREC_RUN_DIR")
    os.environ["TEXTREC_RUN_DIR"] = str(folder)  # for the rank processes Lightning starts from this one
    try:
        trainer.fit(system, train_loader, val_loader, ckpt_path=str(checkpoint) if checkpoint else None)
    finally:  # a later run in this process picks its own folder
        if saved is None:
            os.environ.pop("TEXTREC_RUN_DIR")
        else:
            os.environ["TEXTREC_RUN_DIR"] = saved
    # without validation (or a run stopped before its first one) there is no "best": ship the final weights
    if (not val_loader or not (folder / "model").is_dir()) and trainer.is_global_zero:
        task.save(folder / "model", system.network, dict(task.summary, step=trainer.global_step))
    return folder
