"""Query values: validated once, here, and one text parser shared by the API and the CLI.

A query is a few frozen value objects (the way scikit-learn keeps settings in objects so
calls stay short):

* :class:`Filters` (``where=``) — which merchants may answer: categories, price,
  rating, reviews, brands, districts, opening hours, a text query;
* :class:`Ranking` (``ranking=``) — how ``best_match`` blends distance decay, word of
  mouth and district strength, and the per-category consumption radii;
* :class:`Member` (``member=``) — one member's context for ``best_match``: their recent
  visits and/or an opaque member id whose history the snapshot holds;
* :class:`NearbyQuery` — the point, ``k``, radius, sort, filters, ranking, explain flag
  and cursor: what :meth:`DiscoveryEngine.nearby` builds and the planner runs;
* :class:`Limits` — the server's caps (``max_k``, ``max_radius_m``…), from settings.

Each object checks *every* field when it is built and reports all problems at once in one
:class:`~geo_discovery.errors.InvalidQueryError`, naming each value and what is allowed.
Nothing downstream validates again. Text forms (lists, ISO dates, numbers as text) are
parsed here, by the same code, whether they come from a URL or a command line.

The default sorts are declared once, here: the library's ``nearby`` means "the k
nearest" (:data:`LIBRARY_SORT`, like scikit-learn's ``kneighbors``); the HTTP API and
the map page rank what is worth the walk (:data:`APP_SORT`).

Examples
--------
>>> Filters(categories="food/grocery, food/cafe", min_rating=4).categories
('food/cafe', 'food/grocery')
>>> Filters(min_price=5, categories="Food!")
Traceback (most recent call last):
...
geo_discovery.errors.InvalidQueryError: categories value 'Food!' is not a category path; \
allowed: lower-case segments of [a-z0-9_] joined by '/', e.g. food/grocery; min_price=5 is \
out of range; allowed: 1 <= min_price <= 4
>>> NearbyQuery(40.758, -73.985, k=5).sort
'distance'
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import InvalidQueryError, InvalidTypeError
from .models import plain_number
from .ranking_profile import RankingProfile
from .timeofweek import instant

if TYPE_CHECKING:
    from .settings import Settings

__all__ = [
    "APP_SORT",
    "AREA_SORTS",
    "CATEGORY_PATTERN",
    "LIBRARY_SORT",
    "NO_FILTERS",
    "SORTS",
    "Filters",
    "Limits",
    "Member",
    "NearbyQuery",
    "Ranking",
    "plain_text",
    "split_list",
]

#: Every sort ``nearby`` offers. All are exact and break ties by distance, then
#: merchant_id (docs/ranking.md).
SORTS: tuple[str, ...] = ("best_match", "distance", "rating", "review_count", "price")
#: The library's and the CLI's default: the k nearest.
LIBRARY_SORT = "distance"
#: The orders of box and polygon search (``best_match`` needs a point to decay from).
AREA_SORTS: tuple[str, ...] = ("distance", "rating", "review_count", "price")
#: The HTTP API's and the map page's default: worth the walk.
APP_SORT = "best_match"
#: A category path (or prefix): lower-case segments joined by ``/``.
CATEGORY_PATTERN = r"[a-z0-9_]+(/[a-z0-9_]+)*"
_CATEGORY_RE = re.compile(rf"^{CATEGORY_PATTERN}$")
_MAX_TEXT_CHARS = 200


# ----------------------------------------------------------------------- helpers
def plain_text(value: object) -> str | None:
    """``value`` as :class:`Filters` keeps a ``text``, or ``None`` (it refuses it or keeps
    none of it): the fast lanes' test."""
    text = " ".join(value.split()) if type(value) is str else ""
    return text if 0 < len(text) <= _MAX_TEXT_CHARS else None


class _Problems:
    """Collects problems; :meth:`raise_if_any` raises them all in one error."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def add(self, message: str, name: str | None = None, value: Any = None) -> None:
        if name is None:
            name = message.split("=", 1)[0].split(" ", 1)[0]
        shown = (
            value if value is None or isinstance(value, str | int | float | bool) else repr(value)
        )
        self.items.append({"parameter": name, "value": shown, "message": message})

    def raise_if_any(self) -> None:
        if self.items:
            raise InvalidQueryError("; ".join(i["message"] for i in self.items), self.items)


def split_list(value: str | Iterable[Any] | None, name: str, *,
               numbers: bool = True) -> tuple[str, ...]:  # fmt: skip
    """The one comma-list parser: ``"a, b"`` or ``["a,b", "c"]`` → ``("a", "b", "c")``.

    Blank items dropped, order and duplicates kept; integers are text unless ``numbers=False``.

    Examples
    --------
    >>> split_list("a, b,,c", "x"), split_list(["a,b", "c"], "x"), split_list(None, "x")
    (('a', 'b', 'c'), ('a', 'b', 'c'), ())
    """
    if value is None:
        return ()
    listed = isinstance(value, Iterable) and not isinstance(value, str | Mapping)  # not a dict
    items: Iterable[Any] = value if listed else [value]  # a number: refused below
    out: list[str] = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, str | int if numbers else str):
            raise InvalidQueryError(
                f"{name} values must be text, got {type(item).__name__} {item!r}"
            )
        out.extend(part.strip() for part in str(item).split(",") if part.strip())
    return tuple(out)


def _number(
    problems: _Problems, name: str, value: Any, lo: float, hi: float, *,
    integer: bool = False, required: bool = False,
) -> Any:  # fmt: skip
    """``value`` as a float (or int) within ``[lo, hi]``; ``None`` stays ``None`` unless
    ``required``."""
    typ = type(value)
    if (typ is float and not integer) or typ is int:  # the common case, checked cheaply
        v = value if typ is float or integer else float(value)
        if lo <= v <= hi:  # NaN fails and takes the full path below
            return v
    if value is None:
        if required:
            problems.add(f"{name} is required", name, None)
        return None
    if isinstance(value := plain_number(value), str):
        text = value.strip()
        try:
            value = int(text) if integer else float(text)
        except ValueError:
            kind = "an integer" if integer else "a number"
            problems.add(f"{name}={text!r} is not {kind}", name, text)
            return None
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        # A programming error, not a bad value: Python's convention is a TypeError.
        raise InvalidTypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    if integer and not float(value).is_integer():
        problems.add(f"{name}={value!r} is not an integer", name, value)
        return None
    v = int(value) if integer else float(value)
    if not (lo <= v <= hi):  # also catches NaN
        allowed = f"{name} >= {lo:g}" if hi == math.inf else f"{lo:g} <= {name} <= {hi:g}"
        problems.add(f"{name}={_show(v)} is out of range; allowed: {allowed}", name, v)
        return None
    return v


def _show(v: float) -> str:
    """A number as people write it: ``91`` for 91.0, the exact repr otherwise."""
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    return repr(v)


def _flag(problems: _Problems, name: str, value: Any) -> bool:
    if value is False or value is True:
        return value
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "1", "yes", "false", "0", "no"):
        return value.strip().lower() in ("true", "1", "yes")
    problems.add(f"{name}={value!r} is not a boolean; allowed: true or false", name, value)
    return False


def _instant(
    problems: _Problems, name: str, value: Any, param: str | None = None, hours: bool = False
) -> datetime | None:
    """:func:`~.timeofweek.instant`, or a problem named ``param`` (default ``name``)."""
    if value is None:
        return None
    got = instant(value if isinstance(value, datetime) else str(value), name, hours=hours)
    if isinstance(got, str):
        shown = value.isoformat() if isinstance(value, datetime) else str(value)
        problems.add(got, param or name, shown)
        return None
    return got


def _categories(problems: _Problems, name: str, value: Any) -> tuple[str, ...]:
    out = set()
    try:
        items = split_list(value, name, numbers=False)
    except InvalidQueryError as exc:
        problems.add(str(exc))
        return ()
    for item in items:
        c = item.strip("/").lower()
        if c and _CATEGORY_RE.match(c):
            out.add(c)
        elif c:
            problems.add(
                f"{name} value {item!r} is not a category path; allowed: lower-case segments "
                "of [a-z0-9_] joined by '/', e.g. food/grocery",
                name,
                item,
            )
    return tuple(sorted(out))


def _texts(problems: _Problems, name: str, value: Any, *, lower: bool = False) -> tuple[str, ...]:
    try:
        items = split_list(value, name)
    except InvalidQueryError as exc:
        problems.add(str(exc))
        return ()
    return tuple(sorted({i.lower() if lower else i for i in items}))


# ----------------------------------------------------------------------- filters
@dataclass(frozen=True, slots=True)
class Filters:
    """Which merchants may answer a query (``where=``). Hashable: used as a cache key.

    Parameters
    ----------
    categories, exclude_categories
        Category path prefixes at a ``/`` boundary (``food`` matches
        ``food/restaurant/pizza``): a comma-separated string or a sequence.
    min_price, max_price
        ``price_level`` bounds, 1 (cheap) … 4.
    min_rating
        Stars 0 … 5, whatever the source's scale.
    min_reviews
        Review count at least this.
    exclude_brands, exclude_chains
        Drop these brands (case-insensitive), or every merchant that has a brand.
    district_ids
        Only merchants in these business districts.
    open_now, open_at
        Only merchants whose known opening hours say open now / at that instant (a naive
        ``open_at`` is the merchant's local wall-clock time). At most one of the two.
    text
        A free-text query (the search box).

    Merchants missing a filtered value are left out. Every problem is reported at once.

    Examples
    --------
    >>> Filters(exclude_brands="Starbucks, DUNKIN'").exclude_brands
    ("dunkin'", 'starbucks')
    >>> Filters().is_empty()
    True
    """

    categories: tuple[str, ...] = ()
    exclude_categories: tuple[str, ...] = ()
    min_price: int | None = None
    max_price: int | None = None
    min_rating: float | None = None
    min_reviews: int | None = None
    exclude_brands: tuple[str, ...] = ()
    exclude_chains: bool = False
    district_ids: tuple[str, ...] = ()
    open_now: bool = False
    open_at: datetime | None = None
    text: str | None = None

    def __post_init__(self) -> None:
        p = _Problems()
        put = object.__setattr__
        put(self, "categories", _categories(p, "categories", self.categories))
        put(
            self,
            "exclude_categories",
            _categories(p, "exclude_categories", self.exclude_categories),
        )
        put(self, "min_price", _number(p, "min_price", self.min_price, 1, 4, integer=True))
        put(self, "max_price", _number(p, "max_price", self.max_price, 1, 4, integer=True))
        put(self, "min_rating", _number(p, "min_rating", self.min_rating, 0, 5))
        put(
            self,
            "min_reviews",
            _number(p, "min_reviews", self.min_reviews, 0, math.inf, integer=True),
        )
        put(self, "exclude_brands", _texts(p, "exclude_brands", self.exclude_brands, lower=True))
        put(self, "exclude_chains", _flag(p, "exclude_chains", self.exclude_chains))
        put(self, "district_ids", _texts(p, "district_id", self.district_ids))
        put(self, "open_now", _flag(p, "open_now", self.open_now))
        put(self, "open_at", _instant(p, "open_at", self.open_at, hours=True))
        if self.text is not None:
            if not isinstance(self.text, str):
                p.add(f"text must be a string, got {type(self.text).__name__}")
            else:
                text = " ".join(self.text.split())
                if len(text) > _MAX_TEXT_CHARS:
                    p.add(f"text has {len(text)} characters; allowed: at most {_MAX_TEXT_CHARS}")
                put(self, "text", text or None)
        lo, hi = self.min_price, self.max_price
        if lo is not None and hi is not None and lo > hi:
            p.add(f"min_price={lo} is above max_price={hi}", "min_price", lo)
        if self.open_now and self.open_at is not None:
            p.add("give open_now or open_at, not both", "open_at", str(self.open_at))
        p.raise_if_any()

    def is_empty(self) -> bool:
        """No filter at all (every merchant may answer)."""
        return self == NO_FILTERS

    @property
    def needs_hours(self) -> bool:
        """Whether the filter asks about opening hours."""
        return self.open_now or self.open_at is not None

    @property
    def only_categories(self) -> bool:
        """Whether categories are the only filters (the index's cheap masked path)."""
        return self == Filters(
            categories=self.categories, exclude_categories=self.exclude_categories
        )


NO_FILTERS = Filters()
"""The empty filter set, shared: a query without filters carries this very object, so
hot paths can tell it by identity."""


# ----------------------------------------------------------------------- ranking
@dataclass(frozen=True, slots=True)
class Ranking:
    """How ``best_match`` blends its parts (docs/ranking.md). Hashable.

    ``score = decay × W × X`` with ``W = (1 - wom) + wom · wom_score`` and
    ``X = (1 - district) + district · district_term``; ``decay`` halves at each
    category's consumption radius times ``distance_scale``.

    Parameters
    ----------
    wom, district
        Weights in ``[0, 1]``: 0 ignores the part, 1 multiplies by it in full.
    distance_scale
        Multiplies every consumption radius (2: "I will go twice as far"), 0.01 … 100.
    radii
        Consumption radius overrides: ``{category prefix: metres}`` (``""`` or ``"*"``
        is the fallback), stored as sorted pairs.
    profile
        A learned :class:`~geo_discovery.ranking_profile.RankingProfile`: when set,
        ``best_match`` uses its fitted weights, distance exponent and radii instead of
        ``wom``/``district``/``radii`` (``distance_scale`` still stretches its radii).

    Examples
    --------
    >>> Ranking(wom=0.5, radii={"food/restaurant": 2500}).radii
    (('food/restaurant', 2500.0),)
    >>> Ranking(wom=2)
    Traceback (most recent call last):
    ...
    geo_discovery.errors.InvalidQueryError: wom=2 is out of range; allowed: 0 <= wom <= 1
    """

    wom: float = 1.0
    district: float = 0.5
    distance_scale: float = 1.0
    radii: tuple[tuple[str, float], ...] = ()
    profile: RankingProfile | None = None

    def __post_init__(self) -> None:
        p = _Problems()
        put = object.__setattr__
        for name, lo, hi in (("wom", 0, 1), ("district", 0, 1), ("distance_scale", 0.01, 100)):
            put(self, name, _number(p, name, getattr(self, name), lo, hi, required=True))
        put(self, "radii", _radii(p, self.radii))
        if self.profile is not None and not isinstance(self.profile, RankingProfile):
            p.add(f"profile must be a RankingProfile, got {type(self.profile).__name__}", "profile")
        p.raise_if_any()

    @classmethod
    def from_settings(cls, settings: Settings) -> Ranking:
        """The hand-set defaults of the ``ranking_*`` settings."""
        return cls(
            wom=settings.ranking_wom_weight,
            district=settings.ranking_district_weight,
            distance_scale=settings.ranking_distance_scale,
            radii=tuple(settings.ranking_consumption_radii.items()),
        )

    def replace(self, **changes: Any) -> Ranking:
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)

    def weights(self) -> dict[str, float]:
        """The three weights as a dict (for explanations and cursors)."""
        return {"wom": self.wom, "district": self.district, "distance_scale": self.distance_scale}


def _radii(p: _Problems, value: Any) -> tuple[tuple[str, float], ...]:
    items = value.items() if isinstance(value, Mapping) else value
    out: dict[str, float] = {}
    try:
        pairs = list(items)
    except TypeError:
        p.add(f"radii must be a mapping of category prefix to metres, got {value!r}")
        return ()
    for pair in pairs:
        if not (isinstance(pair, Sequence) and len(pair) == 2 and isinstance(pair[0], str)):
            p.add(f"radii entry {pair!r} is not (category prefix, metres)")
            continue
        prefix = pair[0].strip().strip("/").lower()
        prefix = "" if prefix == "*" else prefix
        metres = _number(p, f"consumption radius for {pair[0]!r}", pair[1], 1, 1_000_000,
                         required=True)
        if metres is not None:
            out[prefix] = metres
    return tuple(sorted(out.items()))


# ----------------------------------------------------------------------- limits
@dataclass(frozen=True, slots=True)
class Limits:
    """A server's caps on query sizes (the ``max_*`` settings)."""

    max_k: int = 1000
    max_radius_m: float = 100_000.0
    max_polygon_vertices: int = 10_000

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(settings.max_k, settings.max_radius_m, settings.max_polygon_vertices)

    def check_k(self, k: int, name: str = "k") -> None:
        if k > self.max_k:
            raise InvalidQueryError(
                f"{name}={k} is out of range; allowed: 1 <= {name} <= {self.max_k} (max_k setting)"
            )

    def radius(self, value: Any, name: str = "radius_m") -> float | None:
        """``value`` as a radius ``0 … max_radius_m`` metres (``None`` stays ``None``)."""
        p = _Problems()
        r = _number(p, name, value, 0, self.max_radius_m)
        if p.items:
            raise InvalidQueryError(p.items[0]["message"] + " (max_radius_m setting)", p.items)
        return r

    def count(self, value: Any, name: str = "limit") -> int:
        """``value`` as a page size ``1 … max_k`` (text is parsed), or an error naming it."""
        p = _Problems()
        n = _number(p, name, value, 1, self.max_k, integer=True, required=True)
        if p.items:
            raise InvalidQueryError(p.items[0]["message"] + " (max_k setting)", p.items)
        return int(n)

    def check_radius(self, radius_m: float | None) -> None:
        if radius_m is not None and radius_m > self.max_radius_m:
            raise InvalidQueryError(
                f"radius_m={radius_m!r} is out of range; allowed: 0 <= radius_m <= "
                f"{self.max_radius_m:g} (max_radius_m setting)"
            )


# ----------------------------------------------------------------------- member
_MAX_MEMBER_VISITS = 10_000
_MAX_MEMBER_ID_CHARS = 200


@dataclass(frozen=True, slots=True)
class Member:
    """One member's context for ``best_match`` (docs/ranking.md, "Member history").

    The merchants a member returns to, and the categories they favour, are lifted by
    bounded, learned factors; the top-k stays exact. Hashable.

    Parameters
    ----------
    visits
        Recent visits: merchant ids, each optionally with a time — a comma-separated text
        (``"id1, id2@2024-05-01T18:00:00Z"``), a sequence of ids, of ``(id, time)`` pairs
        or of ``{"merchant_id": …, "time": …}`` mappings. A repeated id is a repeat visit.
        Ids not in the snapshot are ignored (merchants come and go).
    member_id
        An opaque id whose history the snapshot holds (loaded from a visit log); it is
        hashed before it is looked up, and the history is never returned. An unknown id
        (no history here, no visit given) ranks as a query without a member.

    Examples
    --------
    >>> Member(visits="m1, m2@2024-05-01T18:00:00Z, m1").visits
    (('m1', None), ('m2', '2024-05-01T18:00:00+00:00'), ('m1', None))
    >>> Member(visits=["m1"]).counts()
    {'m1': 1}
    >>> Member(member_id="")
    Traceback (most recent call last):
    ...
    geo_discovery.errors.InvalidQueryError: member_id is empty; allowed: 1 … 200 characters
    """

    visits: Any = ()  # normalised to tuple[tuple[merchant_id, ISO time | None], ...]
    member_id: str | None = None

    def __post_init__(self) -> None:
        p = _Problems()
        put = object.__setattr__
        put(self, "visits", _visits(p, self.visits))
        if self.member_id is not None:
            mid = self.member_id.strip() if isinstance(self.member_id, str) else None
            if mid is None:
                p.add(f"member_id must be text, got {type(self.member_id).__name__}", "member_id")
            elif not 1 <= len(mid) <= _MAX_MEMBER_ID_CHARS:
                what = "is empty" if not mid else f"has {len(mid)} characters"
                p.add(
                    f"member_id {what}; allowed: 1 … {_MAX_MEMBER_ID_CHARS} characters",
                    "member_id",
                    None,  # never echo an id back
                )
            put(self, "member_id", mid)
        p.raise_if_any()

    def counts(self) -> dict[str, int]:
        """Visits per merchant id in :attr:`visits`."""
        out: dict[str, int] = {}
        for mid, _ in self.visits:
            out[mid] = out.get(mid, 0) + 1
        return out

    def __repr__(self) -> str:  # an id or a history is not for logs
        return f"Member(visits={len(self.visits)}, member_id={'set' if self.member_id else None})"


def _visits(p: _Problems, value: Any) -> tuple[tuple[str, str | None], ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        items: list[Any] = [part.strip() for part in value.split(",") if part.strip()]
    elif isinstance(value, Iterable) and not isinstance(value, Mapping):  # one visit: [it]
        items = list(value)
    else:
        p.add(f"visits must be merchant ids, got {type(value).__name__}", "visits")
        return ()
    if len(items) > _MAX_MEMBER_VISITS:
        p.add(f"visits has {len(items)} entries; allowed: at most {_MAX_MEMBER_VISITS}", "visits")
        return ()
    out: list[tuple[str, str | None]] = []
    for item in items:
        when: Any = None
        mid: Any = None
        if isinstance(item, str):
            mid, _, when = item.rpartition("@") if "@" in item else (item, "", None)  # id@: @ in id
        elif isinstance(item, Mapping):
            mid, when = item.get("merchant_id"), item.get("time")
        elif isinstance(item, Sequence) and len(item) == 2:
            mid, when = item
        if not isinstance(mid, str) or not mid.strip():
            p.add(
                f"visits entry {item!r} is not a merchant id; allowed: an id, 'id@time', "
                "(id, time) or {'merchant_id': id, 'time': time}",
                "visits",
            )
            continue
        stamp = None
        if when not in (None, ""):
            given = when if isinstance(when, datetime) else str(when)
            parsed = _instant(p, "visit time", given, "visits")
            if parsed is not None:
                if parsed.tzinfo is None:
                    parsed = parsed.replace(tzinfo=UTC)
                stamp = parsed.astimezone(UTC).isoformat()
        out.append((mid.strip(), stamp))
    return tuple(out)


# ------------------------------------------------------------------------ query
@dataclass(frozen=True, slots=True)
class NearbyQuery:
    """One nearby query, validated: what the planner runs.

    ``ranking=None`` means the engine's default ranking (settings, or a calibrated
    profile). ``sort`` defaults to :data:`LIBRARY_SORT`. ``at``: when the visit would be
    (naive: local wall-clock time at the point), for a profile's popular times.

    Examples
    --------
    >>> NearbyQuery(91, 0)
    Traceback (most recent call last):
    ...
    geo_discovery.errors.InvalidQueryError: lat=91 is out of range; allowed: -90 <= lat <= 90
    """

    lat: float
    lng: float
    k: int = 20
    radius_m: float | None = None
    sort: str = LIBRARY_SORT
    where: Filters = field(default=NO_FILTERS)
    ranking: Ranking | None = None
    explain: bool = False
    cursor: str | None = None
    member: Member | None = None
    at: datetime | None = None

    def __post_init__(self) -> None:
        p = _Problems()
        put = object.__setattr__
        put(self, "lat", _number(p, "lat", self.lat, -90, 90, required=True))
        put(self, "lng", _number(p, "lng", self.lng, -180, 180, required=True))
        put(self, "k", _number(p, "k", self.k, 1, math.inf, integer=True, required=True))
        put(self, "radius_m", _number(p, "radius_m", self.radius_m, 0, math.inf))
        if self.sort not in SORTS:
            p.add(
                f"sort={self.sort!r} is not allowed; allowed: {', '.join(SORTS)}", "sort", self.sort
            )
        if not isinstance(self.where, Filters):
            p.add(f"where must be a Filters, got {type(self.where).__name__}")
        if self.ranking is not None and not isinstance(self.ranking, Ranking):
            p.add(f"ranking must be a Ranking, got {type(self.ranking).__name__}")
        put(self, "explain", _flag(p, "explain", self.explain))
        if self.cursor is not None and not isinstance(self.cursor, str):
            p.add(f"cursor must be a string, got {type(self.cursor).__name__}")
        if self.member is not None and not isinstance(self.member, Member):
            p.add(f"member must be a Member, got {type(self.member).__name__}", "member")
        put(self, "at", _instant(p, "at", self.at))
        for name in ("member", "at"):
            if getattr(self, name) is not None and self.sort != "best_match":
                p.add(f"{name} ranks best_match only; got sort={self.sort!r} (allowed with "
                      f"{name}: sort=best_match)", name)  # fmt: skip
        p.raise_if_any()

    def check(self, limits: Limits) -> NearbyQuery:
        """Raise when the query exceeds the server's caps; return it otherwise."""
        limits.check_k(self.k)
        limits.check_radius(self.radius_m)
        return self
