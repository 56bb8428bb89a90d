"""Trade areas, distance rings, threshold radii, competitor overlap and Gi* hotspots."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray
from scipy import stats

from ..cells import cell_to_str
from ..cellsets import CellGrid, cell_areas_m2, cells_to_polygon, disk_cells, within_180
from ..distance import EARTH_RADIUS_M, haversine_m
from .huff import share_surface

if TYPE_CHECKING:
    pass


__all__ = ["competitor_overlap", "distance_rings", "gi_star", "threshold_radius", "trade_areas"]


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
    the population, expected captured demand, cell count and area (``area_km2``: the
    cells' exact spherical area, at the poles too) inside."""
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
                "area_km2": float(cell_areas_m2(sel["cell"].to_numpy(dtype=np.uint64)).sum())
                / 1e6,
                "geometry": cells_to_polygon(sel["cell"].to_numpy(dtype=np.uint64)),
            }
        )
    return gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4326").set_index("kind")


def _circle(lat: float, lng: float, radius_m: float, n: int = 96) -> shapely.Polygon:
    """Geodesic circle as a polygon (destination points along ``n`` bearings), cut at the
    antimeridian when it crosses it."""
    phi, lam = math.radians(lat), math.radians(lng)
    delta = radius_m / EARTH_RADIUS_M
    theta = np.linspace(0, 2 * np.pi, n, endpoint=False)
    lat2 = np.arcsin(np.sin(phi) * np.cos(delta) + np.cos(phi) * np.sin(delta) * np.cos(theta))
    lng2 = lam + np.arctan2(
        np.sin(theta) * np.sin(delta) * np.cos(phi), np.cos(delta) - np.sin(phi) * np.sin(lat2)
    )
    return within_180(shapely.Polygon(np.column_stack([np.degrees(lng2), np.degrees(lat2)])))


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
