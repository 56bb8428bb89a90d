"""Probable lat/lng swaps, found from a set of points themselves.

When most points form a cluster, a point far outside it (more than
:data:`CLUSTER_OUTSIDE` times the median distance of the points to their centre) whose
swapped coordinates land among the others (as close to one of them as the points
usually are to each other: :data:`LANDING_FACTOR` times the 95th percentile of their
nearest-neighbour distances) is a probable swap. Points spread over the globe form no
such cluster and get no such check. The merchant loader
(:mod:`geo_discovery.ingest.coordinates`) and the catchment's population files
(:mod:`geo_discovery.catchment.demand`) both use it.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .distance import chord2_to_m, haversine_m, latlng_to_xyz, wrap_lng

__all__ = ["CLUSTER_MIN_POINTS", "CLUSTER_OUTSIDE", "LANDING_FACTOR", "Swaps", "probable_swaps"]

#: Fewer valid points than this: no cluster to compare with.
CLUSTER_MIN_POINTS = 10
#: A point this many median distances from the centre is outside the cluster …
CLUSTER_OUTSIDE = 10.0
#: … and its swap lands among the others: within this many times their 95th-percentile
#: nearest-neighbour distance of one of them.
LANDING_FACTOR = 5.0


class Swaps(NamedTuple):
    """``flagged`` rows; each row's ``distance_m`` from the points' centre (NaN where not
    valid); ``landing_m``, how close a swapped point came to count as among the others."""

    flagged: np.ndarray
    distance_m: np.ndarray
    landing_m: float


def centre(lat: np.ndarray, lng: np.ndarray) -> tuple[float, float]:
    """Median latitude and circular median longitude (right across the antimeridian)."""
    rad = np.radians(lng)
    mean = float(np.degrees(np.arctan2(np.sin(rad).mean(), np.cos(rad).mean())))
    centre_lng = float(wrap_lng(mean + float(np.median(wrap_lng(lng - mean)))))
    return float(np.median(lat)), centre_lng


def probable_swaps(lat: np.ndarray, lng: np.ndarray, valid: np.ndarray | None = None) -> Swaps:
    """The probable swaps among the points (module doc); ``valid``: the rows to consider
    (default: finite WGS84 degrees, not ``0, 0``).

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> lat, lng = 40.7 + rng.normal(0, 0.05, 50), -73.9 + rng.normal(0, 0.05, 50)
    >>> lat[3], lng[3] = lng[3], lat[3]  # one row swapped: it lands in Antarctica
    >>> np.flatnonzero(probable_swaps(lat, lng).flagged).tolist()
    [3]
    """
    from scipy.spatial import cKDTree

    n = len(lat)
    flagged = np.zeros(n, dtype=bool)
    dist = np.full(n, np.nan)
    with np.errstate(invalid="ignore"):
        ok = (np.isfinite(lat) & np.isfinite(lng) & (np.abs(lat) <= 90) & (np.abs(lng) <= 180)
              & ~((lat == 0) & (lng == 0)))  # fmt: skip
    if valid is not None:
        ok &= valid
    if ok.sum() < CLUSTER_MIN_POINTS:
        return Swaps(flagged, dist, 0.0)
    c_lat, c_lng = centre(lat[ok], lng[ok])
    dist[ok] = haversine_m(lat[ok], lng[ok], c_lat, c_lng)
    median = max(float(np.median(dist[ok])), 10.0)
    with np.errstate(invalid="ignore"):
        outside = ok & (dist > CLUSTER_OUTSIDE * median)
    candidates = outside & (np.abs(lng) <= 90)
    members = ok & ~outside
    if not candidates.any() or members.sum() < CLUSTER_MIN_POINTS:
        return Swaps(flagged, dist, 0.0)
    tree = cKDTree(latlng_to_xyz(lat[members], lng[members]))
    spacing, _ = tree.query(latlng_to_xyz(lat[members], lng[members]), k=2)
    landing = LANDING_FACTOR * max(float(np.quantile(spacing[:, 1], 0.95)), 1e-6)
    idx = np.flatnonzero(candidates)
    # Bounded: a swapped point far from every member (most of them) is settled at once
    # instead of searching the whole tree for a nearest point nobody needs (cKDTree's
    # bound is strict, hence nextafter: gap <= landing as before; inf beyond it).
    bound = float(np.nextafter(landing, np.inf))
    gap, _ = tree.query(latlng_to_xyz(lng[idx], lat[idx]), k=1, distance_upper_bound=bound)
    flagged[idx[gap <= landing]] = True
    return Swaps(flagged, dist, float(chord2_to_m(landing**2)))
