"""Helpers shared by the API tests (no tests here): real NYC snapshots, ports, servers.

Imported as ``test_api_support`` (pytest puts ``tests/`` on ``sys.path``, as for
``oracle``). Snapshots are built once per session under pytest's base temp folder and
reused by every API test module.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

PROJECT_ROOT = Path(__file__).resolve().parents[1]

FOOD = "nyc/nyc_retail_food_stores.csv"
RESTAURANTS = "nyc/nyc_restaurants_dohmh_mongodb_primer_subset.csv"
AIRBNB = "nyc/nyc_airbnb_listings_2019.csv.gz"
# Airbnb rows kept in the API test snapshot: enough for review dates and ratings,
# small enough that the snapshot builds in about a second.
AIRBNB_ROWS = 2_000

TIMES_SQUARE = (40.7580, -73.9855)


def airbnb_subset(real_data: Path, out_dir: Path) -> Path:
    """The first ``AIRBNB_ROWS`` rows of the real Airbnb file, as a CSV in ``out_dir``."""
    path = out_dir / "airbnb_subset.csv"
    if not path.exists():
        frame = pd.read_csv(real_data / AIRBNB, nrows=AIRBNB_ROWS, dtype=str, keep_default_na=False)
        out_dir.mkdir(parents=True, exist_ok=True)
        frame.to_csv(path, index=False)
    return path


def nyc_data_dir(real_data: Path, base: Path) -> Path:
    """A data dir holding one snapshot of real NYC data (food stores, DOHMH, Airbnb subset).

    Built once under ``base``; later calls (other test modules) reuse it.
    """
    from geo_discovery.snapshot.pipeline import load

    data_dir = base / "api-nyc"
    if not (data_dir / "CURRENT").is_file():
        files = [
            real_data / FOOD,
            real_data / RESTAURANTS,
            airbnb_subset(real_data, base / "api-inputs"),
        ]
        load(files, data_dir=data_dir)
    return data_dir


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
    data_dir: Path, *, env: dict[str, str] | None = None, workers: int = 1, wait_s: float = 60
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
