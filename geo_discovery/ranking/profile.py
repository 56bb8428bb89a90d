"""A learned ranking profile: ``best_match`` weights, distance decay and radii fitted to visits.

The hand-set ``best_match`` (docs/ranking.md) multiplies distance decay, word of mouth and
district strength with weights and radii chosen by reasoning. A profile replaces them with
values fitted to where people actually went (:mod:`geo_discovery.ranking.calibrate`): a
discrete-choice (conditional logit) model whose utility for merchant ``i`` seen from a
point at distance ``d`` is

    u_i = Σ_f w_f · x_if  −  γ · log(1 + (d / R_c(i))²)

with the merchant features ``x`` of :data:`FEATURES` (word of mouth, visit or review volume,
recency, repeat share, district strength, the category's share of chosen visits, and
popular times at the query's time of week, :mod:`.busy`), a
distance exponent ``γ`` and a consumption radius ``R_c`` per category root. Ranking by
``exp(u)`` is ranking by

    score_i = quality_i / (1 + chord2 · K_i),   quality_i = exp((Σ_f w_f x_if) / γ − shift),
                                               K_i = (R_earth / R_c(i))²

(``x ↦ x^(1/γ)`` is increasing), which is the form the exact top-k walk bounds per node
(:mod:`geo_discovery.search.ranked`): a profile changes the numbers, never the exactness.
``shift`` makes the largest quality 1. Member history (:data:`MEMBER_FEATURES`) adds
bounded per-merchant and per-category terms for one member (the planner applies them).

"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping

import numpy as np
import pandas as pd
import pyarrow as pa
from numpy.typing import NDArray

from ..distance import EARTH_RADIUS_M
from ..ranking_profile import PROFILE_FEATURES, PROFILE_MEMBER_FEATURES, RankingProfile
from .busy import busy_table, histograms

__all__ = [
    "FEATURES",
    "MEMBER_FEATURES",
    "RankingProfile",
    "feature_values",
    "merchant_features",
    "profile_factors",
    "profile_parts",
    "profile_quality",
    "share_table",
]

FEATURES = PROFILE_FEATURES
MEMBER_FEATURES = PROFILE_MEMBER_FEATURES
_MAX_LOG_QUALITY = 600.0  # exp() stays finite


def profile_quality(
    profile: RankingProfile, features: Mapping[str, NDArray[np.float64]]
) -> NDArray[np.float64]:
    """``exp(Σ_f w_f x_f / γ − shift)`` in (0, 1]: the score's distance-free factor."""
    n = len(next(iter(features.values()))) if features else 0
    u = np.zeros(n)
    for f, w in profile.weights:
        if w:
            u = u + w * feature_values(profile, features, f)
    u = u / profile.gamma
    if n == 0:
        return u
    return np.exp(np.clip(u - u.max(), -_MAX_LOG_QUALITY, 0.0))


def profile_parts(
    profile: RankingProfile,
    features: Mapping[str, NDArray[np.float64]],
    rows: NDArray[np.int64],
    quality: NDArray[np.float64],
) -> tuple[list[dict[str, dict[str, float]]], NDArray[np.float64]]:
    """Per row of ``rows``: each weighted feature's ``value``, learned ``weight`` and
    ``factor = exp(weight · value / γ)``, and the scale ``quality / Π factors`` (the
    normalisation that makes the best quality 1), so ``quality = Π factors × scale``."""
    parts: list[dict[str, dict[str, float]]] = [{} for _ in rows]
    log_prod = np.zeros(len(rows))
    for f, w in profile.weights:
        if not w:
            continue
        x = feature_values(profile, features, f)[rows]
        read_at = profile.time_bin if np.ndim(features[f]) == 2 else None
        log_f = w * x / profile.gamma
        log_prod += log_f
        for i in range(len(rows)):
            parts[i][f] = {
                "value": float(x[i]),
                "weight": float(w),
                "factor": float(np.exp(log_f[i])),
            }
            if read_at is not None:  # popular times: which time-of-week bin was read
                parts[i][f]["time_bin"] = float(read_at)
    with np.errstate(divide="ignore", over="ignore"):
        scale = np.asarray(quality, dtype=np.float64) / np.exp(log_prod)
    return parts, scale


def feature_values(
    profile: RankingProfile, features: Mapping[str, NDArray[np.float64]], name: str
) -> NDArray[np.float64]:
    """One feature per merchant as ``profile`` reads it: ``busy`` (one column per
    time-of-week bin) at the profile's :attr:`~RankingProfile.time_bin`, 0 without one."""
    x = np.asarray(features[name], dtype=np.float64)
    if x.ndim == 2:
        return x[:, profile.time_bin] if profile.time_bin is not None else np.zeros(len(x))
    return x


def profile_factors(
    profile: RankingProfile, categories: list[str], distance_scale: float = 1.0
) -> NDArray[np.float64]:
    """``K = (R_earth / (R_c · scale))²`` per category of ``categories``."""
    radii = np.array([profile.radius_for(c) for c in categories], dtype=np.float64)
    return (EARTH_RADIUS_M / (radii * distance_scale)) ** 2


def _attribute(attributes: pa.ChunkedArray | None, key: str, n: int) -> NDArray[np.float64]:
    """A numeric key of the JSON ``attributes`` column (NaN where absent)."""
    out = np.full(n, np.nan)
    if attributes is None:
        return out
    needle = f'"{key}"'
    for i, text in enumerate(attributes.to_pylist()):
        if text and needle in text:
            try:
                out[i] = float(json.loads(text).get(key))
            except (ValueError, TypeError):
                continue
    return out


def merchant_features(
    merchants: pa.Table,
    *,
    wom: NDArray[np.float64],
    district_term: NDArray[np.float64],
    profile: RankingProfile | None = None,
) -> dict[str, NDArray[np.float64]]:
    """The :data:`FEATURES` of every merchant, table order.

    ``wom`` word of mouth (0..1); ``volume`` log(1 + review or visit count) minus its
    median (:func:`_centred_log_volume`); ``recency``
    −log(1 + days since the last review or visit, to the table's newest), the median where
    unknown; ``repeat`` the share of visits by returning visitors (0 where unknown);
    ``district`` the district term; ``category`` the log share of chosen visits of the
    merchant's category under ``profile`` (0 without one); ``busy`` popular times, one
    column per time-of-week bin (:func:`~geo_discovery.ranking.busy.busy_table`, read
    with :func:`feature_values`).
    """
    n = merchants.num_rows
    names = merchants.column_names

    def column(name: str) -> pd.Series:
        if name not in names:
            return pd.Series([None] * n)
        return merchants.column(name).to_pandas()

    reviews = pd.to_numeric(column("review_count"), errors="coerce").to_numpy(np.float64)
    last = pd.to_datetime(column("last_review"), errors="coerce")
    age = (
        (last.max() - last).dt.days.to_numpy(np.float64)
        if last.notna().any()
        else np.full(n, np.nan)
    )
    recency = -np.log1p(np.clip(age, 0, None))
    known = np.isfinite(recency)
    recency = np.where(known, recency, np.median(recency[known]) if known.any() else 0.0)
    attrs = merchants.column("attributes") if "attributes" in names else None
    repeat = np.nan_to_num(_attribute(attrs, "repeat_share", n))
    cats = [str(c) for c in column("category").tolist()]
    category = (
        np.array([profile.category_share(c) for c in cats]) if profile is not None else np.zeros(n)
    )
    return {
        "wom": np.asarray(wom, dtype=np.float64),
        "volume": _centred_log_volume(reviews),
        "recency": recency,
        "repeat": repeat,
        "district": np.asarray(district_term, dtype=np.float64),
        "category": category,
        "busy": busy_table(histograms(attrs, n), cats),
    }


def _centred_log_volume(reviews: NDArray[np.float64]) -> NDArray[np.float64]:
    """``log(1 + count) − median over merchants with a count`` (0 where unknown).

    Centring makes the feature the same whether the counts cover a month or a year (a
    longer window shifts every log count by about the same amount), so a weight fitted
    on one window means the same on another and on other data."""
    logs = np.log1p(np.clip(reviews, 0, None))
    known = np.isfinite(logs)
    if not known.any():
        return np.zeros(len(reviews))
    return np.where(known, logs - float(np.median(logs[known])), 0.0)


def share_table(
    categories: list[str], counts: Mapping[str, float]
) -> tuple[tuple[str, float], ...]:
    """``(prefix, log share)`` of chosen visits per category and every prefix of it,
    smoothed (+1 per category): the ``category`` feature's table."""
    totals: dict[str, float] = {}
    for cat in set(categories):
        parts = cat.split("/")
        for i in range(1, len(parts) + 1):
            totals.setdefault("/".join(parts[:i]), 0.0)
    for cat, n in counts.items():
        parts = str(cat).split("/")
        for i in range(1, len(parts) + 1):
            key = "/".join(parts[:i])
            totals[key] = totals.get(key, 0.0) + float(n)
    grand = sum(float(n) for n in counts.values()) + len(totals)
    return tuple(sorted((k, math.log((v + 1.0) / grand)) for k, v in totals.items()))
