"""The Lightning wrapper around a recognition network: CTC loss, metrics, optimizer and schedule."""
from __future__ import annotations

import math
import random
from typing import Any

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F

from textrec.charset import Charset
from textrec.decoding import decode_attention_logits, decode_batch
from textrec.errors import TextrecError
from textrec.evaluation import edit_counts
from textrec.networks import build_network
from textrec.networks.attention import END


class RecognitionSystem(L.LightningModule):
    def __init__(self, network: dict[str, Any], charset: str, lr: float = 1e-3, weight_decay: float = 0.01,
                 warmup: float = 0.1, samples_to_print: int = 5, channels_last: bool = False,
                 max_nonfinite: int = 20):
        super().__init__()
        self.save_hyperparameters()
        self.charset = Charset(charset)
        self.network = build_network(network, self.charset.num_classes)
        if channels_last:
            self.network = self.network.to(memory_format=torch.channels_last)
        upper, lower = self._case_pairs(self.charset)
        self.register_buffer("upper_index", torch.tensor(upper, dtype=torch.long), persistent=False)
        self.register_buffer("lower_index", torch.tensor(lower, dtype=torch.long), persistent=False)
        self.skipped: list[str] = []
        self.nonfinite_batches = 0  # batches whose loss was NaN/inf, skipped
        self._nonfinite_in_a_row = 0
        self._empty_in_a_row = 0
        self._val_predictions: list[tuple[str, str, str]] = []
        self.history: dict[str, list[tuple[int, float]]] = {"train/loss": [], "val/cer": [], "val/acc": []}

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.network(images)

    @staticmethod
    def _case_pairs(charset: Charset) -> tuple[list[int], list[int]]:
        """Class indices of (upper, lower) letter pairs that are both in the charset."""
        pairs = [(charset.encode(c.upper())[0], charset.encode(c)[0]) for c in charset.chars
                 if c.islower() and len(c.upper()) == 1 and c.upper() in charset]
        return [u for u, _ in pairs], [lo for _, lo in pairs]

    def fold_case(self, log_probs: torch.Tensor, caseless: torch.Tensor) -> torch.Tensor:
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
        images = batch["images"]
        if self.hparams.get("channels_last"):
            images = images.contiguous(memory_format=torch.channels_last)
        if self.network.decoder == "attention":
            return self._attention_loss(images, batch)
        logits = self.network(images)
        lengths = self.network.output_lengths(batch["widths"]).clamp(max=logits.shape[1])
        log_probs = F.log_softmax(logits.float(), dim=-1).transpose(0, 1)  # CTC wants (T, N, C) in fp32
        log_probs = self.fold_case(log_probs, batch.get("caseless"))
        loss = F.ctc_loss(log_probs, batch["targets"], lengths, batch["target_lengths"], blank=self.charset.blank,
                          reduction="mean", zero_infinity=True)
        return loss, logits, lengths

    def _attention_loss(self, images: torch.Tensor, batch: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Cross-entropy per character with teacher forcing; each label is followed by the end token."""
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
        if self.network.decoder == "attention":  # read without the answers: greedy, as at inference
            greedy = self.network(batch["images"], widths=batch["widths"])
            return decode_attention_logits(greedy.float().cpu().numpy(), self.charset)
        return decode_batch(logits.float().cpu().numpy(), lengths.cpu().numpy(), self.charset)

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor | None:
        self.skipped.extend(batch["skipped"])
        if batch["images"] is None:
            return self._empty_batch(batch)
        self._empty_in_a_row = 0
        loss, _, _ = self._loss(batch)
        if not torch.isfinite(loss):
            return self._nonfinite(loss)
        self._nonfinite_in_a_row = 0
        self.log("train/loss", loss, prog_bar=True, batch_size=len(batch["labels"]))
        if batch_idx % 10 == 0:
            self.history["train/loss"].append((self.global_step, float(loss.detach())))
        return loss

    def _empty_batch(self, batch: dict) -> None:
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
            return sum(p.sum() * 0.0 for p in self.parameters() if p.requires_grad)
        return None

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
        totals = torch.tensor([edits, chars, right, len(self._val_predictions)], dtype=torch.float64,
                              device=self.device)
        if self.trainer.world_size > 1:
            totals = self.trainer.strategy.reduce(totals, reduce_op="sum")
        edits, chars, right, count = totals.tolist()
        if count == 0:
            return
        cer, acc = edits / max(chars, 1), right / count
        self.log("val/cer", cer, prog_bar=True)
        self.log("val/acc", acc, prog_bar=True)
        if not self.trainer.sanity_checking:
            self.history["val/cer"].append((self.global_step, cer))
            self.history["val/acc"].append((self.global_step, acc))
            self._print_samples()
        self._val_predictions = []

    def _print_samples(self) -> None:
        count = self.hparams.samples_to_print
        if not count or self.global_rank != 0:
            return
        wrong = [s for s in self._val_predictions if s[1] != s[2]]
        right = [s for s in self._val_predictions if s[1] == s[2]]
        shown = (wrong + right)[:count]
        lines = [f"  {'ok ' if g == p else 'ERR'} gold {g!r:<24} pred {p!r}" for _, g, p in shown]
        print(f"\nepoch {self.current_epoch} step {self.global_step}: {len(right)}/{len(self._val_predictions)} right\n"
              + "\n".join(lines), flush=True)

    def lr_factor(self, step: int) -> float:
        """Linear warm-up from lr/25, then cosine down to lr/100. Computed from the trainer's current total
        (not stored in the scheduler), so a resumed run with a larger budget stretches the schedule. With a
        time budget (train.max_time) progress is the larger of steps and time used, so a run stopped by the
        clock still ends with a decayed learning rate."""
        total = max(int(self.trainer.estimated_stepping_batches), 1)
        warmup = max(int(total * self.hparams.warmup), 1)
        time_used = self._time_fraction()
        if step < warmup and time_used < self.hparams.warmup:
            return 0.04 + 0.96 * max(step / warmup, time_used / max(self.hparams.warmup, 1e-9))
        step_progress = (step - warmup) / max(total - warmup, 1)
        time_progress = (time_used - self.hparams.warmup) / max(1 - self.hparams.warmup, 1e-9)
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

    def configure_optimizers(self) -> dict:
        optimizer = torch.optim.AdamW(self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, self.lr_factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["textrec_history"] = self.history
        checkpoint["textrec_nonfinite"] = self.nonfinite_batches
        # so a resumed run draws the same random numbers as one that never stopped (Lightning keeps none)
        _, keys, position, has_gauss, gauss = np.random.get_state()
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
