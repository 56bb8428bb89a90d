"""Registry of nearest-neighbour methods, each behind the same small adapter.

An adapter is a :class:`Method`:

``build(lat, lng, ids) -> obj``
    Build once from degrees and unique string ids (array order = "positions").
``knn(obj, lat, lng, k) -> (positions, distances_m)``
    The ``k`` nearest points to one query, nearest first, great-circle metres.
``radius(obj, lat, lng, radius_m) -> (positions, distances_m)``
    Every point within ``radius_m`` (inclusive), nearest first.
``knn_many(obj, lat_array, lng_array, k) -> None`` (optional)
    A batch API where the method has one; otherwise the harness loops over ``knn``.
``nbytes(obj) -> int | None`` (optional)
    Bytes held by the index, and ``nbytes_how`` says how it was measured.
``unavailable() -> str | None`` (optional)
    Why the method cannot run here (a missing package or server), or ``None``.
``close(obj)`` (optional)
    Release what ``build`` holds outside the process (a server table or key).
``max_points`` / ``max_points_why`` (optional)
    Above this many points the run skips the method and says why (slow loads, O(n) queries).
``knn_many_all_cores`` (optional)
    A second batch line using every core, where the method has a ``workers`` knob.
``knn_many_checked`` (optional)
    The batch calls return ``(positions, distances_m)`` arrays, checked like single queries.
``load_probe(obj) -> dict`` (optional)
    Save the index and time re-opening it (memory-mapped) plus its first query.

Every method gives the same answer (positions + metres, sorted), so the timings compare
equal work, and the harness checks each against a brute-force haversine oracle.

To add a peer, write the four functions and :func:`register` a :class:`Method`; a
server-backed one (PostGIS, Redis: :mod:`benchmarks.server_methods`) returns a reason from
``unavailable`` when its server is not running, and the harness reports it as skipped.

Peers that index in degree space (rtree, STRtree) or measure distance their own way (PostGIS's
sphere, Redis's geohash + radius) are made exact the same way: the index supplies candidates
that provably contain the answer (the bounding box of the spherical cap around the query,
split at the antimeridian and widened to every longitude when it reaches a pole), and the
adapter keeps the answer with the same haversine as the oracle (:func:`haversine_m`).
"""

from __future__ import annotations

import math
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from geo_discovery.distance import EARTH_RADIUS_M

__all__ = [
    "BASELINE",
    "METHODS",
    "Method",
    "cap_boxes",
    "haversine_m",
    "one_thread",
    "register",
    "resolve",
    "rss_bytes",
]

Result = tuple[NDArray[np.int64], NDArray[np.float64]]


@dataclass(frozen=True)
class Method:
    name: str
    label: str
    build: Callable[[NDArray, NDArray, NDArray], Any]
    knn: Callable[[Any, float, float, int], Result]
    radius: Callable[[Any, float, float, float], Result]
    knn_many: Callable[[Any, NDArray, NDArray, int], object] | None = None
    knn_many_how: str = "Python loop over knn"
    nbytes: Callable[[Any], int | None] = lambda obj: None
    nbytes_how: str = "not measured"
    unavailable: Callable[[], str | None] = lambda: None
    note: str = ""
    close: Callable[[Any], None] | None = None
    max_points: int | None = None
    max_points_why: str = ""
    knn_many_all_cores: Callable[[Any, NDArray, NDArray, int], object] | None = None
    knn_many_all_cores_how: str = ""
    load_probe: Callable[[Any], dict[str, Any]] | None = None
    #: Its batch calls return ``(positions, distances_m)`` arrays ``(n, k)``, −1 / inf
    #: padded: the benchmark checks them against the oracle too.
    knn_many_checked: bool = False


METHODS: dict[str, Method] = {}
BASELINE = "geo_discovery"


def register(method: Method) -> Method:
    METHODS[method.name] = method
    return method


def resolve(names: list[str] | None) -> list[Method]:
    """Methods by name (all registered ones when ``names`` is empty), baseline first."""
    if not names:
        return list(METHODS.values())
    unknown = [n for n in names if n not in METHODS]
    if unknown:
        raise ValueError(f"unknown method(s) {unknown}; allowed: {sorted(METHODS)}")
    return [METHODS[n] for n in names]


def _chord_to_m(chord: NDArray) -> NDArray:
    return 2.0 * EARTH_RADIUS_M * np.arcsin(np.minimum(np.asarray(chord) / 2.0, 1.0))


def _m_to_chord(distance_m: float) -> float:
    return 2.0 * math.sin(min(distance_m / EARTH_RADIUS_M, math.pi) / 2.0)


def _xyz(lat: NDArray, lng: NDArray) -> NDArray:
    p, lam = np.radians(lat), np.radians(lng)
    cp = np.cos(p)
    return np.ascontiguousarray(np.stack([cp * np.cos(lam), cp * np.sin(lam), np.sin(p)], axis=-1))


def _xyz1(lat: float, lng: float) -> NDArray:
    p, lam = math.radians(lat), math.radians(lng)
    cp = math.cos(p)
    return np.array([cp * math.cos(lam), cp * math.sin(lam), math.sin(p)])


EMPTY_RESULT: Result = (np.empty(0, np.int64), np.empty(0, np.float64))
# A cap is widened by this many radians (about 6 mm) so that rounding in the degree
# conversions can never drop a point at the boundary; the haversine filter then decides.
_CAP_MARGIN_RAD = 1e-9
_HALF_CIRCUMFERENCE_M = math.pi * EARTH_RADIUS_M


def haversine_m(lat: NDArray, lng: NDArray, q_lat: float, q_lng: float) -> NDArray:
    """Great-circle metres from one query to each point: the oracle's own formula, so the
    distances an adapter returns agree with it to the last bits."""
    p1, p2 = np.radians(q_lat), np.radians(lat)
    a = (
        np.sin((p2 - p1) / 2.0) ** 2
        + np.cos(p1) * np.cos(p2) * np.sin(np.radians(lng - q_lng) / 2.0) ** 2
    )
    return 2.0 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def cap_boxes(lat: float, lng: float, radius_m: float) -> list[tuple[float, float, float, float]]:
    """``(min_lng, min_lat, max_lng, max_lat)`` boxes, in degrees, that together contain every
    point within ``radius_m`` great-circle metres of (``lat``, ``lng``).

    The latitude band is exact; the longitude half-width is ``asin(sin δ / cos φ)``, the
    widest the cap gets (at latitude ``asin(sin φ / cos δ)``, not at the centre). A cap that
    reaches a pole takes every longitude; one that crosses the antimeridian is split in two.
    """
    delta = max(radius_m, 0.0) / EARTH_RADIUS_M + _CAP_MARGIN_RAD
    if delta >= math.pi:
        return [(-180.0, -90.0, 180.0, 90.0)]
    phi = math.radians(lat)
    lo, hi = phi - delta, phi + delta
    if lo <= -math.pi / 2 or hi >= math.pi / 2:
        return [
            (-180.0, math.degrees(max(lo, -math.pi / 2)), 180.0, math.degrees(min(hi, math.pi / 2)))
        ]
    half = math.degrees(math.asin(min(math.sin(delta) / math.cos(phi), 1.0)))
    lat_lo, lat_hi = math.degrees(lo), math.degrees(hi)
    w, e = lng - half, lng + half
    if half >= 180.0 or e - w >= 360.0:
        return [(-180.0, lat_lo, 180.0, lat_hi)]
    if w < -180.0:
        return [(-180.0, lat_lo, e, lat_hi), (w + 360.0, lat_lo, 180.0, lat_hi)]
    if e > 180.0:
        return [(w, lat_lo, 180.0, lat_hi), (-180.0, lat_lo, e - 360.0, lat_hi)]
    return [(w, lat_lo, e, lat_hi)]


def cap_boxes_many(
    lat: NDArray, lng: NDArray, radius_m: NDArray
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """:func:`cap_boxes` for arrays: an ``(m, 4)`` array of boxes and each box's query row."""
    boxes, owner = [], []
    for i, (a, b, r) in enumerate(zip(lat.tolist(), lng.tolist(), radius_m.tolist(), strict=True)):
        for box in cap_boxes(a, b, r):
            boxes.append(box)
            owner.append(i)
    return np.array(boxes, dtype=np.float64).reshape(-1, 4), np.array(owner, dtype=np.int64)


def top_k(cand: NDArray[np.int64], dist: NDArray, k: int) -> Result:
    """The ``k`` smallest of ``dist`` (with their positions), nearest first."""
    if len(cand) > k:
        part = np.argpartition(dist, k - 1)[:k]
        cand, dist = cand[part], dist[part]
    order = np.argsort(dist, kind="stable")
    return cand[order].astype(np.int64, copy=False), dist[order]


def within(cand: NDArray[np.int64], dist: NDArray, radius_m: float) -> Result:
    """The candidates within ``radius_m`` (inclusive), nearest first."""
    keep = dist <= radius_m
    cand, dist = cand[keep], dist[keep]
    order = np.argsort(dist, kind="stable")
    return cand[order].astype(np.int64, copy=False), dist[order]


def grow_knn(
    in_cap: Callable[[float], NDArray[np.int64]],
    dist_of: Callable[[NDArray[np.int64]], NDArray],
    n: int,
    k: int,
    r0_m: float,
) -> Result:
    """Exact kNN from an index that can only answer "candidates in the cap of radius r".

    Grow ``r`` (×4) until the cap holds ``k`` candidates; the ``k``-th smallest exact distance
    among them, ``d_k``, bounds the true ``k``-th distance, so when ``d_k <= r`` the answer is
    already among them, and otherwise one more query with the cap of ``d_k`` has it.
    """
    k = min(k, n)
    if k <= 0:
        return EMPTY_RESULT
    r = max(r0_m, 1.0)
    while True:
        cand = in_cap(r)
        if len(cand) >= k:
            d = dist_of(cand)
            d_k = float(np.partition(d, k - 1)[k - 1])
            if d_k > r:
                cand = in_cap(d_k)
                d = dist_of(cand)
            return top_k(cand, d, k)
        r = min(r * 4.0, _HALF_CIRCUMFERENCE_M)


def rss_bytes() -> int | None:
    """Resident set size of this process (Linux), for indexes whose C heap is not exposed."""
    try:
        import os

        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


# ------------------------------------------------------------------ geo_discovery CellIndex
def _gd_build(lat: NDArray, lng: NDArray, ids: NDArray) -> Any:
    from geo_discovery.search.index import build_cell_index

    return build_cell_index(lat, lng, ids)


def _gd_many(idx: Any, lat: NDArray, lng: NDArray, k: int) -> object:
    return idx.knn_many(lat, lng, k)


def one_thread(fn: Callable[[Any, NDArray, NDArray, int], object]) -> Any:
    """``fn`` run with numba limited to one thread (the one-core batch line)."""

    def run(obj: Any, lat: NDArray, lng: NDArray, k: int) -> object:
        import numba

        before = numba.get_num_threads()
        numba.set_num_threads(1)
        try:
            return fn(obj, lat, lng, k)
        finally:
            numba.set_num_threads(before)

    return run


def _gd_load_probe(idx: Any) -> dict[str, Any]:
    """Write the index with ``to_directory``, then time ``from_directory`` (memory-mapped)
    and the first and second kNN on it. The files were just written, so the page cache is
    warm: this is the open + first-touch cost, not a cold disk read."""
    import shutil
    import tempfile
    import time
    from pathlib import Path

    from geo_discovery.search.index import CellIndex

    tmp = Path(tempfile.mkdtemp(prefix="gd_index_"))
    try:
        t0 = time.perf_counter()
        idx.to_directory(tmp)
        write_s = time.perf_counter() - t0
        disk = sum(p.stat().st_size for p in tmp.iterdir())
        lat, lng = float(np.median(idx.lat)), float(np.median(idx.lng))
        t0 = time.perf_counter()
        opened = CellIndex.from_directory(tmp)
        open_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        opened.knn(lat, lng, 20)
        first_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        opened.knn(lat, lng, 20)
        second_s = time.perf_counter() - t0
        del opened
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {
        "write_s": write_s,
        "disk_bytes": disk,
        "open_s": open_s,
        "first_query_s": first_s,
        "second_query_s": second_s,
        "open_plus_first_query_s": open_s + first_s,
        "how": "to_directory → CellIndex.from_directory(mmap) → knn(k=20) twice, in this "
        "process (page cache warm; compiled kernels already loaded)",
    }


register(
    Method(
        name="geo_discovery",
        label="geo_discovery CellIndex",
        build=_gd_build,
        knn=lambda idx, lat, lng, k: idx.knn(lat, lng, k),
        radius=lambda idx, lat, lng, r: idx.within_radius(lat, lng, r),
        knn_many=one_thread(_gd_many),
        knn_many_how="CellIndex.knn_many, one numba thread",
        knn_many_all_cores=_gd_many,
        knn_many_all_cores_how="CellIndex.knn_many, every numba thread (prange)",
        knn_many_checked=True,
        nbytes=lambda idx: int(idx.nbytes),
        nbytes_how="CellIndex.nbytes (all arrays)",
        load_probe=_gd_load_probe,
        note="build_cell_index (auto resolution) → CellIndex.knn / within_radius",
    )
)


# ------------------------------------------------------- geo_discovery DiscoveryEngine facade
def _engine_build(lat: NDArray, lng: NDArray, ids: NDArray) -> Any:
    import pyarrow as pa

    from geo_discovery.engine import DiscoveryEngine
    from geo_discovery.settings import Settings

    table = pa.table(
        {
            "merchant_id": pa.array(ids.tolist()),
            "lat": pa.array(np.asarray(lat, dtype=np.float64)),
            "lng": pa.array(np.asarray(lng, dtype=np.float64)),
            "category": ["x"] * len(ids),
        }
    )
    return DiscoveryEngine.from_table(table, settings=Settings())


def _engine_knn(engine: Any, lat: float, lng: float, k: int) -> Result:
    res = engine.nearby(lat, lng, k)
    return res.positions, res.distances_m


def _engine_many(engine: Any, lat: NDArray, lng: NDArray, k: int) -> object:
    batch = engine.nearby_many(lat, lng, k)
    return batch.positions, batch.distances_m


def _engine_radius(engine: Any, lat: float, lng: float, r: float) -> Result:
    res = engine.within_radius(lat, lng, r)
    return res.positions, res.distances_m


register(
    Method(
        name="geo_discovery_nearby",
        label="geo_discovery engine.nearby()",
        build=_engine_build,
        knn=_engine_knn,
        radius=_engine_radius,
        knn_many=one_thread(_engine_many),
        knn_many_how="engine.nearby_many (validation + BatchResults), one numba thread",
        knn_many_all_cores=_engine_many,
        knn_many_all_cores_how="engine.nearby_many, every numba thread (prange)",
        knn_many_checked=True,
        nbytes=lambda eng: int(eng.index.nbytes),
        nbytes_how="CellIndex.nbytes (the merchant table not counted)",
        note="DiscoveryEngine.nearby / within_radius: input validation + Results (lazy rows)",
    )
)


# ------------------------------------------------------------------- brute force haversine
@dataclass(frozen=True)
class _Brute:
    lat_r: NDArray
    lng_r: NDArray
    cos_lat: NDArray


def _brute_build(lat: NDArray, lng: NDArray, ids: NDArray) -> _Brute:
    lat_r = np.radians(lat)
    return _Brute(lat_r, np.radians(lng), np.cos(lat_r))


def _brute_dist(b: _Brute, lat: float, lng: float) -> NDArray:
    p = math.radians(lat)
    a = (
        np.sin((b.lat_r - p) * 0.5) ** 2
        + math.cos(p) * b.cos_lat * np.sin((b.lng_r - math.radians(lng)) * 0.5) ** 2
    )
    return 2.0 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.minimum(a, 1.0)))


def _brute_knn(b: _Brute, lat: float, lng: float, k: int) -> Result:
    d = _brute_dist(b, lat, lng)
    idx = np.argpartition(d, k - 1)[:k] if k < len(d) else np.arange(len(d))
    idx = idx[np.argsort(d[idx], kind="stable")]
    return idx, d[idx]


def _brute_radius(b: _Brute, lat: float, lng: float, r: float) -> Result:
    d = _brute_dist(b, lat, lng)
    idx = np.flatnonzero(d <= r)
    idx = idx[np.argsort(d[idx], kind="stable")]
    return idx, d[idx]


register(
    Method(
        name="brute",
        label="brute-force numpy haversine",
        build=_brute_build,
        knn=_brute_knn,
        radius=_brute_radius,
        nbytes=lambda b: int(b.lat_r.nbytes + b.lng_r.nbytes + b.cos_lat.nbytes),
        nbytes_how="radians + cos(lat) arrays",
        note="haversine to every point, argpartition for k, then sort",
        max_points=2_000_000,
        max_points_why="O(n) per query: about 0.3 s a query at 10M points",
    )
)


# ------------------------------------------------------------------ scipy cKDTree on xyz
def _scipy_missing() -> str | None:
    try:
        import scipy.spatial  # noqa: F401
    except ImportError:
        return "scipy is not installed"
    return None


def _ckd_build(lat: NDArray, lng: NDArray, ids: NDArray) -> Any:
    from scipy.spatial import cKDTree

    return cKDTree(_xyz(lat, lng))


def _ckd_knn(tree: Any, lat: float, lng: float, k: int) -> Result:
    chord, idx = tree.query(_xyz1(lat, lng), k=min(k, tree.n))
    idx = np.atleast_1d(idx).astype(np.int64)
    return idx, _chord_to_m(np.atleast_1d(chord))


def _ckd_radius(tree: Any, lat: float, lng: float, r: float) -> Result:
    q = _xyz1(lat, lng)
    idx = np.asarray(tree.query_ball_point(q, _m_to_chord(r), return_sorted=False), np.int64)
    if len(idx) == 0:
        return idx, np.empty(0)
    c2 = ((tree.data[idx] - q) ** 2).sum(axis=1)
    order = np.argsort(c2, kind="stable")
    return idx[order], _chord_to_m(np.sqrt(c2[order]))


def _ckd_many(tree: Any, lat: NDArray, lng: NDArray, k: int, workers: int = 1) -> object:
    """As a user writes it: degrees → xyz, ``query``, chords → metres (−1 / inf padded)."""
    chord, idx = tree.query(_xyz(lat, lng), k=k, workers=workers)
    chord, idx = chord.reshape(len(lat), k), idx.reshape(len(lat), k).astype(np.int64)
    idx[idx >= tree.n] = -1
    return idx, _chord_to_m(chord)


def _ckd_many_all(tree: Any, lat: NDArray, lng: NDArray, k: int) -> object:
    return _ckd_many(tree, lat, lng, k, workers=-1)


def _pickled_size(obj: Any) -> int:
    return len(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))


register(
    Method(
        name="ckdtree",
        label="scipy cKDTree (unit-sphere xyz)",
        build=_ckd_build,
        knn=_ckd_knn,
        radius=_ckd_radius,
        knn_many=_ckd_many,
        knn_many_how="xyz → tree.query(all points, workers=1) → metres",
        knn_many_all_cores=_ckd_many_all,
        knn_many_all_cores_how="xyz → tree.query(all points, workers=-1) → metres",
        knn_many_checked=True,
        nbytes=_pickled_size,
        nbytes_how="pickled size (data copy + indices + nodes)",
        unavailable=_scipy_missing,
        note="chord distance → metres; radius = query_ball_point with the chord, then sort",
    )
)


# --------------------------------------------------------------- sklearn BallTree haversine
def _sklearn_missing() -> str | None:
    try:
        import sklearn.neighbors  # noqa: F401
    except ImportError:
        return "scikit-learn is not installed"
    return None


def _ball_build(lat: NDArray, lng: NDArray, ids: NDArray) -> Any:
    from sklearn.neighbors import BallTree

    return BallTree(np.radians(np.stack([lat, lng], axis=1)), metric="haversine")


def _ball_knn(tree: Any, lat: float, lng: float, k: int) -> Result:
    q = np.radians(np.array([[lat, lng]]))
    dist, idx = tree.query(q, k=min(k, tree.data.shape[0]))
    return idx[0].astype(np.int64), dist[0] * EARTH_RADIUS_M


def _ball_radius(tree: Any, lat: float, lng: float, r: float) -> Result:
    q = np.radians(np.array([[lat, lng]]))
    idx, dist = tree.query_radius(q, r / EARTH_RADIUS_M, return_distance=True, sort_results=True)
    return idx[0].astype(np.int64), dist[0] * EARTH_RADIUS_M


def _ball_many(tree: Any, lat: NDArray, lng: NDArray, k: int) -> object:
    return tree.query(np.radians(np.stack([lat, lng], axis=1)), k=min(k, tree.data.shape[0]))


def _ball_nbytes(tree: Any) -> int:
    return int(sum(a.nbytes for a in tree.get_arrays()))


register(
    Method(
        name="balltree",
        label="sklearn BallTree (haversine)",
        build=_ball_build,
        knn=_ball_knn,
        radius=_ball_radius,
        knn_many=_ball_many,
        knn_many_how="tree.query(all points)",
        nbytes=_ball_nbytes,
        nbytes_how="get_arrays() (data + idx + node data + bounds)",
        unavailable=_sklearn_missing,
        note="radians; query_radius(return_distance=True, sort_results=True)",
    )
)


# ----------------------------------------------------------- rtree (libspatialindex R*-tree)
def _rtree_missing() -> str | None:
    try:
        import rtree  # noqa: F401
    except (ImportError, OSError) as exc:
        return f"rtree (libspatialindex) is not importable: {exc}"
    return None


@dataclass(frozen=True)
class _Boxed:
    """A degree-space index plus the exact coordinates for the haversine refine."""

    index: Any
    lat: NDArray[np.float64]
    lng: NDArray[np.float64]
    rss_growth: int | None


_RTREE_GENERATOR_BELOW_M = 500.0


def _rtree_build(lat: NDArray, lng: NDArray, ids: NDArray) -> _Boxed:
    from rtree import index

    before = rss_bytes()
    pts = np.ascontiguousarray(np.stack([lng, lat], axis=1), dtype=np.float64)
    tree = index.Index((np.arange(len(lat), dtype=np.int64), pts, pts))
    after = rss_bytes()
    growth = after - before if before is not None and after is not None else None
    return _Boxed(tree, np.ascontiguousarray(lat), np.ascontiguousarray(lng), growth)


def _rtree_in_cap(t: _Boxed, lat: float, lng: float, r: float) -> NDArray[np.int64]:
    """Ids in the cap's box(es): the plain generator is faster for a few hundred ids (kNN),
    the vectorised ``intersection_v`` for thousands (radius searches)."""
    boxes = cap_boxes(lat, lng, r)
    if r <= _RTREE_GENERATOR_BELOW_M:
        if len(boxes) == 1:
            return np.fromiter(t.index.intersection(boxes[0]), dtype=np.int64)
        return np.fromiter((i for box in boxes for i in t.index.intersection(box)), dtype=np.int64)
    arr = np.array(boxes)
    ids, _counts = t.index.intersection_v(arr[:, :2], arr[:, 2:])
    return ids


def _rtree_knn(t: _Boxed, lat: float, lng: float, k: int) -> Result:
    k = min(k, len(t.lat))
    if k <= 0:
        return EMPTY_RESULT
    q = np.array([[lng, lat]])
    # k candidates by degree-space distance: any k points bound the k-th great-circle distance
    cand, _ = t.index.nearest_v(q, q, num_results=k, strict=True)
    d_k = float(haversine_m(t.lat[cand], t.lng[cand], lat, lng).max())
    cand = _rtree_in_cap(t, lat, lng, d_k)
    return top_k(cand, haversine_m(t.lat[cand], t.lng[cand], lat, lng), k)


def _rtree_radius(t: _Boxed, lat: float, lng: float, r: float) -> Result:
    cand = _rtree_in_cap(t, lat, lng, r)
    return within(cand, haversine_m(t.lat[cand], t.lng[cand], lat, lng), r)


def _group_top_k(qi: NDArray, cand: NDArray, dist: NDArray, m: int, k: int) -> Result:
    """Per query row ``qi``, its ``k`` nearest candidates: ``(m, k)`` arrays."""
    order = np.lexsort((dist, qi))
    qs = qi[order]
    rank = np.arange(len(order)) - np.searchsorted(qs, qs)
    keep = order[rank < k]
    return cand[keep].reshape(m, k), dist[keep].reshape(m, k)


def _hav_rows(t: _Boxed, cand: NDArray, q_lat: NDArray, q_lng: NDArray) -> NDArray:
    p1, p2 = np.radians(q_lat), np.radians(t.lat[cand])
    a = (
        np.sin((p2 - p1) / 2.0) ** 2
        + np.cos(p1) * np.cos(p2) * np.sin(np.radians(t.lng[cand] - q_lng) / 2.0) ** 2
    )
    return 2.0 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def _rtree_many(t: _Boxed, lat: NDArray, lng: NDArray, k: int) -> Result:
    """The same two steps, each as one bulk call over every query (nearest_v,
    intersection_v), and one grouped sort."""
    m, k = len(lat), min(k, len(t.lat))
    q = np.ascontiguousarray(np.stack([lng, lat], axis=1))
    cand, counts = t.index.nearest_v(q, q, num_results=k, strict=True)
    qi = np.repeat(np.arange(m), counts.astype(np.int64))
    d = _hav_rows(t, cand, lat[qi], lng[qi])
    d_k = np.full(m, 0.0)
    np.maximum.at(d_k, qi, d)
    boxes, owner = cap_boxes_many(lat, lng, d_k)
    cand, counts = t.index.intersection_v(boxes[:, :2], boxes[:, 2:])
    qi = owner[np.repeat(np.arange(len(owner)), counts.astype(np.int64))]
    return _group_top_k(qi, cand, _hav_rows(t, cand, lat[qi], lng[qi]), m, k)


register(
    Method(
        name="rtree",
        label="rtree (libspatialindex R*-tree, lng/lat)",
        build=_rtree_build,
        knn=_rtree_knn,
        radius=_rtree_radius,
        knn_many=_rtree_many,
        knn_many_how="nearest_v + intersection_v over all queries, grouped sort",
        nbytes=lambda t: t.rss_growth,
        nbytes_how="process RSS growth while building (C++ heap; approximate)",
        unavailable=_rtree_missing,
        note="bulk-loaded from arrays; kNN: nearest_v k candidates in degree space → their "
        "largest haversine d_k → intersection_v with the bounding box(es) of the spherical "
        "cap of radius d_k (split at the antimeridian, all longitudes at a pole) → exact "
        "haversine, top k; radius: cap box(es) → haversine ≤ r → sort",
    )
)


# ------------------------------------------------------------------ shapely 2 STRtree
def _shapely_missing() -> str | None:
    try:
        import shapely

        if int(shapely.__version__.split(".")[0]) < 2:
            return f"shapely {shapely.__version__} < 2 has no vectorised STRtree"
    except ImportError:
        return "shapely is not installed"
    return None


def _str_build(lat: NDArray, lng: NDArray, ids: NDArray) -> _Boxed:
    import shapely

    before = rss_bytes()
    tree = shapely.STRtree(shapely.points(lng, lat))
    after = rss_bytes()
    growth = after - before if before is not None and after is not None else None
    return _Boxed(tree, np.ascontiguousarray(lat), np.ascontiguousarray(lng), growth)


def _str_in_cap(t: _Boxed, lat: float, lng: float, r: float) -> NDArray[np.int64]:
    import shapely

    boxes = cap_boxes(lat, lng, r)
    if len(boxes) == 1:
        return np.asarray(t.index.query(shapely.box(*boxes[0])), dtype=np.int64)
    arr = np.array(boxes)
    geoms = shapely.box(arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3])
    return np.asarray(t.index.query(geoms)[1], dtype=np.int64)


def _str_knn(t: _Boxed, lat: float, lng: float, k: int) -> Result:
    import shapely

    n = len(t.lat)
    if min(k, n) <= 0:
        return EMPTY_RESULT
    # query_nearest gives one nearest (degree space); guess the k-th from it, then grow
    first = t.index.query_nearest(shapely.Point(lng, lat))
    d1 = float(haversine_m(t.lat[first], t.lng[first], lat, lng).max())
    return grow_knn(
        lambda r: _str_in_cap(t, lat, lng, r),
        lambda c: haversine_m(t.lat[c], t.lng[c], lat, lng),
        n,
        k,
        max(d1 * math.sqrt(k) * 1.5, 50.0),
    )


def _str_radius(t: _Boxed, lat: float, lng: float, r: float) -> Result:
    cand = _str_in_cap(t, lat, lng, r)
    return within(cand, haversine_m(t.lat[cand], t.lng[cand], lat, lng), r)


register(
    Method(
        name="strtree",
        label="shapely STRtree (lng/lat)",
        build=_str_build,
        knn=_str_knn,
        radius=_str_radius,
        nbytes=lambda t: t.rss_growth,
        nbytes_how="process RSS growth while building (GEOS points + tree; approximate)",
        unavailable=_shapely_missing,
        note="STRtree over shapely points; kNN: query_nearest (1, degree space) → guess a "
        "radius → query with the spherical cap's bounding box(es), ×4 until k candidates → "
        "their k-th haversine d_k → one more cap query when d_k exceeds the radius → top k; "
        "radius: cap box(es) → haversine ≤ r → sort",
    )
)


# Server-backed peers (PostGIS, Redis) register themselves after the in-process ones.
from . import server_methods  # noqa: E402, F401
