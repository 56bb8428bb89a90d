"""Search areas from GeoJSON (:mod:`geo_discovery.search.shapes`): coordinates must be
numbers, a MultiPolygon's parts are unioned (an invalid part is named), a ring with an
edge over 180° of longitude is read the short way across the antimeridian, and a box
given as (lat, lng) is recognised.

Oracle of the antimeridian: a brute-force point-in-polygon (even-odd ray casting, written
here, no shapely) of each point against the ring unrolled round the polygon's centre, on
random star-shaped polygons around ±180 and random points, then through the engine on a
synthetic table straddling the antimeridian.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oracle import ray_cast_inside

from geo_discovery.engine import DiscoveryEngine
from geo_discovery.errors import InvalidQueryError
from geo_discovery.models import BBox
from geo_discovery.search.shapes import swapped_bbox_hint, to_polygon
from geo_discovery.settings import Settings

SQUARE = [[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]]
OVERLAPPING = [[5, 5], [15, 5], [15, 15], [5, 15], [5, 5]]
NEIGHBOUR = [[10, 0], [20, 0], [20, 10], [10, 10], [10, 0]]  # shares SQUARE's east edge
BOWTIE = [[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]
FIJI = [[175, -20], [-175, -20], [-175, -10], [175, -10], [175, -20]]


def gj(kind: str, coordinates: Any) -> dict[str, Any]:
    return {"type": kind, "coordinates": coordinates}


def refusal(body: Any) -> str:
    with pytest.raises(InvalidQueryError) as info:
        to_polygon(body)
    return str(info.value)


# ------------------------------------------------------------------ numbers only
@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (gj("Polygon", [[[True, 2], [2, 2], [2, 3], [True, 2]]]), "coordinates[0][0][0]=true"),
        (gj("Polygon", [[["1", 2], [2, 2], [2, 3], ["1", 2]]]), 'coordinates[0][0][0]="1"'),
        (gj("Polygon", [[[1, 2], [2, None], [2, 3], [1, 2]]]), "coordinates[0][1][1]=null"),
        (gj("MultiPolygon", [[SQUARE], [[[1, 1], [2, 1], [2, False], [1, 1]]]]),
         "coordinates[1][0][2][1]=false"),
    ],
)
def test_coordinates_must_be_numbers(body: dict[str, Any], needle: str) -> None:
    message = refusal(body)
    assert needle in message and "is not a number" in message and "JSON numbers" in message
    in_collection = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": gj("Polygon", [SQUARE])},
        {"type": "Feature", "geometry": body},
    ]}  # fmt: skip
    message = refusal(in_collection)
    assert "features[1]" in message and needle in message


# --------------------------------------------------------- multipolygons: union
@pytest.mark.parametrize("other", [OVERLAPPING, NEIGHBOUR])
def test_multipolygon_parts_are_unioned(other: list[list[float]]) -> None:
    got = to_polygon(gj("MultiPolygon", [[SQUARE], [other]]))
    expected = shapely.union_all([shapely.Polygon(SQUARE), shapely.Polygon(other)])
    assert got.is_valid and got.equals(expected)
    collection = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": gj("Polygon", [ring])} for ring in (SQUARE, other)
    ]}  # fmt: skip
    assert to_polygon(collection).equals(got)
    shapely_multi = shapely.MultiPolygon([shapely.Polygon(SQUARE), shapely.Polygon(other)])
    assert to_polygon(shapely_multi).equals(got)


def test_disjoint_multipolygon_is_kept_as_it_is() -> None:
    far = [[30, 0], [40, 0], [40, 10], [30, 10], [30, 0]]
    got = to_polygon(gj("MultiPolygon", [[SQUARE], [far]]))
    assert isinstance(got, shapely.MultiPolygon) and len(got.geoms) == 2
    assert got.area == pytest.approx(200)


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (gj("MultiPolygon", [[SQUARE], [BOWTIE]]), "at coordinates[1]: Self-intersection"),
        ({"type": "Feature", "geometry": gj("MultiPolygon", [[BOWTIE], [SQUARE]])},
         "at geometry.coordinates[0]: Self-intersection"),
        ({"type": "FeatureCollection", "features": [
            {"type": "Feature", "geometry": gj("Polygon", [BOWTIE])},
            {"type": "Feature", "geometry": gj("Polygon", [SQUARE])},
        ]}, "at features[0]: Self-intersection"),  # was a GEOS TopologyException
        ({"type": "FeatureCollection", "features": [
            {"type": "Feature", "geometry": gj("Polygon", [SQUARE])},
            {"type": "Feature", "geometry": gj("MultiPolygon", [[SQUARE], [BOWTIE]])},
        ]}, "at features[1].geometry.coordinates[1]: Self-intersection"),
        (shapely.MultiPolygon([shapely.Polygon(SQUARE), shapely.Polygon(BOWTIE)]),
         "at geoms[1]: Self-intersection"),
    ],
)
def test_an_invalid_part_is_named(body: Any, where: str) -> None:
    message = refusal(body)
    assert message.startswith("polygon is invalid ") and where in message
    assert "their union is searched" in message


def test_a_single_invalid_polygon_keeps_its_message() -> None:
    message = refusal(gj("Polygon", [BOWTIE]))
    assert message.startswith("polygon is invalid: Self-intersection")


# ------------------------------------------------------------- the antimeridian
def test_fiji_square_is_read_across_the_antimeridian() -> None:
    got = to_polygon(gj("Polygon", [FIJI]))
    assert isinstance(got, shapely.MultiPolygon)
    assert got.area == pytest.approx(100)  # 10° × 10°, not 350° × 10°
    east, west = sorted(got.geoms, key=lambda p: p.bounds[0], reverse=True)
    assert east.bounds == (175, -20, 180, -10) and west.bounds == (-180, -20, -175, -10)
    lng = np.array([176.0, -176.0, 180.0, -180.0, 0.0, -40.0, 20.0])
    lat = np.full(len(lng), -15.0)
    inside = shapely.intersects_xy(got, lng, lat).tolist()
    assert inside == [True, True, True, True, False, False, False]


def test_planar_readings_stay() -> None:
    world = [[-180, -90], [180, -90], [180, 90], [-180, 90], [-180, -90]]
    assert to_polygon(gj("Polygon", [world])).area == pytest.approx(360 * 180)
    half = [[-90, 0], [90, 0], [90, 10], [-90, 10], [-90, 0]]  # edges of exactly 180°
    assert to_polygon(gj("Polygon", [half])).area == pytest.approx(1800)
    wide = [[-170, 0], [0, 0], [170, 0], [170, 10], [0, 10], [-170, 10], [-170, 0]]
    assert to_polygon(gj("Polygon", [wide])).area == pytest.approx(3400)  # no edge > 180°
    # shapely geometries are planar by definition: a 350° band stays one
    assert to_polygon(shapely.Polygon(FIJI)).area == pytest.approx(3500)


def test_already_cut_multipolygon_is_unchanged() -> None:
    east = [[175, -20], [180, -20], [180, -10], [175, -10], [175, -20]]
    west = [[-180, -20], [-175, -20], [-175, -10], [-180, -10], [-180, -20]]
    got = to_polygon(gj("MultiPolygon", [[east], [west]]))
    assert got.equals(to_polygon(gj("Polygon", [FIJI])))


def test_hole_across_the_antimeridian_stays_a_hole() -> None:
    shell = [[170, -30], [-170, -30], [-170, 0], [170, 0], [170, -30]]
    hole = [[178, -20], [178, -10], [-178, -10], [-178, -20], [178, -20]]
    got = to_polygon(gj("Polygon", [shell, hole]))
    assert got.area == pytest.approx(20 * 30 - 4 * 10)
    lng, lat = np.array([179.0, -179.0, 172.0, -172.0]), np.array([-15.0, -15.0, -15.0, -15.0])
    assert shapely.intersects_xy(got, lng, lat).tolist() == [False, False, True, True]


def test_ring_round_a_pole_is_refused() -> None:
    # 0 → 100 → (-160, read the short way: 200) → (-60: 300) → (0: 360): round the pole
    ring = [[0, -80], [100, -80], [-160, -80], [-60, -80], [0, -80]]
    message = refusal(gj("Polygon", [ring]))
    assert "goes round the earth" in message and "RFC 7946" in message


def _wrap(lng: np.ndarray) -> np.ndarray:
    return (lng + 180.0) % 360.0 - 180.0


def _star(rng: np.random.Generator, centre: tuple[float, float], radius: float) -> np.ndarray:
    """A closed star-shaped ring (unrolled: longitudes may pass ±180) round ``centre``."""
    n = int(rng.integers(3, 12))
    angles = np.sort(rng.uniform(0, 2 * np.pi, n))
    radii = radius * rng.uniform(0.2, 1.0, n)
    ring = np.column_stack(
        [centre[1] + radii * np.cos(angles), centre[0] + 0.5 * radii * np.sin(angles)]
    )
    return np.vstack([ring, ring[:1]])


def _oracle(
    unrolled: np.ndarray, centre_lng: float, lat: np.ndarray, lng: np.ndarray
) -> list[bool]:
    """Each point moved to the unrolled frame round the centre, then ray-cast."""
    near = centre_lng + _wrap(lng - centre_lng)
    return [ray_cast_inside(unrolled, float(x), float(y)) for x, y in zip(near, lat, strict=True)]


def _near_boundary(
    unrolled: np.ndarray, centre_lng: float, lat: np.ndarray, lng: np.ndarray
) -> np.ndarray:
    near = centre_lng + _wrap(lng - centre_lng)
    ring = shapely.LinearRing(unrolled)
    return shapely.distance(ring, shapely.points(near, lat)) < 1e-7


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    seed=st.integers(0, 2**32 - 1),
    centre_lng=st.sampled_from([180.0, -180.0, 179.0, -179.5, 175.0, 0.0, -60.0]),
    centre_lat=st.floats(-45, 45),
    radius=st.sampled_from([0.5, 5.0, 40.0, 85.0]),
)
def test_polygons_round_the_antimeridian_match_ray_casting(
    seed: int, centre_lng: float, centre_lat: float, radius: float
) -> None:
    rng = np.random.default_rng(seed)
    unrolled = _star(rng, (centre_lat, centre_lng), radius)
    written = np.column_stack([_wrap(unrolled[:, 0]), unrolled[:, 1]])  # as a client sends
    written[written[:, 0] == -180.0, 0] = rng.choice([-180.0, 180.0])
    if not shapely.Polygon(unrolled).is_valid:
        return
    geom = to_polygon(gj("Polygon", [written.tolist()]))
    lat = rng.uniform(centre_lat - radius, centre_lat + radius, 400).clip(-90, 90)
    lng = _wrap(centre_lng + rng.uniform(-1.2 * radius, 1.2 * radius, 400))
    lng[:20] = rng.choice([-180.0, 180.0], 20)  # on the antimeridian itself
    got = shapely.intersects_xy(geom, lng, lat)
    expected = _oracle(unrolled, centre_lng, lat, lng)
    edge = _near_boundary(unrolled, centre_lng, lat, lng)
    assert [g for g, e in zip(got, edge, strict=True) if not e] == [
        x for x, e in zip(expected, edge, strict=True) if not e
    ]
    assert geom.area == pytest.approx(shapely.Polygon(unrolled).area)
    west, _, east, _ = geom.bounds
    assert -180 <= west <= east <= 180


def _table(lat: np.ndarray, lng: np.ndarray) -> pa.Table:
    ids = [f"m{i:05d}" for i in range(len(lat))]
    return pa.table(
        {"merchant_id": ids, "name": ids, "lat": lat, "lng": lng,
         "category": ["food/cafe"] * len(lat)}
    )  # fmt: skip


@pytest.fixture(scope="module")
def pacific() -> tuple[DiscoveryEngine, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    lat = rng.uniform(-30, 0, 3000)
    lng = _wrap(180 + rng.normal(0, 8, 3000))
    lat[:300], lng[:300] = rng.uniform(-30, 0, 300), rng.uniform(-60, 30, 300)  # far away
    lng[300:320] = rng.choice([-180.0, 180.0], 20)  # on the antimeridian
    engine = DiscoveryEngine.from_table(_table(lat, lng), settings=Settings())
    table = engine.snapshot.merchants
    return engine, np.asarray(table.column("lat")), np.asarray(table.column("lng"))


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(seed=st.integers(0, 2**32 - 1), radius=st.sampled_from([2.0, 10.0, 30.0]))
def test_engine_polygon_search_across_the_antimeridian(
    pacific: tuple[DiscoveryEngine, np.ndarray, np.ndarray], seed: int, radius: float
) -> None:
    engine, lat, lng = pacific
    rng = np.random.default_rng(seed)
    centre = (float(rng.uniform(-25, -5)), float(rng.uniform(175, 185)))
    unrolled = _star(rng, centre, radius)
    if not shapely.Polygon(unrolled).is_valid:
        return
    written = np.column_stack([_wrap(unrolled[:, 0]), unrolled[:, 1]]).tolist()
    got = engine.within_polygon(gj("Polygon", [written]), limit=None)
    ids = np.asarray(engine.snapshot.merchants.column("merchant_id"))
    inside = np.array(_oracle(unrolled, centre[1], lat, lng))
    edge = _near_boundary(unrolled, centre[1], lat, lng)
    assert set(got.merchant_ids) - set(ids[edge]) == set(ids[inside & ~edge])


# ------------------------------------------------------------ boxes as (lat, lng)
AMSTERDAM_LAT = np.array([52.36, 52.37, 52.38, 52.372])
AMSTERDAM_LNG = np.array([4.88, 4.90, 4.91, 4.895])


@pytest.mark.parametrize("text", ["4_0,50,5,51", "a,50,5,51", "4,50,5"])
def test_box_text_that_is_not_four_numbers_is_refused_by_name(text: str) -> None:
    """float() reads "4_0" as 40; a box string takes plain numbers, as the API's does."""
    with pytest.raises(InvalidQueryError, match=rf"bbox='{text}'"):
        BBox.from_string(text)
    assert BBox.from_string(" -4.5, 50,5e0 ,51") == BBox(south=50, west=-4.5, north=51, east=5)


def test_swapped_box_is_recognised() -> None:
    swapped = BBox.from_string("52.36,4.88,52.38,4.92")  # south,west,north,east by mistake
    hint = swapped_bbox_hint(swapped, AMSTERDAM_LAT, AMSTERDAM_LNG)
    assert hint is not None
    assert "look like (lat, lng)" in hint and "holds 4 merchants" in hint
    assert "e.g. 4.88,52.36,4.92,52.38" in hint


def test_engine_refuses_a_swapped_box_as_it_refuses_a_swapped_polygon() -> None:
    """Before, within_bbox answered an empty page for a box in (lat, lng) order, where
    within_polygon (and the HTTP API) said the numbers look like (lat, lng)."""
    engine = DiscoveryEngine.from_table(_table(AMSTERDAM_LAT, AMSTERDAM_LNG), settings=Settings())
    for swapped in ("52.36,4.88,52.38,4.92", (52.36, 4.88, 52.38, 4.92)):
        with pytest.raises(InvalidQueryError, match=r"bbox=52.36,4.88,52.38,4.92 holds nothing: "
                           r".*look like \(lat, lng\)"):  # fmt: skip
            engine.within_bbox(swapped)
    assert len(engine.within_bbox("4.88,52.36,4.92,52.38")) == 4  # the right order
    assert len(engine.within_bbox("4.95,52.36,4.99,52.38")) == 0  # beside the data: empty


@pytest.mark.parametrize(
    "box",
    [
        "4.88,52.36,4.92,52.38",  # the right order
        "4.95,52.36,4.99,52.38",  # right order, beside the data
        "10,10,11,11",  # far away, and its mirror too
        "52.36,4.93,52.38,4.99",  # mirror off the data
        "100,4.88,120,4.92",  # first numbers beyond ±90: not latitudes
        "52.38,4.88,52.36,4.92",  # west > east: across the antimeridian
    ],
)
def test_other_boxes_get_no_hint(box: str) -> None:
    assert swapped_bbox_hint(BBox.from_string(box), AMSTERDAM_LAT, AMSTERDAM_LNG) is None
    assert swapped_bbox_hint(BBox.from_string(box), np.array([]), np.array([])) is None


def test_world_data_gets_no_hint() -> None:
    lat = np.append(AMSTERDAM_LAT, [-40.0, 60.0])
    lng = np.append(AMSTERDAM_LNG, [-170.0, 170.0])
    assert swapped_bbox_hint(BBox.from_string("52.36,4.88,52.38,4.92"), lat, lng) is None


def test_the_vertex_limit_counts_distinct_vertices_not_closing_positions() -> None:
    """A ring of exactly the limit's distinct vertices, closed as RFC 7946 requires, was
    refused as one more (`polygon has 10001 vertices`), and a square with a square hole
    was said to have 10: each ring's closing position was counted."""
    import math

    n = 40
    ring = [[math.cos(2 * math.pi * i / n), math.sin(2 * math.pi * i / n)] for i in range(n)]
    exactly = {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}
    assert to_polygon(exactly, max_vertices=n).is_valid
    with pytest.raises(InvalidQueryError, match=f"polygon has {n} vertices; allowed: at most "
                       f"{n - 1} "):  # fmt: skip
        to_polygon(exactly, max_vertices=n - 1)
    hole = [[0.2, 0.2], [0.2, 0.4], [0.4, 0.4], [0.4, 0.2], [0.2, 0.2]]
    square = [[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]
    holed = {"type": "Polygon", "coordinates": [square, hole]}
    moved = [[x + 2, y] for x, y in square]
    two = {"type": "MultiPolygon", "coordinates": [[square, hole], [moved]]}
    with pytest.raises(InvalidQueryError, match="polygon has 8 vertices; allowed: at most 7 "):
        to_polygon(holed, max_vertices=7)
    with pytest.raises(InvalidQueryError, match="polygon has 12 vertices; allowed: at most 11 "):
        to_polygon(two, max_vertices=11)
    assert to_polygon(two, max_vertices=12).area == pytest.approx(2 - 0.04)
