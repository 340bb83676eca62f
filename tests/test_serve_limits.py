"""Issue 23, what a slow or departed client may cost: a deadline for the request head (uvicorn has none) and one
for the body, a bounded page queue, and queued pages dropped when their client hangs up. Real HTTP on loopback."""
import asyncio
import base64
import io
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tests.serving import running_server
from textrec.serve.app import create_app
from textrec.serve.protocol import HEADER_TIMEOUT_ENV, PROTOCOL
from textrec.serve.settings import ServeSettings


def page_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (400, 300), 255).save(buffer, format="PNG")
    return buffer.getvalue()


def raw_exchange(url: str, data: bytes, wait: float) -> bytes:
    """Sends `data` on a fresh connection, then reads whatever the server says within `wait` seconds."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=wait) as sock:
        sock.sendall(data)
        received = b""
        try:
            while chunk := sock.recv(4096):
                received += chunk
        except socket.timeout:
            pass
        return received


def test_a_request_head_sent_slowly_gets_408_and_the_connection_is_closed(monkeypatch):
    monkeypatch.setenv(HEADER_TIMEOUT_ENV, "1")
    with running_server(create_app(ServeSettings()), http=PROTOCOL) as url:
        start = time.monotonic()
        answer = raw_exchange(url, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ", wait=6)
        assert answer.startswith(b"HTTP/1.1 408") and b"request headers not received within 1 s" in answer
        assert time.monotonic() - start < 5  # closed at the deadline, not by the client giving up
        assert httpx.get(f"{url}/healthz").status_code == 200  # complete requests are unaffected


def test_a_request_body_sent_slowly_gets_408():
    with running_server(create_app(ServeSettings(body_timeout_s=1.0))) as url:
        head = (b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                b"Content-Length: 5000\r\n\r\n--b\r\n")
        answer = raw_exchange(url, head, wait=6)
        assert answer.startswith(b"HTTP/1.1 408") and b"request body not received within 1 s" in answer


class SlowPages:
    """Stands in for the reader's page decision: each page takes `seconds` and is counted."""

    def __init__(self, seconds: float):
        self.seconds, self.calls = seconds, 0

    def __call__(self, image, mode):
        self.calls += 1
        time.sleep(self.seconds)
        return None  # "not a page": the image is then read as a line


@pytest.fixture
def slow_page_server():
    app = create_app(ServeSettings(page_queue_limit=2))
    slow = SlowPages(1.5)
    app.state.reader.decide = slow
    with running_server(app) as url:
        yield url, slow, app


def test_the_page_queue_is_bounded(slow_page_server):
    url, slow, _ = slow_page_server

    async def burst():
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            return await asyncio.gather(*(client.post("/predict?mode=page", files={"file": ("p.png", page_png())})
                                          for _ in range(4)))

    statuses = sorted(r.status_code for r in asyncio.run(burst()))
    assert statuses == [200, 200, 503, 503], statuses
    assert slow.calls == 2


def test_a_queued_page_is_dropped_when_its_client_hangs_up(slow_page_server):
    url, slow, app = slow_page_server
    first = threading.Thread(target=lambda: httpx.post(f"{url}/predict?mode=page", timeout=30,
                                                       files={"file": ("p.png", page_png())}))
    first.start()
    time.sleep(0.3)  # the first page is being read; the next one waits in the queue...
    with pytest.raises(httpx.ReadTimeout):  # ...and its client leaves before its turn
        httpx.post(f"{url}/predict?mode=page", timeout=0.5, files={"file": ("p.png", page_png())})
    first.join()
    time.sleep(0.5)
    assert slow.calls == 1  # the abandoned page was never read
    metrics = httpx.get(f"{url}/metrics").text
    assert "textrec_abandoned_pages_total 1.0" in metrics


def test_a_json_body_of_millions_of_objects_is_refused_while_it_streams_in():
    """60 MB of `{},` under the byte limit was parsed into 20 million dicts (2.4 GB) before the instance count
    was checked (benchmarks/HOSTILE.md); its objects are now counted as the body arrives."""
    with running_server(create_app(ServeSettings())) as url:
        body = b'{"instances": [' + b"{}," * 2_000_000 + b"{}]}"
        response = httpx.post(f"{url}/v1/models/default:predict", content=body, timeout=60,
                              headers={"content-type": "application/json"})
        assert response.status_code == 413 and "objects and arrays" in response.json()["error"]
        image = (Path(__file__).resolve().parents[1] / "examples" / "hello.png").read_bytes()
        good = {"instances": [{"b64": base64.b64encode(image).decode()}] * 64}  # the most a request may hold
        response = httpx.post(f"{url}/v1/models/default:predict", json=good, timeout=60)
        assert response.status_code == 200 and len(response.json()["predictions"]) == 64
