"""Every error geo-discovery raises on purpose, in one place.

Every error is a :class:`GeoDiscoveryError`; errors about a wrong *value* are also
:class:`ValueError` and lookups also :class:`LookupError`, so callers that only know the
builtins still catch them, the way ``h3`` does. Nothing else in the package (or in
``api/``) defines an exception class.

The library never raises HTTP errors. ``api/`` maps these classes, and only these, to
status codes; anything else is a bug, logged and answered with 500:

=============================  ======  ==============================================
class                          HTTP    CLI
=============================  ======  ==============================================
:class:`InvalidQueryError`     422     exit 1, one line
:class:`NotFoundError`         404     exit 1, one line
:class:`SnapshotError`         503     exit 1 (4 for :class:`LoadRefusedError`)
:class:`IngestError`           422     exit 1 (3 for :class:`RejectedRowsError`)
:class:`ClusterError`          —       exit 1, one line
:class:`DatabaseError`         —       exit 1, one line (passwords masked)
=============================  ======  ==============================================

Examples
--------
>>> issubclass(MerchantNotFoundError, LookupError), issubclass(InvalidQueryError, ValueError)
(True, True)
>>> issubclass(MerchantNotFoundError, SnapshotError)  # a missing id is the client's 404
False
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ClusterError",
    "DataWarning",
    "DatabaseError",
    "DemandUnavailableError",
    "DistrictNotFoundError",
    "GeoDiscoveryError",
    "IngestError",
    "InvalidCursorError",
    "InvalidQueryError",
    "InvalidTypeError",
    "LoadRefusedError",
    "MerchantNotFoundError",
    "NotFoundError",
    "ProfileError",
    "RejectedRowsError",
    "SnapshotError",
    "SnapshotNotFoundError",
    "SnapshotPrunedError",
    "StaleCursorError",
    "TextIndexMissingError",
    "UnknownParameterError",
]


class GeoDiscoveryError(Exception):
    """Base class of every error raised on purpose by geo-discovery."""


# ------------------------------------------------------------------ query values (422)
class InvalidQueryError(GeoDiscoveryError, ValueError):
    """A query value is out of its allowed range; the message names the value and the range.

    ``problems`` lists each problem as ``{"parameter", "value", "message"}`` when the
    error reports several at once (the API returns them as ``errors``).
    """

    def __init__(self, message: str, problems: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


class InvalidTypeError(InvalidQueryError, TypeError):
    """A query value of a type that is no number or text where one is needed (a list, a
    bool, ``None`` inside a box): a :class:`TypeError` by Python's convention, and an
    :class:`InvalidQueryError` (a ``ValueError``) as every other bad query value, so
    either ``except`` catches it."""


class InvalidCursorError(InvalidQueryError):
    """A page cursor is malformed, altered, or belongs to another query."""


class StaleCursorError(InvalidCursorError):
    """A page cursor was issued on another snapshot than the one serving now."""


class TextIndexMissingError(InvalidQueryError):
    """A text query on a snapshot loaded before text search existed (it has no text index
    until the data is loaded again)."""


class UnknownParameterError(InvalidQueryError):
    """A request named a parameter the endpoint does not have (never silently ignored)."""

    def __init__(self, message: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message, errors)
        self.errors = errors or []


# ---------------------------------------------------------------------- lookups (404)
class NotFoundError(GeoDiscoveryError, LookupError):
    """Something asked for by id is not in the snapshot being served."""


class MerchantNotFoundError(NotFoundError):
    """No merchant with that id in the snapshot."""


class DistrictNotFoundError(NotFoundError):
    """No district with that id in the snapshot, or the snapshot has no districts."""


# ---------------------------------------------------------------------- ingest (files)
class DataWarning(UserWarning):
    """Data kept with a value changed, said where no load report can say it (a table given
    in memory): a rating outside its scale left empty, a rating scale guessed from unclear
    evidence. ``warnings.simplefilter("error", DataWarning)`` makes them errors."""


class IngestError(GeoDiscoveryError, ValueError):
    """A whole input file cannot be read (unknown format, truncated archive, no header…)."""


class ProfileError(IngestError):
    """An ingest profile or declarative column mapping is unknown or malformed."""


class RejectedRowsError(IngestError):
    """``strict`` ingest found rejected rows; nothing was published."""

    def __init__(self, message: str, rejected: int) -> None:
        super().__init__(message)
        self.rejected = rejected
        self.report: Any = None  # the load's summary (a LoadReport), set by the pipeline


# ------------------------------------------------------------- snapshots, server (503)
class SnapshotError(GeoDiscoveryError):
    """The snapshot store is missing, locked or inconsistent."""


class SnapshotNotFoundError(SnapshotError, LookupError):
    """No snapshot exists (yet) at the given data dir, or the named one is gone."""


class SnapshotPrunedError(SnapshotError):
    """The snapshot an engine was opened on was deleted by newer loads (``keep_snapshots``):
    what it reads lazily is gone. Open the data dir's current snapshot again (a server
    switches to it by itself)."""


class LoadRefusedError(SnapshotError):
    """A load was refused because publishing it would lose served data: it holds no
    merchant, or a replace or delete would drop more than ``load_max_shrink`` of the
    current snapshot (in all or of one source). Nothing was published; the previous
    snapshot stays current. Also an export of a snapshot without merchants, which would
    empty the PostGIS tables (they stay as they were)."""

    report: Any = None  # the load's summary (a LoadReport), set by the pipeline


class DemandUnavailableError(SnapshotError):
    """The configured catchment demand file cannot be read (a server problem)."""


# ------------------------------------------------------------- scale-out (CLI, library)
class ClusterError(GeoDiscoveryError):
    """A Dask cluster named by ``--cluster`` cannot be started or reached, or the
    ``cluster`` extra (dask[distributed]) is not installed."""


class DatabaseError(GeoDiscoveryError):
    """PostgreSQL cannot be reached, refused the credentials, or a statement failed
    (a source table or column is missing, an export could not be written). Messages
    never hold a password."""
