"""``geo-discovery calibrate`` and ``evaluate ranking`` on logs too small or too odd to learn
from: they refuse with the reason, or warn about what the fit could not pin down.

A new user's 3-person log printed "10 choices among 64 candidates … written to …" with the
distance exponent at its upper bound (20) and no warning, and that profile became the
default ranking; a log of one visit per person and an ``--until`` past the data both said
"0 choices … needs visits to merchants seen before it", which was not the cause.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from benchmarks.visit_log import synthetic_visit_log
from geo_discovery.cli.main import app
from geo_discovery.ranking.calibrate import MIN_CHOICES


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.delenv("GEO_DISCOVERY_DATA_DIR", raising=False)
    monkeypatch.delenv("GEO_DISCOVERY_RANKING_PROFILE", raising=False)
    return CliRunner(env={"COLUMNS": "240", "NO_COLOR": "1"})


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``tiny``: 3 people, a few dozen choices; ``single``: every row another person;
    ``nearest``: people who always walk to the nearest café (the distance exponent has
    no finite best value: it runs to its bound)."""
    folder = tmp_path_factory.mktemp("logs")
    tiny = synthetic_visit_log(users=3, visits_per_user=60, seed=1)
    single = synthetic_visit_log(users=20, visits_per_user=40, seed=2)
    single["user"] = [f"p{i}" for i in range(len(single))]
    for name, frame in (("tiny", tiny), ("single", single), ("nearest", _nearest())):
        frame.to_csv(folder / f"{name}.csv", index=False)
    return {name: folder / f"{name}.csv" for name in ("tiny", "single", "nearest")}


def _nearest(users: int = 12, hops: int = 40) -> pd.DataFrame:
    """Each person goes back and forth between a café and the one nearest to it."""
    rng = np.random.default_rng(7)
    n = 40
    lat = 60.17 + rng.normal(0, 0.004, n)
    lng = 24.94 + rng.normal(0, 0.008, n)
    d = np.hypot(lat[:, None] - lat[None, :], (lng[:, None] - lng[None, :]) * 0.5)
    rows = []
    for u in range(users):
        at = int(rng.integers(n))
        for h in range(hops):
            t = pd.Timestamp("2024-03-01", tz="UTC") + pd.Timedelta(hours=3 * h + u)
            rows.append((f"u{u}", f"v{at}", lat[at], lng[at], "Coffee Shop", t.isoformat(),
                         "true", f"Cafe {at}"))  # fmt: skip
            at = int(next(j for j in np.argsort(d[at]) if j != at))
    cols = ["user", "venue", "lat", "lng", "category", "time", "merchant", "name"]
    return pd.DataFrame(rows, columns=cols)


def test_calibrate_refuses_too_few_choices_and_writes_nothing(
    runner: CliRunner, logs: dict[str, Path], tmp_path: Path
) -> None:
    res = runner.invoke(app, ["calibrate", str(logs["tiny"]), "--data-dir", str(tmp_path)])
    assert res.exit_code == 1, res.output
    text = " ".join(res.output.split())
    assert re.search(r"error: only \d+ choices to calibrate on in the fit window 2012-09-11 ", text)
    assert f"fewer than the minimum {MIN_CHOICES} (--min-choices)" in text
    assert "the log's visits span 2012-09-02 04:47 UTC … 2012-09-20 10:59 UTC" in text
    assert "→ " in text and "--fit-days" in text and "--max-gap-h" in text
    assert not (tmp_path / "ranking_profile.json").exists()
    # lowered deliberately, the profile is written
    res = runner.invoke(
        app, ["calibrate", str(logs["tiny"]), "--min-choices", "5", "--data-dir", str(tmp_path)]
    )
    assert res.exit_code == 0, res.output
    meta = dict(json.loads((tmp_path / "ranking_profile.json").read_text())["meta"])
    assert 5 <= int(meta["choices"]) < MIN_CHOICES
    res = runner.invoke(app, ["calibrate", str(logs["tiny"]), "--min-choices", "0"])
    assert res.exit_code == 2 and "--min-choices" in res.output


def test_calibrate_warns_of_a_parameter_at_an_edge_of_its_range(
    runner: CliRunner, logs: dict[str, Path], tmp_path: Path
) -> None:
    """Always the nearest café: γ runs to 20 and the radius to 20 m, which printed as
    learned values. Warned on stderr (naming value and bound) and marked in the table;
    the profile is written (more choices than the minimum)."""
    args = ["calibrate", str(logs["nearest"]), "--data-dir", str(tmp_path)]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    err = " ".join(res.stderr.split())
    assert "warning: distance exponent γ = 20 at its upper bound 20: it ended at an edge" in err
    assert "warning: consumption radius food = 20 m at its lower bound 20 m" in err
    assert "warning: with a member: distance exponent γ = 20 at its upper bound 20" in err
    assert re.search(r"│ distance exponent γ +│ +20\.000 \(at bound\) │", res.stdout)
    # what the fit left out was only in the profile's meta: the table says it too
    meta = dict(json.loads((tmp_path / "ranking_profile.json").read_text())["meta"])
    assert "category (constant)" in meta["dropped_features"]  # every venue is a café
    for dropped in meta["dropped_features"].split("; "):
        name, _, why = dropped.partition(" (")
        assert re.search(rf"│ weight {name} +│ +dropped \({re.escape(why)} │", res.stdout)
        assert re.search(rf"│ with a member: weight {name} +│ +dropped", res.stdout)
    res = runner.invoke(app, [*args, "--json"])  # stdout stays JSON, the warning on stderr
    assert res.exit_code == 0 and "upper bound 20" in res.stderr
    assert json.loads(res.stdout)["gamma"] == pytest.approx(20.0)


def test_calibrate_names_the_step_and_the_window(
    runner: CliRunner, logs: dict[str, Path], tmp_path: Path
) -> None:
    res = runner.invoke(app, ["calibrate", str(logs["single"]), "--data-dir", str(tmp_path)])
    assert res.exit_code == 1
    text = " ".join(res.output.split())
    assert re.search(r"error: no choice to calibrate on in the fit window \S+ \S+ UTC … ", text)
    assert "→ 0 after an earlier visit by the same person; that step dropped them all" in text
    res = runner.invoke(app, ["calibrate", str(logs["tiny"]), "--until", "2099-01-01",
                              "--data-dir", str(tmp_path)])  # fmt: skip
    assert res.exit_code == 1
    text = " ".join(res.output.split())
    assert "… 2099-01-01 lies entirely after the log's last merchant visit (2012-09-20" in text
    assert "--until 2099-01-01 is past the data" in text


def test_evaluate_ranking_refuses_a_split_without_test_or_fit_choices(
    runner: CliRunner, logs: dict[str, Path], tmp_path: Path
) -> None:
    """It printed a table from 24 fitted choices, or of NaN when nothing was left to test."""
    base = ["evaluate", "ranking", "--bootstrap", "0", "--data-dir", str(tmp_path)]
    res = runner.invoke(app, [*base, str(logs["tiny"])])
    assert res.exit_code == 1
    assert "fewer than the minimum" in res.output and "(--min-choices)" in res.output
    res = runner.invoke(app, [*base, str(logs["tiny"]), "--until", "2012-09-25",
                              "--min-choices", "5"])  # fmt: skip
    assert res.exit_code == 1
    assert "nothing to test on: the split --until 2012-09-25 is after" in res.output
    res = runner.invoke(app, [*base, str(logs["single"])])
    assert res.exit_code == 1
    assert "no choice to test on after the split" in " ".join(res.output.split())
