"""Configs that compose (issue 22): a stage file extends the one before and holds only what differs, and
resolves to exactly the settings it had when it was written out in full (snapshots taken before the change)."""
import json
from pathlib import Path

import pytest

from textrec.errors import TextrecError
from textrec.training.config import load_config

ROOT = Path(__file__).resolve().parents[1]
SNAPSHOTS = ROOT / "tests" / "data" / "resolved-configs"


@pytest.mark.parametrize("name", ["default-en-stage2", "default-en-stage3", "default-en-stage4",
                                  "default-en-stage4-hand"])
def test_stage_configs_resolve_to_their_full_settings(name):
    resolved = json.dumps(load_config(ROOT / "configs" / f"{name}.yaml"), indent=1, sort_keys=True)
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
    assert config["name"] == "child" and config["train"]["lr"] == 0.01 and config["train"]["max_epochs"] == 3
    assert [spec["path"] for spec in config["data"]["train"]] == [str(tmp_path / "c.tsv")]
    assert config["data"]["batch_size"] == 8
    assert config["model"]["init_from"] == str((tmp_path / "base" / "weights").resolve())


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
    assert config["data"]["train"] == ["/tmp/x/labels.tsv"]
    assert config["data"]["val"] == [{"path": "/tmp/y", "split": "test"}]


def test_configs_that_need_the_shared_data_say_so_and_a_missing_folder_is_explained(tmp_path):
    from textrec.data.sources import open_source

    for path in sorted((ROOT / "configs").glob("*.yaml")):
        needs = "shared/data" in path.read_text() or "shared/data" in json.dumps(
            load_config(path) if "\ntask:" not in path.read_text() else {})
        header = "".join(line for line in path.read_text().splitlines(keepends=True) if line.startswith("#"))
        if needs:
            assert "shared" in header, f"{path.name} trains on ../shared/data but its header does not say so"
    with pytest.raises(TextrecError, match="shared datasets.*data.train"):
        open_source(str(tmp_path / "nowhere" / "shared" / "data" / "iiit5k" / "train.tsv"))
