"""Handwriting looks for the generator. A handwriting font alone is too regular to pass for writing: every 'e'
is the same 'e'. Here each glyph of a word gets its own size, tilt and height on a wandering baseline, the
spacing lets letters touch or overlap, the pen's weight varies per word, and a smooth random displacement
field (elastic distortion) bends the strokes; then ink (pen or pencil) goes on paper (plain, ruled, squared)."""
from __future__ import annotations

import math
import random

import numpy as np
from PIL import Image, ImageFilter
from scipy import ndimage


def handwritten_mask(glyphs, text: str, size: int, rng: random.Random, settings: dict) -> np.ndarray:
    """White-on-black strokes of `text`, every glyph varied; `glyphs` is the render module's GlyphCache."""
    jitter = float(settings.get("jitter", 1.0))
    slope = rng.uniform(-0.04, 0.04) * jitter  # the line rises or falls across the word
    tightness = rng.uniform(-0.12, 0.06) * size  # negative: letters touch or overlap
    pieces, x, drift = [], 0.0, 0.0
    for char in text:
        bitmap, dx, dy, advance = glyphs.glyph(char)
        drift = 0.75 * drift + rng.gauss(0, 0.035 * size * jitter)  # baseline wander, smooth from letter to letter
        if bitmap.size:
            scale = math.exp(rng.gauss(0, 0.07 * jitter))
            glyph = Image.fromarray(bitmap)
            glyph = glyph.resize((max(1, round(glyph.width * scale)), max(1, round(glyph.height * scale))),
                                 Image.Resampling.BILINEAR)
            glyph = glyph.rotate(rng.gauss(0, 4 * jitter), Image.Resampling.BILINEAR, expand=True)
            top = dy + bitmap.shape[0] * (1 - scale) + drift + slope * x
            pieces.append((np.asarray(glyph), round(x + dx), round(top)))
        x += advance * rng.uniform(0.9, 1.08) + tightness * rng.uniform(0.5, 1.5) if char != " " else advance * 1.2
    if not pieces:
        return np.zeros((glyphs.ascent + glyphs.descent, max(4, round(x))), np.uint8)
    left = min(px for _, px, _ in pieces)
    top = min(py for _, _, py in pieces)
    right = max(px + p.shape[1] for p, px, _ in pieces)
    bottom = max(py + p.shape[0] for p, _, py in pieces)
    margin = max(2, size // 6)
    canvas = np.zeros((bottom - top + 2 * margin, max(right, round(x)) - left + 2 * margin), np.uint8)
    for piece, px, py in pieces:
        region = canvas[py - top + margin : py - top + margin + piece.shape[0],
                        px - left + margin : px - left + margin + piece.shape[1]]
        np.maximum(region, piece, out=region)
    return canvas


def pen_weight(mask: np.ndarray, size: int, rng: random.Random, broad: float = 0.3) -> np.ndarray:
    """A broader pen for a share `broad` of words (never finer: thin faces would lose strokes)."""
    choice = rng.random()
    if choice > 1 - broad:
        return ndimage.grey_dilation(mask, size=(2, 2) if choice < 1 - broad / 3 else (3, 3))
    return mask


def elastic(mask: np.ndarray, rng: random.Random, amplitude: float, smoothness: float) -> np.ndarray:
    """Move every pixel by a smooth random field: strokes bend as a hand's do, letters stay letters."""
    h, w = mask.shape
    generator = np.random.default_rng(rng.getrandbits(32))
    fields = [ndimage.gaussian_filter(generator.standard_normal((h, w)), smoothness, mode="reflect") for _ in range(2)]
    fields = [f / (np.abs(f).max() + 1e-6) * amplitude for f in fields]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    return ndimage.map_coordinates(mask, [ys + fields[0], xs + fields[1]], order=1, mode="constant", cval=0)


def on_paper(mask: np.ndarray, size: int, rng: random.Random, settings: dict, paper_texture) -> Image.Image:
    """Ink on paper, gray: pen (dark, even) or pencil (lighter, grainy); plain, ruled or squared paper."""
    h, w = mask.shape
    base = rng.uniform(185, 252)
    paper = base + rng.uniform(2, 8) * paper_texture(w, h, rng)
    style = rng.random()
    if style < settings.get("ruled", 0.35) + settings.get("squared", 0.15):
        gap = rng.uniform(1.0, 1.4) * size
        offset = rng.uniform(0, gap)
        line_tone = base - rng.uniform(25, 70)
        rows = np.arange(h)
        on_row = np.abs((rows - offset) % gap) < 1.0
        paper[on_row, :] = line_tone
        if style >= settings.get("ruled", 0.35):  # squared: columns too
            cols = np.abs((np.arange(w) - rng.uniform(0, gap)) % gap) < 1.0
            paper[:, cols] = line_tone
    alpha = mask.astype(np.float32) / 255.0
    if rng.random() < settings.get("pencil", 0.3):
        ink = base - rng.uniform(100, 160)
        grain = np.random.default_rng(rng.getrandbits(32)).uniform(0.6, 1.0, (h, w)).astype(np.float32)
        alpha = alpha * grain
    else:
        ink = rng.uniform(5, 80)
        alpha = alpha * rng.uniform(0.8, 1.0)
    image = paper * (1 - alpha) + ink * alpha
    picture = Image.fromarray(np.clip(image, 0, 255).astype(np.uint8))
    return picture.filter(ImageFilter.GaussianBlur(0.4)) if rng.random() < 0.3 else picture
