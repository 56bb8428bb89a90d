"""cells: the H3 facts the index stands on, checked against h3 itself."""

from __future__ import annotations

import h3
import numpy as np
import oracle
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from geo_discovery import cells
from geo_discovery.distance import haversine_m

LAT = st.floats(-90, 90, allow_nan=False)
LNG = st.floats(-180, 180, allow_nan=False)
RES = st.integers(0, 15)


@settings(max_examples=200, deadline=None)
@given(LAT, LNG, RES)
def test_cells_are_h3s_as_integers(lat: float, lng: float, res: int) -> None:
    cell = cells.latlng_to_cell(lat, lng, res)
    assert isinstance(cell, int)
    assert cells.cell_to_str(cell) == h3.latlng_to_cell(lat, lng, res)
    assert cells.str_to_cell(cells.cell_to_str(cell)) == cell


def test_many_cells_at_once_match_one_at_a_time() -> None:
    rng = np.random.default_rng(0)
    lat, lng = oracle.random_points("global", 500, rng)
    for res in (0, 5, 9, 15):
        many = cells.latlngs_to_cells(lat, lng, res)
        assert many.dtype == np.uint64 and len(many) == 500
        one_by_one = [cells.latlng_to_cell(a, b, res) for a, b in zip(lat, lng, strict=True)]
        assert many.tolist() == one_by_one
    assert len(cells.latlngs_to_cells(np.empty(0), np.empty(0), 9)) == 0


@pytest.mark.parametrize("text", ["", "zzz", "0", "8f", "ffffffffffffffff", "8f2830828052d25x"])
def test_str_to_cell_rejects_non_cells(text: str) -> None:
    with pytest.raises(ValueError, match="is not an H3 cell") as info:
        cells.str_to_cell(text)
    assert repr(text) in str(info.value)


def _sample_cells(res: int, count: int, rng: np.random.Generator) -> list[int]:
    lat, lng = oracle.random_points("global", count, rng)
    out = [cells.latlng_to_cell(a, b, res) for a, b in zip(lat, lng, strict=True)]
    # Pentagons are where H3's exceptions live: always include some.
    pent = [int(h3.str_to_int(p)) for p in h3.get_pentagons(res)]
    return out + pent[:3]


@pytest.mark.parametrize("res", [0, 1, 4, 9, 13])
def test_child_range_holds_exactly_the_descendants(res: int) -> None:
    rng = np.random.default_rng(res)
    for cell in _sample_cells(res, 15, rng):
        for fine in range(res, min(res + 3, 15) + 1):
            lo, hi = cells.child_range(cell, fine)
            kids = [int(h3.str_to_int(c)) for c in h3.cell_to_children(h3.int_to_str(cell), fine)]
            assert all(lo <= c <= hi for c in kids)
            # No cell of a neighbour falls inside the range.
            for nb in h3.grid_ring(h3.int_to_str(cell), 1):
                n_lo, n_hi = cells.child_range(int(h3.str_to_int(nb)), fine)
                assert n_hi < lo or n_lo > hi
    with pytest.raises(ValueError, match="coarser"):
        cells.child_range(cells.latlng_to_cell(0, 0, 5), 4)


@settings(max_examples=200, deadline=None)
@given(LAT, LNG, st.integers(0, 12), st.integers(0, 3))
def test_a_points_fine_cell_sorts_inside_its_ancestors_range(
    lat: float, lng: float, coarse: int, levels: int
) -> None:
    fine = coarse + levels
    cell = cells.latlng_to_cell(lat, lng, fine)
    ancestor = int(h3.str_to_int(h3.cell_to_parent(h3.int_to_str(cell), coarse)))
    lo, hi = cells.child_range(ancestor, fine)
    assert lo <= cell <= hi


@pytest.mark.parametrize("res", [0, 2, 7, 12])
def test_rings_are_disk_differences_even_at_pentagons(res: int) -> None:
    rng = np.random.default_rng(100 + res)
    for cell in _sample_cells(res, 6, rng):
        assert cells.grid_ring(cell, 0).tolist() == [cell]
        inner = {cell}
        for k in range(1, 4):
            disk = set(cells.grid_disk(cell, k).tolist())
            ring = cells.grid_ring(cell, k)
            assert ring.dtype == np.uint64
            assert set(ring.tolist()) == disk - inner
            inner = disk


def test_rings_at_resolution_0_run_out() -> None:
    """The index stops when the fence (next ring) is empty: that must happen at res 0."""
    total = len(h3.get_res0_cells())
    for cell in _sample_cells(0, 10, np.random.default_rng(5)):
        seen = {cell}
        for k in range(1, 40):
            ring = cells.grid_ring(cell, k)
            if len(ring) == 0:
                break
            seen |= set(ring.tolist())
        else:  # pragma: no cover - a failure
            pytest.fail(f"rings around {cells.cell_to_str(cell)} never ran out")
        assert len(seen) == total


@pytest.mark.parametrize("res", [0, 3, 6, 9, 12, 15])
def test_caps_hold_every_point_of_their_cell(res: int) -> None:
    """Every point h3 assigns to a cell lies within the cap radius of its centre."""
    rng = np.random.default_rng(res)
    lat, lng = oracle.random_points("global", 3000, rng)
    # Also points near the cells' own vertices, the hardest spots.
    some = cells.latlngs_to_cells(lat[:100], lng[:100], res)
    for c in some.tolist():
        centre = h3.cell_to_latlng(h3.int_to_str(c))
        for v in h3.cell_to_boundary(h3.int_to_str(c)):
            for t in (0.999, 0.9999999):
                lat = np.append(lat, centre[0] + t * (v[0] - centre[0]))
                lng = np.append(lng, centre[1] + t * (v[1] - centre[1]))
    ok = np.abs(lng) <= 180
    lat, lng = lat[ok], lng[ok]
    point_cells = cells.latlngs_to_cells(lat, lng, res)
    centres, radii = cells.cell_caps(point_cells)
    np.testing.assert_allclose(np.linalg.norm(centres, axis=1), 1.0, atol=1e-15)
    c_lat = np.degrees(np.arcsin(np.clip(centres[:, 2], -1, 1)))
    c_lng = np.degrees(np.arctan2(centres[:, 1], centres[:, 0]))
    d = haversine_m(c_lat, c_lng, lat, lng)
    assert (d <= radii).all(), float((d - radii).max())
    # Centres are h3's.
    for i in range(0, len(point_cells), 97):
        want = h3.cell_to_latlng(h3.int_to_str(int(point_cells[i])))
        assert float(haversine_m(*want, c_lat[i], c_lng[i])) < 1e-6
    # Caps are tight enough to be useful: no more than the margin over the farthest vertex.
    for c, r in zip(point_cells[:20].tolist(), radii[:20].tolist(), strict=True):
        centre = h3.cell_to_latlng(h3.int_to_str(c))
        far = max(float(haversine_m(*centre, *v)) for v in h3.cell_to_boundary(h3.int_to_str(c)))
        assert far <= r <= far * (1 + 1e-5) + 0.1


def test_caps_are_cached_and_stable() -> None:
    c = np.array([cells.latlng_to_cell(40.7, -74.0, 9)] * 3, dtype=np.uint64)
    a_centres, a_radii = cells.cell_caps(c)
    b_centres, b_radii = cells.cell_caps(c[:1])
    np.testing.assert_array_equal(a_centres[0], b_centres[0])
    assert a_radii[0] == b_radii[0] == a_radii[2]
    assert cells.cell_caps(np.empty(0, dtype=np.uint64))[0].shape == (0, 3)


def test_average_edge_lengths_shrink_by_about_sqrt7() -> None:
    edges = [cells.average_edge_length_m(r) for r in range(16)]
    assert edges == [h3.average_hexagon_edge_length(r, unit="m") for r in range(16)]
    ratios = np.array(edges[:-1]) / np.array(edges[1:])
    np.testing.assert_allclose(ratios, np.sqrt(7), rtol=0.02)


def test_choose_resolution_follows_density() -> None:
    rng = np.random.default_rng(3)
    assert cells.choose_resolution(np.empty(0), np.empty(0), 8.0) == 9
    city = oracle.random_points("city", 30_000, rng, centre=(40.7, -74.0), spread_deg=0.02)
    town = oracle.random_points("city", 2_000, rng, centre=(40.7, -74.0), spread_deg=0.05)
    world = oracle.random_points("global", 2_000, rng)
    r_city = cells.choose_resolution(*city, 8.0)
    r_town = cells.choose_resolution(*town, 8.0)
    r_world = cells.choose_resolution(*world, 8.0)
    assert 3 <= r_world < r_town < r_city <= 13
    # A larger target per cell never asks for a finer grid.
    assert cells.choose_resolution(*city, 64.0) <= r_city
    # The chosen resolution meets the target on this data; the next finer one does not.
    occupied = len(np.unique(cells.latlngs_to_cells(*town, r_town)))
    assert 2_000 / occupied >= 8.0
    finer = len(np.unique(cells.latlngs_to_cells(*town, r_town + 1)))
    assert 2_000 / finer < 8.0


def test_boundary_is_a_closed_lng_lat_ring() -> None:
    cell = cells.latlng_to_cell(40.7, -74.0, 8)
    ring = cells.cell_to_boundary_lnglat(cell)
    assert ring[0] == ring[-1] and len(ring) == 7
    lng, lat = zip(*ring[:-1], strict=True)
    assert all(-75 < x < -73 for x in lng) and all(40 < y < 41 for y in lat)
    assert shapely.Polygon(ring).contains(shapely.Point(-74.0, 40.7))
    pent = int(h3.str_to_int(h3.get_pentagons(5)[0]))
    assert len(cells.cell_to_boundary_lnglat(pent)) >= 6
