"""With several workers, /metrics shows the snapshot served, not every one served before.

Before: in Prometheus multiprocess mode a label cannot be removed, only set to 0, so each
swap added a ``geo_discovery_snapshot_info{pid, version} 0.0`` series per worker for good
(18 after 8 swaps of 2 workers). The multiprocess mode is chosen when prometheus_client is
imported, so the workers are played by a subprocess.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

WORKER = """
class Engine:
    def __init__(self, version):
        self.version = version
    def __len__(self):
        return 10

from geo_discovery_api.metrics import Metrics

metrics = Metrics()
assert metrics.multiprocess
old = None
for n in range(1, 5):
    new = Engine(f"00000{n}-abc")
    metrics.on_swap(old, new)
    old = new
print(metrics.render().decode())
"""


def test_only_the_snapshot_served_is_shown_by_every_worker(tmp_path: Path) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    for _ in range(2):  # two workers, one after the other, into the same folder
        out = subprocess.run([sys.executable, "-c", WORKER], env=env, capture_output=True,
                             text=True, check=True).stdout  # fmt: skip
    info = [line for line in out.splitlines() if line.startswith("geo_discovery_snapshot_info{")]
    assert len(info) == 2, out  # one per worker: the version it serves
    assert all('version="000004-abc"' in line and line.endswith(" 1.0") for line in info)
    assert "geo_discovery_snapshot_reloads_total" in out  # the rest is kept
