"""The vocabulary walk finds exactly the terms the published rules match, with their
quality: checked term by term against ``rapidfuzz.distance.OSA`` (``text_oracle``)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pyarrow as pa
import pytest
import text_oracle as to
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geo_discovery.errors import InvalidQueryError
from geo_discovery.search.textindex import build_text_index
from geo_discovery.search.textmatch import TextSearcher
from geo_discovery.search.textnorm import tokens
from geo_discovery.search.textvocab import max_distance, typo_budget

ALPHABET = "abcdeé星"


def searcher_of(terms: list[str]) -> TextSearcher:
    n = len(terms)
    table = pa.table({"name": terms, "category": ["unknown"] * n})
    index = build_text_index(table)
    s = TextSearcher(index, np.arange(n), np.zeros(n, dtype=np.int32), ["unknown"])
    s.names = list(terms)  # type: ignore[attr-defined]  # for the oracle's counts
    return s


def vocabulary(s: TextSearcher) -> list[str]:
    return [s.index.term(t) for t in range(s.index.n_terms)]


def check_word(s: TextSearcher, word: str, *, last: bool) -> None:
    text = word if last else f"{word} zzzz"
    wt = s.query(text).words[0]
    assert wt.word == word
    names = Counter(t for name in s.names for t in set(tokens(name)))
    own = sum(n for t, n in names.items() if t == word or (last and t.startswith(word)))
    for t, term in enumerate(vocabulary(s)):
        want = to.word_quality(word, term, last=last, typos=own < to.TYPO_DF)
        got = wt.quality_of(t, s.index.term_off)
        assert got == want, (word, term, last, got, want)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.text(alphabet="abc", min_size=1, max_size=12), min_size=1, max_size=120),
    st.text(alphabet="abc", min_size=1, max_size=12),
    st.booleans(),
)
def test_walk_matches_the_rules_term_by_term(terms: list[str], word: str, last: bool) -> None:
    s = searcher_of(terms)
    check_word(s, word, last=last)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_near_misses_of_real_terms(data: st.DataObject) -> None:
    """Words one or two edits from a term (the interesting cases), any alphabet."""
    terms = data.draw(
        st.lists(st.text(alphabet=ALPHABET, min_size=1, max_size=11), min_size=1, max_size=60)
    )
    s = searcher_of(terms)
    vocab = vocabulary(s)
    if not vocab:
        return
    base = data.draw(st.sampled_from(vocab))
    edits = data.draw(st.integers(0, 2))
    word = base
    for _ in range(edits):
        i = data.draw(st.integers(0, max(len(word) - 1, 0)))
        op = data.draw(st.sampled_from(["sub", "del", "ins", "swap"]))
        c = data.draw(st.sampled_from(ALPHABET))
        if op == "sub" and word:
            word = word[:i] + c + word[i + 1 :]
        elif op == "del" and len(word) > 1:
            word = word[:i] + word[i + 1 :]
        elif op == "ins":
            word = word[:i] + c + word[i:]
        elif op == "swap" and i + 1 < len(word):
            word = word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    word = to.query_words(word)[0] if to.query_words(word) else base
    if len(to.query_words(word)) != 1:
        return
    check_word(s, word, last=data.draw(st.booleans()))


def _edits(word: str) -> set[str]:
    out = set()
    for i in range(len(word) + 1):
        out.add(word[:i] + "x" + word[i:])
        if i < len(word):
            out.add(word[:i] + "x" + word[i + 1 :])
            out.add(word[:i] + word[i + 1 :])
        if i + 1 < len(word):
            out.add(word[:i] + word[i + 1] + word[i] + word[i + 2 :])
    return out - {""}


def test_every_length_and_edit_pattern() -> None:
    """Words of 3 to 11 letters and every word one or two edits from them (substitution,
    deletion, insertion, transposition, anywhere): the budget boundaries by length, the
    first letter rule, prefixes."""
    bases = ["abcdefghijk"[:n] for n in range(3, 12)]
    vocab = set(bases)
    for b in bases:
        for e in _edits(b):
            vocab |= {e} | _edits(e)
    terms = sorted(vocab)
    s = searcher_of(terms)
    rng = np.random.default_rng(5)
    words = bases + [str(w) for w in rng.choice(terms, 150, replace=False)]
    for word in words:
        for last in (False, True):
            check_word(s, word, last=last)


def test_budgets() -> None:
    assert [typo_budget(n) for n in (1, 4, 5, 8, 9, 20)] == [0, 0, 1, 1, 2, 2]
    assert [max_distance(m) for m in (1, 2, 3, 4, 5, 6, 7, 8, 9)] == [0, 0, 0, 1, 1, 1, 1, 1, 2]


def test_frequent_words_match_themselves_not_their_typos() -> None:
    s = searcher_of(["pizza"] * 100 + ["piazza", "pizzas", "pizzq"])
    off = s.index.term_off
    q = s.query("pizza zz").words[0]
    assert q.quality_of(s.index.term_id("pizza"), off) == 1.0
    assert q.quality_of(s.index.term_id("piazza"), off) == 0.0  # exact matches are plenty
    few = searcher_of(["pizza"] * 99 + ["piazza"])
    rare = few.query("pizza zz").words[0]
    piazza = few.index.term_id("piazza")
    assert rare.quality_of(piazza, few.index.term_off) == 0.5  # 99 merchants: typos count


def test_examples_from_the_search_box() -> None:
    s = searcher_of(["pizza", "pizzeria", "pizazz", "piazza", "starbucks", "joes", "plaza"])
    q = {w.word: w for w in s.query("piza").words}["piza"]
    off = s.index.term_off
    got = {vocabulary(s)[t]: q.quality_of(t, off) for t in range(s.index.n_terms)}
    assert got["pizza"] == 0.5  # one letter left out of a five-letter word
    assert got["pizazz"] == 0.9 * (4 + 6) / 12  # typed as a prefix: 4 of its 6 letters
    assert got["plaza"] == 0.0 and got["piazza"] == 0.0  # two edits / no
    star = s.query("tsarbucks starbuks").words
    assert star[0].quality_of(s.index.term_id("starbucks"), off) == 0.0  # first letter stays
    assert star[1].quality_of(s.index.term_id("starbucks"), off) == 0.5


def test_queries_without_words_or_with_too_many_are_refused() -> None:
    s = searcher_of(["a"])
    with pytest.raises(InvalidQueryError, match="no letter or digit"):
        s.query("!!! ...")
    with pytest.raises(InvalidQueryError, match="at most 16"):
        s.query(" ".join(["w"] * 17))
