"""What the HTTP app and the Lambda handler share: request bytes into model input (with the limits and the
HTTP status each failure deserves), TF Serving instances, the API-key check, and the shapes of the answers."""
from __future__ import annotations

import base64
import binascii
import io
import json
import secrets
from typing import Any, NamedTuple

import numpy as np
from PIL import Image

from textrec.decoding import Prediction
from textrec.errors import CorruptImage, ImageTooLarge, NotAnImage, TextrecError
from textrec.preprocess import PreprocessConfig, load_image, prepare_turns, turns

API_KEY_MESSAGE = "missing or wrong API key (send it in the X-API-Key header)"


class Crop(NamedTuple):
    """One uploaded word or line image as the model reads it: an array per angle (upright first)."""

    arrays: list[np.ndarray]
    angles: tuple[int, ...]


class RequestError(Exception):
    """A client mistake: answered with this status and message as JSON, never a 500."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def image_arrays(data: bytes, preprocess: PreprocessConfig, max_bytes: int, max_pixels: int,
                 name: str = "image") -> Crop:
    """Bytes of an uploaded image -> the arrays the model reads (a tall crop is read turned too, see
    preprocess.turns) with their angles, or a RequestError that names the problem."""
    image = _decode(lambda: load_image(bytes(data), max_pixels, name), data, max_bytes, name)
    return crop_arrays(image, preprocess)


def check_request_pixels(blobs: list[bytes], budget: int) -> None:
    """The images of one request together may not declare more pixels than `budget`: read from their headers
    before any is decoded (64 tiny files each declaring 7000x7000 would otherwise cost minutes and gigabytes).
    A blob whose header cannot be read is left for its own decode to name."""
    total = 0
    for data in blobs:
        try:
            with Image.open(io.BytesIO(data)) as image:
                total += image.width * image.height
        except Exception:
            continue
        if total > budget:
            raise RequestError(413, f"the images of this request declare over {budget:,} pixels together; "
                                    "send fewer or smaller images per request")


def crop_arrays(image: Image.Image, preprocess: PreprocessConfig) -> Crop:
    return Crop(prepare_turns(image, preprocess), turns(image))


def page_image(data: bytes, max_bytes: int, max_pixels: int, name: str = "image") -> Image.Image:
    """Bytes of an uploaded page -> a grayscale PIL image, with the same limits and errors as `image_array`."""
    return _decode(lambda: load_image(bytes(data), max_pixels, name), data, max_bytes, name)


def _decode(decode, data: bytes, max_bytes: int, name: str):
    if not data:
        raise RequestError(422, f"{name}: empty (0 bytes)")
    if len(data) > max_bytes:
        raise RequestError(413, f"{name}: {len(data):,} bytes; the limit is {max_bytes:,}")
    try:
        return decode()
    except ImageTooLarge as exc:  # the message names the upload already
        raise RequestError(413, str(exc)) from None
    except NotAnImage:
        raise RequestError(415, f"{name}: not an image in a format we read "
                                "(PNG, JPEG, WebP, BMP, TIFF, GIF...)") from None
    except (CorruptImage, TextrecError) as exc:
        raise RequestError(422, f"{name}: {exc}") from None
    except Exception as exc:  # a Pillow decoder bug on hostile data is still the client's bad image, not our 500
        raise RequestError(422, f"{name}: cannot decode image ({type(exc).__name__})") from None


def decode_base64(text: object, max_bytes: int, name: str = "b64") -> bytes:
    """Standard or URL-safe base64, padding optional; size checked before decoding."""
    if not isinstance(text, str):
        raise RequestError(422, f"{name}: expected a base64 string, got {type(text).__name__}")
    if len(text) > (max_bytes * 4) // 3 + 8:
        raise RequestError(413, f"{name}: {len(text):,} base64 characters; the limit is {max_bytes:,} bytes decoded")
    cleaned = "".join(text.split())
    if cleaned.startswith("data:") and "," in cleaned:  # a data: URL from a browser
        cleaned = cleaned.split(",", 1)[1]
    try:
        return base64.b64decode(cleaned.replace("-", "+").replace("_", "/") + "=" * (-len(cleaned) % 4),
                                validate=True)
    except (binascii.Error, ValueError):
        raise RequestError(422, f"{name}: not valid base64") from None


def instance_images(instances: Any, max_images: int, max_bytes: int) -> list[bytes]:
    """TF Serving's `instances`: [{"b64": s}, ...] or the named-input form [{"image": {"b64": s}}, ...]."""
    if not isinstance(instances, list) or not instances:
        raise RequestError(422, 'instances: give at least one {"b64": ...} image')
    if len(instances) > max_images:
        raise RequestError(413, f"{len(instances)} instances; the limit is {max_images}")
    return [decode_base64(_b64_field(item, f"instances[{i}]"), max_bytes, f"instances[{i}]")
            for i, item in enumerate(instances)]


def _b64_field(instance: Any, where: str) -> Any:
    if isinstance(instance, dict):
        if "b64" in instance:
            return instance["b64"]
        if len(instance) == 1:
            (value,) = instance.values()
            if isinstance(value, dict) and "b64" in value:
                return value["b64"]
    raise RequestError(422, f'{where}: expected {{"b64": "<base64 image>"}}, got {json.dumps(instance)[:80]}')


def key_matches(given: str | None, expected: str | None) -> bool:
    """No key configured, or the given one equal to it (compared in constant time)."""
    return not expected or bool(given and secrets.compare_digest(given.encode(), expected.encode()))


def reading(prediction: Prediction) -> dict:
    """The answer for one image: text, confidence and each character with its confidence."""
    return {"text": prediction.text, "confidence": round(prediction.confidence, 4),
            "chars": [{"char": c, "confidence": round(p, 4)} for c, p in zip(prediction.text, prediction.chars)],
            "turned": prediction.turned}


def answer(decided: Any) -> dict:
    """The answer for what the Reader decided: a page with its lines (mode "page"), or one reading."""
    from textrec.pages.pipeline import PageResult

    if not isinstance(decided, PageResult):
        return reading(decided.prediction)
    lines = [line.to_dict() for line in decided.lines]
    confidence = sum(line["confidence"] for line in lines) / len(lines) if lines else 0.0
    return {"text": decided.text, "confidence": round(confidence, 4), "chars": [], "mode": "page",
            "width": decided.width, "height": decided.height, "lines": lines}


def tf_prediction(prediction: Prediction) -> dict:
    """One entry of TF Serving's `predictions`: per-character confidences as a plain list."""
    return {"text": prediction.text, "confidence": round(prediction.confidence, 4),
            "chars": [round(c, 4) for c in prediction.chars]}
