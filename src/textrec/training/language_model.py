"""Build the character n-gram language model (textrec.language.CharLM) from wordfreq's English word list.

    python -m textrec.training.language_model --attach src/textrec/models/default

`--attach MODEL` writes lm.npz into a model folder and names it in the model's config.json with the fusion
weights, so `--decoder auto` (the default) decodes with it; `--out FILE` only writes the file.

Witten-Bell interpolation (each context mixes its own counts with its shorter context's distribution, in
proportion to how many different letters followed it): simple, no discount to tune, and good at character level.
Words are counted by frequency to a power (`--power`; 0 = every word once), so common words weigh more without
"the" drowning the rest. Written by hand: the n-gram toolkits (KenLM, SRILM) are native builds for word models.
"""
from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

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
    return CharLM(list(rows), np.log(np.stack(list(rows.values()))), order)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--attach", type=Path, help="model folder: write lm.npz there and name it in config.json")
    target.add_argument("--out", type=Path, help="only write the language model to this .npz file")
    parser.add_argument("--weight", type=float, default=0.5, help="LM weight in the beam search (with --attach)")
    parser.add_argument("--bonus", type=float, default=0.5, help="score bonus per letter (with --attach)")
    parser.add_argument("--words", type=int, default=100_000, help="most frequent English words to count")
    parser.add_argument("--order", type=int, default=6, help="n: letters of context + 1")
    parser.add_argument("--power", type=float, default=0.5, help="word weight = frequency ** power")
    parser.add_argument("--min-count", type=float, default=2.0, help="drop contexts seen less often than this")
    args = parser.parse_args()
    lm = build(english_words(args.words, args.power), args.order, args.min_count)
    out = args.out or args.attach / LM_NAME
    lm.save(out)
    print(f"{len(lm.rows)} contexts, order {args.order}, {out.stat().st_size / 1e6:.2f} MB: {out}")
    if args.attach:
        attach(args.attach, {"file": LM_NAME, "weight": args.weight, "bonus": args.bonus,
                             "built": {"words": args.words, "order": args.order, "power": args.power,
                                       "min_count": args.min_count}})


def attach(model: Path, spec: dict) -> None:
    """Name the language model (and its fusion weights) in the model's config.json."""
    config_file = model / CONFIG
    config = json.loads(config_file.read_text())
    config["language_model"] = spec
    config_file.write_text(json.dumps(config, indent=2) + "\n")
    print(f"attached to {config_file}; re-export the model's ONNX copy so it carries the same config")


if __name__ == "__main__":
    main()
