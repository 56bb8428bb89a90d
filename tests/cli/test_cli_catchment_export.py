"""``geo-discovery catchment --export``: every demand cell as its H3 hexagon, plus the trade
areas, in a file geopandas reads back (EPSG:4326, valid), whose cells sum to the demand.

The export used to keep only the cells with a share of at least 1 % (a filter the help never
mentioned) and wrote each as its centre point, so the population in the file fell short of
the answer's ``demand_total`` and the surface was not the library's hexagons.
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
import shapely.geometry
from typer.testing import CliRunner

from geo_discovery.catchment.district import CatchmentParams
from geo_discovery.cli.main import app
from geo_discovery.engine import DiscoveryEngine
from geo_discovery.settings import Settings

RADIUS = 8000.0
RESOLUTION = 8


@pytest.fixture(scope="module")
def demand(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Population points spread over greater Helsinki, far beyond the small districts."""
    rng = np.random.default_rng(6)
    path = tmp_path_factory.mktemp("demand") / "demand.csv"
    pd.DataFrame(
        {
            "lat": 60.17 + rng.normal(0, 0.04, 1500),
            "lng": 24.94 + rng.normal(0, 0.08, 1500),
            "population": rng.integers(10, 500, 1500),
        }
    ).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def target(sample_data_dir: Path) -> str:
    """The district with the fewest merchants: far cells give it a share under 1 %."""
    rows = json.loads(_run("districts", "list", "--json", "--data-dir", str(sample_data_dir)))
    return str(min(rows, key=lambda r: (r["n_merchants"], r["district_id"]))["district_id"])


def _run(*args: str) -> str:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def _export(store: Path, demand: Path, target: str, out: Path, *extra: str) -> dict:
    return json.loads(
        _run(
            "catchment", target, "--demand", str(demand), "--data-dir", str(store),
            "--radius-m", str(RADIUS), "--resolution", str(RESOLUTION),
            "--export", str(out), "--json", *extra,
        )
    )  # fmt: skip


def _read(path: Path) -> gpd.GeoDataFrame:
    return gpd.read_parquet(path) if path.suffix == ".parquet" else gpd.read_file(path)


@pytest.mark.parametrize("suffix", [".geojson", ".parquet"])
def test_export_holds_every_demand_cell_as_its_hexagon(
    sample_data_dir: Path, demand: Path, target: str, tmp_path: Path, suffix: str
) -> None:
    out = tmp_path / f"c{suffix}"
    facts = _export(sample_data_dir, demand, target, out)
    settings = Settings(data_dir=sample_data_dir, catchment_demand_path=demand)
    engine = DiscoveryEngine.from_snapshot(sample_data_dir, settings=settings)
    lib = engine.catchment(
        target, "auto", CatchmentParams(resolution=RESOLUTION, radius_m=RADIUS)
    ).to_geodataframe()
    assert (lib["share"] < 0.01).any(), "the demand should reach cells under a 1 % share"

    layers = _read(out)
    assert layers.crs is not None and layers.crs.to_epsg() == 4326
    assert list(layers["layer"].value_counts().sort_index().index) == [
        "cell", "primary", "secondary"
    ]  # fmt: skip
    cells = layers[layers["layer"] == "cell"].set_index("cell_id")
    # every cell of the surface, none filtered away
    assert cells["population"].sum() == pytest.approx(facts["demand_total"], rel=1e-9)
    assert set(cells.index) == set(lib.index)
    assert len(cells) == len(lib) == facts["export_cells"]
    # the library's hexagons, not centre points
    assert set(cells.geom_type) == {"Polygon"}
    assert cells.geometry.is_valid.all()
    same = cells.geometry.loc[lib.index].geom_equals_exact(lib.geometry, tolerance=1e-9)
    assert same.all()
    assert {"lat", "lng", "population", "share", "expected", "in_district"} <= set(cells.columns)
    # the trade areas as before: valid outlines, empty only where they hold no cell
    areas = layers[layers["layer"] != "cell"]
    for _, area in areas.iterrows():
        if area["cells"] > 0:
            assert area.geometry is not None and area.geometry.is_valid
        else:
            assert area.geometry is None or area.geometry.is_empty
    assert set(areas["facility"]) == {target}
    if suffix == ".geojson":  # a count of cells is an integer (the concat wrote 60.0)
        counts = [f["properties"]["cells"] for f in json.loads(out.read_text())["features"]
                  if f["properties"]["layer"] != "cell"]  # fmt: skip
        assert counts and all(isinstance(c, int) for c in counts), counts
    else:
        import pyarrow.parquet as pq

        assert str(pq.read_schema(out).field("cells").type) == "int64"
    if suffix == ".geojson":  # RFC 7946: exterior rings counter-clockwise, holes clockwise
        rings = 0
        for feature in json.loads(out.read_text())["features"]:
            geom = feature["geometry"] and shapely.geometry.shape(feature["geometry"])
            for poly in getattr(geom, "geoms", [geom] if geom else []):
                assert poly.exterior.is_ccw and not any(r.is_ccw for r in poly.interiors)
                rings += 1
        assert rings >= len(cells)


def test_min_share_filters_the_cells_on_request(
    sample_data_dir: Path, demand: Path, target: str, tmp_path: Path
) -> None:
    out = tmp_path / "c.geojson"
    facts = _export(sample_data_dir, demand, target, out, "--min-share", "0.01")
    layers = _read(out)
    cells = layers[layers["layer"] == "cell"]
    assert len(cells) == facts["export_cells"] > 0
    assert (cells["share"] >= 0.01).all()
    assert cells["population"].sum() < facts["demand_total"]
    assert set(layers["layer"]) == {"cell", "primary", "secondary"}


@pytest.mark.parametrize("value", ["-0.1", "1.5", "nan"])
def test_min_share_out_of_range_is_a_one_line_error(
    sample_data_dir: Path, target: str, tmp_path: Path, value: str
) -> None:
    result = CliRunner().invoke(
        app,
        ["catchment", target, "--data-dir", str(sample_data_dir), "--min-share", value,
         "--export", str(tmp_path / "c.geojson")],
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    assert "--min-share" in result.output and "out of range" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "c.geojson").exists()


def test_help_says_what_the_export_holds() -> None:
    result = CliRunner().invoke(app, ["catchment", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    text = " ".join(result.output.replace("│", " ").split())
    for needle in (
        "--min-share",
        "every demand cell",
        "H3 hexagon",
        "EPSG:4326",
        "layer",
        "cell_id",
        "population sums to demand_total",
        "primary",
        "secondary",
    ):
        assert needle in text, needle


def test_min_share_without_export_says_it_changes_nothing(
    sample_data_dir: Path, demand: Path, target: str
) -> None:
    args = ["catchment", target, "--demand", str(demand), "--data-dir", str(sample_data_dir),
            "--radius-m", str(RADIUS), "--resolution", str(RESOLUTION)]  # fmt: skip
    got = CliRunner().invoke(app, [*args, "--min-share", "0.3"])
    assert got.exit_code == 0, got.output
    assert "note: --min-share filters the cells --export writes" in got.stderr
    assert "km²" in got.stdout and "strongest competitors" in got.stdout
    plain = CliRunner().invoke(app, args)
    assert plain.exit_code == 0 and "--min-share" not in plain.stderr


@pytest.mark.parametrize("kind", ["merchants", "uniform"])
def test_demand_takes_a_kind_by_name(sample_data_dir: Path, demand: Path, target: str,
                                     kind: str) -> None:  # fmt: skip
    """`--demand uniform` was read as a file name ("cannot be read: FileNotFoundError"):
    with catchment_demand_path set, the CLI could not get the other kinds."""
    args = ["catchment", target, "--data-dir", str(sample_data_dir), "--radius-m",
            str(RADIUS), "--resolution", str(RESOLUTION), "--json"]  # fmt: skip
    got = json.loads(_run(*args, "--demand", kind))
    settings = Settings(data_dir=sample_data_dir, catchment_demand_path=demand)
    engine = DiscoveryEngine.from_snapshot(sample_data_dir, settings=settings)
    want = engine.catchment(target, kind, CatchmentParams(resolution=RESOLUTION,
                                                          radius_m=RADIUS))  # fmt: skip
    assert got["demand_source"]["kind"] == kind
    assert got["captured"] == pytest.approx(want.captured)
