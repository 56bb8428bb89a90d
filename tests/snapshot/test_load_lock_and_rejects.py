"""A concurrent load waits for the store lock before reading; rejects files never pile up."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from geo_discovery.cli.main import EXIT_ERROR, EXIT_OK, app
from geo_discovery.errors import SnapshotError
from geo_discovery.settings import Settings
from geo_discovery.snapshot import pipeline
from geo_discovery.snapshot.store import SnapshotStore


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    for var in ("GEO_DISCOVERY_DATA_DIR", "GEO_DISCOVERY_KEEP_SNAPSHOTS"):
        monkeypatch.delenv(var, raising=False)
    return CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})


def shops(path: Path, n: int, bad: int = 0, start: int = 0) -> Path:
    rows = ["id,name,lat,lng"]
    rows += [f"m{i},Shop {i},{40.70 + i * 1e-4:.6f},-73.99" for i in range(start, start + n)]
    rows += [f"x{i},,{40.7:.6f},-73.99" for i in range(bad)]  # empty names: rejected
    path.write_text("\n".join(rows) + "\n")
    return path


def hold_lock(data_dir: Path, seconds: float) -> subprocess.Popen[str]:
    """Another process holding the store's writer lock for ``seconds``."""
    script = textwrap.dedent(
        """
        import sys, time
        from geo_discovery.snapshot.store import SnapshotStore
        with SnapshotStore(sys.argv[1]).lock():
            print("locked", flush=True)
            time.sleep(float(sys.argv[2]))
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script, str(data_dir), str(seconds)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


def test_a_concurrent_load_waits_for_the_lock_then_publishes(
    runner: CliRunner, tmp_path: Path
) -> None:
    data_dir = tmp_path / "store"
    data_dir.mkdir()
    proc = hold_lock(data_dir, 1.5)
    try:
        started = time.perf_counter()
        result = runner.invoke(app, ["load", str(shops(tmp_path / "a.csv", 30)),
                                     "--wait", "60", "--data-dir", str(data_dir)])
        waited = time.perf_counter() - started
    finally:
        proc.wait(timeout=30)
        assert proc.stdout is not None
        proc.stdout.close()
    assert result.exit_code == EXIT_OK, result.output
    assert "waiting for another load" in result.stderr
    assert waited >= 0.5  # it did wait for the other process
    assert SnapshotStore(data_dir).current() is not None


def test_a_load_that_cannot_get_the_lock_fails_before_reading(tmp_path: Path) -> None:
    data_dir = tmp_path / "store"
    stages: list[str] = []
    with SnapshotStore(data_dir).lock():
        started = time.perf_counter()
        with pytest.raises(SnapshotError, match=r"waited 0\.3 s\).*nothing was read.*--wait"):
            pipeline.load([shops(tmp_path / "a.csv", 30)], data_dir=data_dir, wait_s=0.3,
                          settings=Settings(data_dir=data_dir),
                          progress=lambda stage, done, total: stages.append(stage))
        assert 0.25 <= time.perf_counter() - started < 5
    assert stages == []  # not a byte was read: the wait comes first
    assert SnapshotStore(data_dir).current() is None


def test_the_cli_names_the_wait_option_when_the_lock_is_held(
    runner: CliRunner, tmp_path: Path
) -> None:
    data_dir = tmp_path / "store"
    with SnapshotStore(data_dir).lock():
        result = runner.invoke(app, ["load", str(shops(tmp_path / "a.csv", 5)), "--wait", "0",
                                     "--data-dir", str(data_dir)])
    assert result.exit_code == EXIT_ERROR
    err = result.stderr.strip()
    assert err.startswith("error: another load is writing") and "--wait" in err
    assert "\n" not in err and "Traceback" not in result.output


def test_a_rollback_waits_for_a_load_with_the_option_its_message_names(
    runner: CliRunner, tmp_path: Path
) -> None:
    """The lock's message said "pass --wait SECONDS", which rollback did not have."""
    data_dir = tmp_path / "store"
    for n in (5, 6):
        assert runner.invoke(app, ["load", str(shops(tmp_path / f"{n}.csv", n)),
                                   "--data-dir", str(data_dir)]).exit_code == EXIT_OK
    with SnapshotStore(data_dir).lock():
        result = runner.invoke(app, ["rollback", "--data-dir", str(data_dir)])
    assert result.exit_code == EXIT_ERROR and "--wait" in result.stderr
    proc = hold_lock(data_dir, 1.5)
    try:
        result = runner.invoke(app, ["rollback", "--wait", "60", "--data-dir", str(data_dir)])
    finally:
        proc.wait(timeout=30)
        assert proc.stdout is not None
        proc.stdout.close()
    assert result.exit_code == EXIT_OK, result.output
    current = SnapshotStore(data_dir).current()
    assert current is not None and current.snapshot_id == 1


# --------------------------------------------------------------------------- rejects files


def rejects_files(data_dir: Path) -> list[str]:
    folder = data_dir / "rejects"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def test_a_load_killed_while_writing_rejects_leaves_nothing_for_long(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = tmp_path / "store"
    assert runner.invoke(app, ["load", str(shops(tmp_path / "a.csv", 20)),
                               "--data-dir", str(data_dir)]).exit_code == EXIT_OK
    real_write = pipeline.write_rejects

    def killed(frame: pd.DataFrame, path: Path) -> Path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(frame.to_csv(index=False)[:40])  # half a file, then "kill -9"
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "write_rejects", killed)
    with pytest.raises(KeyboardInterrupt):
        pipeline.load([shops(tmp_path / "b.csv", 20, bad=3)], data_dir=data_dir,
                      settings=Settings(data_dir=data_dir))
    leftovers = rejects_files(data_dir)
    assert len(leftovers) == 1 and leftovers[0].startswith(".tmp-")  # never a final name
    monkeypatch.setattr(pipeline, "write_rejects", real_write)
    result = runner.invoke(app, ["load", str(shops(tmp_path / "c.csv", 20, bad=2)),
                                 "--data-dir", str(data_dir)])
    assert result.exit_code == EXIT_OK, result.output
    files = rejects_files(data_dir)
    assert len(files) == 1 and not files[0].startswith(".tmp-")
    assert len(pd.read_csv(data_dir / "rejects" / files[0])) == 2


def test_rejects_files_are_kept_with_their_snapshots_and_never_pile_up(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GEO_DISCOVERY_KEEP_SNAPSHOTS", "3")
    data_dir = tmp_path / "store"
    for i in range(8):  # published loads, each with rejected rows
        result = runner.invoke(app, ["load", str(shops(tmp_path / f"{i}.csv", 20, bad=1)),
                                     "--data-dir", str(data_dir)])
        assert result.exit_code == EXIT_OK, result.output
    for i in range(8):  # refused loads (every row rejected), each leaving a rejects file
        result = runner.invoke(app, ["load", str(shops(tmp_path / f"r{i}.csv", 0, bad=2)),
                                     "--data-dir", str(data_dir)])
        assert result.exit_code == 4, result.output
    store = SnapshotStore(data_dir)
    named = {Path(s.manifest["rejects_file"]).name for s in store.list()}
    files = set(rejects_files(data_dir))
    assert len(store.list()) == 3 and named <= files  # a kept snapshot keeps its rejects file
    assert len(files - named) <= 3  # refused or killed loads: only the newest few stay
    newest_refused = max(files - named)
    assert len(pd.read_csv(data_dir / "rejects" / newest_refused)) == 2
