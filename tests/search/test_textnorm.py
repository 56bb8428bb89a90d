"""Text normalisation: what counts as the same word, and the ASCII fast path agreeing with
the general one."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geo_discovery.search.textnorm import (
    MAX_TERM_CHARS,
    address_tokens,
    is_cjk,
    normalize,
    query_words,
    token_spans,
    tokens,
)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("café", "cafe"),
        ("CAFÉ", "cafe"),
        ("Cafe\u0301", "cafe"),  # a combining accent typed separately
        ("Hämeentie", "hameentie"),
        ("joe's", "joes"),
        ("Joe’s", "JOES"),
        ("Barnes & Noble", "barnes and noble"),
        ("Straße", "strasse"),
        ("Łódź", "lodz"),
        ("Ørsted", "orsted"),
        ("ＳＴＡＲＢＵＣＫＳ", "starbucks"),
        ("ﬁsh", "fish"),
        ("Crème   Brûlée!!", "creme brulee"),
        ("7-Eleven", "7 eleven"),
    ],
)
def test_the_same_word_normalises_the_same(a: str, b: str) -> None:
    assert normalize(a) == normalize(b)


def test_cjk_runs_are_unigrams_and_bigrams() -> None:
    assert tokens("星巴克") == ["星", "巴", "克", "星巴", "巴克"]
    assert tokens("星巴克咖啡 Coffee") == [
        *["星", "巴", "克", "咖", "啡"],
        *["星巴", "巴克", "克咖", "咖啡"],
        "coffee",
    ]
    assert query_words("星巴克") == ["星巴", "巴克"]
    assert query_words("星") == ["星"]
    assert tokens("한식당") == ["한", "식", "당", "한식", "식당"]  # Hangul stays composed
    assert tokens("ﾗｰﾒﾝ") == tokens("ラーメン")  # halfwidth katakana folds


def test_marks_of_other_scripts_stay_in_their_word() -> None:
    hindi = "नमस्ते दिल्ली"
    assert len(tokens(hindi)) == 2
    assert tokens("ร้านอาหาร") == ["ร้านอาหาร"]


def test_long_tokens_are_cut() -> None:
    assert tokens("a" * 50) == ["a" * MAX_TERM_CHARS]
    assert query_words("b" * 40) == ["b" * MAX_TERM_CHARS]


def test_address_tokens_are_the_street() -> None:
    assert address_tokens("1567 SAINT PETERS AVE, BRONX, NY 10461") == ["saint", "peters", "ave"]
    assert address_tokens("42nd St") == ["42nd", "st"]
    assert address_tokens(None) == [] and address_tokens("") == []


def test_spans_point_at_the_original_text() -> None:
    text = "Famous Joe's Pizza & Café"
    for tok, start, end in token_spans(text):
        assert normalize(text[start:end]) == tok
    assert [t for t, _, _ in token_spans("Hämeentie 星巴克")] == tokens("Hämeentie 星巴克")


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="ascii"), max_size=60))
def test_the_ascii_fast_path_agrees_with_the_general_one(text: str) -> None:
    # token_spans takes the general path for any non-ASCII text: append one and compare
    general = [t for t, _, _ in token_spans(text + " é")][:-1]
    assert tokens(text) == general
    assert [t for t, _, _ in token_spans(text)] == tokens(text)
    for tok, start, end in token_spans(text):  # each span is the word its token came from
        raw = text[start:end]
        assert re.fullmatch(r"[A-Za-z0-9'`]+|&", raw)
        assert tok == ("and" if raw == "&" else re.sub("['`]", "", raw.lower())[:MAX_TERM_CHARS])
        if raw != "&":  # a word's span is its whole run of word characters
            assert not re.match(r"[A-Za-z0-9'`]", text[end : end + 1])
            assert start == 0 or not re.match(r"[A-Za-z0-9'`]", text[start - 1])


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_tokens_are_normal_forms(text: str) -> None:
    toks = tokens(text)
    assert all(t and len(t) <= MAX_TERM_CHARS for t in toks)
    for t in toks:
        if not any(is_cjk(c) for c in t):
            assert tokens(t) == [t]  # a token is its own normal form
    assert set(query_words(text)) <= set(toks)  # every query word can be indexed


def test_folding_reaches_a_fixed_point() -> None:
    """Characters whose compatibility form is a capital or an apostrophe pair fold all the
    way (found by the property test above): modifier capitals, Greek symbol forms, ŉ."""
    assert tokens("ᴬᴮ") == ["ab"] and tokens("ϒ") == ["υ"] and tokens("ϲ") == ["σ"]
    assert tokens("ŉ") == ["n"]
    for ch in ("゛", "ゟ"):  # a CJK character stays one character (highlight spans)
        assert all(len(t) == 1 for t, s, e in token_spans(ch) if e - s == 1)
