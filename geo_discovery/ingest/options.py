"""How a load reads ambiguous values: one :class:`ReadOptions` per call, checked once.

Every option defaults to "decide from the file's own evidence and say what was
decided"; an option states the answer instead (``decimal=","``,
``date_format="%d/%m/%Y"``, ``rating_scale=5``, ``crs="EPSG:3857"``). ``strict``
turns field warnings (a value left empty) into rejected rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypedDict

from ..errors import IngestError

__all__ = ["DATE_ORDERS", "Decimals", "ReadOptions"]

#: ``date_format`` shorthands: the order of day and month in ``03/04/2019``-like dates.
DATE_ORDERS = ("day-first", "month-first")


class Decimals(TypedDict):
    """Keyword arguments of the number parsers: the given and the file's decimal mark."""

    decimal: str | None
    fallback_decimal: str | None


@dataclass(frozen=True)
class ReadOptions:
    """Answers to questions a file cannot settle by itself.

    Parameters
    ----------
    decimal
        ``"."`` or ``","``: the decimal mark of numbers such as ``1,234``; ``None``
        decides per column from values that can only be read one way (``4,5``).
    date_format
        A :func:`~datetime.datetime.strptime` pattern (``%d/%m/%Y``) or ``day-first`` /
        ``month-first``; ``None`` decides per column (``13/04`` is day-first).
    rating_scale
        The top of every file's rating scale; ``None`` infers it per file.
    crs
        The CRS of the coordinates (``EPSG:3857``…); ``None``: the file's own CRS, else
        WGS84 degrees.
    strict
        A field that cannot be read rejects its row instead of being left empty.
    until
        Visit logs (``--profile checkins``): count only visits strictly before this
        instant (a naive time is UTC), so popularity never learns from the future.

    Examples
    --------
    >>> ReadOptions(decimal=",").decimal
    ','
    >>> ReadOptions(date_format="%Y.%d.%m").date_format
    '%Y.%d.%m'
    >>> ReadOptions(decimal=";")
    Traceback (most recent call last):
    ...
    geo_discovery.errors.IngestError: decimal ';' is not allowed; allowed: '.' or ','
    """

    decimal: str | None = None
    date_format: str | None = None
    rating_scale: float | None = None
    crs: str | None = None
    strict: bool = False
    until: datetime | None = None

    def __post_init__(self) -> None:
        if self.decimal not in (None, ".", ","):
            raise IngestError(f"decimal {self.decimal!r} is not allowed; allowed: '.' or ','")
        fmt = self.date_format
        if fmt is not None and fmt not in DATE_ORDERS:
            if "%" not in fmt:
                raise IngestError(
                    f"date format {fmt!r} is not allowed; expected a strptime pattern such "
                    f"as '%d/%m/%Y', or one of {', '.join(DATE_ORDERS)}"
                )
            try:  # written and read back: the C library writes a directive it cannot read
                sample = datetime(2001, 2, 3, 4, 5, 6, tzinfo=UTC)
                datetime.strptime(sample.strftime(fmt), fmt)
            except ValueError as exc:
                raise IngestError(f"date format {fmt!r} is not a valid pattern ({exc})") from None
        scale = self.rating_scale
        if scale is not None and not (scale > 0 and scale < float("inf")):
            raise IngestError(f"rating scale {scale!r} is out of range; allowed: a number > 0")
        if self.crs is not None:
            from pyproj import CRS
            from pyproj.exceptions import CRSError

            try:
                CRS.from_user_input(self.crs)
            except CRSError:
                raise IngestError(
                    f"crs {self.crs!r} is not a coordinate reference system pyproj knows; "
                    "expected e.g. EPSG:3857 or EPSG:32618"
                ) from None
