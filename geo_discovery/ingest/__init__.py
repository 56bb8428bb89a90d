"""Ingest: read merchant files of many formats and schemas into the canonical table.

Readers (:mod:`.readers`) turn CSV, GeoJSON, GeoPackage, Shapefile and (Geo)Parquet into
text rows; profiles (:mod:`.profiles`) or a declarative mapping (:mod:`.mapping`) map
them to :data:`geo_discovery.schema.CANONICAL_COLUMNS`; validation (:mod:`.validate`,
:mod:`.canonical`) collects every problem of every row, so that each rejected row is
reported with all of its reasons and ``rows_read == rows_loaded + rows_rejected``.

Examples
--------
>>> from geo_discovery.ingest import list_profiles
>>> "airbnb" in [p.name for p in list_profiles()]
True
"""

from __future__ import annotations

from .mapping import load_mapping, profile_from_mapping
from .profiles import Profile, detect_profile, get_profile, list_profiles
from .result import REJECT_COLUMNS, IngestResult, SourceReport, write_rejects
from .sources import read_id_list, read_sources
from .validate import reason_kinds

__all__ = [
    "REJECT_COLUMNS",
    "IngestResult",
    "Profile",
    "SourceReport",
    "detect_profile",
    "get_profile",
    "list_profiles",
    "load_mapping",
    "profile_from_mapping",
    "read_id_list",
    "read_sources",
    "reason_kinds",
    "write_rejects",
]
