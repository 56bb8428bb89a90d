"""Helpers shared by the API tests (no tests here): ports, servers, the CLI in a subprocess.

Imported as ``api_support`` (pytest puts ``tests/api/`` on ``sys.path``, as for
``oracle``). The real NYC snapshot they answer from is the session fixture
``nyc_data_dir`` (tests/conftest.py).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[2]

FOOD = "nyc/nyc_retail_food_stores.csv"
RESTAURANTS = "nyc/nyc_restaurants_dohmh_mongodb_primer_subset.csv"
AIRBNB = "nyc/nyc_airbnb_listings_2019.csv.gz"

TIMES_SQUARE = (40.7580, -73.9855)


def visit_log_data_dir(folder: Path, seed: int) -> Path:
    """A data dir loaded (``--profile checkins``) from a synthetic visit log: merchants,
    visit signals and member histories."""
    from benchmarks.visit_log import write_visit_log
    from geo_discovery.settings import Settings
    from geo_discovery.snapshot.pipeline import load

    log = write_visit_log(folder / "log.csv", seed=seed)
    data = folder / "data"
    load([log], data_dir=data, profile="checkins", settings=Settings(data_dir=data))
    return data


def publish_broken(data_dir: Path) -> str:
    """Publish a snapshot whose merchant table is unreadable (as a bad copy would be).

    A copy of the current snapshot under the next id, broken before CURRENT points at
    it, so no watcher can open it while it is still good. Returns its name.
    """
    from geo_discovery.snapshot.rows import ROW_FILE
    from geo_discovery.snapshot.store import SnapshotStore

    store = SnapshotStore(data_dir)
    current = store.current()
    assert current is not None
    new_id = max(s.snapshot_id for s in store.list()) + 1
    target = store.snapshots_dir / f"{new_id:06d}"
    shutil.copytree(current.path, target)
    manifest = json.loads((target / "manifest.json").read_text())
    manifest["snapshot_id"] = new_id
    (target / "manifest.json").write_text(json.dumps(manifest))
    for table in ("merchants.parquet", ROW_FILE):  # a load writes both; the row file opens first
        if (target / table).exists():
            (target / table).write_bytes(b"not a table")
    store.set_current(new_id)
    return target.name


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m geo_discovery.cli.main ARGS`` (what the ``geo-discovery`` script runs)."""
    return subprocess.run(
        [sys.executable, "-m", "geo_discovery.cli.main", *args],
        cwd=PROJECT_ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def app_client(data_dir: Path, **overrides: Any) -> Any:
    """A ``TestClient`` over ``create_app`` for ``data_dir`` (no reload polling), settings
    ``overrides`` applied."""
    from fastapi.testclient import TestClient

    from geo_discovery.settings import Settings
    from geo_discovery_api.app import create_app

    settings = Settings(data_dir=data_dir, api_reload_interval_ms=0, **overrides)
    return TestClient(create_app(settings, data_dir))


def get_json(port: int, path: str, timeout: float = 5) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read()
        return resp.status, json.loads(body) if body else None
    finally:
        conn.close()


@contextlib.contextmanager
def running_server(
    data_dir: Path,
    *,
    env: dict[str, str] | None = None,
    workers: int = 1,
    wait_s: float = 180,
    args: tuple[str, ...] = (),
) -> Iterator[int]:
    """``geo-discovery serve`` on a free loopback port; yields the port once it answers."""
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "geo_discovery.cli.main",
            "serve",
            "--data-dir",
            str(data_dir),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            *args,
        ],
        cwd=PROJECT_ROOT,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + wait_s
        while True:
            if proc.poll() is not None:
                out = proc.stdout.read() if proc.stdout else ""
                raise RuntimeError(f"server exited with {proc.returncode}:\n{out}")
            try:
                status, _ = get_json(port, "/healthz", timeout=1)
                if status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"server did not answer on port {port} within {wait_s}s")
            time.sleep(0.1)
        yield port
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        if proc.stdout:
            proc.stdout.close()


class NearbyHammer(threading.Thread):
    """Queries nearby at one point over one keep-alive connection until stopped; records
    every answer as ``(snapshot, sources of its results)`` and every failure."""

    def __init__(self, port: int, lat: float, lng: float, *, limit: int = 10) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.path = f"/v1/merchants/nearby?lat={lat}&lng={lng}&limit={limit}"
        self.stop = threading.Event()
        self.answers: list[tuple[str, frozenset[str]]] = []
        self.failures: list[str] = []

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        while not self.stop.is_set():
            try:
                conn.request("GET", self.path)
                resp = conn.getresponse()
                raw = resp.read()
            except (OSError, http.client.HTTPException) as exc:
                self.failures.append(repr(exc))
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                continue
            if resp.status != 200:
                self.failures.append(f"{resp.status}: {raw[:200]!r}")
                continue
            body = json.loads(raw)
            self.answers.append((body["snapshot"], frozenset(h["source"] for h in body["results"])))
        conn.close()
