"""Packaging: every package folder is installed, and nothing installs as plain ``api``."""

from __future__ import annotations

import tomllib
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def test_every_package_folder_is_listed_in_pyproject() -> None:
    config = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    dirs = config["package-dir"]
    found = set()
    for name, folder in dirs.items():
        base = PROJECT_ROOT / folder
        for init in base.rglob("__init__.py"):
            rel = init.parent.relative_to(base).parts
            found.add(".".join((name, *rel)))
    assert found == listed, f"pyproject lists {sorted(listed)}, folders hold {sorted(found)}"
    assert not any(p == "api" or p.startswith("api.") for p in listed)


def test_the_api_installs_under_a_distinctive_name() -> None:
    import geo_discovery_api
    import geo_discovery_api.app

    assert Path(geo_discovery_api.__file__).parent == PROJECT_ROOT / "api"
    assert callable(geo_discovery_api.app.create_app)


def test_the_library_ships_its_type_hints() -> None:
    """PEP 561: without ``py.typed`` in the installed package, a user's mypy or pyright
    ignores every annotation (a library user's sweep)."""
    config = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert (PROJECT_ROOT / "geo_discovery" / "py.typed").is_file()
    assert "py.typed" in config["package-data"]["geo_discovery"]
