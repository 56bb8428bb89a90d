"""CLI fixes: files the commands read and write, named as given and checked before the work.

* a polygon file that is not UTF-8 is one line (exit 1), not an internal error (exit 70);
* error messages name a path as the user gave it (not its last part);
* every command writing a file (districts export --output, catchment --export, calibrate
  --out, evaluate ranking --markdown, load/validate --rejects) refuses a folder and a name
  whose extension names no format *before* the work, and makes a missing parent folder;
* rollback without a data dir creates nothing (no folder, no ``.lock``);
* flags show no ``<bool>`` value placeholder in --help, and --radius-m its range;
* an empty answer to a --category no merchant has says so on stderr (exit 0).
"""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from typer.testing import CliRunner

from benchmarks.visit_log import synthetic_visit_log
from geo_discovery.cli.main import app

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample" / "helsinki_osm_pois.csv"

HELSINKI = ("--lat", "60.1699", "--lng", "24.9384")
SQUARE = {
    "type": "Polygon",
    "coordinates": [[[24.93, 60.16], [24.95, 60.16], [24.95, 60.18], [24.93, 60.18],
                     [24.93, 60.16]]],
}  # fmt: skip


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    for var in ("GEO_DISCOVERY_DATA_DIR", "GEO_DISCOVERY_RANKING_PROFILE",
                "GEO_DISCOVERY_CATCHMENT_DEMAND_PATH"):  # fmt: skip
        monkeypatch.delenv(var, raising=False)
    return CliRunner(env={"COLUMNS": "240", "NO_COLOR": "1"})


@pytest.fixture(scope="module")
def district(sample_data_dir: Path) -> str:
    result = CliRunner().invoke(
        app, ["districts", "list", "--json", "--data-dir", str(sample_data_dir)]
    )
    assert result.exit_code == 0, result.output
    return str(json.loads(result.stdout)[0]["district_id"])


@pytest.fixture(scope="module")
def visits(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("visits") / "visits.csv"
    synthetic_visit_log(users=3, visits_per_user=60, seed=1).to_csv(path, index=False)
    return path


def one_line_error(result: click.testing.Result, code: int = 1) -> str:
    err = result.stderr.strip()
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output and "internal error" not in err, err
    assert err.startswith("error: ") and "\n" not in err, err
    return " ".join(err.split())


# ------------------------------------------------------------------ polygon file
@pytest.mark.parametrize(
    "content",
    [json.dumps({"type": "Feature", "properties": {"name": "Café"}, "geometry": SQUARE},
                ensure_ascii=False).encode("latin-1"), b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01"],
    ids=["latin-1", "binary"],
)  # fmt: skip
def test_polygon_file_that_is_not_utf8_is_one_line(
    runner: CliRunner, sample_data_dir: Path, tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "area.geojson"
    path.write_bytes(content)
    result = runner.invoke(
        app, ["query", "polygon", str(path), "--data-dir", str(sample_data_dir)]
    )
    err = one_line_error(result)
    assert str(path) in err and "is not UTF-8 text" in err, err


def test_polygon_file_in_utf8_still_answers(
    runner: CliRunner, sample_data_dir: Path, tmp_path: Path
) -> None:
    path = tmp_path / "area.geojson"
    path.write_text(json.dumps({"type": "Feature", "properties": {"name": "Café"},
                                "geometry": SQUARE}), encoding="utf-8")  # fmt: skip
    result = runner.invoke(
        app, ["query", "polygon", str(path), "--data-dir", str(sample_data_dir), "--geojson"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["features"]


# ------------------------------------------------------------ paths named as given
def test_catchment_names_the_demand_file_as_given(
    runner: CliRunner, sample_data_dir: Path, district: str, tmp_path: Path
) -> None:
    missing = tmp_path / "nowhere" / "demand.csv"
    result = runner.invoke(
        app, ["catchment", district, "--demand", str(missing), "--data-dir",
              str(sample_data_dir)],
    )  # fmt: skip
    err = one_line_error(result)
    assert f"the demand file {missing} " in err, err


@pytest.mark.parametrize(
    ("command", "option", "name", "needle"),
    [
        (("districts", "export"), "--output", "d.txt", "the extension '.txt' names no format"),
        (("catchment", "{district}"), "--export", "c.shp", "the extension '.shp' names no format"),
    ],
)
def test_a_wrong_extension_is_named_with_the_whole_path(
    runner: CliRunner, sample_data_dir: Path, district: str, tmp_path: Path,
    command: tuple[str, ...], option: str, name: str, needle: str,
) -> None:  # fmt: skip
    path = tmp_path / "sub" / name
    args = [c.replace("{district}", district) for c in command]
    result = runner.invoke(app, [*args, option, str(path), "--data-dir", str(sample_data_dir)])
    err = one_line_error(result)
    assert f"{option} {path}: {needle}" in err, err
    assert not (tmp_path / "sub").exists()  # refused before anything was made


# ------------------------------------------------------------------- output paths
@pytest.mark.parametrize(
    "args",
    [
        ("districts", "export", "--output", "{dir}"),
        ("districts", "export", "--output", "{dir}", "--format", "geoparquet"),
        ("catchment", "{district}", "--export", "{dir}"),
        ("calibrate", "{visits}", "--out", "{dir}"),
        ("evaluate", "ranking", "{visits}", "--markdown", "{dir}"),
        ("validate", "{visits}", "--profile", "checkins", "--rejects", "{dir}"),
    ],
    ids=["export", "export-geoparquet", "catchment", "calibrate", "evaluate", "validate"],
)
def test_an_output_path_that_is_a_folder_is_refused_before_the_work(
    runner: CliRunner, sample_data_dir: Path, district: str, visits: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...],
) -> None:  # fmt: skip
    import geo_discovery.evaluation as evaluation

    def no_work(*_: object, **__: object) -> None:
        raise AssertionError("the work ran before the output path was checked")

    for name in ("calibrate", "evaluate_ranking"):
        monkeypatch.setattr(evaluation, name, no_work)
    folder = tmp_path / "out"
    folder.mkdir()
    given = [a.replace("{dir}", str(folder)).replace("{district}", district)
             .replace("{visits}", str(visits)) for a in args]  # fmt: skip
    result = runner.invoke(app, [*given, "--data-dir", str(sample_data_dir)])
    err = one_line_error(result)
    option = next(a for a in args if a.startswith("--") and "{dir}" in args[args.index(a) + 1])
    assert f"{option} {folder} is a folder; allowed: a file path, e.g. {folder}/" in err, err


@pytest.mark.parametrize(
    ("args", "name"),
    [
        (("districts", "export", "--output"), "x.geojson"),
        (("districts", "export", "--format", "geoparquet", "--output"), "x.parquet"),
        (("catchment", "{district}", "--export"), "c.geojson"),
    ],
)
def test_a_missing_parent_folder_is_made(
    runner: CliRunner, sample_data_dir: Path, district: str, tmp_path: Path,
    args: tuple[str, ...], name: str,
) -> None:  # fmt: skip
    path = tmp_path / "new" / "deeper" / name
    given = [a.replace("{district}", district) for a in args]
    result = runner.invoke(app, [*given, str(path), "--data-dir", str(sample_data_dir)])
    assert result.exit_code == 0, result.output
    assert path.is_file() and path.stat().st_size > 0


def test_validate_refuses_a_rejects_extension_before_reading(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import geo_discovery.ingest as ingest

    def no_work(*_: object, **__: object) -> None:
        raise AssertionError("the files were read before --rejects was checked")

    monkeypatch.setattr(ingest, "read_sources", no_work)
    data = tmp_path / "shops.csv"
    data.write_text("id,name,lat,lng\n1,a,60.17,24.94\n")
    rejects = tmp_path / "rejects.txt"
    result = runner.invoke(app, ["validate", str(data), "--rejects", str(rejects),
                                 "--data-dir", str(tmp_path / "d")])  # fmt: skip
    err = one_line_error(result)
    assert f"--rejects {rejects}: the extension '.txt' names no format" in err, err


# ----------------------------------------------------------------------- rollback
def test_rollback_without_a_data_dir_creates_nothing(runner: CliRunner, tmp_path: Path) -> None:
    missing = tmp_path / "no" / "store"
    result = runner.invoke(app, ["rollback", "--data-dir", str(missing)])
    err = one_line_error(result)
    assert "nothing to roll back" in err, err
    assert not (tmp_path / "no").exists()


# --------------------------------------------------------------------------- help
@pytest.mark.parametrize(
    "command",
    [("validate",), ("load",), ("stats",), ("query", "nearby"), ("catchment",),
     ("districts", "list")],
)  # fmt: skip
def test_flags_show_no_value_placeholder(runner: CliRunner, command: tuple[str, ...]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.output, result.output
    assert "<float>" in result.output or "<path>" in result.output  # values still shown


def test_catchment_radius_help_gives_its_range(runner: CliRunner) -> None:
    result = runner.invoke(app, ["catchment", "--help"])
    assert "Study area around the district, metres, 100 … 50000." in " ".join(
        result.output.replace("│", " ").split()
    ), result.output


# --------------------------------------------------------------- category notes
def test_an_unknown_category_is_noted_when_nothing_answers(
    runner: CliRunner, sample_data_dir: Path
) -> None:
    result = runner.invoke(app, ["query", "nearby", *HELSINKI, "--category", "nosuch",
                                 "--data-dir", str(sample_data_dir)])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "0 results" in result.stdout
    err = " ".join(result.stderr.split())
    assert err.startswith("note: ") and "'nosuch'" in err and "geo-discovery stats" in err, err


@pytest.mark.parametrize(
    "args",
    [("query", "nearby", *HELSINKI, "--category", "food"),  # answers
     ("query", "radius", "--lat", "0.5", "--lng", "0.5", "--radius-m", "10",
      "--category", "food")],  # known, but nothing there
)  # fmt: skip
def test_a_known_category_gets_no_note(
    runner: CliRunner, sample_data_dir: Path, args: tuple[str, ...]
) -> None:
    result = runner.invoke(app, [*args, "--data-dir", str(sample_data_dir)])
    assert result.exit_code == 0, result.output
    assert "note:" not in result.stderr, result.stderr


def test_load_refuses_a_rejects_folder_before_reading(runner: CliRunner, tmp_path: Path) -> None:
    data = tmp_path / "shops.csv"
    data.write_text("id,name,lat,lng\n1,a,60.17,24.94\n")
    folder = tmp_path / "out"
    folder.mkdir()
    store = tmp_path / "store"
    result = runner.invoke(app, ["load", str(data), "--rejects", str(folder),
                                 "--data-dir", str(store)])  # fmt: skip
    err = one_line_error(result)
    assert f"--rejects {folder} is a folder; allowed: a file path, e.g. {folder}/" in err, err
    assert not (store / "snapshots").exists()


def test_a_failed_command_leaves_no_folder_it_made(
    runner: CliRunner, sample_data_dir: Path, tmp_path: Path
) -> None:
    """The missing parent folder is made before the work; a command that then fails
    removed nothing (``catchment nosuch --export new/c.geojson`` left ``new/``)."""
    path = tmp_path / "new" / "deeper" / "c.geojson"
    result = runner.invoke(app, ["catchment", "nosuch", "--export", str(path),
                                 "--data-dir", str(sample_data_dir)])  # fmt: skip
    assert "nosuch" in one_line_error(result)
    assert not (tmp_path / "new").exists()


def test_an_output_under_a_file_names_the_file(
    runner: CliRunner, sample_data_dir: Path, tmp_path: Path
) -> None:
    (tmp_path / "afile").write_text("x")
    path = tmp_path / "afile" / "r.csv"
    result = runner.invoke(app, ["validate", str(SAMPLE), "--rejects", str(path),
                                 "--data-dir", str(sample_data_dir)])  # fmt: skip
    message = one_line_error(result)
    assert f"--rejects {path}: {tmp_path / 'afile'} is a file, not a folder" in message


def test_districts_list_titles_what_it_shows(runner: CliRunner, sample_data_dir: Path) -> None:
    """``--tier regional`` was titled with every district ("329 districts") above the 9
    it listed."""
    rows = json.loads(runner.invoke(
        app, ["districts", "list", "--json", "--limit", "1000", "--data-dir", str(sample_data_dir)]
    ).stdout)  # fmt: skip
    tier = rows[0]["tier"]
    same = sum(r["tier"] == tier for r in rows)
    shown = runner.invoke(app, ["districts", "list", "--tier", tier, "--limit", "1000",
                                "--data-dir", str(sample_data_dir)])  # fmt: skip
    assert f"{same} {tier} of {len(rows)} districts (" in shown.stdout, shown.stdout
    one = runner.invoke(app, ["districts", "list", "--limit", "1", "--data-dir",
                              str(sample_data_dir)])  # fmt: skip
    assert f"1 of {len(rows)} districts (--limit) (" in one.stdout, one.stdout


def test_no_district_says_why(runner: CliRunner, tmp_path: Path) -> None:
    """A snapshot of only Airbnb listings detected 0 districts, and nothing said that
    detection leaves lodging out."""
    src = tmp_path / "few.csv"
    src.write_text("id,name,lat,lng\n" + "".join(
        f"{i},Shop {i},{40.7 + i * 0.05},{-74 + i * 0.05}\n" for i in range(5)))  # fmt: skip
    store = str(tmp_path / "store")
    assert runner.invoke(app, ["load", str(src), "--data-dir", store]).exit_code == 0
    listed = runner.invoke(app, ["districts", "list", "--data-dir", store])
    assert listed.exit_code == 0, listed.output
    note = " ".join(listed.stderr.split())
    assert "note: detection found no district among 5 merchants; it leaves out lodging" in note
    assert "needs at least 10 merchants close together" in note


def test_the_crash_log_withholds_a_members_id_and_visits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An internal error's log recorded the whole command line, a member's raw id and
    visit history included, readable by everyone (0644)."""
    import stat
    import sys

    from geo_discovery.cli.common import write_crash_log

    argv = ["geo-discovery", "query", "nearby", "--lat", "40.75", "--member",
            "usr-0221-23d925d5", "--visit=checkins:slc857@2025-01-01", "--visit", "m-9"]
    monkeypatch.setattr(sys, "argv", argv)
    try:
        raise RuntimeError("a bug")
    except RuntimeError as exc:
        path = write_crash_log(exc, tmp_path)
    text = path.read_text()
    assert path.parent == tmp_path / "logs" and "RuntimeError: a bug" in text
    assert ("command: geo-discovery query nearby --lat 40.75 --member <withheld> "
            "--visit=<withheld> --visit <withheld>") in text
    for secret in ("usr-0221", "slc857", "m-9"):
        assert secret not in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_calibrate_out_must_be_json(tmp_path: Path) -> None:
    """``calibrate -o prof.txt`` wrote the JSON profile under a name that says text; an
    extension that names no format is refused, as for every other output."""
    log = tmp_path / "log.csv"
    log.write_text("user,venue,lat,lng,category,time\n")
    result = CliRunner().invoke(app, ["calibrate", str(log), "-o", str(tmp_path / "prof.txt"),
                                      "--data-dir", str(tmp_path / "d")])  # fmt: skip
    assert result.exit_code == 1, result.output
    assert "the extension '.txt' names no format; allowed: .json" in result.stderr
    assert not (tmp_path / "prof.txt").exists()
