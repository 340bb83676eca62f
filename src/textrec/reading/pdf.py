"""PDF input: each page rendered by pdfium (pypdfium2, a well-kept binding of the renderer Chrome uses) at a
DPI the user sets, checked against the pixel limit from its size before it is rendered, then read like an
image. Pages are rendered one at a time, so a long document costs one page of memory."""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from PIL import Image

from textrec.errors import CorruptImage, ImageTooLarge, TextrecError
from textrec.preprocess import to_grayscale

PDF_SUFFIX = ".pdf"
DEFAULT_DPI = 200


def is_pdf(source: object) -> bool:
    if isinstance(source, (str, os.PathLike)):
        return Path(source).suffix.lower() == PDF_SUFFIX
    return isinstance(source, (bytes, bytearray)) and bytes(source[:5]) == b"%PDF-"


def page_count(source: str | os.PathLike | bytes, name: str) -> int:
    with _open(source, name) as document:
        return len(document)


def pdf_pages(source: str | os.PathLike | bytes, name: str, dpi: int = DEFAULT_DPI,
              max_pixels: int | None = None) -> Iterator[tuple[int, Image.Image]]:
    """(page number from 1, gray page image) for each page in order."""
    if not 36 <= dpi <= 1200:
        raise TextrecError(f"--dpi must be between 36 and 1200, got {dpi}")
    scale = dpi / 72  # PDF sizes are in points of 1/72 inch
    with _open(source, name) as document:
        for index in range(len(document)):
            page = document[index]
            width, height = (round(v * scale) for v in page.get_size())
            if max_pixels and width * height > max_pixels:
                raise ImageTooLarge(f"{name} page {index + 1} is {width}x{height} = {width * height:,} pixels at "
                                    f"{dpi} dpi; the limit is {max_pixels:,} (a lower --dpi reads it)")
            yield index + 1, to_grayscale(page.render(scale=scale).to_pil())


class _open:
    def __init__(self, source, name: str):
        self.source, self.name = source, name

    def __enter__(self):
        try:
            import pypdfium2
        except ImportError:
            raise TextrecError("PDF input needs pypdfium2: pip install pypdfium2") from None
        try:
            self.document = pypdfium2.PdfDocument(bytes(self.source) if isinstance(self.source, bytearray)
                                                  else self.source)
        except pypdfium2.PdfiumError as exc:
            raise CorruptImage(f"cannot read PDF {self.name}: {exc}") from None
        return self.document

    def __exit__(self, *exc) -> None:
        self.document.close()
