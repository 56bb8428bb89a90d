"""The ``geo-discovery`` command line: a thin typer + rich face on pipeline, store and engine.

Every command takes ``--data-dir`` (env ``GEO_DISCOVERY_DATA_DIR``; default
:func:`geo_discovery.settings.default_data_dir`), the same setting
:meth:`DiscoveryEngine.from_snapshot` and ``geo-discovery serve`` read.

Exit codes
----------
0  success (rejected rows are reported, and written to a rejects file, but are not fatal)
1  error: a :class:`~geo_discovery.errors.GeoDiscoveryError` (bad query value, missing
   snapshot, unreadable file…), an invalid setting or an OS error, printed as one line
   on stderr, never a traceback
2  usage error: unknown option, missing argument, a FILE that does not exist (click)
3  ``--strict`` and rows were rejected: nothing was published
4  the load was refused because it would lose served data (no merchant left, or a
   replace dropping more than ``load_max_shrink``): nothing was published
70 internal error (a bug): one line on stderr naming a log file with the details; a load
   that hits one publishes nothing
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from ..errors import GeoDiscoveryError, LoadRefusedError, RejectedRowsError
from ..settings import Settings

if TYPE_CHECKING:
    from ..engine import DiscoveryEngine, Results
    from ..ingest import IngestResult
    from ..snapshot.pipeline import LoadReport

__all__ = [
    "EXIT_ERROR",
    "EXIT_INTERNAL",
    "EXIT_OK",
    "EXIT_REFUSED",
    "EXIT_REJECTED",
    "EXIT_USAGE",
    "app",
]

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_REJECTED, EXIT_REFUSED = 0, 1, 2, 3, 4
EXIT_INTERNAL = 70  # sysexits' EX_SOFTWARE

EXIT_CODES_HELP = (
    "**Exit codes**: 0 success (rejected rows are reported but not fatal) · "
    "1 error (one line on stderr, no traceback) · 2 usage error · "
    "3 --strict and rows were rejected (nothing published) · "
    "4 load refused: it would publish no merchant or drop too many (nothing published) · "
    "70 internal error (details in the log file the message names)."
)

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
query_app = typer.Typer(
    help="Query the current snapshot: nearby (k nearest), radius, bbox, polygon.\n\n"
    "**Example**: geo-discovery query nearby --lat 40.7580 --lng -73.9855 -k 5",
    epilog=EXIT_CODES_HELP,
    no_args_is_help=True,
    rich_markup_mode="markdown",
)
app.add_typer(query_app, name="query")


def _register_district_commands() -> None:
    """``districts …`` and ``catchment`` live in :mod:`geo_discovery.cli.districts`."""
    from .districts import catchment_command, districts_app

    app.add_typer(districts_app, name="districts")
    app.command("catchment")(catchment_command)


# ----------------------------------------------------------------- shared options
DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        envvar="GEO_DISCOVERY_DATA_DIR",
        help="Folder of the snapshot store (snapshots/ + CURRENT). Default: "
        "$GEO_DISCOVERY_DATA_DIR, else $XDG_DATA_HOME/geo-discovery "
        "(~/.local/share/geo-discovery).",
        show_default=False,
    ),
]
LatOption = Annotated[float, typer.Option("--lat", help="Latitude in degrees, -90..90.")]
LngOption = Annotated[float, typer.Option("--lng", help="Longitude in degrees, -180..180.")]
CategoryOption = Annotated[
    list[str] | None,
    typer.Option(
        "--category",
        "-c",
        help="Keep only this category path prefix (repeatable or comma-separated), "
        "e.g. food/restaurant.",
    ),
]
ExcludeOption = Annotated[
    list[str] | None,
    typer.Option("--exclude-category", help="Drop this category path prefix (repeatable)."),
]
GeoJSONOption = Annotated[
    bool, typer.Option("--geojson", help="Print a GeoJSON FeatureCollection instead of a table.")
]
LimitOption = Annotated[
    int, typer.Option("--limit", "-n", help="Most results to return (<= max_k setting).")
]


class LoadMode(StrEnum):
    """``--mode`` choices (member names are upper case: ``str.replace`` is taken)."""

    REPLACE = "replace"
    UPSERT = "upsert"
    DELETE = "delete"


class SortOrder(StrEnum):
    """``query nearby --sort`` choices (the engine's sorts)."""

    DISTANCE = "distance"
    BEST_MATCH = "best_match"
    RATING = "rating"
    REVIEW_COUNT = "review_count"
    PRICE = "price"


F = TypeVar("F", bound=Callable[..., Any])


def _one_line(message: object) -> str:
    return " ".join(str(message).split()) or "unknown error"


def _fail(message: object, code: int = EXIT_ERROR) -> typer.Exit:
    typer.echo(f"error: {_one_line(message)}", err=True)
    return typer.Exit(code)


def _handle_errors(fn: F) -> F:
    """Turn library errors into one line on stderr and the documented exit code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except RejectedRowsError as exc:
            raise _fail(exc, EXIT_REJECTED) from None
        except LoadRefusedError as exc:
            raise _fail(exc, EXIT_REFUSED) from None
        except GeoDiscoveryError as exc:
            raise _fail(exc) from None
        except ValidationError as exc:
            problems = "; ".join(
                f"GEO_DISCOVERY_{'.'.join(str(p) for p in e['loc']).upper()}: {e['msg']} "
                f"(got {e.get('input')!r})"
                for e in exc.errors()
            )
            raise _fail(f"invalid setting: {problems}") from None
        except OSError as exc:
            raise _fail(exc) from None
        except (typer.Exit, typer.Abort, KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:  # a bug: one line here, the traceback in a log file
            log = _write_crash_log(exc, kwargs.get("data_dir"))
            raise _fail(
                f"internal error ({type(exc).__name__}: {_one_line(exc)[:200]}); nothing was "
                f"changed in the snapshot store; details in {log}",
                EXIT_INTERNAL,
            ) from None

    return wrapper  # type: ignore[return-value]


def _write_crash_log(exc: BaseException, data_dir: Any) -> Path:
    """Write the traceback of an unexpected error to a log file and return its path.

    The file goes to ``DATA_DIR/logs/`` (the ``--data-dir`` given, else the setting),
    falling back to the system temporary folder when that is not writable.
    """
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    text = (
        f"geo-discovery internal error at {stamp}\n"
        f"command: {' '.join(sys.argv)}\n\n"
        + "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    )
    folders: list[Path] = []
    with contextlib.suppress(Exception):  # an invalid setting must not hide the error
        folders.append(Path(data_dir or Settings().data_dir) / "logs")
    folders.append(Path(tempfile.gettempdir()))
    for folder in folders:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"geo-discovery-error-{stamp}.log"
            path.write_text(text)
            return path
        except OSError:
            continue
    return Path("(no writable log folder)")  # pragma: no cover - every folder failed


def _settings(data_dir: Path | None) -> Settings:
    """Settings from the environment, with ``--data-dir`` taking precedence."""
    return Settings(data_dir=data_dir) if data_dir is not None else Settings()


def _stdout() -> Console:
    """The console for results. Off a terminal (pipes, logs, CI) tables get 160 columns
    unless ``COLUMNS`` says otherwise, so names are not squeezed to a few letters."""
    console = Console(highlight=False, soft_wrap=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(highlight=False, soft_wrap=False, width=160)
    return console


def _stderr() -> Console:
    return Console(stderr=True, highlight=False)


def _human_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"  # pragma: no cover


class _StageProgress:
    """A rich progress display driven by ``progress(stage, done, total)`` callbacks.

    One bar per stage (read shows bytes). Drawn on stderr, and only on a terminal: in a
    pipe or a test the summary is printed all the same.
    """

    def __init__(self, console: Console) -> None:
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description:<8}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            console=console,
            disable=not console.is_terminal,
        )
        self.tasks: dict[str, TaskID] = {}

    def __enter__(self) -> _StageProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def __call__(self, stage: str, done: int, total: int) -> None:
        total = max(int(total), 1)
        detail = f"{_human_bytes(done)} / {_human_bytes(total)}" if stage == "read" else ""
        if stage not in self.tasks:
            self.tasks[stage] = self.progress.add_task(stage, total=total, detail=detail)
        self.progress.update(self.tasks[stage], completed=done, total=total, detail=detail)


# ------------------------------------------------------------------- summaries
def _source_label(source: Any) -> str:
    """A file name for a source record (dataclass, dict from a manifest, or str)."""
    if isinstance(source, str):
        return Path(source).name
    fields = source if isinstance(source, dict) else vars(source)
    for key in ("name", "file", "path", "source_file"):
        if fields.get(key):
            return Path(str(fields[key])).name
    return str(source)


def _source_counts(source: Any) -> tuple[Any, Any, Any]:
    fields = source if isinstance(source, dict) else vars(source)
    return (
        fields.get("rows_read", "?"),
        fields.get("rows_loaded", "?"),
        fields.get("rows_rejected", "?"),
    )


def _fmt(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def _print_ingest_summary(
    console: Console,
    *,
    sources: Sequence[Any],
    reject_summary: Any,
    rows_read: int,
    rows_loaded: int,
    rows_rejected: int,
) -> None:
    if sources:
        table = Table(title="Sources")
        table.add_column("file")
        table.add_column("profile")
        for col in ("read", "loaded", "rejected"):
            table.add_column(col, justify="right")
        for s in sources:
            fields = s if isinstance(s, dict) else vars(s)
            table.add_row(
                _source_label(s),
                str(fields.get("profile") or ""),
                *(_fmt(v) for v in _source_counts(s)),
            )
        console.print(table)
    if reject_summary is not None and len(reject_summary):
        table = Table(title="Rejected rows by reason")
        headers = {"source_file": "file", "reason_kind": "reason"}
        for c in (str(c) for c in reject_summary.columns):
            table.add_column(headers.get(c, c), justify="right" if c == "rows" else "left")
        for row in reject_summary.itertuples(index=False):
            table.add_row(*(_fmt(v) for v in row))
        console.print(table)
    console.print(f"rows read {rows_read} = loaded {rows_loaded} + rejected {rows_rejected}")


@contextlib.contextmanager
def _summary_on_refusal(console: Console, data_dir: Path) -> Iterator[None]:
    """Print the load's tables when it is refused (``--strict``, data-loss rules) too."""
    try:
        yield
    except (RejectedRowsError, LoadRefusedError) as exc:
        if exc.report is not None:
            _print_load_report(console, exc.report, data_dir)
        raise


def _print_load_report(console: Console, report: LoadReport, data_dir: Path) -> None:
    ingest = report.ingest
    _print_ingest_summary(
        console,
        sources=ingest.sources if ingest is not None else [],
        reject_summary=report.reject_summary,
        rows_read=report.rows_read,
        rows_loaded=report.rows_loaded,
        rows_rejected=report.rows_rejected,
    )
    if report.rejects_path is not None:
        console.print(f"rejects file: {report.rejects_path}")
    if report.snapshot is not None:
        console.print(
            f"published snapshot {report.snapshot.name} ({report.mode}, "
            f"{report.merchants_total:,} merchants) in {data_dir}"
        )
    if report.pruned:
        console.print(f"pruned old snapshots: {', '.join(report.pruned)}")


# --------------------------------------------------------------------- commands
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


@app.command()
@_handle_errors
def load(
    files: Annotated[
        list[Path],
        typer.Argument(
            help="Input files: CSV (any delimiter/encoding, .gz/.zip), GeoJSON, GeoParquet, "
            "GeoPackage/Shapefile. With --mode delete: id lists.",
            exists=True,
            dir_okay=False,
            show_default=False,
            metavar="FILE",
        ),
    ],
    profile: Annotated[
        str | None,
        typer.Option(
            "--profile",
            "-p",
            help="Ingest profile (see `geo-discovery profiles`). Default: detected.",
        ),
    ] = None,
    mapping: Annotated[
        Path | None,
        typer.Option(
            "--mapping",
            help="Declarative column mapping file (JSON or TOML; see README) for other schemas.",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    mode: Annotated[
        LoadMode,
        typer.Option(
            "--mode",
            help="replace: the snapshot holds exactly these rows; upsert: replace same-id "
            "merchants and add new ones; delete: FILEs list merchant_ids to remove.",
        ),
    ] = LoadMode.REPLACE,
    rejects: Annotated[
        Path | None,
        typer.Option(
            "--rejects",
            help="Write rejected rows here (.csv or .parquet). Default: "
            "DATA_DIR/rejects/<time>-<mode>.csv when any row is rejected.",
            dir_okay=False,
        ),
    ] = None,
    strict: Annotated[
        bool,
        typer.Option("--strict", help="Fail (exit 3, publish nothing) if any row is rejected."),
    ] = False,
    bbox: Annotated[
        str | None,
        typer.Option(
            "--bbox",
            help="Expected area west,south,east,north: rows outside it are rejected.",
            metavar="W,S,E,N",
        ),
    ] = None,
    resolution: Annotated[
        int | None,
        typer.Option(
            "--resolution",
            min=0,
            max=15,
            help="H3 resolution of the index. Default: index_resolution setting, else "
            "chosen from the data's density.",
        ),
    ] = None,
    allow_empty: Annotated[
        bool,
        typer.Option(
            "--allow-empty",
            help="Publish even if no merchant is left (refused by default: exit 4).",
        ),
    ] = False,
    allow_shrink: Annotated[
        bool,
        typer.Option(
            "--allow-shrink",
            help="Publish a replace that drops more than load_max_shrink (default 50 %) of "
            "the current snapshot's merchants (refused by default: exit 4).",
        ),
    ] = False,
    data_dir: DataDirOption = None,
) -> None:
    """Load FILEs into a new snapshot and publish it atomically.

    Reads and validates every row, writes rejected rows (with file, line and reason) to a
    rejects file, prints a summary ("rows read N = loaded L + rejected R") and publishes
    snapshot N+1. A failed or interrupted load leaves the previous snapshot current.

    **Examples**

    * `geo-discovery load data/sample/helsinki_osm_pois.csv --profile osm_poi`
    * `geo-discovery load stores.csv restaurants.csv --mode upsert --rejects rejects.csv --strict`
    * `geo-discovery load closed_ids.txt --mode delete`
    """
    from ..models import BBox
    from ..snapshot.pipeline import load as run_load

    settings = _settings(data_dir)
    expected = BBox.from_string(bbox) if bbox is not None else None
    out = _stdout()
    with _StageProgress(_stderr()) as progress, _summary_on_refusal(out, settings.data_dir):
        report = run_load(
            files,
            data_dir=settings.data_dir,
            mode=mode.value,
            profile=profile,
            mapping=mapping,
            expected_bbox=expected,
            strict=strict,
            rejects_path=rejects,
            resolution=resolution,
            settings=settings,
            progress=progress,
            allow_empty=allow_empty,
            allow_shrink=allow_shrink,
        )
    _print_load_report(out, report, settings.data_dir)


@app.command()
@_handle_errors
def validate(
    files: Annotated[
        list[Path],
        typer.Argument(
            help="Input files, as for `load`.", exists=True, dir_okay=False, metavar="FILE"
        ),
    ],
    profile: Annotated[
        str | None, typer.Option("--profile", "-p", help="Ingest profile. Default: detected.")
    ] = None,
    mapping: Annotated[
        Path | None,
        typer.Option(
            "--mapping", help="Declarative column mapping file (JSON or TOML).", exists=True
        ),
    ] = None,
    rejects: Annotated[
        Path | None,
        typer.Option(
            "--rejects", help="Write rejected rows here (.csv or .parquet).", dir_okay=False
        ),
    ] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit 3 if any row would be rejected.")
    ] = False,
    bbox: Annotated[
        str | None,
        typer.Option("--bbox", help="Expected area west,south,east,north.", metavar="W,S,E,N"),
    ] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Dry run: read and validate FILEs, print the summary, publish nothing.

    Same checks and summary as `load`; the snapshot store is never touched. Rejected rows
    go to --rejects if given.

    **Examples**

    * `geo-discovery validate data/sample/helsinki_osm_pois.csv --profile osm_poi`
    * `geo-discovery validate new_stores.csv --rejects /tmp/rejects.csv --strict`
    """
    from ..ingest import read_sources
    from ..models import BBox

    _settings(data_dir)  # invalid settings fail the same way as for load
    expected = BBox.from_string(bbox) if bbox is not None else None
    out = _stdout()
    with _StageProgress(_stderr()) as progress:
        result: IngestResult = read_sources(
            files,
            profile=profile,
            mapping=mapping,
            expected_bbox=expected,
            progress=lambda done, total: progress("read", done, total),
        )
    _print_ingest_summary(
        out,
        sources=result.sources,
        reject_summary=result.reject_summary(),
        rows_read=result.rows_read,
        rows_loaded=result.rows_loaded,
        rows_rejected=result.rows_rejected,
    )
    if rejects is not None:
        result.write_rejects(rejects)
        out.print(f"rejects file: {rejects}")
    out.print("dry run: nothing was published")
    if strict and result.rows_rejected:
        raise _fail(
            f"--strict: {result.rows_rejected} of {result.rows_read} rows would be rejected",
            EXIT_REJECTED,
        )


@app.command()
@_handle_errors
def snapshots(data_dir: DataDirOption = None) -> None:
    """List the snapshots kept in the data dir, oldest first; * marks the current one.

    **Example**

    * `geo-discovery snapshots --data-dir ./data/store`
    """
    from ..snapshot.store import SnapshotStore

    settings = _settings(data_dir)
    snaps = SnapshotStore(settings.data_dir).list()
    out = _stdout()
    if not snaps:
        out.print(f"no snapshots in {settings.data_dir}; run `geo-discovery load FILE`")
        return
    table = Table(title=f"Snapshots in {settings.data_dir}")
    for col, right in (
        ("id", False),
        ("current", False),
        ("created", False),
        ("mode", False),
        ("merchants", True),
        ("read", True),
        ("loaded", True),
        ("rejected", True),
        ("sources", False),
    ):
        table.add_column(col, justify="right" if right else "left")
    for s in snaps:
        m = s.manifest
        rows = m.get("rows", {})
        table.add_row(
            s.name,
            "*" if s.is_current else "",
            str(m.get("created_at", "")).replace("T", " ")[:19],
            str(m.get("mode", "")),
            *(_fmt(rows.get(k, "")) for k in ("merchants", "read", "loaded", "rejected")),
            ", ".join(_source_label(x) for x in m.get("sources", [])),
        )
    out.print(table)


@app.command()
@_handle_errors
def rollback(
    to: Annotated[
        int | None,
        typer.Option("--to", help="Snapshot id to make current. Default: the one before current."),
    ] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Make an older snapshot current again (atomically; nothing is deleted).

    **Examples**

    * `geo-discovery rollback`
    * `geo-discovery rollback --to 3 --data-dir ./data/store`
    """
    from ..snapshot.store import SnapshotStore

    store = SnapshotStore(_settings(data_dir).data_dir)
    before = store.current_name()
    info = store.rollback(to)
    _stdout().print(f"current snapshot: {info.name} (was {before})")


@app.command()
@_handle_errors
def stats(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
    data_dir: DataDirOption = None,
) -> None:
    """Counts per source and top-level category, bounds and index facts of the current snapshot.

    **Examples**

    * `geo-discovery stats`
    * `geo-discovery stats --json --data-dir ./data/store`
    """
    engine = _engine(data_dir)
    facts = engine.stats()
    if engine.snapshot is not None:
        rows = engine.snapshot.manifest.get("rows", {})
        facts["rows"] = rows
    if as_json:
        typer.echo(json.dumps(facts, indent=2, default=str))
        return
    out = _stdout()
    out.print(
        f"snapshot {facts['snapshot']}: {facts['merchants']:,} merchants, "
        f"{facts['categories']:,} categories"
    )
    if facts.get("bounds"):
        b = facts["bounds"]
        out.print(
            f"bounds: south {b['south']:.5f}, west {b['west']:.5f}, "
            f"north {b['north']:.5f}, east {b['east']:.5f}"
        )
    idx = facts["index"]
    out.print(
        f"index: H3 resolution {idx['resolution']}, {idx['cells']:,} cells, "
        f"{idx['bytes_per_merchant']:.0f} bytes/merchant"
    )
    for title, key, header in (
        ("Merchants by source", "sources", "source"),
        ("Top-level categories", "top_categories", "category"),
    ):
        table = Table(title=title)
        table.add_column(header)
        table.add_column("merchants", justify="right")
        for name, n in facts[key].items():
            table.add_row(name, _fmt(n))
        out.print(table)


@app.command()
@_handle_errors
def profiles(data_dir: DataDirOption = None) -> None:
    """List the built-in ingest profiles (what `load --profile` accepts).

    **Example**

    * `geo-discovery profiles`
    """
    from ..ingest import list_profiles

    _settings(data_dir)
    table = Table(title="Ingest profiles")
    table.add_column("profile")
    table.add_column("description")
    for p in list_profiles():
        table.add_row(p.name, p.description)
    _stdout().print(table)


@app.command()
@_handle_errors
def serve(
    host: Annotated[str, typer.Option("--host", help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port.", min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option("--workers", help="Worker processes.", min=1)] = 1,
    data_dir: DataDirOption = None,
) -> None:
    """Serve the HTTP API (FastAPI + uvicorn) over the data dir's current snapshot.

    Needs the api extra: pip install -e '.[api]'.

    **Example**

    * `geo-discovery serve --data-dir ./data/store --port 8000`
    """
    settings = _settings(data_dir)
    try:
        from geo_discovery_api.app import serve as run_server
    except ImportError as exc:
        raise _fail(
            f"the HTTP API is not available ({exc}); install it with pip install -e '.[api]'"
        ) from None
    run_server(settings.data_dir, host, port, workers)


# ----------------------------------------------------------------------- query
def _engine(data_dir: Path | None) -> DiscoveryEngine:
    from ..engine import DiscoveryEngine

    settings = _settings(data_dir)
    return DiscoveryEngine.from_snapshot(settings.data_dir, settings=settings)


def _categories(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    return [c for v in values for c in v.split(",") if c.strip()]


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def _emit(results: Results, title: str, geojson: bool) -> None:
    if geojson:
        collection = _clean(results.to_geojson())
        collection["snapshot"] = results.snapshot_version
        typer.echo(json.dumps(collection, ensure_ascii=False, allow_nan=False))
        return
    out = _stdout()
    table = Table(
        title=title, caption=f"{len(results)} results · snapshot {results.snapshot_version}"
    )
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("distance_m", justify="right", no_wrap=True)
    table.add_column("name", ratio=3)
    table.add_column("category", ratio=2)
    table.add_column("address", ratio=3)
    table.add_column("merchant_id", ratio=2, overflow="fold")
    scored = results.scores is not None
    if scored:
        table.add_column("score", justify="right", no_wrap=True)
    for i, hit in enumerate(results.hits, 1):
        row = [
            str(i),
            f"{hit.distance_m:,.1f}",
            hit.name,
            hit.category,
            str(hit.attributes.get("address") or ""),
            hit.merchant_id,
        ]
        if scored:
            row.append(f"{hit.attributes.get('score', float('nan')):.4f}")
        table.add_row(*row)
    out.print(table)


@query_app.command()
@_handle_errors
def nearby(
    lat: LatOption,
    lng: LngOption,
    k: Annotated[
        int, typer.Option("-k", "--k", help="How many nearest merchants (<= max_k).")
    ] = 10,
    radius_m: Annotated[
        float | None, typer.Option("--radius-m", help="Only within this many metres.")
    ] = None,
    category: CategoryOption = None,
    exclude_category: ExcludeOption = None,
    sort: Annotated[
        SortOrder,
        typer.Option(
            "--sort",
            help="distance (exact kNN), best_match (distance decay x word of mouth x "
            "district, see docs/ranking.md), rating, review_count or price (cheap first).",
        ),
    ] = SortOrder.DISTANCE,
    min_rating: Annotated[
        float | None,
        typer.Option("--min-rating", help="Only merchants rated at least this (0-5 stars)."),
    ] = None,
    open_now: Annotated[
        bool, typer.Option("--open-now", help="Only merchants whose opening hours say open now.")
    ] = False,
    geojson: GeoJSONOption = False,
    data_dir: DataDirOption = None,
) -> None:
    """The k merchants nearest to a point (exact haversine; ties by merchant_id).

    With `--sort` other than distance, the k best by that order among the matches
    (within `--radius-m` if given), still exact.

    **Examples**

    * `geo-discovery query nearby --lat 60.1699 --lng 24.9384 -k 5`
    * `geo-discovery query nearby --lat 40.7580 --lng -73.9855 -k 10 --radius-m 500 --category food`
    * `geo-discovery query nearby --lat 40.7580 --lng -73.9855 --sort best_match --open-now`
    * `geo-discovery query nearby --lat 60.1699 --lng 24.9384 --geojson > nearby.geojson`
    """
    engine = _engine(data_dir)
    results = engine.nearby(
        lat,
        lng,
        k,
        radius_m=radius_m,
        categories=_categories(category),
        exclude_categories=_categories(exclude_category),
        sort=sort.value,
        min_rating=min_rating,
        open_now=open_now,
    )
    within = f" within {radius_m:g} m" if radius_m is not None else ""
    order = "nearest" if sort is SortOrder.DISTANCE else f"by {sort.value}"
    _emit(results, f"{k} {order} to ({lat:g}, {lng:g}){within}", geojson)


@query_app.command()
@_handle_errors
def radius(
    lat: LatOption,
    lng: LngOption,
    radius_m: Annotated[float, typer.Option("--radius-m", help="Radius in metres (inclusive).")],
    limit: LimitOption = 50,
    category: CategoryOption = None,
    exclude_category: ExcludeOption = None,
    geojson: GeoJSONOption = False,
    data_dir: DataDirOption = None,
) -> None:
    """Every merchant within --radius-m metres of a point, nearest first (up to --limit).

    **Example**

    * `geo-discovery query radius --lat 60.1699 --lng 24.9384 --radius-m 250 --limit 20`
    """
    engine = _engine(data_dir)
    results = engine.within_radius(
        lat,
        lng,
        radius_m,
        limit=limit,
        categories=_categories(category),
        exclude_categories=_categories(exclude_category),
    )
    _emit(results, f"within {radius_m:g} m of ({lat:g}, {lng:g})", geojson)


@query_app.command()
@_handle_errors
def bbox(
    box: Annotated[
        str,
        typer.Option(
            "--bbox",
            help="west,south,east,north in degrees (west > east crosses the antimeridian).",
            metavar="W,S,E,N",
        ),
    ],
    limit: LimitOption = 50,
    category: CategoryOption = None,
    exclude_category: ExcludeOption = None,
    geojson: GeoJSONOption = False,
    data_dir: DataDirOption = None,
) -> None:
    """Every merchant inside a box, nearest to its centre first (up to --limit).

    **Example**

    * `geo-discovery query bbox --bbox 24.93,60.165,24.95,60.175 --limit 20`
    """
    engine = _engine(data_dir)
    results = engine.within_bbox(
        box,
        limit=limit,
        categories=_categories(category),
        exclude_categories=_categories(exclude_category),
    )
    _emit(results, f"inside bbox {box}", geojson)


@query_app.command()
@_handle_errors
def polygon(
    file: Annotated[
        Path,
        typer.Argument(
            help="GeoJSON file: a Polygon/MultiPolygon geometry or Feature, (lng, lat) order.",
            exists=True,
            dir_okay=False,
        ),
    ],
    limit: LimitOption = 50,
    category: CategoryOption = None,
    exclude_category: ExcludeOption = None,
    geojson: GeoJSONOption = False,
    data_dir: DataDirOption = None,
) -> None:
    """Every merchant inside a GeoJSON polygon (boundary included), up to --limit.

    **Example**

    * `geo-discovery query polygon district.geojson --category food --geojson`
    """
    engine = _engine(data_dir)
    results = engine.within_polygon(
        file.read_text(encoding="utf-8"),
        limit=limit,
        categories=_categories(category),
        exclude_categories=_categories(exclude_category),
    )
    _emit(results, f"inside polygon {file.name}", geojson)


_register_district_commands()


def main() -> None:  # pragma: no cover - console entry point alternative
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
