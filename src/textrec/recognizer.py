"""The Python API for reading images with a trained model (PyTorch backend)."""
from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from textrec.decoding import Prediction
from textrec.errors import TextrecError
from textrec.inference import BatchReader, output_lengths
from textrec.model_io import load_model
from textrec.preprocess import ImageInput

if TYPE_CHECKING:
    from textrec.runtime import OnnxRecognizer

MODELS_DIR = Path(__file__).parent / "models"


def default_model_path() -> Path:
    path = MODELS_DIR / "default"
    if not (path / "config.json").is_file():
        raise TextrecError("no bundled default model in this install; pass a model with --model")
    return path


class Recognizer(BatchReader):
    """Loads a model once; `read` takes one image or many (paths, bytes, PIL images, arrays)."""

    def __init__(self, model: str | Path | None = None, decoder: str = "greedy", beam_width: int = 10,
                 lexicon: Iterable[str] | None = None, batch_size: int = 32, threads: int | None = None):
        self.path = Path(model) if model else default_model_path()
        self.network, config = load_model(self.path)
        self._configure(config, decoder, beam_width, lexicon, batch_size)
        if threads:
            torch.set_num_threads(threads)

    @property
    def name(self) -> str:
        return self.path.name

    @torch.inference_mode()
    def _run(self, batch: np.ndarray, widths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        logits = self.network(torch.from_numpy(batch)).float().numpy()
        return logits, output_lengths(widths, self.network.width_stride, logits.shape[1])


def load_recognizer(model: str | Path | None = None, **options) -> "Recognizer | OnnxRecognizer":
    """A recognizer for a model folder/.safetensors (PyTorch) or an exported .onnx file (onnxruntime)."""
    if model is not None and Path(model).suffix == ".onnx":
        from textrec.runtime import OnnxRecognizer

        return OnnxRecognizer(model, **options)
    return Recognizer(model, **options)


@functools.lru_cache(maxsize=4)
def _cached(model: str | None) -> "Recognizer | OnnxRecognizer":
    return load_recognizer(model)


def read(image: ImageInput | Sequence[ImageInput], model: str | Path | None = None) -> Prediction | list[Prediction]:
    """Read text from one image (or a list); the model (default: the bundled one) is loaded once per process."""
    return _cached(str(model) if model else None).read(image)
