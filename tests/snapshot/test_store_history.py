"""What the store remembers of its history, and what a kill at the worst moment leaves.

* a snapshot that was ever current is known as published, even when a load was killed
  right after it moved ``CURRENT`` (``PUBLISHED`` is written before the swap);
* retention removes what killed loads left behind and keeps what a plain ``rollback``
  goes to;
* a plain ``rollback`` goes to what was served before the current snapshot (its load's
  ``parent``), never back to one it had rolled away from, and prints both merchant counts;
* a kill while a snapshot folder is deleted leaves nothing the next load does not remove.

Kills are simulated deterministically: a step of the store raises (nothing on the way out
cleans up in the store), or a child process ``os._exit``s at that step.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from geo_discovery.cli.main import EXIT_OK, app
from geo_discovery.errors import SnapshotError, SnapshotNotFoundError
from geo_discovery.snapshot import store as store_module
from geo_discovery.snapshot.store import SnapshotInfo, SnapshotStore


class Killed(BaseException):
    """Stands for a kill -9: nothing in the store catches it, so nothing is cleaned up."""


def snap(
    store: SnapshotStore, merchants: int = 10, *, parent: int | None = None,
    publish: bool = True,
) -> SnapshotInfo:  # fmt: skip
    """A snapshot holding only a manifest (the store reads nothing else) and one data file."""
    with store.lock():
        writer = store.begin()
        (writer.path / "merchants.parquet").write_bytes(b"x" * 64)
        return writer.commit(
            {"rows": {"merchants": merchants}, "parent": parent}, publish=publish
        )


def load_like(store: SnapshotStore, merchants: int = 10, *, publish: bool = True) -> SnapshotInfo:
    """Like a load: its manifest names the snapshot current when it began."""
    current = store.current()
    return snap(store, merchants, parent=current.snapshot_id if current else None,
                publish=publish)  # fmt: skip


def marks(store: SnapshotStore) -> dict[str, bool | None]:
    return {s.name: s.published for s in store.list()}


@pytest.fixture
def store(tmp_path: Path) -> SnapshotStore:
    return SnapshotStore(tmp_path / "data")


def kill_just_after_the_swap(
    monkeypatch: pytest.MonkeyPatch, store: SnapshotStore
) -> Callable[[], None]:
    """From now on, every publication dies once CURRENT names the new snapshot durably,
    before anything else (the PUBLISHED append came next)."""
    fsync_dir = store_module._fsync_dir
    before = {"name": store.current_name()}

    def fsync_then_die(path: Path) -> None:
        fsync_dir(path)
        now = store.current_name()
        if Path(path) == store.data_dir and now != before["name"]:
            before["name"] = now
            raise Killed

    monkeypatch.setattr(store_module, "_fsync_dir", fsync_then_die)
    return lambda: monkeypatch.setattr(store_module, "_fsync_dir", fsync_dir)


# ------------------------------------------------------ 1. killed right after the swap


def test_a_kill_right_after_the_swap_leaves_no_served_snapshot_never_published(
    store: SnapshotStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """8 of 10 loads killed just after moving CURRENT left snapshots that had been served
    listed as "never published", and a plain rollback refused ("000012 is the oldest
    snapshot kept") though older served snapshots existed."""
    snap(store)
    undo = kill_just_after_the_swap(monkeypatch, store)
    for _ in range(3):
        with pytest.raises(Killed):
            snap(store)  # no parent in these manifests: only PUBLISHED says what was served
    undo()
    assert store.current_name() == "000004"
    assert marks(store) == {"000001": True, "000002": True, "000003": True, "000004": True}
    assert store.rollback().name == "000003"
    names = (store.data_dir / "PUBLISHED").read_text().split()
    assert sorted(names) == ["000001", "000002", "000003", "000004"]


def test_a_kill_right_after_the_first_swap_of_a_data_dir(
    store: SnapshotStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    undo = kill_just_after_the_swap(monkeypatch, store)
    with pytest.raises(Killed):
        snap(store)
    undo()
    assert marks(store) == {"000001": True}  # current: published, though not recorded yet
    snap(store)
    assert marks(store) == {"000001": True, "000002": True}
    assert not list(store.data_dir.glob(".PUBLISHED.*"))


def test_a_killed_publish_before_the_swap_marks_nothing_served(
    store: SnapshotStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Recording the current one first must not record the new one before it is current."""
    snap(store)
    replace = os.replace

    def die_on_current(src: object, dst: object) -> None:
        if Path(str(dst)).name == "CURRENT":
            raise Killed
        replace(src, dst)  # type: ignore[arg-type]

    monkeypatch.setattr(store_module.os, "replace", die_on_current)
    with pytest.raises(Killed):
        snap(store)
    monkeypatch.setattr(store_module.os, "replace", replace)
    assert marks(store) == {"000001": True, "000002": False}


def test_a_data_dir_the_old_record_left_gaps_in_is_healed_by_the_parents(
    store: SnapshotStore,
) -> None:
    """Data dirs where the kill already happened: a load's manifest names the snapshot
    current when it began, so that one was served whatever PUBLISHED says."""
    for _ in range(4):
        load_like(store)
    load_like(store, publish=False)  # 000005: a killed load's, never current
    (store.data_dir / "PUBLISHED").write_text("000001\n")  # lines lost by kills
    assert marks(store) == {"000001": True, "000002": True, "000003": True, "000004": True,
                            "000005": False}  # fmt: skip
    assert store.rollback().name == "000003"


def test_killed_loads_right_after_the_swap_end_to_end(tmp_path: Path) -> None:
    """The tester's run: real loads in child processes that die (os._exit) as soon as
    CURRENT names their snapshot."""
    data_dir = tmp_path / "store"
    runner = CliRunner(env={"COLUMNS": "240", "NO_COLOR": "1"})
    csv = write_csv(tmp_path / "shops.csv", 12)
    assert runner.invoke(app, ["load", str(csv), "--data-dir", str(data_dir)]).exit_code == 0
    for _ in range(2):
        assert killed_load(data_dir, csv, "after-swap") == 9
    assert (data_dir / "CURRENT").read_text().strip() == "000003"
    listing = runner.invoke(app, ["snapshots", "--data-dir", str(data_dir)])
    assert listing.exit_code == 0, listing.output
    assert "never published" not in listing.stdout
    rolled = runner.invoke(app, ["rollback", "--data-dir", str(data_dir)])
    assert rolled.exit_code == EXIT_OK, rolled.output
    assert "current snapshot: 000002 (was 000003)" in rolled.stdout


# ------------------------------------------------------------------- 2. retention


def test_prune_removes_killed_loads_leftovers_and_keeps_the_last_served(
    store: SnapshotStore,
) -> None:
    """KEEP_SNAPSHOTS=2, a good load, two loads killed after their rename, a load with
    --allow-shrink: it pruned 000001 and 000002 and kept 000003 (never published): no
    rollback was possible."""
    load_like(store, 3279)
    load_like(store, 3000, publish=False)
    load_like(store, 3000, publish=False)
    load_like(store, 300)
    assert store.prune(keep=2) == ["000002", "000003"]
    assert marks(store) == {"000001": True, "000004": True}
    assert store.rollback().name == "000001"


def test_leftovers_do_not_count_toward_keep(store: SnapshotStore) -> None:
    for _ in range(3):
        load_like(store)
    load_like(store, publish=False)
    load_like(store)
    assert store.prune(keep=3) == ["000001", "000004"]
    assert [s.name for s in store.list()] == ["000002", "000003", "000005"]


def test_a_leftover_newer_than_the_current_is_left_alone(store: SnapshotStore) -> None:
    """After a rollback a newer leftover is the operator's to inspect (--to); the next load
    makes it older than the current one, and the prune after it removes it."""
    load_like(store)
    load_like(store)
    load_like(store, publish=False)
    store.rollback(to=1)
    assert store.prune(keep=1) == []
    assert [s.name for s in store.list()] == ["000001", "000002", "000003"]
    load_like(store)
    assert store.prune(keep=1) == ["000001", "000002", "000003"]


def test_prune_keeps_what_a_plain_rollback_goes_to(store: SnapshotStore) -> None:
    """Rolled back from a bad 000002, loaded 000003 (parent 1), then 000004: the window of
    the two newest pruned 000001, the snapshot served before the bad one. The bad one,
    rolled back away from, does not count and goes first."""
    load_like(store, 100)  # 1
    load_like(store, 5)  # 2: bad
    store.rollback()
    load_like(store, 100)  # 3, parent 1
    assert store.prune(keep=2) == ["000002"]
    assert store.rollback().name == "000001"
    store.rollback(to=3)
    load_like(store, 100)  # 4, parent 3
    assert store.prune(keep=2) == ["000001"]
    assert store.rollback().name == "000003"


def test_keep_one_still_keeps_one(store: SnapshotStore) -> None:
    for _ in range(3):
        load_like(store)
    assert store.prune(keep=1) == ["000001", "000002"]


def test_retention_end_to_end_after_loads_killed_after_their_rename(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = tmp_path / "store"
    monkeypatch.setenv("GEO_DISCOVERY_KEEP_SNAPSHOTS", "2")
    monkeypatch.delenv("GEO_DISCOVERY_DATA_DIR", raising=False)
    runner = CliRunner(env={"COLUMNS": "240", "NO_COLOR": "1"})
    big, small = write_csv(tmp_path / "big.csv", 40), write_csv(tmp_path / "small.csv", 4)
    assert runner.invoke(app, ["load", str(big), "--data-dir", str(data_dir)]).exit_code == 0
    for _ in range(2):
        assert killed_load(data_dir, big, "before-swap") == 9
    loaded = runner.invoke(app, ["load", str(small), "--allow-shrink", "--data-dir",
                                 str(data_dir)])  # fmt: skip
    assert loaded.exit_code == EXIT_OK, loaded.output
    assert "pruned old snapshots: 000002, 000003" in loaded.stdout
    assert [s.name for s in SnapshotStore(data_dir).list()] == ["000001", "000004"]
    rolled = runner.invoke(app, ["rollback", "--data-dir", str(data_dir)])
    assert rolled.exit_code == EXIT_OK, rolled.output
    assert "current snapshot: 000001 (was 000004): 40 merchants (was 4)" in rolled.stdout


# -------------------------------------------------------------------- 3. rollback


def test_rollback_returns_to_what_was_served_before_not_to_one_rolled_away_from(
    store: SnapshotStore,
) -> None:
    load_like(store, 3279)  # 1: good
    load_like(store, 300)  # 2: bad
    assert store.rollback().name == "000001"
    load_like(store, 3279)  # 3: parent 1
    assert store.rollback().name == "000001"  # it went to the bad 000002
    with pytest.raises(SnapshotNotFoundError, match="000001 is the oldest"):
        store.rollback()


def test_rollback_from_a_rolled_back_to_snapshot_keeps_walking_back(
    store: SnapshotStore,
) -> None:
    for _ in range(4):
        load_like(store)
    assert [store.rollback().name for _ in range(3)] == ["000003", "000002", "000001"]


def test_rollback_falls_back_when_the_parent_is_gone_or_damaged(store: SnapshotStore) -> None:
    """The parent refused (damaged) or not kept: the older rule, the newest older snapshot
    ever current (not rolled back away from); refused too, the rollback is refused
    (test_cli: a damaged target)."""
    for _ in range(3):
        load_like(store)  # 1; 2: parent 1; 3: parent 2

    def refuse_2(path: Path) -> None:
        if path.name == "000002":
            raise SnapshotError("snapshot 000002 is damaged")

    assert store.rollback(check=refuse_2).name == "000001"
    store.rollback(to=3)
    (store.snapshots_dir / "000002" / "manifest.json").write_text("{broken")
    assert store.rollback().name == "000001"


def test_rollback_refuses_when_every_candidate_is_damaged(store: SnapshotStore) -> None:
    for _ in range(3):
        load_like(store)

    def refuse(path: Path) -> None:
        raise SnapshotError(f"snapshot {path.name} is damaged")

    with pytest.raises(SnapshotError, match="damaged"):
        store.rollback(check=refuse)
    assert store.current_name() == "000003"


def test_rollback_cli_follows_the_parent_and_prints_both_counts(tmp_path: Path) -> None:
    """The tester's repro: load 1, a bad 2 (--allow-shrink), rollback, load 3, rollback:
    it brought back the bad 000002, and said nothing of 3,279 → 300 merchants."""
    data_dir = tmp_path / "store"
    runner = CliRunner(env={"COLUMNS": "240", "NO_COLOR": "1"})
    base = ["--data-dir", str(data_dir)]
    good, bad = write_csv(tmp_path / "good.csv", 30), write_csv(tmp_path / "bad.csv", 3)
    assert runner.invoke(app, ["load", str(good), *base]).exit_code == 0
    assert runner.invoke(app, ["load", str(bad), "--allow-shrink", *base]).exit_code == 0
    first = runner.invoke(app, ["rollback", *base])
    assert first.exit_code == 0, first.output
    assert "current snapshot: 000001 (was 000002): 30 merchants (was 3)" in first.stdout
    assert runner.invoke(app, ["load", str(good), *base]).exit_code == 0
    manifest = json.loads((data_dir / "snapshots" / "000003" / "manifest.json").read_text())
    assert manifest["parent"] == 1
    again = runner.invoke(app, ["rollback", *base])
    assert again.exit_code == 0, again.output
    assert "current snapshot: 000001 (was 000003): 30 merchants (was 30)" in again.stdout


def test_rollback_cli_names_a_damaged_parent_it_passed_by(tmp_path: Path) -> None:
    import shutil

    data_dir = tmp_path / "store"
    runner = CliRunner(env={"COLUMNS": "240", "NO_COLOR": "1"})
    base = ["--data-dir", str(data_dir)]
    good, bad = write_csv(tmp_path / "good.csv", 30), write_csv(tmp_path / "bad.csv", 3)
    assert runner.invoke(app, ["load", str(bad), *base]).exit_code == 0
    assert runner.invoke(app, ["load", str(good), "--allow-shrink", *base]).exit_code == 0
    assert runner.invoke(app, ["load", str(good), *base]).exit_code == 0  # 3: parent 2
    shutil.rmtree(data_dir / "snapshots" / "000002" / "index")
    rolled = runner.invoke(app, ["rollback", *base])
    assert rolled.exit_code == 0, rolled.output
    assert "passed by snapshot 000002, which is damaged: " in rolled.stdout
    assert "current snapshot: 000001 (was 000003): 3 merchants (was 30)" in rolled.stdout


def test_rollback_help_names_the_rule() -> None:
    result = CliRunner(env={"COLUMNS": "240", "NO_COLOR": "1"}).invoke(
        app, ["rollback", "--help"]
    )
    assert result.exit_code == 0
    text = " ".join(result.stdout.replace("│", " ").split())
    assert "the snapshot its load replaced" in text
    assert "never one you had rolled back away from" in text


# ------------------------------------------------------------- 4. killed while pruning


def test_a_kill_while_pruning_leaves_nothing_behind(tmp_path: Path) -> None:
    """shutil.rmtree deleted manifest.json first; killed then, the folder was invisible
    (no manifest: not listed) and never removed (not a .tmp-*): an 85 MB leak."""
    store = SnapshotStore(tmp_path / "data")
    for _ in range(3):
        load_like(store)
    script = textwrap.dedent(
        """
        import os, shutil, sys
        from pathlib import Path
        from geo_discovery.snapshot.store import SnapshotStore

        def die_halfway(path, *args, **kwargs):
            (Path(path) / "manifest.json").unlink()  # what rmtree may remove first
            os._exit(9)

        shutil.rmtree = die_halfway
        SnapshotStore(sys.argv[1]).prune(keep=1)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script, str(store.data_dir)], check=False)
    assert proc.returncode == 9
    assert [s.name for s in store.list()] == ["000002", "000003"]  # 1: out of sight
    assert leftovers(store)  # what the next load removes
    load_like(store)
    assert leftovers(store) == []
    assert sorted(p.name for p in store.snapshots_dir.iterdir()) == ["000002", "000003",
                                                                     "000004"]  # fmt: skip


def test_a_half_deleted_snapshot_folder_is_removed_by_the_next_load_or_prune(
    store: SnapshotStore,
) -> None:
    """Left by an older version's killed prune: a snapshot's name, files, no manifest."""
    for _ in range(3):
        load_like(store)
    half = store.snapshots_dir / "000002"
    (half / "manifest.json").unlink()
    assert store.prune(keep=5) == []
    assert not half.exists()
    (store.snapshots_dir / "000001" / "manifest.json").unlink()
    assert load_like(store).name == "000004"
    assert sorted(p.name for p in store.snapshots_dir.iterdir()) == ["000003", "000004"]


def test_the_id_of_a_half_deleted_folder_is_not_given_again(store: SnapshotStore) -> None:
    load_like(store)
    load_like(store, publish=False)
    (store.snapshots_dir / "000002" / "manifest.json").unlink()
    assert load_like(store).name == "000003"
    assert not (store.snapshots_dir / "000002").exists()


def test_cleanup_leaves_the_current_and_unreadable_snapshots_alone(
    store: SnapshotStore,
) -> None:
    """Only a folder with no manifest at all goes: one from another schema version is data,
    and a CURRENT naming a broken folder is for the operator to mend (rollback --to)."""
    for _ in range(3):
        load_like(store)
    manifest = store.snapshots_dir / "000001" / "manifest.json"
    manifest.write_text(manifest.read_text().replace('"schema_version": ', '"schema_version": 9'))
    (store.snapshots_dir / "000003" / "manifest.json").unlink()  # the current one
    with store.lock():
        store.remove_temporaries()
    assert sorted(p.name for p in store.snapshots_dir.iterdir()) == ["000001", "000002",
                                                                     "000003"]  # fmt: skip


def test_a_kill_while_an_aborted_load_deletes_its_snapshot(
    store: SnapshotStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_like(store)
    with store.lock():
        writer = store.begin()
        writer.commit({"rows": {"merchants": 1}}, publish=False)  # then interrupted

        def die_halfway(path: object, *args: object, **kwargs: object) -> None:
            (Path(str(path)) / "manifest.json").unlink()
            raise Killed

        monkeypatch.setattr(store_module.shutil, "rmtree", die_halfway)
        with pytest.raises(Killed):
            writer.abort()
        monkeypatch.undo()
    load_like(store)
    assert leftovers(store) == []  # (its id, never served, is given again)
    assert [s.name for s in store.list()] == ["000001", "000002"]


# ------------------------------------------------------------------------ helpers


def leftovers(store: SnapshotStore) -> list[str]:
    """Folders of snapshots/ that are neither listed nor a load in progress."""
    listed = {s.name for s in store.list()}
    return sorted(p.name for p in store.snapshots_dir.iterdir() if p.name not in listed)


def write_csv(path: Path, n: int) -> Path:
    rows = ["id,name,lat,lng,category"]
    rows += [f"m{i},Shop {i},{40.70 + i * 1e-4:.6f},{-73.99 + i * 1e-4:.6f},food/grocery"
             for i in range(n)]  # fmt: skip
    path.write_text("\n".join(rows) + "\n")
    return path


def killed_load(data_dir: Path, csv: Path, when: str) -> int:
    """Run ``geo-discovery load`` in a child that dies (os._exit(9), like kill -9) just
    before CURRENT moves (``before-swap``: its snapshot renamed into place) or just after
    (``after-swap``: CURRENT names it, nothing else done)."""
    script = textwrap.dedent(
        """
        import os, sys
        from pathlib import Path
        from geo_discovery.snapshot import store
        from geo_discovery.cli.main import app

        data_dir, csv, when = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
        before = (data_dir / "CURRENT").read_text()
        fsync_dir = store._fsync_dir

        def set_current(self, snapshot_id):
            os._exit(9)

        def fsync_then_die(path):
            fsync_dir(path)
            if Path(path) == data_dir and (data_dir / "CURRENT").read_text() != before:
                os._exit(9)

        if when == "before-swap":
            store.SnapshotStore.set_current = set_current
        else:
            store._fsync_dir = fsync_then_die
        app(["load", csv, "--data-dir", str(data_dir)])
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "GEO_DISCOVERY_DATA_DIR"}
    proc = subprocess.run(
        [sys.executable, "-c", script, str(data_dir), str(csv), when],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    assert proc.returncode == 9, proc.stdout + proc.stderr
    return proc.returncode


def test_a_second_rollback_never_brings_back_one_rolled_away_from(tmp_path: Path) -> None:
    """load 1, a bad 2, rollback (→ 1), load 3 (parent 1), load 4: pruning with keep 3
    removed 000001 and kept the bad 000002, and rollback, rollback went 4 → 3 → 2. Now the
    snapshot rolled away from neither counts for retention nor is a fallback target."""
    data_dir = tmp_path / "store"
    runner = CliRunner(env={"COLUMNS": "240", "NO_COLOR": "1",
                            "GEO_DISCOVERY_KEEP_SNAPSHOTS": "3"})  # fmt: skip
    base = ["--data-dir", str(data_dir)]
    good, bad = write_csv(tmp_path / "good.csv", 30), write_csv(tmp_path / "bad.csv", 3)
    for args in (["load", str(good)], ["load", str(bad), "--allow-shrink"], ["rollback"],
                 ["load", str(good)], ["load", str(good)], ["rollback"]):  # fmt: skip
        done = runner.invoke(app, [*args, *base])
        assert done.exit_code == 0, (args, done.output)
    store = SnapshotStore(data_dir)
    assert store.current_name() == "000003"
    assert set(marks(store)) == {"000001", "000003", "000004"}  # the good 1 kept, not 2
    last = runner.invoke(app, ["rollback", *base])
    assert last.exit_code == 0 and store.current_name() == "000001", last.output


def test_the_fallback_passes_a_snapshot_rolled_away_from_by(store: SnapshotStore) -> None:
    """With the parent gone, the fallback was the newest older snapshot ever current:
    the bad one rolled back away from."""
    load_like(store, 100)  # 1
    load_like(store, 5)  # 2: bad
    store.rollback()
    load_like(store, 100)  # 3, parent 1
    assert store_module.rolled_away(store.list()) == {2}
    import shutil

    shutil.rmtree(store.snapshots_dir / "000001")
    with pytest.raises(SnapshotNotFoundError, match="nothing to roll back to"):
        store.rollback()
    assert store.current_name() == "000003"


def test_a_plain_rollback_from_a_current_snapshot_gone_goes_to_the_one_before(
    tmp_path: Path,
) -> None:
    """CURRENT naming a folder that was deleted (or a manifest cut): `rollback` failed with
    '000003 is not a snapshot', though 000001 and 000002 were good; `snapshots` said
    nothing of it."""
    data_dir = tmp_path / "store"
    runner = CliRunner(env={"COLUMNS": "240", "NO_COLOR": "1"})
    base = ["--data-dir", str(data_dir)]
    for n in (30, 29, 30):
        assert runner.invoke(app, ["load", str(write_csv(tmp_path / f"{n}.csv", n)),
                                   *base]).exit_code == 0  # fmt: skip
    (data_dir / "snapshots" / "000003" / "manifest.json").write_text("{")
    listing = runner.invoke(app, ["snapshots", *base])
    assert "warning: CURRENT names 000003, which is not a readable snapshot" in listing.stderr
    done = runner.invoke(app, ["rollback", *base])
    assert done.exit_code == 0, done.output
    assert SnapshotStore(data_dir).current_name() == "000002"


def test_a_current_snapshot_gone_is_named_with_the_rollback_that_mends_it(
    tmp_path: Path,
) -> None:
    """Its folder deleted, every load and query said only '…/000002 is not a snapshot: no
    manifest.json', and nothing of rollback, which mends it."""
    data_dir = tmp_path / "store"
    runner = CliRunner(env={"COLUMNS": "240", "NO_COLOR": "1"})
    base = ["--data-dir", str(data_dir)]
    source = write_csv(tmp_path / "30.csv", 30)
    for _ in range(2):
        assert runner.invoke(app, ["load", str(source), *base]).exit_code == 0
    shutil.rmtree(data_dir / "snapshots" / "000002")
    for command in (["load", str(source)], ["stats"], ["query", "nearby", "--lat", "60.17",
                                                         "--lng", "24.94"]):  # fmt: skip
        result = runner.invoke(app, [*command, *base])
        assert result.exit_code == 1, result.output
        assert (f"CURRENT names snapshot 000002, but {data_dir}/snapshots/000002 is gone"
                in result.stderr and f"rollback --data-dir {data_dir}" in result.stderr), (
            result.stderr)
    assert runner.invoke(app, ["rollback", *base]).exit_code == 0
    assert SnapshotStore(data_dir).current_name() == "000001"


def test_a_read_only_data_dir_says_what_stays_current(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read-only store gave only "error: [Errno 30] Read-only file system: '…/.lock'"."""
    import errno

    data_dir = tmp_path / "store"
    runner = CliRunner(env={"COLUMNS": "240", "NO_COLOR": "1"})
    source = write_csv(tmp_path / "30.csv", 30)
    assert runner.invoke(app, ["load", str(source), "--data-dir", str(data_dir)]).exit_code == 0

    def read_only(path: object, *args: object, **kw: object) -> object:
        if str(path).endswith(".lock"):
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        return open(path, *args, **kw)  # type: ignore[call-overload]

    monkeypatch.setattr(store_module, "open", read_only, raising=False)
    result = runner.invoke(app, ["load", str(source), "--data-dir", str(data_dir)])
    assert result.exit_code == 1, result.output
    assert result.stderr.strip() == (
        f"error: cannot write the data dir {data_dir} (Read-only file system): a load writes "
        "its snapshot and lock there; nothing was published: snapshot 000001 stays current")
