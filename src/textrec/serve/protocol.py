"""A deadline for each request's head. uvicorn has none: a client that sends its headers a byte at a time
holds a connection (and a file descriptor) for as long as it likes, and a few hundred such clients lock a
server out. This is uvicorn's own h11 protocol plus a timer from the first byte of a request to the end of its
headers; the body has its own deadline in the app (`Guard`)."""
from __future__ import annotations

import asyncio
import json
import os

from uvicorn.protocols.http.h11_impl import H11Protocol

HEADER_TIMEOUT_ENV = "TEXTREC_HEADER_TIMEOUT_S"  # ServeSettings.header_timeout_s, as its worker processes see it
PROTOCOL = "textrec.serve.protocol:HeaderTimeoutProtocol"  # uvicorn's `http=` (a path: workers import it)


class HeaderTimeoutProtocol(H11Protocol):
    """uvicorn's h11 protocol; a request must send its whole head within TEXTREC_HEADER_TIMEOUT_S seconds."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._head_deadline: asyncio.TimerHandle | None = None
        self.header_timeout = float(os.environ.get(HEADER_TIMEOUT_ENV) or 10.0)
        super().connection_made(transport)
        self._arm()  # a connection that never sends a byte is closed too

    def data_received(self, data: bytes) -> None:
        if self._between_requests() and self._head_deadline is None:
            self._arm()
        super().data_received(data)
        if not self._between_requests():  # the head is complete: the app and the body deadline take over
            self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _between_requests(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    def _arm(self) -> None:
        self._disarm()
        self._head_deadline = self.loop.call_later(self.header_timeout, self._expire)

    def _disarm(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _expire(self) -> None:
        self._head_deadline = None
        if not self._between_requests() or self.transport.is_closing():
            return
        body = json.dumps({"error": f"request headers not received within {self.header_timeout:g} s"}).encode()
        self.transport.write(b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
                             b"connection: close\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body))
        self.transport.close()
