"""Ranking profile files that are not profiles: one line naming the file and what it should
hold, never an ``AttributeError`` text; queries that do not rank by ``best_match`` still
answer (library and CLI), and ``save`` replaces a file whole."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from geo_discovery.cli.main import app
from geo_discovery.engine import DiscoveryEngine
from geo_discovery.errors import InvalidQueryError
from geo_discovery.query import Filters, Ranking
from geo_discovery.ranking_profile import (
    PROFILE_FILE,
    RankingProfile,
    file_stamp,
    profile_file,
)
from geo_discovery.settings import Settings

GOOD = RankingProfile(weights=(), gamma=2.0, radii=(("", 20.0), ("shop", 1e6)))
CENTRE = (60.1699, 24.9384)  # Helsinki: the bundled sample

_TEXT = GOOD.to_json()
NOT_PROFILES: dict[str, str | bytes] = {
    "array": "[]",
    "string": '"x"',
    "number": "3",
    "null": "null",
    "weights a string": '{"weights": "a"}',
    "weights a string, the rest there": '{"weights": "a", "gamma": 1, "radii": [["", 5]]}',
    "a pair too short": '{"weights": [["wom"]], "gamma": 1, "radii": [["", 5]]}',
    "a pair's name a number": '{"weights": [[1, 2]], "gamma": 1, "radii": [["", 5]]}',
    "a weight as text": '{"weights": [["wom", "1"]], "gamma": 1, "radii": [["", 5]]}',
    "gamma as text": '{"weights": [], "gamma": "1", "radii": [["", 5]]}',
    "gamma true": '{"weights": [], "gamma": true, "radii": [["", 5]]}',
    "NaN": '{"weights": [["wom", NaN]], "gamma": 1, "radii": [["", 5]]}',
    "1e999": '{"weights": [], "gamma": 1e999, "radii": [["", 5]]}',
    "a huge integer": '{"weights": [["wom", 1' + "0" * 400 + ']], "gamma": 1, "radii": [["", 5]]}',
    "time_bin 2.5": '{"weights": [], "gamma": 1, "radii": [["", 5]], "time_bin": 2.5}',
    "time_bin huge": '{"weights": [], "gamma": 1, "radii": [["", 5]], "time_bin": 1e999}',
    "meta an object": '{"weights": [], "gamma": 1, "radii": [["", 5]], "meta": {"a": 1}}',
    "personal 3": '{"weights": [], "gamma": 1, "radii": [["", 5]], "personal": 3}',
    "personal empty": '{"weights": [], "gamma": 1, "radii": [["", 5]], "personal": {}}',
    "unknown feature": '{"weights": [["charm", 1]], "gamma": 1, "radii": [["", 5]]}',
    "truncated": _TEXT[: len(_TEXT) // 2],
    "binary junk": bytes(range(256)) * 4,
    "empty": "",
    "blank": " \n",
    "deeply nested": "[" * 100_000 + "]" * 100_000,
}


@pytest.mark.parametrize("content", NOT_PROFILES.values(), ids=NOT_PROFILES.keys())
def test_a_file_that_is_no_profile_is_one_line_naming_it(
    tmp_path: Path, content: str | bytes
) -> None:
    path = tmp_path / PROFILE_FILE
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    with pytest.raises(InvalidQueryError) as got:
        RankingProfile.load(path)
    message = str(got.value)
    assert message.startswith(f"ranking profile {path} is malformed: "), message
    assert "\n" not in message and len(message) < 1_000
    for words in ("geo-discovery calibrate", "remove the file", "hand-set"):
        assert words in message, message
    for leak in ("attribute", "KeyError", "object is not", "Traceback", "could not convert"):
        assert leak not in message, message


def test_profile_text_errors_and_round_trips(tmp_path: Path) -> None:
    assert RankingProfile.load(GOOD.save(tmp_path / "p.json")) == GOOD
    with pytest.raises(InvalidQueryError, match="the profile is an array, not a JSON object"):
        RankingProfile.from_json("[]")
    with pytest.raises(InvalidQueryError, match=r"not JSON \(Expecting"):
        RankingProfile.from_json('{"weights": [')
    with pytest.raises(InvalidQueryError, match=r"ranking profile .*missing\.json is unreadable"):
        RankingProfile.load(tmp_path / "missing.json")
    assert GOOD.digest == RankingProfile.from_json(GOOD.to_json()).digest
    assert GOOD.digest != RankingProfile(weights=(), gamma=2.5, radii=GOOD.radii).digest


def test_save_replaces_the_file_whole(tmp_path: Path) -> None:
    """A reader (a server's check) sees the old file or the new one: a new inode, no
    temporary file left behind."""
    path = GOOD.save(tmp_path / PROFILE_FILE)
    before = path.stat().st_ino
    other = RankingProfile(weights=(("wom", 1.0),), gamma=1.0, radii=(("", 500.0),))
    other.save(path)
    assert path.stat().st_ino != before
    assert RankingProfile.load(path) == other
    assert [p.name for p in tmp_path.iterdir()] == [PROFILE_FILE]


def test_which_file_applies_and_its_stamp(tmp_path: Path) -> None:
    snapshot = tmp_path / "snapshots" / "000001"
    snapshot.mkdir(parents=True)
    assert profile_file(None, snapshot) is None
    GOOD.save(tmp_path / PROFILE_FILE)
    assert profile_file(None, snapshot) == tmp_path / PROFILE_FILE
    GOOD.save(snapshot / PROFILE_FILE)
    assert profile_file(None, snapshot) == snapshot / PROFILE_FILE
    assert profile_file(tmp_path / "mine.json", snapshot) == tmp_path / "mine.json"
    stamp = file_stamp(snapshot / PROFILE_FILE)
    assert stamp is not None and stamp[0] == str(snapshot / PROFILE_FILE) and stamp[2] > 0
    assert file_stamp(tmp_path / "mine.json") == (str(tmp_path / "mine.json"), -1, -1, -1)
    assert file_stamp(None) is None
    # a folder named like the profile is said (it was skipped: the hand-set ranking
    # answered without a word)
    (snapshot / PROFILE_FILE).unlink()
    (snapshot / PROFILE_FILE).mkdir()
    assert profile_file(None, snapshot) == snapshot / PROFILE_FILE
    with pytest.raises(InvalidQueryError, match="is unreadable: Is a directory"):
        RankingProfile.load(snapshot / PROFILE_FILE)


# ------------------------------------------------------------ library and CLI queries
@pytest.fixture()
def bad_data_dir(sample_data_dir: Path, tmp_path: Path) -> Path:
    """A copy of the sample data dir whose ranking_profile.json is a JSON array."""
    data = tmp_path / "store"
    shutil.copytree(sample_data_dir, data)
    (data / PROFILE_FILE).write_text("[]")
    return data


def test_a_bad_profile_fails_best_match_only(
    bad_data_dir: Path, sample_engine: DiscoveryEngine
) -> None:
    """The CLI's report: even ``--sort distance`` failed on a corrupt profile file."""
    engine = DiscoveryEngine.from_snapshot(bad_data_dir, settings=Settings(data_dir=bad_data_dir))
    lat, lng = CENTRE
    for sort in ("distance", "rating", "review_count", "price"):
        for where in (None, Filters(categories="shop")):
            got = engine.nearby(lat, lng, 5, sort=sort, where=where)
            assert got.merchant_ids == sample_engine.nearby(
                lat, lng, 5, sort=sort, where=where
            ).merchant_ids
    page = engine.nearby(lat, lng, 3, radius_m=2_000, sort="distance")
    assert engine.nearby(lat, lng, 3, radius_m=2_000, cursor=page.next_cursor).merchant_ids
    assert len(engine.within_radius(lat, lng, 300)) > 0
    # an explicit ranking needs no file
    hand, shops = Ranking.from_settings(engine.settings), Filters(categories="shop")
    got = engine.nearby(lat, lng, 5, sort="best_match", ranking=hand, where=shops)
    assert got.merchant_ids == sample_engine.nearby(
        lat, lng, 5, sort="best_match", where=shops
    ).merchant_ids
    for ask in (
        lambda: engine.nearby(lat, lng, 5, sort="best_match"),
        lambda: engine.nearby(lat, lng, 5, sort="best_match", where=Filters(categories="shop")),
        lambda: engine.nearby(lat, lng, 5, explain=True),  # explain shows best_match's parts
    ):
        with pytest.raises(InvalidQueryError, match=f"ranking profile {bad_data_dir}/"):
            ask()


def test_the_cli_names_the_file_and_answers_distance(bad_data_dir: Path) -> None:
    runner = CliRunner(env={"COLUMNS": "240", "NO_COLOR": "1"})
    lat, lng = (str(v) for v in CENTRE)
    base = ["query", "nearby", "--lat", lat, "--lng", lng, "--data-dir", str(bad_data_dir)]
    for sort in ("distance", "rating"):
        done = runner.invoke(app, [*base, "--sort", sort, "--category", "shop"])
        assert done.exit_code == 0, done.output
    done = runner.invoke(app, [*base, "--sort", "best_match"])
    assert done.exit_code == 1
    lines = done.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ranking profile "), done.output
    assert str(bad_data_dir / PROFILE_FILE) in lines[0] and "geo-discovery calibrate" in lines[0]


@pytest.mark.parametrize(("weights", "member", "said"), [
    ((("wom", 1e308),), (), "profile weights [('wom', 1e+308)] are out of range"),
    ((("volume", -1e6),), (), "allowed: -100 … 100"),
    ((("wom", 1.0),), (("own_visits", -3.0),), "a lift, never a penalty"),
    ((("wom", 1.0),), (("own_category", 11.0),), "allowed: 0 … 10"),
])  # fmt: skip
def test_a_profile_weight_out_of_range_is_refused_by_name(
    weights: tuple[tuple[str, float], ...], member: tuple[tuple[str, float], ...], said: str
) -> None:
    """Only finiteness was checked: a weight of 1e308 ended the CLI with an internal error
    (exit 70), 1e3 made explain's factors inf, a negative member weight lowered the
    merchants a member returns to (the docs: a lift, never a penalty)."""
    with pytest.raises(InvalidQueryError) as got:
        RankingProfile(weights=weights, gamma=1.0, radii=(("", 800.0),), member_weights=member)
    assert said in str(got.value)
    edge = RankingProfile(weights=(("wom", 100.0), ("district", -100.0)), gamma=1.0,
                          radii=(("", 800.0),), member_weights=(("own_visits", 10.0),))
    assert RankingProfile.from_json(edge.to_json()) == edge  # the edges are allowed
