"""``geo-discovery query nearby`` with the other sorts, ``--explain``, ``--min-reviews``
and a member.

Testers found that ``--sort rating`` (``review_count``, ``price``) printed no column of
the value the list is sorted by; ``--explain --sort rating`` printed best_match's score
parts, out of order, as if they explained the list; the CLI had no ``--min-reviews``
(the library and HTTP do); and ``--member`` without ``--sort best_match`` was refused in
the HTTP's words (``sort='distance'``, ``sort=best_match``), not the CLI's.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from geo_discovery.cli.main import app

LAT, LNG = "60.17", "24.94"
RATINGS = [9.4, 7.0, None, 8.8, 5.5, 9.9, 6.1, None, 8.0, 7.7, 9.0, 4.0]  # on 0-10
REVIEWS = [120, 3, 45, None, 800, 9, 300, 70, None, 15, 51, 2]
PRICES = [2, 1, None, 4, 3, 1, 2, None, 4, 3, 1, 2]


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    for var in ("GEO_DISCOVERY_DATA_DIR", "GEO_DISCOVERY_MAX_K", "GEO_DISCOVERY_RANKING_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    return CliRunner(env={"COLUMNS": "240", "NO_COLOR": "1"})


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Twelve shops with ratings (0-10), review counts and price levels, some missing."""
    folder = tmp_path_factory.mktemp("sorts")
    path = folder / "shops.csv"
    with path.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["id", "name", "lat", "lng", "category", "rating", "rating_scale",
                      "review_count", "price_level"])  # fmt: skip
        for i, (rating, reviews, price) in enumerate(zip(RATINGS, REVIEWS, PRICES, strict=True)):
            lat, lng = 60.17 + 0.001 * (i % 4), 24.94 + 0.002 * (i // 4)
            cells = ["" if v is None else v for v in (rating, 10, reviews, price)]
            out.writerow([f"s{i}", f"Shop {i}", lat, lng, "food/cafe", *cells])
    data = folder / "data"
    result = CliRunner(env={"COLUMNS": "240"}).invoke(
        app, ["load", str(path), "--data-dir", str(data)]
    )
    assert result.exit_code == 0, result.output
    return data


def _nearby(runner: CliRunner, store: Path, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(
        app, ["query", "nearby", "--lat", LAT, "--lng", LNG, "-k", "12", *args,
              "--data-dir", str(store)],
    )  # fmt: skip
    return result.exit_code, result.stdout, result.stderr


def _column(stdout: str, header: str) -> list[str]:
    """The cells of the table's column ``header``, top to bottom (blank: '')."""
    lines = stdout.splitlines()
    head = next(line for line in lines if line.startswith("┃") and f" {header} " in line)
    names = [cell.strip() for cell in re.split(r"[┃]", head)[1:-1]]
    at = names.index(header)
    rows = [line for line in lines if line.startswith("│")]
    return [re.split(r"│", row)[1:-1][at].strip() for row in rows]


@pytest.mark.parametrize(
    ("sort", "header", "values"),
    [
        ("rating", "stars (0-5)", [r / 2 for r in RATINGS if r is not None]),
        ("review_count", "review_count", [r for r in REVIEWS if r is not None]),
        ("price", "price_level", [p for p in PRICES if p is not None]),
    ],
)
def test_a_sort_shows_the_column_it_orders_by(
    runner: CliRunner, store: Path, sort: str, header: str, values: list[float]
) -> None:
    code, out, err = _nearby(runner, store, "--sort", sort)
    assert code == 0, err
    cells = _column(out, header)
    assert len(cells) == 12
    shown = [float(c.replace(",", "")) for c in cells if c]
    want = sorted(values, reverse=sort != "price")  # price: cheap first
    assert shown == pytest.approx(want), cells
    assert cells[len(shown) :] == [""] * (12 - len(shown))  # missing values come last
    assert " score " not in out  # best_match's scores are not this order's


def test_rating_is_shown_in_stars_0_to_5(runner: CliRunner, store: Path) -> None:
    code, out, err = _nearby(runner, store, "--sort", "rating", "-k", "1")
    assert code == 0, err
    assert _column(out, "stars (0-5)") == ["4.95"]  # 9.9 on a 0-10 scale


def test_explain_under_another_sort_says_whose_parts_it_prints(
    runner: CliRunner, store: Path
) -> None:
    code, out, err = _nearby(runner, store, "--sort", "rating", "--explain")
    assert code == 0, err
    assert (
        "note: --explain shows each result's best_match score parts; this list is ordered "
        "by --sort rating, not by those scores"
    ) in err
    assert re.search(r"^1: score ", out, re.MULTILINE)  # the parts are still printed
    code, out, err = _nearby(runner, store, "--sort", "best_match", "--explain")
    assert code == 0 and "note:" not in err, err
    assert " score " in out


def test_min_reviews_keeps_merchants_with_that_many_reviews(runner: CliRunner, store: Path) -> None:
    code, out, err = _nearby(runner, store, "--sort", "review_count", "--min-reviews", "50")
    assert code == 0, err
    cells = _column(out, "review_count")
    assert cells == ["800", "300", "120", "70", "51"]
    code, _, err = _nearby(runner, store, "--min-reviews", "-1")
    assert code != 0 and "min_reviews=-1 is out of range; allowed: min_reviews >= 0" in err


@pytest.mark.parametrize(
    ("args", "option", "sort"),
    [
        (["--member", "m-42"], "--member", "distance"),
        (["--visit", "generic:s1"], "--visit", "distance"),
        (["--member", "m-42", "--sort", "rating"], "--member", "rating"),
        (["--at", "2024-07-13T22:00:00"], "--at", "distance"),
    ],
)
def test_a_member_without_best_match_is_refused_in_the_clis_words(
    runner: CliRunner, store: Path, args: list[str], option: str, sort: str
) -> None:
    code, _, err = _nearby(runner, store, *args)
    assert code != 0
    assert (
        f"{option} ranks best_match only; got --sort {sort} (allowed with {option}: "
        "--sort best_match)"
    ) in err, err
    assert "sort='" not in err and "sort=best_match" not in err, err
    code, _, err = _nearby(runner, store, *args, "--sort", "best_match")
    assert code == 0 or "ranks best_match only" not in err, err
