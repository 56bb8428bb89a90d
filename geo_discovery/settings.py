"""Settings: one pydantic-settings class, environment prefix ``GEO_DISCOVERY_``.

Nothing here is instantiated at import time; call :func:`get_settings` (cached) or
build a :class:`Settings` yourself. Every field is documented in the README (a test
checks it).
"""

from __future__ import annotations

import math
import os
import typing
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["MEMBER_FEATURES", "MEMBER_WEIGHT_MAX", "Settings", "default_data_dir", "get_settings"]

#: The member-history features a ranking weighs (``ranking_member_weights``, a profile's
#: member weights): log(1 + the member's visits to this merchant / to its category).
MEMBER_FEATURES: tuple[str, ...] = ("own_visits", "own_category")
#: The largest hand-set member weight: the exponent of (1 + visits) in the lift.
MEMBER_WEIGHT_MAX = 10.0
_MEMBER_WEIGHTS = {"own_visits": 1.0, "own_category": 0.25}  # a name not given keeps its own


def default_data_dir() -> Path:
    """Where snapshots live when nothing else is said: ``$XDG_DATA_HOME/geo-discovery``.

    Falls back to ``~/.local/share/geo-discovery`` when ``XDG_DATA_HOME`` is unset.
    """
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "geo-discovery"


class Settings(BaseSettings):
    """All tunables of geo-discovery. Environment variables override the defaults.

    Examples
    --------
    >>> Settings(max_k=50).max_k
    50
    """

    model_config = SettingsConfigDict(env_prefix="GEO_DISCOVERY_", extra="ignore")

    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="Folder holding the snapshot store (snapshots/ and the CURRENT pointer).",
    )
    real_data: Path | None = Field(
        default=None,
        description="Folder with the real datasets (../shared/data) used by tests, "
        "benchmarks and notebooks. Unset: ../shared/data beside the project, if present.",
    )
    index_resolution: int | None = Field(
        default=None,
        ge=0,
        le=15,
        description="H3 resolution of the CellIndex. Unset: chosen from the data's density.",
    )
    index_target_per_cell: float = Field(
        default=8.0,
        gt=0,
        description="Auto resolution: the finest resolution whose occupied cells hold at "
        "least this many merchants on average.",
    )
    max_k: int = Field(default=1000, ge=1, description="Largest k (limit) a query may ask for.")
    max_radius_m: float = Field(
        default=100_000.0, gt=0, description="Largest radius_m a query may ask for."
    )
    max_polygon_vertices: int = Field(
        default=10_000, ge=4, description="Most vertices a search polygon may have."
    )
    keep_snapshots: int = Field(
        default=5,
        ge=1,
        description="Retention: how many most recent published snapshots a load keeps (the "
        "current one, the newest non-empty one and, when 2 or more, the one a plain rollback "
        "goes to are never deleted; never-published leftovers of killed loads are removed "
        "and do not count).",
    )
    load_max_shrink: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="A replace or delete load is refused (exit 4, nothing published) when it "
        "would drop more than this share of the current snapshot's merchants, in all or of one "
        "source, unless --allow-shrink is given. 1 disables the check.",
    )

    # ---------------------------------------------------------------- word of mouth (reputation.py)
    wom_prior_strength: float = Field(
        default=10.0,
        gt=0,
        description="Word of mouth: weight of the category x area prior, in reviews: a merchant's "
        "own rating outweighs the prior once its (decayed) evidence exceeds this many reviews.",
    )
    wom_prior_group_strength: float = Field(
        default=5.0,
        gt=0,
        description="Word of mouth: how many fully reliable merchants a category or area needs "
        "before its own mean outweighs its parent's (area -> category -> parent category -> all).",
    )
    wom_prior_area_resolution: int | None = Field(
        default=7,
        ge=0,
        le=15,
        description="Word of mouth: H3 resolution of the prior's area (7: about 5 km2). "
        "None (`none` in the environment): no area level, the prior is per category only.",
    )
    wom_half_life_days: float = Field(
        default=730.0,
        gt=0,
        description="Word of mouth: a review or inspection loses half its weight after this "
        "many days.",
    )
    wom_as_of: date | None = Field(
        default=None,
        description="Word of mouth: the date ages are measured from. Unset: the newest review "
        "or inspection date of each source file (reproducible; old scrapes are not aged).",
    )
    wom_subscore_weight: float = Field(
        default=0.25,
        ge=0,
        le=1,
        description="Word of mouth: share of the review signal taken from the mean sub-score "
        "(cleanliness, location, value...) when the source has both.",
    )
    wom_popularity_weight: float = Field(
        default=0.1,
        ge=0,
        le=1,
        description="Word of mouth: share of wom_score from popularity (decayed review volume "
        "against the category's typical volume); the rest is rated quality.",
    )
    wom_inspection_weight: float = Field(
        default=2.0,
        ge=0,
        description="Word of mouth: how many reviews one official inspection counts as.",
    )
    wom_burst_ratio: float = Field(
        default=5.0,
        gt=1,
        description="Word of mouth: a review rate this many times the expected one (the "
        "merchant's own earlier rate, its velocity, or its category's) is a burst.",
    )
    wom_burst_min_reviews: int = Field(
        default=10,
        ge=1,
        description="Word of mouth: bursts smaller than this many reviews are not damped.",
    )
    wom_burst_weight: float = Field(
        default=0.25,
        ge=0,
        le=1,
        description="Word of mouth: weight of each review in a burst's excess (1: no damping).",
    )

    # ---------------------------------------------------------------- ranking (ranking.py)
    ranking_consumption_radii: dict[str, float] = Field(
        default_factory=dict,
        description="Ranking: consumption radius overrides in metres per category prefix, as "
        'a JSON object (e.g. \'{"food/restaurant": 2000, "*": 1000}\'), merged over the '
        "built-in table of docs/ranking.md; a request may override them again.",
    )
    ranking_wom_weight: float = Field(
        default=1.0,
        ge=0,
        le=1,
        description="Ranking: weight of word of mouth in best_match (0 ignores it, 1 multiplies "
        "the score by wom_score in full); a request may override it.",
    )
    ranking_district_weight: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="Ranking: weight of the district term in best_match (0 ignores it, 1 "
        "multiplies by it in full; 0.5: the strongest district at most doubles a score over "
        "no district); a request may override it.",
    )
    ranking_distance_scale: float = Field(
        default=1.0,
        ge=0.01,
        le=100,
        description="Ranking: multiplies every consumption radius (2: people travel twice as "
        "far); a request may override it.",
    )
    ranking_profile: Path | None = Field(
        default=None,
        description="Ranking: a ranking profile JSON written by `geo-discovery calibrate` "
        "(learned best_match weights, distance exponent and radii). Unset: the snapshot's "
        "ranking_profile.json, else the data dir's, else the hand-set ranking_* values.",
    )
    ranking_member_weights: dict[str, float] = Field(
        default_factory=lambda: dict(_MEMBER_WEIGHTS),
        description="Ranking: member-history weights used when no ranking profile holds "
        "learned ones: a merchant's score is multiplied by (1 + the member's visits to it)^"
        "own_visits × (1 + their visits to its category)^own_category.",
    )

    @field_validator("*", mode="before")
    @classmethod
    def _none_from_text(cls, value: Any, info: ValidationInfo) -> Any:
        """``none``, ``null`` or an empty value: a setting that may be ``None`` is off. An
        environment variable cannot be ``None``, and ``wom_prior_area_resolution``'s
        default is 7: ``=none`` was "not a valid integer", so only Python could unset it.
        (Every such field, from its type: a list of names had left the admin key out.)"""
        if isinstance(value, str) and value.strip().lower() in ("", "none", "null"):
            field = cls.model_fields.get(info.field_name or "")
            if field is not None and type(None) in typing.get_args(field.annotation):
                return None
        return value

    @field_validator("ranking_member_weights")
    @classmethod
    def _member_weights(cls, weights: dict[str, float]) -> dict[str, float]:
        """Known features, each weight in 0 … MEMBER_WEIGHT_MAX (a lift, never a penalty): a
        typo ignored or a negative weight changed answers without a word."""
        unknown = sorted(set(weights) - set(MEMBER_FEATURES))
        if unknown:
            raise ValueError(f"unknown feature {', '.join(map(repr, unknown))}; allowed: "
                             f"{', '.join(MEMBER_FEATURES)}")  # fmt: skip
        bad = {k: w for k, w in weights.items()
               if not (math.isfinite(w) and 0 <= w <= MEMBER_WEIGHT_MAX)}  # fmt: skip
        if bad:
            raise ValueError(f"weights {bad} are out of range; allowed: numbers 0 … "
                             f"{MEMBER_WEIGHT_MAX:g}")  # fmt: skip
        return {**_MEMBER_WEIGHTS, **weights}  # {"own_visits": 2}: own_category keeps 0.25

    member_max_lift: float = Field(
        default=10_000.0,
        ge=1.0,
        le=1e12,
        description="Ranking: the largest factor a member's history lifts a merchant's "
        "best_match score by (a merchant visited a thousand times, or a favourite category, "
        "included). Distance decay falls as 1/d², so a lift L makes up for a distance √L "
        "times longer: 10,000 lets a member's favourite a hundred times farther away "
        "compete with a stranger's pick. Chosen on real check-ins (docs/ranking.md): 100 "
        "and 1,000 predicted worse, no cap (a fitted lift reached 6·10¹¹) no better.",
    )
    member_cache: int = Field(
        default=1_024,
        ge=1,
        le=10_000_000,
        description="Ranking: members whose resolved history lift is kept in memory (each "
        "a few KiB). A server with more members asking at once than this resolves a member's "
        "history again on each request.",
    )
    cursor_secret: SecretStr | None = Field(
        default=None,
        description="Key that signs page cursors (HMAC-SHA256). Unset: a built-in key, so "
        "cursors work across restarts and workers but can be forged (harmlessly: a forged "
        "cursor only asks for a page of the same query).",
    )

    # ---------------------------------------------------------------- query API (api/)
    api_default_limit: int = Field(
        default=20,
        ge=1,
        description="API: results returned by /v1/merchants/nearby when no limit is given "
        "(the largest limit allowed is max_k).",
    )
    api_default_search_limit: int = Field(
        default=100,
        ge=1,
        description="API: results returned by /v1/merchants/search (bbox or polygon) when no "
        "limit is given (the largest allowed is max_k).",
    )
    api_max_body_bytes: int = Field(
        default=1_000_000,
        ge=1_024,
        description="API: largest request body accepted (bytes); larger bodies get 413.",
    )
    api_max_aggregate_cells: int = Field(
        default=20_000,
        ge=1,
        description="API: most H3 bins /v1/aggregate returns; a bbox and resolution that "
        "would give more get 422 (ask for a coarser resolution or a smaller bbox).",
    )
    api_cors_origins: list[str] = Field(
        default_factory=list,
        description="API: browser origins allowed by CORS, as a JSON list (e.g. "
        "'[\"https://map.example.com\"]' or '[\"*\"]'); empty disables CORS.",
    )
    api_admin_key: SecretStr | None = Field(
        default=None,
        description="API: key that POST /v1/admin/reload requires in the X-API-Key header; "
        "unset disables the admin endpoints (403).",
    )
    api_reload_interval_ms: int = Field(
        default=1_000,
        ge=0,
        description="API: how often (milliseconds) the server checks the data dir's CURRENT "
        "pointer and swaps to a newly published snapshot; 0 turns the check off (use "
        "POST /v1/admin/reload).",
    )
    api_cache_max_age_s: int = Field(
        default=60,
        ge=0,
        description="API: Cache-Control max-age (seconds) on query responses; their ETag is "
        "the snapshot version, so clients revalidate cheaply with If-None-Match.",
    )
    api_gzip_min_bytes: int = Field(
        default=1_024,
        ge=0,
        description="API: responses at least this large are gzip-compressed when the client "
        "accepts it.",
    )
    api_max_catchment_cells: int = Field(
        default=20_000,
        ge=100,
        description="API: most demand cells /v1/districts/{id}/catchment may compute over; "
        "a radius_m and resolution that would need more get 422 (ask for a coarser "
        "resolution or a smaller radius).",
    )
    tiles_max_points: int = Field(
        default=4_000,
        ge=1,
        description="Vector tiles: a tile below zoom 16 holding more merchants than this "
        "(after filters) draws H3 bins with counts instead of the merchants themselves "
        "(about one merchant per 16 px² of a 256-px tile).",
    )
    tiles_cache_mb: int = Field(
        default=64,
        ge=0,
        description="Vector tiles: MB of encoded tiles kept per snapshot (least recently used "
        "first out; 0 turns the cache off). Tiles filtered by open_now are never cached.",
    )
    map_style_url: str | None = Field(
        default=None,
        description="Map page: URL of a MapLibre style JSON drawn under the engine's layers "
        "(a real basemap). Unset: a plain background, nothing fetched from the internet.",
    )
    basemap_tile_url: str | None = Field(
        default=None,
        description="Notebook maps: a raster XYZ tile URL template ({z}/{x}/{y}, optionally "
        "{s} and {r}) drawn under the data layers, e.g. "
        "https://tile.openstreetmap.org/{z}/{x}/{y}.png. Unset: no basemap, nothing fetched "
        "from the internet; the maps draw their data layers on a plain background.",
    )
    basemap_attribution: str | None = Field(
        default=None,
        description="Notebook maps: the attribution shown for basemap_tile_url (required by "
        "most tile providers' terms). Unset: the URL's host name.",
    )
    catchment_demand_path: Path | None = Field(
        default=None,
        description="Catchments: CSV of population points used as demand (lat/lng or "
        "centroid_lat/centroid_lon, and population), e.g. ../shared/data/nyc/"
        "nyc_census2020_tract_population.csv. Unset: the API's catchment uses merchants as "
        "the demand proxy (demand=auto), and says so in demand_source.",
    )
    api_access_log: bool = Field(
        default=False,
        description="API: log every request (uvicorn access log) in `geo-discovery serve`.",
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings, read from the environment once."""
    return Settings()
