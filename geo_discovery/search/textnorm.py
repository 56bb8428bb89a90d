"""Text normalisation and tokens: one definition for the index, the queries and highlights.

Every string the text index holds and every query word goes through :func:`tokens`
(or :func:`query_words`), so "what matches" has a single definition:

* **Characters.** Invisible format characters go first, wherever they are (Unicode's
  default-ignorables: category ``Cf`` such as the soft hyphen, ZWJ/ZWNJ, the word joiner,
  BOM and bidi marks, and variation selectors, CGJ and Hangul fillers), so
  ``ca\\u00adfe`` is ``cafe``; U+200B ZERO WIDTH SPACE alone still separates words (it
  marks word boundaries in Thai, Khmer, Myanmar). The text is then NFKC-composed, so
  canonically or compatibly equivalent text gives the same tokens: decomposed (NFD)
  Hangul and kana, and halfwidth katakana with voicing marks (``ｶﾞｽﾄ`` = ``ガスト``).
  Compatibility forms fold (fullwidth ``Ａ`` → ``a``, ligature ``ﬁ`` →
  ``fi``), case folds (``ß`` → ``ss``), diacritics on Latin, Greek and Cyrillic letters
  go (``café`` → ``cafe``, ``Hämeentie`` → ``hameentie``; letters Unicode does not
  decompose map by a small table: ``ø`` → ``o``, ``ł`` → ``l``, ``æ`` → ``ae`` …).
  Arabic and Persian fold as Lucene's ``ArabicNormalizer`` and ``PersianNormalizer`` do:
  tatweel, harakat and Quranic marks go (U+0640, U+064B–U+065F, U+0670, U+0610–U+061A,
  U+06D6–U+06ED), ``آ أ إ ٱ`` → ``ا``, ``ة ۀ ہ`` → ``ه``, ``ى ی ے`` → ``ي``, ``ک`` → ``ك``
  (``قَهْوَة`` = ``قهوة``, ``أمل`` = ``امل``). Marks of other scripts stay inside their
  word (Devanagari vowel signs, Thai tone marks); Thai, Lao, Khmer and Myanmar words are
  split only where the text has a space (or U+200B).
* **Words.** A token is a run of letters and digits. Apostrophes (``' ’ ʼ ` ´ ‘``) join
  (``joe's`` → ``joes``, ``l'Italien`` → ``litalien``; ``´`` becomes ``'`` before NFKC,
  which would make it a space and an accent); ``&`` is the word ``and``; every other
  character separates. Elided articles are not dropped (Elasticsearch's French
  ``elision``): ``D'Agostino``, ``D'Ambrosio`` and ``N'Hance`` are typed joined as often
  as not in US data, and ``dagostino`` must keep finding them. Tokens are cut at
  :data:`MAX_TERM_CHARS` characters.
* **CJK.** Han, kana and Hangul have no spaces between words: a run of them is indexed
  as its characters (unigrams) and adjacent pairs (bigrams), so ``星巴克`` holds ``星``,
  ``巴``, ``克``, ``星巴``, ``巴克``. Two runs with only spaces or punctuation between
  them (no letter, digit or ``&``) also give the pair across the gap, placed before the
  second run's n-grams: ``ローソン 宮津`` holds ``ン宮``, so the name typed without its
  space (``ローソン宮津``) finds it. A query run becomes its bigrams (a single character
  stays a unigram; no pair across a gap), so the name, any two-character piece of it and,
  typed as the last word, any prefix all find it. :func:`typed_words` keeps a run whole:
  what a person typed as one word (the query's word cap counts those).

A change here changes the tokens an index holds: bump the text index's format
(:mod:`.textindex`) with it, so an index built the old way is not served.

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
>>> tokens("ｶﾞｽﾄ") == tokens("ガスト") == tokens("カ\\u3099スト")
True
>>> tokens("ca\\u00adfe ca\\u200dfe")
['cafe', 'cafe']
>>> [(t, s, e) for t, s, e in token_spans("Joe's Pizza")]
[('joes', 0, 5), ('pizza', 6, 11)]
>>> tokens("Chez l'Italien, McDonald´s, Muà Gelatieri d’Italia, O'Brien's")
['chez', 'litalien', 'mcdonalds', 'mua', 'gelatieri', 'ditalia', 'obriens']
>>> tokens("قَهْوَة") == tokens("قهوة") == tokens("قهوه")
True
>>> tokens("آتلیه ـأمل")
['اتليه', 'امل']
>>> tokens("ボン・レーヴ") == tokens("ボン レーヴ")  # the middle dot separates, as a space
True
>>> tokens("ローソン 宮津")[4:]
['ロー', 'ーソ', 'ソン', 'ン宮', '宮', '津', '宮津']
>>> query_words("ローソン宮津"), typed_words("ローソン宮津")
(['ロー', 'ーソ', 'ソン', 'ン宮', '宮津'], ['ローソン宮津'])
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from functools import lru_cache

__all__ = [
    "MAX_TERM_CHARS",
    "address_tokens",
    "is_cjk",
    "normalize",
    "query_words",
    "token_spans",
    "tokens",
    "typed_words",
]

#: Longer tokens are cut to this many characters (index and queries alike).
MAX_TERM_CHARS = 32

_APOSTROPHES = frozenset("'’ʼ`´‘")
# ´ (and Greek oxia, canonically ´) is typed as an apostrophe, but NFKC makes it a space
# and a combining acute: it becomes ' first (one character for one: offsets stay).
_AS_APOSTROPHE = str.maketrans({"´": "'", "\u1ffd": "'"})
_AMPERSANDS = frozenset("&＆")
# Letters that do not decompose under NFKD, folded the way people type them; Arabic and
# Persian as Lucene's ArabicNormalizer and PersianNormalizer fold them: tatweel, harakat
# and Quranic marks go, alef forms are alef, teh marbuta heh, alef maksura, Farsi yeh and
# yeh barree yeh, keheh kaf, heh with yeh and heh goal heh.
_ARABIC_MARKS = [0x640, *range(0x64B, 0x660), 0x670, *range(0x610, 0x61B), *range(0x6D6, 0x6EE)]
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
        **dict.fromkeys("آأإٱ", "ا"),
        **dict.fromkeys("ةۀہ", "ه"),
        **dict.fromkeys("ىیے", "ي"),
        "ک": "ك",
        **dict.fromkeys(map(chr, _ARABIC_MARKS), None),
    }
)
_ASCII_TOKEN = re.compile(r"[a-z0-9]+")
_ASCII_SPAN = re.compile(r"[A-Za-z0-9'`]+|&")
_ASCII_SKIP = str.maketrans({"'": None, "`": None})
# Scripts whose diacritics fold away: Latin (with IPA), Greek and Cyrillic.
_FOLDING_SCRIPT_MAX = 0x052F
_LATIN_EXTENDED_ADDITIONAL = range(0x1E00, 0x2000)
# Default-ignorable code points outside category Cf (which is dropped whole, but for
# U+200B): CGJ, Hangul fillers, Khmer inherent vowels, Mongolian variation selectors and
# the variation selectors (also the ideographic ones after a Han character).
_IGNORED_RE = re.compile(
    "[\u034f\u115f\u1160\u17b4\u17b5\u180b-\u180d\u180f\u3164\ufe00-\ufe0f\uffa0"
    "\U000e0100-\U000e01ef]"
)
_ZWSP = "\u200b"  # a Cf character that marks a word boundary: it separates


def is_cjk(ch: str) -> bool:
    """Whether ``ch`` is Han, Hiragana, Katakana or Hangul (indexed as n-grams).

    Examples
    --------
    >>> is_cjk("星"), is_cjk("カ"), is_cjk("한"), is_cjk("a"), is_cjk("・")
    (True, True, True, False, False)
    """
    o = ord(ch)
    return (
        (0x3040 <= o <= 0x30FF and o not in (0x30A0, 0x30FB))  # kana, not ゠ ・ (punctuation)
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
def _ignorable(ch: str) -> bool:
    """Whether ``ch`` is dropped before anything else: invisible, inside a word or not."""
    return _IGNORED_RE.match(ch) is not None or (ch != _ZWSP and unicodedata.category(ch) == "Cf")


def _joins(chunk: str, ch: str) -> bool:
    """Whether ``ch`` must be normalised together with the ``chunk`` before it: it is a
    combining mark, or normalises to one (halfwidth ``ﾞ``), or composes with ``chunk``
    (a Hangul vowel after its consonant)."""
    if unicodedata.combining(ch):
        return True
    alone = unicodedata.normalize("NFKC", ch)
    if unicodedata.combining(alone[0]):
        return True
    return unicodedata.normalize("NFKC", chunk + ch) != unicodedata.normalize("NFKC", chunk) + alone


def _composed(text: str) -> tuple[str, Sequence[int], Sequence[int]]:
    """``text`` without its ignorable characters, NFKC-normalised, and where each of its
    characters came from: ``text[starts[i]:ends[i]]`` (a character with the marks and
    the characters that compose with it: normalised alone, they give it)."""
    n = len(text)
    if (text.isprintable() or not any(map(_ignorable, text))) and (
        _IGNORED_RE.search(text) is None and unicodedata.is_normalized("NFKC", text)
    ):  # (no Cf character is printable): the usual case, a character for a character
        return text, range(n), range(1, n + 1)
    chars: list[str] = []
    starts: list[int] = []
    ends: list[int] = []

    def emit(chunk: str, start: int, end: int) -> None:
        norm = unicodedata.normalize("NFKC", chunk)
        chars.append(norm)
        starts.extend([start] * len(norm))
        ends.extend([end] * len(norm))

    chunk, start, end = "", 0, 0
    for i, ch in enumerate(text):
        if _ignorable(ch):
            continue
        if chunk and _joins(chunk, ch):
            chunk, end = chunk + ch, i + 1
            continue
        if chunk:
            emit(chunk, start, end)
        chunk, start, end = ch, i, i + 1
    if chunk:
        emit(chunk, start, end)
    return "".join(chars), starts, ends


@lru_cache(maxsize=8192)
def _fold(ch: str) -> str:
    """One (NFKC) character other than CJK, folded by case fold, NFKD and the
    special-letter table; marks stay as marks (the caller decides)."""
    out = ch
    while True:  # to a fixed point: NFKD can make capitals (ᴬ → A), case folding more to do
        nxt = unicodedata.normalize("NFKD", out.casefold().translate(_SPECIAL))  # ۀ before
        nxt = nxt.translate(_SPECIAL)  # it decomposes to ە + hamza
        nxt = "".join(c for c in nxt if c not in _APOSTROPHES)  # ŉ → ʼn → n
        if nxt == out:
            return out
        out = nxt


def _is_mark(ch: str) -> bool:
    return unicodedata.category(ch).startswith("M")


#: A token: ``(token, start, end, spans)`` with ``text[start:end]`` the text it came from;
#: for a CJK run (whole) ``spans`` holds each character's ``(start, end)``, else ``None``.
_Raw = tuple[str, int, int, tuple[tuple[int, int], ...] | None]


def _raw_tokens(text: str) -> list[_Raw]:
    """The tokens of ``text`` (CJK runs whole) with their offsets in ``text``."""
    out: list[_Raw] = []
    buf: list[str] = []
    start = last = 0  # the token's first and last pieces' offsets
    cjk: list[str] = []
    spans: list[tuple[int, int]] = []

    def flush(end: int) -> None:
        nonlocal buf
        if buf:
            out.append(("".join(buf)[:MAX_TERM_CHARS], start, max(end, last), None))
            buf = []

    def flush_cjk() -> None:
        nonlocal cjk, spans
        if cjk:
            out.append(("".join(cjk), spans[0][0], spans[-1][1], tuple(spans)))
            cjk, spans = [], []

    if "´" in text or "\u1ffd" in text:  # (a search is much faster than translate)
        text = text.translate(_AS_APOSTROPHE)
    for ch, a, b in zip(*_composed(text), strict=True):
        if ch in _APOSTROPHES:
            continue
        if ch in _AMPERSANDS:
            flush(a)
            flush_cjk()
            out.append(("and", a, b, None))
            continue
        if is_cjk(ch):
            flush(a)
            cjk.append(ch)
            spans.append((a, b))
            continue
        flush_cjk()
        for x in _fold(ch):
            if x.isalnum():
                if not buf:
                    start = a
                buf.append(x)
                last = b
            elif _is_mark(x):
                if buf and not _folds(buf[-1]):
                    buf.append(x)  # a mark of a script that keeps them (Devanagari, Thai)
                    last = b
            else:
                flush(a)
    flush(len(text))
    flush_cjk()
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
        low = text.lower()
        if "'" in low or "`" in low:
            low = low.translate(_ASCII_SKIP)
        return [t[:MAX_TERM_CHARS] for t in _ASCII_TOKEN.findall(low.replace("&", " and "))]
    out: list[str] = []
    run = ""  # the CJK run just before, with no word after it
    for tok, _, _, cjk in _raw_tokens(text):
        if cjk is None:
            out.append(tok)
            run = ""
            continue
        if run:  # only spaces or punctuation between two runs: the pair across them too
            out.append(run[-1] + tok[0])
        out.extend(_ngrams(tok, unigrams=True))
        run = tok
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
        out.extend(_ngrams(tok, unigrams=False) if cjk is not None else [tok])
    return out


def typed_words(text: str | None) -> list[str]:
    """The words of a query as a person typed them: like :func:`query_words`, but a CJK
    run stays whole (it has no spaces: one word, however many characters).

    Examples
    --------
    >>> typed_words("兵庫教育大学 神戸ハーバーランドキャンパス")
    ['兵庫教育大学', '神戸ハーバーランドキャンパス']
    >>> typed_words("星巴克coffee & tea")
    ['星巴克', 'coffee', 'and', 'tea']
    """
    if not text:
        return []
    if text.isascii():
        return tokens(text)
    return [tok for tok, _, _, _ in _raw_tokens(text)]


def token_spans(text: str) -> list[tuple[str, int, int]]:
    """``(token, start, end)`` for every index token, with offsets into ``text`` (for
    highlighting): a CJK n-gram spans its characters (a pair across a gap, the gap too).

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
    run, last = "", (0, 0)  # as in tokens(): the CJK run before, and its last character's span
    for tok, start, end, cjk in _raw_tokens(text):
        if cjk is None:
            out.append((tok, start, end))
            run = ""
            continue
        if run:  # the pair across the gap spans it
            out.append((run[-1] + tok[0], last[0], cjk[0][1]))
        run, last = tok, cjk[-1]
        # each character of a CJK run spans the text it came from (ｶﾞ: two, ゟ: one for
        # its two kana); a pair spans its characters'
        out.extend((tok[i], *cjk[i]) for i in range(len(tok)))
        out.extend((tok[i : i + 2], cjk[i][0], cjk[i + 1][1]) for i in range(len(tok) - 1))
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
