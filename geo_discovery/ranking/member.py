"""Member history as a bounded lift of ``best_match``: "member data is the core asset".

A member's history — the visits in a query's :class:`~geo_discovery.query.Member` plus
what the snapshot holds for their member id — lifts the merchants they return to and the
categories they favour. With ``n_i`` the member's visits to merchant ``i`` and ``m_c`` to
category ``c`` (the merchant's full category path), the score is multiplied by

    boost_i = exp(b_i),   b_i = (w_own · log(1 + n_i) + w_cat · log(1 + m_c(i))) / γ

— the member terms of the discrete-choice utility (:mod:`.calibrate` fits ``w_own``,
``w_cat`` with the rest of the profile; ``γ`` is the profile's distance exponent, 1 for
the hand-set ranking, whose member weights come from the ``ranking_member_weights``
setting). The lift is *bounded*: a merchant the member never visited is lifted by at most
``exp(max_c w_cat · log(1 + m_c) / γ)`` (:attr:`MemberBoost.max_unvisited`), which is what
keeps the top-k exact (the planner's refine loop, :mod:`geo_discovery.search.planner`).

Examples
--------
>>> import numpy as np
>>> codes = np.array([0, 0, 1, 1])            # merchants 0, 1: cafés; 2, 3: bakeries
>>> b = MemberBoost.build({0: 3}, codes, n_codes=2, w_own=1.0, w_cat=0.5)
>>> np.round(np.exp(b.log_boost(np.arange(4), codes)), 3).tolist()
[8.0, 2.0, 1.0, 1.0]
>>> round(float(np.exp(b.max_unvisited)), 3)
2.0
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

__all__ = ["MemberBoost"]


@dataclass(frozen=True)
class MemberBoost:
    """One member's lift, resolved against a snapshot's rows (module doc)."""

    rows: NDArray[np.int64]  # visited merchants (table rows), sorted
    visits: NDArray[np.int64]  # the member's visits to each of ``rows``
    code_visits: NDArray[np.int64]  # the member's visits per category code
    w_own: float  # already divided by γ
    w_cat: float
    #: Values derived from this lift by its users (the planner's forms of it), kept with it.
    derived: dict = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def build(
        cls,
        visits: Mapping[int, int],
        codes: NDArray[np.integer],
        *,
        n_codes: int,
        w_own: float,
        w_cat: float,
        gamma: float = 1.0,
    ) -> MemberBoost:
        """From ``{row: visits}`` and each row's category code."""
        rows = np.array(sorted(visits), dtype=np.int64)
        counts = np.array([visits[r] for r in rows.tolist()], dtype=np.int64)
        code_of = np.asarray(codes)[rows]  # counts are integers: their float sums are exact
        per_code = np.bincount(code_of, weights=counts, minlength=n_codes).astype(np.int64)
        for a in (rows, counts, per_code):  # shared: the snapshot caches a member's lift
            a.setflags(write=False)
        return cls(rows, counts, per_code, w_own / gamma, w_cat / gamma)

    def __bool__(self) -> bool:
        return len(self.rows) > 0

    def own_visits(self, rows: NDArray[np.int64]) -> NDArray[np.int64]:
        """The member's visits to each of ``rows`` (0 where none)."""
        n = len(self.rows)
        if n == 0:
            return np.zeros(len(rows), dtype=np.int64)
        at = np.searchsorted(self.rows, rows)
        np.minimum(at, n - 1, out=at)  # (np.clip costs ~7x more per call)
        return np.where(self.rows[at] == rows, self.visits[at], 0)

    def category_visits(self, codes: NDArray[np.integer]) -> NDArray[np.int64]:
        return self.code_visits[np.asarray(codes, dtype=np.int64)]

    def log_boost(self, rows: NDArray[np.int64], codes: NDArray[np.integer]) -> NDArray[np.float64]:
        """``b`` of each of ``rows`` (``codes``: their category codes)."""
        own = np.log1p(self.own_visits(rows).astype(np.float64))
        cat = np.log1p(self.category_visits(codes).astype(np.float64))
        return self.w_own * own + self.w_cat * cat

    def lift_logs(self, codes: NDArray[np.integer]) -> tuple[NDArray[np.float64], NDArray]:
        """:meth:`log_boost` of :attr:`rows` themselves (``codes``: their category codes),
        without looking the rows up, and of a merchant the member never visited, per
        category code: the same operations on the same values, so equal bit for bit (one
        ``log1p`` for both: a member's first query pays for every NumPy call)."""
        n = len(self.rows)
        logs = np.log1p(np.concatenate((self.visits, self.code_visits)).astype(np.float64))
        cat = self.w_cat * logs[n:]  # w_cat · log(1 + m_c), per code
        own = self.w_own * logs[:n] + cat[np.asarray(codes, dtype=np.int64)]
        return own, cat + self.w_own * 0.0  # (w_own · log(1 + 0): what log_boost adds)

    @property
    def max_unvisited(self) -> float:
        """The largest ``b`` a merchant the member never visited can have (≥ 0)."""
        if not len(self.code_visits):
            return 0.0
        return max(0.0, self.w_cat * math.log1p(float(self.code_visits.max())))

    @functools.cached_property
    def _fingerprint(self) -> str:
        h = hashlib.sha256()
        for part in (self.rows, self.visits, np.array([self.w_own, self.w_cat])):
            h.update(np.ascontiguousarray(part).tobytes())
        return h.hexdigest()[:16]

    def fingerprint(self) -> str:
        """A short hash of the lift (cursors of a member's pages depend on it)."""
        return self._fingerprint
