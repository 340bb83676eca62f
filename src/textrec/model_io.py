"""Model files: weights as safetensors plus a JSON config. A model is a folder (`weights.safetensors` +
`config.json`) or one `.safetensors` file carrying the config in its metadata. Nothing is ever unpickled."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable

from torch import nn

from textrec import __version__
from textrec.charset import Charset
from textrec.errors import TextrecError
from textrec.modelfile import CONFIG, FORMAT, FORMAT_VERSION, METADATA_KEY, WEIGHTS, check_model_config, inside
from textrec.networks import Network, build_network
from textrec.preprocess import PreprocessConfig


def make_config(network: dict[str, Any], charset: Charset, preprocess: PreprocessConfig,
                training: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"format": FORMAT, "format_version": FORMAT_VERSION, "textrec_version": __version__,
            "network": dict(network), "charset": charset.chars, "preprocess": preprocess.to_dict(),
            "decoder": "attention" if network.get("name") == "attn" else "ctc", "training": training or {}}


def save_model(path: str | Path, network: nn.Module, config: dict[str, Any]) -> Path:
    """Write a model folder, or a single file when `path` ends in .safetensors. Writes are atomic."""
    from safetensors.torch import save_file

    path = Path(path)
    tensors = {k: v.detach().cpu().contiguous() for k, v in network.state_dict().items()}
    if path.suffix == ".safetensors":
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata={METADATA_KEY: json.dumps(config)}))
    else:
        path.mkdir(parents=True, exist_ok=True)
        atomic_write(path / WEIGHTS, lambda tmp: save_file(tensors, str(tmp)))
        atomic_write(path / CONFIG, lambda tmp: tmp.write_text(json.dumps(config, indent=2) + "\n"))
    return path


def atomic_write(target: Path, write: Callable[[Path], Any]) -> None:
    """`write(temporary_path)`, fsync, rename over `target`, fsync the folder: a `kill -9` or a power cut leaves
    the old file or the new one, never half of one. A temporary file left by a process killed mid-write is
    removed by the next write."""
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    write(tmp)
    tmp.chmod(0o644)  # readable like any installed file (safetensors writes 0600)
    with open(tmp, "rb") as handle:
        os.fsync(handle.fileno())
    tmp.replace(target)
    for stale in target.parent.glob(f".{target.name}.*.tmp"):
        stale.unlink(missing_ok=True)
    folder = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def read_config(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if path.is_dir():
        if not inside(path, CONFIG, "config").is_file():
            raise TextrecError(f"model folder {path} has no {CONFIG}")
        try:
            config = json.loads((path / CONFIG).read_text())
        except json.JSONDecodeError as exc:
            raise TextrecError(f"model config {path / CONFIG} is not valid JSON: {exc}") from None
    elif path.is_file():
        config = _file_metadata_config(path)
    else:
        raise TextrecError(f"model not found: {path}")
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise TextrecError(f"{path} is not a textrec model (config 'format' is not {FORMAT!r})")
    if not isinstance(config.get("format_version", 0), int) or config.get("format_version", 0) > FORMAT_VERSION:
        raise TextrecError(f"{path} needs a newer textrec (model format {config['format_version']!r})")
    return check_model_config(config, str(path))


def _file_metadata_config(path: Path) -> dict[str, Any]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
    except Exception as exc:
        raise TextrecError(f"cannot read model file {path}: {exc}") from None
    if METADATA_KEY not in metadata:
        raise TextrecError(f"model file {path} carries no textrec config in its metadata")
    try:
        return json.loads(metadata[METADATA_KEY])
    except json.JSONDecodeError as exc:
        raise TextrecError(f"model file {path}: its config metadata is not valid JSON: {exc}") from None


def load_model(path: str | Path) -> tuple[Network, dict[str, Any]]:
    """The network (in eval mode) and its config. Wrong shapes or truncated weights are refused clearly."""
    from safetensors.torch import load_file

    path = Path(path)
    config = read_config(path)
    charset = Charset(config["charset"])
    network = build_network(config["network"], charset.num_classes)
    weights = inside(path, WEIGHTS, "weights") if path.is_dir() else path
    try:
        state = load_file(str(weights))
    except Exception as exc:
        raise TextrecError(f"cannot read weights {weights}: {exc}") from None
    expected = network.state_dict()
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    wrong = [k for k in expected if k in state and state[k].shape != expected[k].shape]
    if missing or extra or wrong:
        detail = "; ".join(filter(None, [
            f"missing {missing[:3]}" if missing else "", f"unexpected {extra[:3]}" if extra else "",
            f"wrong shape for {wrong[0]}: {tuple(state[wrong[0]].shape)} vs {tuple(expected[wrong[0]].shape)}"
            if wrong else ""]))
        raise TextrecError(f"weights in {weights} do not fit the network in its config ({detail})")
    network.load_state_dict(state)
    return network.eval(), config
