"""Score detected districts against ground-truth polygons (NYC Business Improvement Districts).

Three numbers, as the districts issue defines them:

* **recall** — the share of truth polygons of which the detected districts together
  cover at least ``min_coverage`` (30 %) of the area;
* **merchant share** — the share of merchants inside any truth polygon that were
  assigned to some district;
* **area** — the total area of all detected districts, km² (recall means nothing
  without it).

Areas of intersections are measured in a Lambert azimuthal equal-area projection
centred on the truth polygons, so any city works. Rerun the whole comparison with::

    python -m geo_discovery.districts.evaluate            # or: geo-discovery districts evaluate

which reads the NYC food stores and DOHMH restaurants and the BIDs from
``GEO_DISCOVERY_REAL_DATA`` (default ``../shared/data``) and prints one row per
method and parameter set.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ..errors import IngestError, InvalidQueryError
from .detect import DistrictParams, Districts, build_districts

__all__ = [
    "DEFAULT_SWEEP",
    "NYC_MERCHANT_FILES",
    "NYC_TRUTH_FILE",
    "DistrictScore",
    "compare_methods",
    "evaluate_districts",
    "load_truth",
    "main",
    "read_merchants",
    "real_data_dir",
    "score_districts",
]

NYC_MERCHANT_FILES: tuple[str, ...] = (
    "nyc/nyc_retail_food_stores.csv",
    "nyc/nyc_restaurants_dohmh_mongodb_primer_subset.csv",
)
NYC_TRUTH_FILE = "nyc/nyc_bids_2015.geojson"

# (label, parameters): the default first, then the other methods and variations.
DEFAULT_SWEEP: tuple[tuple[str, DistrictParams], ...] = (
    ("tracts (default)", DistrictParams()),
    ("tracts seed_q=0.1", DistrictParams(seed_quantile=0.1)),
    ("tracts seed_q=0.3", DistrictParams(seed_quantile=0.3)),
    ("tracts min=15", DistrictParams(min_merchants=15)),
    ("tracts passes=(2,)", DistrictParams(connector_passes=(2,))),
    ("tracts passes=(2,3)", DistrictParams(connector_passes=(2, 3))),
    ("tracts passes=(2,3,3)", DistrictParams(connector_passes=(2, 3, 3))),
    ("density q=0.3", DistrictParams(method="density", density_quantile=0.3)),
    ("density q=0.4", DistrictParams(method="density", density_quantile=0.4)),
    ("density q=0.5", DistrictParams(method="density", density_quantile=0.5)),
    ("density q=0.6", DistrictParams(method="density", density_quantile=0.6)),
    ("dbscan eps_q=0.5", DistrictParams(method="dbscan", dbscan_eps_quantile=0.5)),
    ("dbscan eps_q=0.75", DistrictParams(method="dbscan", dbscan_eps_quantile=0.75)),
    ("dbscan eps_q=0.9", DistrictParams(method="dbscan", dbscan_eps_quantile=0.9)),
)


@dataclass
class DistrictScore:
    """The ground-truth scores of one detection. ``per_truth`` has one row per polygon."""

    recall: float
    truth_matched: int
    truth_total: int
    merchant_share: float
    merchants_in_truth: int
    area_km2: float
    districts: int
    min_coverage: float
    per_truth: pd.DataFrame = field(repr=False)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("per_truth")
        return out


def load_truth(path: str | Path) -> gpd.GeoDataFrame:
    """Truth polygons in EPSG:4326, invalid ones repaired with ``buffer(0)``.

    A ``name`` column is taken from ``NAME``/``name`` when present. :class:`IngestError`
    for a file that is missing, unreadable or holds no polygon.
    """
    allowed = "allowed: a GeoJSON, GeoPackage or Shapefile of (Multi)Polygons in any CRS"
    if not Path(path).is_file():
        raise IngestError(f"truth file {path} does not exist or is not a file; {allowed}")
    try:
        truth = gpd.read_file(path)
    except Exception as exc:  # pyogrio's errors are not ours: say what it said
        raise IngestError(f"truth file {path} cannot be read: {exc}; {allowed}") from None
    kinds = set(truth.geometry.geom_type) if isinstance(truth, gpd.GeoDataFrame) else set()
    if not len(truth) or not kinds & {"Polygon", "MultiPolygon"}:
        raise IngestError(f"truth file {path} holds no polygon (found: "
                          f"{', '.join(sorted(str(k) for k in kinds)) or 'none'}); {allowed}")
    truth = truth[truth.geometry.geom_type.isin(["Polygon", "MultiPolygon"])]
    if truth.crs is not None and truth.crs.to_epsg() != 4326:
        truth = truth.to_crs(4326)
    bad = ~truth.geometry.is_valid
    if bad.any():
        truth.loc[bad, "geometry"] = truth.geometry[bad].buffer(0)
    for col in ("name", "NAME", "Name"):
        if col in truth.columns:
            truth["name"] = truth[col].astype(str)
            break
    else:
        truth["name"] = [f"truth {i}" for i in range(len(truth))]
    return truth[["name", "geometry"]]


def _local_crs(geoms: gpd.GeoSeries) -> str:
    c = shapely.union_all(geoms.to_numpy()).centroid
    return f"+proj=laea +lat_0={c.y:.6f} +lon_0={c.x:.6f} +datum=WGS84 +units=m +no_defs"


def evaluate_districts(
    districts: Districts,
    truth: gpd.GeoDataFrame,
    lat: Sequence[float] | np.ndarray,
    lng: Sequence[float] | np.ndarray,
    *,
    min_coverage: float = 0.3,
) -> DistrictScore:
    """Score ``districts`` (detected on merchants at ``lat``/``lng``, in table order)."""
    lat = np.asarray(lat, dtype=np.float64)
    lng = np.asarray(lng, dtype=np.float64)
    if len(lat) != len(districts.merchant_district):
        raise ValueError(
            f"{len(lat)} merchant points for {len(districts.merchant_district)} table rows"
        )
    assigned = np.asarray(districts.merchant_district) >= 0
    return _score(districts.frame, truth, lat, lng, assigned, min_coverage)


def score_districts(
    districts: gpd.GeoDataFrame,
    truth: gpd.GeoDataFrame,
    merchants: pd.DataFrame,
    *,
    min_coverage: float = 0.3,
) -> DistrictScore:
    """Score district polygons (``engine.districts()``) against ``truth``.

    ``merchants`` has ``lat``, ``lng`` and ``district_id`` (missing: in no district), e.g.
    ``engine.within_bbox(truth.total_bounds).to_frame()``: only those inside a truth
    polygon count, so any superset of them will do.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> found = engine.districts()
    >>> truth = gpd.GeoDataFrame({"name": ["centre"]},
    ...                          geometry=[found.geometry.iloc[0].buffer(0.001)], crs=4326)
    >>> hits = engine.within_bbox(truth.total_bounds).to_frame()
    >>> score = score_districts(found, truth, hits)
    >>> score.truth_matched, score.merchant_share > 0.5
    (1, True)
    """
    for col in ("lat", "lng", "district_id"):
        if col not in merchants.columns:
            raise ValueError(f"merchants has no {col!r} column; needed: lat, lng, district_id")
    assigned = merchants["district_id"].notna().to_numpy()
    return _score(
        districts,
        truth,
        merchants["lat"].to_numpy(dtype=np.float64),
        merchants["lng"].to_numpy(dtype=np.float64),
        assigned,
        min_coverage,
    )


def _score(
    frame: gpd.GeoDataFrame,
    truth: gpd.GeoDataFrame,
    lat: np.ndarray,
    lng: np.ndarray,
    assigned: np.ndarray,
    min_coverage: float,
) -> DistrictScore:
    if not 0.0 < min_coverage <= 1.0:
        raise InvalidQueryError(
            f"min_coverage={min_coverage} is out of range; allowed: 0 < min_coverage <= 1"
        )
    crs = _local_crs(truth.geometry)
    truth_m = truth.to_crs(crs)
    if len(frame):
        union = shapely.union_all(frame.geometry.to_numpy())
        union_m = gpd.GeoSeries([union], crs=4326).to_crs(crs).iloc[0]
        covered = truth_m.geometry.intersection(union_m).area.to_numpy()
    else:
        covered = np.zeros(len(truth))
    coverage = covered / truth_m.area.to_numpy()
    pts = gpd.GeoSeries(gpd.points_from_xy(lng, lat), crs=4326)
    hits = gpd.sjoin(gpd.GeoDataFrame(geometry=pts), truth[["geometry"]], predicate="within")
    in_truth = np.zeros(len(lat), dtype=bool)
    in_truth[hits.index.unique()] = True
    per = pd.DataFrame(
        {
            "name": truth["name"].to_numpy(),
            "area_km2": truth_m.area.to_numpy() / 1e6,
            "coverage": coverage,
            "matched": coverage >= min_coverage,
        }
    )
    counts = hits.groupby("index_right").size()
    got = pd.Series(assigned[hits.index.to_numpy()], index=hits["index_right"].to_numpy())
    per["merchants"] = counts.reindex(range(len(truth)), fill_value=0).to_numpy()
    per["assigned"] = got.groupby(level=0).sum().reindex(range(len(truth)), fill_value=0).to_numpy()
    n_in = int(in_truth.sum())
    return DistrictScore(
        recall=float(per["matched"].mean()) if len(per) else 0.0,
        truth_matched=int(per["matched"].sum()),
        truth_total=len(per),
        merchant_share=float(assigned[in_truth].mean()) if n_in else 0.0,
        merchants_in_truth=n_in,
        area_km2=float(frame["area_km2"].sum()) if len(frame) else 0.0,
        districts=len(frame),
        min_coverage=min_coverage,
        per_truth=per,
    )


def read_merchants(paths: Sequence[str | Path]) -> pd.DataFrame:
    """The canonical merchant frame of ``paths`` (built-in profiles detected)."""
    from ..ingest import read_sources

    return read_sources(list(paths), profile=None).merchants.reset_index(drop=True)


def compare_methods(
    merchants: pd.DataFrame,
    truth: gpd.GeoDataFrame,
    sweep: Sequence[tuple[str, DistrictParams]] = DEFAULT_SWEEP,
    *,
    min_coverage: float = 0.3,
) -> pd.DataFrame:
    """One row per configuration: recall, merchant share, area, districts and seconds."""
    rows = []
    lat, lng = merchants["lat"].to_numpy(), merchants["lng"].to_numpy()
    for label, params in sweep:
        start = time.perf_counter()
        districts = build_districts(merchants, params)
        seconds = time.perf_counter() - start
        score = evaluate_districts(districts, truth, lat, lng, min_coverage=min_coverage)
        rows.append(
            {
                "label": label,
                "method": params.method,
                "resolution": districts.resolution,
                "recall": round(score.recall, 4),
                "matched": f"{score.truth_matched}/{score.truth_total}",
                "merchant_share": round(score.merchant_share, 4),
                "area_km2": round(score.area_km2, 2),
                "districts": score.districts,
                "seconds": round(seconds, 2),
            }
        )
    return pd.DataFrame(rows)


def real_data_dir(value: str | None = None) -> Path:
    """The real-data folder: ``value``, else the ``real_data`` setting
    (``GEO_DISCOVERY_REAL_DATA``), else ``../shared/data`` beside the project."""
    if value:
        return Path(value)
    from ..settings import get_settings

    configured = get_settings().real_data
    if configured is not None:
        return Path(configured)
    # geo_discovery/districts/evaluate.py -> the project root is three levels up
    return Path(__file__).resolve().parents[3] / "shared" / "data"


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: print the method comparison against the NYC BIDs."""
    parser = argparse.ArgumentParser(
        prog="python -m geo_discovery.districts.evaluate",
        description="Score district detection against ground-truth polygons (NYC BIDs).",
    )
    parser.add_argument("--real-data", help="folder with nyc/ (default: GEO_DISCOVERY_REAL_DATA "
                        "or ../shared/data)")  # fmt: skip
    parser.add_argument("--truth", help="truth polygons (default: nyc/nyc_bids_2015.geojson)")
    parser.add_argument("--merchants", nargs="*", help="merchant files (default: NYC food "
                        "stores + DOHMH restaurants)")  # fmt: skip
    parser.add_argument("--default-only", action="store_true", help="score the default only")
    parser.add_argument("--min-coverage", type=float, default=0.3)
    parser.add_argument("--csv", help="also write the table to this CSV file")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    base = real_data_dir(args.real_data)
    truth = load_truth(args.truth or base / NYC_TRUTH_FILE)
    merchants = read_merchants(args.merchants or [base / f for f in NYC_MERCHANT_FILES])
    sweep = DEFAULT_SWEEP[:1] if args.default_only else DEFAULT_SWEEP
    table = compare_methods(merchants, truth, sweep, min_coverage=args.min_coverage)
    if args.csv:
        table.to_csv(args.csv, index=False)
    if args.json:
        print(json.dumps(table.to_dict(orient="records"), indent=2))
    else:
        with pd.option_context("display.width", 200, "display.max_columns", 20):
            print(table.to_string(index=False))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
