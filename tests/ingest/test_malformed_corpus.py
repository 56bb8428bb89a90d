"""A corpus of malformed files, built here from the real files in ../shared/data.

Every case runs the real ``geo-discovery load`` (typer's CliRunner, in-process) on a copy
of a store that already serves a good snapshot, and checks the same things:

* the exit code, and never a traceback; an error is one line on stderr;
* the output names the value or the cause (the case's needles);
* rows read = loaded + rejected, with the counts the case knows from what it wrote
  (independently of the loader), and the rejects file holds exactly the rejected
  (``error``) and warned (``warning``) rows;
* a failed or refused load leaves the previous snapshot current and adds none; a
  successful one publishes exactly the loaded rows.

Cases are grouped: whole-file causes (exit 1), nothing valid (exit 4), rows with
problems (exit 0), ``--strict`` (exit 3). Nothing large is committed: every file is
derived at run time from a few hundred real rows.
"""

from __future__ import annotations

import bz2
import gzip
import json
import re
import shutil
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner, Result

from geo_discovery.cli.main import app
from geo_discovery.snapshot.store import SnapshotStore

EQUATION = re.compile(r"rows read (\d+) = loaded (\d+) \+ rejected (\d+)")
WARNED = re.compile(r"(\d+) loaded row\(s\) have a field left empty")
N = 120  # rows per case file


# --------------------------------------------------------------------------- real rows


@dataclass
class Real:
    """Text frames of real rows (every cell a string, as in the files)."""

    food: pd.DataFrame  # NYS retail food stores (NYC), with coordinates and names
    ams: pd.DataFrame  # Inside Airbnb Amsterdam, 0-5 ratings, review dates
    dc: pd.DataFrame  # Inside Airbnb Washington DC 2015, 0-100 ratings
    nyc_bnb: pd.DataFrame  # Inside Airbnb NYC 2019
    osm: pd.DataFrame  # Helsinki OSM POIs with names
    utah: pd.DataFrame  # Who's On First Utah venues

    def generic(self, n: int = N) -> pd.DataFrame:
        """id,name,lat,lng,category from the food stores (the generic profile)."""
        f = self.food.head(n)
        return pd.DataFrame({"id": f["license_number"], "name": f["dba_name"],
                             "lat": f["latitude"], "lng": f["longitude"],
                             "category": "food/grocery"}).reset_index(drop=True)


def _text(path: Path, **kw: Any) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False, **kw)


@pytest.fixture(scope="session")
def real(real_data: Path) -> Real:
    food = _text(real_data / "nyc/nyc_retail_food_stores.csv", nrows=600)
    food = food[(food["latitude"] != "") & (food["dba_name"].str.strip() != "")]
    food = food.drop_duplicates("license_number")
    ams = _text(real_data / "cities/airbnb_amsterdam_2023-12_listings_ratings.csv.gz", nrows=400)
    ams = ams[(ams["name"].str.strip() != "")]
    dc = _text(real_data / "cities/airbnb_washington_dc_2015-10_listings_ratings.csv.gz",
               nrows=400)
    dc = dc[(dc["name"].str.strip() != "")]
    bnb = _text(real_data / "nyc/nyc_airbnb_listings_2019.csv.gz", nrows=400)
    bnb = bnb[(bnb["name"].str.strip() != "")]
    osm = _text(real_data / "fixtures/helsinki_center_osm_pois.csv")
    osm = osm[osm["name"].str.strip() != ""].drop_duplicates(["osm_type", "osm_id"])
    utah = _text(real_data / "cities/utah_wof_simplegeo_venues.csv.gz", nrows=400)
    utah = utah[utah["name"].str.strip() != ""]
    frames = [f.head(300).reset_index(drop=True) for f in (food, ams, dc, bnb, osm, utah)]
    return Real(*frames)


# --------------------------------------------------------------------------- the harness


@dataclass
class Expect:
    """What a case wrote and what the load must do with it."""

    files: list[Path]
    code: int
    needles: tuple[str, ...] = ()
    read: int | None = None  # rows written (None: a whole-file error, nothing counted)
    rejected: int = 0
    warned: int = 0
    args: tuple[str, ...] = ()
    reject_lines: list[int] | None = None  # source lines of the rejected rows, if known
    check: Callable[[pd.DataFrame, Result], None] | None = None  # on the published table


Builder = Callable[[Path, Real], Expect]
CASES: dict[str, Builder] = {}


def case(fn: Builder) -> Builder:
    CASES[fn.__name__] = fn
    return fn


@pytest.fixture(scope="module")
def base_store(real: Real, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store serving 20 real merchants: the snapshot every case must not lose."""
    folder = tmp_path_factory.mktemp("base")
    good = folder / "good.csv"
    real.generic(20).assign(id=lambda f: "base" + f["id"]).to_csv(good, index=False)
    data_dir = folder / "store"
    result = CliRunner().invoke(app, ["load", str(good), "--data-dir", str(data_dir)])
    assert result.exit_code == 0, result.output
    return data_dir


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    for var in ("GEO_DISCOVERY_DATA_DIR", "GEO_DISCOVERY_LOAD_MAX_SHRINK"):
        monkeypatch.delenv(var, raising=False)
    return CliRunner(env={"COLUMNS": "250", "NO_COLOR": "1"})


def _state(data_dir: Path) -> tuple[str | None, int, int]:
    store = SnapshotStore(data_dir)
    info = store.current()
    assert info is not None
    return info.name, int(info.manifest["rows"]["merchants"]), len(store.list())


# --------------------------------------------------------------------------- helpers


def write_csv(frame: pd.DataFrame, path: Path, **kw: Any) -> Path:
    frame.to_csv(path, index=False, **kw)
    return path


def geo(frame: pd.DataFrame, lat: str = "lat", lng: str = "lng"):  # type: ignore[no-untyped-def]
    import geopandas as gpd

    props = frame.drop(columns=[lat, lng])
    return gpd.GeoDataFrame(props, geometry=gpd.points_from_xy(
        frame[lng].astype(float), frame[lat].astype(float)), crs="EPSG:4326")


def shapefile(folder: Path, frame: pd.DataFrame, name: str = "stores") -> Path:
    import warnings

    folder.mkdir(exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "column names longer than 10 characters…"
        geo(frame).to_file(folder / f"{name}.shp", engine="pyogrio")
    return folder / f"{name}.shp"


def lines(positions: Any, header_lines: int = 1) -> list[int]:
    """1-based file lines of 0-based data rows (one header line)."""
    return [int(p) + 1 + header_lines for p in positions]


# --------------------------------------------------------------------------- whole files


@case
def shapefile_without_dbf(d: Path, r: Real) -> Expect:
    shp = shapefile(d / "shp", r.generic())
    (d / "shp" / "stores.dbf").unlink()
    return Expect([shp], 1, ("stores.dbf", "attribute table", "incomplete"))


@case
def shapefile_without_shx(d: Path, r: Real) -> Expect:
    shp = shapefile(d / "shp", r.generic())
    (d / "shp" / "stores.shx").unlink()
    return Expect([shp], 1, ("stores.shx", "index of the shapes"))


@case
def zipped_shapefile_without_dbf(d: Path, r: Real) -> Expect:
    shp = shapefile(d / "shp", r.generic())
    zp = d / "stores.zip"
    with zipfile.ZipFile(zp, "w") as zf:
        for part in shp.parent.iterdir():
            if part.suffix != ".dbf":
                zf.write(part, part.name)
    return Expect([zp], 1, ("stores.dbf", "in the archive"))


@case
def plain_csv_named_gz(d: Path, r: Real) -> Expect:
    """A plain CSV named .csv.gz (or .parquet) was refused as "truncated or corrupt?";
    the content decides, as for a CSV named .geojson: it is read as the CSV it is."""
    frame = r.generic()
    path = write_csv(frame, d / "stores.csv")
    named = path.rename(d / "stores.csv.gz")
    return Expect([named], 0, read=len(frame))


@case
def random_bytes_named_gz(d: Path, r: Real) -> Expect:
    path = d / "stores.csv.gz"
    path.write_bytes(bytes(range(256)) * 8)
    return Expect([path], 1, ("does not match its .gz extension",))


@case
def xlsx_renamed_csv(d: Path, r: Real) -> Expect:
    path = d / "stores.csv"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("xl/workbook.xml", "<workbook/>")
        zf.writestr("xl/worksheets/sheet1.xml", "".join(r.generic()["name"]))
    return Expect([path], 1, ("named .csv", "Excel workbook (.xlsx)", "save the sheet as CSV"))


@case
def ods_renamed_csv(d: Path, r: Real) -> Expect:
    path = d / "stores.csv"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        zf.writestr("content.xml", "".join(r.generic()["name"]))
    return Expect([path], 1, ("OpenDocument", "spreadsheet"))


@case
def legacy_xls_renamed_csv(d: Path, r: Real) -> Expect:
    path = d / "stores.csv"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + "".join(r.generic()["name"]).encode())
    return Expect([path], 1, ("legacy Microsoft Office", ".xls"))


@case
def json_array_named_csv(d: Path, r: Real) -> Expect:
    path = d / "stores.csv"
    path.write_text(r.generic().to_json(orient="records"))
    return Expect([path], 1, ("named .csv", "JSON array"))


@case
def json_array_named_json(d: Path, r: Real) -> Expect:
    path = d / "stores.json"
    path.write_text("\n  " + r.generic().to_json(orient="records", indent=2))
    return Expect([path], 1, ("JSON array",))


@case
def html_error_page_named_csv(d: Path, r: Real) -> Expect:
    path = d / "stores.csv"
    path.write_text("<!DOCTYPE html>\n<html><body><h1>Session expired</h1></body></html>\n")
    return Expect([path], 1, ("HTML page",))


@case
def pdf_named_csv(d: Path, r: Real) -> Expect:
    path = d / "stores.csv"
    path.write_bytes(b"%PDF-1.7\n" + r.generic().to_csv().encode())
    return Expect([path], 1, ("PDF document",))


@case
def kml_named_csv(d: Path, r: Real) -> Expect:
    path = d / "stores.csv"
    placemarks = "".join(f"<Placemark><name>{n}</name></Placemark>" for n in r.generic()["name"])
    path.write_text('<?xml version="1.0"?><kml xmlns="http://www.opengis.net/kml/2.2">'
                    f"<Document>{placemarks}</Document></kml>")
    return Expect([path], 1, ("KML", "ogr2ogr"))


@case
def bzip2_compressed_csv(d: Path, r: Real) -> Expect:
    path = d / "stores.csv.bz2"
    path.write_bytes(bz2.compress(r.generic().to_csv(index=False).encode()))
    return Expect([path], 1, ("bzip2", "gzip"))


@case
def gzip_holding_an_html_page(d: Path, r: Real) -> Expect:
    path = d / "stores.csv.gz"
    path.write_bytes(gzip.compress(b"<html><body>Not found</body></html>"))
    return Expect([path], 1, ("compressed file holds an HTML page",))


@case
def geojson_in_web_mercator_without_crs(d: Path, r: Real) -> Expect:
    frame = r.generic()
    fc = json.loads(geo(frame).to_crs(3857).to_json())
    fc.pop("crs", None)
    path = d / "stores.geojson"
    path.write_text(json.dumps(fc))
    first = f"lat={float(frame['lat'][0]):.5f}"  # the guess names the true first point
    return Expect([path], 1, ("projected metres", "EPSG:3857", "--crs", first))


@case
def geoparquet_in_metres_naming_wgs84(d: Path, r: Real) -> Expect:
    """It said "the file does not say which CRS": it does, wrongly."""
    frame = r.generic()
    metres = geo(frame).to_crs(3857)
    path = d / "stores.parquet"
    metres.set_crs(4326, allow_override=True).to_parquet(path)
    return Expect([path], 1, ("projected metres", "the CRS it names is wrong or missing",
                              "--crs"))


@case
def csv_in_web_mercator_metres(d: Path, r: Real) -> Expect:
    frame = r.generic()
    pts = geo(frame).to_crs(3857)
    frame["lat"], frame["lng"] = pts.geometry.y.round(2), pts.geometry.x.round(2)
    return Expect([write_csv(frame, d / "stores.csv")], 1, ("projected metres", "--crs"))


@case
def lat_and_lng_columns_exchanged(d: Path, r: Real) -> Expect:
    u = r.utah.head(N)
    frame = pd.DataFrame({"id": u["wof_id"], "name": u["name"], "lat": u["lon"],
                          "lng": u["lat"]})
    return Expect([write_csv(frame, d / "venues.csv")], 1, ("look swapped",))


@case
def lat_and_lng_columns_exchanged_in_new_york(d: Path, r: Real) -> Expect:
    """Every longitude of New York (-74) is a valid latitude: exchanged, the stores loaded
    into the Southern Ocean without a word (no town lies south of 60°S). They load with a
    note, not a refusal: Antarctic stations are real (below)."""
    frame = r.generic()
    frame["lat"], frame["lng"] = frame["lng"].copy(), frame["lat"].copy()
    return Expect([write_csv(frame, d / "stores.csv")], 0, ("lie south of 60°S, where no "
                  "town is", "check which column holds which"), read=len(frame))


@case
def lat_and_lng_columns_exchanged_strict(d: Path, r: Real) -> Expect:
    """Under --strict the doubt refuses the file (it published it, with the note)."""
    frame = r.generic()
    frame["lat"], frame["lng"] = frame["lng"].copy(), frame["lat"].copy()
    return Expect([write_csv(frame, d / "stores.csv")], 1, ("--strict refuses it",),
                  args=("--strict",))


@case
def antarctic_stations_strict_with_a_bbox(d: Path, r: Real) -> Expect:
    """--strict with a --bbox round them loads them: the bbox says where they belong."""
    frame = pd.DataFrame({"id": ["neumayer", "troll", "syowa"], "name": ["N", "T", "S"],
                          "lat": ["-70.667", "-72.011", "-69.004"],
                          "lng": ["-8.267", "2.535", "39.582"]})
    return Expect([write_csv(frame, d / "stations.csv")], 0, (), read=3,
                  args=("--strict", "--bbox", "-180,-90,180,-60"))


@case
def antarctic_stations(d: Path, r: Real) -> Expect:
    """Stations south of 60°S whose longitudes are valid latitudes (Neumayer, Troll,
    Syowa, Mawson, Davis) were refused as swapped columns, with no way round it; they
    load, with the note."""
    frame = pd.DataFrame({"id": ["neumayer", "troll", "syowa", "mawson", "davis"],
                          "name": ["Neumayer III", "Troll", "Syowa", "Mawson", "Davis"],
                          "lat": ["-70.667", "-72.011", "-69.004", "-67.603", "-68.577"],
                          "lng": ["-8.267", "2.535", "39.582", "62.874", "77.967"]})
    return Expect([write_csv(frame, d / "stations.csv")], 0, ("lie south of 60°S",), read=5)


@case
def duplicate_column_name(d: Path, r: Real) -> Expect:
    frame = r.generic()
    frame.insert(4, "name_dup", frame["name"].str.lower())
    text = frame.to_csv(index=False).replace("name_dup", "name", 1)
    path = d / "stores.csv"
    path.write_text(text)
    return Expect([path], 1, ("'name' 2 times", "columns 2, 5"))


@case
def duplicate_column_name_differing_in_case(d: Path, r: Real) -> Expect:
    frame = r.generic().rename(columns={"category": "Name"})
    return Expect([write_csv(frame, d / "stores.csv")], 1, ("2 times",))


@case
def mapping_with_a_misspelled_source_column(d: Path, r: Real) -> Expect:
    frame = r.generic().rename(columns={"name": "business_name", "lat": "y", "lng": "x"})
    mapping = d / "m.json"
    mapping.write_text(json.dumps({"source": "permits", "columns": {
        "merchant_id": "id", "name": "busines_name", "lat": "y", "lng": "x"}}))
    return Expect([write_csv(frame, d / "permits.csv")], 1,
                  ("['busines_name']", "did you mean 'business_name'?"),
                  args=("--mapping", str(mapping)))


@case
def mapping_with_a_misspelled_canonical_column(d: Path, r: Real) -> Expect:
    mapping = d / "m.toml"
    mapping.write_text('source = "permits"\n[columns]\nnmae = "name"\nlat = "lat"\nlng = "lng"\n')
    return Expect([write_csv(r.generic(), d / "permits.csv")], 1,
                  ("['nmae']", "did you mean 'name'?"), args=("--mapping", str(mapping)))


@case
def mapping_with_a_misspelled_key(d: Path, r: Real) -> Expect:
    mapping = d / "m.json"
    mapping.write_text(json.dumps({"colums": {"name": "name"}}))
    return Expect([write_csv(r.generic(), d / "permits.csv")], 1,
                  ("['colums']", "did you mean 'columns'?"), args=("--mapping", str(mapping)))


@case
def misspelled_profile(d: Path, r: Real) -> Expect:
    return Expect([write_csv(r.generic(), d / "s.csv")], 1, ("'airbn'", "did you mean 'airbnb'?"),
                  args=("--profile", "airbn"))


@case
def header_line_of_two_megabytes(d: Path, r: Real) -> Expect:
    path = d / "wide.csv"
    extra = ",".join(f"extra_column_{i}" for i in range(120_000))
    rows = r.generic(5).to_csv(index=False).splitlines()
    path.write_text(rows[0] + "," + extra + "\n" + "\n".join(rows[1:]) + "\n")
    assert path.stat().st_size > 2_000_000
    return Expect([path], 1, ("header line is", "characters long", "at most"))


@case
def header_of_five_thousand_columns(d: Path, r: Real) -> Expect:
    path = d / "wide.csv"
    rows = r.generic(5).to_csv(index=False).splitlines()
    path.write_text(rows[0] + "," + ",".join(f"c{i}" for i in range(5000)) + "\n"
                    + "\n".join(rows[1:]) + "\n")
    return Expect([path], 1, ("5,005 columns", "at most 2,000"))


@case
def one_line_file_without_line_breaks(d: Path, r: Real) -> Expect:
    path = d / "flat.csv"
    path.write_text(",".join(r.generic()["name"]) * 250)
    return Expect([path], 1, ("header line is",))


@case
def empty_file(d: Path, r: Real) -> Expect:
    path = d / "stores.csv"
    path.write_bytes(b"")
    return Expect([path], 1, ("stores.csv", "empty"))


@case
def whitespace_only_file(d: Path, r: Real) -> Expect:
    path = d / "stores.csv"
    path.write_text("\n\n   \n\t\n")
    return Expect([path], 1, ("empty",))


@case
def binary_garbage(d: Path, r: Real) -> Expect:
    path = d / "stores.csv"
    noise = np.random.default_rng(3).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    path.write_bytes(b"\x00\x01\x02\x03" + noise)
    return Expect([path], 1, ("stores.csv", "unknown binary format"))


@case
def truncated_gzip(d: Path, r: Real) -> Expect:
    data = gzip.compress(r.food.to_csv(index=False).encode() * 20)
    path = d / "stores.csv.gz"
    path.write_bytes(data[: len(data) // 2])
    return Expect([path], 1, ("truncated",))


@case
def zip_with_two_csvs(d: Path, r: Real) -> Expect:
    path = d / "stores.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("a.csv", r.generic().to_csv(index=False))
        zf.writestr("b.csv", r.generic().to_csv(index=False))
    return Expect([path], 1, ("2 files", "exactly one"))


@case
def truncated_parquet(d: Path, r: Real) -> Expect:
    path = d / "stores.parquet"
    r.generic().to_parquet(path)
    path.write_bytes(path.read_bytes()[:-100])
    return Expect([path], 1, ("Parquet",))


@case
def truncated_geojson(d: Path, r: Real) -> Expect:
    path = d / "stores.geojson"
    text = geo(r.generic()).to_json()
    path.write_text(text[: len(text) // 2])
    return Expect([path], 1, ("stores.geojson", "geojson"))


@case
def no_name_column(d: Path, r: Real) -> Expect:
    frame = r.generic().rename(columns={"name": "label"})
    return Expect([write_csv(frame, d / "stores.csv")], 1, ("no name column",))


@case
def misspelled_name_column(d: Path, r: Real) -> Expect:
    frame = r.generic().rename(columns={"name": "nmae"})
    return Expect([write_csv(frame, d / "stores.csv")], 1, ("no name column",
                                                             "did you mean 'name'?"))


@case
def no_coordinate_columns(d: Path, r: Real) -> Expect:
    frame = r.generic().drop(columns=["lat", "lng"])
    return Expect([write_csv(frame, d / "stores.csv")], 1, ("missing lat/lng columns",))


@case
def no_header_line(d: Path, r: Real) -> Expect:
    path = d / "stores.csv"
    write_csv(r.generic().drop(columns=["name", "category"]), path, header=False)
    return Expect([path], 1, ("looks like data, not a header",))


@case
def wrong_profile_forced(d: Path, r: Real) -> Expect:
    path = write_csv(r.food.head(N), d / "food.csv")
    return Expect([path], 1, ("profile 'airbnb' needs columns", "room_type"),
                  args=("--profile", "airbnb"))


@case
def unknown_crs_option(d: Path, r: Real) -> Expect:
    return Expect([write_csv(r.generic(), d / "s.csv")], 1, ("crs 'EPSG:999999'",),
                  args=("--crs", "EPSG:999999"))


@case
def degrees_with_a_projected_crs_option(d: Path, r: Real) -> Expect:
    """Reprojected as metres, every shop landed within a metre of (0, 0), and loaded."""
    return Expect([write_csv(r.generic(), d / "s.csv")], 1,
                  ("--crs EPSG:3857 is a projected CRS (metre)", "look like WGS84 degrees",
                   "load without --crs"), args=("--crs", "EPSG:3857"))  # fmt: skip


@case
def date_format_with_a_directive_strptime_lacks(d: Path, r: Real) -> Expect:
    """glibc's strftime writes %Q as is; reading dates with it was an internal error."""
    return Expect([write_csv(r.generic(), d / "s.csv")], 1,
                  ("date format '%Q' is not a valid pattern", "bad directive"),
                  args=("--date-format", "%Q"))  # fmt: skip


@case
def date_format_without_directives(d: Path, r: Real) -> Expect:
    return Expect([write_csv(r.generic(), d / "s.csv")], 1, ("date format 'dd/mm/yyyy'",),
                  args=("--date-format", "dd/mm/yyyy"))


@case
def rating_scale_of_zero(d: Path, r: Real) -> Expect:
    return Expect([write_csv(r.generic(), d / "s.csv")], 1, ("rating scale 0.0",),
                  args=("--rating-scale", "0"))


# --------------------------------------------------------------------------- nothing valid


@case
def header_only(d: Path, r: Real) -> Expect:
    return Expect([write_csv(r.generic(0), d / "s.csv")], 4, ("0 merchants", "no data row"),
                  read=0)


@case
def geojson_without_features(d: Path, r: Real) -> Expect:
    """Said "no name column … header is []": it holds no row, as a header-only CSV."""
    path = d / "stores.geojson"
    path.write_text('{"type": "FeatureCollection", "features": []}')
    return Expect([path], 4, ("0 merchants", "no data row"), read=0)


@case
def every_name_empty(d: Path, r: Real) -> Expect:
    frame = r.generic().assign(name="  ")
    return Expect([write_csv(frame, d / "s.csv")], 4, ("0 merchants", "empty name"), read=N,
                  rejected=N)


@case
def every_point_on_null_island(d: Path, r: Real) -> Expect:
    frame = r.generic().assign(lat="0", lng="0.0")
    return Expect([write_csv(frame, d / "s.csv")], 4, ("null island",), read=N, rejected=N)


@case
def geojson_of_polygons(d: Path, r: Real) -> Expect:
    g = geo(r.generic())
    g["geometry"] = g.geometry.to_crs(3857).buffer(50).to_crs(4326)
    path = d / "areas.geojson"
    path.write_text(g.to_json())
    return Expect([path], 4, ("0 merchants", "bad geometry"), read=N, rejected=N)


@case
def bbox_given_in_lat_lng_order(d: Path, r: Real) -> Expect:
    return Expect([write_csv(r.generic(), d / "s.csv")], 4, ("outside bbox", "0 merchants"),
                  read=N, rejected=N, args=("--bbox", "40.4,-74.3,41,-73.6"))


@case
def semicolon_rows_under_a_comma_header(d: Path, r: Real) -> Expect:
    frame = r.generic()
    body = frame.to_csv(index=False, sep=";").split("\n", 1)[1]
    path = d / "s.csv"
    path.write_text(",".join(frame.columns) + "\n" + body)
    return Expect([path], 4, ("wrong field count", "expected 5 fields, got"), read=N,
                  rejected=N)


# --------------------------------------------------------------------------- rows (exit 0)


def _one_of(frame: pd.DataFrame, column: str, positions: list[int], value: Any) -> pd.DataFrame:
    frame = frame.copy()
    frame.loc[positions, column] = value
    return frame


@case
def swapped_rows_found_from_the_files_own_cluster(d: Path, r: Real) -> Expect:
    frame = r.generic()
    bad = [3, 17, 40, 41, 99]
    frame.loc[bad, ["lat", "lng"]] = frame.loc[bad, ["lng", "lat"]].to_numpy()
    return Expect([write_csv(frame, d / "s.csv")], 0,
                  ("lat/lng swap", "lands among them"), read=N, rejected=len(bad),
                  reject_lines=lines(bad))


@case
def swapped_rows_in_a_profile_with_an_expected_area(d: Path, r: Real) -> Expect:
    frame = r.food.head(N).copy()
    bad = [0, 50]
    frame.loc[bad, ["latitude", "longitude"]] = frame.loc[bad, ["longitude", "latitude"]].to_numpy()
    return Expect([write_csv(frame, d / "food.csv")], 0, ("lat/lng swap",), read=N,
                  rejected=2, reject_lines=lines(bad))


@case
def swapped_rows_in_helsinki(d: Path, r: Real) -> Expect:
    frame = r.osm.head(N).copy()
    bad = [5, 6]
    frame.loc[bad, ["lat", "lon"]] = frame.loc[bad, ["lon", "lat"]].to_numpy()
    return Expect([write_csv(frame, d / "osm.csv")], 0, ("lands among them",), read=N,
                  rejected=2, reject_lines=lines(bad))


def _rating_check(position: int, expected: float | None) -> Callable[[pd.DataFrame, Result],
                                                                      None]:
    def check(table: pd.DataFrame, result: Result) -> None:
        row = table[table["source_line"] == position + 2].iloc[0]
        if expected is None:
            assert pd.isna(row["rating"]) and pd.isna(row["rating_scale"])
        else:
            assert row["rating"] == expected

    return check


@case
def one_rating_of_seven_among_stars(d: Path, r: Real) -> Expect:
    frame = r.ams.head(N).copy()
    rated = frame.index[frame["review_scores_rating"] != ""][4]
    frame.loc[rated, "review_scores_rating"] = "7"
    return Expect([write_csv(frame, d / "ams.csv")], 0,
                  ("0–5 (inferred)", "review_scores_rating 7 is outside its 0–5 rating scale",
                   "such as 7, left empty"),
                  read=N, warned=1, check=_rating_check(rated, None))


@case
def ratings_on_a_hundred_point_scale(d: Path, r: Real) -> Expect:
    frame = r.dc.head(N)
    return Expect([write_csv(frame, d / "dc.csv")], 0, ("0–100 (inferred)",), read=N)


@case
def ratings_with_no_clear_scale(d: Path, r: Real) -> Expect:
    frame = r.ams.head(N).copy()
    rated = frame.index[frame["review_scores_rating"] != ""]
    sevens = list(rated[::3])
    frame.loc[sevens, "review_scores_rating"] = "7"
    return Expect([write_csv(frame, d / "ams.csv")], 0,
                  ("0–5 (ambiguous)", "--rating-scale"), read=N, warned=len(sevens))


@case
def rating_scale_given(d: Path, r: Real) -> Expect:
    frame = r.ams.head(N).copy()
    rated = frame.index[frame["review_scores_rating"] != ""][0]
    frame.loc[rated, "review_scores_rating"] = "9.5"
    return Expect([write_csv(frame, d / "ams.csv")], 0, ("0–10 (given)",), read=N,
                  args=("--rating-scale", "10"), check=_rating_check(rated, 9.5))


@case
def ratings_that_state_their_scale(d: Path, r: Real) -> Expect:
    frame = r.generic()
    frame["rating"] = ["4.5/5", "90%", "8 out of 10", "4"] * (N // 4)

    def check(table: pd.DataFrame, result: Result) -> None:
        assert table["rating"].tolist()[:4] == [4.5, 90.0, 8.0, 4.0]
        assert table["rating_scale"].tolist()[:4] == [5.0, 100.0, 10.0, 5.0]

    return Expect([write_csv(frame, d / "s.csv")], 0, ("some per value",), read=N,
                  check=check)


@case
def review_counts_with_thousands_separators(d: Path, r: Real) -> Expect:
    frame = r.nyc_bnb.head(N).copy()
    frame.loc[[1, 2], "number_of_reviews"] = ["1,234", "12,000"]

    def check(table: pd.DataFrame, result: Result) -> None:
        assert table["review_count"].tolist()[1:3] == [1234, 12000]

    return Expect([write_csv(frame, d / "bnb.csv")], 0, ("thousands separator",), read=N,
                  check=check)


@case
def square_footage_with_thousands_separators(d: Path, r: Real) -> Expect:
    frame = r.food.head(N).copy()
    frame.loc[[0, 1], "square_footage"] = ["12,000", "1,250"]

    def check(table: pd.DataFrame, result: Result) -> None:
        assert table["attractiveness"].tolist()[:2] == [12000.0, 1250.0]
        assert table["category"].tolist()[0] == "food/grocery/supermarket"

    return Expect([write_csv(frame, d / "food.csv")], 0, (), read=N, check=check)


@case
def european_csv_with_decimal_commas(d: Path, r: Real) -> Expect:
    frame = r.osm.head(N).copy()
    for col in ("lat", "lon"):
        frame[col] = frame[col].str.replace(".", ",", regex=False)

    def check(table: pd.DataFrame, result: Result) -> None:
        expected = r.osm.head(N)["lat"].astype(float).to_numpy()
        assert np.allclose(table["lat"].to_numpy(), expected)

    return Expect([write_csv(frame, d / "osm.csv", sep=";")], 0, ("decimal comma",), read=N,
                  check=check)


@case
def decimal_comma_option(d: Path, r: Real) -> Expect:
    frame = r.generic()
    frame["reviews_per_month"] = ["1.234,5", "0,25"] * (N // 2)
    frame["review_count"] = ["1.234", "12"] * (N // 2)

    def check(table: pd.DataFrame, result: Result) -> None:
        assert table["reviews_per_month"].tolist()[:2] == [1234.5, 0.25]
        assert table["review_count"].tolist()[:2] == [1234, 12]

    return Expect([write_csv(frame, d / "s.csv", sep=";")], 0, (), read=N,
                  args=("--decimal", ","), check=check)


@case
def prices_with_currency_signs(d: Path, r: Real) -> Expect:
    frame = r.ams.head(N).copy()
    frame.loc[[0, 1, 2], "price"] = ["€1.200,00", "$1,200.00", "USD 95"]
    priced = int((frame["price"] != "").sum())

    def check(table: pd.DataFrame, result: Result) -> None:
        assert table["price_level"].notna().sum() == priced
        assert table["price_level"].tolist()[:2] == [4, 4]

    return Expect([write_csv(frame, d / "ams.csv")], 0, (), read=N, check=check)


def _reformat_dates(frame: pd.DataFrame, column: str, fmt: str) -> pd.DataFrame:
    frame = frame.copy()
    parsed = pd.to_datetime(frame[column], errors="coerce")
    frame[column] = parsed.dt.strftime(fmt).fillna("")
    return frame


def _dates_check(original: pd.DataFrame, column: str, canonical: str) -> Callable[..., None]:
    def check(table: pd.DataFrame, result: Result) -> None:
        want = pd.to_datetime(original[column], errors="coerce").reset_index(drop=True)
        got = pd.to_datetime(table[canonical]).reset_index(drop=True)
        both = want.notna()
        assert (got[both] == want[both]).all()

    return check


@case
def dates_day_first(d: Path, r: Real) -> Expect:
    frame = r.ams.head(N)
    return Expect([write_csv(_reformat_dates(frame, "last_review", "%d/%m/%Y"), d / "a.csv")],
                  0, ("last_review: read day first",), read=N,
                  check=_dates_check(frame, "last_review", "last_review"))


@case
def dates_month_first(d: Path, r: Real) -> Expect:
    frame = r.ams.head(N)
    return Expect([write_csv(_reformat_dates(frame, "first_review", "%m/%d/%Y"), d / "a.csv")],
                  0, ("first_review: read month first",), read=N,
                  check=_dates_check(frame, "first_review", "first_review"))


@case
def dates_that_never_say_which_order(d: Path, r: Real) -> Expect:
    frame = r.ams.head(N).copy()
    frame["last_review"] = [f"{1 + i % 12:02d}/{1 + i % 9:02d}/2023" for i in range(N)]
    frame["first_review"] = "2020-01-02"  # before each last_review
    return Expect([write_csv(frame, d / "a.csv")], 0, ("ambiguous dates", "--date-format"),
                  read=N)


@case
def ambiguous_dates_with_a_date_format(d: Path, r: Real) -> Expect:
    frame = r.ams.head(N).copy()
    frame["last_review"] = [f"{1 + i % 9:02d}/{1 + i % 12:02d}/2023" for i in range(N)]
    frame["first_review"] = "2020-01-02"  # before each last_review

    def check(table: pd.DataFrame, result: Result) -> None:
        assert table["last_review"].dt.month.tolist()[:12] == [1 + i % 12 for i in range(12)]

    return Expect([write_csv(frame, d / "a.csv")], 0, (), read=N,
                  args=("--date-format", "%d/%m/%Y"), check=check)


@case
def dates_in_two_orders(d: Path, r: Real) -> Expect:
    frame = r.ams.head(N).copy()
    frame["last_review"] = ["13/04/2023"] * (N - 3) + ["04/14/2023", "04/15/2023", "04/16/2023"]
    frame["first_review"] = "2020-01-02"  # before each last_review
    return Expect([write_csv(frame, d / "a.csv")], 0, ("mixed date orders", "04/14/2023"),
                  read=N, warned=3)


@case
def optional_fields_that_cannot_be_read(d: Path, r: Real) -> Expect:
    frame = r.nyc_bnb.head(N).copy()
    frame.loc[[0, 1], "number_of_reviews"] = ["many", "2.5"]
    frame.loc[[1, 2], "reviews_per_month"] = ["often", "-1"]
    frame.loc[[3], "last_review"] = ["someday"]
    frame.loc[[4], "price"] = ["ask"]
    return Expect([write_csv(frame, d / "bnb.csv")], 0,
                  ("review_count 'many' is not an integer", "field left empty"), read=N,
                  warned=5)


@case
def a_row_with_two_problems_counts_once(d: Path, r: Real) -> Expect:
    frame = r.generic()
    frame.loc[[7, 8], "name"] = ""
    frame.loc[[7, 9], "lat"] = "north"
    return Expect([write_csv(frame, d / "s.csv")], 0, ("empty name", "lat 'north'"), read=N,
                  rejected=3, reject_lines=lines([7, 8, 9]))


@case
def infinite_coordinates(d: Path, r: Real) -> Expect:
    frame = _one_of(r.generic(), "lat", [2, 3], "inf")
    frame.loc[4, "lng"] = "-Infinity"
    return Expect([write_csv(frame, d / "s.csv")], 0, ("not a finite number",), read=N,
                  rejected=3, reject_lines=lines([2, 3, 4]))


@case
def missing_coordinate_tokens(d: Path, r: Real) -> Expect:
    frame = _one_of(r.generic(), "lat", [0, 1, 2], ["NaN", "NULL", "n/a"])
    return Expect([write_csv(frame, d / "s.csv")], 0, ("missing coordinates",), read=N,
                  rejected=3, reject_lines=lines([0, 1, 2]))


@case
def latitude_out_of_range(d: Path, r: Real) -> Expect:
    frame = _one_of(r.generic(), "lat", [10], "140.7")
    return Expect([write_csv(frame, d / "s.csv")], 0, ("lat 140.7 is out of range",), read=N,
                  rejected=1, reject_lines=lines([10]))


@case
def duplicate_ids(d: Path, r: Real) -> Expect:
    frame = r.generic()
    frame.loc[[20, 30], "id"] = frame.loc[5, "id"]
    return Expect([write_csv(frame, d / "s.csv")], 0, ("duplicate id",), read=N, rejected=2,
                  reject_lines=lines([20, 30]))


@case
def rows_with_missing_fields(d: Path, r: Real) -> Expect:
    text = r.generic().to_csv(index=False).splitlines()
    text[5] = ",".join(text[5].split(",")[:3])
    path = d / "s.csv"
    path.write_text("\n".join(text) + "\n")
    return Expect([path], 0, ("expected 5 fields, got 3",), read=N, rejected=1,
                  reject_lines=[6])


@case
def unterminated_quote_at_the_end(d: Path, r: Real) -> Expect:
    path = d / "s.csv"
    path.write_text(r.generic().to_csv(index=False) + '999,"Cut off,40.7,-73.9')
    return Expect([path], 0, ("unterminated quoted field",), read=N + 1, rejected=1,
                  reject_lines=[N + 2])


@case
def undecodable_bytes_in_one_row(d: Path, r: Real) -> Expect:
    frame = r.generic()
    frame.loc[:9, "name"] += " Café"  # UTF-8 elsewhere: the file is UTF-8, one row is not
    data = frame.to_csv(index=False).encode()
    data += b"9999,Caf\xe9 Latin,40.71,-73.99,food\n"
    path = d / "s.csv"
    path.write_bytes(data)
    return Expect([path], 0, ("bad encoding",), read=N + 1, rejected=1, reject_lines=[N + 2])


@case
def windows_1252_file(d: Path, r: Real) -> Expect:
    frame = r.generic()
    frame.loc[0, "name"] = "Café “Crème” – €5"
    def check(table: pd.DataFrame, result: Result) -> None:
        assert table["name"].iloc[0] == "Café “Crème” – €5"

    return Expect([write_csv(frame, d / "s.csv", encoding="cp1252")], 0, (), read=N,
                  check=check)


@case
def utf16_file(d: Path, r: Real) -> Expect:
    frame = r.generic()
    frame.loc[0, "name"] = "Zoë's Ñandú"

    def check(table: pd.DataFrame, result: Result) -> None:
        assert table["name"].iloc[0] == "Zoë's Ñandú"

    return Expect([write_csv(frame, d / "s.csv", encoding="utf-16")], 0, (), read=N,
                  check=check)


@case
def tab_separated(d: Path, r: Real) -> Expect:
    return Expect([write_csv(r.generic(), d / "s.tsv", sep="\t")], 0, (), read=N)


@case
def windows_line_endings_and_bom(d: Path, r: Real) -> Expect:
    return Expect([write_csv(r.generic(), d / "s.csv", encoding="utf-8-sig",
                             lineterminator="\r\n")], 0, (), read=N)


@case
def blank_lines_between_rows(d: Path, r: Real) -> Expect:
    text = r.generic().to_csv(index=False).splitlines()
    path = d / "s.csv"
    path.write_text("\n\n".join(text) + "\n\n\n")
    return Expect([path], 0, (), read=N)


@case
def trailing_delimiter_on_every_line(d: Path, r: Real) -> Expect:
    text = r.generic().to_csv(index=False).splitlines()
    path = d / "s.csv"
    path.write_text("\n".join(line + "," for line in text) + "\n")
    return Expect([path], 0, (), read=N)


@case
def geojson_with_null_and_empty_geometries(d: Path, r: Real) -> Expect:
    fc = json.loads(geo(r.generic()).to_json())
    fc["features"][3]["geometry"] = None
    fc["features"][4]["geometry"] = {"type": "Point", "coordinates": []}
    path = d / "s.geojson"
    path.write_text(json.dumps(fc))
    return Expect([path], 0, ("bad geometry",), read=N, rejected=2, reject_lines=[4, 5])


@case
def shapefile_with_names_cut_to_ten_characters(d: Path, r: Real) -> Expect:
    frame = r.generic().rename(columns={"name": "business_name"})
    frame["review_count"] = np.arange(N).astype(str)
    frame["reviews_per_month"] = "1.5"
    shp = shapefile(d / "shp", frame)

    def check(table: pd.DataFrame, result: Result) -> None:
        assert table["review_count"].tolist() == list(range(N))
        assert (table["reviews_per_month"] == 1.5).all()

    return Expect([shp], 0, ("review_cou → review_count", "business_n → business_name"),
                  read=N, check=check)


@case
def geojson_in_web_mercator_with_crs_option(d: Path, r: Real) -> Expect:
    frame = r.generic()
    fc = json.loads(geo(frame).to_crs(3857).to_json())
    fc.pop("crs", None)
    path = d / "stores.geojson"
    path.write_text(json.dumps(fc))

    def check(table: pd.DataFrame, result: Result) -> None:
        assert np.allclose(table["lat"], frame["lat"].astype(float), atol=1e-7)
        assert np.allclose(table["lng"], frame["lng"].astype(float), atol=1e-7)

    return Expect([path], 0, (), read=N, args=("--crs", "EPSG:3857"), check=check)


@case
def csv_in_metres_with_crs_option(d: Path, r: Real) -> Expect:
    frame = r.generic()
    pts = geo(frame).to_crs(32618)  # UTM 18N: no guess could find it, the option does
    metres = frame.assign(lat=pts.geometry.y.round(3), lng=pts.geometry.x.round(3))

    def check(table: pd.DataFrame, result: Result) -> None:
        assert np.allclose(table["lat"], frame["lat"].astype(float), atol=1e-6)

    return Expect([write_csv(metres, d / "utm.csv")], 0, (), read=N,
                  args=("--crs", "EPSG:32618"), check=check)


@case
def parquet_with_infinite_floats(d: Path, r: Real) -> Expect:
    frame = r.generic().assign(lat=lambda f: f["lat"].astype(float),
                               lng=lambda f: f["lng"].astype(float))
    frame.loc[[1, 2], "lat"] = [np.inf, -np.inf]
    path = d / "s.parquet"
    frame.to_parquet(path)
    return Expect([path], 0, ("not a finite number",), read=N, rejected=2,
                  reject_lines=[2, 3])


@case
def out_of_range_optional_numbers(d: Path, r: Real) -> Expect:
    frame = r.generic()
    frame["price_level"] = ["2"] * N
    frame.loc[[0, 1], "price_level"] = ["7", "0"]
    frame["review_count"] = "3"
    frame.loc[2, "review_count"] = "-3"
    return Expect([write_csv(frame, d / "s.csv")], 0, ("price_level 7 is out of range",),
                  read=N, warned=3)


@case
def percentages_and_spaces_in_numbers(d: Path, r: Real) -> Expect:
    frame = r.generic()
    frame["reviews_per_month"] = ["95%", "12 000", "1'234.5", " 4.5 "] * (N // 4)

    def check(table: pd.DataFrame, result: Result) -> None:
        assert table["reviews_per_month"].tolist()[:4] == [95.0, 12000.0, 1234.5, 4.5]

    return Expect([write_csv(frame, d / "s.csv")], 0, (), read=N, check=check)


@case
def several_files_each_with_their_own_problems(d: Path, r: Real) -> Expect:
    a = _one_of(r.generic(60), "name", [0], "")
    b = r.generic(N).iloc[60:].copy()
    b.loc[b.index[0], "lat"] = "abc"
    ams = r.ams.head(40).copy()
    ams.loc[ams.index[ams["review_scores_rating"] != ""][0], "review_scores_rating"] = "7"
    files = [write_csv(a, d / "a.csv"), write_csv(b, d / "b.csv"), write_csv(ams, d / "c.csv")]
    return Expect(files, 0, ("empty name", "lat 'abc'", "0–5 (inferred)"), read=N + 40,
                  rejected=2, warned=1)


@case
def old_mac_line_endings(d: Path, r: Real) -> Expect:
    path = d / "s.csv"
    path.write_bytes(r.generic().to_csv(index=False).replace("\n", "\r").encode())
    return Expect([path], 0, (), read=N)


@case
def undecodable_bytes_in_the_header(d: Path, r: Real) -> Expect:
    frame = r.generic()
    frame.loc[:9, "name"] += " Café"  # a UTF-8 file whose header has one stray byte
    text = frame.to_csv(index=False).replace("category", "cat\udcb0gory", 1)
    path = d / "s.csv"
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    return Expect([path], 0, (), read=N)


@case
def fractions_in_a_misaligned_row(d: Path, r: Real) -> Expect:
    frame = r.generic()
    frame["review_count"] = "3"
    text = frame.to_csv(index=False).splitlines()
    text[4] = "1,Long,40.7,-73.9,food,2.5,x"  # 7 fields of 6: a fraction in the count column
    path = d / "s.csv"
    path.write_text("\n".join(text) + "\n")
    return Expect([path], 0, ("wrong field count",), read=N, rejected=1, reject_lines=[5])


@case
def truncated_geojson_named_csv(d: Path, r: Real) -> Expect:
    path = d / "stores.csv"
    text = geo(r.generic()).to_json()
    path.write_text(text[: len(text) // 3])
    return Expect([path], 1, ("stores.csv",))


@case
def excel_sep_line_first(d: Path, r: Real) -> Expect:
    path = d / "s.csv"
    path.write_text("sep=;\n" + r.generic().to_csv(index=False, sep=";"))
    return Expect([path], 0, ("names the delimiter",), read=N)


@case
def title_lines_before_the_header(d: Path, r: Real) -> Expect:
    path = d / "s.csv"
    path.write_text("Retail food stores\nExported 2024-05-01 by the state portal\n\n"
                    + r.generic().to_csv(index=False))
    return Expect([path], 0, ("skipped 2 line(s)",), read=N)


@case
def space_separated_text(d: Path, r: Real) -> Expect:
    path = d / "s.txt"
    frame = r.generic().assign(name=lambda f: f["name"].str.replace(" ", "_"))
    path.write_text(frame.to_string(index=False))
    return Expect([path], 1, ("has no delimiter", "convert it to CSV"))


@case
def trailing_delimiter_on_data_lines_only(d: Path, r: Real) -> Expect:
    text = r.generic().to_csv(index=False).splitlines()
    path = d / "s.csv"
    path.write_text("\n".join([text[0]] + [line + "," for line in text[1:]]) + "\n")
    return Expect([path], 0, ("extra empty field",), read=N)


@case
def coordinates_in_degrees_minutes_seconds(d: Path, r: Real) -> Expect:
    frame = r.generic()
    exact = frame[["lat", "lng"]].astype(float)

    def dms(value: float, letters: str) -> str:
        sign = letters[0] if value >= 0 else letters[1]
        value = abs(value)
        deg, minutes = int(value), (value - int(value)) * 60
        return f"{deg}°{int(minutes)}′{(minutes - int(minutes)) * 60:.4f}″{sign}"

    frame["lat"] = [dms(v, "NS") for v in exact["lat"]]
    frame["lng"] = [dms(v, "EW") for v in exact["lng"]]

    def check(table: pd.DataFrame, result: Result) -> None:
        assert np.allclose(table["lat"], exact["lat"], atol=1e-6)
        assert np.allclose(table["lng"], exact["lng"], atol=1e-6)

    return Expect([write_csv(frame, d / "s.csv")], 0, ("degrees, minutes, seconds",), read=N,
                  check=check)


@case
def columns_named_in_other_words(d: Path, r: Real) -> Expect:
    frame = r.generic().rename(columns={"name": "Store Name", "lat": "LAT_DD",
                                        "lng": "LONG_DD", "id": "store id"})
    frame["long_description"] = "a shop"
    return Expect([write_csv(frame, d / "s.csv")], 0,
                  ("read from column 'Store Name'", "read from column 'LONG_DD'"), read=N)


@case
def two_columns_that_could_be_the_latitude(d: Path, r: Real) -> Expect:
    frame = r.generic().rename(columns={"lat": "lat_wgs84", "lng": "lon_wgs84"})
    frame["lat_nad27"] = frame["lat_wgs84"]
    return Expect([write_csv(frame, d / "s.csv")], 1,
                  ("several columns could hold the lat", "lat_nad27", "--mapping"))


@case
def points_in_a_location_column(d: Path, r: Real) -> Expect:
    g = r.generic()
    frame = pd.DataFrame({"name": g["name"], "Location": "(" + g["lat"] + ", " + g["lng"] + ")"})

    def check(table: pd.DataFrame, result: Result) -> None:
        assert np.allclose(table["lat"], g["lat"].astype(float))

    return Expect([write_csv(frame, d / "s.csv")], 0, ("read from column 'Location' (lat, lng)",),
                  read=N, check=check)


@case
def points_as_wkt_text(d: Path, r: Real) -> Expect:
    g = r.generic()
    wkt = "POINT (" + g["lng"] + " " + g["lat"] + ")"
    frame = pd.DataFrame({"name": g["name"], "the_geom": wkt})
    frame.loc[3, "the_geom"] = "POINT EMPTY"

    def check(table: pd.DataFrame, result: Result) -> None:
        assert np.allclose(table["lng"], g["lng"].drop(index=3).astype(float))

    return Expect([write_csv(frame, d / "s.csv")], 0, ("(lng, lat)", "missing coordinates"),
                  read=N, rejected=1, reject_lines=[5], check=check)


@case
def coordinates_in_microdegrees(d: Path, r: Real) -> Expect:
    frame = r.generic()
    for col in ("lat", "lng"):
        frame[col] = (frame[col].astype(float) * 1e6).round().astype(int)
    return Expect([write_csv(frame, d / "s.csv")], 1, ("degrees times 10^6", "divide them"))


@case
def utf16_without_a_bom(d: Path, r: Real) -> Expect:
    return Expect([write_csv(r.generic(), d / "s.csv", encoding="utf-16-le")], 0, (), read=N)


@case
def json_lines_named_json(d: Path, r: Real) -> Expect:
    path = d / "s.json"
    path.write_text(r.generic().to_json(orient="records", lines=True))
    return Expect([path], 1, ("JSON lines", "lines=True"))


@case
def api_response_object_named_geojson(d: Path, r: Real) -> Expect:
    path = d / "s.geojson"
    path.write_text(json.dumps({"data": json.loads(r.generic().to_json(orient="records")),
                                "next": None}, indent=2))
    return Expect([path], 1, ("JSON object with keys ['data', 'next']",))


# --------------------------------------------------------------------------- --strict


@case
def strict_rejects_rows_with_fields_left_empty(d: Path, r: Real) -> Expect:
    frame = _one_of(r.generic(), "name", [1], "")
    frame["review_count"] = "5"
    frame.loc[[2, 3], "review_count"] = ["lots", "-1"]
    return Expect([write_csv(frame, d / "s.csv")], 3,
                  ("Rejected rows by reason", "--strict", "review_count 'lots'"), read=N,
                  rejected=3, args=("--strict",), reject_lines=lines([1, 2, 3]))


@case
def strict_refuses_a_swap(d: Path, r: Real) -> Expect:
    frame = r.generic()
    frame.loc[[9], ["lat", "lng"]] = frame.loc[[9], ["lng", "lat"]].to_numpy()
    return Expect([write_csv(frame, d / "s.csv")], 3, ("lat/lng swap",), read=N, rejected=1,
                  args=("--strict",), reject_lines=lines([9]))


@case
def strict_with_a_clean_file_publishes(d: Path, r: Real) -> Expect:
    return Expect([write_csv(r.generic(), d / "s.csv")], 0, (), read=N, args=("--strict",))


# --------------------------------------------------------------------------- the run
# (last: every case above is registered by now)


@pytest.mark.parametrize("name", sorted(CASES), ids=str)
def test_malformed_file(name: str, real: Real, base_store: Path, runner: CliRunner,
                        tmp_path: Path) -> None:
    data_dir = tmp_path / "store"
    shutil.copytree(base_store, data_dir)
    before = _state(data_dir)
    work = tmp_path / "in"
    work.mkdir()
    exp = CASES[name](work, real)
    args = ["load", *map(str, exp.files), "--data-dir", str(data_dir), "--allow-shrink",
            "--wait", "0", *exp.args]
    started = time.perf_counter()
    result = runner.invoke(app, args)
    elapsed = time.perf_counter() - started
    out = result.stdout + result.stderr
    assert result.exit_code == exp.code, out
    assert "Traceback" not in out, out
    assert result.exception is None or isinstance(result.exception, SystemExit), out
    assert elapsed < 20, f"{name} took {elapsed:.1f} s"
    if exp.code:
        err = result.stderr.strip()
        assert err.startswith("error: ") and "\n" not in err, err
    for needle in exp.needles:
        assert needle in out, f"{needle!r} not in:\n{out}"
    if exp.code == 0:
        table = pd.read_parquet(SnapshotStore(data_dir).current().path  # type: ignore[union-attr]
                                / "merchants.parquet")
        assert _state(data_dir)[2] == before[2] + 1
    else:
        table = None
        assert _state(data_dir) == before, "the previous snapshot must stay current"
    if exp.read is None:
        assert EQUATION.search(result.stdout) is None or exp.code != 1
        return
    read, loaded, rejected = (int(g) for g in EQUATION.search(result.stdout).groups())  # type: ignore[union-attr]
    assert (read, loaded, rejected) == (exp.read, exp.read - exp.rejected, exp.rejected), out
    warned = WARNED.search(result.stdout)
    assert (int(warned.group(1)) if warned else 0) == exp.warned, out
    if table is not None:
        assert len(table) == loaded
        if exp.check is not None:
            exp.check(table, result)
    rejects_file = re.search(r"rejects file: (\S+)", result.stdout)
    if exp.rejected or exp.warned:
        assert rejects_file, out
        rows = pd.read_csv(rejects_file.group(1), dtype={"source_line": "Int64"})
        assert (rows["severity"] == "error").sum() == exp.rejected
        assert (rows["severity"] == "warning").sum() == exp.warned
        assert rows["reason"].notna().all() and rows["kind"].notna().all()
        if exp.reject_lines is not None:
            errors = rows[rows["severity"] == "error"]
            assert sorted(errors["source_line"].astype(int)) == sorted(exp.reject_lines)
        summary = _table_rows(result.stdout, "Rejected rows by reason")
        assert sum(summary) == exp.rejected  # rows, not reasons
    else:
        assert rejects_file is None


def _table_rows(stdout: str, title: str) -> list[int]:
    """The ``rows`` column of a printed summary table (empty when it is not printed)."""
    if title not in stdout:
        return []
    block = stdout.split(title, 1)[1].split("\n\n")[0]
    counts = []
    for line in block.splitlines():
        cells = [c.strip() for c in line.split("│") if c.strip()]
        if len(cells) >= 3 and cells[-1].replace(",", "").isdigit():
            counts.append(int(cells[-1].replace(",", "")))
        if line.startswith("└"):
            break
    return counts


def test_the_corpus_is_large_enough() -> None:
    assert len(CASES) >= 60
