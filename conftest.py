"""Doctests: ``--doctest-modules`` runs every ``Examples`` section of the library.

Examples may use ``engine`` (a :class:`~geo_discovery.engine.DiscoveryEngine` over the
bundled Helsinki sample, loaded once) and ``sample_data_dir`` (its data dir) without
building them; see ``tests/conftest.py`` for the test fixtures.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

SAMPLE_CSV = Path(__file__).resolve().parent / "data" / "sample" / "helsinki_osm_pois.csv"


@pytest.fixture(scope="session")
def _doctest_sample(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from geo_discovery.engine import DiscoveryEngine
    from geo_discovery.settings import Settings
    from geo_discovery.snapshot.pipeline import load

    data_dir = tmp_path_factory.mktemp("doctest-sample")
    settings = Settings(data_dir=data_dir)
    load([SAMPLE_CSV], data_dir=data_dir, profile="osm_poi", settings=settings)
    return {
        "engine": DiscoveryEngine.from_snapshot(data_dir, settings=settings),
        "sample_data_dir": data_dir,
    }


@pytest.fixture(autouse=True)
def _doctest_names(request: pytest.FixtureRequest, doctest_namespace: dict[str, Any]) -> None:
    """Fill the doctest namespace for doctest items only (tests never pay for it)."""
    if isinstance(request.node, pytest.DoctestItem):
        doctest_namespace.update(request.getfixturevalue("_doctest_sample"))
