"""The bundled default English model: present, small, loaded lazily once, and right on our example images."""
from pathlib import Path

from typer.testing import CliRunner

import textrec
from textrec.cli import app
from textrec.recognizer import default_model_path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


NOTE_CER = 0.35  # the bundled model on examples/note.png (a rendered handwritten note), with margin


def test_default_model_ships_with_the_package_and_is_small():
    path = default_model_path()
    assert (path / "weights.safetensors").stat().st_size <= 20 * 1024 * 1024
    assert " " in textrec.Recognizer().charset.chars and "A" in textrec.Recognizer().charset.chars


def test_read_without_model_reads_the_shipped_examples():
    """The word and line photos exactly; the handwritten note as a page, its lines in order (issue 19)."""
    import json

    from textrec.evaluation import character_error_rate

    expected = dict(line.split("\t") for line in (EXAMPLES / "labels.tsv").read_text().splitlines())
    result = CliRunner().invoke(app, ["read", str(EXAMPLES), "--json"])
    assert result.exit_code == 0, result.output
    read = {Path(r["input"]).name: r for r in map(json.loads, result.output.splitlines())}
    assert {name: r["text"] for name, r in read.items() if r["mode"] == "line"} == expected
    note = read["note.png"]
    truth = (EXAMPLES / "note.txt").read_text().splitlines()
    assert note["mode"] == "page" and len(note["lines"]) == len(truth)
    lines = [line["text"] for line in note["lines"]]  # in reading order: each line is nearest its own truth
    assert character_error_rate(lines, truth) < NOTE_CER, list(zip(lines, truth))


def test_python_read_loads_the_default_model_once():
    first = textrec.read(str(EXAMPLES / "hello.png"))
    from textrec.recognizer import _cached

    hits = _cached.cache_info().hits
    textrec.read(str(EXAMPLES / "hello.png"))
    assert _cached.cache_info().hits == hits + 1 and first.text == "Hello"


def test_bundled_onnx_copy_agrees_with_the_weights():
    """The ONNX file shipped beside the weights is what `read` runs by default: the same model with its
    convolutions in int8 (`textrec export --quantize`), so it agrees closely, not to the last digit."""
    import numpy as np

    from tests.helpers import render
    from textrec.decoding import softmax
    from textrec.recognizer import load_recognizer
    from textrec.runtime import OnnxRecognizer

    onnx_model, torch_model = load_recognizer(), load_recognizer(backend="torch")
    assert isinstance(onnx_model, OnnxRecognizer) and isinstance(torch_model, textrec.Recognizer)
    assert onnx_model.config["charset"] == torch_model.config["charset"]
    images = [render(word, seed=i)
              for i, word in enumerate(["Station", "TOTAL 12.50", "Hello world", "ab", "2026-11-21"])]
    images += [str(p) for p in sorted(EXAMPLES.glob("*.png"))]
    from textrec.preprocess import pad_batch, prepare

    arrays = [prepare(image, torch_model.preprocess) for image in images]
    batch, widths = pad_batch(arrays, torch_model.preprocess)
    assert onnx_model.config["quantized"]["convolutions"] == "int8"
    onnx_logits, _ = onnx_model.logits(batch, widths)
    torch_logits, _ = torch_model.logits(batch, widths)
    # frames where either reads a character (most frames are blank, and any two English models agree on those):
    # the same best class, and probabilities a hair apart (the bundled handwriting model: 93% and 0.06 here)
    letters = (onnx_logits.argmax(-1) != 0) | (torch_logits.argmax(-1) != 0)
    assert (onnx_logits.argmax(-1) == torch_logits.argmax(-1))[letters].mean() > 0.98
    onnx_probs, torch_probs = softmax(onnx_logits.astype(np.float64)), softmax(torch_logits.astype(np.float64))
    assert (abs(onnx_probs - torch_probs).sum(-1) / 2)[letters].mean() < 0.02
    assert [p.text for p in onnx_model.read(images)] == [p.text for p in torch_model.read(images)]


def test_backend_choice_is_checked(tmp_path):
    import pytest

    from textrec.errors import TextrecError
    from textrec.recognizer import resolve_backend

    assert resolve_backend(None)[1] == "onnx" and resolve_backend(None, "torch")[1] == "torch"
    with pytest.raises(TextrecError, match="unknown backend"):
        resolve_backend(None, "tpu")
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(TextrecError, match="has no model.onnx"):
        resolve_backend(tmp_path, "onnx")
    assert resolve_backend(tmp_path)[1] == "torch"  # a trained folder without an export runs on PyTorch
