"""The Python API for reading images with a trained model (PyTorch backend)."""
from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import torch

from textrec.charset import Charset
from textrec.decoding import Prediction, decode_batch
from textrec.errors import TextrecError
from textrec.model_io import load_model
from textrec.preprocess import ImageInput, PreprocessConfig, pad_batch, prepare

MODELS_DIR = Path(__file__).parent / "models"


def default_model_path() -> Path:
    path = MODELS_DIR / "default"
    if not (path / "config.json").is_file():
        raise TextrecError("no bundled default model in this install; pass a model with --model")
    return path


class Recognizer:
    """Loads a model once; `read` takes one image or many (paths, bytes, PIL images, arrays)."""

    def __init__(self, model: str | Path | None = None, decoder: str = "greedy", beam_width: int = 10,
                 lexicon: Iterable[str] | None = None, batch_size: int = 32, threads: int | None = None):
        self.path = Path(model) if model else default_model_path()
        self.network, self.config = load_model(self.path)
        self.charset = Charset(self.config["charset"])
        self.preprocess = PreprocessConfig.from_dict(self.config["preprocess"])
        self.decoder, self.beam_width, self.batch_size = decoder, beam_width, batch_size
        self.lexicon = list(lexicon) if lexicon is not None else None
        if threads:
            torch.set_num_threads(threads)

    @property
    def name(self) -> str:
        return self.path.name

    def read(self, images: ImageInput | Sequence[ImageInput]) -> Prediction | list[Prediction]:
        single = not isinstance(images, (list, tuple))
        results = self.read_arrays([prepare(image, self.preprocess) for image in ([images] if single else images)])
        return results[0] if single else results

    @torch.inference_mode()
    def read_arrays(self, arrays: Sequence[np.ndarray]) -> list[Prediction]:
        """Recognize preprocessed arrays; sorted by width so each batch pads little, results in input order."""
        order = sorted(range(len(arrays)), key=lambda i: arrays[i].shape[1])
        results: list[Prediction | None] = [None] * len(arrays)
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            batch, widths = pad_batch([arrays[i] for i in chunk], self.preprocess)
            logits = self.network(torch.from_numpy(batch)).float().numpy()
            lengths = self.network.output_lengths(torch.from_numpy(widths)).clamp(max=logits.shape[1]).numpy()
            for i, prediction in zip(chunk, decode_batch(logits, lengths, self.charset, self.decoder,
                                                         self.beam_width, self.lexicon)):
                results[i] = prediction
        return results  # type: ignore[return-value]


@functools.lru_cache(maxsize=4)
def _cached(model: str | None) -> Recognizer:
    return Recognizer(model)


def read(image: ImageInput | Sequence[ImageInput], model: str | Path | None = None) -> Prediction | list[Prediction]:
    """Read text from one image (or a list); the model (default: the bundled one) is loaded once per process."""
    return _cached(str(model) if model else None).read(image)
