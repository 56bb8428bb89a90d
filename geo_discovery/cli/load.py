"""``geo-discovery load`` and ``validate``: read, check, summarise, publish (or not).

The summary tables (sources, reasons, the rows equation) are printed for every load,
refused ones included, so the cause of a refusal is on screen.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
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

from ..errors import LoadRefusedError, RejectedRowsError
from .common import (
    EXIT_REJECTED,
    DataDirOption,
    fail,
    fmt,
    handle_errors,
    human_bytes,
    settings_for,
    stderr_console,
    stdout_console,
)

if TYPE_CHECKING:
    from ..ingest import IngestResult
    from ..snapshot.pipeline import LoadReport

__all__ = ["LoadMode", "StageProgress", "load", "source_label", "validate"]


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


def _source_counts(source: Any) -> tuple[Any, Any, Any]:
    fields = source if isinstance(source, dict) else vars(source)
    return (
        fields.get("rows_read", "?"),
        fields.get("rows_loaded", "?"),
        fields.get("rows_rejected", "?"),
    )


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
                source_label(s),
                str(fields.get("profile") or ""),
                *(fmt(v) for v in _source_counts(s)),
            )
        console.print(table)
    if reject_summary is not None and len(reject_summary):
        table = Table(title="Rejected rows by reason")
        headers = {"source_file": "file", "reason_kind": "reason"}
        for c in (str(c) for c in reject_summary.columns):
            table.add_column(headers.get(c, c), justify="right" if c == "rows" else "left")
        for row in reject_summary.itertuples(index=False):
            table.add_row(*(fmt(v) for v in row))
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
        text = report.snapshot.manifest.get("derived", {}).get("text")
        if text:
            console.print(
                f"text index: {text['terms']:,} terms, {text['bytes'] / 1e6:,.1f} MB "
                f"({text['bytes_per_merchant']:.1f} bytes per merchant)"
            )
    if report.pruned:
        console.print(f"pruned old snapshots: {', '.join(report.pruned)}")


@handle_errors
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

    settings = settings_for(data_dir)
    expected = BBox.from_string(bbox) if bbox is not None else None
    out = stdout_console()
    with StageProgress(stderr_console()) as progress, _summary_on_refusal(out, settings.data_dir):
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


@handle_errors
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

    settings_for(data_dir)  # invalid settings fail the same way as for load
    expected = BBox.from_string(bbox) if bbox is not None else None
    out = stdout_console()
    with StageProgress(stderr_console()) as progress:
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
        raise fail(
            f"--strict: {result.rows_rejected} of {result.rows_read} rows would be rejected",
            EXIT_REJECTED,
        )

