"""``/v1/districts/{id}/catchment`` on real NYC data: Huff shares, trade areas, errors.

Demand from the real census tract populations (setting ``catchment_demand_path``) and,
without that setting, from the merchants themselves (the out-of-the-box fallback).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pytest
import shapely
from api_support import TIMES_SQUARE, app_client
from fastapi.testclient import TestClient

pytestmark = pytest.mark.real_data

CENSUS = "nyc/nyc_census2020_tract_population.csv"


@pytest.fixture(scope="module")
def data_dir(nyc_data_dir: Path) -> Path:
    return nyc_data_dir


_client = app_client


@pytest.fixture(scope="module")
def client(data_dir: Path) -> Iterator[TestClient]:
    with _client(data_dir) as c:
        yield c


@pytest.fixture(scope="module")
def census_client(data_dir: Path, real_data: Path) -> Iterator[TestClient]:
    with _client(data_dir, catchment_demand_path=real_data / CENSUS) as c:
        yield c


@pytest.fixture(scope="module")
def district_id(client: TestClient) -> str:
    r = client.get("/v1/districts/at", params={"lat": TIMES_SQUARE[0], "lng": TIMES_SQUARE[1]})
    assert r.status_code == 200 and r.json()["district"], r.text
    return str(r.json()["district"]["district_id"])


def url(district_id: str) -> str:
    return f"/v1/districts/{district_id}/catchment"


def _check_huff(body: dict[str, Any]) -> None:
    cells = body["cells"]
    assert cells, "the study area should hold demand cells"
    share = np.array([c["share"] for c in cells])
    assert ((share >= 0) & (share <= 1)).all()
    assert body["count"] == len(cells)
    inside = np.array([c["in_district"] for c in cells])
    assert inside.any() and (~inside).any()
    # The district's own cells are where it pulls hardest.
    assert cells[int(np.argmax(share))]["in_district"]
    assert share[inside].mean() > 2 * share[~inside].mean()
    assert 0 < body["captured"] <= body["demand_total"]
    assert body["share"] == pytest.approx(body["captured"] / body["demand_total"])
    primary, secondary = body["trade_areas"]
    assert (primary["kind"], secondary["kind"]) == ("primary", "secondary")
    for area in (primary, secondary):
        geom = shapely.geometry.shape(area["geometry"])
        assert geom.is_valid and not geom.is_empty and area["cells"] > 0
        # its cells' area: between the outline's area in a local equal-area projection ± 1 %
        centre = geom.centroid
        laea = f"+proj=laea +lat_0={centre.y} +lon_0={centre.x} +datum=WGS84"
        outline = gpd.GeoSeries([geom], crs=4326).to_crs(laea).area.iloc[0] / 1e6
        assert area["area_km2"] == pytest.approx(outline, rel=0.01)
    # The primary area is around the district: it contains the district's centroid region.
    assert all(c["share"] >= 0.5 for c in cells[: primary["cells"]])
    assert primary["expected"] <= primary["demand"]
    assert body["facilities"] > 1
    assert body["competitors"] and all(
        c["district_id"] != body["district_id"] for c in body["competitors"]
    )


def test_catchment_with_census_population(census_client: TestClient, district_id: str) -> None:
    r = census_client.get(url(district_id))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["demand_source"]["kind"] == "population"
    source = body["demand_source"]
    assert "nyc_census2020_tract_population.csv" in source["description"]
    assert "path" not in source and "/" not in source["description"]  # no server paths
    _check_huff(body)
    # Midtown within 5 km: hundreds of thousands of residents.
    assert 200_000 < body["demand_total"] < 3_000_000
    assert r.headers["etag"]


def test_catchment_falls_back_to_merchants_as_demand(client: TestClient, district_id: str) -> None:
    body = client.get(url(district_id)).json()
    source = body["demand_source"]
    assert source["kind"] == "merchants" and "path" not in source
    assert "catchment_demand_path" in source["description"]
    _check_huff(body)
    assert body["demand_total"] == float(int(body["demand_total"]))  # counts of merchants
    uniform = client.get(url(district_id), params={"demand": "uniform"}).json()
    assert uniform["demand_source"]["kind"] == "uniform"
    _check_huff(uniform)


def test_huff_parameters_move_shares(client: TestClient, district_id: str) -> None:
    def own_share(**params: Any) -> float:
        r = client.get(url(district_id), params={"demand": "uniform", "min_share": 0, **params})
        assert r.status_code == 200, r.text
        return float(np.mean([c["share"] for c in r.json()["cells"] if c["in_district"]]))

    # Steeper distance decay: the district holds its own cells more firmly.
    assert own_share(beta=3.0) > own_share(beta=1.0)
    # min_share only filters the listed cells.
    few = client.get(url(district_id), params={"min_share": 0.5}).json()
    assert few["cells"] and all(c["share"] >= 0.5 for c in few["cells"])


def test_catchment_geojson(client: TestClient, district_id: str) -> None:
    r = client.get(url(district_id), params={"format": "geojson", "min_share": 0.2})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/geo+json")
    fc = r.json()
    assert fc["type"] == "FeatureCollection" and fc["district_id"] == district_id
    layers = [f["properties"]["layer"] for f in fc["features"]]
    assert layers[:2] == ["primary", "secondary"] and set(layers[2:]) == {"cell"}
    for f in fc["features"]:
        geom = shapely.geometry.shape(f["geometry"])
        assert geom.is_valid and not geom.is_empty
        if f["properties"]["layer"] == "cell":
            assert 0.2 <= f["properties"]["share"] <= 1
            c = geom.centroid
            assert c.y == pytest.approx(f["properties"]["lat"], abs=0.01)


def test_unknown_district_is_404(client: TestClient) -> None:
    r = client.get(url("nope"))
    assert r.status_code == 404
    assert "district_id='nope'" in r.json()["detail"]


@pytest.mark.parametrize(
    ("params", "detail"),
    [
        ({"alpha": "9"}, "alpha=9 is out of range; allowed: 0 <= alpha <= 5"),
        ({"beta": "-1"}, "beta=-1 is out of range; allowed: 0 <= beta <= 5"),
        ({"resolution": "12"}, "resolution=12 is out of range; allowed: 6 <= resolution <= 10"),
        ({"radius_m": "10"}, "radius_m=10 is out of range; allowed: 100 <= radius_m <= 50000"),
        ({"min_share": "2"}, "min_share=2 is out of range; allowed: 0 <= min_share <= 1"),
        ({"secondary": "0.6"}, "secondary=0.6 is not below primary=0.5"),
        ({"demand": "people"}, "demand=people is not allowed"),
        ({"demand": "population"}, "demand=population needs the catchment_demand_path setting"),
        ({"demand": "uniform", "resolution": "10", "radius_m": "50000"}, "api_max_catchment"),
        ({"radius": "5"}, "unknown query parameter(s) radius (use radius_m (metres))"),
    ],
)
def test_bad_parameters_are_422(
    client: TestClient, district_id: str, params: dict[str, str], detail: str
) -> None:
    r = client.get(url(district_id), params=params)
    assert r.status_code == 422, r.text
    assert detail in r.json()["detail"]


def test_unreadable_demand_file_is_503(data_dir: Path, tmp_path: Path, district_id: str) -> None:
    with _client(data_dir, catchment_demand_path=tmp_path / "missing.csv") as c:
        r = c.get(url(district_id))
    assert r.status_code == 503
    assert "catchment_demand_path" in r.json()["detail"]
    assert "No such file or directory" in r.json()["detail"] and str(tmp_path) not in r.text
    # the reason, not only its type (a wrong column name; people off the map)
    (tmp_path / "people.csv").write_text("lat,lng,people\n40.7,-74.0,5\n")
    (tmp_path / "swapped.csv").write_text("lat,lng,pop\n-111.89,40.76,5\n")
    for name, needle in (("people.csv", "no population column; allowed names: population"),
                         ("swapped.csv", "1 of 1 rows with population have no valid")):
        with _client(data_dir, catchment_demand_path=tmp_path / name) as c:
            r = c.get(url(district_id), params={"demand": "population"})
        assert r.status_code == 503 and needle in r.json()["detail"], r.text
        assert str(tmp_path) not in r.text


def test_a_study_area_without_demand_is_422(data_dir: Path, tmp_path: Path,
                                            district_id: str) -> None:  # fmt: skip
    """A population file of another city gave a 200 with demand_total 0 and share null,
    and a notebook's trade-area table then failed."""
    (tmp_path / "far.csv").write_text("lat,lng,population\n10.0,10.0,500\n10.01,10.0,300\n")
    with _client(data_dir, catchment_demand_path=tmp_path / "far.csv") as c:
        r = c.get(url(district_id), params={"demand": "population"})
    assert r.status_code == 422, r.text
    assert f"no demand within radius_m=5000 of district {district_id}" in r.json()["detail"]
    assert "km away" in r.json()["detail"] and str(tmp_path) not in r.text


def test_no_snapshot_is_503(tmp_path: Path) -> None:
    with _client(tmp_path) as c:
        r = c.get(url("d892a100d67bffff"))
    assert r.status_code == 503
