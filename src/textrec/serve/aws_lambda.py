"""AWS Lambda handler for an API Gateway proxy event (REST API v1 or HTTP API v2 payloads).

    POST /predict   body: the image bytes (binary media type, API Gateway base64-encodes them), or JSON
                    {"b64": "...", "mode": "auto"} for one image, or TF Serving's {"instances": [{"b64": ...}]}
                    ?mode=word|line|page|auto (default auto, as everywhere: textrec.reading.Reader decides)
    GET  /healthz

The model (TEXTREC_MODEL, default: the bundled one) loads once per container, on the first call; the line
detector at the first page. Same limits, answers and JSON errors as the HTTP server; torch-free with ONNX.
"""
from __future__ import annotations

import base64
import binascii
import json
import logging
import time
from typing import Any

from textrec.errors import TextrecError
from textrec.serve.images import (
    API_KEY_MESSAGE,
    RequestError,
    answer,
    check_request_pixels,
    decode_base64,
    instance_images,
    key_matches,
    page_image,
    tf_prediction,
)
from textrec.serve.settings import ServeSettings

log = logging.getLogger("textrec.lambda")
_state: dict[str, Any] = {}


def _reader():
    """The Reader every front end reads through, built once per container."""
    if "reader" not in _state:
        from textrec.reading import Reader
        from textrec.recognizer import load_recognizer

        settings = ServeSettings.from_env()
        recognizer = load_recognizer(settings.model, settings.backend, batch_size=settings.batch_size,
                                     threads=settings.threads)
        _state["settings"] = settings
        _state["reader"] = Reader(recognizer, "auto", settings.detector, max_pixels=settings.max_pixels,
                                  threads=settings.threads)
    return _state["reader"], _state["settings"]


def _reply(status: int, body: dict) -> dict:
    return {"statusCode": status, "headers": {"Content-Type": "application/json"}, "body": json.dumps(body),
            "isBase64Encoded": False}


def _request(event: dict) -> tuple[str, str, dict[str, str], bytes]:
    """Method, path, lower-cased headers and raw body, from either payload version."""
    http = (event.get("requestContext") or {}).get("http") or {}
    method = event.get("httpMethod") or http.get("method") or "POST"
    path = event.get("path") or event.get("rawPath") or "/predict"
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise RequestError(400, "event body is marked base64 but is not valid base64") from None
    else:
        raw = body.encode("utf-8") if isinstance(body, str) else bytes(body)
    return method.upper(), path, headers, raw


def _images(headers: dict[str, str], raw: bytes, settings: ServeSettings) -> tuple[list[bytes], bool, str | None]:
    """The image bytes in the body, whether the caller used the TF Serving shape, and a mode given in JSON."""
    if "json" not in headers.get("content-type", ""):
        return [raw], False, None
    try:
        payload = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise RequestError(422, "body is not valid JSON") from None
    if isinstance(payload, dict) and "instances" in payload:
        return instance_images(payload["instances"], settings.max_batch_images, settings.max_upload_bytes), True, None
    if isinstance(payload, dict) and "b64" in payload:
        mode = payload.get("mode")
        return [decode_base64(payload["b64"], settings.max_upload_bytes)], False, None if mode is None else str(mode)
    raise RequestError(422, 'JSON body needs "b64" (one image) or "instances" (TF Serving style)')


def _mode(event: dict, given: str | None) -> str:
    from textrec.reading import MODES

    mode = given or ((event.get("queryStringParameters") or {}).get("mode")) or "auto"
    if mode not in MODES:
        raise RequestError(422, f"mode must be word, line, page or auto, got {mode!r}")
    return mode


def handler(event: dict, context: Any = None) -> dict:
    """The Lambda entry point: always a proxy response, 4xx with {"error": ...} for a bad request."""
    start = time.perf_counter()
    try:
        if not isinstance(event, dict):
            raise RequestError(400, "event is not an API Gateway proxy event")
        method, path, headers, raw = _request(event)
        if path.rstrip("/").endswith("healthz"):
            return _reply(200, {"status": "ok"})
        if method != "POST":
            raise RequestError(405, f"{method} {path}: use POST with an image")
        reader, settings = _reader()
        if not key_matches(headers.get("x-api-key"), settings.api_key):
            raise RequestError(401, API_KEY_MESSAGE)
        blobs, tf_style, given_mode = _images(headers, raw, settings)
        mode = "line" if tf_style else _mode(event, given_mode)  # TF Serving instances are word/line images
        check_request_pixels(blobs, settings.max_request_pixels)
        images = [page_image(blob, settings.max_upload_bytes, settings.max_pixels,
                             f"image {i}" if len(blobs) > 1 else "image") for i, blob in enumerate(blobs)]
        try:
            decided = [reader.decide(image, mode) for image in images]
        except TextrecError as exc:  # e.g. no line detector in this container
            raise RequestError(503, f"page mode is unavailable here: {exc}") from None
        crops = iter(reader.read_crops([image for image, d in zip(images, decided) if d is None]))
        results = [d if d is not None else next(crops) for d in decided]
    except RequestError as exc:
        return _reply(exc.status, {"error": exc.message})
    except Exception:  # logged for the operator; the caller gets JSON, not a Lambda runtime error
        log.exception("unexpected error")
        return _reply(500, {"error": "internal error (logged)"})
    if tf_style:
        return _reply(200, {"predictions": [tf_prediction(r.prediction) for r in results]})
    return _reply(200, {**answer(results[0]), "model": reader.recognizer.name,
                        "elapsed_ms": round((time.perf_counter() - start) * 1000, 2)})
