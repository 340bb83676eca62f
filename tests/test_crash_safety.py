"""Crash safety: kill -9 and resume, atomic checkpoints, NaN losses, data that vanishes mid-run."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import lightning as L
import pytest
import torch

from tests.helpers import TINY_NETWORK, random_digits, write_dataset
from textrec.errors import TextrecError
from textrec.training.checkpoints import AtomicCheckpointIO
from textrec.training.config import load_config
from textrec.training.run import train

STEPS_PER_EPOCH, EPOCHS = 600 // 16, 4


def _overrides(digits_data, out: Path) -> list[str]:
    return [f"out_dir={out}", "name=crash", "model.charset=digits", f"model.network={TINY_NETWORK}",
            f"data.train=[{{path: {digits_data['train']}}}]", f"data.val=[{{path: {digits_data['val']}}}]",
            "data.batch_size=16", "data.num_workers=1", "data.cache=true", f"train.max_epochs={EPOCHS}",
            "train.lr=0.003", "train.checkpoint_every=5", "train.logger=csv", "train.samples_to_print=0",
            "train.threads=1"]


def _command(overrides: list[str], resume: bool = False) -> list[str]:
    config = Path(overrides[0].split("=", 1)[1]).parent / "crash.yaml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text("name: crash\n")
    return [sys.executable, "-m", "textrec.cli", "train", "--config", str(config),
            *(a for o in overrides for a in ("--set", o)), *(["--resume"] if resume else [])]


ENV = {k: v for k, v in os.environ.items() if k != "TEXTREC_RUN_DIR"}


def _state(folder: Path) -> dict:
    return torch.load(folder / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)


def test_sigkill_mid_epoch_then_resume_matches_an_uninterrupted_run(digits_data, tmp_path):
    overrides = _overrides(digits_data, tmp_path / "killed")
    run = subprocess.Popen(_command(overrides), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=ENV)
    folder = tmp_path / "killed" / "crash"
    deadline = time.time() + 300
    killed_at = None
    while time.time() < deadline and run.poll() is None:  # wait for a checkpoint in the middle of epoch 2
        if (folder / "checkpoints" / "last.ckpt").is_file():
            step = _state(folder)["global_step"]
            if step > STEPS_PER_EPOCH + 5 and step % STEPS_PER_EPOCH:
                run.send_signal(signal.SIGKILL)
                killed_at = step
                break
        time.sleep(0.1)
    run.wait(60)
    assert killed_at is not None, f"no mid-epoch checkpoint seen; exit {run.returncode}: {run.stderr.read()[-2000:]}"
    resume = subprocess.run(_command(overrides, resume=True), capture_output=True, text=True, timeout=600, env=ENV)
    assert resume.returncode == 0, resume.stderr[-3000:]
    straight = subprocess.run(_command(_overrides(digits_data, tmp_path / "straight")), capture_output=True,
                              text=True, timeout=600, env=ENV)
    assert straight.returncode == 0, straight.stderr[-3000:]
    after_kill, uninterrupted = _state(folder), _state(tmp_path / "straight" / "crash")
    assert after_kill["global_step"] == uninterrupted["global_step"] == EPOCHS * STEPS_PER_EPOCH
    cer_resumed = after_kill["textrec_history"]["val/cer"][-1][1]
    cer_straight = uninterrupted["textrec_history"]["val/cer"][-1][1]
    assert len(after_kill["textrec_history"]["val/cer"]) == EPOCHS
    assert abs(cer_resumed - cer_straight) < 0.05, (cer_resumed, cer_straight)


class Crash(L.Callback):
    """Dies like a killed process would, just after the checkpoint of step `at` (no end-of-run bookkeeping)."""

    def __init__(self, at: int):
        self.at = at

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        if trainer.global_step == self.at:
            raise RuntimeError("simulated crash")


def test_resumed_epoch_continues_with_the_samples_not_yet_seen(digits_data, tmp_path):
    """Data position: a run that dies after 18 batches of epoch 2 resumes with batch 19 of that epoch's order,
    the same samples an uninterrupted run sees there (not the epoch's first batches again)."""
    from scripts.ddp_train import Record

    base = _overrides(digits_data, tmp_path)[1:] + [f"out_dir={tmp_path}", "train.max_epochs=2",
                                                    "data.num_workers=0", "train.logger=none"]
    straight = Record(tmp_path)
    train(load_config(None, base + ["name=straight"]), callbacks=[straight])
    stop = 55  # in epoch 2 (37 batches each), a multiple of checkpoint_every
    first = Record(tmp_path)
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(load_config(None, base + ["name=stopped"]), callbacks=[first, Crash(stop)])
    assert _state(tmp_path / "stopped")["global_step"] == stop
    second = Record(tmp_path)
    train(load_config(None, base + ["name=stopped"]), resume=True, callbacks=[second])
    assert first.names[: stop * 16] + second.names == straight.names


def test_checkpoint_write_that_dies_midway_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"step": 1}, path)

    def dies_midway(fd):  # the new checkpoint is in its temporary file, not yet renamed: the process "dies"
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", dies_midway)
    with pytest.raises(OSError, match="disk full"):
        io.save_checkpoint({"step": 2}, path)
    monkeypatch.undo()
    assert torch.load(path, weights_only=True) == {"step": 1}
    assert len(list(tmp_path.glob(".last.ckpt.*.tmp"))) == 1
    (tmp_path / ".last.ckpt.99999.tmp").write_bytes(b"torn")  # what a kill -9 of another process left
    io.save_checkpoint({"step": 3}, path)
    assert torch.load(path, weights_only=True) == {"step": 3}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]


class PoisonLoss(L.Callback):
    """Makes the network's output NaN for chosen batches (as an fp16 overflow or a bad weight would)."""

    def __init__(self, batches):
        self.batches = set(batches)
        self.weights_before: dict[int, torch.Tensor] = {}
        self.unchanged: list[bool] = []

    def on_fit_start(self, trainer, module):
        forward = module.network.forward
        module.network.forward = lambda images: forward(images) * (float("nan") if module.network.poison else 1.0)

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        self.weights_before = {k: v.detach().clone() for k, v in module.network.named_parameters()}
        poisoned = trainer.global_step in self.batches or (self.batches == {"all"})
        module.network.poison = poisoned

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        if module.network.poison:
            after = dict(module.network.named_parameters())  # (BatchNorm statistics move on any forward)
            self.unchanged.append(all(torch.equal(after[k], v) for k, v in self.weights_before.items()))


def test_nonfinite_losses_are_skipped_counted_and_stop_the_run_if_they_persist(digits_data, tmp_path):
    base = _overrides(digits_data, tmp_path)[1:] + [f"out_dir={tmp_path}", "train.max_epochs=1",
                                                    "data.num_workers=0", "train.logger=none", "train.max_nonfinite=5"]
    poison = PoisonLoss({3, 4, 10})
    folder = train(load_config(None, base + ["name=some"]), callbacks=[poison])
    state = _state(folder)
    assert state["textrec_nonfinite"] == 3 and poison.unchanged == [True, True, True]  # skipped: no update
    with pytest.raises(TextrecError, match="not finite .* for 5 batches in a row"):
        train(load_config(None, base + ["name=all"]), callbacks=[PoisonLoss({"all"})])


def test_training_data_that_vanishes_mid_run_is_reported_not_a_hang(tmp_path):
    labels = [random_digits(__import__("random").Random(i)) for i in range(400)]
    data = write_dataset(tmp_path / "data", labels)

    class DeleteImages(L.Callback):
        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
            if trainer.global_step == 3:
                for image in (tmp_path / "data" / "images").iterdir():
                    image.unlink()

    config = load_config(None, [f"out_dir={tmp_path}", "name=gone", "model.charset=digits",
                                f"model.network={TINY_NETWORK}", f"data.train=[{{path: {data}}}]",
                                "data.batch_size=1", "data.num_workers=0", "train.max_epochs=1",
                                "train.logger=none", "train.samples_to_print=0"])
    with pytest.raises(TextrecError, match=r"200 batches in a row had no usable sample .*image file not found"):
        train(config, callbacks=[DeleteImages()])


def test_bucketed_batches_name_the_problem_when_no_sample_can_be_read(tmp_path):
    from textrec.charset import Charset
    from textrec.data.dataset import BucketedBatches, Collate, TextDataset
    from textrec.data.sources import AnnotationFile
    from textrec.preprocess import PreprocessConfig

    data = write_dataset(tmp_path, ["12", "345", "6789"] * 4)
    dataset = TextDataset(AnnotationFile(data), Charset.from_spec("digits"), PreprocessConfig(), 4)
    for image in (tmp_path / "images").iterdir():
        image.unlink()
    batches = BucketedBatches([dataset], [1.0], num_batches=3, batch_size=4, collate=Collate(PreprocessConfig()),
                              max_failures=50)
    with pytest.raises(TextrecError, match="50 samples could not be used .*image file not found"):
        next(iter(batches))
