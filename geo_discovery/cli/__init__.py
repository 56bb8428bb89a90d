"""The ``geo-discovery`` command line (typer): one module per command group.

``app`` is the typer application (:mod:`geo_discovery.cli.main`); :func:`run` is the
console entry point, which imports it (not ``main``: importing the submodule
:mod:`.main` would replace a function of that name).
"""

from __future__ import annotations

import signal
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .main import app

__all__ = ["app", "run"]

EXIT_INTERRUPTED = 130  # as cli.common's (not imported here: that one loads NumPy)
EXIT_TERMINATED = 143


def run() -> None:
    """``geo-discovery``: the commands import NumPy, pyarrow and numba first (about a
    second); a Ctrl-C then ends with one line and exit 130, not a traceback (a SIGTERM:
    exit 143, as a load stopped by it; it ended the process without a word). A Ctrl-C
    during a command says so (typer exits 130 without a word; a load says itself what it
    left), and one after the command has finished is ignored: its exit code stands."""
    terminated: list[bool] = []

    def on_term(signum: int, frame: Any) -> None:  # systemd, Docker: SIGTERM, not Ctrl-C
        terminated.append(True)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        from .main import app
    except KeyboardInterrupt:
        how = "terminated (SIGTERM)" if terminated else "interrupted"
        print(f"{how} before the command started; nothing was changed", file=sys.stderr)
        raise SystemExit(EXIT_TERMINATED if terminated else EXIT_INTERRUPTED) from None
    finally:  # a command that handles SIGTERM (a load) sets its own
        signal.signal(signal.SIGTERM, previous)
    try:
        app()
    except KeyboardInterrupt:  # outside typer's own handler (while it builds the commands)
        print("interrupted (Ctrl-C)", file=sys.stderr)
        raise SystemExit(EXIT_INTERRUPTED) from None
    except SystemExit as done:  # typer's Exit(130), raised from the KeyboardInterrupt
        if done.code == EXIT_INTERRUPTED and isinstance(
            getattr(done.__context__, "__cause__", None), KeyboardInterrupt
        ):
            print("interrupted (Ctrl-C) before the command finished", file=sys.stderr)
        raise
    finally:  # the work is done (or stopped): exit with what it says
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def __getattr__(name: str) -> Any:
    if name == "app":
        from .main import app

        return app
    raise AttributeError(f"module 'geo_discovery.cli' has no attribute {name!r}")
