"""Merchant columns as the planner reads them: float arrays with NaN for missing, and
per-merchant signals on [0, 1] with a neutral value where unknown."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

__all__ = ["aligned_unit", "float_column"]


def float_column(table: pa.Table, name: str) -> NDArray[np.float64]:
    if name not in table.column_names:
        return np.full(table.num_rows, np.nan)
    col = pc.cast(table.column(name), pa.float64())
    return np.asarray(pc.fill_null(col, np.nan).to_numpy(zero_copy_only=False), dtype=np.float64)


def aligned_unit(values: Any, n: int, neutral: float) -> NDArray[np.float64]:
    if values is None:
        return np.full(n, neutral, dtype=np.float64)
    arr = np.asarray(values, dtype=np.float64)
    return np.where(np.isfinite(arr), np.clip(arr, 0.0, 1.0), neutral)
