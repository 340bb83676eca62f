"""The command line as a user meets it: real subprocesses, one-line errors, no tracebacks."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import render

TEXTREC = [sys.executable, "-m", "textrec.cli"]


def run(*args, **kw):
    return subprocess.run([*TEXTREC, *map(str, args)], capture_output=True, text=True, timeout=300, **kw)


def test_help_lists_commands():
    out = run("--help").stdout
    for command in ("read", "train", "test", "dataset"):
        assert command in out


def test_read_prints_text_and_json(trained_model, tmp_path):
    render("4072", seed=1).save(tmp_path / "a.png")
    render("918", seed=2).save(tmp_path / "b.png")
    single = run("read", tmp_path / "a.png", "--model", trained_model)
    assert single.returncode == 0 and single.stdout.split("\t")[0] == "4072"
    many = run("read", tmp_path, "--model", trained_model, "--json")
    rows = [json.loads(line) for line in many.stdout.splitlines()]
    assert [r["text"] for r in rows] == ["4072", "918"]
    assert all(0 <= r["confidence"] <= 1 and len(r["chars"]) == len(r["text"]) for r in rows)
    beam = run("read", tmp_path / "*.png", "--model", trained_model, "--decoder", "beam")
    assert beam.returncode == 0 and len(beam.stdout.splitlines()) == 2


@pytest.mark.parametrize("make, expected", [
    (lambda p: None, "image file not found"),
    (lambda p: p.write_bytes(b""), "empty"),
    (lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n garbage"), "corrupt image"),
])
def test_read_bad_image_is_one_clear_line(trained_model, tmp_path, make, expected):
    path = tmp_path / "bad.png"
    make(path)
    result = run("read", path, "--model", trained_model)
    assert result.returncode != 0 and expected in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_missing_model_and_config_are_clear(tmp_path):
    render("1").save(tmp_path / "a.png")
    result = run("read", tmp_path / "a.png", "--model", tmp_path / "none")
    assert result.returncode == 2 and "model not found" in result.stderr and "Traceback" not in result.stderr
    result = run("train", "--config", tmp_path / "none.yaml")
    assert result.returncode == 2 and "config file not found" in result.stderr


def test_train_with_unknown_character_names_file_line_char(tmp_path):
    (tmp_path / "images").mkdir()
    render("12").save(tmp_path / "images" / "a.png")
    (tmp_path / "labels.tsv").write_text("images/a.png\t12\nimages/a.png\t1z\n")
    config = tmp_path / "c.yaml"
    config.write_text(f"model: {{charset: digits}}\ndata: {{train: [{tmp_path / 'labels.tsv'}]}}\n")
    result = run("train", "--config", config, "--set", f"out_dir={tmp_path}")
    assert result.returncode == 2 and "labels.tsv:2" in result.stderr and "'z'" in result.stderr
    assert "Traceback" not in result.stderr


def test_test_command_and_dataset_to_lmdb(trained_model, digits_data, tmp_path):
    result = run("test", "--model", trained_model, "--data", digits_data["val"], "--report", tmp_path / "r")
    assert result.returncode == 0 and "accuracy" in result.stdout
    assert json.loads((tmp_path / "r" / "report.json").read_text())["metrics"]["samples"] == 100
    (digits_data["val"].parent / "images" / "00003.png").rename(tmp_path / "moved.png")  # one image goes missing
    try:
        converted = run("dataset", digits_data["val"], "--out", tmp_path / "val.lmdb")
    finally:
        (tmp_path / "moved.png").rename(digits_data["val"].parent / "images" / "00003.png")
    assert converted.returncode == 0 and "wrote 99 samples" in converted.stdout and "skipped 1" in converted.stdout
    again = run("test", "--model", trained_model, "--data", tmp_path / "val.lmdb")
    assert again.returncode == 0 and "samples 99" in again.stdout


def test_bad_annotation_line_and_unknown_config_key(trained_model, tmp_path):
    (tmp_path / "labels.tsv").write_text("a.png\t12\nno-label-here\n")
    result = run("test", "--model", trained_model, "--data", tmp_path / "labels.tsv")
    assert result.returncode == 2 and "labels.tsv:2: expected" in result.stderr and "Traceback" not in result.stderr
    config = tmp_path / "c.yaml"
    config.write_text("train: {learning_rate: 0.1}\n")
    result = run("train", "--config", config)
    assert result.returncode == 2 and "unknown key(s) in config section 'train': learning_rate" in result.stderr


def test_synth_writes_lmdb_folder_and_preview(tmp_path):
    result = run("synth", "--n", "40", "--out", tmp_path / "s.lmdb", "--seed", "2", "--workers", "2")
    assert result.returncode == 0 and "wrote 40 samples" in result.stdout
    from textrec.data.sources import open_source

    source = open_source(str(tmp_path / "s.lmdb"))
    assert len(source) == 40 and source.load(0).height == 32
    from textrec.synth.render import Renderer

    assert source.labels[:5] == [Renderer().sample(2, i)[1] for i in range(5)]  # same seed, same labels
    folder = run("synth", "--n", "5", "--out", tmp_path / "dir", "--workers", "1")
    assert folder.returncode == 0 and len((tmp_path / "dir" / "labels.tsv").read_text().splitlines()) == 5
    preview = run("synth", "--preview", tmp_path / "grid.png")
    assert preview.returncode == 0 and (tmp_path / "grid.png").stat().st_size > 10000
    bad = run("synth", "--n", "5")
    assert bad.returncode == 2 and "--out" in bad.stderr


def test_dataset_pages_keeps_only_those_icdar_pages(tmp_path):
    from PIL import Image

    (tmp_path / "icdar" / "pages").mkdir(parents=True), (tmp_path / "icdar" / "boxes").mkdir()
    for number, text in enumerate(["111", "222", "333"]):
        page = Image.new("L", (200, 80), 255)
        page.paste(render(text), (20, 20))
        page.save(tmp_path / "icdar" / "pages" / f"{number:03d}.png")
        w = render(text).width
        (tmp_path / "icdar" / "boxes" / f"{number:03d}.csv").write_text(f"20,20,{20 + w},20,{20 + w},52,20,52,{text}\n")
    result = run("dataset", tmp_path / "icdar", "--pages", "1-2", "--out", tmp_path / "p.lmdb")
    assert result.returncode == 0 and "wrote 2 samples" in result.stdout
    from textrec.data.lmdb_store import LmdbSource

    assert LmdbSource(tmp_path / "p.lmdb").labels == ["222", "333"]
    bad = run("dataset", tmp_path / "icdar", "--pages", "two", "--out", tmp_path / "q.lmdb")
    assert bad.returncode == 2 and "--pages must be FIRST-LAST" in bad.stderr and "Traceback" not in bad.stderr


def test_test_command_evaluates_onnx_and_torch_backends_alike(tmp_path):
    """`textrec test` reads through any backend (issue 20): the bundled model's ONNX copy and its PyTorch
    weights score the same on the example crops."""
    from pathlib import Path

    examples = Path(__file__).resolve().parents[1] / "examples"
    labels = tmp_path / "labels.tsv"
    labels.write_text("".join(f"{examples / name}\t{text}\n" for name, text in [
        ("hello.png", "Hello"), ("station.png", "Station"), ("receipt-total.png", "TOTAL 12.50")]))
    lines = {}
    for backend in ("onnx", "torch"):
        result = subprocess.run([sys.executable, "-m", "textrec.cli", "test", "--data", str(labels),
                                 "--backend", backend, "--report", str(tmp_path / backend)],
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-2000:]
        report = json.loads((tmp_path / backend / "report.json").read_text())
        assert report["backend"] == {"onnx": "OnnxRecognizer", "torch": "Recognizer"}[backend]
        lines[backend] = result.stdout.split("(")[0]  # without the timing
    assert lines["onnx"] == lines["torch"] and "samples 3  accuracy 1.0000" in lines["onnx"]


def test_a_bundled_model_is_named_and_a_misspelt_name_lists_them(tmp_path):
    from textrec.recognizer import bundled_models, model_path

    assert "default" in bundled_models() and model_path("default").name == "default"
    result = run("read", "examples/hello.png", "--model", "defualt", cwd=Path(__file__).resolve().parents[1])
    assert result.returncode != 0 and "no model 'defualt'" in result.stderr and "default" in result.stderr
    (tmp_path / "default").mkdir()  # a folder of that name where the user is wins over the bundled one
    assert model_path(tmp_path / "default") == tmp_path / "default"
