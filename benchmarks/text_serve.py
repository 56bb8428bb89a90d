"""``geo-discovery serve`` for the text benchmark: plain nearby vs nearby with ``q`` over
HTTP, with the server's output kept in a log and a one-line error when it does not answer."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

from . import harness

__all__ = ["READY_TIMEOUT_S", "REQUEST_TIMEOUT_S", "WARM_TIMEOUT_S", "ServeFailed", "http_timings"]


class ServeFailed(RuntimeError):
    """The ``geo-discovery serve`` child did not start or answer in time (one-line reason)."""


REQUEST_TIMEOUT_S = 30.0  # a timed request
# starting (its warm-up) and the first ``q`` request may compile kernels on a cold cache
READY_TIMEOUT_S = 600.0
WARM_TIMEOUT_S = 600.0


def _serve_cmd(port: int) -> list[str]:
    return [sys.executable, "-m", "geo_discovery.cli.main", "serve", "--port", str(port)]


def http_timings(
    data_dir: Path, items: Sequence[Any], n: int, log_path: Path, q_words: Sequence[str]
) -> dict[str, Any]:
    """p50 of plain nearby vs nearby with q over a real `geo-discovery serve`, after one
    untimed warm-up request of each kind (the first ``q`` may compile the text kernels);
    ``items`` have ``lat``, ``lng`` and ``name``; the server's output goes to ``log_path``.
    Raises :class:`ServeFailed`, naming the request and the log, when it does not answer."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "GEO_DISCOVERY_DATA_DIR": str(data_dir)}
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = log_path.open("w")
    proc = subprocess.Popen(_serve_cmd(port), env=env, stdout=log, stderr=subprocess.STDOUT)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT_S)

    def get(path: str, what: str, timeout: float = REQUEST_TIMEOUT_S) -> int:
        conn.timeout = timeout
        if conn.sock is not None:
            conn.sock.settimeout(timeout)
        t0 = time.perf_counter_ns()
        try:
            conn.request("GET", path)
            resp = conn.getresponse()
            resp.read()
        except TimeoutError:
            conn.close()
            raise ServeFailed(f"geo-discovery serve did not answer {what} (GET {path}) within "
                              f"{timeout:g} s; server log: {log_path}") from None  # fmt: skip
        if resp.status != 200:
            raise ServeFailed(f"geo-discovery serve answered {what} (GET {path}) with HTTP "
                              f"{resp.status}; server log: {log_path}")  # fmt: skip
        return time.perf_counter_ns() - t0

    try:
        deadline = time.time() + READY_TIMEOUT_S
        while True:
            try:
                get("/readyz", "/readyz")
                break
            except (OSError, ServeFailed, http.client.HTTPException):
                conn.close()
            if proc.poll() is not None:
                raise ServeFailed(f"geo-discovery serve exited with {proc.returncode} before it "
                                  f"was ready; server log: {log_path}")  # fmt: skip
            if time.time() > deadline:
                raise ServeFailed(f"geo-discovery serve was not ready within "
                                  f"{READY_TIMEOUT_S:g} s; server log: {log_path}")  # fmt: skip
            time.sleep(0.3)
        it = items[0]
        base = f"/v1/merchants/nearby?lat={it.lat:.6f}&lng={it.lng:.6f}&limit=20"
        get(base, "the warm-up nearby request", WARM_TIMEOUT_S)
        get(f"{base}&q={q_words[0]}", "the warm-up q request", WARM_TIMEOUT_S)
        plain, words, names = [], [], []
        for rnd in range(2):  # the first round warms everything
            for i, it in enumerate(items[:n]):
                base = f"/v1/merchants/nearby?lat={it.lat:.6f}&lng={it.lng:.6f}&limit=20"
                word = q_words[i % len(q_words)]
                a, b = get(base, "a nearby request"), get(f"{base}&q={word}", "a q request")
                c = get(f"{base}&q={quote(it.name)}", "a q request")
                if rnd:
                    plain.append(a)
                    words.append(b)
                    names.append(c)
        p = harness.percentiles_us(np.array(plain))
        w = harness.percentiles_us(np.array(words))
        m = harness.percentiles_us(np.array(names))
        return {"plain": p, "q": w, "q_name": m, "ratio_p50": w["p50_us"] / p["p50_us"]}
    finally:
        conn.close()
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
