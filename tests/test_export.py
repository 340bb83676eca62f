"""ONNX export and the torch-free runtime."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from typer.testing import CliRunner  # noqa: E402

from tests.helpers import render  # noqa: E402
from textrec.cli import app  # noqa: E402
from textrec.errors import TextrecError  # noqa: E402
from textrec.export import export_onnx, parity  # noqa: E402
from textrec.recognizer import Recognizer  # noqa: E402
from textrec.runtime import OnnxRecognizer  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture(scope="module")
def onnx_file(trained_model, tmp_path_factory):
    return export_onnx(trained_model, tmp_path_factory.mktemp("onnx") / "model.onnx")


def test_onnx_reads_like_pytorch_on_any_width(trained_model, onnx_file):
    images = [render(text) for text in ["7", "42", "31415", "2718281828"]]  # widths differ: dynamic axes
    report = parity(trained_model, onnx_file, images)
    assert report["identical_text"] == 1.0 and report["max_abs_diff"] < 1e-3
    torch_texts = [p.text for p in Recognizer(trained_model).read(images)]
    assert [p.text for p in OnnxRecognizer(onnx_file).read(images)] == torch_texts


def test_onnx_file_carries_charset_and_preprocessing(onnx_file, trained_model):
    recognizer = OnnxRecognizer(onnx_file)
    source = json.loads((trained_model / "config.json").read_text())
    assert recognizer.charset.chars == source["charset"] and recognizer.width_stride == 4
    assert recognizer.preprocess.height == source["preprocess"]["height"]


def test_quantized_export_runs_its_convolutions_in_int8_and_reads_like_float(trained_model, tmp_path):
    import onnx

    from textrec.export import CALIBRATION_RENDERS

    calibration = [render(str(n), seed=n) for n in range(1000, 1032)]  # one chunk of the user's own images
    quantized = export_onnx(trained_model, tmp_path / "q.onnx", quantize=True, calibration=calibration)
    graph = onnx.load(str(quantized)).graph
    dequantized = {node.output[0]: node.input[0] for node in graph.node if node.op_type == "DequantizeLinear"}
    stored = {tensor.name: tensor for tensor in graph.initializer}
    convolutions = [node for node in graph.node if node.op_type == "Conv"]
    assert convolutions and all(node.input[0] in dequantized for node in convolutions)  # activations in uint8
    weights = [stored[dequantized[node.input[1]]] for node in convolutions]  # and weights stored as int8
    assert all(w.data_type == onnx.TensorProto.INT8 and len(w.dims) == 4 for w in weights)
    assert max(seven_bit_overflow(w) for w in weights) == 0  # 7-bit weights: read alike on CPUs without VNNI
    assert any(node.op_type == "LSTM" for node in graph.node)  # the LSTM stays float
    # each ReLU folded into its convolution's uint8 output range, and pooling reads int8: no float between convs
    assert not any(node.op_type == "Relu" for node in graph.node)
    pools = [node for node in graph.node if node.op_type == "MaxPool"]
    assert pools and all(node.input[0] in dequantized for node in pools)
    recognizer = OnnxRecognizer(quantized)
    assert recognizer.config["quantized"] == {"convolutions": "int8", "calibration_images": CALIBRATION_RENDERS + 32}
    images = [render(text, seed=i) for i, text in enumerate(["7", "42", "31415", "2718281828", "90210", "1234"])]
    report = parity(trained_model, quantized, images)
    assert report["identical_text"] >= 5 / 6 and report["max_abs_diff"] > 1e-4  # close, and really not float


def seven_bit_overflow(tensor) -> int:
    """How far an int8 weight tensor reaches past the 7-bit range [-64, 64] (0: within it)."""
    from onnx import numpy_helper

    values = numpy_helper.to_array(tensor).astype(int)
    return max(int(abs(values).max()) - 64, 0)


def test_bundled_int8_files_keep_their_weights_in_seven_bits():
    """Full-range int8 weights overflow the 16-bit sums of onnxruntime's u8 x s8 kernels on CPUs without VNNI
    (AVX2, plain AVX-512): a bundled file made that way read the example note at 38% CER on such a CPU where its
    weights read 3% (benchmarks/QUANTIZATION.md). Every bundled model.onnx must keep to 7 bits."""
    import onnx

    from textrec.recognizer import MODELS_DIR, bundled_models

    for name in bundled_models():
        graph = onnx.load(str(MODELS_DIR / name / "model.onnx")).graph
        weights = [t for t in graph.initializer if t.data_type == onnx.TensorProto.INT8]
        assert weights, name
        assert max(seven_bit_overflow(w) for w in weights) == 0, name


def test_cli_quantize_calibrates_on_the_users_images_and_skips_a_corrupt_one(trained_model, tmp_path):
    folder = tmp_path / "calibration"
    folder.mkdir()
    for text in ("123", "4567"):
        render(text).save(folder / f"{text}.png")
    (folder / "999.png").write_bytes(b"not a png")
    out = tmp_path / "q.onnx"
    result = CliRunner().invoke(app, ["export", "--model", str(trained_model), "--out", str(out), "--quantize",
                                      "--calibration", str(folder)])
    assert result.exit_code == 0, result.output
    assert "calibrated on 2 of your images (1 unreadable skipped)" in result.output and "999.png" in result.output
    refused = CliRunner().invoke(app, ["export", "--model", str(trained_model), "--out", str(out),
                                       "--calibration", str(folder)])
    assert refused.exit_code == 2 and "--calibration images are for --quantize" in refused.output
    refused = CliRunner().invoke(app, ["export", "--model", str(trained_model), "--out", str(out), "--quantize",
                                       "--calibration", str(folder), "--calibration-limit", "0"])
    assert refused.exit_code == 2 and "--calibration-limit" in refused.output


def test_runtime_imports_neither_torch_nor_lightning(onnx_file, tmp_path):
    image = tmp_path / "x.png"
    render("123").save(image)
    code = ("import sys\nfrom textrec.runtime import OnnxRecognizer\n"
            f"print(OnnxRecognizer({str(onnx_file)!r}).read({str(image)!r}).text)\n"
            "bad = [m for m in ('torch', 'lightning') if m in sys.modules]\nassert not bad, bad\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_cli_export_prints_parity_and_read_takes_onnx(trained_model, tmp_path):
    out = tmp_path / "cli.onnx"
    result = CliRunner().invoke(app, ["export", "--model", str(trained_model), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "identical text" in result.output and out.is_file()
    render("4711").save(tmp_path / "w.png")
    result = CliRunner().invoke(app, ["read", str(tmp_path / "w.png"), "--model", str(out)])
    assert result.exit_code == 0 and result.output.split("\t")[0] == Recognizer(trained_model).read(
        render("4711")).text


def test_a_file_that_is_not_onnx_is_refused_clearly(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    result = CliRunner().invoke(app, ["read", str(tmp_path), "--model", str(bad)])
    assert result.exit_code == 2 and "cannot load ONNX model" in result.output


def test_torchscript_export_matches_and_carries_the_config(trained_model, tmp_path):
    import torch

    out = tmp_path / "model.pt"
    result = CliRunner().invoke(app, ["export", "--model", str(trained_model), "--out", str(out),
                                      "--format", "torchscript"])
    assert result.exit_code == 0, result.output
    assert "100.0% identical text" in result.output
    files = {"textrec_config.json": ""}
    scripted = torch.jit.load(str(out), _extra_files=files)
    assert json.loads(files["textrec_config.json"])["charset"] == Recognizer(trained_model).config["charset"]
    batch = torch.rand(3, 1, 32, 77)  # another batch size and width than it was traced with
    with torch.inference_mode():
        assert torch.allclose(scripted(batch), Recognizer(trained_model).network(batch), atol=1e-4)
    refused = CliRunner().invoke(app, ["export", "--model", str(trained_model), "--out", str(out),
                                       "--format", "torchscript", "--quantize"])
    assert refused.exit_code == 2 and "--quantize is for --format onnx" in refused.output


def test_onnx_with_a_charset_that_does_not_fit_its_weights_is_refused(onnx_file, tmp_path):
    import json

    import onnx

    from textrec.runtime import METADATA_KEY, OnnxRecognizer

    model = onnx.load(str(onnx_file))
    for entry in model.metadata_props:
        if entry.key == METADATA_KEY:
            config = json.loads(entry.value)
            config["charset"] = "abc"
            entry.value = json.dumps(config)
    onnx.save(model, str(tmp_path / "wrong.onnx"))
    with pytest.raises(TextrecError, match="gives 11 classes but its charset has 4"):
        OnnxRecognizer(tmp_path / "wrong.onnx")


def test_torchscript_export_of_the_default_model_agrees_and_reads(tmp_path):
    """Parity compares the networks (both decoded greedily, not greedy against the LM decoder), and the .pt file
    is read by textrec read --model, its language model beside it."""
    runner = CliRunner()
    out = tmp_path / "model.pt"
    exported = runner.invoke(app, ["export", "--format", "torchscript", "--out", str(out)])
    assert exported.exit_code == 0 and "100.0% identical text" in exported.output, exported.output
    assert (tmp_path / "model.lm.npz").is_file()
    read = runner.invoke(app, ["read", str(EXAMPLES / "hello.png"), "--model", str(out)])
    assert read.exit_code == 0 and read.output.startswith("Hello\t"), read.output
