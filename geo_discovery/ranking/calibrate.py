"""Fit a :class:`~geo_discovery.ranking.profile.RankingProfile` to real visits.

The data are *choices*: a person stood somewhere (their previous visit, at most
``max_gap_h`` hours before) and went to one merchant among all the candidates. The model is
a conditional logit (McFadden): the chosen merchant's probability is
``exp(u_i) / Σ_j exp(u_j)`` over every candidate ``j``, with the utility of the profile
(module doc of :mod:`.profile`). The fit maximises the log-likelihood of the chosen
merchants (L-BFGS with analytic gradients, a small L2 penalty on the weights), jointly for
the feature weights, the distance exponent ``γ`` and one consumption radius per category
root — the classic way to learn a gravity model's parameters from choices. Popular times
(``busy``, one value per merchant and time-of-week bin) enter like the member terms, as a
per-choice matrix read at each choice's bin (``ChoiceData.bins``). With member
terms it fits two models: one with them (jointly), for queries that carry a member, and one
without, for every other query (:attr:`RankingProfile.personal`).

Leak-free by construction: the caller builds the candidates' features from visits strictly
before the fit window (:func:`choice_events` takes the window), so no choice is explained by
itself.

Examples
--------
>>> visits = pd.DataFrame({
...     "user": ["u", "u", "v", "v"], "venue": ["a", "b", "a", "c"],
...     "lat": [40.70, 40.71, 40.70, 40.72], "lng": [-74.0] * 4,
...     "time": pd.to_datetime(["2012-11-01 10:00", "2012-11-01 11:00",
...                             "2012-11-02 10:00", "2012-11-02 12:00"], utc=True),
...     "merchant": True, "in_window": True})
>>> ev = choice_events(visits, "2012-10-01", "2012-12-01")
>>> ev["venue"].tolist(), ev["qlat"].tolist()
(['b', 'c'], [40.7, 40.7])

Where the choices went when there are few (:func:`choice_funnel`: each step keeps some):

>>> steps = choice_funnel(visits, "2012-10-01", "2012-12-01", known=["a", "b"])
>>> [n for _, n, _ in steps], [key for _, _, key in steps]
([4, 2, 2, 2, 1], ['window', 'previous', 'gap', 'venue', 'known'])
>>> steps[1][0]
'after an earlier visit by the same person'
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy.optimize import OptimizeResult, minimize

from ..distance import EARTH_RADIUS_M, latlng_to_xyz
from ..errors import InvalidQueryError
from ..ranking_profile import PROFILE_WEIGHT_MAX
from ..settings import MEMBER_WEIGHT_MAX
from .profile import FEATURES, MEMBER_FEATURES, RankingProfile

__all__ = [
    "MIN_CHOICES",
    "ChoiceData",
    "choice_events",
    "choice_funnel",
    "fit_profile",
    "member_matrices",
    "root_of",
]

_CHUNK = 256  # events per block of the utility matrix

#: The fewest choices a profile is fitted on unless the caller lowers it deliberately
#: (``Protocol.min_choices``, ``--min-choices``). The model has about 12 to 16 free
#: parameters (up to 7 feature weights and ``busy``, the distance exponent, one radius per
#: category root, 2 member weights). Measured on TSMC2014 New York (the full fit: over
#: 2,000 choices, γ 0.87): shares of its people with 111 to 340 choices still fit γ 0.6 to
#: 0.8 and most radii 100 to 500 m, while the 3-person logs of a new user (10 to 24
#: choices) fit γ 4.5 to 20 (its upper bound) and a 26 m radius, "converged". 100 (about 7
#: per parameter) keeps those out and the real logs in; a fit on a few hundred may still
#: leave a parameter at an edge of its range (a root with few choices), which
#: ``at_bounds`` in its meta names.
MIN_CHOICES = 100


def _utc(when: datetime | pd.Timestamp | str) -> pd.Timestamp:
    t = pd.Timestamp(when)
    return t.tz_convert("UTC") if t.tzinfo is not None else t.tz_localize("UTC")


def root_of(category: str) -> str:
    """The category root a consumption radius is fitted for: the first path segment."""
    return str(category).split("/", 1)[0]


def choice_events(
    visits: pd.DataFrame,
    start: datetime | pd.Timestamp | str,
    end: datetime | pd.Timestamp | str,
    *,
    max_gap_h: float = 6.0,
    users: Sequence[str] | None = None,
) -> pd.DataFrame:
    """The choices in ``[start, end)``: merchant visits whose previous visit by the same
    person, at another venue, was at most ``max_gap_h`` hours before.

    Returns one row per choice: ``user``, ``time``, ``venue`` (chosen), ``qlat``/``qlng``
    (where they stood: the previous visit), ``origin`` (its venue: by this definition
    never the choice, so no candidate there) and, when the visits have it, ``local_time``
    (the previous visit's local time: when they would have asked). ``users`` restricts
    to some people (a user split). Visits may carry a boolean ``complete`` column (the
    person's log holds every kind of place); when present, only complete people count,
    since for the others the previous visit is not where they stood.
    """
    v, prev, steps = _choice_steps(visits, start, end, max_gap_h, users)
    ok = steps[-1][1]
    out = pd.DataFrame(
        {
            "user": v.loc[ok, "user"].to_numpy(),
            "time": v.loc[ok, "time"].to_numpy(),
            "venue": v.loc[ok, "venue"].to_numpy(),
            "qlat": prev.loc[ok, "lat"].to_numpy(np.float64),
            "qlng": prev.loc[ok, "lng"].to_numpy(np.float64),
            "origin": prev.loc[ok, "venue"].to_numpy(),
        }
    )
    if "local_time" in prev.columns:
        out["local_time"] = prev.loc[ok, "local_time"].to_numpy()
    return out.reset_index(drop=True)


def _choice_steps(
    visits: pd.DataFrame,
    start: datetime | pd.Timestamp | str,
    end: datetime | pd.Timestamp | str,
    max_gap_h: float,
    users: Sequence[str] | None,
) -> tuple[pd.DataFrame, pd.DataFrame, list[tuple[str, pd.Series]]]:
    """The visits sorted per person, each one's previous visit, and the steps that make a
    visit a choice: ``(name, mask)`` with each mask the previous one narrowed (the last
    one selects :func:`choice_events`'s rows)."""
    v = visits.sort_values(["user", "time"], kind="stable")
    cols = ["venue", "lat", "lng", "time"] + (["local_time"] if "local_time" in v.columns else [])
    prev = v.groupby("user", sort=False)[cols].shift(1)
    lo, hi = _utc(start), _utc(end)
    ok = v["merchant"].astype(bool) & (v["time"] >= lo) & (v["time"] < hi)
    if users is not None:
        ok &= v["user"].isin(set(users))
    steps = [("merchant visits in the window", ok)]
    if "complete" in v.columns:
        ok = ok & v["complete"].astype(bool)
        steps.append(("by people whose log holds every kind of place", ok))
    ok = ok & prev["venue"].notna()
    steps.append(("after an earlier visit by the same person", ok))
    ok = ok & ((v["time"] - prev["time"]) <= pd.Timedelta(hours=max_gap_h))
    steps.append((f"within {max_gap_h:g} h of it", ok))
    ok = ok & (prev["venue"] != v["venue"])
    steps.append(("at another venue", ok))
    return v, prev, steps


def choice_funnel(
    visits: pd.DataFrame,
    start: datetime | pd.Timestamp | str,
    end: datetime | pd.Timestamp | str,
    *,
    max_gap_h: float = 6.0,
    users: Sequence[str] | None = None,
    known: Sequence[str] | pd.Index | None = None,
) -> list[tuple[str, int, str]]:
    """Where the window's merchant visits go on their way to being choices
    (:func:`choice_events`): ``(step, visits kept, key)`` per step, each count at most the
    one before; with ``known`` (the candidates' venues) a last step keeps the choices of
    a venue among them. ``key`` names the step for callers that explain a shortfall:
    ``window``, ``complete``, ``previous``, ``gap``, ``venue``, ``known``.
    """
    v, _, steps = _choice_steps(visits, start, end, max_gap_h, users)
    keys = ["window"] + (["complete"] if "complete" in v.columns else [])
    keys += ["previous", "gap", "venue"]
    out = [(name, int(mask.sum()), key) for (name, mask), key in zip(steps, keys, strict=True)]
    if known is not None:
        last = steps[-1][1]
        seen = last & v["venue"].astype(str).isin({str(x) for x in known})
        out.append(("to a merchant seen before the window", int(seen.sum()), "known"))
    return out


def member_matrices(
    visits: pd.DataFrame,
    until: datetime | pd.Timestamp | str,
    users: Sequence[str],
    venues: pd.Index,
    categories: Sequence[str],
) -> dict[str, dict[str, dict[int, float]]]:
    """Per user, ``log(1 + visits)`` to each candidate (by position in ``venues``) and to
    each category, from the visits strictly before ``until``: the member features."""
    before = visits[visits["merchant"].astype(bool) & (visits["time"] < _utc(until))]
    before = before[before["user"].isin(set(users))]
    pos = pd.Series(np.arange(len(venues)), index=venues)
    cat_of = pd.Series(list(categories), index=venues)
    own: dict[str, dict[int, float]] = {}
    own_cat: dict[str, dict[int, float]] = {}
    for user, group in before.groupby("user"):
        counts = group["venue"].value_counts()
        counts = counts[counts.index.isin(venues)]
        own[str(user)] = {int(pos[str(v)]): math.log1p(n) for v, n in counts.items()}
        cats = cat_of.reindex(counts.index).groupby(level=0).first()
        per_cat = counts.groupby(cats.to_numpy()).sum()
        own_cat[str(user)] = {}
        for cat, n in per_cat.items():
            for i in np.flatnonzero(np.asarray(categories) == cat):
                own_cat[str(user)][int(i)] = math.log1p(n)
    return {"own_visits": own, "own_category": own_cat}


@dataclass
class ChoiceData:
    """Candidates (features, positions, category roots) and the choices among them."""

    features: Mapping[str, NDArray[np.float64]]  # per candidate, over FEATURES
    lat: NDArray[np.float64]
    lng: NDArray[np.float64]
    roots: list[str]  # category root of each candidate
    qlat: NDArray[np.float64]
    qlng: NDArray[np.float64]
    target: NDArray[np.int64]  # chosen candidate per event
    users: list[str] | None = None
    member: dict[str, dict[str, dict[int, float]]] | None = None
    bins: NDArray[np.int64] | None = None  # time-of-week bin per event (-1: unknown)
    origin: NDArray[np.int64] | None = None  # candidate they stood at per event (-1: none)

    def without_origin(self, rows: slice, u: NDArray[np.float64]) -> NDArray[np.float64]:
        """``u`` (events ``rows`` × candidates) with each event's origin at -inf: a choice
        is a visit to another venue (:func:`choice_events`), so where the person stands
        is no candidate (counted, it took the first place from every near-first ranker
        and flattened the fitted distance decay)."""
        if self.origin is None:
            return u
        at = self.origin[rows]
        r = np.flatnonzero(at >= 0)
        u[r, at[r]] = -np.inf
        return u

    def chord2(self, rows: slice) -> NDArray[np.float64]:
        """Squared unit-sphere chords, events ``rows`` × candidates."""
        q = latlng_to_xyz(self.qlat[rows], self.qlng[rows])
        p = latlng_to_xyz(self.lat, self.lng)
        return np.clip(2.0 - 2.0 * (q @ p.T), 0.0, 4.0)

    def busy_dense(self, rows: slice) -> NDArray[np.float64]:
        """The ``busy`` feature at each event's time bin, events ``rows`` × candidates."""
        table = np.asarray(self.features["busy"], dtype=np.float64)
        bins = np.full(len(self.qlat[rows]), -1) if self.bins is None else self.bins[rows]
        out = table[:, np.clip(bins, 0, None)].T.copy()
        out[bins < 0] = 0.0
        return out

    def member_dense(self, rows: slice, name: str) -> NDArray[np.float64]:
        out = np.zeros((len(self.qlat[rows]), len(self.lat)))
        if self.member is None or self.users is None:
            return out
        table = self.member[name]
        for r, user in enumerate(self.users[rows]):
            for j, val in table.get(str(user), {}).items():
                out[r, j] = val
        return out


_MAX_RANK_CORRELATION = 0.95
#: How close (in the optimiser's units: a weight, log γ, log radius) a fitted parameter
#: must be to an edge of its search range to count as "at it": L-BFGS-B projects onto a
#: bound it runs into, so one that stopped there sits on it up to rounding.
_AT_BOUND = 1e-6
#: Evidence of being worth the walk: more of it never lowers a score (weights >= 0), so
#: a better rating or more visits can never rank a merchant lower — and a weight cannot
#: swing negative to cancel a correlated twin and then misbehave on other data.
EVIDENCE = frozenset({"wom", "volume", "recency", "repeat"})


def _independent(
    features: Mapping[str, NDArray[np.float64]], names: Sequence[str]
) -> tuple[list[str], list[str]]:
    """The features worth a weight, and why the others were left out.

    A constant carries nothing; a feature that is (nearly) a monotone function of one
    already kept (rank correlation above 0.95) only adds a direction the fit cannot pin
    down: its weight and its twin's grow huge with opposite signs, and when the two drift
    apart on other data (a longer window raises word of mouth built from visits alone)
    the ranking breaks. ``volume`` goes first: centred, it means the same on any window.
    """
    order = sorted(names, key=lambda f: f != "volume")
    kept: list[str] = []
    dropped: list[str] = []
    ranks: dict[str, NDArray[np.float64]] = {}
    for f in order:
        x = np.asarray(features[f], dtype=np.float64)
        if not np.ptp(x) > 0:
            dropped.append(f"{f} (constant)")
            continue
        r = np.asarray(pd.Series(x).rank(), dtype=np.float64)
        twin = next(
            (k for k in kept if abs(np.corrcoef(r, ranks[k])[0, 1]) > _MAX_RANK_CORRELATION), None
        )
        if twin is not None:
            rho = np.corrcoef(r, ranks[twin])[0, 1]
            dropped.append(f"{f} (rank correlation {rho:.2f} with {twin})")
            continue
        kept.append(f)
        ranks[f] = r
    return [f for f in names if f in kept], dropped


def fit_profile(
    data: ChoiceData,
    *,
    features: Sequence[str] = FEATURES,
    member: bool = False,
    l2: float = 1e-3,
    category_log_share: tuple[tuple[str, float], ...] = (),
    meta: Mapping[str, str] | None = None,
) -> RankingProfile:
    """Maximum-likelihood profile for the choices in ``data`` (module doc).

    ``member`` also fits the member weights, jointly with the rest, as the profile's
    :attr:`~RankingProfile.personal` model (then ``data.member`` must be set); the
    profile itself is then the fit without member terms.

    Its ``meta`` says what to check before using it: ``dropped_features`` (left out as
    constant or as a twin of another feature, each with why) and ``at_bounds`` (fitted
    parameters that ended at an edge of their search range, e.g. ``distance exponent γ =
    20 at its upper bound 20``: the choices did not pin them down — on few choices, the
    usual sign of a fit to noise — or, for a weight held at ≥ 0, the data would have it
    lower). The caller decides how many choices are enough (:data:`MIN_CHOICES`).
    """
    if len(data.target) == 0 or len(data.lat) < 2:
        raise InvalidQueryError(
            f"nothing to calibrate on: {len(data.target)} choices among {len(data.lat)} "
            "candidates; the fit window needs visits to merchants seen before it"
        )
    per_event = [f for f in features if np.ndim(data.features[f]) == 2]  # busy: per bin
    feats, dropped = _independent(data.features, [f for f in features if f not in per_event])
    busy = "busy" in per_event and data.bins is not None and bool(np.ptp(data.features["busy"]))
    if "busy" in per_event and not busy:
        dropped.append("busy (constant)" if data.bins is not None else "busy (no visit times)")
    roots = sorted(set(data.roots))
    root_idx = np.array([roots.index(r) for r in data.roots])
    mnames = (["busy"] if busy else []) + (list(MEMBER_FEATURES) if member else [])
    X = (
        np.stack([data.features[f] for f in feats], axis=1)
        if feats
        else np.zeros((len(data.lat), 0))
    )
    mean, std = X.mean(axis=0), X.std(axis=0) + 1e-12
    Xs = (X - mean) / std
    nf, nm, nr = len(feats), len(mnames), len(roots)
    blocks = [
        slice(s, min(s + _CHUNK, len(data.target))) for s in range(0, len(data.target), _CHUNK)
    ]
    c2s = [data.chord2(b) for b in blocks]
    mems = [
        [data.busy_dense(b) if m == "busy" else data.member_dense(b, m) for m in mnames]
        for b in blocks
    ]

    def nll(theta: NDArray[np.float64]) -> tuple[float, NDArray[np.float64]]:
        w, wm = theta[:nf], theta[nf : nf + nm]
        gamma = math.exp(theta[nf + nm])
        log_r = theta[nf + nm + 1 :]
        k = (EARTH_RADIUS_M / np.exp(log_r)) ** 2  # per root
        base = Xs @ w
        total, grad = 0.0, np.zeros_like(theta)
        for b, c2, mm in zip(blocks, c2s, mems, strict=True):
            z = c2 * k[root_idx][None, :]
            lz = np.log1p(z)
            u = base[None, :] - gamma * lz
            for j in range(nm):
                u = u + wm[j] * mm[j]
            u = data.without_origin(b, u)
            u -= u.max(axis=1, keepdims=True)
            p = np.exp(u)
            p /= p.sum(axis=1, keepdims=True)
            rows = np.arange(b.stop - b.start)
            t = data.target[b]
            total -= float(np.log(p[rows, t] + 1e-300).sum())
            resid = -p
            resid[rows, t] += 1.0  # d loglik / d u
            grad[:nf] -= (resid @ Xs).sum(axis=0)
            for j in range(nm):
                grad[nf + j] -= float((resid * mm[j]).sum())
            grad[nf + nm] -= float((resid * (-gamma * lz)).sum())  # d/d log gamma
            dz = gamma * z / (1.0 + z) * 2.0  # d u / d log R
            gr = (resid * dz).sum(axis=0)
            grad[nf + nm + 1 :] -= np.bincount(root_idx, weights=gr, minlength=nr)
        n = len(data.target)
        pen = l2 * float(theta[: nf + nm] @ theta[: nf + nm])
        grad = grad / n
        grad[: nf + nm] += 2 * l2 * theta[: nf + nm]
        return total / n + pen, grad

    theta0 = np.concatenate([np.zeros(nf + nm), [0.0], np.full(nr, math.log(800.0))])
    top = PROFILE_WEIGHT_MAX  # (what a profile may hold: RankingProfile refuses more)
    bounds: list[tuple[float | None, float | None]] = [
        (0.0, top) if f in EVIDENCE else (-top, top) for f in feats
    ]
    # a member's history lifts what the member returns to: its weights are at least 0
    bounds += [(0.0, MEMBER_WEIGHT_MAX) if m in MEMBER_FEATURES else (-top, top)
               for m in mnames]  # fmt: skip
    bounds += [(math.log(0.05), math.log(20))]
    bounds += [(math.log(20.0), math.log(50_000.0))] * nr

    labels = [f"weight {f}" for f in feats]
    labels += ["weight busy" if m == "busy" else f"member weight {m}" for m in mnames]
    labels += ["distance exponent γ"] + [f"consumption radius {r}" for r in roots]

    def at_bounds(
        theta: NDArray[np.float64], box: Sequence[tuple[float | None, float | None]]
    ) -> str:
        """The fitted parameters that ended at an edge of their search range (held ones,
        whose range is a point, aside): ``label = value at its lower|upper bound b``."""
        found = []
        for i, (label, (lo, hi)) in enumerate(zip(labels, box, strict=True)):
            if lo is not None and lo == hi:
                continue
            for side, b in (("lower", lo), ("upper", hi)):
                if b is not None and abs(theta[i] - b) <= _AT_BOUND:
                    if i < nf + nm:  # a weight: its bound is 0
                        found.append(f"{label} = 0 at its {side} bound 0")
                    else:  # log γ or log radius
                        unit = " m" if i > nf + nm else ""
                        found.append(
                            f"{label} = {math.exp(theta[i]):.4g}{unit} at its {side} bound "
                            f"{math.exp(b):.4g}{unit}"
                        )
        return "; ".join(found) or "none"

    def profile(
        res: OptimizeResult,
        box: Sequence[tuple[float | None, float | None]],
        personal: RankingProfile | None = None,
    ) -> RankingProfile:
        theta = res.x
        w = theta[:nf] / std  # back to raw feature units
        radii = {"": float(np.exp(np.median(theta[nf + nm + 1 :])))} if nr else {"": 1_500.0}
        radii.update({r: float(np.exp(theta[nf + nm + 1 + i])) for i, r in enumerate(roots)})
        facts = {
            "loglik_per_choice": f"{-res.fun:.6f}",
            "choices": str(len(data.target)),
            "candidates": str(len(data.lat)),
            "converged": str(bool(res.success)),
            "dropped_features": "; ".join(dropped) or "none",
            "at_bounds": at_bounds(theta, box),
            **(meta or {}),
        }
        extra = dict(zip(mnames, (float(x) for x in theta[nf : nf + nm]), strict=True))
        timed = (("busy", extra.pop("busy")),) if "busy" in extra else ()
        members = tuple(extra.items())
        return RankingProfile(  # with a personal model, the member weights are its own
            weights=tuple((f, float(x)) for f, x in zip(feats, w, strict=True)) + timed,
            gamma=float(math.exp(theta[nf + nm])),
            radii=tuple(sorted(radii.items())),
            category_log_share=category_log_share,
            member_weights=members if personal is None else (),
            personal=personal,
            meta=tuple(sorted(facts.items())),
        )

    joint = profile(minimize(nll, theta0, jac=True, method="L-BFGS-B", bounds=bounds), bounds)
    if not member:
        return joint
    # A query without a member ranks by the model fitted without member terms: in the
    # joint fit the member terms take over part of what popularity explains, which is
    # right only when a member's history is there to explain it (:meth:`for_member`).
    first = nf + int(busy)  # the member weights' place in theta
    alone = [(0.0, 0.0) if first <= i < nf + nm else b for i, b in enumerate(bounds)]
    fit = minimize(nll, theta0, jac=True, method="L-BFGS-B", bounds=alone)
    return profile(fit, alone, joint)
