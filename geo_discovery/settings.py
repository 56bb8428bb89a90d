"""Settings: one pydantic-settings class, environment prefix ``GEO_DISCOVERY_``.

Nothing here is instantiated at import time; call :func:`get_settings` (cached) or
build a :class:`Settings` yourself. Every field is documented in the README (a test
checks it).
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "default_data_dir", "get_settings"]


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
        description="Retention: how many most recent snapshots a load keeps (the current "
        "one is never deleted).",
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings, read from the environment once."""
    return Settings()
