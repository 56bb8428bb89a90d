"""Web-mercator XYZ tiles: ids, bounds, tile-local coordinates and H3 bins per zoom.

The tile grid is the one every web map uses (EPSG:3857, "slippy map" XYZ, y from the
north): at zoom ``z`` there are ``2**z × 2**z`` tiles; tile ``(x, y)`` spans longitudes
``[-180 + 360·x/2**z, -180 + 360·(x+1)/2**z]`` and the latitudes whose mercator ``y``
falls in ``[y, y+1]``. Web mercator stops at ±:data:`MAX_LAT` (85.0511°): merchants
nearer the poles are on no tile. Columns ``x = 0`` and ``x = 2**z - 1`` meet at the
antimeridian; a tile never crosses it.

A tile's *bounds* are closed (edges included), the rule of every box search here: a
merchant exactly on an edge shared by two tiles is drawn by both. Points are stored at
tile units ``0 … EXTENT - 1`` (:meth:`TileId.to_pixels`): one on (or within half a unit
of) the east or south edge sits one unit inside it, where map renderers draw it.

Examples
--------
>>> t = TileId(1, 0, 0)
>>> t.bbox.west, t.bbox.east, t.bbox.south, round(t.bbox.north, 4)
(-180.0, 0.0, 0.0, 85.0511)
>>> TileId(2, 4, 0)
Traceback (most recent call last):
...
geo_discovery.errors.InvalidQueryError: x=4 is out of range for z=2; allowed: 0 <= x <= 3
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..cells import average_edge_length_m
from ..errors import InvalidQueryError
from ..models import BBox

__all__ = [
    "BIN_EDGE_TILE_FRACTION",
    "EXTENT",
    "MAX_LAT",
    "MAX_ZOOM",
    "TileId",
    "resolution_for_zoom",
]

#: The largest latitude web mercator shows: ``atan(sinh(π))`` in degrees.
MAX_LAT = math.degrees(math.atan(math.sinh(math.pi)))
#: The deepest zoom a tile may be asked for (MapLibre's own limit is 24).
MAX_ZOOM = 24
#: Tile-local integer coordinates run 0 … EXTENT across a tile (MVT's usual 4096).
EXTENT = 4096
#: H3 bins are sized so their average edge is about this share of a tile's width
#: (1/32: 16 px on a 512-px tile, 8 px on a 256-px one), see :func:`resolution_for_zoom`.
BIN_EDGE_TILE_FRACTION = 1 / 32
_EQUATOR_M = 40_075_016.685578488  # 2π × 6,378,137 m, the web-mercator sphere


def _integer(problems: list[dict[str, Any]], name: str, value: Any) -> int | None:
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        problems.append(
            {
                "parameter": name,
                "value": repr(value),
                "message": f"{name}={value!r} is not an integer",
            }
        )
        return None
    return int(value)


@dataclass(frozen=True, slots=True)
class TileId:
    """One tile ``z/x/y`` of the web-mercator grid, validated (every problem at once).

    Parameters
    ----------
    z
        Zoom, 0 … :data:`MAX_ZOOM`.
    x, y
        Column (from the antimeridian, eastwards) and row (from the north), each
        0 … ``2**z - 1``.

    Examples
    --------
    >>> TileId(14, 4824, 6157).bbox.crosses_antimeridian
    False
    >>> TileId(-1, 0, 0)
    Traceback (most recent call last):
    ...
    geo_discovery.errors.InvalidQueryError: z=-1 is out of range; allowed: 0 <= z <= 24
    """

    z: int
    x: int
    y: int

    def __post_init__(self) -> None:
        problems: list[dict[str, Any]] = []
        z = _integer(problems, "z", self.z)
        x = _integer(problems, "x", self.x)
        y = _integer(problems, "y", self.y)
        if z is not None and not 0 <= z <= MAX_ZOOM:
            problems.append(
                {
                    "parameter": "z",
                    "value": z,
                    "message": f"z={z} is out of range; allowed: 0 <= z <= {MAX_ZOOM}",
                }
            )
            z = None
        for name, v in (("x", x), ("y", y)):
            if v is None or z is None:
                continue
            if not 0 <= v < 2**z:
                problems.append(
                    {
                        "parameter": name,
                        "value": v,
                        "message": f"{name}={v} is out of range for z={z}; "
                        f"allowed: 0 <= {name} <= {2**z - 1}",
                    }
                )
        if problems:
            raise InvalidQueryError("; ".join(p["message"] for p in problems), problems)
        object.__setattr__(self, "z", z)
        object.__setattr__(self, "x", x)
        object.__setattr__(self, "y", y)

    def __str__(self) -> str:
        return f"{self.z}/{self.x}/{self.y}"

    @property
    def bbox(self) -> BBox:
        """The tile's bounds in degrees (edges included)."""
        return self.buffered_bbox(0)

    def buffered_bbox(self, buffer: int) -> BBox:
        """The bounds grown by ``buffer`` tile units (of :data:`EXTENT`) on every side,
        clamped to the map (±180°, ±:data:`MAX_LAT`; the buffer never wraps)."""
        n = 2**self.z
        pad = buffer / EXTENT
        west = max(-180.0, (self.x - pad) / n * 360.0 - 180.0)
        east = min(180.0, (self.x + 1 + pad) / n * 360.0 - 180.0)
        north = _lat_of_row(max(0.0, self.y - pad), n)
        south = _lat_of_row(min(float(n), self.y + 1 + pad), n)
        return BBox(south=south, west=west, north=north, east=east)

    def project(
        self, lat: NDArray[np.float64], lng: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Tile-local coordinates (0 … :data:`EXTENT`, y downwards) of points, unrounded.

        Examples
        --------
        >>> TileId(0, 0, 0).project(np.array([0.0]), np.array([0.0]))
        (array([2048.]), array([2048.]))
        """
        n = 2**self.z
        lat = np.asarray(lat, dtype=np.float64)
        lng = np.asarray(lng, dtype=np.float64)
        fx = ((lng + 180.0) / 360.0 * n - self.x) * EXTENT
        merc = np.arcsinh(np.tan(np.radians(np.clip(lat, -MAX_LAT, MAX_LAT))))
        fy = ((1.0 - merc / math.pi) / 2.0 * n - self.y) * EXTENT
        return fx, fy

    def near_lng(self, lng: NDArray[np.float64]) -> NDArray[np.float64]:
        """Longitudes moved by a whole turn where that brings them within 180° of the
        tile's central meridian: the tile's side of the antimeridian (a point at -180 is
        at 180 for the last column). Points on the tile are left as they are.

        Examples
        --------
        >>> TileId(1, 1, 0).near_lng(np.array([-180.0, -170.0, 10.0])).tolist()
        [180.0, 190.0, 10.0]
        >>> TileId(0, 0, 0).near_lng(np.array([-180.0, 180.0])).tolist()
        [-180.0, 180.0]
        """
        lng = np.asarray(lng, dtype=np.float64)
        gap = (self.x + 0.5) / 2**self.z * 360.0 - 180.0 - lng
        return lng + np.where(gap > 180.0, 360.0, np.where(gap < -180.0, -360.0, 0.0))

    def to_pixels(
        self, lat: NDArray[np.float64], lng: NDArray[np.float64]
    ) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """Where an MVT stores points of the tile: :meth:`project` (of :meth:`near_lng`),
        rounded to the nearest tile unit and kept to ``0 … EXTENT - 1``.

        Map renderers draw a point of a tile only where ``0 <= x, y < EXTENT`` (MapLibre
        skips the others), so a point within half a unit of the east or south edge (or on
        it: the antimeridian, web mercator's southern limit) is drawn one unit inside,
        not at ``EXTENT``, where no tile would draw it.

        Examples
        --------
        >>> TileId(0, 0, 0).to_pixels(np.array([0.0, -90.0]), np.array([180.0, -180.0]))
        (array([4095,    0]), array([2048, 4095]))
        """
        fx, fy = self.project(lat, self.near_lng(lng))
        last = EXTENT - 1
        return (
            np.clip(np.rint(fx), 0, last).astype(np.int64),
            np.clip(np.rint(fy), 0, last).astype(np.int64),
        )


def _lat_of_row(row: float, n: int) -> float:
    """Latitude (degrees) of the horizontal tile edge ``row`` (0 = north) of ``n`` rows."""
    return math.degrees(math.atan(math.sinh(math.pi * (1.0 - 2.0 * row / n))))


def resolution_for_zoom(z: int) -> int:
    """The H3 resolution of a zoom-``z`` tile's bins (when it holds too many merchants).

    The resolution whose average hexagon edge (``h3.average_hexagon_edge_length``) is
    closest, on a log scale, to :data:`BIN_EDGE_TILE_FRACTION` of the tile's width at the
    equator (``40,075 km / 2**z``). Away from the equator a mercator tile covers less
    ground, so the same bins look larger there (×1.3 in New York, ×2 in Helsinki).

    Examples
    --------
    >>> [resolution_for_zoom(z) for z in (0, 6, 10, 12, 13, 14, 18)]
    [0, 4, 7, 9, 9, 10, 13]
    """
    target = _EQUATOR_M / 2**z * BIN_EDGE_TILE_FRACTION
    errors = [abs(math.log(average_edge_length_m(r) / target)) for r in range(16)]
    return int(np.argmin(errors))
