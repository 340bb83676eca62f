"""Detector training (`task: detect`) through `textrec train` in subprocesses, as a user runs it: a run killed
with SIGKILL mid-run and resumed, and a real two-process DDP run on CPU (gloo). The config goes in as YAML and
`--set` overrides only, so these tests do not lean on the training code's internals."""
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from textrec.modelfile import CONFIG, ONNX_NAME, WEIGHTS

# trains models and kills and resumes processes: the slow tier (tests/conftest.py assigns tiers by file name;
# marked here as well so the file lands there without being listed)

TINY = {"name": "unet", "channels": [8, 12, 16, 24]}
ENV = {k: v for k, v in os.environ.items() if k != "TEXTREC_RUN_DIR"}  # a run inside a run would reuse its folder


@pytest.fixture(scope="module")
def pages(tmp_path_factory) -> Path:
    """Five rendered pages with ICDAR box files: 0-1 to train on, 2-4 held out."""
    from textrec.synth.pages import PageRenderer

    root = tmp_path_factory.mktemp("detector-pages")
    (root / "pages").mkdir()
    (root / "boxes").mkdir()
    renderer = PageRenderer(seed=3)
    for i in range(5):
        page, lines = renderer.sample(i)
        page.save(root / "pages" / f"{i:03d}.png")
        (root / "boxes" / f"{i:03d}.csv").write_text(
            "".join(",".join(str(round(v)) for v in line.quad) + f",{line.text}\n" for line in lines))
    return root


def _config(folder: Path, pages: Path, name: str, val: str, network: dict, train: dict, target_pixels: int) -> Path:
    config = {"task": "detect", "name": name,
              "model": {"network": network, "input": {"target_pixels": target_pixels}},
              "data": {"synthetic": 0.5, "crop": 96, "crops_per_page": 2, "batch_size": 4, "num_workers": 0,
                       "pages": [{"pages": str(pages / "pages"), "boxes": str(pages / "boxes"), "range": "0-1"}],
                       "val": [{"pages": str(pages / "pages"), "boxes": str(pages / "boxes"), "range": val}]},
              "train": {"logger": "csv", "threads": 1, **train}}
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(json.dumps(config, indent=2))  # JSON is YAML
    return path


def _command(config: Path, *overrides: str, resume: bool = False) -> list[str]:
    return [sys.executable, "-m", "textrec.cli", "train", "--config", str(config),
            *(a for o in overrides for a in ("--set", o)), *(["--resume"] if resume else [])]


def _state(folder: Path, name: str = "last.ckpt") -> dict:
    return torch.load(folder / "checkpoints" / name, map_location="cpu", weights_only=False)


def _steps(history: list) -> list[int]:
    return [step for step, _ in history]


def _network(model: Path) -> torch.nn.Module:
    from safetensors.torch import load_file

    from textrec.networks.detector import build_detector

    network = build_detector(json.loads((model / CONFIG).read_text())["network"])
    network.load_state_dict(load_file(str(model / WEIGHTS)))
    return network.eval()


def _assert_complete_model(model: Path, page: Path) -> None:
    """The three files are there, each whole, and all three from one export: the ONNX graph computes what the
    safetensors weights do, and carries the same config as config.json."""
    from textrec.pages.detect import DETECTOR_FORMAT, LineDetector, page_input
    from textrec.preprocess import load_image

    assert sorted(p.name for p in model.iterdir()) == sorted([WEIGHTS, CONFIG, ONNX_NAME])
    config = json.loads((model / CONFIG).read_text())
    detector = LineDetector(model)
    assert detector.config == config and config["format"] == DETECTOR_FORMAT
    array, _, _ = page_input(load_image(page), detector.input)
    with torch.no_grad():
        expected = torch.sigmoid(_network(model)(torch.from_numpy(array)[None, None]))[0, 0].numpy()
    np.testing.assert_allclose(detector.probability(array), expected, atol=1e-4)
    detector.detect(load_image(page))


def _leftovers(folder: Path) -> list[str]:
    """Temporary files of an interrupted atomic write (`.NAME.PID.tmp`)."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob(".*.tmp"))


MAX_STEPS, VAL_EVERY = 12, 6


def test_sigkill_mid_run_then_resume_carries_on_to_max_steps(pages, tmp_path):
    """kill -9 a detector run between two validations, just after a step's checkpoint; `--resume` picks up at
    that step (the step count, the optimizer and schedule, the validation history and the best score carry
    on: nothing is redone from step 0) and ends at max_steps with a whole model folder and no torn file.
    Not compared with an uninterrupted run: by design a resumed detector run draws new crops (PageCrops seeds
    its stream from the random state the checkpoint restores), so the two runs train on different data."""
    config = _config(tmp_path, pages, "det", "2-2", TINY,
                     {"max_steps": MAX_STEPS, "val_every": VAL_EVERY, "checkpoint_every": 1}, 60_000)
    out = f"out_dir={tmp_path / 'runs'}"
    folder = tmp_path / "runs" / "det"
    with open(tmp_path / "killed.log", "w") as log:
        run = subprocess.Popen(_command(config, out), stdout=log, stderr=subprocess.STDOUT, env=ENV)
        deadline, seen = time.time() + 240, None
        while time.time() < deadline and run.poll() is None:  # a checkpoint after the first validation, mid-epoch
            if (folder / "checkpoints" / "last.ckpt").is_file():
                seen = _state(folder)["global_step"]
                # steps 7-9, well before the epoch's last step: the checkpoint written at that step comes before
                # the epoch's validation, and a resume from it does not run that validation (another case)
                if VAL_EVERY < seen <= VAL_EVERY + 3:
                    os.kill(run.pid, signal.SIGKILL)
                    break
            time.sleep(0.02)
        else:
            run.kill()
            run.wait(60)
            pytest.fail(f"no mid-epoch checkpoint seen (last step {seen}); exit {run.returncode}: "
                        f"{(tmp_path / 'killed.log').read_text()[-3000:]}")
        assert run.wait(60) == -signal.SIGKILL
    killed = _state(folder)  # what the resume starts from (a step or so past `seen`, if one was written meanwhile)
    at = killed["global_step"]
    assert VAL_EVERY < at < MAX_STEPS and at % VAL_EVERY, at
    assert _steps(killed["textrec_history"]["val/f1"]) == [s for s in range(VAL_EVERY, at + 1, VAL_EVERY)]
    assert (folder / "model").is_dir()  # exported at the first validation, before the kill

    resume = subprocess.run(_command(config, out, resume=True), capture_output=True, text=True, timeout=300, env=ENV)
    assert resume.returncode == 0, resume.stdout[-2000:] + resume.stderr[-3000:]
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["det"]  # the same folder, not det-2
    final = _state(folder)
    assert final["global_step"] == MAX_STEPS
    # the resumed invocation validated only after the kill: a restart from 0 would redo the earlier validations
    validated = [int(line.split()[1].rstrip(":")) for line in resume.stdout.splitlines()
                 if line.startswith("step ") and ": detection P" in line]
    assert validated == [s for s in range(VAL_EVERY, MAX_STEPS + 1, VAL_EVERY) if s > at], resume.stdout[-2000:]
    for key, points in killed["textrec_history"].items():  # the curves carry on: the killed run's points as they were
        assert final["textrec_history"][key][: len(points)] == points, key
    assert _steps(final["textrec_history"]["val/f1"]) == list(range(VAL_EVERY, MAX_STEPS + 1, VAL_EVERY))
    # the optimizer and learning-rate schedule came back from the checkpoint, not fresh: AdamW counted every step
    adam = final["optimizer_states"][0]["state"]
    assert {int(s["step"]) for s in adam.values()} == {MAX_STEPS}
    assert final["lr_schedulers"][0]["last_epoch"] == MAX_STEPS
    best = next(v for k, v in final["callbacks"].items() if k.startswith("ExportBestModel"))["best"]
    assert best == max(f1 for _, f1 in final["textrec_history"]["val/f1"])

    _assert_complete_model(folder / "model", pages / "pages" / "002.png")
    model_config = json.loads((folder / "model" / CONFIG).read_text())
    assert model_config["training"]["step"] in range(VAL_EVERY, MAX_STEPS + 1, VAL_EVERY)
    assert _state(folder, "best.ckpt")["global_step"] in range(VAL_EVERY, MAX_STEPS + 1, VAL_EVERY)
    assert _leftovers(folder) == []


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _line_counts(network: torch.nn.Module, pages: Path, numbers: list[int], target_pixels: int) -> list[int]:
    """(matched lines, true lines, predicted lines) over the given held-out pages, scored as validation does:
    the page at the runtime's scale, its kernel map to boxes, boxes matched to the truth at IoU 0.5."""
    from textrec.data.sources import read_quads
    from textrec.pages.detect import DetectorInput, page_input, sigmoid
    from textrec.pages.evaluate import match
    from textrec.pages.kernels import boxes_from_map
    from textrec.preprocess import load_image

    detector_input, totals = DetectorInput(target_pixels=target_pixels), [0, 0, 0]
    for number in numbers:
        array, sx, sy = page_input(load_image(pages / "pages" / f"{number:03d}.png"), detector_input)
        truth = [tuple(v * (sx if i % 2 == 0 else sy) for i, v in enumerate(quad))
                 for quad, _ in read_quads(pages / "boxes" / f"{number:03d}.csv")]
        with torch.no_grad():
            logits = network(torch.from_numpy(array)[None, None]).float()
        predicted = [box.quad() for box, _ in boxes_from_map(sigmoid(logits[0, 0].numpy()), detector_input.stride)]
        found = (len(match(truth, predicted)), len(truth), len(predicted))
        totals = [a + b for a, b in zip(totals, found)]
    return totals


def _scores(hits: int, truth: int, predicted: int) -> dict[str, float]:
    precision, recall = hits / max(1, predicted), hits / max(1, truth)
    return {"val_precision": precision, "val_recall": recall,
            "val_f1": 2 * precision * recall / max(1e-9, precision + recall)}


def test_two_process_ddp_run_trains_the_detector_and_sums_validation_over_ranks(pages, tmp_path):
    """`train.strategy=ddp, devices=2` on CPU: two real processes (gloo) train one detector. It finishes, rank 0
    alone writes the run folder and a whole model; the learning rate was scaled for a world of 2 (which only a
    2-process trainer does); and the held-out pages, shared out between the ranks (0 and 2 on rank 0, 1 on rank
    1), are scored once each and the counts summed: the F1 written with the model is that of all three pages,
    not of rank 0's share. The run starts from the bundled detector (few steps at a small learning rate) so that
    it finds lines and the scores say something."""
    from textrec.pages.detect import DEFAULT_DETECTOR

    network = json.loads((DEFAULT_DETECTOR / CONFIG).read_text())["network"]
    lr, target_pixels = 1e-5, 250_000  # the bundled detector finds most lines at this scale, fast
    config = _config(tmp_path, pages, "ddp", "2-4", network,
                     {"max_steps": 4, "val_every": 2, "checkpoint_every": 0, "lr": lr, "warmup": 0.0,
                      "accelerator": "cpu", "devices": 2, "strategy": "ddp"}, target_pixels)
    env = dict(ENV, MASTER_PORT=str(_free_port()))
    result = subprocess.run(_command(config, f"out_dir={tmp_path / 'runs'}", f"model.init_from={DEFAULT_DETECTOR}"),
                            capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["ddp"]  # one run folder, by rank 0
    folder = tmp_path / "runs" / "ddp"
    state = _state(folder)
    assert state["global_step"] == 4
    assert state["hyper_parameters"]["lr"] == pytest.approx(2 * lr)  # train.lr_scaling linear, world size 2
    assert _steps(state["textrec_history"]["val/f1"]) == [2, 4]
    assert result.stdout.count(": detection P") == 2  # printed by rank 0 only
    assert "MEMBER: 2/2" in result.stderr  # Lightning's "Initializing distributed: GLOBAL_RANK: 1, MEMBER: 2/2"
    _assert_complete_model(folder / "model", pages / "pages" / "002.png")

    trained = json.loads((folder / "model" / CONFIG).read_text())["training"]
    network = _network(folder / "model")
    everything = _scores(*_line_counts(network, pages, [2, 3, 4], target_pixels))
    rank0_only = _scores(*_line_counts(network, pages, [2, 4], target_pixels))
    assert everything["val_f1"] > 0.2, everything  # the scores mean something...
    assert rank0_only != everything  # ...and rank 0's share alone would score differently
    for key, value in everything.items():
        assert trained[key] == pytest.approx(value, abs=1e-6), (key, trained, everything, rank0_only)
    assert dict(state["textrec_history"]["val/f1"])[trained["step"]] == pytest.approx(everything["val_f1"], abs=1e-6)
