"""Opening hours: parsed at load, evaluated in each merchant's local time zone.

Merchants carry OpenStreetMap ``opening_hours`` strings (``Mo-Fr 08:00-20:00; PH off``),
untouched by ingest. At load, the ``hours`` deriver (:func:`derive_hours`):

* finds each merchant's IANA time zone **offline** from its location with
  ``timezonefinder`` (no network);
* parses every string with ``opening-hours-py`` (a Rust implementation of the OSM
  specification), in that zone, with the country that zone belongs to (``zone.tab`` of
  the ``tzdata`` package) for public holidays (``PH``);
* stores a per-merchant parse status and zone in ``SNAPSHOT/derived/hours/`` and reports
  the unparseable strings: counts and the first examples in the manifest, every one in
  ``unparseable.csv``.

An unparseable string never fails a load: the merchant's hours are *unknown*, exactly as
if it had none. ``open_at`` / ``open_now`` keep only merchants whose hours are known and
open at that instant (:meth:`HoursTable.open_mask`).

Time semantics: an aware ``datetime`` is an instant, seen in every merchant's own zone
(``open_now`` is ``datetime.now(UTC)``); a naive one is a wall-clock time applied in each
merchant's zone ("Saturday 10:00 wherever the shop is").

Examples
--------
>>> from datetime import datetime
>>> t = HoursTable.from_columns(["Mo-Fr 09:00-17:00", "junk hours", None],
...                             [60.17, 60.17, 60.17], [24.94, 24.94, 24.94])
>>> t.status.tolist()
[1, 2, 0]
>>> t.open_mask(np.arange(3), datetime(2024, 7, 15, 10, 0)).tolist()   # a Monday, local
[True, False, False]
"""

from __future__ import annotations

import csv
import functools
import importlib.resources
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from ..errors import SnapshotError
from ..settings import Settings
from ..timeofweek import time_zones_at

__all__ = [
    "HOURS_NONE",
    "HOURS_OK",
    "HOURS_UNPARSEABLE",
    "HoursTable",
    "country_for_time_zone",
    "derive_hours",
    "parse_hours",
    "read_hours",
    "time_zones_at",
]

HOURS_NONE = 0  # no opening_hours string
HOURS_OK = 1  # parsed
HOURS_UNPARSEABLE = 2  # present but not valid opening_hours syntax: treated as unknown
_MANIFEST_EXAMPLES = 50
_UTC = ZoneInfo("UTC")


@functools.cache
def _zone_countries() -> dict[str, str]:
    text = importlib.resources.files("tzdata").joinpath("zoneinfo", "zone.tab").read_text()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            parts = line.split("\t")
            if len(parts) >= 3:
                out[parts[2]] = parts[0]
    return out


def country_for_time_zone(tz: str | None) -> str | None:
    """ISO country of a zone (``zone.tab``), for public holidays; ``None`` if unknown.

    >>> country_for_time_zone("Europe/Helsinki"), country_for_time_zone("Etc/GMT+2")
    ('FI', None)
    """
    return _zone_countries().get(tz) if tz else None


@functools.lru_cache(maxsize=65_536)
def parse_hours(text: str, tz: str | None = None) -> Any:
    """Parse one ``opening_hours`` string in zone ``tz`` (cached).

    Raises ``ValueError`` with the parser's message when the string is not valid.
    """
    import opening_hours

    zone = ZoneInfo(tz) if tz else None
    country = country_for_time_zone(tz)
    unknown_country = getattr(opening_hours, "UnknownCountryError", LookupError)
    parser_error = getattr(opening_hours, "ParserError", SyntaxError)
    try:
        try:
            return opening_hours.OpeningHours(text, timezone=zone, country=country)
        except unknown_country:  # pragma: no cover - holiday data gaps
            return opening_hours.OpeningHours(text, timezone=zone)
    except (SyntaxError, parser_error) as exc:
        first = str(exc).strip().splitlines()
        raise ValueError(f"opening_hours {text!r} is not valid: {' '.join(first[:1])}") from None


def _classify(
    texts: Sequence[Any], lat: Sequence[float], lng: Sequence[float]
) -> tuple[NDArray[np.int8], NDArray[np.int16], list[str], list[tuple[int, str, str]]]:
    n = len(texts)
    status = np.zeros(n, dtype=np.int8)
    tz_code = np.full(n, -1, dtype=np.int16)
    rows = [i for i, t in enumerate(texts) if isinstance(t, str) and t.strip()]
    zones = time_zones_at([lat[i] for i in rows], [lng[i] for i in rows]) if rows else []
    names: list[str] = sorted({z for z in zones if z})
    code = {z: i for i, z in enumerate(names)}
    errors: list[tuple[int, str, str]] = []
    for i, tz in zip(rows, zones, strict=True):
        if tz:
            tz_code[i] = code[tz]
        try:
            parse_hours(texts[i].strip(), tz)
            status[i] = HOURS_OK
        except ValueError as exc:
            status[i] = HOURS_UNPARSEABLE
            errors.append((i, texts[i], str(exc)))
    return status, tz_code, names, errors


class HoursTable:
    """Opening hours of every merchant, aligned to the merchant table.

    ``status`` is :data:`HOURS_NONE`, :data:`HOURS_OK` or :data:`HOURS_UNPARSEABLE` per
    row; ``tz_code`` indexes ``tz_names`` (-1: unknown). Parsed expressions are built on
    first use and cached.
    """

    def __init__(
        self,
        texts: Sequence[Any],
        status: NDArray[np.int8],
        tz_code: NDArray[np.int16],
        tz_names: Sequence[str],
    ) -> None:
        self.texts = list(texts)
        self.status = np.asarray(status, dtype=np.int8)
        self.tz_code = np.asarray(tz_code, dtype=np.int16)
        self.tz_names = list(tz_names)
        self.known = self.status == HOURS_OK
        self.known.flags.writeable = False

    @classmethod
    def from_columns(
        cls, texts: Sequence[Any], lat: Sequence[float], lng: Sequence[float]
    ) -> HoursTable:
        """Classify and zone ``texts`` now (engines built from a table, not a snapshot)."""
        status, tz_code, names, _ = _classify(list(texts), list(lat), list(lng))
        return cls(texts, status, tz_code, names)

    @classmethod
    def from_table(cls, merchants: pa.Table) -> HoursTable:
        if "opening_hours" not in merchants.column_names:
            n = merchants.num_rows
            return cls([None] * n, np.zeros(n, np.int8), np.full(n, -1, np.int16), [])
        return cls.from_columns(
            merchants.column("opening_hours").to_pylist(),
            merchants.column("lat").to_pylist(),
            merchants.column("lng").to_pylist(),
        )

    def _expr(self, row: int) -> Any:
        c = int(self.tz_code[row])
        return parse_hours(str(self.texts[row]).strip(), self.tz_names[c] if c >= 0 else None)

    def state_at(self, rows: NDArray[np.int64], when: datetime) -> list[str]:
        """``"open"``, ``"closed"`` or ``"unknown"`` for each row at ``when``."""
        t = _as_lib_time(when)
        out = []
        for r in np.asarray(rows).tolist():
            if not self.known[r]:
                out.append("unknown")
                continue
            state = self._expr(r).state(t)[0]
            out.append(str(state).rsplit(".", 1)[-1].lower())
        return out

    def open_mask(self, rows: NDArray[np.int64], when: datetime) -> NDArray[np.bool_]:
        """True where the row's hours are known and open at ``when``."""
        rows = np.asarray(rows, dtype=np.int64)
        out = np.zeros(len(rows), dtype=bool)
        known = np.flatnonzero(self.known[rows]) if len(rows) else rows
        if len(known) == 0:
            return out
        t = _as_lib_time(when)
        for j in known.tolist():
            out[j] = bool(self._expr(int(rows[j])).is_open(t))
        return out


def _as_lib_time(when: datetime) -> datetime:
    """Aware times as UTC with a ZoneInfo (what the parser accepts); naive ones as is."""
    if when.tzinfo is None:
        return when
    return when.astimezone(UTC).replace(tzinfo=_UTC)


def derive_hours(
    merchants: pa.Table, out_dir: Path, settings: Settings, upstream: Mapping[str, Path]
) -> dict[str, Any]:
    """Deriver: parse status and time zone per merchant; report unparseable hours."""
    texts = merchants.column("opening_hours").to_pylist()
    status, tz_code, names, errors = _classify(
        texts, merchants.column("lat").to_pylist(), merchants.column("lng").to_pylist()
    )
    np.save(out_dir / "status.npy", status)
    np.save(out_dir / "tz_code.npy", tz_code)
    (out_dir / "time_zones.json").write_text(json.dumps(names))
    ids = merchants.column("merchant_id")
    with (out_dir / "unparseable.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["merchant_id", "opening_hours", "error"])
        for row, text, err in errors:
            w.writerow([ids[row].as_py(), text, err])
    return {
        "with_hours": int((status != HOURS_NONE).sum()),
        "parsed": int((status == HOURS_OK).sum()),
        "unparseable": len(errors),
        "unparseable_file": "derived/hours/unparseable.csv",
        "unparseable_examples": [
            {"merchant_id": ids[r].as_py(), "opening_hours": t} for r, t, _ in errors
        ][:_MANIFEST_EXAMPLES],
        "time_zones": names,
        "zone_unknown": int(((status != HOURS_NONE) & (tz_code < 0)).sum()),
    }


def read_hours(folder: str | Path, merchants: pa.Table) -> HoursTable:
    """The :class:`HoursTable` :func:`derive_hours` wrote into ``folder``.

    Raises :class:`~geo_discovery.errors.SnapshotError` when it is unreadable or not
    aligned to ``merchants``.
    """
    folder = Path(folder)
    try:
        status = np.load(folder / "status.npy")
        tz_code = np.load(folder / "tz_code.npy")
        names = json.loads((folder / "time_zones.json").read_text())
    except (OSError, ValueError) as exc:
        raise SnapshotError(f"{folder} holds no readable hours: {exc}") from None
    if len(status) != merchants.num_rows:
        raise SnapshotError(f"hours in {folder} are not aligned to the merchant table")
    return HoursTable(merchants.column("opening_hours").to_pylist(), status, tz_code, names)
