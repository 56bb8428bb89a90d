"""Snapshots: the versioned store, the load pipeline, and the object that owns one version.

:mod:`.store` (versions, the ``CURRENT`` pointer, retention), :mod:`.pipeline` (read →
validate → index → derive → publish), :mod:`.derived` (what a load computes),
:mod:`.snapshot` (:class:`Snapshot`: opens one version and owns its data) and
:mod:`.rows` (the one format of a result row).
"""

from .snapshot import Snapshot
from .store import SnapshotInfo, SnapshotStore

__all__ = ["Snapshot", "SnapshotInfo", "SnapshotStore"]
