"""Versioned snapshots on disk, published atomically: the embedded default store.

Layout of a data dir::

    DATA_DIR/
      CURRENT                 name of the current snapshot (e.g. "000007"), swapped atomically
      PUBLISHED               every snapshot ever made current, one a line (the one CURRENT
                              names is added before CURRENT moves on; a load's ``parent``
                              counts too)
      .lock                   held (flock) by the one writer at a time
      snapshots/
        000006/               an immutable snapshot
          manifest.json       schema version, row counts, sources with sha256, creation time
          merchants.parquet   the canonical merchant table (GeoParquet: WKB point geometry)
          merchants.arrow     the same table without geometry, uncompressed Arrow IPC (mapped)
          index/*.npy         CellIndex arrays, memory-mapped by readers
          derived/            arrays aligned to the merchant table (reputation, districts…)
        000007/
        .tmp-000008-…/        a load in progress (or one that was killed: removed by the next)
        .tmp-000005-gone-…/   a pruned snapshot being deleted (renamed first: a kill leaves
                              this, which the next load removes, never a half-deleted 000005)

A writer builds ``snapshots/.tmp-N-…`` completely, fsyncs it, renames it to ``N`` and
then replaces ``CURRENT`` with ``os.replace``. Readers only follow ``CURRENT``, so a load
that fails or is killed at any point leaves the previous snapshot current and readable.
"""

from __future__ import annotations

import builtins
import contextlib
import fcntl
import json
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

from ..errors import InvalidTypeError, SnapshotError, SnapshotNotFoundError
from ..schema import SCHEMA_VERSION

__all__ = [
    "SnapshotInfo",
    "SnapshotStore",
    "SnapshotWriter",
    "resolve_snapshot_dir",
    "rolled_away",
    "snapshot_merchants",
]

MANIFEST = "manifest.json"
CURRENT = "CURRENT"
#: The snapshots ever made current, one name a line (``set_current`` appends).
PUBLISHED = "PUBLISHED"
_SNAP_DIR = "snapshots"
_TMP_PREFIX = ".tmp-"
FORMAT = "geo-discovery-snapshot"


@dataclass(frozen=True)
class SnapshotInfo:
    """One published snapshot: its id, folder and manifest."""

    snapshot_id: int
    path: Path
    manifest: dict[str, Any]
    is_current: bool = False
    #: ``False``: complete but never made current (a load killed between writing it and
    #: moving ``CURRENT``); ``None``: unknown (a data dir from before the record was kept).
    published: bool | None = None

    @property
    def name(self) -> str:
        return _name(self.snapshot_id)

    @cached_property
    def version(self) -> str:
        """Identifier used in cursors, ETags and ``/readyz``: ``"<id>-<created_at>"``."""
        return f"{self.name}-{self.manifest.get('created_at', '')}"


def _name(snapshot_id: int) -> str:
    return f"{snapshot_id:06d}"


def _parent(manifest: dict[str, Any]) -> int | None:
    """The snapshot that was current when this one's load began (its manifest's ``parent``)."""
    parent = manifest.get("parent")
    ok = isinstance(parent, int) and not isinstance(parent, bool) and parent > 0
    return parent if ok else None


def rolled_away(snaps: Iterable[SnapshotInfo]) -> set[int]:
    """Ids of snapshots that were current and then rolled back away from, as the kept
    manifests tell: a load whose ``parent`` (current when it began) is older than a
    snapshot made before it saw that snapshot no longer current, and only a rollback
    moves ``CURRENT`` back.

    >>> info = lambda i, parent: SnapshotInfo(i, Path(str(i)), {"parent": parent}, False, True)
    >>> sorted(rolled_away([info(1, None), info(2, 1), info(3, 2), info(4, 1)]))
    [2, 3]
    """
    snaps = list(snaps)
    away: set[int] = set()
    for s in snaps:
        parent = _parent(s.manifest)
        if parent is not None:
            away |= {x.snapshot_id for x in snaps if parent < x.snapshot_id < s.snapshot_id
                     and x.published is not False}  # fmt: skip
    return away


def _discard(folder: Path) -> bool:
    """Delete a folder of ``snapshots/``: first renamed (atomically) to a temporary name, so
    a kill while deleting leaves a ``.tmp-*`` the next writer removes, never a half-deleted
    folder under a snapshot's name. ``False`` when it could not be renamed (left alone)."""
    doomed = folder.with_name(f"{_TMP_PREFIX}{folder.name}-gone-{uuid.uuid4().hex[:8]}")
    try:
        os.rename(folder, doomed)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    _fsync_dir(folder.parent)
    shutil.rmtree(doomed, ignore_errors=True)
    return True


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(path: Path) -> None:
    for root, _dirs, files in os.walk(path):
        for f in files:
            with open(os.path.join(root, f), "rb") as fh:
                os.fsync(fh.fileno())
        _fsync_dir(Path(root))


def read_manifest(snapshot_dir: Path) -> dict[str, Any]:
    """Read and check a snapshot's manifest; raise :class:`SnapshotError` if unusable."""
    try:
        manifest = json.loads((snapshot_dir / MANIFEST).read_text())
    except FileNotFoundError:
        raise SnapshotNotFoundError(f"{snapshot_dir} is not a snapshot: no {MANIFEST}") from None
    except (OSError, ValueError) as exc:
        raise SnapshotError(f"manifest of {snapshot_dir} is unreadable: {exc}") from exc
    if manifest.get("format") != FORMAT:
        raise SnapshotError(f"{snapshot_dir}/{MANIFEST} is not a {FORMAT} manifest")
    if manifest.get("schema_version") != SCHEMA_VERSION:
        raise SnapshotError(
            f"snapshot {snapshot_dir} has schema_version={manifest.get('schema_version')}; "
            f"this version of geo-discovery reads schema_version={SCHEMA_VERSION}"
        )
    return dict(manifest)


def snapshot_merchants(manifest: dict[str, Any]) -> int:
    """Merchants a snapshot holds, from its manifest (0 when it does not say)."""
    rows = manifest.get("rows")
    try:
        return int(rows.get("merchants", 0)) if isinstance(rows, dict) else 0
    except (TypeError, ValueError):
        return 0


def resolve_snapshot_dir(path: str | Path) -> Path:
    """A snapshot folder from either a data dir (its current snapshot) or a snapshot dir."""
    if not isinstance(path, str | os.PathLike):
        raise InvalidTypeError(f"path={path!r} is no path; allowed: a data dir or a "
                               "snapshot dir, as a str or a pathlib.Path")  # fmt: skip
    path = Path(path).expanduser()
    if path.is_file():  # a merchant file given where its store was meant
        raise SnapshotNotFoundError(
            f"{path} is a file, not a data dir or a snapshot; load it first with "
            f"`geo-discovery load {path} --data-dir DIR`, then open DIR"
        )
    if (path / MANIFEST).is_file():
        return path
    if (path / CURRENT).is_file() or (path / _SNAP_DIR).is_dir():
        current = SnapshotStore(path).current()
        if current is None:
            raise SnapshotNotFoundError(
                f"data dir {path} has no current snapshot; run `geo-discovery load FILE`"
            )
        return current.path
    raise SnapshotNotFoundError(
        f"{path} is neither a data dir nor a snapshot; run `geo-discovery load FILE "
        f"--data-dir {path}` first"
    )


class SnapshotStore:
    """The snapshots of one data dir. Reading needs no lock; writing takes ``.lock``.

    Examples
    --------
    >>> import tempfile
    >>> store = SnapshotStore(tempfile.mkdtemp())
    >>> store.current() is None
    True
    """

    def __init__(self, data_dir: str | Path) -> None:
        self.data_dir = Path(data_dir).expanduser()
        self.snapshots_dir = self.data_dir / _SNAP_DIR

    # -------------------------------------------------------------- reading
    def current_name(self) -> str | None:
        try:
            name = (self.data_dir / CURRENT).read_text().strip()
        except FileNotFoundError:
            return None
        return name or None

    def current(self) -> SnapshotInfo | None:
        """The published snapshot readers should use, or ``None`` before the first load."""
        name = self.current_name()
        if name is None:
            return None
        if not name.isdigit():  # by hand? every write here is a snapshot's number
            raise SnapshotError(
                f"{self.data_dir / 'CURRENT'} holds {name[:40]!r}, not a snapshot number; "
                "make one current with geo-discovery rollback --to ID (geo-discovery snapshots "
                "lists them)"
            )
        path = self.snapshots_dir / name
        try:
            manifest = read_manifest(path)
        except SnapshotNotFoundError:  # its folder deleted by hand: rollback mends it
            raise SnapshotNotFoundError(
                f"{self.data_dir / 'CURRENT'} names snapshot {name}, but {path} is gone (or "
                "has no manifest.json); make an older one current with geo-discovery "
                f"rollback --data-dir {self.data_dir} (geo-discovery snapshots lists them)"
            ) from None
        return SnapshotInfo(int(name), path, manifest, is_current=True)

    def list(self) -> builtins.list[SnapshotInfo]:
        """Every complete snapshot, oldest first (in-progress temporaries are skipped)."""
        if not self.snapshots_dir.is_dir():
            return []
        current, published = self.current_name(), self.published()
        found = []
        for child in sorted(self.snapshots_dir.iterdir()):
            if not child.name.isdigit():
                continue
            try:
                found.append((child, read_manifest(child)))
            except SnapshotError:
                continue
        if published is not None:  # a load's parent was current when the load began: it
            # was served, even where a kill right after the swap lost its line (set_current)
            published |= {_name(p) for _, m in found if (p := _parent(m)) is not None}
        out = []
        for child, manifest in found:
            now = child.name == current
            known = None if published is None else now or child.name in published
            out.append(SnapshotInfo(int(child.name), child, manifest, now, known))
        return out

    def published(self) -> set[str] | None:
        """The names of the snapshots ever made current (``None``: not recorded here)."""
        try:
            return set((self.data_dir / PUBLISHED).read_text().split())
        except FileNotFoundError:
            return None

    def get(self, snapshot_id: int) -> SnapshotInfo:
        path = self.snapshots_dir / _name(snapshot_id)
        if not path.is_dir():
            known = ", ".join(s.name for s in self.list()) or "none"
            raise SnapshotNotFoundError(f"snapshot {snapshot_id} not found; known: {known}")
        return SnapshotInfo(
            snapshot_id, path, read_manifest(path), _name(snapshot_id) == self.current_name()
        )

    # -------------------------------------------------------------- writing
    @contextlib.contextmanager
    def lock(
        self, wait_s: float = 0.0, on_wait: Callable[[], None] | None = None
    ) -> Iterator[None]:
        """Exclusive writer lock.

        A second writer waits up to ``wait_s`` seconds for it (``on_wait`` is called once
        when it starts waiting), then fails with a clear message.
        """
        if self.data_dir.exists() and not self.data_dir.is_dir():
            raise SnapshotError(
                f"the data dir {self.data_dir} is a file; allowed: a folder (made if missing)"
            )
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            fh = open(self.data_dir / ".lock", "a+")  # noqa: SIM115  (closed below)
        except OSError as exc:  # a read-only store: say what stays served, not only errno
            now = self.current_name() if self.data_dir.is_dir() else None
            raise SnapshotError(
                f"cannot write the data dir {self.data_dir} ({exc.strerror or exc}): a load "
                "writes its snapshot and lock there; nothing was published: "
                + (f"snapshot {now} stays current" if now else "there is still no snapshot")
            ) from None
        with fh:
            deadline = time.monotonic() + max(wait_s, 0.0)
            waiting = False
            while True:
                try:
                    fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        waited = f" (waited {wait_s:g} s)" if wait_s > 0 else ""
                        raise SnapshotError(
                            f"another load is writing to {self.data_dir}{waited}; nothing was "
                            "read or changed: wait for it to finish, or pass --wait SECONDS to "
                            "wait for the lock"
                        ) from None
                    if not waiting and on_wait is not None:
                        on_wait()
                    waiting = True
                    time.sleep(min(0.05, left))
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    def begin(self) -> SnapshotWriter:
        """Start snapshot N+1 in a temporary folder (call under :meth:`lock`)."""
        self.snapshots_dir.mkdir(parents=True, exist_ok=True)
        # Counted before the cleanup: an id a half-deleted folder held is never given again.
        existing = [int(p.name) for p in self.snapshots_dir.iterdir() if p.name.isdigit()]
        self.remove_temporaries()
        snapshot_id = max(existing, default=0) + 1
        tmp = self.snapshots_dir / f"{_TMP_PREFIX}{_name(snapshot_id)}-{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
        return SnapshotWriter(self, snapshot_id, tmp)

    def remove_temporaries(self) -> builtins.list[str]:
        """Delete leftovers of failed or killed loads and prunes (only safe under
        :meth:`lock`): ``.tmp-*`` folders, and snapshot folders without a manifest (a kill
        while an older version deleted one). A load in progress is never among them: it
        writes in ``.tmp-*`` under the lock, and renames its folder into place whole, with
        its manifest."""
        removed = []
        if self.snapshots_dir.is_dir():
            current = self.current_name()
            for child in self.snapshots_dir.iterdir():
                if child.name.startswith(_TMP_PREFIX):
                    shutil.rmtree(child, ignore_errors=True)
                    removed.append(child.name)
                elif (
                    child.name.isdigit() and child.name != current and child.is_dir()
                    and not os.path.lexists(child / MANIFEST) and _discard(child)
                ):  # fmt: skip
                    removed.append(child.name)
        # A pointer or record file written but never swapped in (killed in set_current).
        for pattern in (f".{CURRENT}.*", f".{PUBLISHED}.*"):
            for stale in self.data_dir.glob(pattern):
                stale.unlink(missing_ok=True)
                removed.append(stale.name)
        return removed

    def _record(self, names: builtins.list[str], *, whole: bool = False) -> None:
        """Append ``names`` to ``PUBLISHED`` (``whole``: write it anew, atomically), durably."""
        record = self.data_dir / PUBLISHED
        target = record.with_name(f".{PUBLISHED}.{uuid.uuid4().hex[:8]}") if whole else record
        with open(target, "w" if whole else "a") as fh:
            fh.write("".join(f"{n}\n" for n in names))
            fh.flush()
            os.fsync(fh.fileno())
        if whole:
            os.replace(target, record)
            _fsync_dir(self.data_dir)

    def set_current(self, snapshot_id: int) -> None:
        """Atomically point ``CURRENT`` at a complete snapshot.

        ``PUBLISHED`` gets the snapshot ``CURRENT`` names now, if it lacks it, before
        ``CURRENT`` moves, and the new one after: a kill at any point can leave out only
        the current snapshot, which counts as published anyway. (Recorded after the swap, a
        kill between the two left served snapshots marked "never published" for good.)
        """
        name = _name(snapshot_id)
        path = self.snapshots_dir / name
        read_manifest(path)  # refuse to publish anything unreadable
        published = self.published()
        if published is None:  # the first time: every snapshot kept (this one too) counts
            self._record([s.name for s in self.list() if s.name != name], whole=True)
            published = set()
        else:
            now = self.current_name()
            if now is not None and now != name and now not in published and now.isdigit():
                self._record([now])
        tmp = self.data_dir / f".{CURRENT}.{uuid.uuid4().hex[:8]}"
        with open(tmp, "w") as fh:
            fh.write(name + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.data_dir / CURRENT)
        _fsync_dir(self.data_dir)
        if name not in published:  # a rollback to one served before: named already
            self._record([name])

    @staticmethod
    def _rollback_targets(
        snaps: builtins.list[SnapshotInfo], current_id: int, parent: int | None
    ) -> builtins.list[SnapshotInfo]:
        """Where a plain rollback from ``current_id`` goes, best first: what was served
        before it, i.e. the snapshot its load replaced (``parent``, its manifest's), if
        kept; then the newest older snapshot ever current that was not rolled back away
        from (:func:`rolled_away`). Not the newest older one first: after rolling back
        from a bad snapshot and loading again, that is the bad one."""
        away = rolled_away(snaps)
        older = [s for s in snaps if s.snapshot_id < current_id
                 and s.published is not False]  # never current: a killed load's
        out = [s for s in older if s.snapshot_id == parent]
        rest = [s for s in older if s.snapshot_id != parent and s.snapshot_id not in away]
        return out + rest[-1:]

    def rollback(
        self, to: int | None = None, wait_s: float = 0.0,
        check: Callable[[Path], None] | None = None,
    ) -> SnapshotInfo:  # fmt: skip
        """Make ``to`` current; by default what was served before the current snapshot: the
        one its load replaced (manifest ``parent``) if kept and readable, else the newest
        older snapshot ever current. ``wait_s``: how long to wait for a load writing to the
        store (:meth:`lock`); ``check``: called with the target's folder first (under the
        lock), raising :class:`SnapshotError` to refuse it (the CLI opens it and reads every
        part: ``Snapshot.check``), so a damaged snapshot never becomes current."""
        with self.lock(wait_s):
            if to is not None:
                targets = [self.get(to)]
            else:
                name = self.current_name()
                if name is None:
                    raise SnapshotNotFoundError(
                        "nothing to roll back: there is no current snapshot"
                    )
                try:  # the current one gone or unreadable: what was served before it
                    current = self.current()
                    parent = _parent(current.manifest) if current is not None else None
                except SnapshotError:
                    parent = None
                    if not name.isdigit():
                        raise
                targets = self._rollback_targets(self.list(), int(name), parent)
                if not targets:
                    raise SnapshotNotFoundError(
                        f"nothing to roll back to: {name} is the oldest snapshot kept"
                    )
            for i, target in enumerate(targets):
                try:
                    if check is not None:
                        check(target.path)
                    break
                except SnapshotError:
                    if i == len(targets) - 1:
                        raise  # (the parent damaged: the older rule's target instead)
            self.set_current(target.snapshot_id)
            return self.get(target.snapshot_id)

    def prune(self, keep: int) -> builtins.list[str]:
        """Delete all but the ``keep`` newest snapshots that were ever current (call under
        :meth:`lock`).

        Snapshots a killed load left behind (never current, older than the current one) do
        not count and are removed. Never deletes the current snapshot, nor the newest
        published one that holds merchants (a run of empty snapshots, published with
        ``allow_empty``, can never push the last good data out of reach of ``rollback``),
        nor, when ``keep >= 2``, the one a plain ``rollback`` would make current. Each
        folder is renamed to a temporary name before it is deleted: a kill meanwhile leaves
        nothing the next load does not remove.
        """
        if keep < 1:
            raise ValueError(f"keep={keep} is out of range; allowed: keep >= 1")
        self.remove_temporaries()
        snaps = self.list()
        current = next((s for s in snaps if s.is_current), None)
        away = rolled_away(snaps)  # rolled back away from: no good data to keep
        served = [s for s in snaps if s.published is not False and s.snapshot_id not in away]
        kept = {s.name for s in served[-keep:]}
        non_empty = [s for s in served if snapshot_merchants(s.manifest) > 0]
        kept |= {s.name for s in non_empty[-1:]}
        newest = 0
        if current is not None:
            newest = current.snapshot_id
            kept.add(current.name)
            if keep >= 2:
                targets = self._rollback_targets(
                    snaps, current.snapshot_id, _parent(current.manifest)
                )
                kept |= {s.name for s in targets[:1]}
        doomed = [
            s for s in snaps
            if s.name not in kept and (s.published is not False or s.snapshot_id < newest)
        ]
        return [s.name for s in doomed if _discard(s.path)]


class SnapshotWriter:
    """Builds one snapshot in a temporary folder; :meth:`commit` publishes it."""

    def __init__(self, store: SnapshotStore, snapshot_id: int, tmp: Path) -> None:
        self.store = store
        self.snapshot_id = snapshot_id
        self.path = tmp

    def commit(self, manifest: dict[str, Any], *, publish: bool = True) -> SnapshotInfo:
        """Write the manifest, fsync, rename into place and (by default) make it current."""
        full = {
            "format": FORMAT,
            "schema_version": SCHEMA_VERSION,
            "snapshot_id": self.snapshot_id,
            "created_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            **manifest,
        }
        (self.path / MANIFEST).write_text(json.dumps(full, indent=2, default=str))
        _fsync_tree(self.path)
        final = self.store.snapshots_dir / _name(self.snapshot_id)
        tmp, self.path = self.path, final  # before the rename: an abort then removes it
        os.rename(tmp, final)  # (interrupted before: the temporary is the next load's to clean)
        _fsync_dir(self.store.snapshots_dir)
        if publish:
            self.store.set_current(self.snapshot_id)
        return self.store.get(self.snapshot_id)

    def abort(self) -> None:
        """Remove what this writer wrote, unless ``CURRENT`` already names it (an interrupt
        right after :meth:`commit` published it must not delete the data being served)."""
        if self.path.name == self.store.current_name():
            return
        if self.path.name.startswith(_TMP_PREFIX):
            shutil.rmtree(self.path, ignore_errors=True)
        else:  # renamed into place: never left half-deleted under a snapshot's name
            _discard(self.path)
