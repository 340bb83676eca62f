"""Training-time augmentation on grayscale PIL images, before the shared resize. Each effect has a probability
and a range in one config, so a dataset can be given more or less of it. Written on PIL/numpy because there
is no CPU torchvision here, and these few effects are all text recognition needs."""
from __future__ import annotations

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
