"""How much the character language model helps, and at what weight: decode the same network outputs greedily,
by beam search alone, and by beam search with the LM at each (weight, bonus[, word bonus]), on the validation
words.

    python benchmarks/lm_fusion.py                                   # tune: 300 held-out IIIT5K train words
    python benchmarks/lm_fusion.py --set test --grid 0.5:0.5         # then check the chosen pair once on test
    python benchmarks/lm_fusion.py --grid 0.5:0.5:0 0.5:0.5:1        # a bonus per known word (the LM's word list)
    python benchmarks/lm_fusion.py --set sroie-val --model DIR      # the validation receipt lines (pages 200-239)

The network runs once per image; only the decoding changes between rows. The weights are chosen on `val`
(the default model's validation words, never trained on), not on test. Needs ../shared/data.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from accuracy import DATA, iiit5k, score, sroie  # noqa: E402

from textrec.decoding import LanguageFusion, decode_batch  # noqa: E402
from textrec.inference import read_sorted  # noqa: E402
from textrec.language import CharLM  # noqa: E402
from textrec.preprocess import prepare  # noqa: E402
from textrec.recognizer import Recognizer  # noqa: E402


def validation_words() -> tuple[list, list[str], list[str]]:
    from textrec.data.sources import open_source

    val = open_source({"path": str(DATA / "iiit5k" / "train_cased.tsv"), "split": {"range": [0.0, 0.15]}})
    return [val.load(i) for i in range(len(val))], list(val.labels), list(val.labels)


def receipt_validation() -> tuple[list, list[str], list[str]]:
    from validation import sroie_val

    images, labels = sroie_val()
    return images, labels, labels


def network_outputs(recognizer: Recognizer, images: list) -> list[tuple[np.ndarray, int]]:
    """(logits, valid frames) per image, in input order (read_sorted puts each batch's results back in place)."""
    def logits(batch, widths):
        return list(zip(*recognizer.logits(batch, widths)))

    return read_sorted(images, recognizer.preprocess, logits, batch_size=64)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", choices=["val", "test", "sroie", "sroie-val"], default="val")
    parser.add_argument("--model", default=None, help="default: the bundled model (and its lm.npz)")
    parser.add_argument("--lm", type=Path, default=None, help="language model file (default: the model's)")
    parser.add_argument("--grid", nargs="+", default=["0.3:0", "0.5:0", "0.5:0.5", "0.5:1", "0.8:1", "0.8:2", "1:2"],
                        help="weight:bonus or weight:bonus:word_bonus")
    parser.add_argument("--beam", type=int, default=10)
    args = parser.parse_args()
    recognizer = Recognizer(args.model, decoder="greedy")
    lm = CharLM.load(args.lm or recognizer.path / recognizer.config["language_model"]["file"])
    images, plain, cased = {"val": validation_words, "test": lambda: iiit5k(0, 0),
                            "sroie": lambda: sroie(1000, 0), "sroie-val": receipt_validation}[args.set]()
    outputs = network_outputs(recognizer, [prepare(image, recognizer.preprocess) for image in images])
    kind = "sroie" if args.set.startswith("sroie") else "iiit5k"
    print(f"{len(images)} images of {args.set}, beam {args.beam}\n")
    print("| decoding | accuracy | CER | decoding ms/image |\n| --- | --- | --- | --- |")
    rows = [("greedy", "greedy", None), ("beam, no LM", "beam", None)]
    for spec in args.grid:
        weights = tuple(float(x) for x in spec.split(":"))
        words = f", word bonus {weights[2]:g}" if len(weights) > 2 else ""
        rows.append((f"beam + LM, weight {weights[0]:g}, bonus {weights[1]:g}{words}", "lm", weights))
    for label, method, weights in rows:
        start = time.perf_counter()
        texts = []
        for logits, length in outputs:
            fusion = LanguageFusion(lm, recognizer.charset, *weights) if weights else None
            texts.append(decode_batch(logits[None], [length], recognizer.charset, method, args.beam,
                                      fusion=fusion)[0].text)
        ms = (time.perf_counter() - start) * 1000 / len(outputs)
        s = score(kind, texts, plain, cased)
        print(f"| {label} | {s['acc']:.2%} | {s['cer']:.2%} | {ms:.2f} |", flush=True)


if __name__ == "__main__":
    main()
