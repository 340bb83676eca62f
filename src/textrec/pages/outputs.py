"""A page result as hOCR (for tools that read it: search layers, hocr-tools) and as a picture for a person to
check: each line's box, coloured by block, beside the text read written into the same box."""
from __future__ import annotations

from html import escape
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from textrec.pages.geometry import Quad
from textrec.pages.pipeline import PageResult
from textrec.preprocess import ImageInput, load_image

LABEL_FONT = Path(__file__).resolve().parent.parent / "synth" / "fonts" / "DejaVuSansMono.ttf"
COLOURS = [(220, 40, 40), (30, 120, 220), (20, 160, 60), (200, 120, 0), (150, 50, 200), (0, 150, 150)]


def _bbox(quad: Quad) -> str:
    xs, ys = quad[0::2], quad[1::2]
    return f"bbox {max(0, round(min(xs)))} {max(0, round(min(ys)))} {round(max(xs))} {round(max(ys))}"


def to_hocr(result: PageResult, name: str = "page") -> str:
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" '
           '"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">',
           '<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en" lang="en">',
           '<head><title></title><meta http-equiv="Content-Type" content="text/html;charset=utf-8"/>',
           '<meta name="ocr-system" content="textrec"/>',
           '<meta name="ocr-capabilities" content="ocr_page ocr_carea ocr_line ocrx_word"/></head><body>',
           f'<div class="ocr_page" id="page_1" title="image &quot;{escape(name)}&quot;; '
           f'bbox 0 0 {result.width} {result.height}">']
    blocks: dict[int, list] = {}
    for line in result.lines:
        blocks.setdefault(line.block, []).append(line)
    word_id = 0
    for number, (block, lines) in enumerate(blocks.items(), start=1):
        xs = [v for line in lines for v in line.quad[0::2]]
        ys = [v for line in lines for v in line.quad[1::2]]
        area = (min(xs), min(ys), max(xs), min(ys), max(xs), max(ys), min(xs), max(ys))
        out.append(f'<div class="ocr_carea" id="block_{number}" title="{_bbox(area)}">')
        for line_number, line in enumerate(lines, start=1):
            out.append(f'<span class="ocr_line" id="line_{number}_{line_number}" title="{_bbox(line.quad)}">')
            words = line.words or []
            if not words:
                words_text = [(line.text, line.quad)]
            else:
                words_text = [(w.text, w.quad) for w in words]
            for text, quad in words_text:
                word_id += 1
                out.append(f'<span class="ocrx_word" id="word_{word_id}" title="{_bbox(quad)}; '
                           f'x_wconf {round(100 * line.confidence)}">{escape(text)}</span>')
            out.append("</span>")
        out.append("</div>")
    out += ["</div>", "</body></html>"]
    return "\n".join(out) + "\n"


def _words(line) -> list[tuple[str, Quad]]:
    return [(w.text, w.quad) for w in line.words] if line.words else [(line.text, line.quad)]


def _box(quad: Quad) -> tuple[int, int, int, int]:
    """(left, top, width, height) in whole pixels."""
    xs, ys = quad[0::2], quad[1::2]
    left, top = max(0, round(min(xs))), max(0, round(min(ys)))
    return left, top, max(0, round(max(xs)) - left), max(0, round(max(ys)) - top)


def to_alto(result: PageResult, name: str = "page") -> str:
    """ALTO XML v4 (libraries' and archives' OCR format): blocks of lines of words, positions in pixels,
    word confidence (WC) as the line's."""
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           '<alto xmlns="http://www.loc.gov/standards/alto/ns-v4#">',
           '<Description><MeasurementUnit>pixel</MeasurementUnit><sourceImageInformation>'
           f'<fileName>{escape(name)}</fileName></sourceImageInformation>'
           '<OCRProcessing ID="ocr"><ocrProcessingStep><processingSoftware><softwareName>textrec</softwareName>'
           '</processingSoftware></ocrProcessingStep></OCRProcessing></Description>',
           f'<Layout><Page ID="page_1" PHYSICAL_IMG_NR="1" WIDTH="{result.width}" HEIGHT="{result.height}">',
           f'<PrintSpace HPOS="0" VPOS="0" WIDTH="{result.width}" HEIGHT="{result.height}">']
    blocks: dict[int, list] = {}
    for line in result.lines:
        blocks.setdefault(line.block, []).append(line)
    for number, lines in enumerate(blocks.values(), start=1):
        xs = [v for line in lines for v in line.quad[0::2]]
        ys = [v for line in lines for v in line.quad[1::2]]
        left, top, width, height = _box((min(xs), min(ys), max(xs), min(ys), max(xs), max(ys), min(xs), max(ys)))
        out.append(f'<TextBlock ID="block_{number}" HPOS="{left}" VPOS="{top}" WIDTH="{width}" HEIGHT="{height}">')
        for line_number, line in enumerate(lines, start=1):
            left, top, width, height = _box(line.quad)
            out.append(f'<TextLine ID="line_{number}_{line_number}" HPOS="{left}" VPOS="{top}" WIDTH="{width}" '
                       f'HEIGHT="{height}">')
            for word_number, (text, quad) in enumerate(_words(line), start=1):
                left, top, width, height = _box(quad)
                if word_number > 1:
                    out.append("<SP/>")
                out.append(f'<String CONTENT="{escape(text, quote=True)}" HPOS="{left}" VPOS="{top}" '
                           f'WIDTH="{width}" HEIGHT="{height}" WC="{line.confidence:.3f}"/>')
            out.append("</TextLine>")
        out.append("</TextBlock>")
    out += ["</PrintSpace></Page></Layout>", "</alto>"]
    return "\n".join(out) + "\n"


TSV_HEADER = "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext"


def to_tsv(result: PageResult, page: int = 1) -> str:
    """Tesseract's TSV columns, so tools that read `tesseract ... tsv` read ours: a row per line (level 4) and
    per word (level 5), confidence 0-100."""
    rows = [TSV_HEADER, f"1\t{page}\t0\t0\t0\t0\t0\t0\t{result.width}\t{result.height}\t-1\t"]
    line_numbers: dict[int, int] = {}
    for line in result.lines:
        block = line.block + 1
        line_numbers[block] = line_numbers.get(block, 0) + 1
        number = line_numbers[block]
        conf = f"{100 * line.confidence:.2f}"
        left, top, width, height = _box(line.quad)
        rows.append(f"4\t{page}\t{block}\t1\t{number}\t0\t{left}\t{top}\t{width}\t{height}\t-1\t")
        for word_number, (text, quad) in enumerate(_words(line), start=1):
            left, top, width, height = _box(quad)
            clean = text.replace("\t", " ")
            rows.append(f"5\t{page}\t{block}\t1\t{number}\t{word_number}\t{left}\t{top}\t{width}\t{height}"
                        f"\t{conf}\t{clean}")
    return "\n".join(rows) + "\n"


def draw_page(image: ImageInput, result: PageResult, words: bool = False) -> Image.Image:
    """Side by side, for a person to check: the page with every line's quad (blocks in different colours), and
    a white panel with the text read written into the same boxes."""
    page = load_image(image).convert("RGB")
    canvas = Image.new("RGB", (2 * page.width, page.height), (255, 255, 255))
    canvas.paste(page, (0, 0))
    draw = ImageDraw.Draw(canvas)
    for line in result.lines:
        colour = COLOURS[line.block % len(COLOURS)]
        points = [(line.quad[i], line.quad[i + 1]) for i in range(0, 8, 2)]
        draw.polygon(points, outline=colour, width=2)
        draw.polygon([(x + page.width, y) for x, y in points], outline=colour, width=1)
        if words:
            for word in line.words:
                draw.polygon([(word.quad[i], word.quad[i + 1]) for i in range(0, 8, 2)], outline=(120, 120, 120))
        _write_in_box(draw, line.text, line.quad, page.width, colour)
    return canvas


def _write_in_box(draw: ImageDraw.ImageDraw, text: str, quad: Quad, shift: int, colour) -> None:
    """The text at a size that fills its box's height, shrunk to fit its width."""
    xs, ys = quad[0::2], quad[1::2]
    width, height = max(xs) - min(xs), max(ys) - min(ys)
    size = max(6, round(height * 0.8))
    font = _label_font(size)
    length = draw.textlength(text, font=font)
    if length > width > 0:
        size = max(6, int(size * width / length))
        font = _label_font(size)
    draw.text((min(xs) + shift + 2, (min(ys) + max(ys)) / 2), text, fill=colour, font=font, anchor="lm")


def _label_font(size: int):
    return ImageFont.truetype(str(LABEL_FONT), size) if LABEL_FONT.is_file() else ImageFont.load_default()


