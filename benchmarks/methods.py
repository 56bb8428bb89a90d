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

Every method gives the same answer (positions + metres, sorted), so the timings compare
equal work, and the harness checks each against a brute-force haversine oracle.

To add a peer (rtree, shapely STRtree, PostGIS, Redis GEOSEARCH — issue 6), write the four
functions and :func:`register` a :class:`Method`; a server-backed one returns a reason from
``unavailable`` when its server is not running, and the harness reports it as skipped.
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

__all__ = ["BASELINE", "METHODS", "Method", "register", "resolve"]

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


# ------------------------------------------------------------------ geo_discovery CellIndex
def _gd_build(lat: NDArray, lng: NDArray, ids: NDArray) -> Any:
    from geo_discovery.index import build_cell_index

    return build_cell_index(lat, lng, ids)


register(
    Method(
        name="geo_discovery",
        label="geo_discovery CellIndex",
        build=_gd_build,
        knn=lambda idx, lat, lng, k: idx.knn(lat, lng, k),
        radius=lambda idx, lat, lng, r: idx.within_radius(lat, lng, r),
        nbytes=lambda idx: int(idx.nbytes),
        nbytes_how="CellIndex.nbytes (all arrays)",
        note="build_cell_index (auto resolution) → CellIndex.knn / within_radius",
    )
)


# ------------------------------------------------------- geo_discovery DiscoveryEngine facade
def _engine_build(lat: NDArray, lng: NDArray, ids: NDArray) -> Any:
    import pyarrow as pa

    from geo_discovery.engine import DiscoveryEngine
    from geo_discovery.index import build_cell_index
    from geo_discovery.settings import Settings

    table = pa.table({"merchant_id": pa.array(ids.tolist()), "category": ["x"] * len(ids)})
    index = build_cell_index(lat, lng, ids)
    return DiscoveryEngine(table, index, settings=Settings())


def _engine_knn(engine: Any, lat: float, lng: float, k: int) -> Result:
    res = engine.nearby(lat, lng, k)
    return res.positions, res.distances_m


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


def _ckd_many(tree: Any, lat: NDArray, lng: NDArray, k: int) -> object:
    return tree.query(_xyz(lat, lng), k=min(k, tree.n), workers=1)


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
        knn_many_how="tree.query(all points, workers=1)",
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
