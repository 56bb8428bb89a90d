"""The load pipeline: lock → read → validate → merge (by mode) → index → write N+1 → publish.

The store's writer lock is taken first (waiting up to ``wait_s`` for another load), so
a concurrent load waits before doing any work instead of failing after it. Everything
a load does to the store happens inside one
:class:`~geo_discovery.snapshot.store.SnapshotWriter`, so a load that fails or is killed
leaves the previous snapshot current.

Rejects files (``DATA_DIR/rejects/<time>-<mode>.csv``) are written under a temporary
name and renamed when complete; a load removes the temporaries of killed loads and
keeps only the rejects files that kept snapshots name plus the ``keep_snapshots``
newest others (refused or killed loads), so they never pile up.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import json
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .. import cells as h3cells
from ..errors import ClusterError, LoadRefusedError, RejectedRowsError, SnapshotError
from ..ingest import IngestResult, ReadOptions, read_id_list, read_sources, write_rejects
from ..ingest.checkins import read_visit_sources
from ..ingest.postgres import PgSource, materialise
from ..ingest.result import problem_rows, summarise_kinds
from ..models import BBox
from ..parallel import executing_on, release_everywhere
from ..schema import ARROW_SCHEMA
from ..search.index import build_cell_index
from ..settings import Settings, get_settings
from .derived import derive_all
from .members import carry_members, write_members
from .rows import ROW_FILE, write_row_file
from .sourcedates import carried_dates, write_source_dates
from .store import SnapshotInfo, SnapshotStore, snapshot_merchants

if TYPE_CHECKING:
    from ..search.index import CellIndex
    from .cluster import Cluster

__all__ = [
    "LOAD_MODES", "LoadReport", "build_workers", "load", "read_merchant_table",
    "write_merchant_table",
]

LoadMode = Literal["replace", "upsert", "delete"]
LOAD_MODES: tuple[str, ...] = ("replace", "upsert", "delete")
Progress = Callable[[str, int, int], None]
"""``progress(stage, done, total)``; stages: read, merge, index, write, derive, publish."""


@dataclass
class LoadReport:
    """What one load did. ``rows_read == rows_loaded + rows_rejected`` always."""

    mode: str
    snapshot: SnapshotInfo | None
    rows_read: int
    rows_loaded: int
    rows_rejected: int
    merchants_total: int
    rejects_path: Path | None
    ingest: IngestResult | None = None
    reject_summary: pd.DataFrame = field(default_factory=pd.DataFrame)
    pruned: list[str] = field(default_factory=list)
    rows_warned: int = 0
    warning_summary: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: An upsert's merchants that replaced one of the current snapshot, and the new ones.
    replaced: int | None = None
    added: int | None = None  # (``None``: another mode)


def write_merchant_table(table: pa.Table, path: Path) -> None:
    """Write the merchant table as GeoParquet 1.1 (WKB points in ``geometry``, CRS84)."""
    out = table.append_column("geometry", point_wkb(
        table.column("lng").to_numpy(), table.column("lat").to_numpy()
    ))
    geo = {
        "version": "1.1.0",
        "primary_column": "geometry",
        "columns": {"geometry": {"encoding": "WKB", "geometry_types": ["Point"]}},
    }
    meta = dict(out.schema.metadata or {})
    meta[b"geo"] = json.dumps(geo).encode()
    pq.write_table(out.replace_schema_metadata(meta), path, compression="zstd")


def point_wkb(x: np.ndarray, y: np.ndarray) -> pa.ChunkedArray:
    """Little-endian 2D WKB points as Arrow binary, built in NumPy: the bytes
    ``shapely.to_wkb`` writes, without a shapely object and a ``bytes`` per point
    (~1.5 GB at 10M points). Chunks of at most 2**26 points keep 32-bit offsets.

    >>> import shapely
    >>> a = point_wkb(np.array([-73.9, 180.0]), np.array([40.7, -90.0]))
    >>> a.to_pylist() == list(shapely.to_wkb(shapely.points([-73.9, 180.0], [40.7, -90.0])))
    True
    """
    layout = np.dtype([("order", "u1"), ("kind", "<u4"), ("x", "<f8"), ("y", "<f8")])
    chunks = []
    for a in range(0, len(x), _WKB_CHUNK):
        b = min(a + _WKB_CHUNK, len(x))
        rec = np.empty(b - a, dtype=layout)
        rec["order"], rec["kind"], rec["x"], rec["y"] = 1, 1, x[a:b], y[a:b]
        offsets = np.arange(0, 21 * (b - a) + 1, 21, dtype=np.int32)
        chunks.append(pa.Array.from_buffers(
            pa.binary(), b - a, [None, pa.py_buffer(offsets), pa.py_buffer(rec)]
        ))
    return pa.chunked_array(chunks, type=pa.binary())


_WKB_CHUNK = 1 << 26


def read_merchant_table(path: Path) -> pa.Table:
    """Read a snapshot's merchant table without its geometry column."""
    table = pq.read_table(path, memory_map=True)
    if "geometry" in table.column_names:
        table = table.drop_columns(["geometry"])
    return table.cast(ARROW_SCHEMA)


def load(
    paths: Sequence[str | Path | PgSource],
    *,
    data_dir: str | Path | None = None,
    mode: LoadMode = "replace",
    profile: str | None = None,
    mapping: str | Path | Mapping[str, Any] | None = None,
    expected_bbox: BBox | None = None,
    strict: bool = False,
    rejects_path: str | Path | None = None,
    resolution: int | None = None,
    settings: Settings | None = None,
    progress: Progress | None = None,
    allow_empty: bool = False,
    allow_shrink: bool = False,
    options: ReadOptions | None = None,
    wait_s: float = 0.0,
    on_wait: Callable[[], None] | None = None,
    cluster: str | Cluster | None = None,
) -> LoadReport:
    """Load files into a new snapshot and publish it.

    Parameters
    ----------
    paths
        Input files. For ``mode="delete"`` they list ids to delete (a ``merchant_id``
        column, or one id per line). PostgreSQL tables or queries too: a
        ``postgresql://…?table=NAME`` string or a
        :class:`~geo_discovery.ingest.postgres.PgSource` (rows streamed into the same
        validation, :mod:`geo_discovery.ingest.postgres`).
    mode
        ``replace`` (the new snapshot holds exactly these rows), ``upsert`` (rows replace
        same-id merchants of the current snapshot and add new ones) or ``delete``.
    strict
        Fail the whole load (:class:`RejectedRowsError`, nothing published) on any reject;
        a field that cannot be read rejects its row instead of being left empty.
    rejects_path
        Where rejected rows go (``.csv`` or ``.parquet``). Default:
        ``DATA_DIR/rejects/<time>-<mode>.csv``, written whenever a row is rejected.
    allow_empty
        Publish even when the new snapshot holds no merchant (refused by default:
        :class:`~geo_discovery.errors.LoadRefusedError`, nothing published).
    allow_shrink
        Publish a ``replace`` or ``delete`` that drops more than
        ``settings.load_max_shrink`` of the current snapshot's merchants, in all or of one
        source (refused by default).
    options
        How to read ambiguous values (:class:`~geo_discovery.ingest.ReadOptions`);
        ``strict`` above is added to them.
    wait_s
        How long to wait for another load holding the store's lock before failing;
        ``on_wait`` is called once when the wait starts.
    cluster
        Read the files and build the index on a Dask cluster: ``"local:N"``,
        ``"tcp://HOST:PORT"`` or an open :class:`~geo_discovery.snapshot.cluster.Cluster`
        (see :mod:`geo_discovery.snapshot.cluster`). The snapshot is the same as without.

    Returns
    -------
    LoadReport
    """
    if mode not in LOAD_MODES:
        raise ValueError(f"mode={mode!r} is not allowed; allowed: {', '.join(LOAD_MODES)}")
    settings = settings or get_settings()
    store = SnapshotStore(data_dir if data_dir is not None else settings.data_dir)
    notify = progress or (lambda stage, done, total: None)

    def read_progress(done: int, total: int) -> None:
        notify("read", done, total)

    base = options or ReadOptions()
    read_options = dataclasses.replace(base, strict=strict or base.strict)
    with (
        store.lock(wait_s, on_wait),
        _said_when_the_cluster_fails(store),
        _cluster_for(cluster) as on,
        materialise(paths) as (files, labels),
    ):
        ingest: IngestResult | None = None
        delete_ids: list[str] = []
        places: list[tuple[str, int]] = []  # each id's file and line
        if mode == "delete":
            frames = []
            for p in files:
                ids, bad, where = read_id_list(p)
                delete_ids.extend(ids)
                places.extend((labels.get(str(p), name), line) for name, line in where)
                frames.append(bad)
            rejects = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
            rows_read = len(delete_ids) + len(rejects)
        elif profile == "checkins":  # a visit log: visits aggregate into venues
            ingest = read_visit_sources([Path(p) for p in files], until=read_options.until)
            rejects = ingest.rejects
            rows_read = ingest.rows_read
        elif on is not None and len(files) > 1:
            # One file is read here: on a worker it would be read alone while this
            # process waits, and its rows then copied back (a 10M-row file's read
            # outgrew a worker's share of this machine and the worker was restarted).
            from .cluster import read_sources_on

            # A database source's dump is in this process's temporary folder, which the
            # workers of a tcp:// cluster (other machines) cannot see: read here.
            ingest = read_sources_on(
                on, files, profile=profile, mapping=mapping, expected_bbox=expected_bbox,
                options=read_options, progress=notify, labels=labels,
                here=labels if on.spec.kind != "local" else (),
            )
            rejects = ingest.rejects
            rows_read = ingest.rows_read
        else:
            ingest = read_sources(
                files,
                profile=profile,
                mapping=mapping,
                expected_bbox=expected_bbox,
                progress=read_progress,
                options=read_options,
            )
            rejects = ingest.rejects
            rows_read = ingest.rows_read

        if ingest is not None:  # name a database source by its masked URL, not its dump
            _relabel(ingest, labels)
        current = store.current()
        notify("merge", 0, 1)
        # Only upsert and delete build on the current snapshot; replace never reads it.
        previous = (
            read_merchant_table(current.path / "merchants.parquet")
            if current is not None and mode != "replace"
            else None
        )
        was = current.manifest if current is not None else None
        if mode == "delete":
            table, missing = _delete(previous, delete_ids, places)
            rejects = pd.concat([rejects, missing], ignore_index=True)
            loaded = len(delete_ids) - len(missing)
            dates = carried_dates(was, mode)
        else:
            assert ingest is not None
            new = ingest.table
            ingest.release_rows()  # the report kept after the load does not hold the rows
            with executing_on(on):  # the read's working sets, here and on the workers
                release_everywhere(new.nbytes)
            table = _upsert(previous, new) if mode == "upsert" else new
            dates = carried_dates(was, mode, previous, new)  # each file's "today"
            loaded = ingest.rows_loaded
        notify("merge", 1, 1)

        problem_frame = ingest.problem_rows() if ingest is not None else rejects
        try:
            written_rejects = _write_rejects(problem_frame, rejects_path, store, mode)
        except OSError as exc:
            raise SnapshotError(_not_written("the rejects file", store, exc)) from exc
        _clean_rejects(store, settings.keep_snapshots)
        summary = ingest.reject_summary() if ingest is not None else summarise_kinds(rejects)
        unpublished = LoadReport(
            mode=mode,
            snapshot=None,
            rows_read=rows_read,
            rows_loaded=loaded,
            rows_rejected=len(rejects),
            merchants_total=table.num_rows,
            rejects_path=written_rejects,
            ingest=ingest,
            reject_summary=summary,
            replaced=(None if mode != "upsert" else
                      len(new) - len(table) + (0 if previous is None else len(previous))),
            added=None if mode != "upsert" else len(table) - (len(previous) if previous else 0),
            rows_warned=ingest.rows_warned if ingest is not None else 0,
            warning_summary=(
                ingest.warning_summary()
                if ingest is not None
                else summarise_kinds(rejects.iloc[:0])
            ),
        )
        try:
            if strict and len(rejects):
                raise RejectedRowsError(
                    f"--strict: {len(rejects)} of {rows_read} rows rejected; nothing was "
                    f"published (rejects in {written_rejects})",
                    rejected=len(rejects),
                )
            if (ingest is not None and ingest.aggregated and mode == "upsert" and current
                    and current.manifest.get("members")):  # fmt: skip
                raise LoadRefusedError(  # a visit's venue replaced by this log's count alone
                    f"refused to upsert a visit log into snapshot {current.name}: its venues' "
                    "visits, visitors and repeat share and every member's history would be "
                    "this log's alone (earlier visits lost); load the whole log (every visit) "
                    f"with --mode replace; snapshot {current.name} stays current")
            _refuse_data_loss(
                mode,
                table,
                current,
                previous,
                rows=(rows_read, loaded, len(rejects)),
                rejects=written_rejects,
                max_shrink=settings.load_max_shrink,
                allow_empty=allow_empty,
                allow_shrink=allow_shrink,
            )
        except (RejectedRowsError, LoadRefusedError) as exc:
            exc.report = unpublished  # the CLI prints its tables before the error line
            raise

        writer = store.begin()
        try:
            notify("index", 0, 1)
            index, build = _build_index(table, resolution, settings, on, notify)
            notify("index", 1, 1)
            notify("write", 0, 1)
            parquet = writer.path / "merchants.parquet"
            write_merchant_table(table, parquet)
            write_row_file(table, writer.path / ROW_FILE, like=parquet)
            index.to_directory(writer.path / "index")
            index_info = {"resolution": index.resolution, "cells": len(index.cells)}
            del index  # on disk now (the text deriver reads its order from there)
            with executing_on(on):  # the index build's transients, here and on the workers
                release_everywhere(table.nbytes)
            members = _member_histories(ingest, mode, current, writer.path)
            notify("write", 1, 1)
            inputs = {"index": writer.path / "index"}
            if (dated := write_source_dates(dates, writer.path)) is not None:
                inputs["source_dates"] = dated
            with executing_on(on):  # the derivers' chunk steps run on the cluster, if any
                derived = derive_all(
                    table, writer.path / "derived", settings, inputs,
                    lambda done, total: notify("derive", done, total),
                )  # fmt: skip
            manifest = {
                "mode": mode,
                "parent": current.snapshot_id if current else None,
                "rows": {
                    "read": rows_read,
                    "loaded": loaded,
                    "rejected": len(rejects),
                    "merchants": table.num_rows,
                },
                "sources": [vars(s) for s in ingest.sources] if ingest
                else [labels.get(str(p), str(p)) for p in files],
                "rejects_file": str(written_rejects) if written_rejects else None,
                "index": index_info,
                "derived": derived,
                "members": members,
                "build": build,
            }
            notify("publish", 0, 1)
            info = writer.commit(manifest)
            notify("publish", 1, 1)
        except OSError as exc:  # a full disk, a quota, a file size limit…
            writer.abort()
            name = f"snapshot {writer.snapshot_id:06d}"
            raise SnapshotError(_not_written(name, store, exc)) from exc
        except BaseException:
            writer.abort()
            raise
        pruned = store.prune(settings.keep_snapshots)
        _clean_rejects(store, settings.keep_snapshots)

    unpublished.snapshot = info
    unpublished.pruned = pruned
    return unpublished


def _member_histories(
    ingest: IngestResult | None, mode: str, current: SnapshotInfo | None, folder: Path
) -> int | None:
    """Write a visit log's member histories (hashed ids), or carry the current snapshot's
    into an upsert or delete; the (member, merchant) rows kept, ``None`` for none."""
    if ingest is not None and ingest.members is not None:
        return write_members(ingest.members, folder)
    if mode != "replace" and current is not None and carry_members(current.path, folder):
        return int(current.manifest.get("members") or 0)
    return None


@contextlib.contextmanager
def _said_when_the_cluster_fails(store: SnapshotStore) -> Iterator[None]:
    """A :class:`ClusterError` that stops a load also says what stays current."""
    try:
        yield
    except ClusterError as exc:
        now = store.current_name()
        kept = f"snapshot {now} stays current" if now else "there is still no snapshot"
        raise ClusterError(f"{exc}; nothing was published: {kept}") from None


@contextlib.contextmanager
def _cluster_for(cluster: str | Cluster | None) -> Iterator[Cluster | None]:
    """An open cluster for the load: the one given, or one opened (and closed) here."""
    if cluster is None or not isinstance(cluster, str):
        yield cluster
        return
    from .cluster import open_cluster

    with open_cluster(cluster) as opened:
        yield opened


def _build_index(
    table: pa.Table,
    resolution: int | None,
    settings: Settings,
    cluster: Cluster | None,
    notify: Progress,
) -> tuple[CellIndex, dict[str, Any]]:
    """The snapshot's index, in this process or on ``cluster``; and how it was built."""
    res = resolution if resolution is not None else settings.index_resolution
    if cluster is None:
        index = build_cell_index(
            table.column("lat").to_numpy(),
            table.column("lng").to_numpy(),
            table.column("merchant_id"),  # ranked by Arrow: no Python string per id
            resolution=res,
            target_per_cell=settings.index_target_per_cell,
        )
        return index, {"cluster": None}
    from .cluster import build_index_on

    if res is None:
        lat = np.ascontiguousarray(table.column("lat").to_numpy(), dtype=np.float64)
        lng = np.ascontiguousarray(table.column("lng").to_numpy(), dtype=np.float64)
        res = h3cells.choose_resolution(lat, lng, settings.index_target_per_cell)
    index, partitions = build_index_on(cluster, table, int(res), progress=notify)
    return index, {"cluster": str(cluster.spec), "workers": build_workers(cluster),
                   "partitions": partitions}


def _relabel(ingest: IngestResult, labels: Mapping[str, str]) -> None:
    """A database source's report, rows, rejects and warnings name its masked URL (its
    rejects said ``shops.csv:3``, the file name of its temporary dump; their line numbers
    stay the dump's: line 2 is the first row)."""
    for source in ingest.sources:
        source.path = labels.get(source.path, source.path)
    names = {Path(dump).name: label for dump, label in labels.items()}
    if not names:
        return
    for frame in (ingest.rejects, ingest.warnings):
        if len(frame):
            frame["source_file"] = frame["source_file"].replace(names)
    col = ingest.table.column("source_file")
    for name, label in names.items():
        col = pc.if_else(pc.equal(col, name), pa.scalar(label, col.type), col)
    at = ingest.table.schema.get_field_index("source_file")
    ingest.table = ingest.table.set_column(at, ingest.table.schema.field(at), col)


def build_workers(cluster: Any) -> int:
    """The workers a cluster load ran on, for its manifest: a ``local:N`` cluster's N
    (those connected when it ends said 0 when a nanny was restarting the one worker)."""
    return max(cluster.workers, cluster.spec.workers)


def _by_source(table: pa.Table) -> dict[str, int]:
    counts = pc.value_counts(table.column("source")).to_pylist() if table.num_rows else []
    return {c["values"]: int(c["counts"]) for c in counts}


def _refuse_data_loss(
    mode: str,
    table: pa.Table,
    current: SnapshotInfo | None,
    previous: pa.Table | None,
    *,
    rows: tuple[int, int, int],
    rejects: Path | None,
    max_shrink: float,
    allow_empty: bool,
    allow_shrink: bool,
) -> None:
    """Raise :class:`LoadRefusedError` when publishing would lose the data being served:
    no merchant left, or a replace or delete dropping more than ``max_shrink`` of the
    current snapshot's merchants, in all or of any one source while others stay (a
    source left out of a replace whose other sources grew was published without a word).
    A replace sharing no source with the current snapshot loads another data set: only
    the total counts."""
    merchants = table.num_rows
    read, loaded, rejected = rows
    counts = f"rows read {read} = loaded {loaded} + rejected {rejected}"
    if rejects is not None:
        counts += f"; every rejected row with its reason is in {rejects}"
    kept = (
        f"snapshot {current.name} ({snapshot_merchants(current.manifest)} merchants) stays current"
        if current is not None
        else "nothing was published"
    )
    if merchants == 0 and not allow_empty:
        if mode == "delete" and loaded:
            why = f"it deletes every merchant of the snapshot: {loaded} ids"
        elif rejected:
            why = "the rejects file says why each row was rejected"
        else:
            why = "the files hold no data row"
        raise LoadRefusedError(
            f"refused to publish an empty snapshot: the {mode} load leaves 0 merchants "
            f"({counts}); {kept}. Fix the input ({why}), or pass --allow-empty to publish "
            "it anyway"
        )
    if mode != "replace" and current is not None and loaded == 0 and not allow_empty:
        # a copy of the same data would move CURRENT (a rollback would undo nothing) and
        # push an older snapshot out of retention
        why = "the rejects file says why each row was rejected" if rejected else "no data row"
        raise LoadRefusedError(
            f"refused to publish: the {mode} load accepted no row ({counts}), so it would "
            f"change nothing; {kept}. Fix the input ({why}), or pass --allow-empty to "
            "publish it anyway"
        )
    if mode == "upsert" or current is None or allow_shrink or merchants == 0:
        return  # (an empty snapshot got here only through allow_empty: the drop is meant)
    verb = "replace" if mode == "replace" else "delete from"
    before = snapshot_merchants(current.manifest)
    drops = [(f"it has {before} merchants and the new one {merchants}", before, merchants)]
    if max_shrink < 1:  # per source: the current rows' sources (replace never read them)
        try:
            had = _by_source(previous if previous is not None else pq.read_table(
                current.path / "merchants.parquet", columns=["source"]))  # fmt: skip
        except (OSError, pa.ArrowException):  # unreadable: the total's check stands alone
            had = {}
        now = _by_source(table)
        if not had.keys() & now.keys():  # no source kept: another data set, not a part lost
            had = {}
        drops += [(f"its {n} merchants of source {name!r} would be {now.get(name, 0)}", n,
                   now.get(name, 0)) for name, n in sorted(had.items())]  # fmt: skip
    for what, was, left in drops:
        if was and left < was * (1.0 - max_shrink):
            drop = f"{1.0 - left / was:.0%}"  # 50.3 % is not "50 %, more than 0.5 allows"
            drop = drop if drop != f"{max_shrink:.0%}" else f"{1.0 - left / was:.1%}"
            raise LoadRefusedError(
                f"refused to {verb} snapshot {current.name}: {what}, a drop of "
                f"{drop}, more than load_max_shrink={max_shrink:g} allows "
                f"({counts}); {kept}. Pass --allow-shrink if the drop is intended, or set "
                "GEO_DISCOVERY_LOAD_MAX_SHRINK"
            )


def _upsert(previous: pa.Table | None, new: pa.Table) -> pa.Table:
    if previous is None or previous.num_rows == 0:
        return new
    keep = pc.invert(pc.is_in(previous.column("merchant_id"), value_set=new.column("merchant_id")))
    return pa.concat_tables([previous.filter(keep), new]).combine_chunks()


def _delete(
    previous: pa.Table | None, ids: list[str], places: list[tuple[str, int]]
) -> tuple[pa.Table, pd.DataFrame]:
    if previous is None:
        previous = ARROW_SCHEMA.empty_table()
    present = pc.is_in(pa.array(ids, pa.string()), value_set=previous.column("merchant_id"))
    gone = [j for j, ok in enumerate(present.to_pylist()) if not ok]
    missing = [ids[j] for j in gone]
    keep = pc.invert(pc.is_in(previous.column("merchant_id"), value_set=pa.array(ids, pa.string())))
    missing_frame = problem_rows(
        [places[j][0] for j in gone],
        [places[j][1] for j in gone],
        missing,
        [(["merchant_id not in the current snapshot; nothing to delete"], [])] * len(missing),
        missing,
        severity="error",
    )
    return previous.filter(keep), missing_frame


_REJECTS_DIR = "rejects"
_TMP_PREFIX = ".tmp-"


def _not_written(what: str, store: SnapshotStore, exc: OSError) -> str:
    """Why a load stopped while writing, where, and what is served now."""
    full = getattr(exc, "errno", None) in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG) or (
        "requested and" in str(exc) and "written" in str(exc)  # NumPy's short write
    )
    current = store.current_name()
    return (
        f"cannot write {what} in {store.data_dir}: {exc}"
        + (" (no space left on the device, or a quota or file size limit)" if full else "")
        + "; nothing was published: "
        + (f"snapshot {current} stays current" if current else "there is still no snapshot")
    )


def _write_rejects(
    rejects: pd.DataFrame, rejects_path: str | Path | None, store: SnapshotStore, mode: str
) -> Path | None:
    if rejects_path is not None:
        return write_rejects(rejects, rejects_path)
    if len(rejects) == 0:
        return None
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    final = store.data_dir / _REJECTS_DIR / f"{stamp}-{mode}.csv"
    # Written under a temporary name: a load killed while writing leaves only a
    # temporary, which the next load removes.
    tmp = write_rejects(rejects, final.with_name(f"{_TMP_PREFIX}{final.name}"))
    os.replace(tmp, final)
    return final


def _clean_rejects(store: SnapshotStore, keep: int) -> list[str]:
    """Remove temporaries of killed loads, and default rejects files no kept snapshot
    names beyond the ``keep`` newest (call under the store's lock)."""
    folder = store.data_dir / _REJECTS_DIR
    if not folder.is_dir():
        return []
    removed = []
    for tmp in folder.glob(f"{_TMP_PREFIX}*"):
        tmp.unlink(missing_ok=True)
        removed.append(tmp.name)
    named = {Path(str(s.manifest.get("rejects_file") or "")).name for s in store.list()}
    ours = sorted(
        (p for p in folder.glob("*-*.csv") if p.stem.rsplit("-", 1)[-1] in LOAD_MODES),
        reverse=True,
    )
    orphans = [p for p in ours if p.name not in named]
    for old in orphans[keep:]:
        old.unlink(missing_ok=True)
        removed.append(old.name)
    return removed
