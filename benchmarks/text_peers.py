"""Text-search peers for :mod:`benchmarks.bench_text`: the same merchants, the same
queries, each engine's own way of blending text and distance.

* ``geo_discovery`` — ``engine.nearby(sort="best_match", where=Filters(text=q))``, and
  ``engine.autocomplete`` for typed prefixes: exact top-k of relevance × distance decay ×
  word of mouth × district.
* ``brute`` — every merchant's relevance (the engine's published kernel), score and sort,
  in numpy: the oracle the engine's pages must equal, and the cost of not indexing.
* ``postgis`` — PostgreSQL + PostGIS + pg_trgm + full-text search: candidates are the
  names similar to the text (``name % q``, trigram GIN index) or matching it
  (``tsv @@ query``, GIN; prefix ``word:*`` for autocomplete) within 25 km
  (``ST_DWithin``, GiST), ranked by ``(similarity + ts_rank) / (1 + (geog <-> q) / 1 km)``.
* ``sqlite`` — SQLite FTS5 (``unicode61``, diacritics removed; every word, the last as a
  prefix ``"w"*`` for autocomplete; any word when all fail) joined with an R*Tree box of
  25 km, ranked by ``-bm25 / (1 + (d / 1 km)²)``. FTS5 has no typo tolerance.

Every peer gets the names normalised by :func:`geo_discovery.search.textnorm.normalize`
(case, accents, apostrophes), so none loses for want of folding. Each ``search`` returns
table rows, best first.
"""

from __future__ import annotations

import math
import os
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from geo_discovery.distance import chord2_to_m, latlng_to_xyz
from geo_discovery.engine import DiscoveryEngine
from geo_discovery.query import Filters
from geo_discovery.ranking.scoring import (
    best_match_score,
    consumption_radii,
    decay_factor,
    quality,
    radii_for_categories,
)
from geo_discovery.search.textnorm import normalize, query_words

from .server_methods import pg_dsn

__all__ = ["BruteText", "GeoText", "PostgisText", "SqliteText", "pg_text_unavailable"]

RADIUS_M = 25_000.0
_DEG_M = 111_320.0


def _haversine_m(lat: NDArray, lng: NDArray, q_lat: float, q_lng: float) -> NDArray:
    p1, p2 = np.radians(lat), math.radians(q_lat)
    a = (
        np.sin((p2 - p1) / 2) ** 2
        + np.cos(p1) * math.cos(p2) * np.sin(np.radians(q_lng - lng) / 2) ** 2
    )
    return 2 * 6_371_008.8 * np.arcsin(np.sqrt(np.minimum(a, 1.0)))


@dataclass
class GeoText:
    """geo-discovery through its public API."""

    engine: DiscoveryEngine
    name: str = "geo_discovery"

    def search(self, text: str, lat: float, lng: float, k: int) -> list[int]:
        res = self.engine.nearby(lat, lng, k, sort="best_match", where=Filters(text=text))
        return res.positions.tolist()

    def complete(self, text: str, lat: float, lng: float, k: int) -> list[int]:
        got = self.engine.autocomplete(text, lat, lng, k)
        rows = self.engine.snapshot.row_of
        return [rows(m.merchant_id) for m in got.merchants]

    def forget(self) -> None:
        """Forget the texts seen so far (the engine keeps recent queries parsed)."""
        self.engine.planner.text.forget()

    def close(self) -> None:
        pass


@dataclass
class BruteText:
    """Score every merchant, sort: the oracle (same kernel, no index, no pruning)."""

    engine: DiscoveryEngine
    name: str = "brute"

    def __post_init__(self) -> None:
        idx, planner = self.engine.index, self.engine.planner
        n = len(self.engine)
        self.xyz = np.empty((n, 3))
        self.xyz[np.asarray(idx.positions)] = np.asarray(idx.xyz)
        self.rank = np.empty(n, dtype=np.int64)
        self.rank[np.asarray(idx.positions)] = np.asarray(idx.rank)
        ranking = self.engine.ranking
        self.quality = quality(planner.wom_score, planner.district_term, ranking)
        codes, vocab = self.engine.snapshot.categories
        radii = radii_for_categories(vocab, consumption_radii(ranking))
        self.factor = decay_factor(radii, ranking.distance_scale)[codes]
        self.points = planner.points_of(np.arange(n))

    def search(self, text: str, lat: float, lng: float, k: int) -> list[int]:
        tq = self.engine.planner.text_query(text)
        rel = tq.relevance(self.points)
        while not (rel > 0).any() and (shorter := tq.without_last()) is not None:
            tq, rel = shorter, shorter.relevance(self.points)
        rows = np.flatnonzero(rel > 0)
        c2 = ((self.xyz[rows] - latlng_to_xyz(lat, lng)) ** 2).sum(axis=1)
        score = best_match_score(c2, self.factor[rows], self.quality[rows] * rel[rows])
        order = np.lexsort((self.rank[rows], chord2_to_m(c2), -score))[:k]
        return rows[order].tolist()

    complete = search

    def close(self) -> None:
        pass


def pg_text_unavailable() -> str | None:
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install -e '.[bench]')"
    try:
        with psycopg.connect(pg_dsn(), connect_timeout=3, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return (
            f"PostgreSQL with PostGIS and pg_trgm not reachable at '{pg_dsn()}' ({first}); "
            "start it with `benchmarks/servers.sh start`"
        )
    return None


_PG_RANK = (
    "(similarity(name, %(q)s) + ts_rank(tsv, {tsq})) / "
    "(1 + (geog <-> ST_SetSRID(ST_MakePoint(%(lng)s, %(lat)s), 4326)::geography) / 1000.0)"
)
_PG_SQL = (
    "SELECT pos FROM {table} WHERE (name %% %(q)s OR tsv @@ {tsq}) AND ST_DWithin(geog, "
    "ST_SetSRID(ST_MakePoint(%(lng)s, %(lat)s), 4326)::geography, %(r)s) "
    "ORDER BY {rank} DESC, pos LIMIT %(k)s"
)


class PostgisText:
    """PostgreSQL + PostGIS + pg_trgm + full-text search (module doc)."""

    name = "postgis"

    def __init__(self, names: Sequence[str], lat: NDArray, lng: NDArray) -> None:
        import psycopg

        self.conn = psycopg.connect(pg_dsn(), autocommit=True)
        self.table = f"gd_text_{os.getpid()}"
        c = self.conn
        c.execute(f"DROP TABLE IF EXISTS {self.table}")
        c.execute(
            f"CREATE UNLOGGED TABLE {self.table} (pos int4 NOT NULL, name text NOT NULL, "
            "tsv tsvector, geog geography(Point, 4326) NOT NULL)"
        )
        with c.cursor() as cur, cur.copy(f"COPY {self.table} (pos, name, geog) FROM STDIN") as cp:
            for i, (nm, y, x) in enumerate(zip(names, lat.tolist(), lng.tolist(), strict=True)):
                cp.write_row((i, normalize(nm), f"SRID=4326;POINT({x!r} {y!r})"))
        c.execute(f"UPDATE {self.table} SET tsv = to_tsvector('simple', name)")
        c.execute(f"CREATE INDEX ON {self.table} USING gin (name gin_trgm_ops)")
        c.execute(f"CREATE INDEX ON {self.table} USING gin (tsv)")
        c.execute(f"CREATE INDEX ON {self.table} USING gist (geog)")
        c.execute(f"ANALYZE {self.table}")
        plain = "plainto_tsquery('simple', %(q)s)"
        prefix = "to_tsquery('simple', %(tq)s)"
        self.sql = {
            False: _PG_SQL.format(table=self.table, tsq=plain, rank=_PG_RANK.format(tsq=plain)),
            True: _PG_SQL.format(table=self.table, tsq=prefix, rank=_PG_RANK.format(tsq=prefix)),
        }

    def nbytes(self) -> int:
        row = self.conn.execute("SELECT pg_total_relation_size(%s::regclass)", (self.table,))
        return int(row.fetchone()[0])  # type: ignore[index]

    def _run(self, text: str, lat: float, lng: float, k: int, prefix: bool) -> list[int]:
        words = query_words(text)
        params: dict[str, Any] = {
            "q": normalize(text),
            "lat": lat,
            "lng": lng,
            "k": k,
            "r": RADIUS_M,
        }
        if prefix:
            if not words:
                return []
            params["tq"] = " & ".join([*words[:-1], words[-1] + ":*"])
        rows = self.conn.execute(self.sql[prefix], params, prepare=True).fetchall()
        return [int(r[0]) for r in rows]

    def search(self, text: str, lat: float, lng: float, k: int) -> list[int]:
        return self._run(text, lat, lng, k, prefix=False)

    def complete(self, text: str, lat: float, lng: float, k: int) -> list[int]:
        return self._run(text, lat, lng, k, prefix=True)

    def close(self) -> None:
        try:
            self.conn.execute(f"DROP TABLE IF EXISTS {self.table}")
        finally:
            self.conn.close()


class SqliteText:
    """SQLite FTS5 + R*Tree (module doc), in memory."""

    name = "sqlite"

    def __init__(self, names: Sequence[str], lat: NDArray, lng: NDArray) -> None:
        self.lat, self.lng = np.asarray(lat), np.asarray(lng)
        con = self.con = sqlite3.connect(":memory:", check_same_thread=False)
        con.execute(
            "CREATE VIRTUAL TABLE fts USING fts5(name, tokenize='unicode61 remove_diacritics 2')"
        )
        con.execute("CREATE VIRTUAL TABLE rt USING rtree(id, minlat, maxlat, minlng, maxlng)")
        con.executemany(
            "INSERT INTO fts(rowid, name) VALUES (?, ?)",
            ((i, normalize(n)) for i, n in enumerate(names)),
        )
        con.executemany(
            "INSERT INTO rt VALUES (?, ?, ?, ?, ?)",
            (
                (i, y, y, x, x)
                for i, (y, x) in enumerate(zip(lat.tolist(), lng.tolist(), strict=True))
            ),
        )
        con.commit()
        self.sql = (
            "SELECT fts.rowid, bm25(fts) FROM fts JOIN rt ON rt.id = fts.rowid "
            "WHERE fts MATCH ? AND rt.minlat >= ? AND rt.maxlat <= ? "
            "AND rt.minlng >= ? AND rt.maxlng <= ?"
        )

    def _run(self, text: str, lat: float, lng: float, k: int, prefix: bool) -> list[int]:
        words = [w.replace('"', "") for w in query_words(text)]
        if not words:
            return []
        quoted = [f'"{w}"' for w in words]
        if prefix:
            quoted[-1] += "*"
        dlat = RADIUS_M / _DEG_M
        dlng = dlat / max(math.cos(math.radians(lat)), 1e-6)
        box = (lat - dlat, lat + dlat, lng - dlng, lng + dlng)
        rows = self.con.execute(self.sql, (" ".join(quoted), *box)).fetchall()
        if not rows:  # no merchant has every word: any of them
            rows = self.con.execute(self.sql, (" OR ".join(quoted), *box)).fetchall()
        if not rows:
            return []
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        bm25 = np.fromiter((r[1] for r in rows), dtype=np.float64, count=len(rows))
        d = _haversine_m(self.lat[ids], self.lng[ids], lat, lng)
        score = -bm25 / (1.0 + (d / 1000.0) ** 2)
        return ids[np.lexsort((ids, -score))[:k]].tolist()

    def search(self, text: str, lat: float, lng: float, k: int) -> list[int]:
        return self._run(text, lat, lng, k, prefix=False)

    def complete(self, text: str, lat: float, lng: float, k: int) -> list[int]:
        return self._run(text, lat, lng, k, prefix=True)

    def close(self) -> None:
        self.con.close()
