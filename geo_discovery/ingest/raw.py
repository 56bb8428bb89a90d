"""What every reader returns (:class:`RawTable`) and the file helpers they share."""

from __future__ import annotations

import codecs
import gzip
import hashlib
import io
import re
import zipfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import IngestError
from .options import Decimals, ReadOptions
from .validate import Problems, show
from .values import file_decimal_mark

__all__ = [
    "ESCAPE",
    "ESCAPED",
    "RAW_TEXT_LIMIT",
    "PhysicalLines",
    "Progress",
    "RawTable",
    "file_sha256",
    "line_loader",
    "open_binary",
    "remove_nul_bytes",
    "shown_escaped",
    "truncated_error",
    "utf16_without_bom",
    "zip_member",
]

Progress = Callable[[int], None]

#: The error handler text files are decoded with: ``surrogateescape`` (an undecodable
#: byte b becomes the lone surrogate U+DC00+b, so its row is rejected as "bad encoding"),
#: which also takes bytes below 0x80, as the lone last byte of a UTF-16 file cut in the
#: middle of a character (``surrogateescape`` fails the whole file on those).
ESCAPE = "geo-discovery-escape"
#: A byte escaped by :data:`ESCAPE` (or ``surrogateescape``).
ESCAPED = re.compile("[\udc00-\udcff]")


def _escape(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    return "".join(chr(0xDC00 + b) for b in exc.object[exc.start : exc.end]), exc.end


codecs.register_error(ESCAPE, _escape)


def shown_escaped(raw: str) -> str:
    r"""``raw`` with each escaped byte as ``\xNN`` (any encoding, UTF-16 too), and each NUL
    as ``\x00`` (text, such as a rejects file, cannot hold it).

    >>> shown_escaped("caf\udce9 \udc0a\x00")
    'caf\\xe9 \\x0a\\x00'
    """
    return ESCAPED.sub(lambda m: f"\\x{ord(m.group()) - 0xDC00:02x}", raw).replace("\0", "\\x00")


@dataclass
class RawTable:
    """One file's records as text cells, before any profile is applied.

    ``frame`` has one ``str`` column per source column (``""`` when empty), aligned with
    ``source_line``; ``problems`` holds row problems found while reading (and notes about
    the file), and ``structural`` marks rows whose cells cannot be trusted (wrong field
    count, CSV syntax) so later checks skip them. ``lat``/``lng`` are set for geometry
    formats. ``duplicates`` maps a header name given more than once (lower-case) to its
    1-based positions; ``options`` are the load's :class:`ReadOptions`. NUL characters
    are removed from the cells when the table is made (:func:`remove_nul_bytes`).
    """

    path: Path
    format: str
    frame: pd.DataFrame
    source_line: np.ndarray
    problems: Problems
    structural: np.ndarray
    raw_loader: Callable[[np.ndarray], list[str]] | None = None
    lat: np.ndarray | None = None
    lng: np.ndarray | None = None
    geometry_wkt: np.ndarray | None = None
    encoding: str | None = None
    delimiter: str | None = None
    duplicates: dict[str, list[int]] = field(default_factory=dict)
    options: ReadOptions = field(default_factory=ReadOptions)

    def __post_init__(self) -> None:
        remove_nul_bytes(self)

    @property
    def decimals(self) -> Decimals:
        """``decimal`` (given) and ``fallback_decimal`` (the file's own mark) for parsers."""
        if self.options.decimal is not None:
            return {"decimal": self.options.decimal, "fallback_decimal": None}
        if "_file_mark" not in self.__dict__:
            self.__dict__["_file_mark"] = file_decimal_mark(self.frame)
        return {"decimal": None, "fallback_decimal": self.__dict__["_file_mark"]}

    @property
    def rejected(self) -> np.ndarray:
        """Rows rejected while reading (``structural``, bad encoding…): what a
        guess about the whole file (the rating scale) must not count."""
        return self.structural | self.problems.any()

    @property
    def columns(self) -> list[str]:
        return [str(c) for c in self.frame.columns]

    def __len__(self) -> int:
        return len(self.frame)

    def raw_text(self, positions: np.ndarray) -> list[str]:
        """The original text of the rows at ``positions`` (CSV lines or feature JSON)."""
        if self.raw_loader is not None:
            return self.raw_loader(positions)
        cols = self.columns
        out = []
        for i in positions:
            record: dict[str, Any] = dict(zip(cols, self.frame.iloc[i].tolist(), strict=True))
            if self.geometry_wkt is not None:
                record["geometry"] = self.geometry_wkt[i]
            out.append(orjson.dumps(record).decode())
        return out


def remove_nul_bytes(table: RawTable) -> None:
    r"""Remove NUL characters from every text cell of ``table``, with a note per column
    counting its values (rows rejected as ``structural`` aside): no one writes a NUL on
    purpose and no text can hold one (PostgreSQL's cannot); the row loads, like a row with
    other control characters. Every reader's table goes through this (:class:`RawTable`
    calls it), so no format loads a NUL, or drops one silently.

    >>> frame = pd.DataFrame({"id": ["1", "2"], "name": ["Caf\x00\x00e", "B"]})
    >>> t = RawTable(Path("t.csv"), "csv", frame, np.array([2, 3]), Problems(2),
    ...              np.zeros(2, bool))
    >>> t.frame["name"].tolist()
    ['Cafe', 'B']
    >>> print(t.problems.notes[0])
    name: NUL bytes removed from 1 value(s), such as line 2 ('Cafe'): no text can hold
    them
    """
    frame = table.frame
    for name in list(frame.columns):
        column = frame[name]
        found = _nul_cells(column)
        if found is None:
            continue
        if isinstance(column.dtype, pd.StringDtype):
            cleaned = column.str.replace("\0", "", regex=False)
        else:
            cleaned = column.map(lambda v: v.replace("\0", "") if isinstance(v, str) else v)
        frame[name] = cleaned
        counted = found & ~table.structural
        if counted.any():
            at = int(np.flatnonzero(counted)[0])
            table.problems.note(
                f"{name}: NUL bytes removed from {int(counted.sum()):,} value(s), such as "
                f"line {table.source_line[at]} ({show(cleaned.iloc[at])}): no text can hold them")


def _nul_cells(series: pd.Series) -> np.ndarray | None:
    """Mask of the text cells holding a NUL, ``None`` when none does (most columns: one
    pass over the column's bytes)."""
    if series.dtype.kind in "biufcmM":
        return None
    try:
        whole = pa.array(series, from_pandas=True)
        array = whole if isinstance(whole, pa.ChunkedArray) else pa.chunked_array([whole])
    except (pa.ArrowException, UnicodeError, TypeError):  # not text (mixed, surrogates)
        found = series.map(lambda v: isinstance(v, str) and "\0" in v)
        return found.to_numpy(dtype=bool) if found.any() else None
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        return None
    data = [chunk.buffers()[2] for chunk in array.chunks]
    if all(b is None or np.frombuffer(b, dtype=np.uint8).all() for b in data):
        return None
    found = pc.fill_null(pc.match_substring(array, "\0"), False)
    return np.asarray(found, dtype=bool) if pc.any(found).as_py() else None


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of the file's bytes, streamed."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def truncated_error(path: Path, what: str, exc: BaseException) -> IngestError:
    """The error for an archive that ends early or is corrupt."""
    return IngestError(
        f"{path}: {what} archive is truncated or corrupt ({type(exc).__name__}: {exc}); "
        "expected a complete archive"
    )


def open_binary(path: Path, container: str, stack: ExitStack) -> tuple[IO[bytes], IO[bytes]]:
    """(stream of the data bytes, underlying file whose ``tell`` measures progress)."""
    raw = stack.enter_context(path.open("rb"))
    if container == "gzip":
        gz = stack.enter_context(gzip.GzipFile(fileobj=raw, mode="rb"))
        return gz, raw  # type: ignore[return-value]
    if container == "zip":
        zf = stack.enter_context(zipfile.ZipFile(raw))
        return stack.enter_context(zf.open(zip_member(path, zf))), raw
    return raw, raw


def zip_member(path: Path, zf: zipfile.ZipFile) -> str:
    """The one data file of a zip archive (hidden files and folders aside)."""
    names = [
        n
        for n in zf.namelist()
        if not n.endswith("/")
        and not n.startswith("__MACOSX/")
        and not Path(n).name.startswith(".")
    ]
    if len(names) != 1:
        raise IngestError(
            f"{path}: zip archive holds {len(names)} files {names[:5]}; expected exactly one "
            "data file (or one shapefile with its .dbf/.shx/.prj)"
        )
    return names[0]


def utf16_without_bom(head: bytes) -> str | None:
    """``utf-16-le`` / ``utf-16-be`` for UTF-16 text without a BOM (ASCII-heavy: every
    other byte is NUL), else ``None``."""
    sample = head[: len(head) // 2 * 2][:4096]
    if len(sample) < 8:
        return None
    odd, even = sample[1::2], sample[0::2]
    if odd.count(0) >= 0.9 * len(odd) and even.count(0) == 0:
        return "utf-16-le"
    if even.count(0) >= 0.9 * len(even) and odd.count(0) == 0:
        return "utf-16-be"
    return None


class PhysicalLines:
    """A text file's physical lines (``\\n``, ``\\r\\n`` or ``\\r`` ends), numbered from 1 as
    :func:`csv.reader` counts them: a stream of its own, opened at the first use and read
    forward (reopened to go back)."""

    def __init__(self, path: Path, container: str, encoding: str) -> None:
        self.path, self.container, self.encoding = path, container, encoding
        self._stack = ExitStack()
        self._lines: Iterator[str] | None = None
        self._at = 0

    def between(self, first: int, last: int) -> Iterator[tuple[int, str]]:
        """``(number, line)`` of lines ``first``–``last``, line ends kept."""
        if self._lines is None or self._at >= first:
            self._stack.close()
            stream, _ = open_binary(self.path, self.container, self._stack)
            self._lines = iter(io.TextIOWrapper(stream, encoding=self.encoding,
                                                errors=ESCAPE, newline=""))
            self._at = 0
        for line in self._lines:
            self._at += 1
            if self._at >= first:
                yield self._at, line
            if self._at >= last:
                return

    def __enter__(self) -> PhysicalLines:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stack.close()


RAW_TEXT_LIMIT = 65_536


def line_loader(
    path: Path, container: str, encoding: str, starts: np.ndarray, ends: np.ndarray
) -> Callable[[np.ndarray], list[str]]:
    """Re-read the physical lines of rows on demand (only rejected rows need them)."""

    def load(positions: np.ndarray) -> list[str]:
        spans = [(int(starts[int(p)]), int(ends[int(p)])) for p in positions]
        if not spans:
            return []
        wanted: set[int] = set()
        for first, last in spans:
            wanted.update(range(first, min(last, first + 10_000) + 1))
        stop = max(last for _, last in spans)
        lines: dict[int, str] = {}
        with ExitStack() as stack:
            stream, _ = open_binary(path, container, stack)
            text = io.TextIOWrapper(stream, encoding=encoding, errors=ESCAPE, newline="")
            for number, line in enumerate(text, 1):
                if number in wanted:
                    lines[number] = line
                if number >= stop:
                    break
        out = []
        for first, last in spans:
            raw = "".join(lines.get(i, "") for i in range(first, last + 1)).rstrip("\r\n")
            raw = shown_escaped(raw)
            if len(raw) > RAW_TEXT_LIMIT:
                raw = raw[:RAW_TEXT_LIMIT] + f"… ({len(raw) - RAW_TEXT_LIMIT} more characters)"
            out.append(raw)
        return out

    return load
