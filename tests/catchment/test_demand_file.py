"""Demand files as a new user writes them: swapped rows, bad populations, no demand,
strict JSON, semicolons, BOMs and decimal commas (``read_demand`` and ``catchment``)."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from geo_discovery.catchment import read_demand
from geo_discovery.cli.districts import catchment_command
from geo_discovery.errors import IngestError

CENSUS = "nyc/nyc_census2020_tract_population.csv"


def helsinki(n: int = 200, seed: int = 0) -> pd.DataFrame:
    """``n`` population points around central Helsinki."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "lat": rng.uniform(60.15, 60.19, n).round(6),
            "lng": rng.uniform(24.90, 24.98, n).round(6),
            "population": rng.integers(1, 3000, n),
        }
    )


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    app = typer.Typer()
    app.command("other")(lambda: None)  # two commands: the name `catchment` is kept
    app.command("catchment")(catchment_command)
    return app


@pytest.fixture(scope="module")
def district_id(sample_engine: Any) -> str:
    """The largest district of the Helsinki sample (central Helsinki)."""
    return str(sample_engine.districts()["n_merchants"].idxmax())


def run(app: typer.Typer, data_dir: Path, *args: str) -> Any:
    return CliRunner().invoke(app, ["catchment", *args, "--data-dir", str(data_dir)])


def strict_json(text: str) -> Any:
    """``json.loads`` that refuses NaN and Infinity (not JSON: RFC 8259)."""

    def refuse(constant: str) -> None:
        raise AssertionError(f"{constant} in the JSON output")

    return json.loads(text, parse_constant=refuse)


# ------------------------------------------------------------------- 1. swapped rows
def test_a_swapped_row_among_the_others_is_refused_naming_its_line(tmp_path: Path) -> None:
    """lat 24.9, lng 60.17 is within ±90/±180: a range check lets it through, and it
    was dropped from the study area in silence."""
    frame = helsinki()
    frame.loc[50, ["lat", "lng"]] = [24.9, 60.17]
    frame.to_csv(tmp_path / "swap.csv", index=False)
    with pytest.raises(IngestError, match=r"swap.csv: 1 of 200 rows .*probable lat/lng swap") as e:
        read_demand(tmp_path / "swap.csv")
    assert "line 52, lat=24.9, lng=60.17" in str(e.value)
    assert "(lat=60.17, lng=24.9) lands among them" in str(e.value)
    # the same file unswapped is read whole; a row without people is no one's swap
    frame.loc[50, "population"] = 0
    frame.to_csv(tmp_path / "nobody.csv", index=False)
    assert read_demand(tmp_path / "nobody.csv")["population"].sum() == frame["population"].sum()


def test_the_catchment_command_refuses_a_swapped_row(
    app: typer.Typer, sample_data_dir: Path, district_id: str, tmp_path: Path
) -> None:
    frame = helsinki()
    frame.loc[7, ["lat", "lng"]] = [24.93, 60.16]
    frame.to_csv(tmp_path / "swap.csv", index=False)
    result = run(app, sample_data_dir, district_id, "--demand", str(tmp_path / "swap.csv"))
    assert result.exit_code == 1, result.output
    assert "line 9, lat=24.93, lng=60.16" in result.output
    assert "Traceback" not in result.output
    assert f"the demand file {tmp_path / 'swap.csv'} " in result.output  # as given (the CLI's)


# -------------------------------------------------------------- 2. bad populations
@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("-100", "is negative"),
        ("abc", "is not a number"),
        ("1e400", "is not finite"),
        ("inf", "is not finite"),
        ("12 people", "is not a number"),
    ],
)
def test_a_bad_population_is_refused_naming_line_and_value(
    tmp_path: Path, value: str, why: str
) -> None:
    frame = helsinki().astype({"population": str})
    frame.loc[10, "population"] = value
    frame.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(IngestError) as e:
        read_demand(tmp_path / "bad.csv")
    message = str(e.value)
    assert f"line 12, population={value!r} {why}" in message, message
    assert "allowed: a finite number >= 0 (blank or 0: no people)" in message


def test_blank_and_zero_populations_are_no_people(tmp_path: Path) -> None:
    """As documented: such rows are left out, whatever their coordinates."""
    (tmp_path / "d.csv").write_text(
        "lat,lng,pop\n60.17,24.94,5\n91,0,0\n,,\n60.18,24.95,\n\n60.16,24.93,2.5\n"
    )
    pts = read_demand(tmp_path / "d.csv")
    assert pts["population"].tolist() == [5.0, 2.5]
    assert pts["lat"].tolist() == [60.17, 60.16]


def test_the_catchment_command_refuses_a_bad_population_without_a_warning(
    app: typer.Typer, sample_data_dir: Path, district_id: str, tmp_path: Path
) -> None:
    frame = helsinki().astype({"population": str})
    frame.loc[3, "population"] = "1e400"
    frame.to_csv(tmp_path / "big.csv", index=False)
    result = run(app, sample_data_dir, district_id, "--demand", str(tmp_path / "big.csv"), "--json")
    assert result.exit_code == 1, result.output
    assert "line 5, population='1e400' is not finite" in result.output
    assert "Warning" not in result.output and "captures" not in result.output


# ------------------------------------------------------------------- 3. no demand
def test_a_file_without_people_is_refused(tmp_path: Path) -> None:
    (tmp_path / "header.csv").write_text("lat,lng,population\n")
    with pytest.raises(IngestError, match=r"header\.csv: no rows below the header"):
        read_demand(tmp_path / "header.csv")
    helsinki().assign(population=0).to_csv(tmp_path / "zeros.csv", index=False)
    with pytest.raises(IngestError, match=r"zeros.csv: none of the 200 rows has people"):
        read_demand(tmp_path / "zeros.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(IngestError, match=r"empty\.csv: the file is empty"):
        read_demand(tmp_path / "empty.csv")


@pytest.mark.parametrize("name", ["header", "zeros", "far"])
def test_no_demand_in_the_study_area_is_an_error_not_nan(
    app: typer.Typer, sample_data_dir: Path, district_id: str, tmp_path: Path, name: str
) -> None:
    (tmp_path / "header.csv").write_text("lat,lng,population\n")
    helsinki().assign(population=0).to_csv(tmp_path / "zeros.csv", index=False)
    helsinki().assign(lat=lambda f: f["lat"] - 10).to_csv(tmp_path / "far.csv", index=False)
    result = run(app, sample_data_dir, district_id, "--demand", str(tmp_path / f"{name}.csv"))
    assert result.exit_code == 1, result.output
    assert "nan" not in result.output.lower()
    if name == "far":
        message = " ".join(result.output.split())
        assert f"no demand within radius_m=5000 of district {district_id}" in message
        assert "the nearest is 1,1" in message and "km away" in message
        assert "a larger radius_m" in message


def test_a_study_area_holding_demand_still_answers(
    app: typer.Typer, sample_data_dir: Path, district_id: str, tmp_path: Path
) -> None:
    helsinki().to_csv(tmp_path / "ok.csv", index=False)
    result = run(app, sample_data_dir, district_id, "--demand", str(tmp_path / "ok.csv"), "--json")
    assert result.exit_code == 0, result.output
    facts = strict_json(result.stdout)
    assert facts["demand_total"] == pytest.approx(helsinki()["population"].sum(), rel=0.2)
    assert 0 < facts["share"] <= 1


# ------------------------------------------------------------------ 4. strict JSON
def test_catchment_json_never_holds_nan_or_infinity(
    app: typer.Typer,
    sample_data_dir: Path,
    district_id: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Whatever the computation gives, ``--json`` is JSON: undefined numbers are null."""
    from geo_discovery.engine import DiscoveryEngine

    real = DiscoveryEngine.catchment

    def undefined(self: Any, *args: Any, **kwargs: Any) -> Any:
        out = real(self, *args, **kwargs)
        rivals = out.competitors.assign(share=math.nan)
        return dataclasses.replace(out, captured=math.inf, competitors=rivals)

    monkeypatch.setattr(DiscoveryEngine, "catchment", undefined)
    helsinki().to_csv(tmp_path / "ok.csv", index=False)
    result = run(app, sample_data_dir, district_id, "--demand", str(tmp_path / "ok.csv"), "--json")
    assert result.exit_code == 0, result.output
    facts = strict_json(result.stdout)
    assert facts["captured"] is None and facts["share"] is None
    assert facts["competitors"] and all(r["share"] is None for r in facts["competitors"])


# ---------------------------------------------------- 5. delimiters, BOM, decimal comma
@pytest.mark.parametrize(
    ("sep", "encoding", "decimal"),
    [
        (";", "utf-8", "."),
        (",", "utf-8-sig", "."),
        (";", "utf-8-sig", "."),
        (";", "utf-8", ","),
        (";", "utf-8-sig", ","),
        ("\t", "utf-8", ","),
        ("|", "utf-8", "."),
    ],
)
def test_semicolons_boms_and_decimal_commas_are_read(
    tmp_path: Path, sep: str, encoding: str, decimal: str
) -> None:
    frame = helsinki(30).assign(population=lambda f: f["population"] / 4)
    path = tmp_path / "d.csv"
    path.write_text(frame.to_csv(index=False, sep=sep, decimal=decimal), encoding=encoding)
    got = read_demand(path)
    assert got["lat"].tolist() == frame["lat"].tolist()
    assert got["lng"].tolist() == frame["lng"].tolist()
    assert got["population"].tolist() == frame["population"].tolist()


def test_the_reported_decimal_comma_line_is_read(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text("lat;lng;pop\n60,17;24,94;100\n60,18;24,95;2,5\n")
    got = read_demand(tmp_path / "d.csv")
    assert got.to_dict("list") == {"lat": [60.17, 60.18], "lng": [24.94, 24.95],
                                   "population": [100.0, 2.5]}  # fmt: skip


def test_a_number_in_the_other_decimal_mark_is_refused_not_misread(tmp_path: Path) -> None:
    """``1,234`` people in a file whose decimal mark is a dot is not 1.234 (nor 1234)."""
    (tmp_path / "d.csv").write_text("lat;lng;pop\n60.17;24.94;100\n60.18;24.95;1,234\n")
    with pytest.raises(IngestError, match=r"line 3, population='1,234' is not a number"):
        read_demand(tmp_path / "d.csv")


def test_a_header_read_with_the_wrong_delimiter_names_what_was_found(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text("lat:lng:pop\n60.17:24.94:100\n")
    with pytest.raises(IngestError, match=r"no latitude column; .*found: 'lat:lng:pop'"):
        read_demand(tmp_path / "d.csv")


# ---------------------------------------------------------------- the real census file
def test_the_real_census_file_is_read_whole(real_data: Path) -> None:
    pts = read_demand(real_data / CENSUS)
    assert len(pts) == 2292
    assert pts["population"].sum() == 8_804_190
    assert pts["lat"].between(40.49, 40.92).all() and pts["lng"].between(-74.26, -73.70).all()


# ------------------------------------------------ 5. points given to the library
def test_the_library_takes_population_points_as_a_frame(
    sample_data_dir: Path, district_id: str, tmp_path: Path
) -> None:
    """``engine.catchment(id, read_demand(file))``, as an analyst tries it in a notebook,
    was a pandas ValueError (the truth value of a DataFrame); it is the same answer as the
    file given by the setting."""
    from geo_discovery.engine import DiscoveryEngine
    from geo_discovery.errors import InvalidQueryError
    from geo_discovery.settings import Settings

    helsinki().to_csv(tmp_path / "ok.csv", index=False)
    by_file = DiscoveryEngine.from_snapshot(sample_data_dir, settings=Settings(
        data_dir=sample_data_dir, catchment_demand_path=tmp_path / "ok.csv"))  # fmt: skip
    want = by_file.catchment(district_id, "population")
    engine = DiscoveryEngine.from_snapshot(sample_data_dir)
    got = engine.catchment(district_id, read_demand(tmp_path / "ok.csv"))
    assert got.share == want.share and got.demand_total == want.demand_total
    assert got.demand_source["kind"] == "population"
    assert "200 population points given" in got.demand_source["description"]
    bad = helsinki()
    bad.loc[3, "lat"] = 95.0
    with pytest.raises(InvalidQueryError, match=r"demand row 3: lat 95\.0.*-90 <= lat <= 90"):
        engine.catchment(district_id, bad)
    with pytest.raises(InvalidQueryError, match="no column population"):
        engine.catchment(district_id, bad.drop(columns="population"))
    with pytest.raises(InvalidQueryError, match="allowed: auto, population, merchants"):
        engine.catchment(district_id, "people")


def test_a_frame_leaves_out_rows_without_people_as_a_file_does(
    sample_engine: Any, district_id: str, tmp_path: Path
) -> None:
    """Rows whose population is 0 or blank hold no people: a file leaves them out
    whatever their coordinates, and so does a frame (it refused them: "demand row 1: lat
    nan, lng nan, population 0"). Rows with people are still checked."""
    from geo_discovery.catchment.demand import given_points
    from geo_discovery.errors import InvalidQueryError

    frame = helsinki(20)
    frame["population"] = frame["population"].astype(np.float64)
    frame.loc[1, ["lat", "lng", "population"]] = [np.nan, np.nan, 0.0]
    frame.loc[4, "population"] = np.nan  # blank, at a place
    frame.loc[7, ["lat", "lng", "population"]] = [np.nan, np.nan, np.nan]
    frame.loc[9, ["lat", "lng", "population"]] = [95.0, 24.9, 0.0]  # off the map, no people
    frame.to_csv(tmp_path / "holes.csv", index=False)
    by_file = read_demand(tmp_path / "holes.csv")
    assert len(by_file) == 16
    got = given_points(frame)
    pd.testing.assert_frame_equal(got, by_file)
    texts = frame.astype(object).where(frame.notna(), None)
    texts.loc[4, "population"] = "  "  # blank text in an object column: no people either
    pd.testing.assert_frame_equal(given_points(texts), by_file)
    a = sample_engine.catchment(district_id, frame)
    b = sample_engine.catchment(district_id, by_file)
    assert a.demand_total == b.demand_total == by_file["population"].sum()
    assert a.share == b.share
    for row, value, match in [
        (2, {"lat": np.nan}, r"demand row 2: lat nan"),  # people but no place
        (3, {"population": -5.0}, r"demand row 3: .*population -5\.0.*>= 0"),
        (5, {"population": np.inf}, r"demand row 5: .*population inf"),
    ]:
        bad = frame.copy()
        for col, v in value.items():
            bad.loc[row, col] = v
        with pytest.raises(InvalidQueryError, match=match):
            given_points(bad)
    bad = frame.astype(object)
    bad.loc[6, "population"] = "many"
    with pytest.raises(InvalidQueryError, match=r"demand row 6: .*population 'many'"):
        given_points(bad)
    none = frame.assign(population=0.0)
    with pytest.raises(InvalidQueryError, match="holds no people"):
        given_points(none)


def test_a_frame_refuses_null_island_and_swapped_rows_as_a_file_does(tmp_path: Path) -> None:
    """A frame took rows at ``0, 0`` and probable lat/lng swaps that a file refuses: they
    fell outside every radius, and their people left ``demand_total`` without a word."""
    from geo_discovery.catchment.demand import given_points
    from geo_discovery.errors import IngestError, InvalidQueryError

    frame = helsinki(60)
    for row, (lat, lng), match in [
        (6, (0.0, 0.0), r"demand row 6: lat 0\.0, lng 0\.0, .*not both 0"),
        (5, (frame.at[5, "lng"], frame.at[5, "lat"]),
         r"demand frame: 1 of 60 rows with population are a probable lat/lng swap \(first: row 5"),
    ]:  # fmt: skip
        bad = frame.copy()
        bad.loc[row, ["lat", "lng"]] = [lat, lng]
        with pytest.raises(InvalidQueryError, match=match):
            given_points(bad)
        bad.to_csv(tmp_path / "bad.csv", index=False)
        with pytest.raises(IngestError):  # the file's refusal, for the same rows
            read_demand(tmp_path / "bad.csv")
    assert len(given_points(frame)) == 60


def test_a_trailing_delimiter_on_every_row_is_read_without_it(tmp_path: Path) -> None:
    """``60.13,24.87,788.0,`` under ``lat,lng,population``: pandas took the first field as
    the index, shifting every value left (lat got the longitude, population ''), and the
    file was refused as having no people (an analyst's sweep)."""
    frame = helsinki(30)
    path = tmp_path / "trail.csv"
    lines = [f"{a},{b},{p}," for a, b, p in frame[["lat", "lng", "population"]].to_numpy()]
    path.write_text("lat,lng,population\n" + "\n".join(lines) + "\n")
    got = read_demand(path)
    want = frame[frame["population"] > 0].reset_index(drop=True)
    np.testing.assert_array_equal(got["lat"], want["lat"])
    np.testing.assert_array_equal(got["population"], want["population"])


@pytest.mark.parametrize(
    ("row", "fields"), [("60.17,24.94,100,5", 4), ("60.17,24.94", 2), ("60.17;24.94;7", 1)]
)
def test_a_row_of_another_width_is_refused_naming_its_line(
    tmp_path: Path, row: str, fields: int
) -> None:
    """A row with a value beyond the header was read shifted (lat 24.94, lng 100), one
    missing its population was left out as if blank; both are refused by line."""
    path = tmp_path / "wide.csv"
    path.write_text(f"lat,lng,population\n60.16,24.93,50\n{row}\n60.18,24.95,20\n")
    with pytest.raises(IngestError, match=rf"line 3 has {fields} fields where the header has 3"):
        read_demand(path)


def test_the_width_check_reads_what_the_reader_reads(tmp_path: Path) -> None:
    """The regression sweep's: the width check opened a gzipped file as text and refused
    it (the census file as .csv.gz), refused a line of spaces and a header's own trailing
    delimiter, and raised csv's own error on a field above 128 kB."""
    import gzip

    frame = helsinki(20)
    text = frame.to_csv(index=False)
    (tmp_path / "tracts.csv.gz").write_bytes(gzip.compress(text.encode()))
    head, *rows = text.splitlines()
    (tmp_path / "spaces.csv").write_text("\n".join([head + ",", rows[0], "   ", *rows[1:]]))
    (tmp_path / "long.csv").write_text(
        "lat,lng,population,geometry\n" + "".join(f'{r},"{"x" * 200_000}"\n' for r in rows)
    )
    want = read_demand(_write(tmp_path / "plain.csv", text))
    for name in ("tracts.csv.gz", "spaces.csv", "long.csv"):
        pd.testing.assert_frame_equal(read_demand(tmp_path / name), want, obj=name)


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_a_unit_separator_in_a_field_is_read_as_before(tmp_path: Path) -> None:
    """The second sweep's: the width check split lines on \\x1f and refused such a file
    with pandas' own error; it is read as before the check."""
    path = _write(tmp_path / "sep.csv", "name,lat,lng,population\nA\x1fB,60.17,24.94,100\n")
    assert read_demand(path)["population"].tolist() == [100.0]
