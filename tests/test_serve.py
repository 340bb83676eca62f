"""The HTTP API over real HTTP on loopback: answers, TF Serving compatibility, limits and every kind of bad
input (each a 4xx with a JSON message naming the problem), API key, metrics, micro-batching."""
from __future__ import annotations

import asyncio
import base64
import io
import struct
import zlib
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from tests.serving import running_server
from textrec.recognizer import load_recognizer
from textrec.serve.app import create_app, warm_up
from textrec.serve.batching import MicroBatcher
from textrec.serve.settings import ServeSettings

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
HELLO = (EXAMPLES / "hello.png").read_bytes()
LIMITS = dict(max_upload_bytes=200_000, max_request_bytes=1_000_000, max_pixels=4_000_000, max_batch_images=4,
              max_request_pixels=8_000_000)


@pytest.fixture(scope="module")
def base_url():
    with running_server(create_app(ServeSettings(**LIMITS))) as url:
        yield url


@pytest.fixture(scope="module")
def client(base_url):
    with httpx.Client(base_url=base_url, timeout=30) as session:
        yield session


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims a huge size: a decompression bomb's first bytes."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + chunk(b"IEND", b""))


def upload(data: bytes, name: str = "word.png", field: str = "file") -> dict:
    return {field: (name, data, "image/png")}


def test_predict_reads_an_image(client):
    response = client.post("/predict", files=upload(HELLO, "hello.png"))
    assert response.status_code == 200
    body = response.json()
    assert body["text"] == "Hello" and body["model"] == "default"
    assert 0 < body["confidence"] <= 1 and body["elapsed_ms"] > 0
    assert "".join(c["char"] for c in body["chars"]) == "Hello"


def test_batch_reads_each_and_reports_the_bad_one(client):
    station = (EXAMPLES / "station.png").read_bytes()
    files = [("files", ("hello.png", HELLO, "image/png")), ("files", ("junk.png", b"not an image", "image/png")),
             ("files", ("station.png", station, "image/png"))]
    response = client.post("/predict/batch", files=files)
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r.get("text") for r in results] == ["Hello", None, "Station"]
    assert "junk.png" in results[1]["error"] and "not an image" in results[1]["error"]


def test_tf_serving_api(client):
    b64 = base64.b64encode(HELLO).decode()
    response = client.post("/v1/models/default:predict",
                           json={"signature_name": "serving_default",
                                 "instances": [{"b64": b64}, {"image": {"b64": b64}}]})
    assert response.status_code == 200
    assert [p["text"] for p in response.json()["predictions"]] == ["Hello", "Hello"]
    assert client.get("/v1/models/default").json()["model_version_status"][0]["state"] == "AVAILABLE"
    missing = client.post("/v1/models/other:predict", json={"instances": [{"b64": b64}]})
    assert missing.status_code == 404 and "other" in missing.json()["error"]


@pytest.mark.parametrize("data, status, words", [
    (b"\x00garbage bytes\xff" * 10, 415, "not an image"),
    (b"", 422, "empty"),
    (HELLO[: len(HELLO) // 2], 422, "corrupt"),
    # ours, not Pillow's bomb message
    (png_claiming(30_000, 30_000), 413, "word.png is 30000x30000 = 900,000,000 pixels; the limit is"),
    (png_claiming(3_000, 3_000), 413, "limit"),  # past this server's max_pixels
])
def test_bad_images(client, data, status, words):
    response = client.post("/predict", files=upload(data))
    assert response.status_code == status, response.text
    assert words in response.json()["error"]


def test_oversized_upload_and_request(client):
    big = png_bytes(Image.effect_noise((600, 400), 80).convert("L"))
    assert LIMITS["max_upload_bytes"] < len(big) < LIMITS["max_request_bytes"]
    response = client.post("/predict", files=upload(big))
    assert response.status_code == 413 and "limit" in response.json()["error"]
    huge = "A" * 2_000_000  # a huge base64 string: refused from Content-Length, before it is read
    response = client.post("/v1/models/default:predict", json={"instances": [{"b64": huge}]})
    assert response.status_code == 413 and "request body" in response.json()["error"]


def test_chunked_body_over_the_limit(client):
    def chunks():  # a well-formed multipart start, then a file part that never ends within the limit
        yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="x.png"\r\nContent-Type: image/png\r\n\r\n'
        for _ in range(30):
            yield b"x" * 50_000
    response = client.post("/predict", content=chunks(), headers={"content-type": "multipart/form-data; boundary=b"})
    assert response.status_code == 413


def test_wrong_fields_and_content_types(client):
    wrong_field = client.post("/predict", files=upload(HELLO, field="image"))
    assert wrong_field.status_code == 422 and "file" in wrong_field.json()["error"]
    as_json = client.post("/predict", json={"file": "hello"})
    assert as_json.status_code == 415 and "multipart/form-data" in as_json.json()["error"]
    tf_as_form = client.post("/v1/models/default:predict", files=upload(HELLO))
    assert tf_as_form.status_code == 415 and "JSON" in tf_as_form.json()["error"]
    bad_json = client.post("/v1/models/default:predict", content=b"{not json",
                           headers={"content-type": "application/json"})
    assert bad_json.status_code == 422
    no_instances = client.post("/v1/models/default:predict", json={"inputs": []})
    assert no_instances.status_code == 422 and "instances" in no_instances.json()["error"]
    bad_b64 = client.post("/v1/models/default:predict", json={"instances": [{"b64": "%%%"}]})
    assert bad_b64.status_code == 422 and "base64" in bad_b64.json()["error"]
    not_b64_shape = client.post("/v1/models/default:predict", json={"instances": [42]})
    assert not_b64_shape.status_code == 422 and "instances[0]" in not_b64_shape.json()["error"]


def test_too_many_images(client):
    files = [("files", (f"{i}.png", HELLO, "image/png")) for i in range(LIMITS["max_batch_images"] + 1)]
    response = client.post("/predict/batch", files=files)
    assert response.status_code == 413 and "limit" in response.json()["error"]
    b64 = base64.b64encode(HELLO).decode()
    response = client.post("/v1/models/default:predict", json={"instances": [{"b64": b64}] * 5})
    assert response.status_code == 413


def test_health_page_docs_and_metrics(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json()["status"] == "ready"
    assert "<title>textrec</title>" in client.get("/").text
    assert client.get("/docs").status_code == 200
    assert "/predict" in client.get("/openapi.json").json()["paths"]
    assert client.get("/nowhere").status_code == 404
    client.post("/predict", files=upload(HELLO))
    metrics = client.get("/metrics").text
    assert 'textrec_requests_total{method="POST",route="/predict",status="200"}' in metrics
    assert "textrec_request_seconds_bucket" in metrics and "textrec_batch_size_count" in metrics


def test_api_key():
    with running_server(create_app(ServeSettings(api_key="s3cret"))) as url:
        without = httpx.post(f"{url}/predict", files=upload(HELLO))
        assert without.status_code == 401 and "API key" in without.json()["error"]
        wrong = httpx.post(f"{url}/predict", files=upload(HELLO), headers={"X-API-Key": "guess"})
        assert wrong.status_code == 401
        right = httpx.post(f"{url}/predict", files=upload(HELLO), headers={"X-API-Key": "s3cret"})
        assert right.status_code == 200 and right.json()["text"] == "Hello"
        for path in ("/healthz", "/readyz", "/"):  # probes and the web page need no key
            assert httpx.get(f"{url}{path}").status_code == 200, path
        for path in ("/info", "/metrics", "/docs", "/openapi.json", "/v1/models/default"):
            assert httpx.get(f"{url}{path}").status_code == 401, path
        key = {"X-API-Key": "s3cret"}
        assert httpx.get(f"{url}/info", headers=key).json()["api_key_required"] is True
        broken = httpx.post(f"{url}/v1/models/x:predict", content=b"{not json",
                            headers={"content-type": "application/json"})
        assert broken.status_code == 401, "the key is checked before the body is parsed"
        huge = httpx.post(f"{url}/predict", content=b"[" + b"{}," * 2_000_000 + b"{}]",
                          headers={"content-type": "application/json"})
        assert huge.status_code == 401


def test_warm_up_sizes_the_network_on_full_batches_and_reads_one_crop():
    settings = ServeSettings()
    recognizer = load_recognizer(settings.model, settings.backend, batch_size=4)
    shapes: list[tuple] = []
    reads: list[int] = []
    logits, read_arrays = recognizer.logits, recognizer.read_arrays
    recognizer.logits = lambda batch, widths: shapes.append(batch.shape) or logits(batch, widths)
    recognizer.read_arrays = lambda arrays, page=False: reads.append(len(arrays)) or read_arrays(arrays, page)
    warm_up(recognizer, 4)
    height = recognizer.preprocess.height
    assert shapes[0][0] == 4 and shapes[1] == (4, 1, height, 1024), shapes  # the widest buffers, batch-sized
    assert reads == [1], "blank crops read unsure: a batch of them through the reader retries every one"
    assert recognizer._fallback_reader is not None, "the fallback model loads now, not on an unsure request"


def test_concurrent_requests_share_forward_passes():
    calls: list[int] = []

    def run(arrays):
        calls.append(len(arrays))
        return [float(a.sum()) for a in arrays]

    async def scenario():
        batcher = MicroBatcher(run, max_batch=8, wait_ms=200)
        await batcher.start()
        arrays = [np.full((2, 2), i, dtype=np.float32) for i in range(20)]
        results = await asyncio.gather(*(batcher.predict([a]) for a in arrays))
        await batcher.stop()
        return results

    results = asyncio.run(scenario())
    assert [r[0] for r in results] == [4.0 * i for i in range(20)]  # each request gets its own answer
    assert calls == [8, 8, 4]  # bounded batches, not 20 forward passes


def test_batcher_passes_model_errors_to_requests():
    def run(arrays):
        raise RuntimeError("model failed")

    async def scenario():
        batcher = MicroBatcher(run, wait_ms=1)
        await batcher.start()
        with pytest.raises(RuntimeError, match="model failed"):
            await batcher.predict([np.zeros((2, 2))])
        assert batcher.running  # the loop survives for the next request
        await batcher.stop()

    asyncio.run(scenario())


def test_schema_fuzz_finds_no_server_error(base_url):
    """Schemathesis generates requests from the OpenAPI schema, valid and not, for every operation: none may
    get a 5xx. (Its pytest plugin does not load under this pytest, so each operation's strategy runs here.)"""
    import schemathesis
    from hypothesis import HealthCheck, given, settings

    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 7
    seen: dict[int, int] = {}
    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def fuzz(case):
            response = case.call(base_url=base_url, timeout=30)
            seen[response.status_code] = seen.get(response.status_code, 0) + 1
            assert response.status_code < 500, (f"{case.method} {case.path}: {response.status_code} "
                                                f"{response.text[:300]}")

        fuzz()
    print("schema fuzz statuses:", seen)
    assert sum(seen.values()) >= 7 * 10 and any(400 <= code < 500 for code in seen), seen


def test_invented_http_methods_do_not_grow_the_metrics(client):
    before = len(client.get("/metrics").text)
    for i in range(200):
        client.request(f"X{i:04d}FOO", "/predict")
    text = client.get("/metrics").text
    assert "X0001FOO" not in text and 'method="OTHER"' in text
    assert len(text) < before + 2000, "one OTHER series, not one per method name"


def test_a_request_whose_images_declare_too_many_pixels_together_is_refused_from_headers(base_url):
    """64 tiny PNGs each claiming 1999x1999 (under the per-image limit) would decode to 256 M pixels."""
    settings_budget = LIMITS["max_request_pixels"]
    claiming = png_claiming(1999, 1999)
    files = [("files", (f"{i}.png", claiming, "image/png")) for i in range(3)]
    with httpx.Client(base_url=base_url, timeout=30) as session:
        response = session.post("/predict/batch", files=files)
    assert response.status_code == 413 and f"{settings_budget:,} pixels" in response.json()["error"]
