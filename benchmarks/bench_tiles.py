"""Vector tile benchmark: geo-discovery's tiles, mapbox-vector-tile and PostGIS ST_AsMVT,
side by side in one run, on the same data and the same tiles.

The real NYC merchants (food stores, DOHMH restaurants, Airbnb 2019) are loaded through
the real pipeline (so the snapshot has its word of mouth and business districts). Every
method makes the same two-layer tile: ``merchants`` (every merchant inside the tile, with
id, name, category, wom, district_id, price, rating) and ``districts`` (district polygons
clipped to the tile grown by 64 units, with district_id, name, tier, vitality,
n_merchants):

* ``geo_discovery`` — ``engine.tiles.build(tile)``: box search over the snapshot's index,
  the compiled encoder (:mod:`geo_discovery.tiles.mvt`); no cache;
* ``geo_discovery (cached)`` — ``engine.tile(...)`` on a warm per-snapshot cache, what a
  server answers after the first request of a tile;
* ``mapbox-vector-tile`` — the same selection (the engine's box search) and the same
  clipped districts, each feature a dict, encoded by the ``mapbox-vector-tile`` package
  (the maintained pure-Python encoder the issue names);
* ``postgis`` — one SQL statement per tile on PostgreSQL + PostGIS on 127.0.0.1
  (``benchmarks/servers.sh start``): ``ST_TileEnvelope``, GiST ``&&``, ``ST_AsMVTGeom``
  and ``ST_AsMVT`` for both layers, over unlogged tables in EPSG:3857; psycopg 3,
  prepared, binary. Skipped with the reason when the server is not running.

Tiles: the z14 tile of Midtown Manhattan (timed ``--reps`` times, methods in rotating
order: p50/p90/p99), and a set of full-detail tiles around it (5×5 at z14, 3×3 at z15,
3×3 at z16) for tiles/s, each method over the whole set, one tile after another.

Checks (any failure → exit 1): every geo_discovery tile holds exactly the merchants inside
its bounds (brute force over the table); mapbox-vector-tile's tiles decode to the same
features and properties; PostGIS's hold the same merchants (a merchant within 1e-9° of a
tile edge may fall on either side of it in EPSG:3857 arithmetic, and is counted, not
failed) and the same districts.

``--smoke`` uses 5,000 synthetic clustered merchants (districts detected on them), a few
repetitions, writes to a temporary folder, and takes seconds.

Examples
--------
    python -m benchmarks.bench_tiles            # real NYC (~67k merchants), about a minute
    python -m benchmarks.bench_tiles --smoke    # CI
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from geo_discovery.engine import DiscoveryEngine
from geo_discovery.settings import Settings
from geo_discovery.tiles import TileId
from geo_discovery.tiles.maker import DISTRICT_BUFFER, clip_to_tile

from . import harness

__all__ = ["main"]

GOAL_MS = 5.0
# PostGIS's GiST `&&` compares float4 boxes, rounded outwards: in EPSG:3857 metres around
# New York one float4 step is 0.5 m, so points up to about a metre outside a tile pass the
# test and ST_AsMVTGeom keeps them. Those differences are counted, not failed.
PG_EDGE_M = 2.0
EDGE_CASES: list[str] = []
MIDTOWN = (40.7549, -73.9840)
ORDER = 40


# ------------------------------------------------------------------------ data
def _synthetic_engine(n: int, seed: int) -> DiscoveryEngine:
    from geo_discovery.districts.detect import DistrictParams, build_districts

    pts = harness.synthetic_points(n, seed)
    rng = np.random.default_rng(seed)
    table = pa.table(
        {
            "merchant_id": pa.array([f"s:{i}" for i in pts.ids.tolist()], pa.string()),
            "name": pa.array([f"Shop {i}" for i in range(len(pts))], pa.string()),
            "lat": pts.lat,
            "lng": pts.lng,
            "category": pa.array(
                rng.choice(["food/grocery/bodega", "food/restaurant/thai", "shop/books"], len(pts)),
                pa.string(),
            ),
            "price_level": pa.array(rng.integers(1, 5, len(pts)), pa.int8()),
        }
    )
    districts = build_districts(table, DistrictParams(resolution=10, min_merchants=5))
    wom = np.clip(rng.normal(0.77, 0.05, len(pts)), 0, 1)
    return DiscoveryEngine.from_table(
        table, settings=Settings(), wom=(wom, np.zeros(len(pts))), districts=districts
    )


def _tile_at(lat: float, lng: float, z: int) -> TileId:
    n = 2**z
    merc = math.asinh(math.tan(math.radians(lat)))
    return TileId(z, int((lng + 180.0) / 360.0 * n), int((1 - merc / math.pi) / 2 * n))


def _tile_set(engine: DiscoveryEngine, centre: TileId) -> list[TileId]:
    tiles = []
    for z, r in ((14, 2), (15, 1), (16, 1)):
        mid = _tile_at(*MIDTOWN, z) if z != centre.z else centre
        for dx in range(-r, r + 1):
            for dy in range(-r, r + 1):
                tiles.append(TileId(z, mid.x + dx, mid.y + dy))
    full = engine.settings.tiles_max_points
    return [t for t in tiles if len(engine.within_bbox(t.bbox)) <= full]  # full detail only


# --------------------------------------------------------------------- methods
class Columns:
    """Per-merchant and per-district property values as Python objects (built once, as
    every method's per-snapshot state is)."""

    def __init__(self, engine: DiscoveryEngine) -> None:
        snap, planner = engine.snapshot, engine.planner
        t = snap.merchants
        n = len(snap)
        self.ids = t.column("merchant_id").to_pylist()
        self.row_of = {m: i for i, m in enumerate(self.ids)}
        self.names = t.column("name").to_pylist()
        self.categories = t.column("category").to_pylist()
        wom = snap.wom[0] if snap.wom is not None else np.full(n, np.nan)
        self.wom = _values(np.round(wom, 3))
        self.district = list(planner.district_id) if planner.district_id is not None else [None] * n
        self.price = [None if v != v else int(v) for v in planner.price.tolist()]
        self.rating = _values(np.round(planner.stars, 2))
        found = snap.require_districts()
        frame = found.frame
        self.d_ids = found.ids
        self.d_rows = [
            {
                "district_id": did,
                "name": str(frame["name"].iloc[i]),
                "tier": str(frame["tier"].iloc[i]),
                "vitality": round(float(frame["vitality"].iloc[i]), 4),
                "n_merchants": int(frame["n_merchants"].iloc[i]),
            }
            for i, did in enumerate(found.ids)
        ]

    def merchant(self, row: int) -> dict[str, Any]:
        props = {
            "id": self.ids[row],
            "name": self.names[row],
            "category": self.categories[row],
            "wom": self.wom[row],
            "district_id": self.district[row],
            "price": self.price[row],
            "rating": self.rating[row],
        }
        return {k: v for k, v in props.items() if v is not None}


def _values(arr: np.ndarray) -> list[float | None]:
    return [None if v != v else float(v) for v in arr.tolist()]


def mapbox_tile(engine: DiscoveryEngine, cols: Columns, tile: TileId) -> bytes:
    """The same tile through the mapbox-vector-tile package."""
    import mapbox_vector_tile
    import shapely

    positions = engine.within_bbox(tile.bbox).positions
    snap = engine.snapshot
    x, y = tile.to_pixels(snap.lat[positions], snap.lng[positions])
    merchants = [
        {"geometry": shapely.Point(px, py), "properties": cols.merchant(row), "id": row}
        for row, px, py in zip(positions.tolist(), x.tolist(), y.tolist(), strict=True)
    ]
    found = snap.require_districts()
    rows = np.flatnonzero(found.touching(tile.buffered_bbox(DISTRICT_BUFFER)))
    shapes = clip_to_tile(tile, np.asarray(found.frame.geometry.to_numpy())[rows])
    districts = [
        {"geometry": s, "properties": cols.d_rows[r], "id": int(r)}
        for r, s in zip(rows.tolist(), shapes, strict=True)
        if s is not None
    ]
    layers = [{"name": "merchants", "features": merchants}]
    if districts:
        layers.append({"name": "districts", "features": districts})
    return bytes(
        mapbox_vector_tile.encode(layers, default_options={"y_coord_down": True, "extents": 4096})
    )


class PostGIS:
    """Both layers from one statement: ST_TileEnvelope, GiST &&, ST_AsMVTGeom, ST_AsMVT."""

    SQL = """
    WITH b AS (SELECT ST_TileEnvelope(%(z)s, %(x)s, %(y)s) AS env,
                      ST_TileEnvelope(%(z)s, %(x)s, %(y)s, margin => %(margin)s) AS benv),
    m AS (SELECT t.row, t.id, t.name, t.category, t.wom, t.district_id, t.price, t.rating,
                 ST_AsMVTGeom(t.geom, b.env, 4096, 0, false) AS geom
          FROM {m} t, b WHERE t.geom && b.env),
    d AS (SELECT t.row, t.district_id, t.name, t.tier, t.vitality, t.n_merchants,
                 ST_AsMVTGeom(t.geom, b.env, 4096, {buffer}, true) AS geom
          FROM {d} t, b WHERE t.geom && b.benv)
    SELECT coalesce((SELECT ST_AsMVT(m.*, 'merchants', 4096, 'geom', 'row') FROM m), '')
        || coalesce((SELECT ST_AsMVT(d.*, 'districts', 4096, 'geom', 'row') FROM d
                     WHERE d.geom IS NOT NULL), '')
    """

    def __init__(self, engine: DiscoveryEngine, cols: Columns) -> None:
        import psycopg

        from .server_methods import pg_dsn

        self.conn = psycopg.connect(pg_dsn(), autocommit=True)
        stamp = f"gd_tiles_{id(self) % 100_000}_{int(time.time()) % 100_000}"
        self.m, self.d = f"{stamp}_m", f"{stamp}_d"
        try:
            self._load(engine, cols)
        except Exception:
            self.close()
            raise
        self.sql = self.SQL.format(m=self.m, d=self.d, buffer=DISTRICT_BUFFER)

    def _load(self, engine: DiscoveryEngine, cols: Columns) -> None:
        snap = engine.snapshot
        c = self.conn
        c.execute(
            f"CREATE UNLOGGED TABLE {self.m} (row int4, id text, name text, category text, "
            "wom float8, district_id text, price int4, rating float8, geom geometry(Point, 3857))"
        )
        with (
            c.cursor() as cur,
            cur.copy(
                f"COPY {self.m} (row, id, name, category, wom, district_id, price, rating, geom) "
                "FROM STDIN"
            ) as copy,
        ):
            for row, (a, b) in enumerate(zip(snap.lat.tolist(), snap.lng.tolist(), strict=True)):
                p = cols.merchant(row)
                copy.write_row(
                    (row, p["id"], p["name"], p["category"], p.get("wom"), p.get("district_id"),
                     p.get("price"), p.get("rating"),
                     f"SRID=3857;POINT({_merc_x(b)!r} {_merc_y(a)!r})")
                )  # fmt: skip
        c.execute(
            f"CREATE UNLOGGED TABLE {self.d} (row int4, district_id text, name text, tier text, "
            "vitality float8, n_merchants int4, geom geometry)"
        )
        found = snap.require_districts()
        with (
            c.cursor() as cur,
            cur.copy(
                f"COPY {self.d} (row, district_id, name, tier, vitality, n_merchants, geom) "
                "FROM STDIN"
            ) as copy,
        ):
            for row, geom in enumerate(found.frame.geometry):
                r = cols.d_rows[row]
                copy.write_row(
                    (row, r["district_id"], r["name"], r["tier"], r["vitality"], r["n_merchants"],
                     f"SRID=4326;{geom.wkt}")
                )  # fmt: skip
        c.execute(f"UPDATE {self.d} SET geom = ST_Multi(ST_Transform(geom, 3857))")
        c.execute(
            f"ALTER TABLE {self.d} ALTER COLUMN geom TYPE geometry(MultiPolygon, 3857) USING geom"
        )
        for table in (self.m, self.d):
            c.execute(f"CREATE INDEX ON {table} USING gist (geom)")
            c.execute(f"ANALYZE {table}")

    def tile(self, tile: TileId) -> bytes:
        params = {"z": tile.z, "x": tile.x, "y": tile.y, "margin": DISTRICT_BUFFER / 4096}
        row = self.conn.execute(self.sql, params, prepare=True, binary=True).fetchone()
        return bytes(row[0]) if row and row[0] is not None else b""

    def close(self) -> None:
        try:
            self.conn.execute(f"DROP TABLE IF EXISTS {self.m}, {self.d}")
        finally:
            self.conn.close()


_R = 6378137.0


def _merc_x(lng: float) -> float:
    return math.radians(lng) * _R


def _merc_y(lat: float) -> float:
    return math.log(math.tan(math.pi / 4 + math.radians(lat) / 2)) * _R


# ---------------------------------------------------------------------- checks
def _decode(data: bytes) -> dict[str, Any]:
    import mapbox_vector_tile

    return mapbox_vector_tile.decode(data, default_options={"y_coord_down": True}) if data else {}


def _features(doc: dict[str, Any], layer: str) -> dict[str, dict[str, Any]]:
    key = "id" if layer == "merchants" else "district_id"
    return {f["properties"][key]: f for f in doc.get(layer, {}).get("features", [])}


def check_tile(
    engine: DiscoveryEngine, tile: TileId, got: dict[str, bytes], cols: Columns
) -> list[str]:
    """Problems with each method's tile (empty when all agree with the oracle)."""
    problems: list[str] = []
    snap = engine.snapshot
    b = tile.bbox
    inside = (
        (snap.lat >= b.south) & (snap.lat <= b.north) & (snap.lng >= b.west) & (snap.lng <= b.east)
    )
    want = {cols.ids[i] for i in np.flatnonzero(inside).tolist()}
    ours = _decode(got["geo_discovery"])
    ours_m, ours_d = _features(ours, "merchants"), _features(ours, "districts")
    if set(ours_m) != want:
        problems.append(
            f"{tile}: geo_discovery differs from brute force by {len(set(ours_m) ^ want)}"
        )
    for f in ours_m.values():
        if f["properties"] != cols.merchant(int(f["id"])):
            problems.append(f"{tile}: geo_discovery properties of row {f['id']}")
            break
    if "mapbox-vector-tile" in got:
        theirs = _decode(got["mapbox-vector-tile"])
        for layer, mine in (("merchants", ours_m), ("districts", ours_d)):
            other = _features(theirs, layer)
            if {k: (v["properties"], v["geometry"]["coordinates"]) for k, v in other.items()} != {
                k: (v["properties"], v["geometry"]["coordinates"]) for k, v in mine.items()
            }:
                problems.append(f"{tile}: mapbox-vector-tile {layer} differ")
    if "postgis" in got:
        pg = _decode(got["postgis"])
        pg_ids = set(_features(pg, "merchants"))
        for mid in pg_ids ^ set(ours_m):
            row = cols.row_of[mid]
            if _metres_from_edge(tile, snap.lat[row], snap.lng[row]) <= PG_EDGE_M:
                EDGE_CASES.append(f"{tile}: {mid}")
            else:
                problems.append(f"{tile}: postgis disagrees on {mid}")
        if set(_features(pg, "districts")) != set(ours_d):
            problems.append(
                f"{tile}: postgis districts {sorted(set(_features(pg, 'districts')) ^ set(ours_d))}"
            )
    return problems


def _metres_from_edge(tile: TileId, lat: float, lng: float) -> float:
    """Distance in EPSG:3857 metres from a point to the nearest edge of the tile."""
    size = 2 * math.pi * _R / 2**tile.z
    x0, y0 = -math.pi * _R + tile.x * size, math.pi * _R - tile.y * size
    px, py = _merc_x(lng), _merc_y(lat)
    return min(abs(px - x0), abs(px - x0 - size), abs(py - y0), abs(py - y0 + size))


# ----------------------------------------------------------------------- timing
def _time_rotating(fns: dict[str, Callable[[], object]], reps: int) -> dict[str, np.ndarray]:
    names = list(fns)
    out = {name: np.empty(reps, dtype=np.int64) for name in names}
    clock = time.perf_counter_ns
    for i in range(reps):
        shift = i % len(names)
        for name in names[shift:] + names[:shift]:
            t0 = clock()
            fns[name]()
            out[name][i] = clock() - t0
    return out


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_tiles",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--smoke", action="store_true", help="tiny synthetic run (CI)")
    p.add_argument("--reps", type=int, default=200, help="timed repetitions of the Midtown tile")
    p.add_argument("--seed", type=int, default=20_240_601)
    p.add_argument("--no-postgis", action="store_true", help="leave the PostGIS peer out")
    p.add_argument("--real-data", default=None, help="folder with nyc/ (default: ../shared/data)")
    p.add_argument("--out-dir", default=None, help="where results/ and RESULTS.md go")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; 0 when every check passed, 1 otherwise."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    tmp = tempfile.TemporaryDirectory(prefix="bench-tiles-")
    work = Path(tmp.name)
    reps = max(1, min(args.reps, 10) if args.smoke else args.reps)
    t0 = time.perf_counter()
    if args.smoke:
        engine = _synthetic_engine(5_000, args.seed)
        dataset, note = (
            "smoke",
            "5,000 synthetic clustered merchants around NYC, districts detected",
        )
    else:
        try:
            data_dir = harness.real_data_dir(args.real_data)
        except harness.RealDataMissing as exc:
            print(f"SKIPPED: {exc}")
            return 0
        engine = harness.nyc_engine(data_dir, work / "data")
        dataset = "nyc"
        note = (
            "Real NYC merchants loaded through the pipeline (food stores, DOHMH restaurants, "
            "Airbnb 2019), with their word of mouth and detected business districts"
        )
    load_s = time.perf_counter() - t0
    if args.out_dir:
        out_dir = Path(args.out_dir)
    elif args.smoke:  # never benchmarks/RESULTS.md
        out_dir = Path(tempfile.mkdtemp(prefix="bench_tiles_smoke_"))
    else:
        out_dir = harness.BENCH_DIR
    cols = Columns(engine)

    midtown = _tile_at(*MIDTOWN, 14)
    if len(engine.within_bbox(midtown.bbox)) > engine.settings.tiles_max_points:
        raise SystemExit(f"{midtown} is not at full detail; raise tiles_max_points")
    tiles = _tile_set(engine, midtown)
    t0 = time.perf_counter()
    engine.tiles.build(midtown)  # per-snapshot columns, compiled kernels
    first_s = time.perf_counter() - t0

    makers: dict[str, Callable[[TileId], bytes]] = {
        "geo_discovery": lambda t: engine.tiles.build(t).data,
        "geo_discovery (cached)": lambda t: engine.tile(t.z, t.x, t.y).data,
        "mapbox-vector-tile": lambda t: mapbox_tile(engine, cols, t),
    }
    skipped: dict[str, str] = {}
    pg: PostGIS | None = None
    if args.no_postgis:
        skipped["postgis"] = "left out (--no-postgis)"
    else:
        from . import server_methods
        from .methods import METHODS

        reason = METHODS["postgis"].unavailable() if "postgis" in METHODS else "not registered"
        del server_methods
        if reason:
            skipped["postgis"] = reason
        else:
            pg = PostGIS(engine, cols)
            makers["postgis"] = pg.tile
    try:
        problems: list[str] = []
        sizes: dict[str, int] = {}
        for tile in tiles:
            got = {name: make(tile) for name, make in makers.items()}
            problems += check_tile(engine, tile, got, cols)
            if tile == midtown:
                sizes = {name: len(data) for name, data in got.items()}
        for p in problems:
            harness.eprint("MISMATCH", p)

        fns = {name: (lambda make=make: make(midtown)) for name, make in makers.items()}
        _time_rotating(fns, min(reps, 5))  # warm
        stats = {n: harness.percentiles_us(ns) for n, ns in _time_rotating(fns, reps).items()}
        rates: dict[str, float] = {}
        for name, make in makers.items():
            best = math.inf
            for _ in range(1 if args.smoke else 3):
                t0 = time.perf_counter()
                for tile in tiles:
                    make(tile)
                best = min(best, time.perf_counter() - t0)
            rates[name] = len(tiles) / best
    finally:
        if pg is not None:
            pg.close()

    machine = harness.machine_info(["numpy", "numba", "shapely", "mapbox-vector-tile"])
    n_points = sum(len(engine.within_bbox(t.bbox)) for t in tiles)
    mid_n = len(engine.within_bbox(midtown.bbox))
    base = stats["geo_discovery"]["p50_us"]
    lines = [
        f"## Vector tiles: geo-discovery, mapbox-vector-tile and PostGIS ST_AsMVT ({dataset})",
        "",
        f"{note}; {len(engine):,} merchants. Tile {midtown} (Midtown Manhattan, {mid_n:,} "
        f"merchants, {sizes.get('geo_discovery', 0):,} bytes) timed {reps}× per method in "
        f"rotating order; tiles/s over {len(tiles)} full-detail tiles around it (z14–z16, "
        f"{n_points:,} merchants in all), one after another, best of "
        f"{1 if args.smoke else 3} passes. Every tile has both layers (merchants with 7 "
        "properties, districts clipped to the tile + 64 units).",
        "",
        "| method | Midtown z14 p50 ms | p90 ms | p99 ms | × geo_discovery | tiles/s | bytes |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name in makers:
        s = stats[name]
        lines.append(
            f"| {name} | {s['p50_us'] / 1e3:.2f} | {s['p90_us'] / 1e3:.2f} | "
            f"{s['p99_us'] / 1e3:.2f} | {s['p50_us'] / base:.2f} | {rates[name]:,.0f} | "
            f"{sizes.get(name, 0):,} |"
        )
    met = "met" if base / 1e3 <= GOAL_MS else "NOT met"
    lines += [
        "",
        f"**Midtown z14 tile p50: {base / 1e3:.2f} ms, goal ≤ {GOAL_MS:g} ms ({met}).** "
        f"Checks: {len(tiles)} tiles, every method against brute force / geo_discovery; "
        f"{len(problems)} problems"
        + (" (MISMATCHES)" if problems else "")
        + ". "
        + (
            f"PostGIS drew {len(EDGE_CASES)} merchant(s) lying within {PG_EDGE_M:g} m "
            "outside a tile (its float4 index boxes), counted, not failed. "
            if EDGE_CASES
            else ""
        )
        + "".join(f"Skipped: {k}: {v}. " for k, v in skipped.items())
        + f"Load {load_s:.1f} s; first tile (per-snapshot columns) {first_s * 1e3:.0f} ms. "
        f"{machine['cores_usable']} cores shared with other work (load average "
        f"{', '.join(str(v) for v in machine['load_average_at_start'])} when timing began).",
        "",
        f"Command: `{harness.command_line('benchmarks.bench_tiles', argv)}`",
    ]
    markdown = "\n".join(lines)
    print(markdown)
    if "postgis" in makers:
        from .server_methods import server_versions

        machine["servers"] = server_versions()
    result = {
        "order": ORDER + (1000 if args.smoke else 0),
        "benchmark": "tiles",
        "dataset": dataset,
        "n_merchants": len(engine),
        "midtown_tile": str(midtown),
        "midtown_merchants": mid_n,
        "goal_ms": GOAL_MS,
        "goal_met": base / 1e3 <= GOAL_MS,
        "reps": reps,
        "tiles": [str(t) for t in tiles],
        "methods": {
            name: {**stats[name], "tiles_per_s": rates[name], "bytes": sizes.get(name)}
            for name in makers
        },
        "skipped": skipped,
        "n_mismatches": len(problems),
        "postgis_edge_cases": EDGE_CASES[:20],
        "mismatches": problems[:20],
        "correct": not problems,
        "machine": machine,
        "command": harness.command_line("benchmarks.bench_tiles", argv),
    }
    harness.write_results(out_dir, f"tiles_{dataset}", result, markdown)
    print(f"wrote {out_dir}")
    tmp.cleanup()
    return 0 if not problems else 1


if __name__ == "__main__":
    raise SystemExit(main())
