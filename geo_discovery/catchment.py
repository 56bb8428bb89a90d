"""Catchments: demand on H3 cells, Huff market shares, trade areas, rings and overlap.

Everything takes and returns pandas / GeoPandas objects aligned to its input, so an
analyst can plot and join the results directly:

* :func:`demand_from_points` spreads population points (e.g. census-tract centroids)
  over H3 cells: a GeoDataFrame indexed by cell (hex string);
* :func:`huff_probabilities` — the Huff model. The probability that demand in cell
  ``i`` goes to facility ``j`` (a district or a store) is
  ``P_ij = A_j^α d_ij^-β / Σ_k A_k^α d_ik^-β`` (``A`` attractiveness, ``d`` great-circle
  metres, floored at ``min_distance_m``). Rows sum to 1;
* :func:`calibrate_huff` — maximum-likelihood α and β from observed shares or counts;
* :func:`captured_demand`, :func:`share_surface`, :func:`trade_areas` — expected demand
  per facility, one facility's share surface, its primary (share ≥ 50 %) and secondary
  (20–50 %) trade areas as valid polygons (unions of cells);
* :func:`distance_rings`, :func:`threshold_radius` — rings of given radii with the
  population inside, and the radius that reaches N people;
* :func:`competitor_overlap` — how much two facilities compete (cannibalisation);
* :func:`gi_star` — Getis-Ord Gi* hotspots on H3 cells (closed form; matches
  ``esda.G_Local(star=True)`` with binary weights);
* :func:`district_catchment` — one district's Huff catchment against every other
  district, on demand cells around it (population points, merchants as a demand proxy,
  or a uniform grid): what the API's ``/v1/districts/{id}/catchment`` answers.

Examples
--------
>>> import pandas as pd
>>> demand = pd.DataFrame({"lat": [40.75], "lng": [-73.99]})
>>> stores = pd.DataFrame({"lat": [40.76, 40.77, 40.78], "lng": [-73.99] * 3,
...                        "attractiveness": [100.0, 200.0, 300.0]}, index=["a", "b", "c"])
>>> huff_probabilities(demand, stores, alpha=1, beta=2).round(3).iloc[0].tolist()
[0.545, 0.273, 0.182]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray
from scipy import optimize, stats

from .cells import average_edge_length_m, cell_to_str, latlngs_to_cells
from .cells import grid_disk as h3_grid_disk
from .distance import EARTH_RADIUS_M, haversine_m
from .districts_grid import CellGrid, cells_to_latlng, cells_to_polygon, disk_cells

if TYPE_CHECKING:
    from .districts import Districts

__all__ = [
    "DEMAND_KINDS",
    "DistrictCatchment",
    "HuffFit",
    "calibrate_huff",
    "captured_demand",
    "competitor_overlap",
    "demand_cells",
    "demand_from_points",
    "distance_rings",
    "district_catchment",
    "facilities_from_districts",
    "gi_star",
    "huff_probabilities",
    "read_demand",
    "share_surface",
    "threshold_radius",
    "trade_areas",
]

_LAT_NAMES = ("lat", "latitude", "centroid_lat", "y")
_LNG_NAMES = ("lng", "lon", "longitude", "centroid_lon", "centroid_lng", "x")
_POP_NAMES = ("population", "pop", "demand", "weight")


# --------------------------------------------------------------------------- demand
def read_demand(path: str | Path) -> pd.DataFrame:
    """Population points from a CSV: ``lat``/``lng`` (or ``latitude``, ``centroid_lat``,
    ``lon``…) and ``population`` (or ``pop``, ``demand``). Rows without coordinates or
    with a non-positive population are dropped."""
    raw = pd.read_csv(path)
    cols = {c.lower(): c for c in raw.columns}

    def pick(names: Sequence[str], what: str) -> str:
        for n in names:
            if n in cols:
                return cols[n]
        raise ValueError(f"{path}: no {what} column; allowed names: {', '.join(names)}")

    out = pd.DataFrame(
        {
            "lat": pd.to_numeric(raw[pick(_LAT_NAMES, "latitude")], errors="coerce"),
            "lng": pd.to_numeric(raw[pick(_LNG_NAMES, "longitude")], errors="coerce"),
            "population": pd.to_numeric(raw[pick(_POP_NAMES, "population")], errors="coerce"),
        }
    )
    ok = out["lat"].between(-90, 90) & out["lng"].between(-180, 180) & (out["population"] > 0)
    return out[ok].reset_index(drop=True)


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


def facilities_from_districts(
    districts: Districts, attractiveness: str = "n_merchants"
) -> pd.DataFrame:
    """Districts as Huff facilities: ``lat``/``lng`` (merchant centroid) and
    ``attractiveness`` (default the merchant count), indexed by ``district_id``."""
    f = districts.frame
    return pd.DataFrame(
        {
            "lat": f["centroid_lat"].to_numpy(dtype=np.float64),
            "lng": f["centroid_lng"].to_numpy(dtype=np.float64),
            "attractiveness": f[attractiveness].to_numpy(dtype=np.float64),
            "name": f["name"].to_numpy(dtype=object),
        },
        index=f.index,
    )


# --------------------------------------------------------------------------- Huff
def _distances_m(demand: pd.DataFrame, facilities: pd.DataFrame) -> NDArray[np.float64]:
    return np.asarray(
        haversine_m(
            demand["lat"].to_numpy(dtype=np.float64)[:, None],
            demand["lng"].to_numpy(dtype=np.float64)[:, None],
            facilities["lat"].to_numpy(dtype=np.float64)[None, :],
            facilities["lng"].to_numpy(dtype=np.float64)[None, :],
        )
    )


def _log_inputs(
    demand: pd.DataFrame, facilities: pd.DataFrame, min_distance_m: float | None
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    if len(facilities) == 0:
        raise ValueError("facilities is empty; the Huff model needs at least one")
    attract = facilities["attractiveness"].to_numpy(dtype=np.float64)
    if not (np.isfinite(attract).all() and (attract > 0).all()):
        bad = attract[~(np.isfinite(attract) & (attract > 0))][:3].tolist()
        raise ValueError(f"attractiveness must be finite and > 0, got {bad}")
    d = _distances_m(demand, facilities)
    floor = _default_floor(demand) if min_distance_m is None else float(min_distance_m)
    if not floor > 0:
        raise ValueError(f"min_distance_m={min_distance_m} is out of range; allowed: > 0")
    return np.log(attract), np.log(np.maximum(d, floor))


def _default_floor(demand: pd.DataFrame) -> float:
    """Half the edge of the demand cells, or 50 m for points."""
    if "cell" in demand.columns and len(demand):
        res = (int(demand["cell"].iloc[0]) >> 52) & 0xF
        return average_edge_length_m(res) / 2.0
    return 50.0


def _softmax_rows(logu: NDArray[np.float64]) -> NDArray[np.float64]:
    logu = logu - logu.max(axis=1, keepdims=True)
    u = np.exp(logu)
    return np.asarray(u / u.sum(axis=1, keepdims=True))


def huff_probabilities(
    demand: pd.DataFrame,
    facilities: pd.DataFrame,
    *,
    alpha: float = 1.0,
    beta: float = 2.0,
    min_distance_m: float | None = None,
) -> pd.DataFrame:
    """Huff probabilities, one row per demand location and one column per facility.

    ``demand`` needs ``lat``/``lng`` (e.g. :func:`demand_from_points`); ``facilities``
    ``lat``/``lng``/``attractiveness``. Distances below ``min_distance_m`` (default:
    half a demand cell's edge) are raised to it, so a facility inside a cell does not
    get an infinite pull. Computed in log space; every row sums to 1.
    """
    for name, value in (("alpha", alpha), ("beta", beta)):
        if not (math.isfinite(value) and value >= 0):
            raise ValueError(f"{name}={value} is out of range; allowed: finite and >= 0")
    log_a, log_d = _log_inputs(demand, facilities, min_distance_m)
    p = _softmax_rows(alpha * log_a[None, :] - beta * log_d)
    return pd.DataFrame(p, index=demand.index, columns=facilities.index)


@dataclass(frozen=True)
class HuffFit:
    """Maximum-likelihood Huff parameters with standard errors (inverse Hessian)."""

    alpha: float
    beta: float
    alpha_se: float
    beta_se: float
    log_likelihood: float
    converged: bool
    iterations: int


def calibrate_huff(
    demand: pd.DataFrame,
    facilities: pd.DataFrame,
    observed: pd.DataFrame,
    *,
    weights: Sequence[float] | NDArray | None = None,
    min_distance_m: float | None = None,
    start: tuple[float, float] = (1.0, 2.0),
    bounds: tuple[tuple[float, float], tuple[float, float]] = ((0.0, 10.0), (0.0, 10.0)),
) -> HuffFit:
    """Fit α and β by maximum likelihood from observed choices.

    ``observed`` is aligned to ``huff_probabilities`` (rows = demand, columns =
    facilities) and holds counts of observed trips, or shares (rows summing to 1) that
    ``weights`` (e.g. population) turn into counts. The log-likelihood is the
    multinomial ``Σ_ij O_ij log P_ij(α, β)``; its gradient is analytic.
    """
    obs = observed.reindex(index=demand.index, columns=facilities.index).to_numpy(np.float64)
    if not np.isfinite(obs).all() or (obs < 0).any():
        raise ValueError("observed must be finite and >= 0, aligned to demand and facilities")
    if weights is not None:
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (len(demand),):
            raise ValueError(f"weights has shape {w.shape}; expected ({len(demand)},)")
        obs = obs * w[:, None]
    log_a, log_d = _log_inputs(demand, facilities, min_distance_m)
    row_tot = obs.sum(axis=1)

    def negll(theta: NDArray[np.float64]) -> tuple[float, NDArray[np.float64]]:
        a, b = theta
        logu = a * log_a[None, :] - b * log_d
        m = logu.max(axis=1, keepdims=True)
        lse = m[:, 0] + np.log(np.exp(logu - m).sum(axis=1))
        p = np.exp(logu - lse[:, None])
        ll = float((obs * logu).sum() - (row_tot * lse).sum())
        ea = p @ log_a
        ed = (p * log_d).sum(axis=1)
        g_a = float((obs @ log_a).sum() - (row_tot * ea).sum())
        g_b = float(-(obs * log_d).sum() + (row_tot * ed).sum())
        return -ll, -np.array([g_a, g_b])

    res = optimize.minimize(
        negll, np.asarray(start, dtype=np.float64), jac=True, method="L-BFGS-B", bounds=bounds
    )
    se = _standard_errors(negll, res.x)
    return HuffFit(
        alpha=float(res.x[0]),
        beta=float(res.x[1]),
        alpha_se=se[0],
        beta_se=se[1],
        log_likelihood=float(-res.fun),
        converged=bool(res.success),
        iterations=int(res.nit),
    )


def _standard_errors(negll: Any, theta: NDArray[np.float64]) -> tuple[float, float]:
    h = np.empty((2, 2))
    for i in range(2):
        step = 1e-5 * max(1.0, abs(theta[i]))
        up, down = theta.copy(), theta.copy()
        up[i] += step
        down[i] -= step
        h[:, i] = (negll(up)[1] - negll(down)[1]) / (2 * step)
    try:
        cov = np.linalg.inv((h + h.T) / 2)
        return float(np.sqrt(max(cov[0, 0], 0.0))), float(np.sqrt(max(cov[1, 1], 0.0)))
    except np.linalg.LinAlgError:  # pragma: no cover - flat likelihood
        return math.nan, math.nan


# --------------------------------------------------------------------------- results
def captured_demand(probabilities: pd.DataFrame, population: pd.Series) -> pd.DataFrame:
    """Expected demand per facility: ``Σ_i P_ij · population_i``, with its share."""
    pop = population.reindex(probabilities.index).fillna(0.0).to_numpy(dtype=np.float64)
    captured = pop @ probabilities.to_numpy(dtype=np.float64)
    total = float(pop.sum())
    return pd.DataFrame(
        {"captured": captured, "share": captured / total if total else np.nan},
        index=probabilities.columns,
    )


def share_surface(
    demand: gpd.GeoDataFrame, probabilities: pd.DataFrame, facility: Any
) -> gpd.GeoDataFrame:
    """One facility's market-share surface: the demand cells with ``share`` and
    ``expected`` (share × population), aligned to ``demand``."""
    if facility not in probabilities.columns:
        raise KeyError(f"facility {facility!r} is not a column of the probabilities")
    out = demand.copy()
    out["share"] = probabilities[facility].reindex(demand.index).to_numpy(dtype=np.float64)
    out["expected"] = out["share"] * out["population"]
    return out


def trade_areas(
    demand: gpd.GeoDataFrame,
    probabilities: pd.DataFrame,
    facility: Any,
    *,
    primary: float = 0.5,
    secondary: float = 0.2,
) -> gpd.GeoDataFrame:
    """Primary (share ≥ ``primary``) and secondary (``secondary`` ≤ share < ``primary``)
    trade areas: two rows, each a valid (possibly empty) union of demand cells, with
    the population, expected captured demand and cell count inside."""
    if not 0 < secondary < primary <= 1:
        raise ValueError(
            f"thresholds secondary={secondary}, primary={primary}; allowed: 0 < secondary "
            "< primary <= 1"
        )
    surface = share_surface(demand, probabilities, facility)
    rows = []
    for kind, lo, hi in (("primary", primary, np.inf), ("secondary", secondary, primary)):
        sel = surface[(surface["share"] >= lo) & (surface["share"] < hi)]
        rows.append(
            {
                "facility": facility,
                "kind": kind,
                "min_share": lo,
                "cells": len(sel),
                "population": float(sel["population"].sum()),
                "expected": float(sel["expected"].sum()),
                "geometry": cells_to_polygon(sel["cell"].to_numpy(dtype=np.uint64)),
            }
        )
    return gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4326").set_index("kind")


def _circle(lat: float, lng: float, radius_m: float, n: int = 96) -> shapely.Polygon:
    """Geodesic circle as a polygon (destination points along ``n`` bearings)."""
    phi, lam = math.radians(lat), math.radians(lng)
    delta = radius_m / EARTH_RADIUS_M
    theta = np.linspace(0, 2 * np.pi, n, endpoint=False)
    lat2 = np.arcsin(np.sin(phi) * np.cos(delta) + np.cos(phi) * np.sin(delta) * np.cos(theta))
    lng2 = lam + np.arctan2(
        np.sin(theta) * np.sin(delta) * np.cos(phi), np.cos(delta) - np.sin(phi) * np.sin(lat2)
    )
    return shapely.Polygon(np.column_stack([np.degrees(lng2), np.degrees(lat2)]))


def distance_rings(
    lat: float, lng: float, radii_m: Sequence[float], demand: pd.DataFrame | None = None
) -> gpd.GeoDataFrame:
    """Concentric rings (annuli) around a point; with ``demand``, the population whose
    cell centre falls in each ring and cumulatively."""
    radii = sorted(float(r) for r in radii_m)
    if not radii or radii[0] <= 0:
        raise ValueError(f"radii_m={list(radii_m)} must be positive")
    rows = []
    inner = 0.0
    dist = None
    if demand is not None:
        dist = haversine_m(lat, lng, demand["lat"].to_numpy(), demand["lng"].to_numpy())
        pop = demand["population"].to_numpy(dtype=np.float64)
    for r in radii:
        ring = _circle(lat, lng, r)
        geom = ring if inner == 0 else ring.difference(_circle(lat, lng, inner))
        row: dict[str, Any] = {"inner_m": inner, "radius_m": r, "geometry": geom}
        if dist is not None:
            row["population"] = float(pop[(dist >= inner) & (dist < r)].sum())
            row["cumulative_population"] = float(pop[dist < r].sum())
        rows.append(row)
        inner = r
    return gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4326")


def threshold_radius(
    lat: float, lng: float, demand: pd.DataFrame, population: float
) -> tuple[float, shapely.Polygon]:
    """The smallest radius whose demand cells (by centre) hold ``population`` people,
    and that ring; ``(inf, empty)`` when all the demand together holds fewer."""
    if not population > 0:
        raise ValueError(f"population={population} is out of range; allowed: > 0")
    dist = haversine_m(lat, lng, demand["lat"].to_numpy(), demand["lng"].to_numpy())
    order = np.argsort(dist, kind="stable")
    cum = np.cumsum(demand["population"].to_numpy(dtype=np.float64)[order])
    k = int(np.searchsorted(cum, population))
    if k >= len(cum):
        return math.inf, shapely.Polygon()
    radius = float(dist[order][k])
    return radius, _circle(lat, lng, max(radius, 1.0))


def competitor_overlap(
    probabilities: pd.DataFrame,
    population: pd.Series,
    a: Any,
    b: Any,
    *,
    secondary: float = 0.2,
) -> dict[str, float]:
    """How much facilities ``a`` and ``b`` compete for the same demand.

    * ``contested`` — ``Σ_i pop_i · min(P_ia, P_ib)``: demand both pull on;
    * ``b_takes_from_a`` — the demand ``a`` would gain if ``b`` closed (in the Huff
      model, ``P_ia`` becomes ``P_ia / (1 − P_ib)``), and its share of ``a``'s demand
      without ``b`` (the cannibalisation rate); likewise ``a_takes_from_b``;
    * ``trade_area_jaccard`` — overlap of the cells where each has share ≥ ``secondary``.
    """
    for f in (a, b):
        if f not in probabilities.columns:
            raise KeyError(f"facility {f!r} is not a column of the probabilities")
    if a == b:
        raise ValueError("a and b must be different facilities")
    pop = population.reindex(probabilities.index).fillna(0.0).to_numpy(dtype=np.float64)
    pa_ = probabilities[a].to_numpy(dtype=np.float64)
    pb = probabilities[b].to_numpy(dtype=np.float64)

    def gain(p_self: NDArray, p_other: NDArray) -> tuple[float, float]:
        with np.errstate(divide="ignore", invalid="ignore"):
            without = np.where(p_other < 1, p_self / (1 - p_other), 0.0)
        before, after = float(pop @ p_self), float(pop @ without)
        return after - before, (after - before) / after if after else 0.0

    b_from_a, rate_a = gain(pa_, pb)
    a_from_b, rate_b = gain(pb, pa_)
    in_a, in_b = pa_ >= secondary, pb >= secondary
    union = int((in_a | in_b).sum())
    return {
        "captured_a": float(pop @ pa_),
        "captured_b": float(pop @ pb),
        "contested": float(pop @ np.minimum(pa_, pb)),
        "b_takes_from_a": b_from_a,
        "cannibalisation_a": rate_a,
        "a_takes_from_b": a_from_b,
        "cannibalisation_b": rate_b,
        "trade_area_jaccard": float((in_a & in_b).sum() / union) if union else 0.0,
    }


def gi_star(
    cells: Sequence[int] | NDArray, values: Sequence[float] | NDArray, *, k: int = 1
) -> pd.DataFrame:
    """Getis-Ord Gi* on H3 cells with binary weights over each cell's ``k``-disk
    (itself included), among the given cells only.

    Returns ``z``, two-sided ``p`` (normal approximation) and ``hotspot`` (``hot`` /
    ``cold`` at p < 0.05, else ``""``), one row per input cell, in input order.
    """
    arr = np.asarray(cells, dtype=np.uint64)
    x = np.asarray(values, dtype=np.float64)
    if arr.shape != x.shape:
        raise ValueError("cells and values must have the same length")
    n = len(arr)
    if n < 3:
        raise ValueError(f"Gi* needs at least 3 cells, got {n}")
    grid = CellGrid(arr)
    if len(grid) != n:
        raise ValueError("cells must be unique")
    pos = grid.positions(arr)
    xs = np.empty(n)
    xs[pos] = x
    nbr = _disk_neighbours(grid, k)
    lag = np.array([xs[row].sum() for row in nbr])
    wsum = np.array([len(row) for row in nbr], dtype=np.float64)
    mean = xs.mean()
    s = math.sqrt(max((xs**2).mean() - mean**2, 0.0))
    denom = s * np.sqrt((n * wsum - wsum**2) / (n - 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(denom > 0, (lag - mean * wsum) / denom, 0.0)
    p = 2 * stats.norm.sf(np.abs(z))
    label = np.where(p < 0.05, np.where(z > 0, "hot", "cold"), "")
    out = pd.DataFrame({"z": z[pos], "p": p[pos], "hotspot": label[pos]})
    out.index = pd.Index([cell_to_str(int(c)) for c in arr.tolist()], name="cell_id")
    return out


def _disk_neighbours(grid: CellGrid, k: int) -> list[NDArray[np.int64]]:
    if k == 1:
        return [np.r_[i, row[row >= 0]] for i, row in enumerate(grid.neighbours)]
    out = []
    for c in grid.cells.tolist():
        p = grid.positions(disk_cells([c], k))
        out.append(p[p >= 0])
    return out


# ------------------------------------------------------------------ one district
DEMAND_KINDS = ("population", "merchants", "uniform")
"""Demand behind :func:`district_catchment`: population points (e.g. census tracts),
merchants (each one unit: where commerce already is, a proxy for footfall), or a uniform
grid (each cell one unit: pure geography)."""


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
    """Every cell of ``resolution`` whose centre lies within ``radius_m``, one unit each."""
    k = uniform_disk_k(radius_m, resolution)
    cells = np.sort(
        h3_grid_disk(latlngs_to_cells(np.array([lat]), np.array([lng]), resolution)[0], k)
    )
    clat, clng = cells_to_latlng(cells)
    keep = haversine_m(lat, lng, clat, clng) <= radius_m
    return pd.DataFrame(
        {"cell": cells[keep], "lat": clat[keep], "lng": clng[keep], "population": 1.0}
    )


def uniform_disk_k(radius_m: float, resolution: int) -> int:
    """Grid distance whose disk covers ``radius_m`` (cell centres are about
    ``√3 · edge`` apart; the margin covers their spread): a disk has ``3k(k+1)+1`` cells."""
    return math.ceil(radius_m / (math.sqrt(3) * average_edge_length_m(resolution) * 0.8)) + 1


@dataclass(frozen=True)
class DistrictCatchment:
    """One district's Huff catchment (see :func:`district_catchment`).

    ``cells`` (one row per demand cell in the study area, indexed by hex id): ``cell``,
    ``lat``/``lng``, ``population`` (demand units), ``share`` (Huff probability that the
    cell's demand goes to this district), ``expected`` (share × population) and
    ``in_district`` (the cell's centre lies in one of the district's own cells).
    ``trade_areas``: primary and secondary rows as from :func:`trade_areas`.
    ``competitors``: the other districts capturing most of the area's demand.
    """

    district_id: str
    cells: pd.DataFrame
    trade_areas: gpd.GeoDataFrame
    demand_total: float
    captured: float
    competitors: pd.DataFrame
    facilities: int

    @property
    def share(self) -> float:
        """Share of the study area's demand this district captures (NaN when none)."""
        return self.captured / self.demand_total if self.demand_total > 0 else math.nan


def district_catchment(
    districts: Districts,
    district_id: str,
    demand: pd.DataFrame,
    *,
    radius_m: float = 5_000.0,
    alpha: float = 1.0,
    beta: float = 2.0,
    primary: float = 0.5,
    secondary: float = 0.2,
    attractiveness: str = "n_merchants",
    competitors: int = 5,
) -> DistrictCatchment:
    """Huff catchment of ``district_id`` against every district, on the demand cells
    (:func:`demand_cells` / :func:`uniform_demand`) whose centres lie within ``radius_m``
    of the district's centroid.

    Examples
    --------
    >>> out = district_catchment(districts, "d892a100d67bffff", cells)  # doctest: +SKIP
    >>> out.trade_areas.loc["primary", "population"]  # doctest: +SKIP
    """
    row = districts.get(district_id)
    if not (math.isfinite(radius_m) and radius_m > 0):
        raise ValueError(f"radius_m={radius_m} is out of range; allowed: > 0")
    if not 0 < secondary < primary <= 1:
        raise ValueError(
            f"secondary={secondary:g}, primary={primary:g}: allowed 0 < secondary < primary <= 1"
        )
    clat, clng = float(row["centroid_lat"]), float(row["centroid_lng"])
    if len(demand):
        d = haversine_m(clat, clng, demand["lat"].to_numpy(), demand["lng"].to_numpy())
        area = demand[(d <= radius_m) & (demand["population"].to_numpy() > 0)]
    else:
        area = demand
    area = area.reset_index(drop=True)
    area.index = pd.Index([cell_to_str(c) for c in area["cell"].tolist()], name="cell_id")
    facilities = facilities_from_districts(districts, attractiveness)
    facilities = facilities[facilities["attractiveness"] > 0]
    pop = area["population"].astype(np.float64)
    if len(area):
        probs = huff_probabilities(area, facilities, alpha=alpha, beta=beta)
        share = probs[district_id].to_numpy(dtype=np.float64)
        captured = captured_demand(probs, pop)
    else:
        probs = pd.DataFrame(index=area.index, columns=facilities.index, dtype=np.float64)
        share = np.empty(0, np.float64)
        captured = pd.DataFrame(
            {"captured": 0.0, "share": np.nan}, index=facilities.index, dtype=np.float64
        )
    own = districts.cells_of(district_id)
    centre_cells = latlngs_to_cells(
        area["lat"].to_numpy(np.float64), area["lng"].to_numpy(np.float64), districts.resolution
    )
    out = area.assign(
        share=share,
        expected=share * pop.to_numpy(),
        in_district=np.isin(centre_cells, own),
    )
    areas = trade_areas(out[["cell", "population"]], probs, district_id, primary=primary,
                        secondary=secondary)  # fmt: skip
    others = captured.drop(index=district_id).sort_values("captured", ascending=False)
    top = others.head(competitors)
    rivals = pd.DataFrame(
        {
            "name": facilities["name"].reindex(top.index).to_numpy(dtype=object),
            "captured": top["captured"].to_numpy(dtype=np.float64),
            "share": top["share"].to_numpy(dtype=np.float64),
        },
        index=top.index,
    )
    total = float(pop.sum())
    return DistrictCatchment(
        district_id=district_id,
        cells=out,
        trade_areas=areas,
        demand_total=total,
        captured=float(captured["captured"].to_numpy()[captured.index.get_loc(district_id)])
        if len(area)
        else 0.0,
        competitors=rivals,
        facilities=len(facilities),
    )
