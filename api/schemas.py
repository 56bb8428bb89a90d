"""Pydantic schemas of the API: request bodies and documented response shapes.

Responses are serialised with orjson straight from dicts (see :mod:`api.responses`);
these models document them in the OpenAPI spec, and the schema fuzz test checks every
response against them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from annotated_types import Len
from pydantic import BaseModel, ConfigDict, Field, StrictFloat

from .score_schemas import ScoreParts

__all__ = [
    "AggregateCell",
    "AggregateFeature",
    "AggregateFeatureCollection",
    "AggregateResponse",
    "AnyFeature",
    "AutocompleteResponse",
    "CatchmentCell",
    "CatchmentCompetitor",
    "CatchmentFeatureCollection",
    "CatchmentResponse",
    "CategoriesResponse",
    "CategoryCount",
    "CategoryNode",
    "DemandSource",
    "DistrictAt",
    "DistrictDetail",
    "DistrictFeature",
    "DistrictFeatureCollection",
    "DistrictList",
    "DistrictSummary",
    "DroppedWords",
    "ErrorResponse",
    "HealthResponse",
    "HitFeature",
    "HitFeatureCollection",
    "MerchantDetail",
    "MerchantFeature",
    "MerchantHit",
    "MultiPolygonGeometry",
    "NamedCrs",
    "NearbyResponse",
    "NotReadyResponse",
    "ParameterError",
    "PointGeometry",
    "PolygonBody",
    "PolygonFeature",
    "PolygonFeatureCollection",
    "PolygonGeometry",
    "ReadyResponse",
    "ReloadResponse",
    "SearchFeatureCollection",
    "SearchResponse",
    "Suggestion",
    "TileJSON",
    "TradeArea",
    "VectorLayer",
]

_NYC_SQUARE: Any = [
    [-73.9900, 40.7540],
    [-73.9800, 40.7540],
    [-73.9800, 40.7620],
    [-73.9900, 40.7620],
    [-73.9900, 40.7540],
]

#: The search box's fallback, in nearby's and autocomplete's answers.
UnknownCategories = Annotated[list[str] | None, Field(
    description="Values of categories or exclude_categories that no merchant of this "
    "snapshot has (no category is that path or under it): they keep nothing, or exclude "
    "nothing. GET /v1/categories lists the snapshot's. Absent when every one is known.",
    examples=[["dining_and_drinking"]],
)]
DroppedWords = Annotated[list[str] | None, Field(
    description="Words of q left out because no merchant matched them all (the search "
    "box's fallback drops the last word first); absent when every word was used.",
    examples=[["zzz"]],
)]


# ----------------------------------------------------------------------------- errors


class ParameterError(BaseModel):
    """One problem with one parameter."""

    parameter: str = Field(description="Parameter name (``body.…`` for the request body).")
    location: str = Field(description="Where it was: query, path, header or body.")
    value: Any = Field(default=None, description="The value received (shortened if long).")
    message: str = Field(description="What is wrong and what is allowed.")


class ErrorResponse(BaseModel):
    """Every error answer: one readable line, plus the per-parameter details."""

    detail: str = Field(
        description="One line naming the parameter, the value and the allowed range.",
        examples=["lat=91 is out of range; allowed: -90 <= lat <= 90"],
    )
    errors: list[ParameterError] = Field(default_factory=list)


# -------------------------------------------------------------------------- merchants


class MerchantHit(BaseModel):
    """One merchant in a query answer. With ``fields=…`` only the chosen fields appear."""

    model_config = ConfigDict(extra="forbid")

    merchant_id: str = Field(examples=["nysfood:744237"])
    name: str | None = Field(default=None, examples=["GRISTEDES SUPERMARKET"])
    lat: float | None = Field(default=None, examples=[40.7582])
    lng: float | None = Field(default=None, examples=[-73.9856])
    distance_m: float | None = Field(
        default=None, description="Exact great-circle distance from the query point, metres."
    )
    category: str | None = Field(default=None, examples=["food/grocery/supermarket"])
    address: str | None = None
    phone: str | None = None
    website: str | None = None
    price_level: int | None = Field(default=None, description="1 (cheap) … 4 (expensive).")
    opening_hours: str | None = Field(default=None, description="OpenStreetMap syntax.")
    status: str | None = Field(default=None, description="open, closed or unknown.")
    rating: float | None = Field(default=None, description="On the source's own scale.")
    rating_scale: float | None = Field(default=None, description="Top of the rating scale.")
    review_count: int | None = None
    reviews_per_month: float | None = None
    first_review: str | None = Field(default=None, description="ISO 8601 date-time.")
    last_review: str | None = Field(default=None, description="ISO 8601 date-time.")
    quality_grade: str | None = None
    inspection_score: float | None = Field(default=None, description="Lower is better.")
    attractiveness: float | None = Field(default=None, description="Size-like pull.")
    brand: str | None = None
    source: str | None = Field(default=None, examples=["nys_retail_food"])
    score: float | None = Field(
        default=None, description="best_match score (only with sort=best_match)."
    )
    explain: ScoreParts | None = Field(
        default=None, description="The score's parts (only with explain=true)."
    )


class NearbyResponse(BaseModel):
    """One page of merchants near a point, in the requested order."""

    snapshot: str = Field(description="Version of the snapshot that answered.")
    count: int = Field(ge=0)
    next_cursor: str | None = Field(
        description="Pass back as cursor (same query) for the next page; null at the end."
    )
    dropped_words: DroppedWords = None
    unknown_categories: UnknownCategories = None
    unknown_visits: int | None = Field(
        default=None,
        ge=1,
        description="How many entries of visits name a merchant id this snapshot does not "
        "hold: they lift nothing (merchants come and go, so they are no error; a visit log's "
        "own venue id is not a merchant id). Absent when every visit was found or none was "
        "given; a member id's history is never described.",
        examples=[2],
    )
    results: list[MerchantHit]


class SearchResponse(BaseModel):
    """Merchants inside an area, nearest to the origin first."""

    snapshot: str
    count: int = Field(ge=0, description="Results in this answer.")
    total: int = Field(ge=0, description="Merchants matching in the whole area.")
    truncated: bool = Field(
        description="True when more matches follow this page (next_cursor is set)."
    )
    next_cursor: str | None = Field(
        description="Pass back as cursor, with the same query, for the next page; null on "
        "the last page. Pages visit every match exactly once."
    )
    unknown_categories: UnknownCategories = None
    results: list[MerchantHit]


class Suggestion(BaseModel):
    """A merchant suggested while typing."""

    merchant_id: str = Field(examples=["dohmh:41423010"])
    name: str = Field(examples=["Joe's Pizza"])
    category: str = Field(examples=["food/restaurant/pizza"])
    distance_m: float = Field(ge=0, description="Great-circle metres from the query point.")
    highlight: list[Annotated[list[int], Len(2, 2)]] = Field(
        description="[start, end) spans of name that match the typed words, counted in "
        "Unicode code points. JavaScript strings index UTF-16 code units, so slice "
        "Array.from(name) (not name itself) when a name holds characters beyond the BMP.",
        examples=[[[0, 5], [6, 11]]],
    )


class CategoryCount(BaseModel):
    """A category path with its label and merchant count."""

    path: str = Field(examples=["food/restaurant/pizza"])
    label: str = Field(examples=["Pizza"])
    count: int = Field(ge=0, description="Merchants in this category (and below it).")


class AutocompleteResponse(BaseModel):
    """What the search box shows while typing: merchants nearby, then categories."""

    snapshot: str
    query: str = Field(description="The text as searched (whitespace collapsed).")
    merchants: list[Suggestion] = Field(
        description="Best match first: relevance × distance decay × word of mouth × district."
    )
    categories: list[CategoryCount] = Field(
        description="Categories whose words match every word kept, best first."
    )
    dropped_words: DroppedWords = None


class CategoryNode(CategoryCount):
    """One node of the category tree."""

    parent: str | None = Field(description="The parent path; null at the top level.")


class CategoriesResponse(BaseModel):
    """Every category path and each of its parents, sorted by path (a tree, flattened)."""

    snapshot: str
    categories: list[CategoryNode]


class MerchantDetail(BaseModel):
    """One merchant's full record, with its untouched source attributes."""

    model_config = ConfigDict(extra="allow")

    merchant_id: str
    name: str
    lat: float
    lng: float
    category: str
    source: str
    attributes: dict[str, Any] = Field(description="The source row as it was read.")
    snapshot: str


# ---------------------------------------------------------------------------- GeoJSON


class PointGeometry(BaseModel):
    type: Literal["Point"]
    coordinates: Annotated[list[float], Len(2, 3)] = Field(description="[lng, lat]")


class HitFeature(BaseModel):
    type: Literal["Feature"]
    id: str
    geometry: PointGeometry
    properties: MerchantHit


class MerchantFeature(BaseModel):
    type: Literal["Feature"]
    id: str
    geometry: PointGeometry
    properties: dict[str, Any]


class SearchFeatureCollection(BaseModel):
    """``format=geojson`` answer of search (``application/geo+json``)."""

    type: Literal["FeatureCollection"]
    snapshot: str
    count: int = Field(ge=0)
    total: int = Field(ge=0)
    truncated: bool
    next_cursor: str | None
    unknown_categories: UnknownCategories = None
    features: list[HitFeature]


class HitFeatureCollection(BaseModel):
    """``format=geojson`` answer of nearby (``application/geo+json``)."""

    type: Literal["FeatureCollection"]
    snapshot: str
    count: int = Field(ge=0)
    next_cursor: str | None
    unknown_categories: UnknownCategories = None
    features: list[HitFeature]


Position = Annotated[list[float], Len(2, 3)]
LinearRing = list[Position]
#: A request body's position: JSON numbers only (lax floats would read true or "1" as 1).
BodyPosition = Annotated[list[StrictFloat], Len(2, 3)]
BodyRing = list[BodyPosition]


CRS_DESCRIPTION = (
    "Optional (GeoJSON 2008): honoured when it names WGS84 lng/lat (CRS84, EPSG:4326, "
    "their OGC URNs); any other crs is refused with 422 (reproject to EPSG:4326 first)."
)


class NamedCrs(BaseModel):
    """A GeoJSON 2008 ``crs`` member: ``{"type": "name", "properties": {"name": …}}``."""

    type: str = "name"
    properties: dict[str, Any]


Crs = Annotated[NamedCrs | None, Field(description=CRS_DESCRIPTION)]


class PolygonGeometry(BaseModel):
    """GeoJSON Polygon, positions in (lng, lat) order."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"type": "Polygon", "coordinates": [_NYC_SQUARE]}]}
    )

    type: Literal["Polygon"]
    coordinates: list[BodyRing]
    crs: Crs = None


class MultiPolygonGeometry(BaseModel):
    """GeoJSON MultiPolygon, positions in (lng, lat) order."""

    type: Literal["MultiPolygon"]
    coordinates: list[list[BodyRing]]
    crs: Crs = None


SearchGeometry = Annotated[PolygonGeometry | MultiPolygonGeometry, Field(discriminator="type")]


class PolygonFeature(BaseModel):
    """GeoJSON Feature whose geometry is a Polygon or MultiPolygon."""

    type: Literal["Feature"]
    geometry: SearchGeometry
    properties: dict[str, Any] | None = None
    crs: Crs = None


class AnyFeature(BaseModel):
    """A GeoJSON Feature of a FeatureCollection, as draw tools send them: its geometry
    must be a Polygon or MultiPolygon (anything else is refused, naming the feature)."""

    type: Literal["Feature"]
    geometry: dict[str, Any] | None
    properties: dict[str, Any] | None = None


class PolygonFeatureCollection(BaseModel):
    """GeoJSON FeatureCollection of polygon Features (what map draw tools send): the
    search area is the union of their polygons."""

    type: Literal["FeatureCollection"]
    features: list[AnyFeature] = Field(min_length=1)
    crs: Crs = None


PolygonBody = Annotated[
    PolygonGeometry | MultiPolygonGeometry | PolygonFeature | PolygonFeatureCollection,
    Field(discriminator="type"),
]


# -------------------------------------------------------------------------- aggregate


class AggregateCell(BaseModel):
    """One H3 bin: how many merchants, and where they are on average (for clusters)."""

    cell: str = Field(description="H3 cell, hex string.", examples=["882a100d25fffff"])
    count: int = Field(ge=1)
    lat: float = Field(description="Mean latitude of the merchants in the bin.")
    lng: float = Field(description="Mean longitude of the merchants in the bin.")
    mean_wom: float | None = Field(
        description="Mean word-of-mouth score (0–1) of the bin's merchants; null when the "
        "snapshot has no reputation."
    )


class AggregateResponse(BaseModel):
    snapshot: str
    resolution: int
    total: int = Field(ge=0, description="Merchants counted (all bins).")
    cells: list[AggregateCell]


class _CellPolygon(BaseModel):
    type: Literal["Polygon"]
    coordinates: list[LinearRing]


class AggregateFeature(BaseModel):
    type: Literal["Feature"]
    id: str
    geometry: _CellPolygon
    properties: AggregateCell


class AggregateFeatureCollection(BaseModel):
    """``format=geojson`` answer of aggregate: one hexagon Feature per bin."""

    type: Literal["FeatureCollection"]
    snapshot: str
    resolution: int
    total: int = Field(ge=0)
    features: list[AggregateFeature]


# -------------------------------------------------------------------------- districts


class DistrictSummary(BaseModel):
    """A detected business district's stats (more fields may come with the detector)."""

    model_config = ConfigDict(extra="allow")

    district_id: str = Field(examples=["d892a100d67bffff"])
    name: str | None = Field(default=None, examples=["7th Ave & 9th Ave"])
    tier: str | None = Field(default=None, examples=["regional"])
    n_merchants: int | None = None
    area_km2: float | None = None
    mean_wom: float | None = None
    bbox: list[float] = Field(description="west, south, east, north of the polygon.")


class DistrictList(BaseModel):
    snapshot: str
    count: int = Field(ge=0)
    districts: list[DistrictSummary]


class DistrictAt(BaseModel):
    snapshot: str
    lat: float
    lng: float
    district: DistrictSummary | None = Field(description="null when no district is there.")


class DistrictDetail(DistrictSummary):
    geometry: dict[str, Any] = Field(description="GeoJSON Polygon or MultiPolygon, (lng, lat).")
    snapshot: str


class DistrictFeature(BaseModel):
    type: Literal["Feature"]
    id: str
    geometry: dict[str, Any]
    properties: DistrictSummary


class DistrictFeatureCollection(BaseModel):
    """``format=geojson`` answer of /v1/districts."""

    type: Literal["FeatureCollection"]
    snapshot: str
    count: int = Field(ge=0)
    features: list[DistrictFeature]


# -------------------------------------------------------------------------- catchment


class DemandSource(BaseModel):
    """Where the demand of a catchment comes from."""

    kind: Literal["population", "merchants", "uniform"] = Field(
        description="population: the catchment_demand_path file; merchants: every merchant "
        "of the snapshot counts one unit (a proxy for footfall); uniform: every cell of "
        "the study area counts one unit."
    )
    description: str = Field(
        description="What the demand is, in words (a population file is named by its file "
        "name only: no server path is ever shown)."
    )
    resolution: int = Field(description="H3 resolution of the demand cells.")
    cells: int = Field(ge=0, description="Demand cells in the study area.")


class TradeArea(BaseModel):
    """A trade area: the demand cells where the district's Huff share is in a band."""

    kind: Literal["primary", "secondary"]
    min_share: float = Field(description="Lowest share in the band (primary: and above).")
    max_share: float | None = Field(description="Band's upper bound (exclusive); null: none.")
    cells: int = Field(ge=0)
    demand: float = Field(ge=0, description="Demand units in the band's cells.")
    expected: float = Field(ge=0, description="Demand expected to go to the district.")
    area_km2: float = Field(ge=0, description="The band's cells' area (exact, spherical).")
    geometry: dict[str, Any] = Field(
        description="GeoJSON Polygon or MultiPolygon (union of the cells), (lng, lat); "
        "an empty Polygon when no cell is in the band."
    )


class CatchmentCell(BaseModel):
    """One demand cell with the district's Huff probability there."""

    cell: str = Field(description="H3 cell, hex string.", examples=["892a100d67bffff"])
    lat: float
    lng: float
    demand: float = Field(ge=0)
    share: float = Field(ge=0, le=1, description="Huff probability of choosing the district.")
    expected: float = Field(ge=0, description="demand × share.")
    in_district: bool = Field(description="The cell's centre lies in the district.")


class CatchmentCompetitor(BaseModel):
    """Another district pulling demand from the same study area."""

    district_id: str
    name: str | None = None
    captured: float = Field(ge=0, description="Demand of the study area it captures.")
    share: float | None = Field(description="captured / demand_total; null with no demand.")


class CatchmentResponse(BaseModel):
    """A district's Huff catchment against every other district of the snapshot."""

    snapshot: str
    district_id: str
    name: str | None = None
    demand_source: DemandSource
    parameters: dict[str, Any] = Field(
        description="alpha, beta, resolution, radius_m, primary, secondary, min_share."
    )
    facilities: int = Field(ge=1, description="Districts competing in the Huff model.")
    demand_total: float = Field(ge=0, description="Demand units in the study area.")
    captured: float = Field(ge=0, description="Σ demand × share: expected demand captured.")
    share: float | None = Field(description="captured / demand_total; null with no demand.")
    trade_areas: list[TradeArea]
    competitors: list[CatchmentCompetitor]
    count: int = Field(ge=0, description="Cells listed (share >= min_share).")
    cells: list[CatchmentCell]


class CatchmentFeatureCollection(BaseModel):
    """``format=geojson`` answer of the catchment: trade areas, then cells (``layer``)."""

    type: Literal["FeatureCollection"]
    snapshot: str
    district_id: str
    demand_source: DemandSource
    share: float | None
    features: list[dict[str, Any]] = Field(
        description="Features whose properties.layer is primary, secondary (trade-area "
        "polygons) or cell (a hexagon with its share)."
    )


# ------------------------------------------------------------------------ operations


class HealthResponse(BaseModel):
    status: Literal["ok"]


class ReadyResponse(BaseModel):
    status: Literal["ready"]
    snapshot: str = Field(description="Version being served: ``<id>-<created_at>``.")
    snapshot_id: int
    created_at: str | None
    merchants: int = Field(ge=0)
    ranking_profile: dict[str, str] | None = Field(
        default=None,
        description="The learned ranking profile best_match uses ({path, digest}); null: "
        "the hand-set ranking_* settings.",
    )
    last_reload_error: str | None = Field(
        description="Why the newest published snapshot or ranking profile is not served, if "
        "it is not."
    )


class NotReadyResponse(BaseModel):
    status: Literal["no_snapshot"]
    detail: str
    last_reload_error: str | None


class ReloadResponse(BaseModel):
    changed: bool = Field(description="True when a different snapshot is now served.")
    previous: str | None
    snapshot: str | None = Field(description="Version served after the reload.")


# ---------------------------------------------------------------------------- tiles
class VectorLayer(BaseModel):
    id: str
    description: str
    minzoom: int
    maxzoom: int
    fields: dict[str, str] = Field(description="Property name → type and meaning.")


class TileJSON(BaseModel):
    """TileJSON 3.0.0 (https://github.com/mapbox/tilejson-spec) of /v1/tiles."""

    model_config = ConfigDict(extra="allow")

    tilejson: Literal["3.0.0"]
    name: str
    version: str
    scheme: Literal["xyz"]
    tiles: list[str] = Field(description="Absolute tile URL template with {z}/{x}/{y}.")
    minzoom: int
    maxzoom: int
    bounds: list[float] | None = Field(
        default=None, description="west, south, east, north of the merchants (degrees)."
    )
    center: list[float] = Field(description="lng, lat, zoom of a good first view.")
    snapshot: str
    top_categories: dict[str, int] = Field(
        description="Merchants per top-level category (extension field)."
    )
    bin_resolutions: list[int] = Field(
        description="H3 resolution of the merchant bins at each zoom from 0 (extension)."
    )
    vector_layers: list[VectorLayer]
