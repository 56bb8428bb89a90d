"""The chunk steps of :mod:`geo_discovery.cells` give the same arrays on an executor as in
this process (the derive step of a cluster load relies on it), and really use it."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

from geo_discovery import cells, cellsets, parallel


class CountingPool:
    """An executor on two threads that counts its chunks and shared objects."""

    def __init__(self) -> None:
        self.chunks = 0
        self.shared = 0
        self._lock = threading.Lock()

    def share(self, obj: Any) -> Any:
        self.shared += 1
        return obj

    def imap(self, fn: Callable[..., Any], args: Iterable[tuple[Any, ...]]) -> Iterator[Any]:
        def run(a: tuple[Any, ...]) -> Any:
            with self._lock:
                self.chunks += 1
            return fn(*a)

        with ThreadPoolExecutor(2) as pool:
            yield from pool.map(run, args)


def _points(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Clustered points around a few places, the poles and the antimeridian included,
    and one near a pentagon (res-0 base cell 4's centre, 64.7N 10.5E)."""
    rng = np.random.default_rng(seed)
    places = np.array([[40.758, -73.985], [89.99, 0.0], [-89.99, 120.0], [0.0, 179.999],
                       [-33.87, 151.21], [64.70000012793489, 10.536199075468912]])
    base = places[rng.integers(0, len(places), n)]
    lat = np.clip(base[:, 0] + rng.normal(0, 0.01, n), -90, 90)
    lng = base[:, 1] + rng.normal(0, 0.01, n)
    return lat, (lng + 180.0) % 360.0 - 180.0


@pytest.mark.parametrize(("n", "seed"), [(0, 0), (7, 1), (cells.CHUNK, 2),
                                         (2 * cells.CHUNK + 5, 3)])
def test_the_batch_functions_are_the_same_on_an_executor(n: int, seed: int) -> None:
    lat, lng = _points(n, seed)
    res = 13

    def everything() -> list[Any]:
        c = cells.latlngs_to_cells(lat, lng, res)
        u = np.unique(c)
        return [c, *cells.grid_rings(u, 1), *cells.grid_disks(u, 2), cells.cell_centres(u),
                *cells.cell_boundaries_lnglat(u),
                cellsets.disk_counts_at(c, 2, u, chunk=1000), cellsets.CellGrid(u).neighbours]

    here = everything()
    pool = CountingPool()
    with parallel.executing_on(pool):
        there = everything()
    assert parallel.current_executor() is None  # the context ends with the block
    for a, b in zip(here, there, strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape
        assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f")
    # calls over more than 4,096 values go to the executor, a chunk at a time
    u = len(np.unique(here[0]))

    def tasks(size: int, step: int = cells.CHUNK) -> int:
        return -(-size // step) if size > 1 << 12 else 0

    assert pool.chunks == tasks(n) + 5 * tasks(u) + tasks(u, 1000)
    assert pool.shared == (2 if u > 1 << 12 else 0)  # disk_counts_at's keys, CellGrid's cells
    if n > 1 << 12:
        assert u > 1 << 12  # the cell steps were tested on the executor too


def test_an_error_in_a_chunk_reaches_the_caller() -> None:
    lat, lng = _points(cells.CHUNK + 10, 4)
    lat[-1] = np.nan
    with pytest.raises(Exception) as here:
        cells.latlngs_to_cells(lat, lng, 9)
    with parallel.executing_on(CountingPool()), pytest.raises(here.type):
        cells.latlngs_to_cells(lat, lng, 9)
