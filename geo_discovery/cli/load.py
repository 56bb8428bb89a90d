"""``geo-discovery load`` and ``validate``: read, check, summarise, publish (or not).

The summary (sources with their rating scale, rejected rows by first reason, loaded rows
with a field left empty, notes on how ambiguous values were read, the rows equation) is
printed for every load, refused and ``--strict`` ones included, so the cause of a refusal
is on screen.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
from collections.abc import Iterator, Sequence
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
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

from ..errors import InvalidQueryError, LoadRefusedError, RejectedRowsError
from ..timeofweek import instant
from .common import (
    EXIT_REJECTED,
    SOURCES_HELP,
    DataDirOption,
    SinceOption,
    SqlOption,
    fail,
    fmt,
    handle_errors,
    human_bytes,
    input_sources,
    interrupted_load,
    output_file,
    settings_for,
    stderr_console,
    stdout_console,
)

if TYPE_CHECKING:
    from ..ingest import IngestResult
    from ..snapshot.pipeline import LoadReport

__all__ = ["DecimalMark", "LoadMode", "StageProgress", "load", "source_label", "validate"]

REJECTS_FORMATS = (".csv", ".csv.gz", ".parquet")  #: as ingest's ``write_rejects``
#: Default of ``load --wait``: seconds to wait for another load holding the store's lock.
DEFAULT_WAIT_S = 300.0


class DecimalMark(StrEnum):
    """``--decimal`` choices."""

    DOT = "."
    COMMA = ","


DecimalOption = Annotated[
    DecimalMark | None,
    typer.Option(
        "--decimal",
        help="Decimal mark of numbers such as 1,234 (',' reads it as 1.234). Default: decided "
        "per column from values that can only be read one way (4,5).",
    ),
]
DateFormatOption = Annotated[
    str | None,
    typer.Option(
        "--date-format",
        help="How to read dates such as 03/04/2019: a strptime pattern (%d/%m/%Y) or "
        "day-first / month-first. Default: decided per column (13/04 is day-first); "
        "ambiguous columns are reported.",
        metavar="FORMAT",
    ),
]
RatingScaleOption = Annotated[
    float | None,
    typer.Option(
        "--rating-scale",
        help="Top of the rating scale of every file (5, 10, 100). Default: inferred per file "
        "from clear evidence and shown in the summary.",
        metavar="TOP",
    ),
]
CrsOption = Annotated[
    str | None,
    typer.Option(
        "--crs",
        help="CRS of the coordinates when the file names none (or a wrong one), e.g. "
        "EPSG:3857; they are converted to WGS84 degrees.",
        metavar="CRS",
    ),
]
UntilOption = Annotated[
    str | None,
    typer.Option(
        "--until",
        help="Visit logs (--profile checkins): count only visits before this instant "
        "(ISO 8601, e.g. 2012-12-01 or 2012-12-01T05:00:00-05:00; UTC when naive); "
        "later visits are reported as rejected rows.",
        show_default=False,
    ),
]
#: The profile of visit logs (not a merchant-file profile: visits count into merchants).
CHECKINS = "checkins"


def _until(until: str | None, profile: str | None) -> datetime | None:
    """``--until`` read as calibrate reads it; refused without ``--profile checkins``
    (it was ignored: a merchant file has no visits to cut)."""
    if until is None:
        return None
    if profile != CHECKINS:
        raise InvalidQueryError(
            f"--until {until} applies to visit logs only; allowed with --profile {CHECKINS} "
            f"(got --profile {profile or 'auto'})"
        )
    cut = instant(until, "--until")
    if isinstance(cut, str):
        raise InvalidQueryError(cut)
    return cut


def _read_options(
    decimal: DecimalMark | None,
    date_format: str | None,
    rating_scale: float | None,
    crs: str | None,
    strict: bool,
) -> Any:
    from ..ingest import ReadOptions

    return ReadOptions(
        decimal=decimal.value if decimal is not None else None,
        date_format=date_format,
        rating_scale=rating_scale,
        crs=crs,
        strict=strict,
    )


class LoadMode(StrEnum):
    """``--mode`` choices (member names are upper case: ``str.replace`` is taken)."""

    REPLACE = "replace"
    UPSERT = "upsert"
    DELETE = "delete"


class StageProgress:
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

    def __enter__(self) -> StageProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def __call__(self, stage: str, done: int, total: int) -> None:
        total = max(int(total), 1)
        detail = f"{human_bytes(done)} / {human_bytes(total)}" if stage == "read" else ""
        if stage == "derive":  # word of mouth, hours, text, districts…: one step each
            detail = f"{done} / {total} steps"
        if stage not in self.tasks:
            self.tasks[stage] = self.progress.add_task(stage, total=total, detail=detail)
        self.progress.update(self.tasks[stage], completed=done, total=total, detail=detail)


def source_label(source: Any) -> str:
    """A file name for a source record (dataclass, dict from a manifest, or str)."""
    if isinstance(source, str):
        return Path(source).name
    fields = source if isinstance(source, dict) else vars(source)
    for key in ("name", "file", "path", "source_file"):
        if fields.get(key):
            return Path(str(fields[key])).name
    return str(source)


def _fields(source: Any) -> dict[str, Any]:
    return dict(source) if isinstance(source, dict) else vars(source)


def _print_kinds(console: Console, title: str, summary: Any) -> None:
    """A table of rows per (file, first reason), then one example reason per line."""
    table = Table(title=title, caption="each row counts once, under its first reason")
    table.add_column("file")
    table.add_column("reason")
    table.add_column("rows", justify="right")
    for row in summary.itertuples(index=False):
        table.add_row(str(row.source_file), str(row.reason_kind), fmt(row.rows))
    console.print(table)
    if "example" not in summary.columns:
        return
    for row in summary.itertuples(index=False):
        try:
            line = f":{int(row.example_line)}"
        except (TypeError, ValueError):  # no line (a delete list's missing ids)
            line = ""
        console.print(f"  e.g. {row.source_file}{line}: {row.example}", markup=False,
                      soft_wrap=True, highlight=False)


def _print_ingest_summary(
    console: Console,
    *,
    sources: Sequence[Any],
    reject_summary: Any,
    rows_read: int,
    rows_loaded: int,
    rows_rejected: int,
    warning_summary: Any = None,
    rows_warned: int = 0,
) -> None:
    if sources:
        table = Table(title="Sources")
        table.add_column("file")
        table.add_column("profile")
        for col in ("read", "loaded", "rejected", "warned"):
            table.add_column(col, justify="right")
        table.add_column("rating scale")
        for s in sources:
            fields = _fields(s)
            table.add_row(
                source_label(s),
                str(fields.get("profile") or ""),
                *(fmt(fields.get(k, "?")) for k in ("rows_read", "rows_loaded",
                                                     "rows_rejected", "rows_warned")),
                str(fields.get("rating_scale") or "—"),
            )
        console.print(table)
    if reject_summary is not None and len(reject_summary):
        _print_kinds(console, "Rejected rows by reason", reject_summary)
    if warning_summary is not None and len(warning_summary):
        _print_kinds(console, "Loaded rows with a field left empty (warnings)", warning_summary)
    for s in sources:
        for note in _fields(s).get("notes") or []:
            console.print(f"note: {source_label(s)}: {note}", markup=False, soft_wrap=True,
                          highlight=False)
    console.print(f"rows read {rows_read} = loaded {rows_loaded} + rejected {rows_rejected}")
    if rows_warned:
        console.print(f"{rows_warned} loaded row(s) have a field left empty: WARNING rows in "
                      "the rejects file (--strict rejects them instead)")


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
        warning_summary=report.warning_summary,
        rows_warned=report.rows_warned,
    )
    if report.rejects_path is not None:
        console.print(f"rejects file: {report.rejects_path}")
    if report.snapshot is not None:
        how = "" if report.replaced is None else (  # (merchants: a visit log's rows are visits)
            f": {report.replaced:,} replaced, {report.added or 0:,} added")
        console.print(
            f"published snapshot {report.snapshot.name} ({report.mode}, "
            f"{report.merchants_total:,} merchants{how}) in {data_dir}"
        )
        derived = report.snapshot.manifest.get("derived", {})
        _word_of_mouth_notes(console, derived.get("reputation") or {})
        text = derived.get("text")
        if text:
            console.print(
                f"text index: {text['terms']:,} terms, {text['bytes'] / 1e6:,.1f} MB "
                f"({text['bytes_per_merchant']:.1f} bytes per merchant)"
            )
    if report.pruned:
        console.print(f"pruned old snapshots: {', '.join(report.pruned)}")


def _word_of_mouth_notes(console: Console, summary: dict[str, Any]) -> None:
    """What word of mouth left out of the rows it scored (``derived.reputation``)."""
    if outside := summary.get("subscores_outside_scale"):
        console.print(f"note: word of mouth: {outside:,} sub-score(s) above their file's "
                      "sub-score scale (0–5 unless most of the file's are above 5) left out")
    if above := summary.get("ltm_above_reviews"):
        console.print(f"note: word of mouth: {above:,} row(s) with more reviews in the last "
                      "12 months (number_of_reviews_ltm) than in all; that count was left out")


@handle_errors
def load(
    files: Annotated[
        list[str],
        typer.Argument(
            help=f"Input files: {SOURCES_HELP} With --mode delete: id lists.",
            show_default=False,
            metavar="FILE|postgresql://…",
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
        LoadMode | None,
        typer.Option(
            "--mode",
            help="replace: the snapshot holds exactly these rows; upsert: replace same-id "
            "merchants and add new ones; delete: FILEs list merchant_ids to remove. "
            "Default: replace (upsert with --since).",
            show_default=False,
        ),
    ] = None,
    sql: SqlOption = None,
    since: SinceOption = None,
    rejects: Annotated[
        Path | None,
        typer.Option(
            "--rejects",
            help="Write rejected rows here (.csv, .csv.gz or .parquet). Default: "
            "DATA_DIR/rejects/TIME-MODE.csv when any row is rejected.",
        ),
    ] = None,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict",
            help="Fail (exit 3, publish nothing) if any row is rejected; a field that cannot "
            "be read rejects its row instead of being left empty.",
        ),
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
            help="Publish a replace or delete that drops more than load_max_shrink (default "
            "50 %) of the current snapshot's merchants, in all or of one source (refused by "
            "default: exit 4).",
        ),
    ] = False,
    decimal: DecimalOption = None,
    date_format: DateFormatOption = None,
    rating_scale: RatingScaleOption = None,
    crs: CrsOption = None,
    until: UntilOption = None,
    wait: Annotated[
        float,
        typer.Option(
            "--wait",
            min=0,
            help="Seconds to wait for another load holding the store's lock before failing "
            "(the wait comes before any reading).",
            metavar="SECONDS",
        ),
    ] = DEFAULT_WAIT_S,
    cluster: Annotated[
        str | None,
        typer.Option(
            "--cluster",
            help="Read and index on a Dask cluster: local:N (N worker processes here) or "
            "tcp://HOST:PORT (a running scheduler whose workers see the files). Same "
            "snapshot as without; needs the cluster extra.",
            metavar="local:N|tcp://HOST:PORT",
        ),
    ] = None,
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
    * `geo-discovery load checkins.csv.gz --profile checkins --until 2012-12-01`
    * `geo-discovery load parts/*.parquet --cluster local:4`
    * `geo-discovery load "postgresql://ops@db/shops?table=merchants" --since 2026-01-01`
    """
    from ..models import BBox
    from ..snapshot.pipeline import load as run_load

    chosen = mode or (LoadMode.UPSERT if since is not None else LoadMode.REPLACE)
    sources = input_sources(files, sql, since, chosen.value)

    settings = settings_for(data_dir)
    output_file(rejects, "--rejects", "rejects.csv", REJECTS_FORMATS, inputs=files)
    expected = BBox.from_string(bbox) if bbox is not None else None
    cut = _until(until, profile)
    options = dataclasses.replace(
        _read_options(decimal, date_format, rating_scale, crs, strict), until=cut
    )
    out = stdout_console()
    err = stderr_console()

    def closed() -> None:  # rich exits 1 silently: "nothing was published", wrongly
        out.quiet = True
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # (exit's flush)
        raise BrokenPipeError

    out.on_broken_pipe = closed  # type: ignore[method-assign]

    def waiting() -> None:
        err.print(f"waiting for another load to release {settings.data_dir} (up to {wait:g} s; "
                  "--wait SECONDS to change)")

    # the summary is printed inside: a Ctrl-C or SIGTERM while it prints says the snapshot
    # had been published (it ended the process without a word, or said "interrupted")
    with interrupted_load(settings.data_dir, rejects):
        with (
            _cluster(cluster, err) as on,
            StageProgress(err) as progress,
            _summary_on_refusal(out, settings.data_dir),
        ):
            report = run_load(
                sources,
                data_dir=settings.data_dir,
                mode=chosen.value,
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
                options=options,
                wait_s=wait,
                on_wait=waiting,
                cluster=on,
            )
        try:
            _print_load_report(out, report, settings.data_dir)
        except BrokenPipeError:  # `load … | head`: done; the summary had nowhere to go
            done = f"snapshot {report.snapshot.name} was published" if report.snapshot else (
                "the load finished")  # fmt: skip
            typer.echo(f"note: standard output was closed: {done}; its summary was not "
                       "printed", err=True)  # fmt: skip


@contextlib.contextmanager
def _cluster(spec: str | None, err: Console) -> Iterator[Any]:
    """The Dask cluster of ``--cluster`` (its dashboard address printed), or ``None``."""
    if spec is None:
        yield None
        return
    from ..snapshot.cluster import open_cluster

    with open_cluster(spec) as opened:
        link = opened.dashboard_link or "none (pip install bokeh for the dashboard)"
        err.print(f"Dask cluster {opened.spec}: {opened.workers} workers; dashboard: {link}",
                  markup=False, highlight=False, soft_wrap=True)
        yield opened


@handle_errors
def validate(
    files: Annotated[
        list[str],
        typer.Argument(help=f"Input files, as for `load`: {SOURCES_HELP}",
                       show_default=False, metavar="FILE|postgresql://…"),
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
            "--rejects", help="Write rejected rows here (.csv, .csv.gz or .parquet)."
        ),
    ] = None,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict",
            help="Exit 3 if any row would be rejected (a field that cannot be read rejects "
            "its row).",
        ),
    ] = False,
    bbox: Annotated[
        str | None,
        typer.Option("--bbox", help="Expected area west,south,east,north.", metavar="W,S,E,N"),
    ] = None,
    decimal: DecimalOption = None,
    date_format: DateFormatOption = None,
    rating_scale: RatingScaleOption = None,
    crs: CrsOption = None,
    until: UntilOption = None,
    sql: SqlOption = None,
    since: SinceOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Dry run: read and validate FILEs, print the summary, publish nothing.

    Same checks and summary as `load`; the snapshot store is never touched. Rejected rows
    go to --rejects if given.

    **Examples**

    * `geo-discovery validate data/sample/helsinki_osm_pois.csv --profile osm_poi`
    * `geo-discovery validate new_stores.csv --rejects /tmp/rejects.csv --strict`
    * `geo-discovery validate "postgresql://ops@db/shops?table=merchants"`
    """
    from ..ingest import read_sources
    from ..ingest.checkins import read_visit_sources
    from ..ingest.postgres import materialise
    from ..models import BBox

    sources = input_sources(files, sql, since, None)
    settings_for(data_dir)  # invalid settings fail the same way as for load
    output_file(rejects, "--rejects", "rejects.csv", REJECTS_FORMATS, inputs=files)
    expected = BBox.from_string(bbox) if bbox is not None else None
    options = _read_options(decimal, date_format, rating_scale, crs, strict)
    cut = _until(until, profile)
    out = stdout_console()
    with StageProgress(stderr_console()) as progress, materialise(sources) as (paths, labels):
        result: IngestResult = (
            read_visit_sources(list(paths), until=cut)
            if profile == CHECKINS
            else read_sources(
                paths,
                profile=profile,
                mapping=mapping,
                expected_bbox=expected,
                progress=lambda done, total: progress("read", done, total),
                options=options,
            )
        )
    for source in result.sources:  # a database source by its masked URL, not its dump
        source.path = labels.get(source.path, source.path)
    _print_ingest_summary(
        out,
        sources=result.sources,
        reject_summary=result.reject_summary(),
        rows_read=result.rows_read,
        rows_loaded=result.rows_loaded,
        rows_rejected=result.rows_rejected,
        warning_summary=result.warning_summary(),
        rows_warned=result.rows_warned,
    )
    if rejects is not None:
        result.write_rejects(rejects)
        out.print(f"rejects file: {rejects}")
    out.print("dry run: nothing was published")
    if strict and result.rows_rejected:
        raise fail(
            f"--strict: {result.rows_rejected} of {result.rows_read} rows would be rejected",
            EXIT_REJECTED,
        )

