"""List-valued cells (Parquet ``list<string>``, GeoJSON arrays) read as their items.

A list is the text a CSV export of it holds (``[a, b]``), so the same rows give the
same merchants from either format, never numpy's printed form ``['a' 'b']``.
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from geo_discovery.ingest import read_sources
from geo_discovery.ingest.taxonomy import fsq_category

LABELS = ["Retail > Fireworks Store", "Retail > Miscellaneous Store"]
CSV_CELL = "[Retail > Fireworks Store, Retail > Miscellaneous Store]"


def _rows() -> list[dict[str, object]]:
    return [
        {"fsq_place_id": "a1", "name": "Boom", "latitude": 40.71, "longitude": -73.9,
         "fsq_category_labels": LABELS, "tel": ["+1 555 0100"]},
        {"fsq_place_id": "a2", "name": "Quiet", "latitude": 40.72, "longitude": -73.91,
         "fsq_category_labels": [], "tel": []},
    ]


def _csv(tmp_path: Path) -> Path:
    path = tmp_path / "fsq.csv"
    lines = ["fsq_place_id,name,latitude,longitude,fsq_category_labels,tel",
             f'a1,Boom,40.71,-73.9,"{CSV_CELL}",[+1 555 0100]',
             "a2,Quiet,40.72,-73.91,,"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _parquet(tmp_path: Path) -> Path:
    path = tmp_path / "fsq.parquet"
    pd.DataFrame(_rows()).to_parquet(path, index=False)
    return path


def _geojson(tmp_path: Path) -> Path:
    path = tmp_path / "fsq.geojson"
    features = [{"type": "Feature",
                 "geometry": {"type": "Point", "coordinates": [r["longitude"], r["latitude"]]},
                 "properties": {k: v for k, v in r.items() if k not in ("latitude", "longitude")}}
                for r in _rows()]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}),
                    encoding="utf-8")
    return path


def test_cell_text_gives_the_csv_list_form() -> None:
    from geo_discovery.ingest.values import cell_text

    assert cell_text(np.array(LABELS, dtype=object)) == CSV_CELL
    assert cell_text(np.array(LABELS)) == CSV_CELL  # GeoJSON arrays come as <U… arrays
    assert cell_text(LABELS) == CSV_CELL
    assert cell_text(np.array([], dtype=float)) == ""
    assert cell_text(None) == "" and cell_text(float("nan")) == ""
    assert cell_text("as is") == "as is" and cell_text(3) == "3"


@pytest.mark.parametrize("kind", ["parquet", "geojson"])
def test_list_cells_of_typed_formats_read_like_the_csv(tmp_path: Path, kind: str) -> None:
    from geo_discovery.ingest.values import cell_text

    if kind == "parquet":
        column = pd.read_parquet(_parquet(tmp_path))["fsq_category_labels"]
    else:
        column = gpd.read_file(_geojson(tmp_path), engine="pyogrio")["fsq_category_labels"]
    cells = column.map(cell_text).tolist()
    assert cells == [CSV_CELL, ""]
    assert [fsq_category(c) for c in cells] == ["retail/fireworks_store", "unknown"]


def _merchants(path: Path) -> pd.DataFrame:
    result = read_sources([path])
    assert result.rows_rejected == 0, result.rejects
    return result.merchants.set_index("merchant_id")[["category", "phone"]]


@pytest.mark.parametrize("kind", ["parquet", "geojson"])
def test_a_list_file_loads_like_its_csv(tmp_path: Path, kind: str) -> None:
    typed = _parquet(tmp_path) if kind == "parquet" else _geojson(tmp_path)
    expected = _merchants(_csv(tmp_path))
    assert expected.loc["fsq:a1", "category"] == "retail/fireworks_store"
    pd.testing.assert_frame_equal(_merchants(typed), expected)


def test_a_generic_category_list_reads_its_first_item_with_a_note(tmp_path: Path) -> None:
    path = tmp_path / "shops.csv"
    path.write_text(f'id,name,lat,lng,category\n1,Boom,40.7,-73.9,"{CSV_CELL}"\n'
                    "2,Deli,40.7,-73.9,[Food > Deli]\n", encoding="utf-8")
    result = read_sources([path])
    assert result.merchants["category"].tolist() == ["retail/fireworks_store", "food/deli"]
    assert any("category: 1 value(s) are lists such as" in n for n in result.sources[0].notes)


def test_fsq_labels_mapped_onto_shared_paths_stay_searchable(tmp_path: Path) -> None:
    """FSQ's Pizzerias are food/restaurant/pizza now (categories=food found none of them);
    the label's own word still finds them, as WOF's "Coffee & Tea" finds the cafés."""
    from geo_discovery.engine import DiscoveryEngine
    from geo_discovery.query import Filters
    from geo_discovery.schema import to_arrow
    from geo_discovery.settings import Settings

    path = tmp_path / "fsq.csv"
    path.write_text(
        "fsq_place_id,name,latitude,longitude,fsq_category_labels\n"
        'p1,Luigi,40.71,-73.90,"[Dining and Drinking > Restaurant > Pizzeria]"\n'
        'b1,Hof,40.71,-73.91,"[Dining and Drinking > Bar > Beer Garden]"\n'
        'l1,Corner,40.72,-73.90,"[Retail > Food and Beverage Retail > Liquor Store]"\n',
        encoding="utf-8")  # fmt: skip
    result = read_sources([path])
    assert result.merchants["category"].tolist() == [
        "food/restaurant/pizza", "nightlife/biergarten", "food/alcohol"]
    engine = DiscoveryEngine.from_table(to_arrow(result.merchants), settings=Settings())
    for word, name in (("pizzeria", "Luigi"), ("pizza", "Luigi"), ("beer garden", "Hof"),
                       ("liquor", "Corner")):  # fmt: skip
        found = engine.nearby(40.71, -73.9, 3, where=Filters(text=word))
        assert [h.name for h in found] == [name], word
    assert len(engine.nearby(40.71, -73.9, 3, where=Filters(categories=("food",)))) == 2


def test_fsq_cuisines_are_osms_and_labels_keep_their_words() -> None:
    """FSQ's Japanese restaurants were food/restaurant/asian/japanese, where OSM's are
    food/restaurant/japanese (a filter by one missed the other); "Hotel Bar" was
    nightlife/bar/hotel, labelled "Hotel" beside the hotels; OSM's coffee_shop was
    labelled "Coffee_shop"."""
    from geo_discovery.ingest.taxonomy import category_label, osm_category

    japanese = "[Dining and Drinking > Restaurant > Asian Restaurant > Japanese Restaurant]"
    assert fsq_category(japanese) == osm_category("amenity", "restaurant", "japanese")
    assert fsq_category("[Dining and Drinking > Restaurant]") == "food/restaurant"
    assert fsq_category("[Dining and Drinking > Restaurant > Asian Restaurant]") == (
        "food/restaurant/asian")
    # a cuisine's family stays under it (the leaf alone took sushi out of japanese: a
    # japanese filter found 30 of the sample's 72)
    sushi = "[Dining and Drinking > Restaurant > Asian Restaurant > Japanese Restaurant > " \
            "Sushi Restaurant]"
    assert fsq_category(sushi) == "food/restaurant/japanese/sushi"
    assert fsq_category("[Dining and Drinking > Restaurant > Mexican Restaurant > "
                        "Taco Restaurant]") == "food/restaurant/mexican/taco"
    bar = fsq_category("[Dining and Drinking > Bar > Hotel Bar]")
    assert bar == "nightlife/bar/hotel_bar" and category_label(bar) == "Hotel bar"
    assert category_label(bar, {"Hotel Bar": 3}) == "Hotel Bar"
    assert category_label("food/cafe/coffee_shop", {"coffee_shop": 18}) == "Coffee shop"
