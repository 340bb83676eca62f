"""AWS Lambda handler for an API Gateway proxy event (REST API v1 or HTTP API v2 payloads).

    POST /predict   body: the image bytes (binary media type, API Gateway base64-encodes them), or JSON
                    {"b64": "..."} for one image, or TF Serving's {"instances": [{"b64": "..."}, ...]}
    GET  /healthz

The model (TEXTREC_MODEL, default: the bundled one) loads once per container, on the first call. Same
limits and JSON errors as the HTTP server; torch-free with an ONNX model.
"""
from __future__ import annotations

import base64
import binascii
import json
import logging
import time
from typing import Any

from textrec.inference import most_confident
from textrec.serve.images import (
    API_KEY_MESSAGE,
    RequestError,
    check_request_pixels,
    decode_base64,
    image_arrays,
    instance_images,
    key_matches,
    reading,
    tf_prediction,
)
from textrec.serve.settings import ServeSettings

log = logging.getLogger("textrec.lambda")
_state: dict[str, Any] = {}


def _recognizer():
    if "recognizer" not in _state:
        from textrec.recognizer import load_recognizer

        settings = ServeSettings.from_env()
        _state["settings"] = settings
        _state["recognizer"] = load_recognizer(settings.model, settings.backend, batch_size=settings.batch_size,
                                               threads=settings.threads)
    return _state["recognizer"], _state["settings"]


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


def _images(headers: dict[str, str], raw: bytes, settings: ServeSettings) -> tuple[list[bytes], bool]:
    """The image bytes in the body, and whether the caller used the TF Serving shape."""
    if "json" not in headers.get("content-type", ""):
        return [raw], False
    try:
        payload = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise RequestError(422, "body is not valid JSON") from None
    if isinstance(payload, dict) and "instances" in payload:
        return instance_images(payload["instances"], settings.max_batch_images, settings.max_upload_bytes), True
    if isinstance(payload, dict) and "b64" in payload:
        return [decode_base64(payload["b64"], settings.max_upload_bytes)], False
    raise RequestError(422, 'JSON body needs "b64" (one image) or "instances" (TF Serving style)')


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
        recognizer, settings = _recognizer()
        if not key_matches(headers.get("x-api-key"), settings.api_key):
            raise RequestError(401, API_KEY_MESSAGE)
        blobs, tf_style = _images(headers, raw, settings)
        check_request_pixels(blobs, settings.max_request_pixels)
        crops = [image_arrays(blob, recognizer.preprocess, settings.max_upload_bytes, settings.max_pixels,
                              f"image {i}" if len(blobs) > 1 else "image") for i, blob in enumerate(blobs)]
        predictions = most_confident(recognizer.read_arrays([a for crop in crops for a in crop.arrays]),
                                     [crop.angles for crop in crops])
    except RequestError as exc:
        return _reply(exc.status, {"error": exc.message})
    except Exception:  # logged for the operator; the caller gets JSON, not a Lambda runtime error
        log.exception("unexpected error")
        return _reply(500, {"error": "internal error (logged)"})
    if tf_style:
        return _reply(200, {"predictions": [tf_prediction(p) for p in predictions]})
    return _reply(200, {**reading(predictions[0]), "model": recognizer.name,
                        "elapsed_ms": round((time.perf_counter() - start) * 1000, 2)})
