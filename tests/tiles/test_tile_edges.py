"""Vector tiles at their edges, against brute force: points on (or within half a unit of)
a tile's east or south edge, at ±180 and at web mercator's limits are stored inside the
extent, where MapLibre draws them; low-zoom bins of merchants at ±180 stay on their tile;
districts over the antimeridian continue across it (no outline along the seam); and the
TileJSON centre of a table without districts is where the merchants are.

Every oracle is written out here: the mercator formulas, closed-bounds membership, H3
bins from ``h3`` directly, district clips from shapely on the unwrapped polygon, and
distances by the haversine formula.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import h3
import mapbox_vector_tile
import numpy as np
import pyarrow as pa
import pytest
import shapely

from geo_discovery.districts.detect import DistrictParams, build_districts
from geo_discovery.engine import DiscoveryEngine
from geo_discovery.settings import Settings
from geo_discovery.tiles import EXTENT, MAX_LAT, TileId
from geo_discovery.tiles.maker import DISTRICT_BUFFER, clip_to_tile

ALL_POINTS = 10**9  # tiles_max_points that keeps every tile at full detail
LAST = EXTENT - 1  # the last unit MapLibre draws a point at (it skips x or y >= extent)
MERC_LAT = math.degrees(math.atan(math.sinh(math.pi)))  # 85.0511…, written out


# ---------------------------------------------------------------------- oracles
def decode(data: bytes) -> dict[str, Any]:
    return mapbox_vector_tile.decode(data, default_options={"y_coord_down": True}) if data else {}


def features(data: bytes, layer: str) -> list[dict[str, Any]]:
    return decode(data).get(layer, {}).get("features", [])


def bounds(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """West, south, east, north of tile z/x/y (the slippy-map formulas)."""
    n = 2.0**z
    north = math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * y / n))))
    south = math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * (y + 1) / n))))
    return x / n * 360.0 - 180.0, south, (x + 1) / n * 360.0 - 180.0, north


def exact_pixel(z: int, x: int, y: int, lat: Any, lng: Any) -> tuple[Any, Any]:
    """Unrounded tile units of points (longitudes taken as given, not wrapped)."""
    n = 2.0**z
    fx = ((np.asarray(lng, dtype=float) + 180.0) / 360.0 * n - x) * EXTENT
    s = np.sin(np.radians(np.asarray(lat, dtype=float)))
    merc_y = 0.5 - np.log((1 + s) / (1 - s)) / (4 * math.pi)
    return fx, (merc_y * n - y) * EXTENT


def tile_of(lat: float, lng: float, z: int) -> TileId:
    n = 2**z
    tx = min(n - 1, max(0, int((lng + 180.0) / 360.0 * n)))
    lat = max(-MERC_LAT, min(MERC_LAT, lat))
    ty = min(n - 1, max(0, int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)))
    return TileId(z, tx, ty)


def haversine_km(lat1: Any, lng1: Any, lat2: Any, lng2: Any) -> Any:
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dl = np.radians(np.asarray(lng2) - np.asarray(lng1))
    a = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * 6371.0088 * np.arcsin(np.sqrt(np.clip(a, 0, 1)))


def table_of(lat: Any, lng: Any) -> pa.Table:
    n = len(lat)
    return pa.table(
        {
            "merchant_id": [f"m{i}" for i in range(n)],
            "name": [f"Shop {i}" for i in range(n)],
            "category": ["food/cafe"] * n,
            "lat": pa.array(np.asarray(lat, dtype=float), pa.float64()),
            "lng": pa.array(np.asarray(lng, dtype=float), pa.float64()),
            "address": [f"{i} Main Street" for i in range(n)],
        }
    )


def inside(lat: np.ndarray, lng: np.ndarray, t: TileId) -> np.ndarray:
    west, south, east, north = bounds(t.z, t.x, t.y)
    return (lat >= south) & (lat <= north) & (lng >= west) & (lng <= east)


# ------------------------------------------------------- 1. points at the edges
def edge_points(rng: np.random.Generator, t: TileId) -> tuple[list[float], list[float]]:
    """Points in, on and within half a unit of the edges of tile ``t``, its corners, ±180,
    web mercator's limits and the poles."""
    west, south, east, north = bounds(t.z, t.x, t.y)
    n = 2**t.z
    lat: list[float] = []
    lng: list[float] = []
    half_lng = 0.5 / EXTENT * 360.0 / n  # half a unit of longitude
    for _ in range(40):
        u = float(rng.uniform(0.0, 1.0))
        a, b = float(rng.uniform(south, north)), float(rng.uniform(west, east))
        lat += [a, a, a, south, north, a]
        lng += [b, east, west, b, b, east - u * half_lng]
        # within half a unit of the south edge: its mercator y, half a unit up
        merc = (t.y + 1 - u * 0.5 / EXTENT) / n
        lat.append(math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * merc)))))
        lng.append(b)
    for a in (south, north):
        for b in (west, east):
            lat.append(a)
            lng.append(b)
    special_lat = [MAX_LAT, -MAX_LAT, 85.05, -85.05, 90.0, -90.0, 0.0, -17.0]
    special_lng = [180.0, -180.0, 179.999, -179.999, 179.9999999, 0.0]
    for a in special_lat:
        for b in special_lng:
            lat.append(a)
            lng.append(b)
    return lat, lng


def check_point_tile(engine: DiscoveryEngine, t: TileId, lat: np.ndarray, lng: np.ndarray) -> int:
    got = features(engine.tile(t.z, t.x, t.y).data, "merchants")
    want = set(np.flatnonzero(inside(lat, lng, t)).tolist())
    rows = [int(f["id"]) for f in got]
    assert sorted(rows) == sorted(want), (str(t), sorted(set(rows) ^ want)[:10])
    if not rows:
        return 0
    gx, gy = np.array([f["geometry"]["coordinates"] for f in got], dtype=float).T
    assert gx.min() >= 0 and gy.min() >= 0 and gx.max() <= LAST and gy.max() <= LAST, str(t)
    ex, ey = exact_pixel(t.z, t.x, t.y, lat[rows], lng[rows])
    ex, ey = np.clip(ex, 0, LAST), np.clip(ey, 0, LAST)  # the nearest place drawn
    assert np.all(np.abs(gx - ex) <= 0.5 + 1e-6), (str(t), np.abs(gx - ex).max())
    assert np.all(np.abs(gy - ey) <= 0.5 + 1e-6), (str(t), np.abs(gy - ey).max())
    return len(rows)


@pytest.mark.parametrize("seed", range(6))
def test_points_on_and_near_east_and_south_edges_are_inside_the_extent(
    engine_factory: Callable[..., DiscoveryEngine], seed: int
) -> None:
    """Every merchant inside a tile's closed bounds is on it, at its place rounded and
    kept to 0 … 4095 (a point at x or y = 4096 is on no tile MapLibre draws)."""
    rng = np.random.default_rng(seed)
    checked = 0
    for z in (0, 1, int(rng.integers(2, 9)), int(rng.integers(9, 19))):
        n = 2**z
        t = TileId(z, int(rng.integers(0, n)), int(rng.integers(0, n)))
        lat, lng = (np.array(v) for v in edge_points(rng, t))
        engine = engine_factory(table_of(lat, lng), tiles_max_points=ALL_POINTS)
        tiles = {t, TileId(z, n - 1, t.y), TileId(z, 0, t.y), TileId(z, t.x, n - 1)}
        tiles |= {TileId(z, (t.x + dx) % n, min(n - 1, max(0, t.y + dy)))
                  for dx, dy in ((1, 0), (0, 1), (1, 1), (-1, 0), (0, -1))}  # fmt: skip
        for tile in sorted(tiles, key=str):
            checked += check_point_tile(engine, tile, lat, lng)
    assert checked > 100


def test_a_merchant_at_180_or_on_the_southern_limit_is_drawn_at_every_zoom(
    engine_factory: Callable[..., DiscoveryEngine],
) -> None:
    lat = np.array([-17.0, 40.0, -MAX_LAT, -85.05, 10.0, 0.0])
    lng = np.array([180.0, 179.999, 30.0, 10.0, -180.0, 180.0])
    engine = engine_factory(table_of(lat, lng), tiles_max_points=ALL_POINTS)
    for z in range(17):
        for i in range(len(lat)):
            t = tile_of(float(lat[i]), float(lng[i]), z)
            got = {int(f["id"]): f["geometry"]["coordinates"]
                   for f in features(engine.tile(t.z, t.x, t.y).data, "merchants")}  # fmt: skip
            assert i in got, (z, i)
            assert 0 <= got[i][0] <= LAST and 0 <= got[i][1] <= LAST, (z, i, got[i])
            check_point_tile(engine, t, lat, lng)


# ------------------------------------------------------ 2. bins at the antimeridian
def brute_bins(
    lat: np.ndarray, lng: np.ndarray, t: TileId, res: int
) -> dict[str, tuple[int, float, list[float]]]:
    """Per H3 cell (from h3 itself): count, mean latitude and the longitudes the bin's
    mean may be drawn at on tile ``t`` (the mean the short way round, as it is on the
    tile: on a tile that is not the whole world its merchants' plain mean)."""
    rows = np.flatnonzero(inside(lat, lng, t))
    groups: dict[str, list[int]] = defaultdict(list)
    for i in rows.tolist():
        groups[h3.latlng_to_cell(float(lat[i]), float(lng[i]), res)].append(i)
    out = {}
    for cell, members in groups.items():
        la, ln = lat[members], lng[members]
        if t.z > 0:
            options = [float(ln.mean())]
        else:  # the whole world: each within 180° of the first, the mean wrapped back
            first = ln[0]
            mean = first + float(np.mean((ln - first + 180.0) % 360.0 - 180.0))
            options = [m for m in (mean - 360, mean, mean + 360) if -180 - 1e-9 <= m <= 180 + 1e-9]
        out[cell] = (len(members), float(la.mean()), options)
    return out


@pytest.mark.parametrize("seed", range(3))
def test_bins_of_merchants_at_the_antimeridian_stay_on_their_tile(
    engine_factory: Callable[..., DiscoveryEngine], seed: int
) -> None:
    """A bin of merchants at lng 180 was drawn at -180 (its mean wrapped), half a world
    west of its tile; now each bin is at its merchants' mean on the tile, in 0 … 4095."""
    rng = np.random.default_rng(100 + seed)
    lat0 = float(rng.uniform(-80, 80))
    k = 60
    lat = np.r_[
        lat0 + rng.normal(0, 0.2, k),  # exactly on 180
        lat0 + rng.normal(0, 0.2, k),  # exactly on -180
        lat0 + rng.normal(0, 0.2, k),  # just west of 180
        lat0 + rng.normal(0, 0.2, k),  # just east of -180
        np.full(5, -MAX_LAT),  # the south-east and south-west corners of the world
        np.full(5, MAX_LAT),
    ]
    lng = np.r_[
        np.full(k, 180.0),
        np.full(k, -180.0),
        180.0 - rng.exponential(0.01, k),
        -180.0 + rng.exponential(0.01, k),
        np.full(5, 180.0),
        np.full(5, -180.0),
    ]
    lat = np.clip(lat, -MAX_LAT, MAX_LAT)
    engine = engine_factory(table_of(lat, lng), tiles_max_points=1)
    seen = 0
    for z in range(16):
        n = 2**z
        rows = {tile_of(lat0, 0.0, z).y, 0, n - 1}
        for t in {TileId(z, x, y) for x in (0, n - 1) for y in rows}:
            got = engine.tile(t.z, t.x, t.y)
            want = brute_bins(lat, lng, t, int(got.resolution or 0))
            decoded = features(got.data, "merchants")
            if sum(c for c, _, _ in want.values()) <= 1:
                continue  # a single merchant is a point, not a bin
            assert {f["properties"]["cell"] for f in decoded} == set(want), str(t)
            for f in decoded:
                count, mlat, options = want[f["properties"]["cell"]]
                assert f["properties"]["count"] == count
                gx, gy = f["geometry"]["coordinates"]
                assert 0 <= gx <= LAST and 0 <= gy <= LAST, (str(t), gx, gy)
                places = [exact_pixel(t.z, t.x, t.y, mlat, m) for m in options]
                assert any(
                    abs(gx - np.clip(px, 0, LAST)) <= 0.5 + 1e-6
                    and abs(gy - np.clip(py, 0, LAST)) <= 0.5 + 1e-6
                    for px, py in places
                ), (str(t), f["properties"]["cell"], (gx, gy), places)
                seen += 1
    assert seen > 30


# -------------------------------------------- 3. districts over the antimeridian
def cut_at_antimeridian(shape: Any) -> Any:
    """``shape`` (longitudes past 180) as stored: cut at ±180 into parts within ±180."""
    east = shapely.intersection(shape, shapely.box(-540, -90, 180, 90))
    west = shapely.intersection(shape, shapely.box(180, -90, 540, 90))
    west = shapely.transform(west, lambda c: c - np.array([360.0, 0.0]))
    parts = [p for p in (*shapely.get_parts(east), *shapely.get_parts(west))
             if isinstance(p, shapely.Polygon) and p.area > 0]  # fmt: skip
    return shapely.MultiPolygon(parts)


def unwrapped_in_tile(shape: Any, t: TileId) -> Any:
    """The shape (unwrapped, around lng 180) in tile units of ``t``, every copy a whole
    turn apart that reaches the tile, clipped to the tile grown by the buffer."""
    b = DISTRICT_BUFFER
    box = shapely.box(-b, -b, EXTENT + b, EXTENT + b)

    def project(shift: float) -> Callable[[np.ndarray], np.ndarray]:
        def f(c: np.ndarray) -> np.ndarray:
            return np.column_stack(exact_pixel(t.z, t.x, t.y, c[:, 1], c[:, 0] + shift))

        return f

    copies = [shapely.transform(shape, project(k)) for k in (-720.0, -360.0, 0.0)]
    return shapely.union_all(copies).intersection(box)


def seam_length(geom: Any, x: float) -> float:
    """Length of ``geom``'s boundary lying on the vertical line ``x`` inside the tile."""
    line = shapely.LineString([(x, 0), (x, EXTENT)])
    return float(shapely.intersection(shapely.boundary(geom), line).length)


def strip_length(geom: Any, x: float) -> tuple[float, int]:
    """Length and vertex count of ``geom``'s boundary within half a unit of line ``x``
    inside the tile: all that rounding to the grid can lay onto the line."""
    strip = shapely.box(x - 0.5, -0.5, x + 0.5, EXTENT + 0.5)
    edge = shapely.boundary(geom)
    coords = shapely.get_coordinates(edge)
    near = int(np.sum(shapely.contains_xy(strip, coords[:, 0], coords[:, 1]))) if len(coords) else 0
    return float(shapely.intersection(edge, strip).length), near


def check_district_clip(got: Any, exact: Any, t: TileId) -> None:
    """Valid, oriented as MVT asks (y down: exterior rings of positive area), equal to the
    exact clip up to rounding, and no edge along the antimeridian that the district does
    not have."""
    assert got is not None and got.is_valid, shapely.is_valid_reason(got)
    for poly in shapely.get_parts(got):
        assert shapely.is_ccw(poly.exterior)  # the mapbox-vector-tile reading, y down
        assert not any(shapely.is_ccw(r) for r in poly.interiors)
    n = 2**t.z
    seams = ([EXTENT] if t.x == n - 1 else []) + ([0] if t.x == 0 else [])
    for x in seams:
        near, vertices = strip_length(exact, x)
        assert seam_length(got, x) <= near + vertices + 2.0, (str(t), x, seam_length(got, x))
    diff = got.symmetric_difference(exact).area
    assert diff <= exact.length * 0.75 + 4.0, (str(t), diff, exact.area)


def star(rng: np.random.Generator, lng0: float, lat0: float, r_lng: float, r_lat: float) -> Any:
    """A random star-shaped polygon (valid, not convex), perhaps with a hole."""
    k = int(rng.integers(5, 40))
    angles = np.sort(rng.uniform(0, 2 * np.pi, k))
    radius = rng.uniform(0.4, 1.0, k)
    ring = np.column_stack([lng0 + r_lng * radius * np.cos(angles),
                            lat0 + r_lat * radius * np.sin(angles)])  # fmt: skip
    poly = shapely.Polygon(ring)
    if rng.random() < 0.5:
        poly = poly.difference(shapely.Point(lng0, lat0).buffer(0.2 * r_lng).buffer(0))
    return shapely.make_valid(poly)


@pytest.mark.parametrize("seed", range(8))
def test_districts_over_the_antimeridian_continue_across_it(seed: int) -> None:
    """Random polygons around lng 180, stored cut at ±180: on the tiles at both ends of a
    row (and the world tile) each is the unwrapped polygon clipped, with no outline along
    the seam (it was a polygon edge at x = 4096 or x = 0, drawn by the line layer)."""
    rng = np.random.default_rng(200 + seed)
    checked = 0
    for z in (0, 1, int(rng.integers(2, 8)), int(rng.integers(8, 17))):
        n = 2**z
        width = 360.0 / n
        lat0 = float(rng.uniform(-75, 75))
        r_lat = min(5.0, float(rng.uniform(0.2, 1.5)) * width)
        r_lng = float(rng.uniform(0.2, 1.5)) * min(width, 60.0)
        lng0 = 180.0 + float(rng.uniform(-0.5, 0.5)) * r_lng
        shape = star(rng, lng0, lat0, r_lng, r_lat)
        stored = cut_at_antimeridian(shape)
        if len(stored.geoms) < 2:
            continue
        row = tile_of(lat0, 0.0, z).y
        for t in {TileId(z, n - 1, row), TileId(z, 0, row)}:
            exact = unwrapped_in_tile(shape, t)
            (got,) = clip_to_tile(t, np.array([stored], dtype=object))
            if exact.area < 16:
                continue
            check_district_clip(got, exact, t)
            checked += 1
    assert checked >= 2


def test_a_detected_district_over_the_antimeridian_has_no_seam_in_the_tiles(
    engine_factory: Callable[..., DiscoveryEngine],
) -> None:
    """Through the engine: a town on ±180 (Taveuni), its district detected and cut there;
    the decoded tiles at both ends of its row, zoom 8 to 16."""
    rng = np.random.default_rng(7)
    n = 800
    lat = -16.8 + rng.normal(0, 0.004, n)
    lng = (180.0 + rng.normal(0, 0.006, n) + 180.0) % 360.0 - 180.0
    table = table_of(lat, lng)
    districts = build_districts(table, DistrictParams(resolution=10, split_quantile=None))
    engine = DiscoveryEngine.from_table(table, districts=districts, settings=Settings())
    frame = districts.frame
    crossing = [i for i, g in frame.geometry.items() if g.bounds[0] == -180 and g.bounds[2] == 180]
    assert crossing
    checked = 0
    for z in range(8, 17):
        nt = 2**z
        row = tile_of(-16.8, 0.0, z).y
        for t in (TileId(z, nt - 1, row), TileId(z, 0, row)):
            got = {f["properties"]["district_id"]: shapely.geometry.shape(f["geometry"])
                   for f in features(engine.tile(t.z, t.x, t.y).data, "districts")}  # fmt: skip
            for district_id in crossing:
                stored = frame.geometry[district_id]
                # the polygon unwrapped: its parts west of the seam moved a turn east
                shape = shapely.union_all([
                    shapely.transform(p, lambda c: c + np.array([360.0, 0.0]))
                    if p.bounds[0] < 0 else p
                    for p in shapely.get_parts(stored)
                ])  # fmt: skip
                exact = unwrapped_in_tile(shape, t)
                if exact.area < 16:
                    continue
                check_district_clip(got.get(district_id), exact, t)
                checked += 1
    assert checked >= 10


# ------------------------------------------------------ 4. the TileJSON centre
def view_holds_half(
    lat: np.ndarray, lng: np.ndarray, c_lng: float, c_lat: float, zoom: int
) -> bool:
    """Does a 600-px view at ``zoom`` (MapLibre: the world is 512·2**zoom px wide) round
    the centre hold half of the merchants (distance within half its width)?"""
    width_km = 600 / (512 * 2.0**zoom) * 40075.016686 * math.cos(math.radians(c_lat))
    return float(np.mean(haversine_km(lat, lng, c_lat, c_lng) <= width_km / 2)) >= 0.5


def cluster(rng: np.random.Generator, lat0: float, lng0: float, n: int, km: float) -> Any:
    lat = np.clip(lat0 + rng.normal(0, km / 111.0, n), -84, 84)
    lng = lng0 + rng.normal(0, km / 111.0 / math.cos(math.radians(lat0)), n)
    return lat, (lng + 180.0) % 360.0 - 180.0


@pytest.mark.parametrize("seed", range(6))
def test_tilejson_centre_without_districts_is_where_the_merchants_are(
    engine_factory: Callable[..., DiscoveryEngine], seed: int
) -> None:
    """Towns of different sizes (one on the antimeridian, one far north) and merchants
    scattered over the world: the centre is a merchant of the largest town, and the zoom
    the largest at which a view round it holds half of the merchants (the old centre,
    medians of longitude and latitude taken apart, was in the sea)."""
    rng = np.random.default_rng(300 + seed)
    places = [(float(rng.uniform(-60, 60)), float(rng.uniform(-180, 180))),
              (float(rng.uniform(-50, 50)), 179.99), (78.2, 15.6)]  # fmt: skip
    sizes = rng.permutation([700, 250, 120]) if seed % 2 else np.array([700, 250, 120])
    parts = [cluster(rng, a, b, int(s), float(rng.uniform(0.5, 4))) for (a, b), s in
             zip(places, sizes, strict=True)]  # fmt: skip
    scattered = (np.degrees(np.arcsin(rng.uniform(-1, 1, 150))), rng.uniform(-180, 180, 150))
    big = int(np.argmax(sizes))
    if seed >= 4:  # no town: merchants everywhere
        parts, big = [], -1
    lat = np.concatenate([p[0] for p in parts] + [scattered[0]])
    lng = np.concatenate([p[1] for p in parts] + [scattered[1]])
    engine = engine_factory(table_of(lat, lng))
    c_lng, c_lat, zoom = engine.tiles.tilejson("t/{z}/{x}/{y}")["center"]
    mapped = np.abs(lat) <= MERC_LAT
    lat, lng = lat[mapped], lng[mapped]
    # on a merchant
    assert np.min(haversine_km(lat, lng, c_lat, c_lng)) < 1e-6, (c_lng, c_lat)
    if big >= 0:  # of the largest town
        town_lat, town_lng = parts[big][0], parts[big][1]
        assert np.min(haversine_km(town_lat, town_lng, c_lat, c_lng)) < 1e-6
    else:  # no place denser than another: any merchant, seen with the whole world
        assert zoom <= 2
    assert isinstance(zoom, int) and 0 <= zoom <= 14
    assert view_holds_half(lat, lng, c_lng, c_lat, zoom) or zoom == 0
    assert zoom == 14 or not view_holds_half(lat, lng, c_lng, c_lat, zoom + 1)


def test_tilejson_centre_of_one_town_or_one_merchant(
    engine_factory: Callable[..., DiscoveryEngine],
) -> None:
    rng = np.random.default_rng(5)
    lat, lng = cluster(rng, -16.8, 180.0, 500, 1.0)  # over the antimeridian
    doc = engine_factory(table_of(lat, lng)).tiles.tilejson("t/{z}/{x}/{y}")
    c_lng, c_lat, zoom = doc["center"]
    assert np.min(haversine_km(lat, lng, c_lat, c_lng)) < 1e-6
    assert haversine_km(-16.8, 180.0, c_lat, c_lng) < 2.0 and 10 <= zoom <= 14
    assert view_holds_half(lat, lng, c_lng, c_lat, zoom)
    assert zoom == 14 or not view_holds_half(lat, lng, c_lng, c_lat, zoom + 1)
    one = engine_factory(table_of([78.2232], [15.6469])).tiles.tilejson("t/{z}/{x}/{y}")
    assert one["center"] == [15.6469, 78.2232, 14]
