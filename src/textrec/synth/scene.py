"""Scene-text looks for the generator: colour text on colour surfaces (signs, shop fronts, logos, jerseys),
procedural textures, text effects (outline, drop shadow, 3-D extrusion, emboss, glow), text set on arcs and
letters stacked vertically.

Colour is composed here and turned into the model's input gray by `preprocess.to_grayscale`, the very
conversion inference uses, so a sign whose letters differ from the background mostly in hue looks in training
exactly as it will look to the network at run time."""
from __future__ import annotations

import colorsys
import math
import random
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageFilter
from scipy import ndimage

from textrec.preprocess import HUE_CONTRAST_GAIN, LUMA_NORM, to_grayscale

TEXTURE_KINDS = ("cloud", "bricks", "wood", "fabric", "bokeh", "gradient", "flat")
SIGN_COLOURS = [  # (r, g, b) of common sign and shop-front paints
    (200, 16, 46), (0, 82, 147), (0, 122, 61), (255, 205, 0), (255, 255, 255), (20, 20, 20), (240, 120, 0),
    (92, 52, 145), (0, 150, 200), (130, 30, 40), (0, 60, 40), (250, 240, 220), (100, 160, 220), (60, 60, 70),
]


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cells: int) -> np.ndarray:
    """Band-limited noise in [-1, 1]: random values on a coarse grid, upsampled bicubically."""
    coarse = rng.random((max(2, h * cells // w), cells)).astype(np.float32)
    field = np.array(Image.fromarray(coarse, mode="F").resize((w, h), Image.Resampling.BICUBIC), np.float32)
    field -= field.mean()
    return field / (np.abs(field).max() + 1e-6)


def make_textures(seed: int = 4321, h: int = 128, w: int = 512, per_kind: int = 3) -> dict[str, list[np.ndarray]]:
    """A small bank of gray fields in [-1, 1] per texture kind, made once per renderer and cropped per sample;
    colours are applied per sample, so a few fields give endless surfaces."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    bank: dict[str, list[np.ndarray]] = {"cloud": [], "bricks": [], "wood": [], "fabric": [], "bokeh": []}
    for _ in range(per_kind):
        bank["cloud"].append(np.clip(sum(_smooth_noise(rng, h, w, c) / (i + 1) for i, c in enumerate((4, 12, 40))),
                                     -1, 1))
        brick_h, brick_w = rng.integers(14, 30), rng.integers(40, 90)
        row = (ys // brick_h).astype(int)
        shifted = xs + (row % 2) * brick_w / 2
        mortar = ((ys % brick_h) < 2) | ((shifted % brick_w) < 2)
        tone = rng.uniform(-0.4, 0.4, (int(h // brick_h) + 2, int(w // brick_w) + 3)).astype(np.float32)
        bricks = tone[row, (shifted // brick_w).astype(int)] + 0.25 * _smooth_noise(rng, h, w, 60)
        bank["bricks"].append(np.where(mortar, 1.0, bricks).astype(np.float32))
        warp = 8 * _smooth_noise(rng, h, w, 6)
        bank["wood"].append(np.sin((ys + warp) * rng.uniform(0.3, 0.8)).astype(np.float32) * 0.7
                            + 0.3 * _smooth_noise(rng, h, w, 100))
        period = rng.integers(3, 7)
        weave = np.sin(xs * 2 * math.pi / period) * np.sin(ys * 2 * math.pi / period)
        bank["fabric"].append((0.6 * weave + 0.4 * _smooth_noise(rng, h, w, 30)).astype(np.float32))
        bokeh = np.zeros((h, w), np.float32)
        for _ in range(40):
            cy, cx, r = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(6, 30)
            bokeh += rng.uniform(0.3, 1.0) * (((ys - cy) ** 2 + (xs - cx) ** 2) < r * r)
        bokeh = ndimage.gaussian_filter(bokeh, 2.5)
        bank["bokeh"].append((bokeh / (bokeh.max() + 1e-6) * 2 - 1).astype(np.float32))
    return bank


def _luma(colour: np.ndarray) -> float:
    return float(colour @ np.array([0.299, 0.587, 0.114], np.float32))


def gray_gap(a: np.ndarray, b: np.ndarray) -> float:
    """The gray-level difference that preprocess.colour_to_gray leaves between two flat colours."""
    luma_gap = abs(_luma(a) - _luma(b))
    axis_gap = float(np.linalg.norm(a - b)) * LUMA_NORM
    return luma_gap if luma_gap >= axis_gap / HUE_CONTRAST_GAIN else axis_gap


def pick_colours(rng: random.Random, hue_contrast: float) -> tuple[np.ndarray, np.ndarray]:
    """(background, text) RGB colours that a person reads easily, sometimes only by hue."""
    def random_colour() -> np.ndarray:
        if rng.random() < 0.4:
            base = np.array(rng.choice(SIGN_COLOURS), np.float32)
            return np.clip(base + np.array([rng.uniform(-25, 25) for _ in range(3)], np.float32), 0, 255)
        hue, light, sat = rng.random(), rng.uniform(0.05, 0.95), rng.uniform(0, 1) ** 0.7
        return np.array(colorsys.hls_to_rgb(hue, light, sat), np.float32) * 255

    background = random_colour()
    for _ in range(20):
        text = random_colour()
        if rng.random() < hue_contrast:  # plainly different colours, whatever their brightness
            if float(np.linalg.norm(text - background)) > 120 and gray_gap(text, background) > 45:
                return background, text
        elif abs(_luma(text) - _luma(background)) > 60:
            return background, text
    return background, np.where(_luma(background) > 128, 0.0, 255.0).astype(np.float32) * np.ones(3, np.float32)


def colour_surface(w: int, h: int, colour: np.ndarray, textures: dict[str, list[np.ndarray]],
                   rng: random.Random, crop, photos: Sequence[Image.Image] = (), photo: float = 0.0) -> np.ndarray:
    """An HxWx3 float surface: a texture kind painted between `colour` and a shade or tint of it, or (a share
    `photo` of surfaces, when photos are given) a photo crop."""
    if photos and rng.random() < photo:
        return photo_surface(w, h, colour, rng.choice(photos), rng)
    kind = rng.choice(TEXTURE_KINDS)
    other = np.clip(colour * rng.uniform(0.55, 1.35) + rng.uniform(-30, 30), 0, 255)
    if kind == "flat":
        field = np.zeros((h, w), np.float32)
    elif kind == "gradient":
        angle = rng.uniform(0, 2 * math.pi)
        ramp = (np.linspace(-1, 1, w, dtype=np.float32)[None, :] * math.cos(angle)
                + np.linspace(-1, 1, h, dtype=np.float32)[:, None] * math.sin(angle))
        field = ramp / (np.abs(ramp).max() + 1e-6)
    else:
        field = crop(rng.choice(textures[kind]), w, h, rng)
    amount = rng.uniform(0.2, 0.6)
    t = (field * amount * 0.5 + 0.5)[..., None]
    return colour[None, None, :] * (1 - t) + other[None, None, :] * t


def photo_surface(w: int, h: int, colour: np.ndarray, photo: Image.Image, rng: random.Random) -> np.ndarray:
    """A crop of a photo at a random scale with its mean moved to `colour`: real clutter, edges and texture
    under the text, while on average the text keeps the contrast `pick_colours` chose for it."""
    pw, ph = photo.size
    zoom = rng.uniform(0.5, 2.0)
    cw, ch = w / zoom, h / zoom
    fit = min(1.0, pw / cw, ph / ch)  # a crop larger than the photo: the largest of that shape
    cw, ch = max(1.0, cw * fit), max(1.0, ch * fit)
    x, y = rng.uniform(0, pw - cw), rng.uniform(0, ph - ch)
    tile = photo.resize((w, h), Image.Resampling.BILINEAR, box=(x, y, x + cw, y + ch))
    array = np.asarray(tile, np.float32)
    return colour[None, None, :] + (array - array.mean(axis=(0, 1))) * rng.uniform(0.2, 0.7)


def _shifted(mask: np.ndarray, dx: int, dy: int) -> np.ndarray:
    out = np.zeros_like(mask)
    h, w = mask.shape
    out[max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = mask[max(-dy, 0) : h - max(dy, 0),
                                                                         max(-dx, 0) : w - max(dx, 0)]
    return out


def compose_colour(mask: Image.Image, size: int, effects: dict, textures: dict[str, list[np.ndarray]],
                   rng: random.Random, crop, photos: Sequence[Image.Image] = ()) -> Image.Image:
    """Text mask (white on black) -> an RGB scene with decorated text -> the model's gray ('L')."""
    w, h = mask.size
    alpha = np.asarray(mask, np.float32)[..., None] / 255.0
    background, text_colour = pick_colours(rng, effects["color"]["hue_contrast"])
    canvas = colour_surface(w, h, background, textures, rng, crop, photos, effects["color"].get("photo", 0.0))
    step = max(1, size // 20)
    dark = text_colour * 0.35 if _luma(text_colour) > 100 else np.clip(text_colour * 0.5 + 140, 0, 255)
    if rng.random() < effects["glow"]["p"]:
        glow = np.asarray(mask.filter(ImageFilter.GaussianBlur(size / 6)), np.float32)[..., None] / 255.0
        glow_colour = np.clip(text_colour * 0.4 + 160, 0, 255)
        canvas = canvas * (1 - glow) + glow_colour * glow
    if rng.random() < effects["extrude"]["p"]:  # 3-D letters: copies stepping back along one direction
        dx, dy = rng.choice([(1, 1), (-1, 1), (1, -1)])
        depth = rng.randint(1, 3)
        raw = np.asarray(mask)
        for k in range(depth, 0, -1):
            layer = _shifted(raw, dx * k * step, dy * k * step).astype(np.float32)[..., None] / 255.0
            canvas = canvas * (1 - layer) + dark * layer
    elif rng.random() < effects["shadow"]["p"]:
        shift = rng.randint(1, 3) * step
        blurred = np.asarray(mask.filter(ImageFilter.GaussianBlur(rng.uniform(0, size / 10))), np.float32)
        shadow = _shifted(blurred, shift, shift)[..., None] / 255.0 * rng.uniform(0.4, 0.9)
        canvas = canvas * (1 - shadow)
    if rng.random() < effects["outline"]["p"]:
        grown = np.asarray(mask.filter(ImageFilter.MaxFilter(2 * rng.randint(1, 2) + 1)), np.float32)[..., None] / 255
        outline_colour = 255 - text_colour if rng.random() < 0.5 else dark
        canvas = canvas * (1 - grown) + outline_colour * grown
    if rng.random() < effects["emboss"]["p"]:
        raw = np.asarray(mask).astype(np.float32) / 255.0
        relief = (_shifted(raw, -step, -step) - _shifted(raw, step, step))[..., None]
        canvas = canvas + 70 * relief
        alpha = alpha * rng.uniform(0.0, 0.5)  # embossed letters are mostly the surface's own colour
    fill = text_colour[None, None, :]
    if rng.random() < 0.2:  # two-tone or shaded letters
        fill = fill * np.linspace(1.15, 0.75, h, dtype=np.float32)[:, None, None]
    canvas = canvas * (1 - alpha) + fill * alpha
    rgb = Image.fromarray(np.clip(canvas, 0, 255).astype(np.uint8), "RGB")
    return to_grayscale(rgb)


def arc(image: Image.Image, fraction: float, fill: int, concave: bool) -> Image.Image:
    """Set a text strip on a circular arc spanning `fraction` of a half circle: convex (the top of a round
    logo, letters pointing outwards) or concave (the bottom, letters pointing at the centre)."""
    array = np.asarray(image, np.float32)
    h, w = array.shape
    theta = max(fraction * math.pi, 1e-3)
    radius = max(w / theta, 1.2 * h)  # of the strip's middle; arc length there equals the text width
    theta = w / radius
    inner, outer = radius - h / 2, radius + h / 2
    half = theta / 2
    x_extent = outer * math.sin(min(half, math.pi / 2))
    if concave:
        top, bottom = inner * math.cos(half), outer
    else:
        top, bottom = -outer, -inner * math.cos(half)
    out_w, out_h = int(math.ceil(2 * x_extent)) + 2, int(math.ceil(bottom - top)) + 2
    vs, us = np.mgrid[0:out_h, 0:out_w].astype(np.float32)
    us = us - out_w / 2
    vs = vs + top
    r = np.hypot(us, vs)
    if concave:
        phi = np.arctan2(us, vs)
        src_y = r - inner
    else:
        phi = np.arctan2(us, -vs)
        src_y = outer - r
    src_x = (phi + half) * radius
    warped = ndimage.map_coordinates(array, [src_y, src_x], order=1, cval=float(fill), mode="constant")
    return Image.fromarray(np.clip(warped, 0, 255).astype(np.uint8))


def stack_vertically(mask: Image.Image, glyphs, text: str) -> Image.Image:
    """Letters stacked top to bottom (a vertical shop sign), turned a quarter counter-clockwise, which is how
    the reader turns a tall crop: the top letter comes first."""
    cells = []
    for char in text:
        bitmap, _, _, _ = glyphs.glyph(char)
        if bitmap.size:
            cells.append(bitmap)
    if not cells:
        return mask
    width = max(c.shape[1] for c in cells) + 4
    gap = max(2, glyphs.font.size // 6)
    height = sum(c.shape[0] for c in cells) + gap * (len(cells) + 1)
    canvas = np.zeros((height, width), np.uint8)
    y = gap
    for cell in cells:
        x = (width - cell.shape[1]) // 2
        canvas[y : y + cell.shape[0], x : x + cell.shape[1]] = cell
        y += cell.shape[0] + gap
    return Image.fromarray(canvas).rotate(90, expand=True)
