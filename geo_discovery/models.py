"""Frozen dataclasses for domain values.

Coordinates are always ``(lat, lng)`` in names and signatures; GeoJSON's ``(lng, lat)``
appears only at the edge (:meth:`Hit.to_geojson_feature`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from .errors import InvalidQueryError, InvalidTypeError
from .timeofweek import BIN_LABELS

__all__ = [
    "BBox",
    "CategoryCount",
    "Explanation",
    "Hit",
    "LatLng",
    "Suggestion",
    "Suggestions",
    "TextExplanation",
    "WordMatch",
    "plain_number",
    "validate_lat",
    "validate_lng",
]


def plain_number(value: Any) -> Any:
    """``value`` with a 0-d array (``series.values[i:i+1].squeeze()``) as its item and a
    ``Decimal`` as a float; anything else as it is."""
    if getattr(value, "ndim", None) == 0 and hasattr(value, "item"):
        value = value.item()
    return float(value) if isinstance(value, Decimal) and not value.is_snan() else value


def _finite(name: str, value: Any, allowed: str) -> float:
    value = plain_number(value)
    if isinstance(value, str):  # as NearbyQuery takes "42.35" (a form's or a CSV's text)
        try:
            value = float(value.strip())
        except ValueError:
            message = f"{name}={value!r} is not a number; allowed: {allowed}"
            raise InvalidQueryError(message) from None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        import numpy as np

        if not isinstance(value, np.floating | np.integer):
            got = f"{type(value).__name__} {value!r}"
            raise InvalidTypeError(f"{name} must be a number, got {got}")
    value = float(value)
    if not math.isfinite(value):
        raise InvalidQueryError(f"{name}={value!r} is not a finite number; allowed: {allowed}")
    return value


def validate_lat(lat: Any, name: str = "lat") -> float:
    """Return ``lat`` as a float, or raise naming the value and the range [-90, 90].

    Examples
    --------
    >>> validate_lat(40.7)
    40.7
    >>> validate_lat(91)
    Traceback (most recent call last):
    ...
    geo_discovery.errors.InvalidQueryError: lat=91.0 is out of range; allowed: -90 <= lat <= 90
    """
    v = _finite(name, lat, f"-90 <= {name} <= 90")
    if not -90.0 <= v <= 90.0:
        raise InvalidQueryError(f"{name}={v!r} is out of range; allowed: -90 <= {name} <= 90")
    return v


def validate_lng(lng: Any, name: str = "lng") -> float:
    """Return ``lng`` as a float, or raise naming the value and the range [-180, 180]."""
    v = _finite(name, lng, f"-180 <= {name} <= 180")
    if not -180.0 <= v <= 180.0:
        raise InvalidQueryError(f"{name}={v!r} is out of range; allowed: -180 <= {name} <= 180")
    return v


@dataclass(frozen=True, slots=True)
class LatLng:
    """A validated WGS84 point."""

    lat: float
    lng: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "lat", validate_lat(self.lat))
        object.__setattr__(self, "lng", validate_lng(self.lng))


@dataclass(frozen=True, slots=True, kw_only=True)
class BBox:
    """A lat/lng box. ``west > east`` means the box crosses the antimeridian. Fields are
    named (``BBox(west, south, east, north)``, the order of a bbox string, would read
    them as south, west, north, east).

    Examples
    --------
    >>> BBox(south=40.70, west=-74.02, north=40.72, east=-73.99).crosses_antimeridian
    False
    >>> BBox(south=-20, west=170, north=-10, east=-170).crosses_antimeridian
    True
    """

    south: float
    west: float
    north: float
    east: float

    def __post_init__(self) -> None:
        for name in ("south", "north"):
            object.__setattr__(self, name, validate_lat(getattr(self, name), name))
        for name in ("west", "east"):
            object.__setattr__(self, name, validate_lng(getattr(self, name), name))
        if self.south > self.north:
            raise InvalidQueryError(
                f"bbox south={self.south} is above north={self.north}; allowed: south <= north"
            )

    @property
    def crosses_antimeridian(self) -> bool:
        return self.west > self.east

    @classmethod
    def from_string(cls, text: str) -> BBox:
        """Parse ``"west,south,east,north"`` (the GeoJSON / OGC order used by map clients)."""
        parts = [p.strip() for p in str(text).split(",")]
        if len(parts) != 4:
            raise InvalidQueryError(
                f"bbox={text!r} must have 4 comma-separated numbers: west,south,east,north"
            )
        try:  # float() also reads "4_0" as 40: a typo, not a number a client sends
            west, south, east, north = (float(p.replace("_", "?")) for p in parts)
        except ValueError:
            raise InvalidQueryError(
                f"bbox={text!r} has a value that is not a number; expected west,south,east,north"
            ) from None
        return cls.from_numbers(west, south, east, north)

    @classmethod
    def from_numbers(cls, west: Any, south: Any, east: Any, north: Any) -> BBox:
        """The box of ``west, south, east, north`` (a bbox string's order); a latitude out
        of range whose numbers read as (lat, lng) order would make a valid box says so.

        >>> BBox.from_numbers(40.70, -111.95, 40.80, -111.85)
        Traceback (most recent call last):
        ...
        geo_discovery.errors.InvalidQueryError: south=-111.95 is out of range; allowed: -90 \
<= south <= 90; the numbers look like (lat, lng) order (south,west,north,east): as \
west,south,east,north it is bbox=-111.95,40.7,-111.85,40.8
        """
        try:
            return cls(south=south, west=west, north=north, east=east)
        except InvalidQueryError as exc:  # a latitude out of range: given as (lat, lng)?
            got = (west, south, east, north)
            if not (all(isinstance(v, int | float) for v in got)
                    and str(exc).startswith(("south=", "north="))):  # fmt: skip
                raise
            lat_first = abs(west) <= 90 and abs(east) <= 90 and west <= east
            if not (lat_first and abs(south) <= 180 and abs(north) <= 180):
                raise
            raise InvalidQueryError(
                f"{exc}; the numbers look like (lat, lng) order (south,west,north,east): as "
                f"west,south,east,north it is bbox={south:g},{west:g},{north:g},{east:g}"
            ) from None


@dataclass(frozen=True, slots=True)
class WordMatch:
    """How one query word matched a merchant: the field (``name``, ``brand``, ``cuisine``,
    ``address`` or ``category``) and indexed term it matched best, with how many typos,
    whether as a prefix, and the word's score (its fields' scores ``quality × field
    weight [× name length norm]`` combined: docs in :mod:`geo_discovery.search.textscore`)."""

    word: str
    field: str | None
    term: str | None
    typos: int
    prefix: bool
    score: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "word": self.word,
            "field": self.field,
            "term": self.term,
            "typos": self.typos,
            "prefix": self.prefix,
            "score": self.score,
        }


@dataclass(frozen=True, slots=True)
class TextExplanation:
    """The text part of a score: the query, each word's match and the relevance in
    ``(0, 1]`` (:mod:`geo_discovery.search.textscore`): the square of the idf-weighted
    mean of the words' scores, times ``exactness``, how much of the merchant's name the
    query covers (1: the whole name; 0.75: no word in the name). ``dropped``: words left
    out because no merchant matched them all (the search box's fallback)."""

    query: str
    relevance: float
    words: tuple[WordMatch, ...]
    dropped: tuple[str, ...] = ()
    exactness: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "relevance": self.relevance,
            "exactness": self.exactness,
            "words": [w.to_dict() for w in self.words],
            "dropped": list(self.dropped),
        }


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why a merchant scored what it did under ``best_match``: every part of the product.

    Hand-set ranking: ``score = decay × wom_term × district_factor × member_boost``
    (docs/ranking.md). With a learned profile (``model == "profile"``), ``wom_term`` and
    ``district_factor`` (and the hand-set ``weights``: :meth:`to_dict` leaves all three
    out, as they are no part of the score) give way to ``profile_parts``: per feature its
    value, learned weight and factor ``exp(weight · value / γ)``, and ``score = decay × Π
    factors × profile_scale × member_boost``. With a text query, ``text`` holds its part
    and the product has one more factor, the relevance. Each part is computed exactly as the
    search computed it, so the parts multiply back to ``score``.
    """

    score: float
    distance_m: float
    consumption_radius_m: float
    decay: float
    wom_score: float
    wom_confidence: float
    wom_term: float
    district_id: str | None
    district_term: float
    district_factor: float
    weights: dict[str, float]
    model: str = "hand-set"
    profile_parts: dict[str, dict[str, float]] = field(default_factory=dict)
    profile_scale: float = 1.0
    member_boost: float = 1.0
    member_visits: int | None = None
    member_category_visits: int | None = None
    member_exponents: dict[str, float] = field(default_factory=dict)
    text: TextExplanation | None = None

    def to_dict(self) -> dict[str, Any]:
        """The parts as plain JSON-able values (the API's ``explain`` object)."""
        out: dict[str, Any] = {
            "model": self.model,
            "distance_m": self.distance_m,
            "consumption_radius_m": self.consumption_radius_m,
            "decay": self.decay,
            "wom_score": self.wom_score,
            "wom_confidence": self.wom_confidence,
            "district_id": self.district_id,
            "district_term": self.district_term,
        }
        if self.model != "profile":  # the hand-set blend's factors: not in a profile's score
            out.update(wom_term=self.wom_term, district_factor=self.district_factor,
                       weights=dict(self.weights))  # fmt: skip
        else:
            out["profile"] = {
                "parts": {k: dict(v) for k, v in self.profile_parts.items()},
                "scale": self.profile_scale,
            }
        if self.member_visits is not None:
            out["member"] = {  # boost = min((1 + visits)^own_visits × (1 + …)^…, max_lift)
                "boost": self.member_boost,
                "visits": self.member_visits,
                "category_visits": self.member_category_visits,
                **{k: self.member_exponents[k] for k in sorted(self.member_exponents)},
            }
        if self.text is not None:
            out["relevance"] = self.text.relevance
            out["text"] = self.text.to_dict()
        out["score"] = self.score
        return out

    def describe(self) -> str:
        """The product in one line: ``score = decay (…) × … × member``."""
        text = (
            f"score {self.score:.4f} = decay {self.decay:.4f} (distance {self.distance_m:.0f} "
            f"m, radius {self.consumption_radius_m:.0f} m)"
        )
        if self.model == "profile":
            for name, part in self.profile_parts.items():
                when = (
                    f", {BIN_LABELS[int(part['time_bin'])]}" if "time_bin" in part else ""
                )
                text += (  # (+ 0.0: a value of -0.0 reads "0", not "-0")
                    f" × {name} {part['factor']:.4f} (value {part['value'] + 0.0:.3g}, "
                    f"weight {part['weight']:+.3g}{when})"
                )
            text += f" × scale {self.profile_scale:.4g}"
        else:
            text += (f" × word-of-mouth term {self.wom_term:.4f} (wom_score {self.wom_score:.2f})"
                     f" × district {self.district_factor:.4f}")  # fmt: skip
        if self.member_visits is not None:
            e, n, m = self.member_exponents, self.member_visits, self.member_category_visits
            text += (f" × member {self.member_boost:.4f} ({n} visit{'s' * (n != 1)} here, "
                     f"{m} to this category")  # fmt: skip
            if e:
                text += (f": (1 + {n})^{e['own_visits']:.3g} × (1 + {m})^{e['own_category']:.3g}, "
                         f"at most {e['max_lift']:.4g}")  # fmt: skip
            text += ")"
        if self.text is not None:
            words = ", ".join(
                f"{w.word}→{w.term} ({w.field}, {w.typos} typo{'s' * (w.typos != 1)}"
                f"{', prefix' if w.prefix else ''})"
                for w in self.text.words
            )
            text += (f" × relevance {self.text.relevance:.4f} [{words}; name "
                     f"exactness {self.text.exactness:.3g}]")  # fmt: skip
        return text


@dataclass(frozen=True, slots=True)
class Hit:
    """One merchant in a query answer. ``distance_m`` is exact great-circle metres.

    ``score`` is the sort's primary value under ``best_match`` (else ``None``);
    ``explanation`` its parts when the query asked for them; ``attributes`` the other
    fields of the merchant's record (address, rating, review_count…).
    """

    merchant_id: str
    name: str
    lat: float
    lng: float
    distance_m: float
    category: str
    position: int
    score: float | None = None
    explanation: Explanation | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The hit as one flat record: core fields, attributes, then score and explain."""
        out = {
            "merchant_id": self.merchant_id,
            "name": self.name,
            "lat": self.lat,
            "lng": self.lng,
            "distance_m": self.distance_m,
            "category": self.category,
        }
        out.update(self.attributes)
        if self.score is not None:
            out["score"] = self.score
        if self.explanation is not None:
            out["explain"] = self.explanation.to_dict()
        return out

    def to_geojson_feature(self) -> dict[str, Any]:
        """A GeoJSON Feature (RFC 7946: coordinates in ``[lng, lat]`` order)."""
        props = self.to_dict()
        props.pop("lat")
        props.pop("lng")
        return {
            "type": "Feature",
            "id": self.merchant_id,
            "geometry": {"type": "Point", "coordinates": [self.lng, self.lat]},
            "properties": props,
        }


@dataclass(frozen=True, slots=True)
class CategoryCount:
    """A category path with its human label and how many merchants are under it."""

    path: str
    label: str
    count: int

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "label": self.label, "count": self.count}


@dataclass(frozen=True, slots=True)
class Suggestion:
    """A merchant the search box suggests: ``highlight`` holds ``[start, end)`` character
    spans of ``name`` that match the typed words."""

    merchant_id: str
    name: str
    category: str
    distance_m: float
    highlight: tuple[tuple[int, int], ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "merchant_id": self.merchant_id,
            "name": self.name,
            "category": self.category,
            "distance_m": self.distance_m,
            "highlight": [list(span) for span in self.highlight],
        }


@dataclass(frozen=True, slots=True)
class Suggestions:
    """What the search box shows while typing: merchants nearby, then categories."""

    query: str
    merchants: tuple[Suggestion, ...]
    categories: tuple[CategoryCount, ...]
    #: words of ``query`` left out because nothing matched them all (the fallback drops
    #: the last word first), as nearby's ``Results.dropped_words``
    dropped_words: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "query": self.query,
            "merchants": [m.to_dict() for m in self.merchants],
            "categories": [c.to_dict() for c in self.categories],
        }
        if self.dropped_words:  # as nearby's answer: absent when every word was used
            out["dropped_words"] = list(self.dropped_words)
        return out
