"""Loads on a Dask cluster: the same steps as the single-process load, run as tasks.

``geo-discovery load FILE… --cluster local:N`` starts a :class:`distributed.LocalCluster`
of ``N`` worker processes; ``--cluster tcp://HOST:PORT`` uses a running Dask scheduler
(its workers must see the input files at the same absolute paths; a PostgreSQL
source's dump is read here). A scheduler with no worker after :data:`WORKER_WAIT_S`, a
cluster without any for :data:`NO_WORKER_S`, workers that keep dying on a task or work
lost with them stop the load with a :class:`~geo_discovery.errors.ClusterError` naming
the step or file. Both paths call the same functions, so the snapshot is the same:

=========  ==========================================  ===================================
step       single process                              cluster
=========  ==========================================  ===================================
read       :func:`~geo_discovery.ingest.sources.       one task per file (the raw table
           read_source_file` per file, in order        stays on its worker)
dedupe     :class:`~geo_discovery.ingest.sources.      the same, on the driver, over the
           DuplicateTracker` file by file (the first   ids, files and lines only, each
           good row in file order wins)                file as its keys arrive in order
finish     :func:`~geo_discovery.ingest.sources.       one task per file, as soon as the
           finish_file` per file, before the next      files before it are keyed, a few
           file is read                                files read ahead; loaded rows come
                                                       back as Arrow, in file order
cells      resolution-15 H3 cell of every point        one task per row chunk
sort       :func:`~geo_discovery.search.index.         one task per partition: a coarse H3
           sort_partition` over all points             cell (resolution 3, hot cells split
                                                       into children), i.e. one contiguous
                                                       run of the index
index      :func:`~geo_discovery.search.index.         the same on the driver over the
           index_from_sorted`                          partitions' runs in cell order
derive     every deriver of                            on the driver, their h3 chunk steps
           :mod:`~geo_discovery.snapshot.derived`      and district polygons as tasks
                                                       (:mod:`geo_discovery.parallel`), the
                                                       text index on a worker meanwhile
=========  ==========================================  ===================================

Why it is the same: the canonical table comes out of the same per-file functions in file
order; the index order is ``(resolution-15 cell, rank)`` and every H3 cell's points are
one run of it, so sorting each partition and concatenating the partitions in cell order
gives the single-process order exactly; ranks come from one global sort of the ids.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
import os
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from .. import cells as h3cells
from ..errors import ClusterError
from ..ingest import IngestResult, ReadOptions
from ..ingest.sources import (
    DuplicateTracker,
    FilePart,
    add_duplicates,
    check_sources,
    combine_parts,
    file_keys,
    finish_file,
    read_source_file,
    resolve_profile,
)
from ..models import BBox
from ..parallel import release_memory
from ..search.index import (
    CellIndex,
    index_from_sorted,
    merchant_ranks,
    sort_partition,
)

__all__ = [
    "NO_WORKER_S",
    "PARTITION_RESOLUTION",
    "WORKER_WAIT_S",
    "Cluster",
    "ClusterSpec",
    "build_index_on",
    "open_cluster",
    "parse_cluster",
    "plan_partitions",
    "read_sources_on",
]

Progress = Callable[[str, int, int], None]

#: The coarse H3 resolution of a partition (about 12,000 km² a cell) before hot cells
#: are split into their children.
PARTITION_RESOLUTION = 3
#: Seconds a ``tcp://`` scheduler is given, when connecting, to have a worker.
WORKER_WAIT_S = 5.0
#: Seconds a load waits for a result while the cluster has no worker before it stops.
NO_WORKER_S = 60.0
#: Seconds between two looks at the cluster while waiting for a result.
_POLL_S = 1.0
_LOCAL = re.compile(r"^local:(\d+)$")
_TCP = re.compile(r"^(tcp|tls)://[^\s/:]+:\d{1,5}$")
_FORMS = "local:N (N worker processes on this machine) or tcp://HOST:PORT (a Dask scheduler)"


@dataclass(frozen=True)
class ClusterSpec:
    """What ``--cluster`` names: ``local`` with ``workers`` processes, or a scheduler
    ``address``."""

    kind: str
    workers: int = 0
    address: str = ""

    def __str__(self) -> str:
        return f"local:{self.workers}" if self.kind == "local" else self.address


def parse_cluster(text: str) -> ClusterSpec:
    """Parse ``local:N`` or ``tcp://HOST:PORT``.

    Examples
    --------
    >>> parse_cluster("local:2")
    ClusterSpec(kind='local', workers=2, address='')
    >>> parse_cluster("tcp://10.0.0.5:8786").address
    'tcp://10.0.0.5:8786'
    >>> parse_cluster("spark://x")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    geo_discovery.errors.ClusterError: --cluster 'spark://x' is not allowed; allowed: local:N ...
    """
    text = str(text).strip()
    local = _LOCAL.match(text)
    if local:
        workers = int(local.group(1))
        if not 1 <= workers <= 256:
            raise ClusterError(f"--cluster {text!r}: N={workers} is out of range; allowed: "
                               "1 <= N <= 256")
        return ClusterSpec("local", workers=workers)
    if _TCP.match(text):
        return ClusterSpec("tcp", address=text)
    raise ClusterError(f"--cluster {text!r} is not allowed; allowed: {_FORMS}")


class Cluster:
    """A connected Dask client and, for ``local:N``, the cluster it started.

    :meth:`run` submits one task per argument tuple and reports completions through a
    ``progress(stage, done, total)`` callback (the CLI draws it as a rich bar). Every
    wait for a result stops with :class:`ClusterError` when the cluster has had no
    worker for ``no_worker_s`` seconds, or its workers kept dying or lost the work."""

    def __init__(self, client: Any, spec: ClusterSpec, owned: Any = None, *,
                 no_worker_s: float = NO_WORKER_S) -> None:
        self.client = client
        self.spec = spec
        self._owned = owned
        self.no_worker_s = float(no_worker_s)
        self._alone_since: float | None = None  # since when no worker was seen

    @property
    def dashboard_link(self) -> str | None:
        """The Dask dashboard's address (``None`` without bokeh)."""
        try:
            link = self.client.dashboard_link
        except (AttributeError, KeyError):  # pragma: no cover - no dashboard service
            return None
        return str(link) if link else None

    @property
    def workers(self) -> int:
        return len(self.client.scheduler_info().get("workers", {}))

    def submit(
        self, stage: str, fn: Callable[..., Any], args: Sequence[tuple[Any, ...]]
    ) -> list[Any]:
        """Futures of ``fn(*a)`` for each ``a`` (left on the workers)."""
        return [self.client.submit(fn, *a, pure=False, key=f"{stage}-{i}-{_token()}")
                for i, a in enumerate(args)]

    def wait(self, stage: str, futures: list[Any], progress: Progress | None) -> list[Any]:
        """The results of ``futures`` in their order; ``progress`` per completed task."""
        total = len(futures)
        if progress is not None:
            progress(stage, 0, total)
        pending, done, what = set(futures), 0, f"running the {stage} step"
        while pending:
            finished, pending = self._settled(pending, what)
            for future in finished:
                if future.status != "finished":  # a task's own error, or the cluster's
                    self.result(future, what)
                done += 1
                if progress is not None:
                    progress(stage, done, total)
        try:  # all are done: their results in one go
            return list(self.client.gather(futures))
        except Exception as exc:
            raise _cluster_failure(exc, what, self.spec) from None

    def result(self, future: Any, what: str) -> Any:
        """``future``'s result; :class:`ClusterError` naming ``what`` (a step, a file)
        when its workers kept dying or the cluster has had no worker for
        :attr:`no_worker_s` (a task's own error is raised as it is)."""
        if isinstance(future, _Here):
            return future.value
        self._settled({future}, what)
        try:
            return future.result()
        except Exception as exc:
            raise _cluster_failure(exc, what, self.spec) from None

    def _settled(self, futures: set[Any], what: str) -> tuple[set[Any], set[Any]]:
        """``(done, not done)`` once at least one of ``futures`` is done, looking at the
        cluster's workers while waiting."""
        from distributed import wait

        while True:
            try:
                done, pending = wait(list(futures), timeout=min(_POLL_S, self.no_worker_s),
                                     return_when="FIRST_COMPLETED")
                return set(done), set(pending)
            except TimeoutError:
                self._watch(what)
            except Exception as exc:  # cancelled: their worker (and its data) gone
                raise _cluster_failure(exc, what, self.spec) from None

    def _watch(self, what: str) -> None:
        """:class:`ClusterError` when no worker has been seen for :attr:`no_worker_s`."""
        try:
            workers = self.workers
        except Exception:  # the scheduler is gone: counts as no worker
            workers = 0
        now = time.monotonic()
        self._alone_since = None if workers else (self._alone_since or now)
        if self._alone_since is not None and now - self._alone_since >= self.no_worker_s:
            raise self._no_worker(what)

    def _no_worker(self, what: str) -> ClusterError:
        return ClusterError(
            f"the Dask cluster {self.spec} has had no worker for {self.no_worker_s:g} s "
            f"while {what}; stopped (start workers for it, e.g. `dask worker {self.spec}`, "
            "or use --cluster local:N)"
        )

    def run(self, stage: str, fn: Callable[..., Any], args: Sequence[tuple[Any, ...]],
            progress: Progress | None = None) -> list[Any]:
        """``[fn(*a) for a in args]``, computed on the workers."""
        return self.wait(stage, self.submit(stage, fn, args), progress)

    def imap(self, fn: Callable[..., Any], args: Iterable[tuple[Any, ...]],
             window: int | None = None) -> Iterator[Any]:
        """``fn(*a)`` for each ``a``, computed on the workers and yielded in order, with
        ``window`` tasks (default: two per worker) in flight ahead of the consumer: the
        executor of :mod:`geo_discovery.parallel` during a load's derive step."""
        ahead = window or 2 * max(self.workers, 1)
        todo = iter(args)
        pending: deque[Any] = deque()

        def submit_next() -> None:
            for a in itertools.islice(todo, 1):
                pending.append(self.client.submit(fn, *a, pure=False,
                                                  key=f"chunk-{_token()}"))

        for _ in range(ahead):
            submit_next()
        try:
            while pending:
                future = pending.popleft()
                result = self.result(future, "running the derive step")  # a task's error, as it is
                future.release()
                submit_next()
                yield result
        finally:
            for future in pending:  # the consumer stopped early, or a task failed
                future.cancel()

    def start(self, fn: Callable[..., Any], *args: Any) -> Callable[[], Any]:
        """Submit ``fn(*args)`` to a worker now; the returned function waits for it."""
        shipped = [self._ship(a) for a in args]
        future = self.client.submit(fn, *shipped, pure=False, key=f"start-{_token()}")

        def result() -> Any:
            try:
                return self.result(future, f"running {getattr(fn, '__name__', 'a task')}")
            finally:
                future.release()

        return result

    def _ship(self, arg: Any) -> Any:
        """An argument as a task should get it: an Arrow table in one chunk per column
        (a table read from Parquet pickles every chunk's parent buffers: 1.4 GB for
        181 MB of text columns at 1M rows), and anything over 1 MB scattered to a worker
        first (Dask warns about large task graphs)."""
        if isinstance(arg, pa.Table):
            arg = arg.combine_chunks()
        size = arg.nbytes if isinstance(arg, pa.Table | np.ndarray) else 0
        return self.scatter(arg) if size > 1 << 20 else arg

    def share(self, obj: Any) -> Any:
        """``obj`` sent to every worker once; a task given the returned future gets
        ``obj`` (for :func:`geo_discovery.parallel.imap`'s ``common``)."""
        return self.scatter(obj, broadcast=True)

    def scatter(self, data: Any, *, broadcast: bool = False) -> Any:
        """Send ``data`` to a worker once; tasks take the returned future (waiting at
        most :attr:`no_worker_s` for a worker)."""
        try:
            return self.client.scatter(data, hash=False, broadcast=broadcast,
                                       timeout=self.no_worker_s)
        except TimeoutError:
            raise self._no_worker("sending it data") from None

    def release_memory(self) -> None:
        """:func:`~geo_discovery.parallel.release_memory` on every worker (a worker keeps
        what its finished tasks freed otherwise: ~1.5 GB each after a 10M-row read)."""
        self.client.run(release_memory)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.close()
        if self._owned is not None:
            with contextlib.suppress(Exception):
                self._owned.close()


@dataclass
class _Here:
    """A result computed in this process, in place of a future (nothing to release)."""

    value: Any

    def release(self) -> None:
        pass

    cancel = release


def _token() -> str:
    import uuid

    return uuid.uuid4().hex[:8]


def _cluster_failure(exc: Exception, what: str, spec: ClusterSpec) -> Exception:
    """A failure of the cluster itself (workers that kept dying, results lost with the
    scheduler) as a one-line :class:`ClusterError` naming ``what``; a task's own error
    as it is."""
    from distributed import KilledWorker
    from distributed.comm import CommClosedError
    from distributed.utils import CancelledError

    if isinstance(exc, KilledWorker):
        tries = re.search(r"on (\d+) different workers", str(exc))
        times = f" ({tries.group(1)} workers in turn)" if tries else ""
        return ClusterError(f"the Dask workers of {spec} kept dying while {what}{times}: "
                            "out of memory, killed, or lost; see the workers' logs (more "
                            "memory per worker, or fewer workers, may help)")
    if isinstance(exc, CancelledError | CommClosedError):  # (FuturesCancelledError too)
        return ClusterError(f"the Dask cluster {spec} lost its work while {what} "
                            f"({type(exc).__name__}: the scheduler or its workers went "
                            "away, or a worker ran out of memory); stopped")
    return exc


@contextlib.contextmanager
def open_cluster(
    spec: str | ClusterSpec,
    *,
    connect_timeout_s: float = 10.0,
    worker_wait_s: float | None = None,
    no_worker_s: float | None = None,
) -> Iterator[Cluster]:
    """Start (``local:N``) or connect to (``tcp://…``, giving up after
    ``connect_timeout_s``) a Dask cluster for one load.

    A scheduler without a worker after ``worker_wait_s`` (default
    :data:`WORKER_WAIT_S`) is refused (:class:`ClusterError`); ``no_worker_s`` (default
    :data:`NO_WORKER_S`) is how long the cluster may then be left without any worker
    while a result is awaited."""
    spec = spec if isinstance(spec, ClusterSpec) else parse_cluster(spec)
    try:
        from distributed import Client, LocalCluster
        from distributed.gc import disable_gc_diagnosis
    except ImportError:
        raise ClusterError("--cluster needs Dask: pip install 'geo-discovery[cluster]'") from None
    owned = None
    try:
        if spec.kind == "local":
            owned = LocalCluster(  # preload: parallel.dask_setup, Ctrl-C left to the driver
                n_workers=spec.workers, threads_per_worker=1, processes=True,
                dashboard_address="127.0.0.1:0", silence_logs=logging.ERROR,
                preload=["geo_discovery.parallel"])  # fmt: skip
            client = Client(owned)  # its scheduler runs here: no GC timing callback, where
            disable_gc_diagnosis(force=True)  # a Ctrl-C was printed and lost ("Exception ignored")
        else:
            client = _connect(Client, spec.address, connect_timeout_s)
    except (OSError, TimeoutError) as exc:
        if owned is not None:
            owned.close()
        raise ClusterError(f"cannot reach the Dask scheduler at {spec}: {exc}") from None
    cluster = Cluster(client, spec, owned,
                      no_worker_s=NO_WORKER_S if no_worker_s is None else no_worker_s)
    if spec.kind != "local":
        _need_workers(cluster, WORKER_WAIT_S if worker_wait_s is None else worker_wait_s)
    try:
        yield cluster
    finally:
        cluster.close()


def _need_workers(cluster: Cluster, wait_s: float) -> None:
    """Wait up to ``wait_s`` for the scheduler to have a worker; else close the client
    and raise :class:`ClusterError` (a load given no worker waited for good)."""
    try:
        cluster.client.wait_for_workers(1, timeout=max(wait_s, 0.01))
    except OSError:  # a timeout, or the scheduler went away
        cluster.close()
        raise ClusterError(
            f"the Dask scheduler at {cluster.spec} has no worker (none registered within "
            f"{wait_s:g} s); start workers for it (`dask worker {cluster.spec}`), or use "
            "--cluster local:N"
        ) from None


def _connect(client: Any, address: str, timeout_s: float) -> Any:
    """``Client(address)``, on a thread given ``timeout_s`` (and 5 s to give up): its own
    timeout does not cover a peer that accepts and never answers, and a peer that answers
    with other bytes (a web server) made it read a length of exabytes (MemoryError)."""
    got: list[Any] = []

    def connect() -> None:
        try:
            got.append(client(address, timeout=f"{timeout_s}s"))
        except (OSError, TimeoutError) as exc:
            got.append(exc)
        except Exception as exc:  # MemoryError, ValueError … from a peer that is no scheduler
            got.append(ClusterError(f"{address} did not answer as a Dask scheduler does "
                                    f"({type(exc).__name__}); is it one?"))  # fmt: skip

    thread = threading.Thread(target=connect, name="geo-discovery-dask-connect", daemon=True)
    thread.start()
    thread.join(timeout_s + 5.0)
    if not got:
        raise TimeoutError(f"no answer within {timeout_s + 5.0:g} s")
    if isinstance(got[0], BaseException):
        raise got[0]
    return got[0]


# ----------------------------------------------------------------------------- read
def read_sources_on(
    cluster: Cluster,
    paths: Sequence[str | Path],
    *,
    profile: str | None = None,
    mapping: str | Path | Mapping[str, Any] | None = None,
    expected_bbox: BBox | None = None,
    options: ReadOptions | None = None,
    progress: Progress | None = None,
    window: int | None = None,
    here: Collection[str] = (),
    labels: Mapping[str, str] | None = None,
) -> IngestResult:
    """:func:`~geo_discovery.ingest.read_sources` with one task per file.

    The result is the same object the single-process read returns (same rows, same
    order, same rejects): ``rows read = loaded + rejected`` holds over all workers.
    As there, each file is finished as soon as the files before it are keyed
    (:class:`~geo_discovery.ingest.sources.DuplicateTracker`), and at most ``window``
    files (default: as many as there are workers) are read ahead of that, so a worker
    holds a file or two's raw tables, not all of its files'.

    Workers get each path made absolute (a worker's working folder is its own); the
    files of ``here`` (e.g. a database source's dump in this process's temporary folder,
    which another machine cannot see) are read and finished in this process. ``labels``
    names files in error messages (``{path: label}``).
    """
    options = options or ReadOptions()
    checked = check_sources(paths)
    fixed = resolve_profile(profile, mapping)
    client, total = cluster.client, len(checked)
    workers = max(cluster.workers, 1)
    named = dict(labels or {})
    local = {str(p) for p in here}
    # One file more than the workers kept them busier, but a read file waiting for its
    # turn holds its raw table on a worker: the read peaked at 10.8-11.7 GB over all
    # processes at 10M rows in 8 files, and at 10.2 GB with one file per worker.
    ahead = window or workers
    todo = iter(enumerate(checked))
    reading: deque[tuple[Any, Any, str]] = deque()  # (file result, its keys, its name)
    finishing: deque[tuple[Any, str]] = deque()
    parts: list[FilePart] = []
    tracker = DuplicateTracker()
    given: dict[str, str] = {}  # the absolute path sent: the path as given

    def read_next() -> None:
        for i, (path, _) in itertools.islice(todo, 1):
            name = named.get(str(path), str(path))
            if str(path) in local:  # read and finished here (rejects quote its lines)
                raw = read_source_file(path, fixed, expected_bbox, options)
                reading.append((_Here(raw), _Here(file_keys(raw)), name))
                continue
            sent = Path(os.path.abspath(path))
            given[str(sent)] = str(path)
            result = client.submit(read_source_file, sent, fixed, expected_bbox,
                                   options, pure=False, key=f"files-{i}-{_token()}")
            reading.append((result, client.submit(file_keys, result, pure=False,
                                                  key=f"keys-{i}-{_token()}"), name))

    def collect(keep: int) -> None:
        while len(finishing) > keep:
            future, name = finishing.popleft()
            parts.append(cluster.result(future, f"finishing {name}"))  # a task's error too
            future.release()
            if progress is not None:
                progress("finish", len(parts), total)

    if progress is not None:
        progress("files", 0, total)
        progress("finish", 0, total)
    try:
        for _ in range(ahead):
            read_next()
        keyed = 0
        while reading:
            result, keys, name = reading.popleft()
            duplicates = tracker.add(cluster.result(keys, f"reading {name}"))
            keys.release()
            keyed += 1
            if progress is not None:
                progress("files", keyed, total)
            finishing.append((_Here(finish_file(result.value, duplicates, consume=True))
                              if isinstance(result, _Here) else
                              client.submit(finish_file, result, duplicates, consume=True,
                                            pure=False, key=f"finish-{keyed}-{_token()}"),
                              name))
            result.release()  # the worker drops the raw table once finish_file has run
            collect(workers)
            read_next()
        collect(0)
    finally:
        for result, keys, _ in reading:  # a task failed: stop what is still queued
            result.cancel()
            keys.cancel()
        for future, _ in finishing:
            future.cancel()
    for part, late in zip(parts, tracker.rejected_duplicates(), strict=True):
        add_duplicates(part, late)
        part.report.path = given.get(part.report.path, part.report.path)  # as given
    return combine_parts(parts)


# ---------------------------------------------------------------------------- index
def plan_partitions(
    fine: NDArray[np.uint64], max_points: int, resolution: int = PARTITION_RESOLUTION
) -> list[NDArray[np.int64]]:
    """Rows of each partition, partitions in cell order.

    A partition is the points of one H3 cell: cells at ``resolution`` first, and any
    holding more than ``max_points`` split into their children, recursively (a
    resolution-15 cell is never split). Every cell's points are one run of the index
    order, so the partitions are contiguous slices of it.

    Examples
    --------
    >>> from geo_discovery.cells import latlngs_to_cells
    >>> fine = latlngs_to_cells(np.array([40.7, 40.71, 60.17]), np.array([-74.0, -74.0, 24.9]), 15)
    >>> [p.tolist() for p in plan_partitions(fine, 10)]  # Helsinki's cell sorts first
    [[2], [0, 1]]
    """
    out: list[tuple[int, NDArray[np.int64]]] = []
    stack = [(np.arange(len(fine), dtype=np.int64), int(resolution))]
    while stack:
        rows, res = stack.pop()
        keys = h3cells.parent_cells(fine[rows], h3cells.MAX_RES, res)
        order = np.argsort(keys, kind="stable")
        cells, starts = np.unique(keys[order], return_index=True)
        for i, cell in enumerate(cells.tolist()):
            stop = starts[i + 1] if i + 1 < len(cells) else len(order)
            group = rows[order[starts[i]:stop]]
            if len(group) > max_points and res < h3cells.MAX_RES:
                stack.append((group, res + 1))
            else:
                out.append((int(cell), group))
    # Cells of different resolutions, none inside another: order by their first point.
    return [g for _, g in sorted(out, key=lambda cg: int(fine[cg[1]].min()))]


def _cells_of(lat: NDArray[np.float64], lng: NDArray[np.float64]) -> NDArray[np.uint64]:
    return h3cells.latlngs_to_cells(lat, lng, h3cells.MAX_RES)


def build_index_on(
    cluster: Cluster,
    table: pa.Table,
    resolution: int,
    *,
    progress: Progress | None = None,
    partition_points: int | None = None,
) -> tuple[CellIndex, int]:
    """The table's :class:`CellIndex`, its points' cells and sorting computed on the
    workers; returns it with the number of partitions.

    ``resolution`` is the index resolution (chosen by the caller, as for
    :func:`~geo_discovery.search.index.build_cell_index`). Partitions hold at most
    ``partition_points`` (default: a quarter of an even share per worker).
    """
    n = table.num_rows
    lat = np.ascontiguousarray(table.column("lat").to_numpy(), dtype=np.float64)
    lng = np.ascontiguousarray(table.column("lng").to_numpy(), dtype=np.float64)
    rank = merchant_ranks(table.column("merchant_id"))
    workers = max(cluster.workers, 1)
    chunk = max(1, math.ceil(n / (4 * workers)))
    pieces = [(cluster.scatter((lat[i:i + chunk], lng[i:i + chunk])),)
              for i in range(0, n, chunk)]
    fine_parts = cluster.run("cells", _cells_of_pair, pieces, progress)
    fine = np.concatenate(fine_parts) if fine_parts else np.empty(0, np.uint64)
    limit = partition_points or max(1, math.ceil(n / (4 * workers)))
    plan = plan_partitions(fine, limit)
    args = [(cluster.scatter((rows, fine[rows], rank[rows], lat[rows], lng[rows])),)
            for rows in plan]
    sorted_parts = cluster.run("sort", _sort_scattered, args, progress)
    if sorted_parts:
        order, s_fine, s_lat, s_lng, xyz = (np.concatenate(a) for a in zip(*sorted_parts,
                                                                            strict=True))
    else:
        order = np.empty(0, np.int64)
        s_fine = np.empty(0, np.uint64)
        s_lat, s_lng, xyz = np.empty(0), np.empty(0), np.empty((0, 3))
    index = index_from_sorted(order, s_fine, (s_lat, s_lng, np.ascontiguousarray(xyz)), rank,
                              resolution)
    return index, len(plan)


def _cells_of_pair(pair: tuple[NDArray[np.float64], NDArray[np.float64]]) -> NDArray[np.uint64]:
    return _cells_of(*pair)


def _sort_scattered(part: tuple[NDArray, ...]) -> tuple[NDArray, ...]:
    return sort_partition(*part)
