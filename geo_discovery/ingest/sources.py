"""The ingest entry points: :func:`read_sources` and :func:`read_id_list`."""

from __future__ import annotations

import bisect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa

from ..errors import IngestError, ProfileError
from ..models import BBox
from ..schema import ARROW_SCHEMA, CANONICAL_COLUMNS, column_to_arrow, empty_frame, to_arrow
from .canonical import attributes_arrow, build_canonical
from .generic import (
    ID_ALIASES,
    LAT_ALIASES,
    LNG_ALIASES,
    NAME_ALIASES,
    PASSTHROUGH,
    column_key,
)
from .mapping import profile_from_mapping
from .names import restore_truncated
from .options import ReadOptions
from .profiles import BUILTIN_PROFILES, Profile, detect_profile, get_profile
from .ratings import scale_label
from .readers import RawTable, file_sha256, read_lines, read_raw
from .result import IngestResult, SourceReport, empty_rejects, problem_rows
from .validate import Problems, duplicate_problems

__all__ = [
    "DuplicateTracker",
    "FilePart",
    "FileResult",
    "IdList",
    "add_duplicates",
    "check_sources",
    "combine_parts",
    "file_keys",
    "find_duplicates",
    "finish_file",
    "read_id_list",
    "read_source_file",
    "read_sources",
    "resolve_profile",
]

ProgressCallback = Callable[[int, int], None]


@dataclass
class FileResult:
    """One file read, mapped and validated (:func:`read_source_file`), before the
    duplicates of all files are known. Picklable: a cluster worker returns it."""

    raw: RawTable
    profile: Profile
    frame: pd.DataFrame
    problems: Problems
    sha256: str
    size: int


@dataclass
class FilePart:
    """One file's share of an :class:`IngestResult` (:func:`finish_file`): its loaded
    rows as Arrow, its rejects and warnings, its report; ``details`` holds the
    ``(errors, warnings)`` messages of each row of ``rejects`` (for
    :func:`add_duplicates`)."""

    table: pa.Table
    rejects: pd.DataFrame
    warnings: pd.DataFrame
    report: SourceReport
    details: np.ndarray


def _known_names(fixed: Profile | None) -> list[str]:
    """Every column name a profile, the generic aliases or the mapping may read."""
    names = [*ID_ALIASES, *NAME_ALIASES, *LAT_ALIASES, *LNG_ALIASES, *PASSTHROUGH]
    for profile in (*BUILTIN_PROFILES, *([fixed] if fixed else [])):
        names += profile.known_columns
    return names


def _restore_dbf_names(raw: RawTable, fixed: Profile | None) -> None:
    """Give shapefile fields cut to 10 characters their full names back (with a note)."""
    if raw.format != "shp":
        return
    renames, unresolved = restore_truncated(raw.columns, _known_names(fixed))
    if renames:
        raw.frame = raw.frame.rename(columns=renames)
        pairs = ", ".join(f"{a} → {b}" for a, b in renames.items())
        raw.problems.note(f"shapefile field names cut to 10 characters restored: {pairs}")
    if unresolved:
        raw.problems.note(
            "shapefile field names cut to 10 characters that match several known names "
            f"(left as they are; use a mapping file): {'; '.join(unresolved)}"
        )
    maybe = {name for text in unresolved for name in text.rsplit(": ", 1)[-1].split(" or ")}
    present = set(raw.columns)
    for profile in [fixed] if fixed is not None else BUILTIN_PROFILES:
        lost = sorted(set(profile.signature) - present)
        if lost and set(lost) <= maybe:  # the source's profile, but which field is which?
            raise IngestError(
                f"{raw.path}: the shapefile's field names were cut to 10 characters, so "
                f"{', '.join(lost)} (read by profile {profile.name!r}) cannot be told from "
                f"another field ({'; '.join(unresolved)}); allowed: the source's own file (CSV, "
                "GeoPackage or Parquet keep whole names), or --mapping naming the fields"
            )


def _profile_header_names(raw: RawTable, fixed: Profile | None) -> None:
    """Header names a built-in profile reads, written another way (case, spaces, hyphens:
    a data portal's export ``Entity Name`` for ``entity_name``), are given the profile's
    names with a note, so the profile is detected (or, given, finds them) as for the
    source's own file. Only when every signature column is then present."""
    columns = raw.columns
    if fixed is None and detect_profile(columns).signature:
        return  # a profile matches as written
    present = set(columns)
    keyed: dict[str, str] = {}
    for c in columns:
        keyed.setdefault(column_key(c), c)
    candidates = [fixed] if fixed is not None else [p for p in BUILTIN_PROFILES if p.signature]
    for profile in sorted(candidates, key=lambda p: -len(p.signature)):
        known = set(profile.known_columns)
        renames = {keyed[column_key(n)]: n for n in profile.known_columns
                   if n not in present and column_key(n) in keyed
                   and keyed[column_key(n)] not in known}  # fmt: skip
        if profile.signature and set(profile.signature) <= present | set(renames.values()):
            if not renames:  # every column named as the profile names it: nothing to say
                return
            raw.frame = raw.frame.rename(columns=renames)
            pairs = ", ".join(f"{a!r} → {b}" for a, b in list(renames.items())[:8])
            more = f" and {len(renames) - 8} more" if len(renames) > 8 else ""
            raw.problems.note(f"columns named as profile {profile.name!r} names them, written "
                              f"another way: {pairs}{more}")  # fmt: skip
            return


def resolve_profile(
    profile: str | None, mapping: str | Path | Mapping[str, Any] | None
) -> Profile | None:
    if mapping is not None:
        if profile not in (None, "auto", "mapping"):
            raise ProfileError(
                f"profile {profile!r} and a mapping were both given; use one of them"
            )
        return profile_from_mapping(mapping)
    if profile in (None, "auto"):
        return None
    if profile == "mapping":
        raise ProfileError("profile 'mapping' needs a mapping (a JSON/TOML file or a dict)")
    return get_profile(profile)


def _as_paths(paths: Sequence[str | Path] | str | Path) -> list[Path]:
    if isinstance(paths, (str, Path)):
        return [Path(paths)]
    out = [Path(p) for p in paths]
    if not out:
        raise IngestError("no input files given; expected at least one path")
    return out


def read_sources(
    paths: Sequence[str | Path],
    *,
    profile: str | None = None,
    mapping: str | Path | Mapping[str, Any] | None = None,
    expected_bbox: BBox | None = None,
    progress: ProgressCallback | None = None,
    options: ReadOptions | None = None,
) -> IngestResult:
    """Read, map and validate files into one canonical merchant table plus rejects.

    Parameters
    ----------
    paths
        Input files (CSV plain/.gz/.zip, GeoJSON, GeoPackage, Shapefile, (Geo)Parquet).
    profile
        A built-in profile name (:func:`~geo_discovery.ingest.list_profiles`); ``None``
        or ``"auto"`` detects one per file from its header.
    mapping
        A declarative column mapping (JSON/TOML file or dict), used for every file.
    expected_bbox
        Rows outside this box are rejected; overrides a profile's default box.
    progress
        Called with ``(bytes_done, bytes_total)`` over all files as they are read.
    options
        How to read what a file cannot settle by itself (decimal mark, date format,
        rating scale, CRS) and ``strict`` (:class:`~geo_discovery.ingest.options.ReadOptions`).

    Returns
    -------
    IngestResult
        Loaded rows (unique ``merchant_id``: the first occurrence over all files wins),
        rejects with reasons, warnings (loaded rows with a field left empty), and a
        :class:`SourceReport` per file.

    Raises
    ------
    IngestError
        A whole file is unreadable (missing, unknown format, truncated archive, no
        header, no coordinate columns).
    ProfileError
        Unknown profile or malformed mapping.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "shops.csv").write_text("id,name,lat,lng\\n1,Deli,40.7,-73.9\\n2,,91,100\\n")
    >>> r = read_sources([d / "shops.csv"])
    >>> r.rows_read, r.rows_loaded, r.merchants.merchant_id.tolist()
    (2, 1, ['generic:1'])
    >>> r.rejects.reason.tolist()
    ['empty name; lat 91 is out of range; allowed -90 <= lat <= 90']
    """
    options = options or ReadOptions()
    checked = check_sources(paths)
    files, sizes = [p for p, _ in checked], [n for _, n in checked]
    fixed = resolve_profile(profile, mapping)
    total = sum(sizes)
    done = 0
    seen = DuplicateTracker()
    parts: list[FilePart] = []
    for path, size in zip(files, sizes, strict=True):
        tick = _file_progress(progress, done, size, total)
        result = read_source_file(path, fixed, expected_bbox, options, tick)
        # Each file is finished (its rows into Arrow, its raw table freed) before the
        # next is read: the loaded rows' duplicates are settled by the files before.
        parts.append(finish_file(result, seen.add(file_keys(result)), consume=True))
        del result
        done += size
        if progress is not None:
            progress(done, total)
    for part, late in zip(parts, seen.rejected_duplicates(), strict=True):
        add_duplicates(part, late)
    return combine_parts(parts)


def check_sources(paths: Sequence[str | Path] | str | Path) -> list[tuple[Path, int]]:
    """``(path, size)`` of each input file; :class:`IngestError` naming a missing one, or
    one given twice (every row of its second reading was a duplicate id)."""
    out: list[tuple[Path, int]] = []
    seen: dict[tuple[int, int], Path] = {}
    for path in _as_paths(paths):
        try:
            if not path.exists():
                raise IngestError(f"{path}: no such file; expected a readable data file")
            if not path.is_file():
                raise IngestError(f"{path}: not a regular file; expected a readable data file")
            st = path.stat()
        except OSError as exc:
            raise IngestError(f"{path}: cannot read file ({exc})") from None
        first = seen.setdefault((st.st_dev, st.st_ino), path)
        if first is not path:
            same = "" if str(first) == str(path) else f" (as {first})"
            raise IngestError(f"{path}: given twice{same}; expected each file once")
        out.append((path, st.st_size))
    return out


def read_source_file(
    path: Path,
    fixed: Profile | None,
    expected_bbox: BBox | None,
    options: ReadOptions,
    progress: Callable[[int], None] | None = None,
) -> FileResult:
    """Read, map and validate one file (``fixed``: the profile every file uses, else
    detected from the header). The first step of :func:`read_sources`, one task per file
    on a cluster."""
    raw = read_raw(path, progress, options)
    _restore_dbf_names(raw, fixed)
    _profile_header_names(raw, fixed)
    chosen = fixed or detect_profile(raw.columns)
    staged = chosen.stage(raw)
    bbox = expected_bbox if expected_bbox is not None else chosen.expected_bbox
    frame, problems = build_canonical(raw, staged, chosen, bbox)
    if options.strict:
        problems.escalate()
    return FileResult(raw, chosen, frame, problems, file_sha256(path), path.stat().st_size)


def _file_progress(
    progress: ProgressCallback | None, base: int, size: int, total: int
) -> Callable[[int], None] | None:
    if progress is None:
        return None
    report = progress

    def tick(nbytes: int) -> None:
        report(base + min(nbytes, size), total)

    return tick


def file_keys(result: FileResult) -> pd.DataFrame:
    """What the duplicate check needs of one file: id, file, line and whether the row is
    otherwise good."""
    details = result.problems.details()
    ok = np.array([d is None or not d[0] for d in details], dtype=bool)
    frame = result.frame
    return pd.DataFrame({
        "merchant_id": frame["merchant_id"], "source_file": frame["source_file"],
        "source_line": frame["source_line"], "ok": ok,
    }).reset_index(drop=True)


def find_duplicates(keys: Sequence[pd.DataFrame]) -> list[dict[int, str]]:
    """Per file: ``{row: message}`` of rows whose id came first in an earlier row of any
    file (the first occurrence over all files, in file order, wins)."""
    if not keys:
        return []
    everything = pd.concat(keys, ignore_index=True) if len(keys) > 1 else keys[0]
    dup, messages = duplicate_problems(
        everything["merchant_id"], everything["source_file"], everything["source_line"],
        everything["ok"].to_numpy(dtype=bool),
    )
    out: list[dict[int, str]] = []
    offset = 0
    for part in keys:
        rows = np.flatnonzero(dup[offset:offset + len(part)])
        out.append({int(i): str(messages[offset + i]) for i in rows})
        offset += len(part)
    return out


class DuplicateTracker:
    """Duplicate ids over files seen one at a time, as :func:`find_duplicates` finds
    them over all files at once (the first occurrence in file order wins).

    :meth:`add` takes a file's keys (:func:`file_keys`) and returns the duplicates
    among its otherwise good rows: they are settled by the files before (an id's
    reference row is its first good row). The messages of rejected rows that also
    repeat an id depend on later files (a later good row becomes the reference), so
    :meth:`rejected_duplicates` gives them, per file, once every file was added. Holds
    one entry per distinct good id and per rejected row, and each row's file and line
    (~17 B a row), not the rows.
    """

    def __init__(self) -> None:
        self._first_ok: dict[str, int] = {}
        self._first_bad: dict[str, int] = {}
        self._bad: list[tuple[int, list[int], list[str]]] = []  # (start, rows, ids)
        self._starts: list[int] = []  # each file's first row, over all files
        self._where: list[tuple[pd.Series, pd.Series]] = []  # each file's files and lines
        self._rows = 0

    def add(self, keys: pd.DataFrame) -> dict[int, str]:
        start = self._rows
        ids = keys["merchant_id"].to_numpy(dtype=object)
        present = keys["merchant_id"].notna().to_numpy(dtype=bool)
        ok = keys["ok"].to_numpy(dtype=bool)
        self._starts.append(start)
        self._where.append((keys["source_file"].reset_index(drop=True),
                            keys["source_line"].reset_index(drop=True)))
        self._rows += len(keys)
        first_ok, first_bad = self._first_ok, self._first_bad
        out: dict[int, str] = {}
        for i in np.flatnonzero(present & ok).tolist():
            ref = first_ok.setdefault(ids[i], start + i)
            if ref != start + i:
                out[i] = self._message(ids[i], ref)
        bad = np.flatnonzero(present & ~ok).tolist()
        for i in bad:
            first_bad.setdefault(ids[i], start + i)
        self._bad.append((start, bad, [ids[i] for i in bad]))
        return out

    def rejected_duplicates(self) -> list[dict[int, str]]:
        """Per file added: ``{row: message}`` of its rejected rows that repeat an id."""
        out = []
        for start, rows, ids in self._bad:
            found = {}
            for i, mid in zip(rows, ids, strict=True):
                ref = self._first_ok.get(mid, self._first_bad[mid])
                if ref < start + i:
                    found[i] = self._message(mid, ref)
            out.append(found)
        return out

    def _message(self, merchant_id: str, ref: int) -> str:
        at = bisect.bisect_right(self._starts, ref) - 1
        files, lines = self._where[at]
        row = ref - self._starts[at]
        return f"duplicate merchant_id {merchant_id}, first at {files.iat[row]}:{lines.iat[row]}"


def finish_file(
    result: FileResult, duplicates: Mapping[int, str], *, consume: bool = False
) -> FilePart:
    """One file's loaded rows (with their ``attributes``, as Arrow), rejects, warnings
    and report, once the duplicates of every file are known (:func:`find_duplicates`),
    or at least those of its otherwise good rows (:class:`DuplicateTracker`; the rest
    go in with :func:`add_duplicates`). ``consume`` drops each column of
    ``result.frame`` once it is in the table (the frame is left without columns): the
    frame and the table are then not held whole at the same time."""
    r = result
    n = len(r.frame)
    details = r.problems.details()
    for i, message in duplicates.items():
        errors, warnings = details[i] if details[i] is not None else ([], [])
        details[i] = ([*errors, message], warnings)
    rejected = np.array([d is not None and bool(d[0]) for d in details], dtype=bool)
    warned = np.array([d is not None and not d[0] for d in details], dtype=bool)
    keep_pos = np.flatnonzero(~rejected)
    parts = []
    for mask, severity in ((rejected, "error"), (warned, "warning")):
        pos = np.flatnonzero(mask)
        parts.append(problem_rows(
            r.frame["source_file"].take(pos).to_numpy(), r.raw.source_line[pos],
            r.frame["merchant_id"].take(pos).to_numpy(dtype=object, na_value=None),  # type: ignore[call-overload]
            details[pos],
            r.raw.raw_text(pos), severity=severity,
        ))
    table = _loaded_table(r, keep_pos, consume)
    report = SourceReport(
        path=str(r.raw.path), sha256=r.sha256, bytes=r.size, profile=r.profile.name,
        rows_read=n, rows_loaded=len(keep_pos), rows_rejected=len(parts[0]),
        rows_warned=len(parts[1]), rating_scale=_scale_text(r, table),
        notes=list(r.problems.notes),
    )
    parts[0].index = pd.Index(np.flatnonzero(rejected))  # row in file, for add_duplicates
    return FilePart(table, parts[0], parts[1], report, details[rejected])


def add_duplicates(part: FilePart, duplicates: Mapping[int, str]) -> None:
    """Add duplicate-id messages to rejected rows of a finished file (``{row in file:
    message}``, as :meth:`DuplicateTracker.rejected_duplicates` gives them)."""
    if not duplicates:
        return
    at = part.rejects.index.get_indexer(pd.Index(list(duplicates)))
    if (at < 0).any():
        raise ValueError("add_duplicates: a row is not among the file's rejected rows")
    reasons = part.rejects["reason"].to_numpy(dtype=object).copy()
    for j, message in zip(at.tolist(), duplicates.values(), strict=True):
        errors, warnings = part.details[j]
        part.details[j] = ([*errors, message], warnings)
        reasons[j] = "; ".join([*errors, message, *warnings])
    part.rejects["reason"] = reasons


def combine_parts(parts: Sequence[FilePart]) -> IngestResult:
    """The :class:`IngestResult` of files finished by :func:`finish_file`, in file order
    (the loaded rows' Arrow tables are concatenated, not copied)."""
    if not parts:
        return IngestResult(to_arrow(empty_frame()), empty_rejects(), [])
    table = pa.concat_tables([p.table for p in parts])
    dtypes = empty_rejects().dtypes.to_dict()
    rejects = pd.concat([p.rejects for p in parts], ignore_index=True).astype(dtypes)
    warnings = pd.concat([p.warnings for p in parts], ignore_index=True).astype(dtypes)
    return IngestResult(table=table, rejects=rejects,
                        sources=[p.report for p in parts], warnings=warnings)


def _loaded_table(result: FileResult, keep_pos: np.ndarray, consume: bool = False) -> pa.Table:
    """The rows at ``keep_pos`` with their ``attributes``, as :func:`to_arrow` would give
    them, built one column at a time: the frame is not copied whole (at 10M rows each
    copy of it, with a Python string per text cell, is gigabytes)."""
    frame = result.frame
    every = len(keep_pos) == len(frame)
    columns: list[pa.Array | pa.ChunkedArray] = []
    for name in CANONICAL_COLUMNS:
        if name == "attributes":
            columns.append(attributes_arrow(result.raw, keep_pos))
            continue
        cells = frame[name] if every else frame[name].take(keep_pos)
        columns.append(column_to_arrow(name, cells))
        del cells
        if consume:
            del frame[name]
    schema = ARROW_SCHEMA.with_metadata(_pandas_metadata())
    return pa.Table.from_arrays(columns, schema=schema)


@cache
def _pandas_metadata() -> dict[bytes, bytes]:
    """The schema metadata :func:`to_arrow` writes (pandas' dtypes of the columns)."""
    return dict(to_arrow(empty_frame()).schema.metadata or {})


def _scale_text(result: FileResult, table: pa.Table) -> str:
    """The rating scale a file was read on, for the summary (``""`` without ratings)."""
    scales = pd.unique(table.column("rating_scale").drop_null().to_numpy())
    scales = scales[~np.isnan(scales)]
    if not len(scales):
        return ""
    told = result.problems.info.get("rating scale")
    if told:
        return told
    return ", ".join(scale_label(float(s)) for s in sorted(scales))


_MERCHANT_ID = r"^[^ \t:]+:[^ \t]"


class IdList(NamedTuple):
    """:func:`read_id_list`'s answer: the ids, the rejected lines, each id's (file, line)."""

    ids: list[str]
    rejects: pd.DataFrame
    places: list[tuple[str, int]]


def read_id_list(path: str | Path) -> IdList:
    """Merchant ids to delete: a ``merchant_id`` column, or one id per line.

    A file whose first line has a ``merchant_id`` (or ``id``, ``Merchant ID``…) column is
    read as CSV (any delimiter, encoding or compression that :func:`read_sources`
    accepts); otherwise every non-blank line is one id, but for a first line that is only
    such a name (a header). Ids look like ``<source>:<id>``. Bad lines (empty id,
    no ``source:`` prefix, undecodable bytes, repeated id) go to the rejects frame
    (columns as :attr:`IngestResult.rejects`); the returned ids are unique, in file order.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "gone.txt"
    >>> _ = p.write_text("osm:node/1\\n\\nnot an id\\nosm:node/1\\n")
    >>> ids, rejects, places = read_id_list(p)
    >>> ids, rejects.source_line.tolist(), places
    (['osm:node/1'], [3, 4], [('gone.txt', 1)])
    """
    file = Path(path)
    if not file.is_file():
        raise IngestError(f"{file}: no such file; expected a list of merchant ids")
    raw = _read_id_table(file)
    n = len(raw)
    problems = Problems(n)
    problems.extend(raw.problems)
    ids = raw.frame["merchant_id"].str.strip()
    header = np.zeros(n, dtype=bool)  # a list's first line naming its column: no id
    header[:1] = raw.format == "lines" and n > 0 and column_key(str(ids.iat[0])) in _ID_HEADERS
    skip = raw.structural | header
    empty = (ids == "").to_numpy()
    problems.add(empty & ~skip, "empty merchant_id")
    malformed = ~empty & ~ids.str.contains(_MERCHANT_ID, regex=True).to_numpy(dtype=bool) & ~skip
    shown = ids.to_numpy(dtype=object)
    problems.add(malformed, lambda idx: [f"{shown[i]!r} is not a merchant_id; expected "
                                         "'<source>:<id>'" for i in idx])
    details = problems.details()
    ok = np.array([d is None for d in details], dtype=bool) & ~header
    id_series = pd.Series(shown, dtype=object).mask(empty, None)
    files = pd.Series([file.name] * n, dtype=object)
    lines = pd.Series(raw.source_line, dtype="Int64")
    dup, messages = duplicate_problems(id_series, files, lines, ok)
    for i in np.flatnonzero(dup):
        details[i] = ([*(details[i][0] if details[i] else []), messages[i]], [])
    bad = np.array([d is not None for d in details], dtype=bool)
    bad_pos = np.flatnonzero(bad)
    bad |= header  # neither an id nor a reject
    rejects = problem_rows(
        files.iloc[bad_pos], lines.iloc[bad_pos], id_series.iloc[bad_pos], details[bad_pos],
        raw.raw_text(bad_pos), severity="error",
    ).astype(empty_rejects().dtypes.to_dict())
    return IdList([str(x) for x in shown[~bad]], rejects, [(file.name, int(n))
                  for n in raw.source_line[~bad]])  # fmt: skip


def _read_id_table(file: Path) -> RawTable:
    try:
        raw = read_raw(file)
    except IngestError as exc:
        if not any(why in str(exc) for why in ("looks like data", "no header", "no delimiter")):
            raise
        raw = None
    names = [] if raw is None else [c for c in raw.columns if column_key(c) in _ID_HEADERS]
    if raw is not None and names:  # merchant_id first, then id (the generic aliases' order)
        name = min(names, key=lambda c: _ID_HEADERS.index(column_key(c)))
        raw.frame = raw.frame.rename(columns={name: "merchant_id"})
        return raw
    return read_lines(file, column="merchant_id")


_ID_HEADERS = ("merchant_id", "id")
