"""A source's file whose header is written another way (a data portal's export: ``License
Number`` for ``license_number``) is read by the source's profile, as its own file is.

Before: generic headers matched with case and spaces alike, but profile detection did
not, so the NYS retail food stores as data.ny.gov exports them loaded as ``generic``: ids
hashed from the rows, every category ``unknown`` (it had been refused clearly).
"""

from __future__ import annotations

from pathlib import Path

from geo_discovery.ingest import read_sources

HEADER = ("county,license_number,operation_type,establishment_type,entity_name,dba_name,"
          "street_number,street_name,address_line_2,address_line_3,city,state,zip_code,"
          "square_footage,longitude,latitude")  # fmt: skip
ROWS = [
    "Albany,738104,Store,A,FLAGLER BRENT,BRENTS EXPRESS STOP,160,STATE ST,,,ALBANY,NY,12207,"
    "600,-73.75,42.65",
    "Broome,030105,Store,JABC,EICHHORN ANDREA,COUNTRY WAGON PRODUCE,2859,NYS RT 26,,,GLEN "
    "AUBREY,NY,13777,1900,-76.0,42.2",
]


def _write(path: Path, header: str) -> Path:
    path.write_text("\n".join([header, *ROWS]) + "\n")
    return path


def test_a_title_case_export_is_read_by_the_source_profile(tmp_path: Path) -> None:
    own = read_sources([_write(tmp_path / "own.csv", HEADER)])
    titled = ",".join(c.replace("_", " ").title().replace("Dba", "DBA") for c in HEADER.split(","))
    portal = read_sources([_write(tmp_path / "portal.csv", titled)])
    assert [r.profile for r in portal.sources] == ["nys_retail_food"] == [
        r.profile for r in own.sources]  # fmt: skip
    for column in ("merchant_id", "name", "category", "lat", "lng", "address"):
        assert portal.merchants[column].tolist() == own.merchants[column].tolist(), column
    assert portal.merchants["merchant_id"].str.startswith("nysfood:").all()
    assert any("written another way" in n for n in portal.sources[0].notes)
    # the source's own header, its profile given: nothing was renamed, nothing is said
    given = read_sources([tmp_path / "own.csv"], profile="nys_retail_food")
    assert not any("written another way" in n for n in given.sources[0].notes)
    assert not any("written another way" in n for n in own.sources[0].notes)
