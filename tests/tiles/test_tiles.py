"""Vector tiles against the table: at full detail a tile holds exactly the merchants inside
its bounds (edges included), at the right place, with the right properties; bins equal
``engine.aggregate`` over the tile; district polygons are valid after clipping and cover
what the districts cover. Every tile is decoded with ``mapbox_vector_tile.decode``, an
implementation independent of the encoder.

* the tile grid against an independent formula (mercantile's), its edges shared exactly;
* hypothesis: random tables with points on tile edges, across the antimeridian, beyond
  web mercator's ±85.0511° and at the poles, random tiles around them;
* filters (categories, rating, opening hours) against brute force on the columns; the
  text filter ``q`` against the brute-force text oracle (``tests/text_oracle.py``) and
  the engine's box search with the same text, at full detail and in bins;
* the density switch, the cache, the empty tile;
* real data: the Helsinki sample (with districts) and the NYC snapshot.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import mapbox_vector_tile
import numpy as np
import pyarrow as pa
import pytest
import shapely
import text_oracle as to
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geo_discovery.engine import DiscoveryEngine
from geo_discovery.errors import InvalidQueryError
from geo_discovery.query import Filters
from geo_discovery.tiles import EXTENT, MAX_LAT, TileId, resolution_for_zoom
from geo_discovery.tiles.maker import DISTRICT_BUFFER, FULL_DETAIL_ZOOM

PROPERTY = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
ALL_POINTS = 10**9  # tiles_max_points that keeps every tile at full detail


# ---------------------------------------------------------------------- helpers
def decode(data: bytes) -> dict[str, Any]:
    return mapbox_vector_tile.decode(data, default_options={"y_coord_down": True}) if data else {}


def features(data: bytes, layer: str) -> list[dict[str, Any]]:
    return decode(data).get(layer, {}).get("features", [])


def mercantile_bounds(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """West, south, east, north as mercantile.bounds computes them (an independent form)."""
    z2 = 2.0**z
    west = x / z2 * 360.0 - 180.0
    east = (x + 1) / z2 * 360.0 - 180.0
    north = math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * y / z2))))
    south = math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * (y + 1) / z2))))
    return west, south, east, north


def brute_inside(engine: DiscoveryEngine, tile: TileId, keep: np.ndarray | None = None) -> set[str]:
    """merchant_ids inside the tile's closed bounds: a scan of the table's columns."""
    lat = np.asarray(engine.merchants.column("lat").to_numpy())
    lng = np.asarray(engine.merchants.column("lng").to_numpy())
    b = tile.bbox
    inside = (lat >= b.south) & (lat <= b.north) & (lng >= b.west) & (lng <= b.east)
    if keep is not None:
        inside &= keep
    ids = np.asarray(engine.merchants.column("merchant_id").to_pylist(), dtype=object)
    return set(ids[inside].tolist())


def expected_pixel(tile: TileId, lat: Any, lng: Any) -> tuple[Any, Any]:
    """Where points belong in tile units, from the mercator formulas written out."""
    n = 2.0**tile.z
    fx = ((np.asarray(lng) + 180.0) / 360.0 * n - tile.x) * EXTENT
    s = np.sin(np.radians(np.asarray(lat)))
    merc_y = 0.5 - np.log((1 + s) / (1 - s)) / (4 * math.pi)
    return fx, (merc_y * n - tile.y) * EXTENT


def check_points(engine: DiscoveryEngine, tile: TileId, keep: np.ndarray | None = None) -> int:
    """The tile's merchants layer is exactly the brute-force set, each at its place with
    its row as id and its name and category; returns how many it holds."""
    got = features(engine.tile(tile.z, tile.x, tile.y).data, "merchants")
    want = brute_inside(engine, tile, keep)
    ids = [f["properties"]["id"] for f in got]
    assert len(ids) == len(set(ids)), "a merchant appears twice"
    assert set(ids) == want, (str(tile), sorted(set(ids) ^ want)[:10])
    if not got:
        return 0
    rows = pa.array([int(f["id"]) for f in got], pa.int64())
    table = engine.merchants
    assert table.column("merchant_id").take(rows).to_pylist() == ids
    names = table.column("name").take(rows).to_pylist()
    assert names == [f["properties"]["name"] for f in got]
    cats = table.column("category").take(rows).to_pylist()
    assert cats == [f["properties"]["category"] for f in got]
    ex, ey = expected_pixel(
        tile, table.column("lat").take(rows).to_numpy(), table.column("lng").take(rows).to_numpy()
    )
    gx, gy = np.array([f["geometry"]["coordinates"] for f in got], dtype=np.float64).T
    ex, ey = np.clip(ex, 0, EXTENT - 1), np.clip(ey, 0, EXTENT - 1)  # where MapLibre draws
    assert np.all(np.abs(gx - ex) <= 0.5 + 1e-6) and np.all(np.abs(gy - ey) <= 0.5 + 1e-6)
    return len(got)


def table_of(lat: list[float], lng: list[float], **extra: list[Any]) -> pa.Table:
    n = len(lat)
    cols: dict[str, Any] = {
        "merchant_id": [f"m{i}" for i in range(n)],
        "name": [f"Shop {i} ✓" for i in range(n)],
        "category": extra.pop("category", ["food/cafe"] * n),
        "lat": pa.array(lat, pa.float64()),
        "lng": pa.array(lng, pa.float64()),
    }
    cols.update(extra)
    return pa.table(cols)


def tile_containing(lat: float, lng: float, z: int) -> TileId:
    n = 2**z
    x = min(n - 1, max(0, int((lng + 180.0) / 360.0 * n)))
    lat = max(-MAX_LAT, min(MAX_LAT, lat))
    merc = math.asinh(math.tan(math.radians(lat)))
    y = min(n - 1, max(0, int((1 - merc / math.pi) / 2 * n)))
    return TileId(z, x, y)


# ------------------------------------------------------------------------- grid
@given(z=st.integers(0, 24), data=st.data())
@PROPERTY
def test_bounds_match_the_usual_formula_and_neighbours_share_edges(z: int, data: Any) -> None:
    n = 2**z
    x = data.draw(st.integers(0, n - 1))
    y = data.draw(st.integers(0, n - 1))
    b = TileId(z, x, y).bbox
    west, south, east, north = mercantile_bounds(z, x, y)
    assert (b.west, b.east) == (west, east)
    assert b.south == pytest.approx(south, abs=1e-12) and b.north == pytest.approx(north, abs=1e-12)
    if x + 1 < n:
        assert TileId(z, x + 1, y).bbox.west == b.east
    if y + 1 < n:
        assert TileId(z, x, y + 1).bbox.north == b.south
    assert not b.crosses_antimeridian


def test_the_grid_reaches_the_antimeridian_and_web_mercators_limit() -> None:
    for z in (0, 3, 12, 24):
        n = 2**z
        assert TileId(z, 0, 0).bbox.west == -180.0
        assert TileId(z, n - 1, 0).bbox.east == 180.0
        assert TileId(z, 0, 0).bbox.north == pytest.approx(MAX_LAT, abs=1e-12)
        assert TileId(z, 0, n - 1).bbox.south == pytest.approx(-MAX_LAT, abs=1e-12)
    assert pytest.approx(85.0511287798066, abs=1e-12) == MAX_LAT


def test_bad_tile_ids_name_every_value_and_the_range() -> None:
    with pytest.raises(InvalidQueryError) as err:
        TileId(3, 8, -1)
    msg = str(err.value)
    assert "x=8 is out of range for z=3; allowed: 0 <= x <= 7" in msg
    assert "y=-1 is out of range for z=3; allowed: 0 <= y <= 7" in msg
    assert [p["parameter"] for p in err.value.problems] == ["x", "y"]
    with pytest.raises(InvalidQueryError, match=r"z=25 is out of range; allowed: 0 <= z <= 24"):
        TileId(25, 0, 0)
    with pytest.raises(InvalidQueryError, match=r"x=1\.5 is not an integer"):
        TileId(2, 1.5, 0)  # type: ignore[arg-type]
    with pytest.raises(InvalidQueryError, match="is not an integer"):
        TileId(True, 0, 0)  # type: ignore[arg-type]


def test_bin_resolution_follows_the_zoom() -> None:
    res = [resolution_for_zoom(z) for z in range(25)]
    assert res == sorted(res) and res[0] == 0 and res[-1] == 15
    assert all(b - a <= 1 for a, b in itertools.pairwise(res))


# ------------------------------------------------------- exactness, random tables
EDGE_ZOOMS = st.integers(0, 18)


@st.composite
def tables_and_tiles(draw: Any) -> tuple[list[float], list[float], list[TileId]]:
    """Points clustered on a tile's edges and corners, plus random, antimeridian and
    polar ones; the tile, its neighbours and the tiles at both ends of its row."""
    z = draw(EDGE_ZOOMS)
    n = 2**z
    tile = TileId(z, draw(st.integers(0, n - 1)), draw(st.integers(0, n - 1)))
    b = tile.bbox
    lat: list[float] = []
    lng: list[float] = []
    count = draw(st.integers(1, 60))
    for _ in range(count):
        kind = draw(st.sampled_from(["inside", "edge", "corner", "near", "world", "special"]))
        if kind == "inside":
            lat.append(draw(st.floats(b.south, b.north)))
            lng.append(draw(st.floats(b.west, b.east)))
        elif kind == "edge":
            if draw(st.booleans()):
                lat.append(draw(st.sampled_from([b.south, b.north])))
                lng.append(draw(st.floats(b.west, b.east)))
            else:
                lat.append(draw(st.floats(b.south, b.north)))
                lng.append(draw(st.sampled_from([b.west, b.east])))
        elif kind == "corner":
            lat.append(draw(st.sampled_from([b.south, b.north])))
            lng.append(draw(st.sampled_from([b.west, b.east])))
        elif kind == "near":  # one float step outside or inside an edge
            edge_lat = draw(st.sampled_from([b.south, b.north]))
            lat.append(float(np.nextafter(edge_lat, draw(st.sampled_from([-90.0, 90.0])))))
            edge_lng = draw(st.sampled_from([b.west, b.east]))
            lng.append(float(np.nextafter(edge_lng, draw(st.sampled_from([-180.0, 180.0])))))
        elif kind == "world":
            lat.append(draw(st.floats(-90, 90)))
            lng.append(draw(st.floats(-180, 180)))
        else:
            lat.append(draw(st.sampled_from([90.0, -90.0, MAX_LAT, -MAX_LAT, 85.06, 0.0])))
            lng.append(draw(st.sampled_from([180.0, -180.0, 179.999999, -179.999999, 0.0])))
    tiles = [tile, TileId(z, 0, tile.y), TileId(z, n - 1, tile.y)]
    for dx, dy in ((1, 0), (0, 1), (-1, 0), (0, -1)):
        if 0 <= tile.x + dx < n and 0 <= tile.y + dy < n:
            tiles.append(TileId(z, tile.x + dx, tile.y + dy))
    return lat, lng, tiles


@given(tables_and_tiles())
@PROPERTY
def test_full_detail_tiles_hold_exactly_the_merchants_inside_their_bounds(
    engine_factory: Callable[..., DiscoveryEngine],
    case: tuple[list[float], list[float], list[TileId]],
) -> None:
    lat, lng, tiles = case
    engine = engine_factory(table_of(lat, lng), tiles_max_points=ALL_POINTS)
    for tile in tiles:
        check_points(engine, tile)


@given(
    st.lists(
        st.tuples(st.floats(-MAX_LAT, MAX_LAT), st.floats(-180, 180), st.integers(0, 22)),
        min_size=1,
        max_size=30,
    )
)
@PROPERTY
def test_each_point_is_on_the_tile_the_usual_formula_gives(
    engine_factory: Callable[..., DiscoveryEngine], points: list[tuple[float, float, int]]
) -> None:
    """Independent of the module's bounds: the tile mercantile's formula puts a point on
    draws it there (bounds that shrank, or a wrong row or column, would lose it)."""
    lat, lng, _zooms = (list(v) for v in zip(*points, strict=True))
    engine = engine_factory(table_of(lat, lng), tiles_max_points=ALL_POINTS)
    for i, (a, b, z) in enumerate(points):
        tile = tile_containing(a, b, z)
        west, south, east, north = mercantile_bounds(z, tile.x, tile.y)
        candidates = [tile]
        if min(abs(a - south), abs(a - north), abs(b - west), abs(b - east)) < 1e-9:
            # within float rounding of an edge: the formula may pick either neighbour
            n = 2**z
            candidates = [
                TileId(z, x, y)
                for x in range(max(0, tile.x - 1), min(n, tile.x + 2))
                for y in range(max(0, tile.y - 1), min(n, tile.y + 2))
            ]
        found = [
            t
            for t in candidates
            if f"m{i}"
            in {
                f["properties"]["id"]
                for f in features(engine.tile(t.z, t.x, t.y).data, "merchants")
            }
        ]
        assert found, (a, b, str(tile))


def test_points_beyond_web_mercator_are_on_no_tile(
    engine_factory: Callable[..., DiscoveryEngine],
) -> None:
    lat = [90.0, -90.0, 85.06, -85.06, MAX_LAT, -MAX_LAT]
    engine = engine_factory(table_of(lat, [0.0, 10.0, -170.0, 170.0, 180.0, -180.0]))
    everywhere = [f["properties"]["id"] for f in features(engine.tile(0, 0, 0).data, "merchants")]
    assert sorted(everywhere) == ["m4", "m5"]
    top_right = features(engine.tile(5, 31, 0).data, "merchants")
    assert [(f["properties"]["id"], f["geometry"]["coordinates"]) for f in top_right] == [
        ("m4", [4095, 0])
    ]
    bottom_left = features(engine.tile(5, 0, 31).data, "merchants")
    assert [(f["properties"]["id"], f["geometry"]["coordinates"]) for f in bottom_left] == [
        ("m5", [0, 4095])
    ]


def test_antimeridian_points_are_drawn_at_both_ends_of_the_row(
    engine_factory: Callable[..., DiscoveryEngine],
) -> None:
    engine = engine_factory(table_of([-17.0, -17.0, -17.0], [180.0, -180.0, 179.9999]))
    z, n = 8, 2**8
    row = tile_containing(-17.0, 0.0, z).y
    east = {f["properties"]["id"] for f in features(engine.tile(z, n - 1, row).data, "merchants")}
    west = {f["properties"]["id"] for f in features(engine.tile(z, 0, row).data, "merchants")}
    assert east == {"m0", "m2"} and west == {"m1"}


# ----------------------------------------------------------------------- filters
def test_filters_match_brute_force_on_the_columns(
    engine_factory: Callable[..., DiscoveryEngine],
) -> None:
    rng = np.random.default_rng(5)
    n = 400
    lat = (40.75 + rng.normal(0, 0.01, n)).tolist()
    lng = (-73.98 + rng.normal(0, 0.01, n)).tolist()
    cats = rng.choice(["food/cafe", "food/grocery/bodega", "shop/books", "foodie"], n).tolist()
    scale = np.where(rng.random(n) < 0.5, 5.0, 10.0)  # each rating on its own scale
    rating = np.where(rng.random(n) < 0.2, np.nan, rng.uniform(0, 1, n) * scale)
    hours = rng.choice(["Mo-Su 08:00-20:00", "Mo-Fr 22:00-23:00", None], n).tolist()
    price = rng.choice([1, 2, 3, 4, 0], n)
    table = table_of(
        lat,
        lng,
        category=cats,
        rating=pa.array(rating.tolist(), pa.float64(), from_pandas=True),
        rating_scale=scale.tolist(),
        opening_hours=pa.array(hours, pa.string()),
        price_level=pa.array([None if p == 0 else int(p) for p in price], pa.int8()),
    )
    engine = engine_factory(table, tiles_max_points=ALL_POINTS)
    tile = tile_containing(40.75, -73.98, 13)
    stars = rating / scale * 5.0
    is_food = np.array([c == "food" or c.startswith("food/") for c in cats])
    z, x, y = tile.z, tile.x, tile.y
    for where, keep in [
        (Filters(categories="food"), is_food),
        (Filters(min_rating=3.5), np.nan_to_num(stars, nan=-1) >= 3.5),
        (Filters(categories="food", min_rating=2), is_food & (np.nan_to_num(stars, nan=-1) >= 2)),
        (Filters(min_price=2, max_price=3), (price >= 2) & (price <= 3)),
    ]:
        got = {
            f["properties"]["id"]
            for f in features(engine.tile(z, x, y, where=where).data, "merchants")
        }
        assert got == brute_inside(engine, tile, keep)
    when = datetime(2024, 7, 15, 12, 30, tzinfo=UTC)
    open_rows = engine.planner.hours.open_mask(np.arange(n), when)
    keep = np.zeros(n, dtype=bool)
    keep[np.arange(n)[open_rows]] = True
    got_open = engine.tile(z, x, y, where=Filters(open_at=when))
    assert {f["properties"]["id"] for f in features(got_open.data, "merchants")} == brute_inside(
        engine, tile, keep
    )
    assert 0 < keep.sum() < n


def text_tile_ids(engine: DiscoveryEngine, tile: TileId, text: str) -> list[str]:
    """The merchant ids drawn on ``tile`` filtered by ``text`` (full detail)."""
    got = engine.tile(tile.z, tile.x, tile.y, where=Filters(text=text))
    assert got.bins == 0
    return [f["properties"]["id"] for f in features(got.data, "merchants")]


def test_text_tiles_hold_exactly_the_matching_merchants_inside(
    sample_engine: DiscoveryEngine,
) -> None:
    """``q`` on a tile: exactly the merchants inside its bounds whose text matches, by
    the brute-force oracle, and the same set as the engine's box search with the text
    (typos, a prefix last word and two words included)."""
    oracle = to.TextColumns(sample_engine)
    drawn = everything = 0
    for text in ("kahvila", "pizza", "ravintoal", "sushi bar", "kaup"):
        match = oracle.relevances(text) > 0
        assert 0 < match.sum() < len(match), text
        for z in (13, 15):
            centre = tile_containing(60.1699, 24.9384, z)
            for dx, dy in ((0, 0), (1, 0), (-1, 1)):
                tile = TileId(z, centre.x + dx, centre.y + dy)
                ids = text_tile_ids(sample_engine, tile, text)
                assert len(ids) == len(set(ids))
                assert set(ids) == brute_inside(sample_engine, tile, match), (text, str(tile))
                box = sample_engine.within_bbox(tile.bbox, where=Filters(text=text))
                assert set(ids) == set(box.merchant_ids)
                drawn += len(ids)
                everything += len(brute_inside(sample_engine, tile))
    assert 0 < drawn < everything


def test_text_tiles_bin_only_the_matching_merchants(
    engine_factory: Callable[..., DiscoveryEngine],
) -> None:
    rng = np.random.default_rng(11)
    n = 600
    lat = (60.17 + rng.normal(0, 0.003, n)).tolist()
    lng = (24.94 + rng.normal(0, 0.006, n)).tolist()
    names = rng.choice(["Kahvila Aalto", "Pizzeria Roma", "Kirja Kauppa"], n).tolist()
    engine = engine_factory(table_of(lat, lng, name=names), tiles_max_points=50)
    tile = tile_containing(60.17, 24.94, 12)
    match = to.TextColumns(engine).relevances("pizzeria") > 0
    assert match.sum() == names.count("Pizzeria Roma")
    got = engine.tile(tile.z, tile.x, tile.y, where=Filters(text="pizzeria"))
    bins = engine.aggregate(tile.bbox, resolution_for_zoom(tile.z), where=Filters(text="pizzeria"))
    decoded = features(got.data, "merchants")
    assert got.bins == len(bins) > 1 and {f["properties"]["cell"] for f in decoded} == set(
        bins.index
    )
    inside = len(brute_inside(engine, tile, match))
    assert sum(f["properties"]["count"] for f in decoded) == got.merchants == inside > 50
    assert inside < len(brute_inside(engine, tile))


# ------------------------------------------------------- bins, cache, empty tiles
def test_crowded_tiles_draw_the_aggregate_bins(
    engine_factory: Callable[..., DiscoveryEngine],
) -> None:
    rng = np.random.default_rng(9)
    lat = (60.17 + rng.normal(0, 0.003, 500)).tolist()
    lng = (24.94 + rng.normal(0, 0.006, 500)).tolist()
    engine = engine_factory(table_of(lat, lng), tiles_max_points=50)
    tile = tile_containing(60.17, 24.94, 12)
    got = engine.tile(tile.z, tile.x, tile.y)
    res = resolution_for_zoom(tile.z)
    bins = engine.aggregate(tile.bbox, res)
    assert got.bins == len(bins) > 1 and got.resolution == res and got.merchants > 50
    decoded = features(got.data, "merchants")
    by_cell = {f["properties"]["cell"]: f for f in decoded}
    assert set(by_cell) == set(bins.index)
    for cell, row in bins.iterrows():
        f = by_cell[cell]
        assert f["properties"]["count"] == row["count"]
        assert f["properties"]["resolution"] == res
        assert int(f["id"]) == int(cell, 16)
        ex, ey = expected_pixel(tile, row["lat"], row["lng"])
        gx, gy = f["geometry"]["coordinates"]
        assert abs(gx - ex) <= 0.5 + 1e-6 and abs(gy - ey) <= 0.5 + 1e-6
    assert sum(f["properties"]["count"] for f in decoded) == got.merchants
    # at full detail zoom, points whatever the count
    deep = tile_containing(60.17, 24.94, FULL_DETAIL_ZOOM)
    assert engine.tile(deep.z, deep.x, deep.y).bins == 0
    assert check_points(engine, deep) > 50


def test_tiles_are_cached_per_engine_but_not_when_asked_for_open_now(
    engine_factory: Callable[..., DiscoveryEngine],
) -> None:
    engine = engine_factory(table_of([1.0, 2.0], [1.0, 2.0], opening_hours=["24/7", None]))
    first = engine.tile(3, 4, 3)
    assert engine.tile(3, 4, 3) is first and len(engine.tiles.cache) == 1
    assert engine.tile(3, 4, 3, where=Filters(categories="food")) is not first
    live = engine.tile(3, 4, 3, where=Filters(open_now=True))
    assert engine.tile(3, 4, 3, where=Filters(open_now=True)) is not live
    assert len(engine.tiles.cache) == 2
    off = engine_factory(table_of([1.0], [1.0]), tiles_cache_mb=0)
    assert off.tile(3, 4, 3) is not off.tile(3, 4, 3) and len(off.tiles.cache) == 0


def test_an_empty_tile_has_no_bytes(engine_factory: Callable[..., DiscoveryEngine]) -> None:
    engine = engine_factory(table_of([1.0], [1.0]))
    tile = engine.tile(10, 0, 0)
    assert tile.is_empty and tile.data == b"" and tile.merchants == 0
    assert engine.tile(0, 0, 0).gzipped[:2] == b"\x1f\x8b"


# -------------------------------------------------------------------- districts
def district_polygons(data: bytes) -> dict[str, shapely.Geometry]:
    """Decoded district polygons in tile units, by district_id; each checked valid and
    oriented as MVT 2.1 says (exterior rings of positive area in tile coordinates)."""
    out = {}
    for f in features(data, "districts"):
        geom = shapely.geometry.shape(f["geometry"])
        assert geom.is_valid, shapely.is_valid_reason(geom)
        for poly in shapely.get_parts(geom):
            assert shapely.is_ccw(poly.exterior)  # positive shoelace area, y down
            assert not any(shapely.is_ccw(r) for r in poly.interiors)
        out[f["properties"]["district_id"]] = geom
    return out


def check_districts(engine: DiscoveryEngine, tile: TileId) -> int:
    """Every district that covers part of the (buffered) tile is there, valid, and equal
    to its exact clip up to the half-unit rounding of its vertices."""
    got = district_polygons(engine.tile(tile.z, tile.x, tile.y).data)
    frame = engine.snapshot.require_districts().frame
    b = DISTRICT_BUFFER
    box = shapely.box(-b, -b, EXTENT + b, EXTENT + b)

    def project(coords: np.ndarray) -> np.ndarray:
        return np.column_stack(expected_pixel(tile, coords[:, 1], coords[:, 0]))

    near = frame.geometry.intersects(shapely.box(*_lnglat_box(tile.buffered_bbox(2 * b))))
    for district_id, geom in zip(frame.index[near], frame.geometry[near], strict=True):
        exact = shapely.transform(geom, project).intersection(box)
        tolerance = exact.length * 0.75 + 4.0  # every vertex moves by at most √½ unit
        if district_id not in got:
            assert exact.area <= tolerance, (district_id, exact.area)
            continue
        diff = got[district_id].symmetric_difference(exact).area
        assert diff <= tolerance, (district_id, diff, tolerance)
    assert set(got) <= set(frame.index[near])
    return len(got)


def _lnglat_box(bbox: Any) -> tuple[float, float, float, float]:
    return bbox.west, bbox.south, bbox.east, bbox.north


def test_helsinki_tiles_are_exact_with_valid_districts(sample_engine: DiscoveryEngine) -> None:
    found = sample_engine.snapshot.require_districts()
    assert len(found) > 0
    drawn = 0
    for z in (11, 13, 14, 15, 16):
        centre = tile_containing(60.1699, 24.9384, z)
        for dx in (-1, 0, 1):
            for dy in (-1, 0, 1):
                tile = TileId(z, centre.x + dx, centre.y + dy)
                if z >= 13:
                    check_points(sample_engine, tile)
                drawn += check_districts(sample_engine, tile)
    assert drawn > 0
    for z in (0, 4, 8):  # whole-city tiles: districts shrink, vanish, never break
        tile = tile_containing(60.1699, 24.9384, z)
        district_polygons(sample_engine.tile(tile.z, tile.x, tile.y).data)


@pytest.mark.real_data
def test_nyc_tiles_are_exact(nyc_engine: DiscoveryEngine) -> None:
    """Every z14 tile over Manhattan and the tiles around Midtown at z15 and z16: exactly
    the merchants inside, valid districts; crowded low-zoom tiles are the aggregate's bins."""
    checked = 0
    for z, radius in ((14, 2), (15, 1), (16, 1)):
        centre = tile_containing(40.7549, -73.9840, z)
        for dx in range(-radius, radius + 1):
            for dy in range(-radius, radius + 1):
                tile = TileId(z, centre.x + dx, centre.y + dy)
                if engine_points_fit(nyc_engine, tile):
                    checked += check_points(nyc_engine, tile)
                check_districts(nyc_engine, tile)
    assert checked > 10_000
    crowded = tile_containing(40.7549, -73.9840, 11)
    got = nyc_engine.tile(crowded.z, crowded.x, crowded.y)
    bins = nyc_engine.aggregate(crowded.bbox, resolution_for_zoom(crowded.z))
    decoded = features(got.data, "merchants")
    assert got.bins == len(bins) and {f["properties"]["cell"] for f in decoded} == set(bins.index)
    assert (
        sum(f["properties"]["count"] for f in decoded) == int(bins["count"].sum()) == got.merchants
    )


def engine_points_fit(engine: DiscoveryEngine, tile: TileId) -> bool:
    return len(brute_inside(engine, tile)) <= engine.settings.tiles_max_points
