"""The one image path shared by training and inference: any input -> normalized grayscale, fixed height.

Only numpy, Pillow and SciPy here, so the torch-free runtime uses exactly the same code as training.
"""
from __future__ import annotations

import contextlib
import io
import os
import struct
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Union, cast

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from textrec.errors import CorruptImage, ImageTooLarge, NotAnImage, TextrecError, reject_unknown

ImageInput = Union[str, os.PathLike, bytes, bytearray, Image.Image, np.ndarray]


def as_inputs(images: ImageInput | Sequence[ImageInput]) -> tuple[list[ImageInput], bool]:
    """The inputs as a list, and whether a single input was given: anything but a list or tuple is one input
    (a str or bytes is a sequence too, but one path or one file)."""
    if isinstance(images, (list, tuple)):
        return list(images), False
    return [cast(ImageInput, images)], True


@dataclass
class PreprocessConfig:
    """How images become network input; stored in every model file so inference matches training."""

    height: int = 32
    min_width: int = 16
    max_width: int = 2048
    fixed_width: int | None = None  # resize every image to this width (e.g. captchas); None keeps aspect ratio
    mean: float = 0.5
    std: float = 0.5
    width_multiple: int = 4  # batches are padded to a multiple of the network's width stride

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> "PreprocessConfig":
        values = dict(values or {})
        reject_unknown(values, cls.__dataclass_fields__, "preprocess")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def describe(source: ImageInput) -> str:
    """A short name for an image input, for error messages."""
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    if isinstance(source, (bytes, bytearray)):
        return f"<{len(source)} bytes>"
    if isinstance(source, np.ndarray):
        return f"<array {source.shape} {source.dtype}>"
    return f"<{type(source).__name__}>"


MAX_PIXELS = 60_000_000  # the one limit on an image's size, checked from its header before decoding


def frame_count(source: ImageInput) -> int:
    """Frames (pages) in an image file: more than one for a multi-page TIFF. Read from the header only."""
    if not isinstance(source, (str, os.PathLike)) or Path(source).suffix.lower() not in (".tif", ".tiff"):
        return 1
    try:
        with _our_size_check(), Image.open(source) as image:
            return int(getattr(image, "n_frames", 1))
    except Exception:  # unreadable: load_image says why, naming the file
        return 1


def load_image(source: ImageInput, max_pixels: int | None = MAX_PIXELS, name: str | None = None,
               frame: int = 0) -> Image.Image:
    """`open_image` as an 8-bit grayscale PIL image, turned gray the way the reader does it."""
    name = name or describe(source)
    image = open_image(source, max_pixels, name, frame)
    try:
        return to_grayscale(image)
    except (ValueError, OSError) as exc:  # a mode Pillow opens but cannot convert, or pixels that fail late
        raise CorruptImage(f"image {name}: cannot use its {image.mode} pixels ({exc})") from None


def open_image(source: ImageInput, max_pixels: int | None = MAX_PIXELS, name: str | None = None,
               frame: int = 0) -> Image.Image:
    """Open any supported input as a decoded PIL image in its own mode, upright per its EXIF orientation
    (`frame`: the page of a multi-page TIFF). A larger image than `max_pixels` is refused from its header,
    before any pixel is decoded; errors name the input as `name` (default: its path, or what it is)."""
    name = name or describe(source)
    if isinstance(source, Image.Image):
        image = source
    elif isinstance(source, np.ndarray):
        image = _from_array(source, name)
    else:
        image = _open(source, name, max_pixels, frame)
    _check_pixels(image, name, max_pixels)
    try:
        image = ImageOps.exif_transpose(image)
    except Exception:  # a broken EXIF block must not lose an otherwise fine image
        pass
    if image.width == 0 or image.height == 0:
        raise CorruptImage(f"image {name} is empty ({image.width}x{image.height})")
    return image


def _check_pixels(image: Image.Image, name: str, max_pixels: int | None) -> None:
    if max_pixels and image.width * image.height > max_pixels:
        raise ImageTooLarge(f"image {name} is {image.width}x{image.height} = {image.width * image.height:,} pixels; "
                            f"the limit is {max_pixels:,}")


def _open(source: str | os.PathLike | bytes | bytearray, name: str, max_pixels: int | None = None,
          frame: int = 0) -> Image.Image:
    if isinstance(source, (bytes, bytearray)):
        if not source:
            raise CorruptImage("image data is empty (0 bytes)")
        stream: Any = io.BytesIO(source)
    else:
        path = Path(source)
        if not path.is_file():
            problem = ("path is a folder, not a file" if path.is_dir() else
                       "path is not a regular file" if path.exists() else "file not found")
            raise TextrecError(f"image {problem}: {path}")
        if path.stat().st_size == 0:
            raise CorruptImage(f"image file is empty (0 bytes): {path}")
        stream = path
    try:
        with _our_size_check():
            image = Image.open(stream)
            if frame:
                image.seek(frame)
        _check_pixels(image, name, max_pixels)  # from the header alone: a bomb is never decoded
        image.load()  # decode now, so truncated files fail here and not deep inside training
    except Image.DecompressionBombError as exc:
        raise ImageTooLarge(f"image {name} is too large: {exc}") from None
    except UnidentifiedImageError:
        raise NotAnImage(f"not an image (unrecognized format): {name}") from None
    except (OSError, ValueError, SyntaxError, EOFError, struct.error, IndexError, TypeError) as exc:
        # Pillow's decoders signal broken data with any of these, depending on the format
        raise CorruptImage(f"corrupt image {name}: {exc}") from None
    return image


@contextlib.contextmanager
def _our_size_check():
    """Pillow's decompression-bomb check off while a header is read: ours follows at once, with the file's name
    and our limit in the message instead of Pillow's."""
    saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
    try:
        yield
    finally:
        Image.MAX_IMAGE_PIXELS = saved


def _from_array(array: np.ndarray, name: str) -> Image.Image:
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise TextrecError(f"image array must be HxW, HxWx3 or HxWx4, got shape {array.shape}")
    if array.size == 0:
        raise TextrecError(f"image {name} is empty")
    if array.dtype != np.uint8:
        array = _to_uint8(array.astype(np.float64))
    return Image.fromarray(array)


def _to_uint8(values: np.ndarray) -> np.ndarray:
    """Floats in [0, 1] are scaled by 255; anything else (16-bit, odd ranges) is stretched to its max."""
    top = float(np.nanmax(values)) if values.size else 0.0
    scale = 255.0 if top <= 1.0 else 255.0 / max(top, 1.0) if top > 255 else 1.0
    return np.clip(np.nan_to_num(values) * scale, 0, 255).astype(np.uint8)


def to_grayscale(image: Image.Image) -> Image.Image:
    """Any PIL mode to 'L'; transparency is composited on white (on black under light ink, see
    `_backdrop`), 16/32-bit depth scaled down."""
    if image.mode == "L":
        return image
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        return Image.fromarray(_to_uint8(np.asarray(image, dtype=np.float64)))
    if image.mode == "LAB":  # its L channel is lightness: the gray we want, which Pillow will not convert to
        return image.getchannel("L")
    if image.mode in ("RGBA", "LA", "PA"):
        image = image.convert("RGBA")
        image = Image.alpha_composite(Image.new("RGBA", image.size, _backdrop(image)), image)
    if image.mode != "RGB":
        image = image.convert("RGB")
    return colour_to_gray(image)


LUMA = np.array([0.299, 0.587, 0.114], np.float32)
LUMA_NORM = float(np.linalg.norm(LUMA))
HUE_CONTRAST_GAIN = 1.4  # how much more contrast the main colour axis must carry before it replaces luma
STATS_PIXELS = 4096  # colour statistics come from about this many pixels (a page costs what a word does)


def _backdrop(rgba: Image.Image) -> tuple[int, int, int, int]:
    """White, unless much of the image is see-through and what is drawn is light (white letters on a clear
    background, as logos for dark web pages are saved): on white they would vanish, so they go on black."""
    pixels = np.asarray(rgba).reshape(-1, 4)
    sample = pixels[:: max(1, len(pixels) // STATS_PIXELS)].astype(np.float32)
    opacity = sample[:, 3] / 255.0
    if (opacity < 0.5).mean() < 0.2 or opacity.sum() == 0:
        return 255, 255, 255, 255
    drawn_luma = float(opacity @ (sample[:, :3] @ LUMA)) / float(opacity.sum())
    return (0, 0, 0, 255) if drawn_luma > 127 else (255, 255, 255, 255)


def colour_to_gray(image: Image.Image) -> Image.Image:
    """RGB to 'L': luma (Pillow's ITU-R 601 weights), unless the image's main colour axis separates its pixels
    far better than luma does (white letters on a light-blue sign, red on green): then the projection on that
    axis, oriented like luma and scaled as luma would scale it. Luma alone erases such hue contrast."""
    rgb = np.asarray(image).reshape(-1, 3)
    sample = rgb[:: max(1, rgb.shape[0] // STATS_PIXELS)].astype(np.float64)
    mean = np.ones(len(sample)) @ sample / len(sample)  # matrix products: numpy's axis-0 mean is slow here
    scatter = sample.T @ sample - len(sample) * np.outer(mean, mean)
    values, vectors = np.linalg.eigh(scatter)
    luma_spread = max(float(LUMA @ scatter @ LUMA), 0.0) ** 0.5  # spreads along luma and the main axis (x sqrt(n))
    axis_spread = max(float(values[-1]), 0.0) ** 0.5 * LUMA_NORM
    if luma_spread >= axis_spread / HUE_CONTRAST_GAIN:
        return image.convert("L")
    axis = vectors[:, -1] if vectors[:, -1] @ LUMA >= 0 else -vectors[:, -1]
    gray = (float(mean @ LUMA)
            + (rgb.astype(np.float32) - mean.astype(np.float32)) @ (axis * LUMA_NORM).astype(np.float32))
    return Image.fromarray(np.clip(gray, 0, 255).reshape(image.height, image.width).round().astype(np.uint8))


def target_width(width: int, height: int, config: PreprocessConfig) -> int:
    """Width after scaling to the configured height, aspect ratio kept and clamped."""
    if config.fixed_width:
        return config.fixed_width
    scaled = round(width * config.height / max(height, 1))
    return int(min(max(scaled, config.min_width), config.max_width))


def padded_width(width: int, config: PreprocessConfig) -> int:
    """The width an image of this width is padded to in any batch: its own, up to the next `width_multiple`."""
    multiple = max(config.width_multiple, 1)
    return -(-width // multiple) * multiple


def resize(image: Image.Image, config: PreprocessConfig) -> Image.Image:
    size = (target_width(image.width, image.height, config), config.height)
    return image if image.size == size else image.resize(size, Image.Resampling.BILINEAR)


def normalize(image: Image.Image, config: PreprocessConfig) -> np.ndarray:
    """A resized 'L' image to a float32 HxW array, normalized with the config's mean and std."""
    array = np.asarray(image, dtype=np.float32) / 255.0
    return (array - config.mean) / config.std


def prepare(source: ImageInput, config: PreprocessConfig, max_pixels: int | None = None) -> np.ndarray:
    """Any image input to the normalized HxW float32 array the network reads."""
    return normalize(resize(load_image(source, max_pixels), config), config)


TALL_RATIO = 1.5  # a crop this much taller than wide may hold vertical text: it is read turned both ways too
TURNS = (90, 270)  # degrees counter-clockwise; 90 puts the top letter of a stacked sign first


def turns(image: Image.Image) -> tuple[int, ...]:
    """The ways a crop is read: upright, and for a tall one also turned a quarter each way."""
    return (0, *TURNS) if image.height >= TALL_RATIO * image.width else (0,)


def prepare_turns(image: Image.Image, config: PreprocessConfig) -> list[np.ndarray]:
    """A loaded image to one network input per way it is read (see `turns`); the upright one first."""
    return [normalize(resize(image.rotate(angle, expand=True) if angle else image, config), config)
            for angle in turns(image)]


def background_value(array: np.ndarray) -> float:
    """The median of the border pixels: padding with it makes the pad look like the image's own paper."""
    border = np.concatenate([array[0], array[-1], array[:, 0], array[:, -1]])
    return float(np.median(border))


@dataclass
class Variant:
    """Another look at a prepared crop: its array, and how its x maps back (x in the crop = x * scale + shift)."""
    name: str
    array: np.ndarray
    scale: float = 1.0
    shift: float = 0.0


RETRY_LOOKS = ("margin", "contrast", "wider", "narrower", "straightened")  # the last only for a curved line
MARGIN, WIDER, NARROWER = 0.15, 1.35, 0.75  # a margin of 15% of the height; widths x1.35 and x0.75


def retry_variants(array: np.ndarray, config: PreprocessConfig) -> list[Variant]:
    """Other looks at a crop the model was unsure of: a margin of paper around it (a tight crop cuts letters),
    contrast stretched, the letters wider and narrower (condensed and wide faces), and for text on an arc the
    line made straight. Made from the prepared array, so they cost no decoding; widths stay within the config's
    bounds."""
    height, width = array.shape
    looks = [Variant("contrast", _stretched(array, config))]
    if config.fixed_width:  # a fixed-width model (captchas) is never shown another width
        return looks
    m = max(1, round(MARGIN * height))
    framed = np.pad(array, m, constant_values=background_value(array))
    scale = height / framed.shape[0]
    looks.insert(0, Variant("margin", _resized(framed, framed.shape[1] * scale, config), 1 / scale, -m))
    for name, factor in (("wider", WIDER), ("narrower", NARROWER)):
        looks.append(Variant(name, _resized(array, width * factor, config), 1 / factor, 0.0))
    flat = straightened(array, config)
    return looks if flat is None else [*looks, flat]


INK = 0.35  # a pixel is ink where it differs from the paper by this share of the crop's largest difference
MIN_CONTRAST = 0.2  # in normalized units (a tenth of black to white): a blank crop has no line to follow
MIN_SPAN = 2.0  # in band heights: a few letters at least (one or two have no line to follow)
MIN_SAG = 0.06  # a line of text sagging less than this share of the crop's height from straight is left as it is


def straightened(array: np.ndarray, config: PreprocessConfig) -> Variant | None:
    """Text on an arc (a round logo, a curved sign) unrolled: the ink's centre line is fitted by a parabola and the
    band the letters fill is sampled along it, across the line at each point (so letters stand upright again) and
    at equal steps of length along it, then brought to the input height. None where the line is straight already,
    it is too short for a line (a letter or two), or there is too little ink to fit."""
    height, width = array.shape
    paper = background_value(array)
    contrast = np.abs(array - paper)
    top = float(contrast.max()) if contrast.size else 0.0
    if top < MIN_CONTRAST:
        return None
    ink = contrast > INK * top
    weight = np.where(ink, contrast, 0.0)
    mass = weight.sum(axis=0)
    inked = np.flatnonzero(mass > 0.05 * mass.max())
    if len(inked) < 8:
        return None
    rows, columns = np.arange(height, dtype=np.float64), np.arange(width, dtype=np.float64)
    parabola = np.polyfit(inked.astype(np.float64), (rows @ weight)[inked] / mass[inked], 2, w=np.sqrt(mass[inked]))
    derivative = np.polyder(parabola)
    first, last = int(inked[0]), int(inked[-1])
    line = np.polyval(parabola, np.clip(columns, first, last))
    chord = np.interp(columns, [first, last], [line[first], line[last]])
    if np.abs(line - chord).max() < MIN_SAG * height:
        return None
    off_line = np.abs(rows[:, None] - np.polyval(parabola, columns)[None, :])[ink]
    half = float(np.quantile(off_line, 0.95)) * 1.12 + 1  # half the band's thickness, with a margin
    if last - first < MIN_SPAN * 2 * half:
        return None
    # the centre line, finely sampled a little beyond the ink at both ends, and its length so far at each sample
    xs = np.linspace(max(0.0, first - half / 2), min(width - 1.0, last + half / 2), 4 * width)
    length = np.concatenate([[0.0], np.cumsum(np.sqrt(1 + np.polyval(derivative, xs) ** 2)[:-1] * (xs[1] - xs[0]))])
    out_width = int(min(max(round(length[-1] * config.height / (2 * half)), config.min_width), config.max_width))
    along = np.interp(np.linspace(0, length[-1], out_width), length, xs)  # equal steps of length
    slope = np.polyval(derivative, along)
    normal_x, normal_y = -slope / np.sqrt(1 + slope**2), 1 / np.sqrt(1 + slope**2)
    across = (np.arange(config.height) + 0.5) / config.height * 2 * half - half
    source_x = along[None, :] + across[:, None] * normal_x[None, :]
    source_y = np.polyval(parabola, along)[None, :] + across[:, None] * normal_y[None, :]
    from scipy import ndimage  # here, not at the top: only a curved crop pays for importing it

    flat = ndimage.map_coordinates(array.astype(np.float32), [source_y, source_x], order=1, mode="grid-constant",
                                   cval=paper)
    scale = (along[-1] - along[0]) / max(out_width - 1, 1)  # x maps back linearly: near enough for boxes
    return Variant("straightened", flat, scale, float(along[0]))


def _resized(array: np.ndarray, width: float, config: PreprocessConfig) -> np.ndarray:
    width = int(min(max(round(width), config.min_width), config.max_width))
    image = Image.fromarray(array.astype(np.float32))  # mode F: floats resized as they are
    return np.asarray(image.resize((width, config.height), Image.Resampling.BILINEAR), dtype=np.float32)


def _stretched(array: np.ndarray, config: PreprocessConfig) -> np.ndarray:
    """The 2nd to 98th percentile spread over the whole input range (as PIL's autocontrast with cutoff 2)."""
    low, high = np.percentile(array, [2, 98])
    if high - low < 1e-6:
        return array
    darkest, lightest = (0 - config.mean) / config.std, (1 - config.mean) / config.std
    return np.clip(darkest + (array - low) / (high - low) * (lightest - darkest), darkest, lightest).astype(np.float32)


def pad_batch(arrays: list[np.ndarray], config: PreprocessConfig) -> tuple[np.ndarray, np.ndarray]:
    """Stack HxW arrays into an Nx1xHxW batch padded on the right to the widest; returns it and the widths."""
    widths = np.array([a.shape[1] for a in arrays], dtype=np.int64)
    multiple = max(config.width_multiple, 1)
    width = int(-(-widths.max() // multiple) * multiple)
    batch = np.empty((len(arrays), 1, config.height, width), dtype=np.float32)
    for i, array in enumerate(arrays):
        batch[i, 0, :, : array.shape[1]] = array
        if array.shape[1] < width:  # the median of the border costs more than many a crop's other preparation
            batch[i, 0, :, array.shape[1]:] = background_value(array)
    return batch, widths
