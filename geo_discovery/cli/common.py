"""What every ``geo-discovery`` command shares: options, error handling, consoles.

Exit codes
----------
0  success (rejected rows are reported, and written to a rejects file, but are not fatal)
1  error: a :class:`~geo_discovery.errors.GeoDiscoveryError` (bad query value, missing
   snapshot, unreadable file…), an invalid setting or an OS error, printed as one line
   on stderr, never a traceback
2  usage error: unknown option, missing argument, a FILE that does not exist (click)
3  ``--strict`` and rows were rejected: nothing was published
4  the load was refused because it would lose served data (no merchant left, or a
   replace dropping more than ``load_max_shrink``): nothing was published; or an
   ``export`` of a snapshot of no merchant was refused (the tables stay)
70 internal error (a bug): one line on stderr naming a log file with the details; a load
   that hits one publishes nothing
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import re
import signal
import sys
import tempfile
import threading
import time
import traceback
import typing
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from pydantic import ValidationError
from pydantic_settings import SettingsError
from rich.console import Console

from ..errors import GeoDiscoveryError, LoadRefusedError, RejectedRowsError, SnapshotError
from ..ingest.postgres import masked_text
from ..settings import Settings

if TYPE_CHECKING:
    from ..engine import DiscoveryEngine

__all__ = [
    "EXIT_CODES_HELP",
    "EXIT_ERROR",
    "EXIT_INTERNAL",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_REFUSED",
    "EXIT_REJECTED",
    "EXIT_USAGE",
    "SOURCES_HELP",
    "CategoryOption",
    "DataDirOption",
    "ExcludeOption",
    "GeoJSONOption",
    "JsonOption",
    "LatOption",
    "LimitOption",
    "LngOption",
    "SinceOption",
    "SqlOption",
    "fail",
    "finite_or_none",
    "fmt",
    "handle_errors",
    "human_bytes",
    "input_sources",
    "interrupted_load",
    "one_line",
    "open_engine",
    "output_file",
    "settings_for",
    "stderr_console",
    "stdout_console",
]

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_REJECTED, EXIT_REFUSED = 0, 1, 2, 3, 4
EXIT_INTERRUPTED = 130  #: Ctrl-C (128 + SIGINT, as shells report it)
EXIT_TERMINATED = 143  #: SIGTERM during a load (128 + SIGTERM)
EXIT_INTERNAL = 70  # sysexits' EX_SOFTWARE

EXIT_CODES_HELP = (
    "**Exit codes**: 0 success (rejected rows are reported but not fatal) · "
    "1 error (one line on stderr, no traceback) · 2 usage error · "
    "3 --strict and rows were rejected (nothing published) · "
    "4 load refused: it would publish no merchant or drop too many (nothing published), "
    "or export of a snapshot of no merchant refused · "
    "70 internal error (details in the log file the message names) · "
    "130 interrupted (Ctrl-C; a load says what stays current) · 143 a load stopped by SIGTERM."
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


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


#: The sources ``load`` and ``validate`` read (their FILE arguments).
SOURCES_HELP = (
    "CSV (any delimiter/encoding, .gz/.zip), GeoJSON, GeoParquet, GeoPackage/Shapefile; or "
    "a PostgreSQL table: postgresql://USER@HOST/DB?table=T (or the URL with --sql)."
)

SqlOption = Annotated[
    str | None,
    typer.Option(
        "--sql",
        help="With a postgresql:// URL: the SELECT whose rows to load (instead of ?table=).",
        metavar="\"SELECT …\"",
    ),
]

SinceOption = Annotated[
    str | None,
    typer.Option(
        "--since",
        help="With a postgresql:// source: only rows whose updated_at is later "
        "(incremental upsert); ISO 8601 (2026-03-01, 2026-03-01T12:00:00+02:00), UTC when "
        "naive.",
        metavar="TIMESTAMP",
        show_default=False,
    ),
]


def input_sources(
    files: Sequence[str], sql: str | None, since: str | None, mode: str | None
) -> list[Any]:
    """Paths and PostgreSQL sources of ``load`` (``mode``: its --mode) and ``validate``
    (``None``); usage errors (exit 2) name the problem."""
    from ..errors import DatabaseError
    from ..ingest.postgres import is_postgres_url, parse_pg_url, since_instant

    urls = [f for f in files if is_postgres_url(f)]
    if (sql is not None or since is not None) and not urls:
        raise fail("--sql and --since need a postgresql:// source", EXIT_USAGE)
    if since is not None and mode not in (None, "upsert"):
        raise fail(f"--since loads changed rows only: use it with --mode upsert, not "
                   f"{mode}", EXIT_USAGE)
    if sql is not None and len(urls) > 1:
        raise fail("--sql applies to one postgresql:// source; give one URL", EXIT_USAGE)
    try:
        cut = None if since is None else since_instant(since)
    except DatabaseError as exc:  # not an instant: a usage error naming it
        raise fail(str(exc), EXIT_USAGE) from None
    out: list[Any] = []
    for f in files:
        if is_postgres_url(f):
            out.append(parse_pg_url(f, sql=sql, since=cut))
            continue
        path = Path(f)
        if not path.is_file():
            if path.is_dir():
                what = "is a directory"
            elif path.exists():  # a pipe, /dev/stdin, <(…): read more than once, so not
                what = ("is not a regular file (a pipe or a device); allowed: a file (save "
                        "the stream to one first, e.g. `cat … > shops.csv`)")  # fmt: skip
            else:
                what = "does not exist"
            raise fail(f"Invalid value for 'FILE': File '{f}' {what}.", EXIT_USAGE)
        out.append(path)
    return out


LimitOption = Annotated[
    int, typer.Option("--limit", "-n", help="Most results to return (<= max_k setting).")
]


F = TypeVar("F", bound=Callable[..., Any])


def _flags_show_no_value() -> None:
    """typer (0.29) shows a ``<bool>`` placeholder after every flag in the rich help
    (``--strict <bool>``, ``--help <bool>``), as if it took a value (``--strict true``
    then reads ``true`` as a FILE): a flag shows none, here for every command."""
    option = getattr(typer.core, "TyperOption", None)
    shown = getattr(option, "display_type_rich", None)
    if option is None or shown is None or getattr(shown, "__name__", "") == "no_flag_value":
        return

    def no_flag_value(self: Any, ctx: Any) -> str | None:
        return None if self.is_flag and self.metavar is None else shown(self, ctx)

    setattr(option, "display_type_rich", no_flag_value)  # noqa: B010


_flags_show_no_value()


def one_line(message: object) -> str:
    return " ".join(str(message).split()) or "unknown error"


def fail(message: object, code: int = EXIT_ERROR) -> typer.Exit:
    typer.echo(f"error: {one_line(message)}", err=True)
    return typer.Exit(code)


def output_file(
    path: Path | None, option: str, example: str, suffixes: Sequence[str] = (), hint: str = "",
    inputs: Sequence[Any] = (),
) -> Path | None:
    """Check a file a command will write, before the work, alike for every command: a
    folder is refused, a name not ending in one of ``suffixes`` (when given: the format
    comes from it) too, one of the command's ``inputs`` (under any spelling or link:
    ``load x.csv --rejects x.csv`` replaced the data with its rejects), and a missing
    parent folder is made. ``example``: a file name for the message
    (``districts.geojson``); ``hint`` ends the allowed list.

    Examples
    --------
    >>> output_file(None, "--output", "x.json") is None
    True
    >>> import contextlib, io
    >>> with contextlib.redirect_stderr(io.StringIO()) as err, contextlib.suppress(typer.Exit):
    ...     output_file(Path("."), "--output", "districts.geojson")
    >>> err.getvalue().strip()
    'error: --output . is a folder; allowed: a file path, e.g. districts.geojson'
    """
    if path is None:
        return None
    if path.is_dir():
        raise fail(f"{option} {path} is a folder; allowed: a file path, e.g. {path / example}")
    for given in inputs:
        with contextlib.suppress(OSError, TypeError, ValueError):  # (a URL, a kind's name)
            if path.exists() and os.path.samefile(path, given):
                raise fail(f"{option} {path} is the input file {given}; allowed: another "
                           f"file, e.g. {path.parent / example}")  # fmt: skip
    if suffixes and not path.name.lower().endswith(tuple(suffixes)):
        raise fail(
            f"{option} {path}: the extension {path.suffix or '(none)'!r} names no format; "
            f"allowed: {', '.join(suffixes)}{hint}"
        )
    missing = [f for f in (path.parent, *path.parent.parents) if not f.exists()]
    above = (path.parent, *path.parent.parents)[len(missing)]
    if not above.is_dir():
        raise fail(f"{option} {path}: {above} is a file, not a folder; allowed: a file path "
                   f"in a folder, e.g. {above.parent / example}")  # fmt: skip
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise fail(
            f"{option} {path}: cannot make its folder {path.parent} ({exc.strerror or exc})"
        ) from None
    _MADE.extend(missing)  # deepest first: removed again if the command fails
    return path


#: Folders :func:`output_file` made for the command running, removed (when still empty)
#: if it fails, so a failed command leaves nothing behind.
_MADE: list[Path] = []


def _remove_made() -> None:
    for folder in _MADE:
        with contextlib.suppress(OSError):
            folder.rmdir()  # only if empty
    _MADE.clear()


def handle_errors(fn: F) -> F:
    """Turn library errors into one line on stderr and the documented exit code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        _MADE.clear()
        try:
            return _errors_named(fn, *args, **kwargs)
        except BaseException:
            _remove_made()
            raise

    return wrapper  # type: ignore[return-value]


def _errors_named(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``fn``'s result, its errors as one line and the documented exit code."""
    try:
        return fn(*args, **kwargs)
    except RejectedRowsError as exc:
        raise fail(exc, EXIT_REJECTED) from None
    except LoadRefusedError as exc:
        raise fail(exc, EXIT_REFUSED) from None
    except GeoDiscoveryError as exc:
        raise fail(exc) from None
    except SettingsError as exc:  # a JSON-valued setting that is not JSON
        raise fail(f"invalid setting: {settings_problem(exc)}") from None
    except ValidationError as exc:
        problems = "; ".join(
            f"GEO_DISCOVERY_{'.'.join(str(p) for p in e['loc']).upper()}: {e['msg']} "
            f"(got {e.get('input')!r})"
            for e in exc.errors()
        )
        raise fail(f"invalid setting: {problems}") from None
    except OSError as exc:
        raise fail(exc) from None
    except (typer.Exit, typer.Abort, KeyboardInterrupt, SystemExit):
        raise
    except Exception as exc:  # a bug: one line here, the traceback in a log file
        log = write_crash_log(exc, kwargs.get("data_dir"))
        raise fail(
            f"internal error ({type(exc).__name__}: {one_line(exc)[:200]}); nothing was "
            f"changed in the snapshot store; details in {log}",
            EXIT_INTERNAL,
        ) from None


def settings_problem(exc: Exception) -> str:
    """``GEO_DISCOVERY_NAME: not valid JSON (got '…'); expected …`` for pydantic-settings'
    error on a variable it could not parse (list and mapping settings are read as JSON).

    Examples
    --------
    >>> text = settings_problem(SettingsError('error parsing value for field '
    ...                                       '"api_cors_origins" from source "EnvSettingsSource"'))
    >>> text.startswith("GEO_DISCOVERY_API_CORS_ORIGINS: not valid JSON"), "JSON list" in text
    (True, True)
    """
    found = re.search(r'field "(\w+)"', str(exc))
    field = Settings.model_fields.get(found.group(1)) if found else None
    if found is None or field is None:
        return str(exc)
    name = f"GEO_DISCOVERY_{found.group(1).upper()}"
    given = os.environ.get(name, "")
    kind = typing.get_origin(field.annotation) or field.annotation
    if kind is dict:
        example = f"a JSON object, e.g. {_EXAMPLES.get(found.group(1), '{}')} ({{}} for none)"
    elif kind in (list, tuple):
        example = 'a JSON list, e.g. ["https://a.example", "https://b.example"] ([] for none)'
    else:
        example = "a JSON value"
    return f"{name}: not valid JSON (got {given[:80]!r}); expected {example}"


#: An example value of each mapping setting (its keys differ: categories, member features).
_EXAMPLES = {"ranking_consumption_radii": '{"food/restaurant": 2000, "*": 1000}',
             "ranking_member_weights": '{"own_visits": 1.0, "own_category": 0.25}'}


#: Options whose values are a member's id or visits: never written to a log.
PERSONAL_OPTIONS = ("--member", "--visit")


def unpersonal_argv(argv: Sequence[str]) -> list[str]:
    """``argv`` with the values of :data:`PERSONAL_OPTIONS` replaced by ``<withheld>``.

    >>> unpersonal_argv(["nearby", "--member", "u-17", "--visit=m1,m2", "--lat", "1"])
    ['nearby', '--member', '<withheld>', '--visit=<withheld>', '--lat', '1']
    """
    out: list[str] = []
    for arg in argv:
        if out and out[-1] in PERSONAL_OPTIONS:
            out.append("<withheld>")
        elif arg.startswith(tuple(f"{o}=" for o in PERSONAL_OPTIONS)):
            out.append(arg.partition("=")[0] + "=<withheld>")
        else:
            out.append(arg)
    return out


def write_crash_log(exc: BaseException, data_dir: Any) -> Path:
    """Write the traceback of an unexpected error to a log file and return its path.

    The file goes to ``DATA_DIR/logs/`` (the ``--data-dir`` given, else the setting),
    falling back to the system temporary folder when that is not writable.
    """
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    text = masked_text(  # no database password, in the command or the traceback
        f"geo-discovery internal error at {stamp}\n"
        f"command: {' '.join(unpersonal_argv(sys.argv))}\n\n"
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
            # readable by its owner only: a traceback may quote data (0644 before)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            return path
        except OSError:
            continue
    return Path("(no writable log folder)")  # pragma: no cover - every folder failed


@contextlib.contextmanager
def interrupted_load(data_dir: Path, rejects: Path | None = None) -> Iterator[None]:
    """Ctrl-C (or SIGINT) during a load: one line saying what is served now and where
    its rejected rows are, if they were written, exit 130 (the load's own clean-up has
    run: nothing half-written is left to serve). SIGTERM (what systemd, Docker and
    Kubernetes stop a job with) is taken the same way, exit 143."""
    from ..snapshot.store import SnapshotStore

    before = SnapshotStore(data_dir).current_name()
    started = time.time()
    terminated: list[bool] = []

    def on_term(signum: int, frame: Any) -> None:
        terminated.append(True)
        raise KeyboardInterrupt  # the load's clean-up runs as for a Ctrl-C

    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, on_term) if main else None
    try:
        yield
    except KeyboardInterrupt:
        now = SnapshotStore(data_dir).current_name()
        if now != before:
            said = f"snapshot {now} had been published and is current"
        else:
            said = "nothing was published; " + (
                f"snapshot {now} stays current" if now else "there is still no snapshot"
            )
            written = _written_since(started, rejects, data_dir)
            said += (
                f"; its rejected rows are in {written}" if written is not None
                else "; its rejected rows, if any, were not written (load again to see them)"
            )
        how = "terminated (SIGTERM)" if terminated else "interrupted"
        typer.echo(f"{how}: {said}", err=True)
        raise typer.Exit(EXIT_TERMINATED if terminated else EXIT_INTERRUPTED) from None
    finally:
        if main:
            signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


def _written_since(started: float, rejects: Path | None, data_dir: Path) -> Path | None:
    """The rejects file an interrupted load wrote before it stopped (``--rejects`` or
    the default ``DATA_DIR/rejects/TIME-MODE.csv``), if any."""
    candidates = [rejects] if rejects is not None else sorted((data_dir / "rejects").glob("2*"))
    for path in reversed(candidates):
        try:
            if path.stat().st_mtime >= started:
                return path
        except OSError:
            continue
    return None


def settings_for(data_dir: Path | None) -> Settings:
    """Settings from the environment, with ``--data-dir`` taking precedence. A data dir
    that is a file is refused here, for every command (``serve`` served 503s forever from
    one, and ``snapshots`` said it held none)."""
    settings = Settings(data_dir=data_dir) if data_dir is not None else Settings()
    folder = Path(settings.data_dir).expanduser()
    if folder.exists() and not folder.is_dir():
        raise SnapshotError(
            f"the data dir {folder} is a file; allowed: a folder (made if missing)"
        )
    return settings


def stdout_console() -> Console:
    """The console for results. Off a terminal (pipes, logs, CI) tables get 160 columns
    unless ``COLUMNS`` says otherwise, so names are not squeezed to a few letters."""
    plain = functools.partial(  # data is printed as written: `[/]` or `:coffee:` in a name
        Console, highlight=False, soft_wrap=False, markup=False, emoji=False
    )
    console = plain()
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = plain(width=160)
    return console


def stderr_console() -> Console:
    return Console(stderr=True, highlight=False, markup=False, emoji=False)


def human_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"  # pragma: no cover


def fmt(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)




def open_engine(data_dir: Path | None) -> DiscoveryEngine:
    """The engine over the data dir's current snapshot (or one snapshot's folder)."""
    from ..engine import DiscoveryEngine

    settings = settings_for(data_dir)
    return DiscoveryEngine.from_snapshot(settings.data_dir, settings=settings)


def finite_or_none(value: Any) -> Any:
    """``value`` with every non-finite float (nested) replaced by ``None`` (strict JSON)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite_or_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite_or_none(v) for v in value]
    return value
