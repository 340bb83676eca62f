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


