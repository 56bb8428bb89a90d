"""The load benchmark's smoke mode runs once in the suite, so it never rots.

Needs the ``wrk`` binary (Debian/Ubuntu package ``wrk``; ``.ci/run`` installs it);
without it the test is skipped with that reason.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_api_support import PROJECT_ROOT

pytestmark = pytest.mark.real_data


@pytest.mark.skipif(
    shutil.which("wrk") is None,
    reason="wrk is not installed (Debian/Ubuntu: apt-get install -y wrk); the API load "
    "benchmark's smoke run needs it",
)
def test_bench_api_load_smoke(real_data: Path, tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.bench_api_load",
            "--smoke",
            "--real-data",
            str(real_data),
            "--out-dir",
            str(tmp_path),
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    res = json.loads((tmp_path / "results" / "api_load_smoke.json").read_text())
    assert res["steady"]["requests"] > 0 and res["steady"]["rps"] > 0
    assert res["steady"]["failed_requests"] == 0
    assert res["swap"]["swapped"] and res["swap"]["failed_requests"] == 0
    assert "Query API under load" in (tmp_path / "RESULTS.md").read_text()
