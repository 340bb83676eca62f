"""The model file format, in one place: every file name, metadata key and format version, and the checks a
model's config passes before anything is built from it (recognizers, their ONNX copies, language models).
torch-free: the runtime, the server and training all read models through this.

A model is a folder (`weights.safetensors` + `config.json`, optionally `lm.npz` and `model.onnx`) or one file
(`.safetensors` or `.onnx`) carrying the config in its metadata. Nothing is ever unpickled, and every file a
config names is resolved inside its folder."""
from __future__ import annotations

from pathlib import Path

from textrec.calibration import curve
from textrec.charset import Charset
from textrec.errors import TextrecError
from textrec.preprocess import PreprocessConfig

FORMAT = "textrec-model"
FORMAT_VERSION = 1
WEIGHTS, CONFIG = "weights.safetensors", "config.json"
ONNX_NAME = "model.onnx"  # an exported copy inside a model folder (the bundled default has one)
METADATA_KEY = "textrec_config"  # the config in safetensors and ONNX metadata
LM_NAME = "lm.npz"  # a character language model beside the weights
TORCHSCRIPT_CONFIG = "textrec_config.json"  # the extra file inside a TorchScript archive that holds the config


def inside(folder: Path, name: str, what: str) -> Path:
    """`name` in `folder`, refused if it is not a plain file name or leads out of the folder (a link)."""
    if Path(name).name != name or name in ("", ".", ".."):
        raise TextrecError(f"{what} must be a plain file name in the model folder, got {name!r}")
    path = folder / name
    if path.exists() and folder.resolve() not in path.resolve().parents:
        raise TextrecError(f"{what} {path} leads outside its model folder (a link to {path.resolve()})")
    return path


def check_model_config(config: object, where: str) -> dict:
    """A model's config (from config.json or ONNX metadata) before anything is built from it: a file from a
    stranger gets a clear refusal naming the field, not a KeyError or TypeError from deep inside."""
    if not isinstance(config, dict):
        raise TextrecError(f"{where}: the model config is not a JSON object")
    charset = config.get("charset")
    if not isinstance(charset, str) or not charset:
        raise TextrecError(f"{where}: config 'charset' must be a non-empty string, got {charset!r:.60}")
    for key in ("network", "preprocess"):
        if not isinstance(config.get(key), dict):
            raise TextrecError(f"{where}: config {key!r} must be an object, got {config.get(key)!r:.60}")
    if len(charset) > MAX_CHARSET:
        raise TextrecError(f"{where}: config 'charset' has {len(charset):,} characters; at most {MAX_CHARSET:,}")
    _check_ranges(config["network"], NETWORK_RANGES, "network", where)
    _check_ranges(config["preprocess"], PREPROCESS_RANGES, "preprocess", where)
    if "fallback" in config:  # a second bundled model for what this one is unsure of (inference.second_opinion)
        fallback = config["fallback"]
        if not isinstance(fallback, dict) or not isinstance(fallback.get("model"), str):
            raise TextrecError(f"{where}: config 'fallback' must be an object naming a bundled 'model'")
        _check_ranges(fallback, FALLBACK_RANGES, "fallback", where)
        if not all(isinstance(fallback.get(key), (int, float)) for key in ("below", "margin")):
            raise TextrecError(f"{where}: config 'fallback' needs numbers 'below' and 'margin'")
        if not isinstance(fallback.get("fold_case", False), bool):
            raise TextrecError(f"{where}: config fallback.fold_case must be true or false")
    if "retry" in config:  # other looks at a crop this model is unsure of (inference.read_again)
        retry = config["retry"]
        if not isinstance(retry, dict) or not all(isinstance(retry.get(k), (int, float)) for k in ("below", "margin")):
            raise TextrecError(f"{where}: config 'retry' needs numbers 'below' and 'margin'")
        _check_ranges(retry, FALLBACK_RANGES, "retry", where)
        if retry.get("calibration") is not None:
            try:
                curve(retry["calibration"], "retry.calibration")
            except TextrecError as exc:
                raise TextrecError(f"{where}: {exc}") from None
    try:
        Charset(charset), PreprocessConfig.from_dict(config["preprocess"])
    except (TypeError, ValueError) as exc:
        raise TextrecError(f"{where}: bad model config: {exc}") from None
    return config


# Sizes a model may ask for: each far above any real model's and far below what would exhaust memory when the
# network is built, so a stranger's config is refused before anything is allocated.
MAX_CHARSET = 20_000
NETWORK_RANGES = {"channels": (1, 2048), "depth": (0, 16), "rnn_hidden": (1, 4096), "rnn_layers": (0, 8),
                  "rectifier_points": (4, 64), "encoder_hidden": (1, 4096), "hidden": (1, 4096), "layers": (0, 48),
                  "attention": (1, 4096), "embedding": (1, 4096), "max_length": (1, 1024), "width": (1, 4096),
                  "heads": (1, 64), "height": (8, 512), "patch": (1, 64), "in_channels": (1, 4),
                  "mlp_ratio": (0.1, 16), "dropout": (0.0, 1.0)}
FALLBACK_RANGES = {"below": (0.0, 1.0), "margin": (0.0, 1.0), "agree": (0.0, 100.0),  # the rest optional
                   "page_share": (0.0, 1.0), "page_keep": (0.0, 1.0), "blend": (0.0, 1.0)}
PREPROCESS_RANGES = {"height": (8, 512), "min_width": (1, 65_536), "max_width": (1, 65_536),
                     "fixed_width": (1, 65_536), "width_multiple": (1, 64), "std": (1e-6, 1e6), "mean": (-1e6, 1e6)}


def _check_ranges(section: dict, ranges: dict, name: str, where: str) -> None:
    for key, value in section.items():
        if key not in ranges or value is None:
            continue
        low, high = ranges[key]
        values = value if isinstance(value, list) else [value]
        if not values or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and low <= v <= high
                                 for v in values):
            raise TextrecError(f"{where}: config {name}.{key} must be numbers from {low} to {high}, "
                               f"got {value!r:.60}")


