"""Quadtree cells on latitude and longitude, as the cell shortlists (:mod:`.shortlist`) use.

A level-``L`` cell spans ``180 / 2^L`` degrees of latitude and ``360 / 2^L`` of longitude;
cell ``(i, j)`` starts at latitude ``-90 + i · 180 / 2^L`` and longitude ``-180 + j · 360 /
2^L`` (the last row and column hold latitude 90 and longitude 180). A cell is bounded by
a ball (:func:`cell_ball`): its centre and :data:`INFLATE` times the chord to its farthest
corner, so a child's ball lies inside its parent's. A cell's key (:func:`cell_key`) packs
its level and ``(i, j)``; its Z-order code (:func:`morton`) interleaves their bits, so the
leaves of a root, sorted by their first code at :data:`DEEPEST`, are found by one binary
search (:func:`leaf_at`).

Examples
--------
>>> cell_ij(40.75, -73.99, ROOT)
(185, 75)
>>> int(root_keys(np.array([40.75]), np.array([-73.99]))[0]) == ROOT_KEY | 185 << 26 | 75
True
>>> cell_ij(90.0, 180.0, ROOT)  # the last row and column
(255, 255)
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from numpy.typing import NDArray

from ..distance import xyz_1

__all__ = [
    "DEEPEST", "INFLATE", "ROOT", "ROOT_CELLS", "ROOT_KEY", "cell_ball", "cell_ij", "cell_key",
    "leaf_at", "morton", "root_keys",
]  # fmt: skip

ROOT = 8  #: level of the root cells (0.7° of latitude)
DEEPEST = 22  #: deepest level a cell is split to (~5 m of latitude)
INFLATE = 1.1  #: a cell's ball radius over its farthest corner's distance
ROOT_CELLS = 1 << ROOT  #: root cells along a meridian (and along a parallel)
ROOT_KEY = ROOT << 52  #: a root cell key's level bits (:func:`cell_key`)


@njit(cache=True, nogil=True)
def cell_ball(level: int, i: int, j: int) -> tuple[float, float, float, float, float, float]:
    """A cell's centre (degrees, unit vector) and ball radius (chord; :data:`INFLATE` × the
    farthest corner, so a child's ball lies inside its parent's)."""  # pragma: no cover
    h = 180.0 / 2.0**level
    w = 360.0 / 2.0**level
    lat0, lng0 = -90.0 + i * h, -180.0 + j * w
    clat, clng = lat0 + h / 2.0, lng0 + w / 2.0
    cx, cy, cz = xyz_1(clat, clng)
    rho = 0.0
    for a in (lat0, lat0 + h):
        for b in (lng0, lng0 + w):
            vx, vy, vz = xyz_1(a, b)
            rho = max(rho, math.sqrt((vx - cx) ** 2 + (vy - cy) ** 2 + (vz - cz) ** 2))
    return clat, clng, cx, cy, cz, rho * INFLATE


@njit(cache=True, nogil=True)
def leaf_at(
    qx: float, qy: float, qz: float, lat: float, lng: float, keys: NDArray, balls: NDArray
) -> int:  # pragma: no cover - compiled
    """The leaf holding ``(lat, lng)`` (its index in ``keys``), or -1 (outside the leaf's
    ball: the caller walks). The leaves partition the root: one binary search finds it."""
    i, j = cell_ij(lat, lng, DEEPEST)
    at = np.searchsorted(keys, morton(i, j, DEEPEST), side="right") - 1
    if at < 0:
        return -1
    dx, dy, dz = qx - balls[at, 0], qy - balls[at, 1], qz - balls[at, 2]
    return int(at) if math.sqrt(dx * dx + dy * dy + dz * dz) <= balls[at, 3] else -1


@njit(cache=True, nogil=True, inline="always")
def cell_ij(lat: float, lng: float, level: int) -> tuple[int, int]:  # pragma: no cover
    n = 2**level
    i = math.floor((lat + 90.0) / 180.0 * n)
    j = math.floor((lng + 180.0) / 360.0 * n)
    return min(max(i, 0), n - 1), min(max(j, 0), n - 1)


@njit(cache=True, nogil=True, inline="always")
def cell_key(level: int, i: int, j: int) -> np.int64:  # pragma: no cover - compiled
    return np.int64(level) << 52 | np.int64(i) << 26 | np.int64(j)


@njit(cache=True, nogil=True, inline="always")
def morton(i: int, j: int, bits: int) -> np.int64:  # pragma: no cover - compiled
    """``i`` and ``j``'s low ``bits`` bits interleaved: a quadtree cell's Z-order code."""
    out = np.int64(0)
    for b in range(bits):
        out |= ((np.int64(i) >> b) & 1) << (2 * b + 1) | ((np.int64(j) >> b) & 1) << (2 * b)
    return out


@njit(cache=True, nogil=True)
def root_keys(lat: NDArray, lng: NDArray) -> NDArray:  # pragma: no cover - compiled
    out = np.empty(lat.shape[0], dtype=np.int64)
    for p in range(lat.shape[0]):
        i, j = cell_ij(lat[p], lng[p], ROOT)
        out[p] = cell_key(ROOT, i, j)
    return out
