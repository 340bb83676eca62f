"""Configs that compose (issue 22): a stage file extends the one before and holds only what differs, and
resolves to exactly the settings it had when it was written out in full (snapshots taken before the change)."""
import json
import re
from pathlib import Path

import pytest

from textrec.errors import TextrecError
from textrec.training.config import as_dict, load_config

ROOT = Path(__file__).resolve().parents[1]
SNAPSHOTS = ROOT / "tests" / "data" / "resolved-configs"


@pytest.mark.parametrize("name", ["default-en-stage2", "default-en-stage3", "default-en-stage4",
                                  "default-en-stage4-hand"])
def test_stage_configs_resolve_to_their_full_settings(name):
    resolved = json.dumps(as_dict(load_config(ROOT / "configs" / f"{name}.yaml")), indent=1, sort_keys=True)
    # config paths are resolved (links followed): ../shared may be a link to elsewhere
    for real, alias in ((ROOT.resolve(), "<repo>"), ((ROOT.parent / "shared").resolve(), "<parent>/shared"),
                        (ROOT.parent.resolve(), "<parent>")):
        resolved = resolved.replace(str(real), alias)
    assert json.loads(resolved) == json.loads((SNAPSHOTS / f"{name}.json").read_text())
    assert "extends" in (ROOT / "configs" / f"{name}.yaml").read_text()


def test_extends_overrides_keys_replaces_lists_and_resolves_paths_per_file(tmp_path):
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "base.yaml").write_text(
        "name: base\nmodel: {init_from: weights}\ndata:\n  train: [a.tsv, b.tsv]\n  batch_size: 8\n"
        "train: {lr: 0.1, max_epochs: 3}\n")
    (tmp_path / "child.yaml").write_text("extends: base/base.yaml\nname: child\ndata: {train: [c.tsv]}\n"
                                         "train: {lr: 0.01}\n")
    config = load_config(tmp_path / "child.yaml")
    assert config.name == "child" and config.train.lr == 0.01 and config.train.max_epochs == 3
    assert [spec["path"] for spec in config.data.train] == [str(tmp_path / "c.tsv")]
    assert config.data.batch_size == 8
    assert config.model.init_from == str((tmp_path / "base" / "weights").resolve())


def test_extends_errors_name_the_file(tmp_path):
    (tmp_path / "a.yaml").write_text("extends: b.yaml\n")
    (tmp_path / "b.yaml").write_text("extends: a.yaml\n")
    with pytest.raises(TextrecError, match="extends itself"):
        load_config(tmp_path / "a.yaml")
    (tmp_path / "c.yaml").write_text("extends: missing.yaml\n")
    with pytest.raises(TextrecError, match="missing.yaml.*extended by"):
        load_config(tmp_path / "c.yaml")


def test_one_source_set_from_the_command_line_is_a_list_of_one(tmp_path):
    config = load_config(ROOT / "configs" / "captcha-6char.yaml",
                         ["data.train=/tmp/x/labels.tsv", "data.val={path: /tmp/y, split: test}"])
    assert config.data.train == ["/tmp/x/labels.tsv"]
    assert config.data.val == [{"path": "/tmp/y", "split": "test"}]


def test_configs_that_need_the_shared_data_say_so_and_a_missing_folder_is_explained(tmp_path):
    from textrec.data.sources import open_source

    for path in sorted((ROOT / "configs").glob("*.yaml")):
        needs = "shared/data" in path.read_text() or "shared/data" in json.dumps(
            as_dict(load_config(path)) if "\ntask:" not in path.read_text() else {})
        header = "".join(line for line in path.read_text().splitlines(keepends=True) if line.startswith("#"))
        if needs:
            assert "shared" in header, f"{path.name} trains on ../shared/data but its header does not say so"
    with pytest.raises(TextrecError, match="shared datasets.*data.train"):
        open_source(str(tmp_path / "nowhere" / "shared" / "data" / "iiit5k" / "train.tsv"))


def test_detector_configs_load_with_the_same_checks_and_a_bad_key_names_its_file(tmp_path):
    """`task: detect` configs get the detector's defaults, `extends`, path resolution and the key checks, and a
    bad key is named with the file that has it (issue 22: one way to train anything)."""

    from typer.testing import CliRunner

    from textrec.cli import app
    from textrec.training.config import DETECT_DEFAULTS

    config = load_config(ROOT / "configs" / "detector-en.yaml", ["train.max_steps=5"])
    assert config.task == "detect" and config.train.max_steps == 5
    assert config.data.crops_per_page == DETECT_DEFAULTS["data"]["crops_per_page"]
    assert config.data.pages[0]["pages"] == str((ROOT.parent / "shared/data/sroie/pages").resolve())
    (tmp_path / "base.yaml").write_text("task: detect\ndata: {pages: [{pages: scans}], crop: 128}\n")
    (tmp_path / "child.yaml").write_text("extends: base.yaml\ntrain: {max_steps: 9}\n")
    child = load_config(tmp_path / "child.yaml")
    assert child.task == "detect" and child.data.crop == 128 and child.train.max_steps == 9
    assert child.data.pages == [{"pages": str(tmp_path / "scans")}]

    (tmp_path / "bad.yaml").write_text("extends: base.yaml\ndata: {crops: 3}\n")
    with pytest.raises(TextrecError, match=re.escape(f"config {tmp_path / 'bad.yaml'}: unknown key(s) in config "
                                                     "section 'data': crops")):
        load_config(tmp_path / "bad.yaml")
    (tmp_path / "base.yaml").write_text("task: detect\ntrain: {max_epoch: 3}\n")  # the bad key in the base
    with pytest.raises(TextrecError, match=re.escape(f"config {tmp_path / 'base.yaml'}: unknown key(s)")):
        load_config(tmp_path / "child.yaml")
    (tmp_path / "mixed.yaml").write_text("task: detect\ndata: {train: [a.tsv]}\n")
    with pytest.raises(TextrecError, match=re.escape("'data': train (keys of task recognize; this config's task is")):
        load_config(tmp_path / "mixed.yaml")
    with pytest.raises(TextrecError, match="override 'train.crop=3': unknown key"):
        load_config(tmp_path / "mixed.yaml", ["task=recognize", "train.crop=3"])
    with pytest.raises(TextrecError, match="task must be recognize or detect, got 'detector'"):
        load_config(None, ["task=detector"])

    (tmp_path / "broken.yaml").write_text("task: detect\ndata: {crop: [1, 2}\n")  # `textrec train` reads it too
    for name, message in (("bad.yaml", "bad.yaml: unknown key(s) in config section 'data': crops"),
                          ("broken.yaml", "broken.yaml is not valid YAML")):
        result = CliRunner().invoke(app, ["train", "--config", str(tmp_path / name)])
        assert result.exit_code == 2 and message in result.output, result.output


def test_configs_are_typed_and_a_bad_value_is_named_with_its_key_type_and_file(tmp_path):
    """One validation pass: each value takes its field's type (numbers written 1e-3 are strings to YAML 1.1),
    and a wrong one is named with the key, what it must be, and the file or override that set it."""
    from textrec.training.config import DetectConfig, RecognizeConfig

    (tmp_path / "base.yaml").write_text("name: base\ntrain: {lr: 1e-3, max_epochs: 3}\ndata: {batch_size: 8}\n")
    (tmp_path / "child.yaml").write_text("extends: base.yaml\ndata: {epoch_size: 1e4}\n")
    config = load_config(tmp_path / "child.yaml")
    assert isinstance(config, RecognizeConfig) and config.train.lr == 0.001 and config.data.epoch_size == 10000
    assert isinstance(load_config(None, ["task=detect"]), DetectConfig)
    for text, message in (("train: {max_epochs: many}", "train.max_epochs must be a whole number, got 'many'"),
                          ("data: {batches: sorted}", "data.batches must be one of 'auto', 'bucketed', 'mixed'"),
                          ("train: {channels_last: 1}", "train.channels_last must be true or false"),
                          ("data: {train: a.tsv}", None),
                          ("train: {threads: 1.5}", "train.threads must be a whole number or null")):
        (tmp_path / "base.yaml").write_text(text + "\n")
        if message is None:  # one source written without a list is a list of one, as on the command line
            assert load_config(tmp_path / "child.yaml").data.train == [{"path": str(tmp_path / "a.tsv")}]
            continue
        with pytest.raises(TextrecError, match=re.escape(f"config {tmp_path / 'base.yaml'}: {message}")):
            load_config(tmp_path / "child.yaml")
    with pytest.raises(TextrecError, match=re.escape("override 'train.lr=fast': train.lr must be a number")):
        load_config(tmp_path / "child.yaml", ["train.lr=fast"])
    with pytest.raises(TextrecError, match="data.epoch_size must be"):
        load_config(tmp_path / "child.yaml", ["data.epoch_size=2.5"])
