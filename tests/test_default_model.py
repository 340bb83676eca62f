"""The bundled default English model: present, small, loaded lazily once, and right on our example images."""
from pathlib import Path

from typer.testing import CliRunner

import textrec
from textrec.cli import app
from textrec.recognizer import default_model_path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


NOTE_CER = 0.10  # the bundled reader on examples/note.png: 3.1% (14.7% before the handwritten-page rule), with margin


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
    from tests.helpers import bundled_onnx_agreement

    letters_agree, letters_apart, texts = bundled_onnx_agreement(None)
    # (the bundled handwriting model's ONNX file against these weights: 93% and 0.06)
    assert letters_agree > 0.95 and letters_apart < 0.02
    assert texts[0] == texts[1]


def test_bundled_onnx_files_carry_their_folders_config():
    """The torch-free runtime reads a model's rules (fallback, retry, language model, calibration) from the ONNX
    metadata: each bundled model.onnx must say what its config.json says (tools/sync_onnx_config.py)."""
    import json

    import onnxruntime

    from textrec.recognizer import MODELS_DIR, bundled_models

    for name in bundled_models():
        config = json.loads((MODELS_DIR / name / "config.json").read_text())
        session = onnxruntime.InferenceSession(str(MODELS_DIR / name / "model.onnx"),
                                               providers=["CPUExecutionProvider"])
        metadata = json.loads(session.get_modelmeta().custom_metadata_map["textrec_config"])
        assert {key: metadata.get(key) for key in config} == config, name


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


def test_bundled_readers_decode_with_the_word_list_and_bonus():
    """Both bundled models' default decoders add the bonus per known word (benchmarks/RESULTS.md, "Whole known
    words"): the LM file carries its word list and the config (what the runtime reads) a bonus."""
    from textrec.recognizer import bundled_models

    for name in bundled_models():
        reader = textrec.Recognizer(name)
        assert reader.decoder == "lm" and reader.fusion is not None, name
        assert reader.fusion.word_bonus == 1.0 and {"hello", "street", "receipt"} <= reader.lm.words, name
