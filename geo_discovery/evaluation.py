"""Is the ranking worth the walk? A leak-free evaluation on real visits, and its calibration.

The protocol (docs/ranking.md, "Evaluation"), on a visit log (:mod:`geo_discovery.ingest.checkins`):

1. **Time split.** Candidates are the merchant venues visited before ``until``, loaded
   through the real pipeline (``load --profile checkins --until``): word of mouth,
   districts and hours come only from visits before the split.
2. **Choices.** A test event is a merchant visit at or after ``until`` whose previous visit
   by the same person, at another venue, was at most ``max_gap_h`` hours before; the query
   point is that previous visit. A target that is not among the candidates (a venue nobody
   visited before the split) counts as a miss for every ranker.
3. **Calibration** (:mod:`geo_discovery.ranking.calibrate`) is fitted on the ``fit_days``
   before ``until``, with candidates built from the visits before *that* window — so no
   choice is explained by itself. With ``user_split`` it is fitted on one half of the
   people and reported on the other, both ways round.
4. **Rankers**, each scoring every candidate for every event: distance; popularity within
   ``radius_m`` (then distance); the gravity model ``log(1 + visits) − 2·log(d_km + 0.05)``;
   ``best_match`` as configured (the hand-set weights); ``best_match`` with the calibrated
   profile; the member's own past visits then distance (a personal reference); and the
   calibrated profile with the member's history. The ``best_match`` scores are the
   engine's own (its planner's quality and decay arrays), not a re-implementation.
5. **Metrics**: Acc@1/5/10, MRR and NDCG@10, with 95 % bootstrap intervals over events.

The check-in data set (Yang, Zhang, Zheng and Yu, IEEE Trans. SMC: Systems 45(1), 2015) is
for evaluation only: only aggregate figures leave this module.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from .distance import EARTH_RADIUS_M, chord2_to_m
from .engine import DiscoveryEngine
from .errors import InvalidQueryError
from .ingest.checkins import read_visits, utc
from .ingest.options import ReadOptions
from .ranking.calibrate import (
    MIN_CHOICES,
    ChoiceData,
    choice_events,
    choice_funnel,
    fit_profile,
    member_matrices,
    root_of,
)
from .ranking.profile import RankingProfile, merchant_features, share_table
from .settings import Settings
from .timeofweek import N_BINS, time_bins

__all__ = ["METRICS", "EvaluationReport", "Protocol", "calibrate", "evaluate_ranking"]

METRICS = ("acc@1", "acc@5", "acc@10", "mrr", "ndcg@10")
_MISS = 10**9
_CHUNK = 256


@dataclass(frozen=True)
class Protocol:
    """The evaluation's choices (module doc); every value has a documented default.

    ``until``: the time split (``None``: the time by which 80 % of the log's merchant
    visits had happened); ``fit_days``: the calibration window before it (``None``: the
    later half of the log before ``until``); ``min_choices``: the fewest choices a profile
    is fitted on (:data:`~geo_discovery.ranking.calibrate.MIN_CHOICES`; fewer is refused,
    naming where the window's visits were lost, unless lowered deliberately).
    """

    until: str | None = None
    fit_days: float | None = None
    max_gap_h: float = 6.0
    radius_m: float = 1_000.0
    bootstrap: int = 1_000
    seed: int = 0
    user_split: bool = False
    max_events: int | None = None  # a slice for smoke runs
    min_choices: int = MIN_CHOICES

    def __post_init__(self) -> None:
        problems = []
        if self.until is not None:
            try:
                utc(self.until)
            except (ValueError, TypeError):
                problems.append(
                    f"until={self.until!r} is not a date or date-time (e.g. 2012-12-01)"
                )
        if self.fit_days is not None and not 0.01 <= self.fit_days <= 3650:
            problems.append(f"fit_days={self.fit_days} is out of range; allowed: 0.01 … 3650")
        if self.bootstrap < 0 or self.bootstrap > 100_000:
            problems.append(f"bootstrap={self.bootstrap} is out of range; allowed: 0 … 100000")
        if self.max_events is not None and self.max_events < 1:
            problems.append(f"max_events={self.max_events} is out of range; allowed: >= 1")
        if self.min_choices < 1:
            problems.append(f"min_choices={self.min_choices} is out of range; allowed: >= 1")
        if not 0 < self.max_gap_h <= 72:
            problems.append(f"max_gap_h={self.max_gap_h} is out of range; allowed: 0 < h <= 72")
        if not 0 < self.radius_m <= 100_000:  # NaN too
            problems.append(
                f"radius_m={self.radius_m} is out of range; allowed: 0 < radius_m <= 100000"
            )
        if problems:
            raise InvalidQueryError("; ".join(problems))

    def split(self, visits: pd.DataFrame) -> tuple[pd.Timestamp, pd.Timestamp]:
        """``(until, fit_start)`` on this log (the defaults resolved)."""
        times = visits.loc[visits["merchant"].astype(bool), "time"].dropna()
        if times.empty:
            raise InvalidQueryError("the visit log has no merchant visit with a readable time")
        until = (
            utc(self.until)
            if self.until is not None
            else pd.Timestamp(times.sort_values().iloc[int(0.8 * (len(times) - 1))])
        )
        if self.fit_days is not None:
            start = until - pd.Timedelta(days=self.fit_days)
        else:
            start = until - (until - pd.Timestamp(times.min())) / 2
        if not (times < start).any():
            raise InvalidQueryError(
                f"no merchant visit before the fit window ({start.isoformat()} … "
                f"{until.isoformat()}; {_span(visits)}): candidates need earlier visits; "
                "give a later until or fewer fit_days"
            )
        if not (times >= start).any():
            raise InvalidQueryError(
                f"the fit window {_window(start, until)} lies entirely after the log's last "
                f"merchant visit ({_when(times.max())}; {_span(visits)}): --until "
                f"{_when(until)} is past the data; give an --until within the log (or none: "
                "the whole log) or a longer --fit-days"
            )
        return until, start


def _when(t: pd.Timestamp) -> str:
    """A time as people read it: the date at midnight, else date and minute (UTC)."""
    t = pd.Timestamp(t)
    return f"{t:%Y-%m-%d}" if t == t.normalize() else f"{t:%Y-%m-%d %H:%M} UTC"


def _window(start: pd.Timestamp, end: pd.Timestamp) -> str:
    return f"{_when(start)} … {_when(end)}"


def _span(visits: pd.DataFrame) -> str:
    times = visits["time"].dropna()
    if times.empty:
        return "the log has no readable time"
    return f"the log's visits span {_window(times.min(), times.max())}"


#: Why a step of :func:`~geo_discovery.ranking.calibrate.choice_funnel` left nothing.
_DROPPED_ALL = {
    "window": "no merchant visit falls in the window",
    "complete": "no one in the window has a log of every kind of place",
    "previous": "each visit in the window is its person's first: a choice needs a person "
    "with two visits (is every row a different user?)",
    "gap": "no one's previous visit was that recent: a larger --max-gap-h",
    "venue": "people only came back to where they already stood",
    "known": "no chosen merchant was visited before the window: a longer log before it "
    "(a later --until or a shorter --fit-days)",
}


def _funnel(steps: Sequence[tuple[str, int, str]]) -> str:
    """``120 merchant visits in the window → 50 after … → 10 to a merchant seen before``,
    up to the first step that kept nothing, and which one that was (else the step that
    lost the most)."""
    shown = []
    for name, n, key in steps:
        shown.append(f"{n:,} {name}" + (" (--max-gap-h)" if key == "gap" else ""))
        if n == 0:
            return " → ".join(shown) + f"; that step dropped them all: {_DROPPED_ALL[key]}"
    losses = [(a[1] - b[1], b[0], b[2], a[1]) for a, b in itertools.pairwise(steps)]
    lost, name, key, of = max(losses, default=(0, "", "", 0))
    if lost == 0:
        return " → ".join(shown)
    return " → ".join(shown) + f" (the step '{name}' lost the most, {lost:,} of {of:,}" + (
        f": {_REMEDY[key]})" if key in _REMEDY else ")"
    )


#: What gives more choices when a step of the funnel loses many.
_REMEDY = {
    "gap": "a larger --max-gap-h",
    "known": "more log before the window: a later --until or a shorter --fit-days",
}


@dataclass
class EvaluationReport:
    """Metrics per ranker (with intervals), the fitted profile(s) and the protocol's counts."""

    table: pd.DataFrame  # index: ranker; columns: metric, metric_lo, metric_hi
    events: int
    misses: int
    candidates: int
    profile: RankingProfile
    protocol: Protocol
    splits: list[pd.DataFrame] = field(default_factory=list)  # per user split, when asked

    def to_dict(self) -> dict[str, object]:
        """Everything as plain JSON-able values (no visit ever leaves: only aggregates)."""
        return {
            "protocol": asdict(self.protocol),
            "events": self.events,
            "misses": self.misses,
            "candidates": self.candidates,
            "table": _rows(self.table),
            "splits": [_rows(t) for t in self.splits],
            "profile": json.loads(self.profile.to_json()),
        }

    def to_markdown(self) -> str:
        """The table as markdown: value [95 % interval] per metric; then, with a user split,
        each half's table (fitted on the other half of the people: it was left out)."""
        head = "| ranker | " + " | ".join(METRICS) + " |"
        rule = "|---|" + "---:|" * len(METRICS)
        out = []
        for i, table in enumerate([self.table, *self.splits]):
            if i:
                out += ["", f"User split {i} (fitted on the other half of the people):", ""]
            out += [head, rule]
            for name, r in table.iterrows():
                cells = [f"{r[m]:.3f} [{r[m + '_lo']:.3f}, {r[m + '_hi']:.3f}]" for m in METRICS]
                out.append(f"| {name} | " + " | ".join(cells) + " |")
        return "\n".join(out)


def _rows(table: pd.DataFrame) -> dict[str, dict[str, float]]:
    return {str(k): {str(m): float(v) for m, v in row.items()} for k, row in table.iterrows()}


# ------------------------------------------------------------------- building blocks
def _load_engine(log: Path, until: pd.Timestamp, work: Path, settings: Settings) -> DiscoveryEngine:
    """The candidates as the product would serve them: the real pipeline, visits < until."""
    from .snapshot.pipeline import load

    data_dir = work / f"until-{until.strftime('%Y%m%dT%H%M%S')}"
    s = settings.model_copy(update={"data_dir": data_dir})
    load([log], data_dir=data_dir, profile="checkins", settings=s,
         options=ReadOptions(until=until.to_pydatetime()))  # fmt: skip
    return DiscoveryEngine.from_snapshot(data_dir, settings=s)


def _venues(engine: DiscoveryEngine) -> pd.Index:
    ids = engine.merchants.column("merchant_id").to_pylist()
    return pd.Index([str(i).split(":", 1)[1] for i in ids])


def _split_users(users: Sequence[str]) -> tuple[set[str], set[str]]:
    a = {u for u in users if hashlib.sha256(f"user-split:{u}".encode()).digest()[0] % 2 == 0}
    return a, set(users) - a


def _choice_data(
    engine: DiscoveryEngine,
    visits: pd.DataFrame,
    events: pd.DataFrame,
    profile_for_shares: RankingProfile | None,
    member_until: pd.Timestamp | None,
) -> ChoiceData:
    venues = _venues(engine)
    pos = pd.Series(np.arange(len(venues)), index=venues)
    known = events["venue"].isin(venues)
    ev = events[known].reset_index(drop=True)
    planner = engine.planner
    feats = merchant_features(
        engine.merchants, wom=planner.wom_score, district_term=planner.district_term,
        profile=profile_for_shares,
    )  # fmt: skip
    cats = [str(c) for c in engine.merchants.column("category").to_pylist()]
    users = [str(u) for u in ev["user"].tolist()]
    member = None
    if member_until is not None:
        member = member_matrices(visits, member_until, sorted(set(users)), venues, cats)
    return ChoiceData(
        features=feats,
        lat=engine.snapshot.lat,
        lng=engine.snapshot.lng,
        roots=[root_of(c) for c in cats],
        qlat=ev["qlat"].to_numpy(np.float64),
        qlng=ev["qlng"].to_numpy(np.float64),
        target=pos.reindex(ev["venue"]).to_numpy(np.int64),
        users=users,
        member=member,
        bins=time_bins(ev["local_time"]) if "local_time" in ev.columns else None,
        origin=pos.reindex(ev["origin"]).fillna(-1).to_numpy(np.int64)
        if "origin" in ev.columns else None,
    )


def calibrate(
    log: str | Path,
    protocol: Protocol,
    *,
    settings: Settings | None = None,
    users: set[str] | None = None,
    work: Path | None = None,
) -> RankingProfile:
    """Fit a profile on the ``fit_days`` before ``until`` (module doc, step 3).

    Here ``until=None`` means the whole log: the window ends after its last visit. Fewer
    choices than ``protocol.min_choices`` raise :class:`InvalidQueryError` naming the fit
    window, the log's span and the step of :func:`choice_funnel` that lost them (nothing
    is fitted).
    """
    settings = settings or Settings()
    visits = read_visits(log)
    if protocol.until is None:
        last = visits["time"].max() + pd.Timedelta(seconds=1)
        protocol = replace(protocol, until=last.isoformat())
    until, start = protocol.split(visits)
    with tempfile.TemporaryDirectory(prefix="geo-discovery-calibrate-") as tmp:
        engine = _load_engine(Path(log), start, work or Path(tmp), settings)
        events = choice_events(
            visits, start, until, max_gap_h=protocol.max_gap_h,
            users=None if users is None else sorted(users),
        )  # fmt: skip
        cats = [str(c) for c in engine.merchants.column("category").to_pylist()]
        chosen = pd.Series(cats, index=_venues(engine)).reindex(events["venue"]).dropna()
        shares = share_table(cats, {str(k): float(v) for k, v in chosen.value_counts().items()})
        seed = RankingProfile(weights=(), gamma=1.0, radii=(("", 1_000.0),),
                              category_log_share=shares)  # fmt: skip
        data = _choice_data(engine, visits, events, seed, start)
        if len(data.target) < protocol.min_choices or len(data.lat) < 2:
            raise InvalidQueryError(_too_few(visits, protocol, start, until, users, engine, data))
        meta = {"log": Path(log).name, "fit_window": f"{start.date()} … {until.date()}",
                "users": "all" if users is None else f"{len(users)} (a user split)"}  # fmt: skip
        return fit_profile(data, member=True, category_log_share=shares, meta=meta)


def _too_few(
    visits: pd.DataFrame,
    protocol: Protocol,
    start: pd.Timestamp,
    until: pd.Timestamp,
    users: set[str] | None,
    engine: DiscoveryEngine,
    data: ChoiceData,
) -> str:
    """Why there are too few choices to fit: the window, the log's span, where the window's
    visits were lost (:func:`choice_funnel`) and how to get more."""
    steps = choice_funnel(
        visits, start, until, max_gap_h=protocol.max_gap_h,
        users=None if users is None else sorted(users), known=_venues(engine),
    )  # fmt: skip
    n, where = len(data.target), f"the fit window {_window(start, until)}"
    if users is not None:
        where += f", among the {len(users):,} people of one half of the user split"
    if n == 0:
        return f"no choice to calibrate on in {where} ({_span(visits)}): {_funnel(steps)}"
    if len(data.lat) < 2:
        return (
            f"nothing to calibrate on in {where}: {len(data.lat)} merchant seen before it "
            f"({_span(visits)}); a longer log before the window (a later --until or a "
            "shorter --fit-days)"
        )
    days = (until - start) / pd.Timedelta(days=1)
    return (
        f"only {n:,} choices to calibrate on in {where} ({_span(visits)}), fewer than the "
        f"minimum {protocol.min_choices:,} (--min-choices): a fit on so few runs to the edges "
        f"of its search range and ranks by noise. Where the window's visits went: "
        f"{_funnel(steps)}. For more choices: a longer window (--fit-days, now {days:.4g} "
        f"days), a larger --max-gap-h (now {protocol.max_gap_h:g} h) or a longer log (more "
        "people or days); or lower --min-choices to accept a less reliable fit"
        + ("; or run without --user-split (each half fits on its own people's choices)"
           if users is not None else "")
    )  # fmt: skip


def _no_test_choice(
    visits: pd.DataFrame, until: pd.Timestamp, end: pd.Timestamp, max_gap_h: float
) -> str:
    """Why the time split leaves nothing to test on."""
    merchant = visits.loc[visits["merchant"].astype(bool), "time"].dropna()
    if not (merchant >= until).any():
        return (
            f"nothing to test on: the split --until {_when(until)} is after the log's last "
            f"merchant visit ({_when(merchant.max())}; {_span(visits)}); give an --until "
            "within the log, or none (when 80 % of its merchant visits had happened)"
        )
    steps = choice_funnel(visits, until, end, max_gap_h=max_gap_h)
    return (
        f"no choice to test on after the split {_when(until)} (the test window "
        f"{_window(until, end)}; {_span(visits)}): {_funnel(steps)}"
    )


# ------------------------------------------------------------------------ scoring
Scorer = Callable[[slice, NDArray[np.float64]], NDArray[np.float64]]


def _ranks(data: ChoiceData, scorer: Scorer) -> NDArray[np.float64]:
    """1-based rank of each event's target under ``scorer`` (ties count half)."""
    out = np.empty(len(data.target), dtype=np.float64)
    for s in range(0, len(data.target), _CHUNK):
        rows = slice(s, min(s + _CHUNK, len(data.target)))
        c2 = data.chord2(rows)
        score = data.without_origin(rows, np.array(scorer(rows, c2), dtype=np.float64))
        r = np.arange(rows.stop - rows.start)
        mine = score[r, data.target[rows]][:, None]
        better = (score > mine).sum(axis=1)
        ties = (score == mine).sum(axis=1) - 1
        out[rows] = 1 + better + 0.5 * ties
    return out


def _metrics(ranks: NDArray[np.float64]) -> dict[str, NDArray[np.float64]]:
    return {
        "acc@1": (ranks <= 1).astype(float),
        "acc@5": (ranks <= 5).astype(float),
        "acc@10": (ranks <= 10).astype(float),
        "mrr": 1.0 / ranks,
        "ndcg@10": np.where(ranks <= 10, 1.0 / np.log2(ranks + 1.0), 0.0),
    }


def _summarise(per_ranker: dict[str, NDArray[np.float64]], protocol: Protocol) -> pd.DataFrame:
    rng = np.random.default_rng(protocol.seed)
    n = len(next(iter(per_ranker.values())))
    draws = rng.integers(0, n, size=(protocol.bootstrap, n)) if n else np.zeros((0, 0), int)
    rows = {}
    for name, ranks in per_ranker.items():
        row: dict[str, float] = {}
        for m, values in _metrics(ranks).items():
            row[m] = float(values.mean()) if n else math.nan
            boot = values[draws].mean(axis=1) if n and len(draws) else np.array([math.nan])
            row[m + "_lo"], row[m + "_hi"] = (float(x) for x in np.quantile(boot, [0.025, 0.975]))
        rows[name] = row
    return pd.DataFrame.from_dict(rows, orient="index")


def _per_bin(
    engine: DiscoveryEngine, profile: RankingProfile
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The engine's ``(quality, K)`` under ``profile`` read at each time-of-week bin, and
    without a time as the last row (an event's bin -1 picks it)."""
    quality = []
    for b in [*range(N_BINS), None]:
        ranking = replace(engine.ranking, profile=profile.at_bin(b))
        q, k = engine.planner.best_match_arrays(ranking)
        quality.append(q)
    return np.stack(quality), k


def _rankers(
    engine: DiscoveryEngine, data: ChoiceData, profile: RankingProfile, protocol: Protocol
) -> dict[str, NDArray[np.float64]]:
    visits = np.nan_to_num(data.features["volume"])  # log(1 + visits), centred: same ranks
    planner = engine.planner
    q_hand, k_hand = planner.best_match_arrays(engine.ranking)
    personal = profile.for_member()  # a query with a member ranks by its own model
    q_cal, k_cal = _per_bin(engine, profile)
    q_per, k_per = _per_bin(engine, personal)
    bins = np.full(len(data.target), -1) if data.bins is None else data.bins
    r_c2 = float((2 * np.sin(protocol.radius_m / (2 * EARTH_RADIUS_M))) ** 2)
    w_own, w_cat = personal.member_weight("own_visits"), personal.member_weight("own_category")
    cap = math.log(engine.settings.member_max_lift)  # as the engine caps a member's lift

    def with_member(rows: slice, c2: NDArray[np.float64]) -> NDArray[np.float64]:
        """The member model where the person has a history among the candidates, else the
        calibrated one, as the engine ranks a member without history here."""
        own = data.member_dense(rows, "own_visits")
        cat = data.member_dense(rows, "own_category")
        term = np.minimum((w_own * own + w_cat * cat) / personal.gamma, cap)
        mine = np.log(q_per[bins[rows]]) - np.log1p(c2 * k_per[None, :]) + term
        anyone = np.log(q_cal[bins[rows]]) - np.log1p(c2 * k_cal[None, :])
        has = np.asarray((own > 0).any(axis=1))
        return np.where(has[:, None], mine, anyone)

    scorers: dict[str, Scorer] = {
        "distance": lambda rows, c2: -c2,
        "popularity within radius": lambda rows, c2: np.where(
            c2 <= r_c2, 10.0 + visits[None, :] - 1e-9 * c2, -c2
        ),
        "gravity": lambda rows, c2: visits[None, :] - 2.0 * np.log(chord2_to_m(c2) / 1000.0 + 0.05),
        "best_match (hand-set)": lambda rows, c2: q_hand[None, :] / (1.0 + c2 * k_hand[None, :]),
        "best_match (calibrated)": lambda rows, c2: q_cal[bins[rows]] / (1.0 + c2 * k_cal[None, :]),
        "own past visits, then distance": lambda rows, c2: (
            10.0 * data.member_dense(rows, "own_visits") - c2
        ),
        "best_match (calibrated) + member": with_member,
    }
    return {name: _ranks(data, fn) for name, fn in scorers.items()}


def evaluate_ranking(
    log: str | Path,
    protocol: Protocol | None = None,
    *,
    settings: Settings | None = None,
    profile: RankingProfile | None = None,
) -> EvaluationReport:
    """Run the whole protocol on a visit log (module doc) and report every ranker."""
    settings = settings or Settings()
    visits = read_visits(log)
    until, _ = (protocol or Protocol()).split(visits)
    protocol = replace(protocol or Protocol(), until=until.isoformat())
    end = visits["time"].max() + pd.Timedelta(seconds=1)
    events = choice_events(visits, until, end, max_gap_h=protocol.max_gap_h)
    if events.empty:
        raise InvalidQueryError(_no_test_choice(visits, until, end, protocol.max_gap_h))
    if protocol.max_events is not None:
        events = events.iloc[: protocol.max_events]
    with tempfile.TemporaryDirectory(prefix="geo-discovery-eval-") as tmp:
        work = Path(tmp)
        engine = _load_engine(Path(log), until, work, settings)
        fitted = profile or calibrate(log, protocol, settings=settings, work=work)
        splits = []
        if protocol.user_split:
            a, b = _split_users(sorted(set(visits["user"].astype(str))))
            for fit_users, test_users in ((a, b), (b, a)):
                sub = events[events["user"].astype(str).isin(test_users)]
                if sub.empty:
                    raise InvalidQueryError(
                        f"no choice to test on among the {len(test_users):,} people of one "
                        f"half of the user split (the {len(events):,} choices after the split "
                        f"{_when(until)} are all the other half's); run without --user-split"
                    )
                part = calibrate(log, protocol, settings=settings, users=fit_users, work=work)
                data = _choice_data(engine, visits, sub, part, until)
                miss = len(sub) - len(data.target)
                ranks = {k: np.r_[v, np.full(miss, _MISS)]
                         for k, v in _rankers(engine, data, part, protocol).items()}  # fmt: skip
                splits.append(_summarise(ranks, protocol))
        data = _choice_data(engine, visits, events, fitted, until)
        miss = len(events) - len(data.target)
        ranks = {k: np.r_[v, np.full(miss, _MISS)]
                 for k, v in _rankers(engine, data, fitted, protocol).items()}  # fmt: skip
        return EvaluationReport(
            table=_summarise(ranks, protocol),
            events=len(events),
            misses=miss,
            candidates=len(engine),
            profile=fitted,
            protocol=protocol,
            splits=splits,
        )
