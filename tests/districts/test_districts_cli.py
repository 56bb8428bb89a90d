"""Districts end to end on the bundled Helsinki sample: load → deriver → CLI sub-app."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from geo_discovery.cli.districts import catchment_command, districts_app
from geo_discovery.snapshot.pipeline import load, read_merchant_table
from geo_discovery.snapshot.snapshot import Snapshot

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample" / "helsinki_osm_pois.csv"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("store")
    load([SAMPLE], data_dir=data_dir, profile="osm_poi")
    return data_dir


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    app = typer.Typer()
    app.add_typer(districts_app, name="districts")
    app.command("catchment")(catchment_command)
    return app


def _run(app: typer.Typer, *args: str) -> str:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_load_writes_districts_aligned_to_the_table(store: Path):
    snap = sorted((store / "snapshots").iterdir())[-1]
    manifest = json.loads((snap / "manifest.json").read_text())
    info = manifest["derived"]["districts"]
    assert info["districts"] >= 1 and info["resolution"] >= 11
    d = Snapshot.open(snap).require_districts()
    table = read_merchant_table(snap / "merchants.parquet")
    assert len(d.merchant_district) == table.num_rows
    ids = d.merchant_district_ids()
    lat, lng = table.column("lat").to_numpy(), table.column("lng").to_numpy()
    for i in np.nonzero(ids.notna().to_numpy())[0][:50]:
        assert d.at(float(lat[i]), float(lng[i])) == ids.iloc[i]
    assert d.frame.geometry.is_valid.all()


def test_list_show_export(store: Path, app: typer.Typer, tmp_path: Path):
    rows = json.loads(_run(app, "districts", "list", "--json", "--data-dir", str(store)))
    assert rows and {"district_id", "name", "tier", "vitality"} <= set(rows[0])
    first = rows[0]["district_id"]
    shown = json.loads(_run(app, "districts", "show", first, "--json", "--data-dir", str(store)))
    assert shown["district_id"] == first and isinstance(shown["category_mix"], dict)
    assert "districts" in _run(app, "districts", "list", "--data-dir", str(store))
    gj = json.loads(_run(app, "districts", "export", "--data-dir", str(store)))
    assert gj["type"] == "FeatureCollection" and len(gj["features"]) == len(
        Snapshot.open(store).require_districts()
    )
    out = tmp_path / "d.parquet"
    _run(app, "districts", "export", "-f", "geoparquet", "-o", str(out), "--data-dir", str(store))
    frame = gpd.read_parquet(out)
    assert frame.geometry.is_valid.all() and frame["district_id"].iloc[0] == first


def test_export_takes_its_format_from_the_extension(store: Path, app: typer.Typer,
                                                     tmp_path: Path) -> None:  # fmt: skip
    """-o d.parquet wrote GeoJSON text into d.parquet (exit 0)."""
    _run(app, "districts", "export", "-o", str(tmp_path / "d.parquet"), "--data-dir", str(store))
    assert len(gpd.read_parquet(tmp_path / "d.parquet")) >= 1
    _run(app, "districts", "export", "-o", str(tmp_path / "d.geojson"), "--data-dir", str(store))
    assert json.loads((tmp_path / "d.geojson").read_text())["type"] == "FeatureCollection"
    for args, needle in (
        (["-o", str(tmp_path / "d.txt")], "the extension '.txt' names no format"),
        (["-o", str(tmp_path / "e.parquet"), "-f", "geojson"], "does not match --output"),
    ):
        result = CliRunner().invoke(app, ["districts", "export", *args, "--data-dir", str(store)])
        assert result.exit_code == 1 and needle in result.output, result.output
    assert not (tmp_path / "d.txt").exists() and not (tmp_path / "e.parquet").exists()


def test_unknown_district_is_one_line_error(store: Path, app: typer.Typer):
    result = CliRunner().invoke(app, ["districts", "show", "nope", "--data-dir", str(store)])
    assert result.exit_code == 1
    assert "nope" in result.output and "Traceback" not in result.output


def test_catchment_command_exports_valid_layers(store: Path, app: typer.Typer, tmp_path: Path):
    rng = np.random.default_rng(0)
    demand = tmp_path / "demand.csv"
    pd.DataFrame(
        {
            "lat": 60.17 + rng.normal(0, 0.01, 200),
            "lon": 24.94 + rng.normal(0, 0.02, 200),
            "pop": rng.integers(10, 500, 200),
        }
    ).to_csv(demand, index=False)
    d = Snapshot.open(store).require_districts()
    target = d.ids[0]
    out = tmp_path / "catchment.geojson"
    facts = json.loads(
        _run(
            app,
            "catchment",
            target,
            "--demand",
            str(demand),
            "--export",
            str(out),
            "--resolution",
            "10",
            "--json",
            "--data-dir",
            str(store),
        )
    )
    assert facts["district_id"] == target and 0 < facts["share"] <= 1
    assert [t["kind"] for t in facts["trade_areas"]] == ["primary", "secondary"]
    layers = gpd.read_file(out)
    assert set(layers["layer"]) >= {"cell", "primary", "secondary"}
    assert layers.geometry.is_valid.all()
    text = _run(app, "catchment", target, "--demand", str(demand), "--data-dir", str(store))
    assert "trade areas" in text


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("list", "--tier", "Regional"), "--tier 'Regional' is not a tier; allowed: regional"),
        (("list", "--limit", "-5"), "--limit -5 is out of range; allowed: --limit >= 1"),
        (("evaluate", "--truth", "{tmp}/none.geojson"), "does not exist or is not a file"),
        (("evaluate", "--truth", "{tmp}/shops.csv"), "holds no polygon (found: none)"),
        (("evaluate", "--truth", "{tmp}/empty.geojson"), "holds no polygon"),
        (("evaluate", "--min-coverage", "5"), "--min-coverage 5 is out of range"),
        (("catchment", "dX", "--export", "{tmp}/c.shp"), "extension '.shp' names no format"),
    ],
)
def test_bad_options_are_one_line_errors(
    store: Path, app: typer.Typer, tmp_path: Path, args: tuple[str, ...], needle: str
) -> None:
    """A wrong tier printed an empty table, a negative limit all but the last rows; the
    evaluation's files and coverage were internal errors (exit 70)."""
    (tmp_path / "shops.csv").write_text("name,lat,lng\na,60.17,24.94\n")
    (tmp_path / "empty.geojson").write_text('{"type": "FeatureCollection", "features": []}')
    given = [a.replace("{tmp}", str(tmp_path)) for a in args]
    extra = ["--merchants", str(SAMPLE)] if args[0] == "evaluate" else ["--data-dir", str(store)]
    group = [] if args[0] == "catchment" else ["districts"]
    result = CliRunner().invoke(app, [*group, *given, *extra])
    assert result.exit_code == 1, result.output
    assert needle in " ".join(result.output.split()), result.output
    assert "Traceback" not in result.output and "internal error" not in result.output
