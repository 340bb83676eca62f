"""Synthetic pages with exact line boxes, for training the line detector: receipts (label ... price rows,
centred headers, rules, barcodes), documents (one or two columns, titles, paragraphs, mixed sizes) and tables,
then paper, print and scan effects and a small skew. A text run separated from its neighbour by a wide gap is
its own box, as the ICDAR/SROIE annotations do."""
from __future__ import annotations

import io
import math
import random
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from textrec.errors import TextrecError
from textrec.pages.geometry import Quad
from textrec.synth.fontinfo import FontInfo, bundled_fonts
from textrec.synth.text import TextSampler, date, number, price, time_of_day


@dataclass
class PageLine:
    quad: Quad  # clockwise from top-left, page pixels
    text: str


@lru_cache(maxsize=256)
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


class PageRenderer:
    """`sample(index)` is deterministic per (seed, index): the same page every time."""

    layouts = {"receipt": 0.45, "document": 0.35, "table": 0.2, "note": 0.0}  # note: handwriting, off by default

    def __init__(self, seed: int = 0, layouts: dict[str, float] | None = None):
        self.seed = seed
        if layouts is not None:
            unknown = sorted(set(layouts) - set(PageRenderer.layouts))
            if unknown or not layouts or any(float(w) < 0 for w in layouts.values()) or not sum(layouts.values()):
                raise TextrecError(f"page layouts must weigh some of {', '.join(PageRenderer.layouts)} (weights >= 0, "
                                   f"not all 0), got {layouts!r:.120}")
            self.layouts = {name: float(weight) for name, weight in layouts.items()}
        fonts = [f for f in bundled_fonts() if f.category not in ("handwriting", "display")]
        self.fonts = [f for f in fonts if f.covers("ABCabc0123456789.,:-/")]
        self.mono = [f for f in self.fonts if f.category in ("mono", "typewriter")] or self.fonts
        self.text = TextSampler()

    def sample(self, index: int) -> tuple[Image.Image, list[PageLine]]:
        rng = random.Random((self.seed * 1_000_003 + index) & 0xFFFFFFFFFFFF)
        layout = rng.choices(list(self.layouts), list(self.layouts.values()))[0]
        page, lines = getattr(self, f"_{layout}")(rng)
        return self._effects(page, lines, rng)

    # ---- layouts: each draws black text on a white canvas and returns the boxes ----
    def _canvas(self, w: int, h: int) -> tuple[Image.Image, ImageDraw.ImageDraw]:
        page = Image.new("L", (w, h), 255)
        return page, ImageDraw.Draw(page)

    def _write(self, draw: ImageDraw.ImageDraw, xy: tuple[float, float], text: str, font: FontInfo, size: int,
               lines: list[PageLine], ink: int = 0) -> float:
        """Draw a run of text and box it (ink extent, a pixel of margin); returns the run's width."""
        pil_font = _font(font.path, size)
        text = "".join(c for c in text if font.covers(c) or c == " ").strip()
        if not text:
            return 0.0
        x, y = xy
        draw.text((x, y), text, fill=ink, font=pil_font)
        left, top, right, bottom = draw.textbbox((x, y), text, font=pil_font)
        lines.append(PageLine((left - 1, top - 1, right + 1, top - 1, right + 1, bottom + 1, left - 1, bottom + 1),
                              text))
        return right - x

    def _phrase(self, rng: random.Random, words: tuple[int, int]) -> str:
        return " ".join(self.text.word(rng) for _ in range(rng.randint(*words)))

    def _item(self, rng: random.Random) -> str:
        kind = rng.random()
        if kind < 0.5:
            return self._phrase(rng, (1, 4)).upper() if rng.random() < 0.6 else self._phrase(rng, (1, 4))
        if kind < 0.7:
            return number(self.text, rng)
        if kind < 0.85:
            return f"{date(self.text, rng)} {time_of_day(self.text, rng)}"
        return self.text(rng)

    def _receipt(self, rng: random.Random) -> tuple[Image.Image, list[PageLine]]:
        w = rng.randint(380, 900)
        font = rng.choice(self.mono if rng.random() < 0.7 else self.fonts)
        size = rng.randint(max(12, w // 45), max(14, w // 28))
        page, draw = self._canvas(w, 4000)
        lines: list[PageLine] = []
        y, margin, step = rng.randint(20, 80), rng.randint(10, 40), int(size * rng.uniform(1.15, 1.6))
        for _ in range(rng.randint(2, 6)):  # centred header
            text = self._item(rng) if rng.random() < 0.5 else self._phrase(rng, (1, 5)).upper()
            hsize = size + rng.choice([0, 0, 2, 6])
            width = _font(font.path, hsize).getlength(text)
            self._write(draw, ((w - width) / 2, y), text, font, hsize, lines)
            y += int(step * hsize / size)
        for _ in range(rng.randint(8, 40)):
            kind = rng.random()
            if kind < 0.08:  # a rule of dashes or a drawn line
                if rng.random() < 0.5:
                    draw.line((margin, y + size // 2, w - margin, y + size // 2), fill=rng.randint(0, 80),
                              width=rng.randint(1, 2))
                else:
                    dashes = rng.choice("-=*") * int((w - 2 * margin) / max(1, _font(font.path, size).getlength("-")))
                    self._write(draw, (margin, y), dashes, font, size, lines)
            elif kind < 0.12:  # a barcode: not text
                x = rng.randint(margin, w // 3)
                for _ in range(rng.randint(30, 60)):
                    bar = rng.randint(1, 3)
                    draw.rectangle((x, y, x + bar - 1, y + 2 * size), fill=0)
                    x += bar + rng.randint(1, 3)
                    if x > w - margin:
                        break
                y += 2 * size
            elif kind < 0.75:  # label ... amount
                self._write(draw, (margin + rng.choice([0, 0, size * 2]), y), self._item(rng), font, size, lines)
                amount = price(self.text, rng) if rng.random() < 0.8 else number(self.text, rng)
                width = _font(font.path, size).getlength(amount)
                self._write(draw, (w - margin - width, y), amount, font, size, lines)
            else:  # a long line
                text = self.text.line(rng)
                while text and _font(font.path, size).getlength(text) > w - 2 * margin:
                    text = text[:-1]
                self._write(draw, (margin, y), text, font, size, lines)
            y += step
            if y > 3800:
                break
        return page.crop((0, 0, w, min(4000, y + rng.randint(20, 120)))), lines

    def _document(self, rng: random.Random) -> tuple[Image.Image, list[PageLine]]:
        w = rng.randint(700, 1500)
        h = int(w * rng.uniform(1.0, 1.5))
        page, draw = self._canvas(w, h)
        lines: list[PageLine] = []
        font = rng.choice(self.fonts)
        size = rng.randint(max(12, w // 90), max(14, w // 40))
        margin = rng.randint(20, w // 10)
        y = margin
        title_size = int(size * rng.uniform(1.3, 2.2))
        self._write(draw, (margin, y), self._phrase(rng, (2, 7)).title(), rng.choice(self.fonts), title_size, lines)
        y += int(title_size * 1.8)
        columns = rng.choice([1, 1, 2, 2, 3]) if w > 900 else rng.choice([1, 2])
        gutter = int(size * rng.uniform(1.2, 3.0))
        col_w = (w - 2 * margin - (columns - 1) * gutter) / columns
        step = int(size * rng.uniform(1.2, 1.7))
        top = y
        for column in range(columns):
            x0, y = margin + column * (col_w + gutter), top
            while y < h - margin - step:
                if rng.random() < 0.12:  # paragraph break, or a heading
                    y += step
                    if rng.random() < 0.4:
                        self._write(draw, (x0, y), self._phrase(rng, (1, 4)), font, int(size * 1.2), lines)
                        y += int(step * 1.3)
                    continue
                words, text = [], ""
                while True:
                    word = self.text.word(rng) if rng.random() < 0.9 else number(self.text, rng)
                    candidate = f"{text} {word}".strip()
                    if _font(font.path, size).getlength(candidate) > col_w * rng.uniform(0.9, 1.0):
                        break
                    words.append(word)
                    text = candidate
                self._write(draw, (x0, y), text, font, size, lines)
                y += step
        return page, lines

    def _table(self, rng: random.Random) -> tuple[Image.Image, list[PageLine]]:
        cols, rows = rng.randint(2, 6), rng.randint(5, 30)
        font = rng.choice(self.fonts)
        size = rng.randint(12, 26)
        cell_w = [int(size * rng.uniform(4, 12)) for _ in range(cols)]
        cell_h = int(size * rng.uniform(1.6, 2.4))
        margin = rng.randint(10, 60)
        w, h = sum(cell_w) + 2 * margin, rows * cell_h + 2 * margin
        page, draw = self._canvas(w, h)
        lines: list[PageLine] = []
        ruled = rng.random() < 0.6
        for r in range(rows):
            x = margin
            for c in range(cols):
                if rng.random() < 0.85:
                    text = (self._item(rng) if c == 0
                            else (price(self.text, rng) if rng.random() < 0.5 else self._item(rng)))
                    while text and _font(font.path, size).getlength(text) > cell_w[c] - size:
                        text = text[:-1]
                    self._write(draw, (x + size // 3, margin + r * cell_h + (cell_h - size) // 2), text, font, size,
                                lines)
                if ruled:
                    draw.rectangle((x, margin + r * cell_h, x + cell_w[c], margin + (r + 1) * cell_h),
                                   outline=rng.randint(0, 120))
                x += cell_w[c]
        return page, lines

    def _note(self, rng: random.Random) -> tuple[Image.Image, list[PageLine]]:
        texts = [self._phrase(rng, (2, 7)) for _ in range(rng.randint(4, 14))]
        return render_note(texts, rng)

    # ---- the look of paper, print and scan ----
    def _effects(self, page: Image.Image, lines: list[PageLine],
                 rng: random.Random) -> tuple[Image.Image, list[PageLine]]:
        ink = page.point(lambda v: 255 - v)  # text as white-on-black mask
        paper = rng.randint(170, 255)
        fg = rng.randint(0, min(120, paper - 60))
        array = np.full((page.height, page.width), float(paper), np.float32)
        array += np.random.default_rng(rng.getrandbits(32)).normal(0, rng.uniform(0, 12), array.shape)
        if rng.random() < 0.4:  # uneven light
            ys, xs = np.mgrid[0:page.height, 0:page.width]
            array -= rng.uniform(0, 50) * (xs / page.width * math.cos(rng.uniform(0, 6.3)) + ys / page.height * 0.5)
        alpha = np.asarray(ink, np.float32) / 255 * rng.uniform(0.6, 1.0)
        inked = array * (1 - alpha) + fg * alpha
        out = Image.fromarray(np.clip(inked, 0, 255).astype(np.uint8))
        if rng.random() < 0.5:
            out = out.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.2)))
        angle = rng.uniform(-4, 4) if rng.random() < 0.6 else 0.0
        if angle:
            out, lines = _rotate(out, lines, angle, rng.randint(paper - 30, paper))
        if rng.random() < 0.3:  # the page lies on a darker surface
            border = rng.randint(5, 60)
            canvas = Image.new("L", (out.width + 2 * border, out.height + 2 * border), rng.randint(20, 120))
            canvas.paste(out, (border, border))
            out = canvas
            lines = [PageLine(_shifted(line.quad, border), line.text) for line in lines]
        if rng.random() < 0.6:
            buffer = io.BytesIO()
            out.save(buffer, format="JPEG", quality=rng.randint(40, 95))
            out = Image.open(io.BytesIO(buffer.getvalue())).convert("L")
        return out, lines


def render_note(texts: list[str], rng: random.Random, width: int | None = None,
                family: str | None = None) -> tuple[Image.Image, list[PageLine]]:
    """A handwritten note, black ink on a white canvas (PageRenderer's effects add paper and scan): one line per
    text, on ruled lines or blank paper, in one handwriting face; each line boxed by its ink. Texts are cut to
    what fits the width and to the characters the face draws."""
    from textrec.synth.handwriting import elastic, handwritten_mask
    from textrec.synth.render import _glyph_cache

    faces = [f for f in bundled_fonts() if f.category == "handwriting" and f.covers("ABCabcxyz0123456789.,")
             and (family is None or f.family.strip() == family)]
    if not faces:
        raise TextrecError(f"no bundled handwriting face {family!r} draws letters, digits and punctuation")
    font = rng.choice(faces)
    width = width or rng.randint(700, 1200)
    gap = rng.randint(56, 84)
    size = int(gap * rng.uniform(0.55, 0.7))
    glyphs = _glyph_cache(font.path, size, 0)
    margin = rng.randint(30, 80)
    height = int(gap * (len(texts) + 2.5))
    page = np.full((height, width), 255, np.uint8)
    ruled = rng.random() < 0.6
    lines: list[PageLine] = []
    for k, text in enumerate(texts):
        baseline = int(gap * (k + 1.6))
        if ruled:
            page[baseline : baseline + 2, :] = 190
        text = "".join(c for c in text if font.covers(c) or c == " ").strip()
        mask = np.zeros((0, 0), np.uint8)
        while text:
            mask = elastic(handwritten_mask(glyphs, text, size, rng, {"jitter": 0.8}), rng, 1.5, 5.0)
            if mask.shape[1] <= width - 2 * margin:
                break
            text = text.rsplit(" ", 1)[0] if " " in text else text[:-1]
        if not text:
            continue
        x = margin + rng.randint(0, size)
        top = max(0, baseline - int(mask.shape[0] * 0.72))
        region = page[top : top + mask.shape[0], x : x + mask.shape[1]]
        np.minimum(region, 255 - mask[: region.shape[0], : region.shape[1]], out=region)
        ys, xs = np.nonzero(mask[: region.shape[0], : region.shape[1]] > 80)
        if len(xs):
            left, right, upper, lower = x + xs.min() - 1, x + xs.max() + 1, top + ys.min() - 1, top + ys.max() + 1
            lines.append(PageLine((left, upper, right, upper, right, lower, left, lower), text))
    return Image.fromarray(page), lines


def _shifted(quad: Quad, by: float) -> Quad:
    """The quad moved right and down by `by` pixels."""
    x0, y0, x1, y1, x2, y2, x3, y3 = (v + by for v in quad)
    return x0, y0, x1, y1, x2, y2, x3, y3


def _rotate(page: Image.Image, lines: list[PageLine], degrees: float, fill: int) -> tuple[Image.Image, list[PageLine]]:
    """Rotate the page about its centre (expanding the canvas) and every quad with it."""
    rotated = page.rotate(degrees, resample=Image.Resampling.BILINEAR, expand=True, fillcolor=fill)
    cx, cy = page.width / 2, page.height / 2
    nx, ny = rotated.width / 2, rotated.height / 2
    a = math.radians(degrees)
    cos, sin = math.cos(a), math.sin(a)

    def turn(x: float, y: float) -> tuple[float, float]:  # PIL rotates counter-clockwise on screen
        dx, dy = x - cx, y - cy
        return nx + dx * cos + dy * sin, ny - dx * sin + dy * cos

    moved = []
    for line in lines:
        q = line.quad
        p0, p1, p2, p3 = (turn(q[i], q[i + 1]) for i in range(0, 8, 2))
        moved.append(PageLine((*p0, *p1, *p2, *p3), line.text))
    return rotated, moved
