"""Demand on H3 cells: population points spread over cells, merchants as a proxy, or uniform."""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
from numpy.typing import NDArray

from ..cells import average_edge_length_m, cell_caps, cell_to_str, latlngs_to_cells
from ..cells import grid_disk as h3_grid_disk
from ..cells import grid_ring as h3_grid_ring
from ..cellsets import cells_to_latlng, cells_to_polygon, disk_cells
from ..distance import haversine_m
from ..errors import DemandUnavailableError, InvalidQueryError

if TYPE_CHECKING:
    pass


__all__ = ["DEMAND_KINDS", "DemandSources", "demand_cells", "demand_from_points", "read_demand"]


_LAT_NAMES = ("lat", "latitude", "centroid_lat", "y")


_LNG_NAMES = ("lng", "lon", "longitude", "centroid_lon", "centroid_lng", "x")


_POP_NAMES = ("population", "pop", "demand", "weight")


# --------------------------------------------------------------------------- demand
def read_demand(path: str | Path) -> pd.DataFrame:
    """Population points from a CSV: ``lat``/``lng`` (or ``latitude``, ``centroid_lat``,
    ``lon``…) and ``population`` (or ``pop``, ``demand``). Rows with no population (blank,
    0 or less) are left out; a row with people but no place on the map (coordinates
    missing or out of range: swapped, or projected) is a :class:`ValueError` naming it."""
    name = Path(path).name
    raw = pd.read_csv(path)
    cols = {c.lower(): c for c in raw.columns}

    def pick(names: Sequence[str], what: str) -> str:
        for n in names:
            if n in cols:
                return cols[n]
        raise ValueError(f"{name}: no {what} column; allowed names: {', '.join(names)}")

    out = pd.DataFrame(
        {
            "lat": pd.to_numeric(raw[pick(_LAT_NAMES, "latitude")], errors="coerce"),
            "lng": pd.to_numeric(raw[pick(_LNG_NAMES, "longitude")], errors="coerce"),
            "population": pd.to_numeric(raw[pick(_POP_NAMES, "population")], errors="coerce"),
        }
    )
    people = (out["population"] > 0).to_numpy()
    placed = (out["lat"].between(-90, 90) & out["lng"].between(-180, 180)).to_numpy()
    lost = np.flatnonzero(people & ~placed)
    if len(lost):
        first = out.iloc[int(lost[0])]
        raise ValueError(
            f"{name}: {len(lost):,} of {int(people.sum()):,} rows with population have no "
            f"valid coordinates (first: line {int(lost[0]) + 2}, lat={first['lat']}, "
            f"lng={first['lng']}); allowed: -90 <= lat <= 90 and -180 <= lng <= 180, WGS84 "
            "degrees (lat and lng swapped, or projected metres?)"
        )
    return out[people].reset_index(drop=True)


def demand_from_points(
    lat: Sequence[float] | NDArray,
    lng: Sequence[float] | NDArray,
    population: Sequence[float] | NDArray,
    *,
    resolution: int = 9,
    spread_k: int = 1,
) -> gpd.GeoDataFrame:
    """Spread population points over H3 cells: each point's population is shared evenly
    by the cells within grid distance ``spread_k`` of its cell (0: its cell only).

    Returns a GeoDataFrame indexed by the cell's hex id, with ``cell`` (``uint64``),
    ``lat``/``lng`` (cell centre), ``population`` and the cell's hexagon. The total
    population is preserved exactly.
    """
    lat = np.asarray(lat, dtype=np.float64)
    lng = np.asarray(lng, dtype=np.float64)
    pop = np.asarray(population, dtype=np.float64)
    if not (len(lat) == len(lng) == len(pop)):
        raise ValueError("lat, lng and population must have the same length")
    if spread_k < 0:
        raise ValueError(f"spread_k={spread_k} is out of range; allowed: >= 0")
    if len(pop) and (not np.isfinite(pop).all() or (pop < 0).any()):
        raise ValueError("population must be finite and >= 0")
    origin = latlngs_to_cells(lat, lng, resolution)
    uniq, inv = np.unique(origin, return_inverse=True)
    per_origin = np.bincount(inv, weights=pop, minlength=len(uniq))
    parts, weights = [], []
    for cell, total in zip(uniq.tolist(), per_origin.tolist(), strict=True):
        disk = disk_cells([cell], spread_k)
        parts.append(disk)
        weights.append(np.full(len(disk), total / len(disk)))
    if parts:
        flat = np.concatenate(parts)
        cells, where = np.unique(flat, return_inverse=True)
        value = np.bincount(where, weights=np.concatenate(weights), minlength=len(cells)).astype(
            np.float64
        )
    else:
        cells, value = np.empty(0, np.uint64), np.empty(0, np.float64)
    clat, clng = cells_to_latlng(cells)
    geoms = [cells_to_polygon([c]) for c in cells.tolist()]
    frame = gpd.GeoDataFrame(
        {"cell": cells, "lat": clat, "lng": clng, "population": value},
        geometry=geoms,
        crs="EPSG:4326",
        index=pd.Index([cell_to_str(c) for c in cells.tolist()], name="cell_id"),
    )
    return frame


# ------------------------------------------------------------------ one district
DEMAND_KINDS = ("population", "merchants", "uniform")


def demand_cells(
    lat: Sequence[float] | NDArray,
    lng: Sequence[float] | NDArray,
    weight: Sequence[float] | NDArray,
    *,
    resolution: int = 9,
    spread_k: int = 0,
) -> pd.DataFrame:
    """:func:`demand_from_points` without the hexagons (fast, for thousands of cells):
    ``cell`` (``uint64``), ``lat``/``lng`` (cell centre) and ``population``, one row per
    cell, sorted by cell. The total is preserved exactly."""
    lat = np.asarray(lat, dtype=np.float64)
    lng = np.asarray(lng, dtype=np.float64)
    pop = np.asarray(weight, dtype=np.float64)
    if not (len(lat) == len(lng) == len(pop)):
        raise ValueError("lat, lng and weight must have the same length")
    if spread_k < 0:
        raise ValueError(f"spread_k={spread_k} is out of range; allowed: >= 0")
    cells: NDArray[np.uint64] = np.empty(0, np.uint64)
    value: NDArray[np.float64] = np.empty(0, np.float64)
    if len(pop):
        origin = latlngs_to_cells(lat, lng, resolution)
        uniq, inv = np.unique(origin, return_inverse=True)
        per_origin = np.bincount(inv, weights=pop, minlength=len(uniq))
        if spread_k == 0:
            cells, value = uniq, np.asarray(per_origin, dtype=np.float64)
        else:
            parts = [disk_cells([c], spread_k) for c in uniq.tolist()]
            shares = [np.full(len(d), t / len(d)) for d, t in zip(parts, per_origin, strict=True)]
            cells, where = np.unique(np.concatenate(parts), return_inverse=True)
            value = np.asarray(
                np.bincount(where, weights=np.concatenate(shares), minlength=len(cells)),
                dtype=np.float64,
            )
    clat, clng = cells_to_latlng(cells)
    return pd.DataFrame(
        {"cell": cells, "lat": clat, "lng": clng, "population": value.astype(np.float64)}
    )


def uniform_demand(lat: float, lng: float, radius_m: float, resolution: int) -> pd.DataFrame:
    """Every cell of ``resolution`` whose centre lies within ``radius_m``, one unit each.

    The disk grows until a whole ring of cells lies beyond the radius (each cell's nearest
    point, by its bounding cap): a centre within the radius is reached from the point's
    cell through that ring, so none is missed where cells are smaller than average."""
    origin = latlngs_to_cells(np.array([lat]), np.array([lng]), resolution)[0]
    k = uniform_disk_k(radius_m, resolution)
    while True:
        ring = h3_grid_ring(int(origin), k)
        _, reach = cell_caps(ring)
        rlat, rlng = cells_to_latlng(ring)
        if not len(ring) or (haversine_m(lat, lng, rlat, rlng) - reach).min() > radius_m:
            break
        k += max(1, k // 8)
    cells = np.sort(h3_grid_disk(origin, k))
    clat, clng = cells_to_latlng(cells)
    keep = haversine_m(lat, lng, clat, clng) <= radius_m
    return pd.DataFrame(
        {"cell": cells[keep], "lat": clat[keep], "lng": clng[keep], "population": 1.0}
    )


def uniform_disk_k(radius_m: float, resolution: int) -> int:
    """A first grid distance for a disk covering ``radius_m`` (cell centres are about
    ``√3 · edge`` apart; the margin covers their spread): a disk has ``3k(k+1)+1`` cells.
    :func:`uniform_demand` grows it where cells are smaller."""
    return math.ceil(radius_m / (math.sqrt(3) * average_edge_length_m(resolution) * 0.8)) + 1


class DemandSources:
    """The demand a snapshot's catchments weigh, by kind, built once per resolution.

    ``lat``/``lng``: the merchants (``merchants`` demand); ``path``: the
    ``catchment_demand_path`` setting (``population`` demand); ``max_cells``: the most
    cells a ``uniform`` disk may hold. Thread-safe.
    """

    def __init__(
        self, lat: NDArray[np.float64], lng: NDArray[np.float64], path: Any, max_cells: int
    ) -> None:
        self.lat, self.lng, self.path, self.max_cells = lat, lng, path, max_cells
        self._lock = threading.Lock()
        self._frames: dict[tuple[Any, ...], pd.DataFrame] = {}

    def get(
        self, kind: str, radius_m: float, res: int, centre: tuple[float, float]
    ) -> tuple[pd.DataFrame, dict[str, Any]]:
        """``(cells, source)``: the demand cells of ``kind`` (``auto`` resolved) at
        resolution ``res`` around ``centre``, and a description of where they came from."""
        path = self.path
        if kind == "auto":
            kind = "population" if path is not None else "merchants"
        if kind == "population":
            if path is None:
                raise InvalidQueryError(
                    "demand=population needs the catchment_demand_path setting (a CSV of "
                    "population points), which is not set; allowed: auto, merchants, uniform"
                )
            try:
                st = Path(path).stat()
                key: tuple[Any, ...] = ("population", str(path), st.st_mtime_ns, st.st_size, res)
                frame = self._cached(key, lambda: _population_cells(path, res))
            except (OSError, ValueError, KeyError) as exc:
                why = exc.strerror if isinstance(exc, OSError) else str(exc)  # never the path
                raise DemandUnavailableError(
                    f"the demand file {Path(path).name} (--demand, or the catchment_demand_path "
                    f"setting) cannot be read: {type(exc).__name__}: {why}"
                ) from None
            return frame, {
                "kind": "population",
                "description": f"population points from {Path(path).name}, each spread over "
                "its H3 cell and the cells around it",
            }
        if kind == "merchants":
            lat, lng = self.lat, self.lng
            frame = self._cached(
                ("merchants", res),
                lambda: demand_cells(lat, lng, np.ones(len(lat)), resolution=res),
            )
            return frame, {
                "kind": "merchants",
                "description": "no population source is configured (catchment_demand_path): "
                "each merchant of the snapshot counts as one unit of demand, a proxy for footfall",
            }
        k = uniform_disk_k(radius_m, res)
        cap = self.max_cells
        if 3 * k * (k + 1) + 1 > cap:
            raise InvalidQueryError(
                f"radius_m={radius_m:g} at resolution={res} needs about "
                f"{3 * k * (k + 1) + 1} cells; allowed: at most {cap} (api_max_catchment_cells "
                "setting): use a coarser resolution or a smaller radius_m"
            )
        return uniform_demand(centre[0], centre[1], radius_m, res), {
            "kind": "uniform",
            "description": "every H3 cell within radius_m of the district counts as one unit "
            "of demand (geography only)",
        }

    def _cached(self, key: tuple[Any, ...], build: Any) -> pd.DataFrame:
        with self._lock:
            got = self._frames.get(key)
        if got is None:
            got = build()
            with self._lock:
                self._frames[key] = got
        return got


def _population_cells(path: Any, resolution: int) -> pd.DataFrame:
    points = read_demand(path)
    return demand_cells(
        points["lat"].to_numpy(),
        points["lng"].to_numpy(),
        points["population"].to_numpy(),
        resolution=resolution,
        spread_k=1,
    )
