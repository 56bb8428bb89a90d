"""Visit logs: ``load --profile checkins --until`` counts visits into merchants, rejects the
rest with a reason, and keeps member histories under hashed ids.

A synthetic log (``benchmarks/visit_log.py``: known venues, people and times) checks every
count against pandas on the raw file; the real TSMC2014 log (skipped without
``../shared/data``) checks the row equation and the category mapping at city scale.
"""

from __future__ import annotations

import gzip
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import ranking_oracle as ro

from benchmarks.visit_log import write_visit_log
from geo_discovery.engine import DiscoveryEngine
from geo_discovery.errors import IngestError, LoadRefusedError
from geo_discovery.ingest.checkins import checkin_category, read_visit_sources, read_visits
from geo_discovery.ingest.options import ReadOptions
from geo_discovery.query import Member, NearbyQuery, Ranking
from geo_discovery.ranking.busy import histograms
from geo_discovery.ranking.derived import member_ranking
from geo_discovery.ranking_profile import RankingProfile
from geo_discovery.search.shortlist import MEMBER_K
from geo_discovery.settings import Settings
from geo_discovery.snapshot.members import MEMBERS_FILE
from geo_discovery.snapshot.pipeline import load

UNTIL = pd.Timestamp("2012-09-20", tz="UTC")


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_visit_log(tmp_path_factory.mktemp("visits") / "log.csv", seed=11)


@pytest.fixture(scope="module")
def loaded(log: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("data")
    load([log], data_dir=data_dir, profile="checkins", settings=Settings(data_dir=data_dir),
         options=ReadOptions(until=UNTIL.to_pydatetime()))  # fmt: skip
    return data_dir


def test_every_visit_is_counted_or_rejected_with_its_reason(log: Path) -> None:
    raw = pd.read_csv(log)
    result = read_visit_sources([log], until=UNTIL)
    times = pd.to_datetime(raw["time"], utc=True)
    counted = raw[raw["merchant"] & (times < UNTIL)]
    assert result.rows_read == len(raw)
    assert result.rows_loaded == len(counted)
    assert result.rows_rejected == len(raw) - len(counted)
    reasons = result.rejects["reason"].str.cat(sep="|")
    assert "visit venue is not a merchant" in reasons
    assert f"visit is at or after --until {UNTIL.isoformat()}" in reasons
    m = result.merchants.set_index("merchant_id")
    per_venue = counted.groupby("venue").size()
    assert len(m) == len(per_venue)
    for venue, n in per_venue.items():
        assert m.loc[f"checkins:{venue}", "review_count"] == n
    last = pd.to_datetime(counted.groupby("venue")["time"].max(), utc=True)
    got = pd.to_datetime(m["last_review"]).dt.tz_localize("UTC")
    assert (got.reindex([f"checkins:{v}" for v in last.index]).to_numpy()
            == last.to_numpy()).all()  # fmt: skip


def test_a_rejected_visit_is_shown_as_written_but_for_who(tmp_path: Path) -> None:
    """The rejects' raw column showed the parsed row (a time in UTC, lat 'nan', a merchant
    flag True), not the text the ops person has to find in the file. Who made the visit is
    personal data: it is masked (members are only ever kept hashed)."""
    log = tmp_path / "log.csv"
    log.write_text(
        "user,venue,lat,lng,category,time,name\n"
        "u1,v1,40.70,-74.0,Cafe,2012-05-01T10:00:00+02:00,A\n"
        "\n"
        'u2,v2,north,-74.0,Cafe,2012-05-01T10:00:00Z,"two\nlines"\n'
        "u3,v3,40.71,-74.0,Cafe,yesterday,C\n"
    )
    result = read_visit_sources([log])
    assert result.rows_rejected == 2 and result.rows_loaded == 1
    assert result.rejects["raw"].tolist() == [
        '<member>,v2,north,-74.0,Cafe,2012-05-01T10:00:00Z,"two\nlines"',
        "<member>,v3,40.71,-74.0,Cafe,yesterday,C",
    ]
    assert result.rejects["source_line"].tolist() == [4, 6]  # the blank line 3 counts
    assert result.rejects["reason"].tolist() == [
        "visit lat 'north' is missing or not a number in -90 … 90",
        "visit time 'yesterday' is not an ISO 8601 date-time (e.g. 2012-05-01T18:30:00Z)",
    ]


def test_the_rejects_file_never_names_a_member(tmp_path: Path) -> None:
    """A load wrote every rejected visit (after --until, not a merchant, unreadable) with
    the person's raw id into the rejects file: 12,440 rows of a user's home and trail."""
    log = tmp_path / "log.csv"
    log.write_text(
        "user_id,venue_id,category_name,level_1,latitude,longitude,utc_time\n"
        "alice77,v1,Bar,Nightlife Spot,40.7,-74.0,2012-05-01T10:00:00Z\n"
        "alice77,home,Home (private),Residence,40.6,-73.9,2012-05-01T11:00:00Z\n"
        "alice77,v1,Bar,Nightlife Spot,40.7,-74.0,2013-05-01T10:00:00Z\n"
        "alice77,v1,Bar,Nightlife Spot,north,-74.0,2012-05-02T10:00:00Z\n"
        'alice77,v1,"Bar,Nightlife Spot,40.7,-74.0,2012-05-03T10:00:00Z\n'
    )
    data_dir = tmp_path / "data"
    report = load([log], data_dir=data_dir, profile="checkins",
                  settings=Settings(data_dir=data_dir),
                  options=ReadOptions(until=datetime(2012, 12, 1)))  # fmt: skip
    assert report.rows_loaded == 1 and report.rows_rejected == 4
    written = "".join(p.read_text() for p in (data_dir / "rejects").iterdir())
    assert written.count("<member>") == 3 and "alice77" not in written
    assert "<withheld" in written  # the row the reader could not split: no field is trusted


def test_a_venue_without_category_or_name_loads(tmp_path: Path) -> None:
    """A venue whose visits all left the category blank made load, calibrate and evaluate
    stop with an internal error (a null name) when the log had a name column, and became
    the category ``place/nan`` when it did not; it is ``unknown``, named by its id."""
    for name_column in (True, False):
        head = "user,venue,lat,lng,category,time" + (",name" if name_column else "")
        tail = "," if name_column else ""
        log = tmp_path / f"log{name_column}.csv"
        log.write_text(f"{head}\nu1,v1,60.17,24.94,,2024-03-01T10:00:00Z{tail}\n"
                       f"u1,v2,60.18,24.95,Cafe,2024-03-01T11:00:00Z{tail}\n")  # fmt: skip
        result = read_visit_sources([log])
        m = result.merchants.set_index("merchant_id")
        assert m.loc["checkins:v1", "category"] == "unknown"
        assert m.loc["checkins:v1", "name"] == "v1" and m.loc["checkins:v2", "name"] == "Cafe"
        assert '"venue_category": ""' in m.loc["checkins:v1", "attributes"]
        data_dir = tmp_path / f"data{name_column}"
        load([log], data_dir=data_dir, profile="checkins", settings=Settings(data_dir=data_dir))


def test_a_visit_in_the_future_or_written_twice_is_rejected(tmp_path: Path) -> None:
    """A visit dated years ahead was counted: every other venue's recency fell behind it and
    calibrate's default window moved past the log. A row written twice counted twice."""
    log = tmp_path / "log.csv"
    ahead = (pd.Timestamp.now(tz="UTC") + pd.Timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    soon = (pd.Timestamp.now(tz="UTC") + pd.Timedelta(hours=12)).strftime("%Y-%m-%dT%H:%M:%SZ")
    log.write_text("user,venue,lat,lng,category,time\n"
                   "u1,v1,60.17,24.94,Bar,2024-03-01T10:00:00Z\n"
                   f"u1,v1,60.17,24.94,Bar,{ahead}\n"
                   "u2,v1,60.17,24.94,Bar,2024-03-01T10:00:00Z\n"
                   "u1,v1,60.17,24.94,Bar,2024-03-01T10:00:00Z\n"
                   f"u3,v1,60.17,24.94,Bar,{soon}\n")  # fmt: skip
    result = read_visit_sources([log])
    assert result.rejects[["source_line", "kind"]].values.tolist() == [
        [3, "future visit"], [5, "duplicate visit"]]
    assert result.rejects["reason"].tolist() == [
        f"visit time {ahead!r} is in the future (more than a day after the load's clock): a "
        "wrong year or clock in the log",
        "visit repeats line 2 (the same user, venue and time): counted once",
    ]
    assert result.merchants["review_count"].tolist() == [3]  # u1 once, u2, u3 (within a day)
    assert result.members is not None and result.members["visits"].tolist() == [1, 1, 1]
    assert read_visits(log)["time"].isna().tolist() == [False, True, False, False, False]


def test_a_row_the_reader_cannot_split_is_rejected_not_a_crash(tmp_path: Path) -> None:
    """One row with extra fields, a byte that is not UTF-8, or a quote left open made
    load, calibrate and evaluate stop with an internal error (pandas' ParserError,
    UnicodeDecodeError): the log was not read by the loader's CSV reader."""
    good = "".join(f"u{i},v1,60.17,24.94,Bar,2012-05-0{i}T00:00:00Z\n" for i in range(1, 8))
    head = "user,venue,lat,lng,category,time\n"
    cases = {
        "extra.csv": (head + good + "u9,v1,60.17,24.94,Bar,2012-05-09T00:00:00Z,x,y\n").encode(),
        "latin1.csv": (head + good).encode() + b"u9,v1,60.17,24.94,Caf\xe9,2012-05-09T00:00:00Z\n"
        + "u8,v1,60.17,24.94,Café,2012-05-09T00:00:00Z\n".encode(),
        "quote.csv": (head + good + 'u9,v1,60.17,24.94,Bar,"2012-05-09\n').encode(),
        "semicolons.csv": (head + good).replace(",", ";").replace("60.17", "60,17").encode(),
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        result = read_visit_sources([tmp_path / name])
        assert result.rows_read == result.rows_loaded + result.rows_rejected, name
        assert result.rows_loaded >= 7, (name, result.rejects.to_dict("records"))
        if name in ("extra.csv", "latin1.csv"):
            assert result.rows_rejected == 1, (name, result.rejects.to_dict("records"))
            assert result.rejects["reason"].iloc[0].startswith(("expected 6 fields, got 8",
                                                               "bad encoding"))
        assert len(read_visits(tmp_path / name)) == result.rows_read


def test_a_log_of_only_good_visits_loads(tmp_path: Path) -> None:
    """With no visit to reject, the rejects' text was a DataFrame, and every clean log
    (or a clean part of a log) stopped the load with an internal error."""
    path = tmp_path / "clean.csv"
    path.write_text("user,venue,lat,lng,category,time\n"
                    "u1,a,40.7,-74.0,Pizza Place,2012-04-03T18:00:09Z\n"
                    "u2,a,40.7,-74.0,Pizza Place,2012-04-04T18:00:09Z\n"
                    "u1,b,40.71,-74.01,Coffee Shop,2012-04-05T08:00:00Z\n")  # fmt: skip
    result = read_visit_sources([path])
    assert (result.rows_read, result.rows_loaded, result.rows_rejected) == (3, 3, 0)
    assert len(result.rejects) == 0
    data_dir = tmp_path / "data"
    load([path], data_dir=data_dir, profile="checkins", settings=Settings(data_dir=data_dir))
    engine = DiscoveryEngine.from_snapshot(data_dir)
    assert len(engine) == 2 and engine.get("checkins:a")["review_count"] == 2


def test_a_venue_over_the_antimeridian_stays_there(tmp_path: Path) -> None:
    """Check-ins at 179.99999 and -179.99999 had a plain median of 0: the venue moved to
    the other side of the Earth."""
    path = tmp_path / "fiji.csv"
    rows = [f"u{i},cafe,-16.8,{lng},Coffee Shop,2024-01-0{i + 1}T08:00:00+12:00"
            for i, lng in enumerate((179.99999, -179.99999, 179.99998, -179.99998, 179.99997))]
    path.write_text("user,venue,lat,lng,category,time\n" + "\n".join(rows) + "\n")
    result = read_visit_sources([path])
    lng = float(result.merchants.set_index("merchant_id").loc["checkins:cafe", "lng"])
    assert abs(abs(lng) - 180.0) < 1e-4, lng


def test_load_until_takes_the_forms_calibrate_takes(log: Path, tmp_path: Path) -> None:
    """``load --until`` refused a Z or an offset (a usage error) that calibrate and
    evaluate accept: one split could not be given the same way to all three."""
    from typer.testing import CliRunner

    from geo_discovery.cli.main import app

    counts = set()
    for i, until in enumerate(("2012-09-20", "2012-09-20T00:00:00Z", "2012-09-19T19:00:00-05:00")):
        result = CliRunner().invoke(app, ["load", str(log), "--profile", "checkins", "--until",
                                          until, "--data-dir", str(tmp_path / str(i))])
        assert result.exit_code == 0, result.output
        counts.add(next(ln for ln in result.output.splitlines() if "rows read" in ln).strip())
    assert len(counts) == 1
    result = CliRunner().invoke(app, ["load", str(log), "--profile", "checkins", "--until",
                                      "soon", "--data-dir", str(tmp_path / "x")])
    assert result.exit_code == 1 and "--until='soon' is not an ISO 8601" in result.output


def test_categories_map_onto_the_taxonomy() -> None:
    assert checkin_category("Dining and Drinking", "Thai Restaurant") == "food/restaurant/thai"
    assert checkin_category("Retail", "Clothing Store") == "shop/clothes"
    assert checkin_category("Nightlife Spot", "Speakeasy") == "nightlife/bar"
    assert checkin_category("Retail", "Comic Shop") == "shop/comic_shop"
    assert checkin_category("", "Coffee Shop") == "food/coffee"


def test_not_a_visit_log_names_the_columns_it_needs(tmp_path: Path) -> None:
    bad = tmp_path / "merchants.csv"
    bad.write_text("name,lat,lng\nx,1,2\n")
    with pytest.raises(IngestError, match=r"is not a visit log.*user, venue, lat, lng"):
        read_visits(bad)


def test_tsmc_schema_is_read(tmp_path: Path) -> None:
    path = tmp_path / "tsmc.csv.gz"
    with gzip.open(path, "wt") as f:
        f.write("user_id,venue_id,category_name,level_1,latitude,longitude,utc_time\n")
        f.write("1,a,Pizza Place,Dining and Drinking,40.7,-74.0,2012-04-03T18:00:09Z\n")
        f.write("1,b,Home (private),Residence,40.71,-74.0,2012-04-03T20:00:00Z\n")
    v = read_visits(path)
    assert v["merchant"].tolist() == [True, False]
    assert v["time"].iloc[0] == pd.Timestamp("2012-04-03T18:00:09Z")


def test_member_histories_are_kept_hashed_and_lift_the_member(log: Path, loaded: Path) -> None:
    raw = pd.read_csv(log)
    snap = next((loaded / "snapshots").glob("0*"))
    stored = pq.read_table(snap / MEMBERS_FILE)
    assert not set(raw["user"].astype(str)) & set(stored.column("member").to_pylist())
    # no raw id in any stored value (the file's compressed bytes, not its values, may
    # hold "u3" by chance: a two-byte needle in a random-keyed file)
    values = {str(v) for column in stored.columns for v in column.to_pylist()}
    assert not set(raw["user"].astype(str)) & values
    engine = DiscoveryEngine.from_snapshot(loaded, settings=Settings(data_dir=loaded))
    before = raw[(pd.to_datetime(raw["time"], utc=True) < UNTIL) & raw["merchant"]]
    mine = before[before["user"] == "u3"].groupby("venue").size()
    history = engine.snapshot.members.visits("u3")
    assert history == {f"checkins:{v}": int(n) for v, n in mine.items()}
    assert engine.snapshot.members.visits("nobody") == {}
    # the member id lifts exactly what the same visits given by hand lift
    favourite = f"checkins:{mine.idxmax()}"
    row = engine.snapshot.row_of(favourite)
    lat, lng = float(engine.snapshot.lat[row]) + 0.01, float(engine.snapshot.lng[row])
    by_id = engine.nearby(lat, lng, 10, sort="best_match", member=Member(member_id="u3"))
    by_hand = engine.nearby(lat, lng, 10, sort="best_match", member=Member(
        visits=[v for v, n in history.items() for _ in range(n)]))  # fmt: skip
    plain = engine.nearby(lat, lng, 10, sort="best_match")
    assert by_id.merchant_ids == by_hand.merchant_ids
    np.testing.assert_array_equal(by_id.scores, by_hand.scores)
    assert by_id.merchant_ids != plain.merchant_ids


def test_an_upsert_keeps_the_member_histories(loaded: Path, tmp_path: Path) -> None:
    extra = tmp_path / "one.csv"
    extra.write_text("merchant_id,name,lat,lng,category\nnew-1,New,48.85,2.35,food/cafe\n")
    load([extra], data_dir=loaded, mode="upsert", settings=Settings(data_dir=loaded))
    engine = DiscoveryEngine.from_snapshot(loaded, settings=Settings(data_dir=loaded))
    assert engine.snapshot.members.visits("u3")
    assert engine.snapshot.manifest["members"] > 0


def test_an_upsert_of_a_visit_log_is_refused_and_keeps_the_histories(
    log: Path, tmp_path: Path
) -> None:
    """One new check-in upserted replaced 300 members' histories with its own one, and the
    revisited venue's 24 visits with 1, without a word: a visit log is loaded whole."""
    data_dir = tmp_path / "data"
    settings = Settings(data_dir=data_dir)
    load([log], data_dir=data_dir, profile="checkins", settings=settings,
         options=ReadOptions(until=UNTIL.to_pydatetime()))  # fmt: skip
    before = DiscoveryEngine.from_snapshot(data_dir, settings=settings).snapshot.manifest
    head = log.read_text().splitlines()[:2]
    one = tmp_path / "one.csv"
    one.write_text("\n".join(head) + "\n")
    with pytest.raises(LoadRefusedError, match=r"refused to upsert a visit log into snapshot "
                       r"000001: .* load the whole log .* --mode replace"):  # fmt: skip
        load([one], data_dir=data_dir, profile="checkins", mode="upsert", settings=settings)
    after = DiscoveryEngine.from_snapshot(data_dir, settings=settings).snapshot
    assert (data_dir / "CURRENT").read_text().strip() == "000001"
    assert after.manifest["members"] == before["members"] > 1
    replaced = load([one], data_dir=data_dir, profile="checkins", settings=settings,
                    allow_shrink=True)  # the whole log again: replace is the way
    assert replaced.snapshot is not None and replaced.snapshot.manifest["members"] == 1


def test_an_upsert_of_a_visit_log_counts_merchants_replaced_not_visits(
    log: Path, tmp_path: Path
) -> None:
    """Into a store without histories an upsert of a visit log works; its summary said
    "4,511 replaced" of an empty store: it counted visits, not merchants."""
    data_dir = tmp_path / "data"
    settings = Settings(data_dir=data_dir)
    shops = tmp_path / "shops.csv"
    shops.write_text("merchant_id,name,lat,lng,category\nx:1,Shop,48.85,2.35,shop/books\n")
    load([shops], data_dir=data_dir, settings=settings)
    report = load([log], data_dir=data_dir, profile="checkins", mode="upsert",
                  settings=settings, options=ReadOptions(until=UNTIL.to_pydatetime()))  # fmt: skip
    assert report.snapshot is not None and report.rows_loaded > report.merchants_total
    assert report.replaced == 0  # every venue is new beside the shop
    assert report.merchants_total == report.snapshot.manifest["rows"]["merchants"] > 1
    assert report.added == report.merchants_total - 1  # venues, not the visits (rows)


@pytest.mark.real_data
def test_real_tsmc_log_counts_every_row(real_data: Path) -> None:
    path = real_data / "checkins" / "nyc_tsmc2014_checkins_half.csv.gz"
    result = read_visit_sources([path], until="2012-12-01")
    assert result.rows_read == result.rows_loaded + result.rows_rejected
    assert len(result.merchants) > 5_000
    cats = result.merchants["category"]
    assert cats.str.startswith(("food", "shop", "nightlife", "leisure")).mean() > 0.95
    assert result.members is not None and result.members["visits"].sum() == result.rows_loaded


#: A calibrated profile's shape: the fit without member terms, and the joint one
#: (``personal``) that queries with a member rank by.
TWO_MODELS = Ranking(profile=RankingProfile(
    weights=(("wom", 6.6), ("district", -0.6)), gamma=0.9, radii=(("", 130.0),),
    personal=RankingProfile(
        weights=(("wom", 1.0), ("recency", 0.2), ("repeat", 0.3)), gamma=0.8,
        radii=(("", 220.0), ("food", 200.0), ("shop", 250.0)),
        member_weights=(("own_visits", 1.7), ("own_category", 0.3)),
    ),
))  # fmt: skip


@pytest.fixture(scope="module")
def real_engine(real_data: Path, tmp_path_factory: pytest.TempPathFactory) -> DiscoveryEngine:
    """The real TSMC2014 log loaded as the checkins profile, visits before 2012-12-01."""
    path = real_data / "checkins" / "nyc_tsmc2014_checkins_half.csv.gz"
    data = tmp_path_factory.mktemp("tsmc")
    until = pd.Timestamp("2012-12-01", tz="UTC").to_pydatetime()
    load([path], data_dir=data, profile="checkins", settings=Settings(data_dir=data),
         options=ReadOptions(until=until))  # fmt: skip
    return DiscoveryEngine.from_snapshot(data, settings=Settings(data_dir=data))


@pytest.mark.real_data
def test_real_members_rank_exactly_under_a_two_model_profile(
    real_data: Path, real_engine: DiscoveryEngine
) -> None:
    """On the real TSMC2014 snapshot, real member ids under a profile with a ``personal``
    model: every page equals the brute-force sort of all merchants by that model with the
    member's lift (``ranking_oracle``), and differs from the page without the member."""
    path = real_data / "checkins" / "nyc_tsmc2014_checkins_half.csv.gz"
    engine = real_engine
    ranking = TWO_MODELS
    visits = read_visits(path)
    busiest = visits[visits["merchant"]].groupby("user").size().nlargest(6).index
    cols = ro.Columns(engine)
    differs = 0
    for user in busiest:
        history = engine.snapshot.members.visits(str(user))
        assert history, user
        row = engine.snapshot.row_of(max(history, key=history.__getitem__))
        lat, lng = float(engine.snapshot.lat[row]) + 0.004, float(engine.snapshot.lng[row])
        q = NearbyQuery(lat, lng, 20, sort="best_match", ranking=ranking,
                        member=Member(member_id=str(user)))  # fmt: skip
        res = engine.search(q)
        rows, prim, _ = ro.brute_force(cols, q, limit=20)
        assert res.positions.tolist() == rows.tolist(), user
        np.testing.assert_array_equal(res.scores, prim)
        plain = engine.nearby(lat, lng, 20, sort="best_match", ranking=ranking)
        differs += plain.positions.tolist() != res.positions.tolist()
    assert differs >= 4


@pytest.mark.real_data
def test_real_members_pages_from_member_lists_equal_brute_force(
    real_data: Path, real_engine: DiscoveryEngine
) -> None:
    """The 40 busiest real members, each near their most visited venue and at one of
    their other venues, with the member lists (``MEMBER_K`` deep) built: every page
    equals brute force, and the lists answer most of them themselves."""
    engine, cols = real_engine, ro.Columns(real_engine)
    personal = member_ranking(TWO_MODELS)
    lists = engine.planner.shortlists(personal, MEMBER_K)
    assert lists is not None
    lists.build_all()
    visits = read_visits(real_data / "checkins" / "nyc_tsmc2014_checkins_half.csv.gz")
    users = visits[visits["merchant"]].groupby("user").size().nlargest(40).index
    rng = np.random.default_rng(3)
    answered = pages = 0
    for user in users:
        member = Member(member_id=str(user))
        history = engine.snapshot.members.visits(str(user))
        rows = [engine.snapshot.row_of(m) for m in sorted(history, key=history.__getitem__)]
        for row, shift in ((rows[-1], 0.002), (rows[int(rng.integers(len(rows)))], 0.0)):
            lat = float(engine.snapshot.lat[row]) + shift
            lng = float(engine.snapshot.lng[row])
            lift = engine.planner.lift_of.lists(engine.member_boost(member, personal))
            answered += lists.top_k(lat, lng, 20, lift=lift) is not None
            pages += 1
            q = NearbyQuery(lat, lng, 20, sort="best_match", ranking=TWO_MODELS, member=member)
            got, (want, prim, dist) = engine.search(q), ro.brute_force(cols, q, limit=20)
            assert got.positions.tolist() == want.tolist(), user
            np.testing.assert_array_equal(got.scores, prim)
            np.testing.assert_array_equal(got.distances_m, dist)
    assert answered >= pages * 3 // 4, f"the lists answered {answered} of {pages} pages"


@pytest.mark.real_data
def test_real_popular_times_rank_exactly_and_change_with_the_time(
    real_data: Path, real_engine: DiscoveryEngine
) -> None:
    """The real venues' visits per time-of-week bin, under a profile weighing them: pages at
    a weekday morning and a Saturday night, with and without a real member, equal the
    brute-force sort (the oracle finds the bin itself), and the two times rank differently."""
    engine = real_engine
    counts = histograms(engine.merchants.column("attributes"), len(engine))
    visits_counted = engine.merchants.column("review_count").to_numpy()
    np.testing.assert_array_equal(counts.sum(axis=1), visits_counted)  # every visit in a bin
    profile = RankingProfile(
        weights=(("wom", 6.0), ("busy", 1.0)), gamma=0.9, radii=(("", 150.0),),
        personal=RankingProfile(weights=(("wom", 1.0), ("busy", 0.8)), gamma=0.8,
                                radii=(("", 220.0),), member_weights=(("own_visits", 1.7),)),
    )  # fmt: skip
    ranking = Ranking(profile=profile)
    cols = ro.Columns(engine)
    rng = np.random.default_rng(5)
    visits = read_visits(real_data / "checkins" / "nyc_tsmc2014_checkins_half.csv.gz")
    members = [str(u) for u in visits[visits["merchant"]].groupby("user").size().nlargest(3).index]
    differs = 0
    for i, row in enumerate(rng.choice(len(engine), 12, replace=False)):
        lat = float(engine.snapshot.lat[row]) + 0.002
        lng = float(engine.snapshot.lng[row])
        pages = []
        for at in (datetime(2012, 12, 3, 8, 30), datetime(2012, 12, 8, 22, 0)):
            member = Member(member_id=members[i % 3]) if i % 2 else None
            q = NearbyQuery(lat, lng, 20, sort="best_match", ranking=ranking, at=at,
                            member=member)  # fmt: skip
            res = engine.search(q)
            rows, prim, _ = ro.brute_force(cols, q, limit=20)
            assert res.positions.tolist() == rows.tolist(), (lat, lng, at)
            np.testing.assert_array_equal(res.scores, prim)
            pages.append(res.positions.tolist())
        differs += pages[0] != pages[1]
    assert differs >= 8
