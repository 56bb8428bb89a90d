"""Shared fixtures. Real data lives in ../shared/data (never copied into the repo).

``GEO_DISCOVERY_REAL_DATA`` points elsewhere; when the folder is absent, tests that
need it skip with a clear reason (``.ci/run`` turns that absence into a failure).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def real_data_dir() -> Path | None:
    env = os.environ.get("GEO_DISCOVERY_REAL_DATA")
    path = Path(env) if env else PROJECT_ROOT.parent / "shared" / "data"
    return path if (path / "nyc").is_dir() else None


REAL_DATA = real_data_dir()
SKIP_REASON = (
    "real data not found: set GEO_DISCOVERY_REAL_DATA or place ../shared/data beside the "
    "project (see README, 'Real data')"
)


@pytest.fixture(scope="session")
def real_data() -> Path:
    """Path to ../shared/data; skips the test with a clear reason when it is absent."""
    if REAL_DATA is None:
        pytest.skip(SKIP_REASON)
    return REAL_DATA
