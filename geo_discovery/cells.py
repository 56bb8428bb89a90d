"""The only module that imports h3.

Cells are ``uint64`` integers inside the library (``h3.api.numpy_int``) and hex strings
only at the edges (:func:`cell_to_str`, :func:`str_to_cell`).

Two facts the index relies on:

* At a fixed resolution, the descendants of a coarser cell form one contiguous range of
  integers (:func:`child_range`): the H3 bit layout stores the resolution, the base cell
  and then one 3-bit digit per level, coarse to fine. So an array of fine cells sorted as
  integers answers "every point under this parent" with two binary searches.
* :func:`cell_caps` gives, per cell, its centre and a radius that no point of the cell
  exceeds: the largest centre-to-vertex distance (cell edges are great-circle arcs, and
  along an arc shorter than a half circle the distance from a point is largest at an
  endpoint), plus a safety margin for floating point.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import h3.api.memview_int as h3_mv
import h3.api.numpy_int as h3
import numpy as np
from h3 import H3BaseException
from numpy.typing import NDArray

from . import parallel
from .distance import EARTH_RADIUS_M, latlng_to_xyz, wrap_lng

__all__ = [
    "average_edge_length_m",
    "cell_boundaries_lnglat",
    "cell_caps",
    "cell_centres",
    "cell_to_boundary_lnglat",
    "cell_to_str",
    "child_range",
    "choose_resolution",
    "grid_disk",
    "grid_disks",
    "grid_ring",
    "grid_rings",
    "group_mean_lng",
    "latlng_to_cell",
    "latlngs_to_cells",
    "parent_cells",
    "rings_or_disks",
    "str_to_cell",
]

MAX_RES = 15
_RES_SHIFT = 52
_RES_MASK = np.uint64(0xF) << np.uint64(_RES_SHIFT)
# Margin for points sitting a hair outside the polygon h3 draws for their cell.
_CAP_MARGIN_M = 0.05
_CAP_MARGIN_REL = 1e-6


def latlng_to_cell(lat: float, lng: float, res: int) -> int:
    """The cell containing one point."""
    return int(h3.latlng_to_cell(lat, lng, res))


def latlngs_to_cells(lat: NDArray, lng: NDArray, res: int) -> NDArray[np.uint64]:
    """Cells of many points, as ``uint64`` (a chunk at a time, :func:`_chunks`)."""
    lat, lng = np.asarray(lat), np.asarray(lng)
    parts = list(_chunks(_cells_chunk, len(lat), lambda lo, hi: (lat[lo:hi], lng[lo:hi], res)))
    return np.concatenate(parts) if len(parts) > 1 else parts[0]


def _cells_chunk(lat: NDArray, lng: NDArray, res: int) -> NDArray[np.uint64]:
    f = h3.latlng_to_cell
    return np.fromiter(
        (f(a, b, res) for a, b in zip(lat.tolist(), lng.tolist(), strict=True)),
        dtype=np.uint64,
        count=len(lat),
    )


#: Cells (or points) per chunk of the batch functions below; what one cluster task gets.
CHUNK = 1 << 15


def _chunks(
    fn: Callable[..., Any], n: int, args: Callable[[int, int], tuple[Any, ...]],
    step: int = CHUNK, *, at_least_one: bool = True,
) -> Iterator[Any]:
    """:func:`geo_discovery.parallel.chunks`: a load's derive step runs them on its
    cluster."""
    return parallel.chunks(fn, n, args, step, at_least_one=at_least_one)


def grid_disk(cell: int, k: int) -> NDArray[np.uint64]:
    """All cells within grid distance ``k`` (pentagon-safe)."""
    return np.asarray(h3.grid_disk(cell, k), dtype=np.uint64)


def grid_ring(cell: int, k: int) -> NDArray[np.uint64]:
    """Cells at grid distance exactly ``k``; an empty array when there are none.

    Falls back to a difference of disks if h3 reports a pentagon distortion.
    """
    try:
        return np.asarray(h3.grid_ring(cell, k), dtype=np.uint64)
    except H3BaseException:  # pragma: no cover - h3 >= 4.2 handles pentagons itself
        inner = grid_disk(cell, k - 1) if k > 0 else np.empty(0, dtype=np.uint64)
        return np.setdiff1d(grid_disk(cell, k), inner)


def grid_disks(cells: NDArray[np.uint64], k: int) -> tuple[NDArray[np.uint64], NDArray[np.int64]]:
    """Every cell's ``k``-disk (as :func:`grid_disk`, in h3's order), concatenated in the
    order of ``cells``, and the size of each disk.

    One h3 call per cell without a NumPy array per cell: the calls return memory views
    that are joined once (several times faster than concatenating ``grid_disk`` arrays).

    Examples
    --------
    >>> c = latlng_to_cell(40.75, -73.98, 9)
    >>> flat, sizes = grid_disks(np.array([c, c], np.uint64), 1)
    >>> sizes.tolist(), bool((flat[:7] == grid_disk(c, 1)).all())
    ([7, 7], True)
    """
    return _each("disk", cells, k)


def grid_rings(cells: NDArray[np.uint64], k: int) -> tuple[NDArray[np.uint64], NDArray[np.int64]]:
    """Every cell's ring at distance ``k`` (as :func:`grid_ring`), concatenated in the
    order of ``cells``, and the size of each ring (5 around a pentagon at ``k = 1``)."""
    return _each("ring", cells, k)


def _each(kind: str, cells: NDArray[np.uint64], k: int) -> tuple[NDArray, NDArray]:
    cells = np.asarray(cells, dtype=np.uint64)
    return _joined(_chunks(rings_or_disks, len(cells), lambda lo, hi: (kind, cells[lo:hi], k),
                           at_least_one=False))


def _ring_or_difference(c: int, k: int) -> Any:
    try:
        return h3_mv.grid_ring(c, k)
    except H3BaseException:  # pragma: no cover - h3 >= 4.2 handles pentagons itself
        return grid_ring(c, k)


def rings_or_disks(
    kind: str, cells: NDArray[np.uint64], k: int
) -> tuple[NDArray[np.uint64], NDArray[np.int64]]:
    """Every cell's ``k``-disk (``kind="disk"``) or ring (``"ring"``), joined, and each
    one's size: one h3 call per cell, no NumPy array per cell (the calls return memory
    views, joined once). The chunk step of :func:`grid_disks` and :func:`grid_rings`."""
    if kind == "disk":
        disk = h3_mv.grid_disk
        views = [disk(c, k) for c in cells.tolist()]
    else:
        ring = h3_mv.grid_ring
        try:
            views = [ring(c, k) for c in cells.tolist()]
        except H3BaseException:  # pragma: no cover - h3 >= 4.2 handles pentagons itself
            views = [_ring_or_difference(c, k) for c in cells.tolist()]
    sizes = np.fromiter(map(len, views), dtype=np.int64, count=len(views))
    flat = np.frombuffer(b"".join(views), dtype=np.uint64).copy()
    return flat, sizes


def _joined(
    parts: Iterable[tuple[NDArray[np.uint64], NDArray[np.int64]]],
) -> tuple[NDArray[np.uint64], NDArray[np.int64]]:
    done = list(parts)
    if not done:
        return np.empty(0, np.uint64), np.empty(0, np.int64)
    return np.concatenate([f for f, _ in done]), np.concatenate([s for _, s in done])


def cell_centres(cells: NDArray[np.uint64]) -> NDArray[np.float64]:
    """Cell centres as unit vectors ``(n, 3)``: the same values as :func:`cell_caps`'s
    centres, without computing the radii (no cell boundary is needed)."""
    arr = np.asarray(cells, dtype=np.uint64)
    return np.concatenate(list(_chunks(_centres_chunk, len(arr), lambda lo, hi: (arr[lo:hi],))))


def _centres_chunk(cells: NDArray[np.uint64]) -> NDArray[np.float64]:
    f = h3.cell_to_latlng
    ll = np.array([f(c) for c in cells.tolist()], dtype=np.float64)
    return latlng_to_xyz(ll[:, 0], ll[:, 1]) if len(ll) else np.empty((0, 3), dtype=np.float64)


def child_range(cell: int, res: int) -> tuple[int, int]:
    """Inclusive integer range holding every descendant of ``cell`` at ``res``.

    Examples
    --------
    >>> import h3.api.numpy_int as h
    >>> c = h.latlng_to_cell(40.7, -74.0, 7)
    >>> lo, hi = child_range(c, 9)
    >>> all(lo <= int(x) <= hi for x in h.cell_to_children(c, 9))
    True
    """
    parent_res = (cell >> _RES_SHIFT) & 0xF
    if res < parent_res:
        raise ValueError(f"res={res} is coarser than the cell's resolution {parent_res}")
    base = (cell & ~(0xF << _RES_SHIFT)) | (res << _RES_SHIFT)
    lo = base
    hi = base
    for level in range(parent_res + 1, res + 1):
        shift = 3 * (MAX_RES - level)
        lo &= ~(0x7 << shift)  # digit 0
        hi = (hi & ~(0x7 << shift)) | (0x6 << shift)  # digit 6
    return lo, hi


def parent_cells(cells: NDArray[np.uint64], res_from: int, res_to: int) -> NDArray[np.uint64]:
    """H3 parents at ``res_to`` of cells at ``res_from``, by bit arithmetic.

    Sets the resolution field (bits 52–55) and fills the finer digits with 7 (unused), as
    ``h3.cell_to_parent`` does. Order-preserving: sorted cells give sorted parents, and
    each parent's children are contiguous.

    Examples
    --------
    >>> import h3.api.numpy_int as h
    >>> c = h.latlng_to_cell(40.7, -74.0, 9)
    >>> int(parent_cells(np.array([c], np.uint64), 9, 5)[0]) == int(h.cell_to_parent(c, 5))
    True
    """
    if not 0 <= res_to <= res_from <= MAX_RES:
        raise ValueError(f"need 0 <= res_to <= res_from <= 15, got {res_to}, {res_from}")
    out = np.asarray(cells, dtype=np.uint64).copy()
    out &= ~_RES_MASK
    out |= np.uint64(res_to) << np.uint64(_RES_SHIFT)
    fill = 0
    for level in range(res_to + 1, res_from + 1):
        fill |= 0x7 << (3 * (MAX_RES - level))
    out |= np.uint64(fill)
    return out


_cap_cache: dict[int, tuple[float, float, float, float]] = {}


def cell_caps(cells: NDArray[np.uint64]) -> tuple[NDArray, NDArray]:
    """Centres (unit vectors, ``(n, 3)``) and bounding radii in metres of ``cells``.

    Every point that h3 assigns to a cell lies within the radius of its centre.
    Results are cached per cell.
    """
    n = len(cells)
    out = np.empty((n, 4), dtype=np.float64)
    cache = _cap_cache
    for i, c in enumerate(cells.tolist()):
        cap = cache.get(c)
        if cap is None:
            cap = _compute_cap(c)
            if len(cache) > 2_000_000:
                cache.clear()
            cache[c] = cap
        out[i] = cap
    return out[:, :3], out[:, 3]


def _compute_cap(cell: int) -> tuple[float, float, float, float]:
    clat, clng = h3.cell_to_latlng(cell)
    centre = latlng_to_xyz(clat, clng)
    verts = np.asarray(h3.cell_to_boundary(cell), dtype=np.float64)
    vxyz = latlng_to_xyz(verts[:, 0], verts[:, 1])
    chord = np.sqrt(((vxyz - centre) ** 2).sum(axis=1)).max()
    radius = 2.0 * EARTH_RADIUS_M * math.asin(min(chord / 2.0, 1.0))
    radius = radius * (1.0 + _CAP_MARGIN_REL) + _CAP_MARGIN_M
    return float(centre[0]), float(centre[1]), float(centre[2]), radius


def average_edge_length_m(res: int) -> float:
    """h3's average hexagon edge length at ``res``, in metres."""
    return float(h3.average_hexagon_edge_length(res, unit="m"))


def choose_resolution(
    lat: NDArray,
    lng: NDArray,
    target_per_cell: float,
    *,
    sorted_fine: NDArray[np.uint64] | None = None,
) -> int:
    """Finest resolution (3 to 13) whose occupied cells hold ``target_per_cell`` points on
    average, counted exactly over every point.

    ``sorted_fine``: the points' resolution-15 cells, sorted (a caller that has them saves
    computing them). Parents of sorted cells are sorted, so each resolution's occupied cells
    are counted in one linear pass. (A sample cannot do this: at 10M points clustered around
    a few hundred thousand places, a 50,000-point sample saw nearly one point per cell at
    every fine resolution, and the scaled estimate picked resolution 13 with 1.9 points per
    cell, so the cell table outweighed the points.)

    Examples
    --------
    >>> lat = 40.7 + np.arange(400) * 1e-5
    >>> choose_resolution(lat, np.full(400, -74.0), 8.0)  # 400 points on 440 m of street
    12
    >>> choose_resolution(np.empty(0), np.empty(0), 8.0)
    9
    """
    n = len(lat)
    if n == 0:
        return 9
    if sorted_fine is None:
        sorted_fine = np.sort(latlngs_to_cells(lat, lng, MAX_RES))
    best = 3
    for res in range(3, 14):
        parents = parent_cells(sorted_fine, MAX_RES, res)
        occupied = 1 + int(np.count_nonzero(parents[1:] != parents[:-1]))
        if n / occupied >= target_per_cell:
            best = res
        else:
            break
    return best


def cell_to_str(cell: int) -> str:
    """Hex string form of a cell, for APIs and files."""
    return str(h3.int_to_str(int(cell)))


def str_to_cell(text: str) -> int:
    """Integer form of a hex cell string; raises ``ValueError`` if it is not a valid cell."""
    try:
        cell = int(h3.str_to_int(text))
    except Exception as exc:  # h3 raises its own ValueError subclasses and TypeError
        raise ValueError(f"{text!r} is not an H3 cell") from exc
    if not h3.is_valid_cell(cell):
        raise ValueError(f"{text!r} is not an H3 cell")
    return cell


def cell_to_boundary_lnglat(cell: int) -> list[tuple[float, float]]:
    """Closed boundary ring as GeoJSON ``(lng, lat)`` pairs."""
    ring = [(lng, lat) for lat, lng in h3.cell_to_boundary(cell)]
    return [*ring, ring[0]]


def cell_boundaries_lnglat(
    cells: NDArray[np.uint64],
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Boundaries of many cells as one ``(n, m, 2)`` array of ``(lng, lat)`` vertices (the
    ring of :func:`cell_to_boundary_lnglat` without its closing vertex; rows shorter than
    ``m``, pentagons and distorted cells, are padded with NaN) and each ring's size."""
    arr = np.asarray(cells, dtype=np.uint64)
    parts = list(_chunks(_boundaries_chunk, len(arr), lambda lo, hi: (arr[lo:hi],)))
    sizes = np.concatenate([p[1] for p in parts])
    width = int(sizes.max()) if len(arr) else 0
    out = np.full((len(arr), width, 2), np.nan)
    lo = 0
    for ring, part in parts:
        out[lo : lo + len(part), : ring.shape[1]] = ring[:, :width]
        lo += len(part)
    return out, sizes


def _boundaries_chunk(cells: NDArray[np.uint64]) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """One chunk of :func:`cell_boundaries_lnglat` (h3's tuples cost ~700 B per cell:
    they live a chunk at a time)."""
    f = h3.cell_to_boundary
    out = np.full((len(cells), 10, 2), np.nan)  # an H3 cell has at most 10 vertices
    rings = [f(c) for c in cells.tolist()]
    sizes = np.fromiter((len(r) for r in rings), dtype=np.int64, count=len(rings))
    for size in np.unique(sizes).tolist():
        sel = np.nonzero(sizes == size)[0]
        ll = np.asarray([rings[i] for i in sel.tolist()], dtype=np.float64)
        out[sel, :size] = ll[..., ::-1]
    return out[:, : int(sizes.max()) if len(cells) else 0], sizes


def group_mean_lng(lng: NDArray[np.float64], group: NDArray[np.integer], n: int) -> NDArray:
    """Per group (``group``: each longitude's group, 0 … n-1) the mean longitude the short
    way round, as :func:`~geo_discovery.distance.mean_lng` (each within 180° of its group's
    first): a bin of points at 179.99 and -179.99 is at ±180, not 0. NaN for an empty group.

    >>> group_mean_lng(np.array([179.0, -177.0, 10.0, 20.0]), np.array([0, 0, 1, 1]), 2)
    array([-179.,   15.])
    """
    lng = np.asarray(lng, dtype=np.float64)
    group = np.asarray(group, dtype=np.int64)
    ref = np.full(n, np.nan)
    ref[group[::-1]] = lng[::-1]  # the last write of each group is its first longitude
    counts = np.bincount(group, minlength=n)
    shift = np.bincount(group, weights=wrap_lng(lng - ref[group]), minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = ref + shift / counts
    return np.where(mean >= 180.0, mean - 360.0, np.where(mean < -180.0, mean + 360.0, mean))

