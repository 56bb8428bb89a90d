"""uvicorn's httptools protocol, writing each response in one ``send`` instead of two.

uvicorn writes a response's head when the app sends ``http.response.start`` and its
body at ``http.response.body``: two socket writes, and on loopback two wake-ups of the
client, for every small JSON answer. Profiling the nearby endpoint under wrk put about
a third of the server's time in those two writes. This protocol hands uvicorn a
transport that collects the writes of one event-loop step and sends them together at the
end of the step (``loop.call_soon``), so a small response leaves in one write. Writes
are flushed at once when more than ``_FLUSH_BYTES`` wait, and before ``close``,
``write_eof`` and a protocol switch (WebSocket upgrade). Requests the parser cannot
read (a URL over 64 kB, garbage) are refused in the API's JSON error shape.

``geo-discovery serve`` uses it when httptools is installed (``http="geo_discovery_api.uvicorn_http:
CoalescingHttpToolsProtocol"``).
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["MAX_URL_BYTES", "CoalescingHttpToolsProtocol", "CoalescingTransport"]

_FLUSH_BYTES = 64 * 1024
# httptools' URL parser keeps offsets in 16 bits: a longer URL cannot be parsed at all.
MAX_URL_BYTES = 65_535


class CoalescingTransport:
    """A transport proxy that joins the writes of one event-loop step."""

    __slots__ = ("_buf", "_loop", "_scheduled", "_size", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._buf: list[bytes] = []
        self._size = 0
        self._scheduled = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        self._buf.append(bytes(data))
        self._size += len(data)
        if self._size >= _FLUSH_BYTES:
            self.flush()
        elif not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._scheduled_flush)

    def _scheduled_flush(self) -> None:
        self._scheduled = False
        self.flush()

    def flush(self) -> None:
        if not self._buf:
            return
        data = self._buf[0] if len(self._buf) == 1 else b"".join(self._buf)
        self._buf.clear()
        self._size = 0
        if not self._transport.is_closing():
            self._transport.write(data)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def abort(self) -> None:
        self._buf.clear()
        self._size = 0
        self._transport.abort()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.flush()
        self._transport.set_protocol(protocol)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """:class:`HttpToolsProtocol` over a :class:`CoalescingTransport`, whose refusals of
    unparseable requests have the API's JSON error shape (``detail``, ``errors``): a URL
    too long for the parser (httptools reads at most ``MAX_URL_BYTES``) gets ``414``,
    any other malformed request ``400``, both ``application/json``."""

    def send_400_response(self, msg: str) -> None:
        url_bytes = len(getattr(self, "url", b""))
        if url_bytes > MAX_URL_BYTES:
            status, reason = 414, b"URI Too Long"
            detail = (
                f"the request URL is {url_bytes} bytes long; allowed: at most {MAX_URL_BYTES} "
                "(send large polygons in a POST body)"
            )
        else:
            status, reason = 400, b"Bad Request"
            detail = f"{msg.rstrip('.')}; allowed: a well-formed HTTP/1.1 request"
        body = orjson.dumps({"detail": detail, "errors": []})
        head = [b"HTTP/1.1 %d %s\r\n" % (status, reason)]
        head += [
            name + b": " + value + b"\r\n" for name, value in self.server_state.default_headers
        ]
        head.append(b"content-type: application/json\r\ncontent-length: %d\r\n" % len(body))
        self.transport.write(b"".join(head) + b"connection: close\r\n\r\n" + body)
        self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]
