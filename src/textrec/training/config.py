"""Experiment configs: one YAML per experiment, with `key.sub=value` overrides from the command line. The
`task` key (recognize | detect) picks the defaults and the keys a config may have; every task trains through
the same runner (training/run.py)."""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from textrec.errors import TextrecError

DEFAULTS: dict[str, Any] = {  # task: recognize (a text-line recognizer, CTC or attention)
    "task": "recognize",
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
        "val_every": 1,  # epochs between validations (detect: steps, see DETECT_DEFAULTS)
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

DETECT_DEFAULTS: dict[str, Any] = {  # task: detect (the line detector, training/detector.py)
    "task": "detect",
    "name": "detector",
    "seed": 0,
    "out_dir": "runs",
    "model": {"network": {"name": "unet"}, "input": {}, "init_from": None},  # input: DetectorInput settings;
    # init_from: a saved detector folder whose weights start the run
    "data": {
        "synthetic": 0.5,  # share of crops from synthetic pages (the rest from `pages`)
        "layouts": None,  # synthetic page layouts and their weights; None: PageRenderer.layouts (no notes)
        "pages": [],  # [{pages: DIR, boxes: DIR, range: "0-239"}]
        "val": [],  # same form, or {synthetic: LAYOUT, count: N, seed: S}: whole pages scored by detection F1
        "crop": 384,
        "crops_per_page": 4,
        "scale_jitter": [0.7, 1.4],
        "batch_size": 16,
        "num_workers": 1,
    },
    # the recognizer's train settings, bar printing samples; crops are an endless stream, so an "epoch" is
    # `val_every` steps: validation, last.ckpt and the epoch-end hooks come every val_every steps
    "train": {**{k: v for k, v in DEFAULTS["train"].items() if k != "samples_to_print"},
              "max_epochs": -1, "max_steps": 2000, "lr": 2e-3, "weight_decay": 1e-4, "val_every": 500},
}

TASKS: dict[str, dict[str, Any]] = {"recognize": DEFAULTS, "detect": DETECT_DEFAULTS}
SECTIONS = ("model", "data", "train")


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


def read_config_file(path: Path, seen: tuple[Path, ...] = (),
                     files: list[tuple[str, dict[str, Any]]] | None = None) -> dict[str, Any]:
    """A config file with its paths resolved; `extends: other.yaml` (relative to it) starts from that file's
    settings, and this one's keys override them (mappings key by key, lists whole). `files` gets each file's
    own settings, so a bad key can be blamed on the file that has it."""
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
    if files is not None:
        files.append((f"config {path}", copy.deepcopy(loaded)))
    if base is None:
        return loaded
    if not isinstance(base, str):
        raise TextrecError(f"config {path}: 'extends' must be a file name, got {base!r:.60}")
    return merge(read_config_file(path.parent / base, (*seen, path.resolve()), files), loaded)


def load_config(path: str | Path | None, overrides: list[str] | None = None) -> dict[str, Any]:
    """Defaults of the config's task, then the file (and those it extends), then `overrides`; every key is
    checked against the task's defaults, and a wrong one is named with the file (or override) it came from."""
    files: list[tuple[str, dict[str, Any]]] = []
    loaded = read_config_file(Path(path), files=files) if path is not None else {}
    task, where = loaded.get("task", "recognize"), f"config {path}"
    for assignment in overrides or []:  # `--set task=detect` picks the defaults too
        key, _, raw = assignment.partition("=")
        if key.strip() == "task":
            task, where = yaml.safe_load(raw), f"override {assignment!r}"
    if task not in TASKS:
        raise TextrecError(f"{where}: task must be {' or '.join(TASKS)}, got {task!r:.60}")
    for source, settings in files:  # the file named first, then those it extends
        check_keys(settings, task, source)
    config = merge(TASKS[task], loaded)
    for assignment in overrides or []:
        apply_override(config, assignment)
        check_keys(config, task, f"override {assignment!r}")
    data = config["data"]
    for split in ("train", "val", "pages"):  # `--set data.train=x.tsv` names one source: a list of one
        if split in TASKS[task]["data"] and isinstance(data.get(split), (str, dict)):
            data[split] = [data[split]]
    return config


def check_keys(config: dict[str, Any], task: str, where: str) -> None:
    """Unknown sections, sections that are not mappings, unknown keys in a section: for `task`'s config."""
    defaults = TASKS[task]
    unknown = set(config) - set(defaults)
    if unknown:
        raise TextrecError(f"{where}: unknown config section(s): {', '.join(sorted(unknown))}")
    for section in SECTIONS:
        if section not in config:
            continue
        if not isinstance(config[section], dict):
            raise TextrecError(f"{where}: config section {section!r} must be a mapping")
        extra = sorted(set(config[section]) - set(defaults[section]))
        if extra:
            # a key of another task is a config written for that task, or a missing `task:` line
            others = [name for name, other in TASKS.items() if name != task
                      and all(key in other[section] for key in extra)]
            hint = f" (keys of task {others[0]}; this config's task is {task})" if others else ""
            raise TextrecError(f"{where}: unknown key(s) in config section {section!r}: {', '.join(extra)}{hint}")


def _resolve_paths(config: dict[str, Any], base: Path) -> dict[str, Any]:
    """Data paths in a config file are relative to the config file, like paths in annotation files."""
    model = config.get("model") or {}
    if isinstance(model, dict) and model.get("init_from") and not Path(model["init_from"]).is_absolute():
        model["init_from"] = str((base / model["init_from"]).resolve())
    data = config.get("data")
    if not isinstance(data, dict):  # reported by check_keys
        return config
    for split in ("train", "val", "pages"):  # pages: the detector's annotated page scans
        specs = data.get(split) or []
        for i, spec in enumerate(specs if isinstance(specs, list) else []):
            if isinstance(spec, str):
                spec = data[split][i] = {"path": spec}
            if not isinstance(spec, dict):
                continue
            for key in ("path", "pages", "boxes", "word_list"):
                if key in spec and spec[key] and not Path(spec[key]).is_absolute():
                    spec[key] = str((base / spec[key]).resolve())
    return config
