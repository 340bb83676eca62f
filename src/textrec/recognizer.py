"""The Python API for reading images with a trained model.

A model folder (`weights.safetensors` + `config.json`) runs on PyTorch; an exported `.onnx` file, or a folder
that carries one beside its weights (the bundled default does), runs on onnxruntime without torch. torch is
imported only when a PyTorch model is actually loaded, so a serving install without torch can use this module.
"""
from __future__ import annotations

import functools
import importlib.util
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from textrec.decoding import Prediction
from textrec.errors import TextrecError
from textrec.inference import BatchReader, output_lengths
from textrec.modelfile import CONFIG, ONNX_NAME
from textrec.preprocess import ImageInput, as_inputs

if TYPE_CHECKING:
    from textrec.networks.attention import AttentionRecognizer
    from textrec.pages.pipeline import PageResult
    from textrec.reading import Reader
    from textrec.reading.reader import DocumentResult
    from textrec.runtime import OnnxRecognizer

MODELS_DIR = Path(__file__).parent / "models"
BACKENDS = ("auto", "onnx", "torch")


def default_model_path() -> Path:
    path = MODELS_DIR / "default"
    if not (path / CONFIG).is_file() and not (path / ONNX_NAME).is_file():
        raise TextrecError("no bundled default model in this install; pass a model with --model")
    return path


def bundled_models() -> list[str]:
    """Names of the models in this install (`--model NAME`): default, handwriting, ..."""
    return sorted(p.name for p in MODELS_DIR.iterdir()
                  if p.is_dir() and p.name != "detector" and ((p / CONFIG).is_file() or (p / ONNX_NAME).is_file()))


def model_path(model: str | Path | None) -> Path:
    """A model given as a path, or by the name of a bundled one (a path that exists wins); None: the default."""
    if not model:
        return default_model_path()
    path = Path(model)
    if path.exists():
        return path
    if str(model) in bundled_models():
        return MODELS_DIR / str(model)
    if not path.suffix and len(path.parts) == 1:  # a bare word: a misspelt name more likely than a lost folder
        raise TextrecError(f"no model {str(model)!r}: not a file or folder here, nor a bundled model "
                           f"({', '.join(bundled_models())})")
    return path


class Recognizer(BatchReader):
    """A PyTorch model loaded once; `read` takes one image or many (paths, bytes, PIL images, arrays)."""

    def __init__(self, model: str | Path | None = None, decoder: str = "auto", beam_width: int = 10,
                 lexicon: Iterable[str] | None = None, batch_size: int = 32, threads: int | None = None):
        if not _installed("torch"):
            raise TextrecError("this model runs on PyTorch, which is not installed: pip install 'textrec[train]', "
                               "or export the model to ONNX (textrec export) and use that file")
        import torch

        from textrec.model_io import load_model

        self.path = model_path(model)
        self.network, config = load_model(self.path)
        self._configure(config, decoder, beam_width, lexicon, batch_size,
                        self.path if self.path.is_dir() else self.path.parent)
        self.width_stride = self.network.width_stride
        if self.attention:
            network = self._attention_network()
            self.layers, self.hidden = network.layers, network.hidden
            self.max_length = network.max_length
        if threads:
            torch.set_num_threads(threads)

    @property
    def name(self) -> str:
        return self.path.name

    def logits(self, batch: np.ndarray, widths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        import torch

        with torch.inference_mode():
            logits = self.network(torch.from_numpy(batch)).float().numpy()
        return logits, output_lengths(widths, self.network.width_stride, logits.shape[1])

    # attention decoders: the decoding loop in textrec.inference drives these (as it does the ONNX graphs)
    def encode(self, batch: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            return self._attention_network().encode(torch.from_numpy(batch)).float().numpy()

    def step(self, tokens, h, c, memory, mask) -> tuple[np.ndarray, ...]:
        import torch

        with torch.inference_mode():
            outputs = self._attention_network().step(*(torch.from_numpy(np.ascontiguousarray(a))
                                                       for a in (tokens, h, c, memory, mask)))
        return tuple(o.float().numpy() for o in outputs)

    def _attention_network(self) -> AttentionRecognizer:
        from textrec.networks.attention import AttentionRecognizer

        assert isinstance(self.network, AttentionRecognizer), "the config says attention: so does the network"
        return self.network


def _installed(package: str) -> bool:
    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):  # blocked or half-installed: treat as absent
        return False


class TorchScriptRecognizer(BatchReader):
    """A `.pt` file written by `textrec export --format torchscript` (its config inside the archive)."""

    def __init__(self, model: str | Path, decoder: str = "auto", beam_width: int = 10,
                 lexicon: Iterable[str] | None = None, batch_size: int = 32, threads: int | None = None):
        if not _installed("torch"):
            raise TextrecError("a TorchScript model runs on PyTorch, which is not installed: "
                               "pip install 'textrec[train]'")
        import json

        import torch

        from textrec.modelfile import TORCHSCRIPT_CONFIG, check_model_config

        self.path = Path(model)
        if not self.path.is_file():
            raise TextrecError(f"model file not found: {self.path}")
        files = {TORCHSCRIPT_CONFIG: ""}
        try:
            self.scripted = torch.jit.load(str(self.path), map_location="cpu", _extra_files=files)
            config = check_model_config(json.loads(files[TORCHSCRIPT_CONFIG]), str(self.path))
            self.width_stride = int(config["width_stride"])
        except (RuntimeError, ValueError, KeyError, TypeError) as exc:
            raise TextrecError(f"{self.path} is not a TorchScript model written by textrec export ({exc!s:.100})") \
                from None
        self._configure(config, decoder, beam_width, lexicon, batch_size, self.path.parent)
        if threads:
            torch.set_num_threads(threads)

    @property
    def name(self) -> str:
        return self.path.stem

    def logits(self, batch: np.ndarray, widths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        import torch

        with torch.inference_mode():
            logits = self.scripted(torch.from_numpy(batch)).float().numpy()
        return logits, output_lengths(widths, self.width_stride, logits.shape[1])


def resolve_backend(model: str | Path | None, backend: str = "auto") -> tuple[Path, str]:
    """Which file to load and on what: an .onnx file -> onnx; a folder with model.onnx -> onnx unless asked for
    torch; else torch. The folder's config.json stays the source of truth; its ONNX copy is tested to agree."""
    if backend not in BACKENDS:
        raise TextrecError(f"unknown backend {backend!r}; use one of {', '.join(BACKENDS)}")
    path = model_path(model)
    if path.suffix == ".pt":
        if backend == "onnx":
            raise TextrecError(f"{path} is a TorchScript file; it runs on PyTorch only")
        return path, "torchscript"
    if path.suffix == ".onnx":
        if backend == "torch":
            raise TextrecError(f"{path} is an ONNX file; it runs on the onnx backend only")
        return path, "onnx"
    exported = path / ONNX_NAME
    if backend == "onnx" or (backend == "auto" and exported.is_file() and _installed("onnxruntime")):
        if not exported.is_file():
            raise TextrecError(f"{path} has no {ONNX_NAME}; export one with: textrec export --model {path} "
                               f"--out {exported}")
        return exported, "onnx"
    return path, "torch"


def load_recognizer(model: str | Path | None = None, backend: str = "auto",
                    **options) -> "Recognizer | OnnxRecognizer | TorchScriptRecognizer":
    """A recognizer for a model folder/.safetensors (PyTorch) or an exported .onnx file (onnxruntime)."""
    path, chosen = resolve_backend(model, backend)
    if chosen == "torchscript":
        return TorchScriptRecognizer(path, **options)
    if chosen == "onnx":
        from textrec.runtime import OnnxRecognizer

        return OnnxRecognizer(path, **options)
    return Recognizer(path, **options)


@functools.lru_cache(maxsize=4)
def _cached(model: str | None, mode: str) -> "Reader":
    from textrec.reading import Reader

    return Reader(load_recognizer(model), mode)


def read(image: ImageInput | Sequence[ImageInput], model: str | Path | None = None, mode: str = "auto"
         ) -> "Prediction | PageResult | DocumentResult | list[Prediction | PageResult | DocumentResult]":
    """Read text from one image (or a list): a Prediction for a word or line image, a PageResult for a page
    (mode auto: a page-sized image with several rows of text; or force word, line, page). The model (default:
    the bundled one) is loaded once per process. An unreadable image raises its TextrecError."""
    from textrec.reading import CropResult, check_mode

    inputs, single = as_inputs(image)
    answers: list[Prediction | PageResult | DocumentResult] = []
    for result in _cached(str(model) if model else None, check_mode(mode)).read(inputs):
        if isinstance(result, TextrecError):
            raise result
        answers.append(result.prediction if isinstance(result, CropResult) else result)
    return answers[0] if single else answers
