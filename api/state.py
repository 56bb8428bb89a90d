"""The engine a server answers from, and the hot swap to newly published snapshots.

:class:`EngineHolder` keeps one :class:`~geo_discovery.engine.DiscoveryEngine` reference.
A request takes that reference once (``holder.engine``) and answers entirely from it, so
a request in flight when a swap happens finishes on the old snapshot and never sees a
mix. :meth:`EngineHolder.refresh` reads the data dir's ``CURRENT`` pointer (one tiny
file read); when it names a snapshot other than the one being served, it opens the new
one (memory-mapped), warms it, and only then replaces the reference: a plain attribute
assignment, atomic for every reader. A snapshot that fails to open is recorded and
never replaces the good one; it is not retried until ``CURRENT`` changes again or a
reload is forced.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from geo_discovery.engine import DiscoveryEngine
from geo_discovery.settings import Settings
from geo_discovery.snapshot.store import MANIFEST, SnapshotStore

__all__ = ["EngineHolder", "RefreshResult"]

log = logging.getLogger("geo_discovery.api")

Loader = Callable[[Path, Settings], DiscoveryEngine]
SwapListener = Callable[[DiscoveryEngine | None, DiscoveryEngine], None]


def _open(path: Path, settings: Settings) -> DiscoveryEngine:
    return DiscoveryEngine.from_snapshot(path, settings=settings)


@dataclass(frozen=True)
class RefreshResult:
    """What one :meth:`EngineHolder.refresh` did."""

    changed: bool
    previous: str | None
    current: str | None
    error: str | None = None


class EngineHolder:
    """Serves one snapshot at a time and swaps atomically when ``CURRENT`` changes.

    ``path`` is a data dir (follow its ``CURRENT``) or one snapshot's folder (served
    as is, never swapped). A new engine is warmed (:meth:`DiscoveryEngine.warm`, then
    any extra ``warmers``) before it is swapped in, so the first requests on it pay
    nothing extra.
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
        self._lock = threading.Lock()
        self._tried = False
        self.last_error: str | None = None
        self.last_check: float = 0.0
        self.swaps = 0  # times a different snapshot replaced the one being served

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
        """Swap to the snapshot ``CURRENT`` names, if it is not the one being served.

        Cheap when nothing changed (one read of ``CURRENT``). ``force`` also retries a
        snapshot that failed to open before. Never raises for a bad snapshot: the error
        is returned, kept in :attr:`last_error`, and the previous engine stays.
        """
        with self._lock:
            self._tried = True
            self.last_check = time.monotonic()
            previous = self._engine.version if self._engine is not None else None
            try:
                name = self._current_name()
            except OSError as exc:
                self.last_error = f"cannot read the CURRENT pointer in {self.path}: {exc}"
                return RefreshResult(False, previous, previous, self.last_error)
            if name is None:
                return RefreshResult(False, previous, previous, None)
            if name == self._name and not force:
                self.last_error = None  # CURRENT names what is served (e.g. after a rollback)
                return RefreshResult(False, previous, previous, None)
            if name == self._failed and not force:
                return RefreshResult(False, previous, previous, self.last_error)
            try:
                engine = self._loader(self._snapshot_path(name), self.settings)
                engine.warm()
                for warm in self._warmers:
                    warm(engine)
            except Exception as exc:  # whatever breaks, the good snapshot keeps serving
                self._failed = name
                self.last_error = f"snapshot {name} failed to open; still serving {previous}: {exc}"
                log.error("%s", self.last_error)
                if self._on_error is not None:
                    self._on_error(self.last_error)
                return RefreshResult(False, previous, previous, self.last_error)
            old = self._engine
            changed = old is None or engine.version != old.version
            self._engine = engine  # the atomic swap: readers hold whichever they took
            self._name = name
            self._failed = None
            self.last_error = None
            if changed:
                self.swaps += old is not None
                log.info("serving snapshot %s (was %s)", engine.version, previous)
            if self._on_swap is not None:
                self._on_swap(old, engine)
            return RefreshResult(changed, previous, engine.version, None)

    def due(self) -> bool:
        """True when the reload interval has passed since the last check."""
        interval = self.settings.api_reload_interval_ms / 1000.0
        return interval > 0 and time.monotonic() - self.last_check >= interval
