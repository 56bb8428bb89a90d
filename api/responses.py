"""Fast JSON responses (orjson) and HTTP caching keyed by the snapshot version.

Every query answer depends only on its URL (or body) and on the snapshot that answered,
so its ETag is the snapshot version: ``If-None-Match`` with the current version gets a
304 before any work is done, and a newly published snapshot changes every ETag at once.

Two kinds of answer are not a function of (URL, snapshot) and carry no ETag (so they never
get a 304; :func:`unshared` marks them): an ``open_now`` answer depends on the clock too
(it keeps ``Cache-Control: public, max-age=…``, as an ``open_now`` tile does), and a
member's answer (``member=``, ``visits=``) is ``Cache-Control: private, no-store``, which a
304 would have to repeat (RFC 9111 §4.3.4) and which no cache keeps to revalidate anyway.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from starlette.responses import JSONResponse as StarletteJSONResponse
from starlette.responses import Response

from geo_discovery.engine import DiscoveryEngine
from geo_discovery.errors import GeoDiscoveryError
from geo_discovery.query import Filters
from geo_discovery.results import Results

__all__ = [
    "GEOJSON",
    "PRIVATE",
    "JSONResponse",
    "accepts_gzip",
    "cache_headers",
    "etag_for",
    "etag_matches",
    "nearby_json",
    "not_modified",
    "refusals_first",
    "respond",
    "unknown_categories",
    "unshared",
]

GEOJSON = "application/geo+json"
PRIVATE = "private, no-store"  # a member's answer: no shared cache may keep it


def accepts_gzip(header: str) -> bool:
    """Whether an ``Accept-Encoding`` value accepts gzip (RFC 9110 §12.5.3): coding names
    in any case, ``q=0`` refuses, ``*`` stands for a coding not named.

    Examples
    --------
    >>> [accepts_gzip(h) for h in ("gzip, br", "GZIP", "gzip;q=0", "br", "*", "*, gzip;q=0")]
    [True, True, False, False, True, False]
    """
    named = star = None
    for part in header.split(","):
        coding, *params = part.split(";")
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0  # a weight it cannot read: not an acceptance
        coding = coding.strip().lower()
        if coding in ("gzip", "x-gzip"):
            named = max(q, named or 0.0)
        elif coding == "*":
            star = q
    if named is not None:
        return named > 0
    return star is not None and star > 0
_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


class JSONResponse(StarletteJSONResponse):
    """JSON rendered by orjson (NaN and infinities become ``null``).

    A Starlette ``JSONResponse`` subclass, so FastAPI documents the response models.
    """

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=_OPTIONS)


def etag_for(engine: DiscoveryEngine) -> str:
    """Weak ETag of every answer computed from ``engine``: its snapshot's version, and the
    digest of the learned ranking profile it ranks ``best_match`` with, if any."""
    try:
        profile = engine.ranking.profile
    except GeoDiscoveryError:  # a bad profile file (a server's holder never has one)
        profile = None
    if profile is None:
        return f'W/"{engine.version}"'
    return f'W/"{engine.version}.{profile.digest}"'


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 weak comparison of an ``If-None-Match`` header with ``etag``."""
    if not if_none_match:
        return False
    opaque = etag.removeprefix("W/")
    for candidate in if_none_match.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == opaque:
            return True
    return False


def cache_headers(engine: DiscoveryEngine, max_age_s: int) -> dict[str, str]:
    return {"ETag": etag_for(engine), "Cache-Control": f"public, max-age={max_age_s}"}


def unshared(response: Response, *, private: bool) -> Response:
    """``response`` without its ETag: an answer that is not a function of (URL, snapshot)
    alone. ``private``: a member's answer, ``Cache-Control: private, no-store``; else a
    clock-dependent one (``open_now``), whose ``Cache-Control`` stays."""
    if "etag" in response.headers:
        del response.headers["etag"]
    if private:
        response.headers["Cache-Control"] = PRIVATE
    return response


def not_modified(
    engine: DiscoveryEngine, if_none_match: str | None, max_age_s: int
) -> Response | None:
    """A 304 answer when the client's copy is current, else ``None``.

    Handlers call it (``if (r := not_modified(...)) is not None: return r``) after
    FastAPI has validated the parameters and after their own cheap checks of what the
    request names (a merchant or district id, :func:`refusals_first`), before the real
    work; a page with a cursor (and an aggregate) after that work, which checks them. So
    a request that would be a 404 or 422 never gets a 304 (RFC 9110 §13.2.1: the
    conditions apply to a 2xx answer only). The 304 carries the headers the 200 would
    (``Vary`` too: RFC 9110 §15.4.5).
    """
    if if_none_match is None:
        return None
    headers = cache_headers(engine, max_age_s)
    if etag_matches(if_none_match, headers["ETag"]):
        return Response(status_code=304, headers={**headers, "Vary": "Accept-Encoding"})
    return None


def unknown_categories(engine: DiscoveryEngine, where: Filters) -> list[str]:
    """The values of ``categories`` and ``exclude_categories`` that no merchant of the
    snapshot has: an answer says them (``unknown_categories``), as the CLI notes them,
    rather than an empty page with no hint (an old path such as Foursquare's
    ``dining_and_drinking`` after a reload moved it under ``food``)."""
    asked = (*where.categories, *where.exclude_categories)
    return list(engine.snapshot.unknown_categories(asked)) if asked else []


def refusals_first(engine: DiscoveryEngine, where: Filters) -> None:
    """Raise what a search with ``where`` would refuse (a text without a word, an unknown
    district: 422, 404), before :func:`not_modified` may answer 304: both are cached, so
    the search pays nothing for them."""
    engine.planner.mask(where)
    if where.text is not None:
        engine.planner.text_query(where.text)


def respond(
    content: Any,
    engine: DiscoveryEngine,
    max_age_s: int,
    *,
    media_type: str | None = None,
    status_code: int = 200,
) -> JSONResponse:
    """A JSON answer carrying the snapshot's ETag and Cache-Control."""
    return JSONResponse(
        content,
        status_code=status_code,
        headers=cache_headers(engine, max_age_s),
        media_type=media_type,
    )


def nearby_json(engine: DiscoveryEngine, res: Results, unknown: Sequence[str] = ()) -> bytes:
    """The JSON body of a nearby answer with every field: the rows are the snapshot's
    cached per-merchant JSON fragments, joined (nothing re-encoded). ``unknown``: the
    query's category filters that match no merchant (:func:`unknown_categories`)."""
    dropped = b""  # only when the text's fallback left words out: other answers unchanged
    if res.dropped_words:
        dropped = b',"dropped_words":%s' % orjson.dumps(list(res.dropped_words))
    if unknown:  # only when a category filter names no category here
        dropped += b',"unknown_categories":%s' % orjson.dumps(list(unknown))
    if visits := res.unknown_visits:  # only when visits= named merchants not held here
        dropped += b',"unknown_visits":%d' % visits
    return b'{"snapshot":%s,"count":%d,"next_cursor":%s%s,"results":[%s]}' % (
        orjson.dumps(engine.version),
        len(res),
        orjson.dumps(res.next_cursor),
        dropped,
        b",".join(res.to_json_rows()),
    )
