"""One district's Huff catchment against every other district (``engine.catchment``)."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd

from ..cells import cell_to_str, latlngs_to_cells
from ..cellsets import cells_to_polygon
from ..distance import haversine_m
from ..errors import InvalidQueryError
from .areas import trade_areas
from .huff import HUFF_RANGE, captured_demand, facilities_from_districts, huff_probabilities

if TYPE_CHECKING:
    from ..districts.detect import Districts


__all__ = ["DEMAND_CHOICES", "CatchmentParams", "DistrictCatchment", "district_catchment"]

#: What ``engine.catchment(demand=…)`` accepts (``auto``: population when configured).
DEMAND_CHOICES: tuple[str, ...] = ("auto", "population", "merchants", "uniform")
MIN_RESOLUTION, MAX_RESOLUTION = 6, 10
MAX_RADIUS_M = 50_000.0


@dataclass(frozen=True, slots=True)
class CatchmentParams:
    """How a district catchment is computed; every value checked at once.

    Parameters
    ----------
    alpha, beta
        Huff exponents of attractiveness (merchant count) and distance, 0 … 5.
    resolution
        H3 resolution of the demand cells, 6 (about 36 km²) … 10 (about 0.015 km²).
    radius_m
        Study area: demand cells within this many metres of the centroid, 100 … 50,000.
    primary, secondary
        Trade-area share thresholds, ``0 < secondary < primary <= 1``.

    Examples
    --------
    >>> CatchmentParams(beta=1.5).beta
    1.5
    >>> CatchmentParams(primary=0.2, secondary=0.3)
    Traceback (most recent call last):
    ...
    geo_discovery.errors.InvalidQueryError: secondary=0.3 is not below primary=0.2; \
allowed: 0 < secondary < primary <= 1
    """

    alpha: float = 1.0
    beta: float = 2.0
    resolution: int = 9
    radius_m: float = 5_000.0
    primary: float = 0.5
    secondary: float = 0.2

    def __post_init__(self) -> None:
        problems = []
        checks = (
            ("alpha", *HUFF_RANGE),
            ("beta", *HUFF_RANGE),
            ("resolution", MIN_RESOLUTION, MAX_RESOLUTION),
            ("radius_m", 100.0, MAX_RADIUS_M),
            ("primary", 0.0, 1.0),
            ("secondary", 0.0, 1.0),
        )
        for name, lo, hi in checks:
            v: Any = getattr(self, name)
            if isinstance(v, bool | np.bool_) or not isinstance(v, numbers.Real):
                problems.append(
                    f"{name}={v!r} is not a number; allowed: {lo:g} <= {name} <= {hi:g}"
                )
                continue
            v = float(v) if name != "resolution" else v.item() if isinstance(v, np.generic) else v
            object.__setattr__(self, name, v)  # NumPy's numbers as Python's
            if not lo <= v <= hi:  # NaN too
                problems.append(
                    f"{name}={v!r} is out of range; allowed: {lo:g} <= {name} <= {hi:g}"
                )
        res = self.resolution
        if isinstance(res, numbers.Real) and math.isfinite(res) and not float(res).is_integer():
            problems.append(f"resolution={self.resolution!r} is not an integer")
        if not problems and not 0 < self.secondary < self.primary:
            problems.append(
                f"secondary={self.secondary:g} is not below primary={self.primary:g}; "
                "allowed: 0 < secondary < primary <= 1"
            )
        if problems:
            raise InvalidQueryError("; ".join(problems))
        object.__setattr__(self, "resolution", int(self.resolution))

    @classmethod
    def of(cls, given: Any) -> CatchmentParams:
        """``given`` as parameters: ``None`` (the defaults), a :class:`CatchmentParams`,
        or a mapping of its fields (``{"alpha": 1.5}``); anything else is refused."""
        if given is None or isinstance(given, CatchmentParams):
            return given or cls()
        if isinstance(given, Mapping):
            unknown = sorted(str(k) for k in given if k not in cls.__dataclass_fields__)
            if unknown:
                raise InvalidQueryError(f"catchment parameter(s) {', '.join(unknown)} unknown; "
                                        f"allowed: {', '.join(cls.__dataclass_fields__)}")
            return cls(**given)
        raise InvalidQueryError(f"params must be CatchmentParams or a mapping of its fields, "
                                f"got {type(given).__name__}")


@dataclass(frozen=True)
class DistrictCatchment:
    """One district's Huff catchment (see :func:`district_catchment`).

    ``cells`` (one row per demand cell in the study area, indexed by hex id): ``cell``,
    ``lat``/``lng``, ``population`` (demand units), ``share`` (Huff probability that the
    cell's demand goes to this district), ``expected`` (share × population) and
    ``in_district`` (the cell's centre lies in one of the district's own cells).
    ``trade_areas``: primary and secondary rows as from :func:`trade_areas`.
    ``competitors``: the other districts capturing most of the area's demand.
    """

    district_id: str
    cells: pd.DataFrame
    trade_areas: gpd.GeoDataFrame
    demand_total: float
    captured: float
    competitors: pd.DataFrame
    facilities: int
    demand_source: dict[str, Any] = field(default_factory=dict)
    params: CatchmentParams | None = None

    @property
    def share(self) -> float:
        """Share of the study area's demand this district captures (NaN when none)."""
        return self.captured / self.demand_total if self.demand_total > 0 else math.nan

    def to_geodataframe(self, min_share: float = 0.0) -> gpd.GeoDataFrame:
        """:attr:`cells` whose ``share`` is at least ``min_share``, with each cell's
        hexagon, EPSG:4326 (for maps: ``.explore(column="share")``).

        Examples
        --------
        >>> out = engine.catchment(engine.districts().index[0], "merchants",
        ...                        CatchmentParams(radius_m=1_000))
        >>> cells = out.to_geodataframe(min_share=0.2)
        >>> bool((cells["share"] >= 0.2).all()), cells.crs.to_epsg(), set(cells.geom_type)
        (True, 4326, {'Polygon'})
        >>> out.to_geodataframe(min_share=1.5)
        Traceback (most recent call last):
        ...
        geo_discovery.errors.InvalidQueryError: min_share=1.5 is out of range; allowed: \
0 <= min_share <= 1
        """
        allowed = "allowed: 0 <= min_share <= 1"
        if isinstance(min_share, bool | np.bool_) or not isinstance(min_share, numbers.Real):
            raise InvalidQueryError(f"min_share={min_share!r} is not a number; {allowed}")
        if not 0.0 <= float(min_share) <= 1.0:  # NaN too
            raise InvalidQueryError(f"min_share={float(min_share)!r} is out of range; {allowed}")
        keep = self.cells[self.cells["share"].to_numpy() >= float(min_share)]
        hexagons = [cells_to_polygon([c]) for c in keep["cell"].tolist()]
        return gpd.GeoDataFrame(keep, geometry=hexagons, crs="EPSG:4326")


def district_catchment(
    districts: Districts,
    district_id: str,
    demand: pd.DataFrame,
    *,
    radius_m: float = 5_000.0,
    alpha: float = 1.0,
    beta: float = 2.0,
    primary: float = 0.5,
    secondary: float = 0.2,
    attractiveness: str = "n_merchants",
    competitors: int = 5,
    max_cells: int | None = None,
) -> DistrictCatchment:
    """Huff catchment of ``district_id`` against every district, on the demand cells
    (:func:`demand_cells` / :func:`uniform_demand`) whose centres lie within ``radius_m``
    of the district's centroid. ``max_cells``: refuse more demand cells than this
    (:class:`InvalidQueryError`, before any cells × districts array is made).

    Examples
    --------
    >>> from geo_discovery.catchment import demand_cells
    >>> districts = engine.snapshot.require_districts()
    >>> target = districts.ids[0]
    >>> cells = demand_cells(engine.snapshot.lat, engine.snapshot.lng,
    ...                      np.ones(len(engine)), resolution=9)
    >>> out = district_catchment(districts, target, cells, radius_m=2_000)
    >>> 0 < out.share <= 1, list(out.trade_areas.index)
    (True, ['primary', 'secondary'])
    """
    row = districts.get(district_id)
    if not (math.isfinite(radius_m) and radius_m > 0):
        raise ValueError(f"radius_m={radius_m} is out of range; allowed: > 0")
    if not 0 < secondary < primary <= 1:
        raise ValueError(
            f"secondary={secondary:g}, primary={primary:g}: allowed 0 < secondary < primary <= 1"
        )
    clat, clng = float(row["centroid_lat"]), float(row["centroid_lng"])
    if len(demand):
        d = haversine_m(clat, clng, demand["lat"].to_numpy(), demand["lng"].to_numpy())
        area = demand[(d <= radius_m) & (demand["population"].to_numpy() > 0)]
    else:
        area = demand
    if not len(area):  # a share of no demand is no answer
        some = d[demand["population"].to_numpy() > 0] if len(demand) else ()
        nearest = "there is none" if not len(some) else _away(float(np.min(some)))
        raise InvalidQueryError(
            f"no demand within radius_m={radius_m:g} of district {district_id} (centre lat="
            f"{clat:.5f}, lng={clng:.5f}): {nearest}; allowed: a larger radius_m, or demand "
            "that covers the district"
        )
    if max_cells is not None and len(area) > max_cells:  # before the cells × districts arrays
        res = int(area["cell"].iloc[0]) >> 52 & 0xF  # an H3 index's resolution bits
        raise InvalidQueryError(
            f"radius_m={radius_m:g} at resolution={res} holds {len(area)} demand cells; allowed: "
            f"at most {max_cells} (api_max_catchment_cells setting): use a coarser resolution "
            "or a smaller radius_m"
        )
    area = area.reset_index(drop=True)
    area.index = pd.Index([cell_to_str(c) for c in area["cell"].tolist()], name="cell_id")
    facilities = facilities_from_districts(districts, attractiveness)
    facilities = facilities[facilities["attractiveness"] > 0]
    pop = area["population"].astype(np.float64)
    probs = huff_probabilities(area, facilities, alpha=alpha, beta=beta)
    share = probs[district_id].to_numpy(dtype=np.float64)
    captured = captured_demand(probs, pop)
    own = districts.cells_of(district_id)
    centre_cells = latlngs_to_cells(
        area["lat"].to_numpy(np.float64), area["lng"].to_numpy(np.float64), districts.resolution
    )
    out = area.assign(
        share=share,
        expected=share * pop.to_numpy(),
        in_district=np.isin(centre_cells, own),
    )
    areas = trade_areas(out[["cell", "population"]], probs, district_id, primary=primary,
                        secondary=secondary)  # fmt: skip
    others = captured.drop(index=district_id).sort_values("captured", ascending=False)
    top = others.head(competitors)
    rivals = pd.DataFrame(
        {
            "name": facilities["name"].reindex(top.index).to_numpy(dtype=object),
            "captured": top["captured"].to_numpy(dtype=np.float64),
            "share": top["share"].to_numpy(dtype=np.float64),
        },
        index=top.index,
    )
    total = float(pop.sum())
    return DistrictCatchment(
        district_id=district_id,
        cells=out,
        trade_areas=areas,
        demand_total=total,
        captured=float(captured["captured"].to_numpy()[captured.index.get_loc(district_id)]),
        competitors=rivals,
        facilities=len(facilities),
    )


def _away(metres: float) -> str:
    """``the nearest is 103 m away`` (km from 10 km: a rounded 0.1 km read as inside a
    100 m radius).

    >>> _away(103.4), _away(1_130_000.0)
    ('the nearest is 103 m away', 'the nearest is 1,130 km away')
    """
    if metres < 10_000:
        return f"the nearest is {metres:,.0f} m away"
    return f"the nearest is {metres / 1000:,.0f} km away"
