"""Opening hours: the 627 real OSM strings of the Helsinki fixture, time zones, the deriver,
and open_now / open_at filters against brute force."""

from __future__ import annotations

import csv
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import opening_hours
import pandas as pd
import pyarrow as pa
import pytest
import ranking_oracle as ro
from hypothesis import given, settings
from hypothesis import strategies as st

from geo_discovery.engine import DiscoveryEngine
from geo_discovery.query import SORTS, Filters
from geo_discovery.ranking.hours import (
    HOURS_NONE,
    HOURS_OK,
    HOURS_UNPARSEABLE,
    HoursTable,
    country_for_time_zone,
    parse_hours,
    time_zones_at,
)
from geo_discovery.settings import Settings
from geo_discovery.snapshot.pipeline import load

HELSINKI = ZoneInfo("Europe/Helsinki")
# Instants spread over a week, a holiday and both DST regimes.
INSTANTS = [
    datetime(2024, 7, 15, 6, 30, tzinfo=UTC),  # Monday 09:30 in Helsinki (UTC+3)
    datetime(2024, 7, 13, 21, 0, tzinfo=UTC),  # Saturday night
    datetime(2024, 7, 14, 1, 30, tzinfo=UTC),  # after midnight: spans like 21:00-04:00
    datetime(2024, 12, 25, 10, 0, tzinfo=UTC),  # Christmas (PH), UTC+2
    datetime(2025, 3, 30, 0, 30, tzinfo=UTC),  # the night the clocks change
]


@pytest.fixture(scope="module")
def helsinki_csv(real_data: Path) -> Path:
    return real_data / "fixtures" / "helsinki_center_osm_pois.csv"


@pytest.fixture(scope="module")
def helsinki(helsinki_csv: Path) -> pd.DataFrame:
    return pd.read_csv(helsinki_csv, dtype={"opening_hours": object})


@pytest.fixture(scope="module")
def helsinki_table(helsinki: pd.DataFrame) -> HoursTable:
    texts = [None if pd.isna(t) else t for t in helsinki["opening_hours"]]
    return HoursTable.from_columns(texts, helsinki["lat"].tolist(), helsinki["lon"].tolist())


@pytest.mark.real_data
def test_all_627_real_strings_are_classified(
    helsinki: pd.DataFrame, helsinki_table: HoursTable
) -> None:
    texts = helsinki["opening_hours"]
    assert texts.notna().sum() == 627
    status = helsinki_table.status
    assert int((status != HOURS_NONE).sum()) == 627
    parsed, bad = int((status == HOURS_OK).sum()), int((status == HOURS_UNPARSEABLE).sum())
    assert parsed + bad == 627
    assert parsed >= 600 and 1 <= bad <= 27, (parsed, bad)
    bad_texts = set(texts[status == HOURS_UNPARSEABLE])
    assert "Seasonal, only summer time" in bad_texts  # prose is not opening_hours
    assert "24/7" not in bad_texts
    zones = {helsinki_table.tz_names[c] for c in helsinki_table.tz_code[status != HOURS_NONE]}
    assert zones == {"Europe/Helsinki"}


@pytest.mark.real_data
def test_open_mask_agrees_with_the_parser_in_local_time(
    helsinki: pd.DataFrame, helsinki_table: HoursTable
) -> None:
    rows = np.arange(len(helsinki))
    utc = ZoneInfo("UTC")
    for when in INSTANTS:
        got = helsinki_table.open_mask(rows, when)
        for i in np.flatnonzero(helsinki_table.status == HOURS_OK):
            text = helsinki["opening_hours"].iloc[i].strip()
            oh = opening_hours.OpeningHours(text, timezone=HELSINKI, country="FI")
            assert got[i] == oh.is_open(when.astimezone(UTC).replace(tzinfo=utc)), (text, when)
        assert not got[helsinki_table.status != HOURS_OK].any()  # unknown never counts as open
    states = helsinki_table.state_at(rows, INSTANTS[0])
    assert set(states) <= {"open", "closed", "unknown"} and states.count("open") > 100


def test_aware_instant_versus_naive_local_time() -> None:
    t = HoursTable.from_columns(["Mo-Fr 09:00-17:00"], [60.17], [24.94])
    rows = np.array([0])
    assert t.open_mask(rows, datetime(2024, 7, 15, 6, 30, tzinfo=UTC))[0]  # 09:30 local
    assert not t.open_mask(rows, datetime(2024, 7, 15, 6, 30))[0]  # 06:30 local
    assert t.open_mask(rows, datetime(2024, 7, 15, 9, 30, tzinfo=HELSINKI))[0]


def test_public_holidays_use_the_zone_country() -> None:
    assert country_for_time_zone("Europe/Helsinki") == "FI"
    assert country_for_time_zone("America/New_York") == "US"
    assert country_for_time_zone(None) is None
    t = HoursTable.from_columns(["Mo-Su 10:00-18:00; PH off"], [60.17], [24.94])
    xmas = datetime(2024, 12, 25, 12, 0)
    assert not t.open_mask(np.array([0]), xmas)[0]
    assert t.open_mask(np.array([0]), xmas + timedelta(days=2))[0]


def test_time_zones_are_found_offline() -> None:
    assert time_zones_at([40.75, 60.17, -33.87], [-73.98, 24.94, 151.21]) == [
        "America/New_York",
        "Europe/Helsinki",
        "Australia/Sydney",
    ]


@settings(max_examples=200, deadline=None)
@given(text=st.one_of(st.text(max_size=80), st.sampled_from(["", " ", "24/7", "off", "Mo-Fr"])))
def test_no_string_crashes_the_classifier(text: str) -> None:
    t = HoursTable.from_columns([text, None], [60.17, 60.17], [24.94, 24.94])
    assert t.status[1] == HOURS_NONE
    assert t.status[0] in (HOURS_NONE, HOURS_OK, HOURS_UNPARSEABLE)
    assert t.open_mask(np.array([0, 1]), datetime(2024, 7, 15, 12, 0)).dtype == bool


def test_parse_errors_are_value_errors_naming_the_string() -> None:
    with pytest.raises(ValueError, match="junk"):
        parse_hours("junk", "Europe/Helsinki")


@pytest.mark.real_data
def test_load_derives_hours_and_reports_unparseable(tmp_path: Path, helsinki_csv: Path) -> None:
    report = load([helsinki_csv], data_dir=tmp_path, settings=Settings(data_dir=tmp_path))
    assert report.snapshot is not None
    info = report.snapshot.manifest["derived"]["hours"]
    assert info["with_hours"] == info["parsed"] + info["unparseable"] > 500
    assert 1 <= info["unparseable"] <= 27
    assert info["time_zones"] == ["Europe/Helsinki"]
    with (report.snapshot.path / info["unparseable_file"]).open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == info["unparseable"]
    assert {r["opening_hours"] for r in rows} >= {
        e["opening_hours"] for e in info["unparseable_examples"]
    }
    json.dumps(info)  # the manifest entry is plain JSON

    engine = DiscoveryEngine.from_snapshot(tmp_path)
    hours = engine.planner.hours
    assert int((hours.status == HOURS_OK).sum()) == info["parsed"]
    cols = ro.Columns(engine)
    rng = np.random.default_rng(0)
    for when in INSTANTS[:3]:
        for sort in SORTS:
            q = ro.query(
                float(60.168 + rng.normal(0, 0.003)),
                float(24.94 + rng.normal(0, 0.005)),
                k=int(rng.integers(1, 40)),
                sort=sort,
                open_at=when,
                radius_m=float(rng.choice([300.0, 2000.0])) if rng.random() < 0.5 else None,
            )
            res = engine.search(q)
            rows_bf, _, _ = ro.brute_force(cols, q, limit=q.k)
            assert res.positions.tolist() == rows_bf.tolist(), q
            assert ro.walk(engine, q, 25) == ro.brute_force(cols, q)[0].tolist()


def test_open_now_pins_its_instant_in_the_cursor() -> None:
    """A walk started with open_now keeps the first page's instant for every page."""
    n = 30
    table = pa.table(
        {
            "merchant_id": [f"m{i:02d}" for i in range(n)],
            "name": ["x"] * n,
            "lat": [60.17 + i * 1e-4 for i in range(n)],
            "lng": [24.94] * n,
            "category": ["food/cafe"] * n,
            "opening_hours": ["24/7"] * (n - 2) + ["off", "nonsense"],
        }
    )
    engine = DiscoveryEngine.from_table(table)
    seen = []
    cursor = None
    while True:
        res = engine.nearby(
            60.17, 24.94, 4, sort="best_match", where=Filters(open_now=True), cursor=cursor
        )
        seen += res.merchant_ids
        cursor = res.next_cursor
        if cursor is None:
            break
    assert seen == [f"m{i:02d}" for i in range(n - 2)]


def test_open_at_is_read_only_where_the_hours_parser_holds_dates() -> None:
    """The hours parser reads local dates from 1900 through 9999: at 0001-01-01 or
    9999-12-31T23:59:59Z a "24/7" merchant was closed, and open_at answered an empty page
    for an instant its message called allowed. Now such an instant is refused by name,
    and at both ends of the span every zone's "24/7" merchant is open."""
    from geo_discovery.errors import InvalidQueryError
    from geo_discovery.timeofweek import HOURS_SPAN

    # Fiji (+12/+13), Utah (-7/-6), Helsinki, Kiribati (+14), Baker Island's sea (-12)
    where = [(-17.7, 178.0), (40.76, -111.89), (60.17, 24.94), (1.87, -157.4), (0.2, -176.5)]
    table = pa.table({
        "merchant_id": [f"m{i}" for i in range(len(where))], "name": ["x"] * len(where),
        "lat": [a for a, _ in where], "lng": [b for _, b in where],
        "category": ["food/cafe"] * len(where), "opening_hours": ["24/7"] * len(where),
    })  # fmt: skip
    engine = DiscoveryEngine.from_table(table)
    lo, hi = HOURS_SPAN
    for when in (lo.replace(tzinfo=UTC), hi.replace(tzinfo=UTC), lo, hi):
        res = engine.nearby(0.0, 0.0, 10, where=Filters(open_at=when))
        assert len(res) == len(where), when
    for text in ("0001-01-01T12:00:00Z", "1899-12-31T23:00:00+00:00", "9999-12-31T23:59:59Z",
                 "0001-01-01T00:00:00", "9999-12-31T12:00:00",
                 "9999-12-31T23:00:00-02:00"):  # (past Python's dates in UTC)  # fmt: skip
        said = re.escape(f"open_at={text} is outside the dates opening hours are read for; "
                         "allowed: 1900-01-02T00:00:00Z … 9999-12-30T23:59:59Z")  # fmt: skip
        with pytest.raises(InvalidQueryError, match=said):
            engine.nearby(0.0, 0.0, 10, where=Filters(open_at=text))
