"""Load-time derivations stored inside a snapshot (word of mouth, hours, districts…).

A *deriver* computes something from the finished merchant table and writes it into its
own folder ``SNAPSHOT/derived/<name>/``. Derivers run in the order of :func:`derivers`
during a load, inside the snapshot's temporary folder, so their output is published
atomically with the merchants; a later deriver may read an earlier one's folder through
``upstream``. Each returns a small JSON-able dict that goes into the manifest.

The domain modules define *what* is derived (:mod:`geo_discovery.ranking.reputation`,
:mod:`geo_discovery.ranking.hours`, :mod:`geo_discovery.districts.detect`,
:mod:`geo_discovery.search.textindex`); this module only says in which order (and hands
the text index the taxonomy's category words), so imports point one way: ``snapshot →
ranking, districts, search, ingest``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from .. import parallel
from ..settings import Settings

if TYPE_CHECKING:
    from ..search.textindex import TextIndex

__all__ = ["Deriver", "build_text", "derive_all", "derive_text", "derivers"]

Deriver = Callable[[pa.Table, Path, Settings, Mapping[str, Path]], dict[str, Any]]
"""``deriver(merchants, out_dir, settings, upstream) -> manifest info``."""


def derivers() -> tuple[tuple[str, Deriver], ...]:
    """``(name, deriver)`` pairs in the order they run."""
    from ..districts.detect import derive_districts
    from ..ranking.hours import derive_hours
    from ..ranking.reputation import derive_reputation

    return (
        ("reputation", derive_reputation),
        ("hours", derive_hours),
        ("text", derive_text),
        ("districts", derive_districts),
    )


def build_text(merchants: pa.Table, order: NDArray) -> TextIndex:
    """The text index of a merchant table in a spatial index's cell ``order``
    (``CellIndex.positions``), with the taxonomy's category words and labels."""
    from ..ingest.taxonomy import category_label, category_synonyms
    from ..search.textindex import build_text_index

    return build_text_index(merchants, order, synonyms=category_synonyms(), label=category_label)


def derive_text(
    merchants: pa.Table, out_dir: Path, settings: Settings, upstream: Mapping[str, Path]
) -> dict[str, Any]:
    """Deriver: the text index (:mod:`geo_discovery.search.textindex`) in the cell order
    of the snapshot's spatial index (``upstream["index"]``); reports its size."""
    if "index" not in upstream:
        raise ValueError("the text deriver needs the snapshot's spatial index (upstream 'index')")
    order = np.load(Path(upstream["index"]) / "positions.npy", mmap_mode="r")
    index = build_text(merchants, order)
    index.to_directory(out_dir)
    return index.summary()


def derive_all(
    merchants: pa.Table,
    out_dir: Path,
    settings: Settings,
    inputs: Mapping[str, Path] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Run every deriver in order; return ``{name: manifest info}``.

    ``inputs``: folders every deriver may read besides the earlier derivers' (the load
    passes the snapshot's spatial ``index``). ``progress(done, total)``: derivers done, of
    all, before the first and after each one (a load's ``derive`` bar).
    """
    upstream: dict[str, Path] = dict(inputs or {})
    info: dict[str, Any] = {}
    # The text index needs only the table and the spatial order: on a cluster it is
    # built on a worker while word of mouth and hours run here (in this process, when
    # its turn comes: the same function on the same input either way).
    steps = derivers()
    text = _start_text(merchants, upstream) if "text" in dict(steps) else None
    tell = progress or (lambda done, total: None)
    tell(0, len(steps))
    for done, (name, fn) in enumerate(steps, 1):
        target = out_dir / name
        target.mkdir(parents=True, exist_ok=True)
        if name == "text" and text is not None:
            index = text()
            index.to_directory(target)
            info[name] = index.summary()
            del index  # on disk: not held while the districts run (0.6 GB at 10M rows)
        else:
            info[name] = fn(merchants, target, settings, dict(upstream))
        upstream[name] = target
        # what the step freed, handed back here and on the workers (on a cluster the
        # text index is collected before the districts, so its worker is lean again)
        parallel.release_everywhere(merchants.nbytes)
        tell(done, len(steps))
    return info


_TEXT_COLUMNS = ("name", "brand", "address", "category")


def _start_text(
    merchants: pa.Table, upstream: Mapping[str, Path]
) -> Callable[[], TextIndex] | None:
    if "index" not in upstream:
        return None
    from ..search.textindex import cuisines

    index = Path(upstream["index"])

    def inputs() -> tuple[pa.Table, NDArray]:
        # the text columns and each row's cuisine (not the whole attributes JSON: 140 MB
        # of the 181 MB a worker would get at 1M rows), and the spatial order
        cols = merchants.select([c for c in _TEXT_COLUMNS if c in merchants.column_names])
        cols = cols.append_column("cuisine", pa.array(cuisines(merchants), pa.string()))
        return cols, np.load(index / "positions.npy")

    if parallel.current_executor() is None:  # here: made when its turn comes, as before
        return lambda: build_text(*inputs())
    return parallel.start(build_text, *inputs())
