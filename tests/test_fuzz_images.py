"""Hostile bytes to the image loader: whatever arrives, the only failure is a TextrecError naming the problem
(the server turns it into a 4xx). Inputs are real images of every format we read, truncated, bit-flipped and
spliced, plus raw random bytes. TEXTREC_FUZZ_EXAMPLES raises the count (10,000 for the issue-8 fuzz runs)."""
from __future__ import annotations

import io
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from textrec.errors import TextrecError
from textrec.preprocess import PreprocessConfig, prepare

EXAMPLES = int(os.environ.get("TEXTREC_FUZZ_EXAMPLES", "1500"))
CONFIG = PreprocessConfig()


def _seeds() -> list[bytes]:
    image = Image.effect_noise((40, 16), 60).convert("RGB")
    seeds = []
    for fmt, mode in [("PNG", "RGB"), ("PNG", "P"), ("PNG", "LA"), ("JPEG", "RGB"), ("GIF", "P"), ("BMP", "RGB"),
                      ("TIFF", "RGB"), ("TIFF", "I;16"), ("WEBP", "RGB"), ("PPM", "RGB"), ("ICO", "RGBA")]:
        buffer = io.BytesIO()
        image.convert(mode).save(buffer, format=fmt)
        seeds.append(buffer.getvalue())
    return seeds


SEEDS = _seeds()


@st.composite
def mangled_images(draw) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["flip", "truncate", "insert", "overwrite"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "truncate":
            del data[at:]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        else:
            chunk = draw(st.binary(min_size=1, max_size=8))
            data[at:at + len(chunk)] = chunk
    return bytes(data)


def _load(data: bytes) -> None:
    try:
        array = prepare(data, CONFIG, max_pixels=4_000_000)
    except TextrecError:
        return
    assert array.ndim == 2 and array.shape[0] == CONFIG.height


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(mangled_images())
def test_mangled_images_fail_only_with_clear_errors(data):
    _load(data)


@settings(max_examples=max(EXAMPLES // 3, 100), deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(st.binary(max_size=512))
def test_random_bytes_fail_only_with_clear_errors(data):
    _load(data)
