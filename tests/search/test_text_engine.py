"""Text search through the engine against the brute-force oracle (``text_oracle``), bit for
bit: every sort, filters, radius, cursors, the drop-the-last-word fallback, both plans
(few matches scored directly, many walked) and the category split, on random merchants
with accented, CJK, apostrophe and ampersand names, brands, cuisines and addresses."""

from __future__ import annotations

import functools
import json
import math
import unicodedata
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import oracle
import pyarrow as pa
import pytest
import ranking_oracle as ro
import text_oracle as to
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geo_discovery.engine import DiscoveryEngine
from geo_discovery.errors import InvalidCursorError, InvalidQueryError, TextIndexMissingError
from geo_discovery.query import SORTS, Filters, Member, NearbyQuery, Ranking
from geo_discovery.ranking_profile import RankingProfile
from geo_discovery.search.index import build_cell_index
from geo_discovery.search.textindex import TEXT_FORMAT, TextIndex, build_text_index
from geo_discovery.search.textmatch import TextSearcher
from geo_discovery.search.textnorm import query_words
from geo_discovery.settings import Settings
from geo_discovery.snapshot.derived import build_text
from geo_discovery.snapshot.snapshot import Snapshot

PROPERTY = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
WORDS = (
    "pizza",
    "pizzeria",
    "joe's",
    "joes",
    "café",
    "coffee",
    "hämeentie",
    "starbucks",
    "bodega",
    "grocery",
    "deli",
    "sushi",
    "bar",
    "burger",
    "kahvila",
    "bagels",
    "tacos",
    "market",
    "famous",
    "ray's",
    "john's",
    "mcdonald's",
    "7-eleven",
    "h&m",
    "noodles",
    "restaurant",
    "the",
    "and",
    "星巴克",
    "咖啡",
    "ラーメン",
    "pizzas",
    "plaza",
    "ｶﾞｽﾄ",  # halfwidth katakana with a voicing mark: ガスト
    "ガスト",
    "ホ\u3099ート\u3099",  # decomposed (NFD) kana: ボード
    "탤러해시",
    "ca\u00adfe",  # a soft hyphen inside a word
    "l'italien",  # an apostrophe joins: litalien
    "domino´s",  # the acute accent as an apostrophe
    "قَهْوَة",  # Arabic with vowel marks: قهوه
    "ローソン 宮津",  # CJK runs across a space: ン宮 too
)
#: CJK names longer than the 16 words a query may have (as pairs of characters)
LONG_CJK = (
    "仙台市役所子供未来局子育てふれあいプラザ・のびすく長町南",
    "兵庫教育大学 神戸ハーバーランドキャンパス",
    "茅ヶ崎イトーヨーカドーチャンスセンター",
)
CATEGORIES = (
    "food/restaurant/pizza",
    "food/cafe",
    "food/grocery/bodega",
    "food/grocery/supermarket",
    "food/restaurant/cafe_coffee_tea",
    "lodging/private_room",
    "shop/furniture",
    "unknown",
)
STREETS = ("Main St", "Hämeentie", "Broadway", "Pizza Lane", "Joe's Alley", "Market Street")
CUISINES = ('{"cuisine": "Pizza;Burger"}', '{"cuisine": "Café/Coffee/Tea"}', "{}", "{}", "{}")
CENTRE = {"city": (40.75, -73.98), "antimeridian": (-17.0, 180.0)}


def table_of(rng: np.random.Generator, n: int, kind: str) -> pa.Table:
    lat, lng = oracle.random_points(kind, n, rng, centre=CENTRE.get(kind), spread_deg=0.03)

    def nullable(values: Any, p_null: float) -> list[Any]:
        return [None if rng.random() < p_null else v for v in values]

    names = [
        " ".join(rng.choice(WORDS, int(rng.integers(1, 4))).tolist()).title()
        if (r := rng.random()) < 0.93
        else "ＳＴＡＲＢＵＣＫＳ Coffee"
        if r < 0.97
        else str(rng.choice(LONG_CJK))
        for _ in range(n)
    ]
    scale = rng.choice([5.0, 100.0], n)
    return pa.table(
        {
            "merchant_id": pa.array(oracle.shuffled_ids(n, rng).tolist(), pa.string()),
            "name": names,
            "lat": lat,
            "lng": lng,
            "category": pa.array(rng.choice(CATEGORIES, n).tolist(), pa.string()),
            "address": pa.array(
                nullable(
                    [f"{int(rng.integers(1, 999))} {rng.choice(STREETS)}, City" for _ in range(n)],
                    0.3,
                ),
                pa.string(),
            ),
            "price_level": pa.array(nullable(rng.integers(1, 5, n).tolist(), 0.3), pa.int8()),
            "rating": pa.array(
                nullable((np.round(rng.uniform(0.2, 1.0, n) * 10) / 10 * scale).tolist(), 0.3),
                pa.float64(),
            ),
            "rating_scale": pa.array(scale.tolist(), pa.float64()),
            "review_count": pa.array(nullable(rng.integers(0, 40, n).tolist(), 0.3), pa.int64()),
            "brand": pa.array(
                nullable(rng.choice(["Starbucks", "Joe's"], n).tolist(), 0.8), pa.string()
            ),
            "attributes": pa.array(rng.choice(CUISINES, n).tolist(), pa.string()),
        }
    )


def engine_of(table: pa.Table, rng: np.random.Generator, post_max: int | None) -> DiscoveryEngine:
    n = table.num_rows
    index = build_cell_index(
        table.column("lat").to_numpy(),
        table.column("lng").to_numpy(),
        np.asarray(table.column("merchant_id").to_pylist(), dtype=object),
    )
    from geo_discovery.ingest.taxonomy import category_label, category_synonyms

    text = build_text_index(
        table,
        index.positions,
        synonyms=category_synonyms(),
        label=category_label,
        post_max=post_max,
    )
    wom = rng.choice([0.1, 0.5, 0.77, 1.0], n) if rng.random() < 0.5 else rng.random(n)
    snap = Snapshot(
        table,
        index,
        wom=(wom, rng.random(n)),
        districts=(rng.choice(["d1", "d2"], n).astype(object), rng.choice([0.4, 1.0], n)),
        text=text,
    )
    return DiscoveryEngine(snap, settings=Settings())


def mutate(rng: np.random.Generator, word: str) -> str:
    """A typo, a prefix, or nothing."""
    r = rng.random()
    if r < 0.3 and len(word) > 2:
        i = int(rng.integers(1, len(word)))
        op = rng.choice(["sub", "del", "ins", "swap"])
        if op == "sub":
            return word[:i] + "q" + word[i + 1 :]
        if op == "del":
            return word[:i] + word[i + 1 :]
        if op == "ins":
            return word[:i] + "e" + word[i:]
        if i + 1 < len(word):
            return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if r < 0.5 and len(word) > 1:
        return word[: int(rng.integers(1, len(word)))]
    return word


def random_text(rng: np.random.Generator, table: pa.Table) -> str:
    name = str(rng.choice(table.column("name").to_pylist()))
    words = name.split() if rng.random() < 0.7 else list(rng.choice(WORDS, 2))
    words = [mutate(rng, w) for w in words[: int(rng.integers(1, len(words) + 1))]]
    if rng.random() < 0.15:
        words.append("zzyzx")  # matches nothing: the fallback drops it
    text = " ".join(words)
    if rng.random() < 0.15:  # typed in another normal form, or with an invisible character
        form = str(rng.choice(["NFC", "NFD", "NFKC", "NFKD", "shy"]))
        if form == "shy":
            i = int(rng.integers(0, len(text) + 1))
            return text[:i] + "\u00ad" + text[i:]
        return unicodedata.normalize(form, text)  # type: ignore[arg-type]
    return text


def random_query(rng: np.random.Generator, table: pa.Table, sort: str) -> NearbyQuery:
    lat = table.column("lat").to_numpy()
    lng = table.column("lng").to_numpy()
    i = int(rng.integers(0, table.num_rows))
    q_lat = float(np.clip(lat[i] + rng.normal(0, 0.01), -90, 90))
    q_lng = float(((lng[i] + rng.normal(0, 0.01)) + 180) % 360 - 180)

    def maybe(p: float, value: Any) -> Any:
        return value if rng.random() < p else None

    return ro.query(
        q_lat,
        q_lng,
        k=int(rng.choice([1, 3, 10, 40])),
        radius_m=maybe(0.3, float(10 ** rng.uniform(2, 4.5))),
        sort=sort,
        categories=("food",) if rng.random() < 0.2 else (),
        min_rating=maybe(0.15, float(rng.choice([2.0, 3.5]))),
        exclude_brands=("STARBUCKS",) if rng.random() < 0.15 else (),
        text=random_text(rng, table),
        ranking=Ranking(
            wom=float(rng.choice([0.0, 1.0])), distance_scale=float(rng.choice([0.3, 1.0, 4.0]))
        )
        if rng.random() < 0.3
        else None,
    )


def assert_same(engine: DiscoveryEngine, tc: to.TextColumns, q: NearbyQuery) -> None:
    res = engine.search(replace(q, explain=q.sort == "best_match"))
    rows, prim, dist, kept = to.brute_text(tc, q, limit=q.k)
    assert res.positions.tolist() == rows.tolist(), (q, kept)
    assert np.array_equal(res.distances_m, dist)
    if q.sort == "best_match":
        assert res.scores is not None and np.array_equal(res.scores, prim)
        for e, s in zip(res.explanations or [], res.scores.tolist(), strict=True):
            assert e.score == s and e.text is not None
            assert len(e.text.words) == kept
            assert math.isclose(
                e.text.relevance * e.decay * e.wom_term * e.district_factor, s, rel_tol=1e-12
            )
            # relevance = mean² × exactness: one word's mean is its score
            assert 0.5 <= e.text.exactness <= 1.0
            if kept == 1:
                word = e.text.words[0].score
                assert math.isclose(e.text.relevance, word * word * e.text.exactness,
                                    rel_tol=1e-12)  # fmt: skip


@PROPERTY
@given(
    seed=st.integers(0, 2**32 - 1),
    kind=st.sampled_from(["city", "city", "antimeridian"]),
    n=st.integers(1, 250),
    post_max=st.sampled_from([None, 0, 5, 40]),
)
def test_every_sort_with_text_equals_brute_force(
    seed: int, kind: str, n: int, post_max: int | None
) -> None:
    rng = np.random.default_rng(seed)
    table = table_of(rng, n, kind)
    engine = engine_of(table, rng, post_max)
    tc = to.TextColumns(engine)
    for sort in SORTS:
        for _ in range(3):
            assert_same(engine, tc, random_query(rng, table, sort))


@PROPERTY
@given(seed=st.integers(0, 2**32 - 1), post_max=st.sampled_from([None, 0, 8]))
def test_cursor_walks_cover_the_whole_text_answer(seed: int, post_max: int | None) -> None:
    rng = np.random.default_rng(seed)
    table = table_of(rng, int(rng.integers(20, 150)), "city")
    engine = engine_of(table, rng, post_max)
    tc = to.TextColumns(engine)
    for sort in SORTS:
        q = replace(random_query(rng, table, sort), cursor=None)
        rows, _, _, _ = to.brute_text(tc, q)
        assert ro.walk(engine, q, page=int(rng.choice([1, 3, 7]))) == rows.tolist()


def test_open_at_with_text() -> None:
    rng = np.random.default_rng(3)
    table = table_of(rng, 200, "city")
    hours = pa.array(rng.choice(["Mo-Su 09:00-17:00", "Mo-Fr 18:00-23:00", None], 200).tolist())
    table = table.append_column("opening_hours", hours)
    engine = engine_of(table, rng, 5)
    tc = to.TextColumns(engine)
    from datetime import datetime

    for sort in SORTS:
        for text in ("pizza", "caf", "joe's pi"):
            q = ro.query(
                40.75, -73.98, 10, sort=sort, text=text, open_at=datetime(2024, 7, 15, 12, 30)
            )
            assert_same(engine, tc, q)


def test_the_fallback_drops_the_last_word_and_the_cursor_keeps_it() -> None:
    rng = np.random.default_rng(1)
    table = table_of(rng, 120, "city")
    engine = engine_of(table, rng, None)
    q = ro.query(40.75, -73.98, 2, text="pizza zzyzx")
    first = engine.search(replace(q, explain=True))
    assert len(first) == 2
    assert all(e.text.dropped == ("zzyzx",) for e in first.explanations or [])
    rest = engine.search(replace(q, cursor=first.next_cursor))
    tc = to.TextColumns(engine)
    rows, *_ = to.brute_text(tc, q, limit=4)
    assert first.positions.tolist() + rest.positions.tolist() == rows.tolist()
    forged = engine.search(replace(q, k=2, where=replace(q.where, text="pizza")))
    with pytest.raises(InvalidCursorError):  # a cursor of another text
        engine.search(replace(q, cursor=forged.next_cursor))


def test_box_and_polygon_search_filter_by_text() -> None:
    rng = np.random.default_rng(7)
    table = table_of(rng, 300, "city")
    engine = engine_of(table, rng, None)
    tc = to.TextColumns(engine)
    box = "-74.02,40.72,-73.94,40.78"
    everything = engine.within_bbox(box)
    for text in ("pizza", "cafe", "starbuks", "joe's pi"):
        got = engine.within_bbox(box, where=Filters(text=text))
        rel = tc.relevances(text)
        want = [p for p in everything.positions.tolist() if rel[p] > 0]
        assert got.positions.tolist() == want and got.total == len(want)
        poly = {
            "type": "Polygon",
            "coordinates": [
                [
                    [-74.02, 40.72],
                    [-73.94, 40.72],
                    [-73.94, 40.78],
                    [-74.02, 40.78],
                    [-74.02, 40.72],
                ]
            ],
        }
        in_poly = engine.within_polygon(poly, where=Filters(text=text))
        assert set(in_poly.positions.tolist()) <= set(np.flatnonzero(rel > 0).tolist())


def test_autocomplete_highlights_and_categories() -> None:
    rng = np.random.default_rng(2)
    table = table_of(rng, 300, "city")
    engine = engine_of(table, rng, None)
    s = engine.autocomplete("piz", 40.75, -73.98, limit=5)
    assert 0 < len(s.merchants) <= 5
    for m in s.merchants:  # a name matching "piz" is highlighted; a category match is not
        assert all(m.name[a:b].lower().startswith("piz") for a, b in m.highlight)
        assert bool(m.highlight) == ("piz" in m.name.lower())
    assert [c.path for c in s.categories][:1] == ["food/restaurant/pizza"]
    ranked = engine.nearby(40.75, -73.98, 5, sort="best_match", where=Filters(text="piz"))
    assert [m.merchant_id for m in s.merchants] == ranked.merchant_ids
    cafe = engine.autocomplete("coffee", 40.75, -73.98, limit=3)
    assert {c.path for c in cafe.categories} == {"food/cafe", "food/restaurant/cafe_coffee_tea"}
    assert cafe.to_dict()["categories"][0]["label"]
    with pytest.raises(InvalidQueryError):
        engine.autocomplete("   ", 40.75, -73.98)
    with pytest.raises(InvalidQueryError):
        engine.autocomplete("pizza", 91, 0)
    # a parent no merchant carries itself is suggested by its own word, first on a tie (it
    # holds more), counting everything under it: typing "food" offers the food chip
    tree = {c.path: c.count for c in engine.categories()}
    food = engine.autocomplete("food", 40.75, -73.98, limit=10).categories
    assert food and food[0].path == "food" and food[0].count == tree["food"]
    assert "food" not in set(table.column("category").to_pylist())
    restaurant = engine.autocomplete("restaurant", 40.75, -73.98, limit=3).categories
    assert restaurant[0].path == "food/restaurant"
    assert restaurant[0].count == tree["food/restaurant"]
    # a word no merchant matches with the others is dropped, named, as nearby names it;
    # the categories are the kept words' (there were none: every word had to match)
    typo = engine.autocomplete("coffee zzyzx", 40.75, -73.98, limit=3)
    assert typo.dropped_words == ("zzyzx",) and typo.to_dict()["dropped_words"] == ["zzyzx"]
    assert typo.categories == cafe.categories and typo.query == "coffee zzyzx"
    near = engine.nearby(40.75, -73.98, 3, sort="best_match", where=Filters(text="coffee zzyzx"))
    assert [m.merchant_id for m in typo.merchants] == near.merchant_ids
    assert near.dropped_words == typo.dropped_words and "dropped_words" not in cafe.to_dict()


@PROPERTY
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 200),
    post_max=st.sampled_from([None, 0, 5, 40]),
)
def test_autocomplete_equals_brute_force(seed: int, n: int, post_max: int | None) -> None:
    """The suggested merchants are the brute-force best_match page; each highlight is the
    spans of the name's tokens some word matches; the categories are those every word
    matches, in the oracle's order with its scores' order."""
    check_autocomplete(seed, n, post_max)


def test_keeping_the_points_every_rare_word_reaches(monkeypatch: Any) -> None:
    """The direct plan's cut (textdirect.reached_by_all: the rarest word's points that the
    other words reach too), forced on for every query: still the brute-force page, in
    the autocomplete fast lane and in every sort and cursor walk of the planner."""
    import geo_discovery.search.textmatch as tm

    monkeypatch.setattr(tm, "_ALSO_MIN", 0)
    monkeypatch.setattr(tm, "_ALSO_RATIO", 10**9)
    dropped = 0
    for seed in range(40):
        dropped += check_autocomplete(seed, 40 + 4 * seed, [None, 0, 5, 40][seed % 4])
        rng = np.random.default_rng(seed)
        table = table_of(rng, 30 + 5 * seed, "city")
        engine = engine_of(table, rng, [None, 0, 5, 40][seed % 4])
        tc = to.TextColumns(engine)
        for sort in SORTS:
            q = random_query(rng, table, sort)
            assert_same(engine, tc, q)
            rows, _, _, _ = to.brute_text(tc, replace(q, cursor=None))
            assert ro.walk(engine, replace(q, cursor=None), page=3) == rows.tolist()
    assert dropped > 0  # the fallback's categories and dropped words were checked


def check_autocomplete(seed: int, n: int, post_max: int | None) -> int:
    """Four random texts against the oracle; how many of them dropped words."""
    rng = np.random.default_rng(seed)
    dropped = 0
    table = table_of(rng, n, "city")
    if rng.random() < 0.5:  # many merchants at a few spots: ties of distance everywhere
        spot = rng.integers(0, max(n // 8, 1), n)
        for col in ("lat", "lng"):
            values = table.column(col).to_numpy()[spot]
            table = table.set_column(table.column_names.index(col), col, pa.array(values))
    engine = engine_of(table, rng, post_max)
    tc = to.TextColumns(engine)
    names = table.column("name").to_pylist()
    for _ in range(4):
        q = random_query(rng, table, "best_match")
        text = q.where.text
        assert text is not None
        limit = int(rng.choice([1, 3, 10]))
        s = engine.autocomplete(text, q.lat, q.lng, limit=limit)
        rows, _prim, dist, kept = to.brute_text(
            tc, ro.query(q.lat, q.lng, k=limit, sort="best_match", text=text), limit=limit
        )
        assert [engine.snapshot.row_of(m.merchant_id) for m in s.merchants] == rows.tolist()
        assert [m.distance_m for m in s.merchants] == dist.tolist()
        for m, row in zip(s.merchants, rows.tolist(), strict=True):
            assert m.name == names[row]
            assert list(m.highlight) == tc.highlight(text, names[row]), (text, m.name)
        # the categories of the words kept, and the words dropped named (they were the
        # categories of every word, none when a word had been dropped, and unnamed); when
        # dropping finds nothing either, every word answers (empty) and none is dropped
        used = kept if len(rows) else len(query_words(text))
        want = tc.categories(text, used)[:limit]
        assert [c.path for c in s.categories] == [c for c, _ in want], text
        assert list(s.dropped_words) == query_words(text)[used:], text
        dropped += bool(s.dropped_words)
    return dropped


def test_category_tree_counts_and_labels() -> None:
    rng = np.random.default_rng(4)
    table = table_of(rng, 200, "city")
    engine = engine_of(table, rng, None)
    tree = {c.path: c for c in engine.categories()}
    cats = table.column("category").to_pylist()
    for path, c in tree.items():
        assert c.count == sum(1 for x in cats if x == path or x.startswith(path + "/"))
    assert tree["food/grocery"].label == "Grocery"
    assert tree["food/restaurant/cafe_coffee_tea"].label == "Café/Coffee/Tea"  # the source's


def test_an_old_snapshot_without_a_text_index_says_to_reload(tmp_path: Any) -> None:
    from geo_discovery.snapshot.pipeline import load

    csv = tmp_path / "shops.csv"
    csv.write_text(
        "id,name,lat,lng,category\n1,Joe's Pizza,40.7,-74.0,food\n2,Cafe,40.71,-74.0,x\n"
    )
    data = tmp_path / "data"
    report = load([csv], data_dir=data, settings=Settings(data_dir=data))
    assert report.snapshot is not None
    info = report.snapshot.manifest["derived"]["text"]
    assert info["terms"] >= 3 and info["bytes_per_merchant"] > 0
    engine = DiscoveryEngine.from_snapshot(data, settings=Settings(data_dir=data))
    assert engine.nearby(40.7, -74.0, 5, where=Filters(text="piza")).merchant_ids == ["generic:1"]
    import shutil

    shutil.rmtree(report.snapshot.path / "derived" / "text")  # as loaded before text search
    old = DiscoveryEngine.from_snapshot(data, settings=Settings(data_dir=data))
    assert old.nearby(40.7, -74.0, 5).merchant_ids  # everything else still works
    assert [c.path for c in old.categories()] == ["food", "x"]
    with pytest.raises(TextIndexMissingError, match="load the data again"):
        old.nearby(40.7, -74.0, 5, where=Filters(text="pizza"))


def test_a_text_index_of_another_cell_order_is_refused() -> None:
    rng = np.random.default_rng(9)
    table = table_of(rng, 50, "city")
    snap = Snapshot.from_table(table)
    stale = build_text(table, np.arange(50)[::-1])
    engine = DiscoveryEngine(Snapshot(table, snap.index, text=stale), settings=Settings())
    with pytest.raises(TextIndexMissingError, match="another order"):
        engine.nearby(40.75, -73.98, 3, where=Filters(text="pizza"))


def test_text_index_round_trip(tmp_path: Any) -> None:
    rng = np.random.default_rng(11)
    table = table_of(rng, 80, "city")
    snap = Snapshot.from_table(table)
    built = snap.text
    assert built is not None
    built.to_directory(tmp_path / "text")
    again = TextIndex.from_directory(tmp_path / "text", n_points=80)
    assert again.summary() == built.summary() and again.fits(snap.index.positions)
    assert [again.term(t) for t in range(again.n_terms)] == [
        built.term(t) for t in range(built.n_terms)
    ]
    assert again.format == built.format == TEXT_FORMAT and not again.outdated
    doc = json.loads((tmp_path / "text" / "text.json").read_text())
    (tmp_path / "text" / "text.json").write_text(json.dumps({**doc, "format": 1}))
    older = TextIndex.from_directory(tmp_path / "text", n_points=80)
    assert older.outdated and older.format == 1
    searches = f"format 1, this version searches format {TEXT_FORMAT}"
    with pytest.raises(TextIndexMissingError, match=searches):
        TextSearcher(older, snap.index.positions, snap.categories[0], snap.categories[1])
    older.to_directory(tmp_path / "again")  # written again, it stays what it is
    assert TextIndex.from_directory(tmp_path / "again").outdated
    from geo_discovery.errors import SnapshotError

    for fmt in (99, TEXT_FORMAT + 1, "2", None):  # newer or unknown: unreadable
        (tmp_path / "text" / "text.json").write_text(json.dumps({**doc, "format": fmt}))
        with pytest.raises(SnapshotError, match="unreadable"):
            TextIndex.from_directory(tmp_path / "text")


TEXT_PROFILE = RankingProfile(
    weights=(("wom", 1.5), ("volume", 0.4), ("district", 0.5)),
    gamma=0.9,
    radii=(("", 700.0), ("food", 300.0)),
    member_weights=(("own_visits", 1.2), ("own_category", 0.3)),
)


@PROPERTY
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 200),
    post_max=st.sampled_from([None, 0, 8]),
    page=st.integers(1, 9),
)
def test_text_with_a_learned_profile_and_a_member_equals_brute_force(
    seed: int, n: int, post_max: int | None, page: int
) -> None:
    """The search box for a member under a learned profile: relevance × profile quality ×
    member lift, the member's visited merchants only when they match the words; pages and
    cursor walks equal the oracle."""
    rng = np.random.default_rng(seed)
    table = table_of(rng, n, str(rng.choice(["city", "antimeridian"])))
    engine = engine_of(table, rng, post_max)
    tc = to.TextColumns(engine)
    ids = [str(x) for x in table.column("merchant_id").to_pylist()]
    for _ in range(3):
        visits = [str(x) for x in rng.choice(ids, size=int(rng.integers(1, 6)))] * 2
        q = replace(
            random_query(rng, table, "best_match"),
            ranking=Ranking(profile=TEXT_PROFILE) if rng.random() < 0.5 else None,
            member=Member(visits=visits),
        )
        res = engine.search(replace(q, explain=True))
        rows, prim, dist, _ = to.brute_text(tc, q, limit=q.k)
        assert res.positions.tolist() == rows.tolist(), q
        assert res.scores is not None and np.array_equal(res.scores, prim)
        assert np.array_equal(res.distances_m, dist)
        assert [e.score for e in res.explanations or []] == prim.tolist()
        for e in res.explanations or []:  # the parts explain multiply to the score: under
            # a profile, its scale held the relevance, which describe() multiplied again
            assert e.text is not None
            parts = (math.prod(p["factor"] for p in e.profile_parts.values()) * e.profile_scale
                     if e.model == "profile" else e.wom_term * e.district_factor)
            whole = e.decay * parts * (e.member_boost or 1.0) * e.text.relevance
            assert whole == pytest.approx(e.score, rel=1e-9, abs=1e-300), e.describe()
        everything, *_ = to.brute_text(tc, replace(q, cursor=None))
        assert ro.walk(engine, replace(q, cursor=None), page) == everything.tolist()


def test_autocomplete_refuses_and_answers_as_the_validated_query_does() -> None:
    """The fast lane (Planner.text_page) changes no answer and no error: each bad value
    gets the validated query's message and problems, and values it converts (numpy
    floats, a limit as text) the same page as best_match nearby with the text."""
    rng = np.random.default_rng(5)
    engine = engine_of(table_of(rng, 300, "city"), rng, None)

    def validated(text: Any, lat: Any, lng: Any, limit: Any) -> Any:
        q = NearbyQuery(lat, lng, engine.limits.count(limit, "limit"), sort="best_match",
                        where=Filters(text=text))  # fmt: skip
        if q.where.text is None:
            raise InvalidQueryError(f"q={text!r} is empty; allowed: text to search for")
        return engine.search(q)

    bad = [("   ", 40.75, -73.98, 5), (3, 40.75, -73.98, 5), (None, 40.75, -73.98, 5),
           ("x" * 201, 40.75, -73.98, 5), ("!!!", 40.75, -73.98, 5), ("pizza", 91.0, 0.0, 5),
           ("pizza", 40.75, "east", 5), ("pizza", math.nan, 0.0, 5), ("pizza", 40.75, 0.0, 0),
           ("pizza", 40.75, 0.0, "many"), (3, 91.0, 0.0, 5),
           (" ".join(["a"] * 17), 40.75, -73.98, 5)]  # fmt: skip
    for args in bad:
        with pytest.raises(InvalidQueryError) as got:
            engine.autocomplete(*args)
        with pytest.raises(InvalidQueryError) as want:
            validated(*args)
        assert (str(got.value), got.value.problems) == (str(want.value), want.value.problems)
    converted = [("piz", np.float64(40.75), -73.98, "3"),
                 ("  coffee  ", 40.75, np.float32(-73.98), np.int64(4)),
                 ("pizza zzzzqqq", 40.7, -74, 2)]  # fmt: skip
    for text, lat, lng, limit in converted:
        s = engine.autocomplete(text, lat, lng, limit)
        page = validated(text, lat, lng, limit)
        assert [m.merchant_id for m in s.merchants] == page.merchant_ids
        assert [m.distance_m for m in s.merchants] == page.distances_m.tolist()
        assert s.merchants, text  # a page to compare ("pizza zzzzqqq": the last word dropped)


def test_text_search_on_an_empty_snapshot_finds_nothing(tmp_path: Path) -> None:
    """Every word's weight is 0 with no merchant: the relevance bound divided by 0
    (autocomplete and nearby with q answered 500; the CLI exited 70)."""
    from geo_discovery.snapshot.pipeline import load

    (tmp_path / "h.csv").write_text("id,name,lat,lng\n")
    load([tmp_path / "h.csv"], data_dir=tmp_path / "d", allow_empty=True)
    engine = DiscoveryEngine.from_snapshot(tmp_path / "d")
    assert len(engine) == 0
    got = engine.autocomplete("ka", 60.17, 24.94)
    assert got.merchants == () and got.categories == ()
    for sort in ("best_match", "distance"):
        got = engine.nearby(60.17, 24.94, 10, sort=sort, where=Filters(text="kahvi"))
        assert len(got) == 0


def named(rng: np.random.Generator, names: list[str], n: int = 60) -> pa.Table:
    """A random table whose first rows have these ``names``."""
    table = table_of(rng, n, "city")
    every = [*names, *table.column("name").to_pylist()[len(names) :]]
    return table.set_column(table.column_names.index("name"), "name", pa.array(every))


def test_long_cjk_names_find_themselves_while_typed() -> None:
    """A CJK run is one word against the 16-word cap, however many pairs of characters it
    is searched as: a name of up to 64 CJK characters finds itself, typed whole or
    character by character, as brute force does; more is refused, saying so."""
    rng = np.random.default_rng(12)
    han = "".join(chr(int(c)) for c in rng.integers(0x4E00, 0x9FA5, 64))
    names = [*LONG_CJK, han, "ボードワン 博士像 " + han[:40]]
    table = named(rng, names)
    engine = engine_of(table, rng, None)
    tc = to.TextColumns(engine)
    lat, lng = table.column("lat").to_pylist(), table.column("lng").to_pylist()
    for i, name in enumerate(names):
        typed = [name[:j] for j in range(1, len(name) + 1) if not name[:j].endswith(" ")]
        for text in typed:
            s = engine.autocomplete(text, lat[i], lng[i], limit=5)
            rows, *_ = to.brute_text(tc, ro.query(lat[i], lng[i], 5, text=text), limit=5)
            got = [engine.snapshot.row_of(m.merchant_id) for m in s.merchants]
            assert got == rows.tolist(), text
            assert i in got or len(text) < 6, text  # (ボード: other names have it too)
        res = engine.nearby(lat[i], lng[i], 3, sort="best_match", where=Filters(text=name))
        assert res.positions[0] == i
    with pytest.raises(InvalidQueryError, match="q has 65 Chinese, Japanese or Korean "
                                                "characters; allowed: at most 64"):  # fmt: skip
        engine.autocomplete(han + "字", lat[3], lng[3])
    with pytest.raises(InvalidQueryError, match="q has 17 words; allowed: at most 16"):
        engine.autocomplete(" ".join([han[:10]] * 2 + ["w"] * 15), lat[0], lng[0])
    most = " ".join([han[:32], han[32:]] + ["w"] * 14)  # 16 words, 64 CJK characters
    assert len(engine.planner.text_query(most).words) == 31 + 31 + 14
    res = engine.nearby(lat[3], lng[3], 3, sort="best_match", where=Filters(text=most))
    assert res.positions.tolist() == [3]  # the w's dropped: they match nothing


def test_equivalent_forms_of_a_name_find_each_other() -> None:
    """Composed or decomposed kana and Hangul, halfwidth katakana with voicing marks and
    invisible format characters inside a word: the index and the query normalise them
    alike, whichever form the name was stored in and the query typed."""
    rng = np.random.default_rng(13)
    nfd = functools.partial(unicodedata.normalize, "NFD")
    names = ["ボードワン博士像", nfd("탤러해시 카페"), "ｶﾞｽﾄ 渋谷店", "Ca\u00adfé Mo\u200dcha"]
    queries = {
        0: ["ボードワン", nfd("ボードワン"), "ﾎﾞｰﾄﾞﾜﾝ博士像", "ボード\u200dワン"],
        1: ["탤러해시", nfd("탤러해시"), "탤러\u00ad해시 카페"],
        2: ["ガスト", nfd("ガスト"), "ｶﾞｽﾄ", "ガスト渋谷"],
        3: ["cafe mocha", "ca\u00adfe", "ca\u200dfe\ufeff mo\u2060cha", nfd("café")],
    }
    table = named(rng, names)
    engine = engine_of(table, rng, None)
    tc = to.TextColumns(engine)
    lat, lng = table.column("lat").to_pylist(), table.column("lng").to_pylist()
    for i, texts in queries.items():
        for text in texts:
            q = ro.query(lat[i], lng[i], 5, text=text)
            assert_same(engine, tc, q)
            assert i in engine.search(replace(q, k=60)).positions.tolist(), text
            hl = engine.autocomplete(text, lat[i], lng[i], limit=60)
            mine = next(m for m in hl.merchants if engine.snapshot.row_of(m.merchant_id) == i)
            assert mine.highlight and list(mine.highlight) == tc.highlight(text, names[i])


def test_an_index_of_an_older_format_is_refused_until_reloaded(tmp_path: Path) -> None:
    """An index written before the tokenisation changed (format 1) holds terms made the
    old way: text queries say to load the data again, everything else answers."""
    from geo_discovery.search.textindex import TEXT_FORMAT
    from geo_discovery.snapshot.pipeline import load

    csv = tmp_path / "shops.csv"
    csv.write_text("id,name,lat,lng,category\n1,ｶﾞｽﾄ,35.66,139.7,food/restaurant\n"
                   "2,Cafe,35.661,139.7,food/cafe\n")  # fmt: skip
    data = tmp_path / "data"
    report = load([csv], data_dir=data, settings=Settings(data_dir=data))
    assert report.snapshot is not None
    doc_path = report.snapshot.path / "derived" / "text" / "text.json"
    doc = json.loads(doc_path.read_text())
    assert doc["format"] == TEXT_FORMAT == 5
    doc["format"] = 1  # as written before names were NFKC-composed
    doc_path.write_text(json.dumps(doc))
    old = DiscoveryEngine.from_snapshot(data, settings=Settings(data_dir=data))
    assert old.snapshot.text is not None and old.snapshot.text.outdated
    assert old.nearby(35.66, 139.7, 5).merchant_ids  # everything else still works
    assert old.warm() is old  # serve warms a snapshot: it answered 503 for every endpoint
    assert {c.path: c.label for c in old.categories()}["food/cafe"]
    for ask in (lambda: old.nearby(35.66, 139.7, 5, where=Filters(text="ガスト")),
                lambda: old.autocomplete("ガス", 35.66, 139.7)):  # fmt: skip
        with pytest.raises(TextIndexMissingError, match=r"older version.*load the data again"):
            ask()
    load([csv], data_dir=data, settings=Settings(data_dir=data))  # loading again fixes it
    new = DiscoveryEngine.from_snapshot(data, settings=Settings(data_dir=data))
    assert new.nearby(35.66, 139.7, 5, where=Filters(text="ガスト")).merchant_ids == ["generic:1"]


MIXED_NAMES = ["McDonald´s", "Domino´s Pizza", "Chez l'Italien", "Bourse de l'Immobilier",
               "Muà Gelatieri d’Italia", "Bistro L'Express", "Café d’Époque",
               "مقهى قَهْوَة", "أمل", "آتلیه", "ローソン 宮津", "锦江之星（福州站）",
               "ローソン 宮前", "ローソン 京都駅前", "O'Brien's Pub", "Joe's Pizza",
               "D'Agostino Market", "Dellarte Bakery", "ボン・レーヴ"]  # fmt: skip
MIXED_QUERIES = {
    "acute": {0: ["mcdonald's", "mcdonalds", "McDonald´s", "mcdon"],
              1: ["domino's", "domino´s pizza", "dominos"]},
    "apostrophe": {2: ["litalien", "l'italien", "chez l'italien", "L’Italien", "l'ital"],
                   3: ["l'immobilier", "bourse de limmobilier", "l'immo"],
                   4: ["ditalia", "d'italia", "gelatieri d’italia"],
                   5: ["lexpress", "bistro l'express"],
                   6: ["d'epoque", "café d'époque", "d´Époque"],
                   16: ["dagostino", "d'agostino", "D’Agostino market", "dagost"]},
    "arabic": {7: ["قهوة", "قهوه", "مقهى قهوة"], 8: ["امل", "أمل"],
               9: ["ات", "اتل", "آتلیه", "اتليه"]},
    "cjk": {10: ["ローソン宮津", "ローソン 宮津", "ソン宮"], 18: ["ボンレーヴ", "ボン・レーヴ"],
            11: ["锦江之星福州站", "锦江之星（福州站）", "之星福州"]},
    "english": {14: ["o'brien's", "obriens pub"], 15: ["joe's", "joes pizza"]},
}  # fmt: skip


@functools.lru_cache(maxsize=1)
def mixed_store() -> tuple[pa.Table, DiscoveryEngine, to.TextColumns]:
    rng = np.random.default_rng(14)
    table = named(rng, MIXED_NAMES)
    engine = engine_of(table, rng, None)
    return table, engine, to.TextColumns(engine)


@pytest.mark.parametrize("rule", list(MIXED_QUERIES))
def test_apostrophes_arabic_and_cjk_gaps_find_the_name_as_brute_force_does(rule: str) -> None:
    """``´`` as an apostrophe, apostrophes in French/Italian names, Arabic and Persian folded, a CJK
    name typed without its space or punctuation: the search finds the merchant, every
    word kept and matched without a typo (not by luck: ``mcdonalds`` is one typo from the
    ``mcdonald`` that ``McDonald´s`` was), as the oracle does, and highlights what the
    oracle does, in the name as stored."""
    table, engine, tc = mixed_store()
    lat, lng = table.column("lat").to_pylist(), table.column("lng").to_pylist()
    for i, texts in MIXED_QUERIES[rule].items():
        for text in texts:
            q = ro.query(lat[i], lng[i], 5, text=text)
            assert_same(engine, tc, q)
            res = engine.search(replace(q, k=60, explain=True))
            assert i in res.positions.tolist() and not res.dropped_words, text
            mine = (res.explanations or [])[res.positions.tolist().index(i)].text
            assert mine is not None and all(w.typos == 0 for w in mine.words), (text, mine)
            hl = engine.autocomplete(text, lat[i], lng[i], limit=60)
            got = next(m for m in hl.merchants if engine.snapshot.row_of(m.merchant_id) == i)
            assert got.highlight and list(got.highlight) == tc.highlight(text, MIXED_NAMES[i])
    if rule == "apostrophe":
        assert tc.highlight("l'italien", MIXED_NAMES[2]) == [(5, 14)]  # "l'Italien"
        s = engine.autocomplete("l'italien", lat[2], lng[2], 60)
        assert [tuple(h) for h in s.merchants[0].highlight or ()] == [(5, 14)]
    if rule == "arabic":
        assert tc.highlight("قهوة", MIXED_NAMES[7]) == [(5, 12)]  # marks with their letters
    if rule == "cjk":
        assert tc.highlight("ローソン宮津", MIXED_NAMES[10]) == [(0, 7)]
        res = engine.nearby(lat[12], lng[12], 5, sort="best_match",
                            where=Filters(text="ローソン宮津"))  # fmt: skip
        first = table.column("name")[int(res.positions[0])].as_py()
        assert "ローソン 宮津" in first and not res.dropped_words, first  # not the one nearby
