"""Regions ("cities") of a merchant table, and one district table made from theirs.

District detection reads the merchants' own distribution: the H3 resolution from their
median spacing, the seed and split thresholds from quantiles of their density. Over a
snapshot holding several cities, one distribution mixes them, and the sparse towns set
the scale of the big city (New York State's food stores put New York City's districts at
resolution 10, ten times the area they have when the city is loaded alone). So
:func:`~geo_discovery.districts.detect.build_districts` detects per region, and
:func:`combine_regions` joins the regions' districts into one table at one resolution.

Regions (:func:`merchant_regions`)
    Connected groups of the resolution-7 cells (:data:`REGION_RESOLUTION`, about 5 km²,
    1.4 km edges) holding eligible merchants, neighbours being adjacent cells. A city
    with its suburbs is a continuous spread of shops, so it stays one region; towns a
    few kilometres of empty land apart are separate. Resolution 7 is the finest where New
    York City's five boroughs are one region (at 8 Staten Island, across the Narrows,
    falls apart from Brooklyn) and the coarsest where upstate cities (Albany, Buffalo,
    Rochester, Syracuse) are not chained into one region along the roads between them
    (at 6, shops along the highways join New York City to the Adirondacks). A row that
    is not detected (lodging, closed) joins the region of its cell, or of an adjacent
    one; further away it is in no region (no district reaches it).

Joining (:func:`combine_regions`)
    Each region's districts keep what their detection gave them (id, name, statistics,
    polygon, tier and vitality among the region's districts, membership of its rows):
    exactly the districts of the region loaded alone. Their cells are expressed at the
    finest resolution any region used (the children of coarser cells), so one sorted
    cell array answers "which district is here"; a merchant's own cell at that
    resolution is given its district (or none), so the lookup at a merchant agrees with
    its row even where a child cell pokes out of its parent. Ids are unique across
    regions (a rare clash gets ``-2``, ``-3``… as clashes within a region do), and so are
    names (a second "Broadway" elsewhere gets `` (2)``, the larger district keeping it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from numpy.typing import NDArray

from ..cells import cells_to_children, grid_disks, latlngs_to_cells
from ..cellsets import CellGrid
from .profile import Profile, profile_districts

__all__ = [
    "REGION_RESOLUTION",
    "Combined",
    "RegionPart",
    "combine_regions",
    "detect_by_region",
    "merchant_regions",
    "regions_info",
]

REGION_RESOLUTION = 7


def merchant_regions(
    lat: NDArray[np.float64], lng: NDArray[np.float64], eligible: NDArray[np.bool_]
) -> NDArray[np.int64]:
    """Region of each row (``-1``: none), numbered by each region's smallest cell, so the
    numbers do not depend on the order of the rows.

    Examples
    --------
    >>> lat = np.array([40.70, 40.701, 40.702, 42.65, 42.651, 40.7005])
    >>> lng = np.array([-74.0, -74.0, -74.0, -73.75, -73.75, -74.0])
    >>> merchant_regions(lat, lng, np.array([1, 1, 1, 1, 1, 0], bool)).tolist()
    [0, 0, 0, 1, 1, 0]
    """
    n = len(lat)
    out = np.full(n, -1, dtype=np.int64)
    if n == 0 or not eligible.any():
        return out
    cells = latlngs_to_cells(lat, lng, REGION_RESOLUTION)
    grid = CellGrid(np.unique(cells[eligible]))
    labels = grid.components()
    pos = grid.positions(cells)
    out[pos >= 0] = labels[pos[pos >= 0]]
    rest = np.flatnonzero(pos < 0)  # rows left out of detection, in no occupied cell
    if len(rest):
        uniq, inv = np.unique(cells[rest], return_inverse=True)
        flat, sizes = grid_disks(uniq, 1)
        near = grid.positions(flat)
        lab = np.where(near >= 0, labels[np.maximum(near, 0)], np.iinfo(np.int64).max)
        owner = np.minimum.reduceat(lab, np.r_[0, np.cumsum(sizes)[:-1]])
        owner = np.where(owner == np.iinfo(np.int64).max, -1, owner)
        out[rest] = owner[inv]
    return out


@dataclass
class RegionPart:
    """One region's detection: its ``rows`` (positions in the whole table, ascending),
    the :class:`~geo_discovery.districts.profile.Profile` of those rows at ``resolution``."""

    rows: NDArray[np.int64]
    profile: Profile
    resolution: int


def detect_by_region(
    lat: NDArray[np.float64],
    lng: NDArray[np.float64],
    eligible: NDArray[np.bool_],
    min_merchants: int,
    detect: Callable[[NDArray[np.int64]], tuple[Profile, int]],
) -> list[RegionPart]:
    """``detect`` (rows of the table -> their profile and resolution) run on each region
    (:func:`merchant_regions`) holding at least ``min_merchants`` eligible rows."""
    region = merchant_regions(lat, lng, eligible)
    order = np.argsort(region, kind="stable")
    bounds = np.searchsorted(region[order], np.arange(int(region.max(initial=-1)) + 2))
    parts = []
    for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        rows = order[lo:hi]  # ascending (a stable sort)
        if np.count_nonzero(eligible[rows]) >= min_merchants:
            profile, res = detect(rows)
            parts.append(RegionPart(rows, profile, res))
    return parts


def regions_info(parts: Sequence[RegionPart]) -> dict[str, Any]:
    """How many regions were detected in, and how many of them at each resolution."""
    res, count = np.unique([p.resolution for p in parts], return_counts=True)
    per_res = {str(r): int(c) for r, c in zip(res.tolist(), count.tolist(), strict=True)}
    return {"detected": len(parts), "resolutions": per_res}


@dataclass
class Combined:
    frame: gpd.GeoDataFrame
    cells: NDArray[np.uint64]
    cell_district: NDArray[np.int32]
    merchant_district: NDArray[np.int32]
    resolution: int


def combine_regions(
    parts: Sequence[RegionPart],
    lat: NDArray[np.float64],
    lng: NDArray[np.float64],
    columns: pd.DataFrame,
    default_resolution: int,
) -> Combined:
    """One district table of the regions' (module docstring). ``lat``/``lng`` are the
    whole table's; ``columns`` an empty slice of it (for the columns of an empty
    district table) and ``default_resolution`` the resolution when no region was detected in
    (else the largest region's, when none has a district)."""
    n_rows = len(lat)
    if parts:  # with no district anywhere: the resolution of the largest region
        largest = max(parts, key=lambda p: (len(p.rows), -int(p.rows[0])))
        default_resolution = largest.resolution
    parts = [p for p in parts if len(p.profile.frame)]
    if not parts:
        empty = profile_districts(np.empty(0, np.uint64), np.empty(0, np.int64), np.empty(0),
                                  np.empty(0, np.uint64), columns, np.empty(0, bool),
                                  default_resolution)  # fmt: skip
        return Combined(empty.frame, empty.cells, empty.cell_district,
                        np.full(n_rows, -1, dtype=np.int32), default_resolution)  # fmt: skip
    if len(parts) == 1 and len(parts[0].rows) == n_rows:  # one region: as detected
        p = parts[0].profile
        return Combined(p.frame, p.cells, p.cell_district, p.merchant_district,
                        parts[0].resolution)  # fmt: skip
    res = max(p.resolution for p in parts)
    frames = [p.profile.frame for p in parts]
    ids = _unique_ids([str(i) for f in frames for i in f.index])
    frame = pd.concat([f.reset_index(drop=True) for f in frames], ignore_index=True)
    frame.insert(0, "district_id", ids)
    # largest first, then id (as within a region)
    rank = np.lexsort((np.asarray(ids, dtype=object).astype(str),
                       -frame["n_merchants"].to_numpy()))  # fmt: skip
    new_of = np.empty(len(frame), dtype=np.int32)
    new_of[rank] = np.arange(len(frame), dtype=np.int32)
    frame = gpd.GeoDataFrame(frame.iloc[rank], geometry="geometry", crs=frames[0].crs)
    frame = frame.set_index("district_id")
    frame["name"] = _unique_names(frame["name"].tolist())

    merchant = np.full(n_rows, -1, dtype=np.int32)
    cells_parts, label_parts, prio_parts = [], [], []
    offset = 0
    for k, part in enumerate(parts):
        p = part.profile
        glob = new_of[offset + np.arange(len(p.frame))]
        md = np.asarray(p.merchant_district)
        merchant[part.rows] = np.where(md >= 0, glob[np.maximum(md, 0)], -1)
        cells, labels = np.asarray(p.cells), glob[np.asarray(p.cell_district)]
        if part.resolution < res:
            kids, parent = cells_to_children(cells, res)
            cells, labels = kids, labels[parent]
            # each merchant's own cell gets the district of its row (or none)
            own = latlngs_to_cells(lat[part.rows], lng[part.rows], res)
            cells, labels = _with_merchant_cells(cells, labels, own, merchant[part.rows])
        cells_parts.append(cells)
        label_parts.append(labels)
        prio_parts.append(np.full(len(cells), (res - part.resolution) * len(parts) + k))
        offset += len(p.frame)
    cells = np.concatenate(cells_parts)
    labels = np.concatenate(label_parts).astype(np.int32)
    prio = np.concatenate(prio_parts)
    # a cell claimed by two regions (far apart, so none in practice): the finer one's
    order = np.lexsort((prio, cells))
    cells, labels = cells[order], labels[order]
    first = np.r_[True, cells[1:] != cells[:-1]] if len(cells) else np.empty(0, bool)
    return Combined(frame, cells[first], labels[first], merchant, res)


def _with_merchant_cells(
    cells: NDArray[np.uint64], labels: NDArray, own: NDArray[np.uint64], district: NDArray
) -> tuple[NDArray[np.uint64], NDArray]:
    """``cells`` (with their district ``labels``) where each cell of ``own`` (the rows'
    cells) takes the district of its rows: the most of them, ties to the lower row of the
    table; a cell whose rows are in no district is dropped."""
    uniq, inv = np.unique(own, return_inverse=True)
    key = np.where(district >= 0, district, -1).astype(np.int64)
    pairs, counts = np.unique(np.column_stack([inv, key]), axis=0, return_counts=True)
    order = np.lexsort((pairs[:, 1], -counts, pairs[:, 0]))
    pairs = pairs[order]
    first = np.r_[True, pairs[1:, 0] != pairs[:-1, 0]]
    want = pairs[first, 1]  # per unique own cell, its district (-1: none)
    keep = ~np.isin(cells, uniq)
    add = want >= 0
    cells = np.concatenate([cells[keep], uniq[add]])
    labels = np.concatenate([labels[keep], want[add].astype(labels.dtype)])
    return cells, labels


def _unique_names(names: list[str]) -> list[str]:
    """``names`` (largest district first) with a repeat (of another region's) made unique
    by `` (2)``, `` (3)``… as repeats within a region are: the largest keeps the name."""
    taken = set(names)
    seen: set[str] = set()
    out = []
    for name in names:
        if name in seen:
            k = 2
            while f"{name} ({k})" in taken:
                k += 1
            name = f"{name} ({k})"
            taken.add(name)
        seen.add(name)
        out.append(name)
    return out


def _unique_ids(ids: list[str]) -> list[str]:
    """``ids`` with a repeat (of an earlier region's) made unique by ``-2``, ``-3``…"""
    taken = set(ids)
    seen: set[str] = set()
    out = []
    for i in ids:
        if i in seen:
            k = 2
            while f"{i}-{k}" in taken:
                k += 1
            taken.add(f"{i}-{k}")
            i = f"{i}-{k}"
        seen.add(i)
        out.append(i)
    return out
