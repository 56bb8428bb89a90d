"""What an ingest returns: the canonical merchants, the rejects, and per-file reports.

Every problem row goes to one rejects file, one line per source row: ``severity`` is
``error`` for a rejected row and ``warning`` for a loaded row with a field left empty;
``kind`` is the kind of the row's first problem (what the summary tables count, so a
row with two problems counts once); ``reason`` lists every problem of the row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from ..errors import IngestError
from ..schema import CANONICAL_COLUMNS, from_arrow
from .validate import reason_kinds

__all__ = [
    "REJECT_COLUMNS",
    "IngestResult",
    "SourceReport",
    "empty_rejects",
    "problem_rows",
    "summarise_kinds",
    "write_rejects",
]

#: Columns of :attr:`IngestResult.rejects` (``raw`` is the row's original text).
REJECT_COLUMNS: tuple[str, ...] = (
    "source_file",
    "source_line",
    "merchant_id",
    "severity",
    "kind",
    "reason",
    "raw",
)


def empty_rejects() -> pd.DataFrame:
    """An empty rejects frame with the right columns and dtypes."""
    return pd.DataFrame(
        {c: pd.Series(dtype="Int64" if c == "source_line" else object) for c in REJECT_COLUMNS}
    )


def problem_rows(
    source_file: Any,
    source_line: Any,
    merchant_id: Any,
    details: Any,
    raw: Sequence[str],
    *,
    severity: str,
) -> pd.DataFrame:
    """A rejects frame from per-row ``(errors, warnings)`` message lists (``details``).

    Examples
    --------
    >>> f = problem_rows(["a.csv"], [3], [None], [(["empty name"], ["x 'y' is not a date"])],
    ...                  ["3,,y"], severity="error")
    >>> f[["kind", "reason"]].values.tolist()
    [['empty name', "empty name; x 'y' is not a date"]]
    """
    kinds = [
        _row_kind(errors[0] if severity == "error" else warnings[0], severity)
        for errors, warnings in details
    ]
    frame = pd.DataFrame(
        {
            "source_file": pd.Series(list(source_file), dtype=object),
            "source_line": pd.array(list(source_line), dtype="Int64"),
            "merchant_id": pd.Series(list(merchant_id), dtype=object),
            "severity": pd.Series([severity] * len(kinds), dtype=object),
            "kind": pd.Series(kinds, dtype=object),
            "reason": pd.Series(["; ".join(e + w) for e, w in details], dtype=object),
            "raw": pd.Series(list(raw), dtype=object),
        }
    )
    return frame.loc[:, list(REJECT_COLUMNS)]


def _row_kind(message: str, severity: str) -> str:
    kind = reason_kinds(message)[0]
    if severity == "warning":
        return f"{kind} ({message.split(' ', 1)[0]})"
    return kind


@dataclass
class SourceReport:
    """One input file: identity (path, SHA-256, size), profile used, and row counts.

    ``rows_warned`` loaded rows have a field left empty; ``rating_scale`` says which
    scale the file's ratings were read on (``"0–5 (inferred)"``, ``""`` without
    ratings); ``notes`` are sentences about how ambiguous values were read.
    """

    path: str
    sha256: str
    bytes: int
    profile: str
    rows_read: int
    rows_loaded: int
    rows_rejected: int
    rows_warned: int = 0
    rating_scale: str = ""
    notes: list[str] = field(default_factory=list)


@dataclass
class IngestResult:
    """The outcome of :func:`~geo_discovery.ingest.read_sources`.

    ``table`` holds the loaded rows as Arrow (:data:`~geo_discovery.schema.ARROW_SCHEMA`,
    unique ``merchant_id``); :attr:`merchants` is the same rows as a pandas frame with
    the dtypes of :func:`~geo_discovery.schema.empty_frame`, converted on each access.
    ``rejects`` (rejected rows) and ``warnings`` (loaded rows with a field left empty)
    have :data:`REJECT_COLUMNS`. ``rows_read == rows_loaded + rows_rejected`` always
    holds (checked on construction). ``aggregated``: the rows are events (visits) that
    were counted into the merchants (one per venue), so ``rows_loaded`` counts rows, not
    merchants.

    Examples
    --------
    >>> from geo_discovery.schema import empty_frame, to_arrow
    >>> r = IngestResult(to_arrow(empty_frame()), empty_rejects(), [])
    >>> (r.rows_read, r.rows_loaded, r.rows_rejected)
    (0, 0, 0)
    """

    table: pa.Table
    rejects: pd.DataFrame
    sources: list[SourceReport] = field(default_factory=list)
    warnings: pd.DataFrame = field(default_factory=empty_rejects)
    aggregated: bool = False
    #: From a visit log: ``member, merchant_id, visits, last_visit`` per member and merchant
    #: (raw member ids: the snapshot hashes them, :mod:`geo_discovery.snapshot.members`).
    members: pd.DataFrame | None = None
    #: Rows of ``table`` before :meth:`release_rows` emptied it (``None``: not emptied).
    released_rows: int | None = field(default=None, init=False, repr=False)

    @property
    def merchants(self) -> pd.DataFrame:
        """The loaded rows as a canonical pandas frame (a new frame on each access)."""
        return from_arrow(self.table)

    def release_rows(self) -> None:
        """Drop the loaded rows (``table`` becomes an empty table of the same schema)
        once they live elsewhere (a load hands them to the index and the snapshot
        files); the counts, the sources, rejects, warnings and members stay, so a
        report kept after the load does not hold the rows.

        >>> from geo_discovery.schema import empty_frame, to_arrow
        >>> r = IngestResult(to_arrow(empty_frame()), empty_rejects(), [])
        >>> r.release_rows(); (r.rows_loaded, len(r.merchants), r.released_rows)
        (0, 0, 0)
        """
        if self.released_rows is None:
            self.released_rows = self.table.num_rows
        self.table = self.table.schema.empty_table()

    def __post_init__(self) -> None:
        if tuple(self.table.column_names) != CANONICAL_COLUMNS:
            raise ValueError("merchants must have exactly schema.CANONICAL_COLUMNS, in order")
        for frame in (self.rejects, self.warnings):
            if tuple(frame.columns) != REJECT_COLUMNS:
                raise ValueError(f"rejects must have exactly the columns {REJECT_COLUMNS}")
        loaded = sum(s.rows_loaded for s in self.sources)
        rejected = sum(s.rows_rejected for s in self.sources)
        read = sum(s.rows_read for s in self.sources)
        merchants = loaded if self.aggregated else self.table.num_rows
        if self.sources and (loaded, rejected) != (merchants, len(self.rejects)):
            raise ValueError(
                f"source reports count {loaded} loaded / {rejected} rejected rows but the "
                f"frames hold {self.table.num_rows} / {len(self.rejects)}"
            )
        if read != loaded + rejected:
            raise ValueError(f"rows read {read} != loaded {loaded} + rejected {rejected}")

    @property
    def rows_read(self) -> int:
        """Data rows read over all files (blank lines are not rows)."""
        if not self.sources:
            return self._kept() + len(self.rejects)
        return sum(s.rows_read for s in self.sources)

    def _kept(self) -> int:
        return self.released_rows if self.released_rows is not None else self.table.num_rows

    @property
    def rows_loaded(self) -> int:
        """Rows that passed every check: ``table.num_rows`` (or the rows counted into
        them when ``aggregated``; the rows it held before :meth:`release_rows`)."""
        if self.aggregated:
            return sum(s.rows_loaded for s in self.sources)
        return self._kept()

    @property
    def rows_rejected(self) -> int:
        """Rows quarantined in ``rejects``."""
        return len(self.rejects)

    @property
    def rows_warned(self) -> int:
        """Loaded rows with a field left empty (one WARNING row each in the rejects file)."""
        return len(self.warnings)

    def problem_rows(self) -> pd.DataFrame:
        """Rejected and warned rows together, in file and line order: the rejects file."""
        if self.warnings.empty:
            return self.rejects
        both = pd.concat([self.rejects, self.warnings], ignore_index=True)
        order = {
            name: i
            for i, name in enumerate(
                dict.fromkeys(
                    [Path(s.path).name for s in self.sources] + both["source_file"].tolist()
                )
            )
        }
        key = both["source_file"].map(order)
        both = both.assign(_f=key).sort_values(["_f", "source_line"], kind="stable")
        return both.drop(columns="_f").reset_index(drop=True)

    def write_rejects(self, path: str | Path) -> Path:
        """Write the rejected and warned rows to ``.csv``, ``.csv.gz`` or ``.parquet``.

        Parent folders are created. Returns the path written.
        """
        return write_rejects(self.problem_rows(), path)

    def reject_summary(self) -> pd.DataFrame:
        """Rejected rows per ``(source_file, reason_kind)``, most frequent first.

        A row counts once, under the kind of its first problem (``kind``): the ``rows``
        of one file add up to its rejected rows.
        """
        return summarise_kinds(self.rejects)

    def warning_summary(self) -> pd.DataFrame:
        """Warned rows per ``(source_file, reason_kind)``; each row counts once."""
        return summarise_kinds(self.warnings)


def summarise_kinds(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows per ``(source_file, kind)`` of a rejects frame, most frequent first, with the
    first such row as an example (``example_line``, ``example``: its whole reason)."""
    if rows.empty:
        return pd.DataFrame(
            {
                "source_file": pd.Series(dtype=object),
                "reason_kind": pd.Series(dtype=object),
                "rows": pd.Series(dtype="int64"),
                "example_line": pd.Series(dtype="Int64"),
                "example": pd.Series(dtype=object),
            }
        )
    groups = rows.groupby(["source_file", "kind"], sort=False)
    counts = groups.size().rename("rows").to_frame()
    first = groups.first()
    counts["example_line"] = first["source_line"]
    counts["example"] = first["reason"]
    counts = counts.reset_index().rename(columns={"kind": "reason_kind"})
    counts = counts.sort_values(
        ["source_file", "rows", "reason_kind"], ascending=[True, False, True]
    )
    return counts.astype(
        {
            "source_file": object,
            "reason_kind": object,
            "rows": "int64",
            "example_line": "Int64",
            "example": object,
        }
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
        import pyarrow.parquet as pq

        schema = pa.schema(
            [(c, pa.int64() if c == "source_line" else pa.string()) for c in REJECT_COLUMNS]
        )
        pq.write_table(pa.Table.from_pandas(rejects, schema=schema, preserve_index=False), out)
    else:
        rejects.to_csv(out, index=False)
    return out
