"""Vector tiles (Mapbox Vector Tile 2.1) of a snapshot, for web maps.

:meth:`DiscoveryEngine.tile(z, x, y, where=…) <geo_discovery.engine.DiscoveryEngine.tile>`
answers one web-mercator tile: :mod:`.grid` (tile ids, bounds, projection, H3 bins per
zoom), :mod:`.mvt` (the encoder), :mod:`.maker` (what each layer holds, the density
switch, the per-engine cache, TileJSON).
"""

from __future__ import annotations

from .grid import EXTENT, MAX_LAT, MAX_ZOOM, TileId, resolution_for_zoom
from .maker import FULL_DETAIL_ZOOM, TileMaker, VectorTile

__all__ = [
    "EXTENT",
    "FULL_DETAIL_ZOOM",
    "MAX_LAT",
    "MAX_ZOOM",
    "TileId",
    "TileMaker",
    "VectorTile",
    "resolution_for_zoom",
]
