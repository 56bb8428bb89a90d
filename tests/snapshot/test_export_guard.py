"""``export`` replaces only what an export wrote, never publishes an empty snapshot over
populated tables, and names a schema as SQL must write it.

Against the PostGIS server of ``tests/snapshot/test_postgres.py`` (skipped when it is not
reachable, failed under ``CI=true``); each test works in its own schema, dropped at the end.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from geo_discovery.cli.main import app
from geo_discovery.engine import DiscoveryEngine
from geo_discovery.errors import DatabaseError, LoadRefusedError
from geo_discovery.export import export_postgis
from geo_discovery.settings import Settings
from geo_discovery.snapshot.pipeline import load


def _sql(url: str, query: str, *args: Any) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(url) as conn:
        return conn.execute(query, args or None).fetchall()


def _run(url: str, statement: str) -> None:
    import psycopg

    with psycopg.connect(url) as conn:
        conn.execute(statement)


@pytest.fixture()
def schema(pg: str) -> Iterator[str]:
    name = f"t_{uuid.uuid4().hex[:10]}"
    yield name
    _run(pg, f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@pytest.fixture(scope="module")
def empty_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir whose snapshot holds no merchant (published with allow_empty)."""
    folder = tmp_path_factory.mktemp("empty")
    (folder / "none.csv").write_text("id,name,lat,lng\n")
    load([folder / "none.csv"], data_dir=folder / "d", allow_empty=True,
         settings=Settings(data_dir=folder / "d"))
    return folder / "d"


@pytest.fixture()
def runner() -> CliRunner:
    return CliRunner(env={"COLUMNS": "240", "NO_COLOR": "1"})


def _users_table(pg: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(pg) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
        conn.execute(f'CREATE TABLE "{schema}".merchants (merchant_id text primary key, '
                     "name text, lat float8, lng float8, note text)")
        conn.execute(f'INSERT INTO "{schema}".merchants SELECT \'m\' || g, \'shop\', 40.7, '
                     "-74.0, 'my own data' FROM generate_series(1, 50) g")


# ----------------------------------------------------------- a table it did not write
def test_a_users_own_table_of_the_same_name_is_never_dropped(
    pg: str, schema: str, sample_engine: DiscoveryEngine
) -> None:
    _users_table(pg, schema)
    with pytest.raises(DatabaseError, match=rf"refused to replace {schema}\.merchants: .*"
                       rf"another --schema, or drop it yourself .*DROP TABLE {schema}\."):
        export_postgis(sample_engine, pg, schema=schema)
    assert _sql(pg, f'SELECT count(*), min(note) FROM "{schema}".merchants') == [
        (50, "my own data")]
    tables = {r[0] for r in _sql(pg, "SELECT tablename FROM pg_tables WHERE schemaname = %s",
                                 schema)}
    assert tables == {"merchants"}  # nothing else was written either


def test_a_view_of_the_same_name_is_named_a_view_with_the_drop_it_needs(
    pg: str, schema: str, sample_engine: DiscoveryEngine
) -> None:
    """The refusal for a view named districts suggested DROP TABLE, which fails."""
    _run(pg, f'CREATE SCHEMA "{schema}"; CREATE VIEW "{schema}".districts AS SELECT 1 AS x')
    with pytest.raises(DatabaseError, match=rf"it is a view .*\(DROP VIEW {schema}\.districts\)"):
        export_postgis(sample_engine, pg, schema=schema)


def test_the_cli_refuses_with_exit_1_and_one_line(
    pg: str, schema: str, sample_data_dir: Path, runner: CliRunner
) -> None:
    _users_table(pg, schema)
    done = runner.invoke(app, ["export", "--to", pg, "--schema", schema,
                               "--data-dir", str(sample_data_dir)])
    assert done.exit_code == 1, done.output
    lines = [line for line in done.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"error: refused to replace {schema}.merchants")
    assert _sql(pg, f'SELECT count(*) FROM "{schema}".merchants') == [(50,)]


def test_every_table_written_is_marked_and_an_older_unmarked_export_is_replaced(
    pg: str, schema: str, sample_engine: DiscoveryEngine
) -> None:
    district = str(sample_engine.districts().index[0])
    export_postgis(sample_engine, pg, schema=schema, catchment=[district])
    comments = _sql(pg, "SELECT c.relname, obj_description(c.oid, 'pg_class') FROM pg_class c "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s "
                    "AND c.relkind = 'r'", schema)
    assert {name for name, _ in comments} == {"merchants", "districts", "catchment_cells",
                                              "geo_discovery_export"}
    assert all(text.startswith("geo-discovery export") for _, text in comments)
    for name, _ in comments:  # as an export before the marker left them
        _run(pg, f'COMMENT ON TABLE "{schema}".{name} IS NULL')
    report = export_postgis(sample_engine, pg, schema=schema)  # catchment_cells goes too
    assert report.tables["merchants"] == len(sample_engine)
    tables = {r[0] for r in _sql(pg, "SELECT tablename FROM pg_tables WHERE schemaname = %s",
                                 schema)}
    assert tables == {"merchants", "districts", "geo_discovery_export"}


# ------------------------------------------------------------------ an empty snapshot
def test_an_empty_snapshot_does_not_replace_populated_tables(
    pg: str, schema: str, sample_engine: DiscoveryEngine, empty_dir: Path, runner: CliRunner
) -> None:
    export_postgis(sample_engine, pg, schema=schema)
    n = len(sample_engine)
    empty = DiscoveryEngine.from_snapshot(empty_dir, settings=Settings(data_dir=empty_dir))
    with pytest.raises(LoadRefusedError, match=rf"0 merchants.*{schema}\.merchants "
                       rf"\(it holds {n:,} rows\).*--allow-empty"):
        export_postgis(empty, pg, schema=schema)
    assert _sql(pg, f'SELECT count(*) FROM "{schema}".merchants') == [(n,)]
    done = runner.invoke(app, ["export", "--to", pg, "--schema", schema,
                               "--data-dir", str(empty_dir)])
    assert done.exit_code == 4, done.output
    assert _sql(pg, f'SELECT count(*) FROM "{schema}".merchants') == [(n,)]
    done = runner.invoke(app, ["export", "--to", pg, "--schema", schema, "--allow-empty",
                               "--data-dir", str(empty_dir)])
    assert done.exit_code == 0, done.output
    assert _sql(pg, f'SELECT count(*) FROM "{schema}".merchants') == [(0,)]


# --------------------------------------------------------------------- schema names
def test_a_schema_needing_quotes_is_reported_as_sql_writes_it(
    pg: str, sample_data_dir: Path, runner: CliRunner
) -> None:
    name = f"T_{uuid.uuid4().hex[:10]}"
    try:
        done = runner.invoke(app, ["export", "--to", pg, "--schema", name,
                                   "--data-dir", str(sample_data_dir)])
        assert done.exit_code == 0, done.output
        assert f'"{name}".merchants (' in done.stdout
        assert f" {name}.merchants" not in done.stdout
        assert _sql(pg, f'SELECT count(*) > 0 FROM "{name}".merchants') == [(True,)]
    finally:
        _run(pg, f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
