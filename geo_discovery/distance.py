"""Great-circle distances in metres.

Two forms of one quantity:

* :func:`haversine_m` — the textbook haversine formula, vectorised. Tests use it as the
  brute-force oracle.
* unit-vector chords — ``latlng_to_xyz`` once per point at build time, then
  :func:`chord2_to_m` on squared chord lengths. Only multiplications and additions run
  per candidate, so every element is computed the same way whatever the batch size
  (no SIMD-vs-scalar drift in ``sin``/``cos``), which keeps tie-breaking deterministic.
  Chord and haversine agree to well under a micrometre for any pair of points except
  near-antipodal ones: within ~100 km of a point's antipode both formulas are
  ill-conditioned (``asin`` near 1) and can differ by micrometres, up to ~0.3 m at
  the antipode itself.

The Earth radius is the one h3 uses, so distances agree with ``h3.great_circle_distance``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "EARTH_RADIUS_M",
    "chord2_to_m",
    "haversine_m",
    "latlng_to_xyz",
    "m_to_chord2",
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


def latlng_to_xyz(lat: ArrayLike, lng: ArrayLike) -> NDArray:
    """Unit vectors, shape ``(..., 3)``, for degrees ``lat``/``lng``."""
    p = np.radians(np.asarray(lat, dtype=np.float64))
    lam = np.radians(np.asarray(lng, dtype=np.float64))
    cp = np.cos(p)
    return np.stack([cp * np.cos(lam), cp * np.sin(lam), np.sin(p)], axis=-1)


def chord2_to_m(chord2: ArrayLike) -> NDArray:
    """Great-circle metres from squared unit-sphere chord lengths (monotone)."""
    c = np.sqrt(np.clip(np.asarray(chord2, dtype=np.float64), 0.0, 4.0))
    return 2.0 * EARTH_RADIUS_M * np.arcsin(np.minimum(c / 2.0, 1.0))


def m_to_chord2(distance_m: ArrayLike) -> NDArray:
    """Squared unit-sphere chord for great-circle metres (inverse of :func:`chord2_to_m`)."""
    ang = np.clip(np.asarray(distance_m, dtype=np.float64) / EARTH_RADIUS_M, 0.0, np.pi)
    return (2.0 * np.sin(ang / 2.0)) ** 2
