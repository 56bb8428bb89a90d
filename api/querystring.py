"""The raw query string, before Starlette reads it: its bytes must be UTF-8.

Starlette decodes percent-encoded bytes that are not UTF-8 with replacement characters,
which the text search reads as separators: ``q=caf%E9`` (Latin-1) searched ``caf``.
"""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

from geo_discovery.errors import InvalidQueryError

__all__ = ["PRIVATE_PARAMS", "check_utf8"]

#: Parameters whose values no answer repeats: a member's id and visit history (an error
#: names the parameter and what is allowed, never the value).
PRIVATE_PARAMS = frozenset({"member", "visits"})


def check_utf8(raw_query: bytes) -> None:
    """Refuse a query string whose percent-encoded bytes are not UTF-8 (422): Starlette
    reads them with replacement characters, so ``q=caf%E9`` (Latin-1) searched ``caf``.

    >>> check_utf8(b"q=caf%C3%A9&lat=1")
    >>> check_utf8(b"q=caf%E9")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    geo_discovery.errors.InvalidQueryError: q='caf%E9' is not UTF-8 text (byte 0xe9); ...
    >>> check_utf8(b"member=usr-1%FF")  # a member's id is never shown  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    geo_discovery.errors.InvalidQueryError: member (its value unshown) is not UTF-8 text; ...
    """
    for piece in raw_query.split(b"&"):
        key, _, value = piece.partition(b"=")
        for part in (key, value):
            try:
                unquote_to_bytes(part.replace(b"+", b" ")).decode("utf-8")
            except UnicodeDecodeError as exc:
                sent = piece.decode("latin-1")
                name = unquote_to_bytes(key).decode("utf-8", "replace")
                given = (f"{name} (its value unshown)" if name in PRIVATE_PARAMS else
                         f"{name}={sent.partition('=')[2]!r}")  # fmt: skip
                byte = "" if name in PRIVATE_PARAMS else f" (byte 0x{exc.object[exc.start]:02x})"
                message = (
                    f"{given} is not UTF-8 text{byte}; allowed: UTF-8, percent-encoded "
                    "(é is %C3%A9)"
                )
                raise InvalidQueryError(message, [{
                    "parameter": name, "location": "query", "value": None,
                    "message": message}]) from None  # fmt: skip
