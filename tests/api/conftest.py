"""Fixtures of the API tests: ``client``, the app over the bundled Helsinki sample (reload
off), one per test module. A module with its own ``client`` (another snapshot or other
settings) defines it and that one answers there."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from geo_discovery.settings import Settings
from geo_discovery_api import create_app


@pytest.fixture(scope="module")
def client(sample_data_dir: Path) -> Iterator[TestClient]:
    settings = Settings(data_dir=sample_data_dir, api_reload_interval_ms=0)
    with TestClient(create_app(settings, sample_data_dir)) as c:
        yield c
