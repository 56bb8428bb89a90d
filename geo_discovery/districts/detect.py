"""Business districts (商圈): detection from merchant density on H3, aligned to the merchant table.

Three detectors share one output (:class:`Districts`); all thresholds come from the
data's own distribution, so the same defaults work in any city.

``tracts`` (default) — after Macdonald, Dolega & Singleton (2022, *Scientific Data*)
    1. The resolution ``r`` is the H3 level whose edge length is closest (in log scale)
       to the median nearest-neighbour spacing of distinct merchant locations
       (NYC food stores + restaurants: 30 m → r = 11; Helsinki downtown: 8.5 m → 12).
    2. *Seeds*: occupied cells whose 2-disk holds at least the ``seed_quantile``
       merchant-weighted quantile of such counts (drops the most isolated merchants).
    3. *Connectors*: passes of :func:`~geo_discovery.cellsets.add_connectors`
       (default ``(2, 4)``): bridge one-cell gaps between shopfronts, then fill notches.
    4. Connected components with at least ``min_merchants`` merchants are districts.
    5. Optional split of large agglomerations: *cores* are components of cells whose
       4-disk count reaches the ``split_quantile`` merchant-weighted quantile and which
       hold ``min_merchants`` themselves; a district with two or more cores is divided
       by growing the cores over its cells (multi-source breadth-first search).

``density`` — smoothed-density threshold (the naive baseline)
    Counts on cells one level coarser than ``r``, summed over each cell's 1-disk; cells
    at or above the ``density_quantile`` merchant-weighted quantile, connected
    components, ``min_merchants``.

``dbscan`` — DBSCAN on exact great-circle distances (unit-sphere chords)
    ``eps`` is the ``dbscan_eps_quantile`` quantile of each location's distance to its
    ``dbscan_min_samples``-th nearest neighbour; each cluster's merchant cells plus
    connectors form its district (a cell claimed twice goes to the larger cluster).

Every district has a stable id, a valid polygon (the union of its cells), a tier, a
name and statistics (:mod:`geo_discovery.districts.profile`). Every row of the merchant
table gets the district whose cells contain it, or none. The ``districts`` deriver runs
at load time and writes ``derived/districts/`` inside the snapshot.

Examples
--------
>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(0)
>>> pts = pd.DataFrame({"lat": 60.17 + rng.normal(0, 3e-4, 60),
...                     "lng": 24.94 + rng.normal(0, 6e-4, 60), "category": "shop/food"})
>>> d = build_districts(pts, DistrictParams(resolution=11))
>>> len(d.frame), bool(d.frame.geometry.is_valid.all())
(1, True)
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import shapely
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from ..cells import average_edge_length_m, latlng_to_cell, latlngs_to_cells
from ..cellsets import CellGrid, add_connectors, disk_counts, disk_counts_at, rfc7946_oriented
from ..distance import chord2_to_m, latlng_to_xyz, m_to_chord2
from ..errors import DistrictNotFoundError
from ..models import validate_lat, validate_lng
from ..settings import Settings
from .profile import COLUMN_TYPES, profile_districts

__all__ = [
    "METHODS",
    "DistrictParams",
    "Districts",
    "build_districts",
    "choose_district_resolution",
    "derive_districts",
    "lng_wrapped_bounds",
]

Method = Literal["tracts", "density", "dbscan"]
METHODS: tuple[str, ...] = ("tracts", "density", "dbscan")
_SEED_K = 2  # disk radius (cells) of the seed density
_CORE_K = 4  # disk radius (cells) of the core density used to split agglomerations


@dataclass(frozen=True)
class DistrictParams:
    """Detection parameters. Every threshold is relative to the data's own distribution.

    ``resolution=None`` picks it from the merchants' spacing
    (:func:`choose_district_resolution`). ``exclude_categories`` are category prefixes
    left out of detection and statistics (lodging is not a shop); their rows still get
    the district they lie in. Closed merchants are left out the same way.
    """

    method: Method = "tracts"
    resolution: int | None = None
    min_merchants: int = 10
    seed_quantile: float = 0.2
    connector_passes: tuple[int, ...] = (2, 4)
    split_quantile: float | None = 0.9
    density_quantile: float = 0.5
    dbscan_min_samples: int = 3
    dbscan_eps_quantile: float = 0.75
    exclude_categories: tuple[str, ...] = ("lodging",)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            allowed = ", ".join(METHODS)
            raise ValueError(f"method={self.method!r} is not allowed; allowed: {allowed}")
        if self.resolution is not None and not 0 <= self.resolution <= 15:
            raise ValueError(f"resolution={self.resolution} is out of range; allowed: 0..15")
        if self.min_merchants < 1:
            raise ValueError(f"min_merchants={self.min_merchants} is out of range; allowed: >= 1")
        for name in ("seed_quantile", "density_quantile", "dbscan_eps_quantile"):
            q = getattr(self, name)
            if not 0.0 <= q <= 1.0:
                raise ValueError(f"{name}={q} is out of range; allowed: 0 <= q <= 1")
        if self.split_quantile is not None and not 0.0 < self.split_quantile < 1.0:
            raise ValueError(f"split_quantile={self.split_quantile} is out of range; allowed: 0..1")
        if self.dbscan_min_samples < 2:
            raise ValueError(f"dbscan_min_samples={self.dbscan_min_samples}; allowed: >= 2")

    @classmethod
    def from_settings(cls, settings: Settings | None, **overrides: Any) -> DistrictParams:
        """Defaults, overridden by ``districts_*`` settings where they exist, then ``overrides``."""
        values: dict[str, Any] = {}
        for name in cls.__dataclass_fields__:
            value = getattr(settings, f"districts_{name}", None) if settings else None
            if value is not None:
                values[name] = tuple(value) if isinstance(value, list) else value
        values.update(overrides)
        return cls(**values)


#: A district is walkable: the resolution is chosen from the locations with at least
#: :data:`DISTRICT_NEIGHBOURS` others within this many metres (a fixed rule, not the
#: ``min_merchants`` setting: that one sizes districts, it does not move the resolution).
DISTRICT_REACH_M = 1_000.0
DISTRICT_NEIGHBOURS = 5


def choose_district_resolution(lat: NDArray, lng: NDArray) -> int:
    """H3 level whose average edge is closest (log scale) to the median spacing of the
    distinct locations that could be in a district (:data:`DISTRICT_NEIGHBOURS` others
    within :data:`DISTRICT_REACH_M`; all of them when fewer than two could): the distance
    from each to its nearest other location. A world-wide file loaded beside a city (sparse
    points far apart) made the city's districts hundreds of km² (resolution 6, not 12).

    Examples
    --------
    >>> lat = 40.75 + np.arange(50) * 0.00027  # 30 m apart, north-south
    >>> choose_district_resolution(lat, np.full(50, -73.98))
    11
    >>> far = np.linspace(-60, 60, 200)  # and 200 points thousands of km apart
    >>> choose_district_resolution(np.r_[lat, far], np.r_[np.full(50, -73.98), far])
    11
    """
    pts = np.unique(np.column_stack([np.round(lat, 6), np.round(lng, 6)]), axis=0)
    if len(pts) < 2:
        return 11
    xyz = latlng_to_xyz(pts[:, 0], pts[:, 1])
    k = min(DISTRICT_NEIGHBOURS + 1, len(pts))  # itself and its neighbours
    d2, _ = cKDTree(xyz).query(xyz, k=k)
    near = chord2_to_m(d2[:, 1] ** 2)
    dense = chord2_to_m(d2[:, k - 1] ** 2) <= DISTRICT_REACH_M
    spacing = float(np.median(near[dense] if dense.sum() >= 2 else near))
    levels = np.arange(6, 14)
    edges = np.array([average_edge_length_m(int(r)) for r in levels])
    return int(levels[np.argmin(np.abs(np.log(edges / max(spacing, 0.1))))])


def lng_wrapped_bounds(geoms: Any) -> NDArray[np.float64]:
    """``(west, south, east, north)`` per geometry (rows; NaN where empty), with the
    longitudes of the smallest range holding it on the circle: ``west > east`` where that
    range crosses the antimeridian (RFC 7946 §5.2), as for a polygon cut there into
    parts; ``-180, 180`` where it goes all round (a pole).

    Examples
    --------
    >>> fiji = shapely.MultiPolygon([shapely.box(179.9, -17, 180, -16),
    ...                              shapely.box(-180, -17, -179.8, -16)])
    >>> lng_wrapped_bounds([fiji, shapely.box(24.9, 60.1, 25.0, 60.2)]).tolist()
    [[179.9, -17.0, -179.8, -16.0], [24.9, 60.1, 25.0, 60.2]]
    """
    geoms = np.asarray(geoms, dtype=object).reshape(-1)
    out = np.asarray(shapely.bounds(geoms), dtype=np.float64).reshape(-1, 4)
    # narrower than 180°: the gap round the back (> 180°) is the largest, the bounds hold
    for i in np.flatnonzero(out[:, 2] - out[:, 0] > 180.0).tolist():
        parts = np.asarray(shapely.bounds(shapely.get_parts(geoms[i])), dtype=np.float64)
        parts = parts[np.argsort(parts[:, 0], kind="stable")]
        west, east = [float(parts[0, 0])], [float(parts[0, 2])]
        for w, e in parts[1:, [0, 2]].tolist():  # merge overlapping longitude ranges
            if w <= east[-1]:
                east[-1] = max(east[-1], e)
            else:
                west.append(w)
                east.append(e)
        gaps = np.diff(np.r_[west, west[0] + 360.0]) - (np.asarray(east) - west)
        j = int(np.argmax(gaps))  # the last one is round the back (ties: it wins below)
        if len(west) > 1 and gaps[j] > gaps[-1]:
            out[i, 0], out[i, 2] = west[j + 1], east[j]
    return out


# --------------------------------------------------------------------------- result
@dataclass
class Districts:
    """Detected districts and their alignment to the merchant table.

    ``frame`` is a GeoDataFrame indexed by ``district_id`` (polygons in EPSG:4326) with
    the columns of :func:`geo_discovery.districts.profile.profile_districts`.
    ``cells`` (sorted ``uint64``, at ``resolution``) and ``cell_district`` (row of
    ``frame``) say which district each cell belongs to; ``merchant_district`` holds, per
    merchant row, the row of its district or ``-1``.
    """

    frame: gpd.GeoDataFrame
    cells: NDArray[np.uint64]
    cell_district: NDArray[np.int32]
    merchant_district: NDArray[np.int32]
    resolution: int
    info: dict[str, Any] = field(default_factory=dict)
    merchant_index: pd.Index | None = None

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def ids(self) -> list[str]:
        return [str(x) for x in self.frame.index]

    def merchant_district_ids(self) -> pd.Series:
        """``district_id`` (or ``None``) per merchant, aligned to the input table's index."""
        ids = np.asarray([*self.ids, None], dtype=object)
        index = (
            self.merchant_index
            if self.merchant_index is not None
            else pd.RangeIndex(len(self.merchant_district))
        )
        return pd.Series(ids[self.merchant_district], index=index, name="district_id", dtype=object)

    def get(self, district_id: str) -> pd.Series:
        """One district's row; raises :class:`DistrictNotFoundError`."""
        if not isinstance(district_id, str) or district_id not in self.frame.index:
            raise DistrictNotFoundError(f"district_id={district_id!r} is not a known district")
        return self.frame.loc[district_id]

    def cells_of(self, district_id: str) -> NDArray[np.uint64]:
        """The cells (sorted ``uint64``) of one district."""
        row = self.frame.index.get_loc(self.get(district_id).name)
        return self.cells[self.cell_district == row]

    def at(self, lat: float, lng: float) -> str | None:
        """Id of the district containing ``(lat, lng)``, or ``None``."""
        lat, lng = validate_lat(lat), validate_lng(lng)
        if len(self.cells) == 0:
            return None
        cell = np.uint64(latlng_to_cell(lat, lng, self.resolution))
        pos = int(np.searchsorted(self.cells, cell))
        if pos < len(self.cells) and self.cells[pos] == cell:
            return self.ids[int(self.cell_district[pos])]
        return None

    def to_geojson(self) -> dict[str, Any]:
        """The districts as a GeoJSON FeatureCollection (RFC 7946: outer rings
        counter-clockwise, holes clockwise; ``id`` = ``district_id``; ``bbox`` =
        west, south, east, north in each feature's properties, ``west > east`` where the
        district crosses the antimeridian, RFC 7946 §5.2)."""
        return {"type": "FeatureCollection", "features": list(self._features)}

    def feature(self, district_id: str) -> dict[str, Any]:
        """One district as a GeoJSON Feature; raises :class:`DistrictNotFoundError`."""
        i = self._feature_row.get(str(district_id))
        if i is None:
            raise DistrictNotFoundError(f"district_id={district_id!r} is not a known district")
        return self._features[i]

    def touching(self, box: Any) -> NDArray[np.bool_]:
        """Per district: does its polygon touch the :class:`BBox` ``box`` (edges included)?

        Longitudes are taken modulo 360°: a box with ``west > east`` crosses the
        antimeridian, and so may a district (its polygon cut there into a MultiPolygon);
        -180 and 180 are one meridian. The districts' bounds (:func:`lng_wrapped_bounds`)
        pick the candidates, their polygons decide.
        """
        west, south, east, north = self._bounds.T
        lat_ok = (north >= box.south) & (south <= box.north)
        d_east = np.where(west > east, east + 360.0, east)  # each range eastwards from west
        b_east = box.east + 360.0 if box.crosses_antimeridian else box.east
        lng_ok = np.zeros(len(west), dtype=bool)
        for shift in (-360.0, 0.0, 360.0):
            lng_ok |= (west <= b_east + shift) & (box.west + shift <= d_east)
        out = np.asarray(lat_ok & lng_ok, dtype=bool)
        rows = np.flatnonzero(out)
        if len(rows):
            boxes = shapely.box(box.west + np.array([-360.0, 0.0, 360.0]), box.south,
                                b_east + np.array([-360.0, 0.0, 360.0]), box.north)  # fmt: skip
            geoms = np.asarray(self.frame.geometry.to_numpy(), dtype=object)[rows]
            out[rows] = shapely.intersects(geoms[:, None], boxes[None, :]).any(axis=1)
        return out

    @functools.cached_property
    def _bounds(self) -> NDArray[np.float64]:
        geoms = np.asarray(self.frame.geometry.to_numpy(), dtype=object)
        return lng_wrapped_bounds(geoms)

    @functools.cached_property
    def _features(self) -> list[dict[str, Any]]:
        frame = self.frame.reset_index()
        frame = frame.set_geometry(rfc7946_oriented(frame.geometry.to_numpy()))
        collection = json.loads(frame.to_json(drop_id=True, to_wgs84=True))
        out = []
        for feature, box in zip(collection["features"], self._bounds.tolist(), strict=True):
            props = dict(feature["properties"])
            mix = props.get("category_mix")
            if isinstance(mix, str) and mix.startswith("{"):
                with contextlib.suppress(ValueError):
                    props["category_mix"] = json.loads(mix)
            props["bbox"] = box
            out.append(
                {
                    "type": "Feature",
                    "id": props["district_id"],
                    "geometry": feature["geometry"],
                    "properties": props,
                }
            )
        return out

    @functools.cached_property
    def _feature_row(self) -> dict[str, int]:
        return {f["id"]: i for i, f in enumerate(self._features)}

    def summary(self) -> dict[str, Any]:
        """Small JSON-able facts for the snapshot manifest."""
        assigned = self.merchant_district >= 0
        tiers = self.frame["tier"].value_counts() if len(self.frame) else pd.Series()
        return {
            **self.info,
            "resolution": self.resolution,
            "districts": len(self.frame),
            "tiers": {str(k): int(v) for k, v in tiers.items()},
            "merchants_assigned": int(assigned.sum()),
            "area_km2": round(float(self.frame["area_km2"].sum()), 3) if len(self) else 0.0,
        }

    # ---------------------------------------------------------------- storage
    def to_directory(self, folder: str | Path) -> None:
        """Write ``districts.parquet`` (GeoParquet), ``cells.npy``, ``cell_district.npy``,
        ``merchant_district.npy`` and ``districts.json`` into ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.frame.reset_index().to_parquet(folder / "districts.parquet", index=False)
        np.save(folder / "cells.npy", self.cells)
        np.save(folder / "cell_district.npy", self.cell_district)
        np.save(folder / "merchant_district.npy", self.merchant_district)
        meta = {"resolution": self.resolution, "info": self.info}
        (folder / "districts.json").write_text(json.dumps(meta, indent=2, default=str))

    @classmethod
    def from_directory(cls, folder: str | Path) -> Districts:
        folder = Path(folder)
        meta = json.loads((folder / "districts.json").read_text())
        frame = gpd.read_parquet(folder / "districts.parquet").set_index("district_id")
        if not len(frame):  # an empty table of an older snapshot: its numbers as numbers
            frame = frame.astype({c: t for c, t in COLUMN_TYPES.items() if c in frame})
        return cls(
            frame=frame,
            cells=np.load(folder / "cells.npy", mmap_mode="r"),
            cell_district=np.load(folder / "cell_district.npy", mmap_mode="r"),
            merchant_district=np.load(folder / "merchant_district.npy", mmap_mode="r"),
            resolution=int(meta["resolution"]),
            info=meta.get("info", {}),
        )


# --------------------------------------------------------------------------- detection
def build_districts(
    merchants: pd.DataFrame | pa.Table,
    params: DistrictParams | None = None,
    *,
    wom: Sequence[float] | NDArray | None = None,
) -> Districts:
    """Detect districts in a merchant table (canonical columns; needs ``lat``, ``lng``,
    ``category``; uses ``status``, ``address``, ``name`` when present).

    ``wom`` is the word-of-mouth score per row (NaN where unknown), e.g. the
    ``reputation`` deriver's ``wom_score``; districts report its mean.
    """
    params = params or DistrictParams()
    frame = merchants.to_pandas() if isinstance(merchants, pa.Table) else merchants
    index = frame.index
    lat = frame["lat"].to_numpy(dtype=np.float64)
    lng = frame["lng"].to_numpy(dtype=np.float64)
    if len(lat) and not (np.isfinite(lat).all() and np.isfinite(lng).all()):
        raise ValueError("lat/lng contain NaN or infinite values; validate the table first")
    wom_arr = None if wom is None else np.asarray(wom, dtype=np.float64)
    if wom_arr is not None and len(wom_arr) != len(frame):
        raise ValueError(f"wom has {len(wom_arr)} values for {len(frame)} merchants")

    eligible = _eligible(frame, params.exclude_categories)
    res = params.resolution
    if res is None:
        res = choose_district_resolution(lat[eligible], lng[eligible]) if eligible.any() else 11
    if params.method == "density":
        res = max(res - 1, 0)
    pt_cells = latlngs_to_cells(lat, lng, res)

    detect = {"tracts": _tracts, "density": _density, "dbscan": _dbscan}[params.method]
    cells, labels, peak = detect(pt_cells[eligible], lat[eligible], lng[eligible], params, res)

    profile = profile_districts(cells, labels, peak, pt_cells, frame, eligible, res, wom=wom_arr)
    info = {"method": params.method, "params": _jsonable(asdict(replace(params, resolution=res)))}
    return Districts(
        frame=profile.frame,
        cells=profile.cells,
        cell_district=profile.cell_district,
        merchant_district=profile.merchant_district,
        resolution=res,
        info=info,
        merchant_index=index,
    )


def _eligible(frame: pd.DataFrame, exclude: Sequence[str]) -> NDArray[np.bool_]:
    ok = np.ones(len(frame), dtype=bool)
    if "category" in frame.columns and exclude:
        cat = frame["category"].fillna("").astype(str)
        for prefix in exclude:
            ok &= ~((cat == prefix) | cat.str.startswith(prefix.rstrip("/") + "/")).to_numpy()
    if "status" in frame.columns:
        ok &= (frame["status"].fillna("unknown").astype(str) != "closed").to_numpy()
    return ok


Detected = tuple[NDArray[np.uint64], NDArray[np.int64], NDArray[np.float64]]
"""``(cells sorted, label per cell (>= 0), peak score per cell)``."""


def _components_with_min(
    grid: CellGrid, pt_cells: NDArray[np.uint64], min_merchants: int
) -> NDArray[np.int64]:
    labels = grid.components()
    pos = grid.positions(pt_cells)
    lab_pt = labels[pos[pos >= 0]]
    counts = np.bincount(lab_pt, minlength=int(labels.max()) + 1 if len(labels) else 0)
    good = counts >= min_merchants
    return np.where((labels >= 0) & good[np.maximum(labels, 0)], labels, -1)


def _tracts(
    pt_cells: NDArray[np.uint64], lat: NDArray, lng: NDArray, params: DistrictParams, res: int
) -> Detected:
    if len(pt_cells) == 0:
        return _empty()
    occupied = np.unique(pt_cells)
    # disk counts only where they are read (occupied and grid cells), in bounded chunks
    dens_occ = disk_counts_at(pt_cells, _SEED_K, occupied)
    dens_pt = dens_occ[np.searchsorted(occupied, pt_cells)]
    threshold = np.quantile(dens_pt, params.seed_quantile)
    seeds = occupied[dens_occ >= threshold]
    del dens_pt
    grid = CellGrid(add_connectors(seeds, params.connector_passes))
    labels = _components_with_min(grid, pt_cells, params.min_merchants)
    where = np.union1d(grid.cells, occupied)
    at = disk_counts_at(pt_cells, _CORE_K, where)
    core = at[np.searchsorted(where, grid.cells)]
    if params.split_quantile is not None:
        core_pt = at[np.searchsorted(where, pt_cells)]
        core_thr = np.quantile(core_pt, params.split_quantile)
        labels = _split(grid, labels, core >= core_thr, pt_cells, params.min_merchants)
    keep = labels >= 0
    return grid.cells[keep], labels[keep], core[keep]


def _density(
    pt_cells: NDArray[np.uint64], lat: NDArray, lng: NDArray, params: DistrictParams, res: int
) -> Detected:
    if len(pt_cells) == 0:
        return _empty()
    dcells, dsum = disk_counts(pt_cells, None, 1)
    dens_pt = dsum[np.searchsorted(dcells, pt_cells)]
    threshold = np.quantile(dens_pt, params.density_quantile)
    grid = CellGrid(dcells[dsum >= threshold])
    labels = _components_with_min(grid, pt_cells, params.min_merchants)
    score = _lookup(dcells, dsum, grid.cells)
    keep = labels >= 0
    return grid.cells[keep], labels[keep], score[keep]


def _dbscan(
    pt_cells: NDArray[np.uint64], lat: NDArray, lng: NDArray, params: DistrictParams, res: int
) -> Detected:
    n = len(pt_cells)
    ms = params.dbscan_min_samples
    if n < ms:
        return _empty()
    xyz = latlng_to_xyz(lat, lng)
    tree = cKDTree(xyz)
    # distance to the ms-th nearest other location (duplicates count: they are merchants)
    dk, _ = tree.query(xyz, k=min(ms + 1, n))
    eps_chord = float(np.sqrt(np.quantile(dk[:, -1] ** 2, params.dbscan_eps_quantile)))
    eps_chord = max(eps_chord, float(np.sqrt(m_to_chord2(1.0))))
    pairs = tree.query_pairs(eps_chord, output_type="ndarray")
    deg = np.bincount(pairs.ravel(), minlength=n) + 1
    core = deg >= ms
    both = core[pairs[:, 0]] & core[pairs[:, 1]]
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    g = coo_matrix((np.ones(int(both.sum())), (pairs[both, 0], pairs[both, 1])), shape=(n, n))
    _, comp = connected_components(g, directed=False)
    label = np.where(core, comp, -1)
    # border points join the cluster of their first core neighbour (lowest point index)
    border = pairs[core[pairs[:, 0]] ^ core[pairs[:, 1]]]
    for a, b in border[np.lexsort((border[:, 1], border[:, 0]))].tolist():
        p, q = (a, b) if core[b] else (b, a)
        if label[p] < 0:
            label[p] = label[q]
    owners: dict[int, tuple[int, int]] = {}
    clusters, sizes = np.unique(label[label >= 0], return_counts=True)
    for cl, size in zip(clusters.tolist(), sizes.tolist(), strict=True):
        if size < params.min_merchants:
            continue
        member_cells = np.unique(pt_cells[label == cl])
        for c in add_connectors(member_cells, params.connector_passes).tolist():
            prev = owners.get(c)
            if prev is None or (size, -cl) > (prev[1], -prev[0]):
                owners[c] = (cl, size)
    if not owners:
        return _empty()
    cells = np.fromiter(owners.keys(), dtype=np.uint64, count=len(owners))
    order = np.argsort(cells)
    cells = cells[order]
    labels = np.asarray([owners[c][0] for c in cells.tolist()], dtype=np.int64)
    dcells, dsum = disk_counts(pt_cells, None, _CORE_K)
    return cells, labels, _lookup(dcells, dsum, cells)


def _split(
    grid: CellGrid,
    labels: NDArray[np.int64],
    core_mask: NDArray[np.bool_],
    pt_cells: NDArray[np.uint64],
    min_merchants: int,
) -> NDArray[np.int64]:
    """Divide districts holding two or more dense cores by growing the cores over them."""
    if not (core_mask & (labels >= 0)).any():
        return labels
    cores = grid.components(core_mask & (labels >= 0))
    pos = grid.positions(pt_cells)
    inside = pos >= 0
    core_pt = cores[pos[inside]]
    counts = np.bincount(core_pt[core_pt >= 0], minlength=int(cores.max()) + 1)
    valid = (cores >= 0) & (counts[np.maximum(cores, 0)] >= min_merchants)
    cores = np.where(valid, cores, -1)
    if not valid.any():
        return labels
    # districts with at least two valid cores
    pairs = np.unique(np.column_stack([labels[valid], cores[valid]]), axis=0)
    dist_ids, n_cores = np.unique(pairs[:, 0], return_counts=True)
    multi = set(dist_ids[n_cores >= 2].tolist())
    if not multi:
        return labels
    in_multi = np.isin(labels, list(multi))
    grow = np.where(in_multi & valid, cores, -1)
    frontier = np.nonzero(grow >= 0)[0]
    while len(frontier):
        nb = grid.neighbours[frontier]
        cand = nb.ravel()
        src = np.repeat(grow[frontier], 6)
        ok = (cand >= 0) & in_multi[np.maximum(cand, 0)] & (grow[np.maximum(cand, 0)] < 0)
        cand, src = cand[ok], src[ok]
        if len(cand) == 0:
            break
        order = np.lexsort((src, cand))
        cand, src = cand[order], src[order]
        first = np.r_[True, cand[1:] != cand[:-1]]
        grow[cand[first]] = src[first]
        frontier = cand[first]
    out = labels.copy()
    offset = int(labels.max()) + 1
    out[in_multi] = offset + grow[in_multi]
    # a multi-core district's cells unreachable from its cores (none: it is connected)
    out[in_multi & (grow < 0)] = -1
    return out


def _lookup(keys: NDArray[np.uint64], values: NDArray, query: NDArray[np.uint64]) -> NDArray:
    if len(keys) == 0:
        return np.zeros(len(query))
    pos = np.minimum(np.searchsorted(keys, query), len(keys) - 1)
    return np.where(keys[pos] == query, values[pos], 0.0)


def _empty() -> Detected:
    return np.empty(0, np.uint64), np.empty(0, np.int64), np.empty(0, np.float64)


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


# --------------------------------------------------------------------------- deriver
_COLUMNS = ("merchant_id", "name", "lat", "lng", "category", "status", "address", "attributes")


def derive_districts(
    merchants: pa.Table, out_dir: Path, settings: Settings, upstream: Mapping[str, Path]
) -> dict[str, Any]:
    """Deriver: detect districts and write them into ``derived/districts/``.

    Reads ``wom_score.npy`` from the ``reputation`` deriver's folder when it ran first: a
    merchant whose ``wom_confidence`` is 0 has no evidence (its score is only the prior) and
    counts as unknown, so a file without ratings, reviews or visits gives districts no word
    of mouth (``mean_wom`` NaN, coverage 0: vitality is then weighed over density and
    diversity), where every district had the prior's 0.5 and a coverage of 1.
    """
    cols = [c for c in _COLUMNS if c in merchants.column_names]
    frame = merchants.select(cols).to_pandas()
    wom = None
    rep = upstream.get("reputation")
    if rep is not None and (Path(rep) / "wom_score.npy").exists():
        wom = np.load(Path(rep) / "wom_score.npy").astype(np.float64)
        sure = Path(rep) / "wom_confidence.npy"
        if sure.exists():
            wom[np.load(sure) <= 0] = np.nan  # only the prior: no word of mouth known
        if len(wom) != len(frame):  # pragma: no cover - derivers share one table
            wom = None
    districts = build_districts(frame, DistrictParams.from_settings(settings), wom=wom)
    districts.to_directory(out_dir)
    return districts.summary()
