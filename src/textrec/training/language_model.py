"""Build the character n-gram language model (textrec.language.CharLM) from wordfreq's English word list.

    textrec lm build --attach src/textrec/models/default        (or: python -m textrec.training.language_model)

`--attach MODEL` writes lm.npz into a model folder and names it in the model's config.json with the fusion
weights, so `--decoder auto` (the default) decodes with it; `--out FILE` only writes the file, and
`textrec lm attach MODEL --lm FILE` puts such a file into a model later (or re-weighs the one it has).

Witten-Bell interpolation (each context mixes its own counts with its shorter context's distribution, in
proportion to how many different letters followed it): simple, no discount to tune, and good at character level.
Words are counted by frequency to a power (`--power`; 0 = every word once), so common words weigh more without
"the" drowning the rest. Written by hand: the n-gram toolkits (KenLM, SRILM) are native builds for word models.

The `textrec lm` commands (cli.py) only translate their options into the functions here.
"""
from __future__ import annotations

import json
import shutil
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from textrec.errors import TextrecError
from textrec.language import ALPHABET, END, START, CharLM, longest_suffix_row
from textrec.modelfile import CONFIG, LM_NAME


def english_words(count: int, power: float) -> dict[str, float]:
    """The `count` most frequent English words spelled from ALPHABET, each weighted by frequency ** power."""
    from wordfreq import top_n_list, word_frequency

    words = {}
    for word in top_n_list("en", count):
        if word and all(c in ALPHABET for c in word) and word.strip("'"):
            words[word] = word_frequency(word, "en") ** power if power else 1.0
    scale = len(words) / sum(words.values())  # weights average 1, so min_count means the same for any power
    return {w: f * scale for w, f in words.items()}


def build(words: dict[str, float], order: int = 6, min_count: float = 2.0) -> CharLM:
    """Witten-Bell interpolated n-gram over letters and the word end; contexts seen less than min_count dropped."""
    size = len(ALPHABET) + 1
    counts: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(size))
    for word, weight in words.items():
        text = START + word
        for position in range(1, len(text) + 1):
            target = END if position == len(text) else ALPHABET.index(text[position])
            history = text[max(0, position - order + 1):position]
            for start in range(len(history) + 1):
                counts[history[start:]][target] += weight
    rows: dict[str, np.ndarray] = {}
    for context in sorted(counts, key=len):  # shorter contexts first: each row backs off to one already built
        seen = counts[context]
        if context and seen.sum() < min_count:
            continue
        lower = np.full(size, 1.0 / size) if not context else longest_suffix_row(rows, context[1:])
        types = float((seen > 0).sum())
        rows[context] = (seen + types * lower) / (seen.sum() + types)
    return CharLM(list(rows), np.log(np.stack(list(rows.values()))), order, words)


def build_file(out: Path, words: int, order: int, power: float, min_count: float) -> CharLM:
    """Build the English model and write it to `out` (a .npz file)."""
    if out.suffix != ".npz":  # numpy would quietly append .npz and the file would not be where it was asked for
        raise TextrecError(f"the language model file must end in .npz, got {out}")
    if words < 1 or order < 1 or min_count < 0:
        raise TextrecError(f"need words >= 1, order >= 1 and min_count >= 0; got {words}, {order}, {min_count}")
    lm = build(english_words(words, power), order, min_count)
    out.parent.mkdir(parents=True, exist_ok=True)
    lm.save(out)
    return lm


def build_into(model: Path, weight: float, bonus: float, words: int, order: int, power: float,
               min_count: float, word_bonus: float = 0.0) -> Path:
    """Build the English model as the model folder's lm.npz and name it, with its fusion weights, in config.json;
    returns the file written."""
    _read_config(model)  # a wrong folder is named before minutes of counting, not after
    build_file(model / LM_NAME, words, order, power, min_count)
    attach(model, {"file": LM_NAME, "weight": weight, "bonus": bonus, "word_bonus": word_bonus,
                   "built": {"words": words, "order": order, "power": power, "min_count": min_count}})
    return model / LM_NAME


def attach_file(model: Path, weight: float, bonus: float, lm_file: Path | None = None,
                word_bonus: float = 0.0) -> Path:
    """Attach an already built language model: `lm_file` copied into the folder as lm.npz, or without it the
    lm.npz already there (to change the fusion weights without rebuilding); returns the folder's file."""
    config = _read_config(model)
    target = model / LM_NAME
    source = lm_file or target
    CharLM.load(source)  # a file that is not a language model is refused before the model is touched
    spec: dict[str, Any] = {"file": LM_NAME, "weight": weight, "bonus": bonus, "word_bonus": word_bonus}
    if lm_file is None or (target.exists() and target.resolve() == lm_file.resolve()):
        built = (config.get("language_model") or {}).get("built")
        if built:  # the same file: its build settings still describe it
            spec["built"] = built
    else:
        target.unlink(missing_ok=True)  # a link there is replaced, never written through
        shutil.copyfile(lm_file, target)
    attach(model, spec)
    return target


def attach(model: Path, spec: dict) -> None:
    """Name the language model (and its fusion weights) in the model's config.json."""
    config = _read_config(model)
    config["language_model"] = spec
    (model / CONFIG).write_text(json.dumps(config, indent=2) + "\n")


def _read_config(model: Path) -> dict:
    config_file = model / CONFIG
    if not config_file.is_file():
        raise TextrecError(f"{model} is not a model folder: it has no {CONFIG}")
    try:
        config = json.loads(config_file.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise TextrecError(f"cannot read {config_file}: {exc}") from None
    if not isinstance(config, dict):
        raise TextrecError(f"{config_file} is not a JSON object")
    return config


def main() -> None:
    """`python -m textrec.training.language_model ARGS` is `textrec lm build ARGS`: one set of options."""
    from textrec.cli import app

    app(["lm", "build", *sys.argv[1:]], prog_name="python -m textrec.training.language_model")


if __name__ == "__main__":
    main()
