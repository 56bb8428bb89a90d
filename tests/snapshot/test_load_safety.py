"""Never lose the data being served: refusal rules, retention, infinite coordinates, crashes.

Each case runs the real ``geo-discovery load`` command (typer's CliRunner) on files written
here, and checks the exit code, the one-line message, the rows equation and that the
previous snapshot is still current and unchanged.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from geo_discovery.cli.main import EXIT_INTERNAL, EXIT_OK, EXIT_REFUSED, EXIT_REJECTED, app
from geo_discovery.errors import LoadRefusedError
from geo_discovery.schema import CANONICAL_COLUMNS
from geo_discovery.settings import Settings
from geo_discovery.snapshot.pipeline import load
from geo_discovery.snapshot.store import SnapshotStore

EQUATION = re.compile(r"rows read (\d+) = loaded (\d+) \+ rejected (\d+)")


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    for var in ("GEO_DISCOVERY_DATA_DIR", "GEO_DISCOVERY_LOAD_MAX_SHRINK"):
        monkeypatch.delenv(var, raising=False)
    return CliRunner(env={"COLUMNS": "240", "NO_COLOR": "1"})


def write_csv(path: Path, n: int, *, start: int = 0) -> Path:
    rows = ["id,name,lat,lng,category"]
    rows += [
        f"m{i},Shop {i},{40.70 + i * 1e-4:.6f},{-73.99 + i * 1e-4:.6f},food/grocery"
        for i in range(start, start + n)
    ]
    path.write_text("\n".join(rows) + "\n")
    return path


def current(data_dir: Path) -> tuple[str | None, int]:
    info = SnapshotStore(data_dir).current()
    return (None, 0) if info is None else (info.name, int(info.manifest["rows"]["merchants"]))


def good_store(runner: CliRunner, tmp_path: Path, n: int = 10) -> Path:
    data_dir = tmp_path / "store"
    result = runner.invoke(app, ["load", str(write_csv(tmp_path / "good.csv", n)),
                                 "--data-dir", str(data_dir)])
    assert result.exit_code == EXIT_OK, result.output
    return data_dir


def assert_refused(result, *needles: str) -> None:  # type: ignore[no-untyped-def]
    assert result.exit_code == EXIT_REFUSED, result.output
    assert "Traceback" not in result.output
    err = result.stderr.strip()
    assert err.startswith("error: refused") and "\n" not in err, err
    for needle in needles:
        assert needle in err, err


# ------------------------------------------------------------------- zero merchants
def test_header_only_file_is_refused_and_the_old_snapshot_stays(
    runner: CliRunner, tmp_path: Path
) -> None:
    data_dir = good_store(runner, tmp_path)
    before = current(data_dir)
    empty = tmp_path / "empty.csv"
    empty.write_text("id,name,lat,lng,category\n")
    result = runner.invoke(app, ["load", str(empty), "--data-dir", str(data_dir)])
    assert_refused(result, "0 merchants", "no data row", f"snapshot {before[0]}", "--allow-empty")
    assert current(data_dir) == before
    assert len(SnapshotStore(data_dir).list()) == 1


def test_every_row_rejected_is_refused_with_the_rejects_file_named(
    runner: CliRunner, tmp_path: Path
) -> None:
    data_dir = good_store(runner, tmp_path)
    before = current(data_dir)
    bad = tmp_path / "bad.csv"
    bad.write_text("id,name,lat,lng\nx1,A,123,45\nx2,B,abc,1\nx3,,40.7,-73.9\n")
    result = runner.invoke(app, ["load", str(bad), "--data-dir", str(data_dir)])
    assert_refused(result, "0 merchants", "rejects", "--allow-empty")
    read, loaded, rejected = (int(g) for g in EQUATION.search(result.stdout).groups())
    assert (read, loaded, rejected) == (3, 0, 3)
    rejects = list((data_dir / "rejects").glob("*.csv"))
    assert len(rejects) == 1 and len(pd.read_csv(rejects[0])) == 3
    assert current(data_dir) == before


def test_bbox_in_the_wrong_order_is_refused(runner: CliRunner, tmp_path: Path) -> None:
    """lat,lng order instead of west,south,east,north: nothing falls inside."""
    data_dir = good_store(runner, tmp_path)
    before = current(data_dir)
    result = runner.invoke(
        app,
        ["load", str(write_csv(tmp_path / "new.csv", 10)), "--bbox", "40,-74,41,-73",
         "--data-dir", str(data_dir)],
    )
    assert_refused(result, "0 merchants")
    assert current(data_dir) == before


def test_projected_coordinates_without_crs_fail_the_file_naming_crs(
    runner: CliRunner, tmp_path: Path
) -> None:
    """Metres in the lat/lng columns are a whole-file cause (exit 1), not N bad rows."""
    data_dir = good_store(runner, tmp_path)
    before = current(data_dir)
    merc = tmp_path / "merc.csv"
    merc.write_text(
        "id,name,lat,lng\np1,A,4970241.3,-8238310.2\np2,B,4970301.7,-8238200.9\n"
    )
    result = runner.invoke(app, ["load", str(merc), "--data-dir", str(data_dir)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    err = result.stderr.strip()
    assert "\n" not in err and "merc.csv" in err
    assert "EPSG:3857" in err and "--crs" in err and "lat=40.71396" in err
    assert current(data_dir) == before
    result = runner.invoke(app, ["load", str(merc), "--crs", "EPSG:3857", "--mode", "upsert",
                                 "--data-dir", str(data_dir)])
    assert result.exit_code == EXIT_OK, result.output
    assert current(data_dir)[1] == before[1] + 2


def test_allow_empty_publishes_an_empty_snapshot(runner: CliRunner, tmp_path: Path) -> None:
    data_dir = good_store(runner, tmp_path)
    empty = tmp_path / "empty.csv"
    empty.write_text("id,name,lat,lng\n")
    result = runner.invoke(app, ["load", str(empty), "--allow-empty", "--data-dir", str(data_dir)])
    assert result.exit_code == EXIT_OK, result.output
    assert current(data_dir) == ("000002", 0)


def test_first_load_with_nothing_valid_publishes_nothing(runner: CliRunner, tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("id,name,lat,lng\n")
    result = runner.invoke(app, ["load", str(empty), "--data-dir", str(tmp_path / "s")])
    assert_refused(result, "nothing was published")
    assert current(tmp_path / "s") == (None, 0)


def test_delete_of_every_merchant_is_refused(runner: CliRunner, tmp_path: Path) -> None:
    data_dir = good_store(runner, tmp_path, n=3)
    before = current(data_dir)
    ids = tmp_path / "ids.txt"
    ids.write_text("merchant_id\n" + "\n".join(
        SnapshotStore(data_dir).current() and
        pq.read_table(SnapshotStore(data_dir).current().path / "merchants.parquet",
                      columns=["merchant_id"]).column(0).to_pylist()) + "\n")
    result = runner.invoke(app, ["load", str(ids), "--mode", "delete", "--data-dir",
                                 str(data_dir)])
    assert_refused(result, "0 merchants", "it deletes every merchant of the snapshot: 3 ids")
    assert "the files hold no data row" not in result.output  # they held 3
    assert current(data_dir) == before


def test_an_id_not_in_the_snapshot_is_rejected_with_its_file_and_line(
    runner: CliRunner, tmp_path: Path
) -> None:
    """The reject of an unknown id said "(delete list)", no line, kind "other"."""
    data_dir = good_store(runner, tmp_path, n=3)
    ids = tmp_path / "gone.txt"
    first = pq.read_table(SnapshotStore(data_dir).current().path / "merchants.parquet",
                          columns=["merchant_id"]).column(0)[0].as_py()  # fmt: skip
    ids.write_text(f"{first}\n\nnope:3\n")
    result = runner.invoke(app, ["load", str(ids), "--mode", "delete", "--data-dir",
                                 str(data_dir)])  # fmt: skip
    assert result.exit_code == 0, result.output
    rejects = pd.read_csv(next((data_dir / "rejects").glob("*-delete.csv")))
    got = rejects[["source_file", "source_line", "merchant_id", "kind"]].values.tolist()
    assert got == [["gone.txt", 3, "nope:3", "unknown id"]]


# ------------------------------------------------------------------------ shrinking
def test_replace_dropping_more_than_half_is_refused(runner: CliRunner, tmp_path: Path) -> None:
    data_dir = good_store(runner, tmp_path, n=10)
    before = current(data_dir)
    result = runner.invoke(
        app, ["load", str(write_csv(tmp_path / "few.csv", 4)), "--data-dir", str(data_dir)]
    )
    assert_refused(result, "10 merchants", "new one 4", "60%", "--allow-shrink")
    assert current(data_dir) == before


def test_replace_dropping_half_or_less_is_published(runner: CliRunner, tmp_path: Path) -> None:
    data_dir = good_store(runner, tmp_path, n=10)
    result = runner.invoke(
        app, ["load", str(write_csv(tmp_path / "half.csv", 5)), "--data-dir", str(data_dir)]
    )
    assert result.exit_code == EXIT_OK, result.output
    assert current(data_dir) == ("000002", 5)


def test_allow_shrink_publishes_the_smaller_snapshot(runner: CliRunner, tmp_path: Path) -> None:
    data_dir = good_store(runner, tmp_path, n=10)
    result = runner.invoke(
        app,
        ["load", str(write_csv(tmp_path / "few.csv", 2)), "--allow-shrink", "--data-dir",
         str(data_dir)],
    )
    assert result.exit_code == EXIT_OK, result.output
    assert current(data_dir) == ("000002", 2)


def test_max_shrink_is_a_setting(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = good_store(runner, tmp_path, n=10)
    result = runner.invoke(
        app, ["load", str(write_csv(tmp_path / "nine.csv", 9)), "--data-dir", str(data_dir)],
        env={"GEO_DISCOVERY_LOAD_MAX_SHRINK": "0.05"},
    )
    assert_refused(result, "load_max_shrink=0.05")
    with pytest.raises(LoadRefusedError, match="drop of 10%"):
        load([tmp_path / "nine.csv"], data_dir=data_dir,
             settings=Settings(data_dir=data_dir, load_max_shrink=0.05))
    report = load([tmp_path / "nine.csv"], data_dir=data_dir,
                  settings=Settings(data_dir=data_dir, load_max_shrink=0.05), allow_shrink=True)
    assert report.snapshot is not None and report.merchants_total == 9


def test_an_upsert_says_how_many_rows_replaced_merchants_and_how_many_were_added(
    runner: CliRunner, tmp_path: Path
) -> None:
    """An upsert whose ids were written another way ('1425973.0'), or a second generic
    file whose ids 1–3 were another town's, said only "(upsert, N merchants)": nothing
    told a copy added from a merchant replaced."""
    data_dir = good_store(runner, tmp_path, n=10)
    delta = write_csv(tmp_path / "delta.csv", 6, start=7)  # m7–m9 known, m10–m12 new
    result = runner.invoke(app, ["load", str(delta), "--mode", "upsert", "--data-dir",
                                 str(data_dir)])  # fmt: skip
    assert result.exit_code == EXIT_OK, result.output
    assert "(upsert, 13 merchants: 3 replaced, 3 added)" in result.stdout
    again = load([delta], data_dir=data_dir, mode="upsert")
    assert (again.replaced, again.rows_loaded, again.merchants_total) == (6, 6, 13)
    assert again.added == 0


def test_upsert_never_counts_as_shrinking(runner: CliRunner, tmp_path: Path) -> None:
    data_dir = good_store(runner, tmp_path, n=10)
    result = runner.invoke(
        app,
        ["load", str(write_csv(tmp_path / "one.csv", 1, start=100)), "--mode", "upsert",
         "--data-dir", str(data_dir)],
    )
    assert result.exit_code == EXIT_OK, result.output
    assert current(data_dir) == ("000002", 11)


def test_a_replace_leaving_a_source_out_is_refused_though_the_total_grows(
    runner: CliRunner, tmp_path: Path
) -> None:
    """Boston's listings (3,349) down to 300 beside more of another source, or left out
    of a load of the other files, were published without a word: only the total was
    guarded. A load of other sources only is another data set (the README's `make run`,
    then `make load-nyc`): the total decides."""
    cafes = tmp_path / "cafes.csv"  # another source (the osm_poi profile)

    def write_cafes(n: int) -> Path:
        cafes.write_text("osm_type,osm_id,key,value,name,lat,lon\n" + "".join(
            f"node,{i},amenity,cafe,Cafe {i},{60.17 + i * 1e-4:.6f},{24.94 + i * 1e-4:.6f}\n"
            for i in range(n)))  # fmt: skip
        return cafes

    data_dir = tmp_path / "store"
    shops = write_csv(tmp_path / "shops.csv", 10)  # source "generic"
    first = runner.invoke(app, ["load", str(shops), str(write_cafes(10)), "--data-dir",
                                str(data_dir)])  # fmt: skip
    assert first.exit_code == EXIT_OK, first.output
    before = current(data_dir)
    cases = {"left out": [str(write_cafes(30))],
             "mostly gone": [str(write_cafes(30)), str(write_csv(tmp_path / "few.csv", 4))]}
    for files in cases.values():
        result = runner.invoke(app, ["load", *files, "--data-dir", str(data_dir)])
        assert_refused(result, "its 10 merchants of source 'generic' would be",
                       "more than load_max_shrink=0.5", "--allow-shrink")  # fmt: skip
        assert current(data_dir) == before
    result = runner.invoke(app, ["load", *cases["mostly gone"], "--data-dir", str(data_dir),
                                 "--allow-shrink"])  # fmt: skip
    assert result.exit_code == EXIT_OK, result.output
    assert current(data_dir) == ("000002", 34)
    other = runner.invoke(app, ["load", str(write_csv(tmp_path / "town.csv", 40, start=500)),
                                "--data-dir", str(tmp_path / "solo")])  # fmt: skip
    assert other.exit_code == EXIT_OK
    switched = runner.invoke(app, ["load", str(write_cafes(45)), "--data-dir",
                                   str(tmp_path / "solo")])  # another data set: no source kept
    assert switched.exit_code == EXIT_OK, switched.output


def test_a_drop_just_past_the_limit_is_not_said_to_be_at_it(
    runner: CliRunner, tmp_path: Path
) -> None:
    """1,664 of 3,349 (a drop of 50.3 %) was refused as "a drop of 50%, more than
    load_max_shrink=0.5 allows"."""
    data_dir = good_store(runner, tmp_path, n=1000)
    result = runner.invoke(app, ["load", str(write_csv(tmp_path / "few.csv", 497)),
                                 "--data-dir", str(data_dir)])  # fmt: skip
    assert_refused(result, "a drop of 50.3%, more than load_max_shrink=0.5 allows")


def test_a_delete_of_most_merchants_is_refused(runner: CliRunner, tmp_path: Path) -> None:
    """Deleting 3,348 of 3,349 ids was published: the guard read replace loads only."""
    data_dir = good_store(runner, tmp_path, n=10)
    ids = tmp_path / "ids.txt"
    ids.write_text("merchant_id\n" + "".join(f"generic:m{i}\n" for i in range(6)))
    result = runner.invoke(app, ["load", str(ids), "--mode", "delete", "--data-dir",
                                 str(data_dir)])  # fmt: skip
    assert_refused(result, "refused to delete from snapshot 000001", "it has 10 merchants "
                   "and the new one 4, a drop of 60%", "--allow-shrink")  # fmt: skip
    assert current(data_dir) == ("000001", 10)
    ok = runner.invoke(app, ["load", str(ids), "--mode", "delete", "--allow-shrink",
                             "--data-dir", str(data_dir)])  # fmt: skip
    assert ok.exit_code == EXIT_OK, ok.output
    assert current(data_dir) == ("000002", 4)


@pytest.mark.parametrize("mode", ["upsert", "delete"])
def test_an_upsert_or_delete_that_accepts_no_row_publishes_nothing(
    runner: CliRunner, tmp_path: Path, mode: str
) -> None:
    """Every row rejected (or none at all) changed nothing, yet moved CURRENT to a copy (a
    rollback then undid nothing) and pushed older snapshots out of retention."""
    data_dir = good_store(runner, tmp_path, n=10)
    before = current(data_dir)
    bad = tmp_path / "bad.csv"
    bad.write_text("id,name,lat,lng\nx1,,40.7,-73.9\nx2,B,abc,1\n" if mode == "upsert"
                   else "merchant_id\nnot-here\n")  # fmt: skip
    header = tmp_path / "header.csv"
    header.write_text("id,name,lat,lng\n" if mode == "upsert" else "merchant_id\n")
    for path in (bad, header):
        result = runner.invoke(app, ["load", str(path), "--mode", mode, "--data-dir",
                                     str(data_dir)])  # fmt: skip
        assert result.exit_code == EXIT_REFUSED, result.output
        assert f"the {mode} load accepted no row" in result.output
        assert "stays current" in result.output
        assert current(data_dir) == before
        assert len(SnapshotStore(data_dir).list()) == 1


def test_a_data_dir_that_is_a_file_is_named(runner: CliRunner, tmp_path: Path) -> None:
    """It said "[Errno 17] File exists"."""
    not_a_folder = write_csv(tmp_path / "shops.csv", 3)
    result = runner.invoke(app, ["load", str(not_a_folder), "--data-dir", str(not_a_folder)])
    assert result.exit_code == 1, result.output
    assert f"the data dir {not_a_folder} is a file; allowed: a folder" in result.stderr
    assert not_a_folder.read_text().startswith("id,name,lat,lng")


def test_strict_prints_the_reasons_table(runner: CliRunner, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("id,name,lat,lng\nx1,A,40.7,-73.9\nx2,B,abc,1\n")
    result = runner.invoke(app, ["load", str(bad), "--strict", "--data-dir", str(tmp_path / "s")])
    assert result.exit_code == EXIT_REJECTED
    assert "Rejected rows by reason" in result.stdout
    assert EQUATION.search(result.stdout)


# ------------------------------------------------------------------------ retention
def test_retention_never_prunes_the_newest_non_empty_snapshot(tmp_path: Path) -> None:
    data_dir = tmp_path / "store"
    settings = Settings(data_dir=data_dir, keep_snapshots=2)
    good = write_csv(tmp_path / "good.csv", 10)
    load([good], data_dir=data_dir, settings=settings)
    empty = tmp_path / "empty.csv"
    empty.write_text("id,name,lat,lng\n")
    for _ in range(5):
        load([empty], data_dir=data_dir, settings=settings, allow_empty=True)
    store = SnapshotStore(data_dir)
    kept = {s.name: int(s.manifest["rows"]["merchants"]) for s in store.list()}
    assert kept["000001"] == 10, kept  # the last good one survives five empty loads
    assert list(kept)[-2:] == ["000005", "000006"]
    assert store.rollback(1).manifest["rows"]["merchants"] == 10


# ----------------------------------------------------------- infinite coordinates
@pytest.mark.parametrize("token", ["inf", "-inf", "Infinity", "-Infinity", "INF"])
def test_infinite_coordinates_in_csv_are_rejected_rows(
    runner: CliRunner, tmp_path: Path, token: str
) -> None:
    path = tmp_path / "inf.csv"
    path.write_text(
        f"id,name,lat,lng\na,A,40.7,-73.9\nb,B,{token},-73.9\nc,C,40.71,{token}\n"
    )
    data_dir = tmp_path / "s"
    result = runner.invoke(app, ["load", str(path), "--data-dir", str(data_dir)])
    assert result.exit_code == EXIT_OK, result.output
    assert "Traceback" not in result.output
    read, loaded, rejected = (int(g) for g in EQUATION.search(result.stdout).groups())
    assert (read, loaded, rejected) == (3, 1, 2)
    rejects = pd.read_csv(next((data_dir / "rejects").glob("*.csv")))
    assert sorted(rejects["reason"].str.extract(r"^(lat|lng) ")[0]) == ["lat", "lng"]
    assert rejects["reason"].str.contains("is not a finite number").all()


def test_infinite_coordinates_in_parquet_are_rejected_rows(
    runner: CliRunner, tmp_path: Path
) -> None:
    path = tmp_path / "inf.parquet"
    pq.write_table(
        pa.table({
            "id": ["a", "b", "c", "d"],
            "name": ["A", "B", "C", "D"],
            "lat": [40.7, np.inf, 40.71, -np.inf],
            "lng": [-73.9, -73.9, np.inf, -73.91],
        }),
        path,
    )
    data_dir = tmp_path / "s"
    result = runner.invoke(app, ["load", str(path), "--data-dir", str(data_dir)])
    assert result.exit_code == EXIT_OK, result.output
    read, loaded, rejected = (int(g) for g in EQUATION.search(result.stdout).groups())
    assert (read, loaded, rejected) == (4, 1, 3)
    rejects = pd.read_csv(next((data_dir / "rejects").glob("*.csv")))
    assert rejects["reason"].str.contains("is not a finite number").all()


# ------------------------------------------------------------------ internal errors
def test_an_internal_error_is_one_line_with_a_log_file(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = good_store(runner, tmp_path)
    before = current(data_dir)

    def broken(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError("simulated bug deep in the index build")

    monkeypatch.setattr("geo_discovery.snapshot.pipeline.build_cell_index", broken)
    result = runner.invoke(
        app, ["load", str(write_csv(tmp_path / "new.csv", 10)), "--data-dir", str(data_dir)]
    )
    assert result.exit_code == EXIT_INTERNAL, result.output
    err = result.stderr.strip()
    assert "Traceback" not in result.output and "\n" not in err, err
    assert err.startswith("error: internal error (ZeroDivisionError: simulated bug")
    log = Path(re.search(r"details in (\S+\.log)", err).group(1))
    assert log.parent == data_dir / "logs"
    text = log.read_text()
    assert "Traceback" in text and "simulated bug" in text
    assert current(data_dir) == before
    assert not [p for p in (data_dir / "snapshots").iterdir() if p.name.startswith(".tmp")]


def test_a_load_frees_its_pandas_rows_and_keeps_every_count(tmp_path: Path) -> None:
    """Once the rows are in Arrow the load drops its pandas copy (memory); the report's
    counts, sources and rejects are those of the rows read, and the snapshot holds them."""
    csv = tmp_path / "shops.csv"
    csv.write_text("id,name,lat,lng\n1,Deli,40.7,-73.9\n2,,40.7,-73.9\n3,Bakery,40.71,-73.91\n"
                   "1,Deli again,40.7,-73.9\n")
    report = load([csv], data_dir=tmp_path / "data", settings=Settings(data_dir=tmp_path))
    ingest = report.ingest
    assert ingest is not None and len(ingest.merchants) == 0 and ingest.released_rows == 2
    assert (report.rows_read, report.rows_loaded, report.rows_rejected) == (4, 2, 2)
    assert (ingest.rows_read, ingest.rows_loaded, ingest.rows_rejected) == (4, 2, 2)
    assert [s.rows_loaded for s in ingest.sources] == [2]
    assert tuple(ingest.merchants.columns) == CANONICAL_COLUMNS
    snap = SnapshotStore(tmp_path / "data").current()
    assert snap is not None
    ids = pq.read_table(snap.path / "merchants.parquet").column("merchant_id").to_pylist()
    assert sorted(ids) == ["generic:1", "generic:3"]


def test_make_run_puts_the_sample_in_a_demo_store_that_held_more(
    runner: CliRunner, tmp_path: Path
) -> None:
    """`make run` after `make load-nyc` (67,420 merchants, then the 1,178 of the sample)
    was refused with exit 4: the demo's own load now says the drop is intended. The
    recipe is read from the Makefile, as `make run` runs it."""
    root = Path(__file__).resolve().parents[2]
    makefile = (root / "Makefile").read_text(encoding="utf-8")
    recipe = re.search(r"^run:.*\n((?:\t.*\n)+)", makefile, re.M)
    assert recipe is not None
    line = next(x for x in recipe.group(1).splitlines() if x.strip().startswith("$(CLI) load"))
    sample = re.search(r"^SAMPLE\s*:=\s*(\S+)", makefile, re.M)
    assert sample is not None
    data_dir = tmp_path / "store"
    bigger = write_csv(tmp_path / "city.csv", 2_500)  # more than twice the sample's 1,178
    assert runner.invoke(app, ["load", str(bigger), "--data-dir", str(data_dir)]).exit_code == 0
    args = line.strip().split()[1:]
    args = [str(root / sample.group(1)) if a == "$(SAMPLE)" else a for a in args]
    args = [str(data_dir) if a == "$(DATA_DIR)" else a for a in args]
    result = runner.invoke(app, args)
    assert result.exit_code == EXIT_OK, result.output
    assert current(data_dir) == ("000002", 1_178)
