"""Districts over the antimeridian: which of them touch a box, and their GeoJSON bbox."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely

from geo_discovery.districts.detect import (
    DistrictParams,
    Districts,
    build_districts,
    lng_wrapped_bounds,
)
from geo_discovery.models import BBox

SHIFTS = (-360.0, 0.0, 360.0)


def _cluster(rng: np.random.Generator, lat: float, lng: float, n: int, name: str) -> pd.DataFrame:
    lngs = (lng + rng.normal(0, 0.002, n) + 180.0) % 360.0 - 180.0
    return pd.DataFrame({"lat": lat + rng.normal(0, 0.002, n), "lng": lngs,
                         "category": "food/cafe", "status": "open",
                         "address": [f"{i} {name}" for i in range(n)]})  # fmt: skip


@pytest.fixture(scope="module")
def world() -> Districts:
    """Two districts over ±180 (Fiji, one on each side's edge), and districts at other
    longitudes of the same latitude and elsewhere, one round the North Pole."""
    rng = np.random.default_rng(3)
    parts = [
        _cluster(rng, -17.0, 180.0, 400, "Victoria Parade"),
        _cluster(rng, -16.7, 179.9985, 300, "Cross Street"),
        _cluster(rng, -17.0, 5.0, 200, "Zero Street"),
        _cluster(rng, -17.0, 105.0, 200, "East Street"),
        _cluster(rng, -17.0, -95.0, 200, "West Street"),
        _cluster(rng, 60.17, 24.94, 200, "Mannerheimintie"),
        _cluster(rng, -16.9, -179.95, 200, "Near Street"),
    ]
    pole = pd.DataFrame({"lat": np.minimum(89.9985 + rng.normal(0, 0.0007, 200), 89.99999),
                         "lng": rng.uniform(-180.0, 180.0, 200), "category": "food/cafe",
                         "status": "open"})  # fmt: skip
    frame = pd.concat([*parts, pole], ignore_index=True)
    frame.index = pd.Index([f"m{i}" for i in range(len(frame))], name="merchant_id")
    return build_districts(frame, DistrictParams(resolution=10, split_quantile=None))


def _crossing(d: Districts) -> list[str]:
    return [i for i, g in d.frame.geometry.items() if g.bounds[0] == -180 and g.bounds[2] == 180
            and g.bounds[1] < 80]  # fmt: skip


def _oracle(d: Districts, box: BBox) -> set[str]:
    """Brute force: each district's polygon, part by part, against each piece of the box
    (split at ±180), both moved by whole turns."""
    pieces = [(box.west, 180.0), (-180.0, box.east)] if box.crosses_antimeridian else [
        (box.west, box.east)]  # fmt: skip
    out = set()
    for district_id, geom in d.frame.geometry.items():
        for part in shapely.get_parts(geom):
            for w, e in pieces:
                for k in SHIFTS:
                    if part.intersects(shapely.box(w + k, box.south, e + k, box.north)):
                        out.add(str(district_id))
    return out


def test_the_fixture_has_districts_over_the_antimeridian(world: Districts) -> None:
    assert len(world) >= 7 and len(_crossing(world)) >= 2


def test_a_box_far_from_a_district_over_the_antimeridian_does_not_return_it(
    world: Districts,
) -> None:
    """Its bounds were -180 … 180: any box at its latitude (Africa, the Pacific) had it."""
    crossing = set(_crossing(world))
    for box in [
        BBox(south=-20, west=0, north=-10, east=10),
        BBox(south=-17.1, west=100, north=-16.9, east=110),
        BBox(south=-17.1, west=-100, north=-16.9, east=-90),
    ]:
        got = set(world.frame.index[world.touching(box)])
        assert not got & crossing, (box, got & crossing)
        assert got == _oracle(world, box)
    near = BBox(south=-17.01, west=179.999, north=-16.99, east=-179.999)
    assert crossing & set(world.frame.index[world.touching(near)])


def test_touching_matches_brute_force_on_random_boxes(world: Districts) -> None:
    rng = np.random.default_rng(11)
    centres = [(-17.0, 180.0), (-16.7, 179.9985), (-17.0, 5.0), (-17.0, 105.0), (-17.0, -95.0),
               (60.17, 24.94), (-16.9, -179.95), (89.99, 0.0)]  # fmt: skip
    boxes = []
    for _ in range(600):
        lat0, lng0 = centres[int(rng.integers(len(centres)))]
        scale = float(10.0 ** rng.uniform(-3.5, 1.5))
        south = float(np.clip(lat0 + rng.normal(0, scale), -90, 90))
        north = float(np.clip(south + rng.uniform(0, scale), -90, 90))
        west = float((lng0 + rng.normal(0, scale) + 180.0) % 360.0 - 180.0)
        east = float((west + rng.uniform(0, 3 * scale) + 180.0) % 360.0 - 180.0)
        boxes.append(BBox(south=south, west=west, north=north, east=east))
    boxes += [
        BBox(south=-18, west=179.5, north=-16, east=180),
        BBox(south=-18, west=-180, north=-16, east=-179.5),
        BBox(south=-18, west=170, north=-16, east=-170),
        BBox(south=-18, west=-180, north=-16, east=180),
        BBox(south=-90, west=179.9999, north=90, east=-179.9999),
        BBox(south=89, west=-10, north=90, east=10),
    ]
    crossing, positive = 0, 0
    for box in boxes:
        got = set(world.frame.index[world.touching(box)])
        assert got == _oracle(world, box), box
        crossing += box.crosses_antimeridian
        positive += bool(got)
    assert crossing > 50 and positive > 100 and positive < len(boxes)


def test_the_feature_bbox_of_a_district_over_the_antimeridian_has_west_above_east(
    world: Districts,
) -> None:
    """RFC 7946 §5.2: west > east across ±180, never the whole world."""
    for district_id in _crossing(world):
        west, south, east, north = world.feature(district_id)["properties"]["bbox"]
        geom = world.frame.geometry[district_id]
        assert 179.9 < west < 180.0 and -180.0 < east < -179.9
        lngs = np.concatenate([np.asarray(p.exterior.coords)[:, 0] for p in geom.geoms])
        assert ((lngs >= west) | (lngs <= east)).all()
        assert (south, north) == (geom.bounds[1], geom.bounds[3])
    others = [i for i in world.ids if i not in _crossing(world)]
    for district_id in others:
        box = world.feature(district_id)["properties"]["bbox"]
        assert box == list(world.frame.geometry[district_id].bounds)  # pole too: -180 … 180


def test_wrapped_bounds_of_parts() -> None:
    b = shapely.box
    cases = {
        "plain": (b(10, 0, 20, 1), [10, 0, 20, 1]),
        "cut": (shapely.union_all([b(170, 0, 180, 1), b(-180, 0, -175, 1)]), [170, 0, -175, 1]),
        "wide east": (shapely.union_all([b(-100, 0, 150, 1), b(170, 0, 180, 1)]),
                      [-100, 0, 180, 1]),
        "wide over": (shapely.union_all([b(-150, 0, 100, 1), b(150, 0, 180, 1),
                                         b(-180, 0, -160, 1)]), [150, 0, 100, 1]),
        "round": (b(-180, 80, 180, 90), [-180, 80, 180, 90]),
    }  # fmt: skip
    geoms = [g for g, _ in cases.values()] + [shapely.Polygon()]
    got = lng_wrapped_bounds(geoms)
    for (name, (_, want)), row in zip(cases.items(), got.tolist(), strict=False):
        assert row == want, name
    assert np.isnan(got[-1]).all()
