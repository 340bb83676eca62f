"""`textrec export`: a trained model to ONNX (dynamic batch and width, config in the file's metadata), with
an optional int8 dynamic quantization, or to TorchScript (for C++/mobile; config as an extra file), with a
parity check against the PyTorch model at export time."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from textrec.errors import TextrecError
from textrec.model_io import load_model
from textrec.preprocess import PreprocessConfig, pad_batch, prepare
from textrec.runtime import METADATA_KEY


def export_onnx(model: str | Path, out: str | Path, quantize: bool = False, opset: int = 17) -> Path:
    """Write `out` (.onnx). Quantized: weights of the LSTM and linear layers stored as int8."""
    import onnx

    network, config = load_model(model)
    preprocess = PreprocessConfig.from_dict(config["preprocess"])
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    example = torch.zeros(1, 1, preprocess.height, 100)
    with tempfile.TemporaryDirectory() as tmp:
        plain = Path(tmp) / "plain.onnx"
        torch.onnx.export(network, (example,), str(plain), input_names=["images"], output_names=["logits"],
                          dynamic_axes={"images": {0: "batch", 3: "width"}, "logits": {0: "batch", 1: "columns"}},
                          opset_version=opset, dynamo=False)
        graph = onnx.load(str(plain))
        metadata = dict(config, width_stride=int(network.width_stride), exported_from=str(model),
                        quantized=quantize)
        graph.metadata_props.add(key=METADATA_KEY, value=json.dumps(metadata))
        onnx.save(graph, str(plain))
        if quantize:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            quantize_dynamic(str(plain), str(out), weight_type=QuantType.QInt8)
        else:
            plain.replace(out)
    return out


TORCHSCRIPT_CONFIG = "textrec_config.json"  # the extra file inside a TorchScript archive that holds the config


def export_torchscript(model: str | Path, out: str | Path) -> Path:
    """Write `out` (.pt), traced at two widths' worth of checking: tracing records shapes symbolically for
    conv/LSTM, and the parity check below runs it at other batch sizes and widths."""
    network, config = load_model(model)
    preprocess = PreprocessConfig.from_dict(config["preprocess"])
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with torch.inference_mode(False), torch.no_grad():
        traced = torch.jit.trace(network, torch.zeros(2, 1, preprocess.height, 128), check_trace=False)
    metadata = dict(config, width_stride=int(network.width_stride), exported_from=str(model))
    traced.save(str(out), _extra_files={TORCHSCRIPT_CONFIG: json.dumps(metadata)})
    return out


def torchscript_parity(model: str | Path, script_file: str | Path, images: list[Any]) -> dict[str, float]:
    """Max |logit difference| and identical greedy text between the model and its TorchScript file."""
    from textrec.decoding import decode_batch
    from textrec.inference import output_lengths
    from textrec.recognizer import Recognizer

    reference_model = Recognizer(model)
    scripted = torch.jit.load(str(script_file))
    arrays = [prepare(image, reference_model.preprocess) for image in images]
    batch, widths = pad_batch(arrays, reference_model.preprocess)
    with torch.inference_mode():
        reference = reference_model.network(torch.from_numpy(batch)).float().numpy()
        exported = scripted(torch.from_numpy(batch)).float().numpy()
    lengths = output_lengths(widths, reference_model.network.width_stride, reference.shape[1])
    texts = [[p.text for p in decode_batch(x, lengths, reference_model.charset)] for x in (reference, exported)]
    same = [a == b for a, b in zip(*texts)]
    return {"images": len(images), "identical_text": float(np.mean(same)) if same else 1.0,
            "max_abs_diff": float(np.abs(reference - exported).max())}


def parity(model: str | Path, onnx_file: str | Path, images: list[Any]) -> dict[str, float]:
    """Same images through both: the share of identical decoded strings and the max |logit difference|."""
    from textrec.recognizer import Recognizer
    from textrec.runtime import OnnxRecognizer

    torch_model, onnx_model = Recognizer(model), OnnxRecognizer(onnx_file)
    arrays = [prepare(image, torch_model.preprocess) for image in images]
    batch, _ = pad_batch(arrays, torch_model.preprocess)
    with torch.inference_mode():
        reference = torch_model.network(torch.from_numpy(batch)).float().numpy()
    exported = onnx_model.session.run(None, {onnx_model.input_name: batch})[0]
    same = [a.text == b.text for a, b in zip(torch_model.read_arrays(arrays), onnx_model.read_arrays(arrays))]
    return {"images": len(images), "identical_text": float(np.mean(same)) if same else 1.0,
            "max_abs_diff": float(np.abs(reference - exported).max())}


def sample_images(charset: str, height: int, count: int = 32) -> list[Any]:
    """Rendered words for the parity check when the user gives no images of their own."""
    from textrec.synth.render import Renderer, SynthConfig

    alphabet = "".join(c for c in charset if c.isalnum()) or charset
    renderer = Renderer(SynthConfig(height=height, charset=alphabet))
    return [renderer.sample(seed=7, index=i)[0] for i in range(count)]


FORMATS = ("onnx", "torchscript")


def check_format(fmt: str, quantize: bool = False) -> None:
    if fmt not in FORMATS:
        raise TextrecError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")
    if quantize and fmt != "onnx":
        raise TextrecError("--quantize is for --format onnx")
