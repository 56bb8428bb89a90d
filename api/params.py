"""Query parameters as pydantic models, built on the library's query values.

FastAPI reads ``GET /v1/merchants/nearby``'s parameters into :class:`NearbyParams`
(``Annotated[NearbyParams, Query()]``): the model declares each parameter's type and
documents its range in the OpenAPI spec; the *values* are checked once, by the library's
:mod:`geo_discovery.query` objects that :meth:`NearbyParams.to_query` builds, with the
same messages the CLI and the library give. The fast lane (:mod:`.fastpath`) builds the
same :class:`~geo_discovery.query.NearbyQuery` from the same defaults. ``POST
/v1/merchants/nearby`` reads the same parameters from a JSON body
(:func:`nearby_body_model`), where ``member`` and ``visits`` stay out of URLs and logs.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, model_validator

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
from geo_discovery.timeofweek import instant

from .deps import CATEGORIES_PATTERN, TEXT_FALLBACK, TEXT_HELP
from .errors import FORMS, PARAMETER_HINTS

__all__ = ["NearbyParams", "member_context", "nearby_body_model", "nearby_params_model"]

_VISITS_FORM = (
    "comma-separated merchant ids, each optionally with a time after '@': "
    "id or id@2024-05-01T18:00:00Z"
)
_ENTRY_FORM = "a merchant id, optionally with a time after '@': id or id@2024-05-01T18:00:00Z"
_ARRAY_FORM = "a JSON array of them (POST /v1/merchants/nearby)"
_MAX_VISITS = 10_000  # the library's limit (geo_discovery.query.Member): refused before
_MAX_MEMBER_CHARS = 200  # the entries are read, with the GET's message
_NOT_AN_OBJECT = " not an object"  # NearbyBody: a body that is no JSON object (no field name)
_BODY_PROBLEMS = " problems"  # NearbyBody: the problems of its fields' JSON values
_NAMED_ENTRIES = 5  # visits entries named one by one in an error; the rest are counted
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
        "never returned. A member without history here (an unknown id) ranks as anyone.",
        examples=["member-8d1f"],
        max_length=_MAX_MEMBER_CHARS,
    )
    visits: str | None = Field(
        default=None,
        description="The member's recent visits, comma-separated merchant ids, each "
        "optionally with a time ('id@2024-05-01T18:00:00Z'); a repeated id is a repeat "
        "visit, an id the snapshot does not hold is ignored (merchants come and go), an "
        "empty entry or time is refused. Lifts best_match like member (sort=best_match "
        "only): the lift counts the visits per merchant and category; a time is checked "
        "for its form only and changes nothing (an old, a future or no time count alike). "
        "At most 20,000 characters here (a few hundred ids; a URL holds at most 65,535 "
        "bytes); POST /v1/merchants/nearby takes up to 10,000 visits in its JSON body, as "
        "text or a JSON array, and keeps them out of URLs and logs.",
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
    return InvalidQueryError(message, [_problem(name, message, value)])


def _problem(name: str, message: str, value: str | None = None) -> dict[str, Any]:
    return {"parameter": name, "location": "query", "value": value, "message": message}


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


def _kind(value: Any) -> str:
    """What a JSON value is, in words (a value of a member's context is never shown)."""
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, dict | list):
        return "an object" if isinstance(value, dict) else "an array"
    return "a string" if isinstance(value, str) else "null" if value is None else "not JSON"


def _visit_entries(visits: Any, problems: list[dict[str, Any]]) -> list[str]:
    """The entries of ``visits``: text split at its commas, or a JSON array of texts (a
    POST body's); what is not either is a problem. Never the entries' text in a message."""

    def refuse(message: str) -> list[str]:
        problems.append(_problem("visits", message))
        return []

    if isinstance(visits, str):
        text = visits.strip()
        if text.startswith("[") and text.endswith("]"):
            return refuse(
                "visits is written as a JSON array; here it is a comma-separated list, "
                f"allowed: {_VISITS_FORM} (POST /v1/merchants/nearby takes a JSON array)"
            )
        if not visits.replace(",", "").strip():
            return refuse(f"visits is empty; allowed: {_VISITS_FORM}, or {_ARRAY_FORM}")
        return visits.split(",")
    if isinstance(visits, list):
        if not visits:
            return refuse(f"visits is an empty array; allowed: {_ARRAY_FORM} of {_VISITS_FORM}")
        strange = [n for n, item in enumerate(visits, 1) if not isinstance(item, str)]
        if strange:
            n = strange[0]
            return refuse(
                f"visits entry {n} is {_kind(visits[n - 1])}, not text"
                + (f" (and {len(strange) - 1} more)" if len(strange) > 1 else "")
                + f"; allowed: each entry {_ENTRY_FORM}"
            )
        return visits
    return refuse(f"visits is {_kind(visits)}; allowed: {_VISITS_FORM}, or {_ARRAY_FORM}")


def _entry_problem(entry: str, times: bool) -> str | None:
    """What is wrong with one visit (``None``: nothing), in words that never quote it;
    ``times``: whether its time is read too (the library reads them: only when it has
    refused one is each read here, to name its position)."""
    mid, at, when = entry.strip().rpartition("@")
    if not entry.strip():
        return f"is empty; allowed: {_ENTRY_FORM}"
    if at and not mid.strip():
        return f"has no merchant id before '@'; allowed: {_ENTRY_FORM}"
    if at and not when.strip():
        return f"has an empty time after '@'; allowed: {_ENTRY_FORM}"
    if times and at and isinstance(read := instant(when, "time"), str):
        if "out of range" in read:  # the library's words, without the time they quote
            return (
                "has a time out of range in UTC; allowed: 0001-01-01T00:00:00Z … "
                "9999-12-31T23:59:59Z"
            )
        return (
            "has a time that is not an ISO 8601 date-time; allowed: id@2024-05-01T18:00:00Z, "
            "id@2024-05-01T18:00:00+02:00 or id@2024-05-01 (the time after the last '@')"
        )
    return None


def _check_visits(visits: Any, problems: list[dict[str, Any]], *, times: bool = False) -> None:
    """Refuse what the library would read as no visit, or as a visit without its time:
    an empty list or entry, an ``@`` without an id before it or a time after it; with
    ``times``, a time that is no ISO 8601 date-time or out of range too. Each message
    names the entry's position and what is allowed, never its text (a member's history)."""
    entries = _visit_entries(visits, problems)
    if len(entries) > _MAX_VISITS:
        message = f"visits has {len(entries)} entries; allowed: at most {_MAX_VISITS}"
        problems.append(_problem("visits", message))
        return
    bad = [(n, what) for n, e in enumerate(entries, 1) if (what := _entry_problem(e, times))]
    for number, what in bad[:_NAMED_ENTRIES]:
        problems.append(_problem("visits", f"visits entry {number} {what}"))
    if len(bad) > _NAMED_ENTRIES:
        more = len(bad) - _NAMED_ENTRIES
        message = f"visits has {more} more entries that are not allowed; allowed: {_ENTRY_FORM}"
        problems.append(_problem("visits", message))


def _check_member(member: Any, problems: list[dict[str, Any]]) -> None:
    """A POST body's member: text of at most 200 characters (the GET's model says so)."""
    if member is None or (isinstance(member, str) and len(member) <= _MAX_MEMBER_CHARS):
        return
    what = "is too long" if isinstance(member, str) else f"is {_kind(member)}, not text"
    message = f"member {what}; allowed: at most {_MAX_MEMBER_CHARS} characters"
    problems.append(_problem("member", message))


def member_context(visits: Any, member: Any) -> Member | None:
    """The member context of the ``visits`` and ``member`` parameters (``None``: neither),
    validated by :class:`~geo_discovery.query.Member` with this API's names and forms
    (the route, the POST route and the fast lane all read them here). ``visits``: text,
    or a POST body's JSON array of texts. No message quotes an id or a visit (a member's
    history): a visit is named by its position."""
    if member is None and visits is None:
        return None
    problems: list[dict[str, Any]] = []
    if visits is not None:
        _check_visits(visits, problems)
        if problems:  # refused anyway: name every wrong entry, times included
            problems.clear()
            _check_visits(visits, problems, times=True)
    _check_member(member, problems)
    if problems:
        raise InvalidQueryError("; ".join(p["message"] for p in problems), problems)
    try:
        return Member(visits=visits, member_id=member)
    except InvalidQueryError as exc:  # the library's member_id is this API's member
        if any(e.get("parameter") == "visits" for e in exc.problems):  # a time: where?
            _check_visits(visits, problems, times=True)
        problems += [
            _private(e) for e in exc.problems if e.get("parameter") != "visits" or not problems
        ]
        raise InvalidQueryError("; ".join(p["message"] for p in problems), problems) from None


def _private(problem: dict[str, Any]) -> dict[str, Any]:
    """A library problem of ``member`` or ``visits`` in this API's words, without its value
    (the checks above leave the library nothing to say about an entry's text)."""
    name = problem.get("parameter")
    if name == "member_id":
        message = problem["message"].replace("member_id", "member")
        return {**problem, "parameter": "member", "value": None, "message": message}
    if name == "visits":
        message = problem["message"]
        if not message.startswith("visits has "):  # (a count: no entry's text in it)
            message = f"visits has an entry that is not allowed; allowed: {_VISITS_FORM}"
        return {**problem, "value": None, "message": message}
    return problem


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


def nearby_body_model(settings: Settings) -> type[NearbyParams]:
    """The JSON body of ``POST /v1/merchants/nearby``: the GET's parameters, with the same
    names, defaults, checks and limits (:func:`nearby_params_model`), but for ``member``
    and ``visits``, read by :func:`member_context` so that no error quotes them
    (``visits`` may be a JSON array of ids and ``"id@time"`` texts, up to the library's
    10,000). A field the GET does not have is refused by :meth:`check_fields`."""
    Params = nearby_params_model(settings)
    names = sorted(Params.model_fields)

    class NearbyBody(Params):  # type: ignore[valid-type,misc]
        model_config = ConfigDict(
            extra="allow",  # refused by check_fields, whose message shows no value
            json_schema_extra=_body_schema,
        )

        # Required, but said so by the library ("lat is required"): pydantic's "missing"
        # error would quote the whole body, a member's id and history included.
        lat: float | None = Field(
            default=None,
            description=str(Params.model_fields["lat"].description),
            examples=[40.7580],
            json_schema_extra={"minimum": -90, "maximum": 90},
        )
        lng: float | None = Field(
            default=None,
            description=str(Params.model_fields["lng"].description),
            examples=[-73.9855],
            json_schema_extra={"minimum": -180, "maximum": 180},
        )

        member: Any = Field(
            default=None,
            description=str(Params.model_fields["member"].description) + " In this body "
            "it stays out of URLs, proxy logs, browser history and Referer headers.",
            examples=["member-8d1f"],
            json_schema_extra={
                "anyOf": [{"type": "string", "maxLength": _MAX_MEMBER_CHARS}, {"type": "null"}]
            },
        )
        visits: Any = Field(
            default=None,
            description="The member's recent visits: a JSON array of merchant ids, each "
            "optionally with a time ('id@2024-05-01T18:00:00Z'), or the GET's comma-separated "
            f"text; at most {_MAX_VISITS:,} (and the body at most api_max_body_bytes). A "
            "repeated id is a repeat visit, an id the snapshot does not hold is ignored, an "
            "empty entry or time is refused (errors name the entry's position, never its "
            "text). The lift counts the visits per merchant and category; a time is checked "
            "for its form only and changes nothing. Lifts best_match like member "
            "(sort=best_match only).",
            examples=[["osm:node/123", "osm:node/456@2024-05-01T18:00:00Z"]],
            json_schema_extra={
                "anyOf": [
                    {"type": "array", "items": {"type": "string"}, "maxItems": _MAX_VISITS},
                    {"type": "string"},
                    {"type": "null"},
                ]
            },
        )

        @model_validator(mode="before")
        @classmethod
        def _json_values(cls, data: Any) -> Any:
            """The body with each value of the wrong JSON type or form left out and named
            for :meth:`check_fields` in the GET's words (pydantic's errors would quote a
            body that is no object, and name ``body.lat``); a body that is no JSON object
            as a problem too (it may be a member's visits)."""
            if not isinstance(data, dict):
                return {_NOT_AN_OBJECT: _kind(data)}
            data = {k: _array_text(k, v) for k, v in data.items()}
            problems = [
                {**_problem(name, message, None), "location": "body"}
                for name, value in data.items()
                if name in cls.model_fields and (message := _json_problem(cls, name, value))
            ]
            if not problems:
                return data
            bad = {p["parameter"] for p in problems}
            return {k: v for k, v in data.items() if k not in bad} | {_BODY_PROBLEMS: problems}

        def check_fields(self) -> None:
            """Refuse a body that is no JSON object, and the fields the GET has no
            parameter for (422), their values unshown."""
            extra = dict(self.model_extra or {})
            if _NOT_AN_OBJECT in extra:
                message = (
                    f"request body is {extra[_NOT_AN_OBJECT]}; allowed: a JSON object of the "
                    'nearby parameters, e.g. {"lat": 40.758, "lng": -73.9855}'
                )
                problem = {**_problem("body", message), "location": "body"}
                raise InvalidQueryError(message, [problem])
            problems: list[dict[str, Any]] = extra.pop(_BODY_PROBLEMS, [])
            for name in extra:
                hint = PARAMETER_HINTS.get(name)
                what = f"{name} ({hint})" if hint else name
                message = f"{what} is not a field of this body; allowed: {', '.join(names)}"
                problems.append({**_problem(name, message), "location": "body"})
            if problems:
                raise InvalidQueryError("; ".join(p["message"] for p in problems), problems)

    NearbyBody.__name__ = NearbyBody.__qualname__ = "NearbyBody"
    return NearbyBody


def _json_problem(model: type[BaseModel], name: str, value: Any) -> str | None:
    """What is wrong with a POST body's JSON ``value`` for the field ``name`` (``None``:
    nothing), in the GET's words: its JSON type, then the choices, form and length the
    GET's parameter model declares (the values themselves are checked by the library).
    ``member`` and ``visits`` are :func:`member_context`'s (never quoted)."""
    if name in ("member", "visits"):
        return None
    if name in _LIST_FIELDS and isinstance(value, list):  # left by _array_text
        return (
            f"{name}={json.dumps(value)[:120]} holds an entry that is no text or holds a "
            f"comma; allowed: {_LIST_ARRAY}"
        )
    info = model.model_fields[name]
    annotation = info.annotation
    kinds = {annotation} if get_origin(annotation) is Literal else set(get_args(annotation))
    kinds = kinds or {annotation}
    if value is None:
        return None if type(None) in kinds or info.default is None else (
            f"{name} is null; allowed: {_json_kind(kinds)}")  # fmt: skip
    shown = f"{name}={json.dumps(value)[:120]}"
    if float in kinds or int in kinds:
        if isinstance(value, bool) or not isinstance(value, int | float):
            noun = "a number" if float in kinds else "an integer"
            return f"{shown} is not {noun}; allowed: {_json_kind(kinds)}"
        if float not in kinds and not float(value).is_integer():
            return f"{shown} is not an integer; allowed: a JSON integer"
        return None
    if bool in kinds:
        ok = isinstance(value, bool)
        return None if ok else f"{shown} is not true or false; allowed: {_BOOL}"
    if not isinstance(value, str):
        allowed = _LIST_ARRAY if name in _LIST_FIELDS else "a JSON string"
        return f"{shown} is not a string; allowed: {allowed}"
    literal = next((k for k in kinds if get_origin(k) is Literal), None)
    if literal is not None and value not in get_args(literal):
        *choices, last = map(repr, get_args(literal))
        return f"{name}={value} is not allowed; allowed: {', '.join(choices)} or {last}"
    for meta in info.metadata:
        most = getattr(meta, "max_length", None)
        if most is not None and len(value) > most:
            cut = value[:120] + "…" * (len(value) > 120)
            return f"{name}={cut} is too long; allowed: at most {most} characters"
        pattern = getattr(meta, "pattern", None)  # anchored (^…$): the whole text
        if pattern is not None and not re.fullmatch(pattern, value):
            form = FORMS.get(name, f"the pattern {pattern}")
            return f"{name}={value[:120]} does not have the expected form; allowed: {form}"
    return None


_BOOL = "JSON true or false"
# the GET's comma-separated list parameters, which a body may also give as JSON arrays
_LIST_FIELDS = ("categories", "exclude_categories", "exclude_brands", "district_id", "fields")
_LIST_ARRAY = "a JSON array of texts without commas, or the GET's comma-separated text"


def _array_text(name: str, value: Any) -> Any:
    """A body's JSON array of a list parameter as the GET's comma-separated text (``[]``:
    no filter, as a blank ``categories=`` is); other values, and an array holding a
    non-text or a comma (:func:`_json_problem` names it), as they are."""
    if name not in _LIST_FIELDS or not isinstance(value, list):
        return value
    if all(isinstance(v, str) and "," not in v for v in value):
        return ",".join(value) or None
    return value


def _body_schema(schema: dict[str, Any]) -> None:
    """NearbyBody's JSON schema: no other fields, lat and lng required, the list
    parameters as text or an array of texts."""
    schema.update(additionalProperties=False, required=["lat", "lng"])
    for name in _LIST_FIELDS:
        field = schema["properties"][name]
        text = field.pop("anyOf", [{"type": "string"}, {"type": "null"}])
        field["anyOf"] = [{"type": "array", "items": {"type": "string"}}, *text]


def _json_kind(kinds: set[Any]) -> str:
    if float in kinds:
        return "a JSON number"
    if int in kinds:
        return "a JSON integer"
    return _BOOL if bool in kinds else "a JSON string"
