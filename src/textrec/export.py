"""`textrec export`: a trained model to ONNX (dynamic batch and width, config in the file's metadata), with
optional int8 convolutions, or to TorchScript (for C++/mobile; config as an extra file), with a
parity check against the PyTorch model at export time."""
from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from textrec.errors import TextrecError
from textrec.model_io import load_model
from textrec.modelfile import METADATA_KEY, TORCHSCRIPT_CONFIG
from textrec.networks.attention import AttentionRecognizer
from textrec.preprocess import PreprocessConfig, background_value, pad_batch, prepare

CALIBRATION_RENDERS = 128  # rendered words always in the calibration: every glyph shape, clean and augmented
# activation ranges cover all but the rarest values (min/max let one outlier coarsen a whole layer): read closer
# to the float network on validation (benchmarks/QUANTIZATION.md)
CALIBRATION_PERCENTILE = 99.999
CALIBRATION_WIDTH = 256  # the histograms stack their inputs, so all share one width: wider cut, narrower padded
CALIBRATION_CHUNK = 32  # inputs per histogram update: memory stays that of 32 inputs' activations
# int8: convolutions, with each ReLU folded into its convolution's output range and pooling on int8 values, so
# no float round trip sits between two convolutions; the LSTM and the output layer stay float
QUANTIZED_OPS = ("Conv", "Relu", "MaxPool")


def export_onnx(model: str | Path, out: str | Path, quantize: bool = False, opset: int = 17,
                calibration: Sequence[Any] = (), ranges: str = "percentile") -> Path:
    """Write `out` (.onnx). Quantized: the convolutions run in int8 (weights per output channel; activation
    ranges measured on rendered words plus the `calibration` images), the LSTM and the output layer in float
    (onnxruntime's int8 LSTM is slower than its float one). An attention model also gets `OUT.step.onnx`
    beside it: the encoder runs once, the step graph once per character, driven by the decoding loop of the
    torch-free runtime. `ranges`: "percentile" (the default) or "minmax", for benchmarks/quantization.py."""
    import warnings

    import onnx

    # PyTorch warns about every LSTM exported with a dynamic batch; the parity check after export is the test
    warnings.filterwarnings("ignore", message=r".*Exporting a model to ONNX with a batch_size other than 1.*")

    network, config = load_model(model)
    preprocess = PreprocessConfig.from_dict(config["preprocess"])
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    example = torch.zeros(1, 1, preprocess.height, 100)
    metadata = dict(config, width_stride=int(network.width_stride), exported_from=str(model), quantized=quantize)
    samples: list[np.ndarray] = []
    if quantize:
        images = [*calibration, *sample_images(config["charset"], preprocess.height, CALIBRATION_RENDERS)]
        samples = [_fixed_width(prepare(image, preprocess)) for image in images]
        samples = samples[: max(len(samples) // CALIBRATION_CHUNK, 1) * CALIBRATION_CHUNK]  # whole chunks: a few
        # renders at the end may go, never the user's images
        metadata["quantized"] = {"convolutions": "int8", "calibration_images": len(samples)}
    _copy_language_model(model, config, out, metadata)
    # (module, inputs, input names, output names, dynamic axes, destination)
    graphs: list[tuple[torch.nn.Module, tuple[torch.Tensor, ...], list[str], list[str], dict[str, dict[int, str]],
                       Path]] = []
    if isinstance(network, AttentionRecognizer):  # network.decoder == "attention"
        step_out = out.with_name(out.stem + ".step.onnx")
        metadata["attention"] = {"step_graph": step_out.name, "layers": network.layers, "hidden": network.hidden,
                                 "max_length": network.max_length}
        with torch.no_grad():
            memory = network.encode(example)
        state = network.initial_state(memory)
        tokens = torch.full((1,), network.start, dtype=torch.long)
        graphs.append((_Encoder(network), (example,), ["images"], ["memory"],
                       {"images": {0: "batch", 3: "width"}, "memory": {0: "batch", 1: "columns"}}, out))
        graphs.append((_Step(network), (tokens, *state, memory, torch.ones(memory.shape[:2])),
                       ["tokens", "h", "c", "memory", "mask"], ["logits", "h_out", "c_out", "attention"],
                       {"tokens": {0: "batch"}, "h": {1: "batch"}, "c": {1: "batch"},
                        "memory": {0: "batch", 1: "columns"},
                        "mask": {0: "batch", 1: "columns"}, "logits": {0: "batch"}, "h_out": {1: "batch"},
                        "c_out": {1: "batch"}, "attention": {0: "batch", 1: "columns"}}, step_out))
    else:
        graphs.append((network, (example,), ["images"], ["logits"],
                       {"images": {0: "batch", 3: "width"}, "logits": {0: "batch", 1: "columns"}}, out))
    for i, (module, inputs, names_in, names_out, axes, destination) in enumerate(graphs):
        with tempfile.TemporaryDirectory() as tmp:
            plain = Path(tmp) / "plain.onnx"
            torch.onnx.export(module, inputs, str(plain), input_names=names_in, output_names=names_out,
                              dynamic_axes=axes, opset_version=opset, dynamo=False)
            graph = onnx.load(str(plain))
            if i == 0:  # the file users open carries the config
                graph.metadata_props.add(key=METADATA_KEY, value=json.dumps(metadata))
            onnx.save(graph, str(plain))
            if quantize and i == 0:  # the step graph of an attention model has no convolutions
                _quantize_convolutions(plain, destination, names_in[0], samples, ranges)
            else:
                plain.replace(destination)
    return out


def _fixed_width(array: np.ndarray) -> np.ndarray:
    """A prepared HxW array as a 1x1xHxCALIBRATION_WIDTH input: cut, or padded with its own background."""
    sample = np.full((1, 1, array.shape[0], CALIBRATION_WIDTH), background_value(array), dtype=np.float32)
    kept = array[:, :CALIBRATION_WIDTH]
    sample[0, 0, :, : kept.shape[1]] = kept
    return sample


def _quantize_convolutions(plain: Path, destination: Path, input_name: str, samples: list[np.ndarray],
                           ranges: str = "percentile") -> None:
    """Static int8 for the Conv nodes (QDQ format, so onnxruntime fuses them into its int8 kernels); activation
    ranges from histograms of the outputs on `samples`, CALIBRATION_CHUNK at a time. Weights in 7 bits
    (`reduce_range`): on CPUs without VNNI (AVX2, plain AVX-512) onnxruntime's u8 x s8 kernels add pairs of
    products in 16 bits, which full-range weights overflow, so the same file would read worse there than where
    it was made (benchmarks/QUANTIZATION.md); 7-bit weights cannot overflow and read alike on every CPU."""
    import logging

    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    class Samples(CalibrationDataReader):  # read in chunks: onnxruntime calls set_range, then get_next to the end
        def __init__(self) -> None:
            self.rest = iter(samples)

        def __len__(self) -> int:
            return len(samples)

        def set_range(self, start_index: int, end_index: int) -> None:
            self.rest = iter(samples[start_index:end_index])

        def get_next(self) -> dict[str, np.ndarray] | None:
            sample = next(self.rest, None)
            return None if sample is None else {input_name: sample}

    method = CalibrationMethod.MinMax if ranges == "minmax" else CalibrationMethod.Percentile
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # it logs advice on the root logger (pre-process first) that is not for our users
    try:
        quantize_static(str(plain), str(destination), Samples(), quant_format=QuantFormat.QDQ,
                        op_types_to_quantize=list(QUANTIZED_OPS), per_channel=True, activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8, calibrate_method=method, reduce_range=True,
                        extra_options={"CalibPercentile": CALIBRATION_PERCENTILE,
                                       "CalibStridedMinMax": min(CALIBRATION_CHUNK, len(samples))})
    finally:
        root.setLevel(level)


class _Encoder(torch.nn.Module):
    def __init__(self, network: AttentionRecognizer):
        super().__init__()
        self.network = network

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.network.encode(images)


class _Step(torch.nn.Module):
    def __init__(self, network: AttentionRecognizer):
        super().__init__()
        self.network = network

    def forward(self, tokens, h, c, memory, mask):
        return self.network.step(tokens, h, c, memory, mask)




def _copy_language_model(model: str | Path, config: dict, out: Path, metadata: dict) -> None:
    """The decoder's language model travels beside the exported file (NAME.lm.npz), named in its metadata."""
    if "language_model" not in config:
        return
    source = (Path(model) if Path(model).is_dir() else Path(model).parent) / config["language_model"]["file"]
    lm_out = source if out.parent.resolve() == source.parent.resolve() else out.with_name(out.stem + ".lm.npz")
    if lm_out != source:
        shutil.copyfile(source, lm_out)
    metadata["language_model"] = dict(config["language_model"], file=lm_out.name)


def export_torchscript(model: str | Path, out: str | Path) -> Path:
    """Write `out` (.pt), traced once at batch 2 x width 128: tracing keeps the batch and width symbolic for the
    conv and LSTM layers, which the parity check confirms at other batch sizes and widths."""
    network, config = load_model(model)
    if network.decoder != "ctc":
        raise TextrecError("TorchScript export is for CTC models (crnn, vit); export attention models to ONNX")
    preprocess = PreprocessConfig.from_dict(config["preprocess"])
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with torch.inference_mode(False), torch.no_grad():
        traced = torch.jit.trace(network, torch.zeros(2, 1, preprocess.height, 128), check_trace=False)
    metadata = dict(config, width_stride=int(network.width_stride), exported_from=str(model))
    _copy_language_model(model, config, out, metadata)
    traced.save(str(out), _extra_files={TORCHSCRIPT_CONFIG: json.dumps(metadata)})
    return out


def parity(model: str | Path, onnx_file: str | Path, images: list[Any]) -> dict[str, float]:
    """Same images through the model and its ONNX file: the share of identical decoded strings and the max
    |difference| of the raw outputs (logits; for an attention model, the encoder's memory)."""
    from textrec.runtime import OnnxRecognizer

    return _compare(model, OnnxRecognizer(onnx_file, decoder="greedy"), images)


def torchscript_parity(model: str | Path, script_file: str | Path, images: list[Any]) -> dict[str, float]:
    """The same comparison for a TorchScript file."""
    from textrec.recognizer import TorchScriptRecognizer

    return _compare(model, TorchScriptRecognizer(script_file, decoder="greedy"), images)


def _compare(model: str | Path, exported, images: list[Any]) -> dict[str, float]:
    """Raw outputs on one padded batch, and decoded text through the same width-sorted batching `read` uses,
    both decoded greedily: the comparison is of the networks (a language model would only blur it)."""
    from textrec.inference import read_sorted
    from textrec.recognizer import Recognizer

    reference = Recognizer(model, decoder="greedy")
    arrays = [prepare(image, reference.preprocess) for image in images]
    batch, widths = pad_batch(arrays, reference.preprocess)

    def raw(reader) -> np.ndarray:
        return reader.encode(batch) if reader.attention else reader.logits(batch, widths)[0]

    diff = float(np.abs(raw(reference) - raw(exported)).max())
    texts = [[p.text for p in read_sorted(arrays, reference.preprocess, reader._predict)]
             for reader in (reference, exported)]
    same = [a == b for a, b in zip(*texts)]
    return {"images": len(images), "identical_text": float(np.mean(same)) if same else 1.0, "max_abs_diff": diff}


def sample_images(charset: str, height: int, count: int = 32) -> list[Any]:
    """Rendered words for the parity check when the user gives no images of their own."""
    from textrec.synth.render import Renderer, SynthConfig

    alphabet = "".join(c for c in charset if c.isalnum()) or charset
    renderer = Renderer(SynthConfig(height=height, charset=alphabet))
    return [renderer.sample(seed=7, index=i)[0] for i in range(count)]


FORMATS = ("onnx", "torchscript")


def check_format(fmt: str, quantize: bool = False, calibration: Sequence[str] = ()) -> None:
    if fmt not in FORMATS:
        raise TextrecError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")
    if quantize and fmt != "onnx":
        raise TextrecError("--quantize is for --format onnx")
    if calibration and not quantize:
        raise TextrecError("--calibration images are for --quantize")


def calibration_images(specs: Sequence[str], limit: int) -> tuple[list[Any], list[str]]:
    """Up to `limit` images drawn (seed 0) from each data source, decoded; unreadable ones skipped and named."""
    import random

    from textrec.data.sources import open_source

    images, skipped = [], []
    for spec in specs:
        source = open_source(spec)
        for i in sorted(random.Random(0).sample(range(len(source)), min(limit, len(source)))):
            try:
                images.append(source.load(i))
            except TextrecError as exc:  # a corrupt image: counted and named, the rest still calibrate
                skipped.append(str(exc))
    return images, skipped
