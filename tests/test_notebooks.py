"""The analyst notebooks: they run, answer with a map, a plot and words, use the engine as
their only door to the data, and are committed fresh and small.

* every ``notebooks/NN_*.ipynb`` is executed here (nbclient, a fresh kernel, any error
  fails) on the session's NYC snapshot (``nyc_data_dir``), its path injected into the
  parameter cell; every notebook runs again on the Helsinki sample (no ground truth, population
  or visits), which is what "any city via one parameter cell" means. The ranking evaluation
  (03) runs on a twentieth of the NYC check-in log's people, and, since NYC's is the only
  real visit log, on a synthetic log with a known choice model (``benchmarks/visit_log.py``)
  laid over Helsinki;
* the committed copies are checked with ``scripts/notebooks.py check``: each code cell's
  source is the one that produced its outputs (hash recorded at execution), no error, no
  output above the size rules;
* the maps of ``notebooks/mapping.py`` draw in a browser with every network request
  refused, and the basemap comes from the ``basemap_tile_url`` setting only.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.util
import re
import sys
import warnings
from pathlib import Path
from typing import Any

import nbformat
import pandas as pd
import pytest

from geo_discovery.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
NB_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NB_DIR.glob("[0-9][0-9]_*.ipynb"))
IDS = [p.stem for p in NOTEBOOKS]
VISITS = "checkins/nyc_tsmc2014_checkins_half.csv.gz"
RANKING = "03_ranking_worth_the_walk"
RANKERS = (
    "distance",
    "popularity within radius",
    "gravity",
    "best_match (hand-set)",
    "best_match (calibrated)",
    "own past visits, then distance",
    "best_match (calibrated) + member",
)
# The ranking evaluation on a share of the people: seconds, not the full run's minutes.
QUICK_RANKING = {"USER_SHARE": 0.05, "USER_SPLIT": False, "BOOTSTRAP": 200}


def _load(name: str, path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


nbtool = _load("notebook_tool", ROOT / "scripts" / "notebooks.py")
mapping = _load("notebook_mapping", NB_DIR / "mapping.py")


@functools.cache
def _visit_venues(real_data: Path) -> frozenset[str]:
    return frozenset(pd.read_csv(real_data / VISITS, usecols=["venue_id"])["venue_id"].astype(str))


def _holds_visit_rows(text: str, real_data: Path) -> bool:
    tokens = set(re.findall(r"[0-9a-f]{24}|fedkg_\d+", text))
    return bool(tokens & _visit_venues(real_data))


def _code(nb: Any) -> list[str]:
    return [c.source for c in nb.cells if c.cell_type == "code"]


def _outputs(nb: Any) -> list[dict[str, Any]]:
    return [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]


def _run(path: Path, **parameters: Any) -> Any:
    with warnings.catch_warnings():
        # jupyter_client / zmq deprecations are not ours; an error in a cell still raises
        warnings.simplefilter("ignore")
        return nbtool.execute(path, parameters, timeout=300)


def _assert_answers(nb: Any, *, maps: int = 1) -> None:
    """A map, a plot and an answer in words: what every notebook must show."""
    outs = _outputs(nb)
    assert not [o for o in outs if o.get("output_type") == "error"]
    pngs = [o for o in outs if "image/png" in o.get("data", {})]
    drawn = [o for o in outs if "L.map(" in str(o.get("data", {}).get("text/html", ""))]
    words = [o for o in outs if "text/markdown" in o.get("data", {})]
    assert pngs, "no plot"
    assert len(drawn) >= maps, "no interactive map"
    assert words and len(str(words[-1]["data"]["text/markdown"])) > 200, "no answer in words"
    for o in drawn:  # offline: Leaflet inlined, nothing loaded from a CDN
        html = str(o["data"]["text/html"])
        assert "cdn.jsdelivr.net" not in html and "code.jquery.com" not in html


_CELL = r"(\d\.\d{3}) \[(\d\.\d{3}), (\d\.\d{3})\]"


def _ranking_table(nb: Any) -> dict[str, list[tuple[float, float, float]]]:
    """The evaluation's markdown table: per ranker, (value, lo, hi) for each metric."""
    tables = [str(o["data"]["text/markdown"]) for o in _outputs(nb)
              if "| ranker |" in str(o.get("data", {}).get("text/markdown", ""))]  # fmt: skip
    assert len(tables) == 1, "no ranking table"
    lines = tables[0].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| ranker |"))
    rows = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):  # the whole table's end (the user splits' follow)
            break
        name, *cells = (c.strip() for c in line.strip().strip("|").split("|"))
        values = [re.fullmatch(_CELL, c) for c in cells]
        assert all(values), line
        rows[name] = [(float(v[1]), float(v[2]), float(v[3])) for v in values if v]
    return rows


def _assert_ranking_answers(nb: Any, *, metrics: int = 5) -> None:
    """Every ranker in the table, each value inside its interval and in [0, 1], the plot of
    intervals, the learned profile and the answer that compares calibrated with gravity."""
    table = _ranking_table(nb)
    assert tuple(table) == RANKERS
    for name, cells in table.items():
        assert len(cells) == metrics, name
        for value, lo, hi in cells:
            assert 0.0 <= lo <= value <= hi <= 1.0, (name, value, lo, hi)
    text = nbformat.writes(nb)
    assert "distance exponent γ" in text and "learned radius_m" in text
    answer = str(_outputs(nb)[-1]["data"]["text/markdown"])
    assert "the goal of 1.2× the gravity model" in answer and "Member history" in answer


def _text_outputs(nb: Any) -> str:
    """Every output an analyst reads (tables, prints, words), without plots or maps."""
    parts = []
    for o in _outputs(nb):
        data = o.get("data", {})
        if "L.map(" in str(data.get("text/html", "")):
            continue  # a map of the snapshot's merchants (the engine's answer), not the log
        parts += [str(data.get(k, "")) for k in ("text/plain", "text/html", "text/markdown")]
        parts.append(str(o.get("text", "")))
    return "\n".join(parts)


# ------------------------------------------------------------------ committed notebooks
def test_the_numbered_notebooks_exist() -> None:
    names = [p.name for p in NOTEBOOKS]
    assert names == [
        "01_business_districts.ipynb",
        "02_catchment_and_competition.ipynb",
        "03_ranking_worth_the_walk.ipynb",
        "04_nearby_and_why.ipynb",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_committed_notebook_is_fresh_and_small(path: Path) -> None:
    """Every code cell ran as it reads now (`make notebooks`), and the outputs obey the size
    rules (`python scripts/notebooks.py strip`)."""
    assert nbtool.check(path) == []
    nb = nbformat.read(path, as_version=4)
    assert [o for o in _outputs(nb) if "image/png" in o.get("data", {})], "no plot committed"
    before = nbformat.writes(nb)
    nbtool.strip(nb, path.stem)
    assert nbformat.writes(nb) == before  # stripping a committed notebook changes nothing


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_one_parameter_cell(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    assert "DATA_DIR" in nbtool._assigned_names(tagged[0].source)


# Reading data around the engine: snapshot internals, the ingest or search layers, files.
_FORBIDDEN_MODULES = ("geo_discovery.snapshot", "geo_discovery.ingest", "geo_discovery.search",
                      "geo_discovery.tiles", "pyarrow")  # fmt: skip
_FORBIDDEN_NAMES = {"Snapshot", "SnapshotStore", "snapshot", "read_merchants", "build_districts",
                    "read_sources", "derive_districts"}  # fmt: skip
_READERS = re.compile(r"^(read_\w+|open|load|loadtxt|genfromtxt|read_text|read_bytes)$")
_ALLOWED_READERS = {"load_truth", "read_demand"}  # the ground truth and the demand input


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_the_engine_is_the_only_door(path: Path) -> None:
    """No notebook opens snapshot files or merchant files: data comes from
    ``DiscoveryEngine``; the only files read directly are the ground truth
    (``load_truth``), the demand (``read_demand`` or the ``catchment_demand_path`` setting)
    and the visit log (``pd.read_csv(visits_file, …)``, for calibration only)."""
    nb = nbformat.read(path, as_version=4)
    problems = []
    for source in _code(nb):
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ImportFrom | ast.Import):
                mods = (
                    [node.module or ""]
                    if isinstance(node, ast.ImportFrom)
                    else [a.name for a in node.names]
                )
                problems += [m for m in mods if m.startswith(_FORBIDDEN_MODULES)]
            elif isinstance(node, ast.Name) and node.id in _FORBIDDEN_NAMES:
                problems.append(node.id)
            elif isinstance(node, ast.Attribute) and node.attr in _FORBIDDEN_NAMES:
                problems.append(f".{node.attr}")
            elif isinstance(node, ast.Call):
                f = node.func
                name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
                if not _READERS.match(name) or name in _ALLOWED_READERS:
                    continue
                first = node.args[0] if node.args else None
                if not (name == "read_csv" and isinstance(first, ast.Name)
                        and first.id == "visits_file"):  # fmt: skip
                    problems.append(f"{name}(…)")
    assert problems == []


def test_committed_notebooks_hold_no_visit_rows(real_data: Path) -> None:
    """The check-ins are evaluation data (no open licence): outputs carry aggregates only,
    so no venue id of the log may appear in a committed notebook."""
    assert len(_visit_venues(real_data)) > 20_000
    for path in NOTEBOOKS:
        assert not _holds_visit_rows(path.read_text(encoding="utf-8"), real_data), path.name


# ------------------------------------------------------------------------ execution
@pytest.mark.real_data
@pytest.mark.timeout(600)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_runs_on_nyc(path: Path, nyc_data_dir: Path, real_data: Path) -> None:
    quick = QUICK_RANKING if path.stem == RANKING else {}
    nb = _run(path, DATA_DIR=str(nyc_data_dir), **quick)
    _assert_answers(nb)
    text = nbformat.writes(nb)
    assert not _holds_visit_rows(text, real_data)
    if path.stem == RANKING:
        _assert_ranking_answers(nb)
        assert "Yang et al. 2015" in text and "one person in 20" in text
        shown = _text_outputs(nb)
        assert "user_id" not in shown and "<th>user" not in shown  # aggregates only
    if path.stem.startswith("01_"):
        assert "51/64" in text  # the README's BID recall, through the engine's snapshot
    if path.stem.startswith("02_"):
        assert "fitted: α =" in text and "Yang et al. 2015" in text


@pytest.mark.timeout(600)
@pytest.mark.parametrize(
    ("stem", "parameters"),
    [
        ("01_business_districts", {"CITY": "Helsinki", "TRUTH_PATH": None}),
        (
            "02_catchment_and_competition",
            {"CITY": "Helsinki", "DEMAND_PATH": None, "VISITS_PATH": None, "FOCUS": None},
        ),
        (
            "04_nearby_and_why",
            {
                "CITY": "Helsinki",
                "PLACE": "Kaisaniemi",
                "AT": (60.1699, 24.9384),
                "CATEGORIES": "food",
                "EXCLUDE": None,
            },
        ),
    ],
)
def test_notebook_runs_on_another_city(stem: str, parameters: dict, sample_data_dir: Path) -> None:
    """The same notebooks, changed only in the parameter cell, on the Helsinki sample."""
    nb = _run(NB_DIR / f"{stem}.ipynb", DATA_DIR=str(sample_data_dir), **parameters)
    _assert_answers(nb)
    answer = str(_outputs(nb)[-1]["data"]["text/markdown"])
    assert parameters.get("PLACE", "Helsinki") in answer


@pytest.mark.timeout(600)
def test_ranking_notebook_runs_on_a_synthetic_log(sample_data_dir: Path, tmp_path: Path) -> None:
    """There is one real visit log (New York's), so the ranking evaluation's "another city"
    is a synthetic log with a known choice model laid over Helsinki, the snapshot of the map:
    the same notebook, changed only in the parameter cell. No person or venue of the log
    appears in what it shows."""
    from benchmarks.visit_log import write_visit_log

    log = write_visit_log(tmp_path / "visits.csv", seed=1, centre=(60.1699, 24.9384))
    nb = _run(NB_DIR / f"{RANKING}.ipynb", DATA_DIR=str(sample_data_dir), CITY="Helsinki",
              VISITS_PATH=str(log), VISITS_NAME="a synthetic visit log (benchmarks/visit_log.py)",
              UNTIL=None, FIT_DAYS=None, USER_SHARE=1.0, USER_SPLIT=True, BOOTSTRAP=200,
              PLACE="Kaisaniemi", AT=(60.1699, 24.9384))  # fmt: skip
    _assert_answers(nb)
    _assert_ranking_answers(nb)
    answer = str(_outputs(nb)[-1]["data"]["text/markdown"])
    assert "Kaisaniemi" in answer and "synthetic visit log" in answer
    assert "fitted on the other" in _text_outputs(nb) and "people the fit never saw" in answer
    visits = pd.read_csv(log, dtype=str)
    ids = set(visits["user"]) | set(visits["venue"])
    shown = set(re.findall(r"(?<![\w\\])[a-z]+\d+\b", _text_outputs(nb)))
    assert len(ids) > 300 and not shown & ids


# ------------------------------------------------------------------ the tool's rules
def _tiny_notebook() -> Any:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("DATA_DIR = 'x'\nCITY = 'A'")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell("print(DATA_DIR, CITY)")]
    return nb


def test_injected_parameters_follow_the_parameter_cell() -> None:
    nb = nbtool.inject(_tiny_notebook(), {"CITY": "Helsinki", "DATA_DIR": None})
    assert nb.cells[1].metadata["tags"] == ["injected-parameters"]
    assert "CITY = 'Helsinki'" in nb.cells[1].source and "DATA_DIR = None" in nb.cells[1].source
    with pytest.raises(ValueError, match="unknown parameter"):
        nbtool.inject(_tiny_notebook(), {"CITTY": "x"})
    assert nbtool.parse_parameter("FOCUS=(40.7, -74.0)") == ("FOCUS", (40.7, -74.0))
    assert nbtool.parse_parameter("CITY=New York") == ("CITY", "New York")


def test_bad_command_lines_get_a_message_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "tiny.ipynb"
    nbformat.write(_tiny_notebook(), path)
    cases = {
        ("run", str(path), "-p", "CITTY=x"): "unknown parameter(s) CITTY; allowed: CITY, DATA_DIR",
        ("run", str(path), "-p", "CITY"): "-p 'CITY': expected NAME=VALUE",
        ("check", str(tmp_path / "nope.ipynb")): "no such notebook: ",
    }
    for argv, message in cases.items():
        with pytest.raises(SystemExit) as exit_:
            nbtool.main(list(argv))
        assert exit_.value.code == 2, argv
        assert message in capsys.readouterr().err, argv


def test_html_copy_loads_no_remote_script(tmp_path: Path) -> None:
    nb = _tiny_notebook()
    nb.cells[1].outputs = [nbformat.from_dict(
        {"output_type": "display_data", "metadata": {}, "data": {"text/html": "<b>map</b>"}}
    )]  # fmt: skip
    page = nbtool.to_html(nb, tmp_path / "tiny.html").read_text(encoding="utf-8")
    assert "<b>map</b>" in page
    assert not re.search(r"<script[^>]*\bsrc=[\"']?(https?:)?//", page, re.I)


def test_strip_replaces_large_outputs_and_keeps_plots(tmp_path: Path) -> None:
    nb = _tiny_notebook()
    big = {"output_type": "display_data", "metadata": {},
           "data": {"text/html": "<div>" + "x" * (nbtool.MAX_OUTPUT_BYTES + 1) + "</div>",
                    "text/plain": "<map>"}}  # fmt: skip
    png = {"output_type": "display_data", "metadata": {},
           "data": {"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"}}  # fmt: skip
    nb.cells[1].outputs = [nbformat.from_dict(big), nbformat.from_dict(png)]
    assert len(nbtool.strip(nb, "tiny")) == 1
    out = nb.cells[1].outputs
    assert "notebooks/html/tiny.html" in out[0]["data"]["text/plain"]
    assert "text/html" not in out[0]["data"] and out[1]["data"]["image/png"] == "iVBORw0KGgo="
    assert nbtool.strip(nb, "tiny") == []  # idempotent


def test_check_finds_stale_unrun_and_failed_cells(tmp_path: Path) -> None:
    nb = _tiny_notebook()
    for i, cell in enumerate(nb.cells):
        cell.execution_count = i + 1
        cell.metadata["geo_discovery"] = {"source_sha256": nbtool.source_hash(cell.source)}
    path = tmp_path / "01_tiny.ipynb"
    nbformat.write(nb, path)
    assert nbtool.check(path) == []
    nb.cells[1].source += "  # edited after the run"
    nb.cells[0].execution_count = None
    nb.cells[1].outputs = [nbformat.v4.new_output("error", ename="KeyError", evalue="x",
                                                  traceback=[])]  # fmt: skip
    nbformat.write(nb, path)
    found = nbtool.check(path)
    assert any("cell 0: never run" in p for p in found)
    assert any("cell 1: source changed" in p for p in found)
    assert any("KeyError" in p for p in found)
    assert nbtool.source_hash("a\nb") == hashlib.sha256(b"a\nb").hexdigest()


# ----------------------------------------------------------------------------- maps
def test_basemap_comes_from_the_setting_only() -> None:
    assert mapping.basemap(Settings(basemap_tile_url=None)) == {"tiles": None}
    url = "https://tiles.example.org/{z}/{x}/{y}.png"
    kw = mapping.basemap(Settings(basemap_tile_url=url, basemap_attribution="© Example"))
    assert kw == {"tiles": url, "attr": "© Example"}
    assert mapping.basemap(Settings(basemap_tile_url=url))["attr"] == "tiles.example.org"
    m = mapping.new_map((24.93, 60.16, 24.96, 60.18), settings=Settings(basemap_tile_url=url))
    page = mapping.show(m).html
    assert url in page and "Example" not in page
    m = mapping.new_map(
        (24.93, 60.16, 24.96, 60.18),
        settings=Settings(basemap_tile_url=url, basemap_attribution="© Example"),
    )
    assert "Example" in mapping.show(m).html
    bare = mapping.show(mapping.new_map((24.93, 60.16, 24.96, 60.18))).html
    assert "tile.openstreetmap.org" not in bare and "L.tileLayer(" not in bare


def test_vendored_leaflet_matches_its_manifest() -> None:
    vendor = NB_DIR / "vendor"
    lines = (vendor / "MANIFEST.txt").read_text().splitlines()
    packages = {ln.split()[1]: ln.split()[2] for ln in lines if ln.startswith("package ")}
    assert set(packages) == {"leaflet"}
    sums = [ln.split() for ln in lines if ln and not ln.startswith(("#", "package "))]
    present = {str(p.relative_to(vendor)) for p in vendor.rglob("*") if p.is_file()}
    assert {path for _, path in sums} == present - {"MANIFEST.txt"}
    for digest, path in sums:
        assert hashlib.sha256((vendor / path).read_bytes()).hexdigest() == digest, path
    script = (ROOT / "scripts" / "vendor_static.sh").read_text()
    assert f"LEAFLET_VERSION={packages['leaflet']}" in script


@pytest.mark.browser
def test_map_draws_offline(browser: Any, sample_engine: Any, tmp_path: Path) -> None:
    """``gdf.explore()`` through :func:`mapping.show`, opened in chromium with every request
    outside the page refused: Leaflet runs, every district is drawn, no script error."""
    import folium

    districts = sample_engine.districts().reset_index()
    m = districts[["district_id", "name", "tier", "vitality", "geometry"]].explore(
        column="tier", tooltip=["name", "tier"], **mapping.basemap(Settings())
    )
    folium.LayerControl(collapsed=False).add_to(m)
    page_file = mapping.show(m).save(tmp_path / "map.html")
    page = browser.new_page()
    refused: list[str] = []
    errors: list[str] = []

    def route(r: Any) -> None:
        if r.request.url.startswith("file:"):
            r.continue_()
        else:
            refused.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(page_file.as_uri())
        page.wait_for_function("() => typeof L !== 'undefined'", timeout=30_000)
        drawn = page.locator("path.leaflet-interactive").count()
    finally:
        page.close()
    assert drawn == len(districts) > 0
    assert refused == [] and errors == []
