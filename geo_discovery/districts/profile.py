"""What a detected district is: stable id, polygon, name, statistics, vitality and tier.

:func:`profile_districts` turns the detectors' output (cells with a label) into the
district table. Columns of ``Districts.frame`` (index ``district_id``):

========================  ==========================================================
``name``                  most common street of its merchants' addresses ("A & B"
                          when a second street has at least half as many), a street
                          being an address part that is not only the merchant's
                          locality, region, country, codes or postcode; without a
                          street two merchants share, its most common locality; else
                          "near <the merchant nearest its densest cell>"
                          (:mod:`geo_discovery.districts.naming`)
``tier``                  ``regional`` | ``major`` | ``neighbourhood`` | ``local``
``n_merchants``           merchants used for detection (lodging and closed excluded)
``n_rows``                every table row inside it (including excluded ones)
``area_km2``              exact spherical area of its cells
``density_per_km2``       ``n_merchants / area_km2``
``n_categories``          distinct category paths
``diversity``             Shannon entropy (nats) of the category paths
``evenness``              ``diversity / ln(n_categories)`` (0 for one category)
``top_category``          most common category path
``category_mix``          JSON: share of each 2-level category prefix (top 8)
``mean_wom``              mean word-of-mouth score of its merchants (NaN if none)
``wom_coverage``          share of its merchants with a word-of-mouth score
``vitality``              see below, in [0, 1]
``strength``              ``0.5 + 0.5 * vitality``: the district term of ``best_match``
                          ranking (a merchant outside every district gets 0)
``centroid_lat/lng``      mean merchant location (the supply's centre of mass)
``peak_cell``             its densest cell (hex string); the id derives from it
``n_cells``, ``resolution``
``geometry``              the union of its cells: a valid Polygon or MultiPolygon
========================  ==========================================================

Stable ids
    ``d`` + the hex id of the parent, two levels up (about 49 cells), of the district's
    *anchor*: its cell nearest to the median location of its merchants. A median moves
    little when a few merchants come or go, so ids survive reloads; two districts
    sharing that parent get ``-2``, ``-3``… in order of size.

Vitality (documented score, in [0, 1])
    A weighted mean of percentile ranks among the city's districts:
    density 0.4, diversity 0.3, mean word of mouth 0.3. A district without word of
    mouth (``mean_wom`` NaN: no merchant of it has a rating signal) has its weights
    renormalised over density and diversity. Being relative, the
    score compares districts within one city, not across cities.

Tier ("by size and mix")
    ``size_score = n_merchants × (0.5 + 0.5 × evenness)``, ranked among the city's
    districts: the top 3 % (and always the first) ``regional``, up to 15 % ``major``,
    up to 50 % ``neighbourhood``, the rest ``local``.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
from numpy.typing import NDArray

from .. import parallel
from ..cells import CHUNK, cell_boundaries_lnglat, cell_to_str
from ..cellsets import (
    cell_areas_m2,
    cell_polygons,
    cells_to_latlng,
    cells_to_parent,
    union_of_cells,
)
from ..distance import haversine_m, mean_lng
from .naming import district_names, street_of

__all__ = [
    "COLUMN_TYPES",
    "TIERS",
    "VITALITY_WEIGHTS",
    "Profile",
    "district_strength",
    "profile_districts",
    "street_of",
]

TIERS: tuple[str, ...] = ("regional", "major", "neighbourhood", "local")
_TIER_CUTS = (0.03, 0.15, 0.50)
VITALITY_WEIGHTS: dict[str, float] = {"density": 0.4, "diversity": 0.3, "wom": 0.3}
_ID_LEVELS_UP = 2


@dataclass
class Profile:
    frame: gpd.GeoDataFrame
    cells: NDArray[np.uint64]
    cell_district: NDArray[np.int32]
    merchant_district: NDArray[np.int32]


def profile_districts(
    cells: NDArray[np.uint64],
    labels: NDArray[np.int64],
    peak: NDArray[np.float64],
    pt_cells: NDArray[np.uint64],
    frame: pd.DataFrame,
    eligible: NDArray[np.bool_],
    res: int,
    *,
    wom: NDArray[np.float64] | None = None,
) -> Profile:
    """Build the district table from labelled cells (sorted ``cells``, ``labels >= 0``).

    ``pt_cells`` are every table row's cells at ``res``; ``eligible`` marks the rows
    used for detection and statistics.
    """
    order = np.argsort(cells, kind="stable")
    cells, labels, peak = cells[order], labels[order], peak[order]
    uniq, cell_group = np.unique(labels, return_inverse=True)
    n_groups = len(uniq)

    pos = np.minimum(np.searchsorted(cells, pt_cells), max(len(cells) - 1, 0))
    hit = (cells[pos] == pt_cells) if len(cells) else np.zeros(len(pt_cells), bool)
    row_group = np.where(hit, cell_group[pos] if len(cells) else -1, -1)

    # densest cell per group: max peak score, ties to the smallest cell
    best = np.lexsort((cells, -peak, cell_group))
    first = np.r_[True, cell_group[best][1:] != cell_group[best][:-1]] if n_groups else best
    peak_cells = cells[best[first]]
    n_elig = np.bincount(row_group[eligible & (row_group >= 0)], minlength=n_groups)

    # Each district's cells and eligible rows, ascending, found in one pass (not one
    # scan of every row per district: that is quadratic at a million merchants).
    cells_of = _members(cell_group, n_groups)
    rows_of = _members(np.where(eligible, row_group, -1), n_groups)
    all_rows_of = np.bincount(row_group[row_group >= 0], minlength=n_groups)
    anchors = _anchors(cells, cells_of, rows_of, frame)
    ids = _stable_ids(anchors, n_elig, res)
    # order districts: largest first, then id
    rank = sorted(range(n_groups), key=lambda g: (-int(n_elig[g]), ids[g]))
    new_of = np.empty(n_groups, dtype=np.int32)
    new_of[rank] = np.arange(n_groups, dtype=np.int32)

    cell_district = new_of[cell_group].astype(np.int32) if n_groups else np.empty(0, np.int32)
    merchant_district = (
        np.where(row_group >= 0, new_of[np.maximum(row_group, 0)], -1).astype(np.int32)
        if n_groups
        else np.full(len(pt_cells), -1, dtype=np.int32)
    )

    # each cell's boundary once (for its area and its district's polygon), as arrays
    rings, sizes = cell_boundaries_lnglat(cells)
    areas = cell_areas_m2(cells, boundaries=(rings, sizes)) / 1e6
    records = []
    names = district_names(frame, rows_of, peak_cells, pt_cells)
    cats = frame["category"].fillna("").astype(str).to_numpy() if "category" in frame else None
    lat = frame["lat"].to_numpy(dtype=np.float64)
    lng = frame["lng"].to_numpy(dtype=np.float64)
    shapes = _unions(cells, [cells_of[g] for g in rank], rings, sizes)
    for g, shape in zip(rank, shapes, strict=True):
        mine = cells_of[g]
        rows = rows_of[g]
        rec: dict[str, object] = {
            "district_id": ids[g],
            "name": names[g],
            "n_merchants": len(rows),
            "n_rows": int(all_rows_of[g]),
            "area_km2": float(areas[mine].sum()),
        }
        area = float(areas[mine].sum())
        rec["density_per_km2"] = len(rows) / area if area else 0.0
        rec.update(_category_stats(cats[rows] if cats is not None else np.array([], object)))
        if wom is not None:
            w = wom[rows]
            known = np.isfinite(w)
            rec["mean_wom"] = float(w[known].mean()) if known.any() else math.nan
            rec["wom_coverage"] = float(known.mean()) if len(w) else 0.0
        else:
            rec["mean_wom"], rec["wom_coverage"] = math.nan, 0.0
        rec["centroid_lat"] = float(lat[rows].mean()) if len(rows) else math.nan
        rec["centroid_lng"] = mean_lng(lng[rows])  # across the antimeridian too
        rec["peak_cell"] = cell_to_str(int(peak_cells[g]))
        rec["n_cells"] = len(mine)
        rec["resolution"] = res
        rec["geometry"] = shape
        records.append(rec)

    columns = [
        "district_id", "name", "tier", "n_merchants", "n_rows", "area_km2", "density_per_km2",
        "n_categories", "diversity", "evenness", "top_category", "category_mix", "mean_wom",
        "wom_coverage", "vitality", "strength", "centroid_lat", "centroid_lng", "peak_cell",
        "n_cells", "resolution", "geometry",
    ]  # fmt: skip
    if records:
        table = pd.DataFrame.from_records(records)
        table["vitality"] = vitality(table)
        table["strength"] = district_strength(table["vitality"])
        table["tier"] = tiers(table)
    else:  # no district: the same columns with their types (numbers stay numbers)
        table = pd.DataFrame({c: pd.Series(dtype=COLUMN_TYPES.get(c, object)) for c in columns})
    out = gpd.GeoDataFrame(table[columns], geometry="geometry", crs="EPSG:4326")
    out = out.set_index("district_id")
    return Profile(out, cells, cell_district, merchant_district)


#: The number columns of the districts and their types (an empty table keeps them).
COLUMN_TYPES = {
    **dict.fromkeys(("n_merchants", "n_rows", "n_categories", "n_cells", "resolution"), "int64"),
    **dict.fromkeys(("area_km2", "density_per_km2", "diversity", "evenness", "mean_wom",
                     "wom_coverage", "vitality", "strength", "centroid_lat", "centroid_lng"),
                    "float64"),
}  # fmt: skip


def _unions(
    cells: NDArray[np.uint64], members: list[NDArray[np.int64]], rings: NDArray, sizes: NDArray
) -> list[object]:
    """Each district's polygon, the union of its ``members`` (positions in ``cells``, with
    their ``rings`` and ``sizes`` from :func:`cell_boundaries_lnglat`): districts holding
    about :data:`~geo_discovery.cells.CHUNK` cells at a time, on the load's cluster if any
    (:mod:`geo_discovery.parallel`)."""
    groups: list[list[int]] = [[]]
    held = 0
    for g, mine in enumerate(members):
        if held >= CHUNK:
            groups.append([])
            held = 0
        groups[-1].append(g)
        held += len(mine)

    def args(lo: int, hi: int) -> tuple[NDArray, NDArray, NDArray, NDArray]:
        idx = [members[g] for group in groups[lo:hi] for g in group]
        flat = np.concatenate(idx) if idx else np.empty(0, np.int64)
        splits = np.cumsum([0, *(len(m) for m in idx)])
        return cells[flat], rings[flat], sizes[flat], splits

    calls = (args(i, i + 1) for i in range(len(groups)) if groups[i])
    here = len(cells) <= parallel.HERE_MAX
    out: list[object] = []
    for part in ((_union_chunk(*a) for a in calls) if here else parallel.imap(_union_chunk, calls)):
        out.extend(part)
    return out


def _union_chunk(
    cells: NDArray[np.uint64], rings: NDArray, sizes: NDArray, splits: NDArray[np.int64]
) -> list[object]:
    return [
        union_of_cells(cell_polygons(cells[lo:hi], boundaries=(rings[lo:hi], sizes[lo:hi])))
        for lo, hi in zip(splits[:-1].tolist(), splits[1:].tolist(), strict=True)
    ]


def _members(group: NDArray[np.int64], n_groups: int) -> list[NDArray[np.int64]]:
    """Per group ``0..n_groups-1``: the positions holding it, ascending (``-1``: none)."""
    order = np.argsort(group, kind="stable")
    counts = np.bincount(group[group >= 0], minlength=n_groups)
    start = int(np.count_nonzero(group < 0))
    return np.split(order[start:], np.cumsum(counts)[:-1]) if n_groups else []


def _anchors(
    cells: NDArray[np.uint64],
    cells_of: list[NDArray[np.int64]],
    rows_of: list[NDArray[np.int64]],
    frame: pd.DataFrame,
) -> NDArray[np.uint64]:
    """Per district, its cell nearest to the median location of its merchants."""
    lat = frame["lat"].to_numpy(dtype=np.float64)
    lng = frame["lng"].to_numpy(dtype=np.float64)
    clat, clng = cells_to_latlng(cells)
    out = np.empty(len(cells_of), dtype=np.uint64)
    for g, (mine, rows) in enumerate(zip(cells_of, rows_of, strict=True)):
        if len(rows):
            mlat, mlng = float(np.median(lat[rows])), float(np.median(lng[rows]))
        else:
            mlat, mlng = float(np.median(clat[mine])), float(np.median(clng[mine]))
        d = haversine_m(clat[mine], clng[mine], mlat, mlng)
        best = np.lexsort((cells[mine], np.round(d, 6)))[0]
        out[g] = cells[mine][best]
    return out


def _stable_ids(anchors: NDArray[np.uint64], sizes: NDArray, res: int) -> list[str]:
    parents = cells_to_parent(anchors, max(res - _ID_LEVELS_UP, 0))
    base = ["d" + cell_to_str(int(p)) for p in parents.tolist()]
    order = sorted(range(len(base)), key=lambda g: (base[g], -int(sizes[g]), int(anchors[g])))
    seen: Counter[str] = Counter()
    out = [""] * len(base)
    for g in order:
        seen[base[g]] += 1
        out[g] = base[g] if seen[base[g]] == 1 else f"{base[g]}-{seen[base[g]]}"
    return out


def _category_stats(cats: NDArray) -> dict[str, object]:
    counts = Counter(str(c) for c in cats if c)
    total = sum(counts.values())
    if total == 0:
        return {"n_categories": 0, "diversity": 0.0, "evenness": 0.0, "top_category": None,
                "category_mix": "{}"}  # fmt: skip
    p = np.array(list(counts.values()), dtype=np.float64) / total
    h = float(-(p * np.log(p)).sum())
    k = len(counts)
    prefix: Counter[str] = Counter()
    for c, n in counts.items():
        prefix["/".join(c.split("/")[:2])] += n
    ranked = sorted(prefix.items(), key=lambda kv: (-kv[1], kv[0]))[:8]
    mix = {k2: round(v / total, 4) for k2, v in ranked}
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
    return {
        "n_categories": k,
        "diversity": h,
        "evenness": h / math.log(k) if k > 1 else 0.0,
        "top_category": top,
        "category_mix": json.dumps(mix),
    }


def district_strength(vitality: pd.Series) -> pd.Series:
    """District term for ranking: ``0.5 + 0.5 * vitality``, in [0.5, 1].

    Sitting in any detected district beats sitting in none (the engine gives 0 there),
    and a vital district pulls more than a weak one.
    """
    return 0.5 + 0.5 * vitality.clip(0.0, 1.0)


def vitality(table: pd.DataFrame) -> pd.Series:
    """The documented vitality score (module docstring) of each district row."""
    parts = {
        "density": table["density_per_km2"].rank(pct=True),
        "diversity": table["diversity"].rank(pct=True),
        "wom": table["mean_wom"].rank(pct=True),
    }
    num = pd.Series(0.0, index=table.index)
    den = pd.Series(0.0, index=table.index)
    for key, rank in parts.items():
        w = VITALITY_WEIGHTS[key]
        known = rank.notna()
        num[known] += w * rank[known]
        den[known] += w
    return (num / den.where(den > 0)).fillna(0.0).clip(0.0, 1.0)


def tiers(table: pd.DataFrame) -> pd.Series:
    """The documented tier of each district row (by size and category mix)."""
    score = table["n_merchants"] * (0.5 + 0.5 * table["evenness"])
    order = np.lexsort((table["district_id"].to_numpy(), -score.to_numpy()))
    share = np.empty(len(table))
    share[order] = (np.arange(len(table)) + 1) / len(table)
    tier = np.select(
        [share <= _TIER_CUTS[0], share <= _TIER_CUTS[1], share <= _TIER_CUTS[2]],
        list(TIERS[:3]),
        default=TIERS[3],
    ).astype(object)
    tier[order[0]] = TIERS[0]
    return pd.Series(tier, index=table.index)
