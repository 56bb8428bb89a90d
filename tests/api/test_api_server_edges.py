"""A real ``geo-discovery serve`` process as browsers and urllib meet it: a body over the
limit gets its 413 JSON (no reset), a 20 kB URL gets the JSON error shape, ``--cors-origin``
answers preflights, ``HEAD`` works on the nearby fast lane.

Over the bundled Helsinki sample (no real data needed).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from api_support import running_server

ORIGIN = "https://map.example.com"
LIMIT = 2048
HELSINKI = "lat=60.17&lng=24.94"


@contextlib.contextmanager
def connection(port: int) -> Iterator[http.client.HTTPConnection]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        yield conn
    finally:
        conn.close()


@pytest.fixture(scope="module")
def port(sample_data_dir: Path) -> Iterator[int]:
    env = {"GEO_DISCOVERY_API_MAX_BODY_BYTES": str(LIMIT), "GEO_DISCOVERY_API_CORS_ORIGINS": "[]"}
    with running_server(sample_data_dir, env=env, args=("--cors-origin", ORIGIN)) as p:
        yield p


def _post_raw(
    port: int, body_size: int, *, declare_length: bool
) -> tuple[int, dict[str, str], bytes]:
    """POST a body of ``body_size`` bytes over a raw socket, sending all of it before reading."""
    head = [
        "POST /v1/merchants/search HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Content-Type: application/json",
        "Connection: close",
    ]
    payload = b"[" + b"0," * (body_size // 2) + b"0]"
    if declare_length:
        head.append(f"Content-Length: {len(payload)}")
        data = payload
    else:
        head.append("Transfer-Encoding: chunked")
        step = 8192
        parts = [
            b"%x\r\n%s\r\n" % (len(payload[i : i + step]), payload[i : i + step])
            for i in range(0, len(payload), step)
        ]
        data = b"".join(parts) + b"0\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + data)  # reset -> raises here
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    raw = b"".join(chunks)
    head_bytes, _, body = raw.partition(b"\r\n\r\n")
    lines = head_bytes.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return status, headers, body


@pytest.mark.parametrize("declare_length", [True, False], ids=["content-length", "chunked"])
def test_body_over_limit_is_413_after_the_client_sent_it(port: int, declare_length: bool) -> None:
    status, headers, body = _post_raw(port, 3_000_000, declare_length=declare_length)
    assert status == 413
    assert headers["content-type"] == "application/json"
    assert int(headers["content-length"]) == len(body)
    assert f"larger than {LIMIT} bytes" in json.loads(body)["detail"]


def test_urllib_reads_the_413(port: int) -> None:
    payload = json.dumps({"type": "Polygon", "coordinates": [[[0, 0]] * 200_000]}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/merchants/search",
        data=payload,
        headers={"Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=10)
    assert info.value.code == 413
    assert "api_max_body_bytes" in json.loads(info.value.read())["detail"]


def test_body_under_limit_still_answers(port: int) -> None:
    ring = [[24.93, 60.16], [24.95, 60.16], [24.95, 60.18], [24.93, 60.18], [24.93, 60.16]]
    with connection(port) as conn:
        conn.request(
            "POST",
            "/v1/merchants/search?limit=3",
            json.dumps({"type": "Polygon", "coordinates": [ring]}),
            {"Content-Type": "application/json"},
        )
        resp = conn.getresponse()
        assert resp.status == 200, resp.read()
        assert json.loads(resp.read())["count"] == 3


@pytest.mark.parametrize(
    ("size", "status", "detail"),
    [(20_000, 422, "is too long; allowed: at most"), (70_000, 414, "allowed: at most 65535")],
)
def test_very_long_url_gets_the_json_error_shape(
    port: int, size: int, status: int, detail: str
) -> None:
    with connection(port) as conn:
        conn.request("GET", f"/v1/merchants/nearby?{HELSINKI}&q={'a' * size}")
        resp = conn.getresponse()
        assert resp.status == status
        assert resp.getheader("content-type") == "application/json"
        body = json.loads(resp.read())
        assert detail in body["detail"] and body["errors"] is not None


def test_garbage_request_gets_the_json_error_shape(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nBad Header Line\r\n\r\n")
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400")
    assert b"content-type: application/json" in head.lower()
    assert "allowed: a well-formed HTTP/1.1 request" in json.loads(body)["detail"]


def test_cors_origin_option_answers_preflight(port: int) -> None:
    with connection(port) as conn:
        conn.request(
            "OPTIONS",
            "/v1/merchants/search",
            headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"},
        )
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 200
        assert resp.getheader("access-control-allow-origin") == ORIGIN
        conn.request("GET", f"/v1/merchants/nearby?{HELSINKI}", headers={"Origin": ORIGIN})
        resp = conn.getresponse()
        resp.read()
        assert resp.getheader("access-control-allow-origin") == ORIGIN
        conn.request("GET", f"/v1/merchants/nearby?{HELSINKI}", headers={"Origin": "https://evil"})
        resp = conn.getresponse()
        resp.read()
        assert resp.getheader("access-control-allow-origin") is None


def test_head_on_the_fast_lane(port: int) -> None:
    with connection(port) as conn:
        conn.request("GET", f"/v1/merchants/nearby?{HELSINKI}")
        full = conn.getresponse()
        full_body = full.read()
        conn.request("HEAD", f"/v1/merchants/nearby?{HELSINKI}")
        head = conn.getresponse()
        assert head.status == 200
        assert head.read() == b""
        assert head.getheader("content-length") == str(len(full_body))
        assert head.getheader("etag") == full.getheader("etag")


def test_workers_get_time_to_start_on_a_busy_host(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """uvicorn's supervisor replaces a worker that misses its ping (5 s by default); a
    worker opening a snapshot on a loaded host took longer, and every worker was killed
    and restarted forever. ``serve`` gives them a minute."""
    import uvicorn

    from geo_discovery_api.app import serve

    calls: list[dict] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: calls.append(options))
    for name in ("PROMETHEUS_MULTIPROC_DIR", "GEO_DISCOVERY_DATA_DIR",
                 "GEO_DISCOVERY_API_CORS_ORIGINS"):  # fmt: skip
        # serve sets them for its workers: setenv first so that teardown restores them
        # (delenv of an absent name records nothing, and serve's values would leak)
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    serve(tmp_path, workers=2)
    (options,) = calls
    assert options["workers"] == 2 and options["timeout_worker_healthcheck"] >= 30
