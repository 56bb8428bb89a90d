"""A stray quote in a CSV file: the lines it swallowed are read again, one row each.

A ``"`` opened by mistake makes :mod:`csv` read the following physical lines as one
quoted field until the next ``"`` (or the end of the file). A record that spans lines
*and* has the wrong field count, or whose quote is open at the end of the file, is read
again one row per physical line: the rows it hid are counted and loaded or rejected on
their own, the line that leaves its quote open is rejected naming where the quote runs,
and a note says rows and physical lines differ. A quoted field with line breaks in a
record of the right field count stays one row, without a note.
"""

from __future__ import annotations

import csv
import gzip
import io
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from geo_discovery.cli.main import app
from geo_discovery.ingest import IngestResult, csvfile, read_sources, reason_kinds
from geo_discovery.ingest.csvfile import quote_left_open
from geo_discovery.ingest.options import ReadOptions
from geo_discovery.ingest.readers import RawTable, read_raw

HEADER = "id,name,lat,lng,category"
N = 20
#: Data line 9 (physical line 10) has a quoted field: it closes a quote left open above.
ROWS = [f"{i},Shop {i},40.{7000 + i},-73.{9000 + i},food" for i in range(N)]
ROWS[8] = '8,"Deli, Bar",40.7008,-73.9008,food'
NOTE = "rows are not physical lines there"


def lines_of(rows: list[str], newline: str = "\n") -> str:
    return newline.join([HEADER, *rows]) + newline


def write(path: Path, text: str) -> Path:
    path.write_bytes(text.encode())
    return path


def with_quote(line: int, before: str, rows: list[str] = ROWS) -> list[str]:
    """``rows`` with a ``"`` inserted before ``before`` on physical ``line``."""
    out = list(rows)
    out[line - 2] = out[line - 2].replace(before, '"' + before, 1)
    return out


def loaded(result: IngestResult) -> list[tuple[int, str]]:
    m = result.merchants
    return sorted(zip(m["source_line"].tolist(), m["name"].tolist(), strict=True))


def check(result: IngestResult) -> None:
    assert result.rows_read == result.rows_loaded + result.rows_rejected


def test_the_lines_a_stray_quote_swallowed_are_rows_again(tmp_path: Path) -> None:
    clean = read_sources([write(tmp_path / "clean.csv", lines_of(ROWS))])
    path = write(tmp_path / "shops.csv", lines_of(with_quote(6, "Shop 4")))
    result = read_sources([path])
    check(result)
    # lines 6–10 were one record of 6 fields; now each is a row, as in the clean file
    assert result.rows_read == N == clean.rows_read
    assert loaded(result) == [row for row in loaded(clean) if row[0] != 6]
    reject = result.rejects.iloc[0]
    assert len(result.rejects) == 1 and reject["source_line"] == 6
    assert reject["reason"] == (
        "unterminated quoted field: a quote opened on line 6 runs to line 10: 5 lines read "
        "as one record of 6 fields (expected 5); each line is read again as a row")
    assert reason_kinds(reject["reason"]) == ["csv syntax"] == [reject["kind"]]
    assert reject["raw"] == '4,"Shop 4,40.7004,-73.9004,food'
    (note,) = result.sources[0].notes
    assert note.startswith("a quote opened on line 6 runs to line 10: 5 lines read as one "
                           "record of 6 fields (expected 5); taken for a stray quote, the 5 "
                           "lines are read again as one row each") and NOTE in note


def test_a_quote_open_to_the_end_of_the_file(tmp_path: Path) -> None:
    rows = with_quote(12, "Shop 10")
    result = read_sources([write(tmp_path / "shops.csv", lines_of(rows))])
    check(result)
    assert result.rows_read == N and result.rows_loaded == N - 1
    reason = result.rejects["reason"].iloc[0]
    assert result.rejects["source_line"].tolist() == [12]
    assert reason == (
        f"unterminated quoted field: a quote opened on line 12 runs to the end of the file "
        f"(line {N + 1}): {N + 1 - 11} lines read as one record; each line is read again "
        "as a row")
    assert "runs to the end of the file" in result.sources[0].notes[0]


@pytest.mark.parametrize("newline_at_end", [True, False])
def test_a_quote_open_to_the_end_in_the_last_column(tmp_path: Path,
                                                    newline_at_end: bool) -> None:
    """The swallowed lines land in the last field: the record has the right field count,
    but its quote is still open at the end of the file."""
    text = lines_of(with_quote(15, "food", ROWS[:9] + ROWS[10:]))  # no other quote after
    path = write(tmp_path / "shops.csv", text if newline_at_end else text.rstrip("\n"))
    result = read_sources([path])
    check(result)
    assert result.rows_read == N - 1 and result.rows_loaded == N - 2
    assert result.rejects["source_line"].tolist() == [15]
    assert result.rejects["reason"].iloc[0].startswith(
        f"unterminated quoted field: a quote opened on line 15 runs to the end of the file "
        f"(line {N}): {N - 14} lines read as one record")


def test_a_line_inside_the_run_that_opens_a_quote_again(tmp_path: Path) -> None:
    rows = ['1,"A,40.7,-73.9,food', "2,B,40.7,-73.9,food", '3,C" ,40.7,-73.9,"food',
            '4,D,40.7,-73.9,food",x', "5,E,40.7,-73.9,food"]
    result = read_sources([write(tmp_path / "shops.csv", lines_of(rows))])
    check(result)
    assert result.rows_read == 5 and loaded(result) == [(3, "B"), (6, "E")]
    reasons = dict(zip(result.rejects["source_line"], result.rejects["reason"], strict=True))
    run = "a quote opened on line 2 runs to line 5: 4 lines read as one record of 6 fields"
    assert reasons[2].startswith(f"unterminated quoted field: {run}")
    assert reasons[4].startswith(
        f"unterminated quoted field: this line leaves a quote open, and {run}")
    assert reasons[5] == "expected 5 fields, got 6"


def test_a_quoted_field_with_line_breaks_of_the_right_width_stays_one_row(
    tmp_path: Path,
) -> None:
    rows = [*ROWS[:3], '3,"Two\nLines",40.7003,-73.9003,food', *ROWS[4:],
            f'{N},Last,40.7,-73.9,"Shop\nfood"']
    result = read_sources([write(tmp_path / "shops.csv", lines_of(rows))])
    check(result)
    assert result.rows_read == N + 1 and result.rows_rejected == 0
    assert result.sources[0].notes == []
    assert result.merchants["source_line"].tolist()[-1] == N + 3


def test_a_record_of_the_wrong_width_over_lines_is_read_again(tmp_path: Path) -> None:
    """Even a quoted line break: the record is unreadable as a whole; its lines, read
    one by one, are rejected (or loaded) on their own and counted."""
    rows = [*ROWS[:3], '3,"Two\nLines",40.7003', *ROWS[4:]]
    result = read_sources([write(tmp_path / "shops.csv", lines_of(rows))])
    check(result)
    assert result.rows_read == N + 1 and result.rows_loaded == N - 1
    assert result.rejects["source_line"].tolist() == [5, 6]
    assert result.rejects["kind"].tolist() == ["csv syntax", "wrong field count"]


def test_blank_lines_in_the_run_are_not_rows(tmp_path: Path) -> None:
    rows = with_quote(3, "Shop 1")
    rows[3:3] = ["", ""]
    result = read_sources([write(tmp_path / "shops.csv", lines_of(rows))])
    check(result)
    assert result.rows_read == N
    assert result.rejects["reason"].iloc[0].startswith(
        "unterminated quoted field: a quote opened on line 3 runs to line 12: 10 lines")
    assert sorted(result.merchants["source_line"].tolist()) == [2, 4, *range(7, N + 4)]


@pytest.mark.parametrize("form", ["gzip-crlf-bom", "cr", "zip"])
def test_lines_are_numbered_as_read(tmp_path: Path, form: str) -> None:
    """The lines read again come from a second stream of the file: its numbering is the
    reader's in every container and line-end form (and it is reopened to go back)."""
    rows = with_quote(6, "Shop 4")
    text = lines_of(rows, "\r" if form == "cr" else "\r\n" if "crlf" in form else "\n")
    data = ("\ufeff" + text if "bom" in form else text).encode()
    if form.startswith("gzip"):
        path = tmp_path / "shops.csv.gz"
        path.write_bytes(gzip.compress(data))
    elif form == "zip":
        path = tmp_path / "shops.zip"
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("shops.csv", data)
    else:
        path = write(tmp_path / "shops.csv", text)
    result = read_sources([path])
    check(result)
    assert result.rows_read == N and result.rejects["source_line"].tolist() == [6]
    assert "runs to line 10" in result.rejects["reason"].iloc[0]
    assert sorted(result.merchants["source_line"]) == [i for i in range(2, N + 2) if i != 6]


@pytest.mark.parametrize("name", ["middle", "end", "last-column"])
def test_chunks_do_not_change_what_is_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    rows = {"middle": with_quote(6, "Shop 4"), "end": with_quote(12, "Shop 10"),
            "last-column": with_quote(15, "food", ROWS[:9] + ROWS[10:])}[name]
    path = write(tmp_path / "shops.csv", lines_of(rows))

    def read(chunk: int) -> RawTable:
        with monkeypatch.context() as m:
            m.setattr(csvfile, "CHUNK_ROWS", chunk)
            return read_raw(path, None, ReadOptions())

    whole = read(1 << 30)
    assert len(whole) == len(rows)
    for chunk in (1, 2, 3, 5):
        parts = read(chunk)
        pd.testing.assert_frame_equal(parts.frame, whole.frame)
        assert parts.source_line.tolist() == whole.source_line.tolist()
        assert list(parts.problems.details()) == list(whole.problems.details())
        assert parts.problems.notes == whole.problems.notes
        every = np.arange(len(whole))
        assert parts.raw_text(every) == whole.raw_text(every) == rows


def test_validate_says_rows_are_not_lines(tmp_path: Path) -> None:
    path = write(tmp_path / "shops.csv", lines_of(with_quote(6, "Shop 4")))
    result = CliRunner().invoke(app, ["validate", str(path), "--data-dir",
                                      str(tmp_path / "store")])
    assert result.exit_code == 0, result.output
    out = " ".join(result.stdout.split())
    assert f"rows read {N} = loaded {N - 1} + rejected 1" in out
    assert "note: shops.csv: a quote opened on line 6 runs to line 10" in out and NOTE in out


def test_a_real_file_with_a_stray_quote(real_data: Path, tmp_path: Path) -> None:
    """The Helsinki OSM fixture with a quote opened on line 101 reads as the clean file
    does, but for that line."""
    source = real_data / "fixtures" / "helsinki_center_osm_pois.csv"
    text = source.read_text(encoding="utf-8").splitlines(keepends=True)[:301]
    clean = read_sources([write(tmp_path / "clean.csv", "".join(text))])
    text[100] = text[100].replace(",", ',"', 1)
    result = read_sources([write(tmp_path / "openquote.csv", "".join(text))])
    check(result)
    assert result.rows_read == clean.rows_read == 300
    assert loaded(result) == [row for row in loaded(clean) if row[0] != 101]
    assert result.rejects["source_line"].tolist() == sorted(
        {*clean.rejects["source_line"].tolist(), 101})
    assert result.rejects.set_index("source_line").loc[101, "kind"] == "csv syntax"


# --------------------------------------------------------------------------- the quote state

_TEXT = st.text(alphabet='ab,;"\t ', max_size=12)


def _open_after(lines: list[str], delimiter: str) -> bool:
    """The oracle: :mod:`csv` itself; an open quote swallows the sentinel line."""
    records = list(csv.reader(io.StringIO("".join(lines) + "S\n", newline=""),
                              delimiter=delimiter))
    return records[-1] != ["S"]


@settings(max_examples=400, deadline=None)
@given(lines=st.lists(_TEXT, min_size=1, max_size=5), delimiter=st.sampled_from(",;\t"))
def test_quote_left_open_reads_as_csv_does(lines: list[str], delimiter: str) -> None:
    physical = [line + "\n" for line in lines]
    state = False
    for line in physical:
        state = quote_left_open(line, delimiter, state)
    assert state == _open_after(physical, delimiter)
    assert quote_left_open(physical[0], delimiter) == _open_after(physical[:1], delimiter)
