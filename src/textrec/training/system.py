"""The Lightning systems, one per loss family on one base (the way parseq keeps CTCSystem and
CrossEntropySystem in one module): BaseSystem holds what every trainable thing shares (the step, skipped and
non-finite batches, the optimizer and its schedule, the history and random state kept in checkpoints);
CTCSystem and CrossEntropySystem (attention) read text lines, DetectionSystem finds them on a page."""
from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Any, TypeVar

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from lightning.pytorch.utilities.types import OptimizerLRSchedulerConfig
from torch import nn

from textrec.charset import Charset
from textrec.decoding import decode_attention_logits, decode_batch
from textrec.errors import TextrecError
from textrec.evaluation import edit_counts
from textrec.networks import NETWORKS, Network, build_network
from textrec.networks.attention import END
from textrec.networks.detector import build_detector
from textrec.pages.detect import DetectorInput, sigmoid
from textrec.pages.evaluate import match
from textrec.pages.kernels import boxes_from_map

M = TypeVar("M", bound=nn.Module)


class BaseSystem(L.LightningModule):
    """A network, its loss and its validation score. Subclasses set `network` and define `training_loss`,
    `validation_step` and `on_validation_epoch_end`; `monitor` names the score that picks the best model."""

    monitor: tuple[str, str] = ("val/loss", "min")  # metric, and whether lower (min) or higher (max) is better
    scores: tuple[str, ...] = ()  # validation metrics kept in `history` for the curves
    network: nn.Module

    def __init__(self, lr: float = 1e-3, weight_decay: float = 0.01, warmup: float = 0.1,
                 channels_last: bool = False, max_nonfinite: int = 20):
        super().__init__()
        self.save_hyperparameters()  # with the subclass's own arguments too (Lightning walks the __init__ chain)
        self.skipped: list[str] = []
        self.nonfinite_batches = 0  # batches whose loss was NaN/inf, skipped
        self._nonfinite_in_a_row = 0
        self._empty_in_a_row = 0
        self.history: dict[str, list[tuple[int, float]]] = {key: [] for key in ("train/loss", *self.scores)}

    def freeze_parts(self, prefixes: Sequence[str]) -> int:
        """Keep the network's parameters and buffers under these dotted name prefixes as they are (train.freeze);
        returns how many parameters that holds. An unknown prefix is an error that lists the network's parts."""
        self.frozen = self._parts(prefixes, "train.freeze")
        for module in self.frozen:
            module.requires_grad_(False)
        self.train(self.training)
        return sum(p.numel() for module in self.frozen for p in module.parameters())

    def keep_statistics(self, prefixes: Sequence[str]) -> int:
        """The BatchNorm layers under these prefixes keep their running statistics (train.keep_statistics) while
        their weights and everything else train; returns how many such layers there are."""
        self.stats_kept = [m for part in self._parts(prefixes, "train.keep_statistics") for m in part.modules()
                           if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        self.train(self.training)
        return len(self.stats_kept)

    def _parts(self, prefixes: Sequence[str], option: str) -> list[nn.Module]:
        modules = dict(self.network.named_modules())
        unknown = [p for p in prefixes if p not in modules or not p]
        if unknown:
            parts = sorted(name for name in modules if name and "." not in name)
            raise TextrecError(f"{option}: no part {', '.join(map(repr, unknown))} in this network; its parts: "
                               f"{', '.join(parts)} (or a dotted name inside one)")
        return [modules[p] for p in prefixes]

    def train(self, mode: bool = True) -> "BaseSystem":
        super().train(mode)
        # eval mode: BatchNorm normalizes with its running statistics and leaves them as they are
        for module in (*getattr(self, "frozen", ()), *getattr(self, "stats_kept", ())):
            module.eval()
        return self

    def _prepare(self, network: M) -> M:
        if self.hparams.get("channels_last"):  # torch's stubs lack Module.to(memory_format=...), which it accepts
            return network.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        return network

    def _images(self, batch: dict) -> torch.Tensor:
        images = batch["images"]
        if self.hparams.get("channels_last"):
            images = images.contiguous(memory_format=torch.channels_last)
        return images

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.network(images)

    def training_loss(self, batch: dict) -> torch.Tensor:
        raise NotImplementedError

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor | None:
        self.skipped.extend(batch.get("skipped", ()))
        if batch["images"] is None:
            return self._empty_batch(batch)
        self._empty_in_a_row = 0
        loss = self.training_loss(batch)
        if not torch.isfinite(loss):
            return self._nonfinite(loss)
        self._nonfinite_in_a_row = 0
        self.log("train/loss", loss, prog_bar=True, batch_size=len(batch["images"]))
        if batch_idx % 10 == 0:
            self.history["train/loss"].append((self.global_step, float(loss.detach())))
        return loss

    def _empty_batch(self, batch: dict) -> torch.Tensor | None:
        """Every sample of the batch was unusable. Now and then is fine (counted); hundreds in a row means the
        data has gone (an unmounted disk, deleted files): stop and say so rather than spin through nothing."""
        self._empty_in_a_row += 1
        if self._empty_in_a_row >= 200:
            raise TextrecError(f"{self._empty_in_a_row} batches in a row had no usable sample (has the data gone?); "
                               f"last: {batch['skipped'][-1] if batch['skipped'] else 'none'}")
        return self._skip()

    def _nonfinite(self, loss: torch.Tensor) -> torch.Tensor | None:
        """A NaN/inf loss would poison the weights: skip the batch and count it; stop with a clear message if
        it keeps happening (the weights or the learning rate are the problem, not one batch)."""
        self.nonfinite_batches += 1
        self._nonfinite_in_a_row += 1
        limit = int(self.hparams.get("max_nonfinite", 20))
        if self._nonfinite_in_a_row >= limit:
            raise TextrecError(f"the loss was not finite ({float(loss)}) for {limit} batches in a row, up to step "
                               f"{self.global_step} ({self.nonfinite_batches} in all): lower train.lr, use fp32 "
                               f"(train.precision), or resume from an earlier checkpoint")
        return self._skip()

    def _skip(self) -> torch.Tensor | None:
        """No step from this batch. Under DDP every rank must join the gradient all-reduce, so a rank with
        nothing to learn from contributes zero gradients instead of leaving the others waiting."""
        if self.trainer.world_size > 1:
            zero = sum(p.sum() * 0.0 for p in self.parameters() if p.requires_grad)
            assert isinstance(zero, torch.Tensor)  # (sum's start, the int 0, only with no trainable parameter)
            return zero
        return None

    def _sum_over_ranks(self, values: Sequence[float]) -> list[float]:
        """Counts summed across DDP ranks: each rank validated its own share of the data, and a rate is
        total / total (an average of per-rank rates would weigh the shares wrongly)."""
        totals = torch.tensor(values, dtype=torch.float64, device=self.device)
        if self.trainer.world_size > 1:
            totals = self.trainer.strategy.reduce(totals, reduce_op="sum")
        return totals.tolist()

    def _keep_scores(self, scores: dict[str, float]) -> None:
        if not self.trainer.sanity_checking:
            for key, value in scores.items():
                self.history.setdefault(key, []).append((self.global_step, value))

    def lr_factor(self, step: int) -> float:
        """Linear warm-up from lr/25, then cosine down to lr/100. Computed from the trainer's current total
        (not stored in the scheduler), so a resumed run with a larger budget stretches the schedule. With a
        time budget (train.max_time) progress is the larger of steps and time used, so a run stopped by the
        clock still ends with a decayed learning rate."""
        total = max(int(self.trainer.estimated_stepping_batches), 1)
        fraction = self.hparams["warmup"]
        warmup = max(int(total * fraction), 1)
        time_used = self._time_fraction()
        if step < warmup and time_used < fraction:
            return 0.04 + 0.96 * max(step / warmup, time_used / max(fraction, 1e-9))
        step_progress = (step - warmup) / max(total - warmup, 1)
        time_progress = (time_used - fraction) / max(1 - fraction, 1e-9)
        progress = min(max(step_progress, time_progress, 0.0), 1.0)
        return 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * progress))

    def _time_fraction(self) -> float:
        """Fraction of the max_time budget used so far (Lightning's Timer keeps it across a resume)."""
        from lightning.pytorch.callbacks import Timer

        trainer = getattr(self, "_trainer", None)
        timer = next((c for c in (trainer.callbacks if trainer else []) if isinstance(c, Timer)), None)
        if timer is None or not timer._duration:
            return 0.0
        return min(timer.time_elapsed("train") / timer._duration, 1.0)

    def configure_optimizers(self) -> OptimizerLRSchedulerConfig:
        trainable = [p for p in self.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(trainable, lr=self.hparams["lr"],
                                      weight_decay=self.hparams["weight_decay"])
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, self.lr_factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["textrec_history"] = self.history
        checkpoint["textrec_nonfinite"] = self.nonfinite_batches
        # so a resumed run draws the same random numbers as one that never stopped (Lightning keeps none)
        legacy = np.random.get_state(legacy=True)  # (the default; named so the stubs give the tuple's type)
        assert isinstance(legacy, tuple)  # the global generator is MT19937, whose legacy state is a tuple
        _, keys, position, has_gauss, gauss = legacy
        checkpoint["textrec_rng"] = {"python": random.getstate(), "torch": torch.get_rng_state(),
                                     "numpy": [torch.from_numpy(keys.astype(np.int64)), position, has_gauss, gauss]}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.history = checkpoint.get("textrec_history", self.history)
        self.nonfinite_batches = checkpoint.get("textrec_nonfinite", 0)
        if "textrec_rng" in checkpoint:
            state = checkpoint["textrec_rng"]
            random.setstate(state["python"])
            keys, position, has_gauss, gauss = state["numpy"]
            np.random.set_state(("MT19937", keys.numpy().astype(np.uint32), position, has_gauss, gauss))
            torch.set_rng_state(state["torch"])


class RecognitionSystem(BaseSystem):
    """A text-line recognizer: case folding for caseless labels, CER and accuracy over the validation set.
    `RecognitionSystem(network, charset)` makes the system of the network's loss family: CTCSystem, or
    CrossEntropySystem for an attention decoder."""

    monitor = ("val/cer", "min")
    scores = ("val/cer", "val/acc")
    network: Network
    upper_index: torch.Tensor  # buffers (register_buffer)
    lower_index: torch.Tensor

    def __new__(cls, *args: Any, **kwargs: Any) -> "RecognitionSystem":
        if cls is RecognitionSystem:
            cls = cls.family(args[0] if args else kwargs["network"])
        return super().__new__(cls)

    @staticmethod
    def family(network: dict[str, Any]) -> type["RecognitionSystem"]:
        decoder = getattr(NETWORKS.get(network.get("name", "crnn")), "decoder", "ctc")  # unknown: build_network says
        return CrossEntropySystem if decoder == "attention" else CTCSystem

    def __init__(self, network: dict[str, Any], charset: str, lr: float = 1e-3, weight_decay: float = 0.01,
                 warmup: float = 0.1, samples_to_print: int = 5, channels_last: bool = False,
                 max_nonfinite: int = 20):
        super().__init__(lr=lr, weight_decay=weight_decay, warmup=warmup, channels_last=channels_last,
                         max_nonfinite=max_nonfinite)
        self.charset = Charset(charset)
        self.network = self._prepare(build_network(network, self.charset.num_classes))
        upper, lower = self._case_pairs(self.charset)
        self.register_buffer("upper_index", torch.tensor(upper, dtype=torch.long), persistent=False)
        self.register_buffer("lower_index", torch.tensor(lower, dtype=torch.long), persistent=False)
        self._val_predictions: list[tuple[str, str, str]] = []

    @staticmethod
    def _case_pairs(charset: Charset) -> tuple[list[int], list[int]]:
        """Class indices of (upper, lower) letter pairs that are both in the charset."""
        pairs = [(charset.encode(c.upper())[0], charset.encode(c)[0]) for c in charset.chars
                 if c.islower() and len(c.upper()) == 1 and c.upper() in charset]
        return [u for u, _ in pairs], [lo for _, lo in pairs]

    def fold_case(self, log_probs: torch.Tensor, caseless: torch.Tensor | None) -> torch.Tensor:
        """For samples labelled without case (SROIE's upper-cased transcriptions), an upper-case target letter
        is matched by either case: P(A) becomes P(A) + P(a). The model is then never pushed to upper-case
        lower-case print; it learns case only from cased labels. log_probs: (T, N, C)."""
        if caseless is None or not bool(caseless.any()) or len(self.upper_index) == 0:
            return log_probs
        upper = log_probs.index_select(2, self.upper_index)
        either = torch.logaddexp(upper, log_probs.index_select(2, self.lower_index))
        folded = torch.where(caseless.view(1, -1, 1), either, upper)
        return log_probs.index_copy(2, self.upper_index, folded)

    def _loss(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(loss, logits, output lengths) of a batch."""
        raise NotImplementedError

    def _predict(self, batch: dict, logits: torch.Tensor, lengths: torch.Tensor) -> list:
        raise NotImplementedError

    def training_loss(self, batch: dict) -> torch.Tensor:
        return self._loss(batch)[0]

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        self.skipped.extend(batch["skipped"])
        if batch["images"] is None:
            return
        loss, logits, lengths = self._loss(batch)
        self.log("val/loss", loss, batch_size=len(batch["labels"]), sync_dist=True)
        predictions = self._predict(batch, logits, lengths)
        for name, gold, prediction in zip(batch["names"], batch["labels"], predictions):
            self._val_predictions.append((name, gold, prediction.text))

    def on_validation_epoch_end(self) -> None:
        """CER and accuracy over the whole validation set: each rank read its own share, so the edit counts
        are summed across ranks before dividing (an average of per-rank rates would weigh shares wrongly)."""
        golds = [g for _, g, _ in self._val_predictions]
        preds = [p for _, _, p in self._val_predictions]
        edits, chars = edit_counts(preds, golds)
        right = sum(g == p for g, p in zip(golds, preds))
        total_edits, total_chars, total_right, count = self._sum_over_ranks(
            [edits, chars, right, len(self._val_predictions)])
        if count == 0:
            return
        cer, acc = total_edits / max(total_chars, 1), total_right / count
        self.log("val/cer", cer, prog_bar=True)
        self.log("val/acc", acc, prog_bar=True)
        self._keep_scores({"val/cer": cer, "val/acc": acc})
        if not self.trainer.sanity_checking:
            self._print_samples()
        self._val_predictions = []

    def _print_samples(self) -> None:
        count = self.hparams["samples_to_print"]
        if not count or self.global_rank != 0:
            return
        wrong = [s for s in self._val_predictions if s[1] != s[2]]
        right = [s for s in self._val_predictions if s[1] == s[2]]
        shown = (wrong + right)[:count]
        lines = [f"  {'ok ' if g == p else 'ERR'} gold {g!r:<24} pred {p!r}" for _, g, p in shown]
        print(f"\nepoch {self.current_epoch} step {self.global_step}: {len(right)}/{len(self._val_predictions)} right\n"
              + "\n".join(lines), flush=True)

class CTCSystem(RecognitionSystem):
    """CTC over the encoder's columns (CRNN, ViT)."""

    def _loss(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        per_sample, logits, lengths = self._ctc(batch)
        return per_sample.mean(), logits, lengths

    def _ctc(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """CTC loss per sample, divided by its label length (their mean is `reduction="mean"`)."""
        logits = self.network(self._images(batch))
        lengths = self.network.output_lengths(batch["widths"]).clamp(max=logits.shape[1])
        log_probs = F.log_softmax(logits.float(), dim=-1).transpose(0, 1)  # CTC wants (T, N, C) in fp32
        log_probs = self.fold_case(log_probs, batch.get("caseless"))
        loss = F.ctc_loss(log_probs, batch["targets"], lengths, batch["target_lengths"], blank=self.charset.blank,
                          reduction="none", zero_infinity=True)
        return loss / batch["target_lengths"].clamp(min=1), logits, lengths

    def _predict(self, batch: dict, logits: torch.Tensor, lengths: torch.Tensor) -> list:
        return decode_batch(logits.float().cpu().numpy(), lengths.cpu().numpy(), self.charset)

    def teach_with(self, teacher: nn.Module, weight: float = 0.5, temperature: float = 2.0) -> None:
        """Train against a frozen teacher's column distributions too (train.distill_from). Kept out of the
        module tree, so checkpoints, saved weights, DDP and `.train()` never see it."""
        if not 0.0 <= weight <= 1.0 or temperature <= 0:
            raise TextrecError(f"train.distill_weight must be in [0, 1] and distill_temperature above 0, "
                               f"got {weight} and {temperature}")
        self.__dict__["teacher"] = teacher.eval().requires_grad_(False)
        self.distill_weight, self.distill_temperature = float(weight), float(temperature)

    def teacher_shares(self, batch: dict) -> torch.Tensor:
        """Each sample's teacher share of its loss: its data source's `distill`, else train.distill_weight."""
        own = batch.get("distill")
        if own is None:
            return torch.full((len(batch["target_lengths"]),), self.distill_weight)
        return torch.where(torch.isnan(own), torch.full_like(own, self.distill_weight), own)

    def training_loss(self, batch: dict) -> torch.Tensor:
        teacher = self.__dict__.get("teacher")
        if teacher is None:
            return self._loss(batch)[0]
        shares = self.teacher_shares(batch)
        if not bool((shares > 0).any()):
            return self._loss(batch)[0]
        if bool((shares == shares[0]).all()):  # one share for the batch: the teacher's term over all its columns
            loss, logits, lengths = self._loss(batch)
            distilled = self._distillation(teacher, self._images(batch), logits, lengths)
            share = float(shares[0])
            return (1.0 - share) * loss + share * distilled
        # Sources with their own share (a source read only through the teacher, say): weighed sample by sample,
        # and the teacher runs only on the samples that have a share.
        per_sample, logits, lengths = self._ctc(batch)
        shares = shares.to(per_sample.device)
        taught = shares > 0
        distilled = torch.zeros_like(per_sample)
        distilled[taught] = self._distillation(teacher, self._images(batch)[taught], logits[taught], lengths[taught],
                                               per_sample=True)
        return ((1.0 - shares) * per_sample + shares * distilled).mean()

    def _distillation(self, teacher: nn.Module, images: torch.Tensor, logits: torch.Tensor,
                      lengths: torch.Tensor, per_sample: bool = False) -> torch.Tensor:
        """KL(teacher || student) per valid column at the temperature, times its square (so the gradient's size
        does not depend on it), averaged over the columns (of each sample, with `per_sample`)."""
        if next(teacher.parameters()).device != images.device:
            teacher.to(images.device)
        with torch.no_grad():
            target = teacher(images)
        if target.shape != logits.shape:
            raise TextrecError(f"train.distill_from: the teacher gives {tuple(target.shape)} (batch, columns, "
                               f"classes) where this network gives {tuple(logits.shape)}: distillation needs "
                               f"the same charset and the same column width")
        t = self.distill_temperature
        student = F.log_softmax(logits.float() / t, dim=-1)
        teacher_log = F.log_softmax(target.float() / t, dim=-1)
        per_column = (teacher_log.exp() * (teacher_log - student)).sum(-1)  # (N, T)
        valid = torch.arange(logits.shape[1], device=logits.device)[None, :] < lengths[:, None]
        if per_sample:
            return t * t * (per_column * valid).sum(1) / valid.sum(1).clamp(min=1)
        return t * t * (per_column * valid).sum() / valid.sum().clamp(min=1)


class CrossEntropySystem(RecognitionSystem):
    """Cross-entropy per character with teacher forcing (the attention decoder); each label is followed by the
    end token."""

    def _loss(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        images = self._images(batch)
        lengths = batch["target_lengths"]
        targets = torch.full((len(lengths), int(lengths.max()) + 1), -100, dtype=torch.long, device=images.device)
        for i, piece in enumerate(torch.split(batch["targets"], lengths.tolist())):
            targets[i, : len(piece)] = piece
            targets[i, len(piece)] = END
        logits = self.network(images, widths=batch["widths"], targets=targets)
        log_probs = F.log_softmax(logits.float(), dim=-1)
        log_probs = self.fold_case(log_probs.transpose(0, 1), batch.get("caseless")).transpose(0, 1)
        loss = F.nll_loss(log_probs.reshape(-1, log_probs.shape[-1]), targets.reshape(-1), ignore_index=-100)
        return loss, logits, lengths + 1

    def _predict(self, batch: dict, logits: torch.Tensor, lengths: torch.Tensor) -> list:
        greedy = self.network(batch["images"], widths=batch["widths"])  # without the answers, as at inference
        return decode_attention_logits(greedy.float().cpu().numpy(), self.charset)


class DetectionSystem(BaseSystem):
    """The line detector: page crops to kernel maps, BCE + Dice; validation is line detection precision,
    recall and F1 on whole pages at the runtime's scale."""

    monitor = ("val/f1", "max")
    scores = ("val/precision", "val/recall", "val/f1")

    def __init__(self, network: dict[str, Any], detector_input: dict[str, Any], lr: float = 2e-3,
                 weight_decay: float = 1e-4, warmup: float = 0.1, channels_last: bool = False,
                 max_nonfinite: int = 20):
        super().__init__(lr=lr, weight_decay=weight_decay, warmup=warmup, channels_last=channels_last,
                         max_nonfinite=max_nonfinite)
        self.network = self._prepare(build_detector(network))
        self.input = DetectorInput.from_dict(detector_input)
        self._counts = [0, 0, 0]  # matched lines, true lines, predicted lines

    def training_loss(self, batch: dict) -> torch.Tensor:
        logits, targets = self.network(self._images(batch)).float(), batch["targets"]
        bce = F.binary_cross_entropy_with_logits(logits, targets)
        probability = torch.sigmoid(logits)
        dice = 1 - (2 * (probability * targets).sum() + 1) / (probability.sum() + targets.sum() + 1)
        self.log("train/dice", dice, prog_bar=True, batch_size=len(targets))
        return bce + dice

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        logits = self.network(batch["image"][None, None].to(self.device)).float()  # one whole page
        boxes = boxes_from_map(sigmoid(logits[0, 0].cpu().numpy()), self.input.stride)
        predicted = [box.quad() for box, _ in boxes]
        found = (len(match(batch["quads"], predicted)), len(batch["quads"]), len(predicted))
        self._counts = [a + b for a, b in zip(self._counts, found)]

    def on_validation_epoch_end(self) -> None:
        hits, truth, predicted = self._sum_over_ranks(self._counts)
        self._counts = [0, 0, 0]
        precision, recall = hits / max(1, predicted), hits / max(1, truth)
        scores = {"val/precision": precision, "val/recall": recall,
                  "val/f1": 2 * precision * recall / max(1e-9, precision + recall)}
        self.log_dict(scores, prog_bar=True)
        self._keep_scores(scores)
        if self.global_rank == 0 and not self.trainer.sanity_checking:
            print(f"\nstep {self.global_step}: detection P {precision:.3f} R {recall:.3f} F1 {scores['val/f1']:.3f}",
                  flush=True)
