"""What the generator writes: English words by frequency, random strings, numbers, prices, dates, times, codes,
e-mail/URL-like tokens, punctuation, case variants, and multi-word lines; or the user's text file or callable."""
from __future__ import annotations

import random
import string
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from textrec.errors import TextrecError, reject_unknown

MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
TLDS = ["com", "org", "net", "io", "de", "co.uk", "edu", "gov"]
CURRENCIES = ["$", "€", "£", "", "RM", "USD "]
PUNCT_AROUND = [("", ","), ("", "."), ("", "!"), ("", "?"), ("", ":"), ("", ";"), ("(", ")"), ('"', '"'), ("'", "'"),
                ("", "'s"), ("#", ""), ("", "%"), ("*", ""), ("[", "]"), ("", "-")]


@dataclass
class TextConfig:
    """Weights of each kind of text, and how words are cased and lines built."""

    kinds: dict[str, float] = field(default_factory=lambda: {
        "word": 0.55, "random": 0.08, "number": 0.06, "price": 0.04, "date": 0.03, "time": 0.02, "code": 0.05,
        "email": 0.02, "url": 0.02, "line": 0.13})
    word_alpha: float = 0.35  # sample words by frequency ** alpha: 1 = as in text, 0 = uniform over the list
    vocabulary: int = 50000  # most frequent English words used
    cases: dict[str, float] = field(default_factory=lambda: {"lower": 0.55, "title": 0.3, "upper": 0.15})
    punctuation: float = 0.15  # chance of punctuation around a word
    random_length: tuple[int, int] = (1, 12)
    line_length: tuple[int, int] = (10, 80)  # characters in a multi-word line
    text_file: str | None = None  # lines of this file are used as texts (kind 'file')
    word_list: str | None = None  # `word<TAB>frequency` lines to draw words from instead of wordfreq's list

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> "TextConfig":
        values = dict(values or {})
        reject_unknown(values, cls.__dataclass_fields__, "text")
        config = cls(**values)
        bad = set(config.kinds) - set(KINDS) - {"file"}
        if bad:
            raise TextrecError(f"unknown text kind(s): {', '.join(sorted(bad))}; choose from {', '.join(KINDS)}, file")
        return config

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@lru_cache(maxsize=4)
def english_words(count: int, alpha: float, word_list: str | None = None) -> tuple[list[str], list[float]]:
    """The `count` most frequent English words (wordfreq, or a `word<TAB>frequency` file) with cumulative
    sampling weights."""
    if word_list:
        words, frequencies = read_word_list(Path(word_list), count)
    else:
        from wordfreq import top_n_list, word_frequency

        words = [w for w in top_n_list("en", count) if w.isprintable()]
        frequencies = [word_frequency(w, "en") for w in words]
    weights = [f ** alpha for f in frequencies]
    cumulative, total = [], 0.0
    for w in weights:
        total += w
        cumulative.append(total)
    return words, cumulative


def read_word_list(path: Path, count: int) -> tuple[list[str], list[float]]:
    """The first `count` entries of a `word<TAB>frequency` file (what `write_word_list` writes)."""
    if not path.is_file():
        raise TextrecError(f"word list not found: {path}")
    words, frequencies = [], []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        word, _, frequency = line.partition("\t")
        try:
            value = float(frequency)
        except ValueError:
            raise TextrecError(f"{path}:{number}: expected word<TAB>frequency, got {line[:60]!r}") from None
        if word.isprintable() and word and value > 0:
            words.append(word)
            frequencies.append(value)
        if len(words) >= count:
            break
    if not words:
        raise TextrecError(f"word list {path} has no usable words")
    return words, frequencies


def write_word_list(path: Path, count: int = 50000) -> Path:
    """wordfreq's `count` most frequent English words with their frequencies, for machines without wordfreq."""
    from wordfreq import top_n_list, word_frequency

    rows = [f"{w}\t{word_frequency(w, 'en'):.4e}" for w in top_n_list("en", count) if w.isprintable() and "\t" not in w]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


class TextSampler:
    """Draws one text at a time from the configured mix, using only characters of `alphabet`."""

    def __init__(self, config: TextConfig | None = None, alphabet: str = string.printable[:95],
                 custom: Callable[[random.Random], str] | None = None):
        self.config = config or TextConfig()
        self.alphabet = alphabet
        self.custom = custom
        self.kinds = list(self.config.kinds)
        self.kind_weights = [self.config.kinds[k] for k in self.kinds]
        self.file_lines: list[str] = []
        if self.config.text_file:
            path = Path(self.config.text_file)
            if not path.is_file():
                raise TextrecError(f"text file not found: {path}")
            self.file_lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
            if not self.file_lines:
                raise TextrecError(f"text file {path} has no non-empty lines")
        self.words, self.cumulative = english_words(self.config.vocabulary, self.config.word_alpha,
                                                    self.config.word_list)
        self.digits_only = not any(c.isalpha() for c in alphabet)

    def __call__(self, rng: random.Random) -> str:
        for _ in range(20):  # texts with characters outside the alphabet are drawn again
            text = self._draw(rng)
            if self.digits_only:  # letters dropped: spaces they leave are collapsed, as print would show them
                text = " ".join("".join(c for c in text if c in self.alphabet).split())
            if text.strip() and all(c in self.alphabet for c in text):
                return text
        return "".join(rng.choice(self.alphabet.strip() or self.alphabet) for _ in range(rng.randint(1, 8)))

    def _draw(self, rng: random.Random) -> str:
        if self.custom is not None:
            return self.custom(rng)
        kind = rng.choices(self.kinds, self.kind_weights)[0]
        if kind == "file":
            return rng.choice(self.file_lines)
        return KINDS[kind](self, rng)

    def word(self, rng: random.Random, punctuate: bool = True) -> str:
        word = rng.choices(self.words, cum_weights=self.cumulative)[0]
        case = rng.choices(list(self.config.cases), list(self.config.cases.values()))[0]
        word = word.upper() if case == "upper" else word.capitalize() if case == "title" else word
        if punctuate and rng.random() < self.config.punctuation:
            before, after = rng.choice(PUNCT_AROUND)
            word = before + word + after
        return word

    def random_string(self, rng: random.Random) -> str:
        chars = self.alphabet.replace(" ", "")
        return "".join(rng.choice(chars) for _ in range(rng.randint(*self.config.random_length)))

    def line(self, rng: random.Random) -> str:
        target = rng.randint(*self.config.line_length)
        parts: list[str] = []
        while sum(len(p) + 1 for p in parts) < target:
            kind = rng.random()
            parts.append(self.word(rng) if kind < 0.8 else number(self, rng) if kind < 0.9 else price(self, rng))
        return " ".join(parts)[: self.config.line_length[1]].strip()


def number(sampler: TextSampler, rng: random.Random) -> str:
    style = rng.random()
    if style < 0.4:
        return str(rng.randint(0, 10 ** rng.randint(1, 7)))
    if style < 0.7:
        return f"{rng.uniform(0, 10 ** rng.randint(1, 5)):.{rng.randint(1, 3)}f}"
    if style < 0.85:
        return f"{rng.randint(1000, 9999999):,}"
    return f"{rng.choice(['+', '-', ''])}{rng.randint(0, 999)}{rng.choice(['%', '', 'kg', 'km', 'ml', 'x'])}"


def price(sampler: TextSampler, rng: random.Random) -> str:
    amount = f"{rng.uniform(0, 10 ** rng.randint(1, 4)):,.2f}"
    return rng.choice(CURRENCIES) + amount if rng.random() < 0.8 else amount + rng.choice([" EUR", " $", "€"])


def date(sampler: TextSampler, rng: random.Random) -> str:
    y, m, d = rng.randint(1950, 2035), rng.randint(1, 12), rng.randint(1, 28)
    return rng.choice([f"{d:02d}/{m:02d}/{y}", f"{y}-{m:02d}-{d:02d}", f"{d} {MONTHS[m - 1]} {y}",
                       f"{MONTHS[m - 1]} {d}, {y}", f"{d:02d}.{m:02d}.{y % 100:02d}", f"{m}/{d}/{y % 100:02d}"])


def time_of_day(sampler: TextSampler, rng: random.Random) -> str:
    h, m, s = rng.randint(0, 23), rng.randint(0, 59), rng.randint(0, 59)
    return rng.choice([f"{h:02d}:{m:02d}", f"{h:02d}:{m:02d}:{s:02d}",
                       f"{(h % 12) or 12}:{m:02d} {'AM' if h < 12 else 'PM'}",
                       f"{h}h{m:02d}"])


def code(sampler: TextSampler, rng: random.Random) -> str:
    groups = [
        "".join(rng.choice(string.ascii_uppercase + string.digits) for _ in range(rng.randint(2, 6)))
        for _ in range(rng.randint(1, 4))]
    return rng.choice(["-", "", " ", "/", "."]).join(groups)


def email(sampler: TextSampler, rng: random.Random) -> str:
    user = (sampler.word(rng, False).lower() + rng.choice(["", ".", "_"])
            + rng.choice([sampler.word(rng, False).lower(), str(rng.randint(1, 99))]))
    return f"{user}@{sampler.word(rng, False).lower()}.{rng.choice(TLDS)}"


def url(sampler: TextSampler, rng: random.Random) -> str:
    host = f"{rng.choice(['www.', '', 'http://', 'https://'])}{sampler.word(rng, False).lower()}.{rng.choice(TLDS)}"
    return host + (f"/{sampler.word(rng, False).lower()}" if rng.random() < 0.4 else "")


KINDS: dict[str, Callable[[TextSampler, random.Random], str]] = {
    "word": lambda s, r: s.word(r), "random": lambda s, r: s.random_string(r), "number": number, "price": price,
    "date": date, "time": time_of_day, "code": code, "email": email, "url": url, "line": lambda s, r: s.line(r),
}
