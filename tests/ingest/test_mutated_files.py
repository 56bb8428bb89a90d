"""Real files mutated at random (a fixed seed): no input may crash the load.

Each mutation (flipped, inserted or deleted bytes, cut files, duplicated lines, other
delimiters, stray quotes and NUL bytes, huge fields, CR-only line ends, shuffled headers,
decimal commas…) goes through ``geo-discovery validate``: the exit code is a documented one
(0, 1, 3, 4, never 70), there is no traceback, and a file that was read adds up. Found by
this: CR-only files, undecodable bytes in a header, a fraction in a misaligned row, cut
GeoJSON named .csv (each now also a case of the malformed-file corpus).
"""

from __future__ import annotations

import gzip
import random
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from geo_discovery.cli.main import app

EQUATION = re.compile(r"rows read (\d+) = loaded (\d+) \+ rejected (\d+)")
SOURCES = {
    "food": "nyc/nyc_retail_food_stores.csv",
    "osm": "fixtures/helsinki_center_osm_pois.csv",
    "ams": "cities/airbnb_amsterdam_2023-12_listings_ratings.csv.gz",
    "dohmh": "nyc/nyc_restaurants_dohmh_mongodb_primer_subset.csv",
    "fsq": "fixtures/fsq_os_places_global_sample.csv.gz",
    "geo": "nyc/landmarks_nyc_fdny_firehouses.geojson",
}
OPS = ("flip", "cut", "insert", "dupline", "delete", "delimiter", "quote", "nul", "bigfield",
       "cr", "header", "bom", "numbers")


def mutate(data: bytes, rng: random.Random) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        if not b:
            break
        op, i = rng.choice(OPS), rng.randrange(len(b))
        if op == "flip":
            b[i] = rng.randrange(256)
        elif op == "cut":
            b = b[:i]
        elif op == "insert":
            b[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 20)))
        elif op == "dupline":
            lines = bytes(b).split(b"\n")
            j = rng.randrange(len(lines))
            lines.insert(j, lines[j])
            b = bytearray(b"\n".join(lines))
        elif op == "delete":
            del b[i]
        elif op == "delimiter":
            b = bytearray(bytes(b).replace(b",", rng.choice([b";", b"\t", b"|", b",,", b""]),
                                           rng.randint(1, 50)))
        elif op == "quote":
            b[i:i] = b'"'
        elif op == "nul":
            b[i:i] = b"\x00"
        elif op == "bigfield":
            b[i:i] = b"x" * rng.choice([1000, 100_000])
        elif op == "cr":
            b = bytearray(bytes(b).replace(b"\n", b"\r"))
        elif op == "header":
            head, _, rest = bytes(b).partition(b"\n")
            cols = head.split(b",")
            rng.shuffle(cols)
            b = bytearray(b",".join(cols) + b"\n" + rest)
        elif op == "bom":
            b[0:0] = b"\xef\xbb\xbf"
        elif op == "numbers":
            b = bytearray(bytes(b).replace(b".", b",", rng.randint(1, 100)))
    return bytes(b)


def _head(path: Path, size: int) -> bytes:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        return fh.read(size)


@pytest.mark.parametrize("seed", range(60))
def test_a_mutated_real_file_never_crashes_the_load(seed: int, real_data: Path,
                                                    tmp_path: Path) -> None:
    rng = random.Random(seed)
    name = rng.choice(sorted(SOURCES))
    data = mutate(_head(real_data / SOURCES[name], 40_000), rng)
    suffix = rng.choice([".csv", ".txt", ".json", ".geojson" if name == "geo" else ".csv"])
    if rng.random() < 0.2:
        data, suffix = gzip.compress(data), ".csv.gz"
    path = tmp_path / f"mutated{suffix}"
    path.write_bytes(data)
    extra = rng.choice([[], [], ["--strict"], ["--decimal", ","], ["--date-format", "day-first"],
                        ["--rating-scale", "10"]])
    result = CliRunner().invoke(app, ["validate", str(path), "--data-dir",
                                      str(tmp_path / "store"), *extra])
    out = result.stdout + result.stderr
    assert result.exit_code in (0, 1, 3), out
    assert "Traceback" not in out and "internal error" not in out, out
    if result.exit_code == 1:
        assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, out
    else:
        read, loaded, rejected = (int(g) for g in EQUATION.search(result.stdout).groups())  # type: ignore[union-attr]
        assert read == loaded + rejected
