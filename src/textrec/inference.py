"""What every backend shares after preprocessing: sort images by width, run them in batches that pad little,
decode, and give results back in input order. numpy only, so the torch-free runtime uses it too."""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np

from textrec.charset import Charset
from textrec.decoding import Prediction, attention_search, decode_batch
from textrec.errors import TextrecError
from textrec.preprocess import ImageInput, PreprocessConfig, pad_batch, prepare



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
    try:
        Charset(charset), PreprocessConfig.from_dict(config["preprocess"])
    except (TypeError, ValueError) as exc:
        raise TextrecError(f"{where}: bad model config: {exc}") from None
    return config


def output_lengths(widths: np.ndarray, stride: int, frames: int) -> np.ndarray:
    """Valid output columns for images of these unpadded widths."""
    return np.minimum(-(-widths // stride), frames)


def read_sorted(arrays: Sequence[np.ndarray], preprocess: PreprocessConfig,
                predict: Callable[[np.ndarray, np.ndarray], list[Prediction]], batch_size: int = 32) -> list[Prediction]:
    """Recognize preprocessed arrays in width-sorted batches; results in input order."""
    order = sorted(range(len(arrays)), key=lambda i: arrays[i].shape[1])
    results: list[Prediction | None] = [None] * len(arrays)
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        batch, widths = pad_batch([arrays[i] for i in chunk], preprocess)
        for i, prediction in zip(chunk, predict(batch, widths)):
            results[i] = prediction
    return results  # type: ignore[return-value]


class BatchReader:
    """What every recognizer does once its model is loaded: charset and preprocessing from the model's config,
    decoder settings, and `read` for one image or many. A CTC backend adds `_run` (a padded batch to logits);
    an attention backend adds `_encode`, `_step`, `layers`, `hidden` and `max_length`, and the decoding loop here
    drives them."""

    def _configure(self, config: dict, decoder: str, beam_width: int, lexicon: Iterable[str] | None,
                   batch_size: int) -> None:
        self.config = config
        self.charset = Charset(config["charset"])
        self.preprocess = PreprocessConfig.from_dict(config["preprocess"])
        self.decoder, self.beam_width, self.batch_size = decoder, beam_width, batch_size
        self.lexicon = list(lexicon) if lexicon is not None else None
        self.attention = config.get("decoder") == "attention"
        if self.attention and self.lexicon is not None:
            raise TextrecError("a lexicon constrains CTC beam search; this model has an attention decoder")

    def read(self, images: ImageInput | Sequence[ImageInput]) -> Prediction | list[Prediction]:
        """One image (path, bytes, PIL image, array) gives one Prediction; a list gives a list."""
        single = not isinstance(images, (list, tuple))
        results = self.read_arrays([prepare(image, self.preprocess) for image in ([images] if single else images)])
        return results[0] if single else results

    def read_arrays(self, arrays: Sequence[np.ndarray]) -> list[Prediction]:
        """Recognize preprocessed arrays; sorted by width so each batch pads little, results in input order."""
        return read_sorted(arrays, self.preprocess, self._predict, self.batch_size)

    def _predict(self, batch: np.ndarray, widths: np.ndarray) -> list[Prediction]:
        if self.attention:
            memory = self._encode(batch)
            lengths = output_lengths(widths, self.width_stride, memory.shape[1])
            mask = (np.arange(memory.shape[1])[None, :] < lengths[:, None]).astype(np.float32)
            beams = self.beam_width if self.decoder == "beam" else 1
            return attention_search(memory, mask, self._initial_state(len(batch)), self._step, self.charset,
                                    self.charset.num_classes, self.max_length, beams)
        logits, lengths = self._run(batch, widths)
        return decode_batch(logits, lengths, self.charset, self.decoder, self.beam_width, self.lexicon)

    def _initial_state(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Zero (h, c) of shape (layers, n, hidden) for the attention decoder (c unused by GRU cells)."""
        zeros = np.zeros((self.layers, n, self.hidden), dtype=np.float32)
        return zeros, zeros.copy()

    def _run(self, batch: np.ndarray, widths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError
