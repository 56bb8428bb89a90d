"""A synthetic visit log with a known choice model: for tests and smoke runs without real data.

People move between merchant venues by a conditional logit of the form
:mod:`geo_discovery.ranking.calibrate` fits: from where they stand, venue ``v`` has
utility ``appeal_v − γ·log(1 + (d/R_root)²) + favourite·[v is one of theirs]``; appeal is
what word of mouth should discover (popular places get more visits before any split).
Between merchant visits people sometimes go home (a non-merchant venue) or pause for a
day, so the gap and "not a merchant" rules of the protocol are exercised. Written in the
generic visit-log schema (``user, venue, lat, lng, category, time, merchant, name``).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["TRUE_MODEL", "synthetic_visit_log", "write_visit_log"]

# Foursquare category names (mapped onto the taxonomy by the checkins profile) and the
# consumption radius of their taxonomy root.
_CATEGORIES = (
    ("Coffee Shop", "food"),
    ("Pizza Place", "food"),
    ("Bakery", "food"),
    ("Bar", "nightlife"),
    ("Clothing Store", "shop"),
    ("Electronics Store", "shop"),
)
#: The generator's parameters: what a calibration should get back.
TRUE_MODEL = {
    "gamma": 1.5,
    "radii": {"food": 350.0, "nightlife": 600.0, "shop": 900.0},
    "appeal_sd": 1.0,
    "favourite": 2.0,
}
_EARTH_M = 6_371_008.8


def synthetic_visit_log(
    *,
    venues: int = 300,
    users: int = 80,
    visits_per_user: int = 60,
    seed: int = 0,
    centre: tuple[float, float] = (48.8566, 2.3522),
    spread_m: float = 2_500.0,
    start: str = "2012-09-01",
) -> pd.DataFrame:
    """The visit log as a frame (module doc); deterministic for a ``seed``."""
    rng = np.random.default_rng(seed)
    lat0, lng0 = centre
    m_per_deg_lat = math.pi * _EARTH_M / 180
    m_per_deg_lng = m_per_deg_lat * math.cos(math.radians(lat0))
    r = spread_m * np.sqrt(rng.random(venues))
    a = rng.random(venues) * 2 * math.pi
    x, y = r * np.cos(a), r * np.sin(a)
    cat = rng.integers(0, len(_CATEGORIES), venues)
    radius = np.array([TRUE_MODEL["radii"][_CATEGORIES[c][1]] for c in cat])
    appeal = rng.normal(0, TRUE_MODEL["appeal_sd"], venues)
    rows = []
    t0 = pd.Timestamp(start, tz="UTC")
    for u in range(users):
        home = rng.normal(0, spread_m / 2, 2)
        favourites = set(rng.choice(venues, 3, replace=False).tolist())
        fav = np.array([v in favourites for v in range(venues)], dtype=float)
        here = home.copy()
        t = t0 + pd.Timedelta(hours=float(rng.uniform(0, 24 * 10)))
        for _ in range(visits_per_user):
            d = np.hypot(x - here[0], y - here[1])
            util = (
                appeal
                - TRUE_MODEL["gamma"] * np.log1p((d / radius) ** 2)
                + TRUE_MODEL["favourite"] * fav
            )
            p = np.exp(util - util.max())
            v = int(rng.choice(venues, p=p / p.sum()))
            rows.append((u, f"v{v}", y[v], x[v], _CATEGORIES[cat[v]][0], t, True, f"Place {v}"))
            here = np.array([x[v], y[v]])
            t += pd.Timedelta(hours=float(rng.uniform(0.5, 4)))
            if rng.random() < 0.15:  # home, then a night's pause
                rows.append((u, f"home{u}", home[1], home[0], "Home (private)", t, False, ""))
                here = home.copy()
                t += pd.Timedelta(hours=float(rng.uniform(10, 30)))
    frame = pd.DataFrame(
        rows, columns=["user", "venue", "y", "x", "category", "time", "merchant", "name"]
    )
    frame["lat"] = lat0 + frame.pop("y") / m_per_deg_lat
    frame["lng"] = lng0 + frame.pop("x") / m_per_deg_lng
    frame["time"] = frame["time"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    frame["user"] = "u" + frame["user"].astype(str)
    return frame[["user", "venue", "lat", "lng", "category", "time", "merchant", "name"]]


def write_visit_log(path: str | Path, **kwargs: object) -> Path:
    """Write :func:`synthetic_visit_log` as CSV to ``path``."""
    path = Path(path)
    synthetic_visit_log(**kwargs).to_csv(path, index=False)  # type: ignore[arg-type]
    return path
