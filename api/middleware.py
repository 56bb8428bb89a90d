"""Pure ASGI middleware (no per-request task or thread overhead)."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.middleware.gzip import GZipMiddleware, GZipResponder, IdentityResponder

from .errors import allowed_methods, error_body
from .metrics import ASGIApp, Message, Receive, Scope, Send
from .responses import JSONResponse, accepts_gzip

__all__ = ["BodySizeLimitMiddleware", "GzipMiddleware", "MethodsMiddleware"]


# A refused body is still read (and dropped) up to this many bytes before the 413 goes
# out: a server that answers and closes while the client is still sending resets the
# connection, and browsers and urllib then show a network error instead of the 413.
_DRAIN_BYTES = 64 * 1024 * 1024


class BodySizeLimitMiddleware:
    """Refuse request bodies larger than ``max_bytes`` with 413, before any parsing.

    A declared ``Content-Length`` over the limit is refused without parsing; a chunked
    body is refused as soon as it passes the limit. Either way the rest of the body is
    read and dropped first (up to ``_DRAIN_BYTES``; not with ``Expect: 100-continue``,
    whose client waits for an answer before sending), so the client, having finished
    sending, reads the 413 JSON answer rather than a reset connection.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def _refuse(
        self, scope: Scope, receive: Receive, send: Send, *, drained: int, more: bool
    ) -> None:
        headers = dict(scope.get("headers", ()))
        if more and headers.get(b"expect", b"").lower() != b"100-continue":
            while drained <= _DRAIN_BYTES:
                message = await receive()
                if message["type"] != "http.request":
                    return  # the client went away: nobody to answer
                drained += len(message.get("body", b""))
                if not message.get("more_body", False):
                    break
        body = error_body(
            f"request body is larger than {self.max_bytes} bytes; allowed: at most "
            f"{self.max_bytes} (api_max_body_bytes setting)"
        )
        response = JSONResponse(body, status_code=413)
        if drained > _DRAIN_BYTES:
            response.headers["Connection"] = "close"
        await response(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared > self.max_bytes:
                    await self._refuse(scope, receive, send, drained=0, more=True)
                    return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break  # client went away
            chunk = message.get("body", b"")
            size += len(chunk)
            more = bool(message.get("more_body", False))
            if size > self.max_bytes:
                await self._refuse(scope, receive, send, drained=size, more=more)
                return
            chunks.append(chunk)
            if not more:
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class MethodsMiddleware:
    """``HEAD`` wherever ``GET`` works, and ``OPTIONS`` answered for every existing route.

    * ``HEAD`` runs as ``GET`` (the same status and headers, ``Content-Length`` included)
      and the body is dropped on the way out, so every GET route (and the nearby fast
      lane) answers it without declaring it.
    * ``OPTIONS`` (a CORS preflight when CORS is off, or a plain ``OPTIONS``) on a path
      that a route serves gets ``204`` with ``Allow`` listing its methods, never ``405``;
      on an unknown path it goes on to the app's ``404``. With CORS configured, Starlette's
      ``CORSMiddleware`` (outside this one) answers preflights first.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope.get("method") if scope["type"] == "http" else None
        if method == "HEAD":
            await self.app({**scope, "method": "GET"}, receive, _without_body(send))
            return
        if method == "OPTIONS":
            allowed = allowed_methods(scope)
            if allowed:
                header = ", ".join(sorted(allowed)).encode()
                await send(
                    {
                        "type": "http.response.start",
                        "status": 204,
                        "headers": [(b"allow", header)],
                    }
                )
                await send({"type": "http.response.body", "body": b""})
                return
        await self.app(scope, receive, send)


def _without_body(send: Send) -> Send:
    async def send_head(message: Message) -> None:
        if message["type"] == "http.response.body":
            message = {"type": "http.response.body", "body": b"", "more_body": False}
            if done:
                return
            done.append(True)
        await send(message)

    done: list[bool] = []
    return send_head


class GzipMiddleware(GZipMiddleware):
    """Starlette's gzip, compressing only for a client whose ``Accept-Encoding`` accepts
    it (:func:`~.responses.accepts_gzip`: ``gzip;q=0`` refuses, ``GZIP`` accepts);
    Starlette looks for the letters "gzip" anywhere in the header."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        responder: ASGIApp
        if accepts_gzip(Headers(scope=scope).get("accept-encoding", "")):
            responder = GZipResponder(
                self.app, self.minimum_size, compresslevel=self.compresslevel,
                thread_minimum_size=self.thread_minimum_size,
                exclude_content_types=self.exclude_content_types,
            )  # fmt: skip
        else:
            responder = IdentityResponder(
                self.app, self.minimum_size, exclude_content_types=self.exclude_content_types
            )
        await responder(scope, receive, send)
