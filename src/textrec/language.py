"""A character n-gram model of English words, for CTC beam search (shallow fusion).

The recognizer alone misreads one letter of a word it is unsure of (OVERTAKINO, MODERAIE); a language model that
knows which letter sequences English words are made of tips those close calls. It scores only runs of letters,
case-folded, one word at a time (space, digits and punctuation end a word), so names, codes and numbers are left
to the recognizer. Stored as a plain .npz (context strings and a table of log-probabilities): no pickle, numpy
only, so the torch-free runtime uses it too. Built by textrec.training.language_model from wordfreq's word list.

The file also carries the words it was counted from (`words`): an n-gram scores a close misspelling of a word
nearly as high as the word (six letters of context do not see the whole word), so the beam search adds a bonus
for each whole known word a reading spells (`LanguageFusion`'s `word_bonus`).
"""
from __future__ import annotations

import zipfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from textrec.errors import TextrecError

ALPHABET = "abcdefghijklmnopqrstuvwxyz'"
END = len(ALPHABET)  # the last column of the table: the word ends here
START = "^"  # marks the start of a word in a context


class CharLM:
    """P(next letter | up to order-1 letters before it), backed off to the longest context it has seen."""

    def __init__(self, contexts: list[str], logprobs: np.ndarray, order: int, words: Iterable[str] = ()):
        if logprobs.shape != (len(contexts), len(ALPHABET) + 1):
            raise TextrecError(f"language model table is {logprobs.shape}, "
                               f"expected ({len(contexts)}, {len(ALPHABET) + 1})")
        self.order = order
        self.rows = {context: row for context, row in zip(contexts, logprobs.astype(np.float64))}
        if "" not in self.rows:
            raise TextrecError("language model has no empty context (unigram row)")
        self.index = {c: i for i, c in enumerate(ALPHABET)}
        self.words = frozenset(words)  # case-folded words of ALPHABET; empty for a file built before they were kept
        if "" in self.words or not set("".join(self.words)) <= self.index.keys():  # one pass: loads stay fast
            strange = next(w for w in self.words if not w or any(c not in self.index for c in w))
            raise TextrecError(f"language model word {strange!r:.40} is not spelled from its alphabet")

    @classmethod
    def load(cls, path: str | Path) -> "CharLM":
        try:
            check_archive(path)
            with np.load(path, allow_pickle=False) as data:
                words = data["words"].tobytes().decode().split("\n") if "words" in data.files else []
                return cls([str(c) for c in data["contexts"]], data["logprobs"], int(data["order"]), words)
        except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as exc:  # missing, cut short, not ours
            raise TextrecError(f"cannot read language model {path}: {exc}") from None

    def save(self, path: str | Path) -> None:
        contexts = sorted(self.rows)
        # the words as one newline-joined UTF-8 byte array: a third of the size of numpy's fixed-width strings
        arrays: dict[str, np.ndarray] = {
            "contexts": np.array(contexts), "order": np.array(self.order),
            "logprobs": np.stack([self.rows[c] for c in contexts]).astype(np.float16)}
        if self.words:
            arrays["words"] = np.frombuffer("\n".join(sorted(self.words)).encode(), dtype=np.uint8)
        np.savez_compressed(path, **arrays)  # type: ignore[arg-type]  # the stub fears a key "allow_pickle"

    def row(self, context: str) -> np.ndarray:
        """Log-probabilities of each letter (and the end) after `context` (START-prefixed at a word start)."""
        return longest_suffix_row(self.rows, context[-(self.order - 1):] if self.order > 1 else "")

    def symbol(self, char: str) -> int | None:
        """Column of a character, or None when it is not part of a word (digits, space, punctuation)."""
        return self.index.get(char.lower())

    def word_logprob(self, word: str) -> float:
        """Log-probability of a whole word (letters only), its end included."""
        context, total = START, 0.0
        for char in word:
            k = self.symbol(char)
            if k is None:
                raise TextrecError(f"{char!r} is not in the language model's alphabet")
            total += self.row(context)[k]
            context += char.lower()
        return total + self.row(context)[END]


MAX_MEMBER_BYTES = 256 * 2**20  # an array of the language model unpacked (the bundled one's largest: ~6 MB)


def check_archive(path: str | Path) -> None:
    """Refuses an .npz whose members would unpack (or allocate) past MAX_MEMBER_BYTES, from the zip directory
    and the array headers, before anything is read: numpy allocates an array from its header's shape first."""
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            if info.file_size > MAX_MEMBER_BYTES:
                raise ValueError(f"member {info.filename} unpacks to {info.file_size:,} bytes; "
                                 f"the limit is {MAX_MEMBER_BYTES:,}")
            if info.filename.endswith(".npy"):
                with archive.open(info) as member:
                    version = np.lib.format.read_magic(member)
                    header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                              else np.lib.format.read_array_header_2_0)
                    shape, _, dtype = header(member)  # the header only
                size = int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
                if size > info.file_size:
                    raise ValueError(f"member {info.filename} declares {size:,} bytes of data in "
                                     f"{info.file_size:,}")


def longest_suffix_row(rows: dict[str, np.ndarray], context: str) -> np.ndarray:
    """The row of the longest suffix of `context` that has one (the empty context always does): the back-off."""
    while context not in rows:
        context = context[1:]
    return rows[context]
