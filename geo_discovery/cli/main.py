"""The ``geo-discovery`` command line: a thin typer + rich face on the library.

Every command takes ``--data-dir`` (env ``GEO_DISCOVERY_DATA_DIR``; default
:func:`geo_discovery.settings.default_data_dir`), the same setting
:meth:`DiscoveryEngine.from_snapshot` and ``geo-discovery serve`` read. One module per
command group: :mod:`.load` (load, validate), :mod:`.snapshots` (snapshots, rollback,
stats, profiles), :mod:`.query`, :mod:`.districts` (districts, catchment), :mod:`.export`
(PostGIS), :mod:`.ranking` (calibrate, evaluate ranking), :mod:`.serve`, :mod:`.warmup` (warm-up);
exit codes and shared options in :mod:`.common`.
"""

from __future__ import annotations

import contextlib
import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated, Any

import typer

from .common import (
    EXIT_CODES_HELP,
    EXIT_ERROR,
    EXIT_INTERNAL,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_REJECTED,
    EXIT_USAGE,
)
from .districts import catchment_command, districts_app
from .export import export
from .load import load, validate
from .query import query_app
from .ranking import calibrate, evaluate_app
from .serve import serve
from .snapshots import profiles, rollback, snapshots, stats
from .warmup import warm_up_command

__all__ = [
    "EXIT_ERROR",
    "EXIT_INTERNAL",
    "EXIT_OK",
    "EXIT_REFUSED",
    "EXIT_REJECTED",
    "EXIT_USAGE",
    "app",
    "main",
]

def _naming_the_value(pydantic_error: Any) -> str:
    """A value typer (≥ 0.2x, through pydantic) could not take, named with why: typer's own
    message says only the why (``Input should be a valid number``), not what was typed."""
    errors = pydantic_error.errors()
    if not errors or "input" not in errors[0]:
        return str(pydantic_error)
    said, given = str(errors[0]["msg"]).removeprefix("Value error, "), errors[0]["input"]
    return said if repr(given) in said else f"{given!r}: {said}"


for _module in ("typer._coercion", "typer._param_types"):  # where typer formats them
    with contextlib.suppress(ImportError):
        _typer_module = importlib.import_module(_module)
        if hasattr(_typer_module, "get_error_msg"):
            setattr(_typer_module, "get_error_msg", _naming_the_value)  # noqa: B010

app = typer.Typer(
    name="geo-discovery",
    help="Discover local merchants: load open data into versioned snapshots and run exact "
    "nearby queries on an H3 index.\n\n"
    "**Example**: geo-discovery load data/sample/helsinki_osm_pois.csv --profile "
    "osm_poi && geo-discovery query nearby --lat 60.1699 --lng 24.9384 -k 5",
    epilog=EXIT_CODES_HELP,
    no_args_is_help=True,
    rich_markup_mode="markdown",
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
for command in (load, validate, export, snapshots, rollback, stats, profiles, serve, calibrate):
    app.command()(command)
app.add_typer(query_app, name="query")
app.add_typer(evaluate_app, name="evaluate")
app.add_typer(districts_app, name="districts")
app.command("catchment")(catchment_command)
app.command("warm-up")(warm_up_command)


@app.callback(invoke_without_command=True)
def _main(
    show_version: Annotated[
        bool, typer.Option("--version", help="Print the version and exit.", is_eager=True)
    ] = False,
) -> None:
    if show_version:
        try:
            typer.echo(f"geo-discovery {version('geo-discovery')}")
        except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
            typer.echo("geo-discovery (not installed)")
        raise typer.Exit()


def main() -> None:  # pragma: no cover - console entry point alternative
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
