"""A Dask cluster that fails a load says so in one line, and never hangs it.

* a ``tcp://`` scheduler with no worker is refused at connect (it made a load wait for
  good, holding the store's lock);
* a cluster left without any worker while a result is awaited stops the load after a
  set time (here a second: the wait is a parameter);
* workers that keep dying on a task (``KilledWorker``: exit 70, "internal error") are a
  :class:`ClusterError` naming the file or step;
* workers get absolute paths (a worker's working folder is its own), and the files a
  load reads in this process (a database source's dump) are never sent as paths.

Clusters here are started in this process's scheduler with at most one worker process,
and closed by their fixtures.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from geo_discovery.errors import ClusterError
from geo_discovery.ingest.sources import finish_file, read_source_file
from geo_discovery.snapshot.cluster import Cluster, ClusterSpec, open_cluster, read_sources_on
from geo_discovery.snapshot.pipeline import load

pytest.importorskip("distributed")

CSV = "id,name,lat,lng,category\n{}"


def _write(folder: Path, name: str, first: int, n: int = 20) -> Path:
    rows = "".join(f"{name}{i},shop {i},60.1{i:02d},24.9{i:02d},shop/convenience\n"
                   for i in range(first, first + n))
    path = folder / name
    path.write_text(CSV.format(rows))
    return path


@pytest.fixture(autouse=True)
def no_connect_left_running() -> Iterator[None]:
    """As in test_cluster_build.py: each test ends when its connect threads have."""
    import gc
    import threading

    yield
    for thread in threading.enumerate():
        if thread.name == "geo-discovery-dask-connect":
            thread.join(60)
    gc.collect()


@pytest.fixture(scope="module")
def empty_scheduler() -> Iterator[str]:
    """The address of a scheduler that never has a worker."""
    import logging

    from distributed import LocalCluster

    with LocalCluster(n_workers=0, processes=True, host="127.0.0.1", scheduler_port=0,
                      dashboard_address="127.0.0.1:0", silence_logs=logging.ERROR) as lc:
        yield lc.scheduler_address


@pytest.fixture(scope="module")
def one_worker() -> Iterator[Cluster]:
    """One worker process that is not retried on another after it dies
    (``allowed-failures=0``: the first death is a KilledWorker)."""
    import logging

    import dask
    from distributed import Client, LocalCluster

    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        lc = LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                          host="127.0.0.1", dashboard_address="127.0.0.1:0",
                          silence_logs=logging.ERROR)
    client = Client(lc)
    cluster = Cluster(client, ClusterSpec("tcp", address=lc.scheduler_address), lc)
    try:
        yield cluster
    finally:
        cluster.close()


# --------------------------------------------------------------------- no workers
def test_a_scheduler_without_workers_is_refused_at_connect(empty_scheduler: str) -> None:
    with pytest.raises(ClusterError, match=rf"{empty_scheduler} has no worker .*within "
                       r"0\.5 s.*dask worker"), \
            open_cluster(empty_scheduler, worker_wait_s=0.5):
        pass


def test_a_load_left_without_workers_stops_and_frees_the_store(
    empty_scheduler: str, tmp_path: Path
) -> None:
    from distributed import Client

    files = [_write(tmp_path, "a.csv", 0), _write(tmp_path, "b.csv", 50)]
    client = Client(empty_scheduler, timeout="10s")
    cluster = Cluster(client, ClusterSpec("tcp", address=empty_scheduler), no_worker_s=1.0)
    try:
        with pytest.raises(ClusterError, match=r"has had no worker for 1 s while reading "
                           r".*a\.csv.*nothing was published: there is still no snapshot"):
            load(files, data_dir=tmp_path / "d", cluster=cluster)
    finally:
        cluster.close()
    # the store's lock was released: a load right after needs no wait
    report = load(files, data_dir=tmp_path / "d", wait_s=0)
    assert report.merchants_total == 40


# ------------------------------------------------------------------ dying workers
def _die(_: Any) -> None:
    os._exit(1)  # as the OOM killer would


def _read_or_die(path: Path, *args: Any) -> Any:
    if path.name == "dies.csv":
        os._exit(1)
    return read_source_file(path, *args)


def test_workers_that_keep_dying_are_a_cluster_error_naming_the_step(
    one_worker: Cluster,
) -> None:
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    try:
        with pytest.raises(ClusterError, match=r"kept dying while running the sort step"):
            one_worker.run("sort", _die, [(1,)])
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


def test_workers_that_keep_dying_are_a_cluster_error_naming_the_file(
    one_worker: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import cloudpickle

    files = [_write(tmp_path, "a.csv", 0), _write(tmp_path, "dies.csv", 50)]
    monkeypatch.setattr("geo_discovery.snapshot.cluster.read_source_file", _read_or_die)
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    try:
        with pytest.raises(ClusterError, match=r"kept dying while reading .*dies\.csv") as got:
            read_sources_on(one_worker, files)
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    assert "\n" not in str(got.value)


# ------------------------------------------------------------------------- paths
def test_workers_get_absolute_paths_and_the_sources_keep_the_given_ones(
    one_worker: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker on another machine has its own working folder: ``multi/f1.csv`` could
    not be read there though this process read it."""
    (tmp_path / "multi").mkdir()
    _write(tmp_path / "multi", "f1.csv", 0)
    _write(tmp_path / "multi", "f2.csv", 50)
    monkeypatch.chdir(tmp_path)
    before = one_worker.client.run(os.getcwd)
    one_worker.client.run(os.chdir, "/")
    try:
        got = read_sources_on(one_worker, ["multi/f1.csv", "multi/f2.csv"])
    finally:
        for cwd in set(before.values()):
            one_worker.client.run(os.chdir, cwd)
    assert got.rows_loaded == 40
    assert [s.path for s in got.sources] == ["multi/f1.csv", "multi/f2.csv"]


def _on_worker() -> bool:
    from distributed import get_worker

    try:
        get_worker()
    except ValueError:
        return False
    return True


def _invisible(path: Path) -> bool:
    """A file a worker on another machine could not see."""
    return _on_worker() and (path.name == "dump.csv" or "geo-discovery-pg-" in str(path))


def _read_unless_on_worker(path: Path, *args: Any) -> Any:
    if _invisible(path):
        raise OSError(f"{path}: cannot read file (No such file or directory)")
    return read_source_file(path, *args)


def _finish_unless_on_worker(result: Any, *args: Any, **kwargs: Any) -> Any:
    if _invisible(result.raw.path):  # a rejected row's text is read from the file
        raise OSError(f"{result.raw.path}: cannot read file (No such file or directory)")
    return finish_file(result, *args, **kwargs)


def _patch_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("geo_discovery.snapshot.cluster.read_source_file",
                        _read_unless_on_worker)
    monkeypatch.setattr("geo_discovery.snapshot.cluster.finish_file", _finish_unless_on_worker)


def test_files_read_here_are_never_sent_to_a_worker(
    one_worker: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database source's dump lives in this process's temporary folder, which the
    workers of a tcp:// cluster cannot see."""
    import cloudpickle

    files = [_write(tmp_path, "a.csv", 0), _write(tmp_path, "dump.csv", 50)]
    with files[1].open("a") as f:
        f.write("bad,no place,,,shop\n")  # rejected: its line is quoted from the file
    _patch_workers(monkeypatch)
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    try:
        got = read_sources_on(one_worker, files, here=[str(files[1])],
                              labels={str(files[1]): "postgresql://u@h/db?table=t"})
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    assert (got.rows_loaded, got.rows_rejected) == (40, 1)


def test_database_sources_on_a_tcp_cluster_are_read_here(
    one_worker: Cluster, pg: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two PostgreSQL tables on a tcp:// cluster: their dumps (in this process's temporary
    folder) were sent to the workers as paths."""
    import uuid

    import psycopg

    url = pg
    schema = f"t_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(url) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
        for name, first in (("a", 0), ("b", 50)):
            conn.execute(f'CREATE TABLE "{schema}".{name} AS SELECT \'{name}\' || g AS id, '
                         f"'shop ' || g AS name, 60.1 + g * 0.001 AS lat, 24.9 + g * 0.001 "
                         f"AS lng, 'shop/convenience' AS category "
                         f"FROM generate_series({first}, {first + 19}) g")
        conn.execute(f"INSERT INTO \"{schema}\".b VALUES ('bad', 'no place', NULL, NULL, "
                     "'shop')")
    _patch_workers(monkeypatch)
    cloudpickle = pytest.importorskip("cloudpickle")
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    try:
        report = load([f"{url}?table={schema}.a", f"{url}?table={schema}.b"],
                      data_dir=tmp_path / "d", cluster=one_worker)
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
        with psycopg.connect(url) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    assert (report.merchants_total, report.rows_rejected) == (40, 1)
    assert [s.path for s in report.ingest.sources] == [
        f"{url}?table={schema}.a", f"{url}?table={schema}.b"]


def test_work_lost_with_its_worker_is_a_cluster_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker that ran out of memory took the load's data with it: Dask cancelled the
    futures ("already forgotten") inside the wait, which was an internal error, exit 70."""
    import distributed
    from distributed.client import FuturesCancelledError

    def cancelled(*args: Any, **kwargs: Any) -> Any:
        raise FuturesCancelledError([])

    monkeypatch.setattr(distributed, "wait", cancelled)
    cluster = Cluster(None, ClusterSpec("tcp", address="tcp://127.0.0.1:1"))
    with pytest.raises(ClusterError, match="lost its work while building the index"):
        cluster._settled({object()}, "building the index")


def test_the_workers_a_load_ran_on_count_a_worker_being_restarted() -> None:
    """The manifest recorded the workers connected when the load ended: 0 for a load the
    CLI had started on 1 when its nanny was restarting the worker at that instant."""
    from types import SimpleNamespace

    from geo_discovery.snapshot.pipeline import build_workers

    restarting = SimpleNamespace(workers=0, spec=ClusterSpec("local", workers=1))
    assert build_workers(restarting) == 1
    remote = SimpleNamespace(workers=3, spec=ClusterSpec("tcp", address="tcp://x:8786"))
    assert build_workers(remote) == 3
