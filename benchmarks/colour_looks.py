"""How much do the colours of a word photo hold that the gray the model reads loses? An upper bound, measured
before building a colour network: each validation photo is turned gray several ways (luma; what the reader
does today, `colour_to_gray`; each of R, G, B; the first and second principal colour axes), the network reads
every one, and the table counts the words read right by each and by any of them (the oracle: what the best
possible choice among these grays would read).

    python benchmarks/colour_looks.py [--model src/textrec/models/default] [--whole] [--out benchmarks/COLOUR.md]

Photos: the 300 IIIT5K val words (validation only, never IIIT5K test). By default the network alone (greedy
decoding, the model folder's fallback and retry left out), so the table is about the gray the network sees;
`--whole`: the reader as shipped (default decoder, fallback, retry).
"""
from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import tempfile
from datetime import date
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from textrec.data.sources import open_source
from textrec.evaluation import normalize
from textrec.preprocess import LUMA, colour_to_gray

sys.path.insert(0, str(Path(__file__).parent))
from report import publish  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


def rgb_photos() -> tuple[list[Image.Image], list[str]]:
    """IIIT5K val as the colour photos they are (the training sources hand out gray)."""
    source = open_source({"path": str(DATA / "iiit5k" / "train_cased.tsv"), "split": {"range": [0.0, 0.15]}})
    files = [source.source.files[i] for i in source.indices]
    return [ImageOps.exif_transpose(Image.open(path)).convert("RGB") for path in files], list(source.labels)


def stretched(values: np.ndarray) -> Image.Image:
    """Any projection to 8-bit gray over its own 1st-99th percentile range."""
    low, high = np.percentile(values, [1, 99])
    scaled = (values - low) / max(high - low, 1e-6) * 255
    return Image.fromarray(np.clip(scaled, 0, 255).round().astype(np.uint8))


def grays(image: Image.Image) -> dict[str, Image.Image]:
    """The ways a colour photo is turned gray, by name. Principal axes are oriented like luma (dark ink stays dark
    where luma has it dark), so no gray is an inverted copy of another."""
    rgb = np.asarray(image, dtype=np.float32)
    flat = rgb.reshape(-1, 3)
    centred = flat - flat.mean(axis=0)
    _, vectors = np.linalg.eigh(centred.T @ centred)
    luma = image.convert("L")
    looks = {"luma": luma, "reader today": colour_to_gray(image),
             "luma, stretched": stretched(np.asarray(luma, dtype=np.float32))}  # the control for the axes' stretch
    for k, name in enumerate("RGB"):
        looks[name] = Image.fromarray(rgb[..., k].astype(np.uint8))
    for rank, name in ((-1, "axis 1"), (-2, "axis 2")):
        axis = vectors[:, rank] if vectors[:, rank] @ LUMA >= 0 else -vectors[:, rank]
        looks[name] = stretched((centred @ axis).reshape(image.height, image.width))
    return looks


def bare_copy(model: Path, folder: Path) -> Path:
    """The model folder without its fallback and retry: the network and its decoder alone."""
    target = folder / "bare"
    shutil.copytree(model, target)
    config = json.loads((target / "config.json").read_text())
    config.pop("fallback", None)
    config.pop("retry", None)
    (target / "config.json").write_text(json.dumps(config, indent=1))
    return target


def main() -> None:
    from textrec.recognizer import load_recognizer

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=ROOT / "src" / "textrec" / "models" / "default")
    parser.add_argument("--whole", action="store_true",
                        help="the whole reader (default decoder, fallback, retry) instead of the network alone")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if not DATA.is_dir():
        sys.exit(f"data not found: {DATA}")
    photos, labels = rgb_photos()
    looks = [grays(photo) for photo in photos]
    names = list(looks[0])
    truth = [normalize(label, "alnum") for label in labels]
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model if args.whole else bare_copy(args.model, Path(tmp))
        recognizer = load_recognizer(str(model), decoder="auto" if args.whole else "greedy")
        right = {name: np.array([normalize(p.text, "alnum") == t for p, t in
                                 zip(recognizer.read([look[name] for look in looks]), truth)]) for name in names}
    today = right["reader today"]
    how = "the whole reader" if args.whole else "greedy, no fallback or retry"
    lines = [f"`{' '.join(['python', *sys.argv])}` on {platform.node()}, {date.today()}; model {args.model}, "
             f"{how}; {len(truth)} IIIT5K val photos", "",
             "| gray | words right | right where the reader's gray is wrong | wrong where it is right |",
             "| --- | --- | --- | --- |"]
    for name in names:
        gained, lost = int((right[name] & ~today).sum()), int((~right[name] & today).sum())
        lines.append(f"| {name} | {right[name].mean():.1%} | {gained} | {lost} |")
    every = np.any(np.stack([right[n] for n in names]), axis=0)
    lines.append(f"| any of them (oracle) | {every.mean():.1%} | {int((every & ~today).sum())} | 0 |")
    publish(lines, args.out)


if __name__ == "__main__":
    main()
