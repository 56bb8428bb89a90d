"""``geo-discovery warm-up`` fills numba's on-disk cache, so a fresh process compiles nothing.

The check is numba's own cache log (``NUMBA_DEBUG_CACHE=1``): after a warm-up, a new
process that loads a city and runs every query kind must only load kernels ("data loaded")
and never save one ("data saved" means it compiled).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from geo_discovery.cli.main import app
from geo_discovery.cli.warmup import city_csv

ROOT = Path(__file__).resolve().parents[2]


def test_the_generated_city_is_one_row_per_merchant_with_every_ranked_column() -> None:
    lines = city_csv(40, seed=3).splitlines()
    assert len(lines) == 41
    header = lines[0].split(",")
    for column in ("rating", "review_count", "price_level", "opening_hours", "brand"):
        assert column in header
    assert all(len(line.split(",")) == len(header) for line in lines[1:])


def test_warm_up_then_a_fresh_process_only_loads_cached_kernels(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["warm-up", "--merchants", "120"])
    assert result.exit_code == 0, result.output
    assert "snapshot on disk" in result.output and "in memory" in result.output
    env = {**os.environ, "NUMBA_DEBUG_CACHE": "1", "PYTHONPATH": str(ROOT)}
    code = "from geo_discovery.cli.warmup import warm_up; warm_up(120)"
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    log = proc.stdout + proc.stderr
    compiled = [line for line in log.splitlines() if "data saved" in line]
    assert compiled == []
    assert log.count("data loaded") >= 10


def test_a_served_engines_warm_covers_the_search_box(tmp_path: Path) -> None:
    """``engine.warm()`` (what ``serve`` runs before it says ready, and after each swap)
    left the search box's kernels to the first ``q`` request: on a cold cache that request
    took a minute after /readyz said ready. After ``warm()``, a text query and an
    autocomplete now load no kernel numba had not loaded already."""
    (tmp_path / "city.csv").write_text(city_csv(120, seed=5))
    store = tmp_path / "store"
    loaded = CliRunner().invoke(app, ["load", str(tmp_path / "city.csv"), "--data-dir", str(store)])
    assert loaded.exit_code == 0, loaded.output
    env = {**os.environ, "NUMBA_DEBUG_CACHE": "1", "PYTHONPATH": str(ROOT)}
    code = (
        "import sys\n"
        "from geo_discovery.engine import DiscoveryEngine\n"
        "from geo_discovery.query import Filters\n"
        f"e = DiscoveryEngine.from_snapshot({str(store)!r}).warm()\n"
        "print('WARMED', flush=True)\n"
        "lat, lng = float(e.snapshot.lat[0]), float(e.snapshot.lng[0])\n"
        "e.nearby(lat, lng, 10, sort='best_match', where=Filters(text='coffee shop'))\n"
        "e.autocomplete('caf', lat, lng)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                          capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    after = proc.stdout.split("WARMED", 1)[1]
    late = [line for line in after.splitlines() if "data loaded" in line or "data saved" in line]
    assert late == [], late
