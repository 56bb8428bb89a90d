"""Popular times: how busy each merchant is at a time of week, as a ``best_match`` feature.

People go where it is the time to go: a bar at 10 pm, a bakery at 8 am, a lunch place at
noon on a weekday. A visit log says when each venue's visits happen. The week is cut into
bins (weekday or weekend × four six-hour blocks of local time, :mod:`geo_discovery.timeofweek`);
the check-in ingest stores each merchant's visits per bin in its ``attributes``
(``visits_by_time``), and :func:`busy_table` turns the counts into the
``busy`` feature of a learned profile (:mod:`.profile`):

    busy_ib = log(p_ib / S_b),   p_ib = (c_ib + α · s_cb) / (n_i + α)

``c_ib`` the merchant's visits in bin ``b`` (``n_i`` all of them), ``s_cb`` the share of its
category's visits in the bin (itself shrunk towards ``S_b``, the share of all visits in
the bin), ``α`` = :data:`PRIOR_VISITS`. A merchant with few visits is thus as busy as its
category; one without any counts (a snapshot from another source) gets its category's
profile if any merchant of it has counts, else 0: no lift, no penalty. A query's time
(``at``) picks one bin; :meth:`RankingProfile.at_bin` makes the profile of that bin, so
per bin the score keeps the exact top-k's form (only ``quality`` changes).

Examples
--------
>>> counts = np.array([[0, 0, 0, 10, 0, 0, 0, 10], [0, 10, 10, 0, 0, 10, 0, 0]])
>>> t = busy_table(counts, ["nightlife/bar", "food/bakery"])
>>> bool(t[0, 3] > 0 > t[0, 1]), bool(t[1, 1] > 0 > t[1, 3])
(True, True)
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pyarrow as pa
from numpy.typing import NDArray

from ..query import Ranking
from ..timeofweek import ATTRIBUTE, N_BINS, time_bin, time_zones_at
from .derived import derived

__all__ = ["PRIOR_VISITS", "busy_table", "histograms", "local_time_at", "ranking_at"]

#: Shrinkage: a merchant's profile counts as many visits of its category's as this.
PRIOR_VISITS = 10.0
_CATEGORY_PRIOR = 50.0  # and a category's, as many of all visits' as this


def local_time_at(at: datetime, lat: float, lng: float) -> datetime:
    """``at`` as the local wall-clock time at a point: a naive time is local already; an
    aware one is converted to the point's time zone (UTC where none is known)."""
    if at.tzinfo is None:
        return at
    zone = time_zones_at([lat], [lng])[0]
    return at.astimezone(ZoneInfo(zone or "UTC")).replace(tzinfo=None)


def histograms(attributes: pa.ChunkedArray | None, n: int) -> NDArray[np.float64]:
    """Each merchant's visits per bin from the JSON ``attributes`` (zeros where absent or
    malformed), shape ``(n, N_BINS)``."""
    out = np.zeros((n, N_BINS))
    if attributes is None:
        return out
    needle = f'"{ATTRIBUTE}"'
    for i, text in enumerate(attributes.to_pylist()):
        if not text or needle not in text:
            continue
        try:
            row = np.asarray(json.loads(text)[ATTRIBUTE], dtype=np.float64)
        except (ValueError, TypeError, KeyError):
            continue
        if row.shape == (N_BINS,) and np.isfinite(row).all() and (row >= 0).all():
            out[i] = row
    return out


def busy_table(
    counts: NDArray[np.float64], categories: Sequence[str], prior: float = PRIOR_VISITS
) -> NDArray[np.float64]:
    """The ``busy`` feature per merchant and bin, shape ``(n, N_BINS)`` (module doc)."""
    counts = np.asarray(counts, dtype=np.float64).reshape(len(categories), N_BINS)
    if not counts.any():
        return np.zeros_like(counts)
    total = counts.sum(axis=0)
    overall = (total + 1.0) / (total.sum() + N_BINS)
    codes, uniques = pd.factorize(pd.Series([str(c) for c in categories]), sort=True)
    per_cat = np.zeros((len(uniques), N_BINS))
    np.add.at(per_cat, codes, counts)
    cat_share = (per_cat + _CATEGORY_PRIOR * overall) / (
        per_cat.sum(axis=1, keepdims=True) + _CATEGORY_PRIOR
    )
    mine = (counts + prior * cat_share[codes]) / (counts.sum(axis=1, keepdims=True) + prior)
    return np.log(mine / overall)


def ranking_at(ranking: Ranking, at: datetime | None, lat: float, lng: float) -> Ranking:
    """``ranking`` for a query at ``at`` from ``(lat, lng)``: its profile read at that
    time-of-week bin (:meth:`~geo_discovery.ranking_profile.RankingProfile.at_bin`);
    unchanged without a time, a profile, or a ``busy`` weight."""
    if at is None or ranking.profile is None:
        return ranking
    b = time_bin(local_time_at(at, lat, lng))
    profile = ranking.profile

    def build() -> Ranking:
        binned = profile.at_bin(b)
        return ranking if binned is profile else ranking.replace(profile=binned)

    return derived(ranking, ("bin", b), build)  # one object per ranking and bin (.derived)
