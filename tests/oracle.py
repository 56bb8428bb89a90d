"""Brute-force oracle for every spatial query, and a robust comparison helper.

The oracle computes :func:`geo_discovery.distance.haversine_m` from the query to *every*
point and applies each query's definition literally:

* kNN: the ``k`` nearest points (optionally only those within ``radius_m``, optionally
  only rows where ``mask`` is true);
* radius: every point with ``distance <= radius_m``;
* bbox: ``south <= lat <= north`` and ``west <= lng <= east`` (edges inclusive); a box
  with ``west > east`` crosses the antimeridian (``lng >= west or lng <= east``);
* polygon: ``shapely.intersects_xy`` in planar lng/lat (boundary included).

Answers are ordered by ``(distance, merchant_id)``.

The library measures distance through unit-vector chords, which agree with haversine to
well under a micrometre but not bit for bit. :func:`assert_matches` therefore compares
with a tolerance of ``TOL_M`` (1e-6 m) and nowhere else:

* every reported distance is within ``TOL_M`` of the oracle's distance for that point;
* the answer is ordered by (reported distance, merchant_id): exactly tied distances
  (e.g. duplicate coordinates) come in merchant_id order, and where the answer's order
  differs from the oracle's, the two points' oracle distances are within ``TOL_M``
  (a group of near-ties may be ordered by the library's own distance);
* the answer holds every qualifying point, except that at the ``k``-th place a point may
  stand in for another whose oracle distance is within ``TOL_M`` of it, and points with
  ``|distance - radius_m| < TOL_M`` may be in or out;
* nothing else: no duplicates, no non-qualifying point, no more than ``k`` results.

One exception to the 1e-6 m: near the antipode of the query both formulas are
ill-conditioned (``asin`` of a value near 1; a squared chord near 4), so they can disagree
by up to ~0.3 m at the antipode itself and by more than 1e-6 m within ~100 km of it.
:func:`slack_m` widens the tolerance there only, by ``ANTIPODE_SLACK_M2 / (pi R - d)``
(capped at 1 m, within 2,000 km of the antipode), a bound measured on millions of
random near-antipodal pairs.

The module also reads the real datasets in ``../shared/data`` straight from the files
(lat/lng columns only, with pandas), independently of ``geo_discovery.ingest``.
"""

from __future__ import annotations

import gzip
import itertools
import json
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import shapely
from numpy.typing import NDArray

from geo_discovery.distance import EARTH_RADIUS_M, haversine_m
from geo_discovery.schema import empty_frame, to_arrow

__all__ = [
    "REAL_POINT_SETS",
    "TOL_M",
    "Expected",
    "Points",
    "assert_matches",
    "bbox_contains",
    "canonical_table",
    "category_mask",
    "knn",
    "read_real_points",
    "slack_m",
    "within_bbox",
    "within_polygon",
    "within_radius",
]

TOL_M = 1e-6
HALF_CIRCUMFERENCE_M = np.pi * EARTH_RADIUS_M
ANTIPODE_SLACK_M2 = 0.2
ANTIPODE_ZONE_M = 2_000_000.0


def slack_m(dist: NDArray[np.float64], tol: float = TOL_M) -> NDArray[np.float64]:
    """Per-point tolerance: ``tol``, widened only near the antipode (see module doc)."""
    to_antipode = np.maximum(HALF_CIRCUMFERENCE_M - np.asarray(dist, dtype=np.float64), 1e-9)
    widen = np.minimum(1.0, ANTIPODE_SLACK_M2 / to_antipode)
    return tol + np.where(to_antipode < ANTIPODE_ZONE_M, widen, 0.0)


@dataclass(frozen=True, eq=False)
class Points:
    """Points in merchant-table order: degrees and unique string ids."""

    lat: NDArray[np.float64]
    lng: NDArray[np.float64]
    ids: NDArray[np.object_]
    rank: NDArray[np.int64] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "lat", np.asarray(self.lat, dtype=np.float64))
        object.__setattr__(self, "lng", np.asarray(self.lng, dtype=np.float64))
        object.__setattr__(self, "ids", np.asarray([str(x) for x in self.ids], dtype=object))
        if not len(self.lat) == len(self.lng) == len(self.ids):
            raise ValueError("lat, lng and ids must have one length")
        if len(set(self.ids.tolist())) != len(self.ids):
            raise ValueError("ids must be unique")
        order = sorted(range(len(self.ids)), key=lambda i: self.ids[i])
        rank = np.empty(len(self.ids), dtype=np.int64)
        rank[np.asarray(order, dtype=np.int64)] = np.arange(len(self.ids), dtype=np.int64)
        object.__setattr__(self, "rank", rank)

    @classmethod
    def build(
        cls, lat: Sequence[float] | NDArray, lng: Sequence[float] | NDArray, ids: Any = None
    ) -> Points:
        lat_a = np.asarray(lat, dtype=np.float64)
        lng_a = np.asarray(lng, dtype=np.float64)
        if ids is None:
            ids = [f"m{i:07d}" for i in range(len(lat_a))]
        return cls(lat_a, lng_a, np.asarray([str(x) for x in ids], dtype=object))

    def __len__(self) -> int:
        return len(self.lat)

    def distances_from(self, lat: float, lng: float) -> NDArray[np.float64]:
        """Haversine metres from one point to every point."""
        return np.asarray(haversine_m(lat, lng, self.lat, self.lng), dtype=np.float64)


@dataclass(frozen=True, eq=False)
class Expected:
    """What a correct answer to one query may be.

    ``exact`` is the literal definition; ``required`` the points that must appear (unless
    the ``k`` limit leaves them out); ``allowed`` the points that may appear.
    """

    points: Points
    dist: NDArray[np.float64]
    exact: NDArray[np.bool_]
    required: NDArray[np.bool_]
    allowed: NDArray[np.bool_]
    k: int | None
    what: str

    def answer(self) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """The plain brute-force answer: positions and distances, (distance, id) order."""
        sel = np.flatnonzero(self.exact)
        sel = sel[np.lexsort((self.points.rank[sel], self.dist[sel]))]
        if self.k is not None:
            sel = sel[: self.k]
        return sel, self.dist[sel]

    def ids(self) -> list[str]:
        return [str(x) for x in self.points.ids[self.answer()[0]]]


def _mask_or_all(points: Points, mask: NDArray[np.bool_] | None) -> NDArray[np.bool_]:
    if mask is None:
        return np.ones(len(points), dtype=bool)
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != (len(points),):
        raise ValueError("mask must be aligned to the points")
    return mask


def _check_k(k: int | None) -> None:
    if k is not None and (isinstance(k, bool) or int(k) != k or k < 1):
        raise ValueError(f"oracle k must be a positive integer, got {k!r}")


def knn(
    points: Points,
    lat: float,
    lng: float,
    k: int,
    *,
    radius_m: float | None = None,
    mask: NDArray[np.bool_] | None = None,
    dist: NDArray[np.float64] | None = None,
) -> Expected:
    """The ``k`` nearest points to ``(lat, lng)``; ``dist`` may pass precomputed distances."""
    _check_k(k)
    d = points.distances_from(lat, lng) if dist is None else dist
    ok = _mask_or_all(points, mask)
    if radius_m is None:
        exact = required = allowed = ok
    else:
        slack = slack_m(d)
        exact = ok & (d <= radius_m)
        required = ok & (d <= radius_m - slack)
        allowed = ok & (d < radius_m + slack)
    what = f"knn(lat={lat!r}, lng={lng!r}, k={k}, radius_m={radius_m!r}, masked={mask is not None})"
    return Expected(points, d, exact, required, allowed, k, what)


def within_radius(
    points: Points,
    lat: float,
    lng: float,
    radius_m: float,
    *,
    mask: NDArray[np.bool_] | None = None,
    limit: int | None = None,
    dist: NDArray[np.float64] | None = None,
) -> Expected:
    """Every point within ``radius_m`` (inclusive) of ``(lat, lng)``."""
    _check_k(limit)
    d = points.distances_from(lat, lng) if dist is None else dist
    ok = _mask_or_all(points, mask)
    what = f"within_radius(lat={lat!r}, lng={lng!r}, radius_m={radius_m!r}, limit={limit})"
    slack = slack_m(d)
    return Expected(
        points,
        d,
        ok & (d <= radius_m),
        ok & (d <= radius_m - slack),
        ok & (d < radius_m + slack),
        limit,
        what,
    )


def bbox_contains(
    lat: NDArray, lng: NDArray, south: float, west: float, north: float, east: float
) -> NDArray[np.bool_]:
    """Edges inclusive; ``west > east`` crosses the antimeridian."""
    lat_ok = (lat >= south) & (lat <= north)
    if west > east:
        return lat_ok & ((lng >= west) | (lng <= east))
    return lat_ok & (lng >= west) & (lng <= east)


def bbox_centre(south: float, west: float, north: float, east: float) -> tuple[float, float]:
    """Centre of a box, also for boxes across the antimeridian."""
    span = (east - west) % 360.0 if west > east else east - west
    lng = west + span / 2.0
    if lng > 180.0:
        lng -= 360.0
    return (south + north) / 2.0, lng


def within_bbox(
    points: Points,
    south: float,
    west: float,
    north: float,
    east: float,
    *,
    origin: tuple[float, float] | None = None,
    mask: NDArray[np.bool_] | None = None,
    limit: int | None = None,
) -> Expected:
    """Points inside the box, ordered by distance to ``origin`` (default: box centre)."""
    _check_k(limit)
    o = origin if origin is not None else bbox_centre(south, west, north, east)
    inside = bbox_contains(points.lat, points.lng, south, west, north, east)
    inside &= _mask_or_all(points, mask)
    what = (
        f"within_bbox(s={south!r}, w={west!r}, n={north!r}, e={east!r}, origin={o}, limit={limit})"
    )
    return Expected(points, points.distances_from(*o), inside, inside, inside, limit, what)


def within_polygon(
    points: Points,
    polygon: Any,
    *,
    origin: tuple[float, float],
    mask: NDArray[np.bool_] | None = None,
    limit: int | None = None,
) -> Expected:
    """Points in a shapely (Multi)Polygon, planar lng/lat, boundary included."""
    _check_k(limit)
    inside = np.asarray(shapely.intersects_xy(polygon, points.lng, points.lat), dtype=bool)
    inside &= _mask_or_all(points, mask)
    what = f"within_polygon({shapely.to_wkt(polygon, rounding_precision=6)[:200]}, origin={origin})"
    return Expected(points, points.distances_from(*origin), inside, inside, inside, limit, what)


def category_mask(
    categories: Sequence[str], include: Sequence[str] = (), exclude: Sequence[str] = ()
) -> NDArray[np.bool_]:
    """Prefix semantics at ``/``: ``food`` matches ``food`` and ``food/x``, not ``foodie``."""

    def under(cat: str, prefix: str) -> bool:
        return cat == prefix or cat.startswith(prefix + "/")

    return np.array(
        [
            (not include or any(under(c, p) for p in include))
            and not any(under(c, p) for p in exclude)
            for c in categories
        ],
        dtype=bool,
    )


def assert_matches(
    got_positions: Any, got_distances: Any, expected: Expected, *, tol: float = TOL_M
) -> None:
    """Raise ``AssertionError`` unless the answer is correct up to ``tol`` (see module doc)."""
    pos = np.asarray(got_positions)
    dist = np.asarray(got_distances, dtype=np.float64)
    pts = expected.points
    problems: list[str] = []

    def label(p: int) -> str:
        return f"{pts.ids[p]}@({pts.lat[p]!r}, {pts.lng[p]!r}) d={expected.dist[p]!r}"

    if pos.ndim != 1 or dist.shape != pos.shape:
        raise AssertionError(f"{expected.what}: shapes {pos.shape} and {dist.shape} differ")
    if len(pos) and not np.issubdtype(pos.dtype, np.integer):
        raise AssertionError(f"{expected.what}: positions have dtype {pos.dtype}")
    pos = pos.astype(np.int64)
    if len(pos) and (pos.min() < 0 or pos.max() >= len(pts)):
        raise AssertionError(f"{expected.what}: positions out of range: {pos.tolist()[:10]}")
    if len(np.unique(pos)) != len(pos):
        uniq, counts = np.unique(pos, return_counts=True)
        problems.append(f"duplicates: {[label(p) for p in uniq[counts > 1][:5]]}")
    if expected.k is not None and len(pos) > expected.k:
        problems.append(f"{len(pos)} results for k={expected.k}")

    not_allowed = pos[~expected.allowed[pos]]
    if len(not_allowed):
        problems.append(f"{len(not_allowed)} results do not qualify: "
                        f"{[label(p) for p in not_allowed[:5]]}")

    if not np.isfinite(dist).all():
        problems.append("non-finite distances")
    sp = slack_m(expected.dist[pos], tol)
    err = np.abs(dist - expected.dist[pos])
    if len(err) and not (err <= sp).all():
        i = int(np.argmax(err - sp))
        problems.append(
            f"distance off by {err[i]!r} m for {label(int(pos[i]))}: reported {dist[i]!r}"
        )

    if len(pos) > 1:
        # (reported distance, merchant_id) order: exact ties in id order.
        r = pts.rank[pos]
        ok = (dist[:-1] < dist[1:]) | ((dist[:-1] == dist[1:]) & (r[:-1] < r[1:]))
        if not ok.all():
            i = int(np.flatnonzero(~ok)[0])
            problems.append(
                f"not in (distance, merchant_id) order at {i}: {label(int(pos[i]))} "
                f"reported {dist[i]!r} before {label(int(pos[i + 1]))} reported {dist[i + 1]!r}"
            )
        # Against the oracle: an inversion only between near-ties.
        od = expected.dist[pos]
        run_max = np.maximum.accumulate(od)
        for j in (np.flatnonzero(od[1:] < run_max[:-1] - tol) + 1).tolist():
            worse = np.flatnonzero(od[:j] - od[j] > np.maximum(sp[:j], sp[j]))
            if len(worse):
                i = int(worse[0])
                problems.append(
                    f"order differs from the oracle beyond the tolerance: {label(int(pos[i]))} "
                    f"at {i} comes before {label(int(pos[j]))} at {j}"
                )
                break

    got = np.zeros(len(pts), dtype=bool)
    got[pos] = True
    missing = np.flatnonzero(expected.required & ~got)
    full = expected.k is not None and len(pos) >= expected.k
    if len(missing):
        if full and len(pos):
            worst = float(expected.dist[pos].max())
            dm = expected.dist[missing]
            missing = missing[dm < worst - slack_m(dm, tol)]
        if len(missing):
            missing = missing[np.lexsort((pts.rank[missing], expected.dist[missing]))]
            problems.append(
                f"{len(missing)} qualifying points missing, e.g. {[label(p) for p in missing[:5]]}"
            )

    if problems:
        want_pos, _ = expected.answer()
        raise AssertionError(
            f"{expected.what} differs from brute force ({len(pos)} results, oracle has "
            f"{len(want_pos)}):\n  " + "\n  ".join(problems)
            + f"\n  got ids: {[str(pts.ids[p]) for p in pos[:12]]}"
            + f"\n  want ids: {[str(pts.ids[p]) for p in want_pos[:12]]}"
        )


# ---------------------------------------------------------------- real data

# name -> (relative path, lat column, lng column); GeoJSON files hold points.
REAL_POINT_SETS: dict[str, tuple[str, str, str]] = {
    "nyc_food_stores": ("nyc/nyc_retail_food_stores.csv", "latitude", "longitude"),
    "nyc_dohmh_restaurants": (
        "nyc/nyc_restaurants_dohmh_mongodb_primer_subset.csv",
        "latitude",
        "longitude",
    ),
    "nyc_airbnb": ("nyc/nyc_airbnb_listings_2019.csv.gz", "latitude", "longitude"),
    "nyc_census_tracts": (
        "nyc/nyc_census2020_tract_population.csv",
        "centroid_lat",
        "centroid_lon",
    ),
    "nyc_subway_stations": ("nyc/landmarks_nyc_subway_stations.geojson", "", ""),
    "nyc_firehouses": ("nyc/landmarks_nyc_fdny_firehouses.geojson", "", ""),
    "utah_wof": ("cities/utah_wof_simplegeo_venues.csv.gz", "lat", "lon"),
    "nys_food_stores": ("cities/nys_retail_food_stores_statewide.csv.gz", "latitude", "longitude"),
    "airbnb_amsterdam": (
        "cities/airbnb_amsterdam_2023-12_listings_ratings.csv.gz",
        "latitude",
        "longitude",
    ),
    "airbnb_montreal": (
        "cities/airbnb_montreal_2023-12_listings_ratings.csv.gz",
        "latitude",
        "longitude",
    ),
    "airbnb_boston": (
        "cities/airbnb_boston_2021-12_listings_ratings.csv.gz",
        "latitude",
        "longitude",
    ),
    "airbnb_washington_dc": (
        "cities/airbnb_washington_dc_2015-10_listings_ratings.csv.gz",
        "latitude",
        "longitude",
    ),
    "helsinki_osm": ("fixtures/helsinki_center_osm_pois.csv", "lat", "lon"),
    "fsq_global": ("fixtures/fsq_os_places_global_sample.csv.gz", "latitude", "longitude"),
}


@cache
def read_real_points(root: Path, name: str) -> Points:
    """Valid coordinates of one real dataset, with shuffled unique ids.

    Rows with missing, unparseable or out-of-range coordinates are dropped; everything
    else (duplicates, junk-but-valid points far away) is kept on purpose. Ids are a
    seeded permutation, so merchant_id order differs from file order.
    """
    rel, lat_col, lng_col = REAL_POINT_SETS[name]
    path = Path(root) / rel
    if path.suffix == ".geojson":
        opener = gzip.open if path.name.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8") as fh:
            features = json.load(fh)["features"]
        coords = [f["geometry"]["coordinates"] for f in features if f.get("geometry")]
        lat = pd.to_numeric(pd.Series([c[1] for c in coords]), errors="coerce").to_numpy()
        lng = pd.to_numeric(pd.Series([c[0] for c in coords]), errors="coerce").to_numpy()
    else:
        frame = pd.read_csv(
            path,
            usecols=[lat_col, lng_col],
            dtype=str,
            encoding_errors="replace",
            low_memory=False,
        )
        lat = pd.to_numeric(frame[lat_col], errors="coerce").to_numpy(dtype=np.float64)
        lng = pd.to_numeric(frame[lng_col], errors="coerce").to_numpy(dtype=np.float64)
    ok = np.isfinite(lat) & np.isfinite(lng) & (np.abs(lat) <= 90) & (np.abs(lng) <= 180)
    lat, lng = lat[ok], lng[ok]
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    perm = rng.permutation(len(lat))
    ids = np.asarray([f"{name}:{p:07d}" for p in perm], dtype=object)
    return Points(lat, lng, ids)


# ---------------------------------------------------------------- random data

SCENARIOS = ("global", "north_pole", "south_pole", "antimeridian", "city", "duplicates")


def _wrap_lng(lng: NDArray) -> NDArray:
    out = (np.asarray(lng, dtype=np.float64) + 180.0) % 360.0 - 180.0
    return np.where(out == -180.0, np.where(np.asarray(lng) > 0, 180.0, -180.0), out)


def random_points(
    kind: str, n: int, rng: np.random.Generator, *, centre: tuple[float, float] | None = None,
    spread_deg: float = 0.05,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """``n`` random points of one scenario (see :data:`SCENARIOS`)."""
    if kind == "global":
        lat = np.degrees(np.arcsin(rng.uniform(-1.0, 1.0, n)))
        lng = rng.uniform(-180.0, 180.0, n)
    elif kind in ("north_pole", "south_pole"):
        off = rng.uniform(0.0, 0.5, n) * rng.uniform(0.0, 1.0, n) ** rng.integers(0, 3)
        lat = 90.0 - off if kind == "north_pole" else -90.0 + off
        lng = rng.uniform(-180.0, 180.0, n)
    elif kind == "antimeridian":
        c_lat = centre[0] if centre else 0.0
        lat = np.clip(c_lat + rng.normal(0.0, spread_deg, n), -90.0, 90.0)
        lng = _wrap_lng(180.0 + rng.normal(0.0, spread_deg, n))
    elif kind in ("city", "duplicates"):
        c_lat, c_lng = centre if centre else (0.0, 0.0)
        lat = np.clip(c_lat + rng.normal(0.0, spread_deg, n), -90.0, 90.0)
        lng = _wrap_lng(c_lng + rng.normal(0.0, spread_deg, n))
        if kind == "duplicates" and n:
            distinct = max(1, int(rng.integers(1, max(2, n // 3 + 1))))
            pick = rng.integers(0, distinct, n)
            lat, lng = lat[:distinct][pick], lng[:distinct][pick]
    else:  # pragma: no cover - a typo in a test
        raise ValueError(kind)
    return np.asarray(lat, dtype=np.float64), np.asarray(lng, dtype=np.float64)


def shuffled_ids(n: int, rng: np.random.Generator) -> NDArray[np.object_]:
    """Unique ids in random order whose string order differs from numeric order ("10" < "9")."""
    return np.asarray([f"{p}" for p in rng.permutation(n)], dtype=object)


def canonical_table(
    lat: Sequence[float] | NDArray,
    lng: Sequence[float] | NDArray,
    ids: Sequence[str] | NDArray,
    categories: Sequence[str] | NDArray,
    *,
    names: Sequence[str] | None = None,
) -> pa.Table:
    """A canonical merchant table: ``schema.empty_frame`` filled synthetically (no ingest)."""
    n = len(lat)
    frame = empty_frame().reindex(range(n))
    frame["merchant_id"] = [str(i) for i in ids]
    frame["name"] = list(names) if names is not None else [f"Shop {i}" for i in ids]
    frame["lat"] = np.asarray(lat, dtype=np.float64)
    frame["lng"] = np.asarray(lng, dtype=np.float64)
    frame["category"] = list(categories)
    frame["status"] = "open"
    frame["source"] = "test"
    frame["source_file"] = "synthetic.csv"
    frame["source_line"] = pd.array(range(2, n + 2), dtype="Int64")
    frame["attributes"] = [json.dumps({"row": i}) for i in range(n)]
    frame["price_level"] = pd.array([1 + i % 4 for i in range(n)], dtype="Int8")
    return to_arrow(frame)


def ray_cast_inside(ring: Any, x: float, y: float) -> bool:
    """Even-odd rule: is (x, y) strictly inside the closed ring of (x, y) vertices (a
    plain loop, no shapely: an oracle for polygon search)?"""
    inside = False
    for (x1, y1), (x2, y2) in itertools.pairwise(ring):
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside
