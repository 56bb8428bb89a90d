"""TextIndex: the snapshot's text index, built at load time, memory-mapped when served.

Layout (struct of arrays, ``.npy`` files under ``SNAPSHOT/derived/text/``). Merchants
are *points*: positions in the spatial index's cell order (``CellIndex.positions[p]`` is
the table row), so a walk of the trie reads the forward index front to back and a text
match is a point the ranked kernels score directly:

``chars``, ``term_off``  uint32: the vocabulary, sorted by code point (so every prefix is
                         a range of term ids): term ``t`` is ``chars[term_off[t]:term_off[t+1]]``
``df``                   uint32 per term: merchants holding it in a per-merchant field
``post_off``, ``postings``  uint32: points (ascending) of each term (``post_max``
                         can leave the most frequent terms without: the search then
                         walks the spatial trie for them: :mod:`.textmatch`)
``fwd_off``, ``fwd``     uint32: the forward index, per point its entries
                         ``term << 2 | field`` (fields: :data:`~.textscore.FIELDS`; a
                         cuisine keeps only the words its category lacks)
``name_len``             uint8 per point: tokens in the name (BM25 length), capped at 255
``cat_off``, ``cat_term``, ``cat_weight``  per category path (``text.json``'s
                         ``categories``): its words as term ids with their weight

``text.json`` holds the format, the category paths, their labels, the statistics and a
digest of the cell order the index was built for (a snapshot whose spatial index was
rebuilt in another order treats its text index as missing). Categories are stored per
path, not per merchant: a category's words cost nothing per merchant.

The format (:data:`TEXT_FORMAT`) also names the tokenisation the terms were made with
(:mod:`.textnorm`): it goes up whenever that changes, since queries are tokenised the
new way. An index of an older format still opens (its category labels serve
``categories()``), but :class:`~.textmatch.TextSearcher` refuses it with
:class:`~geo_discovery.errors.TextIndexMissingError` (load the data again); a newer or
unknown format is unreadable (:class:`~geo_discovery.errors.SnapshotError`).

Examples
--------
>>> import pyarrow as pa
>>> t = pa.table({"name": ["Joe's Pizza", "Café Mocha"], "category": ["food/restaurant/pizza",
...               "food/cafe"], "address": ["7 Carmine St, New York", None]})
>>> idx = build_text_index(t)            # no cell order given: points are rows
>>> idx.term_id("joes") >= 0, idx.term_id("nope")
(True, -1)
>>> sorted(idx.terms_of(1))
[('cafe', 'name'), ('mocha', 'name')]
"""

from __future__ import annotations

import hashlib
import json
from array import array
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from ..errors import SnapshotError
from .textnorm import address_tokens, tokens
from .textscore import (
    CATEGORY_PARENT_WEIGHT,
    CATEGORY_WEIGHT,
    FIELD_ADDRESS,
    FIELD_BRAND,
    FIELD_CUISINE,
    FIELD_NAME,
    FIELDS,
)

__all__ = [
    "CATEGORY_STOPWORDS",
    "TEXT_FORMAT",
    "TextIndex",
    "build_text_index",
    "category_words",
    "cuisines",
    "order_digest",
]

_ARRAYS = (
    "chars",
    "term_off",
    "df",
    "post_off",
    "postings",
    "fwd_off",
    "fwd",
    "name_len",
    "cat_off",
    "cat_term",
    "cat_weight",
)
#: The format of a text index written now. 1: the first; 2: names NFKC-composed and
#: stripped of invisible format characters before tokenising (:mod:`.textnorm`); 3: ``´``
#: an apostrophe, French/Italian/Catalan elisions dropped, Arabic and Persian folded, the
#: CJK pair across a gap; 4: elisions kept again (``D'Agostino`` is ``dagostino``); 5: the
#: katakana middle dot ``・`` separates (``ボン・レーヴ`` is found by ``ボンレーヴ``).
TEXT_FORMAT = 5
_OPENS = range(1, TEXT_FORMAT + 1)  # formats from_directory opens (older: not searched)
#: Connectors left out of category words (the taxonomy's paths are English).
CATEGORY_STOPWORDS = frozenset({"and", "or", "of", "the", "a", "an", "with", "amp"})
_CUISINE = r'"cuisine":\s*"(?P<c>(?:[^"\\]|\\.)*)"'


def order_digest(order: NDArray) -> str:
    """A short digest of a cell order (``CellIndex.positions``)."""
    return hashlib.blake2b(np.ascontiguousarray(order, dtype=np.int64).tobytes(),
                           digest_size=12).hexdigest()  # fmt: skip


def _frozen(a: NDArray) -> NDArray:
    a = np.ascontiguousarray(a)
    a.flags.writeable = False
    return a


@dataclass(frozen=True, eq=False)
class TextIndex:
    """Vocabulary, postings and forward index of one snapshot's merchants (module doc)."""

    chars: NDArray[np.uint32]
    term_off: NDArray[np.uint32]
    df: NDArray[np.uint32]
    post_off: NDArray[np.uint32]
    postings: NDArray[np.uint32]
    fwd_off: NDArray[np.uint32]
    fwd: NDArray[np.uint32]
    name_len: NDArray[np.uint8]
    cat_off: NDArray[np.uint32]
    cat_term: NDArray[np.uint32]
    cat_weight: NDArray[np.float64]
    categories: tuple[str, ...]
    labels: tuple[str, ...]
    meta: Mapping[str, Any] = field(default_factory=dict)
    #: The format it was written in (:data:`TEXT_FORMAT`: built now).
    format: int = TEXT_FORMAT

    @property
    def outdated(self) -> bool:
        """Whether its terms were made by an older tokenisation than queries now are (a
        snapshot loaded before it changed: load the data again to search it)."""
        return self.format < TEXT_FORMAT

    # ---------------------------------------------------------------- basics
    @property
    def n_points(self) -> int:
        return len(self.fwd_off) - 1

    @property
    def n_terms(self) -> int:
        return len(self.term_off) - 1

    @property
    def post_max(self) -> int:
        """Terms with ``df`` up to this keep postings."""
        return int(self.meta["post_max"])

    @property
    def avg_name_len(self) -> float:
        return float(self.meta["avg_name_len"])

    @property
    def nbytes(self) -> int:
        """Bytes of the arrays (what a server maps)."""
        return int(sum(getattr(self, n).nbytes for n in _ARRAYS))

    def term(self, t: int) -> str:
        """Term ``t`` as a string."""
        a, b = int(self.term_off[t]), int(self.term_off[t + 1])
        return self.chars[a:b].astype(np.uint32).tobytes().decode("utf-32-le")

    def term_id(self, term: str) -> int:
        """The id of ``term`` (a normalised token), or -1."""
        from .textvocab import codes, lower_bound

        w = codes(term)
        t = lower_bound(self.chars, self.term_off, w, len(w))
        return t if t < self.n_terms and self.term(t) == term else -1

    def terms_of(self, p: int) -> list[tuple[str, str]]:
        """``(term, field)`` of point ``p``'s per-merchant fields."""
        ent = self.fwd[int(self.fwd_off[p]) : int(self.fwd_off[p + 1])]
        return [(self.term(int(e) >> 2), FIELDS[int(e) & 3]) for e in ent.tolist()]

    def postings_of(self, t: int) -> NDArray[np.uint32]:
        """Points holding term ``t`` (empty when ``df > post_max``: not kept)."""
        return self.postings[int(self.post_off[t]) : int(self.post_off[t + 1])]

    def words_of_category(self, path: str) -> list[tuple[str, float]]:
        """``(term, weight)`` of a stored category path (empty when unknown)."""
        try:
            c = self.categories.index(path)
        except ValueError:
            return []
        a, b = int(self.cat_off[c]), int(self.cat_off[c + 1])
        pairs = zip(self.cat_term[a:b].tolist(), self.cat_weight[a:b].tolist(), strict=True)
        return [(self.term(int(t)), float(w)) for t, w in pairs]

    def summary(self) -> dict[str, Any]:
        """Sizes for the load's manifest and summary."""
        n = max(self.n_points, 1)
        return {
            "terms": self.n_terms,
            "entries": len(self.fwd),
            "postings": len(self.postings),
            "bytes": self.nbytes,
            "bytes_per_merchant": round(self.nbytes / n, 2),
            "post_max": self.post_max,
            "avg_name_len": round(self.avg_name_len, 4),
        }

    # -------------------------------------------------------------------- files
    def to_directory(self, path: str | Path) -> None:
        """Write the arrays as ``.npy`` (memory-mappable) plus ``text.json``."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        for name in _ARRAYS:
            np.save(path / f"{name}.npy", getattr(self, name))
        doc = {
            "format": self.format,
            "categories": list(self.categories),
            "labels": list(self.labels),
            "meta": dict(self.meta),
        }
        (path / "text.json").write_text(json.dumps(doc, ensure_ascii=False))

    @classmethod
    def from_directory(cls, path: str | Path, *, n_points: int | None = None) -> TextIndex:
        """Open a text index written by :meth:`to_directory`, memory-mapped."""
        path = Path(path)
        try:
            doc = json.loads((path / "text.json").read_text())
            fmt = doc.get("format")
            if type(fmt) is not int or fmt not in _OPENS:
                raise ValueError(f"format {fmt!r}, expected {TEXT_FORMAT} or older")
            arrays = {n: np.load(path / f"{n}.npy", mmap_mode="r").view(np.ndarray)
                      for n in _ARRAYS}  # fmt: skip
        except (OSError, ValueError, KeyError) as exc:
            raise SnapshotError(f"text index in {path} is unreadable: {exc}") from exc
        for a in arrays.values():
            a.flags.writeable = False
        out = cls(
            **arrays,
            categories=tuple(doc["categories"]),
            labels=tuple(doc["labels"]),
            meta=doc["meta"],
            format=fmt,
        )
        if n_points is not None and out.n_points != n_points:
            raise SnapshotError(
                f"text index in {path} has {out.n_points} points but the merchant table "
                f"{n_points} rows"
            )
        return out

    def fits(self, order: NDArray) -> bool:
        """Whether the index was built for this cell order (``CellIndex.positions``)."""
        return self.meta.get("order") == order_digest(order)


# ---------------------------------------------------------------------- building
def cuisines(merchants: pa.Table) -> list[str | None]:
    """Each row's ``cuisine`` from its source ``attributes`` (DOHMH, OSM), or ``None``;
    a table with a ``cuisine`` column (these values, extracted before) gives that."""
    n = merchants.num_rows
    if "cuisine" in merchants.column_names:
        return list(merchants.column("cuisine").to_pylist())
    if "attributes" not in merchants.column_names or n == 0:
        return [None] * n
    attrs = merchants.column("attributes")
    found = pc.struct_field(pc.extract_regex(attrs, _CUISINE), "c").to_pylist()
    decoded: dict[str, str] = {}
    out: list[str | None] = []
    for raw in found:
        if not raw:
            out.append(None)
            continue
        if raw not in decoded:
            try:
                decoded[raw] = str(json.loads(f'"{raw}"'))
            except ValueError:
                decoded[raw] = raw
        out.append(decoded[raw])
    return out


def category_words(
    path: str, synonyms: Mapping[str, Sequence[str]] | None = None
) -> list[tuple[str, float]]:
    """``(term, weight)`` for a category path: each level's segment words and source
    synonyms, :data:`~.textscore.CATEGORY_WEIGHT` for the path's own level and
    :data:`~.textscore.CATEGORY_PARENT_WEIGHT` for its parents; connectors dropped.

    Examples
    --------
    >>> category_words("food/cafe", {"food/cafe": ["Coffee & Tea"]})
    [('cafe', 0.8), ('coffee', 0.8), ('food', 0.5), ('tea', 0.8)]
    """
    if path in ("", "unknown"):
        return []
    levels = path.split("/")
    best: dict[str, float] = {}
    for depth in range(1, len(levels) + 1):
        prefix = "/".join(levels[:depth])
        weight = CATEGORY_WEIGHT if depth == len(levels) else CATEGORY_PARENT_WEIGHT
        phrases = [levels[depth - 1].replace("_", " "), *(synonyms or {}).get(prefix, ())]
        for phrase in phrases:
            for tok in tokens(phrase):
                if tok not in CATEGORY_STOPWORDS and weight > best.get(tok, 0.0):
                    best[tok] = weight
    return sorted(best.items())


def _column(merchants: pa.Table, name: str) -> pa.ChunkedArray | None:
    return merchants.column(name) if name in merchants.column_names else None


class _Vocab:
    """Provisional term ids while building (sorted at the end)."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}

    def add(self, toks: Sequence[str]) -> list[int]:
        out = []
        for t in dict.fromkeys(toks):  # unique, in order
            i = self.ids.get(t)
            if i is None:
                i = self.ids[t] = len(self.ids)
            out.append(i)
        return out


_CSR_SLICE = 1 << 16


def _field_csr(
    values: pa.ChunkedArray | list[str | None] | None,
    n: int,
    tokenize: Callable[[str], list[str]],
    vocab: _Vocab,
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
    """Per row: entry counts, flat provisional term ids (row order) and token counts."""
    if values is None:
        z = np.zeros(n, dtype=np.int64)
        return z, np.empty(0, dtype=np.int64), z, z
    arr = pa.chunked_array([pa.array(values, pa.string())]) if isinstance(values, list) else values
    enc = pc.dictionary_encode(arr.cast(pa.string())).combine_chunks()
    idx = np.asarray(pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False), np.int64)
    m = len(enc.dictionary)
    u_len, u_tok = np.zeros(m + 1, np.int64), np.zeros(m + 1, np.int64)
    flat_parts = [np.empty(0, np.int64)]
    # a slice of distinct values at a time: their Python strings and token lists are
    # freed as the slice ends (~200 B a value, ~2 GB for 10M distinct names at once)
    for a in range(0, m, _CSR_SLICE):
        ids_flat = array("q")
        for j, v in enumerate(enc.dictionary.slice(a, _CSR_SLICE).to_pylist(), a):
            toks = tokenize(v) if v else []
            ids = vocab.add(toks)
            ids_flat.extend(ids)
            u_len[j], u_tok[j] = len(ids), len(toks)
        flat_parts.append(np.frombuffer(ids_flat, dtype=np.int64))
    u_off = np.zeros(m + 2, np.int64)
    np.cumsum(u_len, out=u_off[1:])
    flat_u = np.concatenate(flat_parts)
    del flat_parts
    counts = u_len[idx]  # idx -1 picks the trailing 0
    starts = u_off[idx]
    total = int(counts.sum())
    shift = np.repeat(starts - (np.cumsum(counts) - counts), counts)
    flat = flat_u[shift + np.arange(total, dtype=np.int64)]
    return counts, flat, u_tok[idx], idx


def build_text_index(
    merchants: pa.Table,
    order: NDArray | None = None,
    *,
    synonyms: Mapping[str, Sequence[str]] | None = None,
    label: Callable[[str, dict[str, int]], str] | None = None,
    post_max: int | None = None,
) -> TextIndex:
    """Tokenise every merchant's fields and build the index (module doc).

    ``order``: the table row of each point (``CellIndex.positions``; default: rows in
    table order). ``synonyms``: source words per category path; ``label(path, source
    labels)`` names a category (default: its last segment); terms held by more than
    ``post_max`` merchants keep no postings (default: every term keeps them).
    """
    n = merchants.num_rows
    order = np.arange(n, dtype=np.int64) if order is None else np.asarray(order, np.int64)
    if order.shape != (n,):
        raise ValueError(f"order has shape {order.shape}; expected ({n},)")
    vocab = _Vocab()
    cat_col = _column(merchants, "category")
    cats = sorted(cat_col.unique().to_pylist()) if cat_col is not None else []
    cat_words = {c: category_words(c, synonyms) for c in cats}
    # A cuisine repeats its category's words often (DOHMH's cuisine is its category):
    # only the words the category lacks count, or a word would count twice. Only the
    # rows with a cuisine read their category (not a Python string for every row).
    cuis = cuisines(merchants)
    rows = [i for i, cu in enumerate(cuis) if cu is not None]
    with_cuisine = list(zip(
        cat_col.take(pa.array(rows, pa.int64())).to_pylist() if cat_col is not None
        else [""] * len(rows), [cuis[i] for i in rows], strict=True))  # (category, cuisine)
    del cuis
    cuisine_keys: list[str | None] = [None] * n
    for i, (ca, cu) in zip(rows, with_cuisine, strict=True):
        cuisine_keys[i] = f"{cu}\x00{ca}"
    del rows

    def cuisine_tokens(key: str) -> list[str]:
        cuisine, category = key.split("\x00", 1)
        known = {w for w, _ in cat_words.get(category, ())}
        return [t for t in tokens(cuisine) if t not in known]

    fields = [
        (FIELD_NAME, _column(merchants, "name"), tokens),
        (FIELD_BRAND, _column(merchants, "brand"), tokens),
        (FIELD_CUISINE, cuisine_keys, cuisine_tokens),
        (FIELD_ADDRESS, _column(merchants, "address"), address_tokens),
    ]
    parts = [(f, *_field_csr(v, n, tok, vocab)) for f, v, tok in fields]
    counts = np.vstack([p[1] for p in parts])  # (fields, rows)
    fwd_off = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts.sum(axis=0), out=fwd_off[1:])
    total = int(fwd_off[-1])
    if total >= 2**32 or len(vocab.ids) >= 2**30:
        raise ValueError(f"text index too large: {total} entries, {len(vocab.ids)} terms")

    # Category words join the vocabulary (df 0: only per-merchant fields count).
    for c in cats:
        vocab.add([w for w, _ in cat_words[c]])

    terms = sorted(vocab.ids)
    rank = np.empty(len(terms), dtype=np.int64)
    rank[np.fromiter((vocab.ids[t] for t in terms), np.int64, len(terms))] = np.arange(len(terms))
    cat_ids = np.array([vocab.ids[w] for c in cats for w, _ in cat_words[c]], dtype=np.int64)
    del vocab  # a dict entry per distinct term (10M at the benchmark's 10M names)
    n_terms = len(terms)

    fwd = np.empty(total, dtype=np.int64)
    before = np.zeros(n, dtype=np.int64)
    for (f, cnt, flat, _tok, _idx), row_cnt in zip(parts, counts, strict=True):
        pos = np.repeat(fwd_off[:-1] + before - (np.cumsum(row_cnt) - row_cnt), row_cnt)
        fwd[pos + np.arange(len(flat), dtype=np.int64)] = (rank[flat] << 2) | f
        before += cnt
    name_tokens = parts[0][3]
    del parts, counts, before, pos  # the fields' flat ids are in ``fwd`` now
    # rows → points: the forward index in cell order
    row_len = np.diff(fwd_off)
    pt_len = row_len[order]
    pt_off = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(pt_len, out=pt_off[1:])
    # (in place where it can: at 10M rows each of these arrays is a few hundred MB)
    at = np.arange(total, dtype=np.int64)
    at += np.repeat(fwd_off[:-1][order] - pt_off[:-1], pt_len)
    fwd = fwd[at]
    del at
    fwd_off = pt_off
    pairs = fwd >> 2  # (term, point) keys, each once, sorted: np.unique's, sorted in place
    pairs *= max(n, 1)
    pairs += np.repeat(np.arange(n, dtype=np.int64), pt_len)
    pairs.sort()
    if len(pairs):
        pairs = pairs[np.concatenate(([True], pairs[1:] != pairs[:-1]))]
    fwd = fwd.astype(np.uint32)  # as stored: term ranks < 2**30, the field in 2 bits
    p_term, p_point = np.divmod(pairs, max(n, 1))
    del pairs
    df = np.bincount(p_term, minlength=n_terms).astype(np.int64)
    limit = n if post_max is None else int(post_max)
    keep = df[p_term] <= limit
    post_counts = np.bincount(p_term[keep], minlength=n_terms)
    postings = p_point[keep].astype(np.uint32)
    del p_term, p_point, keep
    post_off = np.zeros(n_terms + 1, dtype=np.int64)
    np.cumsum(post_counts, out=post_off[1:])

    text = "".join(terms)
    chars = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32) if text else np.empty(0)
    term_off = np.zeros(n_terms + 1, dtype=np.int64)
    np.cumsum([len(t) for t in terms], out=term_off[1:])

    name_len = np.minimum(name_tokens, 255).astype(np.uint8)
    named = name_len[name_len > 0]  # the mean name length, exactly: integer sum / count
    avg = int(named.sum(dtype=np.int64)) / len(named) if len(named) else 1.0
    name_len = name_len[order]

    cat_off = np.zeros(len(cats) + 1, dtype=np.int64)
    np.cumsum([len(cat_words[c]) for c in cats], out=cat_off[1:])
    cat_term = rank[cat_ids]
    cat_weight = np.array([x for c in cats for _, x in cat_words[c]], dtype=np.float64)
    labels = _labels(cats, with_cuisine if cat_col is not None else [], label)
    return TextIndex(
        chars=_frozen(chars.astype(np.uint32)),
        term_off=_frozen(term_off.astype(np.uint32)),
        df=_frozen(df.astype(np.uint32)),
        post_off=_frozen(post_off.astype(np.uint32)),
        postings=_frozen(postings),
        fwd_off=_frozen(fwd_off.astype(np.uint32)),
        fwd=_frozen(fwd),
        name_len=_frozen(name_len),
        cat_off=_frozen(cat_off.astype(np.uint32)),
        cat_term=_frozen(cat_term.astype(np.uint32)),
        cat_weight=_frozen(cat_weight),
        categories=tuple(cats),
        labels=tuple(labels),
        meta={"post_max": limit, "avg_name_len": avg, "rows": n, "order": order_digest(order)},
    )


def _labels(
    cats: list[str],
    with_cuisine: list[tuple[Any, str | None]],
    label: Callable[[str, dict[str, int]], str] | None,
) -> list[str]:
    """A label per category; the source's cuisine wordings (``(category, cuisine)`` of
    each row with one) are offered to ``label``."""
    seen: dict[str, Counter[str]] = {}
    for c, raw in with_cuisine:
        if raw:
            seen.setdefault(c, Counter())[raw] += 1
    out = []
    for c in cats:
        if label is not None:
            out.append(label(c, dict(seen.get(c, {}))))
        else:
            leaf = c.rsplit("/", 1)[-1].replace("_", " ")
            out.append(leaf[:1].upper() + leaf[1:])
    return out
