"""A running server follows the ranking profile file (``geo-discovery calibrate`` writes
``DATA_DIR/ranking_profile.json``) as it follows ``CURRENT``: a new, changed or removed
file is swapped in atomically; a file that is not a profile never replaces a good ranking
(the last good one keeps ranking; at start, the hand-set one) and is reported in /readyz;
the snapshot is served whatever the profile file holds.

The bundled Helsinki sample (a copy per test); the profiles below reorder its best_match
page around the centre (shops reach a million metres, everything else 20 m).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from geo_discovery.engine import DiscoveryEngine
from geo_discovery.query import Ranking
from geo_discovery.ranking_profile import PROFILE_FILE, RankingProfile
from geo_discovery.settings import Settings
from geo_discovery.snapshot.rows import ROW_FILE
from geo_discovery.snapshot.store import SnapshotStore
from geo_discovery_api import create_app
from geo_discovery_api.state import EngineHolder

SHOPS = RankingProfile(weights=(), gamma=2.0, radii=(("", 20.0), ("shop", 1e6)))
FOOD = RankingProfile(weights=(), gamma=2.0, radii=(("", 20.0), ("food", 1e6)))
LAT, LNG = 60.1699, 24.9384
URL = f"/v1/merchants/nearby?lat={LAT}&lng={LNG}&sort=best_match&limit=8"
BAD = {
    "array": "[]",
    "string": '"x"',
    "weights a string": '{"weights": "a"}',
    "truncated": SHOPS.to_json()[:40],
    "binary junk": bytes(range(256)),
    "gamma out of range": '{"weights": [], "gamma": 99, "radii": [["", 5]]}',
}


@pytest.fixture()
def data_dir(sample_data_dir: Path, tmp_path: Path) -> Path:
    data = tmp_path / "store"
    shutil.copytree(sample_data_dir, data)
    return data


def _write(path: Path, content: str | bytes) -> None:
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)


def _ids(body: dict[str, Any]) -> list[str]:
    return [row["merchant_id"] for row in body["results"]]


def _expected(data_dir: Path, profile: RankingProfile | None, **kw: Any) -> list[str]:
    """The library's best_match page under ``profile`` (None: the hand-set ranking)."""
    settings = Settings(data_dir=data_dir)
    engine = DiscoveryEngine.from_snapshot(data_dir, settings=settings)
    ranking = Ranking.from_settings(settings).replace(profile=profile)
    return engine.nearby(LAT, LNG, 8, sort="best_match", ranking=ranking, **kw).merchant_ids


def _wait_for(predicate: Callable[[], bool], timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def _profile_served(client: TestClient) -> str | None:
    served = client.get("/readyz").json().get("ranking_profile")
    return None if served is None else str(served["digest"])


# ------------------------------------------------------------------ the running app
def test_the_server_follows_the_profile_file(data_dir: Path) -> None:
    """The user's report: after `calibrate` wrote a profile, HTTP kept the old order."""
    hand, shops, food = (_expected(data_dir, p) for p in (None, SHOPS, FOOD))
    assert len({tuple(hand), tuple(shops), tuple(food)}) == 3  # the profiles reorder
    settings = Settings(data_dir=data_dir, api_reload_interval_ms=50)
    path = data_dir / PROFILE_FILE
    with TestClient(create_app(settings, data_dir)) as client:
        first = client.get(URL)
        assert _ids(first.json()) == hand and _profile_served(client) is None
        distance = _ids(client.get(URL.replace("best_match", "distance")).json())
        cursor = first.json()["next_cursor"]
        assert client.get(f"{URL}&cursor={cursor}").status_code == 200

        SHOPS.save(path)  # what `geo-discovery calibrate` does
        _wait_for(lambda: _ids(client.get(URL).json()) == shops, timeout_s=10)
        ready = client.get("/readyz").json()
        assert ready["ranking_profile"] == {"path": str(path), "digest": SHOPS.digest}
        assert ready["snapshot"] == first.json()["snapshot"] and ready["last_reload_error"] is None
        fast = client.get(URL, headers={"Accept-Encoding": "identity"})  # the raw fast lane
        assert _ids(fast.json()) == shops
        assert _ids(client.get(URL.replace("best_match", "distance")).json()) == distance
        # a cursor of the old ranking is refused, never continued under the new one
        stale = client.get(f"{URL}&cursor={cursor}")
        assert stale.status_code == 422 and "weights differ" in stale.json()["detail"]

        FOOD.save(path)  # changed
        _wait_for(lambda: _profile_served(client) == FOOD.digest)
        assert _ids(client.get(URL).json()) == food

        path.unlink()  # removed: the hand-set ranking again
        _wait_for(lambda: _profile_served(client) is None)
        assert _ids(client.get(URL).json()) == hand
        assert client.get("/readyz").json()["last_reload_error"] is None


def test_the_etag_changes_with_the_profile(data_dir: Path) -> None:
    """An answer ranked by another profile must not revalidate as fresh (304)."""
    settings = Settings(data_dir=data_dir, api_reload_interval_ms=0)
    app = create_app(settings, data_dir)
    holder: EngineHolder = app.state.holder
    plain = {"Accept-Encoding": "identity"}
    with TestClient(app) as client:
        etag = client.get(URL).headers["etag"]
        SHOPS.save(data_dir / PROFILE_FILE)
        assert holder.refresh().ranking_changed
        for headers in ({}, plain):  # the route and the raw fast lane
            got = client.get(URL, headers=headers)
            assert got.headers["etag"] != etag
            again = client.get(URL, headers={**headers, "If-None-Match": etag})
            assert again.status_code == 200
        (data_dir / PROFILE_FILE).unlink()
        assert holder.refresh().ranking_changed
        assert client.get(URL, headers=plain).headers["etag"] == etag  # the same answers


def test_a_bad_profile_at_start_serves_with_the_hand_set_ranking(data_dir: Path) -> None:
    """The user's report: a corrupt profile made every query 503 "no snapshot"."""
    hand = _expected(data_dir, None)
    path = data_dir / PROFILE_FILE
    path.write_text("[]")
    settings = Settings(data_dir=data_dir, api_reload_interval_ms=50)
    with TestClient(create_app(settings, data_dir)) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 200, ready.text
        body = ready.json()
        assert body["status"] == "ready" and body["ranking_profile"] is None
        error = body["last_reload_error"]
        assert f"ranking profile {path} is malformed" in error
        assert "geo-discovery calibrate" in error and "hand-set" in error
        for sort in ("best_match", "distance", "rating"):
            r = client.get(URL.replace("best_match", sort))
            assert r.status_code == 200, r.text
        assert _ids(client.get(URL).json()) == hand
        assert "no snapshot" not in client.get("/readyz").text

        SHOPS.save(path)  # fixed: picked up, the error gone
        _wait_for(lambda: _profile_served(client) == SHOPS.digest)
        assert client.get("/readyz").json()["last_reload_error"] is None
        assert _ids(client.get(URL).json()) == _expected(data_dir, SHOPS)


# ----------------------------------------------------------------------- the holder
@pytest.mark.parametrize("content", BAD.values(), ids=BAD.keys())
def test_a_bad_profile_never_replaces_a_good_ranking(data_dir: Path, content: str | bytes) -> None:
    errors: list[str] = []
    holder = EngineHolder(data_dir, Settings(data_dir=data_dir), on_error=errors.append)
    path = data_dir / PROFILE_FILE
    SHOPS.save(path)
    first = holder.engine
    assert first is not None and first.ranking.profile == SHOPS

    _write(path, content)
    result = holder.refresh()
    assert result.error is not None and f"ranking profile {path}" in result.error
    assert not result.changed and not result.ranking_changed and holder.profile_path == path
    assert "\n" not in result.error and "attribute" not in result.error
    assert f"still ranks with the profile read from {path}" in result.error
    assert holder.engine is first and holder.last_error == result.error and len(errors) == 1
    # not read again while the file stays as it is
    assert holder.refresh().error == result.error and len(errors) == 1
    # a forced reload (the snapshot opened again) keeps the last good ranking too
    assert holder.refresh(force=True).error == result.error
    kept = holder.engine
    assert kept is not None and kept is not first and kept.ranking.profile == SHOPS

    FOOD.save(path)
    result = holder.refresh()
    assert result.ranking_changed and result.error is None and holder.last_error is None
    second = holder.engine
    assert second is not None and second is not kept and second.ranking.profile == FOOD
    assert second.snapshot is kept.snapshot  # the same snapshot, not opened again
    # in flight: the first engine still answers whole, with its own ranking
    assert first.nearby(LAT, LNG, 8, sort="best_match").merchant_ids == _expected(
        data_dir, SHOPS
    )


def test_the_same_profile_written_again_swaps_nothing(data_dir: Path) -> None:
    holder = EngineHolder(data_dir, Settings(data_dir=data_dir))
    SHOPS.save(data_dir / PROFILE_FILE)
    first = holder.engine
    assert first is not None and holder.refresh().ranking_changed is False
    SHOPS.save(data_dir / PROFILE_FILE)
    assert holder.refresh().ranking_changed is False and holder.engine is first
    assert holder.swaps == 0


def test_the_profile_setting_is_followed_and_a_missing_one_named(data_dir: Path) -> None:
    path = data_dir.parent / "elsewhere.json"
    holder = EngineHolder(data_dir, Settings(data_dir=data_dir, ranking_profile=path))
    assert holder.engine is not None and holder.engine.ranking.profile is None
    assert holder.last_error is not None and f"ranking profile {path} is unreadable" in (
        holder.last_error
    )
    FOOD.save(path)
    assert holder.refresh().ranking_changed and holder.engine.ranking.profile == FOOD
    assert holder.profile_path == path and holder.last_error is None


def test_readyz_says_the_snapshot_failed_rather_than_to_load_one(data_dir: Path) -> None:
    """With no engine because the current snapshot cannot be opened, /readyz does not tell
    the operator to publish one: it points at the reason."""
    current = SnapshotStore(data_dir).current()
    assert current is not None
    for table in ("merchants.parquet", ROW_FILE):
        (current.path / table).write_bytes(b"not a table")
    settings = Settings(data_dir=data_dir, api_reload_interval_ms=0)
    with TestClient(create_app(settings, data_dir)) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 503
        body = ready.json()
        assert "could not be opened" in body["detail"] and "publish one" not in body["detail"]
        assert f"snapshot {current.path.name} failed to open" in body["last_reload_error"]
