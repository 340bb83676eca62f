"""Training-time augmentation on grayscale PIL images, before the shared resize. Each effect has a probability
and a range in one config, so a dataset can be given more or less of it. Written on PIL/numpy because there
is no CPU torchvision here, and these few effects are all text recognition needs."""
from __future__ import annotations

import io
import math
import random
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageFilter

from textrec.errors import reject_unknown


@dataclass
class AugmentConfig:
    p_affine: float = 0.5
    rotate: float = 3.0  # degrees, +-
    shear: float = 0.3  # x-shear factor, +-
    p_crop: float = 0.5
    crop: float = 0.08  # fraction of height/width cut or padded on each side, +-
    p_stretch: float = 0.5
    stretch: float = 0.2  # width scaled by 1 +- this
    p_blur: float = 0.2
    blur: float = 1.0  # max Gaussian radius in pixels at the source size
    p_contrast: float = 0.4
    contrast: float = 0.4  # contrast/brightness jitter
    p_noise: float = 0.3
    noise: float = 0.08  # std of Gaussian noise, in [0, 1] intensity units
    p_invert: float = 0.0
    # a word photographed at an angle, small, then compressed (real crops never show it otherwise); off by
    # default, and drawn only when on, so configs without them augment exactly as before
    p_perspective: float = 0.0
    perspective: float = 0.15  # each corner moved inwards by up to this share of the width and height
    p_low_res: float = 0.0
    low_res: float = 0.4  # shrunk to between this share of its size and all of it (never under 8 px high), then back
    p_jpeg: float = 0.0
    jpeg: int = 30  # lowest JPEG quality (up to 90)

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> "AugmentConfig":
        values = dict(values or {})
        reject_unknown(values, cls.__dataclass_fields__, "augment")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Augmenter:
    def __init__(self, config: AugmentConfig, rng: random.Random | None = None):
        self.config = config
        self.rng = rng or random.Random()

    def __call__(self, image: Image.Image) -> Image.Image:
        c, rng = self.config, self.rng
        if rng.random() < c.p_crop:
            image = self._crop(image)
        if rng.random() < c.p_affine:
            image = self._affine(image)
        if c.p_perspective and rng.random() < c.p_perspective:
            image = self._perspective(image)
        if c.p_low_res and rng.random() < c.p_low_res:
            image = self._low_res(image)
        if c.p_jpeg and rng.random() < c.p_jpeg:
            buffer = io.BytesIO()
            image.save(buffer, format="JPEG", quality=rng.randint(min(c.jpeg, 90), 90))
            image = Image.open(io.BytesIO(buffer.getvalue())).convert("L")
        if rng.random() < c.p_stretch:
            factor = 1 + rng.uniform(-c.stretch, c.stretch)
            image = image.resize((max(1, round(image.width * factor)), image.height), Image.Resampling.BILINEAR)
        if rng.random() < c.p_blur:
            image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.2, c.blur) * image.height / 32))
        array = None
        if rng.random() < c.p_contrast:
            array = np.asarray(image, dtype=np.float32) / 255.0
            mean = array.mean()
            array = ((array - mean) * (1 + rng.uniform(-c.contrast, c.contrast)) + mean
                     + rng.uniform(-c.contrast, c.contrast) / 2)
        if rng.random() < c.p_noise:
            array = np.asarray(image, dtype=np.float32) / 255.0 if array is None else array
            noise = np.random.default_rng(rng.getrandbits(32)).normal(0, rng.uniform(0, c.noise), array.shape)
            array = array + noise.astype(np.float32)
        if array is not None:
            image = Image.fromarray((np.clip(array, 0, 1) * 255).astype(np.uint8))
        if rng.random() < c.p_invert:
            image = Image.eval(image, lambda v: 255 - v)
        return image

    def _crop(self, image: Image.Image) -> Image.Image:
        """Move each border in or out a little: text is rarely cropped the same way twice."""
        w, h, f, rng = image.width, image.height, self.config.crop, self.rng
        box = (round(rng.uniform(-f, f) * h), round(rng.uniform(-f, f) * h),
               w - round(rng.uniform(-f, f) * h), h - round(rng.uniform(-f, f) * h))
        if box[2] - box[0] < 2 or box[3] - box[1] < 2:
            return image
        fill = int(np.median(np.asarray(image)[[0, -1]]))
        cropped = Image.new("L", (box[2] - box[0], box[3] - box[1]), fill)
        cropped.paste(image.crop((max(box[0], 0), max(box[1], 0), min(box[2], w), min(box[3], h))),
                      (max(-box[0], 0), max(-box[1], 0)))
        return cropped

    def _perspective(self, image: Image.Image) -> Image.Image:
        """The whole word seen from the side: its corners moved inwards by random amounts, cut out by the box
        around them as a detector would (no letter is cut off, unlike zooming into an inner quadrilateral)."""
        w, h, f, rng = image.width, image.height, self.config.perspective, self.rng
        dx, dy = (lambda: rng.uniform(0, f) * w), (lambda: rng.uniform(0, f) * h)  # noqa: E731
        corners = [(dx(), dy()), (dx(), h - dy()), (w - dx(), h - dy()), (w - dx(), dy())]
        left, top = min(x for x, _ in corners), min(y for _, y in corners)
        size = (max(2, round(max(x for x, _ in corners) - left)), max(2, round(max(y for _, y in corners) - top)))
        landed = [(x - left, y - top) for x, y in corners]
        fill = int(np.median(np.asarray(image)[[0, -1]]))
        coefficients = perspective_coefficients(landed, [(0, 0), (0, h), (w, h), (w, 0)])
        return image.transform(size, Image.Transform.PERSPECTIVE, coefficients, Image.Resampling.BILINEAR,
                               fillcolor=fill)

    def _low_res(self, image: Image.Image) -> Image.Image:
        """Detail lost as in a small word far from the camera: down, then back up to the same size."""
        w, h = image.size
        factor = max(self.rng.uniform(self.config.low_res, 1.0), min(1.0, 8 / h))
        small = image.resize((max(1, round(w * factor)), max(1, round(h * factor))), Image.Resampling.BILINEAR)
        return small.resize((w, h), Image.Resampling.BILINEAR)

    def _affine(self, image: Image.Image) -> Image.Image:
        c, rng = self.config, self.rng
        angle = math.radians(rng.uniform(-c.rotate, c.rotate))
        shear = rng.uniform(-c.shear, c.shear)
        w, h = image.size
        cos, sin = math.cos(angle), math.sin(angle)
        # Inverse map (output -> input) about the centre: rotation then x-shear.
        a, b = cos, sin + shear * cos
        d, e = -sin, cos - shear * sin
        cx, cy = w / 2, h / 2
        data = (a, b, cx - a * cx - b * cy, d, e, cy - d * cx - e * cy)
        fill = int(np.median(np.asarray(image)[[0, -1]]))
        return image.transform(image.size, Image.Transform.AFFINE, data, Image.Resampling.BILINEAR, fillcolor=fill)


def perspective_coefficients(output: list[tuple[float, float]], source: list[tuple[float, float]]) -> tuple[float, ...]:
    """PIL's PERSPECTIVE coefficients that take each of four `output` points to its `source` point."""
    rows, values = [], []
    for (x, y), (u, v) in zip(output, source):
        rows += [[x, y, 1, 0, 0, 0, -u * x, -u * y], [0, 0, 0, x, y, 1, -v * x, -v * y]]
        values += [u, v]
    return tuple(np.linalg.solve(np.array(rows, dtype=np.float64), np.array(values, dtype=np.float64)))
