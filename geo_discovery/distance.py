"""Great-circle distances in metres.

Two forms of one quantity:

* :func:`haversine_m` — the textbook haversine formula, vectorised. Tests use it as the
  brute-force oracle.
* unit-vector chords — ``latlng_to_xyz`` once per point at build time, then
  :func:`chord2_to_m` on squared chord lengths. Only multiplications and additions run
  per candidate. The transcendental parts (``sin``, ``cos``, ``asin``) go through one
  compiled scalar routine each (:func:`xyz_1`, :func:`c2m_1`, :func:`m2c2_1`: numba, the
  C library's functions), whether called on one float, on an array, or from the
  compiled search kernels (:mod:`geo_discovery.search.kernels`). numpy's own ``arcsin`` uses
  SIMD code that differs from the C library in the last bit for ~8 % of inputs; one
  definition everywhere keeps every path's metres (and so tie-breaking) identical.
  Chord and haversine agree to well under a micrometre for any pair of points except
  near-antipodal ones: within ~100 km of a point's antipode both formulas are
  ill-conditioned (``asin`` near 1) and can differ by micrometres, up to ~0.3 m at
  the antipode itself.

The Earth radius is the one h3 uses, so distances agree with ``h3.great_circle_distance``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "EARTH_RADIUS_M",
    "c2m_1",
    "chord2_to_m",
    "haversine_m",
    "latlng_to_xyz",
    "m2c2_1",
    "m_to_chord2",
    "mean_lng",
    "wrap_lng",
    "xyz_1",
]

EARTH_RADIUS_M = 6_371_007.180918475


def haversine_m(lat1: ArrayLike, lng1: ArrayLike, lat2: ArrayLike, lng2: ArrayLike) -> NDArray:
    """Haversine distance in metres between broadcastable arrays of degrees.

    Examples
    --------
    >>> round(float(haversine_m(40.7580, -73.9855, 40.7484, -73.9857)))
    1068
    >>> float(haversine_m(0, 179.9995, 0, -179.9995)) < 112
    True
    """
    p1 = np.radians(np.asarray(lat1, dtype=np.float64))
    p2 = np.radians(np.asarray(lat2, dtype=np.float64))
    dp = p2 - p1
    dl = np.radians(np.asarray(lng2, dtype=np.float64) - np.asarray(lng1, dtype=np.float64))
    a = np.sin(dp / 2.0) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2.0) ** 2
    return 2.0 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


@njit(cache=True, nogil=True)
def xyz_1(lat: float, lng: float) -> tuple[float, float, float]:  # pragma: no cover - compiled
    """Unit vector of one point (degrees); the single definition every path uses."""
    p = lat * (math.pi / 180.0)
    lam = lng * (math.pi / 180.0)
    cp = math.cos(p)
    return cp * math.cos(lam), cp * math.sin(lam), math.sin(p)


@njit(cache=True, nogil=True)
def c2m_1(c2: float) -> float:  # pragma: no cover - compiled
    """Great-circle metres of one squared chord (clamped to [0, 4])."""
    c = math.sqrt(min(max(c2, 0.0), 4.0))
    return 2.0 * EARTH_RADIUS_M * math.asin(min(c / 2.0, 1.0))


@njit(cache=True, nogil=True)
def m2c2_1(distance_m: float) -> float:  # pragma: no cover - compiled
    """The largest squared chord whose metres (:func:`c2m_1`) are at most ``distance_m``
    (clamped to [0, half the circumference]): ``c2 <= m2c2_1(r)`` exactly when
    ``c2m_1(c2) <= r``, so a radius equal to a reported distance holds its merchant (the
    closed form alone is off by an ulp or two either way for about a third of radii)."""
    ang = min(max(distance_m / EARTH_RADIUS_M, 0.0), math.pi)
    s = 2.0 * math.sin(ang / 2.0)
    c2 = s * s
    if c2 >= 4.0:  # half the circumference or more: every chord
        return c2
    while c2 > 0.0 and c2m_1(c2) > distance_m:  # c2m_1 is monotone: a few ulps at most
        c2 = np.nextafter(c2, 0.0)
    while c2 < 4.0 and c2m_1(np.nextafter(c2, 4.0)) <= distance_m:
        c2 = np.nextafter(c2, 4.0)
    return c2


@njit(cache=True, nogil=True)
def _xyz_loop(lat: NDArray, lng: NDArray, out: NDArray) -> None:  # pragma: no cover
    for i in range(lat.shape[0]):
        out[i, 0], out[i, 1], out[i, 2] = xyz_1(lat[i], lng[i])


@njit(cache=True, nogil=True)
def _c2m_loop(c2: NDArray, out: NDArray) -> None:  # pragma: no cover - compiled
    for i in range(c2.shape[0]):
        out[i] = c2m_1(c2[i])


@njit(cache=True, nogil=True)
def _m2c2_loop(m: NDArray, out: NDArray) -> None:  # pragma: no cover - compiled
    for i in range(m.shape[0]):
        out[i] = m2c2_1(m[i])


def latlng_to_xyz(lat: ArrayLike, lng: ArrayLike) -> NDArray:
    """Unit vectors, shape ``(..., 3)``, for degrees ``lat``/``lng`` (broadcast)."""
    a, b = np.broadcast_arrays(np.asarray(lat, dtype=np.float64), np.asarray(lng, dtype=np.float64))
    out = np.empty((a.size, 3), dtype=np.float64)
    _xyz_loop(np.ascontiguousarray(a).reshape(-1), np.ascontiguousarray(b).reshape(-1), out)
    return out.reshape((*a.shape, 3))


def chord2_to_m(chord2: ArrayLike) -> NDArray:
    """Great-circle metres from squared unit-sphere chord lengths (monotone)."""
    a = np.asarray(chord2, dtype=np.float64)
    out = np.empty(a.size, dtype=np.float64)
    _c2m_loop(np.ascontiguousarray(a).reshape(-1), out)
    return out.reshape(a.shape)


def m_to_chord2(distance_m: ArrayLike) -> NDArray:
    """Squared unit-sphere chord for great-circle metres (inverse of :func:`chord2_to_m`)."""
    a = np.asarray(distance_m, dtype=np.float64)
    out = np.empty(a.size, dtype=np.float64)
    _m2c2_loop(np.ascontiguousarray(a).reshape(-1), out)
    return out.reshape(a.shape)


def wrap_lng(lng: ArrayLike) -> NDArray:
    """Longitudes (or their differences) brought into -180 … 180: a difference so wrapped
    is the short way round, across the antimeridian too.

    >>> wrap_lng([190.0, -181.0, 179.5]).tolist()
    [-170.0, 179.0, 179.5]
    """
    return (np.asarray(lng, dtype=np.float64) + 180.0) % 360.0 - 180.0


def mean_lng(lng: ArrayLike) -> float:
    """The mean of longitudes the short way round: across the antimeridian too (points at
    179.99 and -179.99 average to ±180, not 0). Each longitude is taken within 180° of the
    first; NaN for none.

    >>> round(mean_lng([179.99, -179.99, 179.97]), 9), mean_lng([10.0, 20.0])
    (179.99, 15.0)
    >>> mean_lng([179.0, -177.0])
    -179.0
    """
    a = np.asarray(lng, dtype=np.float64).reshape(-1)
    if not len(a):
        return math.nan
    ref = float(a[0])
    mean = ref + float(wrap_lng(a - ref).mean())
    return mean - 360.0 if mean >= 180.0 else mean + 360.0 if mean < -180.0 else mean
