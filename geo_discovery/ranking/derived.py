"""Rankings derived from a query's ranking, one object per (ranking, variant).

A query with a member ranks by its profile's member model, a query with a time by its
profile read at that time of week (:mod:`.busy`). Building a new :class:`Ranking` per
query would defeat everything downstream that recognises a ranking by identity (the
planner's shortlists, its cached arrays, the cursor's fingerprint) and cost a
``dataclasses.replace`` each time, so each variant of a ranking is built once.

Examples
--------
>>> from geo_discovery.query import Ranking
>>> from geo_discovery.ranking_profile import RankingProfile
>>> joint = RankingProfile(weights=(("wom", 1.0),), gamma=1.0, radii=(("", 500.0),),
...                        member_weights=(("own_visits", 1.0),))
>>> r = Ranking(profile=RankingProfile(weights=(("wom", 2.0),), gamma=1.0,
...                                    radii=(("", 500.0),), personal=joint))
>>> member_ranking(r) is member_ranking(r), member_ranking(r).profile is joint
(True, True)
>>> member_ranking(Ranking()) == Ranking()
True
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

from ..query import Ranking

__all__ = ["ByIdentity", "derived", "member_ranking"]

T = TypeVar("T")


class ByIdentity(Generic[T]):
    """Values derived from objects, one per (object, variant), found by the object's
    identity (no hashing of its fields): the same object asked again gets the same value.
    ``also``: a second object the value depends on, by identity too. Each entry holds its
    objects, so their ids are not reused while the entry lives. At ``size`` entries the
    oldest goes unless it was found since it was kept or last spared: then it is spared
    once, to the back of the line (a "second chance", as the CLOCK page cache: a member
    asking all day stays; no cliff where every member is resolved again)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._by_id: dict[tuple[int, Hashable, int], list[Any]] = {}  # obj, also, value, found
        self._order: deque[tuple[int, Hashable, int]] = deque()  # the keys, oldest first
        self._lock = threading.Lock()  # an insertion (a miss: rare, and slow anyway)

    def __len__(self) -> int:
        return len(self._by_id)

    def values(self) -> list[T]:
        """The values kept now (a copy: other threads may add)."""
        return [entry[2] for entry in tuple(self._by_id.values())]

    def get(
        self, obj: object, variant: Hashable, build: Callable[[], T], also: object = None
    ) -> T:
        """``build()``, the ``variant`` of ``obj`` (with ``also``); built once for each
        (a ``None`` value is not kept)."""
        hit = self.find(obj, variant, also)
        return self.put(obj, variant, build(), also) if hit is None else hit

    def find(self, obj: object, variant: Hashable, also: object = None) -> T | None:
        """The value kept for ``(obj, variant, also)``, or ``None`` (no closure to make: a
        hot path asks this, then :meth:`put` on a miss)."""
        hit = self._by_id.get((id(obj), variant, id(also)))
        if hit is None or hit[0] is not obj or hit[1] is not also:
            return None
        hit[3] = True  # found again: spared once when it comes up to go (no lock: a flag)
        return hit[2]

    def put(self, obj: object, variant: Hashable, value: T, also: object = None) -> T:
        """Keep ``value`` for ``(obj, variant, also)`` (at the size an entry goes: class doc)."""
        key = (id(obj), variant, id(also))
        with self._lock:  # the keys' order in a deque: a dict's first key after many
            if key not in self._by_id:  # deletions is found by skipping them (~1 µs at 4096)
                while len(self._by_id) >= self._size:  # each turn drops one or clears a flag
                    old = self._order.popleft()
                    entry = self._by_id[old]
                    if entry[3]:
                        entry[3] = False
                        self._order.append(old)
                    else:
                        del self._by_id[old]
                self._order.append(key)
            self._by_id[key] = [obj, also, value, False]
        return value


_RANKINGS: ByIdentity[Ranking] = ByIdentity(256)


def derived(ranking: Ranking, variant: Hashable, build: Callable[[], Ranking]) -> Ranking:
    """``build()``, the ``variant`` of ``ranking``, the same object for the same ranking
    object and variant."""
    return _RANKINGS.get(ranking, variant, build)


def member_ranking(ranking: Ranking) -> Ranking:
    """The ranking a query with a member ranks by: its profile's member model
    (:meth:`~geo_discovery.ranking_profile.RankingProfile.for_member`)."""
    profile = ranking.profile
    if profile is None or profile.for_member() is profile:
        return ranking
    return derived(ranking, "member", lambda: ranking.replace(profile=profile.for_member()))
