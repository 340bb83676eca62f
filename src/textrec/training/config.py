"""Experiment configs: one YAML per experiment (`extends:` another and override a few keys), with
`key.sub=value` overrides from the command line. The `task` key (recognize | detect) picks the typed config
(dataclasses below: every setting, its type and default in one place) and so the keys a config may have; one
validation pass names a bad key or value with the file (or override) it came from. Every task trains through
the same runner (training/run.py). Stdlib dataclasses, not pydantic: the GPU recipe's machine has no pydantic."""
from __future__ import annotations

import copy
import dataclasses
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

import yaml

from textrec.errors import TextrecError

Precision = Literal["32-true", "bf16-mixed", "16-mixed", "bf16-true", "16-true", "64-true"]


@dataclass
class TrainSettings:
    """How to train, for every task."""
    max_epochs: int = 10
    max_steps: int = -1
    max_time: str | None = None  # "00:00:30:00" (DD:HH:MM:SS): the wall-clock budget of each invocation
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup: float = 0.1  # fraction of steps of one-cycle warm-up
    gradient_clip: float = 5.0
    precision: Precision = "32-true"
    early_stopping: int = 0  # patience in validations; 0 = off
    val_every: int = 1  # epochs between validations (detect: steps)
    logger: str = "tensorboard"  # tensorboard | csv | mlflow | wandb | none
    threads: int | None = None
    channels_last: bool = False
    accelerator: str = "auto"
    devices: int | str | list[int] = "auto"  # per node; with strategy ddp: processes (CPU) or GPUs
    num_nodes: int = 1
    strategy: str = "auto"  # ddp for several processes/GPUs/nodes (see docs/training-at-scale.md)
    lr_scaling: Literal["linear", "sqrt", "none"] = "linear"  # lr is for one process; x world size, x sqrt, or not
    checkpoint_every: int = 500  # steps between writes of last.ckpt (and at each epoch end); 0 = epochs only
    max_nonfinite: int = 20  # NaN/inf losses in a row before the run stops (each one is skipped and counted)
    # decay of an exponential moving average of the weights (e.g. 0.999: about the last 1,000 steps), which is
    # then what validation scores and run/model/ holds; 0 = off
    ema: float = 0.0
    # parts of the network kept as they are (dotted name prefixes, e.g. [backbone]), BatchNorm statistics
    # included: fine-tune the rest on a small set without unlearning what the frozen part knows
    freeze: list[str] = field(default_factory=list)
    # parts whose BatchNorm layers keep their running statistics while all their weights train: the features
    # the rest of the network (and data the run does not see) were fitted to do not drift with a new mix
    keep_statistics: list[str] = field(default_factory=list)


@dataclass
class RecognizeTrain(TrainSettings):
    samples_to_print: int = 5
    # knowledge distillation (CTC networks): a saved model with the same charset and columns (a slower or larger
    # one) teaches its per-column distributions besides the labels; it is never saved with the student
    distill_from: str | None = None
    distill_weight: float = 0.5  # the teacher's share of the training loss (the rest: CTC on the labels)
    distill_temperature: float = 2.0  # softens both distributions, so the teacher's second guesses count too


@dataclass
class DetectTrain(TrainSettings):
    """The detector's crops are an endless stream, so an "epoch" is `val_every` steps: validation, last.ckpt
    and the epoch-end hooks come every val_every steps."""
    max_epochs: int = -1
    max_steps: int = 2000
    lr: float = 2e-3
    weight_decay: float = 1e-4
    val_every: int = 500


@dataclass
class RecognizeModel:
    charset: str = "printable"  # a preset name, the characters themselves, or auto (from the training labels)
    preprocess: dict[str, Any] = field(default_factory=dict)  # PreprocessConfig settings
    network: dict[str, Any] = field(default_factory=lambda: {"name": "crnn"})  # networks.build_network settings
    init_from: str | None = None  # a saved model (folder or .safetensors) whose weights start the run


@dataclass
class RecognizeData:
    train: list[Any] = field(default_factory=list)  # sources: a path, or {path|type, weight, split, ...}
    val: list[Any] = field(default_factory=list)
    batch_size: int = 32
    num_workers: int = 2
    epoch_size: int | None = None  # samples per epoch when mixing sources; None = one pass
    # bucketed (each batch from one source, similar widths) | mixed | auto: bucketed when the training images'
    # widths vary (synthetic text, label lengths that differ 2x), else mixed
    batches: Literal["auto", "bucketed", "mixed"] = "auto"
    cache: bool = False  # keep decoded images in memory (small datasets)
    augment: dict[str, Any] | None = None  # AugmentConfig settings; None = no augmentation
    on_unknown: Literal["error", "drop"] = "error"  # labels with characters outside the charset


@dataclass
class DetectModel:
    network: dict[str, Any] = field(default_factory=lambda: {"name": "unet"})
    input: dict[str, Any] = field(default_factory=dict)  # DetectorInput settings
    init_from: str | None = None  # a saved detector folder whose weights start the run


@dataclass
class DetectData:
    synthetic: float = 0.5  # share of crops from synthetic pages (the rest from `pages`)
    layouts: dict[str, float] | None = None  # synthetic page layouts and weights; None: PageRenderer.layouts
    pages: list[Any] = field(default_factory=list)  # [{pages: DIR, boxes: DIR, range: "0-239"}]
    val: list[Any] = field(default_factory=list)  # same form, or {synthetic: LAYOUT, count: N, seed: S}
    crop: int = 384
    crops_per_page: int = 4
    scale_jitter: list[float] = field(default_factory=lambda: [0.7, 1.4])
    batch_size: int = 16
    num_workers: int = 1


@dataclass
class RunSettings:
    """What every task's config has besides its sections: the run folder is out_dir/name."""
    name: str = "run"
    seed: int = 0
    out_dir: str = "runs"


@dataclass
class RecognizeConfig(RunSettings):
    """task: recognize, a text-line recognizer (CTC or attention)."""
    task: Literal["recognize"] = "recognize"
    model: RecognizeModel = field(default_factory=RecognizeModel)
    data: RecognizeData = field(default_factory=RecognizeData)
    train: RecognizeTrain = field(default_factory=RecognizeTrain)


@dataclass
class DetectConfig(RunSettings):
    """task: detect, the line detector (training/detector.py)."""
    name: str = "detector"
    task: Literal["detect"] = "detect"
    model: DetectModel = field(default_factory=DetectModel)
    data: DetectData = field(default_factory=DetectData)
    train: DetectTrain = field(default_factory=DetectTrain)


Config = Union[RecognizeConfig, DetectConfig]
CONFIG_TYPES: dict[str, type] = {"recognize": RecognizeConfig, "detect": DetectConfig}
DEFAULTS: dict[str, Any] = dataclasses.asdict(RecognizeConfig())  # every key and default, as plain data
DETECT_DEFAULTS: dict[str, Any] = dataclasses.asdict(DetectConfig())
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


def load_config(path: str | Path | None, overrides: list[str] | None = None) -> Config:
    """Defaults of the config's task, then the file (and those it extends), then `overrides`, as the task's
    typed config. Every key and value is checked, and a wrong one is named with the file (or override) it came
    from."""
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

    def blame(key: str) -> str:  # who set `key` last: an override, else the first file (child before base)
        for assignment in reversed(overrides or []):
            name = assignment.partition("=")[0].strip()
            if key == name or key.startswith(name + "."):
                return f"override {assignment!r}"
        for source, settings in files:
            node: Any = settings
            for part in key.split("."):
                node = node.get(part, KeyError) if isinstance(node, dict) else KeyError
            if node is not KeyError:
                return source
        return f"config {path}" if path is not None else "config"

    return typed(CONFIG_TYPES[task], config, "", blame)


def as_dict(config: Config) -> dict[str, Any]:
    """The config as plain data (the run folder's config.json, comparisons)."""
    return dataclasses.asdict(config)


def typed(cls: Any, values: dict[str, Any], prefix: str, blame: Any) -> Any:
    """`values` (every key present, checked by check_keys) as the dataclass `cls`, each value coerced to its
    field's type; a wrong one raises naming the key, what it must be and where it was set."""
    hints = get_type_hints(cls)
    settings = {}
    for item in dataclasses.fields(cls):
        key, value, hint = f"{prefix}{item.name}", values[item.name], hints[item.name]
        if dataclasses.is_dataclass(hint):
            if not isinstance(value, dict):
                raise TextrecError(f"{blame(key)}: config section {key!r} must be a mapping")
            settings[item.name] = typed(hint, value, key + ".", blame)
            continue
        try:
            settings[item.name] = coerce(value, hint)
        except (TypeError, ValueError, OverflowError):
            raise TextrecError(f"{blame(key)}: {key} must be {describe(hint)}, got {value!r:.80}") from None
    return cls(**settings)


def coerce(value: Any, hint: Any) -> Any:
    """`value` as type `hint`, or TypeError/ValueError. Numbers written `1e-3` arrive as strings (YAML 1.1)."""
    origin, args = get_origin(hint), get_args(hint)
    if hint is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for option in (a for a in args if a is not type(None)):
            try:
                return coerce(value, option)
            except (TypeError, ValueError):
                continue
        raise TypeError
    if origin is Literal:
        if value not in args:
            raise ValueError
        return value
    if origin is list:
        if not isinstance(value, list):
            raise TypeError
        return [coerce(v, args[0]) for v in value] if args else list(value)
    if origin is dict:
        if not isinstance(value, dict):
            raise TypeError
        return {k: coerce(v, args[1]) for k, v in value.items()} if args else dict(value)
    if isinstance(value, bool) and hint is not bool:  # True is an int to Python, never a number here
        raise TypeError
    if hint is bool and not isinstance(value, bool):
        raise TypeError
    if hint is int:
        number = float(value) if isinstance(value, str) else value
        if not isinstance(number, (int, float)) or number != int(number):
            raise TypeError
        return int(number)
    if hint is float:
        if not isinstance(value, (int, float, str)):
            raise TypeError
        return float(value)
    if hint is str and not isinstance(value, str):
        raise TypeError
    return value


def describe(hint: Any) -> str:
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, types.UnionType):
        return " or ".join(describe(a) for a in args)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin is list:
        return "a list" + (f" of {describe(args[0])}" if args and args[0] is not Any else "")
    if origin is dict:
        return "a mapping"
    names = {int: "a whole number", float: "a number", str: "text", bool: "true or false", type(None): "null"}
    return names.get(hint, str(hint))


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
    train = config.get("train") or {}
    if isinstance(train, dict) and train.get("distill_from") and not Path(train["distill_from"]).is_absolute():
        train["distill_from"] = str((base / train["distill_from"]).resolve())
    data = config.get("data")
    if not isinstance(data, dict):  # reported by check_keys
        return config
    for split in ("train", "val", "pages"):  # pages: the detector's annotated page scans
        if isinstance(data.get(split), (str, dict)):  # one source without a list: a list of one
            data[split] = [data[split]]
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
