"""Render one labeled text image: a font that covers the text, a background, effects, height-normalized.

Grayscale (our networks read grayscale), except scene samples (synth/scene.py), which are composed in colour
and turned to gray by the conversion inference uses; gray keeps rendering fast enough to feed training live
(see benchmarks/SYNTH.md).
Sample `index` of a `seed` is always the same image, so datasets are reproducible and shard cleanly."""
from __future__ import annotations

import copy
import hashlib
import io
import math
import random
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, cast

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from textrec.errors import TextrecError, reject_unknown
from textrec.synth.fontinfo import FontInfo, bundled_fonts, user_fonts
from textrec.synth.handwriting import elastic, handwritten_mask, on_paper, pen_weight
from textrec.synth.scene import arc, compose_colour, make_textures, stack_vertically
from textrec.synth.text import TextConfig, TextSampler

BUNDLED_BACKGROUNDS = Path(__file__).parent / "backgrounds"  # manifest.json there: source and license of each

# Every effect: probability `p` plus its range(s). One place to tune, overridable from YAML.
DEFAULT_EFFECTS: dict[str, dict[str, Any]] = {
    "font_size": {"sizes": [18, 22, 25, 28]},  # pixel sizes rendered (cached per font); output is rescaled anyway
    "spacing": {"p": 0.1, "range": [-0.05, 0.25]},  # extra space between characters (texts up to 24 chars)
    "stroke": {"p": 0.1, "range": [1, 2]},  # faux-bold stroke width, px
    "light_on_dark": {"p": 0.2},
    "contrast": {"range": [0.3, 1.0]},  # |text - background| gray difference as a fraction of 255
    "background": {"flat": 0.35, "gradient": 0.2, "noise": 0.15, "paper": 0.2, "image": 0.1},
    "padding": {"range": [0.02, 0.35], "tight": 0.15},  # margins (of the text height); tight = cut into text edges
    "rotate": {"p": 0.3, "range": [-4.0, 4.0]},
    "shear": {"p": 0.2, "range": [-0.35, 0.35]},
    "perspective": {"p": 0.1, "range": [0.0, 0.08]},
    "curve": {"p": 0.08, "range": [0.05, 0.2]},  # baseline amplitude, fraction of height
    "gaussian_blur": {"p": 0.2, "range": [0.3, 1.2]},
    "motion_blur": {"p": 0.07},
    "noise": {"p": 0.3, "range": [0.01, 0.08]},
    "jpeg": {"p": 0.2, "range": [15, 70]},
    "resample": {"p": 0.2, "range": [0.35, 0.8]},  # down- then up-sampling factor
    "lighting": {"p": 0.2, "range": [0.1, 0.5]},
    "shadow": {"p": 0.06},
    "outline": {"p": 0.04},
    "underline": {"p": 0.04},
    "strike": {"p": 0.02},
    "clutter": {"p": 0.12},  # parts of neighbouring text at the edges
    # Scene text (synth/scene.py), off in the document mix; configs/synth/en-scene.yaml turns them on.
    # colour text on colour textures; hue_contrast: share told by hue; photo: share of surfaces cut from the
    # `backgrounds` photos (none without them)
    "color": {"p": 0.0, "hue_contrast": 0.35, "photo": 0.3},
    "arc": {"p": 0.0, "range": [0.15, 1.0], "max_chars": 16},  # span, as a fraction of a half circle
    "extrude": {"p": 0.0},  # 3-D letters (colour samples only, as are glow and emboss)
    "glow": {"p": 0.0},
    "emboss": {"p": 0.0},
    "vertical": {"p": 0.0, "max_chars": 8},  # letters stacked top to bottom, turned as the reader turns them
    # Handwriting (synth/handwriting.py), off unless a config turns it on (configs/synth/en-handwriting.yaml):
    # every glyph varied, elastic strokes (amplitude px, smoothness px), pen or pencil on plain/ruled/squared paper
    "handwriting": {"p": 0.0, "jitter": 1.0, "elastic": [1.0, 3.0], "smoothness": [3.0, 6.0], "broad": 0.3,
                    "ruled": 0.35, "squared": 0.15, "pencil": 0.3},
}


@dataclass
class SynthConfig:
    height: int = 32  # output height; width follows the text
    charset: str = "printable"  # preset name or the characters; every label uses only these
    text: dict[str, Any] = field(default_factory=dict)  # TextConfig settings
    effects: dict[str, dict[str, Any]] = field(default_factory=lambda: copy.deepcopy(DEFAULT_EFFECTS))
    fonts: str | None = None  # a folder of the user's fonts instead of the bundled set
    font_categories: list[str] | None = None  # only bundled faces of these categories (e.g. [handwriting])
    # [low, high): only the faces whose family name hashes into this part of [0, 1). A fixed split of faces, so
    # a validation set can be written by hands (faces) that training never saw: [0, 0.8) trains, [0.8, 1) checks
    font_split: list[float] | None = None
    # a folder of images to crop backgrounds from, or "bundled" (openly licensed photos, synth/backgrounds):
    # the gray mix's "image" background, and in colour a share (effects.color.photo) of the scene surfaces
    backgrounds: str | None = None

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> "SynthConfig":
        values = dict(values or {})
        reject_unknown(values, cls.__dataclass_fields__, "synth")
        effects = copy.deepcopy(DEFAULT_EFFECTS)
        for name, settings in (values.pop("effects", None) or {}).items():
            if name not in effects:
                raise TextrecError(f"unknown synth effect {name!r}; known: {', '.join(effects)}")
            effects[name].update(settings)
        return cls(effects=effects, **values)

    @classmethod
    def from_file(cls, path: str | Path | None, overrides: dict[str, Any] | None = None) -> "SynthConfig":
        """The file's settings (the defaults without one), then `overrides` merged in key by key: a training
        config's data source can change one effect of a shared synth file (an ablation, a variant)."""
        values: dict[str, Any] = {}
        if path is not None:
            import yaml

            path = Path(path)
            if not path.is_file():
                raise TextrecError(f"synth config not found: {path}")
            values = yaml.safe_load(path.read_text()) or {}
        if overrides is not None and not isinstance(overrides, dict):
            raise TextrecError(f"synth overrides must be a mapping, got {overrides!r:.60}")
        return cls.from_dict(_merged(values, overrides or {}))


@lru_cache(maxsize=512)
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    try:
        return ImageFont.truetype(path, size)
    except OSError as exc:
        raise TextrecError(f"cannot load font {path}: {exc}") from None


def _max_into(canvas: np.ndarray, bitmap: np.ndarray, x: int, y: int) -> None:
    """canvas = max(canvas, bitmap placed at x, y), clipped to the canvas (tight crops cut glyphs)."""
    h, w = bitmap.shape
    top, left = max(y, 0), max(x, 0)
    bottom, right = min(y + h, canvas.shape[0]), min(x + w, canvas.shape[1])
    if bottom > top and right > left:
        region = canvas[top:bottom, left:right]
        np.maximum(region, bitmap[top - y : bottom - y, left - x : right - x], out=region)


class GlyphCache:
    """Each glyph of a (font, size, stroke) rasterized once. Texts are composed from cached glyphs, so a long
    line costs a few array maxima per character instead of a full FreeType layout and render (~10x faster);
    kerning pairs are dropped, which a recognizer does not need."""

    def __init__(self, font: ImageFont.FreeTypeFont, stroke: int):
        self.font, self.stroke = font, stroke
        self.ascent, self.descent = font.getmetrics()
        self.glyphs: dict[str, tuple[np.ndarray, int, int, float]] = {}

    def glyph(self, char: str) -> tuple[np.ndarray, int, int, float]:
        """(bitmap, x offset, y offset from the line top, advance)."""
        if char not in self.glyphs:
            size = int(self.font.size)  # fonts here are opened at whole-pixel sizes
            pad = size // 2 + self.stroke
            canvas = Image.new("L", (2 * size + 2 * pad, self.ascent + self.descent + 2 * pad), 0)
            ImageDraw.Draw(canvas).text((pad, pad), char, font=self.font, fill=255, stroke_width=self.stroke,
                                        stroke_fill=255)
            box = canvas.getbbox()
            advance = self.font.getlength(char)
            if box is None:  # a space
                self.glyphs[char] = (np.zeros((0, 0), np.uint8), 0, 0, advance)
            else:
                bitmap = np.asarray(canvas.crop(box))
                self.glyphs[char] = (bitmap, box[0] - pad, box[1] - pad, advance)
        return self.glyphs[char]

    def layout(self, text: str, spacing: float) -> tuple[list[tuple[np.ndarray, int, int]], int, int]:
        """Glyph placements, the text's left overhang and its width."""
        placed, x, left, right = [], 0.0, 0, 0
        for char in text:
            bitmap, dx, dy, advance = self.glyph(char)
            if bitmap.size:
                gx = round(x) + dx
                placed.append((bitmap, gx, dy))
                left, right = min(left, gx), max(right, gx + bitmap.shape[1])
            x += advance + spacing
        return placed, -left, max(right, round(x)) - left


def _path_of(font: ImageFont.FreeTypeFont) -> str:
    """The file a font was opened from: every font here comes from _font, by a str path."""
    return cast(str, font.path)


@lru_cache(maxsize=1024)
def _glyph_cache(path: str, size: int, stroke: int) -> GlyphCache:
    return GlyphCache(_font(path, size), stroke)


def _paper_textures(count: int = 6, size: int = 192) -> list[np.ndarray]:
    """Fibrous, blotchy gray textures made once from filtered noise (no image files to ship)."""
    rng = np.random.default_rng(1234)
    textures = []
    for _ in range(count):
        coarse = Image.fromarray((rng.random((12, 12)) * 255).astype(np.uint8)).resize((size, size),
                                                                                       Image.Resampling.BICUBIC)
        fibres = Image.fromarray((rng.random((size, size // 4)) * 255).astype(np.uint8)).resize((size, size))
        mix = 0.6 * np.asarray(coarse, np.float32) + 0.4 * np.asarray(fibres, np.float32)
        textures.append((mix - mix.mean()) / (mix.std() + 1e-6))
    return textures


def _merged(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        out[key] = _merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def faces_in_split(fonts: list[FontInfo], split: list[float]) -> list[FontInfo]:
    """The faces whose family hashes into [low, high): the same faces on every machine and in every run."""
    low, high = (float(v) for v in split)
    if not 0 <= low < high <= 1:
        raise TextrecError(f"synth font_split must be [low, high) within [0, 1], got {split!r}")
    chosen = [f for f in fonts if low <= face_fraction(f.family) < high]
    if not chosen:
        raise TextrecError(f"synth font_split {split!r} leaves no face (of {len(fonts)})")
    return chosen


def face_fraction(family: str) -> float:
    return int(hashlib.md5(family.strip().encode()).hexdigest()[:8], 16) / 0x1_0000_0000


class Renderer:
    def __init__(self, config: SynthConfig | None = None, custom_text=None):
        from textrec.charset import Charset

        self.config = config or SynthConfig()
        self.alphabet = Charset.from_spec(self.config.charset).chars
        fonts = user_fonts(self.config.fonts, self.alphabet) if self.config.fonts else bundled_fonts()
        categories = self.config.font_categories
        if categories:
            fonts = [f for f in fonts if f.category in categories]
            if not fonts:
                raise TextrecError(f"no font of the categories {categories} (known: display, handwriting, mono, "
                                   "sans, serif, condensed, typewriter)")
        if self.config.font_split is not None:
            fonts = faces_in_split(fonts, self.config.font_split)
        self.fonts = [f for f in fonts if f.coverage.strip()]
        self.coverage = [frozenset(f.coverage) for f in self.fonts]
        drawable = set().union(*self.coverage) if self.coverage else set()
        missing = [c for c in self.alphabet if c not in drawable]
        if missing and not categories:
            raise TextrecError(f"no font draws these charset characters: {''.join(missing)!r}")
        # a few faces chosen by category may lack some symbols: texts then use only what they draw
        text_alphabet = "".join(c for c in self.alphabet if c in drawable)
        self.text = TextSampler(TextConfig.from_dict(self.config.text), text_alphabet, custom_text)
        self.effects = self.config.effects
        self.papers = _paper_textures()
        # One field of unit Gaussian noise, cropped per image: drawing fresh noise per pixel costs more than
        # the text rendering itself, and random crops of a large field look the same to a network.
        self.noise_field = np.random.default_rng(99).normal(0, 1, (256, 4096)).astype(np.float32)
        self.background_images, self.background_photos = self._load_backgrounds(self.config.backgrounds)
        self.textures = make_textures() if self.effects["color"]["p"] > 0 else {}

    @staticmethod
    def _load_backgrounds(folder: str | None) -> tuple[list[np.ndarray], list[Image.Image]]:
        """(gray float arrays, RGB images) of up to 200 images of `folder` ("bundled": the openly licensed
        photos in synth/backgrounds), each shrunk to at most 512 pixels a side, which bounds a render worker's
        memory; an unreadable image is skipped and counted."""
        if not folder:
            return [], []
        from textrec.data.sources import IMAGE_SUFFIXES
        from textrec.preprocess import open_image, to_grayscale

        root = BUNDLED_BACKGROUNDS if folder == "bundled" else Path(folder)
        if not root.is_dir():
            raise TextrecError(f"no background images in {root}: the folder does not exist")
        files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)[:200]
        if not files:
            raise TextrecError(f"no background images in {root}")
        grays: list[np.ndarray] = []
        colours: list[Image.Image] = []
        skipped = 0
        for path in files:
            try:
                rgb = open_image(path).convert("RGB")
            except (TextrecError, ValueError, OSError):  # open_image's checks, or a mode that cannot be RGB
                skipped += 1
                continue
            rgb.thumbnail((512, 512))
            colours.append(rgb)
            grays.append(np.asarray(to_grayscale(rgb), np.float32))
        if skipped:
            print(f"backgrounds: skipped {skipped} unreadable or oversized image(s) in {root}", flush=True)
        if not grays:
            raise TextrecError(f"no usable background images in {root}: all {skipped} are unreadable or too large")
        return grays, colours

    def pick_font(self, text: str, rng: random.Random) -> FontInfo:
        """A random font that draws every character of `text` (checked against its glyph coverage)."""
        chars = set(text)
        for _ in range(8):
            i = rng.randrange(len(self.fonts))
            if chars <= self.coverage[i]:
                return self.fonts[i]
        able = [f for f, cov in zip(self.fonts, self.coverage) if chars <= cov]
        if not able:
            raise TextrecError(f"no font draws all of {text!r}")
        return rng.choice(able)

    def sample(self, seed: int, index: int) -> tuple[Image.Image, str]:
        """The index-th sample of a seed: the same every time, on any machine with the same fonts."""
        rng = random.Random((seed * 1_000_003 + index) & 0xFFFFFFFFFFFF)
        text = self.text(rng)
        return self.render(text, rng), text

    def render(self, text: str, rng: random.Random) -> Image.Image:
        e = self.effects
        font_info = self.pick_font(text, rng)
        size = rng.choice(e["font_size"]["sizes"])
        font = _font(font_info.path, size)
        stroke = rng.randint(*e["stroke"]["range"]) if rng.random() < e["stroke"]["p"] else 0
        spacing = (rng.uniform(*e["spacing"]["range"]) * size if len(text) <= 24 and rng.random() < e["spacing"]["p"]
                   else 0.0)
        hand = e["handwriting"]
        if rng.random() < hand["p"]:
            strokes = handwritten_mask(_glyph_cache(_path_of(font), size, 0), text, size, rng, hand)
            strokes = elastic(pen_weight(strokes, size, rng, hand["broad"]), rng, rng.uniform(*hand["elastic"]),
                              rng.uniform(*hand["smoothness"]))
            pil = on_paper(strokes, size, rng, hand, lambda w, h, r: self._crop_tile(r.choice(self.papers), w, h, r))
        else:
            pil = self._compose_print(text, font, size, stroke, spacing, rng)
        pil = self._geometry(pil, rng, len(text))
        pil = self._photometric(pil, rng)
        if rng.random() < e["jpeg"]["p"]:
            buffer = io.BytesIO()
            pil.save(buffer, format="JPEG", quality=rng.randint(*e["jpeg"]["range"]))
            pil = Image.open(io.BytesIO(buffer.getvalue())).convert("L")
        height = self.config.height
        width = max(1, round(pil.width * height / pil.height))
        return pil.resize((width, height), Image.Resampling.BILINEAR)

    def _compose_print(self, text: str, font: ImageFont.FreeTypeFont, size: int, stroke: int, spacing: float,
                       rng: random.Random) -> Image.Image:
        """Printed text: a mask (maybe stacked vertically), then colour (scene) or gray composition."""
        e = self.effects
        mask = self._text_mask(text, font, size, stroke, spacing, rng)
        vertical = e["vertical"]
        if " " not in text and len(text) <= vertical["max_chars"] and rng.random() < vertical["p"]:
            mask = stack_vertically(mask, _glyph_cache(_path_of(font), size, stroke), text)
        if rng.random() < e["color"]["p"]:
            return compose_colour(mask, size, e, self.textures, rng, self._crop_tile, self.background_photos)
        return self._compose_gray(mask, size, rng)

    def _compose_gray(self, mask: Image.Image, size: int, rng: random.Random) -> Image.Image:
        e = self.effects
        w, h = mask.size
        background, fg = self._background(w, h, rng)
        if rng.random() < e["shadow"]["p"]:
            shift = max(1, size // 12)
            shadow = Image.new("L", (w, h), 0)
            shadow.paste(mask, (shift, shift))
            gray = background.getpixel((0, 0))
            assert isinstance(gray, (int, float))  # an "L" image's pixel is one number
            background = Image.composite(Image.new("L", (w, h), int(gray * 0.5 + fg * 0.5)),
                                         background, shadow)
        if rng.random() < e["outline"]["p"]:
            grown = mask.filter(ImageFilter.MaxFilter(3))
            background = Image.composite(Image.new("L", (w, h), int(255 - fg)), background, grown)
        return Image.composite(Image.new("L", (w, h), int(fg)), background, mask)

    def _text_mask(self, text: str, font: ImageFont.FreeTypeFont, size: int, stroke: int, spacing: float,
                   rng: random.Random) -> Image.Image:
        """White-on-black text with margins (and maybe lines, clutter)."""
        e = self.effects
        ascent, descent = font.getmetrics()
        glyphs = _glyph_cache(_path_of(font), size, stroke)
        placed, overhang, text_w = glyphs.layout(text, spacing)
        text_h = ascent + descent + 2 * stroke
        lo, hi = e["padding"]["range"]
        if rng.random() < e["padding"]["tight"]:
            lo, hi = -0.06, 0.04
        pads = [round(rng.uniform(lo, hi) * text_h) for _ in range(4)]
        width = max(4, text_w + pads[0] + pads[2])
        height = max(4, text_h + pads[1] + pads[3])
        canvas = np.zeros((height, width), np.uint8)
        x0, y0 = pads[0] + overhang, pads[1] + stroke
        for bitmap, gx, gy in placed:
            _max_into(canvas, bitmap, x0 + gx, y0 + gy)
        mask = Image.fromarray(canvas)
        draw = ImageDraw.Draw(mask)
        box = (pads[0], pads[1], pads[0] + text_w, pads[1] + text_h)
        line_width = max(1, size // 14)
        if rng.random() < e["underline"]["p"]:
            base = pads[1] + ascent + max(2, descent // 2)
            draw.line((box[0], base, box[2], base), fill=255, width=line_width)
        if rng.random() < e["strike"]["p"]:
            middle = pads[1] + ascent * 0.65
            draw.line((box[0], middle, box[2], middle), fill=255, width=line_width)
        if rng.random() < e["clutter"]["p"]:
            self._clutter(draw, font, box, width, text_h, rng)
        return mask

    def _clutter(self, draw: ImageDraw.ImageDraw, font, box, width: int, text_h: int, rng: random.Random) -> None:
        """A neighbouring word cut by the image edge: above/below (a sliver of the next line) or at a side."""
        other = self.text.word(rng, punctuate=False)
        side = rng.choice(["top", "bottom", "left", "right"])
        if side == "top":
            draw.text((rng.randint(-20, max(width // 2, 1)), box[1] - text_h + rng.randint(-4, 2)), other, font=font,
                      fill=255)
        elif side == "bottom":
            draw.text((rng.randint(-20, max(width // 2, 1)), box[3] + rng.randint(0, 4) - 2), other, font=font,
                      fill=255)
        elif side == "left" and box[0] > 3:
            other_w = font.getlength(other)
            draw.text((box[0] - other_w - font.size * 0.4, box[1]), other, font=font, fill=255)
        elif side == "right" and width - box[2] > 3:
            draw.text((box[2] + font.size * 0.4, box[1]), other, font=font, fill=255)

    def _background(self, w: int, h: int, rng: random.Random) -> tuple[Image.Image, float]:
        """A background image and the text gray level, at a random contrast (sometimes light on dark)."""
        e = self.effects
        contrast = rng.uniform(*e["contrast"]["range"]) * 255
        dark_text = rng.random() >= e["light_on_dark"]["p"]
        base = rng.uniform(contrast, 255) if dark_text else rng.uniform(0, 255 - contrast)
        fg = base - contrast if dark_text else base + contrast
        kinds = {k: v for k, v in e["background"].items() if k != "image" or self.background_images}
        kind = rng.choices(list(kinds), list(kinds.values()))[0]
        spread = min(base, 255 - base, contrast * 0.5)  # texture never erases the contrast
        if kind == "flat":
            return Image.new("L", (w, h), int(base)), fg
        if kind == "gradient":
            horizontal = rng.random() < 0.7
            ramp = np.linspace(-1, 1, w if horizontal else h, dtype=np.float32)
            ramp = ramp[None, :] if horizontal else ramp[:, None]
            array = np.broadcast_to(base + spread * rng.uniform(-1, 1) * ramp, (h, w))
        elif kind == "noise":
            array = base + spread * 0.4 * self._noise(w, h, rng)
        elif kind == "paper":
            array = base + spread * 0.6 * self._crop_tile(rng.choice(self.papers), w, h, rng)
        else:  # a photo crop: its own grays, pushed away from the text level so the text stays readable
            tile = self._crop_tile(rng.choice(self.background_images), w, h, rng)
            array = np.clip(tile, fg + contrast * 0.6, 255) if dark_text else np.clip(tile, 0, fg - contrast * 0.6)
        return Image.fromarray(np.clip(array, 0, 255).astype(np.uint8)), fg

    def _noise(self, w: int, h: int, rng: random.Random) -> np.ndarray:
        return self._crop_tile(self.noise_field, w, h, rng)

    @staticmethod
    def _crop_tile(source: np.ndarray, w: int, h: int, rng: random.Random) -> np.ndarray:
        sh, sw = source.shape
        if sh < h or sw < w:
            scale = max(h / sh, w / sw) * 1.05
            source = np.asarray(
                Image.fromarray(source, mode="F").resize((math.ceil(sw * scale), math.ceil(sh * scale))), np.float32)
            sh, sw = source.shape
        top, left = rng.randint(0, sh - h), rng.randint(0, sw - w)
        return source[top : top + h, left : left + w]

    def _geometry(self, image: Image.Image, rng: random.Random, length: int = 0) -> Image.Image:
        e = self.effects
        fill = int(np.median(np.asarray(image)[[0, -1]]))
        if rng.random() < e["shear"]["p"]:
            shear = rng.uniform(*e["shear"]["range"])
            extra = abs(shear) * image.height
            w = image.width + int(extra)
            offset = -extra if shear > 0 else 0
            image = image.transform((w, image.height), Image.Transform.AFFINE, (1, shear, offset, 0, 1, 0),
                                    Image.Resampling.BILINEAR, fillcolor=fill)
        if rng.random() < e["rotate"]["p"]:
            image = image.rotate(rng.uniform(*e["rotate"]["range"]), Image.Resampling.BILINEAR, expand=True,
                                 fillcolor=fill)
        if rng.random() < e["perspective"]["p"]:
            image = self._perspective(image, rng.uniform(*e["perspective"]["range"]), fill, rng)
        if rng.random() < e["curve"]["p"]:
            image = self._curve(image, rng.uniform(*e["curve"]["range"]), fill, rng)
        if length <= e["arc"]["max_chars"] and rng.random() < e["arc"]["p"]:
            image = arc(image, rng.uniform(*e["arc"]["range"]), fill, concave=rng.random() < 0.4)
        return image

    @staticmethod
    def _perspective(image: Image.Image, amount: float, fill: int, rng: random.Random) -> Image.Image:
        """Move each corner inwards by up to `amount` of the size: a page seen slightly from the side."""
        w, h = image.size
        jitter = lambda: rng.uniform(0, amount)  # noqa: E731
        quad = (jitter() * w, jitter() * h, jitter() * w, h - jitter() * h,
                w - jitter() * w, h - jitter() * h, w - jitter() * w, jitter() * h)
        return image.transform((w, h), Image.Transform.QUAD, quad, Image.Resampling.BILINEAR, fillcolor=fill)

    @staticmethod
    def _curve(image: Image.Image, amplitude: float, fill: int, rng: random.Random) -> Image.Image:
        """Bend the baseline along a sine arc by shifting each column vertically."""
        array = np.asarray(image)
        h, w = array.shape
        pad = int(math.ceil(amplitude * h)) + 1
        padded = np.full((h + 2 * pad, w), fill, np.uint8)
        padded[pad : pad + h] = array
        phase, period = rng.uniform(0, math.pi), rng.uniform(1.0, 2.5) * w
        shifts = np.round(amplitude * h * np.sin(2 * math.pi * np.arange(w) / period + phase)).astype(int)
        rows = (np.arange(h + 2 * pad)[:, None] - shifts[None, :]).clip(0, h + 2 * pad - 1)
        return Image.fromarray(np.take_along_axis(padded, rows, axis=0))

    def _photometric(self, image: Image.Image, rng: random.Random) -> Image.Image:
        """Lighting, blurs, resampling and noise, each at its own probability; numpy only when one fires."""
        e = self.effects
        lighting = rng.random() < e["lighting"]["p"]
        noise = rng.random() < e["noise"]["p"]
        if lighting:
            array = np.asarray(image, np.float32)
            h, w = array.shape
            strength, angle = rng.uniform(*e["lighting"]["range"]), rng.uniform(0, 2 * math.pi)
            ramp_x = np.linspace(0, math.cos(angle), w, dtype=np.float32)[None, :]
            ramp_y = np.linspace(0, math.sin(angle), h, dtype=np.float32)[:, None]
            field_ = ramp_x + ramp_y
            field_ = (field_ - field_.min()) / (np.ptp(field_) + 1e-6)
            image = Image.fromarray(np.clip(array * (1 - strength * field_), 0, 255).astype(np.uint8))
        image = self._blurs(image, rng)
        if noise:
            array = np.asarray(image, np.float32)
            sigma = rng.uniform(*e["noise"]["range"]) * 255
            noisy = array + sigma * self._noise(array.shape[1], array.shape[0], rng)
            image = Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))
        return image

    def _blurs(self, image: Image.Image, rng: random.Random) -> Image.Image:
        e = self.effects
        scale = image.height / 40  # blur radii are given for ~40 px text lines
        if rng.random() < e["gaussian_blur"]["p"]:
            image = image.filter(ImageFilter.GaussianBlur(rng.uniform(*e["gaussian_blur"]["range"]) * scale))
        if rng.random() < e["motion_blur"]["p"]:
            kernel = [0.0] * 25
            horizontal = rng.random() < 0.6
            for i in range(5):
                kernel[(2 * 5 + i) if horizontal else (i * 5 + i)] = 0.2
            image = image.filter(ImageFilter.Kernel((5, 5), kernel, scale=1))
        if rng.random() < e["resample"]["p"]:
            factor = rng.uniform(*e["resample"]["range"])
            small = image.resize((max(1, round(image.width * factor)), max(1, round(image.height * factor))),
                                 Image.Resampling.BILINEAR)
            image = small.resize(image.size, rng.choice([Image.Resampling.NEAREST, Image.Resampling.BILINEAR]))
        return image
