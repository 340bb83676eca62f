"""A real uvicorn server on a free loopback port, in a background thread, for HTTP-level tests."""
from __future__ import annotations

import socket
import threading
import time
from contextlib import contextmanager
from typing import Iterator

import uvicorn


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_server(app, http: str = "auto") -> Iterator[str]:
    """Yields the base URL while the server runs; stops it afterwards. `http`: uvicorn's protocol (what
    `textrec serve` uses is textrec.serve.protocol.PROTOCOL)."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", http=http))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120  # startup loads the models: slow on a loaded 2-core box, not a timing test
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("test server stopped while starting (see its log above)")
        if time.monotonic() > deadline:
            raise RuntimeError("test server did not start within 120 s")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
