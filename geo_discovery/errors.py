"""One error hierarchy for the library.

Every error is a :class:`GeoDiscoveryError`; errors about a wrong *value* are also
:class:`ValueError` (and lookups also :class:`LookupError`), so callers that only know
the builtins still catch them, the way ``h3`` does.

The library never raises HTTP errors: ``api/`` maps these classes to status codes and
the CLI turns them into a one-line message and exit code 1.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "GeoDiscoveryError",
    "IngestError",
    "InvalidQueryError",
    "LoadRefusedError",
    "ProfileError",
    "RejectedRowsError",
    "SnapshotError",
    "SnapshotNotFoundError",
]


class GeoDiscoveryError(Exception):
    """Base class of every error raised on purpose by geo-discovery."""


class InvalidQueryError(GeoDiscoveryError, ValueError):
    """A query parameter is out of its allowed range; the message names both."""


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


class SnapshotError(GeoDiscoveryError):
    """The snapshot store is missing, locked or inconsistent."""


class SnapshotNotFoundError(SnapshotError, LookupError):
    """No snapshot exists (yet) at the given data dir, or the named one is gone."""


class LoadRefusedError(SnapshotError):
    """A load was refused because publishing it would lose served data: it holds no
    merchant, or a replace would drop more than ``load_max_shrink`` of the current
    snapshot. Nothing was published; the previous snapshot stays current."""

    report: Any = None  # the load's summary (a LoadReport), set by the pipeline
