"""A CSV file is parsed a chunk of rows at a time (``csvfile.CHUNK_ROWS``), and a file's
loaded rows become Arrow one column at a time (``sources._loaded_table``): neither may
change what is read, rejected or loaded. The oracle is the same read with one chunk,
and :func:`~geo_discovery.schema.to_arrow` of the whole kept frame."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geo_discovery.errors import IngestError
from geo_discovery.ingest import csvfile
from geo_discovery.ingest import sources as S
from geo_discovery.ingest.canonical import attributes_json
from geo_discovery.ingest.options import ReadOptions
from geo_discovery.ingest.readers import read_raw
from geo_discovery.schema import column_to_arrow, empty_frame, to_arrow

_CELLS = st.one_of(
    st.sampled_from(["", "40.7", "-73.9", "4.5", "Deli", "a,b", 'say "hi"', "two\nlines",
                     "Café", "x;y", "  pad  "]),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=6),
)


@st.composite
def _csv_bytes(draw: st.DrawFn) -> bytes:
    """A header and rows: quoted fields with delimiters, quotes and line breaks, rows
    too short or too long, trailing delimiters, blank lines and undecodable bytes."""
    width = 5
    header = "id,name,lat,lng,category"
    lines = [header]
    for i in range(draw(st.integers(0, 25))):
        shape = draw(st.sampled_from(["ok"] * 6 + ["short", "long", "trailing", "blank"]))
        if shape == "blank":
            lines.append("")
            continue
        cells = [str(i), *draw(st.lists(_CELLS, min_size=width - 1, max_size=width - 1))]
        if shape == "short":
            cells = cells[:2]
        elif shape == "long":
            cells = [*cells, "extra"]
        elif shape == "trailing":
            cells = [*cells, ""]
        quoted = ['"' + c.replace('"', '""') + '"' if set(c) & set(',"\n;') else c
                  for c in cells]
        lines.append(",".join(quoted))
    data = "\n".join(lines).encode()
    if draw(st.booleans()) and len(lines) > 1:
        at = draw(st.integers(len(header) + 1, len(data)))
        data = data[:at] + b"\xff" + data[at:]  # not UTF-8 anywhere
    if draw(st.booleans()):
        data += b'\n1,"open quote'  # a quote left open at the end of the file
    return data


def _read(path: Path, chunk: int, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    with monkeypatch.context() as m:
        m.setattr(csvfile, "CHUNK_ROWS", chunk)
        return read_raw(path, None, ReadOptions())


@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=_csv_bytes(), chunk=st.integers(1, 7))
def test_chunked_parse_equals_one_chunk(
    data: bytes, chunk: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "shops.csv"
    path.write_bytes(data)
    try:
        whole = _read(path, 1 << 30, monkeypatch)
    except IngestError as exc:  # a whole-file cause (no encoding fits): the same
        with pytest.raises(IngestError) as again:
            _read(path, chunk, monkeypatch)
        assert str(again.value) == str(exc)
        return
    parts = _read(path, chunk, monkeypatch)
    pd.testing.assert_frame_equal(parts.frame, whole.frame)
    assert parts.source_line.tolist() == whole.source_line.tolist()
    assert parts.structural.tolist() == whole.structural.tolist()
    assert list(parts.problems.details()) == list(whole.problems.details())
    assert parts.problems.notes == whole.problems.notes
    every = np.arange(len(whole))
    assert parts.raw_text(every) == whole.raw_text(every)


def test_chunks_meet_mid_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows with problems either side of a chunk boundary keep their own lines and
    reasons (the chunk holds 2 rows here)."""
    path = tmp_path / "shops.csv"
    path.write_bytes('id,name,lat,lng\n1,Café,40.7,-73.9\n2,"B\nB",40.7,-73.9\n3,C,40.7\n'
                     .encode() + b"4,D\xff,40.7,-73.9\n" + "5,Crème,40.7,-73.9\n".encode())
    raw = _read(path, 2, monkeypatch)
    assert raw.source_line.tolist() == [2, 3, 5, 6, 7]
    details = raw.problems.details()
    assert details[2] == (["expected 4 fields, got 3"], [])
    assert "bad encoding" in details[3][0][0]
    assert [d is None for d in details] == [True, True, False, False, True]
    assert raw.raw_text(np.array([1])) == ['2,"B\nB",40.7,-73.9']


def _old_table(result: S.FileResult, keep: np.ndarray) -> pa.Table:
    """What finish_file built before: a copy of the kept frame, then :func:`to_arrow`."""
    kept = result.frame.take(keep)
    kept["attributes"] = pd.Series(attributes_json(result.raw, keep), index=kept.index,
                                   dtype=object)
    return to_arrow(kept.astype(empty_frame().dtypes.to_dict()))


def _check_tables(path: Path) -> int:
    result = S.read_source_file(path, None, None, ReadOptions())
    details = result.problems.details()
    good = np.flatnonzero([d is None or not d[0] for d in details])
    for keep in (good, good[::3]):
        new = S._loaded_table(result, keep)
        assert new.equals(_old_table(result, keep), check_metadata=True)
        assert new.schema.equals(to_arrow(empty_frame()).schema, check_metadata=True)
    return len(details) - len(good)


def test_loaded_table_equals_to_arrow_of_the_kept_rows(tmp_path: Path) -> None:
    path = tmp_path / "shops.csv"
    path.write_text('id,name,lat,lng,category,phone,rating\n1,Deli,40.7,-73.9,food/cafe,,4\n'
                    '2,,40.7,-73.9,,555,x\n3,"Tab\tCafé",40.7,-73.9,,,\n4,Bell\x07,91,0,,,\n'
                    '5,Ok,40.1,-73.1,food/bakery,555 1234,5\n')
    assert _check_tables(path) == 2  # the row without a name, the row at lat 91


@pytest.mark.parametrize("name", [
    "cities/airbnb_washington_dc_2015-10_listings_ratings.csv.gz",
    "cities/nys_retail_food_stores_statewide.csv.gz",
    "nyc/nyc_restaurants_dohmh_mongodb_primer_subset.csv",
    "fixtures/helsinki_center_osm_pois.csv",
])
def test_loaded_table_equals_to_arrow_on_real_files(real_data: Path, name: str) -> None:
    assert _check_tables(real_data / name) > 0  # each of these files has rejected rows


def test_text_column_refuses_nulls_where_the_schema_does() -> None:
    text = pd.Series(["a", None], dtype=pd.StringDtype("pyarrow", na_value=np.nan))
    assert column_to_arrow("phone", text).to_pylist() == ["a", None]
    with pytest.raises(ValueError, match="non-nullable"):
        column_to_arrow("name", text)
