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
  ``wom_confidence`` is the same blend of ``e / (e + m)``.

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

from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
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
    subscore_unit,
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


def _as_of_days(
    as_of: Any, files: NDArray[Any], known_days: list[FloatArray]
) -> tuple[FloatArray, FloatArray]:
    """Per row: the data's own "now" (newest date in its source file) and ``as_of``."""
    n = len(files)
    stacked = np.vstack(known_days) if known_days else np.full((1, n), np.nan)
    newest = np.full(n, np.nan)
    with np.errstate(all="ignore"):
        row_max = np.where(
            np.isfinite(stacked).any(axis=0),
            np.nanmax(np.where(np.isfinite(stacked), stacked, -np.inf), axis=0),
            np.nan,
        )
    per_file = pd.Series(row_max).groupby(files).transform("max")
    newest[:] = per_file.to_numpy(dtype=np.float64)
    if as_of is None:
        return newest, newest.copy()
    fixed = to_days([as_of])[0]
    if not np.isfinite(fixed):
        raise ValueError(f"as_of={as_of!r} is not a date; allowed: a date, datetime or ISO string")
    return newest, np.full(n, fixed)


# --------------------------------------------------------------------------- bursts
def _bursts(
    n: FloatArray,
    ltm: FloatArray,
    rpm: FloatArray,
    first: FloatArray,
    last: FloatArray,
    newest: FloatArray,
    category: NDArray[np.intp],
    s: Settings,
) -> FloatArray:
    """Reviews judged to be burst excess (0 where nothing is suspicious)."""
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
        span_m = (last - first) / DAYS_PER_MONTH
        short = (n >= min_n) & (span_m < 12.0)
        rate = n / np.maximum(span_m, 1.0)
    base = _group_median(np.where(short, rate, np.nan), category)
    with np.errstate(invalid="ignore"):
        packed = short & (rate > ratio * base)
        excess_c = np.where(packed, n - ratio * base * np.maximum(span_m, 1.0), 0.0)
    excess = np.fmax(np.fmax(excess_a, excess_b), excess_c)
    return np.clip(np.nan_to_num(excess, nan=0.0), 0.0, np.nan_to_num(n, nan=0.0))


def _group_median(values: FloatArray, groups: NDArray[np.intp]) -> FloatArray:
    """Per row: the median of finite ``values`` in its group (≥ _MIN_GROUP), else overall."""
    ok = np.isfinite(values)
    overall = float(np.median(values[ok])) if ok.any() else np.nan
    ser = pd.Series(values[ok]).groupby(groups[ok])
    med, cnt = ser.median(), ser.size()
    med = med[cnt >= _MIN_GROUP]
    out = pd.Series(groups).map(med).fillna(overall)
    return np.asarray(out, dtype=np.float64)


# --------------------------------------------------------------------------- the prior
def _prior(
    signal: FloatArray,
    weight: FloatArray,
    categories: tuple[NDArray[np.intp], NDArray[Any]],
    lat: FloatArray,
    lng: FloatArray,
    s: Settings,
) -> FloatArray:
    """Category × area prior: global → each category level → H3 area, each shrunk to its parent.

    ``weight`` is each merchant's reliability ``e / (e + m)``; a group's mean is pulled to its
    parent's with ``wom_prior_group_strength`` pseudo-merchants. A merchant counts in its own
    groups like any other (plain empirical Bayes): a leave-one-out prior would pull each of
    two weakly reviewed neighbours toward the other and can reverse their order.
    """
    n = len(signal)
    has = np.isfinite(signal) & (weight > 0)
    wx = np.where(has, weight * np.nan_to_num(signal), 0.0)
    w = np.where(has, weight, 0.0)
    k = s.wom_prior_group_strength
    prior = np.full(n, float(wx.sum() / w.sum()) if w.sum() > 0 else _NEUTRAL)
    codes, names = categories
    parts = [str(c).split("/") for c in names.tolist()]  # unique categories only
    for level in range(1, max((len(p) for p in parts), default=0) + 1):
        prefix = pd.Series(["/".join(p[:level]) if len(p) >= level else None for p in parts])
        level_codes, _ = pd.factorize(prefix)  # -1: the category is shallower
        key = level_codes[codes]
        shrunk = _shrink_to(prior, [np.where(key >= 0, key, len(parts))], wx, w, k)
        prior = np.where(key >= 0, shrunk, prior)
    res = s.wom_prior_area_resolution
    if res is None or n == 0:
        return prior
    located = np.isfinite(lat) & np.isfinite(lng) & (np.abs(lat) <= 90) & (np.abs(lng) <= 180)
    cells = np.zeros(n, dtype=np.uint64)
    if located.any():
        cells[located] = latlngs_to_cells(lat[located], lng[located], res)
    area = _shrink_to(prior, [codes, cells], wx, w, k)
    return np.where(located, area, prior)


def _shrink_to(
    parent: FloatArray, keys: list[NDArray[Any]], wx: FloatArray, w: FloatArray, k: float
) -> FloatArray:
    """Per row: its group's weighted mean, pulled toward ``parent`` by ``k`` pseudo-members."""
    frame = pd.DataFrame({f"k{i}": key for i, key in enumerate(keys)})
    frame["wx"], frame["w"] = wx, w
    sums = frame.groupby([f"k{i}" for i in range(len(keys))])[["wx", "w"]].transform("sum")
    group_wx, group_w = sums["wx"].to_numpy(), sums["w"].to_numpy()
    return np.asarray((group_wx + k * parent) / (group_w + k), dtype=np.float64)


# --------------------------------------------------------------------------- the score
def build_reputation(
    merchants: pd.DataFrame | pa.Table,
    *,
    settings: Settings | None = None,
    as_of: date | datetime | str | None = None,
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

    Returns
    -------
    pandas.DataFrame
        :data:`REPUTATION_COLUMNS`, aligned to ``merchants`` (same index for a DataFrame,
        ``0..n-1`` for an Arrow table). ``wom_score`` and ``wom_confidence`` are in [0, 1].
    """
    s = settings or get_settings()
    frame, index = as_frame(merchants)
    n_rows = len(frame)
    # Codes, not a Python string per row (the columns may be Arrow-backed strings).
    source = frame["source_file"] if "source_file" in frame.columns else pd.Series([""] * n_rows)
    file_codes = pd.factorize(source.fillna(""))[0]
    cat_codes, cat_index = pd.factorize(frame["category"].fillna("unknown"))
    cat_names = np.asarray(cat_index, dtype=object)
    attrs = Attributes(frame)

    # 1. unit-scale signals
    rating_scale = float_column(frame, "rating_scale")
    rating_norm = stars_to_unit(float_column(frame, "rating"), rating_scale)
    sub_norm = subscore_unit(attrs.subscores, rating_scale, file_codes)
    ws = s.wom_subscore_weight
    review_signal = np.where(
        np.isfinite(rating_norm) & np.isfinite(sub_norm),
        (1.0 - ws) * rating_norm + ws * sub_norm,
        np.where(np.isfinite(rating_norm), rating_norm, sub_norm),
    )

    # 2. dates, "now" and ages
    first = to_days(column_or_none(frame, "first_review"))
    last = to_days(column_or_none(frame, "last_review"))
    insp_days = np.full(n_rows, np.nan)
    if len(attrs.insp_row):
        np.fmax.at(insp_days, attrs.insp_row, attrs.insp_day)
    fixed = as_of if as_of is not None else s.wom_as_of
    newest, now = _as_of_days(fixed, file_codes, [first, last, insp_days])
    del insp_days

    # 3. review counts, velocity, bursts and recency
    count = float_column(frame, "review_count")
    rpm = float_column(frame, "reviews_per_month")
    has_count = np.isfinite(count) & (count > 0)
    n = np.where(has_count, count, 0.0)
    excess = _bursts(n, attrs.ltm, rpm, first, last, newest, cat_codes, s)
    n_damped = n - (1.0 - s.wom_burst_weight) * excess
    # a missing first review is implied by the velocity (first = newest - n / rpm months)
    with np.errstate(invalid="ignore", divide="ignore"):
        implied_first = newest - n / rpm * DAYS_PER_MONTH
    start = np.where(
        np.isfinite(first), first, np.where(has_count & (rpm > 0), implied_first, np.nan)
    )
    end = np.where(np.isfinite(last), last, start)
    start = np.where(np.isfinite(start), np.fmin(start, end), end)
    recency = review_recency(n, attrs.ltm, start, end, newest, now, s.wom_half_life_days)
    effective_reviews = n_damped * recency
    del implied_first, start, end, first, last, rpm, count  # (~8 B a row each)

    # 4. inspections
    insp_signal, insp_evidence, insp_recency = inspection_signal(frame, attrs, now, n_rows, s)

    # 5. combine evidence: a rating without a count counts as one review
    has_review_signal = np.isfinite(review_signal)
    e_review = np.where(has_review_signal, np.where(has_count, n_damped, 1.0) * recency, 0.0)
    evidence = e_review + insp_evidence
    with np.errstate(invalid="ignore", divide="ignore"):
        signal = (
            np.where(has_review_signal, e_review * review_signal, 0.0)
            + np.where(insp_evidence > 0, insp_evidence * insp_signal, 0.0)
        ) / evidence
    signal = np.where(evidence > 0, signal, np.nan)

    # 6. shrink toward the category × area prior
    m = s.wom_prior_strength
    reliability = evidence / (evidence + m)
    lat, lng = float_column(frame, "lat"), float_column(frame, "lng")
    prior = _prior(signal, reliability, (cat_codes, cat_names), lat, lng, s)
    del lat, lng
    quality = np.where(
        evidence > 0, (m * prior + evidence * np.nan_to_num(signal)) / (m + evidence), prior
    )

    # 7. popularity and the blend
    ref = _group_median(np.where(effective_reviews > 0, effective_reviews, np.nan), cat_codes)
    ref = np.where(np.isfinite(ref) & (ref > 0), ref, 1.0)
    pop_conf = effective_reviews / (effective_reviews + m)
    # 0.5 without reviews (as for sources without counts), 0.75 at the category's typical
    # volume, towards 1 for the most reviewed: monotone, so a review never lowers it
    popularity = _NEUTRAL + (1 - _NEUTRAL) * effective_reviews / (effective_reviews + ref)
    wp = s.wom_popularity_weight
    score = np.clip((1 - wp) * quality + wp * popularity, 0.0, 1.0)
    confidence = np.clip((1 - wp) * reliability + wp * pop_conf, 0.0, 1.0)
    # Volume is evidence even without stars. A merchant with no rating signal but a visit
    # or review volume rises from its prior toward 1 as that volume grows, with the weight
    # of the volume's own confidence: score = prior + w_v (1 - prior) E / (E + E_ref),
    # w_v = w + (1 - w) E / (E + m); monotone in E, the prior at E = 0.
    unrated = has_volume = (effective_reviews > 0) & ~np.isfinite(signal)
    w_v = wp + (1 - wp) * pop_conf
    lift = effective_reviews / (effective_reviews + ref)
    score = np.where(has_volume, np.clip(prior + w_v * (1 - prior) * lift, 0.0, 1.0), score)
    confidence = np.where(unrated, np.clip(w_v * pop_conf, 0.0, 1.0), confidence)

    as_of_col = pd.to_datetime(np.where(np.isfinite(now), now * 86400.0, np.nan), unit="s")
    out = pd.DataFrame(
        {
            "rating_norm": rating_norm,
            "subscore_norm": sub_norm,
            "inspection_norm": insp_signal,
            "signal": signal,
            "reviews_damped": np.where(has_count, n_damped, np.nan),
            "recency_weight": np.where(has_count | has_review_signal, recency, insp_recency),
            "burst": excess > 0,
            "burst_excess": excess,
            "effective_reviews": effective_reviews,
            "evidence": evidence,
            "prior": prior,
            "quality": quality,
            "popularity": popularity,
            "wom_score": score.astype(np.float64),
            "wom_confidence": confidence.astype(np.float64),
            "as_of": as_of_col.astype("datetime64[s]"),
        },
        copy=False,  # a block per column: no second copy of all of them
    )
    out.index = index
    return out


# --------------------------------------------------------------------------- snapshot
def derive_reputation(
    merchants: pa.Table, out_dir: Path, settings: Settings, upstream: Mapping[str, Path]
) -> dict[str, Any]:
    """Deriver: write ``wom_score.npy`` and ``wom_confidence.npy`` (float64, table order)."""
    rep = build_reputation(merchants, settings=settings)
    score = rep["wom_score"].to_numpy(dtype=np.float64)
    conf = rep["wom_confidence"].to_numpy(dtype=np.float64)
    np.save(out_dir / "wom_score.npy", score)
    np.save(out_dir / "wom_confidence.npy", conf)
    as_of = rep["as_of"].dropna()
    q = [0.01, 0.25, 0.5, 0.75, 0.99]
    return {
        "rows": len(rep),
        "with_rating_signal": int(rep["signal"].notna().sum()),
        "with_review_counts": int(rep["reviews_damped"].notna().sum()),
        "burst_damped": int(rep["burst"].sum()),
        "as_of_range": [str(as_of.min().date()), str(as_of.max().date())] if len(as_of) else None,
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
