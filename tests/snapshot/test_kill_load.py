"""kill -9 during a load loses nothing.

Snapshot N is published by earlier loads. A load of new data then runs in a subprocess
and is killed with SIGKILL: by its own progress callback when it reaches each stage
(read, merge, index, write, derive, publish; the end of one stage is the start of the
next), at two points inside the publish step itself, after publishing, and from outside
after random delays. After every kill: CURRENT still names N
(or N+1 when the load had finished), DiscoveryEngine.from_snapshot opens it and answers
with its data, and the next load succeeds with the new data, leaving no .tmp folders.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from geo_discovery.engine import DiscoveryEngine
from geo_discovery.errors import SnapshotError
from geo_discovery.snapshot.pipeline import load
from geo_discovery.snapshot.store import SnapshotStore

STAGES = ("read", "merge", "index", "write", "derive", "publish")
ROWS = 3000
N = 2  # the snapshot current before each kill

# Runs one load; kills itself at the first (or last) progress call of a stage, or at a
# point inside publishing. Prints "loading" just before load() and "done" after it.
KILL_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    import geo_discovery.snapshot.store as store_mod
    from geo_discovery.snapshot.pipeline import load

    data_dir, csv_path, stage, when = sys.argv[1:5]
    seen = []

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    def progress(name, done, total):
        if not seen or seen[-1] != name:
            seen.append(name)
            print("stage " + name, flush=True)
        if name == stage and (when == "first" or done >= total):
            die()

    if stage == "after-rename":  # the snapshot folder is in place, CURRENT not yet swapped
        store_mod.SnapshotStore.set_current = lambda self, snapshot_id: die()
    if stage == "before-replace":  # CURRENT's temporary written, not yet renamed over it
        real_replace = os.replace

        def replace(src, dst, *a, **kw):
            if os.path.basename(str(dst)) == "CURRENT":
                die()
            return real_replace(src, dst, *a, **kw)

        store_mod.os.replace = replace
    print("loading", flush=True)
    load([csv_path], data_dir=data_dir, profile="generic", progress=progress)
    print("done " + ",".join(seen), flush=True)
    """
)


def write_csv(path: Path, tag: str, seed: int) -> set[str]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "id": [f"{tag}{i}" for i in range(ROWS)],
            "name": [f"{tag} shop {i}" for i in range(ROWS)],
            "lat": 40.72 + rng.normal(0, 0.05, ROWS),
            "lng": -73.98 + rng.normal(0, 0.05, ROWS),
            "category": rng.choice(["food/grocery", "food/bakery", "retail/clothing"], ROWS),
        }
    )
    frame.to_csv(path, index=False)
    return set(frame["name"])


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, set[str]]]:
    root = tmp_path_factory.mktemp("inputs")
    out = {}
    for seed, tag in enumerate(("first", "old", "new", "newer")):
        path = root / f"{tag}.csv"
        out[tag] = (path, write_csv(path, tag, seed))
    return out


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory, inputs: dict) -> Path:
    """A data dir where two loads published snapshots 1 and 2 (N), copied per test."""
    data = tmp_path_factory.mktemp("template") / "data"
    assert load([inputs["first"][0]], data_dir=data, profile="generic").snapshot.snapshot_id == 1
    assert load([inputs["old"][0]], data_dir=data, profile="generic").snapshot.snapshot_id == N
    return data


@pytest.fixture
def data_dir(template: Path, tmp_path: Path) -> Path:
    target = tmp_path / "data"
    shutil.copytree(template, target)
    return target


def run_killed(data_dir: Path, csv: Path, stage: str, when: str = "first") -> None:
    proc = subprocess.run(
        [sys.executable, "-c", KILL_SCRIPT, str(data_dir), str(csv), stage, when],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "GEO_DISCOVERY_DATA_DIR": str(data_dir)},
    )
    assert proc.returncode == -signal.SIGKILL, (
        f"the load was not killed at {stage}/{when} (rc={proc.returncode}):\n"
        f"{proc.stdout}\n{proc.stderr}"
    )
    assert "done" not in proc.stdout


def names(engine: DiscoveryEngine) -> set[str]:
    return set(engine.merchants.column("name").to_pylist())


def assert_serves(data_dir: Path, snapshot_id: int, expected_names: set[str]) -> None:
    store = SnapshotStore(data_dir)
    assert store.current_name() == f"{snapshot_id:06d}"
    engine = DiscoveryEngine.from_snapshot(data_dir)
    assert engine.snapshot is not None and engine.snapshot.snapshot_id == snapshot_id
    assert names(engine) == expected_names
    hits = engine.nearby(40.72, -73.98, 5)
    assert len(hits) == 5 and all(h.name in expected_names for h in hits)
    assert engine.snapshot.manifest["rows"]["merchants"] == len(expected_names)


def assert_next_load_wins(data_dir: Path, inputs: dict, expected_id: int) -> None:
    csv, new_names = inputs["new"]
    report = load([csv], data_dir=data_dir, profile="generic")
    assert report.snapshot is not None and report.snapshot.snapshot_id == expected_id
    assert report.rows_read == report.rows_loaded == ROWS and report.rows_rejected == 0
    assert_serves(data_dir, expected_id, new_names)
    assert not list((data_dir / "snapshots").glob(".tmp-*"))
    # The snapshot that was current before the kill is still there, intact.
    old = DiscoveryEngine.from_snapshot(data_dir / "snapshots" / f"{N:06d}")
    assert names(old) == inputs["old"][1]


def test_a_full_load_in_a_subprocess_reports_every_stage(data_dir: Path, inputs: dict) -> None:
    """The kill points below exist: an unkilled run passes through every stage, in order."""
    proc = subprocess.run(
        [sys.executable, "-c", KILL_SCRIPT, str(data_dir), str(inputs["new"][0]), "none", "first"],
        capture_output=True, text=True, timeout=300, check=True,
    )
    assert proc.stdout.split()[-1].split(",") == list(STAGES)
    assert_serves(data_dir, N + 1, inputs["new"][1])


@pytest.mark.parametrize("stage", STAGES)
def test_kill_at_the_start_of_each_stage_keeps_n(stage: str, data_dir: Path, inputs: dict) -> None:
    run_killed(data_dir, inputs["new"][0], stage, "first")
    assert_serves(data_dir, N, inputs["old"][1])
    assert [s.snapshot_id for s in SnapshotStore(data_dir).list()] == [1, N]
    assert_next_load_wins(data_dir, inputs, N + 1)


def test_kill_before_current_is_replaced_keeps_n(data_dir: Path, inputs: dict) -> None:
    run_killed(data_dir, inputs["new"][0], "before-replace")
    assert_serves(data_dir, N, inputs["old"][1])
    # The complete snapshot was renamed into place but never published; the next load
    # gets the following id.
    assert names(DiscoveryEngine.from_snapshot(data_dir / "snapshots" / f"{N + 1:06d}")) == (
        inputs["new"][1]
    )
    assert_next_load_wins(data_dir, inputs, N + 2)


def test_kill_after_rename_before_publish_keeps_n(data_dir: Path, inputs: dict) -> None:
    run_killed(data_dir, inputs["new"][0], "after-rename")
    assert_serves(data_dir, N, inputs["old"][1])
    assert_next_load_wins(data_dir, inputs, N + 2)


def test_kill_after_publish_keeps_the_new_snapshot(data_dir: Path, inputs: dict) -> None:
    run_killed(data_dir, inputs["new"][0], "publish", "last")
    assert_serves(data_dir, N + 1, inputs["new"][1])
    csv, newer = inputs["newer"]
    report = load([csv], data_dir=data_dir, profile="generic")
    assert report.snapshot is not None and report.snapshot.snapshot_id == N + 2
    assert_serves(data_dir, N + 2, newer)
    assert not list((data_dir / "snapshots").glob(".tmp-*"))


@pytest.fixture(scope="module")
def load_seconds(template: Path, inputs: dict, tmp_path_factory: pytest.TempPathFactory) -> float:
    """How long one load takes in a subprocess, from 'loading' to 'done'."""
    data = tmp_path_factory.mktemp("timing") / "data"
    shutil.copytree(template, data)
    with subprocess.Popen(
        [sys.executable, "-c", KILL_SCRIPT, str(data), str(inputs["new"][0]), "none", "first"],
        stdout=subprocess.PIPE, text=True,
    ) as proc:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "loading"
        start = time.monotonic()
        lines = [line.strip() for line in proc.stdout]
        assert lines and lines[-1].startswith("done")
        assert proc.wait(timeout=300) == 0
        return time.monotonic() - start


KILLS_FROM_OUTSIDE = 5


@pytest.mark.parametrize("slot", range(KILLS_FROM_OUTSIDE))
def test_kill_from_outside_at_a_random_moment(
    slot: int, data_dir: Path, inputs: dict, load_seconds: float
) -> None:
    """SIGKILL after a random delay; the delays of the slots cover the whole load."""
    rng = np.random.default_rng(slot)
    delay = load_seconds * (slot + rng.random()) / KILLS_FROM_OUTSIDE
    with subprocess.Popen(
        [sys.executable, "-c", KILL_SCRIPT, str(data_dir), str(inputs["new"][0]), "none", "first"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    ) as proc:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "loading"
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        rc = proc.wait(timeout=60)
        stages = [line.split()[1] for line in proc.stdout.read().splitlines()
                  if line.startswith("stage ")]
    store = SnapshotStore(data_dir)
    published = store.current_name() == f"{N + 1:06d}"
    print(f"delay {delay:.3f}s of {load_seconds:.3f}s: {stages} published={published} rc={rc}")
    if published:  # the load finished before the signal landed
        assert rc in (0, -signal.SIGKILL)
        assert_serves(data_dir, N + 1, inputs["new"][1])
    else:
        assert rc == -signal.SIGKILL
        assert_serves(data_dir, N, inputs["old"][1])
    # Whatever folder the kill left complete holds exactly one load's data.
    for info in store.list():
        if info.snapshot_id > N:
            assert names(DiscoveryEngine.from_snapshot(info.path)) == inputs["new"][1]
    if not published:
        newest = max(int(p.name) for p in (data_dir / "snapshots").iterdir() if p.name.isdigit())
        assert_next_load_wins(data_dir, inputs, newest + 1)


@pytest.mark.parametrize("stage", STAGES)
def test_a_failing_load_keeps_n_and_cleans_up(stage: str, data_dir: Path, inputs: dict) -> None:
    """An exception (not a kill) at any stage: nothing published, temporaries removed at once."""

    def progress(name: str, done: int, total: int) -> None:
        if name == stage:
            raise RuntimeError(f"boom at {stage}")

    with pytest.raises(RuntimeError, match=f"boom at {stage}"):
        load([inputs["new"][0]], data_dir=data_dir, profile="generic", progress=progress)
    assert_serves(data_dir, N, inputs["old"][1])
    assert not list((data_dir / "snapshots").glob(".tmp-*"))
    assert [s.snapshot_id for s in SnapshotStore(data_dir).list()] == [1, N]


def test_a_load_while_another_writer_holds_the_lock_fails_clearly(
    data_dir: Path, inputs: dict
) -> None:
    with (
        SnapshotStore(data_dir).lock(),
        pytest.raises(SnapshotError, match="another load is writing"),
    ):
        load([inputs["new"][0]], data_dir=data_dir, profile="generic")
    assert_serves(data_dir, N, inputs["old"][1])
    assert_next_load_wins(data_dir, inputs, N + 1)
