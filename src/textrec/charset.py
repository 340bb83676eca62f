"""Alphabets and the mapping between text and class indices (index 0 is the CTC blank)."""
from __future__ import annotations

import string
from collections import Counter
from collections.abc import Iterable, Sequence

from textrec.errors import TextrecError

PRESETS: dict[str, str] = {
    "digits": string.digits,
    "lower": string.digits + string.ascii_lowercase,
    "alnum": string.digits + string.ascii_lowercase + string.ascii_uppercase,
    # Printable ASCII without tabs/newlines, space included.
    "printable": string.digits + string.ascii_letters + string.punctuation + " ",
}


class Charset:
    """An ordered set of characters; class 0 is reserved for the CTC blank."""

    blank = 0

    def __init__(self, chars: str | Sequence[str]):
        chars = "".join(chars)
        if not chars:
            raise TextrecError("charset is empty")
        duplicates = sorted(c for c, n in Counter(chars).items() if n > 1)  # linear: a stranger's charset may be long
        if duplicates:
            raise TextrecError(f"charset has duplicate characters: {''.join(duplicates)!r}")
        self.chars = chars
        self._index = {c: i + 1 for i, c in enumerate(chars)}

    @classmethod
    def from_spec(cls, spec: str) -> "Charset":
        """A preset name (digits, lower, alnum, printable) or the literal characters."""
        return cls(PRESETS.get(spec, spec))

    @classmethod
    def from_labels(cls, labels: Iterable[str]) -> "Charset":
        return cls("".join(sorted(set("".join(labels)))))

    @property
    def num_classes(self) -> int:
        """Characters plus the blank."""
        return len(self.chars) + 1

    def __len__(self) -> int:
        return len(self.chars)

    def __contains__(self, char: str) -> bool:
        return char in self._index

    def case_twin(self, index: int) -> int:
        """The class of the other case of this class's letter (`a` for `A`), or -1 if it has none here."""
        if not 0 < index <= len(self.chars):
            return -1
        char = self.chars[index - 1]
        twin = char.swapcase()
        return self._index.get(twin, -1) if twin != char and len(twin) == 1 else -1

    def unknown(self, text: str) -> list[str]:
        """Characters of `text` that this charset cannot encode, in order of appearance."""
        return sorted({c for c in text if c not in self._index}, key=text.index)

    def encode(self, text: str) -> list[int]:
        missing = self.unknown(text)
        if missing:
            raise TextrecError(f"label {text!r} has character(s) not in the charset: {''.join(missing)!r}")
        return [self._index[c] for c in text]

    def decode(self, indices: Iterable[int]) -> str:
        return "".join(self.chars[i - 1] for i in indices if i != self.blank)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Charset) and other.chars == self.chars

    def __repr__(self) -> str:
        return f"Charset({self.chars!r})"


def ctc_min_length(indices: Sequence[int]) -> int:
    """Frames CTC needs for a label: one per character plus a blank between each repeated pair."""
    repeats = sum(1 for a, b in zip(indices, indices[1:]) if a == b)
    return len(indices) + repeats
