"""A UTF-16 CSV file cut in the middle of a character (an odd number of bytes).

Read as a UTF-8 file cut mid-character is: the complete rows load, and the bytes of the
cut character are undecodable, so the row holding them is rejected ("bad encoding"),
instead of the whole file failing (the lone last byte is below 0x80, which
``surrogateescape`` refuses).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from geo_discovery.cli.main import app
from geo_discovery.ingest import read_sources
from geo_discovery.ingest.raw import shown_escaped

TEXT = "id,name,lat,lng\r\n1,a,42.3,-71\r\n2,b,42.31,-71.01\r\n"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
@pytest.mark.parametrize(("cut", "loaded_ids"), [(1, ["1", "2"]), (3, ["1"]), (5, ["1"])])
def test_cut_utf16_file_loads_complete_rows(
    tmp_path: Path, encoding: str, cut: int, loaded_ids: list[str]
) -> None:
    path = tmp_path / "cut.csv"
    path.write_bytes(TEXT.encode(encoding)[:-cut])
    result = read_sources([path])
    assert sorted(result.merchants["name"].tolist()) == [
        {"1": "a", "2": "b"}[i] for i in loaded_ids
    ]
    assert result.rows_rejected == 1
    reason = result.rejects["reason"].iloc[0]
    assert "bad encoding" in reason, reason
    assert "\\x" in result.rejects["raw"].iloc[0]  # the cut byte, shown


def test_validate_cut_utf16_file_is_not_an_internal_error(tmp_path: Path) -> None:
    path = tmp_path / "u16trunc.csv"
    path.write_bytes(TEXT.encode("utf-16")[:-1])
    result = CliRunner(env={"COLUMNS": "240"}).invoke(
        app, ["validate", str(path), "--data-dir", str(tmp_path / "d")]
    )
    assert result.exit_code == 0, result.output
    assert "rows read 3 = loaded 2 + rejected 1" in result.output
    assert "internal error" not in result.output


def test_shown_escaped_names_every_byte() -> None:
    assert shown_escaped("caf\udce9 \udc0a!") == "caf\\xe9 \\x0a!"
