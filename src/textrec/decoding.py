"""CTC decoding: greedy and prefix beam search (optionally constrained to a word list), with confidences.

Pure numpy so the torch-free runtime decodes exactly like training. The beam search is ours because the
libraries that have one (pyctcdecode, torchaudio's flashlight decoder) pull in torch or native builds that the
serving install must not need; ours is ~60 lines and fast enough for word and line lengths.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from textrec.charset import Charset
from textrec.language import ALPHABET, END, START, CharLM


@dataclass
class Prediction:
    text: str
    # how likely the whole reading is right: greedy, the product of the char confidences; beam search, the
    # reading's share of the finished beams; then the model's calibration curve for its decoder
    confidence: float
    chars: list[float] = field(default_factory=list)  # one confidence per character of `text`
    columns: list[int] = field(default_factory=list)  # output frame where each character peaks (for boxes)
    attention: list[list[float]] | None = None  # attention decoder: weights over the columns, per character
    turned: int = 0  # degrees counter-clockwise the crop was turned to read it (a tall crop of vertical text)
    # like `confidence`, but right up to letter case: whether the reading's letters are right, whichever case.
    # A model trained on case-blind labels (receipts) doubts case without doubting the text.
    case_folded: float | None = None

    def to_dict(self) -> dict:
        result = {"text": self.text, "confidence": round(self.confidence, 4),
                  "chars": [round(c, 4) for c in self.chars]}
        if self.turned:
            result["turned"] = self.turned
        return result


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def ctc_log_likelihood(log_probs: np.ndarray, labels: list[int], blank: int = 0) -> float:
    """log P(labels | frames), summed over every CTC alignment (the forward algorithm); `log_probs` is (T, C).
    -inf when the frames are too few. It asks a model how likely another model's reading of its crop is."""
    extended = np.full(2 * len(labels) + 1, blank)
    extended[1::2] = labels
    can_skip = np.zeros(len(extended), bool)  # a label may follow the previous label directly, unless repeated
    can_skip[2:] = (extended[2:] != blank) & (extended[2:] != extended[:-2])
    alpha = np.full(len(extended), -np.inf)
    alpha[: min(2, len(extended))] = log_probs[0, extended[:2]]
    for frame in log_probs[1:]:
        step, skip = np.full_like(alpha, -np.inf), np.full_like(alpha, -np.inf)
        step[1:], skip[2:] = alpha[:-1], alpha[:-2]
        skip[~can_skip] = -np.inf
        alpha = np.logaddexp(np.logaddexp(alpha, step), skip) + frame[extended]
    return float(np.logaddexp(alpha[-1], alpha[-2]) if len(extended) > 1 else alpha[-1])


def greedy_decode(probs: np.ndarray, charset: Charset) -> Prediction:
    """Best class per frame, repeats merged, blanks dropped. `probs` is (T, C) of probabilities."""
    best = probs.argmax(axis=1)
    indices, confs, columns = [], [], []
    previous = charset.blank
    for t, k in enumerate(best):
        if k != charset.blank:
            if k != previous:
                indices.append(int(k))
                confs.append(float(probs[t, k]))
                columns.append(t)
            elif probs[t, k] > confs[-1]:
                confs[-1], columns[-1] = float(probs[t, k]), t
        previous = k
    confidence = float(np.prod(confs)) if confs else 1.0 - _blank_doubt(probs)
    folded = [c + (float(probs[t, twin]) if (twin := charset.case_twin(k)) > 0 else 0.0)
              for c, t, k in zip(confs, columns, indices)]
    return Prediction(charset.decode(indices), confidence, confs, columns,
                      case_folded=min(1.0, float(np.prod(folded))) if confs else confidence)


def _blank_doubt(probs: np.ndarray) -> float:
    """For an empty reading: the largest chance that some frame held a character after all."""
    return float(1.0 - probs[:, 0].min()) if len(probs) else 0.0


class _Trie:
    """Prefixes of a word list, so the beam search only extends into words that exist."""

    def __init__(self, words: Iterable[str]):
        self.words = set(words)
        self.prefixes = {w[:i] for w in self.words for i in range(len(w) + 1)}


class LanguageFusion:
    """Shallow fusion of a character language model into the beam search: a reading ranks by
    log P_ctc + weight * log P_lm + bonus * letters + word_bonus * known words (the letter bonus offsets the LM's
    pull towards short readings; a word counts as known when the LM's word list has it, at least MIN_KNOWN letters).
    A prefix's LM score depends on the prefix alone, so one fusion (and its cache) serves every reading of a
    recognizer; the cache is emptied when it grows past `max_cache` prefixes. Prefixes are strings of class
    indices (`chr(k)`): a string caches its hash, a tuple hashes all its items at every lookup."""

    max_cache = 200_000

    def __init__(self, lm: CharLM, charset: Charset, weight: float = 0.5, bonus: float = 0.5,
                 word_bonus: float = 0.0):
        self.lm, self.weight, self.bonus, self.word_bonus = lm, weight, bonus, word_bonus
        self.symbols = {chr(i + 1): lm.symbol(ch) for i, ch in enumerate(charset.chars)}
        self.suffix = max(lm.order - 1, 0)  # the context a row depends on: rows cached per suffix, not per word
        # prefix -> (weighted LM score so far, the letters of the word being read or None between words). trim swaps
        # in a new dict instead of clearing this one, so a reading under way on another thread (the server's) loses
        # nothing
        self.states: dict[str, tuple[float, str | None]] = {"": (0.0, None)}
        self.rows: dict[str, list[float]] = {}

    def trim(self) -> None:
        if len(self.states) > self.max_cache:
            self.states, self.rows = {"": (0.0, None)}, {}

    def _row(self, word: str) -> list[float]:
        """The LM's row after the letters `word` (case-folded) at the start of a word."""
        context = (START + word)[-self.suffix:] if self.suffix else ""
        row = self.rows.get(context)
        if row is None:
            row = self.rows[context] = self.lm.row(context).tolist()
        return row

    def _ending(self, word: str) -> float:
        """What a word scores for ending here: the LM's word end, and the bonus if it is a known word."""
        known = len(word) >= MIN_KNOWN and word in self.lm.words
        return self.weight * self._row(word)[END] + (self.word_bonus if known else 0.0)

    def _state(self, prefix: str) -> tuple[float, str | None]:
        state = self.states.get(prefix)
        if state is None:
            score, word = self._state(prefix[:-1])
            symbol = self.symbols.get(prefix[-1])
            if symbol is not None:
                word = word or ""
                score += self.weight * self._row(word)[symbol] + self.bonus
                word += ALPHABET[symbol]
            elif word is not None:  # a non-letter ends the word: score the ending
                score, word = score + self._ending(word), None
            state = self.states[prefix] = (score, word)
        return state

    def partial(self, prefix: str) -> float:
        return self._state(prefix)[0]

    def final(self, prefix: str) -> float:
        """The score of a complete reading: a word still open at the end is scored as ending there."""
        score, word = self._state(prefix)
        return score + (self._ending(word) if word is not None else 0.0)


MIN_KNOWN = 2  # letters a known word needs for the word bonus: a lone letter in a code is not pulled to "a" or "i"


Peak = tuple  # (probability, frame, the previous character's Peak or None): one per character of a prefix


def beam_decode(probs: np.ndarray, charset: Charset, beam_width: int = 10, lexicon: Iterable[str] | None = None,
                prune: float = 3e-3, fusion: LanguageFusion | None = None) -> Prediction:
    """CTC prefix beam search; with a lexicon, only words of it (or the greedy reading if none fits); with a
    language model fusion, readings ranked by CTC and LM scores together."""
    # `prune`: characters below this probability in a frame are not tried (3e-3 instead of 1e-3 cut the LM search's
    # time by a third with no reading changed on the validation words)
    trie = _Trie(lexicon) if lexicon is not None else None
    blank = charset.blank
    # prefix (class indices as characters, see LanguageFusion) -> [p ending in blank, p ending in non-blank,
    # LM score of the prefix (0 without a language model)]
    beams: dict[str, list[float]] = {"": [1.0, 0.0, 0.0]}
    # prefix -> where its last character peaks, linked to its earlier characters' peaks as they were when the
    # prefix was made: shared, never copied (copying per extension was a fifth of the search's time)
    peaks: dict[str, Peak | None] = {"": None}
    partial = fusion.partial if fusion is not None else None
    states = fusion.states if fusion is not None else {}  # the LM's cache, read here first: a call costs more
    log = math.log

    def rank(item):
        p = item[1]
        return -(log(max(p[0] + p[1], 1e-300)) + p[2]) if partial is not None else -(p[0] + p[1])

    # python floats and lists: indexing numpy scalars one at a time would cost more than the search itself
    likely = probs >= prune
    likely[:, blank] = False
    candidates: list[list[tuple[int, str, float]]] = [[] for _ in range(len(probs))]
    for t, k, p in zip(*(axis.tolist() for axis in np.nonzero(likely)), probs[likely].tolist()):
        candidates[t].append((k, chr(k), p))
    states_get, peaks_get = states.get, peaks.get  # bound once: the inner loop runs ~10^5 times a line
    for t, (frame, tried) in enumerate(zip(probs.tolist(), candidates)):
        p_blank = frame[blank]
        if not tried:  # no character likely here: every prefix stays, none is made, nothing to rank
            beams = {prefix: [(p_b + p_nb) * p_blank, p_nb * frame[ord(prefix[-1])] if prefix else 0.0, lm]
                     for prefix, (p_b, p_nb, lm) in beams.items()}
            continue
        nxt: dict[str, list[float]] = {}
        nxt_get = nxt.get
        for prefix, (p_b, p_nb, lm) in beams.items():
            stay = nxt_get(prefix)
            if stay is None:
                stay = nxt[prefix] = [0.0, 0.0, lm]
            stay[0] += (p_b + p_nb) * p_blank
            last = ord(prefix[-1]) if prefix else -1
            if prefix:
                stay[1] += p_nb * frame[last]  # repeated char without blank: same prefix
            for k, char, p in tried:
                extended = prefix + char
                if trie is not None and charset.decode(_indices(extended)) not in trie.prefixes:
                    continue
                new = nxt_get(extended)
                if new is None:
                    lm_state = states_get(extended)
                    new = nxt[extended] = [0.0, 0.0, lm_state[0] if lm_state is not None
                                           else partial(extended) if partial is not None else 0.0]
                new[1] += p * (p_b if last == k else p_b + p_nb)
                known = peaks_get(extended)
                if known is None or p > known[0]:  # the frame where the reading's character peaks
                    peaks[extended] = (p, t, peaks[prefix])
        if len(nxt) > beam_width:  # sorted only when some must go (the rest is order-free); ties keep their order
            beams = _best(nxt, beam_width, partial is not None)
        else:
            beams = nxt
    if fusion is None:
        final_rank = rank
    else:
        def final_rank(item):
            return -(log(max(item[1][0] + item[1][1], 1e-300)) + fusion.final(item[0]))
    ordered = sorted(beams.items(), key=final_rank)
    if trie is not None:
        ordered = [item for item in ordered if charset.decode(_indices(item[0])) in trie.words]
        if not ordered:
            return greedy_decode(probs, charset)
    prefix = ordered[0][0]
    decoded = {item[0]: charset.decode(_indices(item[0])) for item in ordered}
    chars, columns = _unwind(peaks.get(prefix))
    # the reading's share of the finished beams (scores in log space): how decisively it won, even where the
    # language model chose a letter the network was unsure of (a product of letter probabilities would be ~0)
    scores = np.array([-final_rank(item) if fusion is not None else math.log(max(-final_rank(item), 1e-300))
                       for item in ordered])
    shares = np.exp(scores - scores[0]) / np.exp(scores - scores[0]).sum()
    text = decoded[prefix]
    folded = float(sum(share for item, share in zip(ordered, shares) if decoded[item[0]].lower() == text.lower()))
    if not chars:
        return Prediction(text, 1.0 - _blank_doubt(probs), chars, columns)
    return Prediction(text, float(shares[0]), chars, columns, case_folded=min(1.0, folded))


def _best(beams: dict[str, list[float]], width: int, fused: bool) -> dict[str, list[float]]:
    """The `width` most likely prefixes, as `sorted(key=rank)[:width]` would pick them: the scores in one list
    comprehension and a sort of indices cost half of a key function called per prefix."""
    items = list(beams.items())
    log = math.log
    if fused:
        neg = [-(log(max(p_b + p_nb, 1e-300)) + lm) for p_b, p_nb, lm in beams.values()]
    else:
        neg = [-(p_b + p_nb) for p_b, p_nb, _ in beams.values()]
    return {items[i][0]: items[i][1] for i in sorted(range(len(items)), key=neg.__getitem__)[:width]}


def _indices(prefix: str) -> list[int]:
    return [ord(char) for char in prefix]


def _unwind(peak: Peak | None) -> tuple[list[float], list[int]]:
    """A prefix's linked peaks as its characters' confidences and frames, first character first."""
    chars, columns = [], []
    while peak is not None:
        chars.append(peak[0])
        columns.append(peak[1])
        peak = peak[2]
    return chars[::-1], columns[::-1]


def decode_batch(logits: np.ndarray, lengths: Iterable[int], charset: Charset, method: str = "greedy",
                 beam_width: int = 10, lexicon: Iterable[str] | None = None,
                 fusion: LanguageFusion | None = None) -> list[Prediction]:
    """Decode (N, T, C) logits, each sample cut to its valid number of frames: greedy, beam (with a lexicon if
    given) or lm (beam search with `fusion`)."""
    lexicon = list(lexicon) if lexicon is not None else None
    if method == "lm" and fusion is None:
        raise ValueError("method 'lm' needs a LanguageFusion")
    results = []
    for sample, length in zip(logits, lengths):
        probs = softmax(sample[: int(length)].astype(np.float64))
        if (method == "greedy" and lexicon is None) or (method == "lm" and _confident(probs)):
            results.append(greedy_decode(probs, charset))
        else:
            results.append(beam_decode(probs, charset, beam_width, lexicon, fusion=fusion if method == "lm" else None))
    if fusion is not None:
        fusion.trim()
    return results


CONFIDENT = 0.95  # every frame this sure of its best class: the LM search would not change the reading


def _confident(probs: np.ndarray) -> bool:
    """Skip the LM beam search for readings the network is sure of at every frame (a third to a half of real
    words): on the 300 validation words this changed no reading and halved the decoding time."""
    return len(probs) == 0 or float(probs.max(axis=1).min()) >= CONFIDENT


END_TOKEN = 0  # attention decoders: class 0 ends the reading (it is the CTC blank elsewhere)


def decode_attention_logits(logits: np.ndarray, charset: Charset) -> list[Prediction]:
    """Greedy readings from (N, steps, C) attention-decoder logits: the best class per step up to the end token."""
    results = []
    for sample in logits:
        probs = softmax(sample.astype(np.float64))
        indices, confs = [], []
        for step in probs:
            k = int(step.argmax())
            if k == END_TOKEN:
                break
            indices.append(k)
            confs.append(float(step[k]))
        results.append(Prediction(charset.decode(indices), float(np.prod(confs)) if confs else 1.0, confs))
    return results


def attention_search(memory: np.ndarray, mask: np.ndarray, start_state: tuple[np.ndarray, np.ndarray],
                     step, charset: Charset, start_token: int, max_length: int,
                     beam_width: int = 1) -> list[Prediction]:
    """Run an attention decoder's `step(tokens, h, c, memory, mask) -> (logits, h, c, weights)` (numpy in and
    out: PyTorch and the exported ONNX step graph plug in alike) until every reading has ended. beam_width 1 is
    greedy over the whole batch at once; more keeps that many hypotheses per image, ranked by log-probability."""
    if beam_width <= 1:
        return _greedy_search(memory, mask, start_state, step, charset, start_token, max_length)
    results = []
    for i in range(memory.shape[0]):
        h, c = (s[:, i : i + 1] for s in start_state)
        results.append(_beam_one(memory[i : i + 1], mask[i : i + 1], (h, c), step, charset, start_token,
                                 max_length, beam_width))
    return results


def _greedy_search(memory, mask, state, step, charset, start_token, max_length) -> list[Prediction]:
    n = memory.shape[0]
    tokens = np.full(n, start_token, dtype=np.int64)
    h, c = state
    chosen: list[list[int]] = [[] for _ in range(n)]
    confs: list[list[float]] = [[] for _ in range(n)]
    maps: list[list[list[float]]] = [[] for _ in range(n)]
    finished = np.zeros(n, dtype=bool)
    for _ in range(max_length):
        logits, h, c, weights = step(tokens, h, c, memory, mask)
        probs = softmax(logits.astype(np.float64))
        tokens = probs.argmax(axis=1).astype(np.int64)
        for i in np.nonzero(~finished)[0]:
            if tokens[i] == END_TOKEN:
                finished[i] = True
            else:
                chosen[i].append(int(tokens[i]))
                confs[i].append(float(probs[i, tokens[i]]))
                maps[i].append(weights[i].astype(float).tolist())
        if finished.all():
            break
    return [_attention_prediction(charset, chosen[i], confs[i], maps[i]) for i in range(n)]


def _beam_one(memory, mask, state, step, charset, start_token, max_length, beam_width) -> Prediction:
    # a hypothesis: (log-probability, tokens, char confidences, attention maps, h, c)
    beams: list[tuple[float, list[int], list[float], list[list[float]], np.ndarray, np.ndarray]] = [
        (0.0, [], [], [], state[0], state[1])]
    done: list[tuple] = []
    for _ in range(max_length):
        tokens = np.array([b[1][-1] if b[1] else start_token for b in beams], dtype=np.int64)
        h = np.concatenate([b[4] for b in beams], axis=1)
        c = np.concatenate([b[5] for b in beams], axis=1)
        size = len(beams)
        logits, h, c, weights = step(tokens, h, c, np.repeat(memory, size, 0), np.repeat(mask, size, 0))
        log_probs = np.log(softmax(logits.astype(np.float64)) + 1e-12)
        candidates = []
        for b, (score, seq, confs, maps, _, _) in enumerate(beams):
            for k in np.argsort(-log_probs[b])[:beam_width]:
                candidates.append((score + log_probs[b, k], b, int(k)))
        candidates.sort(key=lambda item: -item[0])
        beams_next = []
        for score, b, k in candidates:
            _, seq, confs, maps, _, _ = beams[b]
            if k == END_TOKEN:
                done.append((score, seq, confs, maps))
            else:
                beams_next.append((score, seq + [k], confs + [float(np.exp(log_probs[b, k]))],
                                   maps + [weights[b].astype(float).tolist()], h[:, b : b + 1], c[:, b : b + 1]))
            if len(beams_next) == beam_width:
                break
        beams = beams_next
        if not beams or (done and max(d[0] for d in done) >= beams[0][0]):
            break  # scores only fall: no open hypothesis can beat the best finished one
    best = max(done or [b[:4] for b in beams], key=lambda item: item[0])
    return _attention_prediction(charset, best[1], best[2], best[3])


def _attention_prediction(charset: Charset, indices: list[int], confs: list[float], maps: list) -> Prediction:
    columns = [int(np.argmax(m)) for m in maps]
    return Prediction(charset.decode(indices), float(np.prod(confs)) if confs else 1.0, confs, columns, maps)
