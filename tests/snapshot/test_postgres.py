"""PostgreSQL/PostGIS as source and sink, against the real server of benchmarks/servers.sh.

The server is ``host=127.0.0.1 port=54329 user=postgres`` (trust auth) with PostGIS in
``geo_discovery_bench`` (``GEO_DISCOVERY_TEST_PG_URL`` overrides the URL). Locally the
tests skip with the reason when it is not reachable; under ``CI=true`` they fail, since
``.ci/run`` starts it. Each test works in its own schema, dropped at the end.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pytest

from geo_discovery.engine import DiscoveryEngine
from geo_discovery.errors import DatabaseError
from geo_discovery.export import export_postgis
from geo_discovery.ingest.postgres import masked_url, materialise, parse_pg_url, scrub
from geo_discovery.snapshot.pipeline import load

#: The merchant columns a round trip through PostGIS must keep (the provenance columns
#: source, source_file, source_line and attributes describe the new load instead).
KEPT = ("merchant_id", "name", "lat", "lng", "category", "address", "phone", "website",
        "price_level", "opening_hours", "status", "rating", "rating_scale", "review_count",
        "reviews_per_month", "first_review", "last_review", "quality_grade",
        "inspection_score", "attractiveness", "brand")
FILES = ("nyc/nyc_restaurants_dohmh_mongodb_primer_subset.csv",
         "cities/airbnb_boston_2021-12_listings_ratings.csv.gz")


@pytest.fixture()
def schema(pg: str) -> Iterator[str]:
    import psycopg

    name = f"t_{uuid.uuid4().hex[:10]}"
    yield name
    with psycopg.connect(pg) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def _sql(url: str, query: str, *args: Any) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(url) as conn:
        return conn.execute(query, args or None).fetchall()


@pytest.fixture(scope="module")
def engine(real_data: Path, tmp_path_factory: pytest.TempPathFactory) -> DiscoveryEngine:
    """A snapshot of real restaurants (inspections) and Boston listings (ratings)."""
    d = tmp_path_factory.mktemp("pgsrc")
    load([real_data / f for f in FILES], data_dir=d)
    return DiscoveryEngine.from_snapshot(d)


# ------------------------------------------------------------------- the round trip
def test_files_alone_make_no_temporary_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only a PostgreSQL source needs a folder for its dump: a load of files made one
    each time, and a load killed midway left it behind."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(temp))
    given = [tmp_path / "a.csv", "b.geojson"]
    with materialise(given) as (files, labels):
        assert files == [tmp_path / "a.csv", Path("b.geojson")] and labels == {}
        assert list(temp.iterdir()) == []


def test_a_malformed_url_is_named_and_no_password_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An open IPv6 bracket was an internal error, and the crash log held the command line
    with the password as typed."""
    from geo_discovery.cli.common import write_crash_log
    from geo_discovery.export import export_postgis

    url = "postgresql://postgres:s3cr3tPW@[::1/x?table=t"
    for call in (lambda: parse_pg_url(url), lambda: load([url], data_dir=tmp_path / "d"),
                 lambda: export_postgis(None, url.split("?")[0])):  # type: ignore[arg-type]
        with pytest.raises(DatabaseError, match=r"postgres:\*\*\*@\[::1/x.*not a valid URL"):
            call()
    monkeypatch.setattr("sys.argv", ["geo-discovery", "load", url, "--data-dir", "d"])
    log = write_crash_log(ValueError(f"bad {url}"), tmp_path)
    text = log.read_text()
    assert "s3cr3tPW" not in text and "postgres:***@[::1/x?table=t --data-dir d" in text


def test_file_snapshot_postgis_snapshot_gives_the_same_merchants(
    pg: str, schema: str, engine: DiscoveryEngine, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    districts = engine.districts()
    biggest = str(districts.index[0])
    report = export_postgis(engine, pg, schema=schema, catchment=[biggest, biggest])
    n = len(engine)
    assert report.tables["merchants"] == n and report.tables["districts"] == len(districts)
    # a district asked for twice is written once (its cells were written twice)
    assert report.tables["catchment_cells"] == len(engine.catchment(biggest).cells) > 0

    # what an analyst sees: typed columns, valid geometries, GiST indexes
    assert _sql(pg, f'SELECT count(*) FROM "{schema}".merchants')[0][0] == n
    indexes = {r[0] for r in _sql(pg, "SELECT indexname FROM pg_indexes WHERE schemaname = %s",
                                  schema)}
    assert {"merchants_geog_gist", "districts_geom_gist", "catchment_cells_geom_gist"} <= indexes
    (bad,) = _sql(pg, f'SELECT count(*) FROM "{schema}".districts WHERE NOT ST_IsValid(geom)')[0]
    assert bad == 0
    mid = engine.snapshot.merchants.column("merchant_id")[0].as_py()
    (x, y, d_id), = _sql(pg, f'SELECT ST_X(geog::geometry), ST_Y(geog::geometry), district_id '
                              f'FROM "{schema}".merchants WHERE merchant_id = %s', mid)
    row = engine.get(mid)
    assert (y, x) == (row["lat"], row["lng"])
    columns = engine.snapshot.district_columns
    assert columns is not None and d_id == columns[0][0]
    # every merchant the snapshot puts in a district lies inside that district's polygon
    (outside,) = _sql(pg, f'SELECT count(*) FROM "{schema}".merchants m JOIN "{schema}".'
                          f"districts d USING (district_id) WHERE NOT ST_Intersects("
                          f"d.geom, ST_Buffer(m.geog, 0.01)::geometry)")[0]
    assert outside == 0
    ((share,),) = _sql(pg, f'SELECT sum(expected) / sum(population) FROM "{schema}".'
                           f"catchment_cells WHERE district_id = %s", biggest)
    assert share == pytest.approx(engine.catchment(biggest).share, rel=1e-9)

    # ... and back: the table loads into a snapshot with the same merchants
    back, temp = tmp_path / "back", tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(temp))
    reloaded = load([f"{pg}?table={schema}.merchants"], data_dir=back)
    assert list(temp.iterdir()) == []  # the dump's folder is gone with the load
    assert reloaded.rows_rejected == 0 and reloaded.rows_loaded == n
    assert reloaded.ingest is not None
    assert reloaded.ingest.sources[0].path == f"{masked_url(pg)}?table={schema}.merchants"
    a = engine.snapshot.merchants.select(list(KEPT))
    b = DiscoveryEngine.from_snapshot(back).snapshot.merchants.select(list(KEPT))
    order_a = pc.sort_indices(a, [("merchant_id", "ascending")])
    order_b = pc.sort_indices(b, [("merchant_id", "ascending")])
    a, b = a.take(order_a), b.take(order_b)
    for name in KEPT:
        assert a.column(name).equals(b.column(name)), name


def test_sql_ending_in_a_comment_or_a_semicolon_loads(
    pg: str, schema: str, tmp_path: Path
) -> None:
    """The query was wrapped on one line: a closing "-- comment" swallowed the ")"."""
    import psycopg

    with psycopg.connect(pg) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
        conn.execute(f'CREATE TABLE "{schema}".shops (id text, name text, lat float, lng float)')
        conn.execute(f"INSERT INTO \"{schema}\".shops VALUES ('1', 'A', 40.7, -74.0)")
    tails = (" -- only the shops", ";", " ;\n", "\n-- the end\n", "; -- the end", ";\n/* x; */;",
             " WHERE name <> ';--' /* open")
    for i, tail in enumerate(tails):
        got = load([parse_pg_url(pg, sql=f'SELECT * FROM "{schema}".shops{tail}')],
                   data_dir=tmp_path / str(i))  # fmt: skip
        assert got.rows_loaded == 1 and got.rows_rejected == 0, tail


def test_a_query_without_coordinates_is_named_by_its_url_not_its_dump(
    pg: str, tmp_path: Path
) -> None:
    """The reader's message named the temporary dump (/tmp/geo-discovery-pg-…/query.csv)."""
    from geo_discovery.errors import IngestError

    with pytest.raises(IngestError, match="missing lat/lng columns") as err:
        load([parse_pg_url(pg, sql="SELECT 1 AS id, 'x' AS name")], data_dir=tmp_path)
    assert str(err.value).startswith(masked_url(pg) + ":"), err.value
    assert "geo-discovery-pg-" not in str(err.value)


def test_dates_export_as_timestamps_and_a_nul_does_not_stop_the_export(
    pg: str, schema: str, tmp_path: Path
) -> None:
    """Snapshots hold timestamp[ms], which fell back to text; a name with a NUL character
    made every export fail: no PostgreSQL text holds one (a load now removes it, noted)."""
    src = tmp_path / "shops.csv"
    shops = b"".join(b"%d,Shop %d,40.%04d,-74.0,2023-01-02\n" % (i, i, i) for i in range(3, 400))
    src.write_bytes(b"id,name,lat,lng,last_review\n2,Deli,40.71,-74.0,2023-01-02\n" + shops
                    + b"1,Caf\x00e,40.7,-74.0,2024-03-05\n")  # past the part sniffed: loaded
    load([src], data_dir=tmp_path / "d")
    engine = DiscoveryEngine.from_snapshot(tmp_path / "d")
    assert engine.get("generic:1")["name"] == "Cafe"
    report = export_postgis(engine, pg, schema=schema)
    assert report.tables["merchants"] == 399
    kinds = dict(_sql(pg, "SELECT column_name, data_type FROM information_schema.columns "
                          "WHERE table_schema = %s AND table_name = 'merchants'", schema))
    assert kinds["last_review"] == kinds["first_review"] == "timestamp without time zone"
    rows = dict(_sql(pg, f'SELECT name, last_review::date::text FROM "{schema}".merchants '
                         "WHERE merchant_id IN ('generic:1', 'generic:2')"))
    assert rows == {"Cafe": "2024-03-05", "Deli": "2023-01-02"}


def test_since_loads_only_rows_updated_later_as_an_upsert(
    pg: str, schema: str, tmp_path: Path
) -> None:
    import psycopg

    with psycopg.connect(pg) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
        conn.execute(f'CREATE TABLE "{schema}".shops (id text, name text, geom geometry('
                     "Point, 4326), updated_at timestamp)")
        conn.execute(f'INSERT INTO "{schema}".shops VALUES '
                     "('1', 'Old', ST_SetSRID(ST_MakePoint(-74.0, 40.70), 4326), '2026-01-01'),"
                     "('2', 'Two', ST_SetSRID(ST_MakePoint(-74.0, 40.71), 4326), '2026-01-01')")
    store = tmp_path / "store"
    first = load([f"{pg}?table={schema}.shops"], data_dir=store)
    assert first.rows_loaded == 2
    with psycopg.connect(pg) as conn:
        conn.execute(f"UPDATE \"{schema}\".shops SET name = 'New', updated_at = '2026-03-01' "
                     "WHERE id = '1'")
        conn.execute(f'INSERT INTO "{schema}".shops VALUES '
                     "('3', 'Three', ST_SetSRID(ST_MakePoint(-74.0, 40.72), 4326), '2026-03-02')")
    src = parse_pg_url(f"{pg}?table={schema}.shops", since=datetime(2026, 2, 1))
    second = load([src], data_dir=store, mode="upsert")
    assert (second.rows_read, second.rows_loaded) == (2, 2)
    names = DiscoveryEngine.from_snapshot(store).snapshot.merchants.column("name").to_pylist()
    assert sorted(names) == ["New", "Three", "Two"]


# ------------------------------------------------------------------ transactions
def test_a_failed_export_leaves_the_previous_tables(
    pg: str, schema: str, engine: DiscoveryEngine
) -> None:
    export_postgis(engine, pg, schema=schema)
    before = _sql(pg, f'SELECT count(*), min(merchant_id) FROM "{schema}".merchants')
    # a view on the old districts table makes its drop fail inside the transaction
    import psycopg

    with psycopg.connect(pg) as conn:
        conn.execute(f'CREATE VIEW "{schema}".busy AS SELECT district_id FROM '
                     f'"{schema}".districts')
    with pytest.raises(DatabaseError, match="previous tables are unchanged") as caught:
        export_postgis(engine, pg, schema=schema)
    assert "busy" in str(caught.value)
    assert _sql(pg, f'SELECT count(*), min(merchant_id) FROM "{schema}".merchants') == before
    tables = {r[0] for r in _sql(pg, "SELECT tablename FROM pg_tables WHERE schemaname = %s",
                                 schema)}
    assert tables == {"merchants", "districts", "geo_discovery_export"}


def test_every_export_names_its_keys_and_indexes_for_its_tables(
    pg: str, schema: str, engine: DiscoveryEngine
) -> None:
    """A renamed table keeps its constraint's name: the key was merchants__new_pkey, then
    merchants__new_pkey1 beside the last export's."""
    query = ("SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
             "WHERE n.nspname = %s AND c.relkind = 'i' ORDER BY 1")
    names = []
    for _ in range(3):
        export_postgis(engine, pg, schema=schema)
        names.append([r[0] for r in _sql(pg, query, schema)])
    assert names[0] == names[1] == names[2]
    assert {"merchants_pkey", "districts_pkey", "merchants_geog_gist"} <= set(names[0])
    assert not [n for n in names[0] if "__new" in n]


# --------------------------------------------------------------------- credentials
def test_passwords_are_never_printed(pg: str, tmp_path: Path) -> None:
    url = "postgresql://postgres:hunter2secret@127.0.0.1:1/nowhere?table=shops"
    with pytest.raises(DatabaseError) as caught:
        load([url], data_dir=tmp_path)
    assert "hunter2secret" not in str(caught.value) and "postgres:***@" in str(caught.value)
    assert scrub("password=abc host=x", "postgresql://u:abc@h/d") == "password=*** host=x"
    root = Path(__file__).resolve().parents[2]
    for args in (["load", url, "--data-dir", str(tmp_path)],
                 ["export", "--to", url.split("?")[0], "--data-dir", str(tmp_path)]):
        done = subprocess.run([sys.executable, "-m", "geo_discovery.cli.main", *args],
                              capture_output=True, text=True, cwd=root, timeout=120, check=False)
        assert done.returncode == 1, done.stderr
        assert "hunter2secret" not in done.stdout + done.stderr
        assert "Traceback" not in done.stderr


def test_bad_source_urls_name_the_problem(pg: str, tmp_path: Path) -> None:
    with pytest.raises(DatabaseError, match=r"\?table=NAME"):
        parse_pg_url(pg)
    with pytest.raises(DatabaseError, match="not allowed"):
        parse_pg_url(f"{pg}?table=a;drop")
    with pytest.raises(DatabaseError, match="does not exist"):
        load([f"{pg}?table=no_such_table_here"], data_dir=tmp_path)
    with pytest.raises(DatabaseError, match="needs an updated_at column"):
        load([parse_pg_url(pg, sql="SELECT 1 AS id", since=datetime(2026, 1, 1))],
             data_dir=tmp_path)
