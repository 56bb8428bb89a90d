"""The engine a server answers from, and the hot swap to newly published snapshots and
ranking profiles.

:class:`EngineHolder` keeps one :class:`~geo_discovery.engine.DiscoveryEngine` reference.
A request takes that reference once (``holder.engine``) and answers entirely from it, so
a request in flight when a swap happens finishes on the old snapshot and never sees a
mix. :meth:`EngineHolder.refresh` reads the data dir's ``CURRENT`` pointer (one tiny
file read); when it names a snapshot other than the one being served, it opens the new
one (memory-mapped), warms it, and only then replaces the reference: a plain attribute
assignment, atomic for every reader. A snapshot that fails to open is recorded and
never replaces the good one; it is tried again when ``CURRENT`` changes, a reload is
forced or :data:`RETRY_S` has passed (the cause may pass: a server out of file handles).
The engines swapped out are freed, with their snapshots' files and maps, as soon as the
requests still answering from them end (:meth:`EngineHolder._retire`).

The learned ranking profile (``best_match``; ``geo-discovery calibrate`` writes
``DATA_DIR/ranking_profile.json``) is followed the same way: each refresh also checks (one
``stat``) the profile file that applies (:func:`~geo_discovery.ranking_profile.profile_file`)
and, when its mtime, size or inode changed (written, replaced or removed), reads it and swaps
in an engine over the same snapshot with the new ranking (warmed first; its cursors do not
carry over, since their fingerprint holds the ranking). The holder reads the file, not the
engine: a served engine's ranking is set here and never raises. A file that is not a
valid profile never replaces a good ranking: the last good one keeps ranking (the hand-set
``ranking_*`` settings when none was ever good, e.g. a bad file at start), the error is kept
in :attr:`EngineHolder.last_error` (``/readyz``), and the file is not read again until it
changes or a reload is forced. A bad profile never stops the snapshot being served.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from geo_discovery.engine import DiscoveryEngine
from geo_discovery.errors import InvalidQueryError
from geo_discovery.query import Ranking
from geo_discovery.ranking_profile import RankingProfile, file_stamp, profile_file
from geo_discovery.settings import Settings
from geo_discovery.snapshot.store import MANIFEST, SnapshotStore

__all__ = ["EngineHolder", "RefreshResult"]

log = logging.getLogger("geo_discovery.api")

Loader = Callable[[Path, Settings], DiscoveryEngine]
SwapListener = Callable[[DiscoveryEngine | None, DiscoveryEngine], None]
Stamp = tuple[str, int, int, int] | None  # a profile file's (path, mtime_ns, size, inode)
RETRY_S = 30.0  #: a snapshot that failed to open is tried again after this long
RELEASE_TRIES = 120  #: seconds a retired engine is waited for (a long request holds it)


def _open(path: Path, settings: Settings) -> DiscoveryEngine:
    return DiscoveryEngine.from_snapshot(path, settings=settings)


@dataclass(frozen=True)
class RefreshResult:
    """What one :meth:`EngineHolder.refresh` did."""

    changed: bool  # a different snapshot is served
    previous: str | None
    current: str | None
    error: str | None = None
    ranking_changed: bool = False  # the served best_match ranking (profile) changed


class EngineHolder:
    """Serves one snapshot at a time and swaps atomically when ``CURRENT`` or the ranking
    profile file changes.

    ``path`` is a data dir (follow its ``CURRENT``) or one snapshot's folder (served
    as is, never swapped; its profile only on a forced reload). A new engine is warmed
    (:meth:`DiscoveryEngine.warm`, then any extra ``warmers``) before it is swapped in, so
    the first requests on it pay nothing extra.
    """

    def __init__(
        self,
        path: str | Path,
        settings: Settings,
        *,
        loader: Loader = _open,
        on_swap: SwapListener | None = None,
        on_error: Callable[[str], None] | None = None,
        warmers: Sequence[Callable[[DiscoveryEngine], object]] = (),
    ) -> None:
        self.path = Path(path).expanduser()
        self.settings = settings
        self._loader = loader
        self._on_swap = on_swap
        self._on_error = on_error
        self._warmers = tuple(warmers)
        self._engine: DiscoveryEngine | None = None
        self._name: str | None = None
        self._failed: str | None = None
        self._snapshot_error: str | None = None
        self._stamp: Stamp = None  # of the profile file the served ranking was read from
        self._bad_stamp: Stamp = None  # of a profile file refused (None: none refused)
        self._profile_error: str | None = None
        self._lock = threading.Lock()
        self._tried = False
        self._failed_at = 0.0  # when the snapshot named by _failed last failed to open
        self._retiring: list[weakref.ref[object]] = []  # engines, snapshots not yet freed
        self._collector: threading.Thread | None = None
        self.last_check: float = 0.0
        self.swaps = 0  # times a different snapshot replaced the one being served
        self.profile_path: Path | None = None  # the served ranking's profile file (None: none)

    # ------------------------------------------------------------------ reading
    @property
    def current(self) -> DiscoveryEngine | None:
        """The engine being served, without trying to open one (``None`` before any)."""
        return self._engine

    @property
    def engine(self) -> DiscoveryEngine | None:
        """The engine to answer from, or ``None`` while no snapshot is loaded.

        The first access opens the current snapshot if nothing has tried yet (an app
        used without its lifespan, e.g. by a fuzzer, still serves).
        """
        engine = self._engine
        if engine is None and not self._tried:
            self.refresh()
            engine = self._engine
        return engine

    @property
    def last_error(self) -> str | None:
        """Why the newest snapshot or ranking profile is not served, if it is not."""
        return "; ".join(e for e in (self._snapshot_error, self._profile_error) if e) or None

    @property
    def fixed_snapshot(self) -> bool:
        """True when ``path`` is one snapshot's folder rather than a data dir."""
        return (self.path / MANIFEST).is_file()

    def _current_name(self) -> str | None:
        if self.fixed_snapshot:
            return str(self.path)
        return SnapshotStore(self.path).current_name()

    def _snapshot_path(self, name: str) -> Path:
        if self.fixed_snapshot:
            return self.path
        return SnapshotStore(self.path).snapshots_dir / name

    # ------------------------------------------------------------------ swapping
    def refresh(self, *, force: bool = False) -> RefreshResult:
        """Swap to the snapshot ``CURRENT`` names, if it is not the one being served, and to
        the ranking profile file's content, if the file changed since it was read.

        Cheap when nothing changed (one read of ``CURRENT``, one ``stat`` per profile
        place). ``force`` also retries a snapshot or profile that failed before. Never
        raises for a bad snapshot or profile: the error is returned, kept in
        :attr:`last_error`, and the previous engine (or ranking) stays.
        """
        with self._lock:
            self._tried = True
            self.last_check = time.monotonic()
            old = self._engine
            previous = old.version if old is not None else None
            try:
                name = self._current_name()
            except OSError as exc:
                self._snapshot_error = f"cannot read the CURRENT pointer in {self.path}: {exc}"
                return RefreshResult(False, previous, previous, self.last_error)
            if name is None:
                return RefreshResult(False, previous, previous, None)
            opened = None
            if name == self._name and not force:
                self._snapshot_error = None  # CURRENT names what is served (e.g. a rollback)
            elif name != self._failed or force or self.last_check - self._failed_at >= RETRY_S:
                opened = self._open(name, previous)  # (a failure may pass: no file handles…)
            base = opened or old
            if base is None:  # nothing served and nothing opened
                return RefreshResult(False, previous, previous, self.last_error)
            where = self._snapshot_path(name if opened is not None else str(self._name))
            path, stamp, ranking = self._ranking(where, force)
            if opened is None and (old is None or ranking == old.ranking):
                self._stamp = stamp  # (the same profile written again: nothing to swap)
                return RefreshResult(False, previous, previous, self.last_error)
            engine = opened or DiscoveryEngine(base.snapshot, settings=self.settings)
            engine.ranking = ranking  # set before any request: a served engine never reads it
            try:
                engine.warm()
                for warm in self._warmers:
                    warm(engine)
            except Exception as exc:  # whatever breaks, the good engine keeps serving
                if opened is not None:
                    return self._refused(f"snapshot {name}", exc, previous, name)
                self._bad_stamp = stamp
                return self._refused(f"ranking profile {path}", exc, previous)
            changed = old is None or engine.version != old.version
            ranked = old is not None and ranking != old.ranking
            self._engine = engine  # the atomic swap: readers hold whichever they took
            self._stamp = stamp
            self.profile_path = path if ranking.profile is not None else None
            if opened is not None:
                self._name, self._failed, self._snapshot_error = name, None, None
            if changed:
                self.swaps += old is not None
                log.info("serving snapshot %s (was %s)", engine.version, previous)
            if ranked:
                log.info("best_match now ranks with %s", _describe(self.profile_path, ranking))
            if self._on_swap is not None:
                self._on_swap(old, engine)
            if old is not None:
                self._retire(old, engine)
            return RefreshResult(changed, previous, engine.version, self.last_error, ranked)

    def _open(self, name: str, previous: str | None) -> DiscoveryEngine | None:
        """The snapshot ``name``'s engine (not warmed), or ``None`` (the error recorded)."""
        try:
            return self._loader(self._snapshot_path(name), self.settings)
        except Exception as exc:  # whatever breaks, the good snapshot keeps serving
            self._refused(f"snapshot {name}", exc, previous, name)
            return None

    def _refused(
        self, what: str, exc: Exception, previous: str | None, snapshot: str | None = None
    ) -> RefreshResult:
        """Record that ``what`` (snapshot ``snapshot``, else a new ranking) failed to open or
        warm: the engine served stays."""
        error = f"{what} failed to open; still serving {previous}: {exc}"
        if snapshot is not None:
            self._failed, self._snapshot_error = snapshot, error
            self._failed_at = time.monotonic()
        else:
            self._profile_error = error
        log.error("%s", error)
        if self._on_error is not None:
            self._on_error(error)
        return RefreshResult(False, previous, previous, self.last_error)

    def _ranking(self, snapshot: Path, force: bool) -> tuple[Path | None, Stamp, Ranking]:
        """The ranking to serve ``snapshot`` with, its profile file and that file's stamp:
        the file's profile when the file changed since the served ranking was read; else
        the served ranking (the file unchanged, or refused), else the hand-set settings."""
        path = profile_file(self.settings.ranking_profile, snapshot)
        stamp = file_stamp(path)
        old = self._engine
        if old is not None and stamp == self._stamp and not force:
            self._profile_error = None
            return path, stamp, old.ranking
        fallback = old.ranking if old is not None else Ranking.from_settings(self.settings)
        if stamp is not None and stamp == self._bad_stamp and not force:
            return self.profile_path, self._stamp, fallback  # refused, unchanged since
        try:
            profile = None if path is None else RankingProfile.load(path)
        except InvalidQueryError as exc:
            self._bad_stamp = stamp
            self._profile_error = f"{exc}. best_match still ranks with " + _describe(
                self.profile_path, fallback
            )
            log.error("%s", self._profile_error)
            if self._on_error is not None:
                self._on_error(self._profile_error)
            return self.profile_path, self._stamp, fallback
        self._bad_stamp = self._profile_error = None
        return path, stamp, Ranking.from_settings(self.settings).replace(profile=profile)

    def _retire(self, old: DiscoveryEngine, new: DiscoveryEngine) -> None:
        """Free the engine swapped out, with its snapshot's open files and memory maps, once
        the requests still answering from it are done. An engine and its snapshot hold
        reference cycles (the planner's closures), which only Python's cycle collector
        frees, and in a server it seldom runs a full pass: every swap kept the old snapshot
        open, ~14 file handles each, its files held on disk after ``keep_snapshots`` pruned
        them, until the server ran out of handles. A daemon thread collects until every
        retired engine is gone (a request in flight keeps its engine until it ends)."""
        self._retiring = [r for r in self._retiring if r() is not None]
        self._retiring.append(weakref.ref(old))
        if old.snapshot is not new.snapshot:  # (a new profile: the same snapshot, kept)
            self._retiring.append(weakref.ref(old.snapshot))
        if self._collector is None:  # else the one running takes this engine too
            self._collector = threading.Thread(target=self._collect, name="retire-engines",
                                               daemon=True)  # fmt: skip
            self._collector.start()

    def _collect(self) -> None:
        for tries in range(1, RELEASE_TRIES + 1):
            gc.collect()
            with self._lock:  # (refresh holds it while it retires an engine)
                self._retiring = [r for r in self._retiring if r() is not None]
                if not self._retiring or tries == RELEASE_TRIES:
                    self._collector = None
                    if self._retiring:  # (each engine and, when it differs, its snapshot)
                        engines = sum(isinstance(r(), DiscoveryEngine) for r in self._retiring)
                        log.warning("%d engine(s) and %d snapshot(s) swapped out are still "
                                    "referenced after %d s", engines,
                                    len(self._retiring) - engines, RELEASE_TRIES)  # fmt: skip
                    return
            time.sleep(1.0)

    def pruned(self) -> bool:
        """True when the snapshot being served was deleted by newer loads (``keep_snapshots``;
        one ``stat``): what it reads lazily (opening hours, member histories…) is gone, so
        :meth:`recover` switches to the current one, reload interval or not."""
        engine = self._engine
        path = None if engine is None else engine.snapshot.path
        return path is not None and not path.is_dir()

    def recover(self) -> RefreshResult | None:
        """:meth:`refresh` when the snapshot served was pruned (else ``None``): a server
        whose automatic reload is off would otherwise answer 503 from then on."""
        if not self.pruned():
            return None
        log.warning("snapshot %s was pruned by newer loads; switching to the current one",
                    self._name)  # fmt: skip
        return self.refresh()

    def due(self) -> bool:
        """True when the reload interval has passed since the last check."""
        interval = self.settings.api_reload_interval_ms / 1000.0
        return interval > 0 and time.monotonic() - self.last_check >= interval


def _describe(path: Path | None, ranking: Ranking) -> str:
    """Which ranking ``best_match`` uses, for a log line or an error."""
    if ranking.profile is None:
        return "the hand-set ranking_* settings"
    return f"the profile read from {path} (digest {ranking.profile.digest})"
