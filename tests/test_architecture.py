"""The layout's rules, checked on the source: imports point one way, no module imports
another's private names, every module declares ``__all__`` and stays a readable size, and
only ``errors.py`` defines exceptions."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "geo_discovery"
API = ROOT / "api"

# Layers, top to bottom. A module may import its own layer or lower ones, never higher.
LAYERS: dict[str, int] = {
    "api": 4,
    "cli": 4,
    "engine": 3,
    "tiles": 3,
    "results": 3,
    "evaluation": 3,
    "export": 3,
    "search": 2,
    "snapshot": 2,
    "ranking": 2,
    "districts": 2,
    "catchment": 2,
    "ingest": 2,
    "schema": 1,
    "cells": 1,
    "cellsets": 1,
    "distance": 1,
    "models": 1,
    "query": 1,
    "batch": 1,
    "ranking_profile": 1,
    "timeofweek": 1,
    "swaps": 1,
    "errors": 0,
    "settings": 0,
}
# Allowed edges between sibling rooms of layer 2 (everything else between them is refused).
SIBLINGS = {
    ("snapshot", "search"),  # a snapshot owns its index
    ("snapshot", "ranking"),  # ... runs the word-of-mouth and hours derivers
    ("snapshot", "districts"),  # ... and the districts deriver
    ("snapshot", "ingest"),  # the load pipeline reads files
    ("search", "ranking"),  # the planner scores with the ranking formulas
    ("catchment", "districts"),  # a catchment is of a district
    ("districts", "ingest"),  # the evaluation reads merchant files
}
MAX_LINES = 650


def _modules() -> list[tuple[str, Path]]:
    out = [
        (".".join(("geo_discovery", *p.relative_to(PACKAGE).with_suffix("").parts)), p)
        for p in PACKAGE.rglob("*.py")
    ]
    out += [
        (".".join(("api", *p.relative_to(API).with_suffix("").parts)), p) for p in API.rglob("*.py")
    ]
    return sorted(out)


MODULES = _modules()


def _room(module: str) -> str:
    parts = module.split(".")
    if parts[0] in ("api", "geo_discovery_api"):
        return "api"
    return parts[1].removesuffix("__init__") if len(parts) > 1 else ""


def _imports(module: str, path: Path) -> list[tuple[str, list[str]]]:
    """``(absolute module, imported names)`` of every import in ``path``."""
    tree = ast.parse(path.read_text())
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            out.append((target, [a.name for a in node.names]))
    return out


@pytest.mark.parametrize(("module", "path"), MODULES, ids=[m for m, _ in MODULES])
def test_imports_point_one_way(module: str, path: Path) -> None:
    here = _room(module)
    if here in ("", "__main__"):
        return
    for target, _names in _imports(module, path):
        if not target.startswith(("geo_discovery", "api")) or target.startswith(
            "geo_discovery_api"
        ):
            continue
        there = _room(
            target.replace("api.", "geo_discovery_api.", 1) if target.startswith("api.") else target
        )
        if there in ("", here) or here not in LAYERS or there not in LAYERS:
            continue
        if module.startswith("geo_discovery") and there == "api":
            pytest.fail(f"{module} imports {target}: the library never imports the API")
        if LAYERS[there] > LAYERS[here]:
            pytest.fail(f"{module} ({here}) imports {target} ({there}): a higher layer")
        if LAYERS[there] == LAYERS[here] == 2 and (here, there) not in SIBLINGS:
            pytest.fail(f"{module} ({here}) imports {target} ({there}): not an allowed edge")


@pytest.mark.parametrize(("module", "path"), MODULES, ids=[m for m, _ in MODULES])
def test_no_private_names_cross_modules(module: str, path: Path) -> None:
    for target, names in _imports(module, path):
        private = [n for n in names if n.startswith("_") and not n.startswith("__")]
        assert not private, f"{module} imports private {private} from {target}"


@pytest.mark.parametrize(("module", "path"), MODULES, ids=[m for m, _ in MODULES])
def test_modules_declare_all_and_stay_readable(module: str, path: Path) -> None:
    text = path.read_text()
    assert len(text.splitlines()) <= MAX_LINES, f"{module}: over {MAX_LINES} lines"
    if path.name in ("__main__.py",):
        return
    tree = ast.parse(text)
    targets = [t for n in tree.body if isinstance(n, ast.Assign) for t in n.targets]
    targets += [n.target for n in tree.body if isinstance(n, ast.AnnAssign)]
    names = {t.id for t in targets if isinstance(t, ast.Name)}
    assert "__all__" in names, f"{module} has no __all__"


@pytest.mark.parametrize(("module", "path"), MODULES, ids=[m for m, _ in MODULES])
def test_only_errors_py_defines_exceptions(module: str, path: Path) -> None:
    if module == "geo_discovery.errors":
        return
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ClassDef):
            bases = {ast.unparse(b) for b in node.bases}
            assert not any(b.endswith(("Error", "Exception")) for b in bases), (
                f"{module} defines exception {node.name}: put it in geo_discovery/errors.py"
            )


def test_the_library_never_imports_web_or_plotting_frameworks() -> None:
    banned = ("fastapi", "starlette", "uvicorn", "matplotlib", "folium")
    for module, path in MODULES:
        if not module.startswith("geo_discovery.") or module.startswith("geo_discovery.cli"):
            continue
        for target, _ in _imports(module, path):
            assert not target.startswith(banned), f"{module} imports {target}"
