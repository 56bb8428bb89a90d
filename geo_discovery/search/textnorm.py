"""Text normalisation and tokens: one definition for the index, the queries and highlights.

Every string the text index holds and every query word goes through :func:`tokens`
(or :func:`query_words`), so "what matches" has a single definition:

* **Characters.** Compatibility forms fold (fullwidth ``Ａ`` → ``a``, ligature ``ﬁ`` →
  ``fi``), case folds (``ß`` → ``ss``), diacritics on Latin, Greek and Cyrillic letters
  go (``café`` → ``cafe``, ``Hämeentie`` → ``hameentie``; letters Unicode does not
  decompose map by a small table: ``ø`` → ``o``, ``ł`` → ``l``, ``æ`` → ``ae`` …). Marks
  of other scripts stay inside their word (Devanagari vowel signs, Thai tone marks).
* **Words.** A token is a run of letters and digits. Apostrophes join (``joe's`` →
  ``joes``); ``&`` is the word ``and``; every other character separates. Tokens are cut
  at :data:`MAX_TERM_CHARS` characters.
* **CJK.** Han, kana and Hangul have no spaces between words: a run of them is indexed
  as its characters (unigrams) and adjacent pairs (bigrams), so ``星巴克`` holds ``星``,
  ``巴``, ``克``, ``星巴``, ``巴克``. A query run becomes its bigrams (a single character
  stays a unigram), so the name, any two-character piece of it and, typed as the last
  word, any prefix all find it.

Examples
--------
>>> tokens("Joe's Café & Bar")
['joes', 'cafe', 'and', 'bar']
>>> tokens("Hämeentie 12, Helsinki")
['hameentie', '12', 'helsinki']
>>> tokens("星巴克 Coffee")
['星', '巴', '克', '星巴', '巴克', 'coffee']
>>> query_words("星巴克")
['星巴', '巴克']
>>> [(t, s, e) for t, s, e in token_spans("Joe's Pizza")]
[('joes', 0, 5), ('pizza', 6, 11)]
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

__all__ = [
    "MAX_TERM_CHARS",
    "address_tokens",
    "is_cjk",
    "normalize",
    "query_words",
    "token_spans",
    "tokens",
]

#: Longer tokens are cut to this many characters (index and queries alike).
MAX_TERM_CHARS = 32

_APOSTROPHES = frozenset("'’ʼ`´‘")
_AMPERSANDS = frozenset("&＆")
# Letters that do not decompose under NFKD, folded the way people type them.
_SPECIAL = str.maketrans(
    {
        "ø": "o",
        "đ": "d",
        "ð": "d",
        "ł": "l",
        "ħ": "h",
        "ŧ": "t",
        "ı": "i",
        "ŋ": "n",
        "æ": "ae",
        "œ": "oe",
        "þ": "th",
        "ĸ": "k",
    }
)
_ASCII_TOKEN = re.compile(r"[a-z0-9]+")
_ASCII_SPAN = re.compile(r"[A-Za-z0-9'`]+|&")
_ASCII_SKIP = str.maketrans({"'": None, "`": None})
# Scripts whose diacritics fold away: Latin (with IPA), Greek and Cyrillic.
_FOLDING_SCRIPT_MAX = 0x052F
_LATIN_EXTENDED_ADDITIONAL = range(0x1E00, 0x2000)


def is_cjk(ch: str) -> bool:
    """Whether ``ch`` is Han, Hiragana, Katakana or Hangul (indexed as n-grams).

    Examples
    --------
    >>> is_cjk("星"), is_cjk("カ"), is_cjk("한"), is_cjk("a")
    (True, True, True, False)
    """
    o = ord(ch)
    return (
        0x3040 <= o <= 0x30FF  # hiragana, katakana
        or 0x3400 <= o <= 0x4DBF  # Han extension A
        or 0x4E00 <= o <= 0x9FFF  # Han
        or 0xAC00 <= o <= 0xD7AF  # Hangul syllables
        or 0x1100 <= o <= 0x11FF  # Hangul jamo
        or 0x3130 <= o <= 0x318F  # Hangul compatibility jamo
        or 0x31F0 <= o <= 0x31FF  # katakana phonetic extensions
        or 0xF900 <= o <= 0xFAFF  # CJK compatibility ideographs
        or 0xFF66 <= o <= 0xFF9F  # halfwidth katakana
        or 0x20000 <= o <= 0x3134F  # Han extensions B–G
    )


def _folds(ch: str) -> bool:
    o = ord(ch)
    return o <= _FOLDING_SCRIPT_MAX or o in _LATIN_EXTENDED_ADDITIONAL


@lru_cache(maxsize=8192)
def _fold(ch: str) -> str:
    """One character, folded: CJK by NFKC (Hangul stays composed), others by case fold,
    NFKD and the special-letter table; marks stay as marks (the caller decides)."""
    if is_cjk(ch):  # one character stays one (spans count on it): ゛ or ゟ stay as typed
        nfkc = unicodedata.normalize("NFKC", ch)
        return nfkc if len(nfkc) == 1 and nfkc.isalnum() else ch
    out = ch
    while True:  # to a fixed point: NFKD can make capitals (ᴬ → A), case folding more to do
        nxt = unicodedata.normalize("NFKD", out.casefold()).translate(_SPECIAL)
        nxt = "".join(c for c in nxt if c not in _APOSTROPHES)  # ŉ → ʼn → n
        if nxt == out:
            return out
        out = nxt


def _is_mark(ch: str) -> bool:
    return unicodedata.category(ch).startswith("M")


def _raw_tokens(text: str) -> list[tuple[str, int, int, bool]]:
    """``(token, start, end, cjk_run)`` in ``text``'s character offsets (CJK runs whole)."""
    out: list[tuple[str, int, int, bool]] = []
    buf: list[str] = []
    start = 0
    cjk: list[str] = []
    cjk_start = 0

    def flush(end: int) -> None:
        nonlocal buf
        if buf:
            out.append(("".join(buf)[:MAX_TERM_CHARS], start, end, False))
            buf = []

    def flush_cjk(end: int) -> None:
        nonlocal cjk
        if cjk:
            out.append(("".join(cjk), cjk_start, end, True))
            cjk = []

    for i, ch in enumerate(text):
        if ch in _APOSTROPHES:
            continue
        if ch in _AMPERSANDS:
            flush(i)
            flush_cjk(i)
            out.append(("and", i, i + 1, False))
            continue
        if is_cjk(ch):
            flush(i)
            if not cjk:
                cjk_start = i
            cjk.append(_fold(ch))
            continue
        flush_cjk(i)
        for x in _fold(ch):
            if x.isalnum():
                if not buf:
                    start = i
                buf.append(x)
            elif _is_mark(x):
                if buf and not _folds(buf[-1]):
                    buf.append(x)  # a mark of a script that keeps them (Devanagari, Thai)
            else:
                flush(i)
    flush(len(text))
    flush_cjk(len(text))
    return out


def _ngrams(run: str, *, unigrams: bool) -> list[str]:
    grams = list(run) if unigrams or len(run) == 1 else []
    return grams + [run[i : i + 2] for i in range(len(run) - 1)]


def tokens(text: str | None) -> list[str]:
    """The index tokens of ``text`` in order (CJK runs as unigrams, then bigrams).

    Examples
    --------
    >>> tokens("ＳＴＡＲＢＵＣＫＳ® Łódź")
    ['starbucks', 'lodz']
    >>> tokens(None)
    []
    """
    if not text:
        return []
    if text.isascii():
        low = text.lower().translate(_ASCII_SKIP).replace("&", " and ")
        return [t[:MAX_TERM_CHARS] for t in _ASCII_TOKEN.findall(low)]
    out: list[str] = []
    for tok, _, _, cjk in _raw_tokens(text):
        out.extend(_ngrams(tok, unigrams=True) if cjk else [tok])
    return out


def normalize(text: str) -> str:
    """``text`` as the index sees it: its tokens joined by single spaces.

    Examples
    --------
    >>> normalize("  Crème Brûlée — Café!")
    'creme brulee cafe'
    """
    return " ".join(tokens(text))


def query_words(text: str | None) -> list[str]:
    """The words of a query, each of which must match: like :func:`tokens`, but a CJK run
    gives its bigrams only (one character: itself).

    Examples
    --------
    >>> query_words("joe's pi")
    ['joes', 'pi']
    >>> query_words("星")
    ['星']
    """
    if not text:
        return []
    if text.isascii():
        return tokens(text)
    out: list[str] = []
    for tok, _, _, cjk in _raw_tokens(text):
        out.extend(_ngrams(tok, unigrams=False) if cjk else [tok])
    return out


def token_spans(text: str) -> list[tuple[str, int, int]]:
    """``(token, start, end)`` for every index token, with offsets into ``text`` (for
    highlighting): a CJK n-gram spans its characters.

    Examples
    --------
    >>> token_spans("星巴克")[3:]
    [('星巴', 0, 2), ('巴克', 1, 3)]
    """
    out: list[tuple[str, int, int]] = []
    if text.isascii():  # the same tokens as tokens(); a span may take in an apostrophe
        for m in _ASCII_SPAN.finditer(text.lower()):  # ASCII lower keeps every offset
            tok = m.group()
            if tok == "&":
                tok = "and"
            elif "'" in tok or "`" in tok:
                tok = tok.translate(_ASCII_SKIP)
            if tok:
                out.append((tok[:MAX_TERM_CHARS], *m.span()))
        return out
    for tok, start, end, cjk in _raw_tokens(text):
        if not cjk:
            out.append((tok, start, end))
            continue
        # a CJK run's characters are one text character each (NFKC keeps them single)
        out.extend((tok[i], start + i, start + i + 1) for i in range(len(tok)))
        out.extend((tok[i : i + 2], start + i, start + i + 2) for i in range(len(tok) - 1))
    return out


def address_tokens(address: str | None) -> list[str]:
    """Street tokens of an address: its first comma-separated part, house numbers (tokens
    of digits only) left out.

    Examples
    --------
    >>> address_tokens("1007 Morris Park Ave, Bronx, NY 10462")
    ['morris', 'park', 'ave']
    >>> address_tokens("John Stenbergin ranta 4, 00530 Helsinki")
    ['john', 'stenbergin', 'ranta']
    """
    if not address:
        return []
    first = address.split(",", 1)[0]
    return [t for t in tokens(first) if not t.isdigit()]
