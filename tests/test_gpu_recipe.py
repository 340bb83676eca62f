"""The GPU recipe (recipes/gpu.sh -> recipes/gpu/train.py) dry-run on this CPU at a tiny size, with the packages
that the GPU machine lacks made unimportable, so its first real run works."""
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.helpers import render, write_dataset
from textrec.model_io import load_model
from textrec.recognizer import Recognizer
from textrec.training.config import as_dict, load_config

ROOT = Path(__file__).resolve().parents[1]
# What our code imports that the GPU machine lacks. (It lacks matplotlib and tensorboard too, but torchmetrics
# decides from installed-package metadata whether to import matplotlib, which an import hook cannot hide; our
# own matplotlib use, the curves picture, is skipped with a note when it is missing.)
MISSING_ON_GPU_MACHINE = ("wordfreq", "lmdb", "rapidfuzz")

BLOCKER = f"""
import sys
class Missing:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {MISSING_ON_GPU_MACHINE!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}} (blocked: the GPU machine has none)", name=name)
sys.meta_path.insert(0, Missing())
"""


def tiny_pack(folder: Path) -> None:
    """What recipes/gpu/pack.py writes, from rendered digits instead of ../shared."""
    for name, seed in (("iiit5k-train", 1), ("iiit5k-val", 2), ("svt", 3), ("sroie-lines", 4)):
        write_dataset(folder / name, [str(1000 + 37 * i) for i in range(12)], seed=seed)
    (folder / "words.tsv").write_text("the\t5e-2\nof\t3e-2\nmarket\t1e-5\nopen\t1e-4\n")


SHIPPED_WIDTHS, TEACHER_WIDTHS = [32, 64, 128, 256], [64, 128, 256, 384]


@pytest.mark.parametrize("name, layers, widths", [
    ("default-en", 2, SHIPPED_WIDTHS), ("default-en-angled", 2, SHIPPED_WIDTHS), ("default-en-lwf", 2, SHIPPED_WIDTHS),
    ("lstm1-distill", 1, SHIPPED_WIDTHS),
    ("teacher-l", 2, TEACHER_WIDTHS), ("deeper", 2, SHIPPED_WIDTHS), ("handwriting", 2, SHIPPED_WIDTHS)])
def test_gpu_recipe_dry_run_without_the_packages_the_gpu_machine_lacks(tmp_path, name, layers, widths):
    pack = tmp_path / "pack"
    tiny_pack(pack)
    config = as_dict(load_config(ROOT / "configs" / "gpu" / f"{name}.yaml"))  # its `extends` resolved
    for spec in config["data"]["train"] + config["data"]["val"]:
        if spec.get("type") == "synth":
            spec["word_list"] = str(pack / "words.tsv")
        else:
            spec["path"] = str(pack / Path(spec["path"]).name)
    if config["model"].get("init_from"):  # the teacher starts from scratch; the others from shipped weights
        bundled = Path(config["model"]["init_from"]).name  # default or handwriting
        config["model"]["init_from"] = str(ROOT / "src" / "textrec" / "models" / bundled)
    (tmp_path / "gpu.yaml").write_text(yaml.safe_dump(config))
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(BLOCKER)
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONPATH=f"{blocker}{os.pathsep}{ROOT / 'src'}", PYTHONUNBUFFERED="1")
    result = subprocess.run([sys.executable, str(ROOT / "recipes" / "gpu" / "train.py"), "--dry-run", "--out", str(out),
                             "--config", str(tmp_path / "gpu.yaml")], env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "blocked" not in result.stderr and "without the moving average" not in result.stdout
    assert ("distilling from" in result.stdout) == (name in ("default-en-lwf", "lstm1-distill"))
    assert ("the first 1 of 2 recurrent layers" in result.stdout) == (name == "lstm1-distill")
    assert ("added convs start as identities" in result.stdout) == (name == "deeper")
    assert result.stdout.count("step 3  loss") == 1  # one progress line per step, not the runner's and the recipe's
    summary = json.loads((out / "summary.json").read_text())
    assert summary["step"] == 3 and summary["samples_per_s"] > 0 and "val_acc" in summary["best"]
    # no loader workers in the dry run: the batches are rendered between steps, so the wait is real but partial
    assert 0 < summary["data_wait"] < 1 and "data wait" in result.stdout
    network, saved = load_model(out / "model")
    assert saved["network"]["channels"] == widths and saved["network"]["rnn_layers"] == layers
    from safetensors import safe_open

    with safe_open(str(out / "model" / "weights.safetensors"), framework="pt") as handle:
        dtypes = {str(handle.get_tensor(k).dtype) for k in handle.keys()}
    assert "torch.float16" in dtypes and "torch.float32" not in dtypes
    reading = Recognizer(out / "model", decoder="greedy").read(render("2024")).text.strip()
    assert reading != "" or config["model"].get("init_from") is None  # three steps from scratch read nothing yet


def test_pack_travels_as_one_archive_that_unpacks_to_the_folder(tmp_path):
    spec = importlib.util.spec_from_file_location("pack", ROOT / "recipes" / "gpu" / "pack.py")
    pack = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pack)
    folder = tmp_path / "gpu-pack"
    tiny_pack(folder)
    packed = pack.archive(folder)
    assert packed == tmp_path / "gpu-pack.tgz"
    unpacked = tmp_path / "there"
    unpacked.mkdir()
    subprocess.run(["tar", "xzf", str(packed), "-C", str(unpacked)], check=True)  # as recipes/gpu.sh does
    files = sorted(p.relative_to(folder) for p in folder.rglob("*"))
    assert files and files == sorted(p.relative_to(unpacked / "gpu-pack") for p in (unpacked / "gpu-pack").rglob("*"))
    assert (unpacked / "gpu-pack" / "words.tsv").read_bytes() == (folder / "words.tsv").read_bytes()


def test_blocker_really_blocks(tmp_path):
    (tmp_path / "sitecustomize.py").write_text(BLOCKER)
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    result = subprocess.run([sys.executable, "-c", "import rapidfuzz"], env=env, capture_output=True, text=True)
    assert result.returncode != 0 and "blocked" in result.stderr


def test_recipe_trains_without_the_moving_average_on_a_lightning_that_lacks_it(monkeypatch, capsys):
    """The GPU configs ask for train.ema; an older Lightning there drops it with a line instead of failing the run."""
    import lightning.pytorch.callbacks

    spec = importlib.util.spec_from_file_location("gpu_train", ROOT / "recipes" / "gpu" / "train.py")
    recipe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(recipe)
    config = load_config(ROOT / "configs" / "gpu" / "default-en.yaml")
    assert config.train.ema == 0.999
    recipe.keep_ema_if_available(config)
    assert config.train.ema == 0.999 and capsys.readouterr().out == ""
    monkeypatch.delattr(lightning.pytorch.callbacks, "EMAWeightAveraging")
    recipe.keep_ema_if_available(config)
    assert config.train.ema == 0.0 and "training without the moving average" in capsys.readouterr().out
