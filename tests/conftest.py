"""Shared fixtures. Real data lives in ../shared/data (never copied into the repo).

``GEO_DISCOVERY_REAL_DATA`` points elsewhere; when the folder is absent, tests that
need it skip with a clear reason (``.ci/run`` turns that absence into a failure).

Heavy fixtures are built once per session and shared by every test folder:

* ``nyc_data_dir`` / ``nyc_engine`` — one snapshot of the real NYC merchants (food
  stores, DOHMH restaurants, Airbnb 2019), loaded through the real pipeline;
* ``sample_data_dir`` / ``sample_engine`` — the bundled Helsinki OSM sample (no real
  data needed);
* ``engine_factory`` — an in-memory engine over any canonical table;
* ``browser`` — Playwright's chromium for the ``browser`` tests (``browser_support.py``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from browser_support import launch_chromium

from geo_discovery.engine import DiscoveryEngine
from geo_discovery.settings import Settings

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SAMPLE_CSV = PROJECT_ROOT / "data" / "sample" / "helsinki_osm_pois.csv"
NYC_FILES = (
    "nyc/nyc_retail_food_stores.csv",
    "nyc/nyc_restaurants_dohmh_mongodb_primer_subset.csv",
    "nyc/nyc_airbnb_listings_2019.csv.gz",
)


def real_data_dir() -> Path | None:
    env = os.environ.get("GEO_DISCOVERY_REAL_DATA")
    path = Path(env) if env else PROJECT_ROOT.parent / "shared" / "data"
    return path if (path / "nyc").is_dir() else None


REAL_DATA = real_data_dir()
SKIP_REASON = (
    "real data not found: set GEO_DISCOVERY_REAL_DATA or place ../shared/data beside the "
    "project (see README, 'Real data')"
)


@pytest.fixture(scope="session")
def real_data() -> Path:
    """Path to ../shared/data; skips the test with a clear reason when it is absent."""
    if REAL_DATA is None:
        pytest.skip(SKIP_REASON)
    return REAL_DATA


@pytest.fixture(scope="session")
def nyc_data_dir(real_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir holding one snapshot of the real NYC merchants (about 67k)."""
    from geo_discovery.snapshot.pipeline import load

    data_dir = tmp_path_factory.mktemp("nyc")
    load(
        [real_data / f for f in NYC_FILES],
        data_dir=data_dir,
        settings=Settings(data_dir=data_dir),
    )
    return data_dir


@pytest.fixture(scope="session")
def nyc_engine(nyc_data_dir: Path) -> DiscoveryEngine:
    """The engine over :func:`nyc_data_dir` (read-only: never publish into it)."""
    return DiscoveryEngine.from_snapshot(nyc_data_dir, settings=Settings(data_dir=nyc_data_dir))


@pytest.fixture(scope="session")
def sample_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir holding the bundled Helsinki OSM sample (read-only)."""
    from geo_discovery.snapshot.pipeline import load

    data_dir = tmp_path_factory.mktemp("sample")
    load([SAMPLE_CSV], data_dir=data_dir, profile="osm_poi", settings=Settings(data_dir=data_dir))
    return data_dir


@pytest.fixture(scope="session")
def sample_engine(sample_data_dir: Path) -> DiscoveryEngine:
    return DiscoveryEngine.from_snapshot(
        sample_data_dir, settings=Settings(data_dir=sample_data_dir)
    )


@pytest.fixture(scope="session")
def engine_factory() -> Callable[..., DiscoveryEngine]:
    """``engine_factory(table, **settings)``: an in-memory engine over a canonical table."""

    def make(table: pa.Table, *, resolution: int | None = None, **kw: Any) -> DiscoveryEngine:
        return DiscoveryEngine.from_table(table, settings=Settings(**kw), resolution=resolution)

    return make


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless chromium (Playwright); skips with the reason when it is absent."""
    yield from launch_chromium()


#: The PostGIS server of the PostgreSQL tests (``bash benchmarks/servers.sh start``; .ci/run
#: starts it); ``GEO_DISCOVERY_TEST_PG_URL`` overrides it.
PG_URL = os.environ.get(
    "GEO_DISCOVERY_TEST_PG_URL", "postgresql://postgres@127.0.0.1:54329/geo_discovery_bench"
)


@pytest.fixture(scope="session")
def pg() -> str:
    """The PostgreSQL + PostGIS URL; skips with the reason when it is not reachable (CI
    fails instead: it starts the server)."""
    try:
        import psycopg
    except ImportError:
        reason = "psycopg is not installed (pip install -e '.[postgres]')"
    else:
        from geo_discovery.ingest.postgres import masked_url

        try:
            with psycopg.connect(PG_URL, connect_timeout=3) as conn:
                conn.execute("SELECT postgis_lib_version()")
            return PG_URL
        except psycopg.Error as exc:
            reason = (f"PostgreSQL+PostGIS not reachable at {masked_url(PG_URL)} "
                      f"({str(exc).strip()}); start it with `bash benchmarks/servers.sh start`")
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI requires the PostGIS server: {reason}")
    pytest.skip(reason)
