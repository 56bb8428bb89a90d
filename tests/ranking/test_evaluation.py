"""The ranking evaluation: the protocol, every ranker, the CLI, and the profile in use.

A synthetic visit log (``benchmarks/visit_log.py``) whose people choose by appeal and
distance: the evaluation must rank by it (the calibrated profile beats distance), count its
choices as the protocol says, and the CLI must write a profile the engine then uses.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from benchmarks.visit_log import write_visit_log
from geo_discovery.cli.main import app
from geo_discovery.engine import DiscoveryEngine
from geo_discovery.errors import InvalidQueryError
from geo_discovery.evaluation import METRICS, Protocol, evaluate_ranking
from geo_discovery.ingest.checkins import read_visits
from geo_discovery.ranking.calibrate import choice_events
from geo_discovery.settings import Settings

RANKERS = {
    "distance",
    "popularity within radius",
    "gravity",
    "best_match (hand-set)",
    "best_match (calibrated)",
    "own past visits, then distance",
    "best_match (calibrated) + member",
}


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_visit_log(tmp_path_factory.mktemp("eval") / "log.csv", seed=5)


def test_every_ranker_is_scored_with_intervals(log: Path) -> None:
    report = evaluate_ranking(log, Protocol(bootstrap=200, user_split=True))
    assert set(report.table.index) == RANKERS
    for m in METRICS:
        assert ((report.table[m + "_lo"] <= report.table[m])
                & (report.table[m] <= report.table[m + "_hi"])).all()  # fmt: skip
        assert report.table[m].between(0, 1).all()
    visits = read_visits(log)
    until, _ = Protocol().split(visits)
    events = choice_events(visits, until, visits["time"].max() + pd.Timedelta(seconds=1))
    assert report.events == len(events) > 100
    t = report.table
    # people here choose by appeal and distance: learning beats distance alone
    assert t.loc["best_match (calibrated)", "mrr"] > t.loc["distance", "mrr"] * 1.3
    assert t.loc["gravity", "acc@10"] > t.loc["distance", "acc@10"]
    assert len(report.splits) == 2 and all(set(s.index) == RANKERS for s in report.splits)
    doc = report.to_dict()
    assert json.dumps(doc) and doc["events"] == report.events
    # the markdown holds the user splits too (it was the whole table only)
    md = report.to_markdown()
    assert md.count("| ranker |") == 3 and md.count("User split") == 2
    assert md.count("\n") == 3 * (len(RANKERS) + 2) + 2 * 3 - 1
    for i, split in enumerate(report.splits, 1):
        part = md.split(f"User split {i} ")[1]
        assert f"{split.loc['gravity', 'mrr']:.3f} [" in part.split("| gravity |")[1]


def test_no_bootstrap_means_no_intervals(log: Path) -> None:
    """--bootstrap 0 is allowed, and the quantiles of no draw were an IndexError."""
    report = evaluate_ranking(log, Protocol(bootstrap=0, max_events=150))
    t = report.table
    assert t["mrr"].between(0, 1).all() and t["mrr_lo"].isna().all() and t["mrr_hi"].isna().all()


def test_protocol_refuses_what_cannot_work(log: Path) -> None:
    with pytest.raises(InvalidQueryError, match="until='soon' is not a date"):
        Protocol(until="soon")
    with pytest.raises(InvalidQueryError, match="fit_days=0 is out of range"):
        Protocol(fit_days=0)
    for radius in (-1.0, 0.0, math.nan):  # the baseline silently became distance alone
        with pytest.raises(InvalidQueryError, match=f"radius_m={radius} is out of range"):
            Protocol(radius_m=radius)
    with pytest.raises(InvalidQueryError, match="no merchant visit before the fit window"):
        Protocol(until="2012-09-05", fit_days=30).split(read_visits(log))


def test_cli_calibrates_a_profile_the_engine_then_uses(log: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    data_dir = tmp_path / "data"
    args = ["--data-dir", str(data_dir)]
    res = runner.invoke(app, ["load", str(log), "--profile", "checkins", *args])
    assert res.exit_code == 0, res.output
    before = DiscoveryEngine.from_snapshot(data_dir, settings=Settings(data_dir=data_dir))
    assert before.ranking.profile is None
    res = runner.invoke(app, ["calibrate", str(log), *args])
    assert res.exit_code == 0, res.output
    assert "distance exponent" in res.output and (data_dir / "ranking_profile.json").is_file()
    assert "with a member: distance exponent" in res.output  # the joint model, shown too
    assert "member weight own_visits" in res.output
    engine = DiscoveryEngine.from_snapshot(data_dir, settings=Settings(data_dir=data_dir))
    assert engine.ranking.profile is not None
    assert engine.ranking.profile.personal is not None
    assert not engine.ranking.profile.member_weights
    assert engine.ranking.profile.for_member().member_weights
    hit = engine.nearby(48.8566, 2.3522, 1, sort="best_match", explain=True)[0]
    assert hit.explanation is not None and hit.explanation.model == "profile"
    query = ["query", "nearby", "--lat", "48.8566", "--lng", "2.3522", "--sort", "best_match"]
    res = runner.invoke(app, [*query, "--explain", "--member", "u1", *args])
    assert res.exit_code == 0, res.output
    assert "× member" in res.output and "(value" in res.output
    res = runner.invoke(app, [*query, "-k", "10", "--at", "2024-07-13T22:00", "--geojson", *args])
    assert res.exit_code == 0, res.output
    at = engine.nearby(48.8566, 2.3522, 10, sort="best_match", at="2024-07-13T22:00")
    got = [f["properties"]["merchant_id"] for f in json.loads(res.output)["features"]]
    assert got == at.merchant_ids
    res = runner.invoke(app, [*query, "--at", "tonight", *args])
    assert res.exit_code == 1 and "at='tonight' is not an ISO 8601 date-time" in res.output


def test_cli_evaluate_prints_json_and_markdown(log: Path, tmp_path: Path) -> None:
    md = tmp_path / "eval.md"
    quick = ["--max-events", "150", "--bootstrap", "50"]
    res = CliRunner().invoke(
        app, ["evaluate", "ranking", str(log), *quick, "--json", "--markdown", str(md)]
    )
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert set(doc["table"]) == RANKERS and doc["events"] == 150
    assert "| gravity |" in md.read_text()
    table = CliRunner(env={"COLUMNS": "300"}).invoke(
        app, ["evaluate", "ranking", str(log), *quick]
    )  # the bootstrap intervals as they are, [low, high]: they are not symmetric (it said ±)
    gravity = doc["table"]["gravity"]
    shown = f"{gravity['mrr']:.3f} [{gravity['mrr_lo']:.3f}, {gravity['mrr_hi']:.3f}]"
    assert shown in table.stdout and "±" not in table.stdout, table.stdout
    bad = CliRunner().invoke(app, ["evaluate", "ranking", str(log), "--until", "later"])
    assert bad.exit_code == 1 and "until='later' is not a date" in bad.output
