"""The part of a :class:`~geo_discovery.query.Filters` that decides which merchants are
eligible: the key of the planner's cached row masks."""

from __future__ import annotations

import functools
from dataclasses import fields
from typing import Any

from ..errors import InvalidQueryError
from ..query import NO_FILTERS, Filters

__all__ = ["checked_filters", "mask_key"]

_KEYED = tuple(f.name for f in fields(Filters) if f.name not in ("open_now", "open_at", "text"))


def mask_key(where: Filters) -> Filters | None:
    """The part of a filter set that decides the eligible mask (``None``: no mask).

    The instant of ``open_now``/``open_at`` is left out (checked per page); "hours
    known" is kept, written as ``open_now=True``. Text is matched separately (cached
    without it: every text of one filter set shares the entry).
    """
    if where is NO_FILTERS:
        return None
    where = checked_filters(where)
    return _key_of(tuple(getattr(where, f) for f in _KEYED), where.needs_hours)


def checked_filters(where: Any) -> Filters:
    """``where`` when it is a :class:`Filters` (``None``: no filter), else
    :class:`InvalidQueryError` naming what was given."""
    if where is None:
        return NO_FILTERS
    if not isinstance(where, Filters):
        raise InvalidQueryError(
            f"where must be a Filters (e.g. Filters(categories='food')), got "
            f"{type(where).__name__} {str(where)[:80]!r}"
        )
    return where


@functools.lru_cache(maxsize=256)
def _key_of(values: tuple[Any, ...], hours: bool) -> Filters | None:
    key = Filters(**dict(zip(_KEYED, values, strict=True)), open_now=hours)
    return None if key.is_empty() else key
