"""Pages of a box or polygon search: a ``sort`` and an exact cursor over every match.

An area search finds *every* match first (``Results.total`` counts them); a page is then
the ``limit`` best of them in the sort's order, strictly after the cursor's key. The key
is the same as the nearby search's (:mod:`geo_discovery.search.cursor`): the sort's
primary value (higher first: ``rating``, ``review_count``, ``-price``; ``distance``: 0),
then metres from the origin, then the ``merchant_id`` rank. The key is a total order, so
a walk of pages visits every match exactly once, whatever the page sizes. The cursor is
signed and bound to the snapshot and to a fingerprint of the search (area, origin, sort,
filters, and the instant ``open_now`` was resolved to).

Examples
--------
>>> first = engine.within_bbox("24.93,60.16,24.96,60.18", limit=5, sort="rating")
>>> rest = engine.within_bbox(
...     "24.93,60.16,24.96,60.18", limit=5, sort="rating", cursor=first.next_cursor
... )
>>> set(first.merchant_ids).isdisjoint(rest.merchant_ids)
True
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from ..errors import InvalidQueryError
from ..query import AREA_SORTS
from . import cursor as cur

if TYPE_CHECKING:
    from .planner import Planner

__all__ = ["AreaPage", "AreaPager"]


@dataclass(frozen=True)
class AreaPage:
    """One page: table rows, metres from the origin, and the next page's cursor."""

    positions: NDArray[np.int64]
    distances_m: NDArray[np.float64]
    next_cursor: str | None


class AreaPager:
    """The paging of one area search: its sort, fingerprint and (decoded) cursor.

    ``search`` is every value that decides the matches and their order (area, origin,
    filters…): its fingerprint binds the cursor to this search.
    """

    def __init__(
        self, planner: Planner, sort: str, cursor: str | None, search: Mapping[str, Any]
    ) -> None:
        if sort not in AREA_SORTS:
            raise InvalidQueryError(
                f"sort={sort!r} is not allowed for box and polygon search; allowed: "
                f"{', '.join(AREA_SORTS)}"
            )
        self.planner = planner
        self.sort = sort
        self.fingerprint = cur.query_fingerprint({**search, "sort": sort})
        self.payload: dict[str, Any] | None = None
        if cursor is not None:
            self.payload = cur.decode_cursor(
                planner.cursor_key, cursor, version=planner.version, fingerprint=self.fingerprint
            )

    def instant(self) -> datetime | None:
        """The ``open_now`` instant the first page resolved (``None`` on the first page)."""
        if self.payload is None or "t" not in self.payload:
            return None
        return cur.parse_instant(self.payload["t"])

    def primary(self, pos: NDArray[np.int64]) -> NDArray[np.float64]:
        """The sort's primary value per row (higher first; unknown values last)."""
        p = self.planner
        if self.sort == "distance":
            return np.zeros(len(pos))
        raw = {"rating": p.stars, "review_count": p.reviews, "price": -p.price}[self.sort][pos]
        return np.where(np.isnan(raw), -np.inf, raw)

    def page(
        self,
        pos: NDArray[np.int64],
        dist: NDArray[np.float64],
        limit: int | None,
        instant: datetime | None = None,
    ) -> AreaPage:
        """The page of ``limit`` (``None``: all) after the cursor, out of every match
        ``(pos, dist)``; ``instant``: the ``open_now`` time the matches were taken at."""
        prim = self.primary(pos)
        rank = self.planner.row_rank[pos]
        order = np.lexsort((rank, dist, -prim))
        pos, dist, prim, rank = pos[order], dist[order], prim[order], rank[order]
        if self.payload is not None:
            p, d, r = self.planner.cursor_after_key(self.payload)
            after = (prim < p) | ((prim == p) & ((dist > d) | ((dist == d) & (rank > r))))
            pos, dist, prim = pos[after], dist[after], prim[after]
        if limit is None or len(pos) <= limit:
            return AreaPage(pos, dist, None)
        pos, dist, last = pos[:limit], dist[:limit], float(prim[limit - 1])
        payload: dict[str, Any] = {
            "v": self.planner.version,
            "f": self.fingerprint,
            "p": last if math.isfinite(last) else None,
            "d": float(dist[-1]),
            "id": str(self.planner.merchants.column("merchant_id")[int(pos[-1])].as_py()),
        }
        if instant is not None:
            payload["t"] = instant.isoformat()
        return AreaPage(pos, dist, cur.encode_cursor(self.planner.cursor_key, payload))
