"""District names: the most common street of a district's merchants, else its locality.

A merchant's *street* is the first comma-separated part of its address that looks like a
street (:func:`street_of`). A part is not a street when it holds

* nothing but the merchant's own place fields (from its source row, kept in
  ``attributes``: locality, city, neighbourhood, borough, county, region, state, country,
  postcode … under any of the spellings of :data:`PLACE_KEYS`), with or without codes
  and numbers: ``"Carlisle"``, ``"Bangkok 10110"``, ``"NY 11371"``;
* only codes and numbers: country or region codes (``"ID"``, ``"GBR"``: one to three
  capital letters), house numbers and numeric postcodes (``"40a"``, ``"950-0851"``),
  British and Canadian postcodes (``"LL31 9ST"``, ``"H2X 1Y4"``);
* a street type or a direction alone once normalised (``"Pl"``, ``"N"``, ``"St 5"``).

Foursquare, for one, writes an address as ``address, locality, region postcode,
country``, so a place without a street address reads ``"Carlisle, NZ"``: its first part
is the merchant's locality, not a street. A trailing unit (``"Alfred St Level 7"``,
``"Main St Ste 100"``) is left out, so that shops on one street count together.

A district is named (:func:`district_names`), in this order, after

1. its most common street shared by at least two of its merchants (``"A & B"`` when a
   second such street has at least half as many);
2. else its most common locality: per merchant the finest of neighbourhood, locality,
   city or borough fields (then county, region or state when it has none of these);
3. else its most common street held by one merchant (ties alphabetically);
4. else ``"near <the merchant nearest its densest cell>"``, else ``"district <n>"``.

Repeated names get ``" (2)"``, ``" (3)"``… in order of size (the largest keeps the name).
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Collection, Iterable

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from ..cells import cell_centres
from ..distance import latlng_to_xyz
from ..schema import attributes_of

__all__ = ["PLACE_KEYS", "district_names", "place_fields", "street_of"]

_NUMBER = re.compile(r"^(\d+[a-z]?(-\d+[a-z]?)?|\d+/\d+|#\S*)$", re.IGNORECASE)
_ORDINAL = re.compile(r"^(\d+)(st|nd|rd|th)?$", re.IGNORECASE)
# English street-type and direction spellings, so "3 Avenue" and "3RD AVE" agree.
_TYPES = {
    "street": "St", "st": "St", "avenue": "Ave", "ave": "Ave", "av": "Ave", "road": "Rd",
    "rd": "Rd", "boulevard": "Blvd", "blvd": "Blvd", "place": "Pl", "pl": "Pl", "drive": "Dr",
    "dr": "Dr", "lane": "Ln", "ln": "Ln", "parkway": "Pkwy", "pkwy": "Pkwy", "square": "Sq",
    "sq": "Sq", "terrace": "Ter", "highway": "Hwy", "hwy": "Hwy", "turnpike": "Tpke",
}  # fmt: skip
_DIRECTIONS = {"east": "E", "e": "E", "west": "W", "w": "W", "north": "N", "n": "N",
               "south": "S", "s": "S"}  # fmt: skip
_POST = {"ne", "nw", "se", "sw", "n", "s", "e", "w"}  # after the type: "E Street NW"
_EXT = {"ext", "extension"}  # "North St Ext": the street's continuation
_NOT_A_NAME = {w.lower() for w in (*_TYPES, *_TYPES.values(), *_DIRECTIONS, "ne", "nw", "se",
                                   "sw")}  # fmt: skip
_LETTER = re.compile(r"[^\W\d_]")
_CODE = re.compile(r"^[A-Z]{1,3}$")  # a country or region code, case-sensitive: ID, NY, GBR
# British (SW1A 1AA, LL31 9ST) and Canadian (H2X 1Y4) postcodes: codes with letters
_POSTCODE = re.compile(r"\b(?:[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}|[A-Z]\d[A-Z] ?\d[A-Z]\d)\b")
# a unit after the street: "Ste 100", "Suite B", "Level 7", "Fl 4", "Rm802", "Box #9", "#12"
_UNIT = re.compile(
    r"(?:^|\s)(?:(?:ste|suite|unit|apt|level|lvl|flat|floor|fl|rm|room|bldg|box|mailbox)"
    r"(?:\b\.?\s*#?[a-z]|\.?\s*#?[\w-]*\d[\w-]*)|#[\w-]*)(?=\s|$)",
    re.IGNORECASE,
)

#: Source-row fields that name where a merchant is (after an ``addr:``/``addr_`` prefix,
#: case-insensitive), finest first: a part of an address equal to one of them is no
#: street. The first :data:`_LOCALITY_LEVELS` of them can name a district.
PLACE_KEYS: tuple[str, ...] = (
    "neighbourhood", "neighborhood", "suburb", "quarter", "district", "locality", "city",
    "town", "village", "hamlet", "municipality", "post_town", "borough",
    "neighbourhood_group", "neighborhood_group",
    "county", "region", "admin_region", "province", "state",
    "country", "country_code", "postcode", "postal_code", "zip", "zipcode", "zip_code",
)  # fmt: skip
_LOCALITY_LEVELS = 15  # neighbourhood … neighborhood_group
_REGION_LEVELS = 20  # … then county, region, admin_region, province, state
_KEY_RANK = {k: i for i, k in enumerate(PLACE_KEYS)}
_ADDRESS_KEYS = ("addr:street", "addr_full", "address", "street", "addr")


def _ordinal(number: str) -> str:
    n = int(number)
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _words(text: str) -> list[str]:
    return text.replace(".", " ").split()


def _is_code(word: str) -> bool:
    """A number, a house number or a country/region code: no part of a street's name."""
    w = word.strip("()[],;:")
    if w.isalpha():
        return bool(_CODE.match(w)) and w.lower() not in _TYPES
    return _LETTER.search(w) is None or _NUMBER.match(w) is not None


def _only_places(part: str, places: Collection[str]) -> bool:
    """Is ``part`` nothing but the merchant's ``places`` (casefolded, words joined by one
    space), postcodes, codes and numbers?"""
    words = _words(part)
    if places:
        low = " ".join(words).casefold()
        if low in places:
            return True
        found = [p for p in places if p in low]
        if found:  # leave the places' words out (longest first), keep the rest's case
            keep = [True] * len(words)
            folded = [w.casefold() for w in words]
            for place in sorted((tuple(p.split()) for p in found), key=len, reverse=True):
                n = len(place)
                for i in range(len(folded) - n + 1):
                    if keep[i] and tuple(folded[i : i + n]) == place:
                        keep[i : i + n] = [False] * n
            words = [w for w, k in zip(words, keep, strict=True) if k]
    if all(_is_code(w) for w in words):
        return True
    if _POSTCODE.search(part) is None:
        return False
    return all(_is_code(w) for w in _POSTCODE.sub(" ", " ".join(words)).split())


def _normalise(part: str) -> str | None:
    """The street of one address part: unit and house number dropped, spelling normalised."""
    words = _words(_UNIT.sub("", part))
    if len(words) > 1 and _NUMBER.match(words[0]):
        words.pop(0)
    elif len(words) > 1 and _NUMBER.match(words[-1]):
        words.pop()
    # "188 Th St" -> "188th St"
    merged: list[str] = []
    for w in words:
        if merged and w.lower() in ("st", "nd", "rd", "th") and merged[-1].isdigit():
            merged[-1] += w.lower()
        else:
            merged.append(w)
    if not merged or not any(ch.isalpha() for ch in "".join(merged)):
        return None
    out = []
    lows = [w.lower() for w in merged]
    # a quadrant or an extension after the type: "E Street NW", "North St Ext"
    post = len(lows) > 2 and (lows[-1] in _POST or lows[-1] in _EXT) and lows[-2] in _TYPES
    last = len(merged) - 1 - post  # the street type's place
    # a leading direction is the name itself when only a type (and a quadrant or an
    # extension) follows: "North St", "North St Ext", "E St NW"
    named = any(w not in _TYPES and w not in _POST and w not in _EXT for w in lows[1:])
    for i, w in enumerate(merged):
        low = w.lower()
        if i == 0 and last > 0 and low in _DIRECTIONS and named:
            out.append(_DIRECTIONS[low])
        elif i == last and i > 0 and low in _TYPES:
            out.append(_TYPES[low])
        elif post and i == last + 1:
            out.append("Ext" if low in _EXT else w.upper())
        elif _ORDINAL.match(w) and i < last and merged[i + 1].lower() in _TYPES:
            out.append(_ordinal(_ORDINAL.match(w).group(1)))  # type: ignore[union-attr]
        elif w[:1].isalpha():
            out.append(w[:1].upper() + w[1:].lower())
        else:
            out.append(low)
    if len(out) == 1 and out[0].lower() in _NOT_A_NAME:
        return None  # "Pl", "N", "St 5": a street type or a direction alone
    return " ".join(out)


def street_of(address: object, places: Collection[str] = ()) -> str | None:
    """The street of an address: its first comma-separated part that looks like a street
    (module docstring), house number and unit dropped, spelling normalised.

    ``places`` are the merchant's own place names (locality, region, country, postcode
    …, any case): a part made of nothing else is no street.

    Examples
    --------
    >>> street_of("190 W 231ST ST, BRONX, NY 10463"), street_of("29 West 26 Street, NY")
    ('W 231st St', 'W 26th St')
    >>> street_of("Yliopistonkatu 5, 00100"), street_of("505 3 Avenue, Manhattan")
    ('Yliopistonkatu', '3rd Ave')
    >>> street_of("30-13 Broadway, Queens"), street_of(""), street_of(None)
    ('Broadway', None, None)
    >>> street_of("ID"), street_of("NY 10463"), street_of("LL31 9ST, GB")
    (None, None, None)
    >>> street_of("Carlisle, NZ", places={"Carlisle", "NZ"}), street_of("Carlisle, NZ")
    (None, 'Carlisle')
    >>> street_of("Bangkok 10110, TH", places={"bangkok", "10110", "TH"})
    >>> street_of("Ste 4, 12 Alfred Street Level 7, Sydney", places={"Sydney"})
    'Alfred St'
    >>> street_of("12 NORTH ST"), street_of("5 North Street"), street_of("1 E STREET NW")
    ('North St', 'North St', 'E St NW')
    >>> street_of("7 NORTH ST EXT"), street_of("North Street Extension"), street_of("9 N Main St")
    ('North St Ext', 'North St Ext', 'N Main St')
    """
    return _street(address, _folded(places))


def _folded(places: Iterable[str]) -> set[str]:
    out = {" ".join(_words(p.casefold())) for p in places}
    out.discard("")
    return out


def _street(address: object, places: Collection[str]) -> str | None:
    """:func:`street_of` with ``places`` already casefolded (:func:`_folded`)."""
    if not isinstance(address, str):
        return None
    for part in address.split(","):
        if _only_places(part, places):
            continue
        street = _normalise(part)
        if street is not None:
            return street
    return None


def place_fields(attributes: object) -> dict[str, str]:
    """The place fields of a source row (its ``attributes`` JSON): normalised key
    (:data:`PLACE_KEYS`) → non-empty value, finest first (of two spellings of one key,
    the first in sort order wins).

    Examples
    --------
    >>> place_fields('{"name": "Cafe", "addr:city": "Helsinki", "country": "FI", "x": 1}')
    {'city': 'Helsinki', 'country': 'FI'}
    >>> place_fields("not json"), place_fields(None)
    ({}, {})
    """
    return {PLACE_KEYS[rank]: value for rank, value in _Places().of(attributes_of(attributes))}


class _Places:
    """Reads the place fields of many source rows: the place keys of each key layout
    (rows of one source file share one) are found once."""

    _MAX_LAYOUTS = 4096

    def __init__(self) -> None:
        self.layouts: dict[tuple[str, ...], list[tuple[int, str]]] = {}

    def of(self, raw: dict[str, object]) -> list[tuple[int, str]]:
        """``(rank in PLACE_KEYS, value)`` of ``raw``'s non-empty place fields, finest
        first, one per rank."""
        layout = tuple(raw)
        keys = self.layouts.get(layout)
        if keys is None:
            keys = _place_keys(layout)
            if len(self.layouts) < self._MAX_LAYOUTS:
                self.layouts[layout] = keys
        out: list[tuple[int, str]] = []
        for rank, key in keys:
            value = raw[key]
            if isinstance(value, str) and value.strip() and (not out or out[-1][0] != rank):
                out.append((rank, " ".join(value.split())))
        return out


def _place_keys(layout: tuple[str, ...]) -> list[tuple[int, str]]:
    """``(rank, key)`` of the place keys among ``layout``, sorted (finest first)."""
    out = []
    for key in layout:
        norm = str(key).lower().removeprefix("addr:").removeprefix("addr_")
        if norm in _KEY_RANK:
            out.append((_KEY_RANK[norm], key))
    return sorted(out)


def _display(value: str) -> str:
    """A place name as shown: capitalised words when it was written in capitals only."""
    if any(ch.islower() for ch in value):
        return value
    return " ".join(w[:1].upper() + w[1:].lower() for w in value.split())


def _locality(fields: list[tuple[int, str]]) -> tuple[int, str] | None:
    """``(level, name)``: the finest locality-like field (``fields`` from
    :meth:`_Places.of`) that is a name, not a code or a number; level 0 for
    neighbourhood … borough, 1 for county … state."""
    for rank, value in fields:
        if rank >= _REGION_LEVELS:
            break
        if not all(_is_code(w) for w in value.split()):
            return (0 if rank < _LOCALITY_LEVELS else 1), _display(value)
    return None


def _merchant_places(
    frame: pd.DataFrame, rows: NDArray[np.int64]
) -> tuple[list[object], list[str | None], list[tuple[int, str] | None]]:
    """Per row of ``rows``: its address (the canonical column, else the source row's
    ``addr:street`` / ``addr_full`` / ``address`` attribute), its street and its locality."""
    addresses: list[object] = [None] * len(rows)
    if "address" in frame:
        col = frame["address"].to_numpy(dtype=object)[rows]
        addresses = [a if isinstance(a, str) and a.strip() else None for a in col]
    attrs = (
        frame["attributes"].to_numpy(dtype=object)[rows].tolist()
        if "attributes" in frame
        else [None] * len(rows)
    )
    streets: list[str | None] = []
    localities: list[tuple[int, str] | None] = []
    places = _Places()
    folds: dict[str, str] = {}  # place values repeat: each is casefolded once
    for i, a in enumerate(attrs):
        raw = attributes_of(a)
        if not raw:
            streets.append(_street(addresses[i], ()))
            localities.append(None)
            continue
        if addresses[i] is None:
            for key in _ADDRESS_KEYS:
                value = raw.get(key)
                if isinstance(value, str) and value.strip():
                    addresses[i] = value
                    break
        fields = places.of(raw)
        folded: set[str] = set()
        for _, value in fields:
            f = folds.get(value)
            if f is None:
                f = folds[value] = " ".join(_words(value.casefold()))
            folded.add(f)
        streets.append(_street(addresses[i], folded))
        localities.append(_locality(fields))
    return addresses, streets, localities


def _fold(name: str) -> str:
    """A name's key for counting: case and accents left out (İstanbul = Istanbul)."""
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _top(names: Iterable[str], minimum: int = 1) -> str | None:
    """The most common of ``names`` (spellings differing in case or accents count as one
    and show as their most common spelling; ties alphabetically), ``"A & B"`` when the
    second has at least half as many; only names counted ``minimum`` times or more."""
    spellings: dict[str, Counter[str]] = {}
    for name in names:
        spellings.setdefault(_fold(name), Counter())[name] += 1
    counts = [
        (min(c.items(), key=lambda kv: (-kv[1], kv[0]))[0], c.total())
        for c in spellings.values()
    ]
    top = sorted(((k, v) for k, v in counts if v >= minimum), key=lambda kv: (-kv[1], kv[0]))
    if not top:
        return None
    if len(top) == 1 or top[1][1] < top[0][1] / 2:
        return top[0][0]
    return f"{top[0][0]} & {top[1][0]}"


def _near(shop: NDArray, rows: NDArray[np.int64], frame: pd.DataFrame, peak: int) -> str | None:
    """``near <the named merchant nearest the centre of the densest cell>`` (ties: the name
    first in sorted order), or ``None`` when no merchant has a name: for a densest cell
    that holds none of the district's named merchants that count (they are lodging or
    closed, or unnamed), which is common. It was then the name first in sorted order
    anywhere in the district, kilometres away."""
    named = np.asarray([isinstance(x, str) and bool(x) for x in shop[rows]], dtype=bool)
    rows = rows[named]
    if not len(rows):
        return None
    centre = cell_centres(np.asarray([peak], dtype=np.uint64))[0]
    xyz = latlng_to_xyz(frame["lat"].to_numpy(dtype=np.float64)[rows],
                        frame["lng"].to_numpy(dtype=np.float64)[rows])  # fmt: skip
    chord2 = ((xyz - centre) ** 2).sum(axis=1)  # in the order of great-circle distance
    best = min(zip(chord2.tolist(), (str(x) for x in shop[rows]), strict=True))
    return f"near {best[1]}"


def district_names(
    frame: pd.DataFrame,
    rows_of: list[NDArray[np.int64]],
    peak_cells: NDArray[np.uint64],
    pt_cells: NDArray[np.uint64],
) -> list[str]:
    """The name of each district (module docstring), unique.

    ``rows_of[g]`` are the merchant rows (of ``frame``) that count in district ``g``,
    ``peak_cells[g]`` its densest cell and ``pt_cells`` every row's cell.
    """
    n_groups = len(rows_of)
    # the rows that count (lodging and closed merchants do not): each read once
    rows_in = np.concatenate(rows_of) if rows_of else np.empty(0, np.int64)
    streets = np.full(len(frame), None, dtype=object)
    localities = np.full(len(frame), None, dtype=object)
    _, st, loc = _merchant_places(frame, rows_in)
    streets[rows_in] = st
    localities[rows_in] = loc
    shop = frame["name"].to_numpy(dtype=object) if "name" in frame else None
    names: list[str] = []
    for g, rows in enumerate(rows_of):
        mine = [s for s in streets[rows] if isinstance(s, str) and s]
        places = [p for p in localities[rows] if p is not None]
        finest = min((level for level, _ in places), default=None)
        name = (
            _top(mine, minimum=2)
            or _top(p for level, p in places if level == finest)
            or _top(mine)
        )
        if name is None and shop is not None and len(rows):
            at_peak = rows[pt_cells[rows] == peak_cells[g]]  # (the first name sorted there)
            label = sorted(str(x) for x in shop[at_peak] if isinstance(x, str) and x)
            name = f"near {label[0]}" if label else _near(shop, rows, frame, peak_cells[g])
        names.append(name or f"district {g + 1}")
    # disambiguate repeated names, bigger districts first (group order is arbitrary)
    sizes = np.asarray([len(r) for r in rows_of], dtype=np.int64)
    seen: Counter[str] = Counter()
    for g in sorted(range(n_groups), key=lambda g: (-int(sizes[g]), int(peak_cells[g]))):
        seen[names[g]] += 1
        if seen[names[g]] > 1:
            names[g] = f"{names[g]} ({seen[names[g]]})"
    return names
