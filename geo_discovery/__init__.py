"""geo-discovery: discover local merchants.

Exact H3-indexed nearby search over versioned snapshots, loaded from messy open data
without losing a row.

Examples
--------
>>> import geo_discovery as gd
>>> sorted(gd.__all__)[:3]
['BBox', 'CellIndex', 'DiscoveryEngine']
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from .engine import DiscoveryEngine, MerchantNotFoundError, Results
from .errors import (
    GeoDiscoveryError,
    IngestError,
    InvalidQueryError,
    SnapshotError,
    SnapshotNotFoundError,
)
from .models import BBox, Hit, LatLng
from .search.index import CellIndex, build_cell_index
from .settings import Settings, get_settings
from .snapshot.pipeline import load
from .snapshot.store import SnapshotStore

try:
    __version__ = version("geo-discovery")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"

__all__ = [
    "BBox",
    "CellIndex",
    "DiscoveryEngine",
    "GeoDiscoveryError",
    "Hit",
    "IngestError",
    "InvalidQueryError",
    "LatLng",
    "MerchantNotFoundError",
    "Results",
    "Settings",
    "SnapshotError",
    "SnapshotNotFoundError",
    "SnapshotStore",
    "__version__",
    "build_cell_index",
    "get_settings",
    "load",
]
