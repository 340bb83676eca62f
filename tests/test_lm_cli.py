"""`textrec lm build` and `textrec lm attach` (issue 22: one way to train anything): the command builds the
character language model and puts it into a model folder that then decodes with it; the old
`python -m textrec.training.language_model` runs the same command."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import Result
from typer.testing import CliRunner

from textrec.cli import app
from textrec.language import CharLM

SMALL = ["--words", "400", "--order", "3"]  # a few hundred words: built in well under a second


def lm(*args) -> Result:
    return CliRunner().invoke(app, ["lm", *map(str, args)])


@pytest.fixture
def model(tmp_path) -> Path:
    """A copy of the bundled model folder, without its ONNX copy (whose config is its own) or language model."""
    from textrec.recognizer import default_model_path

    folder = tmp_path / "model"
    shutil.copytree(default_model_path(), folder, ignore=shutil.ignore_patterns("model.onnx", "lm.npz"))
    config = json.loads((folder / "config.json").read_text())
    config.pop("language_model", None)
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def test_build_out_writes_a_language_model_of_english(tmp_path):
    result = lm("build", "--out", tmp_path / "sub" / "en.npz", *SMALL)
    assert result.exit_code == 0, result.output
    built = CharLM.load(tmp_path / "sub" / "en.npz")
    assert built.order == 3 and f"{len(built.rows)} contexts" in result.output
    assert built.word_logprob("the") > built.word_logprob("qzx")


def test_build_attach_puts_it_into_the_model_and_the_model_decodes_with_it(model):
    from textrec.recognizer import Recognizer

    result = lm("build", "--attach", model, "--weight", "0.3", "--bonus", "0.7", "--word-bonus", "1.5", *SMALL)
    assert result.exit_code == 0, result.output
    spec = json.loads((model / "config.json").read_text())["language_model"]
    assert spec == {"file": "lm.npz", "weight": 0.3, "bonus": 0.7, "word_bonus": 1.5,
                    "built": {"words": 400, "order": 3, "power": 0.5, "min_count": 2.0}}
    recognizer = Recognizer(model)  # --decoder auto picks the language model the config names
    assert recognizer.decoder == "lm" and recognizer.lm.order == 3
    assert (recognizer.fusion.weight, recognizer.fusion.bonus, recognizer.fusion.word_bonus) == (0.3, 0.7, 1.5)
    assert "the" in recognizer.lm.words and len(recognizer.lm.words) > 300  # the words it was counted from


def test_attach_copies_a_built_file_and_reweighs_without_rebuilding(model, tmp_path):
    assert lm("build", "--out", tmp_path / "en.npz", *SMALL).exit_code == 0
    result = lm("attach", model, "--lm", tmp_path / "en.npz", "--weight", "0.2")
    assert result.exit_code == 0, result.output
    assert (model / "lm.npz").read_bytes() == (tmp_path / "en.npz").read_bytes()
    config = json.loads((model / "config.json").read_text())
    assert config["language_model"] == {"file": "lm.npz", "weight": 0.2, "bonus": 0.5, "word_bonus": 1.0}

    assert lm("build", "--attach", model, *SMALL).exit_code == 0
    assert lm("attach", model, "--weight", "0.9").exit_code == 0  # the folder's own file, new weight
    spec = json.loads((model / "config.json").read_text())["language_model"]
    assert spec["weight"] == 0.9 and spec["built"]["order"] == 3  # its build settings still describe it


@pytest.mark.parametrize("args, message", [
    (["build", *SMALL], "give one of --attach MODEL or --out FILE.npz"),
    (["build", "--out", "a.npz", "--attach", ".", *SMALL], "give one of"),
    (["build", "--out", "en.lm", *SMALL], "must end in .npz"),
    (["build", "--attach", "not-a-model", *SMALL], "not a model folder"),
    (["attach", "not-a-model"], "not a model folder"),
])
def test_wrong_use_is_one_line_and_exit_2(tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    result = lm(*args)
    assert result.exit_code == 2 and message in result.stderr and len(result.stderr.splitlines()) == 1
    assert not list(tmp_path.iterdir())  # nothing written


def test_attach_refuses_a_file_that_is_not_a_language_model(model):
    config = (model / "config.json").read_text()
    result = lm("attach", model, "--lm", model / "config.json")
    assert result.exit_code == 2 and "cannot read language model" in result.stderr
    assert (model / "config.json").read_text() == config and not (model / "lm.npz").exists()


def _run(code: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=cwd)


def test_build_without_the_train_extra_says_which_extra(tmp_path):
    code = ("import sys; sys.modules['wordfreq'] = None; from textrec.cli import main; "  # as if not installed
            "sys.argv = ['textrec', 'lm', 'build', '--out', 'en.npz']; main()")
    result = _run(code, tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == ("error: textrec lm build needs wordfreq, which is not installed: "
                                     "pip install 'textrec[train]'")


def test_the_old_module_command_runs_the_same_build(tmp_path):
    result = subprocess.run([sys.executable, "-m", "textrec.training.language_model", "--out", "en.npz", *SMALL],
                            capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert CharLM.load(tmp_path / "en.npz").order == 3
    assert lm("build", "--out", tmp_path / "again.npz", *SMALL).exit_code == 0
    with np.load(tmp_path / "en.npz") as old, np.load(tmp_path / "again.npz") as new:  # zip dates differ
        assert all(np.array_equal(old[key], new[key]) for key in ("contexts", "logprobs", "order"))
