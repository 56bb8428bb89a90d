"""Compare two snapshot folders file by file: the check behind "the same snapshot".

Arrays (``.npy``) compare by dtype, shape and value (NaN equal to NaN), Parquet tables
by content, any other file by bytes; ``manifest.json`` is left out (it records when and
how a snapshot was built).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

__all__ = ["snapshot_differences"]


def snapshot_differences(a: str | Path, b: str | Path) -> list[str]:
    """Relative paths of the files that differ between snapshot folders ``a`` and ``b``
    (a file present in only one counts); empty when they hold the same data."""
    a, b = Path(a), Path(b)
    files_a = {p.relative_to(a) for p in a.rglob("*") if p.is_file()}
    files_b = {p.relative_to(b) for p in b.rglob("*") if p.is_file()}
    diffs = [f"only in one: {p}" for p in sorted(files_a ^ files_b)]
    for rel in sorted(files_a & files_b):
        if rel.name == "manifest.json":
            continue
        x, y = a / rel, b / rel
        if rel.suffix == ".npy":
            u, v = np.load(x, allow_pickle=False), np.load(y, allow_pickle=False)
            same = u.dtype == v.dtype and u.shape == v.shape and bool(
                np.array_equal(u, v, equal_nan=u.dtype.kind in "fc")
            )
        elif rel.suffix == ".parquet":
            same = pq.read_table(x).equals(pq.read_table(y))
        else:
            same = x.read_bytes() == y.read_bytes()
        if not same:
            diffs.append(str(rel))
    return diffs
