"""Opaque, signed page cursors: keyset paging that visits every match exactly once.

A cursor names the *last item of a page* by its full sort key — ``(primary, distance_m,
merchant_id)``, the order every sort uses — plus the snapshot version and a fingerprint
of the query (everything that decides membership and order: point, radius, sort,
filters, weights, radii, the instant ``open_now`` was resolved to, and a member's lift).
The next page is the ``k`` best matches strictly after that key, so paging has no cap and
never skips or repeats an item, however the pages are sized.

Format: ``base64url(JSON head) "." base64url(HMAC-SHA256(key, head + fingerprint)[:16])``
with the head ``{"v": snapshot version, "q": query tag, "n": nonce, "x": sealed}``:

* ``v`` is in clear (a cursor of another snapshot is told apart before anything else);
* ``q`` is a short HMAC (under the key) of the query's *public* part only (point, radius,
  sort, filters, ranking — never a member's lift): it tells "another query" from "another
  member"; under a ``cursor_secret`` nobody can test a guessed point against it;
* the fingerprint itself is never written: the signature binds it, and checking a cursor
  recomputes it from the query it comes back with;
* ``x`` is the rest of the payload (``p``, ``d``, ``id``, …: the last item's key) as JSON,
  XORed with ``SHAKE-256(HMAC-SHA256(key, nonce + fingerprint))``; the nonce ``n`` is
  derived from the cursor's own content (one page always gets the same cursor), so each
  cursor has its own keystream.

A member's lift resolved from a member id carries a secret-keyed token of the id
(:meth:`~geo_discovery.snapshot.members.MemberHistories.token`) into its fingerprint:
nobody without the id can make, check or unseal that member's cursors — not even with the
built-in key, nor by sending the same visits inline. A query with inline ``visits`` carries
its history in its own URL: its cursor is checked (and unsealed) with those visits.

The key is the ``cursor_secret`` setting; unset, a fixed built-in key, so cursors survive
restarts and work across workers (but anyone who reads this code can forge one for a
query whose fingerprint they can compute — which only lets them ask for a page they could
ask for anyway; set the secret where that matters).

* A cursor altered, truncated or made up raises :class:`InvalidCursorError` (a
  ``ValueError``) naming what is wrong.
* A cursor from another snapshot raises :class:`StaleCursorError`: pages from two
  snapshots are never mixed; the client restarts from the first page.
* A cursor used with a different query raises :class:`InvalidCursorError` saying so; one
  used with the same query but another member's history (another member, or none) says
  that.

Examples
--------
>>> key = cursor_key(None)
>>> c = encode_cursor(key, {"v": "000001-x", "f": "abc", "p": 0.5, "d": 12.0, "id": "m1"})
>>> decode_cursor(key, c, version="000001-x", fingerprint="abc")["id"]
'm1'
>>> sorted(json.loads(_unb64(c.partition(".")[0])))  # nothing of the page in clear
['n', 'q', 'v', 'x']
>>> try:
...     decode_cursor(key, c[:-2] + "xx", version="000001-x", fingerprint="abc")
... except InvalidCursorError as exc:
...     print(str(exc)[:59])
cursor is not valid: its signature does not match (was it a
>>> try:
...     decode_cursor(key, c, version="000001-x", fingerprint="abd")
... except InvalidCursorError as exc:
...     print(str(exc)[51:87])
it was issued for a different query
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
    "Fingerprint",
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
_NONCE_BYTES = 12
_TAG_CHARS = 8  # the public query tag: 32 bits, enough to tell another query apart
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


class Fingerprint(str):
    """A page's fingerprint (the text: the hash of everything that decides the page, a
    member's lift included) and :attr:`public`, the same hash without the member part (equal
    to the text when there is none). Made by :func:`page_fingerprint`; a plain ``str``
    fingerprint is all public."""

    public: str

    def __new__(cls, full: str, public: str) -> Fingerprint:
        self = super().__new__(cls, full)
        self.public = public
        return self


def _parts(fingerprint: Any) -> tuple[bytes, str]:
    """``(the whole fingerprint, its public part)``."""
    full = str(fingerprint)
    return full.encode("utf-8"), str(getattr(fingerprint, "public", full))


def _public_tag(key: bytes, public: str) -> str:
    """A short keyed tag of the query's public part: under a ``cursor_secret`` nobody can
    test a guessed point against it (unkeyed, 360,000 guesses found the exact point)."""
    digest = hmac.digest(key, b"geo-discovery cursor query\0" + public.encode("utf-8"), "sha256")
    return digest.hex()[:_TAG_CHARS]


def _sign(key: bytes, body: bytes, full: bytes) -> bytes:
    # body is JSON (no raw NUL in it): the separator is unambiguous
    return hmac.digest(key, body + b"\0" + full, "sha256")[:_SIG_BYTES]


def _seal(key: bytes, nonce: bytes, full: bytes, data: bytes) -> bytes:
    """``data`` XOR a keystream only the key, the nonce and the fingerprint give (its own
    inverse)."""
    if not data:
        return data
    seed = hmac.digest(key, b"seal\0" + nonce + full, "sha256")
    stream = hashlib.shake_256(seed).digest(len(data))
    mixed = int.from_bytes(data, "big") ^ int.from_bytes(stream, "big")
    return mixed.to_bytes(len(data), "big")


def encode_cursor(key: bytes, payload: Mapping[str, Any]) -> str:
    """Serialise, seal and sign ``payload`` (``v``: the snapshot version, in clear; ``f``:
    the fingerprint, bound into the signature, never written; the rest sealed; floats
    round-trip exactly through JSON)."""
    fields = dict(payload)
    version, fingerprint = fields.pop("v", None), fields.pop("f", "")
    full, public = _parts(fingerprint)
    inner = _CURSOR_JSON.encode(fields).encode()
    # the nonce: from the content (the same page, the same cursor), keyed like the rest
    nonce = hmac.digest(key, b"nonce\0" + full + b"\0" + inner, "sha256")[:_NONCE_BYTES]
    head = {
        "v": version,
        "q": _public_tag(key, public),
        "n": _b64(nonce),
        "x": _b64(_seal(key, nonce, full, inner)),
    }
    body = _CURSOR_JSON.encode(head).encode()
    return f"{_b64(body)}.{_b64(_sign(key, body, full))}"


def _bad(why: str) -> InvalidCursorError:
    return InvalidCursorError(f"cursor is not valid: {why}; {_RESTART}")


def _mismatch(key: bytes, payload: Any, fingerprint: Any) -> InvalidCursorError:
    """Why a cursor's signature does not match this query: another query (its public tag
    differs), another member's history, or an alteration."""
    _, public = _parts(fingerprint)
    tag = payload.get("q") if isinstance(payload, dict) else None
    if isinstance(tag, str) and tag != _public_tag(key, public):
        return _bad(  # (the tag is keyed: another cursor_secret changes it too)
            "its signature does not match: it was issued for a different query (point, "
            "radius, sort, filters or weights differ) or under another cursor_secret"
        )
    if not isinstance(fingerprint, Fingerprint):  # a search without members
        return _bad("its signature does not match (was it altered or cut?)")
    if public != str(fingerprint):  # this query has a member
        why = "made for another member's history than this query's (another member, or none)"
    else:  # most often altered: a query without a member has nothing else to differ in
        why = "made for a query with a member's history (this one has none)"
    return _bad(f"its signature does not match: it was altered or cut, or {why}")


def decode_cursor(key: bytes, cursor: Any, *, version: str, fingerprint: str) -> dict[str, Any]:
    """Verify and unpack a cursor for this snapshot ``version`` and query ``fingerprint``.

    Returns the payload as given to :func:`encode_cursor`: ``v``, ``f`` (this
    ``fingerprint``), ``p`` (primary, a float or ``None`` for ``-inf``), ``d``
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
        head = json.loads(body)
    except ValueError:
        head = None
    got = head.get("v") if isinstance(head, dict) else None
    if isinstance(got, str) and got != version:
        # Said before the signature check (a new secret may come with a new snapshot):
        # the only effect of a forged version is this message.
        raise StaleCursorError(
            f"cursor belongs to snapshot {got!r} but snapshot {version!r} is serving now; "
            f"results from two snapshots are never mixed: {_RESTART}"
        )
    full, _ = _parts(fingerprint)
    if not hmac.compare_digest(sig, _sign(key, body, full)):
        raise _mismatch(key, head, fingerprint)
    payload = _unsealed(key, head, full) if isinstance(head, dict) and got is not None else None
    if payload is None:
        raise _bad("its payload is not a cursor object")
    p, d, mid = payload.get("p", _MISSING), payload.get("d"), payload.get("id")
    if not (p is None or _finite(p)):
        raise _bad("its sort key is not a number")
    if not (_finite(d) and d >= 0):
        raise _bad("its distance is not a non-negative number")
    if not isinstance(mid, str):
        raise _bad("its merchant_id is not a string")
    return {**payload, "v": got, "f": str(fingerprint)}


def _unsealed(key: bytes, head: dict[str, Any], full: bytes) -> dict[str, Any] | None:
    """The sealed part of a signed head, as a dict (``None``: not one)."""
    nonce, sealed = head.get("n"), head.get("x")
    if not isinstance(nonce, str) or not isinstance(sealed, str):
        return None
    try:
        inner = json.loads(_seal(key, _unb64(nonce), full, _unb64(sealed)))
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return None
    return inner if isinstance(inner, dict) else None


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
) -> Fingerprint:
    """A short stable hash of what decides a query's membership and order (``member``:
    the member lift's fingerprint, never the member's id), with its public part.

    The hash is of ``repr`` of the tuple ``(member, lat, lng, radius_m, sort, where
    without its instant, open_now, open_at, ranking)``; the filters' and ranking's parts
    are remembered per object (:func:`_remembered_repr`), since every request of a server
    carries the same few of them. :attr:`Fingerprint.public` is the hash with ``member``
    ``None`` (the same query without a member); a cursor carries only a short tag of it.
    """
    parts = (
        repr(q.lat),
        repr(q.lng),
        repr(q.radius_m),
        repr(q.sort),
        _remembered_repr(where, _without_instant),
        repr(where.open_now),
        repr(None if where.open_at is None else where.open_at.isoformat()),
        _remembered_repr(ranking, repr),
    )
    rest = ", ".join(parts)
    text = f"({member!r}, {rest})"  # == repr() of the tuple of the values
    full = hashlib.sha256(text.encode()).hexdigest()[:24]
    if member is None:
        return Fingerprint(full, full)
    public = hashlib.sha256(f"(None, {rest})".encode()).hexdigest()[:24]
    return Fingerprint(full, public)


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
