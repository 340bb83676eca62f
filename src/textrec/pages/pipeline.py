"""`read_page`: detect lines, undo a small skew, crop each line upright, recognize all crops in width-sorted
batches, put the lines in reading order and group them into blocks."""
from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from textrec.pages.detect import LineDetector, TallLine, rows_of
from textrec.pages.geometry import Box, Quad, crop_quad, point_before_turn
from textrec.pages.order import Extent, reading_order
from textrec.preprocess import MAX_PIXELS, ImageInput, describe, load_image, normalize, resize

MAX_PAGE_PIXELS = MAX_PIXELS  # one limit for every image (preprocess.MAX_PIXELS)
DESKEW_DEGREES = 1.0  # a median line angle above this re-runs detection on the page turned upright
SURE_PAGE = 0.3  # a page read with this reading quality or more...
SURE_CHARS = 50.0  # ...and this many confidently read characters is taken as it is, without trying other turns
TURNS = (180, 90, 270)  # tried, in this order, when it is less
TURN_MARGIN = 1.5  # a turned reading must read this many times the confident characters of the page as given
LONG_LINE_WIDTH = 16_384  # page lines are never squeezed: a 100+ character line keeps its aspect ratio
SURE_TALL = 0.5  # a line only the detector's second look found (a TallLine) is kept when read this surely


@dataclass
class Word:
    text: str
    quad: Quad


@dataclass
class Line:
    quad: Quad  # page pixels, clockwise from top-left
    text: str
    confidence: float
    score: float  # the detector's confidence that this is a text line
    block: int
    words: list[Word] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "confidence": round(self.confidence, 4), "score": round(self.score, 4),
                "block": self.block, "quad": [round(v, 1) for v in self.quad],
                "words": [{"text": w.text, "quad": [round(v, 1) for v in w.quad]} for w in self.words]}


@dataclass
class PageResult:
    width: int
    height: int
    lines: list[Line]
    skew_degrees: float = 0.0
    detection_scale: float = 1.0
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    turned: int = 0  # degrees counter-clockwise the page was turned to read it (0: as given)

    @property
    def text(self) -> str:
        """Lines in reading order; a blank line between blocks."""
        parts: list[str] = []
        for i, line in enumerate(self.lines):
            if i and line.block != self.lines[i - 1].block:
                parts.append("")
            parts.append(line.text)
        return "\n".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {"width": self.width, "height": self.height, "turned": self.turned, "text": self.text,
                "skew_degrees": round(self.skew_degrees, 2), "detection_scale": round(self.detection_scale, 4),
                "seconds": round(self.seconds, 4), "warnings": self.warnings,
                "lines": [line.to_dict() for line in self.lines]}


class PageReader:
    """A detector and a recognizer (either backend) together; `read(page)` gives a PageResult."""

    def __init__(self, recognizer=None, detector: LineDetector | str | None = None,
                 max_pixels: int = MAX_PAGE_PIXELS):
        if recognizer is None:
            from textrec.recognizer import load_recognizer

            recognizer = load_recognizer()
        self.recognizer = recognizer
        self.detector = detector if isinstance(detector, LineDetector) else LineDetector(detector)
        self.max_pixels = max_pixels
        self.preprocess = dataclasses.replace(recognizer.preprocess, max_width=LONG_LINE_WIDTH)

    def read(self, source: ImageInput, min_rows: int = 0,
             detections: dict[int, list[tuple[Box, float]]] | None = None) -> PageResult | None:
        """The page's lines in reading order; None when the detector finds fewer than `min_rows` rows of text
        (auto mode: a photo of one word or one line is read whole, not as a page). A page whose reading is
        doubtful is also read turned 180, 90 and 270 degrees, and the clearly better reading kept (`turned`).
        `detections`: the detector's boxes by angle, filled here and reused by a second read of the same page."""
        start = time.perf_counter()
        page = load_image(source, self.max_pixels)
        detections = {} if detections is None else detections
        result = self._read_as_is(page, min_rows, detections, 0)
        if result is None or reading_quality(result) < SURE_PAGE or confident_chars(result) < SURE_CHARS:
            for angle in TURNS:
                if angle == 180 and result is None:
                    continue  # upside down has the same rows: too few either way
                turned = self._read_as_is(page.rotate(angle, expand=True), min_rows, detections, angle)
                if turned is None:
                    continue
                if result is None:  # as given it was no page (auto mode): turned, it must read clearly as one
                    if reading_quality(turned) >= SURE_PAGE:
                        result, result.turned = turned, angle
                elif confident_chars(turned) > TURN_MARGIN * confident_chars(result):
                    result, result.turned = turned, angle
            if result is None:
                return None
            if result.turned:
                result = turn_back(result, page.width, page.height)
                result.warnings.append(f"the page was read turned {result.turned} degrees counter-clockwise")
        if result.detection_scale < 0.3:
            result.warnings.append(
                f"page {describe(source)} is {page.width}x{page.height}: "
                f"detection ran at {result.detection_scale:.2f}x, "
                f"so text lines under about {round(8 / result.detection_scale)} pixels tall may be missed")
        result.seconds = time.perf_counter() - start
        return result

    def _read_as_is(self, page: Image.Image, min_rows: int, detections: dict[int, list[tuple[Box, float]]],
                    angle: int) -> PageResult | None:
        result = PageResult(page.width, page.height, [])
        result.detection_scale = self.detector.input.scale_for(page.width, page.height)
        if angle not in detections:
            detections[angle] = self.detector.detect(page)
        boxes = detections[angle]
        if min_rows and rows_of(boxes) < min_rows:
            return None
        skew = _median_angle(boxes)
        if abs(math.degrees(skew)) >= DESKEW_DEGREES:
            boxes = _detect_upright(self.detector, page, skew)
        result.skew_degrees = math.degrees(skew)
        if boxes:
            result.lines = self._recognize(page, boxes, skew)
        return result

    def _recognize(self, page: Image.Image, boxes: list[tuple[Box, float]], skew: float) -> list[Line]:
        crops = [crop_quad(page, box.quad()) for box, _ in boxes]
        arrays = [normalize(resize(crop, self.preprocess), self.preprocess) for crop in crops]
        predictions = self.recognizer.read_arrays(arrays, page=True)
        order, blocks = reading_order([_upright_extent(box, skew) for box, _ in boxes])
        lines = []
        for index, block in zip(order, blocks):
            box, score = boxes[index]
            prediction = predictions[index]
            words = _words(prediction, box, arrays[index].shape[1], self.recognizer.width_stride)
            if isinstance(box, TallLine) and prediction.confidence < SURE_TALL:
                continue  # barcodes and signatures look like tall lines too
            lines.append(Line(box.quad(), prediction.text, prediction.confidence, score, block, words))
        return [line for line in lines if line.text.strip()]


def reading_quality(result: PageResult, min_alnum: int = 3) -> float:
    """The mean confidence of the page's lines of `min_alnum` letters or digits or more, weighted by length: a
    page read the wrong way up reads as junk of almost no confidence, and one on its side as scraps of a character
    or two (benchmarks/ORIENTATION.md)."""
    weights = [len(line.text) if sum(c.isalnum() for c in line.text) >= min_alnum else 0 for line in result.lines]
    if not sum(weights):
        return 0.0
    return sum(line.confidence * w for line, w in zip(result.lines, weights)) / sum(weights)


def confident_chars(result: PageResult) -> float:
    """Characters read, each counted by its line's confidence (lines of three letters or digits or more): the
    right way up reads many, a wrong one a few scraps, however sure it is of them."""
    return sum(line.confidence * len(line.text) for line in result.lines
               if sum(c.isalnum() for c in line.text) >= 3)


def turn_back(result: PageResult, width: int, height: int) -> PageResult:
    """A reading of the page turned `result.turned` degrees counter-clockwise, with every quad in the pixels of
    the page as it was given (width x height)."""
    def quad(q: Quad) -> Quad:
        return tuple(v for i in range(0, 8, 2)  # type: ignore[return-value]
                     for v in point_before_turn(q[i], q[i + 1], result.turned, width, height))

    lines = [dataclasses.replace(line, quad=quad(line.quad), words=[Word(w.text, quad(w.quad)) for w in line.words])
             for line in result.lines]
    return dataclasses.replace(result, width=width, height=height, lines=lines)


def _median_angle(boxes: list[tuple[Box, float]]) -> float:
    """The page's skew: the median angle of its longer lines (short ones have no reliable direction)."""
    angles = [box.angle for box, _ in boxes if box.width > 3 * box.height]
    return float(np.median(angles)) if len(angles) >= 3 else 0.0


def _detect_upright(detector: LineDetector, page: Image.Image, skew: float) -> list[tuple[Box, float]]:
    """Turn the page upright, detect again (the detector separates level lines best), map boxes back."""
    degrees = math.degrees(skew)
    upright = page.rotate(degrees, resample=Image.Resampling.BILINEAR, expand=True, fillcolor=_paper(page))
    cx, cy, ux, uy = page.width / 2, page.height / 2, upright.width / 2, upright.height / 2
    cos, sin = math.cos(skew), math.sin(skew)
    boxes = []
    for box, score in detector.detect(upright):
        dx, dy = box.cx - ux, box.cy - uy  # back to the skewed page: rotate by +skew about the centre
        boxes.append((type(box)(cx + dx * cos - dy * sin, cy + dx * sin + dy * cos, box.width, box.height,
                                box.angle + skew), score))
    return boxes


def _paper(page: Image.Image) -> int:
    small = np.asarray(page.resize((64, 64)))
    return int(np.median(small))


def _upright_extent(box: Box, skew: float) -> Extent:
    """The box's extent in the page turned upright (so rows and columns are level)."""
    cos, sin = math.cos(-skew), math.sin(-skew)
    x, y = box.cx * cos - box.cy * sin, box.cx * sin + box.cy * cos
    return Extent(x - box.width / 2, y - box.height / 2, x + box.width / 2, y + box.height / 2)


def _words(prediction, box: Box, resized_width: int, stride: int) -> list[Word]:
    """Word quads along the line from where the recognizer read each character (CTC peak columns)."""
    if not prediction.columns or len(prediction.columns) != len(prediction.text):
        return []
    quad = box.quad()
    words, start = [], None
    text = prediction.text + " "
    for i, char in enumerate(text):
        if char != " " and start is None:
            start = i
        elif char == " " and start is not None:
            x0 = prediction.columns[start] * stride / resized_width
            x1 = (prediction.columns[i - 1] + 1) * stride / resized_width
            # a CTC peak marks a character's middle: widen by half a character each side
            pad = 0.5 * (x1 - x0) / max(1, i - start)
            words.append(Word(text[start:i], _along(quad, max(0.0, x0 - pad), min(1.0, x1 + pad))))
            start = None
    return words


def _along(quad: Quad, t0: float, t1: float) -> Quad:
    """The part of a quad between fractions t0 and t1 of its length."""
    tl, tr, br, bl = (np.array(quad[i : i + 2]) for i in range(0, 8, 2))
    points = [tl + (tr - tl) * t0, tl + (tr - tl) * t1, bl + (br - bl) * t1, bl + (br - bl) * t0]
    return tuple(float(v) for p in points for v in p)  # type: ignore[return-value]


def read_page(image: ImageInput, model: str | None = None, detector: str | None = None) -> PageResult:
    """Read a whole page with the bundled (or given) recognizer and line detector, loaded once per process."""
    result = _reader(model, detector).read(image)
    assert result is not None  # min_rows 0: a page with no rows still reads (as empty), never None
    return result


_READERS: dict[tuple, PageReader] = {}


def _reader(model: str | None, detector: str | None) -> PageReader:
    key = (model, detector)
    if key not in _READERS:
        from textrec.recognizer import load_recognizer

        _READERS[key] = PageReader(load_recognizer(model), detector)
    return _READERS[key]


def is_page_sized(width: int, height: int) -> bool:
    """Auto mode: an image is a page (not a word or line) when it is tall enough for several lines of text
    and not a single strip."""
    return height >= 200 and width >= 200 and width / height < 8


__all__ = ["PageReader", "PageResult", "Line", "Word", "read_page", "is_page_sized"]
