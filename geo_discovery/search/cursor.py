"""Opaque, signed page cursors: keyset paging that visits every match exactly once.

A cursor names the *last item of a page* by its full sort key — ``(primary, distance_m,
merchant_id)``, the order every sort uses — plus the snapshot version and a fingerprint
of the query (everything that decides membership and order: point, radius, sort,
filters, weights, radii, the instant ``open_now`` was resolved to). The next page is the
``k`` best matches strictly after that key, so paging has no cap and never skips or
repeats an item, however the pages are sized.

Format: ``base64url(JSON payload) "." base64url(HMAC-SHA256(key, payload)[:16])``. The
key is the ``cursor_secret`` setting; unset, a fixed built-in key, so cursors survive
restarts and work across workers (but anyone who reads this code can forge one — which
only lets them ask for a page they could ask for anyway; set the secret where that
matters).

* A cursor altered, truncated or made up raises :class:`InvalidCursorError` (a
  ``ValueError``) naming what is wrong.
* A cursor from another snapshot raises :class:`StaleCursorError`: pages from two
  snapshots are never mixed; the client restarts from the first page.
* A cursor used with a different query raises :class:`InvalidCursorError`.

Examples
--------
>>> key = cursor_key(None)
>>> c = encode_cursor(key, {"v": "000001-x", "f": "abc", "p": 0.5, "d": 12.0, "id": "m1"})
>>> decode_cursor(key, c, version="000001-x", fingerprint="abc")["id"]
'm1'
>>> try:
...     decode_cursor(key, c[:-2] + "xx", version="000001-x", fingerprint="abc")
... except InvalidCursorError as exc:
...     print(str(exc)[:59])
cursor is not valid: its signature does not match (was it a
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeGuard

import numpy as np
from numpy.typing import NDArray

from ..errors import InvalidCursorError, StaleCursorError

if TYPE_CHECKING:
    from ..query import Filters, NearbyQuery, Ranking

__all__ = [
    "cursor_key",
    "decode_cursor",
    "encode_cursor",
    "key_after",
    "merge_by_key",
    "page_fingerprint",
    "parse_instant",
    "query_fingerprint",
]

_SIG_BYTES = 16
# json.dumps(payload, separators=(",", ":"), allow_nan=False), without a new encoder a call
_CURSOR_JSON = json.JSONEncoder(separators=(",", ":"), allow_nan=False)
_MAX_CURSOR_CHARS = 4_096
_RESTART = "start again without a cursor"


def cursor_key(secret: str | bytes | None) -> bytes:
    """HMAC key: the configured secret, else a fixed built-in one."""
    if secret:
        return secret.encode() if isinstance(secret, str) else bytes(secret)
    return hashlib.sha256(b"geo-discovery cursor").digest()


def query_fingerprint(query: Mapping[str, Any]) -> str:
    """Short stable hash of a normalised query (JSON with sorted keys)."""
    text = json.dumps(query, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    padded = (text + "=" * (-len(text) % 4)).encode("ascii")
    return base64.b64decode(padded, altchars=b"-_", validate=True)


def _sign(key: bytes, payload: bytes) -> bytes:
    return hmac.new(key, payload, hashlib.sha256).digest()[:_SIG_BYTES]


def encode_cursor(key: bytes, payload: Mapping[str, Any]) -> str:
    """Serialise and sign ``payload`` (floats round-trip exactly through JSON)."""
    body = _CURSOR_JSON.encode(dict(payload)).encode()
    return f"{_b64(body)}.{_b64(_sign(key, body))}"


def _bad(why: str) -> InvalidCursorError:
    return InvalidCursorError(f"cursor is not valid: {why}; {_RESTART}")


def decode_cursor(key: bytes, cursor: Any, *, version: str, fingerprint: str) -> dict[str, Any]:
    """Verify and unpack a cursor for this snapshot ``version`` and query ``fingerprint``.

    Returns the payload: ``p`` (primary, a float or ``None`` for ``-inf``), ``d``
    (distance_m), ``id`` (merchant_id) and whatever else was stored.
    """
    if not isinstance(cursor, str):
        raise TypeError(f"cursor must be a string, got {type(cursor).__name__}")
    if len(cursor) > _MAX_CURSOR_CHARS:
        raise _bad(f"it is {len(cursor)} characters long (at most {_MAX_CURSOR_CHARS})")
    body_text, dot, sig_text = cursor.strip().partition(".")
    if not dot or not body_text or not sig_text:
        raise _bad("it is not of the form PAYLOAD.SIGNATURE")
    try:
        body, sig = _unb64(body_text), _unb64(sig_text)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise _bad("it is not base64url text") from None
    try:
        payload = json.loads(body)
    except ValueError:
        payload = None
    got = payload.get("v") if isinstance(payload, dict) else None
    if isinstance(got, str) and got != version:
        # Said before the signature check (a new secret may come with a new snapshot):
        # the only effect of a forged version is this message.
        raise StaleCursorError(
            f"cursor belongs to snapshot {got!r} but snapshot {version!r} is serving now; "
            f"results from two snapshots are never mixed: {_RESTART}"
        )
    if not hmac.compare_digest(sig, _sign(key, body)):
        raise _bad("its signature does not match (was it altered or cut?)")
    if not isinstance(payload, dict) or got is None:
        raise _bad("its payload is not a cursor object")
    if payload.get("f") != fingerprint:
        raise _bad(
            "it was issued for a different query (point, radius, sort, filters or weights differ)"
        )
    p, d, mid = payload.get("p", _MISSING), payload.get("d"), payload.get("id")
    if not (p is None or _finite(p)):
        raise _bad("its sort key is not a number")
    if not (_finite(d) and d >= 0):
        raise _bad("its distance is not a non-negative number")
    if not isinstance(mid, str):
        raise _bad("its merchant_id is not a string")
    return payload


_MISSING = object()  # a key left out (null is a key: a page of merchants without a score)


def _finite(x: Any) -> TypeGuard[int | float]:
    """A JSON number a float holds, finite (``10**400`` is an int no float holds)."""
    if isinstance(x, bool) or not isinstance(x, int | float):
        return False
    try:
        return math.isfinite(float(x))
    except OverflowError:
        return False


def page_fingerprint(
    q: NearbyQuery, where: Filters, ranking: Ranking | None, member: str | None = None
) -> str:
    """A short stable hash of what decides a query's membership and order (``member``:
    the member lift's fingerprint, never the member's id).

    The hash is of ``repr`` of the tuple ``(member, lat, lng, radius_m, sort, where
    without its instant, open_now, open_at, ranking)``; the filters' and ranking's parts
    are remembered per object (:func:`_remembered_repr`), since every request of a server
    carries the same few of them.
    """
    parts = (
        repr(member),
        repr(q.lat),
        repr(q.lng),
        repr(q.radius_m),
        repr(q.sort),
        _remembered_repr(where, _without_instant),
        repr(where.open_now),
        repr(None if where.open_at is None else where.open_at.isoformat()),
        _remembered_repr(ranking, repr),
    )
    text = "(" + ", ".join(parts) + ")"  # == repr() of the tuple of the values
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _without_instant(where: Filters) -> str:
    return repr(replace(where, open_now=False, open_at=None))


_REPRS: dict[tuple[int, Any], tuple[object, str]] = {}
_MAX_REPRS = 1024


def _remembered_repr(obj: object, render: Any) -> str:
    """``render(obj)`` for an immutable ``obj``, remembered by the object's identity (the
    entry keeps ``obj`` alive, so its id is never reused while remembered)."""
    key = (id(obj), render)
    hit = _REPRS.get(key)
    if hit is not None and hit[0] is obj:
        return hit[1]
    text: str = render(obj)
    if len(_REPRS) >= _MAX_REPRS:
        _REPRS.clear()
    _REPRS[key] = (obj, text)
    return text


def parse_instant(text: Any) -> datetime:
    """The ``open_now`` instant a cursor carries (an aware time: the first page's UTC)."""
    try:
        at = datetime.fromisoformat(str(text))
        if at.tzinfo is None:
            raise ValueError("no offset")
        return at.astimezone(UTC)
    except (ValueError, OverflowError):
        raise InvalidCursorError(
            "cursor is not valid: its open_now instant is unreadable; start again without a cursor"
        ) from None


def merge_by_key(
    found: list[tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]],
    k: int,
    row_rank: NDArray[np.int64],
) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]:
    """The first ``k`` of several top-k answers (rows, metres, primaries) by the key
    ``(primary desc, metres, rank)``; a row found twice counts once."""
    pos = np.concatenate([f[0] for f in found])
    dist = np.concatenate([f[1] for f in found])
    prim = np.concatenate([f[2] for f in found])
    _, first = np.unique(pos, return_index=True)
    pos, dist, prim = pos[first], dist[first], prim[first]
    order = np.lexsort((row_rank[pos], dist, -prim))[:k]
    return pos[order], dist[order], prim[order]


def key_after(
    payload: Mapping[str, Any], row: int | None, version: str, row_rank: NDArray[np.int64]
) -> tuple[float, float, int]:
    """A decoded cursor's key ``(primary, metres, rank)``; ``row``: its merchant's table
    row in this snapshot (``None``: not in it, refused naming the id)."""
    if row is None:
        raise InvalidCursorError(
            f"cursor is not valid: merchant_id {payload['id']!r} is not in snapshot "
            f"{version}; start again without a cursor"
        )
    p = payload["p"]
    return (-math.inf if p is None else float(p), float(payload["d"]), int(row_rank[row]))
