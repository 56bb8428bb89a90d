"""What an ingest returns: the canonical merchants, the rejects, and per-file reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..errors import IngestError
from ..schema import CANONICAL_COLUMNS
from .validate import reason_kinds

__all__ = ["REJECT_COLUMNS", "IngestResult", "SourceReport", "empty_rejects", "write_rejects"]

#: Columns of :attr:`IngestResult.rejects` (``raw`` is the row's original text).
REJECT_COLUMNS: tuple[str, ...] = ("source_file", "source_line", "merchant_id", "reason", "raw")


def empty_rejects() -> pd.DataFrame:
    """An empty rejects frame with the right columns and dtypes."""
    return pd.DataFrame(
        {
            "source_file": pd.Series(dtype=object),
            "source_line": pd.Series(dtype="Int64"),
            "merchant_id": pd.Series(dtype=object),
            "reason": pd.Series(dtype=object),
            "raw": pd.Series(dtype=object),
        }
    )


@dataclass
class SourceReport:
    """One input file: identity (path, SHA-256, size), profile used, and row counts."""

    path: str
    sha256: str
    bytes: int
    profile: str
    rows_read: int
    rows_loaded: int
    rows_rejected: int


@dataclass
class IngestResult:
    """The outcome of :func:`~geo_discovery.ingest.read_sources`.

    ``merchants`` has exactly :data:`~geo_discovery.schema.CANONICAL_COLUMNS` with the
    dtypes of :func:`~geo_discovery.schema.empty_frame` and unique ``merchant_id``;
    ``rejects`` has :data:`REJECT_COLUMNS`. ``rows_read == rows_loaded + rows_rejected``
    always holds (checked on construction).

    Examples
    --------
    >>> from geo_discovery.schema import empty_frame
    >>> r = IngestResult(empty_frame(), empty_rejects(), [])
    >>> (r.rows_read, r.rows_loaded, r.rows_rejected)
    (0, 0, 0)
    """

    merchants: pd.DataFrame
    rejects: pd.DataFrame
    sources: list[SourceReport] = field(default_factory=list)

    def __post_init__(self) -> None:
        if tuple(self.merchants.columns) != CANONICAL_COLUMNS:
            raise ValueError("merchants must have exactly schema.CANONICAL_COLUMNS, in order")
        if tuple(self.rejects.columns) != REJECT_COLUMNS:
            raise ValueError(f"rejects must have exactly the columns {REJECT_COLUMNS}")
        loaded = sum(s.rows_loaded for s in self.sources)
        rejected = sum(s.rows_rejected for s in self.sources)
        read = sum(s.rows_read for s in self.sources)
        if self.sources and (loaded, rejected) != (len(self.merchants), len(self.rejects)):
            raise ValueError(
                f"source reports count {loaded} loaded / {rejected} rejected rows but the "
                f"frames hold {len(self.merchants)} / {len(self.rejects)}"
            )
        if read != loaded + rejected:
            raise ValueError(f"rows read {read} != loaded {loaded} + rejected {rejected}")

    @property
    def rows_read(self) -> int:
        """Data rows read over all files (blank lines are not rows)."""
        if not self.sources:
            return len(self.merchants) + len(self.rejects)
        return sum(s.rows_read for s in self.sources)

    @property
    def rows_loaded(self) -> int:
        """Rows that passed every check: ``len(merchants)``."""
        return len(self.merchants)

    @property
    def rows_rejected(self) -> int:
        """Rows quarantined in ``rejects``."""
        return len(self.rejects)

    def write_rejects(self, path: str | Path) -> Path:
        """Write the rejects to ``.csv``, ``.csv.gz`` or ``.parquet`` (by extension).

        Parent folders are created. Returns the path written.
        """
        return write_rejects(self.rejects, path)

    def reject_summary(self) -> pd.DataFrame:
        """Rejected rows per ``(source_file, reason_kind)``, most frequent first.

        A row with problems of several kinds counts once under each kind, so the
        ``rows`` of one file can add up to more than its rejected rows.
        """
        if self.rejects.empty:
            return pd.DataFrame(
                {
                    "source_file": pd.Series(dtype=object),
                    "reason_kind": pd.Series(dtype=object),
                    "rows": pd.Series(dtype="int64"),
                }
            )
        kinds = self.rejects["reason"].map(reason_kinds)
        exploded = pd.DataFrame(
            {"source_file": self.rejects["source_file"], "reason_kind": kinds}
        ).explode("reason_kind")
        counts = (
            exploded.groupby(["source_file", "reason_kind"], sort=False)
            .size()
            .rename("rows")
            .reset_index()
        )
        counts = counts.sort_values(
            ["source_file", "rows", "reason_kind"], ascending=[True, False, True]
        )
        return counts.astype(
            {"source_file": object, "reason_kind": object, "rows": "int64"}
        ).reset_index(drop=True)


def write_rejects(rejects: pd.DataFrame, path: str | Path) -> Path:
    """Write a rejects frame to ``.csv``, ``.csv.gz`` or ``.parquet`` (by extension).

    Parent folders are created. Returns the path written.
    """
    out = Path(path)
    name = out.name.lower()
    if not name.endswith((".csv", ".csv.gz", ".parquet")):
        raise IngestError(f"rejects path {str(out)!r} must end in .csv, .csv.gz or .parquet")
    out.parent.mkdir(parents=True, exist_ok=True)
    if name.endswith(".parquet"):
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema = pa.schema(
            [
                ("source_file", pa.string()),
                ("source_line", pa.int64()),
                ("merchant_id", pa.string()),
                ("reason", pa.string()),
                ("raw", pa.string()),
            ]
        )
        pq.write_table(pa.Table.from_pandas(rejects, schema=schema, preserve_index=False), out)
    else:
        rejects.to_csv(out, index=False)
    return out
