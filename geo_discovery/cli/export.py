"""``geo-discovery export``: the current snapshot into PostGIS tables, in one transaction."""

from __future__ import annotations

from typing import Annotated

import typer

from .common import DataDirOption, handle_errors, open_engine, stderr_console, stdout_console

__all__ = ["export"]


@handle_errors
def export(
    to: Annotated[
        str,
        typer.Option(
            "--to",
            help="PostgreSQL URL: postgresql://USER@HOST[:PORT]/DB (password from the URL, "
            "PGPASSWORD or ~/.pgpass; never printed). The database needs PostGIS.",
            metavar="postgresql://…",
            show_default=False,
        ),
    ],
    schema: Annotated[
        str, typer.Option("--schema", help="Schema of the tables (created when missing).")
    ] = "public",
    catchment: Annotated[
        list[str] | None,
        typer.Option(
            "--catchment",
            help="Also write this district's Huff catchment cells (repeat for several).",
            metavar="DISTRICT_ID",
        ),
    ] = None,
    allow_empty: Annotated[
        bool,
        typer.Option(
            "--allow-empty",
            help="Export even a snapshot of no merchant, replacing the tables with empty "
            "ones (refused by default: exit 4).",
        ),
    ] = False,
    data_dir: DataDirOption = None,
) -> None:
    """Write the current snapshot into PostGIS: merchants (geography points), districts
    (polygons with their statistics) and, with --catchment, catchment cells.

    One transaction: the tables are replaced together, with GiST indexes, or (when
    anything fails) not at all: the previous tables stay. Only tables an export wrote
    are replaced: a table of the same name made otherwise stops the export (exit 1).

    **Examples**

    * `geo-discovery export --to postgresql://analyst@db/geo`
    * `geo-discovery export --to postgresql://analyst@db/geo --schema nyc --catchment ID`
    """
    from ..export import export_postgis

    engine = open_engine(data_dir)
    err = stderr_console()
    report = export_postgis(
        engine, to, schema=schema, catchment=catchment or (),
        progress=lambda stage, done, total: None, allow_empty=allow_empty,
    )
    out = stdout_console()
    shown = report.schema_sql or schema  # as SQL writes it: "NYC".merchants
    tables = ", ".join(f"{shown}.{name} ({rows:,} rows)" for name, rows in report.tables.items())
    out.print(f"exported snapshot {report.snapshot} to {report.target}: {tables}",
              markup=False, highlight=False, soft_wrap=True)
    err.print("one transaction: the previous tables were replaced together", markup=False)
