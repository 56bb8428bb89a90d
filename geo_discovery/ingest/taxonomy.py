"""The shared category taxonomy: one table per source vocabulary, in one place.

Every canonical ``category`` is a lower-case ``/``-separated path whose segments are
slugs (``[a-z0-9_]+``), most general first: ``food/grocery/bodega``,
``food/restaurant/italian``, ``nightlife/bar``, ``lodging/private_room``.

Shared roots, so that a filter on ``food/`` or ``lodging/`` works across sources:

==============  =============================================================
``food/``       restaurants, cafés, fast food, bakeries, groceries, delis …
``nightlife/``  bars, pubs, nightclubs, breweries
``lodging/``    hotels, hostels, Airbnb listings (``lodging/<room type>``)
``unknown``     the source says nothing about the category
==============  =============================================================

Anything a table below does not map keeps the source's own words, slugified:
OSM ``<key>/<value>`` (``shop/jewelry``), SimpleGeo
``<type>/<category>/<subcategory>`` (``services/professional/business_services``),
Foursquare's first label path (``retail/fashion_retail/clothing_store``; its dining,
food retail and lodging labels map onto the shared roots: ``FSQ_TAXONOMY``).

Examples
--------
>>> slugify("Café/Coffee/Tea")
'cafe_coffee_tea'
>>> osm_category("amenity", "restaurant", "pizza;burger")
'food/restaurant/pizza'
>>> osm_category("shop", "jewelry")
'shop/jewelry'
>>> food_store_category(12000.0)
'food/grocery/supermarket'
>>> "Coffee & Tea" in category_synonyms()["food/cafe"]
True
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Hashable
from functools import lru_cache

import pandas as pd

from .values import MISSING_TOKENS

__all__ = [
    "FOOD_STORE_THRESHOLDS_SQFT",
    "FSQ_TAXONOMY",
    "OSM_TAXONOMY",
    "UNKNOWN_CATEGORY",
    "WOF_TAG_TAXONOMY",
    "WOF_TAXONOMY",
    "category_label",
    "category_synonyms",
    "food_store_category",
    "fsq_category",
    "is_list_text",
    "map_unique",
    "osm_category",
    "path_from_text",
    "slugify",
    "wof_category",
]

UNKNOWN_CATEGORY = "unknown"

#: NYS retail food stores, by ``square_footage`` (sq ft): at least 10,000 is a
#: supermarket, 2,500 to 9,999 a grocery, 1 to 2,499 a bodega; 0 or unknown floor
#: area gives the generic ``food/grocery/store``.
FOOD_STORE_THRESHOLDS_SQFT: tuple[tuple[float, str], ...] = (
    (10_000.0, "supermarket"),
    (2_500.0, "grocery"),
    (1.0, "bodega"),
)

#: OSM ``(key, value)`` → shared path. Values missing here become ``<key>/<value>``.
OSM_TAXONOMY: dict[tuple[str, str], str] = {
    ("amenity", "restaurant"): "food/restaurant",
    ("amenity", "cafe"): "food/cafe",
    ("amenity", "fast_food"): "food/fast_food",
    ("amenity", "food_court"): "food/food_court",
    ("amenity", "ice_cream"): "food/ice_cream",
    ("amenity", "marketplace"): "food/market",
    ("amenity", "bar"): "nightlife/bar",
    ("amenity", "pub"): "nightlife/pub",
    ("amenity", "biergarten"): "nightlife/biergarten",
    ("amenity", "nightclub"): "nightlife/nightclub",
    ("shop", "supermarket"): "food/grocery/supermarket",
    ("shop", "convenience"): "food/grocery/convenience",
    ("shop", "grocery"): "food/grocery/grocery",
    ("shop", "greengrocer"): "food/grocery/greengrocer",
    ("shop", "bakery"): "food/bakery",
    ("shop", "pastry"): "food/bakery/pastry",
    ("shop", "confectionery"): "food/confectionery",
    ("shop", "deli"): "food/deli",
    ("shop", "butcher"): "food/butcher",
    ("shop", "seafood"): "food/seafood",
    ("shop", "cheese"): "food/cheese",
    ("shop", "health_food"): "food/health_food",
    ("shop", "beverages"): "food/beverages",
    ("shop", "alcohol"): "food/alcohol",
    ("shop", "wine"): "food/alcohol/wine",
    ("shop", "coffee"): "food/coffee",
    ("shop", "tea"): "food/tea",
    ("tourism", "hotel"): "lodging/hotel",
    ("tourism", "motel"): "lodging/motel",
    ("tourism", "hostel"): "lodging/hostel",
    ("tourism", "guest_house"): "lodging/guest_house",
    ("tourism", "apartment"): "lodging/apartment",
    ("tourism", "camp_site"): "lodging/campground",
}

#: OSM paths that take the first ``cuisine`` value as one more segment.
_CUISINE_PATHS = frozenset({"food/restaurant", "food/fast_food", "food/cafe"})

#: SimpleGeo ``(sg_type, sg_category)`` → shared path (the subcategory, if any, is
#: appended unless ``WOF_SUBCATEGORY_TAXONOMY`` maps it exactly).
WOF_TAXONOMY: dict[tuple[str, str], str] = {
    ("Food & Drink", "Restaurant"): "food/restaurant",
    ("Food & Drink", "Fast Food"): "food/fast_food",
    ("Food & Drink", "Cafe"): "food/cafe",
    ("Food & Drink", "Coffee & Tea"): "food/cafe",
    ("Food & Drink", "Internet Cafe"): "food/cafe/internet_cafe",
    ("Food & Drink", "Bakery"): "food/bakery",
    ("Food & Drink", "Bagels"): "food/bakery/bagels",
    ("Food & Drink", "Deli"): "food/deli",
    ("Food & Drink", "Ice Cream"): "food/ice_cream",
    ("Food & Drink", "Juice Bar"): "food/juice_bar",
    ("Food & Drink", "Bars & Pubs"): "nightlife/bar",
    ("Food & Drink", "Brewery"): "nightlife/brewery",
    ("Retail Goods", "Food & Beverages"): "food/shop",
}

#: SimpleGeo ``(sg_type, sg_category, sg_subcategory)`` → shared path, exact.
WOF_SUBCATEGORY_TAXONOMY: dict[tuple[str, str, str], str] = {
    ("Retail Goods", "Food & Beverages", "Groceries & Convenience Stores"): (
        "food/grocery/convenience"
    ),
    ("Retail Goods", "Food & Beverages", "Bakery"): "food/bakery",
    ("Retail Goods", "Food & Beverages", "Liquor & Beverages"): "food/alcohol",
    ("Entertainment", "Travel", "Hotels & Motels"): "lodging/hotel",
    ("Entertainment", "Travel", "Bed & Breakfast"): "lodging/bed_and_breakfast",
    ("Entertainment", "Travel", "Campground"): "lodging/campground",
}

#: WOF ``tags`` (lower-case, ``|``-separated) → shared path, for venues without a
#: SimpleGeo category. The first tag found in this table wins; otherwise the path is
#: ``other/<first tag>``.
WOF_TAG_TAXONOMY: dict[str, str] = {
    "restaurant": "food/restaurant",
    "fast food": "food/fast_food",
    "cafe": "food/cafe",
    "coffee": "food/cafe",
    "bakery": "food/bakery",
    "grocery": "food/grocery/grocery",
    "supermarket": "food/grocery/supermarket",
    "bar": "nightlife/bar",
    "pub": "nightlife/pub",
    "brewery": "nightlife/brewery",
    "hotel": "lodging/hotel",
    "motel": "lodging/motel",
}

_NON_SLUG = re.compile(r"[^a-z0-9]+")
_PATH_SPLIT = re.compile(r"\s*(?:/|>)\s*")


@lru_cache(maxsize=65_536)
def slugify(text: str) -> str:
    """Lower-case ASCII slug: accents dropped, every other run of characters → ``_``.

    Examples
    --------
    >>> slugify("Latin (Cuban, Dominican)")
    'latin_cuban_dominican'
    >>> slugify("  ")
    ''
    """
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return _NON_SLUG.sub("_", ascii_text.lower()).strip("_")


def _join(*segments: str) -> str:
    parts = [s for s in (slugify(x) for x in segments) if s]
    return "/".join(parts) if parts else UNKNOWN_CATEGORY


@lru_cache(maxsize=65_536)
def path_from_text(text: str) -> str:
    """A category path from free text: split on ``/`` or ``>``, slugify each segment.

    A list (``[Food > Deli, Shop]``, as CSV exports write one and as a Parquet or
    GeoJSON list reads) gives its first item's path.

    Examples
    --------
    >>> path_from_text("Food > Grocery / Bodega")
    'food/grocery/bodega'
    >>> path_from_text(""), path_from_text("NULL")
    ('unknown', 'unknown')
    >>> path_from_text("[Retail > Fireworks Store, Retail > Miscellaneous Store]")
    'retail/fireworks_store'
    """
    text = text.strip()
    if is_list_text(text):
        text = text[1:-1].split(", ", 1)[0].strip()
    if text.lower() in MISSING_TOKENS:
        return UNKNOWN_CATEGORY
    return _join(*_PATH_SPLIT.split(text))


def is_list_text(text: str) -> bool:
    """Whether a cell is written as a list of several items (``[a, b]``).

    Examples
    --------
    >>> is_list_text("[a, b]"), is_list_text("[a]"), is_list_text("a, b")
    (True, False, False)
    """
    text = text.strip()
    return text.startswith("[") and text.endswith("]") and ", " in text


def map_unique(series: pd.Series, func: Callable[..., str]) -> pd.Series:
    """Apply ``func`` once per distinct value (categories repeat a lot), keep alignment."""
    values = series.astype(object).where(series.notna(), "")
    lookup: dict[Hashable, str] = {v: func(v) for v in pd.unique(values)}
    return pd.Series(values.map(lookup), index=series.index, dtype=object)


def food_store_category(square_footage: float) -> str:
    """``food/grocery/<supermarket|grocery|bodega|store>`` from floor area in sq ft.

    Examples
    --------
    >>> [food_store_category(x) for x in (0.0, 900.0, 2500.0, float("nan"))]
    ['food/grocery/store', 'food/grocery/bodega', 'food/grocery/grocery', 'food/grocery/store']
    """
    if not math.isnan(square_footage):
        for threshold, leaf in FOOD_STORE_THRESHOLDS_SQFT:
            if square_footage >= threshold:
                return f"food/grocery/{leaf}"
    return "food/grocery/store"


@lru_cache(maxsize=65_536)
def osm_category(key: str, value: str, cuisine: str = "") -> str:
    """Shared path for an OSM ``key=value`` (first of ``;``-separated values).

    Examples
    --------
    >>> osm_category("amenity", "pub")
    'nightlife/pub'
    >>> osm_category("amenity", "nightclub;restaurant")
    'nightlife/nightclub'
    >>> osm_category("shop", "yes")  # a shop of no stated kind (was "shop/yes", "Yes")
    'shop'
    """
    key_slug = slugify(key)
    value_slug = slugify(value.split(";")[0])
    if value_slug in ("yes", ""):
        return key_slug or UNKNOWN_CATEGORY
    path = OSM_TAXONOMY.get((key_slug, value_slug))
    if path is None:
        return _join(key_slug, value_slug)
    first_cuisine = slugify(cuisine.split(";")[0])
    if path in _CUISINE_PATHS and first_cuisine:
        return f"{path}/{first_cuisine}"
    return path


@lru_cache(maxsize=65_536)
def wof_category(sg_type: str, sg_category: str, sg_subcategory: str, tags: str) -> str:
    """Shared path for a SimpleGeo venue; falls back to its ``tags``.

    Examples
    --------
    >>> wof_category("Food & Drink", "Bars & Pubs", "Wine Bar", "")
    'nightlife/bar/wine_bar'
    >>> wof_category("Services", "Professional", "Business Services", "")
    'services/professional/business_services'
    >>> wof_category("", "", "", "Mexican|Restaurant|Food")
    'food/restaurant'
    >>> wof_category("", "", "", "[Mexican, Restaurant, Food]")  # a list cell, read alike
    'food/restaurant'
    """
    sg_type, sg_category, sg_subcategory = (
        sg_type.strip(),
        sg_category.strip(),
        sg_subcategory.strip(),
    )
    if sg_type or sg_category:
        exact = WOF_SUBCATEGORY_TAXONOMY.get((sg_type, sg_category, sg_subcategory))
        if exact is not None:
            return exact
        base = WOF_TAXONOMY.get((sg_type, sg_category))
        if base is not None:
            return _join(*base.split("/"), sg_subcategory)
        return _join(sg_type, sg_category, sg_subcategory)
    tags = tags.strip()
    listed = tags.startswith("[") and tags.endswith("]")  # a list cell (Parquet, GeoJSON)
    parts = tags[1:-1].split(", ") if listed else tags.split("|")
    tag_list = [t.strip().lower() for t in parts if t.strip()]
    for tag in tag_list:
        if tag in WOF_TAG_TAXONOMY:
            return WOF_TAG_TAXONOMY[tag]
    return _join("other", tag_list[0]) if tag_list else UNKNOWN_CATEGORY


_FSQ_ROOTS = (
    "Arts and Entertainment",
    "Business and Professional Services",
    "Community and Government",
    "Dining and Drinking",
    "Event",
    "Health and Medicine",
    "Landmarks and Outdoors",
    "Retail",
    "Sports and Recreation",
    "Travel and Transportation",
)
#: Foursquare (OS Places) label path prefix → shared path; the longest prefix found wins
#: and the rest of the path is appended, slugified; under a cuisine path (OSM's:
#: ``food/restaurant``, ``food/fast_food``, ``food/cafe``) without "Restaurant" and
#: without a region that only groups cuisines (:data:`_FSQ_REGIONS`), so the cuisine is
#: OSM's and its family stays under it (``Restaurant > Asian Restaurant > Japanese
#: Restaurant > Sushi Restaurant`` → ``food/restaurant/japanese/sushi``). Without this,
#: ``categories=food`` missed every FSQ restaurant (``dining_and_drinking/…``) and FSQ
#: hotels were not ``lodging/``.
FSQ_TAXONOMY: dict[tuple[str, ...], str] = {
    ("Dining and Drinking",): "food",
    ("Dining and Drinking", "Restaurant"): "food/restaurant",
    ("Dining and Drinking", "Restaurant", "Pizzeria"): "food/restaurant/pizza",
    ("Dining and Drinking", "Restaurant", "Fast Food Restaurant"): "food/fast_food",
    ("Dining and Drinking", "Restaurant", "Deli"): "food/deli",
    ("Dining and Drinking", "Cafe, Coffee, and Tea House"): "food/cafe",
    ("Dining and Drinking", "Cafe, Coffee, and Tea House", "Café"): "food/cafe",
    ("Dining and Drinking", "Bakery"): "food/bakery",
    ("Dining and Drinking", "Dessert Shop", "Ice Cream Parlor"): "food/ice_cream",
    ("Dining and Drinking", "Food Court"): "food/food_court",
    ("Dining and Drinking", "Juice Bar"): "food/juice_bar",
    ("Dining and Drinking", "Bar"): "nightlife/bar",
    ("Dining and Drinking", "Bar", "Pub"): "nightlife/pub",
    ("Dining and Drinking", "Bar", "Beer Garden"): "nightlife/biergarten",
    ("Dining and Drinking", "Brewery"): "nightlife/brewery",
    ("Dining and Drinking", "Night Club"): "nightlife/nightclub",
    ("Retail", "Food and Beverage Retail"): "food/shop",
    ("Retail", "Food and Beverage Retail", "Grocery Store"): "food/grocery/grocery",
    ("Retail", "Food and Beverage Retail", "Supermarket"): "food/grocery/supermarket",
    ("Retail", "Food and Beverage Retail", "Convenience Store"): "food/grocery/convenience",
    ("Retail", "Food and Beverage Retail", "Butcher"): "food/butcher",
    ("Retail", "Food and Beverage Retail", "Liquor Store"): "food/alcohol",
    ("Retail", "Food and Beverage Retail", "Wine Store"): "food/alcohol/wine",
    ("Retail", "Food and Beverage Retail", "Bakery"): "food/bakery",
    ("Retail", "Convenience Store"): "food/grocery/convenience",
    ("Travel and Transportation", "Lodging"): "lodging",
}

#: Foursquare's restaurant groups of cuisines (a cuisine of their own when nothing follows).
_FSQ_REGIONS = frozenset({"asian", "latin_american", "middle_eastern", "european", "african"})

# Labels such as "Café, Coffee, and Tea House" contain ", " themselves, so a new path
# starts only where ", " is followed by a top-level Foursquare category.
_FSQ_PATH_SEP = re.compile(
    r", (?=(?:" + "|".join(re.escape(r) for r in _FSQ_ROOTS) + r")(?: > |, |$))"
)


@lru_cache(maxsize=65_536)
def fsq_category(labels: str) -> str:
    """Slugified first path of Foursquare ``fsq_category_labels`` (``"[A > B, C > D]"``).

    Examples
    --------
    >>> fsq_category("[Dining and Drinking > Cafe, Coffee, and Tea House > Café, Retail]")
    'food/cafe'
    >>> fsq_category("[Dining and Drinking > Restaurant > Italian Restaurant]")
    'food/restaurant/italian'
    >>> fsq_category("[Dining and Drinking > Restaurant > Asian Restaurant > Japanese Restaurant]")
    'food/restaurant/japanese'
    >>> fsq_category("[Dining and Drinking > Restaurant > Mexican Restaurant > Taco Restaurant]")
    'food/restaurant/mexican/taco'
    >>> fsq_category("[Dining and Drinking > Bar > Hotel Bar]")
    'nightlife/bar/hotel_bar'
    >>> fsq_category("[Travel and Transportation > Lodging > Bed and Breakfast]")
    'lodging/bed_and_breakfast'
    >>> fsq_category("[Retail > Fashion Retail > Clothing Store]")
    'retail/fashion_retail/clothing_store'
    >>> fsq_category(""), fsq_category("NULL")
    ('unknown', 'unknown')
    """
    text = labels.strip().removeprefix("[").removesuffix("]").strip()
    if text.lower() in MISSING_TOKENS:
        return UNKNOWN_CATEGORY
    parts = tuple(p.strip() for p in _FSQ_PATH_SEP.split(text, maxsplit=1)[0].split(" > "))
    for n in range(len(parts), 0, -1):
        mapped = FSQ_TAXONOMY.get(parts[:n])
        if mapped is not None:
            rest = [slugify(p) for p in parts[n:]]
            if mapped in _CUISINE_PATHS:  # the cuisine and its family, as OSM's
                rest = [r.removesuffix("_restaurant") for r in rest]
                rest = rest[1:] if len(rest) > 1 and rest[0] in _FSQ_REGIONS else rest
            return _join(*mapped.split("/"), *rest)
    return _join(*parts)


def category_synonyms() -> dict[str, tuple[str, ...]]:
    """The source-vocabulary words each shared path stands for, from the tables above.

    A path's own segments already name it (``bodega``, ``pizza``); these are the other
    words sources used for it (WOF ``Coffee & Tea`` → ``food/cafe``, OSM
    ``shop=convenience`` → ``food/grocery/convenience``), so a search for "coffee" finds
    the cafés. The text index adds them to the category's words.

    Examples
    --------
    >>> category_synonyms()["food/grocery/convenience"]
    ('Convenience Store', 'Groceries & Convenience Stores', 'convenience')
    """
    out: dict[str, set[str]] = {}
    for (_key, value), path in OSM_TAXONOMY.items():
        out.setdefault(path, set()).add(value.replace("_", " "))
    for (_type, category), path in WOF_TAXONOMY.items():
        out.setdefault(path, set()).add(category)
    for (_type, _category, subcategory), path in WOF_SUBCATEGORY_TAXONOMY.items():
        out.setdefault(path, set()).add(subcategory)
    for tag, path in WOF_TAG_TAXONOMY.items():
        out.setdefault(path, set()).add(tag)
    for labels, path in FSQ_TAXONOMY.items():  # "pizzeria" still finds FSQ's Pizzerias
        if len(labels) > 1:  # (a root's words, "dining and drinking", name no one shop)
            out.setdefault(path, set()).add(labels[-1])
    return {path: tuple(sorted(words)) for path, words in sorted(out.items())}


def category_label(path: str, source_labels: dict[str, int] | None = None) -> str:
    """A human label for a category path: the source's own most frequent wording of its
    last segment when one is known (``source_labels``: raw value → count, e.g. DOHMH
    cuisines), else the segment with spaces, capitalised.

    Examples
    --------
    >>> category_label("food/restaurant/cafe_coffee_tea", {"Café/Coffee/Tea": 254})
    'Café/Coffee/Tea'
    >>> category_label("food/grocery/bodega"), category_label("food/restaurant/pizza", {"pizza": 9})
    ('Bodega', 'Pizza')
    """
    leaf = path.rsplit("/", 1)[-1]
    text = leaf.replace("_", " ").strip()
    for raw, _count in sorted((source_labels or {}).items(), key=lambda kv: (-kv[1], kv[0])):
        if slugify(raw) == leaf:
            text = raw.strip().replace("_", " ")  # OSM's values: coffee_shop, Coffee shop
            break
    return text[:1].upper() + text[1:]
