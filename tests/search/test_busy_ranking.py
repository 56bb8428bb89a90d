"""Popular times: time-of-week bins, the busy feature, its ingest, and ``at`` on queries.

The feature is checked against a per-merchant loop written from its formula; the engine's
pages with ``at`` against the brute-force oracle (which finds the bin itself); and the
behaviour a user sees: a bar wins at night, a bakery in the morning, from the same point.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import ranking_oracle as ro
from hypothesis import given
from hypothesis import strategies as st
from test_ranked_engine import PROPERTY, make_engine, random_query

from geo_discovery.engine import DiscoveryEngine
from geo_discovery.errors import InvalidQueryError
from geo_discovery.ingest.checkins import read_visits, venue_signals, venues_to_canonical
from geo_discovery.query import Member, NearbyQuery, Ranking
from geo_discovery.ranking.busy import (
    PRIOR_VISITS,
    busy_table,
    histograms,
    local_time_at,
    ranking_at,
)
from geo_discovery.ranking.calibrate import ChoiceData, fit_profile
from geo_discovery.ranking_profile import RankingProfile
from geo_discovery.settings import Settings
from geo_discovery.timeofweek import BIN_LABELS, N_BINS, time_bin, time_bins

PROFILE = RankingProfile(
    weights=(("wom", 1.5), ("volume", 0.4), ("busy", 0.9)),
    gamma=0.9,
    radii=(("", 600.0), ("food", 300.0)),
)
TWO_MODELS = RankingProfile(
    weights=(("busy", 1.4),),
    gamma=1.2,
    radii=(("", 900.0),),
    personal=replace(PROFILE, member_weights=(("own_visits", 1.2),)),
)


# --------------------------------------------------------------------------- bins
def test_every_hour_of_the_week_falls_in_its_labelled_bin() -> None:
    monday = datetime(2024, 7, 15)
    for h in range(7 * 24):
        t = monday + timedelta(hours=h, minutes=59)
        b = time_bin(t)
        day, span = BIN_LABELS[b].split(" ")
        start, end = (int(x[:2]) for x in span.split("-"))
        assert day == ("weekend" if t.weekday() >= 5 else "weekday"), t
        assert start <= t.hour < end, t
    stamps = pd.Series([monday + timedelta(hours=h) for h in range(0, 168, 5)] + [pd.NaT])
    expected = [time_bin(t) for t in stamps[:-1]] + [-1]
    assert time_bins(stamps).tolist() == expected
    assert len(BIN_LABELS) == N_BINS == 8


def test_an_aware_time_is_read_in_the_zone_of_the_point() -> None:
    at = datetime(2024, 1, 13, 3, 30, tzinfo=UTC)  # Saturday 03:30 UTC
    assert local_time_at(at, 40.75, -73.98) == datetime(2024, 1, 12, 22, 30)  # NYC, Friday
    assert local_time_at(at, 60.17, 24.94) == datetime(2024, 1, 13, 5, 30)  # Helsinki
    naive = datetime(2024, 1, 13, 3, 30)
    assert local_time_at(naive, 40.75, -73.98) == naive  # naive: local already


# ------------------------------------------------------------------------- feature
def _busy_by_loop(counts: np.ndarray, cats: list[str], prior: float) -> np.ndarray:
    """The module doc's formula, one merchant and bin at a time."""
    total = counts.sum(axis=0)
    overall = [(total[b] + 1) / (total.sum() + N_BINS) for b in range(N_BINS)]
    out = np.zeros(counts.shape)
    for i, c in enumerate(cats):
        mine = [j for j, d in enumerate(cats) if d == c]
        cat_counts = counts[mine].sum(axis=0)
        for b in range(N_BINS):
            s_cb = (cat_counts[b] + 50 * overall[b]) / (cat_counts.sum() + 50)
            p = (counts[i, b] + prior * s_cb) / (counts[i].sum() + prior)
            out[i, b] = math.log(p / overall[b])
    return out


@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 30))
@PROPERTY
def test_busy_feature_follows_its_formula(seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    counts = rng.poisson(rng.choice([0.0, 0.5, 8.0], (n, N_BINS))).astype(float)
    cats = rng.choice(["food/bakery", "nightlife/bar", "shop"], n).tolist()
    got = busy_table(counts, cats)
    if not counts.any():
        assert not got.any()  # no counts anywhere: no lift, no penalty
        return
    np.testing.assert_allclose(got, _busy_by_loop(counts, cats, PRIOR_VISITS), rtol=1e-12)


def test_shrinkage_gives_few_visits_their_category_profile() -> None:
    bars = np.zeros((3, N_BINS))
    bars[0, 3] = bars[1, 7] = 200  # two busy bars, at night
    # the third bar has a single morning visit; a bakery in the morning
    bars[2, 1] = 1
    bakery = np.zeros((1, N_BINS))
    bakery[0, 1] = 200
    t = busy_table(np.vstack([bars, bakery]), ["nightlife/bar"] * 3 + ["food/bakery"])
    assert t[0, 3] > 0 > t[0, 1] and t[3, 1] > 0 > t[3, 3]
    assert t[2, 3] > t[2, 1]  # one morning visit does not outweigh its category's nights
    none = busy_table(np.vstack([bars, np.zeros((2, N_BINS))]), ["nightlife/bar"] * 5)
    np.testing.assert_array_equal(none[3], none[4])  # no visits at all: the category's
    assert none[3, 3] > 0 > none[3, 1]  # profile, busy at night


def test_histograms_read_attributes_and_ignore_malformed_ones() -> None:
    attrs = pa.chunked_array(
        [[json.dumps({"visits_by_time": [1, 2, 3, 4, 5, 6, 7, 8]}), None, "{}",
          json.dumps({"visits_by_time": [1, 2]}), json.dumps({"visits_by_time": "x"}),
          json.dumps({"visits_by_time": [-1, 0, 0, 0, 0, 0, 0, 0]}), "not json visits_by_time"]]
    )  # fmt: skip
    got = histograms(attrs, 7)
    assert got[0].tolist() == [1, 2, 3, 4, 5, 6, 7, 8]
    assert not got[1:].any()
    assert not histograms(None, 3).any()


# -------------------------------------------------------------------------- ingest
def test_the_ingest_counts_visits_per_local_bin(tmp_path: Path) -> None:
    """Without a local_time column the zone at the venue gives it (New York: UTC-5 in
    January); with one, the log's own wall clock is used."""
    log = pd.DataFrame(
        {
            "user": ["a", "b", "c", "a"],
            "venue": ["v1", "v1", "v1", "v2"],
            "lat": [40.75, 40.75, 40.75, 60.17],
            "lng": [-73.98, -73.98, -73.98, 24.94],
            "category": "Bar",
            # Sat 03:30 UTC = Fri 22:30 in New York; Mon 14:00 UTC = 09:00; Helsinki 05:30
            "time": ["2024-01-13T03:30:00Z", "2024-01-15T14:00:00Z", "2024-01-15T14:30:00Z",
                     "2024-01-13T03:30:00Z"],
        }
    )  # fmt: skip
    log.to_csv(tmp_path / "log.csv", index=False)
    sig = venue_signals(read_visits(tmp_path / "log.csv"))
    v1 = [0] * N_BINS
    v1[3], v1[1] = 1, 2  # weekday 18-24, weekday 06-12
    v2 = [0] * N_BINS
    v2[4] = 1  # weekend 00-06 in Helsinki
    assert sig.loc["v1", "visits_by_time"] == v1
    assert sig.loc["v2", "visits_by_time"] == v2
    attrs = json.loads(venues_to_canonical(sig)["attributes"].iloc[0])
    assert attrs["visits_by_time"] == v1
    log["local_time"] = ["2024-01-13T23:00:00", "", "2024-01-15T07:00:00", None]
    log.to_csv(tmp_path / "log.csv", index=False)
    sig = venue_signals(read_visits(tmp_path / "log.csv"))
    v1 = [0] * N_BINS
    v1[7], v1[1] = 1, 2  # given: Saturday 23:00 and 07:00; the blank one from the zone
    assert sig.loc["v1", "visits_by_time"] == v1
    # Offsets (mixed, as a log merged from several cities has them) only name the zone of
    # the wall clock; what cannot be read falls back to the zone at the venue.
    log["local_time"] = ["2024-01-13T23:00:00+01:00", "garbage", "2024-01-15T07:00-05:00", "Z"]
    log.to_csv(tmp_path / "log.csv", index=False)
    sig = venue_signals(read_visits(tmp_path / "log.csv"))
    assert sig.loc["v1", "visits_by_time"] == v1
    assert sig.loc["v2", "visits_by_time"] == v2


# ------------------------------------------------------------------ profile and query
def test_a_profile_reads_a_bin_only_when_it_weighs_busy() -> None:
    assert PROFILE.at_bin(3).time_bin == 3 and PROFILE.at_bin(None) == PROFILE
    plain = RankingProfile(weights=(("wom", 1.0),), gamma=1.0, radii=(("", 500.0),))
    assert plain.at_bin(5) is plain
    two = TWO_MODELS.at_bin(6)
    assert two.time_bin == 6 and two.for_member().time_bin == 6
    assert RankingProfile.from_json(two.to_json()) == two
    with pytest.raises(InvalidQueryError, match=r"time_bin=8 is out of range; allowed: 0 … 7"):
        replace(PROFILE, time_bin=8)
    with pytest.raises(InvalidQueryError, match="at='tonight' is not an ISO 8601 date-time"):
        NearbyQuery(40.0, -73.0, sort="best_match", at="tonight")  # type: ignore[arg-type]
    with pytest.raises(InvalidQueryError, match="at ranks best_match only; got sort='distance'"):
        NearbyQuery(40.0, -73.0, at=datetime(2024, 1, 1))
    q = NearbyQuery(40.0, -73.0, sort="best_match", at="2024-07-13T21:30:00")  # type: ignore[arg-type]
    assert q.at == datetime(2024, 7, 13, 21, 30)


def test_a_ranking_at_a_time_is_one_object_per_bin() -> None:
    """The planner's caches and the cursor fingerprint find rankings by identity first: a
    query at a time must not make a new ranking object (and a new repr) every call."""
    ranking = Ranking(profile=PROFILE)
    saturday = ranking_at(ranking, datetime(2024, 7, 13, 22, 0), 40.75, -73.98)
    assert saturday.profile is not None and saturday.profile.time_bin == 7
    assert ranking_at(ranking, datetime(2024, 7, 13, 19, 30), 40.75, -73.98) is saturday
    monday = ranking_at(ranking, datetime(2024, 7, 15, 8, 0), 40.75, -73.98)
    assert monday is not saturday and monday.profile is not None
    assert monday.profile.time_bin == 1
    assert ranking_at(ranking, None, 40.75, -73.98) is ranking
    plain = Ranking()
    assert ranking_at(plain, datetime(2024, 7, 13, 22, 0), 40.75, -73.98) is plain


def _bar_and_bakery() -> DiscoveryEngine:
    """A bar and a bakery the same distance from (40.75, -73.98), equal in all but hours."""
    night, morning = [0] * N_BINS, [0] * N_BINS
    night[3] = night[7] = morning[1] = morning[5] = 50
    table = pa.table(
        {
            "merchant_id": ["bar", "bakery"],
            "name": ["Bar", "Bakery"],
            "lat": [40.751, 40.749],
            "lng": [-73.98, -73.98],
            "category": ["food/cafe", "food/cafe"],
            "review_count": pa.array([100, 100], pa.int64()),
            "attributes": [json.dumps({"visits_by_time": night}),
                           json.dumps({"visits_by_time": morning})],
        }
    )  # fmt: skip
    return DiscoveryEngine.from_table(table, settings=Settings())


def test_the_time_of_week_changes_who_is_worth_the_walk() -> None:
    engine = _bar_and_bakery()
    ranking = Ranking(profile=PROFILE)

    def first(at: object) -> str:
        res = engine.nearby(40.75, -73.98, 2, sort="best_match", ranking=ranking, at=at,
                            explain=True)  # fmt: skip
        assert res.explanations is not None
        busy = [e.profile_parts.get("busy") for e in res.explanations]
        assert all(b is not None and b["weight"] == 0.9 for b in busy)
        bins = {b["time_bin"] for b in busy if b is not None}
        assert len(bins) == 1  # the bin read, shown in the one-line description too
        assert BIN_LABELS[int(bins.pop())] in res.explanations[0].describe()
        return str(res[0].merchant_id)

    assert first("2024-07-13T22:00:00") == "bar"  # Saturday night
    assert first(datetime(2024, 7, 15, 8, 0)) == "bakery"  # Monday morning
    # An aware time is read in the point's zone: Monday 12:30 UTC is 08:30 in New York.
    assert first(datetime(2024, 7, 15, 12, 30, tzinfo=UTC)) == "bakery"
    # Tuesday 00:30 UTC is Monday 20:30 in New York (naive, 00:30 would favour neither).
    assert first(datetime(2024, 7, 16, 0, 30, tzinfo=UTC)) == "bar"
    assert first(datetime(2024, 7, 15, 20, 30, tzinfo=timezone(timedelta(hours=-4)))) == "bar"
    plain = engine.nearby(40.75, -73.98, 2, sort="best_match", ranking=ranking, explain=True)
    assert plain.explanations is not None
    assert "time_bin" not in plain.explanations[0].profile_parts["busy"]  # no time, no bin
    timed = engine.nearby(40.75, -73.98, 2, sort="best_match", ranking=ranking,
                          at="2024-07-13T22:00:00")  # fmt: skip
    assert plain.scores is not None and timed.scores is not None
    assert plain.scores[0] == pytest.approx(plain.scores[1], rel=1e-9)  # no time: no lift
    assert timed.scores[0] > timed.scores[1]


def test_a_cursor_belongs_to_its_time_of_week() -> None:
    engine = _bar_and_bakery()
    ranking = Ranking(profile=PROFILE)
    page = engine.nearby(40.75, -73.98, 1, sort="best_match", ranking=ranking,
                         at="2024-07-13T22:00:00")  # fmt: skip
    assert page.next_cursor is not None
    more = engine.nearby(40.75, -73.98, 1, sort="best_match", ranking=ranking,
                         at="2024-07-13T23:30:00", cursor=page.next_cursor)  # same bin
    assert [h.merchant_id for h in more] == ["bakery"]
    with pytest.raises(InvalidQueryError, match="cursor"):
        engine.nearby(40.75, -73.98, 1, sort="best_match", ranking=ranking,
                      at="2024-07-15T08:00:00", cursor=page.next_cursor)  # fmt: skip


@PROPERTY
@given(
    seed=st.integers(0, 2**32 - 1),
    kind=st.sampled_from(
        ["city", "duplicates", "antimeridian", "north_pole", "south_pole", "global"]
    ),
)
def test_pages_with_a_time_equal_brute_force(seed: int, kind: str) -> None:
    rng = np.random.default_rng(seed)
    engine = make_engine(rng, int(rng.integers(1, 300)), kind, busy=True)
    cols = ro.Columns(engine)
    ids = [str(x) for x in engine.merchants.column("merchant_id").to_pylist()]
    for _ in range(6):
        q = random_query(rng, engine, "best_match")
        at = datetime(2024, 7, 15) + timedelta(minutes=int(rng.integers(0, 7 * 24 * 60)))
        member = Member(visits=rng.choice(ids, 3).tolist()) if rng.random() < 0.3 else None
        profile = [PROFILE, TWO_MODELS][int(rng.integers(0, 2))]
        q = replace(q, ranking=Ranking(profile=profile), at=at, member=member, explain=True)
        res = engine.search(q)
        rows, prim, dist = ro.brute_force(cols, q, limit=q.k)
        assert res.positions.tolist() == rows.tolist(), q
        assert res.scores is not None
        np.testing.assert_array_equal(res.scores, prim)
        np.testing.assert_array_equal(res.distances_m, dist)
        seen, cursor = res.positions.tolist(), res.next_cursor
        if cursor is not None:  # the next page, same time
            nxt = engine.search(replace(q, cursor=cursor, explain=False))
            rows, _, _ = ro.brute_force(cols, q, limit=q.k + len(nxt))
            assert seen + nxt.positions.tolist() == rows.tolist()


# ---------------------------------------------------------------------- calibration
def test_calibration_learns_how_much_the_time_of_week_matters() -> None:
    """Choices drawn with a true busy weight of 1.2: the fit recovers it, and refitting
    on the same choices with their bins shuffled learns (almost) nothing."""
    rng = np.random.default_rng(7)
    n, events = 200, 3_000
    lat, lng = 40.75 + rng.normal(0, 0.01, n), -73.98 + rng.normal(0, 0.013, n)
    counts = rng.poisson(rng.choice([0.3, 6.0], (n, N_BINS), p=[0.7, 0.3]))
    roots = ["food"] * n
    busy = busy_table(counts, ["food/x"] * n)
    feats = {"wom": rng.random(n), "busy": busy}
    qlat, qlng = 40.75 + rng.normal(0, 0.01, events), -73.98 + rng.normal(0, 0.013, events)
    bins = rng.integers(0, N_BINS, events)
    data = ChoiceData(feats, lat, lng, roots, qlat, qlng, np.zeros(events, np.int64), bins=bins)
    c2 = data.chord2(slice(0, events))
    d = 2 * 6_371_008.8 * np.arcsin(np.sqrt(c2) / 2)
    u = 1.5 * feats["wom"][None, :] + 1.2 * busy[:, bins].T - 1.1 * np.log1p((d / 300.0) ** 2)
    p = np.exp(u - u.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    data.target[:] = (p.cumsum(axis=1) < rng.random((events, 1))).sum(axis=1)
    fitted = fit_profile(data, features=("wom", "busy"))
    assert fitted.weight("busy") == pytest.approx(1.2, rel=0.2)
    assert fitted.weight("wom") == pytest.approx(1.5, rel=0.2)
    shuffled = replace(data, bins=rng.permutation(bins))
    assert abs(fit_profile(shuffled, features=("wom", "busy")).weight("busy")) < 0.3
    no_times = replace(data, bins=None)
    assert "busy" not in dict(fit_profile(no_times, features=("wom", "busy")).weights)
