"""``geo-discovery serve``: the HTTP API over the current snapshot."""

from __future__ import annotations

import socket
from typing import Annotated

import typer

from .common import DataDirOption, fail, handle_errors, settings_for

__all__ = ["serve"]


@handle_errors
def serve(
    host: Annotated[str, typer.Option("--host", help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port.", min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option("--workers", help="Worker processes.", min=1)] = 1,
    data_dir: DataDirOption = None,
    cors_origin: Annotated[
        list[str] | None,
        typer.Option(
            "--cors-origin",
            help="A browser origin allowed by CORS (e.g. https://map.example.com, or * for "
            "any); repeat for several. Adds to the api_cors_origins setting.",
        ),
    ] = None,
) -> None:
    """Serve the HTTP API (FastAPI + uvicorn) over the data dir's current snapshot.

    Needs the api extra: pip install -e '.[api]'.

    **Example**

    * `geo-discovery serve --data-dir ./data/store --port 8000`
    * `geo-discovery serve --cors-origin https://map.example.com` (a web map on another origin)
    """
    settings = settings_for(data_dir)
    try:
        from geo_discovery_api.app import serve as run_server
    except ImportError as exc:
        raise fail(
            f"the HTTP API is not available ({exc}); install it with pip install -e '.[api]'"
        ) from None
    origins = [
        *settings.api_cors_origins,
        *(o for o in cors_origin or () if o not in settings.api_cors_origins),
    ]
    try:
        socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:  # before uvicorn, whose own exit code 3 is --strict's
        raise fail(f"--host {host!r} is not an address to bind ({exc}); allowed: an IP "
                   "address or host name of this machine, e.g. 127.0.0.1 or 0.0.0.0") from None
    try:
        run_server(settings.data_dir, host, port, workers, cors_origins=origins)
    except SystemExit as exc:  # uvicorn could not start (its log above says why): exit 1
        if exc.code not in (None, 0):
            raise fail(
                f"the server did not start on {host}:{port} (the log above says why)"
            ) from None
        raise
