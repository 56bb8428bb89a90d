"""Built-in profiles: real open schemas → the canonical merchant columns.

A :class:`Profile` turns a :class:`~geo_discovery.ingest.readers.RawTable` into a
:class:`Staged` table: the source id and canonical fields, still as text where the
common validation parses them (:mod:`geo_discovery.ingest.canonical`). Auto-detection
(:func:`detect_profile`) picks the built-in profile whose *signature* columns are all in
the header (the most specific one when several match), and falls back to ``generic``.

==================  ==========  =======================================================
profile             id prefix   signature (header columns)
==================  ==========  =======================================================
nys_retail_food     nysfood     license_number, establishment_type, dba_name,
                                square_footage (+ latitude, longitude)
nyc_dohmh           dohmh       restaurant_id, cuisine, borough, latest_grade,
                                mean_score (+ latitude, longitude)
airbnb              airbnb      id, name, room_type, price (+ latitude, longitude)
wof_simplegeo       wof         wof_id, sg_type, sg_category, sg_subcategory (+ lat, lon)
osm_poi             osm         osm_type, osm_id, key, value (+ lat, lon)
foursquare_os       fsq         fsq_place_id, fsq_category_labels (+ latitude, longitude)
generic             generic     any id/name/lat/lng aliases (fallback)
==================  ==========  =======================================================

For geometry formats (GeoJSON, GeoPackage, …) the coordinate columns are not needed.
The ``generic`` profile lives in :mod:`geo_discovery.ingest.generic`, declarative
mappings in :mod:`geo_discovery.ingest.mapping`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import IngestError, ProfileError
from ..models import BBox
from .generic import build_generic
from .names import did_you_mean
from .ratings import rating_columns
from .raw import RawTable
from .staging import Staged, column, join_text
from .taxonomy import (
    FOOD_STORE_THRESHOLDS_SQFT,
    fsq_category,
    map_unique,
    osm_category,
    slugify,
    wof_category,
)
from .validate import Problems, parse_date, parse_float

__all__ = [
    "BUILTIN_PROFILES",
    "GENERIC",
    "NYC_BBOX",
    "NYS_BBOX",
    "Profile",
    "detect_profile",
    "get_profile",
    "list_profiles",
]

#: New York City's five boroughs with a margin of about 1 km (the default for
#: ``nyc_dohmh``); the east edge sits at -73.68 so that it agrees with the DOHMH file's
#: own ``in_nyc_bbox`` flag (one restaurant at -73.683 is just past the Queens line).
NYC_BBOX = BBox(south=40.47, west=-74.27, north=40.93, east=-73.68)
#: New York State (the default for ``nys_retail_food``: the NYC and statewide files).
NYS_BBOX = BBox(south=40.4774, west=-79.7624, north=45.0159, east=-71.7517)


Builder = Callable[[RawTable], Staged]


@dataclass(frozen=True)
class Profile:
    """A named mapping from one source schema to the canonical columns."""

    name: str
    description: str
    id_prefix: str
    signature: tuple[str, ...]
    lat_column: str
    lng_column: str
    build: Builder = field(repr=False, compare=False)
    expected_bbox: BBox | None = None
    source: str | None = None
    check_columns: bool = True
    reads: tuple[str, ...] = ()

    @property
    def source_name(self) -> str:
        """Value of the canonical ``source`` column (the profile name by default)."""
        return self.source or self.name

    @property
    def known_columns(self) -> tuple[str, ...]:
        """Every source column the profile reads (signature, coordinates, the rest)."""
        every = (*self.signature, self.lat_column, self.lng_column, *self.reads)
        return tuple(c for c in dict.fromkeys(every) if c)

    def missing_columns(self, columns: Iterable[str], *, has_geometry: bool) -> list[str]:
        """Signature (and, without geometry, coordinate) columns absent from ``columns``."""
        present = set(columns)
        needed = list(self.signature)
        if not has_geometry and self.lat_column and self.lng_column:
            needed += [self.lat_column, self.lng_column]
        return [c for c in needed if c not in present]

    def stage(self, raw: RawTable) -> Staged:
        """Check the header, then build the staged table; raises naming the file."""
        if not self.check_columns:
            return self.build(raw)
        has_geometry = raw.lat is not None
        if not has_geometry and not (self.lat_column and self.lng_column):
            raise IngestError(
                f"{raw.path}: profile {self.name!r} names no lat/lng columns and the file has "
                "no point geometry; expected lat/lng columns in the mapping"
            )
        missing = self.missing_columns(raw.columns, has_geometry=has_geometry)
        if missing:
            hints = "".join(did_you_mean(m, raw.columns) for m in missing)
            raise IngestError(
                f"{raw.path}: profile {self.name!r} needs columns {missing} that the file "
                f"does not have{hints}; header is {raw.columns[:20]}"
            )
        return self.build(raw)


def _path_with_leaf(base: str, leaf: pd.Series, drop: Iterable[str] = ()) -> pd.Series:
    slugs = map_unique(leaf, slugify)
    dropped = slugs.isin(["", *drop])
    return (base + "/" + slugs).where(~dropped, base).astype(object)


# --------------------------------------------------------------------------- builders


def _nys_food(raw: RawTable) -> Staged:
    """NYS Dept. of Agriculture & Markets "Retail Food Stores" (data.ny.gov).

    Signature: ``license_number, establishment_type, dba_name, square_footage`` with
    ``latitude``/``longitude``. Id: ``nysfood:<license_number>`` (leading zeros kept).
    Name: ``dba_name``, else ``entity_name``. Category by ``square_footage``
    (:data:`~geo_discovery.ingest.taxonomy.FOOD_STORE_THRESHOLDS_SQFT`): >= 10,000
    supermarket, 2,500–9,999 grocery, 1–2,499 bodega, 0/empty ``store``.
    ``establishment_type`` is a string of licence letters (A store, B bakery, C food
    manufacturer, D food warehouse, H wholesale manufacturer, K vehicle, J multiple
    operations). Every row of both real files is a licensed *store* (``A`` is always
    present, ``operation_type`` is always ``Store``); the other letters describe extra
    licensed activities, not the shop format, so the category uses floor area only and
    the code stays in ``attributes``. Attractiveness: ``square_footage``, null when 0.
    Expected bbox: New York State (:data:`NYS_BBOX`).
    """
    problems = Problems(len(raw))
    dba, entity = column(raw, "dba_name"), column(raw, "entity_name")
    sqft = parse_float(column(raw, "square_footage"), "square_footage", problems,
                       skip=raw.structural, **raw.decimals)
    conditions = [sqft >= t for t, _ in FOOD_STORE_THRESHOLDS_SQFT]
    leaves = [f"food/grocery/{leaf}" for _, leaf in FOOD_STORE_THRESHOLDS_SQFT]
    category = np.select(conditions, leaves, default="food/grocery/store")
    street = join_text([column(raw, "street_number"), column(raw, "street_name")], " ")
    state_zip = join_text([column(raw, "state"), column(raw, "zip_code")], " ")
    address = join_text(
        [street, column(raw, "address_line_2"), column(raw, "address_line_3"),
         column(raw, "city"), state_zip], ", ")
    return Staged(
        source_id=column(raw, "license_number"),
        lat=column(raw, "latitude"),
        lng=column(raw, "longitude"),
        values={
            "name": dba.where(dba != "", entity),
            "category": pd.Series(category, dtype=object),
            "address": address,
            "attractiveness": pd.Series(np.where(sqft > 0, sqft, np.nan)),
        },
        problems=problems,
    )


def _dohmh(raw: RawTable) -> Staged:
    """NYC DOHMH restaurant inspections (MongoDB primer packaging).

    Signature: ``restaurant_id, cuisine, borough, latest_grade, mean_score`` with
    ``latitude``/``longitude``. Id: ``dohmh:<restaurant_id>``. Category:
    ``food/restaurant/<cuisine slug>`` (``food/restaurant`` when the cuisine is empty or
    "Not Listed/Not Applicable"). ``quality_grade``: ``latest_grade`` when it is one
    letter (A/B/C/P/Z; "Not Yet Graded" → null). ``inspection_score``: ``mean_score``
    (lower is better). ``review_count`` stays null: ``n_inspections`` counts
    inspections, not reviews, and is kept in ``attributes`` with ``grades_json``.
    Expected bbox: New York City (:data:`NYC_BBOX`); the file's 66 rows flagged
    ``in_nyc_bbox=False`` fall outside it (one has no coordinates at all).
    """
    street = join_text([column(raw, "building"), column(raw, "street")], " ")
    state_zip = join_text([pd.Series("NY", index=raw.frame.index, dtype="str"),
                           column(raw, "zipcode")], " ")
    grade = column(raw, "latest_grade").str.upper()
    return Staged(
        source_id=column(raw, "restaurant_id"),
        lat=column(raw, "latitude"),
        lng=column(raw, "longitude"),
        values={
            "name": column(raw, "name"),
            "category": _path_with_leaf("food/restaurant", column(raw, "cuisine"),
                                        drop=["not_listed_not_applicable"]),
            "address": join_text([street, column(raw, "borough"), state_zip], ", "),
            "quality_grade": grade.where(grade.str.fullmatch(r"[A-Z]"), ""),
            "inspection_score": column(raw, "mean_score"),
        },
        problems=Problems(len(raw)),
    )


#: Fewer positive prices than this in an Airbnb file (an upsert's delta) get a note:
#: their price_level quartiles are of so few listings, not of the city's.
_FEW_PRICES = 20


def _airbnb(raw: RawTable) -> Staged:
    """Inside Airbnb ``listings`` (the 2019 NYC summary file and the rated city files).

    Signature: ``id, name, room_type, price`` with ``latitude``/``longitude``.
    Id: ``airbnb:<id>``. Category: ``lodging/<room type slug>`` (``entire_home_apt``,
    ``private_room``, ``shared_room``, ``hotel_room``). ``price`` such as ``$1,200.00``
    is parsed; ``price_level`` is the quartile of the listing's nightly price among the
    file's positive prices (1: <= 25th percentile, 2: <= median, 3: <= 75th, 4: above);
    0 or missing prices give a null level. ``rating``: ``review_scores_rating`` on its
    own scale; ``rating_scale`` is decided per file from clear evidence
    (:func:`~geo_discovery.ingest.ratings.infer_rating_scale`: the DC 2015 file is
    0–100, the others 0–5). Also ``review_count``
    (``number_of_reviews``), ``reviews_per_month``, ``first_review``, ``last_review``.
    """
    problems = Problems(len(raw))
    skip = raw.structural
    price = parse_float(column(raw, "price"), "price", problems, skip=skip, **raw.decimals)
    positive = np.isfinite(price) & (price > 0) & ~raw.rejected  # quartiles of rows kept
    level = np.full(len(price), np.nan)
    if 0 < positive.sum() < _FEW_PRICES:  # a delta for an upsert: ranked among itself
        problems.note(f"price_level: the quartiles of this file's {int(positive.sum())} "
                      f"price(s) (fewer than {_FEW_PRICES}): its listings are ranked among "
                      "themselves, not among the listings already loaded (load the whole "
                      "listings file to rank them among all)")  # fmt: skip
    if positive.any():
        q1, q2, q3 = np.quantile(price[positive], [0.25, 0.5, 0.75])
        level[positive] = 1 + (price[positive] > q1) + (price[positive] > q2) + (
            price[positive] > q3)
    return Staged(
        source_id=column(raw, "id"),
        lat=column(raw, "latitude"),
        lng=column(raw, "longitude"),
        values={
            "name": column(raw, "name"),
            "category": _path_with_leaf("lodging", column(raw, "room_type")),
            "price_level": pd.Series(level),
            **rating_columns(column(raw, "review_scores_rating"), "review_scores_rating",
                             problems, scale=raw.options.rating_scale, skip=raw.rejected,
                             **raw.decimals),
            "review_count": column(raw, "number_of_reviews"),
            "reviews_per_month": column(raw, "reviews_per_month"),
            "first_review": column(raw, "first_review"),
            "last_review": column(raw, "last_review"),
        },
        problems=problems,
    )


# RE2-compatible (no \s, no $), so pandas keeps the match in pyarrow.
_HHMM = "[0-9][0-9]:[0-9][0-9]"
_OSM_HOURS = rf"^(?:24/7|(?:(?:Mo|Tu|We|Th|Fr|Sa|Su|PH)[-,]?)+ +{_HHMM}-{_HHMM})"


def _wof(raw: RawTable) -> Staged:
    """Who's On First / SimpleGeo venues.

    Signature: ``wof_id, sg_type, sg_category, sg_subcategory`` with ``lat``/``lon``.
    Id: ``wof:<wof_id>``. Category: :func:`~geo_discovery.ingest.taxonomy.wof_category`
    (SimpleGeo type/category/subcategory, else the first known ``tags``). Status:
    ``closed`` when ``deprecated`` is set, ``cessation`` is a date (not ``uuuu``) or
    ``is_current`` is 0; ``open`` when ``is_current`` is 1; else ``unknown``.
    ``hours`` goes to ``opening_hours`` only when it is OSM syntax (``Mo-Fr 09:00-17:00``,
    ``24/7``); otherwise it stays in ``attributes``.
    """
    keys = [column(raw, c) for c in ("sg_type", "sg_category", "sg_subcategory", "tags")]
    combined = pd.DataFrame({f"k{i}": k for i, k in enumerate(keys)})
    uniq = combined.drop_duplicates()
    cats = [wof_category(*t) for t in uniq.itertuples(index=False, name=None)]
    lookup = pd.Series(cats, index=pd.MultiIndex.from_frame(uniq))
    category = lookup.reindex(pd.MultiIndex.from_frame(combined)).to_numpy(dtype=object)
    is_current = pd.to_numeric(column(raw, "is_current"), errors="coerce")
    cessation = column(raw, "cessation")
    closed = (column(raw, "deprecated") != "") | (is_current == 0) | (
        (cessation != "") & ~cessation.str.lower().str.fullmatch(r"u+"))
    status = np.where(closed, "closed", np.where(is_current == 1, "open", "unknown"))
    hours = column(raw, "hours")
    return Staged(
        source_id=column(raw, "wof_id"),
        lat=column(raw, "lat"),
        lng=column(raw, "lon"),
        values={
            "name": column(raw, "name"),
            "category": pd.Series(category, dtype=object),
            "address": column(raw, "addr_full"),
            "phone": column(raw, "phone"),
            "website": column(raw, "website"),
            "opening_hours": hours.where(hours.str.match(_OSM_HOURS), ""),
            "status": pd.Series(status, dtype=object),
        },
        problems=Problems(len(raw)),
    )


def _osm(raw: RawTable) -> Staged:
    """OpenStreetMap POI extracts with ``key``/``value`` tag columns.

    Signature: ``osm_type, osm_id, key, value`` with ``lat``/``lon``. Id:
    ``osm:<osm_type>/<osm_id>`` (``osm:node/55211772``). Category:
    :func:`~geo_discovery.ingest.taxonomy.osm_category` (shared taxonomy, restaurants
    and cafés get their first ``cuisine``; otherwise ``<key>/<value>``). Also
    ``opening_hours`` (untouched OSM syntax), ``brand``, ``website``, ``phone`` and an
    address from ``addr_street addr_housenumber, addr_postcode addr_city``. OSM
    features without a ``name`` (benches, waste baskets …) are rejected as empty names.
    """
    osm_type, osm_id = column(raw, "osm_type"), column(raw, "osm_id")
    source_id = (osm_type + "/" + osm_id).where((osm_type != "") & (osm_id != ""), "")
    keys = pd.DataFrame({"k": column(raw, "key"), "v": column(raw, "value"),
                         "c": column(raw, "cuisine")})
    uniq = keys.drop_duplicates()
    lookup = pd.Series([osm_category(*t) for t in uniq.itertuples(index=False, name=None)],
                       index=pd.MultiIndex.from_frame(uniq))
    category = lookup.reindex(pd.MultiIndex.from_frame(keys)).to_numpy(dtype=object)
    street = join_text([column(raw, "addr_street"), column(raw, "addr_housenumber")], " ")
    town = join_text([column(raw, "addr_postcode"), column(raw, "addr_city")], " ")
    return Staged(
        source_id=source_id,
        lat=column(raw, "lat"),
        lng=column(raw, "lon"),
        values={
            "name": column(raw, "name"),
            "category": pd.Series(category, dtype=object),
            "address": join_text([street, town], ", "),
            "phone": column(raw, "phone"),
            "website": column(raw, "website"),
            "opening_hours": column(raw, "opening_hours"),
            "brand": column(raw, "brand"),
        },
        problems=Problems(len(raw)),
    )


def _fsq(raw: RawTable) -> Staged:
    """Foursquare OS Places.

    Signature: ``fsq_place_id, fsq_category_labels`` with ``latitude``/``longitude``.
    Id: ``fsq:<fsq_place_id>``. Category: the slugified first path of
    ``fsq_category_labels`` (``[Retail > Fashion Retail > Clothing Store]`` →
    ``retail/fashion_retail/clothing_store``), ``unknown`` when empty. Status:
    ``closed`` when ``date_closed`` is a date, else ``open`` (Foursquare marks closures
    with ``date_closed``). Address from ``address, locality, region postcode, country``.
    """
    problems = Problems(len(raw))
    closed = parse_date(column(raw, "date_closed"), "date_closed", problems,
                        skip=raw.structural, date_format=raw.options.date_format)
    bad_closed = (column(raw, "date_closed") != "") & closed.isna()
    status = np.where(closed.notna(), "closed", np.where(bad_closed, "unknown", "open"))
    region = join_text([column(raw, "region"), column(raw, "postcode")], " ")
    return Staged(
        source_id=column(raw, "fsq_place_id"),
        lat=column(raw, "latitude"),
        lng=column(raw, "longitude"),
        values={
            "name": column(raw, "name"),
            "category": map_unique(column(raw, "fsq_category_labels"), fsq_category),
            "address": join_text([column(raw, "address"), column(raw, "locality"), region,
                                  column(raw, "country")], ", "),
            "phone": column(raw, "tel"),
            "website": column(raw, "website"),
            "status": pd.Series(status, dtype=object),
        },
        problems=problems,
    )


GENERIC = Profile(
    name="generic",
    description="Any table with id/name/lat/lng-like columns (auto-detected aliases).",
    id_prefix="generic",
    signature=(),
    lat_column="lat",
    lng_column="lng",
    build=build_generic,
    check_columns=False,
)

BUILTIN_PROFILES: tuple[Profile, ...] = (
    Profile("nys_retail_food", "NYS Agriculture & Markets retail food stores (data.ny.gov).",
            "nysfood", ("license_number", "establishment_type", "dba_name", "square_footage"),
            "latitude", "longitude", _nys_food, NYS_BBOX,
            reads=("entity_name", "street_number", "street_name", "address_line_2",
                   "address_line_3", "city", "state", "zip_code")),
    Profile("nyc_dohmh", "NYC DOHMH restaurant inspections (grades, mean score, cuisine).",
            "dohmh", ("restaurant_id", "cuisine", "borough", "latest_grade", "mean_score"),
            "latitude", "longitude", _dohmh, NYC_BBOX,
            reads=("name", "building", "street", "zipcode")),
    Profile("airbnb", "Inside Airbnb listings (price, reviews, ratings on 0-5 or 0-100).",
            "airbnb", ("id", "name", "room_type", "price"), "latitude", "longitude", _airbnb,
            reads=("review_scores_rating", "number_of_reviews", "reviews_per_month",
                   "first_review", "last_review")),
    Profile("wof_simplegeo", "Who's On First / SimpleGeo venues (sg_* categories, tags).",
            "wof", ("wof_id", "sg_type", "sg_category", "sg_subcategory"), "lat", "lon", _wof,
            reads=("name", "tags", "hours", "is_current", "deprecated", "cessation",
                   "addr_full", "phone", "website")),
    Profile("osm_poi", "OpenStreetMap POI extract (osm_type/osm_id, key/value tags).",
            "osm", ("osm_type", "osm_id", "key", "value"), "lat", "lon", _osm,
            reads=("name", "cuisine", "addr_street", "addr_housenumber", "addr_postcode",
                   "addr_city", "phone", "website", "opening_hours", "brand")),
    Profile("foursquare_os", "Foursquare OS Places (fsq_category_labels, date_closed).",
            "fsq", ("fsq_place_id", "fsq_category_labels"), "latitude", "longitude", _fsq,
            reads=("name", "date_closed", "address", "locality", "region", "postcode",
                   "country", "tel", "website")),
    GENERIC,
)
_BY_NAME = {p.name: p for p in BUILTIN_PROFILES}


def list_profiles() -> list[Profile]:
    """Every built-in profile, in detection order (``generic`` last).

    Examples
    --------
    >>> [p.name for p in list_profiles()][-1]
    'generic'
    """
    return list(BUILTIN_PROFILES)


def get_profile(name: str) -> Profile:
    """The built-in profile called ``name``; :class:`ProfileError` lists the known ones."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ProfileError(
            f"unknown profile {name!r}{did_you_mean(name, _BY_NAME)}; expected one of "
            f"{sorted(_BY_NAME)} or 'auto' ('checkins' for visit logs)"
        ) from None


def detect_profile(columns: Iterable[str]) -> Profile:
    """The most specific built-in profile whose signature columns are all present.

    Examples
    --------
    >>> detect_profile(["osm_type", "osm_id", "key", "value", "name", "lat", "lon"]).name
    'osm_poi'
    >>> detect_profile(["id", "name", "lat", "lng"]).name
    'generic'
    """
    present = set(columns)
    matches = [p for p in BUILTIN_PROFILES if p.signature and set(p.signature) <= present]
    if not matches:
        return GENERIC
    return max(matches, key=lambda p: len(p.signature))
