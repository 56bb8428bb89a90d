"""Duplicate ids over many files, found file by file (:class:`DuplicateTracker`, what
``read_sources`` uses so it can free each file before reading the next) against the
all-at-once oracle (:func:`find_duplicates`, what a cluster load uses)."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geo_discovery.ingest import read_sources, sources
from geo_discovery.ingest.options import ReadOptions
from geo_discovery.ingest.sources import (
    DuplicateTracker,
    combine_parts,
    file_keys,
    find_duplicates,
    finish_file,
    read_source_file,
)

rows = st.tuples(st.one_of(st.none(), st.sampled_from("abcdef")), st.booleans())
files = st.lists(st.lists(rows, max_size=8), min_size=1, max_size=5)


def _keys(spec: list[list[tuple[str | None, bool]]]) -> list[pd.DataFrame]:
    return [
        pd.DataFrame({
            "merchant_id": pd.Series([mid for mid, _ in rows_], dtype=object),
            "source_file": pd.Series([f"f{k}.csv"] * len(rows_), dtype=object),
            "source_line": pd.array([i + 2 for i in range(len(rows_))], dtype="Int64"),
            "ok": [ok for _, ok in rows_],
        })
        for k, rows_ in enumerate(spec)
    ]


@settings(max_examples=300, deadline=None)
@given(files)
def test_file_by_file_duplicates_equal_the_all_at_once_oracle(spec) -> None:
    keys = _keys(spec)
    expected = find_duplicates(keys)
    tracker = DuplicateTracker()
    early = [tracker.add(k) for k in keys]
    late = tracker.rejected_duplicates()
    for k, key in enumerate(keys):
        ok = key["ok"].to_numpy()
        # a good row's duplicate is settled by the files before it, message included
        assert early[k] == {i: m for i, m in expected[k].items() if ok[i]}
        assert late[k] == {i: m for i, m in expected[k].items() if not ok[i]}


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _three_files(tmp_path: Path) -> list[Path]:
    # id 1: bad in a, good in c (c's row is the reference: a's is no duplicate, b's is)
    # id 2: bad in a and b, never good (a's row is the reference)
    # id 3: good in a, repeated (good and bad) in b and c
    return [
        _write(tmp_path / "a.csv", "id,name,lat,lng\n1,,1,1\n2,Bad,x,1\n3,Kept,1,1\n"),
        _write(tmp_path / "b.csv", "id,name,lat,lng\n2,Bad Again,y,1\n3,Dup,1,1\n1,,2,2\n"),
        _write(tmp_path / "c.csv", "id,name,lat,lng\n1,Valid Later,1,1\n3,,1,1\n4,New,2,2\n"),
    ]


def test_read_sources_equals_the_all_files_at_once_path(tmp_path: Path) -> None:
    paths = _three_files(tmp_path)
    got = read_sources(paths)
    results = [read_source_file(p, None, None, ReadOptions()) for p in paths]
    oracle = combine_parts([
        finish_file(r, d) for r, d in zip(results, find_duplicates([file_keys(r) for r in results]),
                                          strict=True)
    ])
    pd.testing.assert_frame_equal(got.merchants, oracle.merchants)
    pd.testing.assert_frame_equal(got.rejects, oracle.rejects)
    pd.testing.assert_frame_equal(got.warnings, oracle.warnings)
    assert got.merchants["name"].tolist() == ["Kept", "Valid Later", "New"]
    reasons = dict(zip(got.rejects["raw"], got.rejects["reason"], strict=True))
    assert reasons["2,Bad Again,y,1"] == (
        "lat 'y' is not a number; duplicate merchant_id generic:2, first at a.csv:3")
    assert reasons["1,,2,2"] == "empty name"  # the reference (c.csv:2) comes later
    assert reasons["3,,1,1"] == "empty name; duplicate merchant_id generic:3, first at a.csv:4"
    assert [(s.rows_read, s.rows_loaded, s.rows_rejected) for s in got.sources] == [
        (3, 1, 2), (3, 0, 3), (3, 2, 1)]


def test_each_file_is_freed_before_the_next_is_read(tmp_path: Path, monkeypatch) -> None:
    paths = _three_files(tmp_path)
    alive: list[weakref.ref] = []
    read = sources.read_source_file

    def spy(path, *args, **kwargs):
        gc.collect()
        assert not any(ref() is not None for ref in alive), "an earlier file is still held"
        result = read(path, *args, **kwargs)
        alive.append(weakref.ref(result))
        return result

    monkeypatch.setattr(sources, "read_source_file", spy)
    assert read_sources(paths).rows_read == 9
    assert len(alive) == 3


def test_loaded_rows_are_arrow_and_the_frame_is_their_copy(tmp_path: Path) -> None:
    got = read_sources(_three_files(tmp_path))
    assert got.table.num_rows == got.rows_loaded == 3
    assert got.merchants["merchant_id"].tolist() == got.table.column("merchant_id").to_pylist()
    got.release_rows()
    assert (got.table.num_rows, got.rows_loaded, got.rows_read) == (0, 3, 9)


@pytest.mark.parametrize("bad", [{0: "x"}, {5: "x"}])
def test_add_duplicates_refuses_rows_that_are_not_rejected(tmp_path: Path, bad) -> None:
    paths = _three_files(tmp_path)
    part = finish_file(read_source_file(paths[2], None, None, ReadOptions()), {})
    # c.csv rejects only its second row (index 1)
    with pytest.raises(ValueError, match="not among the file's rejected rows"):
        sources.add_duplicates(part, bad)


def test_the_same_file_given_twice_is_refused_by_name(tmp_path: Path) -> None:
    """A file given twice (or under another spelling, or through a link) read every row
    of its second copy as a duplicate id: 1,425 rejects and no word of why."""
    from geo_discovery.errors import IngestError

    one = _write(tmp_path / "one.csv", "id,name,lat,lng\na,A,60.1,24.9\n")
    other = _write(tmp_path / "other.csv", "id,name,lat,lng\nb,B,60.1,24.9\n")
    (tmp_path / "link.csv").symlink_to(one)
    for again, named in ((one, str(one)), (tmp_path / "sub" / ".." / "one.csv", "(as "),
                         (tmp_path / "link.csv", "(as ")):  # fmt: skip
        (tmp_path / "sub").mkdir(exist_ok=True)
        with pytest.raises(IngestError, match="given twice") as err:
            read_sources([one, other, again])
        assert str(again) in str(err.value) and named in str(err.value)
    copy = _write(tmp_path / "copy.csv", one.read_text())  # another file: its rows are read
    result = read_sources([one, copy])
    assert result.rows_read == 2 and result.rows_rejected == 1
