"""Server-backed peers: PostgreSQL + PostGIS and Redis GEOSEARCH, on 127.0.0.1.

Start the servers with ``benchmarks/servers.sh start`` (Debian's packages; see that script).
Connection settings come from the environment:

``GEO_DISCOVERY_BENCH_PG_DSN``
    libpq DSN, default ``host=127.0.0.1 port=54329 user=postgres dbname=geo_discovery_bench``
    (the port: ``GEO_DISCOVERY_BENCH_PG_PORT`` when set, as ``servers.sh`` uses it).
``GEO_DISCOVERY_BENCH_REDIS_URL``
    default ``redis://127.0.0.1:63799/0`` (the port: ``GEO_DISCOVERY_BENCH_REDIS_PORT``).

When a server (or its Python client, the ``bench`` extra) is missing, ``unavailable()`` says
which, and the harness reports the method as skipped. Each build loads the points into its own
table / key (named after the process id) and ``close`` drops it.

Both servers measure distance their own way, so each adapter asks for a provable *superset*
of the answer and keeps it with the oracle's haversine on the original coordinates (held
client-side by position, 16 bytes a point, counted in the index bytes):

* PostGIS ``geography`` distances with ``use_spheroid = false`` are on a sphere of radius
  6,371,008.77 m (the WGS 84 mean radius), ours on 6,371,007.18 m: the order is the same (both
  are monotone in the central angle), the metres differ by 2.5e-7 relative. kNN is
  ``ORDER BY geog <-> q LIMIT k`` (GiST, exact sphere distance on recheck); radius is
  ``ST_DWithin(geog, q, r', false)`` with ``r'`` scaled to PostGIS's radius plus a millimetre.
* Redis stores 52-bit geohashes (points move by up to ~0.6 m), measures with its own
  haversine on a 6,372,797.56 m sphere, and rejects latitudes beyond ±85.05112878°. Radius
  asks for ``r × 6372797.56 / 6371007.18 + 2 m`` and filters exactly; kNN grows a
  GEOSEARCH radius (×4 from 250 m, ``ASC COUNT 2k``) until it has k candidates, takes their
  exact k-th distance ``d_k`` and, unless the search already covered it, asks once more for
  everything within ``d_k`` (scaled + 2 m). Points Redis cannot store are kept client-side and
  merged into every answer by brute force (none in the real data); a query beyond that
  latitude searches from the limit with the radius widened by the distance moved, and one
  from exactly 180° E searches from 180° W (from 180° Redis misses the points just across).
"""

from __future__ import annotations

import itertools
import math
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from geo_discovery.distance import EARTH_RADIUS_M

from .methods import EMPTY_RESULT, Method, Result, haversine_m, register, top_k, within

__all__ = ["PG_DSN_DEFAULT", "REDIS_URL_DEFAULT", "pg_dsn", "redis_url", "server_versions"]

PG_DSN_DEFAULT = "host=127.0.0.1 port=54329 user=postgres dbname=geo_discovery_bench"
REDIS_URL_DEFAULT = "redis://127.0.0.1:63799/0"
START_HINT = "start it with `benchmarks/servers.sh start`"
# PostGIS's sphere (spheroid_init: (2a + b) / 3 of WGS 84) and Redis's (geohash_helper.c).
PG_SPHERE_M = 6_371_008.771415059
REDIS_SPHERE_M = 6_372_797.560856
REDIS_MAX_LAT = 85.05112878
REDIS_QUERY_MAX_LAT = 85.0511287  # a hair inside, so rounding never takes it out
REDIS_MARGIN_M = 2.0  # > the largest geohash decode offset (~0.6 m) in Redis metres
_COUNTER = itertools.count()


def pg_dsn() -> str:
    """``GEO_DISCOVERY_BENCH_PG_DSN``, else the default on ``GEO_DISCOVERY_BENCH_PG_PORT``."""
    port = os.environ.get("GEO_DISCOVERY_BENCH_PG_PORT") or "54329"
    return os.environ.get("GEO_DISCOVERY_BENCH_PG_DSN") or PG_DSN_DEFAULT.replace("54329", port)


def redis_url() -> str:
    """``GEO_DISCOVERY_BENCH_REDIS_URL``, else the default on ``…_BENCH_REDIS_PORT``."""
    port = os.environ.get("GEO_DISCOVERY_BENCH_REDIS_PORT") or "63799"
    return os.environ.get("GEO_DISCOVERY_BENCH_REDIS_URL") or REDIS_URL_DEFAULT.replace(
        "63799", port
    )


def _name() -> str:
    return f"gd_bench_{os.getpid()}_{next(_COUNTER)}"


# ------------------------------------------------------------------------------ PostGIS
def _pg_unavailable() -> str | None:
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install -e '.[bench]')"
    try:
        with psycopg.connect(pg_dsn(), connect_timeout=3, autocommit=True) as conn:
            row = conn.execute(
                "SELECT extversion FROM pg_extension WHERE extname = 'postgis'"
            ).fetchone()
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"PostgreSQL not reachable at '{pg_dsn()}' ({first}); {START_HINT}"
    if row is None:
        return f"PostGIS extension missing in '{pg_dsn()}'; {START_HINT}"
    return None


@dataclass
class _Pg:
    conn: Any
    table: str
    lat: NDArray[np.float64]
    lng: NDArray[np.float64]
    knn_sql: str
    radius_sql: str


_POINT = "ST_SetSRID(ST_MakePoint(%s, %s), 4326)::geography"


def _pg_build(lat: NDArray, lng: NDArray, ids: NDArray) -> _Pg:
    import psycopg

    conn = psycopg.connect(pg_dsn(), autocommit=True)
    table = _name()
    conn.execute(f"DROP TABLE IF EXISTS {table}")
    conn.execute(
        f"CREATE UNLOGGED TABLE {table} (pos int4 NOT NULL, geog geography(Point, 4326) NOT NULL)"
    )
    with conn.cursor() as cur, cur.copy(f"COPY {table} (pos, geog) FROM STDIN") as copy:
        step = 100_000
        for start in range(0, len(lat), step):
            # repr() round-trips a float exactly; PostGIS parses WKT with strtod
            rows = zip(
                range(start, start + step),
                lng[start : start + step].tolist(),
                lat[start : start + step].tolist(),
                strict=False,
            )
            copy.write("".join(f"{i}\tSRID=4326;POINT({x!r} {y!r})\n" for i, x, y in rows))
    conn.execute(f"CREATE INDEX {table}_geog ON {table} USING gist (geog)")
    conn.execute(f"ANALYZE {table}")
    return _Pg(
        conn=conn,
        table=table,
        lat=np.ascontiguousarray(lat),
        lng=np.ascontiguousarray(lng),
        knn_sql=f"SELECT pos FROM {table} ORDER BY geog <-> {_POINT} LIMIT %s",
        radius_sql=f"SELECT pos FROM {table} WHERE ST_DWithin(geog, {_POINT}, %s, false)",
    )


def _pg_positions(pg: _Pg, sql: str, params: tuple[Any, ...]) -> NDArray[np.int64]:
    rows = pg.conn.execute(sql, params, prepare=True, binary=True).fetchall()
    return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))


def _pg_knn(pg: _Pg, lat: float, lng: float, k: int) -> Result:
    if k <= 0:
        return EMPTY_RESULT
    cand = _pg_positions(pg, pg.knn_sql, (lng, lat, k))
    # PostGIS ordered them by exact sphere distance; re-rank by ours (same order up to ties)
    return top_k(cand, haversine_m(pg.lat[cand], pg.lng[cand], lat, lng), k)


def _pg_radius(pg: _Pg, lat: float, lng: float, r: float) -> Result:
    r_pg = r * (PG_SPHERE_M / EARTH_RADIUS_M) * (1.0 + 1e-9) + 1e-3
    cand = _pg_positions(pg, pg.radius_sql, (lng, lat, r_pg))
    return within(cand, haversine_m(pg.lat[cand], pg.lng[cand], lat, lng), r)


def _pg_nbytes(pg: _Pg) -> int:
    row = pg.conn.execute("SELECT pg_total_relation_size(%s::regclass)", (pg.table,)).fetchone()
    return int(row[0]) + pg.lat.nbytes + pg.lng.nbytes


def _pg_close(pg: _Pg) -> None:
    try:
        pg.conn.execute(f"DROP TABLE IF EXISTS {pg.table}")
    finally:
        pg.conn.close()


register(
    Method(
        name="postgis",
        label="PostGIS 3 GiST (geography, 127.0.0.1)",
        build=_pg_build,
        knn=_pg_knn,
        radius=_pg_radius,
        nbytes=_pg_nbytes,
        nbytes_how="pg_total_relation_size (heap + GiST) + 16 B/point client-side lat/lng",
        unavailable=_pg_unavailable,
        close=_pg_close,
        max_points=2_000_000,
        max_points_why="COPY + GiST build of 10M geographies takes several minutes and GBs of "
        "disk on a 2-core machine (run with --all-peers to include it)",
        note="unlogged table (pos int4, geog geography(Point)), loaded with COPY, GiST index; "
        "psycopg 3 over TCP, prepared statements, binary rows; kNN `ORDER BY geog <-> q LIMIT "
        "k`; radius `ST_DWithin(geog, q, r', false)` (sphere, r' scaled to PostGIS's radius); "
        "answers re-ranked / filtered with the oracle's haversine on the original coordinates",
    )
)


# -------------------------------------------------------------------------------- Redis
def _redis_unavailable() -> str | None:
    try:
        import redis
    except ImportError:
        return "redis-py is not installed (pip install -e '.[bench]')"
    try:
        client = redis.Redis.from_url(redis_url(), socket_connect_timeout=3)
        client.ping()
        version = client.info("server").get("redis_version", "0")
        client.close()
    except redis.RedisError as exc:
        return f"Redis not reachable at {redis_url()} ({exc}); {START_HINT}"
    if tuple(int(x) for x in str(version).split(".")[:2]) < (6, 2):
        return f"Redis {version} has no GEOSEARCH (needs 6.2+)"
    return None


@dataclass
class _Redis:
    client: Any
    key: str
    lat: NDArray[np.float64]
    lng: NDArray[np.float64]
    outside: NDArray[np.int64]  # positions Redis cannot store (|lat| > 85.05112878)


def _redis_build(lat: NDArray, lng: NDArray, ids: NDArray) -> _Redis:
    import redis

    client = redis.Redis.from_url(redis_url())
    key = _name()
    client.delete(key)
    ok = np.abs(lat) <= REDIS_MAX_LAT
    keep = np.flatnonzero(ok)
    step = 50_000
    for start in range(0, len(keep), step):
        part = keep[start : start + step]
        args: list[Any] = []
        east = np.where(lng[part] >= 180.0, -180.0, lng[part])  # the same meridian
        for i, x, y in zip(part.tolist(), east.tolist(), lat[part].tolist(), strict=True):
            args += (x, y, i)
        client.execute_command("GEOADD", key, *args)
    return _Redis(
        client,
        key,
        np.ascontiguousarray(lat),
        np.ascontiguousarray(lng),
        np.flatnonzero(~ok).astype(np.int64),
    )


def _redis_search(
    rd: _Redis, lat: float, lng: float, r_ours: float, count: int | None = None
) -> NDArray[np.int64]:
    """Members within a Redis radius that covers ``r_ours`` of our metres (the ``count``
    nearest by Redis's distance when given).

    Redis refuses to search from beyond ±85.05112878° too: such a query searches from the
    nearest allowed latitude with the radius widened by the distance moved (triangle
    inequality), which still covers the cap.
    """
    if lng >= 180.0:  # searching from exactly 180° misses the points just west of -180°
        lng -= 360.0
    if abs(lat) > REDIS_QUERY_MAX_LAT:
        moved = math.copysign(REDIS_QUERY_MAX_LAT, lat)
        r_ours += float(haversine_m(np.array([moved]), np.array([lng]), lat, lng)[0])
        lat = moved
    r_redis = r_ours * (REDIS_SPHERE_M / EARTH_RADIUS_M) + REDIS_MARGIN_M
    args: list[Any] = ["GEOSEARCH", rd.key, "FROMLONLAT", lng, lat, "BYRADIUS", r_redis, "m"]
    if count is not None:
        args += ["ASC", "COUNT", count]
    res = rd.client.execute_command(*args)
    return np.fromiter((int(m) for m in res), dtype=np.int64, count=len(res))


def _redis_knn(rd: _Redis, lat: float, lng: float, k: int) -> Result:
    n = len(rd.lat)
    k = min(k, n)
    if k <= 0:
        return EMPTY_RESULT
    n_stored = n - len(rd.outside)
    want = min(k, n_stored)
    r = 250.0
    cand = np.empty(0, np.int64)
    while want:
        cap = 2 * k
        cand = _redis_search(rd, lat, lng, r, cap)
        if len(cand) >= want:
            d = haversine_m(rd.lat[cand], rd.lng[cand], lat, lng)
            d_k = float(np.partition(d, want - 1)[want - 1])
            if len(cand) == cap or d_k > r:  # the search may not hold every point within d_k
                cand = _redis_search(rd, lat, lng, d_k)
            break
        if r >= math.pi * EARTH_RADIUS_M:
            break
        r = min(r * 4.0, math.pi * EARTH_RADIUS_M)
    if len(rd.outside):
        cand = np.concatenate([cand, rd.outside])
    return top_k(cand, haversine_m(rd.lat[cand], rd.lng[cand], lat, lng), k)


def _redis_radius(rd: _Redis, lat: float, lng: float, r: float) -> Result:
    cand = _redis_search(rd, lat, lng, r)
    if len(rd.outside):
        cand = np.concatenate([cand, rd.outside])
    return within(cand, haversine_m(rd.lat[cand], rd.lng[cand], lat, lng), r)


def _redis_nbytes(rd: _Redis) -> int | None:
    used = rd.client.execute_command("MEMORY", "USAGE", rd.key, "SAMPLES", 0)
    return None if used is None else int(used) + rd.lat.nbytes + rd.lng.nbytes


def _redis_close(rd: _Redis) -> None:
    try:
        rd.client.delete(rd.key)
    finally:
        rd.client.close()


register(
    Method(
        name="redis",
        label="Redis GEOSEARCH (127.0.0.1)",
        build=_redis_build,
        knn=_redis_knn,
        radius=_redis_radius,
        nbytes=_redis_nbytes,
        nbytes_how="MEMORY USAGE of the sorted set (SAMPLES 0) + 16 B/point client-side lat/lng",
        unavailable=_redis_unavailable,
        close=_redis_close,
        max_points=2_000_000,
        max_points_why="GEOADD of 10M members and ~1 GB of server memory on a 2-core machine "
        "(run with --all-peers to include it)",
        note="GEOADD in batches of 50k members; redis-py (hiredis) over TCP. Redis answers "
        "are NOT exact (52-bit geohash, its own 6,372,797.56 m sphere): radius asks for a "
        "scaled radius + 2 m and filters by the oracle's haversine; kNN grows a GEOSEARCH "
        "radius ×4 from 250 m with ASC COUNT 2k until k candidates, then (if needed) one "
        "search within their exact k-th distance, re-ranked by haversine. Latitudes beyond "
        "±85.05112878° (Redis rejects them) are kept client-side and merged by brute force",
    )
)


def server_versions() -> dict[str, str]:
    """Versions of the reachable servers (for the results' machine line)."""
    out: dict[str, str] = {}
    if _pg_unavailable() is None:
        import psycopg

        with psycopg.connect(pg_dsn(), connect_timeout=3, autocommit=True) as conn:
            row = conn.execute("SELECT current_setting('server_version'), postgis_lib_version()")
            pg, gis = row.fetchone() or ("?", "?")
        out["PostgreSQL"], out["PostGIS"] = str(pg), str(gis)
    if _redis_unavailable() is None:
        import redis

        client = redis.Redis.from_url(redis_url(), socket_connect_timeout=3)
        out["Redis"] = str(client.info("server").get("redis_version", "?"))
        client.close()
    return out
