"""The bare-ASGI ceiling of ``benchmarks/bench_http.py``: a plain ASGI callable that
answers each recorded request path with the bytes ``geo-discovery serve`` sent for it.

It runs on the same uvicorn stack as ``geo-discovery serve`` (the options of
:func:`geo_discovery_api.app.uvicorn_options`: uvloop, the coalescing httptools
protocol, no access log, no server header), so the difference between the two servers
is everything the API does per request: middleware, routing, parsing the query,
validation, the search, serialisation.

The answers file is a pickle of ``{query_string: (status, [(name, value), …], body)}``
(bytes; ``content-length`` included, ``date`` left to uvicorn as in ``serve``).
``/readyz`` answers 200 so the benchmark can wait for it; anything else unrecorded 404.

Example
-------
    python -m benchmarks.bare_asgi --answers answers.pkl --port 8123
"""

from __future__ import annotations

import argparse
import pickle
import sys
from pathlib import Path
from typing import Any

__all__ = ["BareApp", "main"]

Answer = tuple[int, list[tuple[bytes, bytes]], bytes]

_READY: Answer = (200, [(b"content-type", b"application/json"), (b"content-length", b"2")], b"{}")
_MISSING: Answer = (404, [(b"content-length", b"0")], b"")


class BareApp:
    """ASGI app replaying recorded answers by query string (nothing computed per request)."""

    def __init__(self, answers: dict[bytes, Answer]) -> None:
        self.answers = answers

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["path"] == "/readyz":
            status, headers, body = _READY
        else:
            status, headers, body = self.answers.get(scope["query_string"], _MISSING)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    from geo_discovery.settings import get_settings
    from geo_discovery_api.app import uvicorn_options

    p = argparse.ArgumentParser(prog="python -m benchmarks.bare_asgi", description=__doc__)
    p.add_argument("--answers", required=True, help="pickle of recorded answers")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    args = p.parse_args(argv)
    answers = pickle.loads(Path(args.answers).read_bytes())
    uvicorn.run(BareApp(answers), **uvicorn_options(get_settings(), args.host, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
