"""Visit logs (check-ins): read them, cut them in time, and turn them into per-venue signals.

A visit log has one row per visit: who (``user``), where (``venue``, ``lat``, ``lng``),
what kind of place (``category``) and when (``time``, UTC). Two schemas are read:

* the **generic** one: columns ``user``, ``venue``, ``lat``, ``lng``, ``category``,
  ``time`` (ISO 8601; a naive time is UTC), optionally ``merchant`` (true/false: is the
  venue a merchant?), ``name`` and ``local_time`` (the visit's local wall-clock time;
  without it, or where it is blank, the time zone at the venue's coordinates gives it);
* **Foursquare's TSMC2014** export: ``user_id``, ``venue_id``, ``category_name``,
  ``level_1``, ``latitude``, ``longitude``, ``utc_time`` (merchants are the venues whose
  ``level_1`` is a commercial root: dining, retail, nightlife, arts, sports).

:func:`venue_signals` aggregates the visits before a cut-off (``until``, so an evaluation
never learns from its own future) into one row per venue: visits, distinct visitors,
first and last visit, the *repeat share* (share of visits made by people who came back) and
the visits per time-of-week bin (local time, :mod:`geo_discovery.timeofweek`).
:func:`venues_to_canonical` makes the canonical merchant table of them: visits are the
word-of-mouth evidence (``review_count``, ``first_review``/``last_review``), the raw
signals stay in ``attributes``. Foursquare categories map onto the project's taxonomy
(:func:`checkin_category`) so consumption radii and filters apply.

Examples
--------
>>> log = pd.DataFrame({"user": [1, 1, 2], "venue": ["a", "a", "a"], "lat": 40.7,
...                     "lng": -74.0, "category": "Coffee Shop",
...                     "time": pd.to_datetime(["2012-05-01", "2012-06-01", "2012-07-01"],
...                                            utc=True), "merchant": True})
>>> sig = venue_signals(log)
>>> int(sig.loc["a", "visits"]), int(sig.loc["a", "visitors"]), float(sig.loc["a", "repeat_share"])
(3, 2, 0.6666666666666666)
>>> checkin_category("Dining and Drinking", "Pizza Place")
'food/restaurant/pizza'
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..distance import wrap_lng
from ..errors import IngestError
from ..schema import CANONICAL_COLUMNS, to_arrow
from ..timeofweek import ATTRIBUTE, N_BINS, time_bins, time_zones_at
from .raw import RawTable
from .result import IngestResult
from .taxonomy import UNKNOWN_CATEGORY, slugify
from .values import read_numbers

__all__ = [
    "FUTURE_SLACK",
    "GENERIC_COLUMNS",
    "MERCHANT_ROOTS",
    "checkin_category",
    "read_visit_sources",
    "read_visits",
    "utc",
    "venue_signals",
    "venues_to_canonical",
]

#: A visit dated later than this after the clock now has not happened: a wrong clock or
#: year in the log. It would make every other venue look stale (recency) and push a
#: calibration window past the log, so it is rejected (a day covers any time zone slip).
FUTURE_SLACK = pd.Timedelta(days=1)
#: The generic visit-log columns (``merchant`` and ``name`` are optional).
GENERIC_COLUMNS = ("user", "venue", "lat", "lng", "category", "time")
_TSMC = {
    "user_id": "user",
    "venue_id": "venue",
    "latitude": "lat",
    "longitude": "lng",
    "category_name": "category",
    "utc_time": "time",
}
#: Foursquare top-level categories whose venues are merchants.
MERCHANT_ROOTS = (
    "Dining and Drinking",
    "Retail",
    "Nightlife Spot",
    "Arts and Entertainment",
    "Sports and Recreation",
)
# (words in the Foursquare category name, taxonomy path), first match wins. Names
# are Foursquare's own vocabulary, the same in every city.
_KEYWORDS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("coffee",), "food/coffee"),
    (("café", "cafe", "tea room"), "food/cafe"),
    (("deli", "bodega"), "food/grocery/bodega"),
    (("supermarket",), "food/grocery/supermarket"),
    (("grocery", "food & drink shop", "market", "convenience"), "food/grocery"),
    (("bakery", "donut", "dessert", "cupcake"), "food/bakery"),
    (("ice cream", "frozen yogurt"), "food/ice_cream"),
    (("pizza",), "food/restaurant/pizza"),
    (
        ("burger", "sandwich", "fast food", "hot dog", "fried chicken", "food truck"),
        "food/fast_food",
    ),
    (("brewery", "beer garden", "wine bar", "pub", "bar", "lounge", "speakeasy"), "nightlife/bar"),
    (("nightclub", "club"), "nightlife/nightclub"),
    (("clothing", "boutique", "shoe", "apparel"), "shop/clothes"),
    (("drugstore", "pharmacy"), "shop/chemist"),
    (("department store",), "shop/department_store"),
    (("mall",), "shop/mall"),
    (("electronics",), "shop/electronics"),
    (("furniture", "home store"), "shop/furniture"),
    (("gym", "fitness", "yoga"), "leisure/fitness"),
    (("movie", "cinema", "theater", "theatre"), "leisure/cinema_theatre"),
)
_ROOT_PATHS = {
    "Dining and Drinking": "food",
    "Retail": "shop",
    "Nightlife Spot": "nightlife",
    "Arts and Entertainment": "leisure/arts",
    "Sports and Recreation": "leisure/sports",
}


def checkin_category(level_1: str, name: str) -> str:
    """A Foursquare (2012) category onto the project's taxonomy.

    Restaurants keep their cuisine (``Thai Restaurant`` → ``food/restaurant/thai``);
    keywords map the rest; anything else is ``<root>/<slug of the name>``; no name and no
    known root: ``unknown``.

    >>> checkin_category("", ""), checkin_category("Retail", ""), checkin_category("", "Spa")
    ('unknown', 'shop', 'place/spa')
    """
    low = str(name).strip().lower()
    if low.endswith(" restaurant") or low == "restaurant":
        cuisine = slugify(low.removesuffix("restaurant"))
        return "food/restaurant" + (f"/{cuisine}" if cuisine else "")
    for words, path in _KEYWORDS:
        if any(w in low for w in words):
            return path
    root = _ROOT_PATHS.get(str(level_1).strip())
    leaf = slugify(low)
    if root is None:
        root = "place" if leaf else UNKNOWN_CATEGORY  # the log says nothing of the venue
    return f"{root}/{leaf}" if leaf else root


def utc(when: datetime | pd.Timestamp | str) -> pd.Timestamp:
    """``when`` as a UTC timestamp (a naive time is taken as UTC)."""
    t = pd.Timestamp(when)
    return t.tz_convert("UTC") if t.tzinfo is not None else t.tz_localize("UTC")


def read_visits(path: str | Path) -> pd.DataFrame:
    """A visit log (CSV in any encoding or delimiter the loader reads, optionally gzipped
    or zipped, or Parquet) as ``user, venue, lat, lng, category, time, merchant, level_1,
    local_time`` (and ``name``), ``time`` in UTC; raises :class:`IngestError` naming what
    is missing. A row the reader could not split into its fields (a stray quote, extra
    fields) has no coordinates or time, nor has a visit dated after now
    (:data:`FUTURE_SLACK`): :func:`read_visit_sources` rejects them, naming why.
    """
    return _read_log(Path(path))[0]


def _read_log(path: Path) -> tuple[pd.DataFrame, RawTable, np.ndarray]:
    """:func:`read_visits`'s frame, the file as read (its lines, row problems) and which
    rows are dated in the future (their ``time`` is empty: :data:`FUTURE_SLACK`)."""
    from .readers import read_raw

    if not path.is_file():
        raise IngestError(f"{path.name}: cannot read the visit log: no such file")
    raw = read_raw(path)
    text = raw.frame
    cols = set(text.columns)
    if set(_TSMC) <= cols:
        text = text.rename(columns=_TSMC)
        level = text["level_1"]
        merchant = level.isin(MERCHANT_ROOTS).to_numpy()
    elif set(GENERIC_COLUMNS) <= cols:
        level = text["level_1"] if "level_1" in cols else pd.Series("", index=text.index)
        merchant = np.ones(len(text), dtype=bool)
        if "merchant" in cols:
            flag = text["merchant"].str.strip().str.lower()
            merchant = flag.isin(["true", "1", "yes"]).to_numpy(dtype=bool)
    else:
        raise IngestError(
            f"{path.name} is not a visit log: it has columns {sorted(cols)[:12]}; allowed: the "
            f"generic {', '.join(GENERIC_COLUMNS)} (optionally merchant, name) or Foursquare's "
            f"TSMC2014 {', '.join(_TSMC)}"
        )
    bad = raw.structural
    frame = pd.DataFrame(index=text.index)
    frame["user"] = text["user"].str.strip()
    frame["venue"] = text["venue"].str.strip()
    for col in ("lat", "lng"):
        cells = text[col].str.strip()
        marks = raw.decimals
        got = read_numbers(cells, (cells == "").to_numpy(), field=col, thousands=False, axis=col,
                           decimal=marks["decimal"], fallback=marks["fallback_decimal"]).values
        frame[col] = np.where(bad, np.nan, got)
    category = text["category"].str.strip()
    frame["category"] = category.where(category != "")
    time = pd.to_datetime(text["time"].str.strip(), utc=True, errors="coerce", format="ISO8601")
    future = (time > pd.Timestamp.now(tz="UTC") + FUTURE_SLACK).to_numpy() & ~bad
    frame["time"] = time.where(~bad & ~future)  # a visit not yet made counts nowhere
    frame["merchant"] = merchant & ~bad
    frame["level_1"] = level.str.strip()
    if "local_time" in cols:
        frame["local_time"] = text["local_time"]
    frame["local_time"] = _local_times(frame)
    if "name" in cols:
        frame["name"] = text["name"]
    return frame, raw, future


def _local_times(frame: pd.DataFrame) -> pd.Series:
    """Each visit's local wall-clock time (naive): the log's ``local_time`` where given
    (TSMC2014 has it), else UTC ``time`` in the time zone at the visit's coordinates."""
    local = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns]")
    if "local_time" in frame.columns:  # a wall clock: an offset or Z only names its zone
        text = frame["local_time"].astype("string").str.strip()
        text = text.str.replace(r"(Z|[+-]\d{2}(:?\d{2})?)$", "", regex=True)
        given = pd.to_datetime(text, errors="coerce", format="ISO8601")
        local = given.astype("datetime64[ns]")
    todo = local.isna() & frame["time"].notna() & frame["lat"].between(-90, 90)
    todo &= frame["lng"].between(-180, 180)
    if todo.any():
        rows = frame[todo]
        first = rows.groupby("venue", sort=False)[["lat", "lng"]].first()
        found = time_zones_at(first["lat"].tolist(), first["lng"].tolist())
        zone = dict(zip(first.index, found, strict=True))
        zones = rows["venue"].map(zone).fillna("UTC")
        for name, idx in zones.groupby(zones).groups.items():
            wall = rows.loc[idx, "time"].dt.tz_convert(str(name)).dt.tz_localize(None)
            local.loc[idx] = wall.astype("datetime64[ns]")
    return local


def _median_lng(v: pd.DataFrame, g: pd.api.typing.DataFrameGroupBy) -> pd.Series:
    """Each venue's median longitude, the short way round where its visits lie on both
    sides of ±180 (a plain median of 179.99 and -179.99 is 0: the other side of the
    Earth); the plain median elsewhere."""
    out = g["lng"].median()
    wide = (g["lng"].max() - g["lng"].min()) > 180.0
    if wide.any():
        far = v[v["venue"].isin(wide.index[wide])]
        ref = far.groupby("venue")["lng"].transform("first")
        mid = (ref + wrap_lng(far["lng"] - ref)).groupby(far["venue"]).median()
        out.loc[mid.index] = wrap_lng(mid)
    return out


def venue_signals(
    visits: pd.DataFrame, until: datetime | pd.Timestamp | None = None
) -> pd.DataFrame:
    """Per merchant venue, from the visits strictly before ``until`` (all when ``None``).

    Columns: ``lat``, ``lng`` (medians), ``category`` and ``level_1`` (most frequent),
    ``visits``, ``visitors`` (distinct users), ``first_visit``, ``last_visit``,
    ``repeat_share`` (visits by people who visited more than once / visits),
    ``visits_by_time`` (visits per local time-of-week bin, where the log has times); indexed
    by venue.
    """
    v = visits[visits["merchant"].astype(bool)] if "merchant" in visits.columns else visits
    if "level_1" not in v.columns:
        v = v.assign(level_1="")
    if until is not None:
        v = v[v["time"] < utc(until)]
    v = v[np.isfinite(v["lat"]) & np.isfinite(v["lng"])]
    g = v.groupby("venue", sort=True)
    per_user = v.groupby(["venue", "user"]).size()
    repeat = per_user[per_user > 1].groupby(level=0).sum()
    out = pd.DataFrame(
        {
            "lat": g["lat"].median(),
            "lng": _median_lng(v, g),
            "category": _most_frequent(v, "category"),
            "level_1": _most_frequent(v, "level_1"),
            "visits": g.size(),
            "visitors": g["user"].nunique(),
            "first_visit": g["time"].min(),
            "last_visit": g["time"].max(),
        }
    )
    out["repeat_share"] = (repeat.reindex(out.index).fillna(0) / out["visits"]).astype(float)
    if "local_time" in v.columns:
        hist = np.zeros((len(out), N_BINS), dtype=np.int64)
        bins = time_bins(v["local_time"])
        ok = bins >= 0
        np.add.at(hist, (out.index.get_indexer(v["venue"])[ok], bins[ok]), 1)
        out["visits_by_time"] = [row.tolist() for row in hist]
    if "name" in v.columns:
        out["name"] = _most_frequent(v.dropna(subset=["name"]), "name").reindex(out.index)
    out.index.name = "venue"
    return out


def _most_frequent(v: pd.DataFrame, col: str) -> pd.Series:
    """Per venue, its most frequent ``col`` (ties: the first in sorted order)."""
    counts = v.groupby(["venue", col], sort=True).size().reset_index(name="n")
    counts = counts.sort_values(["venue", "n"], ascending=[True, False], kind="stable")
    return counts.drop_duplicates("venue").set_index("venue")[col]


def venues_to_canonical(signals: pd.DataFrame, source: str = "checkins") -> pd.DataFrame:
    """The canonical merchant frame of :func:`venue_signals` (one merchant per venue)."""
    n = len(signals)
    names = signals["name"] if "name" in signals.columns else pd.Series("", index=signals.index)
    label = signals["category"].fillna("").astype(str)  # none: a venue's visits all blank
    name = names.fillna("").astype(str).str.strip()
    name = name.where(name != "", label.str.strip())
    name = name.where(name != "", pd.Series(signals.index.astype(str), index=signals.index))
    by_time = signals["visits_by_time"] if "visits_by_time" in signals.columns else [None] * n
    attrs = [
        json.dumps(
            {
                "visits": int(a),
                "visitors": int(b),
                "repeat_share": round(float(c), 6),
                "venue_category": str(d),
                **({} if e is None else {ATTRIBUTE: [int(x) for x in e]}),
            }
        )
        for a, b, c, d, e in zip(
            signals["visits"],
            signals["visitors"],
            signals["repeat_share"],
            label,
            by_time,
            strict=True,
        )
    ]
    frame = pd.DataFrame(
        {
            "merchant_id": [f"{source}:{v}" for v in signals.index],
            "name": name.astype(str).to_numpy(),
            "lat": signals["lat"].to_numpy(np.float64),
            "lng": signals["lng"].to_numpy(np.float64),
            "category": [
                checkin_category(a, b) for a, b in zip(signals["level_1"], label, strict=True)
            ],
            "status": "open",
            "review_count": pd.array(signals["visits"].to_numpy(), dtype="Int64"),
            "first_review": signals["first_visit"].dt.tz_convert(None).to_numpy(),
            "last_review": signals["last_visit"].dt.tz_convert(None).to_numpy(),
            "source": source,
            "source_file": source,
            "source_line": pd.array(np.arange(1, n + 1), dtype="Int64"),
            "attributes": attrs,
        }
    )
    for col in CANONICAL_COLUMNS:
        if col not in frame.columns:
            frame[col] = None
    return frame.loc[:, list(CANONICAL_COLUMNS)]


def _shown(cells: pd.Series, template: str) -> Any:
    """Messages naming each bad row's cell as written (``template`` has one ``{!r}``)."""
    return lambda idx: [template.format(cells.iat[i]) for i in idx]


def read_visit_sources(
    paths: list[Path], *, until: datetime | pd.Timestamp | str | None = None
) -> IngestResult:
    """Read visit logs into merchants (one per venue) plus every visit not counted.

    A row (a visit) is counted, or rejected with its reason: coordinates or time that cannot
    be read, a venue that is not a merchant, or a visit at or after ``until``. So ``rows
    read = visits counted + visits rejected`` holds per file, as for any load.
    """
    from .raw import file_sha256
    from .result import SourceReport, empty_rejects, problem_rows

    cut = utc(until) if until is not None else None
    merchants, rejects, reports, members = [], [], [], []
    for path in paths:
        visits, raw, future = _read_log(path)
        visits["source_line"] = raw.source_line
        p = raw.problems  # what the reader found (fields it could not split, encoding)
        ok = ~raw.structural
        cells = raw.frame.rename(columns=_TSMC)
        for col, lo, hi in (("lat", -90, 90), ("lng", -180, 180)):
            p.add(ok & ~visits[col].between(lo, hi).to_numpy(), _shown(
                cells[col], f"visit {col} {{!r}} is missing or not a number in {lo} … {hi}"))
        p.add(ok & visits["time"].isna().to_numpy() & ~future, _shown(
            cells["time"], "visit time {!r} is not an ISO 8601 date-time "
            "(e.g. 2012-05-01T18:30:00Z)"))
        p.add(future, _shown(cells["time"], "visit time {!r} is in the future (more than a "
                             "day after the load's clock): a wrong year or clock in the log"))
        for col in ("user", "venue"):
            p.add(ok & (visits[col] == "").to_numpy(), f"visit {col} is empty")
        p.add(ok & ~visits["merchant"].to_numpy(), "visit venue is not a merchant")
        if cut is not None:
            p.add(ok & (visits["time"] >= cut).to_numpy(),
                  f"visit is at or after --until {cut.isoformat()}")
        _repeats(visits, p.any(), p)
        bad = p.any()
        kept = visits[~bad]
        signals = venue_signals(kept)
        frame = venues_to_canonical(signals)
        frame["source_file"] = path.name
        merchants.append(frame)
        members.append(member_visits(kept))
        positions = np.flatnonzero(bad)
        rejects.append(
            problem_rows(
                [path.name] * len(positions),
                raw.source_line[positions].tolist(),
                [None] * len(positions),
                p.details()[positions].tolist(),
                _masked(raw, positions),
                severity="error",
            )
        )
        reports.append(
            SourceReport(
                path=str(path),
                sha256=file_sha256(path),
                bytes=path.stat().st_size,
                profile="checkins",
                rows_read=len(visits),
                rows_loaded=len(kept),
                rows_rejected=int(bad.sum()),
                notes=[
                    f"{len(kept)} visits counted into {len(frame)} merchant venues"
                    + (f", before {cut.isoformat()}" if cut is not None else ""),
                    *p.notes,
                ],
            )
        )
    all_merchants = pd.concat(merchants, ignore_index=True)
    if all_merchants["merchant_id"].duplicated().any():
        raise IngestError(
            "the same venue appears in several visit logs; load them as one file or one log "
            "per venue set"
        )
    all_rejects = pd.concat(rejects, ignore_index=True) if rejects else empty_rejects()
    return IngestResult(
        table=to_arrow(all_merchants),
        rejects=all_rejects,
        sources=reports,
        aggregated=True,
        members=pd.concat(members, ignore_index=True),
    )


def _repeats(visits: pd.DataFrame, bad: np.ndarray, p: Any) -> None:
    """Reject a visit that repeats an earlier row exactly (user, venue and time): one visit
    written twice would count twice (visits, repeat share, the member's history)."""
    key, fine = ["user", "venue", "time"], visits[~bad]
    again = np.zeros(len(visits), dtype=bool)  # by position, as the problems are
    again[~bad] = fine.duplicated(key, keep="first").to_numpy()
    if again.any():
        lines = np.zeros(len(visits), dtype=np.int64)  # each row's first line with its key
        lines[~bad] = fine.groupby(key, sort=False)["source_line"].transform("min").to_numpy()
        p.add(again, lambda idx: [f"visit repeats line {lines[i]} (the same user, venue "
                                  "and time): counted once" for i in idx])  # fmt: skip


def _masked(raw: RawTable, positions: np.ndarray) -> list[str]:
    """The rejected rows as written, but never who made them: a visit log is personal data
    (members are kept under hashed ids only), so the rejects file shows each row with its
    user replaced by ``<member>``; a row that could not be split into fields is withheld
    whole (its file and line say where it is)."""
    delimiter = raw.delimiter or ","
    columns = raw.columns
    user = next(c for c in columns if _TSMC.get(c, c) == "user")
    out = []
    for i in positions.tolist():
        if raw.structural[i]:
            out.append("<withheld: a visit log's row holds personal data>")
            continue
        cells = ["<member>" if c == user else str(v)
                 for c, v in zip(columns, raw.frame.iloc[i].tolist(), strict=True)]  # fmt: skip
        buffer = io.StringIO()
        csv.writer(buffer, delimiter=delimiter, lineterminator="\n").writerow(cells)
        out.append(buffer.getvalue()[:-1])  # (quoted as a CSV line: a newline in a cell)
    return out


def member_visits(visits: pd.DataFrame, source: str = "checkins") -> pd.DataFrame:
    """``member, merchant_id, visits, last_visit`` per person and merchant venue (the
    member histories a snapshot keeps, under hashed ids)."""
    v = visits[visits["merchant"].astype(bool)] if "merchant" in visits.columns else visits
    g = v.groupby(["user", "venue"], sort=True)["time"]
    out = pd.DataFrame({"visits": g.size(), "last_visit": g.max()}).reset_index()
    return pd.DataFrame(
        {
            "member": out["user"].astype(str),
            "merchant_id": source + ":" + out["venue"].astype(str),
            "visits": out["visits"].astype(np.int64),
            "last_visit": out["last_visit"],
        }
    )
