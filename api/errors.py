"""Library errors → HTTP answers, and validation errors people can read.

Only geo-discovery's own errors (:mod:`geo_discovery.errors`) become client errors;
anything else is a bug: logged with its traceback and answered 500 (the fuzz tests keep
that from ever happening).

=====================================================  ======
``NotFoundError`` (merchant, district)                  404
``SnapshotError`` (no snapshot, unreadable demand…)     503
``InvalidQueryError``, ``IngestError``                  422
other ``GeoDiscoveryError``                             400
request validation (FastAPI / pydantic)                 422
unknown query parameter                                 422
a number with ``_`` digit groups (``lat=4_0.76``)      422
request body over ``api_max_body_bytes``                413
request body nested deeper than ``MAX_JSON_DEPTH``      422
any other exception (a bug)                             500
=====================================================  ======

Every error body is :class:`~geo_discovery_api.schemas.ErrorResponse`: ``detail`` is one
line naming the parameter, the value received (as it was sent: ``lat=1e400``, not the
number it was read as) and the allowed range.

A request body is read as JSON whatever its ``Content-Type`` (``fetch`` sends a string
body as ``text/plain``, ``curl -d`` as a form): :class:`StrictQueryRoute` marks it JSON
before FastAPI reads it, and refuses one nested deeper than :data:`MAX_JSON_DEPTH`.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, get_args

import anyio
import numpy as np
from annotated_types import Ge, Gt, Le, Lt, MaxLen, MinLen
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Match

from geo_discovery.errors import (
    GeoDiscoveryError,
    IngestError,
    InvalidCursorError,
    InvalidQueryError,
    NotFoundError,
    SnapshotError,
    SnapshotPrunedError,
    UnknownParameterError,
)
from geo_discovery.snapshot.rows import HIT_FIELDS

from .querystring import PRIVATE_PARAMS, check_utf8
from .responses import JSONResponse

__all__ = [
    "MAX_JSON_DEPTH",
    "StrictQueryRoute",
    "allowed_methods",
    "allowed_query_params",
    "check_numbers",
    "check_query_params",
    "error_body",
    "install_error_handlers",
    "numeric_params",
]

log = logging.getLogger("geo_discovery.api")

# Names people try that are spelled differently here: the 422 says what to use instead.
PARAMETER_HINTS = {
    "price": "use min_price and/or max_price (1 … 4)",
    "radius": "use radius_m (metres)",
    "k": "use limit",
    "latitude": "use lat",
    "longitude": "use lng",
    "lon": "use lng",
    "weights": "best_match weights are server settings (ranking_* settings)",
}
_MAX_VALUE_CHARS = 120
_CATEGORY_FORM = (
    "comma-separated category paths of lower-case [a-z0-9_] segments joined by '/', "
    "e.g. food/grocery,food/restaurant"
)
# What a string parameter must look like, for pattern mismatches.
FORMS = {
    "bbox": "4 comma-separated numbers west,south,east,north, e.g. -74.0,40.7,-73.9,40.8",
    "categories": _CATEGORY_FORM,
    "exclude_categories": _CATEGORY_FORM,
    "fields": "comma-separated field names: " + ", ".join(HIT_FIELDS),
}


#: The methods a route may serve (HEAD and OPTIONS: :func:`allowed_methods` adds them).
_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def error_body(detail: str, errors: Iterable[dict[str, Any]] = ()) -> dict[str, Any]:
    return {"detail": detail, "errors": list(errors)}



def _short(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**64:
        return str(value)  # JSON answers carry 64-bit integers at most
    if isinstance(value, str | int | float | bool) or value is None:
        if isinstance(value, str) and len(value) > _MAX_VALUE_CHARS:
            return value[:_MAX_VALUE_CHARS] + "…"
        return value
    text = json.dumps(value, default=repr, ensure_ascii=False)  # JSON, not a Python repr
    return text if len(text) <= _MAX_VALUE_CHARS else text[:_MAX_VALUE_CHARS] + "…"


# ------------------------------------------------------------- parameter descriptions
def _num(x: Any) -> str:
    return str(x) if isinstance(x, int) else f"{x:g}"


def _allowed_text(field_info: Any, name: str) -> str | None:
    """``-90 <= lat <= 90`` style text from a parameter's constraints, if it has any."""
    lo: Any = None
    hi: Any = None
    lo_op = hi_op = "<="
    min_len: int | None = None
    max_len: int | None = None
    extra = getattr(field_info, "json_schema_extra", None)
    if isinstance(extra, dict):  # documented bounds of parameter-model fields
        lo = extra.get("minimum")
        hi = extra.get("maximum")
    for meta in getattr(field_info, "metadata", ()):
        if isinstance(meta, Ge):
            lo = meta.ge
        elif isinstance(meta, Gt):
            lo, lo_op = meta.gt, "<"
        elif isinstance(meta, Le):
            hi = meta.le
        elif isinstance(meta, Lt):
            hi, hi_op = meta.lt, "<"
        elif isinstance(meta, MinLen):
            min_len = meta.min_length
        elif isinstance(meta, MaxLen):
            max_len = meta.max_length
    if lo is not None and hi is not None:
        return f"{_num(lo)} {lo_op} {name} {hi_op} {_num(hi)}"
    if lo is not None:
        return f"{name} {'>=' if lo_op == '<=' else '>'} {_num(lo)}"
    if hi is not None:
        return f"{name} {hi_op} {_num(hi)}"
    if min_len is not None or max_len is not None:
        if min_len is None:
            return f"at most {max_len} characters"
        if max_len is None:
            return f"at least {min_len} characters"
        return f"{min_len} to {max_len} characters"
    return None


def _walk(dependant: Any) -> Iterable[tuple[str, str, Any]]:
    """``(kind, alias, field_info)`` of every query/path/header parameter: dependencies
    and the fields of parameter models (``Annotated[Model, Query()]``) included."""
    for kind in ("query", "path", "header"):
        for field in getattr(dependant, f"{kind}_params", ()):
            model = field.field_info.annotation
            if isinstance(model, type) and issubclass(model, BaseModel):
                for name, info in model.model_fields.items():
                    yield kind, info.alias or name, info
            else:
                yield kind, field.alias, field.field_info
    for sub in getattr(dependant, "dependencies", ()):
        yield from _walk(sub)


def _param_infos(route: Any) -> dict[str, Any]:
    """``{alias: field_info}`` of every query/path/header parameter of a route."""
    cache = getattr(route, "_gd_param_infos", None)
    if cache is not None:
        return cache
    infos: dict[str, Any] = {}
    if isinstance(route, APIRoute):
        for _kind, alias, info in _walk(route.dependant):
            infos.setdefault(alias, info)
    route._gd_param_infos = infos
    return infos


def allowed_query_params(route: APIRoute) -> frozenset[str]:
    """Aliases of the query parameters a route declares (its dependencies included)."""
    cache = getattr(route, "_gd_query_params", None)
    if cache is None:
        cache = frozenset(alias for kind, alias, _ in _walk(route.dependant) if kind == "query")
        route._gd_query_params = cache  # type: ignore[attr-defined]
    return cache


def check_query_params(request: Request, allowed: frozenset[str]) -> None:
    """Refuse query parameters the operation does not declare (422).

    A typo (``radius=500``) or a parameter this server does not have would otherwise be
    ignored silently and give a wrong answer.
    """
    check_utf8(request.scope.get("query_string") or b"")
    unknown = list(dict.fromkeys(k for k in request.query_params if k not in allowed))
    if not unknown:
        items = request.query_params.multi_items()
        if len(items) != len(request.query_params):  # one value kept, the others ignored
            given: dict[str, list[str]] = {}
            for k, v in items:
                given.setdefault(k, []).append(v)
            errors: list[dict[str, Any]] = [{"parameter": k, "location": "query",
                       "value": None if k in PRIVATE_PARAMS else _short(", ".join(vs)),
                       "message": f"{k} is given {len(vs)} times"
                                  + ("" if k in PRIVATE_PARAMS else f" ({', '.join(vs)[:200]})")
                                  + "; allowed: once (a list is one comma-separated value)"}
                      for k, vs in given.items() if len(vs) > 1]  # fmt: skip
            raise UnknownParameterError("; ".join(e["message"] for e in errors), errors)
        return
    names = ", ".join(sorted(allowed)) or "none"
    errors = []
    described = []
    for key in unknown:
        hint = PARAMETER_HINTS.get(key)
        what = f"{key} ({hint})" if hint else key
        described.append(what)
        errors.append(
            {
                "parameter": key,
                "location": "query",
                "value": None if key in PRIVATE_PARAMS else _short(request.query_params.get(key)),
                "message": f"{what} is not a parameter of this operation; allowed: {names}",
            }
        )
    raise UnknownParameterError(
        f"unknown query parameter(s) {', '.join(described)}; allowed: {names}", errors
    )


def _number_kind(annotation: Any) -> str | None:
    """``"int"`` or ``"float"`` when a parameter's declared type is (an optional) number."""
    if annotation is bool:
        return None
    if annotation is int or annotation is float:
        return annotation.__name__
    kinds = {_number_kind(arg) for arg in get_args(annotation)} - {None}
    return "float" if "float" in kinds else next(iter(kinds), None)


def numeric_params(route: APIRoute) -> dict[tuple[str, str], str]:
    """``{(location, alias): "int" | "float"}`` of a route's numeric query and path
    parameters (its dependencies and parameter models included)."""
    cache = getattr(route, "_gd_numeric_params", None)
    if cache is None:
        cache = {}
        for kind, alias, info in _walk(route.dependant):
            number = _number_kind(getattr(info, "annotation", None))
            if kind in ("query", "path") and number is not None:
                cache.setdefault((kind, alias), number)
        route._gd_numeric_params = cache  # type: ignore[attr-defined]
    return cache


def check_numbers(request: Request, numeric: dict[tuple[str, str], str]) -> None:
    """Refuse numbers written with underscores (``lat=4_0.76``, ``/tiles/1_4/…``): pydantic,
    like Python's ``int()`` and ``float()``, reads them as PEP 515 digit groups, which
    no client means. A 422 in the words of any other malformed number."""
    given = [("query", k, v) for k, v in request.query_params.multi_items()]
    given += [("path", k, v) for k, v in request.path_params.items()]
    route = request.scope.get("route")
    problems = [
        {
            **_describe(
                {"type": f"{numeric[(where, name)]}_parsing", "loc": (where, name), "input": value},
                route,
            ),
            "value": value,
        }
        for where, name, value in given
        if isinstance(value, str) and "_" in value and (where, name) in numeric
    ]
    if problems:
        raise InvalidQueryError(_join(problems), problems)


#: The deepest nesting of JSON arrays and objects a request body may have (a GeoJSON
#: FeatureCollection of MultiPolygons nests 8 deep).
MAX_JSON_DEPTH = 100
_SENT_TYPE = "geo_discovery.content_type"  # scope key: the Content-Type as it was sent
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKETS = bytes(range(256)).translate(None, b"[]{}")


def json_depth(body: bytes) -> int:
    """How deep the arrays and objects of a JSON text nest (brackets in strings aside).

    Examples
    --------
    >>> json_depth(b'{"a": [[1, "]]]"], {}]}'), json_depth(b"3")
    (3, 0)
    """
    brackets = np.frombuffer(_JSON_STRING.sub(b"", body).translate(None, _NOT_BRACKETS), np.uint8)
    if not brackets.size:
        return 0
    steps = np.where((brackets == ord("[")) | (brackets == ord("{")), 1, -1)
    return int(np.cumsum(steps).max())


async def _json_body(request: Request) -> None:
    """Mark the body JSON whatever Content-Type came with it (FastAPI would hand a
    ``text/plain`` body to the model as bytes), and refuse one nested too deeply (Python's
    JSON reader would fail with a bare RecursionError)."""
    sent = request.headers.get("content-type")
    kind = (sent or "").split(";", 1)[0].strip().lower()  # what FastAPI reads as JSON:
    if not (kind.startswith("application/") and kind.endswith(("/json", "+json"))):
        raw = [(k, v) for k, v in request.scope["headers"] if k != b"content-type"]
        request.scope["headers"] = [*raw, (b"content-type", b"application/json")]
        request.scope[_SENT_TYPE] = sent
        vars(request).pop("_headers", None)  # Starlette's cached Headers
    depth = json_depth(await request.body())
    if depth > MAX_JSON_DEPTH:
        msg = (
            f"request body nests JSON arrays and objects {depth} deep, too deep; allowed: at "
            f"most {MAX_JSON_DEPTH} levels (a GeoJSON FeatureCollection needs 8)"
        )
        problem = {"parameter": "body", "location": "body", "value": None, "message": msg}
        raise InvalidQueryError(msg, [problem])


class StrictQueryRoute(APIRoute):
    """An APIRoute that refuses undeclared query parameters, and numbers written with
    underscores, before anything else runs; a route with a body reads it as JSON whatever
    its Content-Type (:func:`_json_body`).

    Used as ``route_class`` of every ``/v1`` router; cheaper than a dependency.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        route = self
        takes_body = self.body_field is not None

        async def strict_handler(request: Request) -> Response:
            if request.query_params:
                check_query_params(request, allowed_query_params(route))
            numeric = numeric_params(route)
            if numeric:
                check_numbers(request, numeric)
            if takes_body:
                await _json_body(request)
            return await handler(request)

        return strict_handler


# --------------------------------------------------------------------- the messages
def _not_finite(value: Any) -> bool:
    """Whether ``value`` (a number, or its text) is NaN or infinite."""
    try:
        return isinstance(value, str | float) and not math.isfinite(float(value))
    except ValueError:
        return False


def _describe(err: dict[str, Any], route: Any, sent: str | None = None) -> dict[str, Any]:
    """One problem of a validation error; ``sent``: the value as the request wrote it (a
    query or path parameter's text, the body of one that is not JSON), when known."""
    loc = [str(p) for p in err.get("loc", ())]
    where = loc[0] if loc else "request"
    kind = err.get("type", "")
    if where == "body":
        name = ".".join(["body", *loc[1:]]) if len(loc) > 1 and kind != "json_invalid" else "body"
        info = None
    else:
        name = loc[1] if len(loc) > 1 else where
        info = _param_infos(route).get(name) if route is not None else None
    read = value = err.get("input")  # read: what pydantic made of it (1e400 → inf)
    if sent is not None:
        value = sent
    allowed = _allowed_text(info, name) if info is not None else None
    ctx = err.get("ctx") or {}
    # Query, path and header values are shown as written in the URL; body values as JSON.
    text = json.dumps(value, default=repr, ensure_ascii=False) if where == "body" else str(value)
    if len(text) > _MAX_VALUE_CHARS:
        text = text[:_MAX_VALUE_CHARS] + "…"
    shown = f"{name}={text}"
    if name in PRIVATE_PARAMS:
        shown, value = name, None
    if kind == "missing":
        value = None  # (pydantic's input is the whole query or object it was missing from)
        msg = f"{name} is required"  # its form, not its length
        allowed = FORMS.get(name) or (None if allowed and "characters" in allowed else allowed)
    elif kind.startswith(("datetime_", "date_")):
        msg = f"{shown} is not an ISO 8601 date-time"
        allowed = "e.g. 2024-07-15T18:30:00+02:00, or without an offset: local time"
    elif kind in ("bool_parsing", "bool_type"):
        msg = f"{shown} is not true or false"
        allowed = "true, false, 1, 0, yes, no, on, off"
    elif where == "body" and kind == "float_type":  # true or "1" as a coordinate
        shown = f"{name}={json.dumps(value, default=repr)[:_MAX_VALUE_CHARS]}"
        msg = f"{shown} is not a number"
        allowed = "JSON numbers (GeoJSON positions are [lng, lat])"
    elif kind in ("float_parsing", "float_type", "finite_number"):
        msg = f"{shown} is not a finite number"
    elif kind in ("int_parsing", "int_type", "int_from_float"):
        msg = f"{shown} is not an integer"
    elif kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        # nan, inf, 1e400 (read as inf) fail the bounds too: say what they are
        msg = f"{shown} is {'not a finite number' if _not_finite(read) else 'out of range'}"
    elif kind == "literal_error":
        msg = f"{shown} is not allowed"
        allowed = allowed or str(ctx.get("expected", ""))
    elif kind == "string_pattern_mismatch":
        msg = f"{shown} does not have the expected form"
        allowed = FORMS.get(name, f"the pattern {ctx.get('pattern', '')}")
    elif kind in ("string_too_long", "string_too_short"):
        msg = f"{shown} is too {'long' if kind == 'string_too_long' else 'short'}"
    elif kind == "union_tag_invalid":  # a GeoJSON of another type
        msg = f"{name} has {ctx.get('discriminator', 'type')} = {ctx.get('tag')!r}"
        allowed = str(ctx.get("expected_tags", "")) or allowed
    elif kind in ("model_attributes_type", "dict_type", "model_type"):
        msg = f"{shown} is not a JSON object"
    elif kind == "json_invalid":  # loc: ("body", the character it stopped at)
        at = f" at character {loc[1]}" if len(loc) > 1 else ""
        msg = f"request body is not valid JSON: {ctx.get('error', err.get('msg', ''))}{at}"
        allowed = "a JSON document, e.g. a GeoJSON Polygon"
    else:
        msg = f"{shown}: {err.get('msg', 'invalid')}"
    if allowed:
        msg = f"{msg}; allowed: {allowed}"
    return {"parameter": name, "location": where, "value": _short(value), "message": msg}


def _join(errors: list[dict[str, Any]]) -> str:
    if not errors:
        return "invalid request"
    head = "; ".join(e["message"] for e in errors[:3])
    return head if len(errors) <= 3 else f"{head} (and {len(errors) - 3} more)"


# ------------------------------------------------------------------------ handlers
def _json(
    status: int,
    detail: str,
    errors: Iterable[dict[str, Any]] = (),
    headers: dict[str, str] | None = None,
) -> Response:
    return JSONResponse(error_body(detail, errors), status_code=status, headers=headers)


def _sent(request: Request, err: dict[str, Any], body: Any) -> str | None:
    """The value an error is about as the request wrote it: a query or path parameter's
    text, or the body that is not JSON (``body``: its text)."""
    loc = err.get("loc", ())
    where, name = (str(loc[0]), str(loc[1])) if len(loc) > 1 else (None, None)
    if where == "query" and name is not None:
        return request.query_params.get(name)
    if where == "path" and name is not None:
        value = request.path_params.get(name)
        return None if value is None else str(value)
    if err.get("type") == "json_invalid":
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        return text if isinstance(text, str) else None
    return None


async def _validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    route = request.scope.get("route")
    found = exc.errors()
    errors = [_describe(e, route, _sent(request, e, exc.body)) for e in found]
    if _SENT_TYPE in request.scope:  # not JSON, and not sent as JSON: say it is read as JSON
        sent = request.scope[_SENT_TYPE]
        what = f"Content-Type {sent}" if sent else "no Content-Type"
        for err, e in zip(found, errors, strict=True):
            if err.get("type") == "json_invalid":
                e["message"] += f" (sent with {what}: a body is read as JSON whatever its type)"
    return _json(422, _join(errors), errors)


async def _unknown(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, UnknownParameterError)
    return _json(422, str(exc), exc.errors)


def _one_problem(request: Request, exc: Exception, detail: str) -> list[dict[str, Any]]:
    """The ``errors`` entry of an error raised with a message only: the parameter it is
    about (a cursor's, the body's, a path's or the query parameter its message starts
    with), so that ``errors`` lists every problem, as the README says."""
    params = request.scope.get("path_params") or {}
    first = detail.split("=", 1)[0].split(" ", 1)[0].strip("'\"")
    if isinstance(exc, InvalidCursorError):
        name, where = "cursor", "query"
    elif first in params:
        name, where = first, "path"
    elif first in request.query_params:
        name, where = first, "query"
    elif request.method in ("POST", "PUT", "PATCH"):
        name, where = "body", "body"
    elif len(params) == 1:  # the path's one value (a merchant or district id)
        name, where = next(iter(params)), "path"
    else:
        name, where = None, "request"
    value = None if name is None or name in PRIVATE_PARAMS or where == "body" else (
        params.get(name) if where == "path" else request.query_params.get(name))
    return [{"parameter": name, "location": where, "value": _short(value), "message": detail}]


_NUMBER_TEXT = r"[-+]?(?:inf|nan|[0-9][0-9.]*(?:e[-+]?[0-9]+)?)(?=[\s;,)]|$)"  # a whole word


def _reads_as(text: Any, number: float) -> bool:
    """Whether ``text`` (how the library wrote a number) reads back as ``number``, finite."""
    try:
        return math.isfinite(number) and float(text) == number
    except (TypeError, ValueError):
        return False


def _as_sent(request: Request, message: str) -> str:
    """``message`` (the library's) with each query number it names as the request wrote
    it when the library's form loses it: ``lat=1e400``, not ``lat=inf``;
    ``secondary=0.9999999999999999``, not ``secondary=1`` (``radius_m=1e9`` may stay
    ``radius_m=1000000000``: the same number). A number that is not finite (``nan``,
    ``inf``, ``1e400``) is said to be one, not to be out of range."""
    for name, sent in request.query_params.items():
        if name in PRIVATE_PARAMS or f"{name}=" not in message or "_" in sent:
            continue  # (a number with _ groups is refused as written: check_numbers)
        try:
            number = float(sent)
        except ValueError:
            continue  # text: the library shows it as it came
        mention = re.compile(rf"(?<![\w.]){re.escape(name)}={_NUMBER_TEXT}", re.IGNORECASE)
        written = [m.split("=", 1)[1] for m in mention.findall(message)]
        if all(_reads_as(text, number) for text in written):
            continue
        message = mention.sub(f"{name}={sent}".replace("\\", "\\\\"), message)  # literal
        if _not_finite(number):
            message = message.replace(
                f"{name}={sent} is out of range", f"{name}={sent} is not a finite number"
            )
    return message


def _sent_problem(request: Request, problem: dict[str, Any]) -> dict[str, Any]:
    """A library problem with its number as the request wrote it (see :func:`_as_sent`),
    and its value the query's text as sent, as every other 422 gives it (nearby's was the
    number read: ``91.0`` beside the message's ``lat=91``)."""
    name, value = problem.get("parameter"), problem.get("value")
    out = {"location": "query", **problem, "message": _as_sent(request, problem["message"])}
    sent = request.query_params.get(name) if isinstance(name, str) else None
    if sent is not None and name not in PRIVATE_PARAMS and out["location"] == "query":
        value = sent
    return {**out, "value": _short(value)}


async def _invalid(request: Request, exc: Exception) -> Response:
    problems = getattr(exc, "problems", [])
    errors = [_sent_problem(request, p) for p in problems]
    detail = _as_sent(request, str(exc) or type(exc).__name__)
    return _json(422, detail, errors or _one_problem(request, exc, detail))


async def _bad(request: Request, exc: Exception) -> Response:
    return _json(400, str(exc) or type(exc).__name__)


async def _not_found(request: Request, exc: Exception) -> Response:
    return _json(404, str(exc), _one_problem(request, exc, str(exc)))


async def _unavailable(request: Request, exc: Exception) -> Response:
    return _json(503, str(exc), headers={"Retry-After": "5"})


async def _pruned(request: Request, exc: Exception) -> Response:
    """The snapshot that answered was pruned by newer loads: switch to the current one now
    (the holder's :meth:`~.state.EngineHolder.recover`) and ask the client to retry."""
    holder = getattr(request.app.state, "holder", None)
    done = None if holder is None else await anyio.to_thread.run_sync(holder.recover)
    now = None if holder is None or holder.engine is None else holder.engine.version
    detail = "the snapshot that answered was deleted by newer loads (keep_snapshots); " + (
        f"this server now serves {now}: retry" if done is not None and now is not None
        else "this server cannot switch to the current one yet: retry later"
    )  # fmt: skip
    return _json(503, detail, headers={"Retry-After": "1"})


async def _http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    if exc.status_code == 400:  # FastAPI: a body it cannot decode (not UTF-8, …)
        errors = [{"parameter": "body", "location": "body", "value": None, "message": detail}]
        return _json(422, f"request body could not be read: {detail}; allowed: UTF-8 JSON", errors)
    headers = dict(exc.headers or {})
    if exc.status_code == 405:  # every method the path serves (Starlette: the first route's)
        headers["Allow"] = ", ".join(sorted(allowed_methods(request.scope)))
    return _json(exc.status_code, detail, headers=headers)


def allowed_methods(scope: Any) -> set[str]:
    """The methods the app's routes serve at the request's path (empty: no such path).

    Asks each route whether it fully matches the path under each method (routers
    included with ``include_router`` answer for their own routes).
    """
    routes = getattr(getattr(scope.get("app"), "router", None), "routes", ())
    methods = {
        method
        for method in _METHODS
        if any(route.matches({**scope, "method": method})[0] == Match.FULL for route in routes)
    }
    if methods:
        methods.add("OPTIONS")
        if "GET" in methods:
            methods.add("HEAD")
    return methods


async def _internal(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return _json(500, "internal server error")


def install_error_handlers(app: FastAPI) -> None:
    """Register the mapping above on ``app``."""
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(UnknownParameterError, _unknown)
    app.add_exception_handler(NotFoundError, _not_found)
    app.add_exception_handler(SnapshotPrunedError, _pruned)
    app.add_exception_handler(SnapshotError, _unavailable)
    app.add_exception_handler(InvalidQueryError, _invalid)
    app.add_exception_handler(IngestError, _invalid)
    app.add_exception_handler(GeoDiscoveryError, _bad)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(Exception, _internal)
