"""PostGIS as a sink: a snapshot's merchants, districts and catchments as SQL tables.

:func:`export_postgis` writes, into one schema (``public`` by default):

``merchants``             every canonical column, ``attributes`` as ``jsonb``, the derived
                          ``wom_score``, ``wom_confidence`` and ``district_id``, and
                          ``geog geography(Point, 4326)``; primary key ``merchant_id``,
                          GiST index on ``geog``
``districts``             every statistic of :attr:`Districts.frame`, ``category_mix`` as
                          ``jsonb``, ``geom geometry(MultiPolygon, 4326)``; GiST on ``geom``
``catchment_cells``       on request (``catchment=[district ids]``): one row per demand
                          cell of each district's Huff catchment (``share``, ``expected``,
                          ``population``…) with the cell's polygon (``geometry(MultiPolygon,
                          4326)``: a cell over ±180 is cut there); GiST on ``geom``
``geo_discovery_export``  one row: the snapshot version, its id, counts, when

Everything happens in one transaction: new tables are filled under temporary names
(``COPY`` in CSV), then the old tables are dropped and the new ones renamed and indexed,
then the transaction commits. An export that fails at any point (or is killed) leaves
the previous tables as they were. QGIS and plain SQL read the tables directly.

Each table written carries the comment ``geo-discovery export …`` (:data:`MARKER`). An
export replaces only tables with that comment or with exactly the columns an export
writes (those of older exports): a table of the same name made by anyone else is left
alone and the export is refused (:class:`DatabaseError`). A snapshot of 0 merchants is
refused too (:class:`LoadRefusedError`), unless ``allow_empty``.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import shapely

from .cells import cell_to_str, str_to_cell
from .cellsets import cell_polygons
from .errors import DatabaseError, LoadRefusedError
from .ingest.postgres import connect, is_postgres_url, masked_url, scrub, split_pg_url

if TYPE_CHECKING:
    from .engine import DiscoveryEngine

__all__ = ["EXPORT_TABLES", "MARKER", "ExportReport", "export_postgis"]

#: The tables an export writes (``catchment_cells`` only when catchments are asked for).
EXPORT_TABLES = ("merchants", "districts", "catchment_cells", "geo_discovery_export")
#: The start of the comment on every table an export writes.
MARKER = "geo-discovery export"
_NEW = "__gd_new"
#: Columns of the tables an export may leave out of this one (written by an earlier
#: export): a table with exactly these (``catchment_cells``: at least the first three
#: and only others of the list) is an export's.
_PAST_COLUMNS = {
    "catchment_cells": ({"district_id", "cell", "geom"},
                        {"lat", "lng", "population", "share", "expected", "in_district"}),
}
_BATCH = 50_000

_ARROW_TO_PG = {
    pa.string(): "text", pa.float64(): "double precision", pa.int64(): "bigint",
    pa.int32(): "integer", pa.int8(): "smallint", pa.bool_(): "boolean",
}


def _pg_type(kind: pa.DataType) -> str:
    """The PostgreSQL type of an Arrow column (timestamps of any unit: snapshots hold
    ``timestamp[ms]``, which fell back to text)."""
    if pa.types.is_timestamp(kind):
        return "timestamptz" if kind.tz else "timestamp"
    return _ARROW_TO_PG.get(kind, "text")


@dataclass
class ExportReport:
    """What one export wrote: rows per table, the masked target, the snapshot;
    ``schema_sql`` is the schema as SQL must write it (``"NYC"``, ``nyc``)."""

    target: str
    schema: str
    snapshot: str
    tables: dict[str, int] = field(default_factory=dict)
    schema_sql: str = ""


def export_postgis(
    engine: DiscoveryEngine,
    url: str,
    *,
    schema: str = "public",
    catchment: Sequence[str] = (),
    progress: Callable[[str, int, int], None] | None = None,
    allow_empty: bool = False,
) -> ExportReport:
    """Write the engine's snapshot into PostGIS tables (see the module docstring).

    ``url`` is a ``postgresql://`` URL (credentials from it, the ``PG*`` variables or
    ``~/.pgpass``); ``schema`` is created when missing. Raises :class:`DatabaseError`
    (password masked) when the server refuses anything, or when a table of the same
    name is not an export's; :class:`LoadRefusedError` for a snapshot of no merchant
    (unless ``allow_empty``). The previous tables then stay.
    """
    if not is_postgres_url(url):
        raise DatabaseError(f"--to {url[:40]!r} is not a PostgreSQL URL; expected postgresql://…")
    split_pg_url(url)
    label = masked_url(url)
    if not schema or not schema.replace("_", "a").isalnum() or schema[0].isdigit():
        raise DatabaseError(f"schema {schema!r} is not allowed; expected letters, digits and _")
    notify = progress or (lambda stage, done, total: None)
    merchants = _merchant_table(engine)
    districts = _district_table(engine)
    cells = _catchment_table(engine, catchment) if catchment else None
    snap = engine.snapshot
    meta = pa.table({
        "snapshot": [engine.version], "snapshot_id": pa.array([snap.snapshot_id], pa.int64()),
        "merchants": pa.array([merchants.num_rows], pa.int64()),
        "districts": pa.array([0 if districts is None else districts.num_rows], pa.int64()),
        "exported_at": [datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")],
    })
    plan: list[tuple[str, pa.Table, dict[str, str], str | None]] = [
        ("merchants", merchants, {"attributes": "jsonb", "geog": "geography(Point, 4326)"},
         "merchant_id"),
    ]
    if districts is not None:
        plan.append(("districts", districts,
                     {"category_mix": "jsonb", "geom": "geometry(MultiPolygon, 4326)"},
                     "district_id"))
    if cells is not None:
        plan.append(("catchment_cells", cells, {"geom": "geometry(MultiPolygon, 4326)"}, None))
    plan.append(("geo_discovery_export", meta, {}, None))

    report = ExportReport(label, schema, engine.version)
    import psycopg
    from psycopg import sql

    with connect(url, label) as conn:
        try:
            with conn.transaction(), conn.cursor() as cur:
                cur.execute("SELECT quote_ident(%s)", (schema,))
                report.schema_sql = str(cur.fetchone()[0])
                if merchants.num_rows == 0 and not allow_empty:
                    raise LoadRefusedError(_empty_refusal(cur, schema, report, label))
                _refuse_foreign_tables(cur, schema, report.schema_sql,
                                       {name: table for name, table, _, _ in plan})
                cur.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
                    sql.Identifier(schema)))
                for step, (name, table, types, key) in enumerate(plan):
                    notify("export", step, len(plan) + 1)
                    _create(cur, schema, name + _NEW, table, types, key)
                    _copy(cur, schema, name + _NEW, table)
                    report.tables[name] = table.num_rows
                for name in EXPORT_TABLES:  # the old set goes, even a table not rewritten
                    cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(
                        sql.Identifier(schema, name)))
                for name, _table, types, key in plan:
                    cur.execute(sql.SQL("ALTER TABLE {} RENAME TO {}").format(
                        sql.Identifier(schema, name + _NEW), sql.Identifier(name)))
                    if key is not None:  # named for the table, not the one it was built as
                        _rename_primary_key(cur, schema, name)
                    for column, kind in types.items():
                        if kind.startswith(("geography", "geometry")):
                            cur.execute(sql.SQL("CREATE INDEX {} ON {} USING gist ({})").format(
                                sql.Identifier(f"{name}_{column}_gist"),
                                sql.Identifier(schema, name), sql.Identifier(column)))
                    cur.execute(sql.SQL("COMMENT ON TABLE {} IS {}").format(
                        sql.Identifier(schema, name),
                        sql.Literal(f"{MARKER} of snapshot {engine.version}")))
                    cur.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(schema, name)))
            notify("export", len(plan) + 1, len(plan) + 1)
        except psycopg.Error as exc:
            raise DatabaseError(
                f"export to {label} failed, the previous tables are unchanged: "
                f"{scrub(exc, url).strip()}"
            ) from None
    return report


def _empty_refusal(cur: Any, schema: str, report: ExportReport, label: str) -> str:
    """Why an export of no merchant is refused, and what the target holds now."""
    cur.execute("SELECT to_regclass(%s)", (f"{report.schema_sql}.merchants",))
    held = ""
    if cur.fetchone()[0] is not None:
        from psycopg import sql

        cur.execute(sql.SQL("SELECT count(*) FROM {}").format(
            sql.Identifier(schema, "merchants")))
        held = f" (it holds {cur.fetchone()[0]:,} rows)"
    return (f"refused to export snapshot {report.snapshot}: it holds 0 merchants, and the "
            f"export would replace {report.schema_sql}.merchants{held} in {label} with an "
            "empty table; the tables were not changed. Load data first, or pass "
            "--allow-empty to export it anyway")


def _refuse_foreign_tables(cur: Any, schema: str, shown: str,
                           planned: dict[str, pa.Table]) -> None:
    """:class:`DatabaseError` when a table the export would replace is not an export's:
    neither :data:`MARKER` in its comment nor exactly the columns an export writes."""
    cur.execute(
        "SELECT c.relname, c.relkind, coalesce(obj_description(c.oid, 'pg_class'), ''), "
        "array(SELECT a.attname::text FROM pg_attribute a WHERE a.attrelid = c.oid "
        "AND a.attnum > 0 AND NOT a.attisdropped) "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relname = ANY(%s)",
        (schema, list(EXPORT_TABLES)))
    for name, kind, comment, columns in sorted(cur.fetchall()):
        have = set(columns)
        if name in planned:
            ours = have == set(planned[name].column_names)
        elif name in _PAST_COLUMNS:
            need, optional = _PAST_COLUMNS[name]
            ours = need <= have <= need | optional
        else:  # districts of an earlier snapshot: its key, statistics and polygons
            ours = {"district_id", "category_mix", "geom"} <= have
        if kind in ("r", "p") and (comment.startswith(MARKER) or ours):
            continue
        what, drop = {"r": ("a table", "TABLE"), "p": ("a table", "TABLE"),
                      "v": ("a view", "VIEW"), "m": ("a materialized view", "MATERIALIZED VIEW"),
                      "f": ("a foreign table", "FOREIGN TABLE")}.get(
            kind, ("a relation of another kind", "…"))  # fmt: skip
        raise DatabaseError(
            f"refused to replace {shown}.{name}: it is {what} that geo-discovery export did "
            f"not write (no '{MARKER}' comment, and its columns are not an export's); "
            "nothing was changed. Export to another --schema, or drop it yourself if it "
            f"can go (DROP {drop} {shown}.{name})"
        )


def _create(cur: Any, schema: str, name: str, table: pa.Table, types: dict[str, str],
            key: str | None) -> None:
    from psycopg import sql

    cols = []
    for f in table.schema:
        kind = types.get(f.name) or _pg_type(f.type)
        null = sql.SQL(" PRIMARY KEY") if f.name == key else sql.SQL("")
        cols.append(sql.SQL("{} {}{}").format(sql.Identifier(f.name), sql.SQL(kind), null))
    target = sql.Identifier(schema, name)
    cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(target))
    cur.execute(sql.SQL("CREATE TABLE {} ({})").format(target, sql.SQL(", ").join(cols)))


def _rename_primary_key(cur: Any, schema: str, name: str) -> None:
    """``{name}_pkey``: PostgreSQL keeps a constraint's name when its table is renamed, so
    each export's key was ``merchants__new_pkey`` or, beside the last export's,
    ``merchants__new_pkey1``."""
    from psycopg import sql

    table = sql.Identifier(schema, name)
    cur.execute(sql.SQL("SELECT conname FROM pg_constraint WHERE conrelid = {}::regclass "
                        "AND contype = 'p'").format(sql.Literal(table.as_string(cur))))
    (current,) = cur.fetchone()
    if current != f"{name}_pkey":
        cur.execute(sql.SQL("ALTER TABLE {} RENAME CONSTRAINT {} TO {}").format(
            table, sql.Identifier(current), sql.Identifier(f"{name}_pkey")))


def _copy(cur: Any, schema: str, name: str, table: pa.Table) -> None:
    """``COPY … FROM STDIN`` in CSV, a batch of rows at a time (nulls unquoted, empty
    strings quoted, numbers in their shortest exact form; a NUL character, which no
    PostgreSQL text or jsonb can hold, left out of the text it was in)."""
    from psycopg import sql

    columns = sql.SQL(", ").join(sql.Identifier(n) for n in table.column_names)
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(
        sql.Identifier(schema, name), columns)
    options = pacsv.WriteOptions(include_header=False, quoting_style="needed")
    with cur.copy(statement) as copy:
        for batch in table.to_batches(max_chunksize=_BATCH):
            buffer = io.BytesIO()
            arrays = [_without_nul(c) if pa.types.is_string(c.type) else c
                      for c in batch.columns]  # fmt: skip
            out = pa.Table.from_arrays(arrays, names=batch.schema.names)
            pacsv.write_csv(out, buffer, options)
            copy.write(buffer.getvalue())


def _without_nul(column: Any) -> Any:
    """Text without NUL, also as JSON writes it (``\\u0000``, which jsonb refuses)."""
    return pc.replace_substring(pc.replace_substring(column, "\x00", ""), "\\u0000", "")


# ----------------------------------------------------------------------------- tables
def _merchant_table(engine: DiscoveryEngine) -> pa.Table:
    snap = engine.snapshot
    table = snap.merchants
    n = table.num_rows
    wom = snap.wom
    score = np.asarray(wom[0], dtype=np.float64) if wom is not None else np.full(n, np.nan)
    conf = np.asarray(wom[1], dtype=np.float64) if wom is not None else np.full(n, np.nan)
    columns = snap.district_columns
    district = columns[0] if columns is not None else np.full(n, None, dtype=object)
    lat = table.column("lat").to_numpy()
    lng = table.column("lng").to_numpy()
    ewkt = [f"SRID=4326;POINT({x!r} {y!r})" for x, y in zip(lng.tolist(), lat.tolist(),
                                                            strict=True)]
    return (table
            .append_column("wom_score", pa.array(score, pa.float64(), mask=np.isnan(score)))
            .append_column("wom_confidence", pa.array(conf, pa.float64(), mask=np.isnan(conf)))
            .append_column("district_id", pa.array(list(district), pa.string()))
            .append_column("geog", pa.array(ewkt, pa.string())))


def _district_table(engine: DiscoveryEngine) -> pa.Table | None:
    found = engine.snapshot.districts
    if found is None:
        return None
    frame = found.frame.reset_index()
    geoms = shapely.to_wkt(
        [g if g.geom_type == "MultiPolygon" else shapely.MultiPolygon([g])
         for g in frame.geometry], rounding_precision=-1)
    data = frame.drop(columns="geometry")
    data = data.assign(geom=[f"SRID=4326;{w}" for w in geoms])
    out = pa.Table.from_pandas(data, preserve_index=False)
    return out.set_column(out.schema.get_field_index("category_mix"), "category_mix",
                          pc.cast(out.column("category_mix"), pa.string()))


def _catchment_table(engine: DiscoveryEngine, district_ids: Sequence[str]) -> pa.Table:
    frames = []
    for district_id in dict.fromkeys(district_ids):  # each once, in the order given
        result = engine.catchment(district_id)
        cells = result.cells
        cells = (cells.reset_index(drop=True) if "cell" in cells.columns
                 else cells.rename_axis("cell").reset_index())
        ids = [_cell_int(c) for c in cells["cell"].tolist()]
        shapes = cell_polygons(np.array(ids, dtype=np.uint64))  # cut at ±180, as districts
        polygons = ["SRID=4326;" + shapely.to_wkt(
            shapely.MultiPolygon([g]) if g.geom_type == "Polygon" else g, rounding_precision=-1)
            for g in shapes]  # fmt: skip
        frames.append(pa.table({
            "district_id": [district_id] * len(cells),
            "cell": [cell_to_str(c) for c in ids],
            **{c: pa.array(cells[c].to_numpy()) for c in
               ("lat", "lng", "population", "share", "expected", "in_district")
               if c in cells.columns},
            "geom": polygons,
        }))
    return pa.concat_tables(frames) if frames else pa.table({})


def _cell_int(cell: Any) -> int:
    """An H3 cell as an integer, from its integer or hex string form."""
    if isinstance(cell, str) and not cell.isdigit():
        return str_to_cell(cell)
    return int(cell)
