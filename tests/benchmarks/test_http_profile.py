"""benchmarks/http_profile.py sorts py-spy stacks into the request stages it reports."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from benchmarks.http_profile import OTHER, STAGES, classify, cpu_seconds, stage_table  # noqa: E402

LOOP = "run_forever (loop.c:33397);uv_run (core.c:452);Handle__run (loop.c:70905)"
CYCLE = f"{LOOP};RequestResponseCycle.run_asgi (uvicorn/protocols/http/httptools_impl.py:420)"
LANE = (
    f"{CYCLE};FastAPI.__call__ (fastapi/applications.py:1205);"
    "MetricsMiddleware.__call__ (geo_discovery_api/metrics.py:135);"
    "FastLaneMiddleware.__call__ (geo_discovery_api/fastpath.py:204);"
    "NearbyFastLane.answer_raw (geo_discovery_api/fastpath.py:150)"
)


@pytest.mark.parametrize(
    ("stack", "stage"),
    [
        (f"{LOOP};CoalescingTransport.flush (geo_discovery_api/uvicorn_http.py:66);"
         "UVStream__exec_write (loop.c:107733);write (libc.so.6)", "socket write (send)"),
        (f"{LANE};nearby_json (geo_discovery_api/responses.py:104);"
         "Results.to_json_rows (geo_discovery/results.py:195);"
         "RowStore.json_rows (geo_discovery/snapshot/rows.py:179);dumps (orjson.so)",
         "JSON rows (cached fragments, join)"),
        (f"{LANE};nearby_json (geo_discovery_api/responses.py:104)",
         "response body + headers (nearby_response, Response)"),
        (f"{LANE};NearbyFastLane.query (geo_discovery_api/fastpath.py:110);"
         "NearbyQuery.__post_init__ (geo_discovery/query.py:599)", "NearbyQuery validation"),
        (f"{LANE};nearby_json (geo_discovery_api/responses.py:104);"
         "Page.next_cursor (geo_discovery/search/planner.py:402);"
         "Planner.cursor_after (geo_discovery/search/planner.py:431);hmac_digest (_hashlib.so)",
         "next-page cursor (fingerprint, HMAC)"),
        (f"{LANE};DiscoveryEngine.search (geo_discovery/engine.py:320);"
         "topk_one (geo_discovery/search/ranked.py:327)", "engine search (planner, kernels)"),
        (f"{LANE};query_items (geo_discovery_api/fastpath.py:60)",
         "fast-lane parse (query string, checks)"),
        (f"{CYCLE};MetricsMiddleware.record (geo_discovery_api/metrics.py:128);"
         "Histogram.observe (prometheus_client/metrics.py:667)",
         "middleware: metrics (prometheus)"),
        (f"{CYCLE};Router.__call__ (starlette/routing.py:679)",
         "routing + app dispatch (starlette, fastapi)"),
        (CYCLE, "uvicorn + httptools (parse, ASGI messages)"),
        (LOOP, "event loop (uvloop, asyncio, epoll)"),
        ("0x7f1e (libc.so.6);thread_run (libpython3.11.so.1.0)", OTHER),
    ],
)  # fmt: skip
def test_each_stack_lands_in_its_stage(stack: str, stage: str) -> None:
    assert stage in {s for s, _ in STAGES} | {OTHER}
    assert classify(stack) == stage


def test_stage_table_splits_the_cpu_time_by_samples() -> None:
    collapsed = f"{CYCLE} 3\n{LOOP} 1\n{LANE};query_items (geo_discovery_api/fastpath.py:60) 4\n"
    rows = stage_table(collapsed, cpu_us_per_request=80.0)
    assert [r[0] for r in rows] == [
        "fast-lane parse (query string, checks)",
        "uvicorn + httptools (parse, ASGI messages)",
        "event loop (uvloop, asyncio, epoll)",
    ]
    assert [r[1] for r in rows] == [0.5, 0.375, 0.125]
    assert [r[2] for r in rows] == [40.0, 30.0, 10.0]


def test_cpu_seconds_counts_the_process_and_its_children() -> None:
    import os
    import subprocess
    import time

    before = cpu_seconds(os.getpid())
    child = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(1.0)
        child_s = cpu_seconds(child.pid)
        mine = cpu_seconds(os.getpid()) - before  # read later: includes at least child_s
        assert child_s > 0.05
        assert mine >= child_s - 1e-9  # sums of clock ticks as floats: 0.97999… vs 0.98
    finally:
        child.kill()
        child.wait()
