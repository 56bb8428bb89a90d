"""Coordinates: per-row checks, swaps found from the file itself, and whole-file causes.

Per row (:func:`check_coordinates`): range, null island (0, 0), a lat outside ±90 that
would be valid swapped, the expected bbox (and a swap into it). Without an expected
bbox, :func:`check_cluster_swaps` finds swaps from the file's own points: when most
points form a cluster, a point far outside it (more than ten times the median distance
of the points to their centre) whose swapped coordinates land among the others (as
close to one of them as the points usually are to each other) is a probable swap. A
file spread over the globe has no such cluster and gets no such check.

Whole file (:func:`coordinate_file_problem`): when at least half the rows hold
coordinates that are not degrees at all, the cause is the file, not its rows:
projected metres without a CRS (values beyond ±360: "pass --crs"), or lat and lng
columns exchanged (lats beyond ±90 that are valid lngs, in at least 3 rows). Points
mostly south of 60°S, where no town is, that swapped are not get a note
(:func:`swapped_columns_note`): Antarctic stations are real.
"""

from __future__ import annotations

import numpy as np

from ..models import BBox
from ..swaps import CLUSTER_MIN_POINTS, probable_swaps
from .validate import Problems, check_range, fmt_number, keep_mask

__all__ = [
    "check_cluster_swaps",
    "check_coordinates",
    "coordinate_file_problem",
    "degrees_given_as_projected",
    "reproject",
    "swapped_columns_note",
]

#: Coordinates beyond this (in either axis) are not degrees, bad or not: metres or feet.
PROJECTED_BEYOND = 360.0
#: Exchanged lat/lng columns are a whole-file cause from this many rows on.
SWAPPED_MIN_ROWS = 3
#: No town lies south of this latitude (Antarctica and the Southern Ocean; the southernmost,
#: Puerto Williams, is at 54.9°S): a file whose points mostly lie there had its columns
#: exchanged (New York's -74 read as a latitude), when swapped they lie north of it.
SOUTH_OF_TOWNS = -60.0
_WEB_MERCATOR_R = 6378137.0
_WEB_MERCATOR_MAX = 20037508.342789244


def _in_bbox(lat: np.ndarray, lng: np.ndarray, bbox: BBox) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        lat_ok = (lat >= bbox.south) & (lat <= bbox.north)
        if bbox.crosses_antimeridian:
            lng_ok = (lng >= bbox.west) | (lng <= bbox.east)
        else:
            lng_ok = (lng >= bbox.west) & (lng <= bbox.east)
    return np.asarray(lat_ok & lng_ok, dtype=bool)


def check_coordinates(
    lat: np.ndarray,
    lng: np.ndarray,
    problems: Problems,
    bbox: BBox | None = None,
    *,
    skip: np.ndarray | None = None,
) -> None:
    """Range, null island, probable swap and expected-bbox checks on parsed coordinates.

    Rows with a NaN coordinate were reported by the parser and are not checked again.

    Examples
    --------
    >>> p = Problems(2)
    >>> check_coordinates(np.array([-173.98, 0.0]), np.array([40.75, 0.0]), p)
    >>> p.reasons().tolist()  # doctest: +NORMALIZE_WHITESPACE
    ['lat -173.98 is out of range; allowed -90 <= lat <= 90; probable lat/lng swap:
      (lat=40.75, lng=-173.98) would be valid', 'null island: lat=0, lng=0']
    """
    keep = keep_mask(skip, len(lat)) & np.isfinite(lat) & np.isfinite(lng)
    with np.errstate(invalid="ignore"):
        lat_ok = (lat >= -90) & (lat <= 90)
        lng_ok = (lng >= -180) & (lng <= 180)
        swap_ok = (lng >= -90) & (lng <= 90) & (lat >= -180) & (lat <= 180)
    check_range(lat, "lat", problems, -90, 90, skip=~keep)
    check_range(lng, "lng", problems, -180, 180, skip=~keep)
    valid = keep & lat_ok & lng_ok

    def swap_message(idx: np.ndarray) -> list[str]:
        return [
            f"probable lat/lng swap: (lat={fmt_number(lng[i])}, lng={fmt_number(lat[i])}) "
            "would be valid"
            for i in idx
        ]

    if valid.sum() >= CLUSTER_MIN_POINTS:  # a swap lands among the file's other points
        lo_lat, hi_lat = lat[valid].min() - 1.0, lat[valid].max() + 1.0
        lo_lng, hi_lng = lng[valid].min() - 1.0, lng[valid].max() + 1.0
        with np.errstate(invalid="ignore"):
            swap_ok &= (lng >= lo_lat) & (lng <= hi_lat) & (lat >= lo_lng) & (lat <= hi_lng)
    problems.add(keep & ~lat_ok & swap_ok, swap_message)
    problems.add(valid & (lat == 0) & (lng == 0), "null island: lat=0, lng=0")
    if bbox is None:
        return
    outside = valid & ~_in_bbox(lat, lng, bbox)
    box = f"south={bbox.south:g}, west={bbox.west:g}, north={bbox.north:g}, east={bbox.east:g}"
    problems.add(
        outside,
        lambda idx: [
            f"outside expected bbox {box}: lat={fmt_number(lat[i])}, lng={fmt_number(lng[i])}"
            for i in idx
        ],
    )
    swapped_inside = outside & _in_bbox(lng, lat, bbox)

    def inside_message(idx: np.ndarray) -> list[str]:
        return [
            f"probable lat/lng swap: (lat={fmt_number(lng[i])}, lng={fmt_number(lat[i])}) is "
            "inside the expected bbox"
            for i in idx
        ]

    problems.add(swapped_inside, inside_message)
    moved = int(swapped_inside.sum())
    if moved >= 3 and moved * 2 >= int(valid.sum()):  # most rows: the box is the swapped one
        problems.note(  # the data cannot tell which of the two is swapped: say both
            f"{moved:,} of {int(valid.sum()):,} rows lie outside the expected bbox but inside "
            f"it with lat and lng swapped: either the bbox is written in (lat, lng) order "
            f"(south,west,north,east), and in west,south,east,north order it is {bbox.south:g},"
            f"{bbox.west:g},{bbox.north:g},{bbox.east:g}; or the file's lat and lng columns are "
            "swapped (check which column holds which)"
        )




def check_cluster_swaps(
    lat: np.ndarray, lng: np.ndarray, problems: Problems, *, skip: np.ndarray | None = None
) -> np.ndarray:
    """Reject probable lat/lng swaps found from the file's own cluster of points.

    :func:`geo_discovery.swaps.probable_swaps`: a point far outside the file's cluster
    whose swapped coordinates land among the other points. Returns the mask of rows
    flagged.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> lat = 40.7 + rng.normal(0, 0.05, 50)
    >>> lng = -73.9 + rng.normal(0, 0.05, 50)
    >>> lat[3], lng[3] = lng[3], lat[3]  # one row swapped: it lands in Antarctica
    >>> p = Problems(50)
    >>> np.flatnonzero(check_cluster_swaps(lat, lng, p)).tolist()
    [3]
    >>> p.reasons()[3].split(":")[0]
    'probable lat/lng swap'
    """
    flagged, dist, landing_m = probable_swaps(lat, lng, keep_mask(skip, len(lat)))

    def message(rows: np.ndarray) -> list[str]:
        return [
            f"probable lat/lng swap: (lat={fmt_number(lat[i])}, lng={fmt_number(lng[i])}) is "
            f"{dist[i] / 1000:,.0f} km from the file's other points; swapped, "
            f"(lat={fmt_number(lng[i])}, lng={fmt_number(lat[i])}) lands among them (within "
            f"{landing_m:,.0f} m of one)"
            for i in rows
        ]

    problems.add(flagged, message)
    return flagged


def coordinate_file_problem(
    lat: np.ndarray, lng: np.ndarray, *, geometry: bool = False
) -> str | None:
    """Why a whole file's coordinates are not WGS84 degrees, or ``None`` when they are.

    Examples
    --------
    >>> coordinate_file_problem(np.array([4970241.3]), np.array([-8238310.2]))[:56]
    'coordinates look like projected metres, not degrees: x=-'
    >>> coordinate_file_problem(np.array([120.5, 121.0, 119.9]), np.array([31.2, 30.9, 31.0]))[:40]
    'the lat and lng columns look swapped: 3 '
    >>> coordinate_file_problem(np.array([40.7]), np.array([-73.9])) is None
    True

    >>> coordinate_file_problem(np.array([999.0, 999.0]), np.array([24.9, 24.95])) is None
    True
    """
    both = np.isfinite(lat) & np.isfinite(lng)
    total = int(both.sum())
    if not total:
        return None
    with np.errstate(invalid="ignore"):
        off = both & ((np.abs(lat) > 90) | (np.abs(lng) > 180))
        far = both & ((np.abs(lat) > PROJECTED_BEYOND) | (np.abs(lng) > PROJECTED_BEYOND))
    swap_ok = off & (np.abs(lng) <= 90) & (np.abs(lat) <= 180)
    if swap_ok.sum() >= SWAPPED_MIN_ROWS and swap_ok.sum() * 2 >= total:
        i = int(np.flatnonzero(swap_ok)[0])
        return (
            f"the lat and lng columns look swapped: {int(swap_ok.sum())} of {total} rows have a "
            f"lat outside ±90 that is valid as a lng (e.g. lat={fmt_number(lat[i])}, "
            f"lng={fmt_number(lng[i])}); check which column holds which (a mapping file, or "
            "the column names)"
        )
    if far.sum() * 2 < total:
        return None
    with np.errstate(invalid="ignore"):  # projected: both numbers far past degrees
        both_far = far & (np.abs(lat) > 180) & (np.abs(lng) > 180)
    if both_far.sum() * 2 < far.sum():  # one column in degrees, the other broken (lat=999):
        return None  # its rows are rejected one by one, naming the value out of range
    i = int(np.flatnonzero(far)[0])
    x, y = float(lng[i]), float(lat[i])
    for power in (6, 7):  # integer micro- or 1e-7 degrees (GPS logs, some APIs)
        s_lat, s_lng = lat[far] / 10**power, lng[far] / 10**power
        web_mercator = (np.abs(lat[far]) <= _WEB_MERCATOR_MAX).all() and (
            np.abs(lng[far]) <= _WEB_MERCATOR_MAX).all()
        if not web_mercator and (np.abs(s_lat) <= 90).all() and (np.abs(s_lng) <= 180).all():
            return (
                f"coordinates look like degrees times 10^{power}, not degrees: lat="
                f"{fmt_number(y)}, lng={fmt_number(x)} would be lat={y / 10**power:.6f}, "
                f"lng={x / 10**power:.6f}; divide them by {10**power:,} before loading"
            )
    message = (
        f"coordinates look like projected metres, not degrees: x={fmt_number(x)}, "
        f"y={fmt_number(y)} ({int(far.sum())} of {total} rows are far outside ±90/±180), and "
        + ("the file's geometries are in degrees by its CRS (it names WGS84, or no CRS): "
           "the CRS it names is wrong or missing" if geometry else
           "the file does not say which coordinate reference system they are in")
    )
    if abs(x) <= _WEB_MERCATOR_MAX and abs(y) <= _WEB_MERCATOR_MAX:
        g_lng = np.degrees(x / _WEB_MERCATOR_R)
        g_lat = np.degrees(2 * np.arctan(np.exp(y / _WEB_MERCATOR_R)) - np.pi / 2)
        message += (
            f"; they look like EPSG:3857 (Web Mercator) metres, which would put this point at "
            f"lat={g_lat:.5f}, lng={g_lng:.5f}"
        )
    return message + "; pass --crs with the file's CRS (e.g. --crs EPSG:3857)"


def swapped_columns_note(lat: np.ndarray, lng: np.ndarray) -> str | None:
    """A note when most points lie south of 60°S, where no town is, and would not with
    lat and lng exchanged: a New York file with its columns swapped (every longitude of
    New York is a valid latitude) loaded into the Southern Ocean without a word. A note,
    not a refusal: Antarctic stations are real (Neumayer at 70.7°S, 8.3°W).

    >>> swapped_columns_note(np.array([-73.99, -73.98, -74.0]), np.array([40.75, 40.76, 40.7]))[:54]
    'most points (3 of 3) lie south of 60°S, where no town '
    >>> swapped_columns_note(np.array([40.75, 40.76, 40.7]), np.array([-73.99, -73.98, -74.0]))
    """
    both = np.isfinite(lat) & np.isfinite(lng)
    with np.errstate(invalid="ignore"):
        south = both & (lat < SOUTH_OF_TOWNS) & (lng >= SOUTH_OF_TOWNS) & (lng <= 90)
    if south.sum() < SWAPPED_MIN_ROWS or south.sum() * 2 < both.sum():
        return None
    i = int(np.flatnonzero(south)[0])
    return (
        f"most points ({int(south.sum())} of {int(both.sum())}) lie south of 60°S, where no "
        f"town is, and would not with lat and lng swapped (e.g. lat={fmt_number(lat[i])}, "
        f"lng={fmt_number(lng[i])}): check which column holds which (a mapping file, or the "
        "column names); Antarctic stations are where they belong"
    )


def degrees_given_as_projected(lat: np.ndarray, lng: np.ndarray, crs: str) -> str | None:
    """Why a file's coordinates are not in ``crs``, when it is projected (metres, feet)
    and every coordinate is within ±90/±180: degrees already (reprojected they would all
    land within metres of the CRS's origin); ``None`` otherwise.

    >>> why = degrees_given_as_projected(np.array([45.5]), np.array([-73.6]), "EPSG:3857")
    >>> why.startswith("--crs EPSG:3857 is a projected CRS (metre), but every coordinate")
    True
    >>> degrees_given_as_projected(np.array([5e6]), np.array([-8e6]), "EPSG:3857") is None
    True
    """
    from pyproj import CRS

    ok = np.isfinite(lat) & np.isfinite(lng)
    given = CRS.from_user_input(crs)
    if not ok.any() or not given.is_projected:
        return None
    if (np.abs(lat[ok]) > 90).any() or (np.abs(lng[ok]) > 180).any():
        return None
    i = int(np.flatnonzero(ok)[0])
    unit = given.axis_info[0].unit_name
    return (
        f"--crs {crs} is a projected CRS ({unit}), but every coordinate is within ±90/±180 "
        f"(e.g. lat={fmt_number(lat[i])}, lng={fmt_number(lng[i])}): they look like WGS84 "
        "degrees already, which this CRS would put within metres of its origin; load without "
        "--crs"
    )


def reproject(lat: np.ndarray, lng: np.ndarray, crs: str) -> tuple[np.ndarray, np.ndarray]:
    """``(lat, lng)`` in WGS84 degrees from y/x values in ``crs``.

    Examples
    --------
    >>> lat, lng = reproject(np.array([4970241.3]), np.array([-8238310.2]), "EPSG:3857")
    >>> round(float(lat[0]), 4), round(float(lng[0]), 4)
    (40.714, -74.006)
    """
    from pyproj import Transformer

    transformer = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    ok = np.isfinite(lat) & np.isfinite(lng)
    out_lat = np.full(len(lat), np.nan)
    out_lng = np.full(len(lng), np.nan)
    if ok.any():
        x, y = transformer.transform(lng[ok], lat[ok])
        out_lng[ok], out_lat[ok] = x, y
    return out_lat, out_lng
