"""Where a server's time per request goes: py-spy stacks sorted into request-path stages.

:func:`profile_server` samples a running server with ``py-spy record --format raw``
(collapsed stacks, native frames included) while a load runs, measures the process's CPU
time over the same span, and gives each stage its share of the busy samples and its µs
per request (share × CPU seconds / requests). A sample belongs to the stage of the frame
nearest its leaf that a rule in :data:`STAGES` recognises (so time spent in a library
called from a stage, e.g. ``orjson`` under the response builder, counts for that stage).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["STAGES", "classify", "cpu_seconds", "profile_server", "stage_table"]

# (stage, substrings of a frame "function (file:line)"), tried in order on each frame
# from the leaf up; the first frame any rule matches decides the sample's stage.
STAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "socket write (send)",
        (
            "uv__write",
            "uv_try_write",
            "writev",
            "__send",
            "sock_sendmsg",
            "UVStream_write",
            "UVStream__initiate_write",
            "UVStream__try_write",
            "UVStream__exec_write",
            "CoalescingTransport.flush",
            "flush (api/uvicorn_http.py",
            "_scheduled_flush",
        ),
    ),
    ("socket read (recv)", ("uv__read", "__libc_recv", "recv (", "__recv", "readv", "__on_read")),
    ("JSON rows (cached fragments, join)", ("geo_discovery/results.py", "snapshot/rows.py")),
    ("NearbyQuery validation", ("geo_discovery/query.py",)),
    ("next-page cursor (fingerprint, HMAC)", ("search/cursor.py", "cursor_after")),
    ("engine search (planner, kernels)", ("geo_discovery/",)),
    (
        "response body + headers (nearby_response, Response)",
        (
            "routes/merchants.py",
            "api/responses.py",
            "starlette/responses.py",
            "starlette/datastructures.py:MutableHeaders",
            "init_headers",
        ),
    ),
    (
        "fast-lane parse (query string, checks)",
        (
            "api/fastpath.py",
            "urllib/parse.py",
            "starlette/requests.py",
            "starlette/datastructures.py",
        ),
    ),
    ("middleware: metrics (prometheus)", ("api/metrics.py", "prometheus_client")),
    (
        "middleware: methods, gzip, body size, errors",
        (
            "api/middleware.py",
            "starlette/middleware",
            "starlette/_exception_handler.py",
            "fastapi/middleware",
        ),
    ),
    (
        "routing + app dispatch (starlette, fastapi)",
        (
            "starlette/routing.py",
            "fastapi/routing.py",
            "starlette/applications.py",
            "fastapi/applications.py",
            "starlette/_utils.py",
        ),
    ),
    (
        "uvicorn + httptools (parse, ASGI messages)",
        ("uvicorn/", "httptools", "api/uvicorn_http.py"),
    ),
    (
        "event loop (uvloop, asyncio, epoll)",
        ("uvloop", "asyncio", "epoll", "libuv", "(loop.c:", "(core.c:"),
    ),
)
OTHER = "other"


def classify(stack: str) -> str:
    """The stage of one collapsed stack (frames root first, separated by ``;``)."""
    for frame in reversed(stack.split(";")):
        for stage, needles in STAGES:
            if any(n in frame for n in needles):
                return stage
    return OTHER


def stage_table(collapsed: str, cpu_us_per_request: float) -> list[tuple[str, float, float]]:
    """``(stage, share, µs per request)`` rows, largest first, from py-spy's raw output."""
    counts: Counter[str] = Counter()
    for line in collapsed.splitlines():
        stack, _, n = line.rpartition(" ")
        if stack and n.isdigit():
            counts[classify(stack)] += int(n)
    total = sum(counts.values()) or 1
    rows = [(s, c / total, c / total * cpu_us_per_request) for s, c in counts.most_common()]
    return rows


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` and of its live child processes (the
    workers of a multi-worker server), from ``/proc``."""
    total = 0.0
    for proc in (pid, *_children(pid)):
        try:
            fields = Path(f"/proc/{proc}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # it just ended
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def peak_rss_bytes(pid: int) -> int:
    """Peak resident memory (``VmHWM``) of process ``pid`` plus that of its live child
    processes (a multi-worker server's workers), from ``/proc``."""
    total = 0
    for proc in (pid, *_children(pid)):
        try:
            status = Path(f"/proc/{proc}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                total += int(line.split()[1]) * 1024
    return total


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return [c for child in found for c in (child, *_children(child))]


def profile_server(
    pid: int, load: Callable[[], dict[str, Any]], *, rate: int, out_dir: Path
) -> dict[str, Any] | None:
    """Sample ``pid`` with py-spy while ``load()`` runs (it returns wrk's summary).

    Returns ``None`` (and says why) when py-spy is missing or cannot attach.
    """
    spy = shutil.which("py-spy")
    if spy is None:
        print("py-spy is not installed (pip install py-spy); no profile", flush=True)
        return None
    out_dir.mkdir(parents=True, exist_ok=True)
    raw = out_dir / "http_profile.txt"
    cmd = [
        spy,
        "record",
        "--pid",
        str(pid),
        "--rate",
        str(rate),
        "--format",
        "raw",
        "--native",
        "-o",
        str(raw),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)  # py-spy attaches
    cpu0 = cpu_seconds(pid)
    result = load()
    cpu1 = cpu_seconds(pid)
    proc.send_signal(2)  # py-spy writes its file on SIGINT
    _, err = proc.communicate(timeout=60)
    if not raw.exists():
        print(f"py-spy failed: {err[-500:]}", flush=True)
        return None
    version = subprocess.run([spy, "--version"], capture_output=True, text=True, check=False)
    text = raw.read_text()
    cpu_us = (cpu1 - cpu0) / max(1, result["requests"]) * 1e6
    samples = sum(int(ln.rpartition(" ")[2]) for ln in text.splitlines() if ln.strip())
    return {
        "py_spy": version.stdout.strip().removeprefix("py-spy "),
        "rate": rate,
        "seconds": result["seconds"],
        "requests": result["requests"],
        "rps": result["rps"],
        "samples": samples,
        "cpu_seconds": round(cpu1 - cpu0, 3),
        "cpu_us_per_request": cpu_us,
        "stages": stage_table(text, cpu_us),
        "raw_file": str(raw),
    }
