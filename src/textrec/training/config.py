"""Experiment configs: one YAML per experiment, with `key.sub=value` overrides from the command line."""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from textrec.errors import TextrecError

DEFAULTS: dict[str, Any] = {
    "name": "run",
    "seed": 0,
    "out_dir": "runs",
    "model": {
        "charset": "printable",
        "preprocess": {},
        "network": {"name": "crnn"},
        "init_from": None,  # a saved model (folder or .safetensors) whose weights start the run: fine-tuning
    },
    "data": {
        "train": [],
        "val": [],
        "batch_size": 32,
        "num_workers": 2,
        "epoch_size": None,  # samples per epoch when mixing sources; None = one pass
        "batches": "auto",  # bucketed (each batch from one source, similar widths) | mixed | auto: bucketed
        # when the training images' widths vary (synthetic text, label lengths that differ 2x), else mixed
        "cache": False,  # keep decoded images in memory (small datasets)
        "augment": None,  # AugmentConfig settings; None = no augmentation
        "on_unknown": "error",  # or 'drop': labels with characters outside the charset
    },
    "train": {
        "max_epochs": 10,
        "max_steps": -1,
        "max_time": None,  # "00:00:30:00" (DD:HH:MM:SS) stops training at a wall-clock budget
        "lr": 1e-3,
        "weight_decay": 0.01,
        "warmup": 0.1,  # fraction of steps of one-cycle warm-up
        "gradient_clip": 5.0,
        "precision": "32-true",
        "early_stopping": 0,  # patience in validations; 0 = off
        "val_every": 1,  # epochs between validations
        "logger": "tensorboard",  # tensorboard | csv | mlflow | wandb | none
        "samples_to_print": 5,
        "threads": None,
        "channels_last": False,
        "accelerator": "auto",
        "devices": "auto",  # per node; with strategy ddp: processes (CPU) or GPUs
        "num_nodes": 1,
        "strategy": "auto",  # ddp for several processes/GPUs/nodes (see docs/distributed.md)
        "lr_scaling": "linear",  # lr is for one process; x world size (linear), x sqrt(world size), or none
        "checkpoint_every": 500,  # steps between writes of last.ckpt (and at each epoch end); 0 = epochs only
        "max_nonfinite": 20,  # NaN/inf losses in a row before the run stops (each one is skipped and counted)
    },
}


def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    result = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merge(result[key], value)
        else:
            result[key] = value
    return result


def apply_override(config: dict[str, Any], assignment: str) -> None:
    """`train.lr=3e-4` sets config['train']['lr'] to 0.0003 (the value is read as YAML)."""
    if "=" not in assignment:
        raise TextrecError(f"override {assignment!r} is not KEY=VALUE")
    key, raw = assignment.split("=", 1)
    node = config
    parts = key.strip().split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise TextrecError(f"override {assignment!r}: {part!r} is not a section")
    node[parts[-1]] = yaml.safe_load(raw)


def read_config_file(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """A config file with its paths resolved; `extends: other.yaml` (relative to it) starts from that file's
    settings, and this one's keys override them (mappings key by key, lists whole)."""
    if not path.is_file():
        raise TextrecError(f"config file not found: {path}" + (f" (extended by {seen[-1]})" if seen else ""))
    if path.resolve() in seen:
        raise TextrecError(f"config {path} extends itself (through {' -> '.join(str(p) for p in seen)})")
    try:
        loaded = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise TextrecError(f"config {path} is not valid YAML: {exc}") from None
    if not isinstance(loaded, dict):
        raise TextrecError(f"config {path} must be a mapping at the top level")
    base = loaded.pop("extends", None)
    loaded = _resolve_paths(loaded, path.parent)
    if base is None:
        return loaded
    if not isinstance(base, str):
        raise TextrecError(f"config {path}: 'extends' must be a file name, got {base!r:.60}")
    return merge(read_config_file(path.parent / base, (*seen, path.resolve())), loaded)


def load_config(path: str | Path | None, overrides: list[str] | None = None) -> dict[str, Any]:
    config = copy.deepcopy(DEFAULTS)
    if path is not None:
        config = merge(config, read_config_file(Path(path)))
    for assignment in overrides or []:
        apply_override(config, assignment)
    data = config.get("data")
    if isinstance(data, dict):
        for split in ("train", "val"):  # `--set data.train=x.tsv` names one source: a list of one
            if isinstance(data.get(split), (str, dict)):
                data[split] = [data[split]]
    unknown = set(config) - set(DEFAULTS)
    if unknown:
        raise TextrecError(f"unknown config section(s): {', '.join(sorted(unknown))}")
    for section in ("model", "data", "train"):
        if not isinstance(config[section], dict):
            raise TextrecError(f"config section {section!r} must be a mapping")
        extra = set(config[section]) - set(DEFAULTS[section])
        if extra:
            raise TextrecError(f"unknown key(s) in config section {section!r}: {', '.join(sorted(extra))}")
    return config


def _resolve_paths(config: dict[str, Any], base: Path) -> dict[str, Any]:
    """Data paths in a config file are relative to the config file, like paths in annotation files."""
    model = config.get("model") or {}
    if isinstance(model, dict) and model.get("init_from") and not Path(model["init_from"]).is_absolute():
        model["init_from"] = str((base / model["init_from"]).resolve())
    data = config.get("data", {})
    for split in ("train", "val"):
        for i, spec in enumerate(data.get(split, []) or []):
            if isinstance(spec, str):
                spec = data[split][i] = {"path": spec}
            for key in ("path", "pages", "boxes", "word_list"):
                if key in spec and spec[key] and not Path(spec[key]).is_absolute():
                    spec[key] = str((base / spec[key]).resolve())
    return config
