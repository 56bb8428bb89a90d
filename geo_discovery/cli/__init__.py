"""The ``geo-discovery`` command line (typer): one module per command group.

``app`` is the typer application (:mod:`geo_discovery.cli.main`); :func:`main` is the
console entry point, which imports it.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .main import app

__all__ = ["app", "main"]

EXIT_INTERRUPTED = 130  # as cli.common's (not imported here: that one loads NumPy)


def main() -> None:
    """``geo-discovery``: the commands import NumPy, pyarrow and numba first (about a
    second); a Ctrl-C then ends with one line and exit 130, not a traceback."""
    try:
        from .main import app
    except KeyboardInterrupt:
        print("interrupted before the command started; nothing was changed", file=sys.stderr)
        raise SystemExit(EXIT_INTERRUPTED) from None
    app()


def __getattr__(name: str) -> Any:
    if name == "app":
        from .main import app

        return app
    raise AttributeError(f"module 'geo_discovery.cli' has no attribute {name!r}")
