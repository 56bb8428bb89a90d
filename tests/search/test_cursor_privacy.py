"""A member's page cursor tells nothing of their history.

A tester found two leaks in a member's cursor (base64url JSON and a signature): its ``f``
was an unkeyed hash of the query and of the member's lift, so sending ``visits=<guess>``
for each merchant and comparing ``f`` (or having the cursor accepted) found the merchants
the member visits; and its ``p`` was the member's lifted score of the page's last item,
which divided by the public score gives how often they went. Now a lift resolved from a
member id carries a secret-keyed token of the id into its fingerprint, the fingerprint is
bound into the signature (never written) and the last item's key is sealed. Member ids are
hashed in Unicode NFC, so either form of "josé" is one member.
"""

from __future__ import annotations

import base64
import json
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from geo_discovery.engine import DiscoveryEngine
from geo_discovery.errors import InvalidCursorError, StaleCursorError
from geo_discovery.query import Member
from geo_discovery.search import cursor as cur
from geo_discovery.settings import Settings
from geo_discovery.snapshot.members import MemberHistories, write_members

LAT, LNG = 45.50, -73.57
NFC = unicodedata.normalize("NFC", "josé")
NFD = unicodedata.normalize("NFD", "josé")
VENUES = 30


def _visit_log(path: Path) -> Path:
    """A generic visit log: a crowd visits every venue (so each is a merchant), ``solo-1``
    went once to v7, ``josé`` (written NFD) went to v3 three times."""
    rows = []
    for v in range(VENUES):
        lat, lng = LAT + 0.001 * (v % 6), LNG + 0.0013 * (v // 6)
        for u in range(1 + v % 4):
            rows.append((f"crowd-{u}", v, lat, lng, f"2025-01-{1 + u:02d}T10:00:00Z"))
    rows.append(("solo-1", 7, LAT + 0.001, LNG + 0.0013, "2025-01-09T10:00:00Z"))
    rows += [(NFD, 3, LAT + 0.003, LNG, f"2025-01-1{d}T10:00:00Z") for d in range(3)]
    log = pd.DataFrame(rows, columns=["user", "v", "lat", "lng", "time"])
    log["venue"] = "v" + log.pop("v").astype(str)
    log["category"] = "Coffee Shop"
    log["merchant"] = "true"
    log["name"] = "Cafe " + log["venue"]
    log = log[["user", "venue", "lat", "lng", "category", "time", "merchant", "name"]]
    log.to_csv(path, index=False, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from geo_discovery.snapshot.pipeline import load

    folder = tmp_path_factory.mktemp("cursor-privacy")
    data = folder / "data"
    log = _visit_log(folder / "log.csv")
    load([log], data_dir=data, profile="checkins", settings=Settings(data_dir=data))
    return data


@pytest.fixture(scope="module")
def engine(data_dir: Path) -> DiscoveryEngine:
    return DiscoveryEngine.from_snapshot(data_dir, settings=Settings(data_dir=data_dir))


def _ids(engine: DiscoveryEngine) -> list[str]:
    return [str(m) for m in engine.merchants.column("merchant_id").to_pylist()]


def _head(cursor: str | None) -> dict[str, Any]:
    """What anyone holding the cursor reads: its first part, decoded."""
    assert cursor is not None
    text = cursor.split(".")[0]
    head: dict[str, Any] = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    return head


def _page(engine: DiscoveryEngine, member: Member | None, k: int = 1, **kw: Any) -> Any:
    return engine.nearby(LAT, LNG, k, sort="best_match", member=member, **kw)


def test_the_log_holds_the_histories_the_tests_rely_on(engine: DiscoveryEngine) -> None:
    solo = engine.snapshot.members.visits("solo-1")
    assert list(solo.values()) == [1] and next(iter(solo)).endswith("v7")
    assert len(_ids(engine)) == VENUES


def test_a_members_cursor_is_no_oracle_for_their_history(engine: DiscoveryEngine) -> None:
    """The tester's attack, small: a visits= query for every merchant, against the cursor
    of member solo-1's first page. The guess that reproduces the history exactly gives the
    same page, but neither the same cursor nor one that checks the member's."""
    mine = _page(engine, Member(member_id="solo-1"))
    cursor = mine.next_cursor
    visited = next(iter(engine.snapshot.members.visits("solo-1")))
    same = _page(engine, Member(visits=[visited]))
    assert same.merchant_ids == mine.merchant_ids and same.scores.tolist() == mine.scores.tolist()
    matched, accepted, said = [], [], set()
    for guess in _ids(engine):
        theirs = _page(engine, Member(visits=[guess]))
        if theirs.next_cursor == cursor or _head(theirs.next_cursor).get("f", 0) == (
            _head(cursor).get("f", 1)
        ):
            matched.append(guess)
        try:
            _page(engine, Member(visits=[guess]), cursor=cursor)
            accepted.append(guess)
        except InvalidCursorError as exc:
            said.add(str(exc))
    assert matched == [] and accepted == [], "the cursor found the member's history"
    assert len(said) == 1 and "another member's history" in said.pop()
    assert _head(same.next_cursor)["q"] == _head(cursor)["q"]  # the same public query
    # the member's own id still pages, in this engine and in another over the same
    # snapshot (another worker: the token comes from the stored key)
    assert _page(engine, Member(member_id="solo-1"), cursor=cursor).merchant_ids
    other = DiscoveryEngine.from_snapshot(engine.snapshot.path, settings=engine.settings)
    assert _page(other, Member(member_id="solo-1"), cursor=cursor).merchant_ids == (
        _page(engine, Member(member_id="solo-1"), cursor=cursor).merchant_ids
    )


def test_a_cursor_holds_no_fingerprint_score_distance_or_id_in_clear(
    engine: DiscoveryEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[str] = []
    real = cur.page_fingerprint

    def recording(*args: Any, **kw: Any) -> cur.Fingerprint:
        f = real(*args, **kw)
        made.extend((str(f), str(getattr(f, "public", f))))
        return f

    monkeypatch.setattr(cur, "page_fingerprint", recording)
    visited = next(iter(engine.snapshot.members.visits("solo-1")))
    for member in (Member(member_id="solo-1"), Member(visits=[visited]), None):
        made.clear()
        page = _page(engine, member, k=3)
        head = _head(page.next_cursor)
        assert made, "the cursor's fingerprint was computed"
        values = {str(v) for k, v in head.items() if k != "v"}
        assert not values & set(made), member  # no fingerprint, whole or public
        text = json.dumps(head)
        assert not any(f[:8] in text for f in made)  # nor a piece of one
        last, score, metres = page.merchant_ids[-1], page.scores[-1], page.distances_m[-1]
        for shown in (last, repr(float(score)), repr(float(metres))):
            assert shown not in text, (member, shown)
        assert set(head) == {"v", "q", "n", "x"} and head["v"] == engine.version


@pytest.mark.parametrize("who", ["id", "visits", "anonymous"])
def test_paging_with_cursors_gives_every_merchant_once(engine: DiscoveryEngine, who: str) -> None:
    visited = next(iter(engine.snapshot.members.visits("solo-1")))
    member = {"id": Member(member_id="solo-1"), "visits": Member(visits=[visited, visited]),
              "anonymous": None}[who]  # fmt: skip
    whole = _page(engine, member, k=VENUES + 5).merchant_ids
    seen: list[str] = []
    cursor = None
    for _ in range(VENUES):
        page = _page(engine, member, k=4, cursor=cursor)
        seen += page.merchant_ids
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == whole and sorted(seen) == sorted(_ids(engine))


def test_stale_tampered_other_query_and_other_member_cursors_say_which(
    engine: DiscoveryEngine,
) -> None:
    cursor = _page(engine, Member(member_id="solo-1"), k=2).next_cursor
    assert cursor is not None
    other = DiscoveryEngine.from_snapshot(engine.snapshot.path, settings=engine.settings)
    other.planner.version = "999999-other"  # as if another snapshot were serving
    with pytest.raises(StaleCursorError, match=r"snapshot '.*' but snapshot '999999-other'"):
        _page(other, Member(member_id="solo-1"), k=2, cursor=cursor)
    body, sig = cursor.split(".")
    tampered = f"{body}.{sig[:5]}{'A' if sig[5] != 'A' else 'B'}{sig[6:]}"
    with pytest.raises(InvalidCursorError, match=r"signature does not match.*altered or cut"):
        _page(engine, Member(member_id="solo-1"), k=2, cursor=tampered)
    with pytest.raises(InvalidCursorError, match="different query"):
        engine.nearby(LAT + 0.01, LNG, 2, sort="best_match", member=Member(member_id="solo-1"),
                      cursor=cursor)  # fmt: skip
    with pytest.raises(InvalidCursorError, match=r"another member's history.*another member"):
        _page(engine, Member(member_id="crowd-1"), k=2, cursor=cursor)
    with pytest.raises(InvalidCursorError, match="altered or cut, or made for a query with a "
                       "member's history"):  # alteration first: no member is more often that
        _page(engine, None, k=2, cursor=cursor)  # none
    plain = _page(engine, None, k=2).next_cursor
    with pytest.raises(InvalidCursorError, match="another member's history"):
        _page(engine, Member(member_id="solo-1"), k=2, cursor=plain)


def test_over_http_a_members_cursor_with_their_visits_is_a_422_naming_the_member(
    data_dir: Path,
) -> None:
    settings = Settings(data_dir=data_dir, api_reload_interval_ms=0)
    from geo_discovery_api import create_app

    with TestClient(create_app(settings, data_dir)) as client:
        point = {"lat": LAT, "lng": LNG, "limit": 1}
        first = client.get("/v1/merchants/nearby", params={**point, "member": "solo-1"})
        assert first.status_code == 200, first.text
        cursor = first.json()["next_cursor"]
        visited = first.json()["results"][0]["merchant_id"]
        r = client.get("/v1/merchants/nearby",
                       params={**point, "visits": visited, "cursor": cursor})  # fmt: skip
        assert r.status_code == 422 and "another member's history" in r.text, r.text
        assert "solo-1" not in r.text
        r = client.get("/v1/merchants/nearby", params={**point, "member": "solo-1",
                                                       "cursor": cursor})  # fmt: skip
        assert r.status_code == 200, r.text


@pytest.fixture
def nfd_store(tmp_path: Path) -> Iterator[MemberHistories]:
    visits = pd.DataFrame({"member": [NFD, NFD, "ann"], "merchant_id": ["a", "b", "a"],
                           "visits": [3, 1, 2]})  # fmt: skip
    visits["last_visit"] = pd.Timestamp("2024-01-02", tz="UTC")
    write_members(visits, tmp_path)
    yield MemberHistories(tmp_path)


def test_a_member_id_is_one_member_in_nfc_and_nfd(nfd_store: MemberHistories) -> None:
    assert NFC != NFD
    assert nfd_store.visits(NFC) == nfd_store.visits(NFD) == {"a": 3, "b": 1}
    assert nfd_store.token(NFC) == nfd_store.token(NFD) != nfd_store.token("ann")
    assert nfd_store.visits("ann") == {"a": 2}


def test_a_loaded_nfd_id_is_found_and_pages_by_its_nfc_form(engine: DiscoveryEngine) -> None:
    assert engine.snapshot.members.visits(NFC) == engine.snapshot.members.visits(NFD) != {}
    first = _page(engine, Member(member_id=NFC), k=2)
    lifted = _page(engine, Member(member_id=NFC), k=1, explain=True)
    assert lifted.explanations[0].member_visits == 3  # v3, the member's place, on top
    second = _page(engine, Member(member_id=NFD), k=2, cursor=first.next_cursor)
    assert not set(second.merchant_ids) & set(first.merchant_ids)


def test_the_token_is_not_in_the_lifts_repr(engine: DiscoveryEngine) -> None:
    from geo_discovery.query import Ranking

    boost = engine.snapshot.member_boost(Member(member_id="solo-1"), Ranking(), {"own_visits": 1})
    token = engine.snapshot.members.token("solo-1")
    assert token and boost.token == token and token not in repr(boost)
    assert boost.fingerprint() != engine.snapshot.member_boost(
        Member(visits=list(engine.snapshot.members.visits("solo-1"))), Ranking(),
        {"own_visits": 1},
    ).fingerprint()  # fmt: skip


def test_the_query_tag_is_keyed() -> None:
    """The readable ``q`` tag was an unkeyed hash of the query's point and filters: 360,000
    guessed points found a cursor's exact point in 3 s. It is now keyed by the cursor key
    (the ``cursor_secret`` setting), so a guess needs the secret."""

    def tag(secret: str | None) -> str:
        payload = {"v": "000001-x", "f": cur.Fingerprint("full", "public"), "p": 0.5,
                   "d": 1.0, "id": "m1"}  # fmt: skip
        head = cur.encode_cursor(cur.cursor_key(secret), payload).split(".")[0]
        return str(json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))["q"])

    assert tag("one secret") != tag("another secret")
    assert tag("one secret") == tag("one secret")
