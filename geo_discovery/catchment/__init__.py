"""Catchments: demand on H3 cells, Huff market shares, trade areas, rings and overlap.

Everything takes and returns pandas / GeoPandas objects aligned to its input, so an
analyst can plot and join the results directly:

* :func:`demand_from_points` spreads population points (e.g. census-tract centroids)
  over H3 cells: a GeoDataFrame indexed by cell (hex string);
* :func:`huff_probabilities` — the Huff model. The probability that demand in cell
  ``i`` goes to facility ``j`` (a district or a store) is
  ``P_ij = A_j^α d_ij^-β / Σ_k A_k^α d_ik^-β`` (``A`` attractiveness, ``d`` great-circle
  metres, floored at ``min_distance_m``). Rows sum to 1;
* :func:`calibrate_huff` — maximum-likelihood α and β from observed shares or counts;
* :func:`captured_demand`, :func:`share_surface`, :func:`trade_areas` — expected demand
  per facility, one facility's share surface, its primary (share ≥ 50 %) and secondary
  (20–50 %) trade areas as valid polygons (unions of cells);
* :func:`distance_rings`, :func:`threshold_radius` — rings of given radii with the
  population inside, and the radius that reaches N people;
* :func:`competitor_overlap` — how much two facilities compete (cannibalisation);
* :func:`gi_star` — Getis-Ord Gi* hotspots on H3 cells (closed form; matches
  ``esda.G_Local(star=True)`` with binary weights);
* :func:`district_catchment` — one district's Huff catchment against every other
  district, on demand cells around it (population points, merchants as a demand proxy,
  or a uniform grid): what the API's ``/v1/districts/{id}/catchment`` answers.

Examples
--------
>>> import pandas as pd
>>> demand = pd.DataFrame({"lat": [40.75], "lng": [-73.99]})
>>> stores = pd.DataFrame({"lat": [40.76, 40.77, 40.78], "lng": [-73.99] * 3,
...                        "attractiveness": [100.0, 200.0, 300.0]}, index=["a", "b", "c"])
>>> huff_probabilities(demand, stores, alpha=1, beta=2).round(3).iloc[0].tolist()
[0.545, 0.273, 0.182]
"""

from __future__ import annotations

from .areas import competitor_overlap, distance_rings, gi_star, threshold_radius, trade_areas
from .demand import (
    DEMAND_KINDS,
    demand_cells,
    demand_from_points,
    read_demand,
    uniform_demand,
    uniform_disk_k,
)
from .district import CatchmentParams, DistrictCatchment, district_catchment
from .huff import (
    HuffFit,
    calibrate_huff,
    captured_demand,
    facilities_from_districts,
    huff_probabilities,
    share_surface,
)

__all__ = [
    "DEMAND_KINDS",
    "CatchmentParams",
    "DistrictCatchment",
    "HuffFit",
    "calibrate_huff",
    "captured_demand",
    "competitor_overlap",
    "demand_cells",
    "demand_from_points",
    "distance_rings",
    "district_catchment",
    "facilities_from_districts",
    "gi_star",
    "huff_probabilities",
    "read_demand",
    "share_surface",
    "threshold_radius",
    "trade_areas",
    "uniform_demand",
    "uniform_disk_k",
]
