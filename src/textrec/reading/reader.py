"""`Reader`: images in, results out, in the order given. It owns the decisions every front end used to make on
its own: the size limit (from the header, naming the input), the mode (word/line, page, or auto), batching of
crops, and the shape of a result. Front ends only translate their inputs and outputs."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Union

from PIL import Image

from textrec.decoding import Prediction
from textrec.errors import TextrecError
from textrec.pages.geometry import point_before_turn
from textrec.pages.pipeline import PageReader, PageResult, is_page_sized, reading_quality
from textrec.preprocess import MAX_PIXELS, ImageInput, describe, frame_count, load_image, target_width
from textrec.reading.pdf import DEFAULT_DPI, is_pdf, page_count, pdf_pages

MODES = ("auto", "word", "line", "page")
PAGE_ROWS = 2  # auto mode reads a page-sized image as a page only when it holds at least this many rows of text
SURE_LINE = 0.9  # ...and when read whole it is not this sure of one line (benchmarks/AUTO_MODE.md)


@dataclass
class CropResult:
    """A word or line image read as one line of text; `boxes` has a box per character in the image's pixels."""

    prediction: Prediction
    width: int
    height: int
    boxes: list[list[int]] = field(default_factory=list)

    @property
    def text(self) -> str:
        return self.prediction.text

    @property
    def confidence(self) -> float:
        return self.prediction.confidence

    def to_dict(self) -> dict[str, Any]:
        return {"mode": "line", **self.prediction.to_dict(), "boxes": self.boxes}


@dataclass
class DocumentResult:
    """A PDF: one result per page, in order (pages are numbered from 1)."""

    pages: list[Union[CropResult, PageResult]]

    @property
    def text(self) -> str:
        return "\n\f\n".join(page.text for page in self.pages)  # a form feed between pages, as pdftotext does

    def to_dict(self) -> dict[str, Any]:
        return {"mode": "document", "text": self.text,
                "pages": [{"page": number, **result_dict(page)} for number, page in enumerate(self.pages, start=1)]}


Result = Union[CropResult, PageResult, DocumentResult]


def result_dict(result: Result) -> dict[str, Any]:
    """The one JSON shape of a result: `mode` says which kind it is."""
    if isinstance(result, (CropResult, DocumentResult)):
        return result.to_dict()
    return {"mode": "page", **result.to_dict()}


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise TextrecError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    return mode


class Reader:
    """A recognizer (and, for pages, a line detector loaded at the first page) with the reading options.

    `read(inputs)` gives one result per input, in input order: a CropResult, a PageResult, or the TextrecError
    that stopped that input (the others are still read)."""

    def __init__(self, recognizer: Any, mode: str = "auto", detector: Any = None, max_pixels: int = MAX_PIXELS,
                 threads: int | None = None, dpi: int = DEFAULT_DPI,
                 progress: Callable[[str, int, int], None] | None = None):
        """`detector`: a LineDetector, or its model path (None: the bundled one), loaded at the first page.
        `dpi`: PDF pages are rendered at this resolution; `progress(name, page, pages)` hears of each PDF page."""
        check_mode(mode)
        self.recognizer, self.mode, self.detector, self.max_pixels = recognizer, mode, detector, max_pixels
        self.threads, self.dpi, self.progress = threads, dpi, progress
        self._pages: PageReader | None = None

    def page_reader(self) -> PageReader:
        if self._pages is None:
            from textrec.pages.detect import LineDetector

            detector = self.detector
            if not isinstance(detector, LineDetector):
                detector = LineDetector(str(detector) if detector else None, threads=self.threads)
            self._pages = PageReader(self.recognizer, detector, max_pixels=self.max_pixels)
        return self._pages

    def load(self, source: ImageInput, name: str | None = None) -> Image.Image:
        return load_image(source, self.max_pixels, name)

    def read(self, inputs: Sequence[ImageInput], names: Sequence[str] | None = None) -> list[Result | TextrecError]:
        results: list[Result | TextrecError | None] = [None] * len(inputs)
        crops: dict[int, Image.Image] = {}
        for i, source in enumerate(inputs):
            name = names[i] if names else describe(source)
            try:
                if is_pdf(source):
                    results[i] = self.read_pdf(source, name)  # type: ignore[arg-type]
                    continue
                if frame_count(source) > 1:  # a multi-page TIFF: a document, like a PDF
                    results[i] = self.read_frames(source, name)
                    continue
                image = self.load(source, name)
                decided = self.decide(image)
                if decided is None:
                    crops[i] = image
                else:
                    results[i] = decided
            except TextrecError as exc:
                results[i] = exc
        for i, result in zip(crops, self.read_crops(list(crops.values()))):
            results[i] = result
        return results  # type: ignore[return-value]

    def read_pdf(self, source: str | bytes, name: str) -> DocumentResult:
        """Every page of a PDF, rendered and read one at a time (each as `decide` says, or as a crop)."""
        pages: list[Union[CropResult, PageResult]] = []
        count = page_count(source, name)
        for number, image in pdf_pages(source, name, self.dpi, self.max_pixels):
            pages.append(self.decide(image) or self.read_crops([image])[0])
            if self.progress is not None:
                self.progress(name, number, count)
        return DocumentResult(pages)

    def read_frames(self, source: ImageInput, name: str) -> DocumentResult:
        """Every frame of a multi-page image (TIFF), one at a time, each checked against the pixel limit."""
        pages: list[Union[CropResult, PageResult]] = []
        count = frame_count(source)
        for number in range(count):
            image = load_image(source, self.max_pixels, f"{name} page {number + 1}", frame=number)
            pages.append(self.decide(image) or self.read_crops([image])[0])
            if self.progress is not None:
                self.progress(name, number + 1, count)
        return DocumentResult(pages)

    def decide(self, image: Image.Image, mode: str | None = None) -> Union[CropResult, PageResult] | None:
        """The image read as a page or, where that took reading it whole already, as a line; None when it is to
        be read as a crop with the others (batched). `mode` overrides the reader's. Auto: a small image is a crop;
        a page-sized one is read whole first, and is a line when that reading is sure (a big word photo), else a
        page when the detector finds PAGE_ROWS rows of text or more, else the line it is, unless the one row the
        detector finds reads surer cut out."""
        mode = mode or self.mode
        if mode in ("word", "line") or (mode == "auto" and not is_page_sized(image.width, image.height)):
            return None
        if mode == "page":
            return self.page_reader().read(image)
        line = self.read_crops([image])[0]
        if line.confidence >= SURE_LINE:
            return line
        detections: dict = {}  # the second look below reuses the first one's detections
        page = self.page_reader().read(image, min_rows=PAGE_ROWS, detections=detections)
        if page is not None:
            return page
        # one row of text in a big margin (a sign, a word in the middle of a photo): cut out, it may read surer
        # (every line weighs, however short: a photo of "OK")
        row = self.page_reader().read(image, min_rows=1, detections=detections)
        return row if row is not None and reading_quality(row, min_alnum=0) > line.confidence else line

    def read_crops(self, images: Sequence[Image.Image]) -> list[CropResult]:
        """Word and line images, batched by width; each with its character boxes in its own pixels."""
        return [self.crop_result(image, prediction)
                for image, prediction in zip(images, self.recognizer.read_images(list(images)))]

    def crop_result(self, image: Image.Image, prediction: Prediction) -> CropResult:
        size = image.size if prediction.turned in (0, 180) else image.size[::-1]
        boxes = char_boxes(prediction.columns, self.recognizer.width_stride,
                           target_width(*size, self.recognizer.preprocess), size)
        return CropResult(prediction, image.width, image.height,
                          [turn_back(box, prediction.turned, image.size) for box in boxes])


def char_boxes(columns: Sequence[int], stride: int, resized_width: int, size: tuple[int, int]) -> list[list[int]]:
    """Per character, [x0, y0, x1, y1] in the input image: the strip of the encoder column where the character
    was read (its CTC peak, or the attention's), scaled back from the height-normalized image."""
    width, height = size
    scale = width / max(resized_width, 1)
    boxes = []
    for c in columns:  # at least a pixel wide: a crop narrower than its columns would round some to nothing
        left = min(round(c * stride * scale), width - 1)
        boxes.append([left, 0, max(left + 1, min(round((c + 1) * stride * scale), width)), height])
    return boxes


def turn_back(box: list[int], turned: int, size: tuple[int, int]) -> list[int]:
    """A box found in the crop turned `turned` degrees counter-clockwise, in the crop's own pixels."""
    x0, y0, x1, y1 = box
    xs, ys = zip(*(point_before_turn(x, y, turned, *size) for x, y in ((x0, y0), (x1, y1))))
    return [round(min(xs)), round(min(ys)), round(max(xs)), round(max(ys))]
