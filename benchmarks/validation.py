"""Choosing between model variants on validation data only (never IIIT5K test): the 300 held-out IIIT5K train
words as they are, and the same real photos turned into the hard kinds of the held-out sets we do not have,
plus synthetic handwriting and receipt lines from the SROIE train pages.

    python benchmarks/validation.py --models src/textrec/models/default runs/default-en-stage4/model ...
    python benchmarks/validation.py --models A B --out benchmarks/VALIDATION.md

Sets (each the same images for every model):
- `IIIT5K val`: the first 15% of IIIT5K train by MD5 order (what training validates on), as they are.
- `... on an arc`: each photo bent onto a circular arc (a third to two thirds of a half circle, convex or concave).
- `... angled, low-res, whole`: strong perspective of the whole word, cut out by its box, then down to 40-60% and
  back up, then JPEG (older tables: `angled, low-res`, which zoomed in and cut off end letters).
- `... light on dark`: each photo's gray levels inverted (signs in light paint on dark backgrounds).
- `handwriting (synthetic)`: 300 rendered handwritten words of a seed no training run uses.
- `SROIE train lines`: 500 receipt lines of pages 200-239 (lines of pages the default model trained on: a check
  for regressions, not a held-out score).
Word accuracy under the community protocol (SROIE: upper-cased, CER); greedy decoding unless --decoder auto.
"""
from __future__ import annotations

import argparse
import io
import platform
import random
import sys
from datetime import date
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from textrec.data.augment import perspective_coefficients
from textrec.data.sources import IcdarQuads, open_source
from textrec.evaluation import character_error_rate, normalize, word_accuracy
from textrec.preprocess import background_value
from textrec.synth.render import Renderer, SynthConfig
from textrec.synth.scene import arc

sys.path.insert(0, str(Path(__file__).parent))
from report import cpu, publish  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


def iiit_val() -> tuple[list[Image.Image], list[str]]:
    source = open_source({"path": str(DATA / "iiit5k" / "train_cased.tsv"), "split": {"range": [0.0, 0.15]}})
    return [source.load(i) for i in range(len(source))], list(source.labels)


def on_arc(image: Image.Image, rng: random.Random) -> Image.Image:
    fill = int(np.sort(np.asarray(image), axis=None)[image.width * image.height // 2])  # the median pixel
    return arc(image, rng.uniform(0.33, 0.66), fill, concave=rng.random() < 0.5)


def angled_low_res(image: Image.Image, rng: random.Random) -> Image.Image:
    """The whole word seen at an angle: its corners moved inwards by up to 18% of the width and height (strong
    perspective), cut out by the box around it as a detector would, then down to 40-60% and back up, then JPEG.
    (Until 2026-11-27 this set zoomed into the inner quadrilateral instead, cutting off end letters: "angled,
    low-res" in older tables.)"""
    w, h = image.size
    a = 0.18

    def inset(extent: float) -> float:
        return rng.uniform(0, a) * extent

    corners = [(inset(w), inset(h)), (inset(w), h - inset(h)), (w - inset(w), h - inset(h)), (w - inset(w), inset(h))]
    left, top = min(x for x, _ in corners), min(y for _, y in corners)
    size = (max(1, round(max(x for x, _ in corners) - left)), max(1, round(max(y for _, y in corners) - top)))
    landed = [(x - left, y - top) for x, y in corners]
    fill = int(background_value(np.asarray(image)))
    coefficients = perspective_coefficients(landed, [(0, 0), (0, h), (w, h), (w, 0)])
    image = image.transform(size, Image.PERSPECTIVE, coefficients,
                            Image.BILINEAR, fillcolor=fill)
    w, h = size
    factor = rng.uniform(0.4, 0.6)
    small = image.resize((max(1, round(w * factor)), max(1, round(h * factor))), Image.BILINEAR)
    buffer = io.BytesIO()
    small.resize((w, h), Image.BILINEAR).save(buffer, format="JPEG", quality=rng.randint(30, 60))
    return Image.open(io.BytesIO(buffer.getvalue())).convert("L")


def sroie_val() -> tuple[list[Image.Image], list[str]]:
    """500 receipt lines of SROIE pages 200-239, drawn with seed 5."""
    sroie = IcdarQuads(DATA / "sroie" / "pages", DATA / "sroie" / "boxes", pages_range=(200, 239))
    picks = sorted(random.Random(5).sample(range(len(sroie)), 500))
    return [sroie.load(i) for i in picks], [sroie.labels[i] for i in picks]


def sets() -> dict[str, tuple[list[Image.Image], list[str], str]]:
    images, labels = iiit_val()
    rng = random.Random(2026)
    hand = Renderer(SynthConfig.from_file(ROOT / "configs" / "synth" / "en-handwriting.yaml"))
    samples = [hand.sample(424242, i) for i in range(300)]
    receipt_images, receipt_labels = sroie_val()
    return {
        "IIIT5K val": (images, labels, "alnum"),
        "IIIT5K val on an arc": ([on_arc(i, rng) for i in images], labels, "alnum"),
        "IIIT5K val angled, low-res, whole": ([angled_low_res(i, rng) for i in images], labels, "alnum"),
        "IIIT5K val light on dark": ([ImageOps.invert(i) for i in images], labels, "alnum"),
        "handwriting (synthetic, unseen seed)": ([s[0] for s in samples], [s[1] for s in samples], "alnum"),
        "SROIE train lines 200-239": (receipt_images, receipt_labels, "upper"),
    }


def score(predictions: list[str], labels: list[str], protocol: str) -> str:
    """Word accuracy under the protocol (receipt lines, protocol upper: CER), as the tables print it."""
    p = [normalize(x, protocol) for x in predictions]
    g = [normalize(x, protocol) for x in labels]
    return f"{character_error_rate(p, g):.2%} CER" if protocol == "upper" else f"{word_accuracy(p, g):.1%}"


def main() -> None:
    from textrec.recognizer import load_recognizer

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", required=True)
    parser.add_argument("--decoder", default="greedy", help="greedy (default: compares the networks alone) or auto")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if not DATA.is_dir():
        sys.exit(f"data not found: {DATA}")
    data = sets()
    header = "| set | " + " | ".join(args.models) + " |"
    lines = [f"`{' '.join(['python', *sys.argv])}` on {platform.node()} ({cpu()}), {date.today()}", "", header,
             "| --- |" + " --- |" * len(args.models)]
    scores = {name: [] for name in data}
    for model in args.models:
        recognizer = load_recognizer(model, decoder=args.decoder)
        for name, (images, labels, protocol) in data.items():
            scores[name].append(score([p.text for p in recognizer.read_images(images)], labels, protocol))
            print(model, name, scores[name][-1], file=sys.stderr, flush=True)
    lines += [f"| {name} | " + " | ".join(values) + " |" for name, values in scores.items()]
    publish(lines, args.out)


if __name__ == "__main__":
    main()
