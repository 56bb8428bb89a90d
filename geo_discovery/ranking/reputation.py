"""Word of mouth: one 0–1 score and a 0–1 confidence per merchant, aligned to the table.

Every rating signal a source carries is put on one *unit scale* (0 = the worst the
source allows, 1 = the best), weighted by how much evidence backs it, decayed with age,
shrunk toward a category × area prior, and blended with a popularity term. The formulas,
defaults and the reasoning behind each setting are in ``docs/word_of_mouth.md``; in short:

* stars ``r`` on a scale ``S`` (5, or Airbnb's old 100 = 20 × stars): ``(r/S - 0.2) / 0.8``,
  so one star is 0 and the top is 1 on every scale; sub-scores likewise (their scale is
  the smallest of 5, 10, 100 holding a file's largest sub-score, 10 in a 0–100 file);
  0 means "unrated";
* inspections (NYC DOHMH; lower is worse): ``1 - score / 56``, clipped; a letter grade
  without a score counts as its band's midpoint score (A 6.5, B 20.5, C 35);
* evidence: reviews (after burst damping) and inspections (× ``wom_inspection_weight``),
  each weighted by ``2 ** (-age / wom_half_life_days)``, reviews assumed spread evenly
  between the first and last review (split at the last 12 months where the source gives
  ``number_of_reviews_ltm``);
* quality = ``(m·prior + e·signal) / (m + e)`` with ``m = wom_prior_strength``;
* popularity = ``0.5 + 0.5·e / (e + typical e of the category)`` (0.5 without reviews);
* ``wom_score = (1 - w)·quality + w·popularity``, ``w = wom_popularity_weight``;
  ``wom_confidence`` is the same blend of ``e / (e + m)``; a merchant without a rating
  signal has quality = its prior, except in a source file with no rating signal in any row
  (visit logs, counts only), where its volume alone lifts it toward 1.

Examples
--------
>>> import pandas as pd
>>> from geo_discovery.settings import Settings
>>> m = pd.DataFrame({
...     "category": ["lodging/room"] * 3, "lat": [52.37] * 3, "lng": [4.89] * 3,
...     "rating": [5.0, 4.8, None], "rating_scale": [5.0, 5.0, None],
...     "review_count": [1, 300, 0]})
>>> rep = build_reputation(m, settings=Settings())
>>> bool(rep.wom_score[1] > rep.wom_score[0] > 0), float(rep.wom_confidence[2])
(True, 0.0)
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from ..cells import latlngs_to_cells
from ..errors import SnapshotError
from ..settings import Settings, get_settings
from .signals import (
    DAYS_PER_MONTH,
    Attributes,
    FloatArray,
    as_frame,
    column_or_none,
    float_column,
    inspection_signal,
    review_recency,
    stars_to_unit,
    subscore_scale,
    subscore_unit,
    subscores_outside,
    to_days,
)

__all__ = ["REPUTATION_COLUMNS", "build_reputation", "derive_reputation", "read_reputation"]


#: A category needs this many merchants with review evidence for its own popularity
#: reference and burst baseline; fewer fall back to the whole table's.
_MIN_GROUP = 10


#: Score and confidence of the whole table when nothing in it carries a rating signal.
_NEUTRAL = 0.5


# fmt: off
REPUTATION_COLUMNS: tuple[str, ...] = (
    "rating_norm", "subscore_norm", "inspection_norm", "signal", "reviews_damped",
    "recency_weight", "burst", "burst_excess", "effective_reviews", "evidence", "prior",
    "quality", "popularity", "wom_score", "wom_confidence", "as_of",
)


#: Rows read and scored at a time. The whole table is reduced first to a few small
#: tables (each file's newest date and sub-score scale, each category's burst and
#: popularity medians, the prior's group sums); the rows are then scored a block at a
#: time, so the working set is a block's, plus a few arrays of 8 B a row.
BLOCK_ROWS = 1 << 18


def _fixed_days(as_of: Any) -> float | None:
    if as_of is None:
        return None
    fixed = float(to_days([as_of])[0])
    if not np.isfinite(fixed):
        raise ValueError(f"as_of={as_of!r} is not a date; allowed: a date, datetime or ISO string")
    return fixed


def _codes(merchants: pd.DataFrame | pa.Table, col: str, fill: str) -> tuple[NDArray[np.intp],
                                                                              NDArray[Any]]:
    """Whole-table codes of a text column (missing → ``fill``), first appearance first,
    and the values they stand for; with Arrow, without a Python string per row."""
    n = len(merchants)
    if isinstance(merchants, pa.Table):
        if col not in merchants.column_names:
            return np.zeros(n, dtype=np.intp), np.asarray([fill], dtype=object)
        column = pc.fill_null(merchants.column(col).cast(pa.string()), fill)
        values = column.unique()
        codes = pc.index_in(column, value_set=values).to_numpy(zero_copy_only=False)
        return codes.astype(np.intp), np.asarray(values.to_pylist(), dtype=object)
    if col not in merchants.columns:
        return np.zeros(n, dtype=np.intp), np.asarray([fill], dtype=object)
    codes, names = pd.factorize(merchants[col].fillna(fill))
    return codes.astype(np.intp), np.asarray(names, dtype=object)


class _Block:
    """One block of rows, read: its frame, codes and the columns every pass needs."""

    def __init__(self, merchants: pd.DataFrame | pa.Table, rows: slice,
                 codes: tuple[NDArray[np.intp], NDArray[np.intp]]) -> None:
        part = merchants.slice(rows.start, rows.stop - rows.start) if isinstance(
            merchants, pa.Table) else merchants.iloc[rows]
        self.frame, _ = as_frame(part)
        self.n = len(self.frame)
        self.file, self.cat = codes[0][rows], codes[1][rows]
        self.attrs = Attributes(self.frame)
        self.rating_scale = float_column(self.frame, "rating_scale")
        self.first = to_days(column_or_none(self.frame, "first_review"))
        self.last = to_days(column_or_none(self.frame, "last_review"))
        count = float_column(self.frame, "review_count")
        self.has_count = np.isfinite(count) & (count > 0)
        self.count_given = np.isfinite(count) & (count >= 0)  # 0 reviews is a count
        self.reviews = np.where(self.has_count, count, 0.0)

    def newest_date(self) -> FloatArray:
        """Per row: its newest review or inspection date (NaN: none)."""
        newest = np.fmax(self.first, self.last)
        if len(self.attrs.insp_row):
            np.fmax.at(newest, self.attrs.insp_row, self.attrs.insp_day)
        return newest

    def short_rates(self, s: Settings) -> tuple[NDArray[np.bool_], FloatArray, FloatArray]:
        """Rows with many reviews in under a year, their monthly rate and span (months)."""
        n = self.reviews
        span_m = (self.last - self.first) / DAYS_PER_MONTH
        with np.errstate(invalid="ignore", divide="ignore"):
            short = (n >= float(s.wom_burst_min_reviews)) & (span_m < 12.0)
            rate = n / np.maximum(span_m, 1.0)
        return short, rate, span_m


class _Medians:
    """Per group: the median of its finite values (groups of ≥ ``_MIN_GROUP``), else the
    median of all; built from (group, value) pairs collected block by block."""

    def __init__(self) -> None:
        self.groups: list[NDArray[np.intp]] = []
        self.values: list[FloatArray] = []

    def add(self, groups: NDArray[np.intp], values: FloatArray) -> None:
        ok = np.isfinite(values)
        self.groups.append(groups[ok])
        self.values.append(values[ok])

    def done(self) -> tuple[pd.Series, float]:
        values = np.concatenate(self.values) if self.values else np.zeros(0)
        groups = np.concatenate(self.groups) if self.groups else np.zeros(0, np.intp)
        self.groups, self.values = [], []
        overall = float(np.median(values)) if len(values) else np.nan
        ser = pd.Series(values).groupby(groups)
        med, cnt = ser.median(), ser.size()
        return med[cnt >= _MIN_GROUP], overall


def _lookup(table: tuple[pd.Series, float], groups: NDArray[np.intp]) -> FloatArray:
    med, overall = table
    return np.asarray(pd.Series(groups).map(med).fillna(overall), dtype=np.float64)


# --------------------------------------------------------------------------- bursts
def _bursts(b: _Block, ltm: FloatArray, rpm: FloatArray, newest: FloatArray,
            base: FloatArray, s: Settings) -> FloatArray:
    """Reviews judged to be burst excess (0 where nothing is suspicious); ``base`` is each
    row's category median of short-span review rates."""
    n, first = b.reviews, b.first
    ratio, min_n = s.wom_burst_ratio, float(s.wom_burst_min_reviews)
    age_m = (newest - first) / DAYS_PER_MONTH
    with np.errstate(invalid="ignore", divide="ignore"):
        # (a) the last 12 months far above the listing's own earlier rate
        ltm_c = np.clip(ltm, 0.0, n)
        earlier = (n - ltm_c) / np.maximum(age_m - 12.0, 1.0)
        allowed_a = ratio * 12.0 * np.maximum(earlier, 1.0 / 12.0)
        spike = (age_m >= 24.0) & (ltm_c >= min_n) & (ltm_c > allowed_a)
        excess_a = np.where(spike, ltm_c - allowed_a, 0.0)
        # (b) the count far above what the source's own velocity allows over the age
        implied = rpm * age_m
        inconsistent = (rpm > 0) & (age_m > 0) & (n >= min_n) & (n > ratio * implied)
        excess_b = np.where(inconsistent, n - ratio * implied, 0.0)
        # (c) many reviews packed into a short span, against the category's other short spans
        short, rate, span_m = b.short_rates(s)
        packed = short & (rate > ratio * base)
        excess_c = np.where(packed, n - ratio * base * np.maximum(span_m, 1.0), 0.0)
    excess = np.fmax(np.fmax(excess_a, excess_b), excess_c)
    return np.clip(np.nan_to_num(excess, nan=0.0), 0.0, np.nan_to_num(n, nan=0.0))


# --------------------------------------------------------------------------- the prior
class _PriorSums:
    """The prior's group sums of ``reliability × signal`` and ``reliability``, per category
    and per category × H3 area, summed block by block.

    The prior goes global → each category level → H3 area, each shrunk to its parent: a
    group's mean is pulled to its parent's with ``wom_prior_group_strength``
    pseudo-merchants. A merchant counts in its own groups like any other (plain empirical
    Bayes): a leave-one-out prior would pull each of two weakly reviewed neighbours toward
    the other and can reverse their order.
    """

    def __init__(self, n_categories: int, s: Settings) -> None:
        self.wx, self.w = np.zeros(n_categories), np.zeros(n_categories)
        self.res = s.wom_prior_area_resolution
        self.areas: list[pd.DataFrame] = []

    def add(self, cat: NDArray[np.intp], cells: NDArray[np.uint64] | None,
            signal: FloatArray, weight: FloatArray) -> None:
        has = np.isfinite(signal) & (weight > 0)
        wx = np.where(has, weight * np.nan_to_num(signal), 0.0)
        w = np.where(has, weight, 0.0)
        self.wx += np.bincount(cat, weights=wx, minlength=len(self.wx))
        self.w += np.bincount(cat, weights=w, minlength=len(self.w))
        if cells is not None:
            keep = has & (cells != 0)
            part = pd.DataFrame({"cat": cat[keep], "cell": cells[keep],
                                 "wx": wx[keep], "w": w[keep]})
            self.areas.append(part.groupby(["cat", "cell"]).sum())

    def category_prior(self, names: NDArray[Any], k: float) -> FloatArray:
        """Global → each category level, each shrunk to its parent (per category code)."""
        total_w = self.w.sum()
        prior = np.full(len(names), float(self.wx.sum() / total_w) if total_w > 0 else _NEUTRAL)
        parts = [str(c).split("/") for c in names.tolist()]
        for level in range(1, max((len(p) for p in parts), default=0) + 1):
            prefix = pd.Series(["/".join(p[:level]) if len(p) >= level else None for p in parts])
            key, _ = pd.factorize(prefix)  # -1: the category is shallower
            ok = key >= 0
            size = max(int(key.max(initial=-1)) + 1, 1)
            gwx = np.bincount(key[ok], weights=self.wx[ok], minlength=size)
            gw = np.bincount(key[ok], weights=self.w[ok], minlength=len(gwx))
            safe = np.where(ok, key, 0)
            prior = np.where(ok, (gwx[safe] + k * prior) / (gw[safe] + k), prior)
        return prior

    def area_sums(self) -> pd.DataFrame:
        parts = [a for a in self.areas if len(a)]
        self.areas = []
        if not parts:
            return pd.DataFrame({"wx": [], "w": []},
                                index=pd.MultiIndex.from_arrays([[], []], names=["cat", "cell"]))
        return pd.concat(parts).groupby(level=["cat", "cell"]).sum()


def _area_cells(b: _Block, res: int | None) -> NDArray[np.uint64] | None:
    """Each row's H3 area at the prior's resolution (0: no valid location)."""
    if res is None:
        return None
    lat, lng = float_column(b.frame, "lat"), float_column(b.frame, "lng")
    located = np.isfinite(lat) & np.isfinite(lng) & (np.abs(lat) <= 90) & (np.abs(lng) <= 180)
    cells = np.zeros(b.n, dtype=np.uint64)
    if located.any():
        cells[located] = latlngs_to_cells(lat[located], lng[located], res)
    return cells


def _row_prior(cat: NDArray[np.intp], cells: NDArray[np.uint64] | None, by_cat: FloatArray,
               areas: pd.DataFrame, k: float) -> FloatArray:
    """Per row: its category × area prior (its category's where it has no area)."""
    parent = by_cat[cat]
    if cells is None or not len(cat):
        return parent
    at = areas.index.get_indexer(pd.MultiIndex.from_arrays([cat, cells]))
    # a group with no weighted member is not in ``areas``: its sums are 0
    wx = np.append(areas["wx"].to_numpy(dtype=np.float64), 0.0)[at]
    w = np.append(areas["w"].to_numpy(dtype=np.float64), 0.0)[at]
    return np.where(cells != 0, (wx + k * parent) / (w + k), parent)


# --------------------------------------------------------------------------- the score
class _Globals:
    """What every block's score needs from the whole table (the first pass)."""

    def __init__(self, merchants: pd.DataFrame | pa.Table, blocks: list[slice], fixed: Any,
                 s: Settings, parents: Mapping[str, list[str]] | None = None) -> None:
        self.file = _codes(merchants, "source_file", "")
        self.cat = _codes(merchants, "category", "unknown")
        n_files = len(self.file[1])
        self.newest = np.full(n_files, np.nan)
        cells, above5, above10 = (np.zeros(n_files) for _ in range(3))  # sub-score cells
        scale_max = np.zeros(n_files)
        rates = _Medians()
        self.fixed = _fixed_days(fixed)
        self.kept: _Block | None = None
        for rows in blocks:
            b = self.read(merchants, rows)
            np.fmax.at(self.newest, b.file, b.newest_date())
            sub = b.attrs.subscores
            has = np.isfinite(sub).any(axis=1)
            if has.any():
                with np.errstate(invalid="ignore"):
                    for total, kept in ((cells, np.isfinite(sub)), (above5, sub > 5.0),
                                        (above10, sub > 10.0)):  # fmt: skip
                        np.add.at(total, b.file[has], kept[has].sum(axis=1))
                np.fmax.at(scale_max, b.file[has], b.rating_scale[has])
            short, rate, _ = b.short_rates(s)
            rates.add(b.cat, np.where(short, rate, np.nan))
            self.kept = b if len(blocks) == 1 else None  # one block: read it once
        self.sub_scale = subscore_scale(cells, above5, above10, scale_max)
        # an upsert's file is at least as recent as the files whose rows it replaced, as
        # their remaining rows date them now (a chain of upserts: to a fixed point)
        code = {str(name): i for i, name in enumerate(self.file[1])}
        links = [(code[c], [code[p] for p in ps if p in code])
                 for c, ps in (parents or {}).items() if c in code]  # fmt: skip
        for _ in range(len(links)):
            before = self.newest.copy()
            for child, ps in links:
                for p in ps:
                    self.newest[child] = np.fmax(self.newest[child], self.newest[p])
            if np.array_equal(before, self.newest, equal_nan=True):
                break
        self.burst_base = rates.done()

    def read(self, merchants: pd.DataFrame | pa.Table, rows: slice) -> _Block:
        if self.kept is not None:
            return self.kept
        return _Block(merchants, rows, (self.file[0], self.cat[0]))


def _evidence(b: _Block, g: _Globals, s: Settings) -> dict[str, FloatArray]:
    """A block's unit-scale signals, evidence and their parts (steps 1–5)."""
    attrs, n_rows = b.attrs, b.n
    # 1. unit-scale signals
    rating_norm = stars_to_unit(float_column(b.frame, "rating"), b.rating_scale)
    sub_norm = subscore_unit(attrs.subscores, g.sub_scale[b.file])
    ws = s.wom_subscore_weight
    review_signal = np.where(
        np.isfinite(rating_norm) & np.isfinite(sub_norm),
        (1.0 - ws) * rating_norm + ws * sub_norm,
        np.where(np.isfinite(rating_norm), rating_norm, sub_norm),
    )
    # 2. "now": the newest date of the row's source file, or the date given
    newest = g.newest[b.file]
    now = newest.copy() if g.fixed is None else np.full(n_rows, g.fixed)
    # 3. review counts, velocity, bursts and recency
    n, has_count, first, last = b.reviews, b.has_count, b.first, b.last
    rpm = float_column(b.frame, "reviews_per_month")
    # more reviews in the last 12 months than in all: one of the two counts is wrong, and
    # clipping put every review in the last year; the ltm count is left out (and counted)
    with np.errstate(invalid="ignore"):
        contradicts = attrs.ltm > n
    ltm = np.where(contradicts, np.nan, attrs.ltm)
    excess = _bursts(b, ltm, rpm, newest, _lookup(g.burst_base, b.cat), s)
    n_damped = n - (1.0 - s.wom_burst_weight) * excess
    # a missing first review is implied by the velocity (first = newest - n / rpm months)
    with np.errstate(all="ignore"):
        implied_first = newest - n / rpm * DAYS_PER_MONTH
    # a velocity near 0 (1e-300 a month) implies no date: the reviews count as undated
    implied_first[~np.isfinite(implied_first)] = np.nan
    start = np.where(
        np.isfinite(first), first, np.where(has_count & (rpm > 0), implied_first, np.nan)
    )
    end = np.where(np.isfinite(last), last, start)
    start = np.where(np.isfinite(start), np.fmin(start, end), end)
    recency = review_recency(n, ltm, start, end, newest, now, s.wom_half_life_days)
    effective_reviews = n_damped * recency
    # 4. inspections
    insp_signal, insp_evidence, insp_recency = inspection_signal(b.frame, attrs, now, n_rows, s)
    # 5. combine evidence: a rating without a count counts as one review
    has_review_signal = np.isfinite(review_signal)
    e_review = np.where(has_review_signal, np.where(has_count, n_damped, 1.0) * recency, 0.0)
    evidence = e_review + insp_evidence
    with np.errstate(invalid="ignore", divide="ignore"):
        signal = (
            np.where(has_review_signal, e_review * review_signal, 0.0)
            + np.where(insp_evidence > 0, insp_evidence * insp_signal, 0.0)
        ) / evidence
    return {
        "rating_norm": rating_norm,
        "subscore_norm": sub_norm,
        "inspection_norm": insp_signal,
        "signal": np.where(evidence > 0, signal, np.nan),
        "reviews_damped": np.where(b.count_given, n_damped, np.nan),
        # nothing dated to weigh (no review, rating nor inspection): 1, as undated reviews
        "recency_weight": np.where(has_count | has_review_signal, recency,
                                   np.where(np.isfinite(insp_recency), insp_recency, 1.0)),
        "burst_excess": excess,
        "effective_reviews": effective_reviews,
        "evidence": evidence,
        "now": now,
        "ltm_contradicts": contradicts,  # (counted by the caller, not a column)
    }


def _blend(ev: Mapping[str, FloatArray], prior: FloatArray, ref: FloatArray,
           s: Settings, volume_only: NDArray[np.bool_]) -> dict[str, FloatArray]:
    """Steps 6–7: quality (shrunk toward ``prior``), popularity against the category's
    typical volume ``ref``, and their blend; ``volume_only``: the row's source file has
    no rating signal in any row (visit logs, counts only)."""
    m, wp = s.wom_prior_strength, s.wom_popularity_weight
    evidence, signal, effective = ev["evidence"], ev["signal"], ev["effective_reviews"]
    reliability = evidence / (evidence + m)
    quality = np.where(
        evidence > 0, (m * prior + evidence * np.nan_to_num(signal)) / (m + evidence), prior
    )
    ref = np.where(np.isfinite(ref) & (ref > 0), ref, 1.0)
    pop_conf = effective / (effective + m)
    # 0.5 without reviews (as for sources without counts), 0.75 at the category's typical
    # volume, towards 1 for the most reviewed: monotone, so a review never lowers it
    popularity = _NEUTRAL + (1 - _NEUTRAL) * effective / (effective + ref)
    score = np.clip((1 - wp) * quality + wp * popularity, 0.0, 1.0)
    confidence = np.clip((1 - wp) * reliability + wp * pop_conf, 0.0, 1.0)
    # Volume is evidence even without stars, in a source file with no rating signal at
    # all (visit logs, counts only): a merchant's volume lifts it from its prior toward 1
    # with the weight of the volume's own confidence: score = prior + w_v (1 - prior)
    # E / (E + E_ref), w_v = w + (1 - w) E / (E + m); monotone in E, -> the prior as E -> 0.
    # In a file with ratings, an unrated merchant is blended as above with quality = its
    # prior, never above a peer of the same volume rated at or above the prior.
    unrated = (effective > 0) & ~np.isfinite(signal) & volume_only
    w_v = wp + (1 - wp) * pop_conf
    lift = effective / (effective + ref)
    score = np.where(unrated, np.clip(prior + w_v * (1 - prior) * lift, 0.0, 1.0), score)
    confidence = np.where(unrated, np.clip(w_v * pop_conf, 0.0, 1.0), confidence)
    return {"prior": prior, "quality": quality, "popularity": popularity,
            "wom_score": score.astype(np.float64), "wom_confidence": confidence.astype(np.float64)}


#: What the lean pass keeps of each block for the final blend.
_LEAN = ("signal", "evidence", "effective_reviews")


def _score(merchants: pd.DataFrame | pa.Table, s: Settings, as_of: Any, block_rows: int,
           keep: tuple[str, ...] | None, parents: Mapping[str, list[str]] | None = None,
           ) -> tuple[dict[str, FloatArray], dict[str, Any]]:
    """Word of mouth in blocks: the columns named in ``keep`` (all with ``None``), row
    aligned, and a few counts over all rows (``parents``: an upsert's files and the files
    whose rows they replaced, ``source_dates.json``)."""
    n = len(merchants)
    blocks = [slice(i, min(i + block_rows, n)) for i in range(0, n, block_rows)] or [slice(0, 0)]
    g = _Globals(merchants, blocks, as_of, s, parents)
    sums, pops = _PriorSums(len(g.cat[1]), s), _Medians()
    held: list[dict[str, Any]] = []
    rated_file = np.zeros(len(g.file[1]), dtype=bool)  # files with a rating signal
    counts: dict[str, Any] = {"with_rating_signal": 0, "with_review_counts": 0,
                              "burst_damped": 0, "subscores_outside_scale": 0,
                              "ltm_above_reviews": 0,
                              "as_of_days": (np.inf, -np.inf)}
    for rows in blocks:
        b = g.read(merchants, rows)
        ev = _evidence(b, g, s)
        cells = _area_cells(b, sums.res)
        m = s.wom_prior_strength
        sums.add(b.cat, cells, ev["signal"], ev["evidence"] / (ev["evidence"] + m))
        eff = ev["effective_reviews"]
        pops.add(b.cat, np.where(eff > 0, eff, np.nan))
        counts["with_rating_signal"] += int(np.isfinite(ev["signal"]).sum())
        rated_file[b.file[np.isfinite(ev["signal"])]] = True
        counts["with_review_counts"] += int(b.has_count.sum())
        counts["burst_damped"] += int((ev["burst_excess"] > 0).sum())
        counts["subscores_outside_scale"] += subscores_outside(b.attrs.subscores,
                                                               g.sub_scale[b.file])
        counts["ltm_above_reviews"] += int(ev.pop("ltm_contradicts").sum())
        now = ev["now"][np.isfinite(ev["now"])]
        if len(now):
            lo, hi = counts["as_of_days"]
            counts["as_of_days"] = (min(lo, float(now.min())), max(hi, float(now.max())))
        wanted = ev if keep is None else {k: ev[k] for k in (*_LEAN, *keep) if k in ev}
        held.append({**wanted, "cat": b.cat, "cells": cells, "file": b.file})
        del b, ev
    g.kept = None
    counts["as_of_by_file"] = {str(name): float(day) for name, day in
                               zip(g.file[1], g.newest, strict=True) if np.isfinite(day)}
    present = set(counts["as_of_by_file"])
    counts["as_of_parents"] = {k: v for k, v in (parents or {}).items() if k in present}
    by_cat = sums.category_prior(g.cat[1], s.wom_prior_group_strength)
    areas, pop_ref = sums.area_sums(), pops.done()
    out: dict[str, list[FloatArray]] = {}
    for part in held:
        prior = _row_prior(part["cat"], part["cells"], by_cat, areas, s.wom_prior_group_strength)
        part.update(_blend(part, prior, _lookup(pop_ref, part["cat"]), s,
                           ~rated_file[part["file"]]))
        for k, v in part.items():
            if (keep is None or k in keep) and k not in ("cat", "cells", "file"):
                out.setdefault(k, []).append(v)
        part.clear()
    return {k: np.concatenate(v) for k, v in out.items()}, counts


def _check(merchants: Any) -> None:
    """The type and required columns' errors of :func:`as_frame`, on no rows."""
    empty = merchants.slice(0, 0) if isinstance(merchants, pa.Table) else (
        merchants.iloc[:0] if isinstance(merchants, pd.DataFrame) else merchants)
    as_frame(empty)


def build_reputation(
    merchants: pd.DataFrame | pa.Table,
    *,
    settings: Settings | None = None,
    as_of: date | datetime | str | None = None,
    block_rows: int = BLOCK_ROWS,
) -> pd.DataFrame:
    """Word-of-mouth score and confidence of every merchant, with the parts behind them.

    Parameters
    ----------
    merchants
        The canonical merchant table (``geo_discovery.schema``); only ``category``,
        ``lat`` and ``lng`` are required, every rating column is optional.
    settings
        ``wom_*`` settings; ``None`` uses :func:`~geo_discovery.settings.get_settings`.
    as_of
        The date ages are measured from. ``None``: the ``wom_as_of`` setting, and when
        that is unset, the newest review or inspection date *of each source file*, so the
        result depends on the data only (reproducible) and a 2015 file loaded beside a
        2023 one is not aged by eight years.
    block_rows
        Rows read and scored at a time (:data:`BLOCK_ROWS`); the result does not depend
        on it beyond the rounding of sums.

    Returns
    -------
    pandas.DataFrame
        :data:`REPUTATION_COLUMNS`, aligned to ``merchants`` (same index for a DataFrame,
        ``0..n-1`` for an Arrow table). ``wom_score`` and ``wom_confidence`` are in [0, 1].
    """
    s = settings or get_settings()
    if block_rows < 1:
        raise ValueError(f"block_rows={block_rows!r}; allowed: a whole number of at least 1")
    _check(merchants)
    cols, _ = _score(merchants, s, as_of if as_of is not None else s.wom_as_of, block_rows,
                     None)
    now = cols.pop("now")
    extra = {"burst": cols["burst_excess"] > 0,
             "as_of": pd.to_datetime(np.where(np.isfinite(now), now * 86400.0, np.nan),
                                     unit="s").astype("datetime64[s]")}
    out = pd.DataFrame({c: cols[c] if c in cols else extra[c] for c in REPUTATION_COLUMNS},
                       copy=False)
    out.index = merchants.index if isinstance(merchants, pd.DataFrame) else pd.RangeIndex(len(out))
    return out


# --------------------------------------------------------------------------- snapshot
def derive_reputation(
    merchants: pa.Table, out_dir: Path, settings: Settings, upstream: Mapping[str, Path]
) -> dict[str, Any]:
    """Deriver: write ``wom_score.npy`` and ``wom_confidence.npy`` (float64, table order),
    scored :data:`BLOCK_ROWS` rows at a time and keeping only these two columns."""
    _check(merchants)
    dates = upstream.get("source_dates")
    parents = json.loads(Path(dates).read_text(encoding="utf-8")) if dates else None
    cols, counts = _score(merchants, settings, settings.wom_as_of, BLOCK_ROWS,
                          ("wom_score", "wom_confidence"), parents)
    score = cols.get("wom_score", np.zeros(0))
    conf = cols.get("wom_confidence", np.zeros(0))
    np.save(out_dir / "wom_score.npy", score)
    np.save(out_dir / "wom_confidence.npy", conf)
    lo, hi = counts["as_of_days"]
    q = [0.01, 0.25, 0.5, 0.75, 0.99]
    return {
        "rows": len(score),
        "with_rating_signal": counts["with_rating_signal"],
        "with_review_counts": counts["with_review_counts"],
        "burst_damped": counts["burst_damped"],
        "subscores_outside_scale": counts["subscores_outside_scale"],
        "ltm_above_reviews": counts["ltm_above_reviews"],
        "as_of_range": [_day_text(lo), _day_text(hi)] if lo <= hi else None,
        # each source file's "today" in days since 1970 (what an upsert carries forward)
        "as_of_by_file": counts["as_of_by_file"],
        "as_of_parents": counts["as_of_parents"],  # an upsert's files: as recent as these
        "wom_score_quantiles": dict(
            zip([str(x) for x in q], np.quantile(score, q).round(4).tolist(), strict=True)
        )
        if len(score)
        else {},
        "wom_confidence_mean": round(float(conf.mean()), 4) if len(conf) else None,
        "settings": {
            k: (str(v) if isinstance(v, date) else v)
            for k, v in settings.model_dump().items()
            if k.startswith("wom_")
        },
    }


def _day_text(days: float) -> str:
    return str(pd.to_datetime(days * 86400.0, unit="s").floor("s").date())


def read_reputation(folder: str | Path, n: int) -> tuple[FloatArray, FloatArray]:
    """``(wom_score, wom_confidence)`` written by :func:`derive_reputation` into
    ``folder``, memory-mapped and read-only; ``n`` is the merchant count they must match.

    Raises :class:`~geo_discovery.errors.SnapshotError` when they are missing or misaligned.
    """
    folder = Path(folder)
    paths = [folder / "wom_score.npy", folder / "wom_confidence.npy"]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise SnapshotError(
            f"{folder} has no word-of-mouth scores ({', '.join(missing)} missing); reload the "
            "snapshot with a geo-discovery that derives reputation"
        )
    score, conf = (np.load(p, mmap_mode="r") for p in paths)
    if score.shape != (n,) or conf.shape != (n,):
        raise SnapshotError(f"word-of-mouth scores in {folder} are not aligned to {n} merchants")
    return score, conf
