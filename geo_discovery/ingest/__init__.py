"""Ingest: read merchant files of many formats and schemas into the canonical table.

Readers (:mod:`.readers`) turn CSV, GeoJSON, GeoPackage, Shapefile and (Geo)Parquet into
text rows; profiles (:mod:`.profiles`) or a declarative mapping (:mod:`.mapping`) map
them to :data:`geo_discovery.schema.CANONICAL_COLUMNS`; validation (:mod:`.validate`,
:mod:`.canonical`) collects every problem of every row, so that each rejected row is
reported with all of its reasons and ``rows_read == rows_loaded + rows_rejected``. Id,
name and coordinates are required (a problem rejects the row); any other field that
cannot be read is left empty and reported as a warning. Ambiguous values are read by one
rule per column from the file's own evidence (:mod:`.values`, :mod:`.ratings`,
:mod:`.coordinates`), or as :class:`ReadOptions` says.

Examples
--------
>>> from geo_discovery.ingest import list_profiles
>>> "airbnb" in [p.name for p in list_profiles()]
True
"""

from __future__ import annotations

from .mapping import load_mapping, profile_from_mapping
from .options import ReadOptions
from .profiles import Profile, detect_profile, get_profile, list_profiles
from .result import REJECT_COLUMNS, IngestResult, SourceReport, write_rejects
from .sources import read_id_list, read_sources
from .validate import reason_kinds

__all__ = [
    "REJECT_COLUMNS",
    "IngestResult",
    "Profile",
    "ReadOptions",
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
