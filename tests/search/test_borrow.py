"""``borrowed``: the same arrays (data, shapes, strides), read and written in place, in
nested tuples too; ``None`` passes through; kernels using it keep giving the same answers
(the exactness tests of the ranked and text kernels)."""

from __future__ import annotations

import numpy as np
from numba import njit

from geo_discovery.search.borrow import borrowed


@njit(cache=False)
def _read_and_write(t: tuple) -> tuple[float, int, float]:
    b = borrowed(t)
    a, (c, n), s = b[0], b[1], b[2]
    total = 0.0
    for i in range(a.shape[0]):
        total += a[i]
    a[0] = -1.0  # a write through the borrowed view reaches the caller's array
    return total, c.shape[1] * c.strides[0] // 8 + n, s[::2].sum()


@njit(cache=False)
def _none(x: None) -> bool:
    return borrowed(x) is None


def test_borrowed_arrays_are_the_callers_own() -> None:
    a = np.arange(5, dtype=np.float64)
    c = np.zeros((3, 4), dtype=np.int64)
    s = np.arange(10.0)[::3]  # a strided view keeps its strides
    total, shape_and_n, strided = _read_and_write((a, (c, 7), s))
    assert total == 10.0
    assert a[0] == -1.0
    assert shape_and_n == 4 * 4 + 7
    assert strided == 0.0 + 6.0


def test_borrowed_none_is_none() -> None:
    assert _none(None)
