"""Torch-free inference: an exported ONNX model run by onnxruntime, with the same preprocessing, batching and
decoding code as the PyTorch path. Imports only onnxruntime, numpy and Pillow (and textrec's numpy modules),
so a serving install needs neither torch nor Lightning."""
from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from textrec.errors import TextrecError
from textrec.inference import BatchReader, output_lengths
from textrec.modelfile import METADATA_KEY, ONNX_NAME, check_model_config  # noqa: F401  (ONNX_NAME re-exported)


def onnx_session(path: Path, threads: int | None, what: str, arena: bool = True):
    """A CPU onnxruntime session (`threads` intra-op threads, if given); a bad file is a TextrecError naming it.
    `arena=False`: memory goes back after each run (onnxruntime's arena keeps its largest size for good)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.enable_cpu_mem_arena = arena
    if threads:
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types for bad files
        raise TextrecError(f"cannot load {what} {path}: {exc}") from None


class OnnxRecognizer(BatchReader):
    """Like `textrec.Recognizer`, for a `.onnx` file written by `textrec export` (its config in the metadata)."""

    def __init__(self, model: str | Path, decoder: str = "auto", beam_width: int = 10,
                 lexicon: Iterable[str] | None = None, batch_size: int = 32, threads: int | None = None):
        self.path = Path(model)
        if not self.path.is_file():
            raise TextrecError(f"model file not found: {self.path}")
        self.session = onnx_session(self.path, threads, "ONNX model")
        metadata = self.session.get_modelmeta().custom_metadata_map
        if METADATA_KEY not in metadata:
            raise TextrecError(f"{self.path} carries no textrec config in its metadata (export it with textrec export)")
        try:
            config = check_model_config(json.loads(metadata[METADATA_KEY]), str(self.path))
            self.width_stride = int(config["width_stride"])
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise TextrecError(f"{self.path}: bad textrec config in the ONNX metadata ({exc!r:.100})") from None
        self._configure(config, decoder, beam_width, lexicon, batch_size, self.path.parent)
        if self.attention:
            self._load_step_graph(config, threads)
        classes = (self.step_session if self.attention else self.session).get_outputs()[0].shape[-1]
        if isinstance(classes, int) and classes != self.charset.num_classes:
            raise TextrecError(f"{self.path}: the network gives {classes} classes but its charset has "
                               f"{self.charset.num_classes} (with the blank): a wrong charset for these weights")
        self.input_name = self.session.get_inputs()[0].name

    def _load_step_graph(self, config: dict, threads: int | None) -> None:
        """An attention model is two graphs: this file encodes, a second one beside it decodes one step."""
        try:
            attention = config["attention"]
            step_file = self.path.parent / Path(attention["step_graph"]).name
            self.layers, self.hidden = int(attention["layers"]), int(attention["hidden"])
            self.max_length = int(attention["max_length"])
        except (KeyError, TypeError, ValueError) as exc:
            raise TextrecError(f"{self.path}: attention settings missing from the ONNX metadata ({exc!r})") from None
        if not step_file.is_file():
            raise TextrecError(f"{self.path} needs its decoder step graph {step_file} beside it")
        self.step_session = onnx_session(step_file, threads, "ONNX step graph")

    def encode(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: batch.astype(np.float32, copy=False)})[0]

    def step(self, tokens, h, c, memory, mask) -> tuple[np.ndarray, ...]:
        feeds = {"tokens": tokens.astype(np.int64), "h": h.astype(np.float32), "c": c.astype(np.float32),
                 "memory": memory.astype(np.float32), "mask": mask.astype(np.float32)}
        return tuple(self.step_session.run(None, feeds))

    @property
    def name(self) -> str:
        # model.onnx inside a model folder (the bundled default) is named after its folder
        return self.path.parent.name if self.path.name == ONNX_NAME else self.path.stem

    def logits(self, batch: np.ndarray, widths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        logits = self.session.run(None, {self.input_name: batch.astype(np.float32, copy=False)})[0]
        return logits, output_lengths(widths, self.width_stride, logits.shape[1])
