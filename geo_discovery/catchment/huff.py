"""The Huff model: probabilities, maximum-likelihood calibration, captured demand, shares."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import optimize

from ..cells import average_edge_length_m, str_to_cell
from ..distance import haversine_m
from ..errors import InvalidQueryError

if TYPE_CHECKING:
    from ..districts.detect import Districts


__all__ = [
    "HUFF_RANGE",
    "HuffFit",
    "calibrate_huff",
    "captured_demand",
    "facilities_from_districts",
    "huff_probabilities",
    "share_surface",
]


def facilities_from_districts(
    districts: Districts | pd.DataFrame, attractiveness: str = "n_merchants"
) -> pd.DataFrame:
    """Districts as Huff facilities: ``lat``/``lng`` (merchant centroid) and
    ``attractiveness`` (default the merchant count), indexed by ``district_id``.

    ``districts``: a :class:`~geo_discovery.districts.detect.Districts` or its frame
    (``engine.districts()``).

    Examples
    --------
    >>> f = facilities_from_districts(engine.districts())
    >>> list(f.columns), bool((f["attractiveness"] > 0).all())
    (['lat', 'lng', 'attractiveness', 'name'], True)
    """
    f = districts if isinstance(districts, pd.DataFrame) else districts.frame
    return pd.DataFrame(
        {
            "lat": f["centroid_lat"].to_numpy(dtype=np.float64),
            "lng": f["centroid_lng"].to_numpy(dtype=np.float64),
            "attractiveness": f[attractiveness].to_numpy(dtype=np.float64),
            "name": f["name"].to_numpy(dtype=object),
        },
        index=f.index,
    )


#: The range of alpha and beta that CatchmentParams takes and calibrate_huff fits in.
HUFF_RANGE = (0.0, 5.0)


# --------------------------------------------------------------------------- Huff
def _distances_m(demand: pd.DataFrame, facilities: pd.DataFrame) -> NDArray[np.float64]:
    return np.asarray(
        haversine_m(
            demand["lat"].to_numpy(dtype=np.float64)[:, None],
            demand["lng"].to_numpy(dtype=np.float64)[:, None],
            facilities["lat"].to_numpy(dtype=np.float64)[None, :],
            facilities["lng"].to_numpy(dtype=np.float64)[None, :],
        )
    )


def _log_inputs(
    demand: pd.DataFrame, facilities: pd.DataFrame, min_distance_m: float | None
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    if len(facilities) == 0:
        raise ValueError("facilities is empty; the Huff model needs at least one")
    attract = facilities["attractiveness"].to_numpy(dtype=np.float64)
    if not (np.isfinite(attract).all() and (attract > 0).all()):
        bad = attract[~(np.isfinite(attract) & (attract > 0))][:3].tolist()
        raise ValueError(f"attractiveness must be finite and > 0, got {bad}")
    d = _distances_m(demand, facilities)
    floor = _default_floor(demand) if min_distance_m is None else float(min_distance_m)
    if not floor > 0:
        raise ValueError(f"min_distance_m={min_distance_m} is out of range; allowed: > 0")
    return np.log(attract), np.log(np.maximum(d, floor))


def _default_floor(demand: pd.DataFrame) -> float:
    """Half the edge of the demand cells (a ``cell`` or ``cell_id`` column, or the index,
    as integers or hex text: what the library, the API and an export give), or 50 m for
    points."""
    names = [c for c in ("cell", "cell_id") if c in demand.columns]
    if not len(demand) or not (names or demand.index.name in ("cell", "cell_id")):
        return 50.0
    first = demand[names[0]].iloc[0] if names else demand.index[0]
    cell = str_to_cell(first) if isinstance(first, str) else int(first)
    return average_edge_length_m((cell >> 52) & 0xF) / 2.0


def _softmax_rows(logu: NDArray[np.float64]) -> NDArray[np.float64]:
    logu = logu - logu.max(axis=1, keepdims=True)
    u = np.exp(logu)
    return np.asarray(u / u.sum(axis=1, keepdims=True))


def huff_probabilities(
    demand: pd.DataFrame,
    facilities: pd.DataFrame,
    *,
    alpha: float = 1.0,
    beta: float = 2.0,
    min_distance_m: float | None = None,
) -> pd.DataFrame:
    """Huff probabilities, one row per demand location and one column per facility.

    ``demand`` needs ``lat``/``lng`` (e.g. :func:`demand_from_points`); ``facilities``
    ``lat``/``lng``/``attractiveness``. Distances below ``min_distance_m`` (default:
    half a demand cell's edge) are raised to it, so a facility inside a cell does not
    get an infinite pull. Computed in log space; every row sums to 1.
    """
    for name, value in (("alpha", alpha), ("beta", beta)):
        if not (math.isfinite(value) and value >= 0):
            raise ValueError(f"{name}={value} is out of range; allowed: finite and >= 0")
    log_a, log_d = _log_inputs(demand, facilities, min_distance_m)
    p = _softmax_rows(alpha * log_a[None, :] - beta * log_d)
    return pd.DataFrame(p, index=demand.index, columns=facilities.index)


@dataclass(frozen=True)
class HuffFit:
    """Maximum-likelihood Huff parameters with standard errors (inverse Hessian)."""

    alpha: float
    beta: float
    alpha_se: float
    beta_se: float
    log_likelihood: float
    converged: bool
    iterations: int
    #: The parameters the fit left at a bound of their range (``"beta"``…): the data ask
    #: for more (every trip to the nearest facility gives beta at its top); their
    #: standard errors are NaN, since a bound-limited estimate has none.
    at_bound: tuple[str, ...] = ()


def calibrate_huff(
    demand: pd.DataFrame,
    facilities: pd.DataFrame,
    observed: pd.DataFrame,
    *,
    weights: Sequence[float] | NDArray | None = None,
    min_distance_m: float | None = None,
    start: tuple[float, float] = (1.0, 2.0),
    bounds: tuple[tuple[float, float], tuple[float, float]] = (HUFF_RANGE, HUFF_RANGE),
) -> HuffFit:
    """Fit α and β by maximum likelihood from observed choices.

    ``observed`` is aligned to ``huff_probabilities`` (rows = demand, columns =
    facilities) and holds counts of observed trips, or shares (rows summing to 1) that
    ``weights`` (e.g. population) turn into counts. The log-likelihood is the
    multinomial ``Σ_ij O_ij log P_ij(α, β)``; its gradient is analytic. A row or column
    of ``observed`` that no demand cell or facility has is refused (its trips were left
    out without a word). The default bounds are the ones
    :class:`~geo_discovery.catchment.CatchmentParams` takes, so a fit can be used.
    """
    for axis, labels, what in ((0, demand.index, "demand cell"), (1, facilities.index,
                                                                  "facility")):  # fmt: skip
        extra = observed.axes[axis].difference(labels)
        if len(extra):
            shown = ", ".join(repr(x) for x in extra[:3].tolist())
            raise InvalidQueryError(
                f"observed has {len(extra):,} {'row' if axis == 0 else 'column'}(s) that no "
                f"{what} has (first: {shown}); allowed: the labels of "
                f"{'demand.index' if axis == 0 else 'facilities.index'}"
            )
    obs = observed.reindex(index=demand.index, columns=facilities.index).to_numpy(np.float64)
    if not np.isfinite(obs).all() or (obs < 0).any():
        raise ValueError("observed must be finite and >= 0, aligned to demand and facilities")
    if weights is not None:
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (len(demand),):
            raise ValueError(f"weights has shape {w.shape}; expected ({len(demand)},)")
        obs = obs * w[:, None]
    if not obs.sum() > 0:  # the optimiser would report its start values as converged
        raise InvalidQueryError(
            "no observed trip to fit alpha and beta: the observed choices sum to 0 over these "
            f"{len(demand):,} demand cells and {len(facilities):,} facilities (are the visits "
            "from this city, and inside the study area?)"
        )
    log_a, log_d = _log_inputs(demand, facilities, min_distance_m)
    row_tot = obs.sum(axis=1)

    def negll(theta: NDArray[np.float64]) -> tuple[float, NDArray[np.float64]]:
        a, b = theta
        logu = a * log_a[None, :] - b * log_d
        m = logu.max(axis=1, keepdims=True)
        lse = m[:, 0] + np.log(np.exp(logu - m).sum(axis=1))
        p = np.exp(logu - lse[:, None])
        ll = float((obs * logu).sum() - (row_tot * lse).sum())
        ea = p @ log_a
        ed = (p * log_d).sum(axis=1)
        g_a = float((obs @ log_a).sum() - (row_tot * ea).sum())
        g_b = float(-(obs * log_d).sum() + (row_tot * ed).sum())
        return -ll, -np.array([g_a, g_b])

    res = optimize.minimize(
        negll, np.asarray(start, dtype=np.float64), jac=True, method="L-BFGS-B", bounds=bounds
    )
    se = list(_standard_errors(negll, res.x))
    edge = [any(abs(float(v) - b) <= 1e-6 * max(1.0, abs(b)) for b in bound)
            for v, bound in zip(res.x, bounds, strict=True)]  # fmt: skip
    for i in np.flatnonzero(edge):
        se[i] = math.nan
    return HuffFit(
        alpha=float(res.x[0]),
        beta=float(res.x[1]),
        alpha_se=se[0],
        beta_se=se[1],
        log_likelihood=float(-res.fun),
        converged=bool(res.success),
        iterations=int(res.nit),
        at_bound=tuple(n for n, e in zip(("alpha", "beta"), edge, strict=True) if e),
    )


def _standard_errors(negll: Any, theta: NDArray[np.float64]) -> tuple[float, float]:
    h = np.empty((2, 2))
    for i in range(2):
        step = 1e-5 * max(1.0, abs(theta[i]))
        up, down = theta.copy(), theta.copy()
        up[i] += step
        down[i] -= step
        h[:, i] = (negll(up)[1] - negll(down)[1]) / (2 * step)
    try:
        cov = np.linalg.inv((h + h.T) / 2)
        return float(np.sqrt(max(cov[0, 0], 0.0))), float(np.sqrt(max(cov[1, 1], 0.0)))
    except np.linalg.LinAlgError:  # pragma: no cover - flat likelihood
        return math.nan, math.nan


# --------------------------------------------------------------------------- results
def captured_demand(probabilities: pd.DataFrame, population: pd.Series) -> pd.DataFrame:
    """Expected demand per facility: ``Σ_i P_ij · population_i``, with its share."""
    pop = population.reindex(probabilities.index).fillna(0.0).to_numpy(dtype=np.float64)
    captured = pop @ probabilities.to_numpy(dtype=np.float64)
    total = float(pop.sum())
    return pd.DataFrame(
        {"captured": captured, "share": captured / total if total else np.nan},
        index=probabilities.columns,
    )


def share_surface(
    demand: gpd.GeoDataFrame, probabilities: pd.DataFrame, facility: Any
) -> gpd.GeoDataFrame:
    """One facility's market-share surface: the demand cells with ``share`` and
    ``expected`` (share × population), aligned to ``demand``."""
    if facility not in probabilities.columns:
        raise KeyError(f"facility {facility!r} is not a column of the probabilities")
    out = demand.copy()
    out["share"] = probabilities[facility].reindex(demand.index).to_numpy(dtype=np.float64)
    out["expected"] = out["share"] * out["population"]
    return out
