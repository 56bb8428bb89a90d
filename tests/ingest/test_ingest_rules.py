"""The reading rules, one at a time: numbers, dates, rating scales, swaps, file causes.

Each rule decides from evidence in the file (or an option); these tests pin the
decisions on small inputs, then check the rules against real files where a wrong
decision would show (no swap found in real clusters, the real rating scales).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geo_discovery.errors import IngestError
from geo_discovery.ingest import ReadOptions, read_sources
from geo_discovery.ingest.coordinates import (
    check_cluster_swaps,
    check_coordinates,
    coordinate_file_problem,
)
from geo_discovery.ingest.names import did_you_mean, restore_truncated
from geo_discovery.ingest.ratings import infer_rating_scale, rating_columns
from geo_discovery.ingest.validate import Problems
from geo_discovery.ingest.values import file_decimal_mark, read_dates, read_numbers


def numbers(cells: list[str], **kw: object) -> list[float]:
    series = pd.Series(cells, dtype="str")
    reading = read_numbers(series, (series == "").to_numpy(), field="x", **kw)  # type: ignore[arg-type]
    return [None if np.isnan(v) else float(v) for v in reading.values]  # type: ignore[misc]


# --------------------------------------------------------------------------- numbers


@pytest.mark.parametrize(
    ("cell", "value"),
    [
        ("1,234", 1234.0), ("1,234,567", 1234567.0), ("1,234.5", 1234.5), ("1.234,5", 1234.5),
        ("1.234.567", 1234567.0), ("4,5", 4.5), ("1234,56", 1234.56), ("12 000", 12000.0),
        ("12\u00a0000", 12000.0), ("1'234.5", 1234.5), ("$1,200.00", 1200.0),
        ("€ 95", 95.0), ("-$12", -12.0), ("USD 95", 95.0), ("95%", 95.0), (" 4.5 ", 4.5),
        ("abc", None), ("1,2,3", None), ("4.5.6,7", None), ("12 00", None),
    ],
)
def test_number_forms(cell: str, value: float | None) -> None:
    assert numbers([cell]) == [value]


def test_one_decimal_mark_per_column_from_unambiguous_cells() -> None:
    # "1,250" could be either; "4,5" can only be a decimal comma: the column follows it.
    assert numbers(["4,5", "1,250"]) == [4.5, 1.25]
    # ... unless more cells write decimals with a dot.
    assert numbers(["4,5", "1,250", "3.5", "2.25"]) == [4.5, 1250.0, 3.5, 2.25]
    # Nothing unambiguous: "1,250" is a thousands separator, unless the option says not.
    assert numbers(["1,250"]) == [1250.0]
    assert numbers(["1,250", "1.250"], decimal=",") == [1.25, 1250.0]
    # A column of "1.234" alone follows the file's decimal mark.
    assert numbers(["1.234", "7"], fallback=",") == [1234.0, 7.0]
    assert numbers(["1.234", "7.5"], fallback=",") == [1.234, 7.5]


def test_coordinates_never_have_thousands_separators() -> None:
    assert numbers(["40,712", "-73,9"], thousands=False, decorations=False) == [40.712, -73.9]
    assert numbers(["1,234.5", "$40", "40%"], thousands=False, decorations=False) == [None] * 3


def test_the_file_decimal_mark_comes_from_every_column() -> None:
    frame = pd.DataFrame({"a": ["40,7", "40,8"], "b": ["1.234", "2"], "c": ["x", "y"]})
    assert file_decimal_mark(frame) == ","
    assert file_decimal_mark(frame.assign(b=["4.5", "3.25"], d=["1.5", "2.5"])) == "."
    assert file_decimal_mark(pd.DataFrame({"a": ["1,234", "1.234"]})) is None


# --------------------------------------------------------------------------- dates


def dates(cells: list[str], fmt: str | None = None) -> tuple[list[str | None], str | None]:
    series = pd.Series(cells, dtype="str")
    r = read_dates(series, (series == "").to_numpy(), field="d", date_format=fmt)
    return [None if pd.isna(v) else v.strftime("%Y-%m-%d") for v in r.values], r.note


@pytest.mark.parametrize(
    ("cells", "expected", "note"),
    [
        (["03/04/2019", "13/04/2019"], ["2019-04-03", "2019-04-13"], "day first"),
        (["03/04/2019", "04/13/2019"], ["2019-03-04", "2019-04-13"], "month first"),
        (["03/04/2019", "05.06.2019"], ["2019-03-04", "2019-05-06"], "ambiguous dates"),
        (["13/04/19", "3-4-2019"], ["2019-04-13", "2019-04-03"], "day first"),
        (["2019-04-13", "2019-04-03T10:00:00Z"], ["2019-04-13", "2019-04-03"], None),
        (["13/04/2019", "13/05/2019", "04/14/2019"], ["2019-04-13", "2019-05-13", None],
         "mixed date orders"),
        (["3 April 2019", "13/04/2019", "04/05/2019"], ["2019-04-03", "2019-04-13",
                                                        "2019-05-04"], "day first"),
        (["soon", "31/02/2019", "13/13/2019"], [None, None, None], "day first"),
    ],
)
def test_one_day_month_order_per_column(cells: list[str], expected: list[str | None],
                                        note: str | None) -> None:
    values, told = dates(cells)
    assert values == expected
    assert (note is None and told is None) or (note is not None and note in (told or ""))


def test_a_date_format_decides() -> None:
    assert dates(["03/04/2019", "2019-05-01"], "%d/%m/%Y")[0] == ["2019-04-03", "2019-05-01"]
    assert dates(["03/04/2019"], "day-first") == (["2019-04-03"], None)
    assert dates(["13/04/2019"], "month-first")[0] == [None]


def test_a_date_in_the_minority_order_is_a_warning_naming_the_order(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("id,name,lat,lng,last_review\n1,A,1,1,13/04/2019\n2,B,1,1,14/04/2019\n"
                    "3,C,1,1,04/15/2019\n")
    result = read_sources([path])
    assert result.rows_loaded == 3
    assert result.warnings["reason"].tolist() == [
        "last_review '04/15/2019' is not a date (the column is read DD/MM, day first)"]


# --------------------------------------------------------------------------- ratings


@pytest.mark.parametrize(
    ("ratings", "scale", "clear"),
    [
        ([4.5, 3.0, 5.0, 4.8] * 10 + [7.0], 5.0, True),  # one 7 among stars: an outlier
        ([94.0, 88.0, 100.0, 60.0, 97.0] * 8 + [3.0], 100.0, True),  # a 0-100 file, one 3
        ([94.0, 88.0, 97.0, 91.0] * 5 + [4.9, 4.5, 4.8] * 4, 100.0, False),  # two scales
        ([7.0, 8.5, 9.0, 6.0, 10.0, 4.0], 10.0, True),
        ([4.0, 7.0, 3.0, 4.5, 2.0, 8.0], 5.0, False),  # a third above 5: no clear scale
        ([7.0, 9.0], 10.0, False),  # a scale above 5 from two ratings
        ([101.0, 95.0, 99.0, 90.0, 92.0, 250.0], 100.0, False),
        ([], 5.0, True),
    ],
)
def test_a_rating_scale_needs_clear_evidence(ratings: list[float], scale: float,
                                             clear: bool) -> None:
    inference = infer_rating_scale(np.array(ratings, dtype=float))
    assert (inference.scale, inference.clear) == (scale, clear)


def test_outliers_are_left_empty_with_a_warning_and_the_scale_is_reported() -> None:
    cells = ["4.5", "7", "3", "", "4,5", "x"] + ["4"] * 20
    p = Problems(len(cells))
    cols = rating_columns(pd.Series(cells), "stars", p)
    assert cols["rating"][0] == 4.5 and np.isnan(cols["rating"][1]) and cols["rating"][4] == 4.5
    assert np.isnan(cols["rating_scale"][1]) and cols["rating_scale"][0] == 5.0
    assert np.flatnonzero(p.any_warning()).tolist() == [1, 5]
    assert not p.any().any()
    assert p.info["rating scale"] == "0–5 (inferred)"
    assert any("such as 7" in n for n in p.notes)


def test_a_file_mixing_0_100_and_star_ratings_is_ambiguous_and_keeps_no_star_as_a_percent(
) -> None:
    """DC (0–100) and Boston (0–5) rows in one file were read as 0–100 without a word:
    every Boston 4.95 became "4.95 out of 100", a rating score of 0. On a 0–100 scale
    (20 × stars) nothing is below 20; ratings of 10 or less are left empty as outliers
    and, when more than 5 % of the ratings, make the scale ambiguous."""
    cells = ["95", "88", "100", "73"] * 10 + ["4.95", "4.5", "0"]
    p = Problems(len(cells))
    cols = rating_columns(pd.Series(cells), "review_scores_rating", p)
    assert p.info["rating scale"] == "0–100 (inferred)"
    assert np.isnan(cols["rating"][40]) and np.isnan(cols["rating"][41])
    assert cols["rating"][42] == 0.0 and cols["rating"][0] == 95.0  # 0: unrated, as before
    assert np.flatnonzero(p.any_warning()).tolist() == [40, 41]
    mixed = cells[:40] + ["4.95", "4.5", "4.8"] * 5
    p = Problems(len(mixed))
    rating_columns(pd.Series(mixed), "review_scores_rating", p)
    assert p.info["rating scale"] == "0–100 (ambiguous)"
    assert any("15 of 10 or less (as on a 0–5 or 0–10 scale)" in n for n in p.notes), p.notes
    given = Problems(len(cells))
    kept = rating_columns(pd.Series(cells), "review_scores_rating", given, scale=100.0)
    assert kept["rating"][40] == 4.95 and not given.any_warning().any()  # stated: as is


def test_a_first_review_after_the_last_is_left_empty_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "listings.csv"
    path.write_text(
        "id,name,latitude,longitude,number_of_reviews,first_review,last_review\n"
        "1,A,52.37,4.89,8,2021-07-25,2015-07-10\n2,B,52.37,4.90,8,2015-07-25,2021-07-10\n",
        encoding="utf-8",
    )
    result = read_sources([path])
    assert result.rows_loaded == 2
    table = result.table.to_pandas()
    assert table["first_review"].isna().tolist() == [True, False]
    assert str(table["last_review"].iloc[0].date()) == "2015-07-10"  # the last date stays
    assert result.warnings["reason"].tolist() == [
        "first_review '2021-07-25' is after last_review '2015-07-10'; allowed: "
        "first_review <= last_review"
    ]
    assert result.warning_summary()["reason_kind"].tolist() == ["reversed dates (first_review)"]


# --------------------------------------------------------------------------- swaps


def _cluster(lat0: float, lng0: float, n: int, spread: float, seed: int) -> tuple[
        np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    lat = np.clip(lat0 + rng.normal(0, spread, n), -89.9, 89.9)
    lng = (lng0 + rng.normal(0, spread, n) + 180) % 360 - 180
    return lat, lng


@settings(max_examples=60, deadline=None)
@given(
    lat0=st.floats(-80, 80), lng0=st.floats(-180, 180), seed=st.integers(0, 1000),
    spread=st.sampled_from([0.001, 0.05, 0.5]), k=st.integers(0, 4),
)
def test_swaps_are_found_from_the_cluster_anywhere(
    lat0: float, lng0: float, seed: int, spread: float, k: int
) -> None:
    """Brute force on the other side: a swapped row is flagged iff its swap lands back
    near the cluster and the row itself is far from it (antimeridian included)."""
    lat, lng = _cluster(lat0, lng0, 60, spread, seed)
    swapped = np.zeros(60, dtype=bool)
    for i in range(k):
        if abs(lng[i]) <= 90:
            lat[i], lng[i] = lng[i], lat[i]
            swapped[i] = True
    p = Problems(60)
    flagged = check_cluster_swaps(lat, lng, p)
    # Far enough to tell (a cluster near the lat = lng diagonal moves less when swapped):
    from geo_discovery.distance import haversine_m

    moved = haversine_m(lat, lng, lng, lat)
    tellable = swapped & (moved > 200 * max(spread, 0.001) * 111_000)
    assert not (flagged & ~swapped).any(), "a row that was not swapped was flagged"
    assert (flagged | ~tellable).all(), "a clearly swapped row was missed"


def test_no_swap_is_found_in_a_file_spread_over_the_globe(real_data: Path) -> None:
    result = read_sources([real_data / "fixtures/fsq_os_places_global_sample.csv.gz"])
    assert not result.rejects["reason"].str.contains("lat/lng swap").any()


@pytest.mark.parametrize("rel", ["cities/utah_wof_simplegeo_venues.csv.gz",
                                 "fixtures/helsinki_center_osm_pois.csv",
                                 "cities/airbnb_montreal_2023-12_listings_ratings.csv.gz"])
def test_no_swap_is_found_in_real_clusters(real_data: Path, rel: str) -> None:
    result = read_sources([real_data / rel])
    assert not result.rejects["reason"].str.contains("lat/lng swap").any()


def test_swapped_rows_of_a_real_file_are_found(real_data: Path, tmp_path: Path) -> None:
    frame = pd.read_csv(real_data / "nyc/nyc_airbnb_listings_2019.csv.gz", dtype=str,
                        keep_default_na=False, nrows=5000)
    rows = frame.index[frame["name"].str.strip() != ""][::250]
    frame.loc[rows, ["latitude", "longitude"]] = frame.loc[rows, ["longitude", "latitude"]
                                                           ].to_numpy()
    path = tmp_path / "bnb.csv"
    frame.to_csv(path, index=False)
    result = read_sources([path])
    swaps = result.rejects[result.rejects["kind"] == "lat/lng swap"]
    assert sorted(swaps["merchant_id"]) == sorted("airbnb:" + frame.loc[rows, "id"])


# --------------------------------------------------------------------------- file causes


def test_coordinate_causes_need_most_rows() -> None:
    metres = np.array([4970241.3, 4970300.0, 40.7]), np.array([-8238310.2, -8238200.0, -73.9])
    assert "EPSG:3857" in (coordinate_file_problem(*metres) or "")
    # One bad row among good ones is a bad row, not a projected file.
    assert coordinate_file_problem(np.array([91.0, 40.7, 40.8]),
                                   np.array([100.0, -73.9, -73.8])) is None
    # Too far for Web Mercator and for scaled degrees: projected, CRS unknown.
    far = coordinate_file_problem(np.array([2e9, 2e9]), np.array([3e9, 3e9]))
    assert far is not None and "Web Mercator" not in far and "--crs" in far


def test_names_rules() -> None:
    assert did_you_mean("ratng", ["rating", "name"]) == " (did you mean 'rating'?)"
    renames, unresolved = restore_truncated(
        ["review_sco", "review_cou"],
        ["review_scores_rating", "review_scores_value", "review_count"])
    assert renames == {"review_cou": "review_count"}
    assert unresolved == ["review_sco: review_scores_rating or review_scores_value"]


def test_read_options_are_checked_once() -> None:
    for bad in ({"decimal": ";"}, {"date_format": "yyyy"}, {"rating_scale": -1.0},
                {"crs": "not a crs"}):
        with pytest.raises(IngestError):
            ReadOptions(**bad)  # type: ignore[arg-type]


def test_an_out_of_range_latitude_is_called_a_swap_only_where_the_swap_lands_near() -> None:
    """In Amsterdam, lat=91 (lng 4.9) was called a "probable lat/lng swap": the swapped
    point is in the Indian Ocean. In Sydney, lat=151.2 (lng -33.87) is one."""
    rng = np.random.default_rng(0)
    reasons = []
    for (a, b), odd in (((52.37, 4.9), (91.0, 4.9)), ((-33.87, 151.2), (151.2, -33.87))):
        lat = np.concatenate([a + rng.normal(0, 0.01, 20), [odd[0]]])
        lng = np.concatenate([b + rng.normal(0, 0.01, 20), [odd[1]]])
        p = Problems(len(lat))
        check_coordinates(lat, lng, p)
        reasons.append(p.reasons().tolist()[-1])
    assert reasons[0] == "lat 91 is out of range; allowed -90 <= lat <= 90", reasons[0]
    assert "probable lat/lng swap: (lat=-33.87, lng=151.2) would be valid" in reasons[1]
