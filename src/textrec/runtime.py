"""Torch-free inference: an exported ONNX model run by onnxruntime, with the same preprocessing, batching and
decoding code as the PyTorch path. Imports only onnxruntime, numpy and Pillow (and textrec's numpy modules),
so a serving install needs neither torch nor Lightning."""
from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from textrec.charset import Charset
from textrec.decoding import Prediction
from textrec.errors import TextrecError
from textrec.inference import output_lengths, read_sorted
from textrec.preprocess import ImageInput, PreprocessConfig, prepare

METADATA_KEY = "textrec_config"


class OnnxRecognizer:
    """Like `textrec.Recognizer`, for a `.onnx` file written by `textrec export` (its config in the metadata)."""

    def __init__(self, model: str | Path, decoder: str = "greedy", beam_width: int = 10,
                 lexicon: Iterable[str] | None = None, batch_size: int = 32, threads: int | None = None):
        import onnxruntime as ort

        self.path = Path(model)
        if not self.path.is_file():
            raise TextrecError(f"model file not found: {self.path}")
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        try:
            self.session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types for bad files
            raise TextrecError(f"cannot load ONNX model {self.path}: {exc}") from None
        metadata = self.session.get_modelmeta().custom_metadata_map
        if METADATA_KEY not in metadata:
            raise TextrecError(f"{self.path} carries no textrec config in its metadata (export it with textrec export)")
        self.config = json.loads(metadata[METADATA_KEY])
        self.charset = Charset(self.config["charset"])
        self.preprocess = PreprocessConfig.from_dict(self.config["preprocess"])
        self.width_stride = int(self.config["width_stride"])
        self.input_name = self.session.get_inputs()[0].name
        self.decoder, self.beam_width, self.batch_size = decoder, beam_width, batch_size
        self.lexicon = list(lexicon) if lexicon is not None else None

    @property
    def name(self) -> str:
        return self.path.stem

    def read(self, images: ImageInput | Sequence[ImageInput]) -> Prediction | list[Prediction]:
        single = not isinstance(images, (list, tuple))
        results = self.read_arrays([prepare(image, self.preprocess) for image in ([images] if single else images)])
        return results[0] if single else results

    def read_arrays(self, arrays: Sequence[np.ndarray]) -> list[Prediction]:
        return read_sorted(arrays, self.preprocess, self.charset, self._run, self.batch_size, self.decoder,
                           self.beam_width, self.lexicon)

    def _run(self, batch: np.ndarray, widths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        logits = self.session.run(None, {self.input_name: batch.astype(np.float32, copy=False)})[0]
        return logits, output_lengths(widths, self.width_stride, logits.shape[1])
