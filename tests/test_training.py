"""Training works: one batch is memorized, a few hundred steps learn to read, a run resumes."""
import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tests.helpers import TINY_NETWORK, random_digits, render, write_dataset
from textrec.charset import Charset
from textrec.data.dataset import Collate, TextDataset
from textrec.data.sources import AnnotationFile
from textrec.evaluation import character_error_rate
from textrec.networks import build_network
from textrec.preprocess import PreprocessConfig
from textrec.recognizer import Recognizer
from textrec.testing import evaluate


def test_overfit_one_batch(tmp_path):
    torch.manual_seed(0)
    charset, config = Charset.from_spec("digits"), PreprocessConfig()
    rng = random.Random(0)
    path = write_dataset(tmp_path, [random_digits(rng) for _ in range(8)])
    dataset = TextDataset(AnnotationFile(path), charset, config, 4)
    batch = Collate(config)([dataset[i] for i in range(len(dataset))])
    network = build_network(TINY_NETWORK, charset.num_classes)
    optimizer = torch.optim.AdamW(network.parameters(), lr=3e-3)
    for _ in range(300):
        logits = network(batch["images"])
        lengths = network.output_lengths(batch["widths"]).clamp(max=logits.shape[1])
        loss = F.ctc_loss(F.log_softmax(logits, -1).transpose(0, 1), batch["targets"], lengths,
                          batch["target_lengths"], zero_infinity=True)
        optimizer.zero_grad(), loss.backward(), optimizer.step()
    assert loss.item() < 0.05


def test_training_reaches_a_cer_bar_on_unseen_images(trained_model, tmp_path):
    rng = random.Random(99)
    labels = [random_digits(rng) for _ in range(60)]
    recognizer = Recognizer(trained_model)
    predictions = [p.text for p in recognizer.read([render(t, seed=5000 + i) for i, t in enumerate(labels)])]
    cer = character_error_rate(predictions, labels)
    assert cer < 0.1, f"CER {cer:.3f} on unseen rendered digits"


def test_run_folder_has_model_curves_and_checkpoints(trained_model):
    folder = trained_model.parent
    assert (folder / "model" / "weights.safetensors").is_file() and (folder / "model" / "config.json").is_file()
    assert (folder / "curves.png").stat().st_size > 1000
    assert (folder / "checkpoints" / "last.ckpt").is_file() and (folder / "checkpoints" / "best.ckpt").is_file()


def test_resume_continues_from_last_checkpoint(digits_data, tmp_path):
    from textrec.training.config import load_config
    from textrec.training.run import train

    overrides = [f"out_dir={tmp_path}", "name=r", "model.charset=digits", f"model.network={TINY_NETWORK}",
                 f"data.train=[{{path: {digits_data['train']}}}]", f"data.val=[{{path: {digits_data['val']}}}]",
                 "data.num_workers=0", "train.samples_to_print=0", "train.max_epochs=1"]  # default logger: TensorBoard
    first = train(load_config(None, overrides))
    state_one = torch.load(first / "checkpoints" / "last.ckpt", weights_only=False)
    second = train(load_config(None, overrides[:-1] + ["train.max_epochs=2"]), resume=True)
    assert second == first
    state = torch.load(second / "checkpoints" / "last.ckpt", weights_only=False)
    assert state["global_step"] == 2 * state_one["global_step"]
    assert len(state["textrec_history"]["val/cer"]) == 2  # the curves carry on across the resume
    assert list((second / "logs").glob("events.out.tfevents.*"))


def test_evaluate_writes_report(trained_model, digits_data, tmp_path):
    result = evaluate(trained_model, [str(digits_data["val"])], report=tmp_path / "report", limit=40)
    assert result["metrics"]["samples"] == 40 and result["metrics"]["cer"] < 0.2
    for name in ("report.json", "confusions.png", "samples.png"):
        assert (tmp_path / "report" / name).stat().st_size > 200


def test_case_folded_loss_accepts_lower_case_print_for_upper_case_labels():
    """A caseless (SROIE-style) label 'AB' against a model that reads 'ab': low loss only when folded."""
    import torch

    from textrec.training.system import RecognitionSystem

    system = RecognitionSystem(TINY_NETWORK, "abAB")
    cs = system.charset
    logits = torch.full((1, 4, cs.num_classes), -10.0)
    for t, index in enumerate([cs.encode("a")[0], 0, cs.encode("b")[0], 0]):
        logits[0, t, index] = 10.0
    log_probs = torch.log_softmax(logits, -1).transpose(0, 1)
    targets, lengths = torch.tensor(cs.encode("AB")), (torch.tensor([4]), torch.tensor([2]))

    def loss(caseless: bool) -> float:
        folded = system.fold_case(log_probs, torch.tensor([caseless]))
        return float(torch.nn.functional.ctc_loss(folded, targets, *lengths, blank=0))

    assert loss(True) < 0.01 and loss(False) > 10


def test_last_checkpoint_is_written_every_epoch_even_without_improvement(digits_data, tmp_path):
    """Resume must not lose the epochs after the best one: last.ckpt follows the run, not the best score."""
    from textrec.training.config import load_config
    from textrec.training.run import train

    config = load_config(None, [
        f"out_dir={tmp_path}", "name=flat", "model.charset=digits", f"model.network={TINY_NETWORK}",
        f"data.train=[{{path: {digits_data['val']}}}]", f"data.val=[{{path: {digits_data['val']}}}]",
        "data.batch_size=16", "data.num_workers=0", "train.max_epochs=3", "train.lr=0.0",
        "train.logger=none", "train.samples_to_print=0",
    ])
    folder = train(config)  # lr 0: validation never improves after the first epoch
    last = torch.load(folder / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    best = torch.load(folder / "checkpoints" / "best.ckpt", map_location="cpu", weights_only=False)
    assert last["global_step"] == 3 * 6 and best["global_step"] == 6


def test_learning_rate_follows_the_time_budget_when_it_runs_out_first():
    """A run stopped by train.max_time ends with a decayed learning rate even if few steps were taken."""
    from datetime import timedelta
    from types import SimpleNamespace

    from lightning.pytorch.callbacks import Timer

    from textrec.training.system import RecognitionSystem

    class FixedTimer(Timer):
        def __init__(self, elapsed: float):
            super().__init__(duration=timedelta(seconds=100))
            self.elapsed = elapsed

        def time_elapsed(self, stage="train") -> float:
            return self.elapsed

    system = RecognitionSystem(TINY_NETWORK, "0123456789", warmup=0.1)
    system._trainer = SimpleNamespace(callbacks=[FixedTimer(99.0)], estimated_stepping_batches=100000)
    assert system.lr_factor(500) < 0.02  # 0.5% of the steps, 99% of the time: nearly fully decayed
    system._trainer.callbacks = [FixedTimer(0.0)]
    assert 0.04 < system.lr_factor(500) < 0.1  # no time used: still warming up by steps


def test_bucketed_training_runs_and_a_bad_batching_mode_is_named(digits_data, tmp_path):
    from textrec.errors import TextrecError
    from textrec.training.config import load_config
    from textrec.training.run import train

    base = [f"out_dir={tmp_path}", "model.charset=digits", f"model.network={TINY_NETWORK}",
            f"data.train=[{{path: {digits_data['val']}, weight: 1}}, {{path: {digits_data['val']}, weight: 2}}]",
            "data.batch_size=8", "data.num_workers=0", "data.epoch_size=64", "train.max_epochs=1",
            "train.logger=none", "train.samples_to_print=0", "train.channels_last=true"]
    folder = train(load_config(None, base + ["name=bucketed", "data.batches=bucketed"]))
    assert torch.load(folder / "checkpoints" / "last.ckpt", weights_only=False)["global_step"] == 8
    with pytest.raises(TextrecError, match="data.batches must be one of 'auto', 'bucketed', 'mixed'"):
        train(load_config(None, base + ["name=bad", "data.batches=sorted"]))


def test_init_from_starts_with_a_saved_models_weights(trained_model, digits_data, tmp_path):
    from textrec.training.config import load_config
    from textrec.training.run import train

    def run(name: str, *extra: str) -> float:
        folder = train(load_config(None, [
            f"out_dir={tmp_path}", f"name={name}", "model.charset=digits", f"model.network={TINY_NETWORK}",
            f"data.train=[{{path: {digits_data['train']}}}]", f"data.val=[{{path: {digits_data['val']}}}]",
            "data.num_workers=0", "train.logger=none", "train.samples_to_print=0", "train.max_steps=2",
            "train.lr=1e-9", *extra]))  # two steps at ~0 learning rate: the weights stay where they started
        return evaluate(folder / "model", [str(digits_data["val"])], limit=40)["metrics"]["cer"]

    assert run("warm", f"model.init_from={trained_model}") < 0.2
    assert run("cold") > 0.5


def test_init_from_a_model_of_another_shape_is_refused_naming_the_difference(trained_model, digits_data, tmp_path):
    from textrec.errors import TextrecError
    from textrec.training.config import load_config
    from textrec.training.run import train

    other = dict(TINY_NETWORK, rnn_hidden=TINY_NETWORK.get("rnn_hidden", 32) * 2)
    with pytest.raises(TextrecError, match="rnn_hidden"):
        train(load_config(None, [
            f"out_dir={tmp_path}", "name=bad", "model.charset=digits", f"model.network={other}",
            f"model.init_from={trained_model}", f"data.train=[{{path: {digits_data['train']}}}]",
            "data.num_workers=0", "train.logger=none", "train.max_steps=1"]))


def test_training_output_in_a_log_file_is_plain_lines_without_third_party_noise(digits_data, tmp_path):
    """stdout that is not a terminal: a line every 50 steps instead of a bar, no Lightning tips or warnings."""
    import subprocess
    import sys

    from tests.helpers import TINY_NETWORK

    (tmp_path / "quiet.yaml").write_text("name: quiet\n")
    result = subprocess.run([
        sys.executable, "-m", "textrec.cli", "train", "--config", str(tmp_path / "quiet.yaml"),
        "--set", f"out_dir={tmp_path}",
        "--set", "model.charset=digits", "--set", f"model.network={TINY_NETWORK}",
        "--set", f"data.train={digits_data['train']}", "--set", f"data.val={digits_data['val']}",
        "--set", "data.batch_size=8", "--set", "data.num_workers=0", "--set", "train.max_steps=60",
        "--set", "train.max_epochs=1", "--set", "train.logger=csv"], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    output = result.stdout + result.stderr
    assert "step 50  loss" in result.stdout and "\r" not in result.stdout
    for noise in ("Tip:", "LeafSpec", "GPU available", "IterableDataset", "it/s]", "monitored key"):
        assert noise not in output, noise


def test_max_time_is_the_budget_of_each_invocation_and_the_schedule_carries_on():
    """A `--resume` gets train.max_time again (not what the first invocation left); the elapsed time is kept so
    the time-based learning-rate schedule continues instead of restarting."""
    from textrec.training.callbacks import InvocationTimer

    timer = InvocationTimer(duration="00:01:00:00")
    timer.load_state_dict({"time_elapsed": {"train": 3000.0}})  # a first invocation used 50 of its 60 minutes
    assert timer._duration == 3600 + 3000  # this invocation may run a full hour more
    assert timer.time_elapsed("train") >= 3000  # ...and the schedule knows 3000 s were spent before


def test_auto_batching_buckets_by_width_when_widths_vary_and_says_so(capsys):
    from types import SimpleNamespace

    from textrec.errors import TextrecError
    from textrec.training.config import load_config
    from textrec.training.run import batch_mode

    words = SimpleNamespace(labels=["cat", "door", "house", "tree"] * 50, generated=False)
    lines = SimpleNamespace(labels=["a whole line of a receipt with prices", "TOTAL 12.50"] * 50, generated=False)
    captchas = SimpleNamespace(labels=["x7k2p9", "ab3d5f"] * 50, generated=False)
    synthetic = SimpleNamespace(labels=[], generated=True)
    assert batch_mode("auto", [words, lines]) == "bucketed"
    assert "bucketed (label lengths" in capsys.readouterr().out
    assert batch_mode("auto", [synthetic]) == "bucketed"
    assert "synthetic text varies in width" in capsys.readouterr().out
    assert batch_mode("auto", [captchas]) == "mixed"
    assert batch_mode("mixed", [words, lines]) == "mixed"  # what the config says wins
    with pytest.raises(TextrecError, match="data.batches must be one of 'auto', 'bucketed', 'mixed', got 'wide'"):
        load_config(None, ["data.batches=wide"])  # the typed config refuses it before any data is read


def test_distillation_pulls_the_student_towards_the_teachers_columns(trained_model, digits_data):
    """train.distill_from: the loss term is zero for a student that is the teacher; a student trained on it alone
    (weight 1: no labels) comes far closer to the teacher than one trained as long on the labels alone; the
    teacher stays out of the saved state."""
    from textrec.model_io import load_model
    from textrec.training.system import RecognitionSystem

    charset, config = Charset.from_spec("digits"), PreprocessConfig()
    dataset = TextDataset(AnnotationFile(digits_data["train"]), charset, config, 4)
    batch = Collate(config)([dataset[i] for i in range(16)])
    teacher = load_model(trained_model)[0]

    def gap(student) -> float:  # in eval mode, as the teacher runs: batch norm by its running statistics
        student.network.eval()
        with torch.no_grad():
            logits = student.network(batch["images"])
            lengths = student.network.output_lengths(batch["widths"]).clamp(max=logits.shape[1])
            return float(student._distillation(teacher, batch["images"], logits, lengths))

    def trained(weight: float):
        torch.manual_seed(0)
        student = RecognitionSystem(TINY_NETWORK, charset.chars)
        student.teach_with(teacher, weight=weight, temperature=2.0)
        start = gap(student)
        optimizer = torch.optim.AdamW(student.network.parameters(), lr=3e-3)
        student.network.train()
        for _ in range(60):
            loss = student.training_loss(batch)
            optimizer.zero_grad(), loss.backward(), optimizer.step()
        return student, start

    distilled, before = trained(1.0)
    labelled, _ = trained(0.0)
    assert before > 0.1 and gap(distilled) < before / 4 and gap(distilled) < gap(labelled) / 2
    distilled.network.load_state_dict(teacher.state_dict())
    assert gap(distilled) < 1e-6
    assert not any(key.startswith("teacher") for key in distilled.state_dict())


def test_distill_from_trains_through_the_runner_and_refuses_another_charset(trained_model, digits_data, tmp_path):
    from textrec.errors import TextrecError
    from textrec.model_io import load_model
    from textrec.training.config import load_config
    from textrec.training.run import train

    base = [f"out_dir={tmp_path}", f"model.network={TINY_NETWORK}", f"data.train=[{{path: {digits_data['train']}}}]",
            f"data.val=[{{path: {digits_data['val']}}}]", "data.num_workers=0", "train.logger=none",
            "train.samples_to_print=0", "train.max_steps=3", f"train.distill_from={trained_model}"]
    folder = train(load_config(None, [*base, "name=student", "model.charset=digits"]))
    network, saved = load_model(folder / "model")
    assert set(network.state_dict()) == set(load_model(trained_model)[0].state_dict())
    with pytest.raises(TextrecError, match="distill_from .* charset"):
        train(load_config(None, [*base, "name=other", "model.charset=0123456789abc"]))


def test_a_source_read_through_the_teacher_alone_holds_the_student_to_it_not_to_its_labels(trained_model,
                                                                                            digits_data, tmp_path):
    """A data source's `distill: 1.0`: its samples' loss is the teacher's columns only, so wrong labels there do
    not move the student (trained on them with the labels it forgets the teacher); samples of a source without
    it are trained on their labels alone (train.distill_weight 0) in the same batch; a bad share is named."""
    from textrec.errors import TextrecError
    from textrec.model_io import load_model
    from textrec.training.config import load_config
    from textrec.training.run import teacher_share, train
    from textrec.training.system import RecognitionSystem

    charset, config = Charset.from_spec("digits"), PreprocessConfig()
    wrong = write_dataset(tmp_path / "wrong", ["1" * len(label) for label in
                                               (random_digits(random.Random(3)) for _ in range(16))], seed=5)
    teacher = load_model(trained_model)[0]

    def batch_of(share: float | None) -> dict:  # images the teacher reads, labelled all "1"
        relabelled = TextDataset(AnnotationFile(wrong), charset, config, 4, distill=share)
        return Collate(config)([relabelled[i] for i in range(16)])

    def gap_after(share: float | None) -> float:
        torch.manual_seed(0)
        student = RecognitionSystem(TINY_NETWORK, charset.chars)
        student.network.load_state_dict(teacher.state_dict())
        student.teach_with(teacher, weight=0.0)
        batch = batch_of(share)
        optimizer = torch.optim.AdamW(student.network.parameters(), lr=3e-3)
        for _ in range(40):
            student.network.train()
            loss = student.training_loss(batch)
            optimizer.zero_grad(), loss.backward(), optimizer.step()
        student.network.eval()
        with torch.no_grad():
            logits = student.network(batch["images"])
            lengths = student.network.output_lengths(batch["widths"]).clamp(max=logits.shape[1])
            return float(student._distillation(teacher, batch["images"], logits, lengths))

    assert gap_after(1.0) < gap_after(None) / 5

    student = RecognitionSystem(TINY_NETWORK, charset.chars)
    student.teach_with(teacher, weight=0.0)
    held, labelled = batch_of(1.0), batch_of(None)  # the same images
    mixed = Collate(config)([TextDataset(AnnotationFile(wrong), charset, config, 4, distill=s)[i]
                             for i, s in enumerate([1.0] * 8 + [None] * 8)])
    assert student.teacher_shares(mixed).tolist() == [1.0] * 8 + [0.0] * 8
    student.network.eval()
    with torch.no_grad():
        per_sample, logits, lengths = student._ctc(labelled)
        taught = student._distillation(teacher, held["images"], logits, lengths, per_sample=True)
        expected = (per_sample[8:].sum() + taught[:8].sum()) / 16
        assert float(student.training_loss(mixed)) == pytest.approx(float(expected), rel=1e-4)

    base = load_config(None, [f"out_dir={tmp_path}", "model.charset=digits", "train.logger=none"])
    source = str(wrong)
    assert teacher_share(source, None, base) is None
    with pytest.raises(TextrecError, match="distill .* needs train.distill_from"):
        teacher_share(source, 1.0, base)
    with pytest.raises(TextrecError, match=r"wrong.*distill must be a number in \[0, 1\], got 2"):
        teacher_share(source, 2, base)
    folder = train(load_config(None, [
        f"out_dir={tmp_path}", "name=held", "model.charset=digits", f"model.network={TINY_NETWORK}",
        f"data.train=[{{path: {wrong}, distill: 1.0}}, {{path: {digits_data['train']}}}]",
        "data.num_workers=0", "train.logger=none", "train.samples_to_print=0", "train.max_steps=3",
        f"train.distill_from={trained_model}", "train.distill_weight=0"]))
    assert (folder / "model" / "weights.safetensors").is_file()


def test_init_from_a_deeper_crnn_keeps_its_first_recurrent_layers(tmp_path):
    """A one-layer network starts from a two-layer model: convolutions, first BiLSTM layer and head carried over,
    the second layer's weights left out; more layers than the model has is still refused."""
    from textrec.errors import TextrecError
    from textrec.model_io import make_config, save_model
    from textrec.training.run import warm_start

    charset = Charset.from_spec("digits")
    deep_config = dict(TINY_NETWORK, rnn_layers=2)
    torch.manual_seed(1)
    deep = build_network(deep_config, charset.num_classes)
    save_model(tmp_path / "deep", deep, make_config(deep_config, charset, PreprocessConfig()))
    shallow_config = dict(TINY_NETWORK, rnn_layers=1)
    shallow = build_network(shallow_config, charset.num_classes)
    warm_start(shallow, str(tmp_path / "deep"), shallow_config, charset)
    deep_state = deep.state_dict()
    for key, value in shallow.state_dict().items():
        assert torch.equal(value, deep_state[key]), key
    assert any("_l1" in key for key in deep_state) and not any("_l1" in key for key in shallow.state_dict())
    with pytest.raises(TextrecError, match="rnn_layers: 2 in the model vs 3"):
        warm_start(build_network(dict(TINY_NETWORK, rnn_layers=3), charset.num_classes), str(tmp_path / "deep"),
                   dict(TINY_NETWORK, rnn_layers=3), charset)


def test_init_from_a_shallower_vgg_grows_it_without_changing_what_it_computes(trained_model, tmp_path):
    """Convs added to the backbone's stages start as identities with batch norm set from the images it will
    see: the grown network's logits match the trained one's in eval mode (and near it in train mode), its
    trained weights carry over, and a shallower or re-widened stage is still refused."""
    from textrec.errors import TextrecError
    from textrec.model_io import load_model
    from textrec.training.grow import start_as_identity
    from textrec.training.run import warm_start

    trained, saved = load_model(trained_model)
    charset = Charset(saved["charset"])
    old_depth = list(saved["network"]["depth"])
    deeper_config = dict(saved["network"], depth=[old_depth[0], old_depth[1] + 1, *old_depth[2:-1], old_depth[-1] + 1])
    grown = build_network(deeper_config, charset.num_classes)
    added = warm_start(grown, str(trained_model), deeper_config, charset)
    assert len(added) == 2
    torch.manual_seed(0)
    images = [torch.from_numpy(np.asarray(render(random_digits(random.Random(i))), dtype=np.float32))
              .reshape(1, 1, 32, -1) / 127.5 - 1 for i in range(6)]
    images = [torch.nn.functional.pad(x, (0, 128 - x.shape[-1]), value=1.0) for x in images]
    batches = [torch.cat(images[:3]), torch.cat(images[3:])]
    assert start_as_identity(grown, added, batches[:1]) < 1e-3
    trained.eval(), grown.eval()
    with torch.no_grad():
        assert torch.allclose(grown(batches[1]), trained(batches[1]), atol=1e-3)  # eval: identities on any image
        grown.train(), trained.train()
        # train mode normalizes by the batch's own statistics: exact on the batch the norms were measured on
        assert torch.allclose(grown(batches[0]), trained(batches[0]), atol=1e-3)
    with pytest.raises(TextrecError, match="depth"):
        shallower = dict(saved["network"], depth=[1] * len(old_depth))
        if shallower["depth"] == old_depth:
            shallower["depth"] = [max(0, d - 1) for d in old_depth]
        warm_start(build_network(shallower, charset.num_classes), str(trained_model), shallower, charset)


def test_grow_writes_a_deeper_model_that_reads_as_the_trained_one(trained_model, digits_data, tmp_path):
    from textrec.errors import TextrecError
    from textrec.model_io import load_model
    from textrec.training.grow import grow_model

    depth = [d + 1 for d in load_model(trained_model)[1]["network"]["depth"]]
    assert grow_model(trained_model, depth, [str(digits_data["val"])], tmp_path / "grown") < 1e-3
    grown, config = load_model(tmp_path / "grown")
    assert config["network"]["depth"] == depth and config["training"]["grown_from"]["depth"] == depth
    images = [render(random_digits(random.Random(i)), seed=i) for i in range(20)]
    before, after = Recognizer(trained_model).read(images), Recognizer(tmp_path / "grown").read(images)
    assert [r.text for r in before] == [r.text for r in after]
    assert [r.confidence for r in before] == pytest.approx([r.confidence for r in after], abs=1e-3)
    with pytest.raises(TextrecError, match="--depth"):
        grow_model(trained_model, depth[:-1], [str(digits_data["val"])], tmp_path / "bad")


def test_ema_scores_and_saves_the_averaged_weights_and_resumes_with_both(digits_data, tmp_path):
    """train.ema: validation and run/model/ are the moving average, not the last step's weights; last.ckpt keeps
    both, and a resume carries both on."""
    from safetensors.torch import load_file

    from textrec.errors import TextrecError
    from textrec.training.checkpoints import model_from_checkpoint
    from textrec.training.config import load_config
    from textrec.training.run import train

    overrides = [f"out_dir={tmp_path}", "name=ema", "model.charset=digits", f"model.network={TINY_NETWORK}",
                 f"data.train=[{{path: {digits_data['train']}}}]", f"data.val=[{{path: {digits_data['val']}}}]",
                 "data.num_workers=0", "train.logger=none", "train.samples_to_print=0", "train.ema=0.9",
                 "train.max_epochs=1"]
    folder = train(load_config(None, overrides))
    state = torch.load(folder / "checkpoints" / "last.ckpt", weights_only=False)
    averaged = {k[len("network."):]: v for k, v in state["state_dict"].items() if k.startswith("network.")}
    current = {k[len("network."):]: v for k, v in state["current_model_state"].items() if k.startswith("network.")}
    saved = load_file(str(folder / "model" / "weights.safetensors"))
    floats = [k for k in saved if saved[k].is_floating_point()]
    assert all(torch.allclose(saved[k].float(), averaged[k].float()) for k in floats)
    assert any(not torch.allclose(averaged[k], current[k]) for k in floats)  # the average is not the last step
    last_step = load_file(str(model_from_checkpoint(folder, tmp_path / "last-step", averaged=False)
                              / "weights.safetensors"))
    assert all(torch.equal(last_step[k], current[k]) for k in current)

    resumed = train(load_config(None, overrides[:-1] + ["train.max_epochs=2"]), resume=True)
    again = torch.load(resumed / "checkpoints" / "last.ckpt", weights_only=False)
    assert again["global_step"] == 2 * state["global_step"] and "current_model_state" in again
    with pytest.raises(TextrecError, match="train.ema must be between 0 and 1"):
        train(load_config(None, overrides[:1] + ["name=bad"] + overrides[2:-2] + ["train.ema=1.5"]))


def test_model_from_checkpoint_of_a_run_without_ema(trained_model, tmp_path):
    """Without train.ema, last.ckpt's weights are the only ones: written as a model with the run's config, and
    asking for the last step's weights beside an average names the missing setting."""
    from safetensors.torch import load_file

    from textrec.errors import TextrecError
    from textrec.training.checkpoints import model_from_checkpoint

    run = trained_model.parent
    written = model_from_checkpoint(run, tmp_path / "last")
    state = torch.load(run / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"]
    weights = load_file(str(written / "weights.safetensors"))
    assert weights and all(torch.equal(v, state[f"network.{k}"]) for k, v in weights.items())
    assert len(Recognizer(written).read([render("0123")])[0].text) > 0  # a model that loads and reads
    with pytest.raises(TextrecError, match="train.ema was off"):
        model_from_checkpoint(run, tmp_path / "x", averaged=False)
    with pytest.raises(TextrecError, match="not found"):
        model_from_checkpoint(tmp_path, tmp_path / "y")


def test_ema_on_a_lightning_without_the_callback_is_named(monkeypatch):
    """The GPU machine's Lightning may predate EMAWeightAveraging: only train.ema needs it, and says so."""
    import lightning.pytorch.callbacks

    from textrec.errors import TextrecError
    from textrec.training.callbacks import averaged_weights

    assert averaged_weights(0.99).module() is None  # before training starts
    monkeypatch.delattr(lightning.pytorch.callbacks, "EMAWeightAveraging")
    with pytest.raises(TextrecError, match="train.ema needs Lightning 2.6"):
        averaged_weights(0.99)


def test_a_source_changes_the_augmentation_for_itself_only(digits_data):
    """data.train[i].augment is merged over data.augment for that source (e.g. no perspective on receipt lines);
    the other sources keep the run's own."""
    from textrec.training.config import load_config
    from textrec.training.run import RecognizeTask

    path = digits_data["train"]
    config = load_config(None, [f"model.network={TINY_NETWORK}", "model.charset=digits", "data.batches=mixed",
                                f"data.train=[{{path: {path}}}, {{path: {path}, augment: {{p_perspective: 0.0}}}}]",
                                "data.augment={p_perspective: 0.4, p_noise: 0.2}", "data.num_workers=0"])
    plain, changed = RecognizeTask(config).train_loader.dataset.datasets
    assert plain.augmenter.config.p_perspective == 0.4 and changed.augmenter.config.p_perspective == 0.0
    assert plain.augmenter.config.p_noise == changed.augmenter.config.p_noise == 0.2
    config.data.augment = None  # no run-wide augmentation: only the source that asks for some gets it
    plain, changed = RecognizeTask(config).train_loader.dataset.datasets
    assert plain.augmenter is None and changed.augmenter.config.p_perspective == 0.0


def test_bf16_on_a_cpu_without_bf16_arithmetic_trains_in_fp32_and_says_so(monkeypatch, capsys):
    """Emulated bf16 ran many times slower than fp32 on an AVX2 CPU: the runner falls back there, not elsewhere."""
    from textrec.training import run

    monkeypatch.setattr(run, "cpu_has_bf16", lambda: False)
    assert run.effective_precision("bf16-mixed", "cpu") == "32-true"
    assert "no bf16 arithmetic" in capsys.readouterr().err
    assert run.effective_precision("32-true", "cpu") == "32-true"
    monkeypatch.setattr(run, "cpu_has_bf16", lambda: True)
    assert run.effective_precision("bf16-mixed", "cpu") == "bf16-mixed"
    monkeypatch.setattr(run, "cpu_has_bf16", lambda: False)
    assert run.effective_precision("bf16-mixed", "gpu") == "bf16-mixed"  # a GPU does bf16 itself


def test_freeze_keeps_a_part_and_its_batchnorm_statistics_and_trains_the_rest(trained_model, digits_data, tmp_path):
    from safetensors.torch import load_file

    from textrec.errors import TextrecError
    from textrec.training.config import load_config
    from textrec.training.run import train

    def run(name: str, *extra: str):
        return train(load_config(None, [
            f"out_dir={tmp_path}", f"name={name}", "model.charset=digits", f"model.network={TINY_NETWORK}",
            f"data.train=[{{path: {digits_data['train']}}}]", "data.num_workers=0", "train.logger=none",
            "train.samples_to_print=0", "train.max_steps=5", "train.lr=0.01", f"model.init_from={trained_model}",
            *extra]))

    before = load_file(trained_model / "weights.safetensors")
    after = load_file(run("frozen", "train.freeze=[backbone]") / "model" / "weights.safetensors")
    changed = {name for name in before if not torch.equal(before[name], after[name])}
    assert changed and all(not name.startswith("backbone.") for name in changed), sorted(changed)
    assert any(name.startswith("backbone.") and "running_mean" in name for name in before)  # BN is there to keep
    unfrozen = load_file(run("free") / "model" / "weights.safetensors")
    assert any(name.startswith("backbone.") and not torch.equal(before[name], unfrozen[name]) for name in before)
    with pytest.raises(TextrecError, match="no part 'bakbone'.*its parts: backbone"):
        run("typo", "train.freeze=[bakbone]")


def test_keep_statistics_trains_the_weights_but_not_the_batchnorm_statistics(trained_model, digits_data, tmp_path):
    from safetensors.torch import load_file

    from textrec.training.config import load_config
    from textrec.training.run import train

    folder = train(load_config(None, [
        f"out_dir={tmp_path}", "name=kept", "model.charset=digits", f"model.network={TINY_NETWORK}",
        f"data.train=[{{path: {digits_data['train']}}}]", "data.num_workers=0", "train.logger=none",
        "train.samples_to_print=0", "train.max_steps=5", "train.lr=0.01", f"model.init_from={trained_model}",
        "train.keep_statistics=[backbone]"]))
    before = load_file(trained_model / "weights.safetensors")
    after = load_file(folder / "model" / "weights.safetensors")
    statistics = [name for name in before
                  if name.startswith("backbone.") and name.endswith(("running_mean", "running_var"))]
    assert statistics and all(torch.equal(before[name], after[name]) for name in statistics)
    assert any(name.startswith("backbone.") and name.endswith("weight") and not torch.equal(before[name], after[name])
               for name in before)
