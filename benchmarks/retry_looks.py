"""More looks for the retry of unsure crops (issue 18)? On benchmarks/validation.py's sets, the default model
alone (no fallback) reads each crop, the shipped four looks (preprocess.retry_variants) and eight candidates:
turned 4 degrees each way, sheared each way (italic, perspective), a tighter crop, darker and lighter gamma, a
slight blur. Then the shipped rule (T 0.7, M 0.2: the surest look replaces a reading under T where it is surer by
M) with the four looks and with each candidate added.

    python benchmarks/retry_looks.py --out benchmarks/RETRY_LOOKS.md
"""
from __future__ import annotations

import argparse
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from report import publish  # noqa: E402
from validation import score, sets  # noqa: E402


def candidates(height: int) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    from scipy.ndimage import gaussian_filter

    from textrec.preprocess import background_value

    def to_height(array: np.ndarray) -> np.ndarray:
        image = Image.fromarray(array.astype(np.float32))
        return np.asarray(image.resize((max(1, round(array.shape[1] * height / array.shape[0])), height),
                                       Image.Resampling.BILINEAR), dtype=np.float32)

    def turned(array: np.ndarray, degrees: float) -> np.ndarray:
        image = Image.fromarray(array.astype(np.float32))
        return to_height(np.asarray(image.rotate(degrees, Image.Resampling.BILINEAR, expand=True,
                                                 fillcolor=background_value(array)), dtype=np.float32))

    def sheared(array: np.ndarray, slope: float) -> np.ndarray:
        h, w = array.shape
        extra = int(abs(slope) * h)
        image = Image.fromarray(array.astype(np.float32))
        return np.asarray(image.transform((w + extra, h), Image.Transform.AFFINE,
                                          (1, slope, -extra if slope > 0 else 0, 0, 1, 0), Image.Resampling.BILINEAR,
                                          fillcolor=background_value(array)), dtype=np.float32)

    def gamma(array: np.ndarray, power: float) -> np.ndarray:  # on the normalized range [-1, 1]
        return (np.clip((array + 1) / 2, 0, 1) ** power * 2 - 1).astype(np.float32)

    def tighter(array: np.ndarray) -> np.ndarray:
        cut = max(1, round(0.12 * array.shape[0]))
        return to_height(array[cut:-cut])

    return {"turned +4": lambda a: turned(a, 4), "turned -4": lambda a: turned(a, -4),
            "sheared +0.25": lambda a: sheared(a, 0.25), "sheared -0.25": lambda a: sheared(a, -0.25),
            "tighter": tighter, "gamma 0.6": lambda a: gamma(a, 0.6), "gamma 1.6": lambda a: gamma(a, 1.6),
            "blur": lambda a: gaussian_filter(a, 0.8).astype(np.float32)}


def main() -> None:
    from textrec.preprocess import RETRY_LOOKS, prepare_turns, retry_variants
    from textrec.recognizer import load_recognizer

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    reader = load_recognizer(None)
    reader.retry = reader.fallback = None
    extra = candidates(reader.preprocess.height)
    results = {}
    for name, (images, labels, protocol) in sets().items():
        arrays = [prepare_turns(image, reader.preprocess)[0] for image in images]
        variants = [{v.name: v.array for v in retry_variants(a, reader.preprocess)} for a in arrays]
        looks = {look: reader.read_arrays([v.get(look, a) for v, a in zip(variants, arrays)])
                 for look in RETRY_LOOKS}  # a look a crop does not get (straightened) is the crop as it is
        looks |= {look: reader.read_arrays([make(a) for a in arrays]) for look, make in extra.items()}
        results[name] = (labels, protocol, reader.read_arrays(arrays), looks)
        print(name, "done", file=sys.stderr, flush=True)

    def rule(chosen: list[str], below: float = 0.7, margin: float = 0.2) -> list[str]:
        cells = []
        for labels, protocol, base, looks in results.values():
            picked = []
            for k, reading in enumerate(base):
                best = max((looks[look][k] for look in chosen), key=lambda p: p.confidence)
                picked.append(best.text if reading.confidence < below and best.confidence > reading.confidence + margin
                              else reading.text)
            cells.append(score(picked, labels, protocol))
        return cells

    rows = {"alone": [score([p.text for p in base], labels, protocol)
                      for labels, protocol, base, _ in results.values()]}
    rows |= {f"only {look}": [score([p.text for p in looks[look]], labels, protocol)
                              for labels, protocol, _, looks in results.values()] for look in [*RETRY_LOOKS, *extra]}
    rows["shipped: the four looks"] = rule(list(RETRY_LOOKS))
    rows |= {f"the four + {look}": rule([*RETRY_LOOKS, look]) for look in extra}
    rows["the four + all eight"] = rule([*RETRY_LOOKS, *extra])
    lines = [f"`{' '.join(['python', *sys.argv])}` on {platform.node()}, {time.strftime('%Y-%m-%d')} (default "
             "model alone, default decoder; word accuracy under the community protocol, SROIE lines CER).", "",
             "| looks | " + " | ".join(results) + " |", "| --- |" + " --- |" * len(results)]
    lines += [f"| {label} | " + " | ".join(cells) + " |" for label, cells in rows.items()]
    publish(lines, args.out)


if __name__ == "__main__":
    main()
