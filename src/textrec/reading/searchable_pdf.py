"""A searchable PDF: each page's image, with the text read laid over it invisibly (PDF text render mode 3), one
text run per word (or per line where the recognizer gave no word boxes), scaled to fill its box, so selecting
or searching the PDF finds the words where they are. Written by hand: a page is one JPEG image and a few text
operators, about sixty lines of PDF syntax, and no library we would otherwise need writes exactly that."""
from __future__ import annotations

import io
import zlib
from collections.abc import Iterable
from pathlib import Path

from PIL import Image

from textrec.pages.geometry import Quad
from textrec.pages.pipeline import PageResult

HELVETICA_WIDTH = 0.5  # average glyph width of Helvetica in text-space units per point of font size


def _escape(text: str) -> bytes:
    """A PDF literal string in WinAnsi: backslashes and parentheses escaped, other characters as '?'."""
    raw = text.encode("cp1252", errors="replace")
    return raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def _runs(result: PageResult) -> list[tuple[str, Quad]]:
    runs = []
    for line in result.lines:
        runs += [(word.text, word.quad) for word in line.words] if line.words else [(line.text, line.quad)]
    return [(text, quad) for text, quad in runs if text.strip()]


def _text_layer(result: PageResult, scale: float) -> bytes:
    """Invisible text over each run's box (PDF y runs upwards: page height minus image y)."""
    ops = [b"BT", b"3 Tr"]
    height = result.height * scale
    for text, quad in _runs(result):
        xs, ys = quad[0::2], quad[1::2]
        left, bottom = min(xs) * scale, height - max(ys) * scale
        box_w, box_h = (max(xs) - min(xs)) * scale, (max(ys) - min(ys)) * scale
        size = max(box_h * 0.8, 1.0)
        stretch = 100.0 * box_w / max(len(text) * size * HELVETICA_WIDTH, 1e-3)  # horizontal scaling, percent
        ops.append(b"/F1 %.2f Tf %.2f Tz 1 0 0 1 %.2f %.2f Tm (%s) Tj"
                   % (size, stretch, left, bottom + box_h * 0.15, _escape(text)))
    ops.append(b"ET")
    return b"\n".join(ops)


def write_searchable_pdf(pages: Iterable[tuple[Image.Image, PageResult]], path: str | Path, dpi: int = 200) -> Path:
    """One PDF page per (image, reading), the page sized so the image prints at `dpi`; images are taken one at
    a time (only their JPEG bytes are kept)."""
    scale = 72.0 / dpi  # image pixels to PDF points
    objects: list[bytes] = [b"", b""]  # 1: catalog, 2: page tree (filled in last)
    font = len(objects) + 1
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    kids = []
    for image, result in pages:
        buffer = io.BytesIO()
        image.convert("L").save(buffer, format="JPEG", quality=85)
        jpeg = buffer.getvalue()
        objects.append(b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray "
                       b"/BitsPerComponent 8 /Filter /DCTDecode /Length %d >>\nstream\n%s\nendstream"
                       % (image.width, image.height, len(jpeg), jpeg))
        picture = len(objects)
        width, height = image.width * scale, image.height * scale
        content = zlib.compress(b"q %.2f 0 0 %.2f 0 0 cm /Im0 Do Q\n" % (width, height)
                                + _text_layer(result, image.width and width / image.width))
        objects.append(b"<< /Length %d /Filter /FlateDecode >>\nstream\n%s\nendstream" % (len(content), content))
        stream = len(objects)
        objects.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %.2f %.2f] /Contents %d 0 R "
                       b"/Resources << /XObject << /Im0 %d 0 R >> /Font << /F1 %d 0 R >> >> >>"
                       % (width, height, stream, picture, font))
        kids.append(len(objects))
    objects[0] = b"<< /Type /Catalog /Pages 2 0 R >>"
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(b"%d 0 R" % k for k in kids), len(kids))
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    path = Path(path)
    path.write_bytes(bytes(out))
    return path
