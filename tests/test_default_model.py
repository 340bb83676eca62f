"""The bundled default English model: present, small, loaded lazily once, and right on our example images."""
from pathlib import Path

from typer.testing import CliRunner

import textrec
from textrec.cli import app
from textrec.recognizer import default_model_path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_default_model_ships_with_the_package_and_is_small():
    path = default_model_path()
    assert (path / "weights.safetensors").stat().st_size <= 20 * 1024 * 1024
    assert " " in textrec.Recognizer().charset.chars and "A" in textrec.Recognizer().charset.chars


def test_read_without_model_reads_the_shipped_examples():
    expected = dict(line.split("\t") for line in (EXAMPLES / "labels.tsv").read_text().splitlines())
    result = CliRunner().invoke(app, ["read", str(EXAMPLES)])
    assert result.exit_code == 0, result.output
    read = {Path(line.split("\t")[0]).name: line.split("\t")[1] for line in result.output.splitlines()}
    assert read == expected


def test_python_read_loads_the_default_model_once():
    first = textrec.read(str(EXAMPLES / "hello.png"))
    from textrec.recognizer import _cached

    hits = _cached.cache_info().hits
    textrec.read(str(EXAMPLES / "hello.png"))
    assert _cached.cache_info().hits == hits + 1 and first.text == "Hello"
