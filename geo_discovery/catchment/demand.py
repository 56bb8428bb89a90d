"""Demand on H3 cells: population points spread over cells, merchants as a proxy, or uniform."""

from __future__ import annotations

import csv
import math
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from numpy.typing import NDArray

from ..cells import average_edge_length_m, cell_caps, cell_to_str, latlngs_to_cells
from ..cells import grid_disk as h3_grid_disk
from ..cells import grid_ring as h3_grid_ring
from ..cellsets import cells_to_latlng, cells_to_polygon, disk_cells
from ..distance import haversine_m
from ..errors import DemandUnavailableError, IngestError, InvalidQueryError
from ..swaps import probable_swaps

__all__ = [
    "DEMAND_KINDS",
    "DemandSources",
    "demand_cells",
    "demand_from_points",
    "given_points",
    "read_demand",
]


_LAT_NAMES = ("lat", "latitude", "centroid_lat", "y")


_LNG_NAMES = ("lng", "lon", "longitude", "centroid_lon", "centroid_lng", "x")


_POP_NAMES = ("population", "pop", "demand", "weight")

#: Delimiters a demand file may use (the one the header line holds most of wins).
DELIMITERS = (",", ";", "\t", "|")
csv.field_size_limit(1 << 30)  # as the merchant reader: a long field (a polygon) is a field
_DECIMAL_COMMA = re.compile(r"[-+]?\d*,\d+(?:[eE][-+]?\d+)?")
_ALLOWED_POPULATION = "allowed: a finite number >= 0 (blank or 0: no people)"
_WHOLE_LINES: dict[str, Any] = {  # one text cell per physical line (\x1f is in no CSV)
    "header": None, "names": ["line"], "dtype": str, "sep": "\x1f", "quoting": csv.QUOTE_NONE,
    "encoding": "utf-8-sig", "encoding_errors": "replace", "keep_default_na": False,
}  # fmt: skip


# --------------------------------------------------------------------------- demand
def read_demand(path: str | Path) -> pd.DataFrame:
    """Population points from a CSV: ``lat``/``lng`` (or ``latitude``, ``centroid_lat``,
    ``lon``…) and ``population`` (or ``pop``, ``demand``), as float64 columns ``lat``,
    ``lng``, ``population``, one row per point with people.

    The delimiter is the one of ``, ; TAB |`` the header line holds most of; a UTF-8 BOM
    is skipped; a file not delimited by commas may write decimal commas (``60,17``) when
    its coordinates do (then every number of the file uses them). Rows with no people
    (population blank, ``NA`` or 0) are left out. Anything else is refused with an
    :class:`~geo_discovery.errors.IngestError` naming the first line at fault, never
    dropped: a population that is not a finite number >= 0; a row with people but no
    place on the map (coordinates missing, out of range, ``0, 0``), or whose lat and lng
    are probably swapped (:func:`geo_discovery.swaps.probable_swaps`); a file without rows
    or without people.

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "tracts.csv"
    >>> _ = path.write_text("lat;lng;pop\\n60,17;24,94;100\\n60,18;24,95;\\n")
    >>> read_demand(path).to_dict("list")
    {'lat': [60.17], 'lng': [24.94], 'population': [100.0]}
    >>> _ = path.write_text("lat,lng,pop\\n60.17,24.94,100\\n60.18,24.95,-3\\n")
    >>> read_demand(path)
    Traceback (most recent call last):
    ...
    geo_discovery.errors.IngestError: tracts.csv: 1 of 2 rows have an invalid population \
(first: line 3, population='-3' is negative); allowed: a finite number >= 0 (blank or 0: \
no people)
    """
    name = Path(path).name
    sep = _delimiter(path, name)
    _check_widths(path, name, sep)
    try:  # (index_col=False: a row's trailing delimiter does not shift it by a column)
        raw = pd.read_csv(path, sep=sep, dtype=str, encoding="utf-8-sig", index_col=False,
                          encoding_errors="replace")  # fmt: skip
    except pd.errors.ParserError as exc:
        why = " ".join(str(exc).split())
        raise IngestError(f"{name}: cannot be read with the delimiter {sep!r}: {why}") from None
    cols = {str(c).strip().lower(): c for c in raw.columns}

    def pick(names: Sequence[str], what: str) -> str:
        for n in names:
            if n in cols:
                return cols[n]
        found = ", ".join(repr(str(c)) for c in raw.columns[:12])
        hint = (
            f"; the header is one column: separate the columns with one of {DELIMITERS!r}"
            if len(raw.columns) == 1 else ""
        )  # fmt: skip
        raise IngestError(
            f"{name}: no {what} column; allowed names: {', '.join(names)}; found: {found}{hint}"
        )

    lat_col, lng_col = pick(_LAT_NAMES, "latitude"), pick(_LNG_NAMES, "longitude")
    pop_col = pick(_POP_NAMES, "population")
    if not len(raw):
        raise IngestError(
            f"{name}: no rows below the header; expected one row per population point "
            f"({lat_col}, {lng_col}, {pop_col})"
        )
    text = {k: raw[c].fillna("").str.strip() for k, c in (("lat", lat_col), ("lng", lng_col),
                                                          ("population", pop_col))}  # fmt: skip
    comma = sep != "," and bool(
        pd.concat([text["lat"], text["lng"]]).str.fullmatch(_DECIMAL_COMMA).any()
    )
    mark = f" written with this file's decimal mark {',' if comma else '.'!r}" if sep != "," else ""
    lat, lng, pop = (_numbers(text[k], comma) for k in ("lat", "lng", "population"))
    given = (text["population"] != "").to_numpy() & ~raw[pop_col].isna().to_numpy()
    with np.errstate(invalid="ignore"):
        bad = given & ~(np.isfinite(pop) & (pop >= 0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        why = "is not a number" if np.isnan(pop[i]) else "is negative" if pop[i] < 0 else (
            "is not finite")  # fmt: skip
        raise IngestError(
            f"{name}: {int(bad.sum()):,} of {len(raw):,} rows have an invalid population "
            f"(first: line {_line(path, i)}, population={text['population'].iat[i]!r} {why}); "
            f"{_ALLOWED_POPULATION}{mark}"
        )
    people = given & (pop > 0)
    if not people.any():
        raise IngestError(
            f"{name}: none of the {len(raw):,} rows has people (a population above 0 in "
            f"column {pop_col!r}); a demand file needs at least one; {_ALLOWED_POPULATION}"
        )
    with np.errstate(invalid="ignore"):
        placed = (np.abs(lat) <= 90) & (np.abs(lng) <= 180) & ~((lat == 0) & (lng == 0))

    def shown(key: str, i: int) -> str:
        return str(text[key].iat[i]) or "blank"

    lost = np.flatnonzero(people & ~placed)
    if len(lost):
        i = int(lost[0])
        raise IngestError(
            f"{name}: {len(lost):,} of {int(people.sum()):,} rows with population have no "
            f"valid coordinates (first: line {_line(path, i)}, lat={shown('lat', i)}, "
            f"lng={shown('lng', i)}); allowed: -90 <= lat <= 90 and -180 <= lng <= 180, not "
            f"both 0, WGS84 degrees{mark} (lat and lng swapped, or projected metres?)"
        )
    rows = np.flatnonzero(people)
    swapped, far_m, landing_m = probable_swaps(lat[rows], lng[rows])
    if swapped.any():
        j = int(np.flatnonzero(swapped)[0])
        i = int(rows[j])
        raise IngestError(
            f"{name}: {int(swapped.sum()):,} of {len(rows):,} rows with population are a "
            f"probable lat/lng swap (first: line {_line(path, i)}, lat={shown('lat', i)}, "
            f"lng={shown('lng', i)} is {far_m[j] / 1000:,.0f} km from the file's other points;"
            f" swapped, (lat={shown('lng', i)}, lng={shown('lat', i)}) lands among them, "
            f"within {landing_m:,.0f} m of one); allowed: WGS84 degrees, the latitude in "
            f"{lat_col!r} and the longitude in {lng_col!r}"
        )
    return pd.DataFrame({"lat": lat[rows], "lng": lng[rows], "population": pop[rows]})


def _check_widths(path: str | Path, name: str, sep: str) -> None:
    """Refuse a row with fewer fields than the header, or more that hold a value (empty
    fields after the last column, a trailing delimiter, are read without them; so is a
    header's own trailing delimiter): read as they came, they shifted every value by a
    column or dropped a row in silence. Lines come as pandas reads them (compressed,
    BOM, undecodable bytes), blank ones skipped."""
    try:
        lines = pd.read_csv(path, **_WHOLE_LINES)["line"].tolist()
    except pd.errors.ParserError:  # a \x1f in a field: no lines to count, read as before
        return
    rows = csv.reader(iter(lines), delimiter=sep)
    try:
        header = next(rows, [])
        while header and not header[-1].strip():
            header = header[:-1]
        for row in rows:
            values = [v.strip() for v in row]
            if not any(values) or (len(row) >= len(header) and not any(values[len(header):])):
                continue
            raise IngestError(
                f"{name}: line {_line(path, rows.line_num - 2)} has {len(row)} fields where "
                f"the header has {len(header)} ({sep.join(header)}): {sep.join(row)[:120]!r}; "
                "allowed: one value per header column (a blank population: no people)"
            )
    except csv.Error as exc:
        raise IngestError(f"{name}: cannot be read with the delimiter {sep!r}: {exc}") from None


def _delimiter(path: str | Path, name: str) -> str:
    """The one of :data:`DELIMITERS` the header line (the first non-blank) holds most of."""
    try:
        head = pd.read_csv(path, nrows=1, **_WHOLE_LINES)
    except pd.errors.EmptyDataError:
        head = pd.DataFrame()
    if not len(head):
        raise IngestError(
            f"{name}: the file is empty; expected a header line (e.g. lat,lng,population) "
            "and one row per population point"
        )
    line = str(head["line"].iat[0])
    counts = [line.count(d) for d in DELIMITERS]
    return DELIMITERS[counts.index(max(counts))]


def _numbers(text: pd.Series, comma: bool) -> NDArray[np.float64]:
    """Numbers from stripped text: NaN where blank or not a number (with a decimal
    comma, a dot makes the value ambiguous: not a number either)."""
    if comma:
        text = text.where(~text.str.contains(".", regex=False), "?")
        text = text.str.replace(",", ".", regex=False)
    return np.asarray(pd.to_numeric(text, errors="coerce"), dtype=np.float64)


def _line(path: str | Path, row: int) -> int:
    """The physical line (1-based) of data row ``row``: pandas skips blank lines."""
    try:
        lines = pd.read_csv(path, skip_blank_lines=False, **_WHOLE_LINES)["line"]
        filled = np.flatnonzero(lines.fillna("").str.strip().to_numpy() != "")
        return int(filled[row + 1]) + 1
    except (ValueError, IndexError, OSError):  # a quoted line break, a stray \x1f
        return row + 2


def demand_from_points(
    lat: Sequence[float] | NDArray,
    lng: Sequence[float] | NDArray,
    population: Sequence[float] | NDArray,
    *,
    resolution: int = 9,
    spread_k: int = 1,
) -> gpd.GeoDataFrame:
    """Spread population points over H3 cells: each point's population is shared evenly
    by the cells within grid distance ``spread_k`` of its cell (0: its cell only).

    Returns a GeoDataFrame indexed by the cell's hex id, with ``cell`` (``uint64``),
    ``lat``/``lng`` (cell centre), ``population`` and the cell's hexagon. The total
    population is preserved exactly.
    """
    lat = np.asarray(lat, dtype=np.float64)
    lng = np.asarray(lng, dtype=np.float64)
    pop = np.asarray(population, dtype=np.float64)
    if not (len(lat) == len(lng) == len(pop)):
        raise ValueError("lat, lng and population must have the same length")
    if spread_k < 0:
        raise ValueError(f"spread_k={spread_k} is out of range; allowed: >= 0")
    if len(pop) and (not np.isfinite(pop).all() or (pop < 0).any()):
        raise ValueError("population must be finite and >= 0")
    origin = latlngs_to_cells(lat, lng, resolution)
    uniq, inv = np.unique(origin, return_inverse=True)
    per_origin = np.bincount(inv, weights=pop, minlength=len(uniq))
    parts, weights = [], []
    for cell, total in zip(uniq.tolist(), per_origin.tolist(), strict=True):
        disk = disk_cells([cell], spread_k)
        parts.append(disk)
        weights.append(np.full(len(disk), total / len(disk)))
    if parts:
        flat = np.concatenate(parts)
        cells, where = np.unique(flat, return_inverse=True)
        value = np.bincount(where, weights=np.concatenate(weights), minlength=len(cells)).astype(
            np.float64
        )
    else:
        cells, value = np.empty(0, np.uint64), np.empty(0, np.float64)
    clat, clng = cells_to_latlng(cells)
    geoms = [cells_to_polygon([c]) for c in cells.tolist()]
    frame = gpd.GeoDataFrame(
        {"cell": cells, "lat": clat, "lng": clng, "population": value},
        geometry=geoms,
        crs="EPSG:4326",
        index=pd.Index([cell_to_str(c) for c in cells.tolist()], name="cell_id"),
    )
    return frame


# ------------------------------------------------------------------ one district
DEMAND_KINDS = ("population", "merchants", "uniform")


def demand_cells(
    lat: Sequence[float] | NDArray,
    lng: Sequence[float] | NDArray,
    weight: Sequence[float] | NDArray,
    *,
    resolution: int = 9,
    spread_k: int = 0,
) -> pd.DataFrame:
    """:func:`demand_from_points` without the hexagons (fast, for thousands of cells):
    ``cell`` (``uint64``), ``lat``/``lng`` (cell centre) and ``population``, one row per
    cell, sorted by cell. The total is preserved exactly."""
    lat = np.asarray(lat, dtype=np.float64)
    lng = np.asarray(lng, dtype=np.float64)
    pop = np.asarray(weight, dtype=np.float64)
    if not (len(lat) == len(lng) == len(pop)):
        raise ValueError("lat, lng and weight must have the same length")
    if spread_k < 0:
        raise ValueError(f"spread_k={spread_k} is out of range; allowed: >= 0")
    cells: NDArray[np.uint64] = np.empty(0, np.uint64)
    value: NDArray[np.float64] = np.empty(0, np.float64)
    if len(pop):
        origin = latlngs_to_cells(lat, lng, resolution)
        uniq, inv = np.unique(origin, return_inverse=True)
        per_origin = np.bincount(inv, weights=pop, minlength=len(uniq))
        if spread_k == 0:
            cells, value = uniq, np.asarray(per_origin, dtype=np.float64)
        else:
            parts = [disk_cells([c], spread_k) for c in uniq.tolist()]
            shares = [np.full(len(d), t / len(d)) for d, t in zip(parts, per_origin, strict=True)]
            cells, where = np.unique(np.concatenate(parts), return_inverse=True)
            value = np.asarray(
                np.bincount(where, weights=np.concatenate(shares), minlength=len(cells)),
                dtype=np.float64,
            )
    clat, clng = cells_to_latlng(cells)
    return pd.DataFrame(
        {"cell": cells, "lat": clat, "lng": clng, "population": value.astype(np.float64)}
    )


def uniform_demand(lat: float, lng: float, radius_m: float, resolution: int) -> pd.DataFrame:
    """Every cell of ``resolution`` whose centre lies within ``radius_m``, one unit each.

    The disk grows until a whole ring of cells lies beyond the radius (each cell's nearest
    point, by its bounding cap): a centre within the radius is reached from the point's
    cell through that ring, so none is missed where cells are smaller than average."""
    origin = latlngs_to_cells(np.array([lat]), np.array([lng]), resolution)[0]
    k = uniform_disk_k(radius_m, resolution)
    while True:
        ring = h3_grid_ring(int(origin), k)
        _, reach = cell_caps(ring)
        rlat, rlng = cells_to_latlng(ring)
        if not len(ring) or (haversine_m(lat, lng, rlat, rlng) - reach).min() > radius_m:
            break
        k += max(1, k // 8)
    cells = np.sort(h3_grid_disk(origin, k))
    clat, clng = cells_to_latlng(cells)
    keep = haversine_m(lat, lng, clat, clng) <= radius_m
    return pd.DataFrame(
        {"cell": cells[keep], "lat": clat[keep], "lng": clng[keep], "population": 1.0}
    )


def uniform_disk_k(radius_m: float, resolution: int) -> int:
    """A first grid distance for a disk covering ``radius_m`` (cell centres are about
    ``√3 · edge`` apart; the margin covers their spread): a disk has ``3k(k+1)+1`` cells.
    :func:`uniform_demand` grows it where cells are smaller."""
    return math.ceil(radius_m / (math.sqrt(3) * average_edge_length_m(resolution) * 0.8)) + 1


class DemandSources:
    """The demand a snapshot's catchments weigh, by kind, built once per resolution.

    ``lat``/``lng``: the merchants (``merchants`` demand); ``path``: the
    ``catchment_demand_path`` setting (``population`` demand); ``max_cells``: the most
    cells a ``uniform`` disk may hold. Thread-safe.
    """

    def __init__(
        self, lat: NDArray[np.float64], lng: NDArray[np.float64], path: Any, max_cells: int
    ) -> None:
        self.lat, self.lng, self.path, self.max_cells = lat, lng, path, max_cells
        self._lock = threading.Lock()
        self._frames: dict[tuple[Any, ...], pd.DataFrame] = {}

    def get(
        self, kind: str | pd.DataFrame, radius_m: float, res: int, centre: tuple[float, float]
    ) -> tuple[pd.DataFrame, dict[str, Any]]:
        """``(cells, source)``: the demand cells of ``kind`` (``auto`` resolved; or a frame
        of population points, :func:`given_points`) at resolution ``res`` around ``centre``,
        and a description of where they came from."""
        if isinstance(kind, pd.DataFrame):
            points = given_points(kind)
            lat, lng, people = (points[c].to_numpy() for c in ("lat", "lng", "population"))
            cells = demand_cells(lat, lng, people, resolution=res, spread_k=1)
            return cells, {
                "kind": "population",
                "description": f"{len(points):,} population points given with the query, each "
                "spread over its H3 cell and the cells around it",
            }
        path = self.path
        if kind == "auto":
            kind = "population" if path is not None else "merchants"
        if kind == "population":
            if path is None:
                raise InvalidQueryError(
                    "demand=population needs the catchment_demand_path setting (a CSV of "
                    "population points), which is not set; allowed: auto, merchants, uniform"
                )
            try:
                st = Path(path).stat()
                key: tuple[Any, ...] = ("population", str(path), st.st_mtime_ns, st.st_size, res)
                frame = self._cached(key, lambda: _population_cells(path, res))
            except (OSError, ValueError, KeyError) as exc:
                why = exc.strerror if isinstance(exc, OSError) else str(exc)  # never the path
                kind = "" if isinstance(exc, IngestError) else f"{type(exc).__name__}: "
                raise DemandUnavailableError(
                    f"the demand file {Path(path).name} (--demand, or the catchment_demand_path "
                    f"setting) cannot be read: {kind}{why}"
                ) from None
            return frame, {
                "kind": "population",
                "description": f"population points from {Path(path).name}, each spread over "
                "its H3 cell and the cells around it",
            }
        if kind == "merchants":
            lat, lng = self.lat, self.lng
            frame = self._cached(
                ("merchants", res),
                lambda: demand_cells(lat, lng, np.ones(len(lat)), resolution=res),
            )
            return frame, {
                "kind": "merchants",
                "description": "no population source is configured (catchment_demand_path): "
                "each merchant of the snapshot counts as one unit of demand, a proxy for footfall",
            }
        k, cap = uniform_disk_k(radius_m, res), self.max_cells
        # the disk searched holds ~1.4-1.9x the cells within the radius (its margin): it is
        # refused unsearched only when far too big (over 2x cap within), else by the count
        disk = 3 * k * (k + 1) + 1
        found = None if disk > 4 * cap else uniform_demand(centre[0], centre[1], radius_m, res)
        if found is None or len(found) > cap:
            many = f"over {2 * cap}" if found is None else f"{len(found)}"
            raise InvalidQueryError(
                f"radius_m={radius_m:g} at resolution={res} holds {many} demand cells; allowed: at "
                f"most {cap} (api_max_catchment_cells setting): use a coarser resolution or "
                "a smaller radius_m"
            )
        if not len(found):  # a radius shorter than the cells' spacing
            apart = math.sqrt(3) * average_edge_length_m(res)
            raise InvalidQueryError(
                f"radius_m={radius_m:g} at resolution={res} holds no cell centre (they are "
                f"about {apart:,.0f} m apart there); allowed: a finer resolution or a larger "
                "radius_m"
            )
        return found, {
            "kind": "uniform",
            "description": "every H3 cell within radius_m of the district counts as one unit "
            "of demand (geography only)",
        }

    def _cached(self, key: tuple[Any, ...], build: Any) -> pd.DataFrame:
        with self._lock:
            got = self._frames.get(key)
        if got is None:
            got = build()
            with self._lock:
                self._frames[key] = got
        return got


def given_points(frame: pd.DataFrame) -> pd.DataFrame:
    """Population points given as a frame (``lat``, ``lng``, ``population``), checked as
    :func:`read_demand` checks a file's: rows with no people (population blank, NaN or 0)
    are left out, whatever their coordinates; a population that is not a finite number
    >= 0, a row with people whose lat or lng is not a finite number on the map (or is
    ``0, 0``), or rows whose lat and lng are probably swapped
    (:func:`geo_discovery.swaps.probable_swaps`) are refused with an
    :class:`InvalidQueryError` naming the first row at fault.

    Examples
    --------
    >>> given_points(pd.DataFrame({"lat": [60.17, None, 60.18], "lng": [24.94, None, 24.95],
    ...                            "population": [100, 0, None]})).to_dict("list")
    {'lat': [60.17], 'lng': [24.94], 'population': [100.0]}
    """
    missing = [c for c in ("lat", "lng", "population") if c not in frame.columns]
    if missing:
        raise InvalidQueryError(f"demand frame has no column {', '.join(missing)}; allowed: "
                                "lat, lng, population (as read_demand returns them)")  # fmt: skip
    out = pd.DataFrame({c: pd.to_numeric(frame[c], errors="coerce").astype(np.float64)
                        for c in ("lat", "lng", "population")})  # fmt: skip
    people = frame["population"]
    # blank as in a file: missing, or text of only spaces (other text is not a number)
    given = ~people.isna().to_numpy()
    if not pd.api.types.is_numeric_dtype(people):
        given &= ~people.map(lambda v: isinstance(v, str) and not v.strip()).to_numpy(dtype=bool)
    pop = out["population"].to_numpy()
    with np.errstate(invalid="ignore"):
        bad = given & ~(np.isfinite(pop) & (pop >= 0))
        has_people = given & (pop > 0)
    lat_a, lng_a = out["lat"].to_numpy(), out["lng"].to_numpy()
    with np.errstate(invalid="ignore"):
        placed = (np.abs(lat_a) <= 90) & (np.abs(lng_a) <= 180) & ~((lat_a == 0) & (lng_a == 0))
    bad |= has_people & ~placed
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        lat, lng, people_i = (frame[c].iloc[i] for c in ("lat", "lng", "population"))
        shown = [v.item() if isinstance(v, np.generic) else v for v in (lat, lng, people_i)]
        raise InvalidQueryError(
            f"demand row {i}: lat {shown[0]!r}, lng {shown[1]!r}, population "
            f"{shown[2]!r}; allowed: -90 <= lat <= 90, -180 <= lng <= 180, not both 0, and "
            "a finite population >= 0 (blank or 0: no people, left out)"
        )
    out = out[has_people]
    if not len(out):
        raise InvalidQueryError("demand frame holds no people; allowed: points with population")
    swapped, far_m, landing_m = probable_swaps(out["lat"].to_numpy(), out["lng"].to_numpy())
    if swapped.any():
        j = int(np.flatnonzero(swapped)[0])
        i = int(np.flatnonzero(has_people)[j])
        lat, lng = (float(out[c].to_numpy()[j]) for c in ("lat", "lng"))
        raise InvalidQueryError(
            f"demand frame: {int(swapped.sum()):,} of {len(out):,} rows with population are a "
            f"probable lat/lng swap (first: row {i}, lat {lat!r}, lng {lng!r} is "
            f"{far_m[j] / 1000:,.0f} km from the other points; swapped, it lands among them, "
            f"within {landing_m:,.0f} m of one); allowed: WGS84 degrees, the latitude in 'lat' "
            "and the longitude in 'lng'"
        )
    return out.reset_index(drop=True)


def _population_cells(path: Any, resolution: int) -> pd.DataFrame:
    points = read_demand(path)
    return demand_cells(
        points["lat"].to_numpy(),
        points["lng"].to_numpy(),
        points["population"].to_numpy(),
        resolution=resolution,
        spread_k=1,
    )
