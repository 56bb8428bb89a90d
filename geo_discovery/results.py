"""Results: one query's answer, a ``Sequence`` of :class:`~geo_discovery.models.Hit`.

Positions (rows of the snapshot's merchant table) and exact metres flow out of the
search; :class:`Results` turns them into whatever the caller needs, only when asked:
``results[0]`` a :class:`Hit`, ``results[:5]`` another ``Results``, ``to_records``
plain dicts (the one row format of the API, the CLI and the fast lane), ``to_geojson``
a FeatureCollection, ``to_frame`` a DataFrame and ``to_geodataframe`` a GeoDataFrame in
EPSG:4326 for notebooks.

Examples
--------
>>> res = engine.nearby(60.1699, 24.9384, k=3)
>>> len(res), res[0].distance_m <= res[-1].distance_m
(3, True)
>>> res.to_geodataframe().crs.to_epsg()
4326
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, overload

import numpy as np
import pandas as pd
import pyarrow as pa
from numpy.typing import NDArray

from .models import Explanation, Hit
from .snapshot.rows import COMPUTED_FIELDS, HIT_FIELDS, parse_fields

if TYPE_CHECKING:
    import geopandas as gpd

    from .query import Member
    from .snapshot.snapshot import Snapshot

__all__ = ["BatchResults", "Results"]

_CORE = ("merchant_id", "name", "lat", "lng", "distance_m", "category")
_EXTRA = tuple(f for f in HIT_FIELDS if f not in _CORE)


class Results(Sequence[Hit]):
    """An answer: table positions and exact distances, in the query's order.

    Parameters
    ----------
    snapshot
        The snapshot that answered (results never mix snapshots).
    positions, distances_m
        Rows of the merchant table and great-circle metres from the query point.
    scores
        The sort's primary value per hit under ``best_match`` (else ``None``).
    explain
        Per-hit :class:`~geo_discovery.models.Explanation`, computed on first use
        (a callable) or given; ``None`` when the query did not ask.
    next_cursor
        Builds the opaque cursor of the next page on first use (``None``: no more).
    total
        How many merchants matched before the page was cut (box, polygon and radius
        search); ``None`` for nearby, which stops at its page without counting the rest
        (it was the page's length, read as a count of matches).
    member
        The query's :class:`~geo_discovery.query.Member` (:attr:`unknown_visits`).
    """

    __slots__ = (
        "_cursor",
        "_explain",
        "_explanations",
        "_member",
        "distances_m",
        "dropped_words",
        "positions",
        "scores",
        "snapshot",
        "total",
    )

    def __init__(
        self,
        snapshot: Snapshot,
        positions: NDArray[np.int64],
        distances_m: NDArray[np.float64],
        scores: NDArray[np.float64] | None = None,
        *,
        explain: Callable[[], list[Explanation]] | list[Explanation] | None = None,
        next_cursor: Callable[[], str | None] | None = None,
        total: int | None = None,
        dropped_words: tuple[str, ...] = (),
        member: Member | None = None,
    ) -> None:
        self.snapshot = snapshot
        self._member = member
        #: Words of the query's text left out because no merchant matched them all (the
        #: search box's fallback: the last word first); empty when every word was used.
        self.dropped_words = dropped_words
        self.positions = positions
        self.distances_m = distances_m
        self.scores = scores
        self._explain = explain
        self._explanations: list[Explanation] | None = (
            explain if isinstance(explain, list) else None
        )
        self._cursor = next_cursor
        self.total = total

    @property
    def unknown_visits(self) -> int:
        """How many of the member's given visits (``Member.visits``) name a merchant id
        this snapshot does not hold: they lift nothing (merchants come and go, so they are
        not an error). 0 without visits; a ``member_id``'s history is not counted (whether
        an id has a history here is never said)."""
        member = self._member
        if member is None or not member.visits:
            return 0
        row = self.snapshot.row_or_none
        return sum(row(merchant_id) is None for merchant_id, _ in member.visits)

    # ---------------------------------------------------------------- sequence
    def __len__(self) -> int:
        return len(self.positions)

    @overload
    def __getitem__(self, i: int) -> Hit: ...
    @overload
    def __getitem__(self, i: slice) -> Results: ...
    def __getitem__(self, i: int | slice) -> Hit | Results:
        if isinstance(i, slice):
            ex = self.explanations
            return Results(
                self.snapshot,
                self.positions[i],
                self.distances_m[i],
                None if self.scores is None else self.scores[i],
                explain=None if ex is None else ex[i],
                total=self.total,
                dropped_words=self.dropped_words,
                member=self._member,
            )
        if isinstance(i, bool) or not isinstance(i, int | np.integer):  # as a list says it
            raise TypeError(f"result indices must be integers or slices, not "
                            f"{type(i).__name__} {i!r:.40}")  # fmt: skip
        n = len(self)
        j = i + n if i < 0 else i
        if not 0 <= j < n:
            raise IndexError(f"result index {i} out of range for {n} results")
        return self._hits(slice(j, j + 1))[0]

    def __iter__(self) -> Iterator[Hit]:
        return iter(self._hits(slice(None)))

    def __repr__(self) -> str:
        return f"Results({len(self)} of snapshot {self.version!r})"

    def _hits(self, which: slice) -> list[Hit]:
        pos = self.positions[which]
        cols = self.snapshot.rows.columns(pos, [f for f in HIT_FIELDS if f != "distance_m"])
        dists = self.distances_m[which].tolist()
        scores = None if self.scores is None else self.scores[which].tolist()
        ex = self.explanations
        ex = None if ex is None else ex[which]
        out = []
        for i, p in enumerate(pos.tolist()):
            out.append(
                Hit(
                    merchant_id=cols["merchant_id"][i],
                    name=cols["name"][i],
                    lat=cols["lat"][i],
                    lng=cols["lng"][i],
                    distance_m=dists[i],
                    category=cols["category"][i],
                    position=p,
                    score=None if scores is None else scores[i],
                    explanation=None if ex is None else ex[i],
                    attributes={f: cols[f][i] for f in _EXTRA if f in cols},
                )
            )
        return out

    # --------------------------------------------------------------- parts
    @property
    def version(self) -> str:
        """The version of the snapshot that answered."""
        return self.snapshot.version

    @property
    def merchant_ids(self) -> list[str]:
        return [
            str(x)
            for x in self.snapshot.rows.columns(self.positions, ["merchant_id"])["merchant_id"]
        ]

    @property
    def explanations(self) -> list[Explanation] | None:
        """Each hit's score parts (``explain=True``), else ``None``."""
        if self._explanations is None and callable(self._explain):
            self._explanations = self._explain()
        return self._explanations

    @property
    def next_cursor(self) -> str | None:
        """Opaque cursor for the next page; ``None`` when there is no more."""
        return self._cursor() if self._cursor is not None else None

    # ---------------------------------------------------------------- outputs
    def to_records(self, fields: str | Sequence[str] | None = None) -> list[dict[str, Any]]:
        """One dict per hit: the selected ``fields`` (default all) in canonical order.

        ``score`` and ``explain`` come when the query produced them. The API, the CLI and
        the fast lane all serialise through this.
        """
        selected = parse_fields(fields)
        ex = self.explanations if "explain" in selected else None
        return self.snapshot.rows.records(
            self.positions,
            self.distances_m,
            selected,
            scores=self.scores,
            explanations=None if ex is None else [e.to_dict() for e in ex],
        )

    def to_json_rows(self) -> list[bytes]:
        """:meth:`to_records` with every field as JSON bytes (the API's hot path)."""
        if self.explanations is not None:
            import orjson

            return [orjson.dumps(r) for r in self.to_records()]
        return self.snapshot.rows.json_rows(self.positions, self.distances_m, self.scores)

    def to_geojson(self, fields: str | Sequence[str] | None = None) -> dict[str, Any]:
        """A GeoJSON FeatureCollection (RFC 7946: ``[lng, lat]``) of the hits."""
        selected = parse_fields(fields)
        wanted = [f for f in (*HIT_FIELDS, *COMPUTED_FIELDS) if f in {*selected, "lat", "lng"}]
        features = []
        for rec in self.to_records(wanted):
            props = {k: v for k, v in rec.items() if k not in ("lat", "lng") or k in selected}
            props.pop("lat", None)
            props.pop("lng", None)
            features.append(
                {
                    "type": "Feature",
                    "id": rec["merchant_id"],
                    "geometry": {"type": "Point", "coordinates": [rec["lng"], rec["lat"]]},
                    "properties": props,
                }
            )
        return {"type": "FeatureCollection", "features": features}

    def to_frame(self) -> pd.DataFrame:
        """A DataFrame: one row per hit, every field, ``score`` when there is one, and
        what the load derived per merchant: ``wom_score``/``wom_confidence`` (word of
        mouth) and ``district_id`` (``None`` outside every district), when the snapshot
        has them."""
        table = self.snapshot.merchants.take(pa.array(self.positions))
        frame = table.drop_columns(
            [c for c in ("attributes",) if c in table.column_names]
        ).to_pandas()
        frame.insert(4, "distance_m", self.distances_m)
        if self.scores is not None:
            frame.insert(5, "score", self.scores)
        wom = self.snapshot.wom
        if wom is not None:
            frame["wom_score"] = np.asarray(wom[0])[self.positions]
            frame["wom_confidence"] = np.asarray(wom[1])[self.positions]
        districts = self.snapshot.district_columns
        if districts is not None:
            ids = np.asarray(districts[0], dtype=object)[self.positions]  # None stays None:
            frame["district_id"] = pd.Series(ids, dtype=object, index=frame.index)  # not NaN
        frame.index = pd.RangeIndex(len(frame), name="rank")
        return frame

    def to_geodataframe(self) -> gpd.GeoDataFrame:
        """:meth:`to_frame` with point geometry, EPSG:4326."""
        import geopandas as gpd

        frame = self.to_frame()
        return gpd.GeoDataFrame(
            frame, geometry=gpd.points_from_xy(frame["lng"], frame["lat"]), crs="EPSG:4326"
        )


@dataclass(frozen=True, eq=False)
class BatchResults:
    """The answers of many kNN queries at once (:meth:`DiscoveryEngine.nearby_many`).

    ``positions`` (rows of the merchant table) and ``distances_m`` have shape
    ``(n_queries, k)``, each row ordered like :meth:`DiscoveryEngine.nearby`'s answer;
    a query with fewer than ``k`` answers is padded with ``-1`` and ``inf``.
    :meth:`results` builds one query's :class:`Results` only when asked.

    Examples
    --------
    >>> batch = engine.nearby_many([60.17, 60.2], [24.94, 24.9], k=3)
    >>> batch.positions.shape, len(batch)
    ((2, 3), 2)
    >>> batch.merchant_ids(0) == engine.nearby(60.17, 24.94, k=3).merchant_ids
    True
    """

    snapshot: Snapshot
    positions: NDArray[np.int64]
    distances_m: NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.positions)

    def __repr__(self) -> str:
        n, k = self.positions.shape
        return f"BatchResults({n} queries, k={k}, snapshot {self.snapshot.version!r})"

    def results(self, i: int) -> Results:
        """Query ``i``'s answer as :class:`Results` (the padding left out)."""
        n = len(self)
        if isinstance(i, bool) or not isinstance(i, int | np.integer):
            raise TypeError(f"query index must be an integer, got {type(i).__name__} {i!r}")
        if not -n <= i < n:
            raise IndexError(f"query index {i} out of range for {n} queries")
        keep = self.positions[i] >= 0
        return Results(self.snapshot, self.positions[i][keep], self.distances_m[i][keep])

    def merchant_ids(self, i: int) -> list[str]:
        """Query ``i``'s merchant ids, nearest first."""
        return self.results(i).merchant_ids
