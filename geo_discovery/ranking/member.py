"""Member history as a bounded lift of ``best_match``: "member data is the core asset".

A member's history — the visits in a query's :class:`~geo_discovery.query.Member` plus
what the snapshot holds for their member id — lifts the merchants they return to and the
categories they favour. With ``n_i`` the member's visits to merchant ``i`` and ``m_c`` to
category ``c`` (the merchant's full category path), the score is multiplied by

    boost_i = exp(b_i),   b_i = min((w_own · log(1 + n_i) + w_cat · log(1 + m_c(i))) / γ, log L)

— the member terms of the discrete-choice utility (:mod:`.calibrate` fits ``w_own``,
``w_cat`` with the rest of the profile; ``γ`` is the profile's distance exponent, 1 for
the hand-set ranking, whose member weights come from the ``ranking_member_weights``
setting), capped at ``L``, the ``member_max_lift`` setting. The lift is *bounded*: by
``L`` for every merchant (a fitted profile lifted a merchant visited a thousand times
×6·10¹¹; with decay ∝ 1/d², a lift ``L`` makes up for a distance √L times longer), and
for a merchant the member never visited by
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
>>> capped = MemberBoost.build({0: 3}, codes, n_codes=2, w_own=1.0, w_cat=0.5, max_lift=5.0)
>>> np.round(np.exp(capped.log_boost(np.arange(4), codes)), 3).tolist()
[5.0, 2.0, 1.0, 1.0]
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numba import njit
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
    #: The largest log of a lift (``log`` of the ``member_max_lift`` setting): every
    #: ``b`` is at most this, a visited merchant's too.
    cap: float = math.inf
    #: A lift resolved from a member id: the id's secret-keyed hash (the snapshot's
    #: ``MemberHistories.token``), part of :meth:`fingerprint`; ``None``: visits only.
    token: str | None = field(default=None, repr=False)

    @classmethod
    def build(cls, visits: Mapping[int, int], codes: NDArray[np.integer], **kw: Any) -> MemberBoost:
        """From ``{row: visits}`` and each row's category code (``kw``: :meth:`from_rows`'s
        ``n_codes``, ``w_own``, ``w_cat``, ``gamma``)."""
        rows = np.fromiter(visits.keys(), dtype=np.int64, count=len(visits))
        counts = np.fromiter(visits.values(), dtype=np.int64, count=len(visits))
        return cls.from_rows(rows, counts, codes, **kw)

    @classmethod
    def from_rows(
        cls,
        rows: NDArray[np.integer],
        counts: NDArray[np.integer],
        codes: NDArray[np.integer],
        *,
        n_codes: int,
        w_own: float,
        w_cat: float,
        gamma: float = 1.0,
        max_lift: float = math.inf,
    ) -> MemberBoost:
        """From visited rows and their visits, in any order: a row given more than once
        has the sum of its visits, a row below 0 (a merchant gone) is skipped. One
        compiled call (:func:`_merge`): a member's first query pays for each NumPy call.

        >>> b = MemberBoost.from_rows(np.array([3, -1, 0, 3]), np.array([1, 5, 2, 1]),
        ...                           np.array([0, 0, 1, 1]), n_codes=2, w_own=1, w_cat=1)
        >>> b.rows.tolist(), b.visits.tolist(), b.code_visits.tolist()
        ([0, 3], [2, 2], [2, 2])
        """
        rows = np.ascontiguousarray(rows, dtype=np.int64)
        counts = np.ascontiguousarray(counts, dtype=np.int64)
        merged = _merge(rows, counts, np.ascontiguousarray(codes), n_codes)
        for a in merged:  # shared: the snapshot caches a member's lift
            a.setflags(write=False)
        return cls(*merged, w_own / gamma, w_cat / gamma, cap=math.log(max_lift))

    def __bool__(self) -> bool:
        return len(self.rows) > 0

    @property
    def exponents(self) -> dict[str, float]:
        """What ``explain`` shows of the lift: ``boost = min((1 + visits)^own_visits ×
        (1 + category visits)^own_category, max_lift)`` (the weights divided by γ)."""
        return {"own_visits": self.w_own, "own_category": self.w_cat,
                "max_lift": float(f"{math.exp(self.cap):.12g}")}  # (exp(log(100)): 100.00…04)

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
        return np.minimum(self.w_own * own + self.w_cat * cat, self.cap)

    def lift_logs(self, codes: NDArray[np.integer]) -> tuple[NDArray[np.float64], NDArray]:
        """:meth:`log_boost` of :attr:`rows` themselves (``codes``: their category codes),
        without looking the rows up, and of a merchant the member never visited, per
        category code: the same operations on the same values, so equal bit for bit (one
        ``log1p`` for both: a member's first query pays for every NumPy call)."""
        n = len(self.rows)
        logs = np.log1p(np.concatenate((self.visits, self.code_visits)).astype(np.float64))
        cat = self.w_cat * logs[n:]  # w_cat · log(1 + m_c), per code
        own = self.w_own * logs[:n] + cat[np.asarray(codes, dtype=np.int64)]
        unvisited = cat + self.w_own * 0.0  # (w_own · log(1 + 0): what log_boost adds)
        return np.minimum(own, self.cap), np.minimum(unvisited, self.cap)

    @property
    def max_unvisited(self) -> float:
        """The largest ``b`` a merchant the member never visited can have (≥ 0)."""
        if not len(self.code_visits):
            return 0.0
        return max(0.0, min(self.w_cat * math.log1p(float(self.code_visits.max())), self.cap))

    @functools.cached_property
    def _fingerprint(self) -> str:
        h = hashlib.sha256()
        for part in (self.rows, self.visits, np.array([self.w_own, self.w_cat, self.cap])):
            h.update(np.ascontiguousarray(part).tobytes())
        if self.token is not None:  # (after fixed-width parts: no two inputs run together)
            h.update(b"token:" + self.token.encode("utf-8"))
        return h.hexdigest()[:16]

    def fingerprint(self) -> str:
        """A short hash of the lift (cursors of a member's pages depend on it): of the
        visited rows, their visits and the weights, and of :attr:`token` when the lift was
        resolved from a member id — so only a query naming that id gets the same one (the
        same visits given inline do not: the cursor is no oracle for a history)."""
        return self._fingerprint


@njit(cache=True, nogil=True)
def _merge(
    rows: NDArray, counts: NDArray, codes: NDArray, n_codes: int
) -> tuple[NDArray, NDArray, NDArray]:  # pragma: no cover - compiled
    """:meth:`MemberBoost.from_rows`'s arrays: the rows (sorted, once each, none below 0),
    the sum of each one's visits and the visits per category code."""
    order = np.argsort(rows, kind="mergesort")
    out_rows, out_counts = np.empty(len(rows), np.int64), np.empty(len(rows), np.int64)
    per_code = np.zeros(n_codes, np.int64)
    m = 0
    for i in order:
        row, n = rows[i], counts[i]
        if row < 0:
            continue
        if row >= len(codes):
            raise IndexError("a member's row is past the table")
        if m > 0 and out_rows[m - 1] == row:
            out_counts[m - 1] += n
        else:
            out_rows[m], out_counts[m] = row, n
            m += 1
        per_code[codes[row]] += n
    return out_rows[:m].copy(), out_counts[:m].copy(), per_code
