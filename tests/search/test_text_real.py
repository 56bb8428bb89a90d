"""Text search on the real NYC merchants (food stores, DOHMH restaurants, Airbnb): the
engine's pages equal brute force for every sort, category words find their categories
first, and the search box's examples behave as a person expects."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import ranking_oracle as ro
import text_oracle as to

from geo_discovery.engine import DiscoveryEngine
from geo_discovery.ingest.taxonomy import category_synonyms
from geo_discovery.query import SORTS, Filters
from geo_discovery.search.textindex import category_words

pytestmark = pytest.mark.real_data

TIMES_SQUARE = (40.758, -73.985)
POINTS = [
    TIMES_SQUARE,
    (40.6782, -73.9442),  # Crown Heights
    (40.7282, -73.7949),  # Fresh Meadows
    (40.8448, -73.8648),  # Morris Park
    (40.5795, -74.1502),  # Staten Island
    (40.7128, -74.0060),  # Lower Manhattan
]
QUERIES = (
    "pizza",
    "piza",
    "coffee",
    "grocery",
    "bodega",
    "joe's pi",
    "starbuks",
    "j",
    "famous ray's pizza",
    "trader joes",
    "hell's kitchen studio",
    "zzyzx pizza",
)


@pytest.fixture(scope="module")
def columns(nyc_engine: DiscoveryEngine) -> to.TextColumns:
    return to.TextColumns(nyc_engine)


@pytest.mark.parametrize("text", QUERIES)
def test_pages_equal_brute_force_for_every_sort(
    nyc_engine: DiscoveryEngine, columns: to.TextColumns, text: str
) -> None:
    for lat, lng in POINTS[:3]:
        for sort in SORTS:
            for radius in (None, 1500.0):
                q = ro.query(lat, lng, 20, radius_m=radius, sort=sort, text=text)
                res = nyc_engine.search(q)
                rows, prim, dist, _ = to.brute_text(columns, q, limit=20)
                assert res.positions.tolist() == rows.tolist(), (text, sort, lat, radius)
                assert np.array_equal(res.distances_m, dist)
                if sort == "best_match":
                    assert res.scores is not None and np.array_equal(res.scores, prim)


def test_a_cursor_walk_with_text_covers_the_answer(
    nyc_engine: DiscoveryEngine, columns: to.TextColumns
) -> None:
    q = ro.query(*TIMES_SQUARE, 25, radius_m=3000.0, text="pizza")
    rows, *_ = to.brute_text(columns, q)
    assert ro.walk(nyc_engine, q, page=25) == rows.tolist()


@pytest.mark.parametrize("word", ["pizza", "coffee", "grocery"])
def test_category_words_find_their_categories_first(nyc_engine: DiscoveryEngine, word: str) -> None:
    syn = category_synonyms()
    firsts, shares = [], []
    for lat, lng in POINTS:
        res = nyc_engine.nearby(lat, lng, 10, sort="best_match", where=Filters(text=word))
        assert len(res) == 10
        of = [word in {w for w, _ in category_words(h.category, syn)} for h in res]
        firsts.append(of[0])
        shares.append(sum(of) / len(of))
    assert sum(firsts) >= len(POINTS) - 1, firsts
    assert np.mean(shares) >= 0.8, shares


def test_piza_near_times_square_finds_pizza_with_the_typo_explained(
    nyc_engine: DiscoveryEngine,
) -> None:
    res = nyc_engine.nearby(
        *TIMES_SQUARE, 10, sort="best_match", where=Filters(text="piza"), explain=True
    )
    assert len(res) == 10
    assert all("pizza" in h.category or "pizza" in h.name.lower() for h in res)
    assert res[0].distance_m < 600
    word = res[0].explanation.text.words[0]  # type: ignore[union-attr]
    assert (word.word, word.typos, word.prefix) == ("piza", 1, False)
    assert word.term == "pizza"


def test_autocomplete_joe_lists_joes_places_nearby(nyc_engine: DiscoveryEngine) -> None:
    s = nyc_engine.autocomplete("joe", *TIMES_SQUARE, limit=8)
    assert len(s.merchants) == 8
    for m in s.merchants:
        assert "joe" in m.name.lower() and m.highlight
        a, b = m.highlight[0]
        assert m.name[a:b].lower().replace("'", "").startswith("joe")
    assert s.merchants[0].distance_m < 1000
    pizza = nyc_engine.autocomplete("joe's pi", *TIMES_SQUARE, limit=5)
    assert all("pi" in m.name.lower() for m in pizza.merchants)


def test_explain_multiplies_back_to_the_score(nyc_engine: DiscoveryEngine) -> None:
    q = ro.query(*TIMES_SQUARE, 20, text="coffee")
    res = nyc_engine.search(replace(q, explain=True))
    for h in res:
        e = h.explanation
        assert e is not None and e.text is not None
        assert e.score == h.score
        parts = e.text.relevance * e.decay * e.wom_term * e.district_factor
        assert parts == pytest.approx(h.score, rel=1e-12)
        assert e.to_dict()["text"]["words"][0]["field"] in ("name", "category", "brand")


@pytest.mark.parametrize("text", ["food", "groc", "restaurant", "pizza", "caf", "bak"])
def test_autocomplete_categories_equal_brute_force(
    nyc_engine: DiscoveryEngine, columns: to.TextColumns, text: str
) -> None:
    """On the real NYC merchants: the suggested categories, parents no merchant carries
    itself included (``food``), are the oracle's, in its order."""
    got = [c.path for c in nyc_engine.autocomplete(text, 40.758, -73.9855, limit=8).categories]
    assert got == [c for c, _ in columns.categories(text)[:8]]
    assert got, text
