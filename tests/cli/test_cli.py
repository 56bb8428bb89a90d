"""End-to-end tests of the ``geo-discovery`` CLI (typer's CliRunner on temporary data dirs)."""

from __future__ import annotations

import csv
import json
import math
import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
import typer
from typer.testing import CliRunner

from geo_discovery.cli.main import app
from geo_discovery.snapshot.store import SnapshotStore

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SAMPLE = PROJECT_ROOT / "data" / "sample" / "helsinki_osm_pois.csv"
SAMPLE_ROWS = 1178
HELSINKI = ("--lat", "60.1699", "--lng", "24.9384")
EQUATION = re.compile(r"rows read (\d+) = loaded (\d+) \+ rejected (\d+)")

# id,name,lat,lng,category: 4 good rows, 4 bad ones (each with one clear problem).
SYNTHETIC = """id,name,lat,lng,category
a1,Corner Deli,40.7580,-73.9855,food/grocery
a2,Bagel Bar,40.7590,-73.9845,food/bakery
a3,Book Nook,40.7570,-73.9865,shop/books
a4,Coffee Cart,40.7585,-73.9850,food/cafe
b1,Bad Latitude,91.5,-73.9855,food/grocery
b2,,40.7581,-73.9856,food/grocery
b3,Null Island,0,0,food/grocery
a1,Duplicate Deli,40.7580,-73.9855,food/grocery
"""
SYNTHETIC_GOOD, SYNTHETIC_BAD = 4, 4


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    # Nothing from the developer's environment leaks in; wide tables so names do not wrap.
    for var in ("GEO_DISCOVERY_DATA_DIR", "GEO_DISCOVERY_INDEX_RESOLUTION", "GEO_DISCOVERY_MAX_K"):
        monkeypatch.delenv(var, raising=False)
    return CliRunner(env={"COLUMNS": "240", "NO_COLOR": "1"})


@pytest.fixture
def synthetic(tmp_path: Path) -> Path:
    path = tmp_path / "synthetic.csv"
    path.write_text(SYNTHETIC)
    return path


@pytest.fixture(scope="module")
def sample_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir with the Helsinki sample loaded once (read-only for the query tests)."""
    data_dir = tmp_path_factory.mktemp("sample-store")
    result = CliRunner(env={"COLUMNS": "240"}).invoke(
        app, ["load", str(SAMPLE), "--profile", "osm_poi", "--data-dir", str(data_dir)]
    )
    assert result.exit_code == 0, result.output
    return data_dir


def equation(output: str) -> tuple[int, int, int]:
    match = EQUATION.search(output)
    assert match, f"no 'rows read N = loaded L + rejected R' line in:\n{output}"
    read, loaded, rejected = (int(g) for g in match.groups())
    assert read == loaded + rejected
    return read, loaded, rejected


def assert_one_line_error(result: click.testing.Result, *needles: str) -> None:
    err = result.stderr.strip()
    assert "Traceback" not in result.output
    assert err.startswith("error: ") and "\n" not in err, err
    for needle in needles:
        assert needle in err, err


def walk_commands(
    command: click.Command, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    yield path, command
    # typer vendors its own click: recognise groups by their `commands`, not by class
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from walk_commands(sub, (*path, name))


ALL_COMMANDS = list(walk_commands(typer.main.get_command(app)))


# ---------------------------------------------------------------------------- load
def test_load_sample(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["load", str(SAMPLE), "--profile", "osm_poi", "--data-dir", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    read, loaded, _rejected = equation(result.stdout)
    assert read == SAMPLE_ROWS
    assert loaded > 1000
    assert "helsinki_osm_pois.csv" in result.stdout
    assert "published snapshot 000001" in result.stdout
    assert re.search(r"text index: [\d,]+ terms, [\d.]+ MB \([\d.]+ bytes per merchant\)",
                     result.stdout)  # fmt: skip
    current = SnapshotStore(tmp_path).current()
    assert current is not None and current.manifest["rows"]["merchants"] == loaded


@pytest.mark.parametrize("command", ["load", "validate"])
def test_rejects_onto_an_input_file_is_refused_and_the_input_kept(
    runner: CliRunner, tmp_path: Path, synthetic: Path, command: str
) -> None:
    """``load x.csv --rejects x.csv`` replaced the 201-line input with its 10-line rejects
    table, exit 0. The same file under another spelling or through a link too."""
    source = tmp_path / "in" / "stores.csv"
    source.parent.mkdir()
    shutil.copy(synthetic, source)
    (tmp_path / "link.csv").symlink_to(source)
    before = source.read_bytes()
    for given in (source, tmp_path / "in" / ".." / "in" / "stores.csv", tmp_path / "link.csv"):
        result = runner.invoke(app, [command, str(source), "--rejects", str(given),
                                     "--data-dir", str(tmp_path / "store")])  # fmt: skip
        assert result.exit_code == 1, result.output
        assert_one_line_error(result, f"--rejects {given} is the input file {source}")
        assert source.read_bytes() == before and not (tmp_path / "store" / "CURRENT").exists()
    other = tmp_path / "in" / "rejects.csv"  # another file in the same folder: written
    ok = runner.invoke(app, [command, str(source), "--rejects", str(other),
                             "--data-dir", str(tmp_path / "store")])  # fmt: skip
    assert ok.exit_code == 0 and other.exists() and source.read_bytes() == before, ok.output


def test_load_bad_rows_reports_and_quarantines(
    runner: CliRunner, tmp_path: Path, synthetic: Path
) -> None:
    data_dir, rejects = tmp_path / "store", tmp_path / "out" / "rejects.csv"
    result = runner.invoke(
        app, ["load", str(synthetic), "--rejects", str(rejects), "--data-dir", str(data_dir)]
    )
    assert result.exit_code == 0, result.output  # rejects are reported, not fatal
    assert equation(result.stdout) == (8, SYNTHETIC_GOOD, SYNTHETIC_BAD)
    assert "Rejected rows by reason" in result.stdout
    assert f"rejects file: {rejects}" in result.stdout
    with open(rejects, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == SYNTHETIC_BAD
    assert {"source_file", "source_line", "reason"} <= set(rows[0])
    assert sorted(int(r["source_line"]) for r in rows) == [6, 7, 8, 9]
    reasons = " | ".join(r["reason"] for r in rows)
    for expected in ("91.5", "empty name", "null island", "duplicate"):
        assert expected in reasons
    assert SnapshotStore(data_dir).current().manifest["rows"] == {  # type: ignore[union-attr]
        "read": 8,
        "loaded": SYNTHETIC_GOOD,
        "rejected": SYNTHETIC_BAD,
        "merchants": SYNTHETIC_GOOD,
    }


def test_load_default_rejects_file_lives_in_data_dir(
    runner: CliRunner, tmp_path: Path, synthetic: Path
) -> None:
    result = runner.invoke(app, ["load", str(synthetic), "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    match = re.search(r"rejects file: (\S+)", result.stdout)
    assert match, result.stdout
    path = Path(match.group(1))
    assert path.is_file() and path.parent == tmp_path / "rejects"


def test_load_with_expected_bbox_rejects_outside(
    runner: CliRunner, tmp_path: Path, synthetic: Path
) -> None:
    # A box around Times Square that leaves out nothing good; the bad rows stay bad.
    result = runner.invoke(
        app,
        ["load", str(synthetic), "--bbox", "-74.0,40.75,-73.98,40.76", "--data-dir", str(tmp_path)],
    )
    assert result.exit_code == 0, result.output
    _, loaded, _ = equation(result.stdout)
    assert loaded == SYNTHETIC_GOOD
    tight = runner.invoke(
        app,
        [
            "load",
            str(synthetic),
            "--bbox",
            "-73.9856,40.7579,-73.9854,40.7581",
            "--allow-shrink",
            "--data-dir",
            str(tmp_path),
        ],
    )
    assert tight.exit_code == 0, tight.output
    assert equation(tight.stdout)[1] == 1  # only a1 lies in the tiny box


def test_load_bad_bbox_is_one_line_error(
    runner: CliRunner, tmp_path: Path, synthetic: Path
) -> None:
    result = runner.invoke(
        app, ["load", str(synthetic), "--bbox", "1,2,3", "--data-dir", str(tmp_path)]
    )
    assert result.exit_code == 1
    assert_one_line_error(result, "1,2,3")


def test_upsert_and_delete_modes(runner: CliRunner, tmp_path: Path, synthetic: Path) -> None:
    base = ["--data-dir", str(tmp_path)]
    assert runner.invoke(app, ["load", str(synthetic), *base]).exit_code == 0
    extra = tmp_path / "extra.csv"
    extra.write_text(
        "id,name,lat,lng,category\nc1,New Shop,40.7600,-73.9800,shop\n"
        "a2,Bagel Bar Renamed,40.7590,-73.9845,food/bakery\n"
    )
    result = runner.invoke(app, ["load", str(extra), "--mode", "upsert", *base])
    assert result.exit_code == 0, result.output
    assert equation(result.stdout) == (2, 2, 0)
    assert "5 merchants" in result.stdout
    ids = tmp_path / "gone.txt"
    ids.write_text("merchant_id\ngeneric:c1\ngeneric:nope\n")
    result = runner.invoke(app, ["load", str(ids), "--mode", "delete", *base])
    assert result.exit_code == 0, result.output
    assert equation(result.stdout) == (2, 1, 1)
    assert "4 merchants" in result.stdout


def test_load_with_mapping_file(runner: CliRunner, tmp_path: Path) -> None:
    mapping = tmp_path / "permits.toml"
    mapping.write_text(
        'source = "permits"\n[columns]\nmerchant_id = "permit_no"\nname = "business"\n'
        'lat = "y"\nlng = "x"\ncategory = "kind"\n'
    )
    data = tmp_path / "permits.csv"
    data.write_text("permit_no,business,y,x,kind\np1,Joe Pizza,40.73,-73.99,Food > Pizza\n")
    base = ["--data-dir", str(tmp_path / "store")]
    result = runner.invoke(app, ["load", str(data), "--mapping", str(mapping), *base])
    assert result.exit_code == 0, result.output
    assert equation(result.stdout) == (1, 1, 0)
    query = runner.invoke(
        app, ["query", "nearby", "--lat", "40.73", "--lng", "-73.99", "--geojson", *base]
    )
    (feature,) = json.loads(query.stdout)["features"]
    assert feature["id"] == "permits:p1"
    assert feature["properties"]["category"] == "food/pizza"


def test_missing_file_is_usage_error(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["load", str(tmp_path / "nope.csv"), "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_unknown_profile_is_one_line_error(
    runner: CliRunner, tmp_path: Path, synthetic: Path
) -> None:
    result = runner.invoke(
        app, ["load", str(synthetic), "--profile", "nope", "--data-dir", str(tmp_path)]
    )
    assert result.exit_code == 1
    assert_one_line_error(result, "nope")
    assert SnapshotStore(tmp_path).current() is None


# ------------------------------------------------------------------ validate/strict
def test_validate_publishes_nothing(runner: CliRunner, tmp_path: Path, synthetic: Path) -> None:
    data_dir, rejects = tmp_path / "store", tmp_path / "rejects.parquet"
    result = runner.invoke(
        app, ["validate", str(synthetic), "--rejects", str(rejects), "--data-dir", str(data_dir)]
    )
    assert result.exit_code == 0, result.output
    assert equation(result.stdout) == (8, SYNTHETIC_GOOD, SYNTHETIC_BAD)
    assert "nothing was published" in result.stdout
    assert not data_dir.exists()
    import pandas as pd

    assert len(pd.read_parquet(rejects)) == SYNTHETIC_BAD


def test_validate_strict_exits_3(runner: CliRunner, tmp_path: Path, synthetic: Path) -> None:
    result = runner.invoke(app, ["validate", str(synthetic), "--strict"])
    assert result.exit_code == 3
    assert_one_line_error(result, "4 of 8")


def test_strict_load_exits_3_and_publishes_nothing(
    runner: CliRunner, tmp_path: Path, synthetic: Path
) -> None:
    base = ["--data-dir", str(tmp_path)]
    first = runner.invoke(app, ["load", str(SAMPLE), "--profile", "osm_poi", *base])
    assert first.exit_code == 0, first.output
    result = runner.invoke(app, ["load", str(synthetic), "--strict", *base])
    assert result.exit_code == 3, result.output
    assert_one_line_error(result, "--strict", "4 of 8")
    store = SnapshotStore(tmp_path)
    assert [s.name for s in store.list()] == ["000001"]
    assert store.current_name() == "000001"


def test_strict_load_of_clean_file_succeeds(runner: CliRunner, tmp_path: Path) -> None:
    clean = tmp_path / "clean.csv"
    clean.write_text(SYNTHETIC.split("b1,")[0])
    result = runner.invoke(app, ["load", str(clean), "--strict", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert equation(result.stdout) == (4, 4, 0)
    assert "rejects file" not in result.stdout


# ------------------------------------------------------- snapshots/rollback/stats
def test_snapshots_rollback_stats(runner: CliRunner, tmp_path: Path, synthetic: Path) -> None:
    base = ["--data-dir", str(tmp_path)]
    empty = runner.invoke(app, ["snapshots", *base])
    assert empty.exit_code == 0 and "no snapshots" in empty.stdout
    assert runner.invoke(app, ["load", str(SAMPLE), "--profile", "osm_poi", *base]).exit_code == 0
    assert runner.invoke(app, ["load", str(synthetic), "--mode", "upsert", *base]).exit_code == 0

    listing = runner.invoke(app, ["snapshots", *base])
    assert listing.exit_code == 0, listing.output
    lines = listing.stdout.splitlines()
    first = next(line for line in lines if "000001" in line)
    second = next(line for line in lines if "000002" in line)
    assert "*" in second and "*" not in first
    assert "replace" in first and "upsert" in second
    assert "helsinki_osm_pois.csv" in first and "synthetic.csv" in second

    rolled = runner.invoke(app, ["rollback", *base])
    assert rolled.exit_code == 0, rolled.output
    assert "current snapshot: 000001 (was 000002)" in rolled.stdout
    stats = runner.invoke(app, ["stats", "--json", *base])
    assert stats.exit_code == 0, stats.output
    facts = json.loads(stats.stdout)
    assert facts["snapshot"].startswith("000001-")
    assert facts["sources"] == {"osm_poi": facts["merchants"]}

    again = runner.invoke(app, ["rollback", *base])
    assert again.exit_code == 1
    assert_one_line_error(again, "000001")
    forward = runner.invoke(app, ["rollback", "--to", "2", *base])
    assert forward.exit_code == 0 and "current snapshot: 000002" in forward.stdout
    same = runner.invoke(app, ["rollback", "--to", "2", *base])  # already current
    assert same.exit_code == 0 and "000002 is already current; nothing changed" in same.stdout
    missing = runner.invoke(app, ["rollback", "--to", "9", *base])
    assert missing.exit_code == 1
    assert_one_line_error(missing, "9")

    table = runner.invoke(app, ["stats", *base])
    assert table.exit_code == 0, table.output
    assert "Merchants by source" in table.stdout and "osm_poi" in table.stdout


@pytest.mark.parametrize(
    "damage", ["index gone", "rows cut short", "districts gone", "parquet cut", "parquet gone"]
)
def test_rollback_refuses_a_damaged_snapshot(
    runner: CliRunner, tmp_path: Path, synthetic: Path, damage: str
) -> None:
    """rollback made a snapshot whose index was deleted current without opening it: every
    query then failed, and a server restarted on the store served only 503s."""
    base = ["--data-dir", str(tmp_path)]
    for _ in range(2):
        loaded = runner.invoke(app, ["load", str(SAMPLE), "--profile", "osm_poi", *base])
        assert loaded.exit_code == 0, loaded.output
    old = tmp_path / "snapshots" / "000001"
    if damage == "index gone":
        shutil.rmtree(old / "index")
    elif damage == "rows cut short":
        rows = old / "merchants.arrow"
        rows.write_bytes(rows.read_bytes()[: rows.stat().st_size // 2])
    elif damage == "parquet cut":  # (an upsert after the rollback failed: exit 70)
        (old / "merchants.parquet").write_bytes((old / "merchants.parquet").read_bytes()[:1000])
    elif damage == "parquet gone":
        (old / "merchants.parquet").unlink()
    else:
        shutil.rmtree(old / "derived" / "districts")
    rolled = runner.invoke(app, ["rollback", *base])
    assert rolled.exit_code == 1
    assert_one_line_error(rolled, "000001")
    assert (tmp_path / "CURRENT").read_text().strip() == "000002"  # the current one stays
    assert runner.invoke(app, ["stats", *base]).exit_code == 0


def test_a_data_dir_that_is_a_file_is_refused_by_every_command(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """load said so; serve logged "no snapshot yet" and served 503s forever, snapshots said
    the file held none (exit 0)."""
    import geo_discovery_api.app

    def never(*args: object, **kw: object) -> None:
        raise AssertionError("serve started a server over a file")

    monkeypatch.setattr(geo_discovery_api.app, "serve", never)
    afile = tmp_path / "afile"
    afile.write_text("not a folder")
    for args in (["serve", "--port", "1"], ["snapshots"], ["stats"], ["rollback"],
                 ["query", "nearby", "--lat", "0", "--lng", "0"], ["load", str(SAMPLE)]):
        got = runner.invoke(app, [*args, "--data-dir", str(afile)])
        assert got.exit_code == 1, (args, got.output)
        assert_one_line_error(got, f"the data dir {afile} is a file", "allowed: a folder")


def test_profiles_lists_builtin_profiles(runner: CliRunner) -> None:
    from geo_discovery.ingest import list_profiles

    result = runner.invoke(app, ["profiles"])
    assert result.exit_code == 0, result.output
    for profile in list_profiles():
        assert profile.name in result.stdout
    assert "osm_poi" in result.stdout and "generic" in result.stdout
    assert "checkins" in result.stdout  # what load --profile also accepts: visit logs


def test_a_visit_log_validates_and_until_needs_it(runner: CliRunner, tmp_path: Path) -> None:
    """validate --profile checkins said "unknown profile"; load --until on a merchant file
    was ignored without a word."""
    log = tmp_path / "visits.csv"
    log.write_text("user,venue,lat,lng,category,time\n"
                   "u1,v1,60.17,24.94,Bar,2012-05-01T00:00:00Z\n"
                   "u2,v1,60.17,24.94,Bar,2013-05-02T00:00:00Z\n")
    data_dir = tmp_path / "store"
    result = runner.invoke(app, ["validate", str(log), "--profile", "checkins", "--until",
                                 "2013-01-01", "--data-dir", str(data_dir)])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert equation(result.stdout) == (2, 1, 1) and not data_dir.exists()
    for command in ("load", "validate"):
        result = runner.invoke(app, [command, str(log), "--until", "2013-01-01",
                                     "--data-dir", str(data_dir)])  # fmt: skip
        assert result.exit_code == 1, result.output
        assert_one_line_error(result, "--until 2013-01-01 applies to visit logs only")
        assert not data_dir.exists()


def test_data_dir_from_environment(runner: CliRunner, tmp_path: Path, synthetic: Path) -> None:
    env = {"GEO_DISCOVERY_DATA_DIR": str(tmp_path / "env-store")}
    assert runner.invoke(app, ["load", str(synthetic)], env=env).exit_code == 0
    assert SnapshotStore(tmp_path / "env-store").current_name() == "000001"
    result = runner.invoke(
        app, ["query", "nearby", "--lat", "40.758", "--lng", "-73.9855", "-k", "1"], env=env
    )
    assert result.exit_code == 0, result.output
    assert "Corner Deli" in result.stdout
    # --data-dir wins over the environment
    other = runner.invoke(app, ["snapshots", "--data-dir", str(tmp_path / "other")], env=env)
    assert "no snapshots" in other.stdout


def test_invalid_setting_is_one_line_error(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["snapshots", "--data-dir", str(tmp_path)], env={"GEO_DISCOVERY_MAX_K": "lots"}
    )
    assert result.exit_code == 1
    assert_one_line_error(result, "GEO_DISCOVERY_MAX_K")


@pytest.mark.parametrize(
    ("name", "kind"),
    [("GEO_DISCOVERY_RANKING_CONSUMPTION_RADII", "a JSON object"),
     ("GEO_DISCOVERY_API_CORS_ORIGINS", "a JSON list")],
)
def test_a_json_setting_that_is_not_json_is_one_line_error(
    runner: CliRunner, tmp_path: Path, name: str, kind: str
) -> None:
    """pydantic-settings' SettingsError was an internal error (exit 70) in every command."""
    result = runner.invoke(app, ["snapshots", "--data-dir", str(tmp_path)], env={name: "notjson"})
    assert result.exit_code == 1, result.output
    assert_one_line_error(result, f"{name}: not valid JSON (got 'notjson'); expected {kind}")


@pytest.mark.parametrize("name", ["GEO_DISCOVERY_RANKING_CONSUMPTION_RADII",
                                  "GEO_DISCOVERY_RANKING_MEMBER_WEIGHTS",
                                  "GEO_DISCOVERY_API_CORS_ORIGINS"])
def test_a_json_settings_error_gives_examples_that_are_valid(
    runner: CliRunner, tmp_path: Path, name: str
) -> None:
    """The example in the message and its "for none" value are accepted values of that
    setting (member weights were shown the radii's {"food": 400, …}: unknown features)."""
    result = runner.invoke(app, ["snapshots", "--data-dir", str(tmp_path)], env={name: "none"})
    assert result.exit_code == 1, result.output
    found = re.search(r"e\.g\. (.+) \((.+) for none\)", result.output.replace("\n", " "))
    assert found is not None, result.output
    for value in found.groups():
        ok = runner.invoke(app, ["snapshots", "--data-dir", str(tmp_path)], env={name: value})
        assert ok.exit_code == 0, (value, ok.output)


# --------------------------------------------------------------------------- query
def test_query_nearby_table(runner: CliRunner, sample_store: Path) -> None:
    result = runner.invoke(
        app, ["query", "nearby", *HELSINKI, "-k", "5", "--data-dir", str(sample_store)]
    )
    assert result.exit_code == 0, result.output
    assert "5 results" in result.stdout
    distances = [
        float(m.replace(",", "")) for m in re.findall(r"│\s+\d+\s+│\s+([\d,.]+)\s+│", result.stdout)
    ]
    assert len(distances) == 5 and distances == sorted(distances)
    assert "osm:" in result.stdout


def test_query_nearby_geojson(runner: CliRunner, sample_store: Path) -> None:
    result = runner.invoke(
        app,
        [
            "query",
            "nearby",
            *HELSINKI,
            "-k",
            "7",
            "--radius-m",
            "2000",
            "--geojson",
            "--data-dir",
            str(sample_store),
        ],
    )
    assert result.exit_code == 0, result.output
    collection = json.loads(result.stdout)
    assert collection["type"] == "FeatureCollection"
    features = collection["features"]
    assert len(features) == 7
    distances = [f["properties"]["distance_m"] for f in features]
    assert distances == sorted(distances) and distances[-1] <= 2000
    lng, lat = features[0]["geometry"]["coordinates"]
    assert 24 < lng < 26 and 60 < lat < 61  # GeoJSON (lng, lat) order
    assert all(f["id"].startswith("osm:") for f in features)


def test_query_category_filter(runner: CliRunner, sample_store: Path) -> None:
    result = runner.invoke(
        app,
        [
            "query",
            "nearby",
            *HELSINKI,
            "-k",
            "5",
            "--category",
            "food",
            "--geojson",
            "--data-dir",
            str(sample_store),
        ],
    )
    assert result.exit_code == 0, result.output
    cats = [f["properties"]["category"] for f in json.loads(result.stdout)["features"]]
    assert cats and all(c == "food" or c.startswith("food/") for c in cats)


def test_query_nearby_sorts_and_filters(runner: CliRunner, sample_store: Path) -> None:
    base = ["--data-dir", str(sample_store)]
    best = runner.invoke(
        app, ["query", "nearby", *HELSINKI, "-k", "5", "--sort", "best_match", *base]
    )
    assert best.exit_code == 0, best.output
    assert "by best_match" in best.stdout and "score" in best.stdout
    as_json = runner.invoke(
        app,
        ["query", "nearby", *HELSINKI, "-k", "5", "--sort", "best_match", "--geojson", *base],
    )
    scores = [f["properties"]["score"] for f in json.loads(as_json.stdout)["features"]]
    assert len(scores) == 5 and scores == sorted(scores, reverse=True)
    open_now = runner.invoke(
        app, ["query", "nearby", *HELSINKI, "-k", "5", "--open-now", "--geojson", *base]
    )
    assert open_now.exit_code == 0, open_now.output
    for feature in json.loads(open_now.stdout)["features"]:
        assert feature["properties"]["opening_hours"]
    bad = runner.invoke(app, ["query", "nearby", *HELSINKI, "--min-rating", "7", *base])
    assert bad.exit_code == 1
    assert_one_line_error(bad, "min_rating")
    assert (
        runner.invoke(app, ["query", "nearby", *HELSINKI, "--sort", "fame", *base]).exit_code == 2
    )


def test_query_nearby_with_text(runner: CliRunner, sample_store: Path) -> None:
    base = ["--data-dir", str(sample_store)]
    result = runner.invoke(
        app,
        ["query", "nearby", *HELSINKI, "-k", "3", "--sort", "best_match", "--q", "kahvila",
         "--explain", *base],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "3 results" in result.stdout and "× relevance" in result.stdout
    assert "kahvila→kahvila" in result.stdout
    geo = runner.invoke(
        app, ["query", "nearby", *HELSINKI, "-k", "5", "--q", "pizza", "--geojson", *base]
    )
    features = json.loads(geo.stdout)["features"]
    assert len(features) == 5
    assert all("pizza" in (f["properties"]["name"] + f["properties"]["category"]).lower()
               for f in features)  # fmt: skip
    box = runner.invoke(
        app, ["query", "bbox", "--bbox", "24.93,60.165,24.95,60.175", "--q", "kahvila",
              "--geojson", *base],
    )  # fmt: skip
    assert box.exit_code == 0 and json.loads(box.stdout)["features"]
    empty = runner.invoke(app, ["query", "nearby", *HELSINKI, "--q", "!!", *base])
    assert empty.exit_code == 1
    assert_one_line_error(empty, "no letter or digit")


def test_query_autocomplete(runner: CliRunner, sample_store: Path) -> None:
    base = ["--data-dir", str(sample_store)]
    result = runner.invoke(app, ["query", "autocomplete", "kahv", *HELSINKI, "-n", "3", *base])
    assert result.exit_code == 0, result.output
    assert "[Kahvi]" in result.stdout or "[Kahvila]" in result.stdout
    as_json = runner.invoke(
        app, ["query", "autocomplete", "pizz", *HELSINKI, "--limit", "4", "--json", *base]
    )
    body = json.loads(as_json.stdout)
    assert body["query"] == "pizz" and len(body["merchants"]) == 4
    assert body["categories"][0]["path"] == "food/restaurant/pizza"


def test_query_radius_and_bbox(runner: CliRunner, sample_store: Path) -> None:
    base = ["--data-dir", str(sample_store), "--geojson"]
    radius = runner.invoke(
        app, ["query", "radius", *HELSINKI, "--radius-m", "300", "--limit", "1000", *base]
    )
    assert radius.exit_code == 0, radius.output
    features = json.loads(radius.stdout)["features"]
    assert features and all(f["properties"]["distance_m"] <= 300 for f in features)
    box = runner.invoke(
        app, ["query", "bbox", "--bbox", "24.93,60.165,24.95,60.175", "--limit", "1000", *base]
    )
    assert box.exit_code == 0, box.output
    for f in json.loads(box.stdout)["features"]:
        lng, lat = f["geometry"]["coordinates"]
        assert 24.93 <= lng <= 24.95 and 60.165 <= lat <= 60.175
    table = runner.invoke(
        app,
        ["query", "bbox", "--bbox", "24.93,60.165,24.95,60.175", "--data-dir", str(sample_store)],
    )
    assert table.exit_code == 0 and "50 results" in table.stdout
    whole = json.loads(box.stdout)
    assert (whole["total"], whole["truncated"]) == (len(whole["features"]), False)
    cut = runner.invoke(
        app, ["query", "bbox", "--bbox", "24.93,60.165,24.95,60.175", "--limit", "3", *base]
    )
    page = json.loads(cut.stdout)  # --geojson said nothing of the matches --limit left out
    assert len(page["features"]) == 3 and page["truncated"] and page["total"] == whole["total"]
    near = runner.invoke(app, ["query", "nearby", *HELSINKI, "-k", "3", *base])
    assert "total" not in json.loads(near.stdout)  # k nearest: no count of all (said 3)


def test_query_polygon(runner: CliRunner, sample_store: Path, tmp_path: Path) -> None:
    poly = tmp_path / "area.geojson"
    ring = [[24.93, 60.165], [24.95, 60.165], [24.95, 60.175], [24.93, 60.175], [24.93, 60.165]]
    poly.write_text(json.dumps({"type": "Polygon", "coordinates": [ring]}))
    result = runner.invoke(
        app,
        [
            "query",
            "polygon",
            str(poly),
            "--geojson",
            "--limit",
            "1000",
            "--data-dir",
            str(sample_store),
        ],
    )
    assert result.exit_code == 0, result.output
    box = runner.invoke(
        app,
        [
            "query",
            "bbox",
            "--bbox",
            "24.93,60.165,24.95,60.175",
            "--geojson",
            "--limit",
            "1000",
            "--data-dir",
            str(sample_store),
        ],
    )
    ids = {f["id"] for f in json.loads(result.stdout)["features"]}
    assert ids == {f["id"] for f in json.loads(box.stdout)["features"]}


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--lat", "91", "--lng", "24.9"], "91"),
        (["--lat", "60.1", "--lng", "-181"], "-181"),
        (["--lat", "nan", "--lng", "24.9"], "nan"),
        ([*HELSINKI, "-k", "0"], "k=0"),
        ([*HELSINKI, "-k", "100000"], "100000"),
        ([*HELSINKI, "--radius-m", "-5"], "-5"),
        ([*HELSINKI, "--category", "Food & Drink"], "Food & Drink"),
    ],
)
def test_bad_query_is_one_line_error(
    runner: CliRunner, sample_store: Path, args: list[str], needle: str
) -> None:
    result = runner.invoke(app, ["query", "nearby", *args, "--data-dir", str(sample_store)])
    assert result.exit_code == 1, result.output
    assert_one_line_error(result, needle)
    assert result.stdout == ""


def test_query_without_snapshot_is_one_line_error(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["query", "nearby", *HELSINKI, "--data-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert_one_line_error(result, "geo-discovery load")


def test_usage_errors_exit_2(runner: CliRunner, tmp_path: Path) -> None:
    assert runner.invoke(app, ["query", "nearby", "--lat", "1"]).exit_code == 2  # no --lng
    assert runner.invoke(app, ["stats", "--bogus"]).exit_code == 2
    assert runner.invoke(app, ["load", str(SAMPLE), "--mode", "merge"]).exit_code == 2
    assert runner.invoke(app, ["query", "nearby", "--lat", "north", "--lng", "1"]).exit_code == 2


def test_serve_without_api_is_one_line_error(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # makes `import geo_discovery_api.app` fail
    monkeypatch.setitem(sys.modules, "geo_discovery_api.app", None)
    result = runner.invoke(app, ["serve", "--data-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert_one_line_error(result, "api")


def test_serve_calls_api_serve(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import types

    calls: list[tuple[object, ...]] = []
    fake = types.ModuleType("geo_discovery_api.app")
    fake.serve = lambda data_dir, host, port, workers, cors_origins: calls.append(  # type: ignore[attr-defined]
        (data_dir, host, port, workers, cors_origins)
    )
    monkeypatch.setitem(sys.modules, "geo_discovery_api.app", fake)
    monkeypatch.delenv("GEO_DISCOVERY_API_CORS_ORIGINS", raising=False)
    args = ["serve", "--port", "8123", "--workers", "2", "--data-dir", str(tmp_path)]
    result = runner.invoke(app, [*args, "--cors-origin", "https://a.example", "--cors-origin",
                                 "https://b.example"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert calls == [
        (tmp_path, "127.0.0.1", 8123, 2, ["https://a.example", "https://b.example"])
    ]


def test_serve_that_cannot_bind_exits_1_not_3(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """uvicorn exits 3 when it cannot start, the code documented for --strict loads."""
    import types

    def refuse(*args: object, **kwargs: object) -> None:
        raise SystemExit(3)

    fake = types.ModuleType("geo_discovery_api.app")
    fake.serve = refuse  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "geo_discovery_api.app", fake)
    result = runner.invoke(app, ["serve", "--host", "999.1.1.1", "--data-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert_one_line_error(result, "--host '999.1.1.1' is not an address to bind")
    result = runner.invoke(app, ["serve", "--port", "8124", "--data-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert_one_line_error(result, "the server did not start on 127.0.0.1:8124")


# ----------------------------------------------------------------------------- help
@pytest.mark.parametrize(
    ("path", "command"), ALL_COMMANDS, ids=[" ".join(p) or "(root)" for p, _ in ALL_COMMANDS]
)
def test_every_command_help_has_an_example(
    runner: CliRunner, path: tuple[str, ...], command: click.Command
) -> None:
    result = runner.invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "Example" in text
    assert f"geo-discovery {' '.join(path)}".strip() in " ".join(text.split())
    is_group = hasattr(command, "commands")
    # `districts evaluate` scores detection on raw files and `warm-up` loads a generated
    # city into a temporary folder: neither opens the store.
    if path and not is_group and path not in (("districts", "evaluate"), ("warm-up",)):
        assert "--data-dir" in text and "GEO_DISCOVERY_DATA_DIR" in text


def test_root_help_documents_exit_codes(runner: CliRunner) -> None:
    text = " ".join(runner.invoke(app, ["--help"]).stdout.split())
    for code in ("0 success", "1 error", "2 usage error", "3 --strict"):
        assert code in text


def test_version(runner: CliRunner) -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout.startswith("geo-discovery ")


# ------------------------------------------------------------------------ real data
NYC_FILES = {
    "nyc/nyc_retail_food_stores.csv": 13_719,
    "nyc/nyc_restaurants_dohmh_mongodb_primer_subset.csv": 5_169,
    "nyc/nyc_airbnb_listings_2019.csv.gz": 48_895,
}


@pytest.mark.real_data
@pytest.mark.parametrize("name", sorted(NYC_FILES))
def test_real_nyc_file_loads(runner: CliRunner, real_data: Path, tmp_path: Path, name: str) -> None:
    rejects = tmp_path / "rejects.csv"
    result = runner.invoke(
        app, ["load", str(real_data / name), "--rejects", str(rejects), "--data-dir", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    read, loaded, rejected = equation(result.stdout)
    assert read == NYC_FILES[name]
    assert loaded > 0.9 * read
    store = SnapshotStore(tmp_path).current()
    assert store is not None and store.manifest["rows"]["merchants"] == loaded
    if rejected:
        with open(rejects, newline="") as fh:
            assert sum(1 for _ in csv.DictReader(fh)) == rejected


@pytest.mark.real_data
def test_real_dohmh_junk_coordinates_all_reported(
    runner: CliRunner, real_data: Path, tmp_path: Path
) -> None:
    path = real_data / "nyc" / "nyc_restaurants_dohmh_mongodb_primer_subset.csv"
    with open(path, newline="") as fh:
        junk = {
            f"dohmh:{r['restaurant_id']}" for r in csv.DictReader(fh) if r["in_nyc_bbox"] == "False"
        }
    assert len(junk) == 66
    rejects = tmp_path / "rejects.csv"
    result = runner.invoke(app, ["validate", str(path), "--rejects", str(rejects)])
    assert result.exit_code == 0, result.output
    with open(rejects, newline="") as fh:
        rejected_ids = {r["merchant_id"] for r in csv.DictReader(fh)}
    assert junk <= rejected_ids


@pytest.mark.real_data
def test_real_nyc_combined_load_and_query(
    runner: CliRunner, real_data: Path, tmp_path: Path
) -> None:
    files = [str(real_data / name) for name in sorted(NYC_FILES)]
    result = runner.invoke(app, ["load", *files, "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    read, _, _ = equation(result.stdout)
    assert read == sum(NYC_FILES.values())
    for name in NYC_FILES:
        assert Path(name).name in result.stdout
    query = runner.invoke(
        app,
        [
            "query",
            "nearby",
            "--lat",
            "40.7580",
            "--lng",
            "-73.9855",
            "-k",
            "10",
            "--geojson",
            "--data-dir",
            str(tmp_path),
        ],
    )
    assert query.exit_code == 0, query.output
    features = json.loads(query.stdout)["features"]
    assert len(features) == 10
    assert {f["id"].split(":")[0] for f in features} <= {"nysfood", "dohmh", "airbnb"}
    assert all(math.isfinite(f["properties"]["distance_m"]) for f in features)
    assert features[0]["properties"]["distance_m"] < 200  # Times Square is dense


def test_names_that_look_like_markup_are_printed_as_written(
    runner: CliRunner, tmp_path: Path
) -> None:
    """rich read names, queries and file names as markup: ``Café [/] Odd`` crashed the
    table (exit 70, MarkupError) and ``Bar [red]Kämp[/red]`` lost its tag text."""
    names = ["Bar [red]Kämp[/red]", "Café [/] Odd", "Pub [bold]"]
    source = tmp_path / "shops [v2].csv"
    rows = ["id,name,lat,lng"] + [
        f'r{i},"{n}",60.17,{24.94 + i * 1e-4:.4f}' for i, n in enumerate(names)
    ]
    source.write_text("\n".join([*rows, "bad,x,95,24.94"]) + "\n", encoding="utf-8")
    base = ["--data-dir", str(tmp_path / "store")]
    rejects = tmp_path / "rejects [/] :coffee:.csv"  # every printed line, emoji codes too
    loaded = runner.invoke(app, ["load", str(source), "--rejects", str(rejects), *base])
    assert loaded.exit_code == 0, loaded.output
    assert "shops [v2].csv" in loaded.stdout  # the Sources and rejects tables
    assert f"rejects file: {rejects}" in " ".join(loaded.stdout.split()), loaded.stdout
    nearby = runner.invoke(app, ["query", "nearby", "--lat", "60.17", "--lng", "24.94", *base])
    assert nearby.exit_code == 0, nearby.output
    for name in names:
        assert name in nearby.stdout
    typed = runner.invoke(app, ["query", "autocomplete", "cafe [/]", "--lat", "60.17",
                                "--lng", "24.94", *base])  # fmt: skip
    assert typed.exit_code == 0, typed.output
    assert "'cafe [/]'" in typed.stdout and "[Café] [/] Odd" in typed.stdout
