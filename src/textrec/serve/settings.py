"""Server settings: limits, batching and the API key; from arguments or TEXTREC_* environment variables
(uvicorn's worker processes build their app from the environment)."""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from textrec.errors import TextrecError
from textrec.preprocess import MAX_PIXELS

ENV_PREFIX = "TEXTREC_"


@dataclass
class ServeSettings:
    model: str | None = None  # model folder, .onnx file, or None for the bundled default
    backend: str = "auto"
    detector: str | None = None  # line detector for mode=page (.onnx or folder); None for the bundled one
    max_upload_bytes: int = 10 * 2**20  # one image
    max_request_bytes: int = 64 * 2**20  # a whole request body
    max_pixels: int = MAX_PIXELS  # per image, checked from the header before decoding (the one limit)
    max_request_pixels: int = 2 * MAX_PIXELS  # all images of one request together, from their headers
    max_batch_images: int = 64  # images in one /predict/batch or :predict request
    batch_size: int = 32  # micro-batch: at most this many images per forward pass...
    batch_wait_ms: float = 1.0  # ...gathered for at most this long after the first one arrives
    queue_limit: int = 1024  # images waiting; beyond it requests get 503 (busy) instead of piling up
    page_queue_limit: int = 8  # pages waiting for the page thread; beyond it 503 (a page takes ~0.1-1 s)
    header_timeout_s: float = 10.0  # a request's head must arrive within this (slow-header clients)
    body_timeout_s: float = 60.0  # ...and its body within this after the head (slow-body clients): else 408
    api_key: str | None = None  # when set, API calls need the header X-API-Key
    threads: int | None = None  # inference threads per worker process (default: onnxruntime's choice)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "ServeSettings":
        source: Mapping[str, str] = os.environ if environ is None else environ
        values: dict[str, Any] = {}  # each field's value, of that field's type
        for spec in fields(cls):
            raw = source.get(ENV_PREFIX + spec.name.upper())
            if raw is None or raw == "":
                continue
            kind = str(spec.type)
            try:
                values[spec.name] = (int(raw) if kind.startswith("int") else float(raw) if kind.startswith("float")
                                     else raw)
            except ValueError:
                raise TextrecError(f"{ENV_PREFIX}{spec.name.upper()} must be a number, got {raw!r}") from None
        return cls(**values)

    def to_env(self) -> dict[str, str]:
        return {ENV_PREFIX + spec.name.upper(): str(getattr(self, spec.name))
                for spec in fields(self) if getattr(self, spec.name) is not None}
