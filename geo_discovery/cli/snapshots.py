"""``geo-discovery snapshots``, ``rollback``, ``stats`` and ``profiles``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ..errors import SnapshotError, SnapshotNotFoundError
from .common import DataDirOption, fmt, handle_errors, open_engine, settings_for, stdout_console
from .load import source_label

__all__ = ["profiles", "rollback", "snapshots", "stats"]


@handle_errors
def snapshots(data_dir: DataDirOption = None) -> None:
    """List the snapshots kept in the data dir, oldest first; * marks the current one, and
    "never published" one a load wrote but was stopped before making current.

    **Example**

    * `geo-discovery snapshots --data-dir ./data/store`
    """
    from ..snapshot.store import SnapshotStore

    settings = settings_for(data_dir)
    store = SnapshotStore(settings.data_dir)
    snaps = store.list()
    out = stdout_console()
    named = store.current_name()
    if named is not None and not any(s.is_current for s in snaps):  # gone or unreadable
        typer.echo(f"warning: CURRENT names {named}, which is not a readable snapshot here; "
                   "make one current with `geo-discovery rollback` (what was served before "
                   "it) or `rollback --to ID`", err=True)  # fmt: skip
    if not snaps:
        out.print(f"no snapshots in {settings.data_dir}; run `geo-discovery load FILE`")
        return
    table = Table(title=f"Snapshots in {settings.data_dir}")
    for col, right in (
        ("id", False),
        ("current", False),
        ("created", False),
        ("mode", False),
        ("merchants", True),
        ("read", True),
        ("loaded", True),
        ("rejected", True),
        ("sources", False),
    ):
        table.add_column(col, justify="right" if right else "left")
    for s in snaps:
        m = s.manifest
        rows = m.get("rows", {})
        table.add_row(
            s.name,
            "*" if s.is_current else "never published" if s.published is False else "",
            str(m.get("created_at", "")).replace("T", " ")[:19],
            str(m.get("mode", "")),
            *(fmt(rows.get(k, "")) for k in ("merchants", "read", "loaded", "rejected")),
            ", ".join(source_label(x) for x in m.get("sources", [])),
        )
    out.print(table)


@handle_errors
def rollback(
    to: Annotated[
        int | None,
        typer.Option("--to", help="Snapshot id to make current. Default: the one served "
                     "before the current one (the snapshot its load replaced) if still kept "
                     "and readable, else the newest older one that was ever current."),
    ] = None,
    wait: Annotated[
        float,
        typer.Option("--wait", help="Seconds to wait for a load writing to the store (0: fail "
                     "at once).", min=0.0),
    ] = 0.0,
    data_dir: DataDirOption = None,
) -> None:
    """Make an older snapshot current again (atomically; nothing is deleted). The target is
    opened and every part read first: a damaged one is refused and the current one stays.
    Without --to, the snapshot served before the current one: the one the current
    snapshot's load replaced (never one you had rolled back away from); if that one is gone
    or damaged, the newest older snapshot that was ever current (not one a stopped load
    left behind, nor one rolled back away from). Prints the merchants of both, so a
    rollback to much less data is seen.

    **Examples**

    * `geo-discovery rollback`
    * `geo-discovery rollback --to 3 --data-dir ./data/store`
    """
    from ..snapshot.snapshot import Snapshot
    from ..snapshot.store import SnapshotInfo, SnapshotStore, snapshot_merchants

    folder = Path(settings_for(data_dir).data_dir).expanduser()
    if not folder.is_dir():  # refused before the lock, which would make the folder
        raise SnapshotNotFoundError(
            f"nothing to roll back: there is no current snapshot (no data dir {folder})"
        )
    store = SnapshotStore(folder)
    replaced: list[tuple[str | None, SnapshotInfo | None]] = [(store.current_name(), None)]
    refused: list[tuple[str, str]] = []

    def check(path: Path) -> None:
        # Called under the store's lock just before CURRENT moves: what is current now is
        # what the rollback replaces, even if a load finished while it waited for the lock.
        try:
            replaced[0] = (store.current_name(), store.current())
        except SnapshotError:  # CURRENT names something unusable: rollback mends it
            replaced[0] = (store.current_name(), None)
        try:
            Snapshot.open(path).check()
        except SnapshotError as exc:
            refused.append((path.name, str(exc)))
            raise

    info = store.rollback(to, wait_s=wait, check=check)
    before, was = replaced[0]
    for name, why in refused:  # the snapshot the current one replaced: damaged, passed by
        stdout_console().print(f"passed by snapshot {name}, which is damaged: {why}",
                               markup=False)  # fmt: skip
    if info.name == before:  # --to the current one: nothing moved
        stdout_console().print(f"snapshot {info.name} is already current; nothing changed")
        return
    counts = f"{fmt(snapshot_merchants(info.manifest))} merchants"
    if was is not None:
        counts += f" (was {fmt(snapshot_merchants(was.manifest))})"
    stdout_console().print(f"current snapshot: {info.name} (was {before or 'none'}): {counts}")


@handle_errors
def stats(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
    data_dir: DataDirOption = None,
) -> None:
    """Counts per source and top-level category, bounds and index facts of the current snapshot.

    **Examples**

    * `geo-discovery stats`
    * `geo-discovery stats --json --data-dir ./data/store`
    """
    engine = open_engine(data_dir)
    facts = engine.stats()
    if engine.snapshot is not None:
        rows = engine.snapshot.manifest.get("rows", {})
        facts["rows"] = rows
    if as_json:
        typer.echo(json.dumps(facts, indent=2, default=str))
        return
    out = stdout_console()
    out.print(
        f"snapshot {facts['snapshot']}: {facts['merchants']:,} merchants, "
        f"{facts['categories']:,} categories"
    )
    if facts.get("bounds"):
        b = facts["bounds"]
        out.print(
            f"bounds: south {b['south']:.5f}, west {b['west']:.5f}, "
            f"north {b['north']:.5f}, east {b['east']:.5f}"
        )
    idx = facts["index"]
    out.print(
        f"index: H3 resolution {idx['resolution']}, {idx['cells']:,} cells, "
        f"{idx['bytes_per_merchant']:.0f} bytes/merchant"
    )
    for title, key, header in (
        ("Merchants by source", "sources", "source"),
        ("Top-level categories", "top_categories", "category"),
    ):
        table = Table(title=title)
        table.add_column(header)
        table.add_column("merchants", justify="right")
        for name, n in facts[key].items():
            table.add_row(name, fmt(n))
        out.print(table)


@handle_errors
def profiles(data_dir: DataDirOption = None) -> None:
    """List the built-in ingest profiles (what `load --profile` accepts).

    **Example**

    * `geo-discovery profiles`
    """
    from ..ingest import list_profiles

    settings_for(data_dir)
    table = Table(title="Ingest profiles")
    table.add_column("profile")
    table.add_column("description")
    for p in list_profiles():
        table.add_row(p.name, p.description)
    table.add_row("checkins", "visit logs (check-ins), one row per visit: user, venue, lat, lng, "
                  "category, time (or Foursquare's TSMC2014 export); visits count into one "
                  "merchant per venue, before --until, and keep each member's history")
    stdout_console().print(table)


