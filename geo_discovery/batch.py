"""Validation of many query points at once (:meth:`DiscoveryEngine.nearby_many`).

The arrays are checked in one vectorised pass, with the same limits and messages as one
:class:`~geo_discovery.query.NearbyQuery`, and every bad row is reported in one error.

Examples
--------
>>> from geo_discovery.query import Limits
>>> try:
...     batch_query([0, 91, -95], [0, 0, 200], 5, limits=Limits())
... except InvalidQueryError as exc:
...     print([p["parameter"] for p in exc.problems])
...     print(str(exc).split("; ")[:2])
['lat[1]', 'lat[2]', 'lng[2]']
['lat[1]=91 is out of range', 'allowed: -90 <= lat <= 90']
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from .errors import InvalidQueryError
from .query import Filters, Limits, NearbyQuery

__all__ = ["BATCH_SORTS", "MAX_LISTED", "batch_query"]

#: The sorts a batch answers (ranked sorts run one query at a time: ``nearby``).
BATCH_SORTS = ("distance",)
#: Bad rows named in the message (all of them are in ``InvalidQueryError.problems``).
MAX_LISTED = 10


def _show(v: float) -> str:
    return str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)


def _coords(
    problems: list[dict[str, Any]], name: str, values: Any, bound: float
) -> NDArray[np.float64]:
    """``values`` as a 1-D float64 array; each row outside ``±bound`` (or NaN) is a problem."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be an array of numbers: {exc}") from None
    if arr.ndim != 1:
        problems.append(
            {
                "parameter": name,
                "value": list(arr.shape),
                "message": f"{name} must be one-dimensional, got shape {arr.shape}",
            }
        )
        return arr.reshape(-1)
    for i in np.flatnonzero(~((arr >= -bound) & (arr <= bound))).tolist():
        v = float(arr[i])
        problems.append(
            {
                "parameter": f"{name}[{i}]",
                "value": None if v != v else v,
                "message": f"{name}[{i}]={_show(v)} is out of range; allowed: "
                f"{-bound:g} <= {name} <= {bound:g}",
            }
        )
    return arr


def batch_query(
    lats: Any,
    lngs: Any,
    k: int,
    *,
    radius_m: float | None = None,
    sort: str = "distance",
    where: Filters | None = None,
    limits: Limits,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NearbyQuery]:
    """Checked query points (two float64 arrays) and the shared query parameters.

    Raises one :class:`~geo_discovery.errors.InvalidQueryError` naming every problem: each
    bad row (``lat[3]=91 is out of range…``), ``k``, ``radius_m``, ``sort`` (only
    ``distance``) and filters a batch cannot apply (text and opening hours).
    """
    problems: list[dict[str, Any]] = []
    lat = _coords(problems, "lat", lats, 90.0)
    lng = _coords(problems, "lng", lngs, 180.0)
    if len(lat) != len(lng):
        problems.append(
            {
                "parameter": "lng",
                "value": len(lng),
                "message": f"lat and lng differ in length: {len(lat)} != {len(lng)}",
            }
        )
    query = None
    try:
        query = NearbyQuery(0.0, 0.0, k, radius_m=radius_m, where=where or Filters())
        query.check(limits)
    except InvalidQueryError as exc:
        name = str(exc).split("=", 1)[0]
        problems.extend(exc.problems or [{"parameter": name, "value": None, "message": str(exc)}])
    if sort not in BATCH_SORTS:
        problems.append(
            {
                "parameter": "sort",
                "value": sort if isinstance(sort, str) else repr(sort),
                "message": f"nearby_many supports sort=distance, got sort={sort!r}; allowed: "
                f"{', '.join(BATCH_SORTS)} (other sorts: nearby, one query at a time)",
            }
        )
    if query is not None and (query.where.text is not None or query.where.needs_hours):
        problems.append(
            {
                "parameter": "where",
                "value": None,
                "message": "nearby_many filters by the merchant columns only; where.text, "
                "open_now and open_at are not supported here (use nearby)",
            }
        )
    if problems:
        shown = [p["message"] for p in problems[:MAX_LISTED]]
        if len(problems) > MAX_LISTED:
            shown.append(f"… and {len(problems) - MAX_LISTED} more problems")
        raise InvalidQueryError("; ".join(shown), problems)
    assert query is not None
    return lat, lng, query
