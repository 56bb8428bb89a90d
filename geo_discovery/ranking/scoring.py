"""Pure scoring for ``best_match``: consumption radii, distance decay, weights, explanations.

The blended score of merchant ``i`` seen from query point ``q`` is a product of three
parts, each in ``[0, 1]`` (the formulas and the reasoning behind every default are in
``docs/ranking.md``)::

    score = decay × W × X  =  W × X / (1 + (chord_m / (R_i · distance_scale))²)
    decay = 1 / (1 + (chord_m / (R_i · distance_scale))²)     distance decay
    W     = (1 - w_wom) + w_wom · wom_score_i                  word of mouth
    X     = (1 - w_district) + w_district · district_term_i     district strength

* ``R_i`` is the *consumption radius* of the merchant's category: the distance at which
  its pull has halved (a bodega's is a few hundred metres, a furniture store's several
  kilometres). It comes from :data:`DEFAULT_CONSUMPTION_RADII_M` by longest category
  prefix, overridable by settings and per request (:class:`~geo_discovery.query.Ranking`).
* ``chord_m`` is the straight-line (chord) distance through the Earth, shorter than the
  great-circle distance by ``d³ / 24 R²``: 1 mm at 10 km, 0.13 m at 50 km. It keeps the score
  a function of ``+ × /`` only: every merchant's score is the same bit for bit however the
  candidates were batched, which is what makes ``best_match`` exactly reproducible
  against brute force and cursors stable across pages.
* ``w_wom`` and ``w_district`` in ``[0, 1]`` say how much each part matters: 0 ignores it,
  1 multiplies by it in full. The score is computed as ``quality / (1 + chord2 · K)``
  with ``quality = W × X`` and ``K = (R_earth / (R_i · distance_scale))²``
  (:func:`best_match_score`): non-decreasing in ``quality``, non-increasing in distance
  and ``K``, so per-cell maxima of ``quality`` and minima of ``K`` give valid upper
  bounds (:mod:`geo_discovery.search.ranked`); IEEE rounding is monotone, so the bounds
  hold for the computed floats too.

Examples
--------
>>> table = consumption_radii()
>>> radius_for("food/grocery/bodega", table), radius_for("shop/furniture", table)
(300.0, 6000.0)
>>> k = decay_factor(300.0)
>>> round(float(distance_decay(chord2_at_m(300.0), k)), 6)   # half pull at the radius
0.5
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..distance import EARTH_RADIUS_M
from ..models import Explanation
from ..query import Ranking

__all__ = [
    "DEFAULT_CONSUMPTION_RADII_M",
    "DEFAULT_RADIUS_M",
    "NEUTRAL_DISTRICT_TERM",
    "NEUTRAL_WOM_CONFIDENCE",
    "NEUTRAL_WOM_SCORE",
    "best_match_score",
    "chord2_at_m",
    "consumption_radii",
    "decay_factor",
    "distance_decay",
    "explanations",
    "part_term",
    "quality",
    "radii_for_categories",
    "radius_for",
]

#: Consumption radius (metres): the distance at which a category's pull halves. Looked up
#: by the longest ``/``-prefix of the merchant's category; see docs/ranking.md for why.
DEFAULT_CONSUMPTION_RADII_M: dict[str, float] = {
    "food": 1_000.0,
    "food/grocery": 600.0,
    "food/grocery/bodega": 300.0,
    "food/grocery/convenience": 300.0,
    "food/grocery/greengrocer": 500.0,
    "food/grocery/grocery": 800.0,
    "food/grocery/supermarket": 1_500.0,
    "food/deli": 400.0,
    "food/coffee": 500.0,
    "food/cafe": 600.0,
    "food/bakery": 700.0,
    "food/fast_food": 800.0,
    "food/ice_cream": 800.0,
    "food/restaurant": 1_500.0,
    "food/market": 2_000.0,
    "nightlife": 1_500.0,
    "lodging": 3_000.0,
    "shop": 2_000.0,
    "shop/convenience": 300.0,
    "shop/kiosk": 300.0,
    "shop/clothes": 3_000.0,
    "shop/electronics": 4_000.0,
    "shop/department_store": 5_000.0,
    "shop/mall": 5_000.0,
    "shop/furniture": 6_000.0,
    "shop/car": 10_000.0,
}
#: Categories no prefix of the table matches (``unknown`` included).
DEFAULT_RADIUS_M = 1_500.0

#: Word of mouth used while a snapshot has no derived reputation: the middle of the scale,
#: with no confidence, so it neither helps nor hurts anyone.
NEUTRAL_WOM_SCORE = 0.5
NEUTRAL_WOM_CONFIDENCE = 0.0
#: District term used while a snapshot has no districts: 1 leaves the score unchanged.
NEUTRAL_DISTRICT_TERM = 1.0


def consumption_radii(ranking: Ranking | None = None) -> dict[str, float]:
    """The consumption radius table: the defaults updated by ``ranking.radii``.

    Keys are category prefixes (``food/grocery``; ``""`` is the fallback for categories
    nothing matches), values metres.

    Examples
    --------
    >>> consumption_radii(Ranking(radii={"food/restaurant": 2500}))["food/restaurant"]
    2500.0
    """
    table = dict(DEFAULT_CONSUMPTION_RADII_M)
    table[""] = DEFAULT_RADIUS_M
    if ranking is not None:
        table.update(dict(ranking.radii))
    return table


def radius_for(category: str, table: Mapping[str, float]) -> float:
    """Consumption radius of one category: its longest prefix (at ``/``) in ``table``."""
    path = str(category)
    while True:
        if path in table:
            return float(table[path])
        if "/" not in path:
            return float(table.get("", DEFAULT_RADIUS_M))
        path = path.rsplit("/", 1)[0]


def radii_for_categories(categories: Sequence[str], table: Mapping[str, float]) -> NDArray:
    """:func:`radius_for` of each category (e.g. a category vocabulary), as float64."""
    return np.array([radius_for(c, table) for c in categories], dtype=np.float64)


def decay_factor(radius_m: ArrayLike, distance_scale: float = 1.0) -> NDArray:
    """``K = (R_earth / (radius · scale))²``: ``chord2 · K`` is ``(chord_m / radius)²``."""
    r = np.asarray(radius_m, dtype=np.float64) * float(distance_scale)
    return (EARTH_RADIUS_M / r) ** 2


def chord2_at_m(distance_m: ArrayLike) -> NDArray:
    """Squared unit-sphere chord of a straight-line (chord) distance in metres."""
    c = np.asarray(distance_m, dtype=np.float64) / EARTH_RADIUS_M
    return c * c


def distance_decay(chord2: ArrayLike, factor: ArrayLike) -> NDArray:
    """``1 / (1 + chord2 · K)``: 1 at the merchant, 0.5 at its consumption radius.

    ``chord2`` is the squared unit-sphere chord (as :class:`~geo_discovery.search.index.CellIndex`
    computes it), ``factor`` the merchant's :func:`decay_factor`.
    """
    return 1.0 / (1.0 + np.asarray(chord2, dtype=np.float64) * np.asarray(factor))


def part_term(value: ArrayLike, weight: float) -> NDArray:
    """``(1 - w) + w · value``: a part in ``[0, 1]`` weighted by ``w`` in ``[0, 1]``."""
    return (1.0 - weight) + weight * np.asarray(value, dtype=np.float64)


def quality(wom_score: ArrayLike, district_term: ArrayLike, ranking: Ranking) -> NDArray:
    """The distance-free part of the score: ``W × X`` (module doc)."""
    return part_term(wom_score, ranking.wom) * part_term(district_term, ranking.district)


def best_match_score(chord2: ArrayLike, factor: ArrayLike, quality: ArrayLike) -> NDArray:
    """``score = quality / (1 + chord2 · K)`` — decay × W × X in one division.

    The one formula every path uses (search, bounds, brute force, explain). It is
    non-decreasing in ``quality`` and non-increasing in ``chord2`` and ``factor``, under
    IEEE rounding too, so maxima of ``quality`` and minima of ``chord2``/``factor`` over a
    cell bound every point of the cell.

    Examples
    --------
    >>> q = quality([0.9, 0.6], [1.0, 1.0], Ranking())
    >>> [round(float(x), 3) for x in best_match_score([0.0, 0.0], [1.0, 1.0], q)]
    [0.9, 0.6]
    """
    c2k = np.asarray(chord2, dtype=np.float64) * np.asarray(factor, dtype=np.float64)
    return np.asarray(quality, dtype=np.float64) / (1.0 + c2k)


def explanations(
    *,
    distance_m: NDArray,
    chord2: NDArray,
    factor: NDArray,
    wom_score: NDArray,
    wom_confidence: NDArray,
    district_term: NDArray,
    district_id: Sequence[Any] | None,
    ranking: Ranking,
    score: NDArray,
    profile_parts: Sequence[dict[str, dict[str, float]]] | None = None,
    profile_scale: NDArray | None = None,
    member: tuple[NDArray, NDArray, NDArray, dict[str, float]] | None = None,
) -> list[Explanation]:
    """Per-result parts of ``best_match``: everything needed to recompute the score.

    ``profile_parts``/``profile_scale``: a learned profile's parts per result;
    ``member``: ``(boost, visits, category visits)`` per result, and the lift's exponents
    (:attr:`~geo_discovery.ranking.member.MemberBoost.exponents`).
    """
    decay = distance_decay(chord2, factor)
    radius = EARTH_RADIUS_M / np.sqrt(factor)  # the effective radius: scale included
    wom_term = part_term(wom_score, ranking.wom)
    district_factor = part_term(district_term, ranking.district)
    w = ranking.weights()
    out = []
    for i in range(len(score)):
        extra: dict[str, Any] = {}
        if profile_parts is not None and profile_scale is not None:
            extra.update(
                model="profile",
                profile_parts=profile_parts[i],
                profile_scale=float(profile_scale[i]),
            )
        if member is not None:
            extra.update(
                member_boost=float(member[0][i]),
                member_visits=int(member[1][i]),
                member_category_visits=int(member[2][i]),
                member_exponents=member[3],
            )
        out.append(
            Explanation(
                score=float(score[i]),
                distance_m=float(distance_m[i]),
                consumption_radius_m=float(radius[i]),
                decay=float(decay[i]),
                wom_score=float(wom_score[i]),
                wom_confidence=float(wom_confidence[i]),
                wom_term=float(wom_term[i]),
                district_id=None if district_id is None else district_id[i],
                district_term=float(district_term[i]),
                district_factor=float(district_factor[i]),
                weights=dict(w),
                **extra,
            )
        )
    return out
