"""Regression tests for the benchmark harness and scripts' reporting (no server, no wrk)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from benchmarks import harness  # noqa: E402


def _csv(path: Path, rows: list[tuple[float, float]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("name,latitude,longitude\n" + "".join(f"x,{a},{b}\n" for a, b in rows))


def test_all_points_skip_checkins_and_follow_symlinked_folders(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _csv(data / "fixtures" / "shops.csv", [(40.7, -74.0), (40.8, -73.9)])
    _csv(data / "checkins" / "visits.csv", [(41.0, -73.0)] * 5)
    _csv(tmp_path / "elsewhere" / "city" / "cafes.csv", [(60.1, 24.9), (60.2, 25.0), (60.3, 25.1)])
    (data / "nyc").symlink_to(tmp_path / "elsewhere" / "city", target_is_directory=True)

    ps = harness.load_all_points(data)

    files = [s["file"] for s in ps.sources]
    assert files == ["fixtures/shops.csv", "nyc/cafes.csv"]
    assert len(ps.lat) == 5
    assert 41.0 not in ps.lat.tolist()


def test_all_points_read_each_real_folder_once(tmp_path: Path) -> None:
    """os.walk(followlinks=True) followed a link back up 41 times (410 points from a 10-row
    file), read a folder reachable under two names twice, and a link named otherwise to
    a checkins/ folder was read."""
    data = tmp_path / "data"
    _csv(data / "fixtures" / "shops.csv", [(40.7, -74.0), (40.8, -73.9)])
    (data / "fixtures" / "up").symlink_to(data, target_is_directory=True)  # a loop
    (data / "alias").symlink_to(data / "fixtures", target_is_directory=True)
    _csv(tmp_path / "private" / "checkins" / "visits.csv", [(41.0, -73.0)] * 5)
    (data / "visits").symlink_to(tmp_path / "private" / "checkins", target_is_directory=True)

    ps = harness.load_all_points(data)

    assert len(ps.lat) == 2 and 41.0 not in ps.lat.tolist()
    assert [s["file"] for s in ps.sources] == ["alias/shops.csv"] or [
        s["file"] for s in ps.sources] == ["fixtures/shops.csv"]


def test_all_points_without_any_point_is_a_clear_error(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _csv(data / "checkins" / "visits.csv", [(41.0, -73.0)])
    (data / "notes.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="no valid points"):
        harness.load_all_points(data)


def _phase(**extra: object) -> dict:
    lat = {"p50": 1.0, "p90": 2.0, "p99": 3.0, "max": 9.0}
    return {"seconds": 10.0, "requests": 5000, "rps": 500.0, "latency_ms": lat,
            "failed_requests": 0, **extra}  # fmt: skip


def _api_load_doc(swap: dict) -> dict:
    from benchmarks import bench_api_load

    steady = _phase()
    machine = {"cpu": "cpu", "cores_usable": 2, "load_average_at_start": 0.1, "python": "3",
               "versions": {}, "date_utc": "today", "git": "abc"}  # fmt: skip
    return {"smoke": True, "limit": 20, "command": "python -m x", "machine": machine,
            "merchants": 10, "files": ["f"], "workers": 1, "wrk_version": "4", "threads": 1,
            "connections": 4, "query_points": 10, "steady": steady, "swap": swap,
            "goal": bench_api_load.goals(steady, swap), "note": None}  # fmt: skip


def _swap(seen: bool, after_s: float | None) -> dict:
    errors = {"status": 0, "connect": 0, "read": 0, "write": 0, "timeout": 0}
    return _phase(snapshot_before="1", snapshot_after="2", swapped=True,
                  swap_seen_during_run=seen, publish_seconds=3.0,
                  publish_to_swap_seconds=after_s, publish_error=None, errors=errors)  # fmt: skip


@pytest.mark.parametrize("after_s", [None, 11.5])
def test_a_swap_outside_the_run_does_not_meet_the_swap_goal(after_s: float | None) -> None:
    from benchmarks import bench_api_load

    res = _api_load_doc(_swap(False, after_s))
    assert res["goal"]["swap_met"] is False
    text = bench_api_load.markdown(res)
    assert "0 failed requests during a swap: **not met** (the swap did not happen" in text
    assert "None s" not in text
    if after_s is None:
        assert "the server did not answer from the new snapshot within the run" in text


def test_a_swap_during_the_run_without_failures_meets_the_goal() -> None:
    from benchmarks import bench_api_load

    res = _api_load_doc(_swap(True, 2.5))
    assert res["goal"]["swap_met"] is True
    text = bench_api_load.markdown(res)
    assert "the server answered from the new snapshot 2.5 s after it started" in text
    assert "0 failed requests during a swap: **met**." in text


def test_cold_start_reports_a_missing_aot_extension_apart_from_wrong_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fresh clone has no ahead-of-time extension: the jitted kernel answers, the answers
    are right, and the run says the extension is not built instead of failing."""
    from benchmarks import bench_cold_start
    from geo_discovery.engine import DiscoveryEngine

    def child(data_dir: Path, lat: float, lng: float, *_: object) -> dict:
        ids = DiscoveryEngine.from_snapshot(data_dir).nearby(lat, lng, 20).merchant_ids
        timings = {"import_s": 0.5, "open_s": 0.01, "first_query_s": 0.02,
                   "second_query_s": 1e-5, "open_to_first_answer_s": 0.03,
                   "peak_rss_bytes": 2**26, "process_wall_s": 1.0}  # fmt: skip
        return {**timings, "first_ids": ids, "ahead_of_time": False}

    monkeypatch.setattr(bench_cold_start, "_run_child", child)
    monkeypatch.setattr(bench_cold_start, "aot_built", lambda: False, raising=False)
    monkeypatch.setattr(bench_cold_start, "numba_cache_installed", lambda: False, raising=False)
    out = tmp_path / "out"
    assert bench_cold_start.main(["--smoke", "--out-dir", str(out)]) == 0
    text = (out / "RESULTS.md").read_text()
    assert "Answers equal to an in-process engine's: **True**." in text
    assert "Ahead-of-time extension: **not built**" in text
    assert "| no installed cache, ahead-of-time not built |" in text
    assert "warm (installed cache)" not in text


FAKE_SERVE = """
import sys, time
from http.server import BaseHTTPRequestHandler, HTTPServer

class H(BaseHTTPRequestHandler):
    def do_GET(self):
        if "q=" in self.path and sys.argv[2] == "hang":
            print("fake serve: compiling the text kernels", file=sys.stderr, flush=True)
            time.sleep(120)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass

HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""


def test_a_server_that_does_not_answer_q_is_a_one_line_error_with_its_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ``q`` request the server does not answer (e.g. kernels compiling on a cold cache)
    ends the HTTP part with an error naming the request and the server's log, which keeps
    what the server printed."""
    from types import SimpleNamespace

    from benchmarks import text_serve

    script = tmp_path / "fake_serve.py"
    script.write_text(FAKE_SERVE)
    fake = [sys.executable, str(script)]
    monkeypatch.setattr(text_serve, "_serve_cmd", lambda port: [*fake, str(port), "hang"])
    monkeypatch.setattr(text_serve, "WARM_TIMEOUT_S", 1.0)
    log = tmp_path / "out" / "logs" / "text_serve.log"
    items = [SimpleNamespace(lat=40.75, lng=-73.98, name="Joe's Pizza")]
    with pytest.raises(text_serve.ServeFailed) as caught:
        text_serve.http_timings(tmp_path, items, 1, log, ["pizza"])
    message = str(caught.value)
    assert "\n" not in message
    assert "the warm-up q request" in message and "within 1 s" in message
    assert str(log) in message
    assert "fake serve: compiling the text kernels" in log.read_text()


def test_server_addresses_follow_the_port_variables_of_servers_sh(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from benchmarks import server_methods

    for name in ("PG_DSN", "REDIS_URL", "PG_PORT", "REDIS_PORT"):
        monkeypatch.delenv(f"GEO_DISCOVERY_BENCH_{name}", raising=False)
    assert server_methods.pg_dsn() == server_methods.PG_DSN_DEFAULT
    assert server_methods.redis_url() == "redis://127.0.0.1:63799/0"
    monkeypatch.setenv("GEO_DISCOVERY_BENCH_PG_PORT", "18532")
    monkeypatch.setenv("GEO_DISCOVERY_BENCH_REDIS_PORT", "18533")
    assert server_methods.pg_dsn() == (
        "host=127.0.0.1 port=18532 user=postgres dbname=geo_discovery_bench"
    )
    assert server_methods.redis_url() == "redis://127.0.0.1:18533/0"
    monkeypatch.setenv("GEO_DISCOVERY_BENCH_PG_DSN", "host=db port=5432")
    monkeypatch.setenv("GEO_DISCOVERY_BENCH_REDIS_URL", "redis://cache:6379/1")
    assert server_methods.pg_dsn() == "host=db port=5432"
    assert server_methods.redis_url() == "redis://cache:6379/1"


def test_the_http_part_times_every_kind_when_the_server_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from types import SimpleNamespace

    from benchmarks import text_serve

    script = tmp_path / "fake_serve.py"
    script.write_text(FAKE_SERVE)
    fake = [sys.executable, str(script)]
    monkeypatch.setattr(text_serve, "_serve_cmd", lambda port: [*fake, str(port), "answer"])
    items = [SimpleNamespace(lat=40.75 + i / 1e3, lng=-73.98, name=f"Shop {i}") for i in range(3)]
    got = text_serve.http_timings(tmp_path, items, 3, tmp_path / "serve.log", ["pizza", "deli"])
    assert set(got) == {"plain", "q", "q_name", "ratio_p50"}
    assert got["plain"]["p50_us"] > 0 and got["q"]["p50_us"] > 0 and got["ratio_p50"] > 0


@pytest.mark.parametrize(
    ("asked", "used", "built", "fails"),
    [
        (True, False, False, False),  # not built: the jitted kernel answers, as it must
        (True, True, True, False),
        (False, False, True, False),
        (True, False, True, True),  # built but not used
        (False, True, True, True),  # switched off but used
    ],
)
def test_the_cold_start_kernel_check(asked: bool, used: bool, built: bool, fails: bool) -> None:
    from benchmarks import bench_cold_start

    problem = bench_cold_start.kernel_problem("run", asked, used, built)
    assert (problem is not None) == fails
