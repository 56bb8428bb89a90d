"""Local time: time zones at coordinates, and time-of-week bins (weekday/weekend × four
six-hour blocks of local time).

Popular times (:mod:`geo_discovery.ranking.busy`) count each merchant's visits per bin; the
check-in ingest writes the counts (``attributes["visits_by_time"]``), a learned profile
scores a query's bin (:meth:`~geo_discovery.ranking_profile.RankingProfile.at_bin`).

Examples
--------
>>> time_bin(datetime(2024, 7, 13, 21, 30)), time_bin(datetime(2024, 7, 15, 8, 0))
(7, 1)
>>> BIN_LABELS[7]
'weekend 18:00-24:00'
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

__all__ = ["ATTRIBUTE", "BIN_LABELS", "N_BINS", "time_bin", "time_bins", "time_zones_at"]

#: The ``attributes`` key holding a merchant's visits per bin (a list of N_BINS counts).
ATTRIBUTE = "visits_by_time"
_BLOCK_HOURS = 6
N_BINS = 2 * (24 // _BLOCK_HOURS)
#: What each bin is, in order (weekday Monday-Friday, weekend Saturday-Sunday; local time).
BIN_LABELS: tuple[str, ...] = tuple(
    f"{day} {h:02d}:00-{h + _BLOCK_HOURS:02d}:00"
    for day in ("weekday", "weekend")
    for h in range(0, 24, _BLOCK_HOURS)
)


def time_bin(local: datetime | pd.Timestamp) -> int:
    """The bin of a local wall-clock time (module doc)."""
    return int(local.weekday() >= 5) * (N_BINS // 2) + local.hour // _BLOCK_HOURS


def time_bins(local: pd.Series) -> NDArray[np.int64]:
    """:func:`time_bin` of each local time of a datetime Series (-1 where missing)."""
    t = pd.to_datetime(local)
    weekend = (t.dt.day_of_week >= 5).astype("Int64")
    out = weekend * (N_BINS // 2) + t.dt.hour // _BLOCK_HOURS
    return np.asarray(out.fillna(-1).to_numpy(np.int64), dtype=np.int64)


@functools.cache
def _finder() -> Any:
    from timezonefinder import TimezoneFinder

    return TimezoneFinder(in_memory=True)  # 0.1 s to load, and no files left open


def time_zones_at(lat: Sequence[float], lng: Sequence[float]) -> list[str | None]:
    """IANA time zone names at each point, offline (``timezonefinder``).

    Points at sea get the nautical ``Etc/GMT±h`` zones; ``None`` where nothing is known.
    """
    tf = _finder()
    return [tf.timezone_at(lat=float(a), lng=float(b)) for a, b in zip(lat, lng, strict=True)]
