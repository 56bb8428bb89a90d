"""Snapshot: opens one immutable snapshot and owns everything read from it.

:meth:`Snapshot.open` reads the manifest, memory-maps the merchant table (its Arrow IPC
copy, :func:`~geo_discovery.snapshot.rows.read_rows`) and the
:class:`~geo_discovery.search.index.CellIndex`, and reads every derived part (word of
mouth, districts, opening hours) on first use, once. Nothing else opens snapshot files:
the engine, the API and the CLI all go through one ``Snapshot``. A snapshot never
changes, so everything cached on it stays valid for its whole life; a newly published
snapshot is a new ``Snapshot`` object.

:meth:`Snapshot.from_table` builds the same object in memory from a canonical merchant
table (tests, notebooks, other engines' data).

Examples
--------
>>> import pyarrow as pa
>>> table = pa.table({"merchant_id": ["a", "b"], "name": ["A", "B"], "category": ["x", "y"],
...                   "lat": [40.70, 40.71], "lng": [-74.0, -74.0]})
>>> snap = Snapshot.from_table(table)
>>> len(snap), snap.version.split("-")[0], snap.districts is None
(2, 'unversioned', True)
"""

from __future__ import annotations

import functools
import json
import math
import threading
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from numpy.typing import NDArray

from ..errors import (
    DistrictNotFoundError,
    IngestError,
    MerchantNotFoundError,
    SnapshotError,
    SnapshotPrunedError,
)
from ..query import Member, Ranking
from ..ranking.member import MemberBoost
from ..search.index import CellIndex, build_cell_index
from .intable import aligned_pair, canonical_table, checked_resolution
from .members import MemberHistories
from .rows import RowStore, read_rows
from .store import SnapshotInfo, read_manifest, resolve_snapshot_dir

if TYPE_CHECKING:
    from ..districts.detect import Districts
    from ..ranking.hours import HoursTable
    from ..search.textindex import TextIndex

__all__ = ["Snapshot"]

_DERIVED = "derived"
#: A member with no history here: no rows.
_NO_ROWS = np.zeros(0, dtype=np.int64)
_NO_ROWS.setflags(write=False)


class Snapshot:
    """One snapshot's data: merchants, index and what a load derived from them.

    Attributes are read-only; derived parts load lazily (thread-safe) and are ``None``
    when the snapshot does not have them.

    Parameters
    ----------
    merchants
        The canonical merchant table (without geometry).
    index
        The spatial index over ``merchants`` (same row count).
    info
        The published snapshot this came from (``None`` when built in memory).
    wom, districts, text
        In-memory overrides of the derived parts: ``(wom_score, wom_confidence)``
        arrays aligned to ``merchants``, a
        :class:`~geo_discovery.districts.detect.Districts` (or just ``(district_id,
        district_term)`` per merchant), and a
        :class:`~geo_discovery.search.textindex.TextIndex` built for ``index``'s order.
    """

    def __init__(
        self,
        merchants: pa.Table,
        index: CellIndex,
        *,
        info: SnapshotInfo | None = None,
        wom: tuple[Any, Any] | None = None,
        districts: Districts | tuple[Any, Any] | None = None,
        text: TextIndex | None = None,
    ) -> None:
        # one name per table built in memory: a cursor of one is refused by another
        self._in_memory = f"unversioned-{uuid.uuid4().hex[:12]}"
        if len(index) != merchants.num_rows:
            raise SnapshotError(
                f"index has {len(index)} points but the merchant table {merchants.num_rows} rows"
            )
        self.merchants = merchants
        self.index = index
        self.info = info
        self._lock = threading.RLock()
        self._given: dict[str, Any] = {}
        if wom is not None:
            self._given["wom"] = aligned_pair(wom, merchants.num_rows, "wom")
        if isinstance(districts, tuple):  # raw (district_id, district_term) per merchant
            ids, term = districts
            columns = (np.asarray(ids, dtype=object),
                       None if term is None else np.asarray(term, dtype=np.float64))  # fmt: skip
            for name, a in zip(("district_id", "district_term"), columns, strict=True):
                if a is not None and a.shape != (merchants.num_rows,):
                    raise IngestError(f"districts: {name} has shape {a.shape}; expected "
                                      f"({merchants.num_rows},), aligned to the table")  # fmt: skip
            self._given["district_columns"] = columns
        elif districts is not None:
            self._given["districts"] = districts
        if text is not None:
            self._given["text"] = text
        self.rows = RowStore(merchants)

    # ------------------------------------------------------------------ opening
    @classmethod
    def open(cls, path: str | Path) -> Snapshot:
        """Open a snapshot: ``path`` is a data dir (its current snapshot) or a snapshot dir."""
        snap_dir = resolve_snapshot_dir(path)
        manifest = read_manifest(snap_dir)
        table = read_rows(snap_dir)
        index = CellIndex.from_directory(snap_dir / "index")
        info = SnapshotInfo(int(manifest["snapshot_id"]), snap_dir, manifest)
        return cls(table, index, info=info)

    @classmethod
    def from_table(
        cls,
        merchants: pa.Table,
        *,
        wom: tuple[Any, Any] | None = None,
        districts: Districts | tuple[Any, Any] | None = None,
        resolution: int | None = None,
    ) -> Snapshot:
        """An in-memory snapshot of a canonical merchant table (index built here): a
        pyarrow table with at least ``merchant_id`` (unique), ``lat`` and ``lng``; the other
        canonical columns are added as a load writes them for a source that says nothing
        (:func:`~.intable.canonical_table`)."""
        merchants = canonical_table(merchants)
        resolution = checked_resolution(resolution)
        index = build_cell_index(
            merchants.column("lat").to_numpy(),
            merchants.column("lng").to_numpy(),
            merchants.column("merchant_id"),
            resolution=resolution,
        )
        return cls(merchants, index, wom=wom, districts=districts)

    # ------------------------------------------------------------------ basics
    @property
    def version(self) -> str:
        """``"<id>-<created_at>"``: used in cursors, ETags and ``/readyz``."""
        return self.info.version if self.info else self._in_memory

    @property
    def snapshot_id(self) -> int | None:
        """The published snapshot's id (``None`` when built in memory)."""
        return self.info.snapshot_id if self.info else None

    @property
    def path(self) -> Path | None:
        """The snapshot's folder (``None`` when built in memory)."""
        return self.info.path if self.info else None

    @property
    def manifest(self) -> Mapping[str, Any]:
        return self.info.manifest if self.info else {}

    def __len__(self) -> int:
        return self.merchants.num_rows

    def __repr__(self) -> str:
        return f"Snapshot({self.version!r}, merchants={len(self)})"

    @functools.cached_property
    def members(self) -> MemberHistories:
        """Member histories under hashed ids (empty unless loaded from a visit log)."""
        self._still_there()
        return MemberHistories(self.path)

    def member_boost(
        self, member: Member, ranking: Ranking, default_weights: Mapping[str, float],
        cache_size: int = 1024, max_lift: float = math.inf,
    ) -> MemberBoost:  # fmt: skip
        """A member's lift: their id's history here plus the visits given, under the
        profile's learned member weights, else ``default_weights`` (the
        ``ranking_member_weights`` setting). Ids not in this snapshot are ignored. The last
        ``cache_size`` (member, weights) are kept (the ``member_cache`` setting): a member
        panning the map asks again and again, and the same object lets the planner reuse
        the lift's forms (kept in it). A lift resolved from an id carries the id's keyed
        token (:meth:`MemberHistories.token`) in its fingerprint, so the member's cursors
        are bound to the id, not only to the visits."""
        profile = ranking.profile
        weights, gamma = default_weights, 1.0
        if profile is not None and profile.member_weights:
            weights, gamma = dict(profile.member_weights), profile.gamma
        w_own = float(weights.get("own_visits", 0.0))
        kept = self._boosts.get(cache_size)
        if kept is None:
            kept = self._boosts[cache_size] = functools.lru_cache(cache_size)(self._build_boost)
        return kept(member, w_own, float(weights.get("own_category", 0.0)), gamma, max_lift)

    @functools.cached_property
    def _boosts(self) -> dict[int, Any]:
        """The resolved lifts' caches, one per size (engines with other settings share a
        snapshot)."""
        return {}

    def _build_boost(
        self, member: Member, w_own: float, w_cat: float, gamma: float, max_lift: float
    ) -> MemberBoost:
        rows, counts = _NO_ROWS, _NO_ROWS
        if member.member_id:  # the history's rows here (-1: a merchant gone since)
            lo, hi = self.members.span(member.member_id)
            rows, counts = self._member_rows[lo:hi], self.members.counts[lo:hi]
        if member.visits:  # each one visit (ids are text: the table's and a Member's)
            row_of = self._id_to_row.get
            given = np.array([row_of(mid, -1) for mid, _ in member.visits], dtype=np.int64)
            rows = np.concatenate((rows, given))
            counts = np.concatenate((counts, np.ones(len(given), dtype=np.int64)))
        codes, vocab = self.categories
        boost = MemberBoost.from_rows(
            rows, counts, codes, n_codes=len(vocab), w_own=w_own, w_cat=w_cat, gamma=gamma,
            max_lift=max_lift,
        )
        # An id's lift carries its keyed token (its cursors need the id, not just the visits)
        token = self.members.token(member.member_id) if member.member_id else None
        return boost if token is None else replace(boost, token=token)

    def _derived(self, name: str) -> Path | None:
        if self.info is None:
            return None
        folder = self.info.path / _DERIVED / name
        if folder.is_dir():
            return folder
        self._still_there()
        return None

    def _still_there(self) -> None:
        """:class:`SnapshotError` when this snapshot's folder is gone (newer loads pruned
        it, ``keep_snapshots``): what is read from it lazily (districts, the text index,
        member histories) would otherwise read as absent and change answers silently."""
        if self.info is not None and not self.info.path.is_dir():
            raise SnapshotPrunedError(
                f"snapshot {self.info.name} was removed from {self.info.path.parent} (newer "
                "loads pruned it: keep_snapshots); open the current one again "
                "(DiscoveryEngine.from_snapshot of the data dir)"
            )

    def check(self) -> None:
        """Read every part once, as a server about to serve it would: the merchant rows
        (and the footer of ``merchants.parquet``, which a later upsert reads), the index and
        each derived part the manifest lists (word of mouth, districts,
        hours, the text index). :class:`SnapshotError` names what is missing or damaged
        (``rollback`` makes nothing current that this refuses)."""
        name = self.info.name if self.info is not None else self.version
        try:
            listed = set(self.manifest.get("derived") or {})
            missing = sorted(p for p in listed if self._derived(p) is None)
            if missing:
                raise SnapshotError(f"snapshot {name} lacks its derived "
                                    f"{', '.join(missing)} (the manifest lists them under "
                                    f"{self.path}/derived)")  # fmt: skip
            for part in ("wom", "district_columns", "hours", "text"):
                getattr(self, part)
            self.merchants.validate(full=False)
            if self.path is not None:  # the canonical copy an upsert or delete starts from
                stored = pq.read_metadata(self.path / "merchants.parquet").num_rows
                if stored != len(self):
                    raise SnapshotError(f"snapshot {name}'s merchants.parquet holds {stored} "
                                        f"rows, its table {len(self)}")  # fmt: skip
            np.asarray(self.lat).sum(), np.asarray(self.index.search_arrays[2]).sum()
        except SnapshotError:
            raise
        except (OSError, ValueError, KeyError, pa.ArrowException) as exc:
            raise SnapshotError(f"snapshot {name} is damaged: {exc}") from exc

    def _once(self, key: str, build: Any) -> Any:
        if key in self._given:
            return self._given[key]
        with self._lock:
            if key not in self._given:
                self._given[key] = build()
            return self._given[key]

    # -------------------------------------------------------------- columns
    @functools.cached_property
    def lat(self) -> NDArray[np.float64]:
        return np.asarray(self.merchants.column("lat").to_numpy(), dtype=np.float64)

    @functools.cached_property
    def lng(self) -> NDArray[np.float64]:
        return np.asarray(self.merchants.column("lng").to_numpy(), dtype=np.float64)

    @functools.cached_property
    def extent(self) -> tuple[float, float, float, float] | None:
        """``(south, north, west, east)`` of the merchants' points (``None``: none)."""
        if not len(self.lat):
            return None
        lat, lng = self.lat, self.lng
        return float(lat.min()), float(lat.max()), float(lng.min()), float(lng.max())

    @functools.cached_property
    def categories(self) -> tuple[NDArray[np.int32], list[str]]:
        """``(codes, vocabulary)``: each merchant's category as a code into the vocabulary."""
        cat = pc.dictionary_encode(self.merchants.column("category")).combine_chunks()
        codes = np.asarray(cat.indices.to_numpy(zero_copy_only=False), dtype=np.int32)
        return codes, [str(x) for x in cat.dictionary.to_pylist()]

    @functools.cached_property
    def _category_paths(self) -> frozenset[str]:
        """Every merchant's category path and each of its parents."""
        paths = self.categories[1]
        return frozenset(p[:i] for p in paths for i, ch in enumerate(p + "/") if ch == "/")

    def unknown_categories(self, prefixes: Iterable[str]) -> tuple[str, ...]:
        """The category filter values that match no merchant here (no category is that
        path or under it): a filter by them keeps nothing, or excludes nothing.

        >>> Snapshot.from_table(pa.table({"merchant_id": ["a"], "lat": [1.0], "lng": [2.0],
        ...     "category": ["food/cafe"]})).unknown_categories(["food", "foo", "food/cafe"])
        ('foo',)
        """
        return tuple(p for p in prefixes if p not in self._category_paths)

    @functools.cached_property
    def _member_rows(self) -> NDArray[np.int64]:
        """Each member-history row's merchant row here (-1: not in this snapshot)."""
        ids = self.members.merchant_ids
        ours = self.merchants.column("merchant_id").combine_chunks().cast(pa.string())
        rows = pc.index_in(ids.cast(pa.string()), value_set=ours).fill_null(-1)
        return np.asarray(rows.to_numpy(zero_copy_only=False), dtype=np.int64)

    @functools.cached_property
    def _id_to_row(self) -> dict[str, int]:
        ids = self.merchants.column("merchant_id").to_pylist()
        return {str(m): i for i, m in enumerate(ids)}

    def row_of(self, merchant_id: str) -> int:
        """The table row of a merchant id; :class:`MerchantNotFoundError` when absent."""
        row = self._id_to_row.get(str(merchant_id))
        if row is None:
            raise MerchantNotFoundError(
                f"merchant_id={merchant_id!r} is not in snapshot {self.version}"
            )
        return row

    def row_or_none(self, merchant_id: str) -> int | None:
        """The table row of a merchant id, ``None`` when absent."""
        return self._id_to_row.get(str(merchant_id))

    def record(self, merchant_id: str) -> dict[str, Any]:
        """One merchant's full record, with its source attributes as a dict."""
        row = self.row_of(merchant_id)
        rec = {k: _jsonable(v) for k, v in self.merchants.slice(row, 1).to_pylist()[0].items()}
        rec["attributes"] = json.loads(rec["attributes"]) if rec.get("attributes") else {}
        return rec

    # -------------------------------------------------------------- derived
    @property
    def wom(self) -> tuple[NDArray[np.float64], NDArray[np.float64]] | None:
        """``(wom_score, wom_confidence)`` per merchant, or ``None`` without reputation."""
        return self._once("wom", self._read_wom)

    def _read_wom(self) -> tuple[NDArray[np.float64], NDArray[np.float64]] | None:
        from ..ranking.reputation import read_reputation

        folder = self._derived("reputation")
        return None if folder is None else read_reputation(folder, len(self))

    @property
    def districts(self) -> Districts | None:
        """The business districts detected at load time, or ``None``."""
        return self._once("districts", self._read_districts)

    def _read_districts(self) -> Districts | None:
        from ..districts.detect import Districts

        folder = self._derived("districts")
        if folder is None or not (folder / "districts.json").is_file():
            return None
        try:
            return Districts.from_directory(folder)
        except (OSError, ValueError, KeyError) as exc:
            raise SnapshotError(f"districts of {self.path} are unreadable: {exc}") from exc

    @property
    def district_columns(self) -> tuple[NDArray[np.object_], NDArray[np.float64] | None] | None:
        """``(district_id, district_term)`` per merchant (term: the district's
        ``strength``, 0 outside any district; ``None`` when districts have no strength)."""
        return self._once("district_columns", self._district_columns)

    def _district_columns(self) -> tuple[NDArray[np.object_], NDArray[np.float64] | None] | None:
        found = self.districts
        if found is None:
            return None
        row = np.asarray(found.merchant_district, dtype=np.int64)
        ids = np.asarray([*found.ids, None], dtype=object)[row]
        term = None
        if "strength" in found.frame.columns:
            strength = np.asarray(found.frame["strength"], dtype=np.float64)
            term = np.append(strength, 0.0)[row]
        return ids, term

    def require_districts(self) -> Districts:
        """The districts, or :class:`DistrictNotFoundError` naming the snapshot."""
        found = self.districts
        if found is None:
            raise DistrictNotFoundError(
                f"snapshot {self.version} has no districts (they are detected at load time)"
            )
        return found

    @property
    def hours(self) -> HoursTable:
        """Opening hours per merchant (parsed at load time when the snapshot has them)."""
        return self._once("hours", self._read_hours)

    def _read_hours(self) -> HoursTable:
        from ..ranking.hours import HoursTable, read_hours

        folder = self._derived("hours")
        if folder is None:
            return HoursTable.from_table(self.merchants)
        return read_hours(folder, self.merchants)

    @property
    def text(self) -> TextIndex | None:
        """The text index (built at load time; in memory for :meth:`from_table`), or
        ``None`` for a snapshot loaded before text search existed."""
        return self._once("text", self._read_text)

    def _read_text(self) -> TextIndex | None:
        from ..search.textindex import TextIndex
        from .derived import build_text

        if self.info is None:
            return build_text(self.merchants, self.index.positions)
        folder = self._derived("text")
        return None if folder is None else TextIndex.from_directory(folder, n_points=len(self))

    def stats(self) -> dict[str, Any]:
        """Counts per source and top-level category, bounds and index facts."""
        import pandas as pd  # only here: opening a snapshot does not need it

        snap = self
        codes, vocab = snap.categories
        top = pd.Series(vocab, dtype=object).str.split("/").str[0]
        per_code = np.bincount(codes, minlength=len(vocab))
        by_top = pd.Series(per_code).groupby(top.to_numpy()).sum().sort_values(ascending=False)
        sources = pd.Series(snap.merchants.column("source").to_pylist()).value_counts()
        return {
            "snapshot": self.version,
            "merchants": len(snap),
            "sources": {str(k): int(v) for k, v in sources.items()},
            "top_categories": {str(k): int(v) for k, v in by_top.items()},
            "categories": len(vocab),
            "bounds": None
            if len(snap) == 0
            else {
                "south": float(snap.lat.min()),
                "west": float(snap.lng.min()),
                "north": float(snap.lat.max()),
                "east": float(snap.lng.max()),
            },
            "index": {
                "resolution": snap.index.resolution,
                "cells": len(snap.index.cells),
                "bytes_per_merchant": snap.index.nbytes / max(len(snap.index), 1),
            },
        }


def _jsonable(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value
