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
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

__all__ = [
    "ATTRIBUTE", "BIN_LABELS", "N_BINS", "instant", "time_bin", "time_bins", "time_zones_at",
]  # fmt: skip

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


#: The instants opening hours are read at (``open_at``): the hours parser reads local dates
#: from 1900 through 9999 (earlier and later, "24/7" is closed), so a day's margin on each
#: side keeps every zone's local date inside. Naive times (local wall time) alike.
HOURS_SPAN = (datetime(1900, 1, 2), datetime(9999, 12, 30, 23, 59, 59))


def instant(value: datetime | str, name: str, *, hours: bool = False) -> datetime | str:
    """``value`` (ISO 8601 text or a datetime) as a datetime, else why not: the message
    a query error gives. An aware time must be a date in UTC too: its offset can take
    9999-12-31 or 0001-01-01 past what Python's dates hold. With ``hours`` (an instant
    opening hours are read at), it must be within :data:`HOURS_SPAN`.

    >>> instant("2024-07-15T18:30:00Z", "at").hour, instant("tonight", "at")[:15]
    (18, "at='tonight' is")
    >>> instant("9999-12-31T23:59:59-12:00", "at")[:51]
    'at=9999-12-31T23:59:59-12:00 is out of range in UTC'
    >>> instant("0001-01-01T12:00:00Z", "open_at", hours=True)[:68]
    'open_at=0001-01-01T12:00:00Z is outside the dates opening hours are '
    """
    parsed = value if isinstance(value, datetime) and value == value else None  # not NaT
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            parsed = None
    if parsed is None:
        return f"{name}={value!r} is not an ISO 8601 date-time (e.g. 2024-07-15T18:30:00+02:00)"
    shown = parsed.isoformat() if isinstance(value, datetime) else value
    try:
        utc = parsed.astimezone(UTC).replace(tzinfo=None) if parsed.tzinfo else parsed
    except OverflowError:
        utc = None
        if not hours:
            return (f"{name}={shown} is out of range in UTC; allowed: 0001-01-01T00:00:00Z … "
                    "9999-12-31T23:59:59Z")  # fmt: skip
    if hours and (utc is None or not HOURS_SPAN[0] <= utc <= HOURS_SPAN[1]):
        return (f"{name}={shown} is outside the dates opening hours are read for; allowed: "
                f"{HOURS_SPAN[0].isoformat()}Z … {HOURS_SPAN[1].isoformat()}Z")  # fmt: skip
    return parsed
