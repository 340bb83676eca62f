"""The line detector at run time: a page scaled to about a megapixel (the scale training used), one ONNX
graph to a kernel map, kernels grown to line boxes in page pixels, and a second look at a third of the scale for
text too tall for the first. Torch-free."""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from textrec.errors import TextrecError, reject_unknown
from textrec.modelfile import METADATA_KEY, ONNX_NAME
from textrec.pages.geometry import Box, intersection
from textrec.pages.kernels import MIN_SCORE, THRESHOLD, boxes_from_map
from textrec.runtime import onnx_session

DETECTOR_FORMAT = "textrec-detector"
DEFAULT_DETECTOR = Path(__file__).resolve().parent.parent / "models" / "detector"


@dataclass
class DetectorInput:
    """How a page becomes detector input; stored in the detector's config so inference matches training."""

    target_pixels: int = 1_000_000  # pages are scaled to about this many pixels (up to max_scale)
    max_scale: float = 2.0
    multiple: int = 16
    stride: int = 2
    mean: float = 0.5
    std: float = 0.5

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> "DetectorInput":
        values = dict(values or {})
        reject_unknown(values, cls.__dataclass_fields__, "detector input")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def scale_for(self, width: int, height: int) -> float:
        return min(self.max_scale, math.sqrt(self.target_pixels / max(1, width * height)))


MAX_AREA_FACTOR = 1.5  # detector input is never over this many times the area pages are scaled to


def page_input(page: Image.Image, config: DetectorInput, scale: float | None = None) -> tuple[np.ndarray, float, float]:
    """A grayscale page to the detector's normalised HxW array (sides multiples of `multiple`) and the x/y
    factors from page to input pixels."""
    scale = config.scale_for(page.width, page.height) if scale is None else scale
    m = config.multiple
    w = max(m, round(page.width * scale / m) * m)
    h = max(m, round(page.height * scale / m) * m)
    # a strip a few pixels wide is widened to the minimum side: keep its area to what a page may cost
    # (a 1 x 1,000,000 image would otherwise become 16 x 1,000,000 input pixels)
    limit = MAX_AREA_FACTOR * config.target_pixels
    if w * h > limit:
        if w <= h:
            h = max(m, int(limit // w) // m * m)
        else:
            w = max(m, int(limit // h) // m * m)
    resized = page.resize((w, h), Image.Resampling.BILINEAR) if (w, h) != page.size else page
    array = (np.asarray(resized, dtype=np.float32) / 255.0 - config.mean) / config.std
    return array, w / page.width, h / page.height


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -30, 30)))


class LineDetector:
    """`detect(page)` -> [(Box in page pixels, score)]. Loads an ONNX graph carrying its config."""

    def __init__(self, model: str | Path | None = None, threads: int | None = None,
                 threshold: float = THRESHOLD, min_score: float = MIN_SCORE):
        path = Path(model) if model is not None else DEFAULT_DETECTOR
        self.path = path / ONNX_NAME if path.is_dir() else path
        if not self.path.is_file():
            raise TextrecError(f"detector model not found: {self.path}")
        # no arena: one odd page (a 1-pixel strip is a 93,744x16 input) would keep its memory for good, and a
        # page-sized run costs far more than its allocations (benchmarks/HOSTILE.md)
        self.session = onnx_session(self.path, threads, "detector", arena=False)
        self.config = read_detector_metadata(self.session.get_modelmeta().custom_metadata_map, str(self.path))
        self.input = DetectorInput.from_dict(self.config["input"])
        self.threshold, self.min_score = threshold, min_score
        self.input_name = self.session.get_inputs()[0].name

    def probability(self, array: np.ndarray) -> np.ndarray:
        logits = self.session.run(None, {self.input_name: array[None, None].astype(np.float32)})[0]
        return sigmoid(logits[0, 0])

    def detect(self, page: Image.Image) -> list[tuple[Box, float]]:
        """Lines at the page's detection scale, and text too tall for it (headlines, signs) from a second look at
        a third of that scale, which costs a ninth of the first."""
        scale = self.input.scale_for(page.width, page.height)
        boxes = self.detect_at(page, scale)
        coarse = scale * COARSE
        if min(page.width, page.height) * coarse < MIN_COARSE_SIDE:
            return boxes
        tall: list[tuple[Box, float]] = [(TallLine(**asdict(box)), score) for box, score in
                                         self.detect_at(page, coarse) if box.height * scale >= TALL_LINE]
        return with_tall_lines(boxes, tall) if tall else boxes

    def detect_at(self, page: Image.Image, scale: float) -> list[tuple[Box, float]]:
        array, sx, sy = page_input(page, self.input, scale)
        boxes = boxes_from_map(self.probability(array), self.input.stride, self.threshold, self.min_score)
        return [(box.scaled(1 / sx, 1 / sy), score) for box, score in boxes]


# The detector finds no line much taller than the lines of its training pages (benchmarks/PAGES.md): a second
# look at a third of the scale finds those, and keeps what it finds at least TALL_LINE tall at the first scale.
COARSE = 1 / 3
MIN_COARSE_SIDE = 64  # input pixels: a page that small at the second look has no room for a tall line
TALL_LINE = 64


@dataclass(frozen=True)
class TallLine(Box):
    """A line only the second look found: the page reader keeps it only when it reads it surely."""


def rows_of(boxes: list[tuple[Box, float]]) -> int:
    """How many rows of text the boxes make: boxes whose centres lie within half a line height of a row's are
    on that row (a label and its price are one row)."""
    rows: list[tuple[float, float]] = []  # (centre y, height)
    for box, _ in sorted(boxes, key=lambda item: item[0].cy):
        if rows and abs(box.cy - rows[-1][0]) < 0.5 * max(box.height, rows[-1][1]):
            continue
        rows.append((box.cy, box.height))
    return len(rows)


def with_tall_lines(boxes: list[tuple[Box, float]], tall: list[tuple[Box, float]]) -> list[tuple[Box, float]]:
    """`boxes` with each tall line added unless the lines it covers make more than one row or one of them is
    over a third of its height (then the first look found it); the short lines it covers (pieces of its big
    letters) give way to it."""
    kept = list(boxes)
    for line, score in tall:
        quad = line.quad()
        inside = [(box, s) for box, s in kept if intersection(box.quad(), quad) > 0.5 * box.width * box.height]
        if any(box.height >= 0.35 * line.height for box, _ in inside) or rows_of(inside) > 1:
            continue  # found at the first scale already, or several lines of small text merged by the second
        kept = [item for item in kept if item not in inside] + [(line, score)]
    return kept


def read_detector_metadata(metadata: dict[str, str], where: str) -> dict[str, Any]:
    try:
        config = json.loads(metadata[METADATA_KEY])
    except KeyError:
        raise TextrecError(f"{where} carries no textrec config in its metadata") from None
    except json.JSONDecodeError as exc:
        raise TextrecError(f"{where}: its config metadata is not valid JSON: {exc}") from None
    if not isinstance(config, dict) or config.get("format") != DETECTOR_FORMAT:
        raise TextrecError(f"{where} is not a textrec line detector (config 'format' is not {DETECTOR_FORMAT!r})")
    if not isinstance(config.get("input"), dict):
        raise TextrecError(f"{where}: detector config 'input' must be an object")
    try:
        DetectorInput.from_dict(config["input"])
    except (TypeError, ValueError) as exc:
        raise TextrecError(f"{where}: bad detector config: {exc}") from None
    return config
