"""``geo-discovery validate`` takes the sources ``load`` takes: files and PostgreSQL tables
(``postgresql://…?table=``, or the URL with ``--sql``). A URL was refused as a file that
does not exist (exit 2) although the help said "Input files, as for load".

The PostgreSQL cases run against the server of the ``pg`` fixture (tests/conftest.py:
skipped when it is not reachable, failed under ``CI=true``), in a schema of their own.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from geo_discovery.cli.main import app


@pytest.fixture()
def runner() -> CliRunner:
    return CliRunner(env={"COLUMNS": "240", "NO_COLOR": "1"})


@pytest.fixture()
def table(pg: str) -> Iterator[str]:
    """``SCHEMA.shops``: 20 good rows and one without coordinates."""
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
        conn.execute(f'CREATE TABLE "{schema}".shops AS SELECT \'s\' || g AS id, '
                     "'shop ' || g AS name, 60.1 + g * 0.001 AS lat, 24.9 + g * 0.001 AS lng, "
                     "'shop/convenience' AS category FROM generate_series(1, 20) g")
        conn.execute(f"INSERT INTO \"{schema}\".shops VALUES ('bad', 'no place', NULL, NULL, "
                     "'shop')")
    yield f"{schema}.shops"
    with psycopg.connect(pg) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def test_validate_reads_a_postgresql_table(
    runner: CliRunner, pg: str, table: str, tmp_path: Path
) -> None:
    rejects = tmp_path / "rejects.csv"
    done = runner.invoke(app, ["validate", f"{pg}?table={table}", "--rejects",
                               str(rejects), "--data-dir", str(tmp_path / "d")])
    assert done.exit_code == 0, done.output
    assert "rows read 21 = loaded 20 + rejected 1" in done.stdout
    assert "dry run: nothing was published" in done.stdout
    assert "geo-discovery-pg-" not in done.output  # named by its URL, not its dump
    assert rejects.is_file() and not (tmp_path / "d").exists()


def test_validate_takes_sql_as_load_does(
    runner: CliRunner, pg: str, table: str, tmp_path: Path
) -> None:
    done = runner.invoke(app, ["validate", pg, "--sql",
                               f"SELECT * FROM {table} WHERE lat IS NOT NULL",
                               "--data-dir", str(tmp_path / "d")])
    assert done.exit_code == 0, done.output
    assert "rows read 20 = loaded 20 + rejected 0" in done.stdout


def test_validate_usage_errors_are_those_of_load(runner: CliRunner, tmp_path: Path) -> None:
    missing = tmp_path / "nope.csv"
    for args in (["validate", str(missing)], ["load", str(missing)]):
        done = runner.invoke(app, [*args, "--data-dir", str(tmp_path / "d")])
        assert done.exit_code == 2, done.output
        assert f"File '{missing}' does not exist" in done.output
    for args in (["validate", str(tmp_path)], ["load", str(tmp_path)]):
        done = runner.invoke(app, [*args, "--data-dir", str(tmp_path / "d")])
        assert done.exit_code == 2 and "is a directory" in done.output, done.output
    fifo = tmp_path / "stream.csv"  # a pipe (/dev/stdin, <(…)) is there, but not a file
    os.mkfifo(fifo)
    for args in (["validate", str(fifo)], ["load", str(fifo)]):
        done = runner.invoke(app, [*args, "--data-dir", str(tmp_path / "d")])
        assert done.exit_code == 2, done.output
        assert "is not a regular file (a pipe or a device)" in done.output, done.output
    sample = Path(__file__).resolve().parents[2] / "data" / "sample" / "helsinki_osm_pois.csv"
    done = runner.invoke(app, ["validate", str(sample), "--sql", "SELECT 1",
                               "--data-dir", str(tmp_path / "d")])
    assert done.exit_code == 2 and "need a postgresql:// source" in done.output, done.output
