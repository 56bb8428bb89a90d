"""Query parameters as pydantic models, built on the library's query values.

FastAPI reads ``GET /v1/merchants/nearby``'s parameters into :class:`NearbyParams`
(``Annotated[NearbyParams, Query()]``): the model declares each parameter's type and
documents its range in the OpenAPI spec; the *values* are checked once, by the library's
:mod:`geo_discovery.query` objects that :meth:`NearbyParams.to_query` builds, with the
same messages the CLI and the library give. The fast lane (:mod:`.fastpath`) builds the
same :class:`~geo_discovery.query.NearbyQuery` from the same defaults.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from geo_discovery.errors import InvalidQueryError
from geo_discovery.query import (
    APP_SORT,
    SORTS,
    Filters,
    Limits,
    Member,
    NearbyQuery,
    split_list,
)
from geo_discovery.settings import Settings

from .deps import CATEGORIES_PATTERN, TEXT_FALLBACK, TEXT_HELP

__all__ = ["NearbyParams", "member_context", "nearby_params_model"]

_VISITS_FORM = (
    "comma-separated merchant ids, each optionally with a time after '@': "
    "id or id@2024-05-01T18:00:00Z"
)
_DISTRICTS_FORM = (
    "comma-separated district ids (GET /v1/districts lists them), e.g. d892a100d67bffff"
)


def _doc(example: Any, description: str, *, required: bool = False, **schema: Any) -> Any:
    """A documented field (optional unless ``required``): an example for *Try it out*,
    bounds shown in the schema (checked by the library's query objects)."""
    return Field(
        ... if required else None,
        description=description,
        examples=[example],
        json_schema_extra=schema or None,
    )


class NearbyParams(BaseModel):
    """``/v1/merchants/nearby`` parameters. Unknown parameters are refused (422)."""

    model_config = ConfigDict(extra="forbid")

    lat: float = _doc(
        40.7580,
        "Latitude of the query point, WGS84 degrees.",
        required=True,
        minimum=-90,
        maximum=90,
    )
    lng: float = _doc(
        -73.9855,
        "Longitude of the query point, WGS84 degrees.",
        required=True,
        minimum=-180,
        maximum=180,
    )
    q: str | None = Field(
        default=None,
        description=TEXT_HELP + TEXT_FALLBACK + " With sort=best_match the relevance "
        "multiplies the score (explain=true shows which words matched which field, with "
        "how many typos); with any other sort it is a filter.",
        examples=["piza"],
        max_length=200,
    )
    limit: int = Field(default=20, description="Most results to return.", examples=[20])
    radius_m: float | None = _doc(
        800, "Only merchants within this many metres; default: no radius limit.", minimum=0
    )
    sort: Literal[SORTS] = Field(  # type: ignore[valid-type]
        default=APP_SORT,
        description="Order: best_match (default: distance decay × word of mouth × district "
        "strength), distance (nearest first), rating, review_count, or price (cheap first). "
        "Ties break by distance, then merchant_id.",
        examples=["best_match"],
    )
    categories: str | None = Field(
        default=None,
        description="Keep merchants under any of these comma-separated category paths "
        "(prefixes at a '/' boundary: 'food' matches 'food/grocery/bodega').",
        examples=["food/grocery"],
        pattern=CATEGORIES_PATTERN,
        max_length=2000,
    )
    exclude_categories: str | None = Field(
        default=None,
        description="Drop merchants under any of these comma-separated category paths.",
        examples=["food/restaurant"],
        pattern=CATEGORIES_PATTERN,
        max_length=2000,
    )
    min_price: int | None = _doc(
        1, "Only merchants with price_level >= this (1 … 4).", minimum=1, maximum=4
    )
    max_price: int | None = _doc(
        2, "Only merchants with price_level <= this (1 … 4).", minimum=1, maximum=4
    )
    min_rating: float | None = _doc(
        4.0,
        "Only merchants rated at least this, in stars 0 … 5 (any source scale).",
        minimum=0,
        maximum=5,
    )
    min_reviews: int | None = _doc(10, "Only merchants with at least this many reviews.", minimum=0)
    open_now: bool = Field(
        default=False,
        description="Only merchants whose known opening hours say open now (local time); "
        "not with open_at. The answer changes with the clock: it carries no ETag.",
        examples=[False],  # the example open_at (below) excludes open_now=true
    )
    open_at: str | None = Field(  # read by the library, as the CLI's and a notebook's are
        default=None,
        description="Only merchants open at this ISO 8601 date-time (without an offset: the "
        "merchant's local wall-clock time).",
        examples=["2024-07-15T18:30:00-04:00"],
        max_length=64,
        json_schema_extra={"format": "date-time"},
    )
    exclude_brands: str | None = Field(
        default=None,
        description="Drop merchants of these comma-separated brands.",
        examples=["Starbucks,Dunkin'"],
        max_length=2000,
    )
    exclude_chains: bool = Field(
        default=False, description="Drop every merchant that has a brand.", examples=[True]
    )
    district_id: str | None = Field(
        default=None,
        description="Only merchants in these comma-separated business districts (needs a "
        "snapshot with districts).",
        examples=["d892a100d67bffff"],
        max_length=2000,
    )
    explain: bool = Field(
        default=False, description="Add each result's score parts (explain).", examples=[True]
    )
    cursor: str | None = Field(
        default=None,
        description="next_cursor of the previous page, with the same query: the next page "
        "(opaque text; a cursor from another query or an older snapshot is refused, so "
        "there is no example).",
        max_length=4000,
    )
    member: str | None = Field(
        default=None,
        description="An opaque member id whose visit history the snapshot holds (loaded "
        "from a visit log): best_match lifts the merchants and categories this member "
        "returns to (sort=best_match only). The id is hashed before lookup; the history is "
        "never returned. An unknown id ranks as a member without history.",
        examples=["member-8d1f"],
        max_length=200,
    )
    visits: str | None = Field(
        default=None,
        description="The member's recent visits, comma-separated merchant ids, each "
        "optionally with a time ('id@2024-05-01T18:00:00Z'); a repeated id is a repeat "
        "visit, an id the snapshot does not hold is ignored (merchants come and go), an "
        "empty entry or time is refused. Lifts best_match like member (sort=best_match only).",
        examples=["osm:node/123,osm:node/456"],
        max_length=20_000,
    )
    at: str | None = Field(  # read by the library, as the CLI's and a notebook's are
        default=None,
        max_length=64,
        json_schema_extra={"format": "date-time"},
        description="When the visit would be, ISO 8601 (without an offset: local wall-clock "
        "time at lat/lng). With a learned ranking profile that weighs popular times, "
        "best_match favours merchants busy at this time of week (sort=best_match only).",
        examples=["2024-07-13T21:30:00"],
    )
    format: Literal["json", "geojson"] = Field(
        default="json",
        description="json: a results list; geojson: a FeatureCollection (application/geo+json).",
        examples=["geojson"],
    )
    fields: str | None = Field(
        default=None,
        description="Comma-separated fields to return (merchant_id always comes); default: all.",
        examples=["name,category,distance_m"],
        max_length=2000,
    )

    def where(self) -> Filters:
        """The filters (validated by :class:`~geo_discovery.query.Filters`)."""
        return Filters(
            categories=split_list(self.categories, "categories"),
            exclude_categories=split_list(self.exclude_categories, "exclude_categories"),
            min_price=self.min_price,
            max_price=self.max_price,
            min_rating=self.min_rating,
            min_reviews=self.min_reviews,
            exclude_brands=split_list(self.exclude_brands, "exclude_brands"),
            exclude_chains=self.exclude_chains,
            district_ids=_entries(self.district_id, "district_id", _DISTRICTS_FORM),
            open_now=self.open_now,
            open_at=self.open_at,  # type: ignore[arg-type]  # ISO text: Filters reads it
            text=self.q,
        )

    def to_query(self, limits: Limits) -> NearbyQuery:
        """The validated library query (raises :class:`InvalidQueryError` naming values)."""
        where = self.where()
        query = NearbyQuery(
            self.lat,
            self.lng,
            limits.count(self.limit, "limit"),
            radius_m=limits.radius(self.radius_m),
            sort=self.sort,
            where=where,
            explain=self.explain,
            cursor=self.cursor,
            member=self.member_context(),
            at=self.at,  # type: ignore[arg-type]  # ISO text: NearbyQuery reads it
        )
        return query

    def member_context(self) -> Member | None:
        """The member context (validated by :func:`member_context`)."""
        return member_context(self.visits, self.member)


def _refuse(name: str, message: str, value: str | None) -> InvalidQueryError:
    problem = {"parameter": name, "location": "query", "value": value, "message": message}
    return InvalidQueryError(message, [problem])


def _entries(text: str | None, name: str, form: str) -> tuple[str, ...]:
    """The entries of a comma-separated list parameter; a list of empty entries, or with
    an empty one (``district_id=,``, ``district_id=a,,b``), is refused as
    ``categories=,,`` is: dropped silently, it would answer as if no filter had been asked
    for. A blank value (``district_id=``, what a form sends with a blank box) is no list,
    as ``categories=`` is."""
    if text is None or not text.strip():
        return ()
    entries = split_list(text, name)
    if not entries:
        raise _refuse(name, f"{name} is empty; allowed: {form}", text)
    if len(entries) != len(text.split(",")):
        raise _refuse(name, f"{name}={text} has an empty entry; allowed: {form}", text)
    return entries


def _check_visits(visits: str) -> None:
    """Refuse what the library would read as no visit, or as a visit without its time:
    an empty list or entry, an ``@`` without an id before it or a time after it. The
    message names the entry's position, never its text (a member's history)."""
    entries = visits.split(",")
    if not visits.replace(",", "").strip():
        raise _refuse("visits", f"visits is empty; allowed: {_VISITS_FORM}", None)
    for number, entry in enumerate(entries, 1):
        mid, at, when = entry.strip().rpartition("@")
        if not entry.strip():
            what = "is empty"
        elif at and not mid.strip():
            what = "has no merchant id before '@'"
        elif at and not when.strip():
            what = "has an empty time after '@'"
        else:
            continue
        raise _refuse("visits", f"visits entry {number} {what}; allowed: {_VISITS_FORM}", None)


def member_context(visits: str | None, member: str | None) -> Member | None:
    """The member context of the ``visits`` and ``member`` parameters (``None``: neither),
    validated by :class:`~geo_discovery.query.Member` with this API's names and forms
    (the route and the fast lane both read them here)."""
    if member is None and visits is None:
        return None
    if visits is not None:
        _check_visits(visits)
    try:
        return Member(visits=visits, member_id=member)
    except InvalidQueryError as exc:  # the library's member_id is this API's member
        problems = [
            {**e, "parameter": "member", "message": e["message"].replace("member_id", "member")}
            if e.get("parameter") == "member_id" else e
            for e in exc.problems
        ]
        raise InvalidQueryError(str(exc).replace("member_id", "member"), problems) from None


def nearby_params_model(settings: Settings) -> type[NearbyParams]:
    """:class:`NearbyParams` whose schema shows this server's limits and defaults."""
    default = min(settings.api_default_limit, settings.max_k)

    class Params(NearbyParams):
        limit: int = Field(
            default=default,
            description=f"Most results to return, 1 … {settings.max_k} (max_k setting).",
            examples=[default],
            json_schema_extra={"minimum": 1, "maximum": settings.max_k},
        )
        radius_m: float | None = _doc(
            800,
            f"Only merchants within this many metres, 0 … {settings.max_radius_m:g} "
            "(max_radius_m setting); default: no radius limit.",
            minimum=0,
            maximum=settings.max_radius_m,
        )

    Params.__name__ = Params.__qualname__ = "NearbyParams"
    return Params
