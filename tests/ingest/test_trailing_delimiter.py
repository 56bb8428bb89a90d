"""A row with one field too many whose last cell is empty: a file's trailing-delimiter
habit, or a cell inserted mid-row?

Each such row was read as a trailing delimiter, whatever the rest of the file did: a row
``x2,Joe's Deli,…,12 Main St, Suite 4,`` (an unquoted comma in the address) loaded with
``phone='Suite 4'``, shifted, without a warning (262 of 375 such rows of a 3M-row file).
A trailing delimiter is now taken as one only when at least half the rows have it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from geo_discovery.settings import Settings
from geo_discovery.snapshot.pipeline import load
from geo_discovery.snapshot.store import SnapshotStore

HEADER = "id,name,lat,lng,category,address,phone\n"


def _row(i: int) -> str:
    point = f"{40.7 + i * 1e-4:.4f},{-73.99 + i * 1e-4:.4f}"
    return f"s{i},Shop {i},{point},food,{i} Broadway,212-555-{1000 + i}"


def _load(path: Path, tmp: Path) -> tuple[Any, dict[str, dict[str, Any]]]:
    data = tmp / "store"
    report = load([path], data_dir=data, settings=Settings(data_dir=data))
    info = SnapshotStore(data).current()
    assert info is not None
    columns = ["merchant_id", "address", "phone"]
    table = pq.read_table(info.path / "merchants.parquet", columns=columns)
    rows = {r["merchant_id"]: r for r in table.to_pylist()}
    return report, rows


def test_a_row_with_a_cell_inserted_is_rejected_not_read_shifted(tmp_path: Path) -> None:
    path = tmp_path / "shops.csv"
    bad = "x2,Joe's Deli,40.7123,-73.9888,food,12 Main St, Suite 4,\n"
    path.write_text(HEADER + "".join(_row(i) + "\n" for i in range(40)) + bad)
    report, rows = _load(path, tmp_path)
    assert "generic:x2" not in rows  # not loaded with phone='Suite 4'
    assert (report.rows_read, report.rows_loaded, report.rows_rejected) == (41, 40, 1)
    assert report.rejects_path is not None
    rejects = report.rejects_path.read_text()
    assert "expected 7 fields, got 8" in rejects and ",42,generic:x2," in rejects


def test_a_files_trailing_delimiter_habit_is_still_read_aligned(tmp_path: Path) -> None:
    path = tmp_path / "shops.csv"
    lines = [_row(i) + ("," if i % 4 else "") for i in range(40)]  # 30 of 40 rows
    path.write_text(HEADER + "\n".join(lines) + "\n")
    report, rows = _load(path, tmp_path)
    assert report.rows_rejected == 0 and len(rows) == 40
    assert rows["generic:s5"]["phone"] == "212-555-1005"
    assert rows["generic:s5"]["address"] == "5 Broadway"
