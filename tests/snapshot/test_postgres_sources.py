"""PostgreSQL sources read as their own CSV would be: each test loads a table from the
server and the same rows from a CSV file it writes (the oracle), and compares the merchants.

The server is the one of tests/snapshot/test_postgres.py (``GEO_DISCOVERY_TEST_PG_URL``,
default ``postgresql://postgres@127.0.0.1:54329/geo_discovery_bench``); each test works in
its own schema, dropped at the end. Session settings a database may carry (DateStyle,
TimeZone) are given per connection in the URL (``options=-c …``), never to the database.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest
import shapely

from geo_discovery.engine import DiscoveryEngine
from geo_discovery.errors import DatabaseError, IngestError
from geo_discovery.ingest.postgres import masked_text, masked_url, parse_pg_url, scrub
from geo_discovery.snapshot.pipeline import LoadReport, load


@pytest.fixture()
def schema(pg: str) -> Iterator[str]:
    import psycopg

    name = f"t_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg) as conn:
        conn.execute(f'CREATE SCHEMA "{name}"')
    yield name
    with psycopg.connect(pg) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def _execute(url: str, *statements: str, args: Any = None) -> None:
    import psycopg

    with psycopg.connect(url) as conn:
        for statement in statements:
            conn.execute(statement, args)


def _session(monkeypatch: pytest.MonkeyPatch, *settings: str) -> None:
    """Sessions start with these settings, as a database's defaults would (``PGOPTIONS``,
    read by libpq; the database itself is left alone)."""
    monkeypatch.setenv("PGOPTIONS", " ".join(f"-c {s}" for s in settings))


def _write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _merchants(data_dir: Path, columns: list[str]) -> pa.Table:
    table = DiscoveryEngine.from_snapshot(data_dir).snapshot.merchants.select(columns)
    return table.take(pc.sort_indices(table, [("merchant_id", "ascending")]))


def _same_rows(from_pg: LoadReport, pg_dir: Path, from_csv: LoadReport, csv_dir: Path,
               columns: list[str]) -> None:  # fmt: skip
    assert (from_pg.rows_loaded, from_pg.rows_rejected) == (
        from_csv.rows_loaded, from_csv.rows_rejected)
    a, b = _merchants(pg_dir, ["merchant_id", *columns]), _merchants(csv_dir,
                                                                     ["merchant_id", *columns])
    for name in ["merchant_id", *columns]:
        assert a.column(name).to_pylist() == b.column(name).to_pylist(), name


def _nyc(n: int) -> list[tuple[int, str, float, float]]:
    rng = np.random.default_rng(7)
    lats = np.round(40.6 + rng.random(n) * 0.2, 6)
    lngs = np.round(-74.05 + rng.random(n) * 0.2, 6)
    return [(i + 1, f"Shop {i + 1}", float(lats[i]), float(lngs[i])) for i in range(n)]


# --------------------------------------------------------------------- bug 1: point
def test_a_point_column_reads_as_lng_lat_like_its_csv(
    pg: str, schema: str, tmp_path: Path
) -> None:
    """``point`` is (x,y) = (lng,lat): dumped as "(x,y)", the reader took it as lat, lng and
    put every merchant in Antarctica."""
    rows = _nyc(60)
    _execute(pg, f'CREATE TABLE "{schema}".shops (id int, name text, location point)')
    for i, name, lat, lng in rows:
        _execute(pg, f'INSERT INTO "{schema}".shops VALUES (%s, %s, point(%s, %s))',
                 args=(i, name, lng, lat))
    oracle = _write_csv(tmp_path / "shops.csv", ["id", "name", "lat", "lng"],
                        [[i, name, lat, lng] for i, name, lat, lng in rows])
    got = load([f"{pg}?table={schema}.shops"], data_dir=tmp_path / "pg")
    want = load([oracle], data_dir=tmp_path / "csv")
    _same_rows(got, tmp_path / "pg", want, tmp_path / "csv", ["name", "lat", "lng"])


# ---------------------------------------------------------------------- bug 2: SRID
def test_a_projected_srid_is_transformed_to_wgs84(pg: str, schema: str, tmp_path: Path) -> None:
    """A geometry(Point, 2263) column was dumped in State Plane feet and refused as
    "the file does not say which CRS" (with a wrong EPSG:3857 hint); an untyped column
    mixes SRIDs per row."""
    from pyproj import Transformer

    rows = _nyc(40)
    lng = np.array([r[3] for r in rows])
    lat = np.array([r[2] for r in rows])
    feet_x, feet_y = Transformer.from_crs(4326, 2263, always_xy=True).transform(lng, lat)
    merc_x, merc_y = Transformer.from_crs(4326, 3857, always_xy=True).transform(lng, lat)
    srids = [(2263, feet_x, feet_y), (3857, merc_x, merc_y), (4326, lng, lat)]
    _execute(pg, f'CREATE TABLE "{schema}".typed (id int, name text, geom geometry(Point, 2263))',
             f'CREATE TABLE "{schema}".mixed (id int, name text, geom geometry)')
    for i, (id_, name, _lat, _lng) in enumerate(rows):
        _execute(pg, f'INSERT INTO "{schema}".typed VALUES (%s, %s, '
                     "ST_SetSRID(ST_MakePoint(%s, %s), 2263))",
                 args=(id_, name, float(feet_x[i]), float(feet_y[i])))
        srid, xs, ys = srids[i % 3]
        _execute(pg, f'INSERT INTO "{schema}".mixed VALUES (%s, %s, '
                     "ST_SetSRID(ST_MakePoint(%s, %s), %s))",
                 args=(id_, name, float(xs[i]), float(ys[i]), srid))
    for table in ("typed", "mixed"):
        got = load([f"{pg}?table={schema}.{table}"], data_dir=tmp_path / table)
        assert (got.rows_loaded, got.rows_rejected) == (len(rows), 0)
        back = _merchants(tmp_path / table, ["merchant_id", "lat", "lng"])
        order = [int(m.split(":")[1]) - 1 for m in back.column("merchant_id").to_pylist()]
        np.testing.assert_allclose(back.column("lat").to_numpy(), lat[order], atol=1e-7)
        np.testing.assert_allclose(back.column("lng").to_numpy(), lng[order], atol=1e-7)


def test_a_point_outside_its_crs_is_rejected_not_put_at_the_pole(
    pg: str, schema: str, tmp_path: Path
) -> None:
    """POINT(1e12 1e12) in State Plane feet transformed to lat -89.99999: a merchant at
    the South Pole, loaded. A point that does not come back from WGS84 stays as it is and
    is rejected as out of range; the others load."""
    _execute(pg, f'CREATE TABLE "{schema}".junk (id int, name text, geom geometry(Point, 2263))',
             f"INSERT INTO \"{schema}\".junk SELECT g, 'Good ' || g, ST_SetSRID(ST_MakePoint("
             "987654 + g, 212345), 2263) FROM generate_series(1, 20) g",
             f"INSERT INTO \"{schema}\".junk VALUES (99, 'Junk', ST_SetSRID(ST_MakePoint(1e12, "
             "1e12), 2263))")
    got = load([f"{pg}?table={schema}.junk"], data_dir=tmp_path)
    assert (got.rows_loaded, got.rows_rejected) == (20, 1)
    ids = _merchants(tmp_path, ["merchant_id"]).column(0).to_pylist()
    assert "generic:99" not in ids and len(ids) == 20
    # the rejects and the rows name the table's URL, not the temporary dump's "junk.csv"
    label = got.ingest.sources[0].path
    assert label.startswith("postgresql://") and label.endswith(f"?table={schema}.junk")
    assert pd.read_csv(got.rejects_path, dtype=str)["source_file"].tolist() == [label]
    files = _merchants(tmp_path, ["merchant_id", "source_file"]).column(1).to_pylist()
    assert set(files) == {label}


def test_srid_0_keeps_asking_for_the_crs(pg: str, schema: str, tmp_path: Path) -> None:
    """SRID 0 says nothing about the CRS: projected values are refused as before."""
    _execute(pg, f'CREATE TABLE "{schema}".feet (id int, name text, geom geometry)',
             f'INSERT INTO "{schema}".feet SELECT g, \'S\' || g, ST_MakePoint(987000 + g, '
             "200000 + g) FROM generate_series(1, 20) g")
    with pytest.raises(IngestError, match="does not say which coordinate reference system"):
        load([f"{pg}?table={schema}.feet"], data_dir=tmp_path)


# --------------------------------------------------------- bug 3: DateStyle, TimeZone
def test_dates_read_alike_whatever_the_database_datestyle_and_timezone(
    pg: str, schema: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With DateStyle 'SQL, DMY' the dump wrote 16/09/2023 00:00:00 UTC and the dates were
    dropped; with TimeZone America/New_York a midnight UTC review moved to the day before."""
    base = datetime(2023, 9, 15, tzinfo=UTC)
    rows = [(i, f"Flat {i}", 52.35 + i * 1e-4, 4.9 + i * 1e-4, base + timedelta(days=i))
            for i in range(1, 41)]
    _execute(pg, f'CREATE TABLE "{schema}".flats (id int, name text, latitude float8, '
                 "longitude float8, last_review timestamptz, first_review date)")
    for row in rows:
        _execute(pg, f'INSERT INTO "{schema}".flats VALUES (%s, %s, %s, %s, %s, %s)',
                 args=(*row, (row[4] - timedelta(days=400)).date()))
    oracle = _write_csv(tmp_path / "flats.csv",
                        ["id", "name", "latitude", "longitude", "last_review", "first_review"],
                        [[*r[:4], r[4].strftime("%Y-%m-%d"),
                          (r[4] - timedelta(days=400)).strftime("%Y-%m-%d")] for r in rows])
    want = load([oracle], data_dir=tmp_path / "csv")
    for i, settings in enumerate([("DateStyle=SQL,DMY",), ("DateStyle=German",),
                                  ("TimeZone=America/New_York",),
                                  ("DateStyle=SQL,MDY", "TimeZone=Asia/Tokyo")]):
        _session(monkeypatch, *settings)
        got = load([f"{pg}?table={schema}.flats"], data_dir=tmp_path / str(i))
        _same_rows(got, tmp_path / str(i), want, tmp_path / "csv",
                   ["last_review", "first_review"])
        assert got.rows_warned == want.rows_warned == 0, settings


# -------------------------------------------------------------------- bug 4: --since
def test_since_is_an_instant_utc_when_naive_whatever_the_session_time_zone(
    pg: str, schema: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A naive --since was read in the session's time zone (rows skipped when it was
    America/New_York); an aware one against a timestamp column too."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    stamps = [start + timedelta(minutes=17 * i) for i in range(30)]
    _execute(pg, f'CREATE TABLE "{schema}".aware (id int, name text, lat float8, lng float8, '
                 "updated_at timestamptz)",
             f'CREATE TABLE "{schema}".naive (id int, name text, lat float8, lng float8, '
                 "updated_at timestamp)")  # fmt: skip
    for i, t in enumerate(stamps):
        for table, value in (("aware", t), ("naive", t.replace(tzinfo=None))):
            _execute(pg, f'INSERT INTO "{schema}".{table} VALUES (%s, %s, %s, %s, %s)',
                     args=(i, f"S{i}", 40.7 + i * 1e-3, -74.0, value))
    cuts = [datetime(2026, 1, 1, 2, 0), datetime(2026, 1, 1, 9, 30, tzinfo=timezone(
        timedelta(hours=5))), "2026-01-01T03:05:00", "2026-01-01T01:00:00-02:00",
        "2026-01-01T04:00:00Z"]  # fmt: skip
    _session(monkeypatch, "TimeZone=America/New_York")
    for table in ("aware", "naive"):
        url = f"{pg}?table={schema}.{table}"
        for j, cut in enumerate(cuts):
            utc = datetime.fromisoformat(cut.replace("Z", "+00:00")) if isinstance(
                cut, str) else cut  # fmt: skip
            utc = utc.replace(tzinfo=UTC) if utc.tzinfo is None else utc
            want = sorted(f"generic:{i}" for i, t in enumerate(stamps) if t > utc)
            d = tmp_path / f"{table}{j}"
            got = load([parse_pg_url(url, since=cut)], data_dir=d, allow_empty=True)
            assert got.rows_read == len(want), (table, cut)
            assert _merchants(d, ["merchant_id"]).column(0).to_pylist() == want, (table, cut)
    with pytest.raises(DatabaseError, match="not an ISO 8601"):
        parse_pg_url(f"{pg}?table={schema}.aware", since="yesterday")


def test_the_cli_takes_since_with_an_offset_and_names_a_bad_one(
    pg: str, schema: str, tmp_path: Path
) -> None:
    """`load --since 2026-01-01T03:00:00+02:00` was a usage error (the option took three
    naive formats only); now an instant, and a value that is none is named."""
    from typer.testing import CliRunner

    from geo_discovery.cli.main import app

    _execute(pg, f'CREATE TABLE "{schema}".upd (id int, name text, lat float8, lng float8, '
                 "updated_at timestamptz)")  # fmt: skip
    for i in range(6):  # 00:00, 00:30, … 02:30 UTC
        _execute(pg, f'INSERT INTO "{schema}".upd VALUES (%s, %s, %s, %s, %s)',
                 args=(i, f"S{i}", 40.7 + i * 1e-3, -74.0,
                       datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=30 * i)))
    runner = CliRunner(env={"COLUMNS": "240"})
    url = f"{pg}?table={schema}.upd"
    done = runner.invoke(app, ["load", url, "--since", "2026-01-01T03:00:00+02:00",
                               "--data-dir", str(tmp_path / "d")])  # fmt: skip
    assert done.exit_code == 0, done.output
    ids = _merchants(tmp_path / "d", ["merchant_id"]).column(0).to_pylist()
    assert ids == ["generic:3", "generic:4", "generic:5"]  # after 01:00 UTC
    bad = runner.invoke(app, ["load", url, "--since", "yesterday", "--data-dir",
                              str(tmp_path / "e")])  # fmt: skip
    assert bad.exit_code == 2 and "--since='yesterday' is not an ISO 8601" in bad.output


# ------------------------------------------------------------ bug 5: password param
def test_a_password_query_parameter_is_never_printed_or_stored(
    pg: str, schema: str, tmp_path: Path
) -> None:
    secret = "t0psecretPW"
    assert secret not in masked_url(f"postgresql://u@h/db?table=t&password={secret}")
    assert secret not in masked_url(f"postgresql://h/db?PassWord={secret}&table=t")
    assert secret not in masked_url(f"postgresql://h/db?sslpassword={secret}")
    assert secret not in masked_text(f"load postgresql://h/db?password={secret}&table=t x")
    assert secret not in scrub(f"error near {secret}", f"postgresql://h/db?password={secret}")
    assert masked_url(f"postgresql://h/db?table=t&password={secret}&sslmode=disable") == (
        "postgresql://h/db?table=t&password=***&sslmode=disable")
    _execute(pg, f'CREATE TABLE "{schema}".shops (id int, name text, lat float8, lng float8)',
             f"INSERT INTO \"{schema}\".shops VALUES (1, 'A', 40.7, -74.0)")
    data = tmp_path / "d"
    got = load([f"{pg}?table={schema}.shops&password={secret}"], data_dir=data)
    assert got.rows_loaded == 1 and got.ingest is not None
    assert secret not in got.ingest.sources[0].path
    assert "password=***" in got.ingest.sources[0].path
    for path in data.rglob("*"):  # manifest, snapshots table, logs
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
    for url in (f"{pg}?password={secret}&table={schema}.nosuch",
                f"{pg}?password={secret}&bogus=1&table={schema}.shops"):
        with pytest.raises(DatabaseError) as caught:
            load([url], data_dir=tmp_path / "e")
        assert secret not in str(caught.value) and "password=***" in str(caught.value)
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-m", "geo_discovery.cli.main", "load",
         f"{pg}?password={secret}&table={schema}.nosuch", "--data-dir", str(tmp_path / "f")],
        capture_output=True, text=True, cwd=root, timeout=120, check=False)  # fmt: skip
    assert done.returncode == 1 and "does not exist" in done.stderr, done.stderr
    assert secret not in done.stdout + done.stderr


# ------------------------------------------------------------ bug 6: postgresql:///DB
def test_a_url_without_host_uses_pghost(
    pg: str, schema: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """postgresql:///DB was rebuilt as postgresql:/DB, which libpq refuses."""
    assert parse_pg_url("postgresql:///db?table=t").conninfo == "postgresql:///db"
    assert parse_pg_url("postgresql:///db?sslmode=disable&table=t").conninfo == (
        "postgresql:///db?sslmode=disable")
    options = "postgresql://h/db?table=t&options=-c%20DateStyle%3DISO"  # kept as given
    assert parse_pg_url(options).conninfo == "postgresql://h/db?options=-c%20DateStyle%3DISO"
    parts = urlsplit(pg)
    monkeypatch.setenv("PGHOST", parts.hostname or "")
    monkeypatch.setenv("PGPORT", str(parts.port or 5432))
    monkeypatch.setenv("PGUSER", parts.username or "")
    _execute(pg, f'CREATE TABLE "{schema}".shops (id int, name text, lat float8, lng float8)',
             f"INSERT INTO \"{schema}\".shops SELECT g, 'S' || g, 40.7 + g * 0.001, -74.0 "
             "FROM generate_series(1, 25) g")
    want = load([f"{pg}?table={schema}.shops"], data_dir=tmp_path / "full")
    got = load([f"postgresql://{parts.path}?table={schema}.shops"], data_dir=tmp_path / "env")
    _same_rows(got, tmp_path / "env", want, tmp_path / "full", ["name", "lat", "lng"])


# --------------------------------------------------------------------- bug 7: arrays
def test_an_array_category_reads_as_the_list_its_csv_holds(
    pg: str, schema: str, tmp_path: Path
) -> None:
    """text[] {food/cafe,shop} was dumped as {food/cafe,shop} and read as food/cafe_shop,
    with no note; the CSV list [food/cafe, shop] gives food/cafe with a note."""
    lists: list[list[str | None] | None] = [["food/cafe", "shop"], ["shop/books"], [],
                                            ["food/bakery", "food/cafe", "shop"], None,
                                            [None, "food/cafe"]]  # NULL: no item
    rows = [(i, f"Cafe {i}", 40.7 + i * 1e-3, -74.0, lists[i % len(lists)]) for i in range(30)]
    _execute(pg, f'CREATE TABLE "{schema}".cafes (id int, name text, lat float8, lng float8, '
                 "category text[])")
    for row in rows:
        _execute(pg, f'INSERT INTO "{schema}".cafes VALUES (%s, %s, %s, %s, %s)', args=row)
    def cell(items: list[str | None] | None) -> str:  # as a CSV export of a list writes it
        items = [x for x in items or [] if x is not None]
        return "[" + ", ".join(items) + "]" if items else ""

    oracle = _write_csv(tmp_path / "cafes.csv", ["id", "name", "lat", "lng", "category"],
                        [[*r[:4], cell(r[4])] for r in rows])
    got = load([f"{pg}?table={schema}.cafes"], data_dir=tmp_path / "pg")
    want = load([oracle], data_dir=tmp_path / "csv")
    _same_rows(got, tmp_path / "pg", want, tmp_path / "csv", ["category"])
    assert got.ingest is not None and want.ingest is not None
    note = [n for n in want.ingest.sources[0].notes if n.startswith("category")]
    assert note and [n for n in got.ingest.sources[0].notes if n.startswith("category")] == note


# ---------------------------------------------------------- bug 8: kill -9 leftovers
def test_a_killed_loads_dump_is_removed_by_the_next_load(
    pg: str, schema: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """kill -9 of a PostgreSQL load left its table dump in /tmp/geo-discovery-pg-*, for
    ever; another live process's dump, and other files, stay."""
    _execute(pg, f'CREATE TABLE "{schema}".shops (id int, name text, lat float8, lng float8)',
             f"INSERT INTO \"{schema}\".shops SELECT g, 'S' || g, 40.7 + g * 1e-4, -74.0 "
             "FROM generate_series(1, 500) g")
    temp = tmp_path / "tmp"
    temp.mkdir()
    url = f"{pg}?table={schema}.shops"
    code = ("import sys, time\nfrom geo_discovery.ingest.postgres import materialise\n"
            "with materialise([sys.argv[1]]) as (files, labels):\n"
            "    print(files[0], flush=True)\n    time.sleep(120)\n")

    def start(procs: list[subprocess.Popen[str]]) -> tuple[subprocess.Popen[str], Path]:
        proc = subprocess.Popen([sys.executable, "-c", code, url], stdout=subprocess.PIPE,
                                text=True, env={**os.environ, "TMPDIR": str(temp)})
        procs.append(proc)
        assert proc.stdout is not None
        dump = Path(proc.stdout.readline().strip())
        assert dump.is_file() and dump.stat().st_size > 0
        return proc, dump.parent.parent  # <tmp>/geo-discovery-pg-…/0/shops.csv

    procs: list[subprocess.Popen[str]] = []
    try:
        (killed, killed_dir), (_, alive_dir) = start(procs), start(procs)
        assert str(killed.pid) in killed_dir.name
        killed.kill()  # SIGKILL: no clean-up of its own
        killed.wait()
        assert killed_dir.exists()
        (temp / "geo-discovery-pg-notours").mkdir()
        monkeypatch.setattr("tempfile.tempdir", str(temp))
        got = load([url], data_dir=tmp_path / "d")
        assert got.rows_loaded == 500
        assert not killed_dir.exists()
        assert alive_dir.exists() and (temp / "geo-discovery-pg-notours").exists()
        assert sorted(p.name for p in temp.iterdir()) == sorted(
            [alive_dir.name, "geo-discovery-pg-notours"])
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()


# ------------------------------------------------------ bug 9: geometries, not points
def test_a_multipoint_of_one_point_reads_as_that_point(
    pg: str, schema: str, tmp_path: Path
) -> None:
    """MULTIPOINT((x y)) was dumped as such and rejected as "lat is missing"; a GeoJSON
    file's single-point MultiPoint is read as its point, and so is this one."""
    rows = _nyc(30)
    _execute(pg, f'CREATE TABLE "{schema}".shops (id int, name text, geom geometry)')
    for i, name, lat, lng in rows:
        shape = "ST_Multi(ST_MakePoint(%s, %s))" if i % 2 else "ST_MakePoint(%s, %s)"
        _execute(pg, f'INSERT INTO "{schema}".shops VALUES (%s, %s, ST_SetSRID({shape}, 4326))',
                 args=(i, name, lng, lat))
    oracle = _write_csv(tmp_path / "shops.csv", ["id", "name", "lat", "lng"],
                        [list(r) for r in rows])
    got = load([f"{pg}?table={schema}.shops"], data_dir=tmp_path / "pg")
    want = load([oracle], data_dir=tmp_path / "csv")
    _same_rows(got, tmp_path / "pg", want, tmp_path / "csv", ["name", "lat", "lng"])


def test_other_geometries_are_rejected_naming_their_type(
    pg: str, schema: str, tmp_path: Path
) -> None:
    """Polygons and multi-points were rejected as "lat is missing; lng is missing", and a
    table of polygons only failed as "missing lat/lng columns"."""
    rows = _nyc(24)
    shapes: dict[int, Any] = {}
    for i, _name, lat, lng in rows:
        shapes[i] = [shapely.Point(lng, lat), shapely.Point(lng, lat).buffer(1e-3),
                     shapely.MultiPoint([(lng, lat), (lng + 1e-3, lat)]),
                     shapely.LineString([(lng, lat), (lng + 1e-3, lat)])][i % 4]
    _execute(pg, f'CREATE TABLE "{schema}".shops (id int, name text, geom geometry)',
             f'CREATE TABLE "{schema}".parks (id int, name text, geom geometry)')
    for i, name, _lat, _lng in rows:
        for table, shape in (("shops", shapes[i]), ("parks", shapes[i].buffer(1e-4))):
            _execute(pg, f'INSERT INTO "{schema}".{table} VALUES (%s, %s, '
                         "ST_GeomFromText(%s, 4326))", args=(i, name, shape.wkt))
    oracle = _write_csv(tmp_path / "shops.csv", ["id", "name", "geom"],
                        [[i, name, shapes[i].wkt] for i, name, _lat, _lng in rows])
    got = load([f"{pg}?table={schema}.shops"], data_dir=tmp_path / "pg")
    want = load([oracle], data_dir=tmp_path / "csv")
    _same_rows(got, tmp_path / "pg", want, tmp_path / "csv", ["name", "lat", "lng"])
    reasons = {}
    for report in (got, want):
        assert report.rejects_path is not None
        frame = pd.read_csv(report.rejects_path, dtype=str)
        reasons[report is got] = dict(zip(frame["merchant_id"], frame["reason"], strict=True))
        assert set(frame["kind"]) == {"bad geometry"}
    expected = {f"generic:{i}": f"geometry is a {s.geom_type.upper()}, not a point; allowed: "
                                "POINT" for i, s in shapes.items() if s.geom_type != "Point"}
    for found in reasons.values():
        assert {k: v.split("; lat is missing")[0] for k, v in found.items()} == expected
    with pytest.raises(IngestError, match=r"column 'geom' holds geometries but no points "
                                          r"\(MULTIPOLYGON, POLYGON\); allowed: POINT"):
        load([f"{pg}?table={schema}.parks"], data_dir=tmp_path / "parks")
