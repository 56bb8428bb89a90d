"""Polygons at the edges of the map: cells (``geo_discovery.cellsets``) cut at the
antimeridian, closed at the poles, united when h3's neighbours do not share their vertices
to the bit; rings across ±180; a query polygon of NaN."""

from __future__ import annotations

import h3.api.basic_int as h3
import numpy as np
import pytest
import shapely

from geo_discovery.cells import latlng_to_cell
from geo_discovery.cellsets import cell_polygons, cells_geojson, union_of_cells


def _every_cell(res: int) -> np.ndarray:
    return np.array(sorted(h3.uncompact_cells(h3.get_res0_cells(), res)), dtype=np.uint64)


@pytest.mark.parametrize("res", [0, 1, 2])
def test_every_cell_of_a_resolution_tiles_the_map_once(res: int) -> None:
    """The cells of one resolution cover the globe once, so their polygons in (lng, lat)
    cover the 360° × 180° rectangle once: no polygon wraps round the world (a cell over
    the antimeridian) or leaves out a pole, and none reaches past ±180."""
    polys = cell_polygons(_every_cell(res))
    assert shapely.is_valid(polys).all()
    lo_lng, lo_lat, hi_lng, hi_lat = shapely.bounds(polys).T
    assert lo_lng.min() >= -180.0 and hi_lng.max() <= 180.0
    assert lo_lat.min() == -90.0 and hi_lat.max() == 90.0  # the two polar cells reach them
    assert shapely.area(polys).sum() == pytest.approx(360.0 * 180.0, rel=1e-12)
    merged = union_of_cells(polys)
    assert merged.is_valid and merged.area == pytest.approx(360.0 * 180.0, rel=1e-12)


def test_a_cell_over_the_antimeridian_is_cut_there_in_geojson() -> None:
    fiji = latlng_to_cell(-16.5, 180.0, 2)
    amsterdam = latlng_to_cell(52.37, 4.89, 0)  # a res-0 cell: more than six vertices
    pentagon = h3.get_pentagons(2)[0]  # five vertices (class II)
    cut, plain, five = cells_geojson([fiji, amsterdam, pentagon])
    assert (cut["type"], plain["type"], five["type"]) == ("MultiPolygon", "Polygon", "Polygon")
    assert len(five["coordinates"][0]) == 6  # five vertices, closed
    sides = sorted(min(x for x, _ in part[0]) for part in cut["coordinates"])
    assert sides[0] == -180.0 and sides[1] > 0  # one part each side, meeting at ±180
    for part in cut["coordinates"]:
        assert all(-180.0 <= x <= 180.0 for x, _ in part[0])
        assert shapely.Polygon(part[0]).exterior.is_ccw  # RFC 7946 orientation
    # the parts together are the cell: its centre, taken to either side, is inside one
    lat, lng = h3.cell_to_latlng(fiji)
    whole = shapely.geometry.shape(cut)
    assert whole.contains(shapely.Point(lng, lat))


def test_neighbours_that_do_not_share_a_vertex_still_unite() -> None:
    """Near an icosahedron edge a distorted cell has a vertex its neighbour lacks: GEOS's
    coverage union refused the pair ("incorrectly noded"; a Huff catchment in Korea at
    resolution 7 answered 500)."""
    pair = np.array([608845767804715007, 608845767871823871], dtype=np.uint64)
    assert len(h3.cell_to_boundary(int(pair[0]))) > 6 and h3.are_neighbor_cells(*pair.tolist())
    polys = cell_polygons(pair)
    merged = union_of_cells(polys)
    assert merged.is_valid and merged.geom_type == "Polygon"
    assert merged.area == pytest.approx(shapely.area(polys).sum(), rel=1e-9)


@pytest.mark.parametrize("lng", [179.99, -179.995, 180.0])
def test_a_ring_over_the_antimeridian_is_the_same_ring_cut_there(lng: float) -> None:
    """``distance_rings`` drew a circle at 179.99 with longitudes past 180."""
    from geo_discovery.catchment.areas import distance_rings

    there = distance_rings(-17.5, lng, [2000.0, 5000.0]).geometry
    here = distance_rings(-17.5, 0.0, [2000.0, 5000.0]).geometry  # the same shapes, moved
    assert (there.bounds["minx"] >= -180.0).all() and (there.bounds["maxx"] <= 180.0).all()
    assert there.is_valid.all()
    assert np.allclose(shapely.area(there.to_numpy()), shapely.area(here.to_numpy()), rtol=1e-9)
    assert there.iloc[0].covers(shapely.Point(((lng + 180.0) % 360.0) - 180.0, -17.5))


def test_a_geojson_polygon_of_nan_says_its_coordinates_are_not_finite() -> None:
    """GEOS said "Points of LinearRing do not form a closed linestring" (NaN != NaN)."""
    from geo_discovery.errors import InvalidQueryError
    from geo_discovery.search.shapes import to_polygon

    nan = float("nan")
    for ring in ([[nan, nan]] * 4, [[0.0, 0.0], [1.0, nan], [1.0, 1.0], [0.0, 0.0]]):
        with pytest.raises(InvalidQueryError, match="polygon has non-finite coordinates"):
            to_polygon({"type": "Polygon", "coordinates": [ring]})


@pytest.mark.parametrize("lat", [90.0, -90.0])
def test_cells_united_at_a_pole_leave_no_sliver_holes(lat: float) -> None:
    """Where cells meet at a pole, the union left spike rings as holes (a point, out and
    back: ~1e-16 deg² over a box of 0.1 deg²), with no orientation for RFC 7946; the
    districts of a worldwide file had three. Random halves of the cells near each pole:
    no hole without area, every real hole kept (the union's area is the cells')."""
    rng = np.random.default_rng(7)
    for res in (6, 7, 8, 9):
        disk = np.array(h3.grid_disk(h3.latlng_to_cell(lat, 0.0, res), 4), dtype=np.uint64)
        for _ in range(10):
            cells = np.sort(rng.choice(disk, size=len(disk) // 2, replace=False))
            polys = cell_polygons(cells)
            merged = union_of_cells(polys)
            assert merged.is_valid
            holes = [shapely.Polygon(h) for p in shapely.get_parts(merged) for h in p.interiors]
            assert all(h.area > 1e-9 * h.envelope.area for h in holes), (res, cells.tolist())
            assert merged.area == pytest.approx(shapely.area(polys).sum(), rel=1e-9)
