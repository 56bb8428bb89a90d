"""Text search benchmark: the search box against PostGIS + pg_trgm + FTS and SQLite FTS5 +
R*Tree, on the same merchants and queries, quality and speed in one run.

Merchants: every real merchant file loaded through the pipeline (NYC, New York State, Utah,
four Airbnb cities, Helsinki, a worldwide Foursquare sample; ~215k), then **resampled to
1M with 20 m jitter** (each copy keeps its merchant's name, category and word of mouth;
copies of one merchant count as that merchant). ``--smoke``: the NYC DOHMH restaurants
(synthetic names when the real data is absent), 5,000 rows, tiny query sets.

Known-item queries: merchants (lodging left out: nobody types an Airbnb title) whose
normalised name no other merchant within 2 km shares, queried from a point uniform in the
2 km disk around them, as (a) the exact name, (b) one typo in the longest word (a
substitution, deletion, insertion or transposition at a uniform position, the first letter
included), (c) a prefix: the first half of the name (autocomplete). Reported: recall@1 and
recall@10 per method and kind.

Speed, one query at a time: ``q`` + nearby k=20 (best_match), autocomplete k=10, plain
nearby k=20 for reference; p50/p90/p99 µs, timed twice: interleaved (methods in rotating
order on each query, so each call starts with the caches the method before it left) and
back to back (each method's queries in one stream, as a server sees them). Before
timing, geo-discovery's pages are checked against the brute-force oracle on a sample (any
mismatch: exit 1). HTTP: a real ``geo-discovery serve`` on the ~215k snapshot, plain
nearby vs nearby with ``q`` (both through the fast lane), p50 of sequential keep-alive
requests. Text index size in bytes per merchant.

Results: a table on stdout, ``results/text_<dataset>.json`` and the ``RESULTS.md``
section under ``--out-dir`` (default ``benchmarks/``; ``--smoke``: a temporary folder).

Examples
--------
    python -m benchmarks.bench_text               # ~215k real merchants resampled to 1M
    python -m benchmarks.bench_text --smoke       # CI: ~25 s (kernels compiled: make install)
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from geo_discovery.engine import DiscoveryEngine
from geo_discovery.search.textnorm import normalize
from geo_discovery.settings import Settings
from geo_discovery.snapshot.pipeline import load

from . import harness
from .text_peers import BruteText, GeoText, PostgisText, SqliteText, pg_text_unavailable
from .text_serve import ServeFailed, http_timings

__all__ = ["KINDS", "known_items", "main", "typo"]

KINDS = ("exact", "typo", "prefix")
TARGETS = {
    "nearby_p50_us": 1000.0,
    "vs_postgis": 10.0,
    "autocomplete_p50_us": 300.0,
    "http_ratio": 2.0,
    "bytes_per_merchant": 60.0,
}
MERCHANT_FILES = (
    "nyc/nyc_retail_food_stores.csv",
    "nyc/nyc_restaurants_dohmh_mongodb_primer_subset.csv",
    "nyc/nyc_airbnb_listings_2019.csv.gz",
    "cities/utah_wof_simplegeo_venues.csv.gz",
    "cities/nys_retail_food_stores_statewide.csv.gz",
    "cities/airbnb_amsterdam_2023-12_listings_ratings.csv.gz",
    "cities/airbnb_montreal_2023-12_listings_ratings.csv.gz",
    "cities/airbnb_boston_2021-12_listings_ratings.csv.gz",
    "cities/airbnb_washington_dc_2015-10_listings_ratings.csv.gz",
    "fixtures/helsinki_center_osm_pois.csv",
    "fixtures/fsq_os_places_global_sample.csv.gz",
)
# A q request with a full page: common words (the known-item names find few merchants).
HTTP_WORDS = ("pizza", "coffee", "grocery", "bar", "bakery", "deli", "cafe", "market")
SYNTHETIC_WORDS = (
    "pizza",
    "joe's",
    "café",
    "deli",
    "sushi",
    "bagel",
    "famous",
    "golden",
    "dragon",
    "corner",
    "market",
    "garden",
    "king",
    "star",
    "express",
)


# ------------------------------------------------------------------------- data
def _load(files: Sequence[Path], work: Path) -> DiscoveryEngine:
    load(files, data_dir=work, settings=Settings(data_dir=work), allow_shrink=True)
    return DiscoveryEngine.from_snapshot(work, settings=Settings(data_dir=work))


def _synthetic(work: Path, n: int, seed: int) -> DiscoveryEngine:
    rng = np.random.default_rng(seed)
    pts = harness.synthetic_points(n, seed)
    names = [
        " ".join(rng.choice(SYNTHETIC_WORDS, int(rng.integers(1, 4))).tolist()).title() + f" {i}"
        for i in range(n)
    ]
    path = work / "synthetic.csv"
    rows = ["id,name,lat,lng,category"] + [
        f'{i},"{nm}",{a!r},{b!r},food/restaurant'
        for i, (nm, a, b) in enumerate(zip(names, pts.lat.tolist(), pts.lng.tolist(), strict=True))
    ]
    path.write_text("\n".join(rows) + "\n")
    return _load([path], work / "store")


def _resample(engine: DiscoveryEngine, n: int, seed: int) -> tuple[DiscoveryEngine, np.ndarray]:
    """``n`` copies of the engine's merchants (20 m jitter, unique ids, word of mouth
    kept) and each copy's original row."""
    rng = np.random.default_rng(seed)
    base = engine.merchants
    pick = np.sort(rng.integers(0, base.num_rows, n))
    table = base.take(pa.array(pick))
    lat = table.column("lat").to_numpy() + rng.normal(0, 20.0, n) / harness.METRES_PER_DEG_LAT
    lat = np.clip(lat, -90, 90)
    lng = table.column("lng").to_numpy() + rng.normal(0, 20.0, n) / (
        harness.METRES_PER_DEG_LAT * np.maximum(np.cos(np.radians(lat)), 1e-6)
    )
    lng = (lng + 180.0) % 360.0 - 180.0
    width = len(str(n - 1))
    table = table.set_column(0, "merchant_id", pa.array([f"r{i:0{width}d}" for i in range(n)]))
    table = table.set_column(table.column_names.index("lat"), "lat", pa.array(lat))
    table = table.set_column(table.column_names.index("lng"), "lng", pa.array(lng))
    wom = engine.snapshot.wom
    copied = None if wom is None else (wom[0][pick], wom[1][pick])
    return DiscoveryEngine.from_table(table, settings=Settings(), wom=copied), pick


# ------------------------------------------------------------------------ queries
@dataclass(frozen=True)
class Item:
    """A known item: the merchant's row in the real table, its name, and where the
    person asking stands."""

    row: int
    name: str
    lat: float
    lng: float


def known_items(
    engine: DiscoveryEngine, n: int, seed: int, present: np.ndarray | None = None
) -> list[Item]:
    """Up to ``n`` merchants (no lodging; among the rows ``present`` when given) whose
    normalised name is unique within 2 km, each with a query point uniform in the 2 km
    disk around it."""
    rng = np.random.default_rng(seed)
    t = engine.merchants
    names = t.column("name").to_pylist()
    cats = t.column("category").to_pylist()
    lat, lng = engine.snapshot.lat, engine.snapshot.lng
    norm = [normalize(x) for x in names]
    by_name: dict[str, list[int]] = {}
    for i, key in enumerate(norm):
        by_name.setdefault(key, []).append(i)
    out: list[Item] = []
    keep = (
        np.ones(len(names), dtype=bool)
        if present is None
        else np.isin(np.arange(len(names)), present)
    )
    for i in rng.permutation(len(names)).tolist():
        if len(out) == n:
            break
        if not keep[i] or cats[i].startswith("lodging") or len(norm[i]) < 3:
            continue
        same = np.array([j for j in by_name[norm[i]] if j != i], dtype=np.int64)
        if len(same) and (_metres(lat[same], lng[same], lat[i], lng[i]) < 2000).any():
            continue
        d = 2000.0 * math.sqrt(rng.random())
        bearing = rng.uniform(0, 2 * math.pi)
        q_lat = lat[i] + d * math.cos(bearing) / harness.METRES_PER_DEG_LAT
        q_lng = lng[i] + d * math.sin(bearing) / (
            harness.METRES_PER_DEG_LAT * max(math.cos(math.radians(lat[i])), 1e-6)
        )
        out.append(Item(i, names[i], float(q_lat), float((q_lng + 180) % 360 - 180)))
    return out


def _metres(lat: np.ndarray, lng: np.ndarray, q_lat: float, q_lng: float) -> np.ndarray:
    p1, p2 = np.radians(lat), math.radians(q_lat)
    a = (
        np.sin((p2 - p1) / 2) ** 2
        + np.cos(p1) * math.cos(p2) * np.sin(np.radians(q_lng - lng) / 2) ** 2
    )
    return 2 * 6_371_008.8 * np.arcsin(np.sqrt(np.minimum(a, 1.0)))


def typo(name: str, rng: np.random.Generator) -> str | None:
    """``name`` with one edit in its longest word (``None`` when it has none to edit)."""
    words = name.split()
    longest = max(range(len(words)), key=lambda i: (sum(c.isalpha() for c in words[i]), -i))
    w = words[longest]
    if sum(c.isalpha() for c in w) < 2:
        return None
    i = int(rng.integers(0, len(w)))
    op = ["sub", "del", "ins", "swap"][int(rng.integers(0, 4))]
    letter = "abcdefghijklmnopqrstuvwxyz"[int(rng.integers(0, 26))]
    if op == "sub":
        w = w[:i] + (letter if w[i].lower() != letter else "q") + w[i + 1 :]
    elif op == "del":
        w = w[:i] + w[i + 1 :]
    elif op == "ins":
        w = w[:i] + letter + w[i:]
    elif i + 1 < len(w):
        w = w[:i] + w[i + 1] + w[i] + w[i + 2 :]
    else:
        w = w[:-2] + w[-1] + w[-2]
    words[longest] = w
    return " ".join(words)


def queries_of(items: list[Item], seed: int) -> dict[str, list[tuple[Item, str]]]:
    rng = np.random.default_rng(seed)
    out: dict[str, list[tuple[Item, str]]] = {k: [] for k in KINDS}
    for it in items:
        out["exact"].append((it, it.name))
        bad = typo(it.name, rng)
        if bad is not None:
            out["typo"].append((it, bad))
        out["prefix"].append((it, it.name[: max(3, math.ceil(len(it.name) / 2))]))
    return out


# -------------------------------------------------------------------------- runs
def _pass(
    methods: dict[str, Any],
    qs: list[tuple[Item, str]],
    copies: np.ndarray,
    *,
    prefix: bool,
    k: int,
) -> dict[str, dict[str, Any]]:
    """Every method on every query, one query at a time, methods in rotating order:
    recall@1, recall@10 and timings per method."""
    names = list(methods)
    ns = {m: np.empty(len(qs), dtype=np.int64) for m in names}
    first = dict.fromkeys(names, 0)
    top10 = dict.fromkeys(names, 0)
    clock = time.perf_counter_ns
    for i, (it, text) in enumerate(qs):
        shift = i % len(names)
        for m in names[shift:] + names[:shift]:
            call = methods[m].complete if prefix else methods[m].search
            t0 = clock()
            rows = call(text, it.lat, it.lng, k)
            ns[m][i] = clock() - t0
            hits = [int(copies[r]) == it.row for r in rows[:10]]
            first[m] += bool(hits and hits[0])
            top10[m] += any(hits)
    n = max(len(qs), 1)
    return {
        m: {
            "recall_at_1": first[m] / n,
            "recall_at_10": top10[m] / n,
            "n": len(qs),
            "timing": harness.percentiles_us(ns[m]) if len(qs) else None,
        }
        for m in names
    }


def _stream(
    methods: dict[str, Any], qs: dict[str, list[tuple[Item, str]]]
) -> dict[str, dict[str, Any]]:
    """Each method's queries back to back, one method after another (as a server sees a
    stream of one kind of request; the rotating pass leaves each call's CPU caches to
    the peer that ran before it): q + nearby k=20 over the exact and typo names, then
    autocomplete k=10 over the prefixes; timings per method. geo-discovery first forgets
    the texts the rotating pass parsed."""
    clock = time.perf_counter_ns
    out: dict[str, dict[str, Any]] = {}
    for name, m in methods.items():
        if hasattr(m, "forget"):
            m.forget()
        near = [(m.search, it, q, 20) for kind in ("exact", "typo") for it, q in qs[kind]]
        auto = [(m.complete, it, q, 10) for it, q in qs["prefix"]]
        got = {}
        for label, calls in (("search", near), ("complete", auto)):
            ns = np.empty(len(calls), dtype=np.int64)
            for i, (call, it, q, k) in enumerate(calls):
                t0 = clock()
                call(q, it.lat, it.lng, k)
                ns[i] = clock() - t0
            got[label] = harness.percentiles_us(ns) if len(calls) else None
        out[name] = got
    return out


def _check(geo: GeoText, brute: BruteText, qs: list[tuple[Item, str]]) -> list[str]:
    bad = []
    for it, text in qs:
        if geo.search(text, it.lat, it.lng, 20) != brute.search(text, it.lat, it.lng, 20):
            bad.append(text)
    return bad


# --------------------------------------------------------------------------- main
def _parser() -> argparse.ArgumentParser:
    p = harness.base_parser("benchmarks.bench_text", __doc__, "~25 s with compiled kernels")
    p.add_argument("--size", type=int, default=1_000_000, help="merchants after resampling")
    p.add_argument("--items", type=int, default=300, help="known items (queries per kind)")
    p.add_argument("--check", type=int, default=40, help="queries checked by brute force")
    p.add_argument("--http", type=int, default=300, help="HTTP requests per kind")
    p.add_argument("--no-peers", action="store_true", help="geo_discovery only")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; 0 when geo-discovery's pages equal brute force, 1 otherwise."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    tmp = tempfile.TemporaryDirectory(prefix="bench-text-")
    work = Path(tmp.name)
    n_items, n_check, n_http = args.items, args.check, args.http
    t0 = time.perf_counter()
    try:
        data_dir = harness.real_data_dir(args.real_data)
    except harness.RealDataMissing:
        data_dir = None
    if args.smoke:
        n_items, n_check, n_http, size = min(n_items, 40), min(n_check, 10), min(n_http, 20), 5000
        if data_dir is not None:
            real = _load([data_dir / MERCHANT_FILES[1]], work / "store")
            note = "NYC DOHMH restaurants (real names)"
        else:
            real = _synthetic(work, 2000, args.seed)
            note = "2,000 synthetic merchants (real data absent)"
    elif data_dir is None:
        print("SKIPPED: real data not found (pass --real-data or set GEO_DISCOVERY_REAL_DATA)")
        return 0
    else:
        size = args.size
        real = _load([data_dir / f for f in MERCHANT_FILES], work / "store")
        note = "every real merchant file"
    load_s = time.perf_counter() - t0
    harness.eprint(f"loaded {len(real):,} real merchants in {load_s:.0f} s")
    t0 = time.perf_counter()
    engine, copies = _resample(real, size, args.seed)
    t1 = time.perf_counter()
    text = engine.snapshot.text
    assert text is not None
    build_s = time.perf_counter() - t1
    resample_s = t1 - t0
    engine.warm()
    items = known_items(real, n_items, args.seed, present=copies)
    qs = queries_of(items, args.seed)
    out_dir = Path(args.out_dir) if args.out_dir else (work if args.smoke else harness.BENCH_DIR)

    methods: dict[str, Any] = {"geo_discovery": GeoText(engine)}
    brute = BruteText(engine)
    skipped: dict[str, str] = {}
    names = engine.merchants.column("name").to_pylist()
    lat, lng = engine.snapshot.lat, engine.snapshot.lng
    built: dict[str, float] = {}
    if not args.no_peers:
        t0 = time.perf_counter()
        methods["sqlite"] = SqliteText(names, lat, lng)
        built["sqlite"] = time.perf_counter() - t0
        reason = pg_text_unavailable()
        if reason is None:
            t0 = time.perf_counter()
            methods["postgis"] = PostgisText(names, lat, lng)
            built["postgis"] = time.perf_counter() - t0
        else:
            skipped["postgis"] = reason

    # exactness first: the engine's pages against brute force
    sample = qs["exact"][: n_check // 2] + qs["typo"][: n_check // 2]
    t0 = time.perf_counter()
    mismatches = _check(methods["geo_discovery"], brute, sample)
    brute_ms = (time.perf_counter() - t0) * 1e3 / max(len(sample), 1)
    for text_q in mismatches:
        harness.eprint(f"MISMATCH for q={text_q!r}")

    # warm every method, then quality and speed in one pass per kind
    for m in methods.values():  # every kind once (numba compiles on first use)
        for kind in KINDS:
            for it, q in qs[kind][-10:]:
                m.search(q, it.lat, it.lng, 20)
                m.complete(q, it.lat, it.lng, 10)
    runs = {
        kind: _pass(
            methods, qs[kind], copies, prefix=kind == "prefix", k=10 if kind == "prefix" else 20
        )
        for kind in KINDS
    }
    stream = _stream(methods, qs)
    plain = np.empty(len(items), dtype=np.int64)
    for i, it in enumerate(items):
        t0n = time.perf_counter_ns()
        engine.nearby(it.lat, it.lng, 20, sort="best_match")
        plain[i] = time.perf_counter_ns() - t0n
    plain_stats = harness.percentiles_us(plain)
    # the server's log: in --out-dir, else a kept temporary folder (never in the repository)
    logs = Path(args.out_dir or tempfile.mkdtemp(prefix="bench-text-")) / "logs"
    failed = None
    try:
        http = http_timings(work / "store", items, n_http, logs / "text_serve.log", HTTP_WORDS)
    except ServeFailed as exc:
        http, failed = None, exc
    for m in methods.values():
        m.close()
    if failed is not None:
        harness.eprint(f"bench_text: error: {failed}")
        tmp.cleanup()
        return 1
    result = _summary(
        args,
        argv,
        engine,
        text,
        runs,
        stream,
        plain_stats,
        http,
        mismatches,
        len(sample),
        brute_ms,
        skipped,
        built,
        build_s,
        resample_s,
        load_s,
        note,
        len(real),
    )
    markdown = result.pop("markdown_text")
    print(markdown)
    harness.write_results(out_dir, f"text_{result['dataset']}", result, markdown)
    print(f"wrote {out_dir}")
    tmp.cleanup()
    return 0 if not mismatches else 1


def _summary(
    args: argparse.Namespace,
    argv: list[str],
    engine: DiscoveryEngine,
    text: Any,
    runs: dict[str, dict[str, dict[str, Any]]],
    stream: dict[str, dict[str, Any]],
    plain: dict[str, float],
    http: dict[str, Any] | None,
    mismatches: list[str],
    n_checked: int,
    brute_ms: float,
    skipped: dict[str, str],
    built: dict[str, float],
    build_s: float,
    resample_s: float,
    load_s: float,
    note: str,
    n_real: int,
) -> dict[str, Any]:
    """The result document and its markdown section."""
    n = len(engine)
    size = text.summary()
    dataset = "smoke" if args.smoke else f"{n // 1_000_000}m" if n % 1_000_000 == 0 else f"{n:,}"
    geo = {k: runs[k]["geo_discovery"] for k in KINDS}
    nearby_p50 = float(
        np.median([geo["exact"]["timing"]["p50_us"], geo["typo"]["timing"]["p50_us"]])
    )
    auto_p50 = geo["prefix"]["timing"]["p50_us"]
    geo_stream = stream["geo_discovery"]
    near_stream = geo_stream["search"]["p50_us"] if geo_stream["search"] else math.nan
    auto_stream = geo_stream["complete"]["p50_us"] if geo_stream["complete"] else math.nan
    pg = {k: runs[k].get("postgis") for k in KINDS}
    vs_pg = None
    if pg["exact"] is not None:
        vs_pg = float(
            np.median(
                [pg[k]["timing"]["p50_us"] / geo[k]["timing"]["p50_us"] for k in ("exact", "typo")]
            )
        )
    goals = [
        (
            "q + nearby k=20 p50 (exact and typo names), back to back",
            f"≤ {TARGETS['nearby_p50_us']:,.0f} µs",
            f"{near_stream:,.0f} µs",
            near_stream <= TARGETS["nearby_p50_us"],
        ),
        (
            "… interleaved with the peers' queries",
            f"≤ {TARGETS['nearby_p50_us']:,.0f} µs",
            f"{nearby_p50:,.0f} µs",
            nearby_p50 <= TARGETS["nearby_p50_us"],
        ),
        (
            "… faster than PostGIS (ratio of p50s)",
            f"≥ {TARGETS['vs_postgis']:.0f}×",
            "skipped" if vs_pg is None else f"{vs_pg:,.1f}×",
            None if vs_pg is None else vs_pg >= TARGETS["vs_postgis"],
        ),
        (
            "autocomplete k=10 p50, back to back",
            f"≤ {TARGETS['autocomplete_p50_us']:.0f} µs",
            f"{auto_stream:,.0f} µs",
            auto_stream <= TARGETS["autocomplete_p50_us"],
        ),
        (
            "… interleaved with the peers' queries",
            f"≤ {TARGETS['autocomplete_p50_us']:.0f} µs",
            f"{auto_p50:,.0f} µs",
            auto_p50 <= TARGETS["autocomplete_p50_us"],
        ),
        (
            "HTTP: nearby with q / plain nearby (p50)",
            f"≤ {TARGETS['http_ratio']:.0f}×",
            "skipped" if http is None else f"{http['ratio_p50']:.2f}×",
            None if http is None else http["ratio_p50"] <= TARGETS["http_ratio"],
        ),
        (
            "text index size",
            f"≤ {TARGETS['bytes_per_merchant']:.0f} B/merchant",
            f"{size['bytes_per_merchant']:.1f} B/merchant",
            size["bytes_per_merchant"] <= TARGETS["bytes_per_merchant"],
        ),
    ]
    mark = {True: "met", False: "**not met**", None: "—"}
    items = runs["exact"]["geo_discovery"]["n"]
    lines = [
        f"## Text search: the search box, quality and speed ({dataset})",
        "",
        f"{note}: {n_real:,} real merchants loaded through the pipeline in {load_s:.0f} s, "
        f"**resampled to {n:,} with 20 m jitter** (copies of a merchant count as it) in "
        f"{resample_s:.0f} s; text index built in {build_s:.0f} s: {size['terms']:,} terms, "
        f"{size['bytes'] / 1e6:,.1f} MB, **{size['bytes_per_merchant']:.1f} bytes per "
        f"merchant**. Known items: {items} merchants (no lodging) whose name no other merchant "
        "within 2 km shares, asked from a point uniform in the 2 km disk around them: (a) the "
        "exact name, (b) one typo in the longest word (any position, the first letter "
        "included), (c) the first half of the name (autocomplete). Timed two ways, one "
        "query at a time: interleaved (each query by every method, in rotating order: each "
        "call starts with the CPU caches the method before it left) and back to back (each "
        "method's queries in one stream, as a server sees them).",
        "",
        "| method | exact @1 | exact @10 | typo @1 | typo @10 | prefix @1 | prefix @10 | "
        "interleaved: q+nearby k=20 p50 µs | p90 | autocomplete k=10 p50 µs | p90 | "
        "back to back: q+nearby p50 µs | autocomplete p50 µs |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for m in runs["exact"]:
        r = {k: runs[k][m] for k in KINDS}
        near = np.median([r["exact"]["timing"]["p50_us"], r["typo"]["timing"]["p50_us"]])
        near90 = np.median([r["exact"]["timing"]["p90_us"], r["typo"]["timing"]["p90_us"]])
        lines.append(
            f"| {m} | "
            + " | ".join(f"{r[k][f'recall_at_{j}']:.0%}" for k in KINDS for j in (1, 10))
            + f" | {near:,.0f} | {near90:,.0f} | {r['prefix']['timing']['p50_us']:,.0f} | "
            f"{r['prefix']['timing']['p90_us']:,.0f} | {_p50(stream[m]['search'])} | "
            f"{_p50(stream[m]['complete'])} |"
        )
    lines += [
        f"| brute force (every merchant scored, numpy) | = geo_discovery | | | | | | "
        f"{brute_ms * 1e3:,.0f} | | | | | |",
        "",
        f"Plain nearby (best_match k=20, no text) on the same points: p50 {plain['p50_us']:,.0f} "
        f"µs, p90 {plain['p90_us']:,.0f} µs.",
    ]
    if http is not None:
        lines.append(
            f"HTTP (`geo-discovery serve` on the {n_real:,} real merchants, sequential "
            f"keep-alive requests, limit=20, both through the fast lane): plain nearby p50 "
            f"{http['plain']['p50_us']:,.0f} µs; with `q` a common word ({', '.join(HTTP_WORDS)}: "
            f"full pages) {http['q']['p50_us']:,.0f} µs; with `q` a known item's name "
            f"{http['q_name']['p50_us']:,.0f} µs."
        )
    lines += ["", "| goal | target | measured | |", "|---|---|---|---|"]
    lines += [f"| {g} | {t} | {v} | {mark[ok]} |" for g, t, v, ok in goals]
    lines += [
        "",
        f"**Exactness: {n_checked} queries' pages checked against brute force, "
        f"{len(mismatches)} mismatches.** Peers build: "
        + ", ".join(f"{k} {v:.0f} s" for k, v in built.items())
        + (
            ""
            if not skipped
            else "; skipped: " + "; ".join(f"{k}: {v}" for k, v in skipped.items())
        )
        + ".",
        "",
        f"Command: `{harness.command_line('benchmarks.bench_text', argv)}`",
    ]
    return {
        "order": 40,
        "benchmark": "text",
        "dataset": dataset,
        "n_merchants": n,
        "n_real_merchants": n_real,
        "index": size,
        "runs": runs,
        "back_to_back": stream,
        "plain_nearby": plain,
        "http": http,
        "goals": [{"goal": g, "target": t, "measured": v, "met": ok} for g, t, v, ok in goals],
        "n_checked": n_checked,
        "n_mismatches": len(mismatches),
        "correct": not mismatches,
        "skipped": skipped,
        "machine": harness.machine_info(["numpy", "numba", "psycopg"]),
        "command": harness.command_line("benchmarks.bench_text", argv),
        "markdown_text": "\n".join(lines),
    }


def _p50(timing: dict[str, float] | None) -> str:
    return "—" if timing is None else f"{timing['p50_us']:,.0f}"


if __name__ == "__main__":
    raise SystemExit(main())
