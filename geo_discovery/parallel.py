"""Chunk-parallel steps of a load: the same functions, in this process or on a cluster.

A load's derivers spend most of their time in per-cell h3 calls (rings, disks,
boundaries, centres, point cells: about half of the districts deriver at a million
merchants). Those calls are elementwise, so :mod:`geo_discovery.cells` splits its batch
functions into chunks and hands each chunk to :func:`imap`:

* by default the chunks run here, one at a time, when the caller asks for the next
  result (a generator: at most one chunk's output is alive);
* inside ``with executing_on(executor):`` they run on the executor (the load's Dask
  cluster, :class:`geo_discovery.snapshot.cluster.Cluster`), a window of chunks in flight
  ahead of the caller, the results still yielded in order.

Either way each chunk is computed by the same function on the same input and the results
are joined in the same order, so the answer is the same, bit for bit
(``tests/test_parallel.py``). An executor is anything with ``imap(fn, args)``: an
iterator of ``fn(*a)`` for each tuple ``a``, in order. Chunk functions must be module
level (a cluster pickles them by reference).

Examples
--------
>>> list(imap(pow, [(2, 3), (3, 2)]))
[8, 9]
>>> class Doubling:  # a toy executor
...     def imap(self, fn, args):
...         return (2 * fn(*a) for a in args)
...     def share(self, obj):
...         return obj
...     def start(self, fn, *args):
...         return lambda: 2 * fn(*args)
>>> with executing_on(Doubling()):
...     list(imap(pow, [(2, 3)]))
[16]
>>> list(imap(pow, [(2, 3)]))  # back to this process
[8]
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import logging
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from typing import Any, Protocol

import pyarrow as pa

__all__ = [
    "HERE_MAX", "RELEASE_MIN_BYTES", "Executor", "chunks", "current_executor", "dask_setup",
    "executing_on", "imap", "release_everywhere", "release_memory", "start",
]


class Executor(Protocol):
    """Runs ``fn(*a)`` for each ``a`` somewhere; yields the results in order."""

    def imap(self, fn: Callable[..., Any], args: Iterable[tuple[Any, ...]]) -> Iterator[Any]:
        ...  # pragma: no cover - protocol

    def share(self, obj: Any) -> Any:
        """A handle that tasks receive as ``obj`` (sent to the workers once)."""
        ...  # pragma: no cover - protocol

    def start(self, fn: Callable[..., Any], *args: Any) -> Callable[[], Any]:
        """Start ``fn(*args)`` now; the returned function waits for its result."""
        ...  # pragma: no cover - protocol


_CURRENT: ContextVar[Executor | None] = ContextVar("geo_discovery_executor", default=None)


def current_executor() -> Executor | None:
    """The executor of the enclosing :func:`executing_on`, or ``None`` (this process)."""
    return _CURRENT.get()


@contextlib.contextmanager
def executing_on(executor: Executor | None) -> Iterator[None]:
    """Run the chunk steps of the enclosed code on ``executor`` (``None``: here)."""
    token = _CURRENT.set(executor)
    try:
        yield
    finally:
        _CURRENT.reset(token)


def imap(
    fn: Callable[..., Any], args: Iterable[tuple[Any, ...]], common: tuple[Any, ...] = ()
) -> Iterator[Any]:
    """``fn(*common, *a)`` for each ``a`` of ``args``, in order: here, lazily, or on the
    current executor (which gets each of ``common`` once, not once per task)."""
    executor = _CURRENT.get()
    if executor is None:
        return (fn(*common, *a) for a in args)
    handles = tuple(executor.share(c) for c in common)
    return executor.imap(fn, ((*handles, *a) for a in args))


def start(fn: Callable[..., Any], *args: Any) -> Callable[[], Any]:
    """``fn(*args)`` as a function of no argument: on the current executor, started now
    (it runs while the caller goes on); here, run when the result is asked for.

    >>> later = start(sum, [1, 2])
    >>> later()
    3
    """
    executor = _CURRENT.get()
    if executor is None:
        return lambda: fn(*args)
    return executor.start(fn, *args)


#: Calls over at most this many values run here even on an executor: a task costs more.
HERE_MAX = 1 << 12


def chunks(
    fn: Callable[..., Any],
    n: int,
    args: Callable[[int, int], tuple[Any, ...]],
    step: int,
    *,
    common: tuple[Any, ...] = (),
    at_least_one: bool = True,
) -> Iterator[Any]:
    """``fn(*common, *args(lo, hi))`` for consecutive slices ``[lo, hi)`` of ``range(n)``
    of ``step`` values (one empty slice when ``n == 0`` and ``at_least_one``), in order,
    through :func:`imap`; a call over at most :data:`HERE_MAX` values runs here.

    >>> list(chunks(list, 5, lambda lo, hi: (range(lo, hi),), 2))
    [[0, 1], [2, 3], [4]]
    """
    bounds = [(lo, min(lo + step, n)) for lo in range(0, n, step)]
    if not bounds and at_least_one:
        bounds = [(0, 0)]
    if n <= HERE_MAX:
        return (fn(*common, *args(lo, hi)) for lo, hi in bounds)
    return imap(fn, (args(lo, hi) for lo, hi in bounds), common)


def release_memory() -> None:
    """Hand freed memory back to the system: Python's garbage, Arrow's pool and, on
    glibc, the C heap (``malloc_trim``). A load calls it (through
    :func:`release_everywhere`) after the read, after the index and after each deriver, in
    its own process and on each cluster worker, so that each step starts from what is
    still alive."""
    gc.collect()
    pa.default_memory_pool().release_unused()
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to trim
        ctypes.CDLL("libc.so.6").malloc_trim(0)


#: Steps over less data than this skip :func:`release_everywhere`: a full garbage
#: collection and ``malloc_trim`` take ~0.1 s in a large process (a test session, a
#: notebook, a server) whatever was freed, and a small load has little to hand back.
RELEASE_MIN_BYTES = 256 << 20


def release_everywhere(nbytes: int) -> None:
    """:func:`release_memory` here and on the current executor's workers, when it has
    any (an executor with a ``release_memory()`` method, such as the load's cluster),
    after a step over ``nbytes`` of data; nothing below :data:`RELEASE_MIN_BYTES`."""
    if nbytes < RELEASE_MIN_BYTES:
        return
    release_memory()
    release = getattr(current_executor(), "release_memory", None)
    if release is not None:
        release()


def dask_setup(worker: Any) -> None:
    """Each worker of a load's local cluster runs this as it starts (Dask's ``preload``
    of this module): it ignores SIGINT from then on.

    A Ctrl-C in a terminal reaches every process of its group, the cluster's workers
    too, and each printed a ``KeyboardInterrupt`` traceback while the load itself said one
    line. The Ctrl-C is the driver's, which stops the workers as it stops the load. (The
    driver keeps its own handler throughout: a Ctrl-C while the workers start is never
    lost, though a worker still importing may print one.)
    """
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A worker outlives the scheduler the driver closes on a Ctrl-C by a moment, and its
    # heartbeat then logged "Failed to communicate with scheduler" with a traceback. What
    # goes wrong on a worker reaches the driver with its task, which reports it in a line.
    logging.getLogger("distributed").setLevel(logging.CRITICAL)
