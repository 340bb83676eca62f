"""The HTTP API: FastAPI under uvicorn, one model per process, requests micro-batched into forward passes.

    textrec serve --model model.onnx
    python -m uvicorn --factory textrec.serve.app:app_from_env --http textrec.serve.protocol:HeaderTimeoutProtocol
"""
from __future__ import annotations

import asyncio
import functools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.security import APIKeyHeader
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from textrec import __version__
from textrec.decoding import Prediction
from textrec.errors import TextrecError
from textrec.inference import most_confident
from textrec.pages.pipeline import PageReader, PageResult, is_page_sized
from textrec.reading import MODES, CropResult, Reader
from textrec.recognizer import load_recognizer
from textrec.serve.batching import MicroBatcher, QueueFull
from textrec.serve.images import (
    API_KEY_MESSAGE,
    Crop,
    RequestError,
    answer,
    check_request_pixels,
    crop_arrays,
    image_arrays,
    instance_images,
    key_matches,
    page_image,
    reading,
    tf_prediction,
)
from textrec.serve.metrics import Metrics
from textrec.serve.settings import ServeSettings

log = logging.getLogger("textrec.serve")
STATIC = Path(__file__).parent / "static"
DOCS_ASSETS = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css"}
MULTIPART_ROUTES = ("/predict", "/predict/batch")
OPEN_PATHS = frozenset({"/", "/healthz", "/readyz"})  # without the key even when one is set: probes, the web page


class CharOut(BaseModel):
    char: str
    confidence: float


class WordOut(BaseModel):
    text: str
    quad: list[float]


class LineOut(BaseModel):
    text: str
    confidence: float
    score: float = Field(description="The detector's confidence that this is a text line")
    block: int = Field(description="Block (paragraph/column) number, in reading order")
    quad: list[float] = Field(description="x1,y1,...,x4,y4 clockwise from top-left, in page pixels")
    words: list[WordOut]


class PredictionOut(BaseModel):
    text: str
    confidence: float = Field(description="Probability that every character is right (page: mean over lines)")
    chars: list[CharOut]
    turned: int = Field(0, description="degrees counter-clockwise a tall crop was turned to read it (vertical text)")
    model: str
    elapsed_ms: float
    mode: str = "line"
    width: int | None = Field(None, description="page mode: the page's size")
    height: int | None = None
    lines: list[LineOut] | None = Field(None, description="page mode: every line in reading order")


class BatchItem(BaseModel):
    file: str | None = None
    text: str | None = None
    confidence: float | None = None
    chars: list[CharOut] | None = None
    turned: int | None = None
    mode: str | None = Field(None, description="line, or page (then width, height and lines too)")
    width: int | None = None
    height: int | None = None
    lines: list[LineOut] | None = None
    error: str | None = Field(None, description="Why this image was not read (the others still are)")


class BatchOut(BaseModel):
    results: list[BatchItem]
    model: str
    elapsed_ms: float


class TFServingRequest(BaseModel):
    signature_name: str | None = None
    instances: list[Any] = Field(description='[{"b64": "<base64 image>"}, ...] or [{"<input>": {"b64": ...}}, ...]')


class TFPrediction(BaseModel):
    text: str
    confidence: float
    chars: list[float]


class TFServingResponse(BaseModel):
    predictions: list[TFPrediction]


class ErrorOut(BaseModel):
    error: str


ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": ErrorOut} for code in (401, 413, 415, 422, 503)}


def error_response(status: int, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def create_app(settings: ServeSettings | None = None) -> FastAPI:
    """An app serving one model (loaded now, so a bad model fails at start-up, not on the first request)."""
    settings = settings or ServeSettings.from_env()
    limit_malloc_arenas()
    recognizer = load_recognizer(settings.model, settings.backend, batch_size=settings.batch_size,
                                 threads=settings.threads)
    model_name = recognizer.name
    metrics = Metrics()
    batcher = MicroBatcher(recognizer.read_arrays, settings.batch_size, settings.batch_wait_ms, settings.queue_limit,
                           on_batch=metrics.batch_size.observe)

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        warm_up(recognizer, settings.batch_size)
        await batcher.start()
        yield
        await batcher.stop()
        decoders.shutdown(wait=False, cancel_futures=True)
        pages.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(title="textrec", version=__version__, lifespan=lifespan, docs_url=None,
                  description="Text recognition: upload an image of a word or line, get its text and confidences.")
    (app.state.settings, app.state.recognizer,
     app.state.batcher, app.state.metrics) = settings, recognizer, batcher, metrics
    key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="Needed when the server has a key")

    def require_key(key: str | None = Depends(key_header)) -> None:
        if not key_matches(key, settings.api_key):
            raise RequestError(401, API_KEY_MESSAGE)

    # Image decoding runs on a few threads of our own rather than anyio's pool of 40: each thread that touches
    # image buffers keeps its own malloc arena, and 40 of them made resident memory double under load.
    decoders = ThreadPoolExecutor(max_workers=2, thread_name_prefix="textrec-decode")
    pages = ThreadPoolExecutor(max_workers=1, thread_name_prefix="textrec-page")  # a page already fills the cores

    reader = Reader(recognizer, "auto", settings.detector, max_pixels=settings.max_pixels)
    app.state.reader = reader

    def page_reader() -> PageReader:  # loaded on the first page, so a word/line server pays nothing for it
        try:
            return reader.page_reader()
        except TextrecError as exc:
            raise RequestError(503, f"page mode is unavailable on this server: {exc}") from None

    async def to_array(data: bytes, name: str):
        return await asyncio.get_running_loop().run_in_executor(
            decoders, image_arrays, data, recognizer.preprocess, settings.max_upload_bytes, settings.max_pixels, name)

    def check_model_name(name: str) -> None:
        if name != model_name:
            raise RequestError(404, f"no model named {name!r}; this server has {model_name!r}")

    async def recognize(crops: list[Crop]) -> list[Prediction]:
        try:
            results = await batcher.predict([array for crop in crops for array in crop.arrays])
        except QueueFull as exc:
            raise RequestError(503, f"server busy ({exc}); retry shortly") from None
        metrics.images.inc(len(crops))
        return most_confident(results, [crop.angles for crop in crops])

    @app.exception_handler(RequestError)
    async def request_error(_: Request, exc: RequestError) -> JSONResponse:
        return error_response(exc.status, exc.message, {"WWW-Authenticate": "APIKey"} if exc.status == 401 else None)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        content_type = request.headers.get("content-type", "")
        if request.url.path in MULTIPART_ROUTES and not content_type.startswith("multipart/form-data"):
            return error_response(415, f"send images as multipart/form-data (got content-type "
                                       f"{content_type or 'none'!r}); field 'file' for /predict, "
                                       "'files' for /predict/batch")
        if request.url.path.startswith("/v1/") and "json" not in content_type:
            return error_response(415, "send a JSON body (content-type application/json), "
                                       f"got {content_type or 'none'!r}")
        problems = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', 'invalid')}"
                             for e in exc.errors())
        return error_response(422, f"invalid request: {problems}")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        refusal = body_refusal(exc.__cause__, settings)  # FastAPI wraps failures while reading a body as a 400
        if refusal is not None:
            return refusal
        return error_response(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        refusal = body_refusal(exc, settings)
        if refusal is not None:
            return refusal
        log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
        return error_response(500, "internal error (logged on the server)")

    def request_mode(form_mode: str | None, request: Request) -> str:
        mode = form_mode or request.query_params.get("mode") or "auto"
        if mode not in MODES:
            raise RequestError(422, f"mode must be word, line, page or auto, got {mode!r}")
        return mode

    page_jobs = 0  # pages given to the page thread and not finished: waiting or being read

    async def page_job(work: Callable[[], Any], request: Request | None) -> Any:
        """`work` on the page thread, at most `page_queue_limit` pages queued (else 503), and dropped from the
        queue if the client hangs up before its turn (a page being read when that happens is finished)."""
        nonlocal page_jobs
        if page_jobs >= settings.page_queue_limit:
            raise RequestError(503, f"server busy ({page_jobs} pages queued); retry shortly")
        loop, gone = asyncio.get_running_loop(), threading.Event()

        def finished(_: Any) -> None:
            nonlocal page_jobs
            page_jobs -= 1

        page_jobs += 1
        future = pages.submit(lambda: None if gone.is_set() else work())
        future.add_done_callback(lambda f: loop.call_soon_threadsafe(finished, f))
        result = asyncio.wrap_future(future)
        if request is None:
            return await result
        watcher = asyncio.ensure_future(client_gone(request))
        try:
            await asyncio.wait({result, watcher}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            watcher.cancel()
        if result.done():
            return result.result()
        gone.set()
        future.cancel()  # still queued: it never runs
        metrics.abandoned.inc()
        raise RequestError(499, "client closed the request")

    async def decide(data: bytes, name: str, mode: str,
                     request: Request | None = None) -> PageResult | CropResult | Crop:
        """An upload decoded once, then read as textrec.reading.Reader decides for every front end: a page (or a
        page-sized image read whole), or the arrays of a crop for the micro-batcher."""
        loop = asyncio.get_running_loop()
        image = await loop.run_in_executor(decoders, page_image, data, settings.max_upload_bytes,
                                           settings.max_pixels, name)
        if mode not in ("word", "line") and (mode == "page" or is_page_sized(image.width, image.height)):
            page_reader()  # a 503 now if this server cannot read pages
            decided = await page_job(functools.partial(reader.decide, image, mode), request)
            if decided is not None:
                metrics.images.inc()
                return decided
        return await loop.run_in_executor(decoders, crop_arrays, image, recognizer.preprocess)

    @app.post("/predict", response_model=PredictionOut, responses=ERRORS, dependencies=[Depends(require_key)],
              summary="Read one image")
    async def predict(request: Request,
                      file: UploadFile = File(..., description="An image of a word, a text line or a page"),
                      mode: str | None = Form(None, description="auto (the default: a page when the image holds "
                                              "rows of text, else one line), word, line or page; also ?mode=")) -> dict:
        start = time.perf_counter()
        mode = request_mode(mode, request)
        data = await file.read(settings.max_upload_bytes + 1)
        decided = await decide(data, file.filename or "file", mode, request)
        if isinstance(decided, (PageResult, CropResult)):
            read = answer(decided)
        else:
            read = reading((await recognize([decided]))[0])
        return {**read, "model": model_name, "elapsed_ms": round((time.perf_counter() - start) * 1000, 2)}

    @app.post("/predict/batch", response_model=BatchOut, responses=ERRORS, dependencies=[Depends(require_key)],
              summary="Read several images; a bad one gets an error entry, the rest are still read")
    async def predict_batch(request: Request, files: list[UploadFile] = File(..., description="Images"),
                            mode: str | None = Form(None, description="as for /predict: auto (default), word, "
                                                    "line or page; also ?mode=")) -> dict:
        start = time.perf_counter()
        mode = request_mode(mode, request)
        if len(files) > settings.max_batch_images:
            raise RequestError(413, f"{len(files)} images in one request; the limit is {settings.max_batch_images}")
        items: list[dict] = []
        crops, slots = [], []
        uploads = [await upload.read(settings.max_upload_bytes + 1) for upload in files]
        check_request_pixels(uploads, settings.max_request_pixels)
        for index, (upload, data) in enumerate(zip(files, uploads)):
            name = upload.filename or f"files[{index}]"
            items.append({"file": name})
            try:
                decided = await decide(data, name, mode, request)
            except RequestError as exc:
                items[index]["error"] = exc.message
                continue
            if isinstance(decided, (PageResult, CropResult)):
                items[index].update(answer(decided), mode="page" if isinstance(decided, PageResult) else "line")
            else:
                crops.append(decided)
                slots.append(index)
        for index, prediction in zip(slots, await recognize(crops) if crops else []):
            items[index].update(reading(prediction), mode="line")
        return {"results": items, "model": model_name, "elapsed_ms": round((time.perf_counter() - start) * 1000, 2)}

    @app.post("/v1/models/{name}:predict", response_model=TFServingResponse,
              responses={404: {"model": ErrorOut}, **ERRORS},
              dependencies=[Depends(require_key)], summary="TensorFlow Serving REST API (base64 instances)")
    async def tf_predict(name: str, body: TFServingRequest) -> dict:
        check_model_name(name)
        blobs = instance_images(body.instances, settings.max_batch_images, settings.max_upload_bytes)
        check_request_pixels(blobs, settings.max_request_pixels)
        crops = [await to_array(data, f"instances[{i}]") for i, data in enumerate(blobs)]
        return {"predictions": [tf_prediction(p) for p in await recognize(crops)]}

    @app.get("/v1/models/{name}", responses={404: {"model": ErrorOut}}, summary="TensorFlow Serving model status")
    async def tf_status(name: str) -> dict:
        check_model_name(name)
        return {"model_version_status": [{"version": "1", "state": "AVAILABLE",
                                          "status": {"error_code": "OK", "error_message": ""}}]}

    @app.get("/healthz", summary="The process is up")
    async def healthz() -> dict:
        return {"status": "ok"}

    @app.get("/readyz", responses={503: {"model": ErrorOut}}, summary="The model is loaded and serving")
    async def readyz() -> Any:
        if not batcher.running:
            return error_response(503, "model not ready")
        return {"status": "ready", "model": model_name}

    @app.get("/metrics", summary="Prometheus metrics", response_class=Response)
    async def prometheus() -> Response:
        return Response(metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    @app.get("/", include_in_schema=False)
    async def page() -> HTMLResponse:
        return HTMLResponse((STATIC / "index.html").read_text(encoding="utf-8"))

    # API docs from files in the package (Swagger UI's own CDN is unreachable offline or behind a firewall)
    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        from fastapi.openapi.docs import get_swagger_ui_html

        return get_swagger_ui_html(openapi_url=app.openapi_url or "/openapi.json", title="textrec API",
                                   swagger_js_url="docs/swagger-ui-bundle.js", swagger_css_url="docs/swagger-ui.css",
                                   swagger_favicon_url="data:,")

    @app.get("/docs/{name}", include_in_schema=False)
    async def docs_asset(name: str) -> Response:
        if name not in DOCS_ASSETS:
            raise RequestError(404, f"no such file: /docs/{name}")
        return Response((STATIC / "docs" / name).read_bytes(), media_type=DOCS_ASSETS[name],
                        headers={"Cache-Control": "public, max-age=86400"})

    @app.get("/info", summary="Model and limits, for clients and the web page")
    async def info() -> dict:
        return {"model": model_name, "version": __version__, "api_key_required": bool(settings.api_key),
                "max_upload_bytes": settings.max_upload_bytes, "max_pixels": settings.max_pixels,
                "max_batch_images": settings.max_batch_images, "charset_size": len(recognizer.charset.chars)}

    return Guard(app, settings, metrics)  # type: ignore[return-value]


def limit_malloc_arenas(arenas: int = 2) -> None:
    """glibc gives each thread that allocates its own malloc arena and keeps freed memory in it; with
    onnxruntime's, the decoders' and the server's threads, resident memory doubled over a 10,000-request load
    test. Two arenas keep it flat (benchmarks/SERVING.md). Same as MALLOC_ARENA_MAX=2; no-op off glibc."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").mallopt(-8, arenas)  # -8 = M_ARENA_MAX
    except (OSError, AttributeError):
        pass


def warm_up(recognizer, batch_size: int) -> None:
    """Before the first request: the network runs one full batch of narrow and one of wide inputs, so the
    runtime's buffers reach their working size now rather than under load, and one small crop goes through the
    whole reading path (decoder, retry, fallback model loaded). Only the network sees the full batches: blank
    crops read unsure, and reading a batch of them retries and re-reads every one (seconds, not buffers)."""
    import numpy as np

    from textrec.preprocess import pad_batch

    height = recognizer.preprocess.height
    for arrays in ([np.zeros((height, width), np.float32) for width in range(64, 64 + 16 * batch_size, 16)],
                   [np.zeros((height, 1024), np.float32)] * batch_size):
        batch, widths = pad_batch(arrays, recognizer.preprocess)
        if recognizer.attention:
            recognizer.encode(batch)
        else:
            recognizer.logits(batch, widths)
    recognizer.read_arrays([np.zeros((height, 64), np.float32)])


async def client_gone(request: Request, every: float = 0.05) -> None:
    """Returns when the client has hung up (polled: Starlette reports it only when asked)."""
    while not await request.is_disconnected():
        await asyncio.sleep(every)


class BodyTooLarge(Exception):
    """A body over the byte limit (no message) or over the JSON nesting budget (the message says so)."""


class BodyTimeout(Exception):
    pass


def body_refusal(exc: BaseException | None, settings: ServeSettings) -> JSONResponse | None:
    """The answer to a body `Guard` refused while it streamed in (too large, too many JSON objects, too slow),
    wherever the exception surfaces; None for any other exception."""
    if isinstance(exc, BodyTooLarge):
        return error_response(413, str(exc) or f"request body over {settings.max_request_bytes:,} bytes")
    if isinstance(exc, BodyTimeout):
        return error_response(408, f"request body not received within {settings.body_timeout_s:g} s",
                              {"Connection": "close"})
    return None


class Guard:
    """Outermost ASGI layer: refuses bodies over the limit before they are read (Content-Length) or while they
    stream in (chunked), records Prometheus metrics, and turns any unexpected failure into a JSON 500 with a
    log line instead of a dropped connection. It passes attribute access through to the FastAPI app."""

    def __init__(self, app: FastAPI, settings: ServeSettings, metrics: Metrics):
        self.app, self.settings, self.metrics = app, settings, metrics
        self.max_bytes, self.api_key = settings.max_request_bytes, settings.api_key
        self.body_timeout = settings.body_timeout_s
        self.max_json_containers = 4 * settings.max_batch_images + 16  # a request needs a few per image

    def __getattr__(self, name: str) -> Any:
        return getattr(self.app, name)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start, status, started = time.perf_counter(), 500, False
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        try:
            if self.api_key and scope.get("path") not in OPEN_PATHS and not key_matches(
                    headers.get(b"x-api-key", b"").decode("latin-1") or None, self.api_key):
                status = 401  # before a byte of the body is read or parsed
                return await error_response(401, API_KEY_MESSAGE, {"WWW-Authenticate": "APIKey"})(scope, receive, send)
            if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
                status = 413 if length.isdigit() else 400
                message = (f"request body is {int(length):,} bytes; the limit is {self.max_bytes:,}" if status == 413
                           else "bad Content-Length header")
                return await error_response(status, message)(scope, receive, send)
            received, deadline = 0, time.monotonic() + self.body_timeout
            body_done, containers = False, 0
            # A JSON body's objects and arrays are counted as it streams in, before any parsing: 60 MB of `{},`
            # is 20 million Python dicts (gigabytes) once parsed, and no request of ours needs more than a few
            # per image (base64 holds no braces, so the count is of structure, never of image data).
            is_json = b"json" in headers.get(b"content-type", b"")

            async def limited_receive():
                nonlocal received, body_done, containers
                if body_done:  # later calls wait for a disconnect: no deadline on those
                    return await receive()
                try:  # the whole body by the deadline: a byte a minute does not hold a request open
                    message = await asyncio.wait_for(receive(), max(deadline - time.monotonic(), 0.001))
                except asyncio.TimeoutError:
                    raise BodyTimeout from None
                body_done = message.get("type") != "http.request" or not message.get("more_body", False)
                chunk = message.get("body", b"")
                received += len(chunk)
                if received > self.max_bytes:
                    raise BodyTooLarge
                if is_json:
                    containers += chunk.count(b"{") + chunk.count(b"[")
                    if containers > self.max_json_containers:
                        raise BodyTooLarge(f"JSON body with over {self.max_json_containers:,} objects and arrays; "
                                           f"a request needs a few per image")
                return message

            async def recording_send(message):
                nonlocal status, started
                if message["type"] == "http.response.start":
                    status, started = message["status"], True
                await send(message)

            try:
                await self.app(scope, limited_receive, recording_send)
            except (BodyTooLarge, BodyTimeout) as exc:
                refusal = body_refusal(exc, self.settings)
                assert refusal is not None
                status = refusal.status_code
                if not started:
                    await refusal(scope, receive, send)
            except Exception:
                log.exception("unexpected error on %s %s", scope.get("method"), scope.get("path"))
                if not started:
                    await error_response(500, "internal error (logged on the server)")(scope, receive, send)
        finally:
            route = getattr(scope.get("route"), "path", None) or "other"
            self.metrics.observe(route, scope.get("method", ""), status, time.perf_counter() - start)


def app_from_env() -> Any:
    """uvicorn factory for worker processes: settings from TEXTREC_* variables."""
    return create_app(ServeSettings.from_env())
