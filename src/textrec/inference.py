"""What every backend shares after preprocessing: sort images by width, run them in batches that pad little,
decode, and give results back in input order. numpy only, so the torch-free runtime uses it too."""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np

from textrec.charset import Charset
from textrec.decoding import Prediction, decode_batch
from textrec.preprocess import PreprocessConfig, pad_batch

# (padded batch (N, 1, H, W), widths (N,)) -> (logits (N, T, C), valid lengths (N,))
RunBatch = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def output_lengths(widths: np.ndarray, stride: int, frames: int) -> np.ndarray:
    """Valid output columns for images of these unpadded widths."""
    return np.minimum(-(-widths // stride), frames)


def read_sorted(arrays: Sequence[np.ndarray], preprocess: PreprocessConfig, charset: Charset, run: RunBatch,
                batch_size: int = 32, decoder: str = "greedy", beam_width: int = 10,
                lexicon: Iterable[str] | None = None) -> list[Prediction]:
    """Recognize preprocessed arrays in width-sorted batches; results in input order."""
    order = sorted(range(len(arrays)), key=lambda i: arrays[i].shape[1])
    results: list[Prediction | None] = [None] * len(arrays)
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        batch, widths = pad_batch([arrays[i] for i in chunk], preprocess)
        logits, lengths = run(batch, widths)
        for i, prediction in zip(chunk, decode_batch(logits, lengths, charset, decoder, beam_width, lexicon)):
            results[i] = prediction
    return results  # type: ignore[return-value]
