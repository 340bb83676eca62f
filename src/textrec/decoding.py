"""CTC decoding: greedy and prefix beam search (optionally constrained to a word list), with confidences.

Pure numpy so the torch-free runtime decodes exactly like training. The beam search is ours because the
libraries that have one (pyctcdecode, torchaudio's flashlight decoder) pull in torch or native builds that the
serving install must not need; ours is ~60 lines and fast enough for word and line lengths.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from textrec.charset import Charset


@dataclass
class Prediction:
    text: str
    confidence: float  # probability that every character is right: the product of the char confidences
    chars: list[float] = field(default_factory=list)  # one confidence per character of `text`
    columns: list[int] = field(default_factory=list)  # output frame where each character peaks (for boxes)

    def to_dict(self) -> dict:
        return {"text": self.text, "confidence": round(self.confidence, 4),
                "chars": [round(c, 4) for c in self.chars]}


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def greedy_decode(probs: np.ndarray, charset: Charset) -> Prediction:
    """Best class per frame, repeats merged, blanks dropped. `probs` is (T, C) of probabilities."""
    best = probs.argmax(axis=1)
    indices, confs, columns = [], [], []
    previous = charset.blank
    for t, k in enumerate(best):
        if k != charset.blank:
            if k != previous:
                indices.append(int(k)), confs.append(float(probs[t, k])), columns.append(t)
            elif probs[t, k] > confs[-1]:
                confs[-1], columns[-1] = float(probs[t, k]), t
        previous = k
    return Prediction(charset.decode(indices), float(np.prod(confs)) if confs else 1.0 - _blank_doubt(probs), confs, columns)


def _blank_doubt(probs: np.ndarray) -> float:
    """For an empty reading: the largest chance that some frame held a character after all."""
    return float(1.0 - probs[:, 0].min()) if len(probs) else 0.0


class _Trie:
    """Prefixes of a word list, so the beam search only extends into words that exist."""

    def __init__(self, words: Iterable[str]):
        self.words = set(words)
        self.prefixes = {w[:i] for w in self.words for i in range(len(w) + 1)}


def beam_decode(probs: np.ndarray, charset: Charset, beam_width: int = 10,
                lexicon: Iterable[str] | None = None, prune: float = 1e-3) -> Prediction:
    """CTC prefix beam search; with a lexicon, only words of it (or the greedy reading if none fits)."""
    trie = _Trie(lexicon) if lexicon is not None else None
    # prefix -> (p ending in blank, p ending in non-blank); char confidences kept per prefix.
    beams: dict[tuple[int, ...], tuple[float, float]] = {(): (1.0, 0.0)}
    confs: dict[tuple[int, ...], list[float]] = {(): []}
    columns: dict[tuple[int, ...], list[int]] = {(): []}
    for t in range(probs.shape[0]):
        frame = probs[t]
        candidates = [int(k) for k in np.nonzero(frame >= prune)[0] if k != charset.blank]
        nxt: dict[tuple[int, ...], list[float]] = defaultdict(lambda: [0.0, 0.0])
        for prefix, (p_b, p_nb) in beams.items():
            stay = nxt[prefix]
            stay[0] += (p_b + p_nb) * frame[charset.blank]
            if prefix:
                stay[1] += p_nb * frame[prefix[-1]]  # repeated char without blank: same prefix
            for k in candidates:
                extended = prefix + (k,)
                if trie is not None and charset.decode(extended) not in trie.prefixes:
                    continue
                p = frame[k]
                new = nxt[extended]
                new[1] += p * (p_b if prefix and prefix[-1] == k else p_b + p_nb)
                if extended not in confs or (extended[:-1] == prefix and p > confs[extended][-1]):
                    confs[extended] = confs[prefix] + [float(p)]
                    columns[extended] = columns[prefix] + [t]
        ranked = sorted(nxt.items(), key=lambda item: -(item[1][0] + item[1][1]))[:beam_width]
        beams = {prefix: (p[0], p[1]) for prefix, p in ranked}
    ordered = sorted(beams.items(), key=lambda item: -(item[1][0] + item[1][1]))
    if trie is not None:
        ordered = [item for item in ordered if charset.decode(item[0]) in trie.words]
        if not ordered:
            return greedy_decode(probs, charset)
    prefix = ordered[0][0]
    chars = confs.get(prefix, [])
    return Prediction(charset.decode(prefix), float(np.prod(chars)) if chars else 1.0 - _blank_doubt(probs),
                      chars, columns.get(prefix, []))


def decode_batch(logits: np.ndarray, lengths: Iterable[int], charset: Charset, method: str = "greedy",
                 beam_width: int = 10, lexicon: Iterable[str] | None = None) -> list[Prediction]:
    """Decode (N, T, C) logits, each sample cut to its valid number of frames."""
    lexicon = list(lexicon) if lexicon is not None else None
    results = []
    for sample, length in zip(logits, lengths):
        probs = softmax(sample[: int(length)].astype(np.float64))
        if method == "greedy" and lexicon is None:
            results.append(greedy_decode(probs, charset))
        else:
            results.append(beam_decode(probs, charset, beam_width, lexicon))
    return results
