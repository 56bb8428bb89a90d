"""Text normalisation: what counts as the same word, and the ASCII fast path agreeing with
the general one."""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from geo_discovery.search.textnorm import (
    MAX_TERM_CHARS,
    address_tokens,
    is_cjk,
    normalize,
    query_words,
    token_spans,
    tokens,
    typed_words,
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
@example("L'Italien d'l'xy qu'l'xy 'l'xy x'l'xy l'2 l'' dell`arte s' t'_ab l'a'b j's")
@example("Chez l'Italien & O'Brien's, Joe's, Dunkin' Donuts, l''xy, L'A.O.C, J'S DELI")
def test_the_ascii_fast_path_agrees_with_the_general_one(text: str) -> None:
    # token_spans takes the general path for any non-ASCII text: append one and compare
    general = [t for t, _, _ in token_spans(text + " é")][:-1]
    assert tokens(text) == general
    assert [t for t, _, _ in token_spans(text)] == tokens(text)
    for tok, start, end in token_spans(text):  # each span is the word its token came from
        raw = text[start:end]
        assert re.fullmatch(r"[A-Za-z0-9'`]+|&", raw)
        if raw == "&":
            assert tok == "and"
            continue
        # a word's span is its whole run of word characters
        assert not re.match(r"[A-Za-z0-9'`]", text[start - 1 : start] if start else "")
        assert not re.match(r"[A-Za-z0-9'`]", text[end : end + 1])
        assert tok == re.sub("['`]", "", raw.lower())[:MAX_TERM_CHARS]


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
    # a kana whose compatibility form is two characters (ゟ → より) or a space and a mark
    # (゛): each token spans the text it came from (highlights)
    assert tokens("ゟ") == tokens("より") and tokens("゛") == ["\u3099"]
    for ch in ("゛", "ゟ", "ｶﾞ"):
        assert all(tok in tokens(ch[s:e]) for tok, s, e in token_spans(ch))


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("ボードワン", unicodedata.normalize("NFD", "ボードワン")),  # decomposed kana
        ("ボードワン博士像", "ﾎﾞｰﾄﾞﾜﾝ博士像"),  # halfwidth katakana with voicing marks
        ("ガスト", "ｶﾞｽﾄ"),
        ("パン", "ﾊﾟﾝ"),  # the semi-voiced mark
        ("탤러해시", unicodedata.normalize("NFD", "탤러해시")),  # decomposed Hangul
        ("한식당", unicodedata.normalize("NFKD", "한식당")),
        ("하", "ㅎㅏ"),  # compatibility jamo compose like the conjoining ones
        ("アパート", "㌀"),  # a squared word is its kana
        ("café", unicodedata.normalize("NFD", "café")),
        ("नमस्ते", unicodedata.normalize("NFD", "नमस्ते")),
        ("ऩ", "न\u093c"),  # a Devanagari letter with nukta, composed or not
        ("ệ", "e\u0323\u0302"),  # marks in either order
        ("e\u0323\u0302", "e\u0302\u0323"),
    ],
)
def test_equivalent_text_gives_the_same_tokens(a: str, b: str) -> None:
    """Canonically or compatibly equivalent text (NFC/NFD, halfwidth/fullwidth) is one
    text to the index and to queries."""
    assert tokens(a) == tokens(b) and query_words(a) == query_words(b)
    assert typed_words(a) == typed_words(b)


@pytest.mark.parametrize(
    "ch",
    ["\u00ad", "\u200c", "\u200d", "\u2060", "\ufeff", "\u200e", "\u200f", "\u202a",
     "\u202c", "\u2066", "\u2069", "\u061c", "\u180e", "\ufe0f", "\u034f"],
)  # fmt: skip
def test_invisible_format_characters_do_not_split_a_word(ch: str) -> None:
    """Soft hyphen, ZWNJ/ZWJ, word joiner, BOM, bidi marks, variation selectors: dropped
    inside a word (and a CJK run), at its edges, in the index and in queries alike."""
    assert tokens(f"ca{ch}fe") == ["cafe"] and query_words(f"ca{ch}fe") == ["cafe"]
    assert tokens(f"{ch}cafe{ch} bar") == ["cafe", "bar"]
    assert tokens(f"星巴{ch}克") == tokens("星巴克")
    assert query_words(f"星巴{ch}克") == ["星巴", "巴克"]
    assert [(t, s, e) for t, s, e in token_spans(f"ca{ch}fe x")] == [("cafe", 0, 5), ("x", 6, 7)]


def test_an_ideographic_variation_selector_keeps_the_run() -> None:
    assert tokens("葛\U000e0100飾区") == tokens("葛飾区")


def test_the_zero_width_space_still_separates_words() -> None:
    """U+200B marks word boundaries where words have no spaces (Thai, Khmer, Myanmar)."""
    assert tokens("ca\u200bfe") == ["ca", "fe"]
    assert tokens("\u200bcafe\ufeff") == ["cafe"]


def test_spans_of_composed_text_cover_what_it_came_from() -> None:
    assert token_spans("ｶﾞｽﾄ") == [
        ("ガ", 0, 2), ("ス", 2, 3), ("ト", 3, 4), ("ガス", 0, 3), ("スト", 2, 4),
    ]  # fmt: skip
    nfd = unicodedata.normalize("NFD", "탤러")  # 2 syllables, 5 jamo
    assert token_spans(nfd) == [("탤", 0, 3), ("러", 3, 5), ("탤러", 0, 5)]
    assert token_spans("Cafe\u0301 ca\u00adfe") == [("cafe", 0, 5), ("cafe", 6, 11)]


def test_typed_words_keep_a_cjk_run_whole() -> None:
    """What a person typed as one word: a CJK run is one however long (the query's word
    cap counts these), its pairs are the query's words."""
    name = "兵庫教育大学 神戸ハーバーランドキャンパス"
    assert typed_words(name) == ["兵庫教育大学", "神戸ハーバーランドキャンパス"]
    assert len(query_words(name)) == 5 + 13
    assert typed_words("星巴克coffee & Tea") == ["星巴克", "coffee", "and", "tea"]
    assert typed_words("joe's pi") == query_words("joe's pi") == ["joes", "pi"]
    assert typed_words("") == [] and typed_words(None) == []


FORMAT_CHARS = ("\u00ad", "\u200c", "\u200d", "\u2060", "\ufeff", "\u200e", "\u202b",
                "\ufe0f", "\U000e0100")  # fmt: skip
# letters, marks and pieces that compose: Latin, Hangul jamo (conjoining and compatibility)
# and syllables, kana with voicing marks, halfwidth katakana, Indic and Tamil vowel parts
COMPOSING = st.sampled_from(
    [*"aeoAEnNcsz", *map(chr, range(0x300, 0x310)), "\u0323", "\u0327",
     *map(chr, range(0x1100, 0x1106)), *map(chr, range(0x1161, 0x1166)),
     *map(chr, range(0x11A8, 0x11AC)), *"ㄱㄴㅏㅓ가각한", *"カキハヒかはウゝヽ",
     "\u3099", "\u309a", "゛", "゜", "ゟ", *"ｶｷﾊﾋｳﾞﾟ", "㌀", "ﬁ", "½",
     "\u0928", "\u093c", "\u0b92", "\u0bc6", "\u0bd7", "\u0cbf", "\u0cd5",
     " ", "'", "&", *FORMAT_CHARS]
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(max_size=30), st.lists(COMPOSING, max_size=14).map("".join)))
@example("McDonald\u00b4s l\u1ffdx")
@example("ローソン 宮津、锦江之星（福州站）")
def test_every_normal_form_gives_the_same_tokens(text: str) -> None:
    """NFC, NFD, NFKC and NFKD of any text tokenise as the text does, for the index, the
    query and the highlights; each span's text holds its token. (NFKC makes the acute
    accent ´, an apostrophe to the index, a space and a combining accent: compatibility
    forms are compared with it as the apostrophe it means.)"""
    want = (tokens(text), query_words(text), typed_words(text))
    for form in ("NFC", "NFD", "NFKC", "NFKD"):
        meant = text.translate({0xB4: "'", 0x1FFD: "'"}) if "K" in form else text
        other = unicodedata.normalize(form, meant)  # type: ignore[arg-type]
        assert (tokens(other), query_words(other), typed_words(other)) == want, form
    spans = token_spans(text)
    assert [t for t, _, _ in spans] == want[0]
    for tok, start, end in spans:
        assert tok in tokens(text[start:end]), (tok, start, end)


@settings(max_examples=300, deadline=None)
@given(
    st.text(max_size=24),
    st.lists(st.tuples(st.integers(0, 24), st.sampled_from(FORMAT_CHARS)), max_size=4),
)
def test_format_characters_anywhere_change_no_token(
    text: str, inserts: list[tuple[int, str]]
) -> None:
    typed = text
    for i, ch in inserts:
        typed = typed[:i] + ch + typed[i:]
    assert tokens(typed) == tokens(text)
    assert query_words(typed) == query_words(text)


# --------------------------------------------------------------------------- apostrophes
APOSTROPHES = ("'", "’", "ʼ", "`", "´", "‘", "\uff07", "\u1ffd")  # ＇ and ῾: NFKC/NFC to one


@pytest.mark.parametrize("ap", APOSTROPHES)
def test_every_apostrophe_survives_nfkc_as_an_apostrophe(ap: str) -> None:
    """Each apostrophe joins a word the same way: ´ too (NFKC would make it a space and a
    combining accent: "McDonald´s" was mcdonald, s)."""
    assert tokens(f"McDonald{ap}s") == ["mcdonalds"] == query_words(f"mcdonald{ap}s")
    assert tokens(f"Chez l{ap}Italien") == ["chez", "litalien"]
    assert token_spans(f"McDonald{ap}s x") == [("mcdonalds", 0, 10), ("x", 11, 12)]
    assert token_spans(f"L{ap}Express") == [("lexpress", 0, 9)]


def test_the_acute_accent_is_an_apostrophe() -> None:
    assert tokens("McDonald´s") == ["mcdonalds"]
    assert query_words("Domino´s Pizza") == query_words("domino's pizza") == ["dominos", "pizza"]
    assert tokens("Cafe\u0301 Joe´s") == ["cafe", "joes"]  # a combining acute is still an accent


@pytest.mark.parametrize(
    ("name", "want"),
    [
        # an elided article stays with its word (no French elision filter): in US data
        # D'Agostino, D'Ambrosio and N'Hance are typed joined as often as not
        ("D'Agostino", ["dagostino"]),
        ("D'Ambrosio Jeep", ["dambrosio", "jeep"]),
        ("N'Hance", ["nhance"]),
        ("Chez l'Italien", ["chez", "litalien"]),
        ("J'S Deli", ["js", "deli"]),
        ("Joe's", ["joes"]),
        ("O'Brien's Pub", ["obriens", "pub"]),
        ("McDonald's", ["mcdonalds"]),
        ("Dunkin' Donuts", ["dunkin", "donuts"]),
        ("Rock'n'Roll Diner", ["rocknroll", "diner"]),
        ("Guns N' Roses", ["guns", "n", "roses"]),
    ],
)
def test_apostrophes_join_their_word(name: str, want: list[str]) -> None:
    assert tokens(name) == want == query_words(name) == typed_words(name)
    assert tokens(name) == tokens(unicodedata.normalize("NFD", name))


# --------------------------------------------------------------------- Arabic, Persian
@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("قَهْوَة", "قهوة"),  # harakat
        ("قهوة", "قهوه"),  # teh marbuta = heh
        ("أمل", "امل"),  # alef with hamza above
        ("إسلام", "اسلام"),  # below
        ("آتلیه", "اتليه"),  # alef with madda, Farsi yeh
        ("ٱلله", "الله"),  # alef wasla
        ("مصطفى", "مصطفي"),  # alef maksura
        ("کتاب", "كتاب"),  # keheh
        ("خانۀ", "خانه"),  # heh with yeh
        ("خانه\u0654", "خانه"),  # heh and hamza above, decomposed
        ("قهـــوة", "قهوة"),  # tatweel
        ("ٱلْقُرْآنِ\u06e1", "القران"),  # Quranic marks, superscript alef
        ("الرَّحْمٰنِ", "الرحمن"),  # U+0670
        ("ﻗﻬﻮﺓ", "قهوة"),  # presentation forms (NFKC)
    ],
)
def test_arabic_and_persian_fold(a: str, b: str) -> None:
    assert tokens(a) == tokens(b) == [tokens(b)[0]] and query_words(a) == query_words(b)
    assert not any(0x064B <= ord(c) <= 0x065F or c == "\u0640" for c in tokens(a)[0])


def test_arabic_spans_point_at_the_original_text() -> None:
    name = "مقهى قَهْوَة"
    assert token_spans(name) == [("مقهي", 0, 4), ("قهوه", 5, 12)]
    assert token_spans("ـآتلیهـ x") == [("اتليه", 1, 7), ("x", 8, 9)]  # up to the space
    decomposed = "ا\u0653تليه"  # آ typed as alef and madda: NFKC composes them
    assert token_spans(decomposed) == [("اتليه", 0, 6)]


# ------------------------------------------------------------------ CJK across a gap
def test_cjk_runs_with_only_punctuation_between_hold_the_pair_across() -> None:
    """The name typed without its spaces or punctuation: every pair of it is a token."""
    assert tokens("ローソン 宮津") == [
        *"ローソン", "ロー", "ーソ", "ソン", "ン宮", *"宮津", "宮津",
    ]  # fmt: skip
    for name, typed in [
        ("ローソン 宮津", "ローソン宮津"),
        ("锦江之星（福州站）", "锦江之星福州站"),
        ("セブン-イレブン 京都 四条店", "セブンイレブン京都四条店"),
        ("스타벅스 강남점", "스타벅스강남점"),
        ("星巴克, 北京 — 国贸", "星巴克北京国贸"),
    ]:
        assert set(query_words(typed)) <= set(tokens(name)), name
        assert typed_words(name) == typed_words(name.replace("、", " "))  # runs stay runs
    # a letter, digit or & between: no pair (it is a word of its own)
    assert "ン宮" not in tokens("ローソン A 宮津") + tokens("ローソン 7 宮津")
    assert "ン宮" not in tokens("ローソン & 宮津")
    # queries are as before: no pair across a gap, one typed word per run
    assert query_words("ローソン 宮津") == ["ロー", "ーソ", "ソン", "宮津"]
    assert typed_words("ローソン 宮津") == ["ローソン", "宮津"]
    assert typed_words("锦江之星（福州站）") == ["锦江之星", "福州站"]


def test_the_pair_across_a_gap_spans_the_gap() -> None:
    spans = token_spans("ローソン 宮津")
    assert [t for t, _, _ in spans] == tokens("ローソン 宮津")
    assert ("ン宮", 3, 6) in spans
    assert ("星福", 3, 6) in token_spans("锦江之星（福州站）")
    assert ("ン宮", 3, 7) in token_spans("ローソン\u00ad 宮津")  # an ignorable in the gap
