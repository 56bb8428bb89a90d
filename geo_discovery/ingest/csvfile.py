"""CSV/TSV reading: encoding, delimiter, header, rows; one text cell per field.

Plain, ``.gz`` or ``.zip`` (one member). The encoding is detected on a 1 MiB sample: a
UTF-8 BOM gives ``utf-8-sig``; text that is valid UTF-8 (or whose valid multi-byte UTF-8
sequences outnumber its undecodable bytes) is UTF-8; anything else is whatever
charset-normalizer finds best, cp1252 winning ties (short samples often fit cp1250,
cp1252 and cp1257 equally well). The delimiter comes from :class:`csv.Sniffer` on the
sample, kept only when it splits the sample into rows of a consistent width; otherwise
the candidate among ``, ; TAB |`` with the most consistent, widest rows wins, and ``,``
when nothing splits. Text is decoded as by ``surrogateescape`` (:data:`~.raw.ESCAPE`), so a
row with undecodable bytes (a UTF-16 file cut mid-character too) is rejected ("bad encoding").
``source_line`` is the first physical line of the row. Blank lines are skipped and are
not rows (as in pandas).

A quoted field may hold line breaks: such a record is one row. But a record that spans
lines *and* has the wrong field count, or whose quote is open at the end of the file, is
a stray quote's doing: its lines are read again one row each (:class:`_Rows`), a line
leaving a quote open is rejected ("unterminated quoted field: a quote opened on line 101
runs to line 109: …") and a note says that rows and physical lines differ there.

The header line is capped: longer than :data:`MAX_HEADER_CHARS` characters or wider
than :data:`MAX_COLUMNS` columns fails at once (a 5 MB "header" is a file without line
breaks, or not CSV at all), before any row is read. A name given twice is kept (the
second as ``name_2``) and recorded in :attr:`RawTable.duplicates`: reading it fails.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import zipfile
import zlib
from collections.abc import Callable, Sequence
from contextlib import ExitStack, suppress
from pathlib import Path
from typing import IO, NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa

from ..errors import IngestError
from .names import duplicate_columns
from .raw import (
    ESCAPE,
    ESCAPED,
    PhysicalLines,
    Progress,
    RawTable,
    line_loader,
    open_binary,
    shown_escaped,
    truncated_error,
    utf16_without_bom,
)
from .validate import Problems

__all__ = [
    "MAX_COLUMNS",
    "MAX_HEADER_CHARS",
    "SAMPLE_BYTES",
    "detect_encoding",
    "quote_left_open",
    "read_csv",
    "read_sample",
    "read_text_lines",
]

SAMPLE_BYTES = 1 << 20
#: Longest header line read (characters).
MAX_HEADER_CHARS = 256 * 1024
#: Most columns a header may name.
MAX_COLUMNS = 2_000
_SURROGATE = ESCAPED
_SEP_LINE = re.compile(r'^\s*"?sep=(.)"?\s*$')
#: Most lines without a delimiter skipped before the header.
PREAMBLE_MAX_LINES = 20
_NUMBER = re.compile(r"^\s*[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?\s*$")

csv.field_size_limit(1 << 30)


def read_sample(path: Path, container: str) -> bytes:
    with ExitStack() as stack:
        stream, _ = open_binary(path, container, stack)
        try:
            return stream.read(SAMPLE_BYTES)
        except (OSError, EOFError, zlib.error, zipfile.BadZipFile) as exc:
            raise truncated_error(path, container, exc) from None


def detect_encoding(path: Path, sample: bytes) -> str:
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    wide = utf16_without_bom(sample)
    if wide is not None:
        return wide
    cut = sample if len(sample) < SAMPLE_BYTES else sample[: sample.rfind(b"\n") + 1] or sample
    text = cut.decode("utf-8", "surrogateescape")
    undecodable = len(_SURROGATE.findall(text))
    if undecodable == 0:
        return "utf-8"
    # Text in a single-byte code page rarely forms a valid UTF-8 sequence (Ã© for é), so
    # as many valid ones as invalid means UTF-8 with a few stray bytes (rows rejected).
    multibyte_ok = sum(1 for ch in text if ord(ch) > 127) - undecodable
    if multibyte_ok >= undecodable:
        return "utf-8"
    from charset_normalizer import from_bytes

    matches = list(from_bytes(cut))
    if not matches:
        raise IngestError(
            f"{path}: cannot detect the text encoding; expected UTF-8 or a single-byte "
            "encoding such as cp1252 / latin-1 (is this really a CSV file?)"
        )
    best = matches[0]
    # On short samples several code pages tie; prefer the commonest Western one.
    for match in matches:
        tied = match.chaos <= best.chaos + 0.01 and match.coherence >= best.coherence - 0.05
        if tied and match.encoding == "cp1252":
            return "cp1252"
    return str(best.encoding)


def _sniff_delimiter(sample_text: str) -> str:
    lines = sample_text.splitlines(keepends=True)
    if len(lines) > 1 and not sample_text.endswith(("\n", "\r")):
        lines = lines[:-1]
    text = "".join(lines[:500])
    candidates: list[str] = []
    # csv.Sniffer's quote regexes are super-linear: give it a short head only.
    with suppress(csv.Error):
        head = "".join(lines[:20])[:16_384]
        candidates.append(csv.Sniffer().sniff(head, delimiters=",;\t|").delimiter)
    candidates += [",", ";", "\t", "|"]
    scored = []
    for rank, delim in enumerate(dict.fromkeys(candidates)):
        try:  # newline="": old Mac (CR-only) line ends are line ends, as in the real read
            rows = [r for r in csv.reader(io.StringIO(text, newline=""), delimiter=delim) if r]
        except csv.Error:
            continue
        if not rows or len(rows[0]) < 2:
            continue
        width = len(rows[0])
        consistency = sum(len(r) == width for r in rows[1:]) / max(1, len(rows) - 1)
        if rank == 0 and consistency >= 0.9:
            return delim
        scored.append((consistency, width, -rank, delim))
    return max(scored)[3] if scored else ","


def _clean_header(path: Path, header: list[str]) -> list[str]:
    if len(header) > MAX_COLUMNS:
        raise IngestError(
            f"{path}: the header line names {len(header):,} columns; at most {MAX_COLUMNS:,} "
            "are read (is the delimiter right? is this really a CSV file?)"
        )
    names: list[str] = []
    seen: dict[str, int] = {}
    for i, name in enumerate(header):
        # Undecodable bytes in a column name cannot be UTF-8: shown as U+FFFD.
        base = _SURROGATE.sub("\ufffd", name).strip() or f"column_{i + 1}"
        count = seen.get(base, 0)
        seen[base] = count + 1
        names.append(base if count == 0 else f"{base}_{count + 1}")
    numeric = sum(bool(_NUMBER.match(h)) for h in header if h.strip())
    if numeric and numeric * 2 >= max(1, sum(bool(h.strip()) for h in header)):
        raise IngestError(
            f"{path}: the first line {header[:6]!r} looks like data, not a header; expected "
            "a header line of column names (e.g. id,name,lat,lng)"
        )
    return names


def _check_header_length(path: Path, sample_text: str) -> None:
    """Fail fast on a first line longer than :data:`MAX_HEADER_CHARS`."""
    head = sample_text[: MAX_HEADER_CHARS + 1]
    ends = [i for i in (head.find("\n"), head.find("\r")) if i >= 0]
    length = min(ends) if ends else len(head)
    if length > MAX_HEADER_CHARS:
        more = "" if ends else " or more"
        raise IngestError(
            f"{path}: the header line is {length:,}{more} characters long; at most "
            f"{MAX_HEADER_CHARS:,} are read (a file without line breaks, or not a CSV file?)"
        )


def read_csv(path: Path, container: str, progress: Progress | None) -> RawTable:
    sample = read_sample(path, container)
    if not sample.strip():
        raise IngestError(f"{path}: the file is empty; expected a header line and rows")
    encoding = detect_encoding(path, sample)
    sample_text = sample.decode(encoding, "replace")
    _check_header_length(path, sample_text)
    delimiter, skip, note = _preamble(sample_text, _sniff_delimiter(sample_text))
    with ExitStack() as stack:
        stream, underlying = open_binary(path, container, stack)
        text = io.TextIOWrapper(stream, encoding=encoding, errors=ESCAPE, newline="")
        lines = stack.enter_context(PhysicalLines(path, container, encoding))
        try:
            raw = _parse_csv(path, text, underlying, lines, delimiter, progress, skip)
            raw.problems.note(note)
            return raw
        except (EOFError, zlib.error, zipfile.BadZipFile) as exc:
            raise truncated_error(path, container, exc) from None
        except OSError as exc:
            if container == "plain":
                raise IngestError(f"{path}: cannot read file ({exc})") from None
            raise truncated_error(path, container, exc) from None


def _preamble(sample_text: str, delimiter: str) -> tuple[str, int, str | None]:
    """``(delimiter, records to skip before the header, note)``.

    Excel's ``sep=;`` first line names the delimiter; title lines without any delimiter
    before the header (``Retail food stores, exported 2024``-like lines hold one field)
    are skipped when a line with several fields follows within 20 lines.
    """
    first = sample_text.lstrip("\ufeff").lstrip("\r\n").splitlines()[0] if sample_text else ""
    sep = _SEP_LINE.match(first)
    if sep:
        return sep.group(1), 1, f"the first line {first!r} names the delimiter (as Excel writes)"
    records = []
    try:
        for record in csv.reader(io.StringIO(sample_text[:65_536], newline=""),
                                 delimiter=delimiter):
            if record:
                records.append(record)
            if len(records) > PREAMBLE_MAX_LINES:
                break
    except csv.Error:
        return delimiter, 0, None
    k = 0
    while k < len(records) and len(records[k]) == 1:
        k += 1
    if 0 < k <= PREAMBLE_MAX_LINES and k < len(records):
        return delimiter, k, (
            f"skipped {k} line(s) without a delimiter before the header, such as "
            f"{records[0][0][:60]!r}"
        )
    return delimiter, 0, None


def _parse_csv(
    path: Path,
    text: IO[str],
    underlying: IO[bytes],
    lines: PhysicalLines,
    delimiter: str,
    progress: Progress | None,
    skip: int = 0,
) -> RawTable:
    container, encoding = lines.container, lines.encoding
    reader = csv.reader(text, delimiter=delimiter, quotechar='"', doublequote=True)
    header: list[str] | None = None
    try:
        for header in reader:
            if header:
                if skip:
                    skip -= 1
                    continue
                break
    except csv.Error as exc:
        raise IngestError(f"{path}: cannot parse the header line ({exc}); expected CSV") from None
    if not header:
        raise IngestError(f"{path}: no header line; expected a header line of column names")
    if len(header) == 1 and len(header[0].split()) >= 3:
        raise IngestError(
            f"{path}: the header line {header[0][:80]!r} has no delimiter (tried , ; TAB |); "
            "space-separated or fixed-width text is not read: convert it to CSV"
        )
    columns = _clean_header(path, header)
    width = len(columns)
    rows = _Rows(width, delimiter, lines)
    previous, take = reader.line_num, rows.take
    while True:
        try:
            for row in reader:
                start, previous = previous + 1, reader.line_num
                # a blank line is not a row
                if row and take(row, start, previous) and progress is not None:
                    progress(underlying.tell())
            break
        except csv.Error as exc:
            rows.error(f"csv syntax error: {exc}", previous + 1, reader.line_num)
            previous = reader.line_num
    rows.check_end(lambda: _ends_with_newline(path, container))
    rows.settle_trailing()
    data, starts, ends, bad_encoding = rows.cells.finish(columns)
    n = len(starts)
    loader = line_loader(path, container, encoding, starts, ends)
    problems = Problems(n)
    if rows.trailing:
        problems.note(f"{rows.trailing:,} row(s) end with an extra empty field (a trailing "
                      "delimiter the header does not have); read without it")
    problems.note(rows.note())
    structural = np.zeros(n, dtype=bool)
    if rows.wrong_width:
        got_by_pos = dict(rows.wrong_width)
        structural[list(got_by_pos)] = True
        problems.add(
            structural.copy(),
            lambda idx: [f"expected {width} fields, got {got_by_pos[int(i)]}" for i in idx],
        )
    syntax = np.zeros(n, dtype=bool)
    syntax[[*rows.messages, *rows.quoted]] = True
    structural |= syntax
    problems.add(syntax, lambda idx: [rows.reason(int(i), int(starts[i])) for i in idx])
    problems.add(bad_encoding, f"bad encoding: undecodable bytes in row (file read as {encoding})")
    if encoding not in ("utf-8", "utf-8-sig", "ascii") and not encoding.startswith("utf"):
        problems.note(f"read as {encoding}: the file is not UTF-8 (detected from its bytes; "
                      "check accented names)")
    if progress is not None:
        progress(underlying.tell())
    return RawTable(
        path=path,
        format="csv",
        frame=pd.DataFrame(data, index=pd.RangeIndex(n)),
        source_line=starts,
        problems=problems,
        structural=structural,
        raw_loader=loader,
        encoding=encoding,
        delimiter=delimiter,
        duplicates=duplicate_columns(header),
    )


def quote_left_open(line: str, delimiter: str, in_quote: bool = False) -> bool:
    """Whether a physical line leaves a quoted field open, read as :func:`csv.reader`
    reads it (``"`` opens a field only at its start, ``""`` inside is a quote, text after
    the closing quote belongs to the field), from inside a quoted field when ``in_quote``.

    >>> quote_left_open('1,"Two', ","), quote_left_open('1,"A ""B"", C",2', ",")
    (True, False)
    >>> quote_left_open('Lines",1.5', ",", in_quote=True), quote_left_open('1,55" TV', ",")
    (False, False)
    """
    pos = 0
    if not in_quote and line.startswith('"'):
        in_quote, pos = True, 1
    opening = delimiter + '"'
    while True:
        if in_quote:
            end = line.find('"', pos)
            while end >= 0 and line.startswith('"', end + 1):
                end = line.find('"', end + 2)
            if end < 0:
                return True
            pos = end + 1
        found = line.find(opening, pos)
        if found < 0:
            return False
        in_quote, pos = True, found + 2


class _QuoteRun(NamedTuple):
    """Lines ``start``–``end`` that a quote made one record of ``got`` fields (the header
    has ``width``); ``eof``: the quote is still open at the end of the file."""

    start: int
    end: int
    got: int
    width: int
    eof: bool

    def __str__(self) -> str:
        lines = f"{self.end - self.start + 1:,} lines read as one record"
        if self.eof:
            return (f"a quote opened on line {self.start} runs to the end of the file "
                    f"(line {self.end}): {lines}")
        return (f"a quote opened on line {self.start} runs to line {self.end}: {lines} of "
                f"{self.got} fields (expected {self.width})")


class _Rows:
    """A CSV file's records as rows of ``width`` cells, with their structural problems;
    records made by a stray quote are read again from ``lines``, one row per line (see
    the module docstring); ``quoted``: rows that leave a quote open → their run (index)."""

    def __init__(self, width: int, delimiter: str, lines: PhysicalLines) -> None:
        self.cells = _Cells(width)
        self.width, self.delimiter, self.lines = width, delimiter, lines
        self.wrong_width: list[tuple[int, int]] = []  # (row, fields)
        self.messages: dict[int, str] = {}  # row → CSV syntax problem
        self.quoted: dict[int, int] = {}
        self.runs: list[_QuoteRun] = []
        self.trailing = 0
        self._trailing_rows: list[int] = []  # rows read without a trailing delimiter
        self._split_to = 0  # the last line read again

    def take(self, row: list[str], start: int, end: int) -> bool:
        """Add the record of lines ``start``–``end``; ``True`` when a chunk was turned."""
        if len(row) != self.width:
            width = self.width
            if len(row) == width + 1 and row[-1] == "":
                self.trailing += 1  # a trailing delimiter: the cells are aligned
                self._trailing_rows.append(self.cells.n)  # (unless few rows have one)
                row = row[:width]
            elif end > start:
                return self._split(start, end, len(row))
            else:
                self.wrong_width.append((self.cells.n, len(row)))
                row = (row + [""] * width)[:width]
        return self.cells.add(row, start, end)

    def error(self, message: str, start: int, end: int) -> None:
        """Add an unreadable record as a row of empty cells."""
        self.messages[self.cells.n] = message
        self.cells.add([""] * self.width, start, end)

    def check_end(self, newline_at_end: Callable[[], bool]) -> None:
        """A quote still open at the end of the file: the last record is read again one
        row per line (several lines), or rejected as unterminated (one line)."""
        cells = self.cells
        if not cells.n or cells.n - 1 in self.messages:
            return
        start, end = cells.starts[-1], cells.ends[-1]
        if end <= self._split_to or (end == start and newline_at_end()):
            return
        in_quote = False
        for _, line in self.lines.between(start, end):
            in_quote = quote_left_open(line, self.delimiter, in_quote)
        if not in_quote:
            return
        last = cells.n - 1
        if end == start:  # the field count of such a row is a symptom: report the cause
            self.wrong_width = [(pos, got) for pos, got in self.wrong_width if pos != last]
            self.messages[last] = "unterminated quoted field at end of file (truncated?)"
            return
        cells.pop()
        trailing = bool(self._trailing_rows) and self._trailing_rows[-1] == last
        if trailing:
            self._trailing_rows.pop()
        self.trailing -= trailing
        self._split(start, end, self.width + trailing)

    def settle_trailing(self) -> None:
        """A trailing delimiter is a file's habit or a row's accident. When fewer than half
        of the rows end with an extra empty field, each such row has one field too many (a
        cell inserted before the end, the others shifted right: an address's "Suite 4"
        read as the phone) and is rejected as such, not read shifted."""
        if self.trailing and 2 * self.trailing < self.cells.n:
            self.wrong_width.extend((row, self.width + 1) for row in self._trailing_rows)
            self.trailing, self._trailing_rows = 0, []

    def _split(self, start: int, end: int, got: int) -> bool:
        run, turned, in_quote = len(self.runs), False, False
        self.runs.append(_QuoteRun(start, end, got, self.width, False))
        for number, line in self.lines.between(start, end):
            in_quote = quote_left_open(line, self.delimiter, in_quote)
            try:
                row = next(csv.reader([line], delimiter=self.delimiter), [])
            except csv.Error as exc:
                self.error(f"csv syntax error: {exc}", number, number)
                continue
            if row and quote_left_open(line, self.delimiter):
                self.quoted[self.cells.n] = run
                turned |= self.cells.add((row + [""] * self.width)[: self.width],
                                         number, number)
            elif row:
                turned |= self.take(row, number, number)
        if in_quote:
            self.runs[run] = self.runs[run]._replace(eof=True)
        self._split_to = end
        return turned

    def reason(self, pos: int, line: int) -> str:
        """The CSV syntax problem of the row at ``pos`` (of ``line``)."""
        if pos in self.messages:
            return self.messages[pos]
        run = self.runs[self.quoted[pos]]
        lead = "" if line == run.start else "this line leaves a quote open, and "
        return f"unterminated quoted field: {lead}{run}; each line is read again as a row"

    def note(self) -> str | None:
        """The file's note on the records read again one row per line."""
        if not self.runs:
            return None
        k, lines = len(self.runs), sum(run.end - run.start + 1 for run in self.runs)
        what = str(self.runs[0]) if k == 1 else f"{k:,} such quotes (first: {self.runs[0]})"
        return (f"{what}; taken for a stray quote, the {lines:,} lines are read again as "
                "one row each: rows are not physical lines there (a quoted field with line "
                "breaks in a record of the right field count stays one row)")


_STR_DTYPE = pd.StringDtype("pyarrow", na_value=np.nan)
#: Rows parsed into Python strings before they become Arrow columns.
CHUNK_ROWS = 1 << 16


class _Cells:
    """The cells of a CSV file, column by column, as Arrow: rows are taken
    :data:`CHUNK_ROWS` at a time, so a file is never held as Python strings (~50 bytes
    per cell, and a heap that stays fragmented after they are freed) but as UTF-8 text."""

    def __init__(self, width: int) -> None:
        self.width = width
        self.rows: list[list[str]] = []
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.columns: list[list[pa.Array]] = [[] for _ in range(width)]
        self.lines: list[np.ndarray] = []
        self.bad: list[np.ndarray] = []
        self.n = 0

    def add(self, row: list[str], start: int, end: int) -> bool:
        """Add a row (``width`` cells, physical lines ``start``–``end``); ``True`` when a
        chunk was just turned into Arrow (a full chunk is turned when the next row comes,
        so the last row can always be taken back: :meth:`pop`)."""
        full = len(self.rows) >= CHUNK_ROWS
        if full:
            self._flush()
        self.rows.append(row)
        self.starts.append(start)
        self.ends.append(end)
        self.n += 1
        return full

    def pop(self) -> None:
        """Take back the last row added."""
        self.rows.pop()
        self.starts.pop()
        self.ends.pop()
        self.n -= 1

    def _flush(self) -> None:
        if not self.rows:
            return
        base = self.n - len(self.rows)
        bad = np.zeros(len(self.rows), dtype=bool)
        for j, values in enumerate(zip(*self.rows, strict=True)):
            self.columns[j].append(_text_array(values, bad))
        self.bad.append(np.flatnonzero(bad) + base)
        self.lines.append(np.array([self.starts, self.ends], dtype=np.int64))
        self.rows, self.starts, self.ends = [], [], []

    def finish(
        self, names: list[str]
    ) -> tuple[dict[str, pd.Series], np.ndarray, np.ndarray, np.ndarray]:
        """``(columns by name, first line of each row, last line, rows with undecodable
        bytes)``."""
        self._flush()
        data = {}
        for name, chunks in zip(names, self.columns, strict=True):
            array = pa.chunked_array(chunks, type=pa.large_string()).combine_chunks()
            chunks.clear()
            data[name] = pd.Series(pd.array(array, dtype=_STR_DTYPE))
        lines = np.concatenate(self.lines, axis=1) if self.lines else np.zeros((2, 0), np.int64)
        bad = np.zeros(self.n, dtype=bool)
        bad[np.concatenate(self.bad) if self.bad else []] = True
        return data, lines[0], lines[1], bad


def _text_array(values: Sequence[str], bad_rows: np.ndarray) -> pa.Array:
    """Text cells as Arrow (4x faster than pandas' constructor).

    Cells with undecodable bytes (lone surrogates from ``surrogateescape``) cannot be
    UTF-8: their rows are flagged in ``bad_rows`` and the bytes shown as U+FFFD.
    """
    try:
        return pa.array(values, type=pa.large_string())
    except UnicodeEncodeError:
        fixed = list(values)
        for i, cell in enumerate(fixed):
            if not cell.isascii() and _SURROGATE.search(cell):
                bad_rows[i] = True
                fixed[i] = _SURROGATE.sub("\ufffd", cell)
        return pa.array(fixed, type=pa.large_string())


def _ends_with_newline(path: Path, container: str) -> bool:
    if container != "plain":
        return True  # only plain files are checked for a cut-off last line
    with path.open("rb") as fh:
        fh.seek(0, io.SEEK_END)
        if fh.tell() == 0:
            return True
        fh.seek(-1, io.SEEK_END)
        return fh.read(1) in (b"\n", b"\r")


def read_text_lines(path: Path, container: str, column: str) -> RawTable:
    """A text file (plain, .gz or .zip) as one ``column``: one row per non-blank line.

    Lines starting with ``#`` are comments. Used for id lists; encoding as for CSV.
    """
    sample = read_sample(path, container)
    encoding = detect_encoding(path, sample) if sample else "utf-8"
    values: list[str] = []
    starts: list[int] = []
    raws: list[str] = []
    with ExitStack() as stack:
        stream, _ = open_binary(path, container, stack)
        text = io.TextIOWrapper(stream, encoding=encoding, errors=ESCAPE)
        try:
            for number, line in enumerate(text, 1):
                stripped = line.strip()
                if not stripped or stripped.startswith("#"):
                    continue
                values.append(stripped)
                starts.append(number)
                raws.append(line)
        except (EOFError, OSError, zlib.error, zipfile.BadZipFile) as exc:
            raise truncated_error(path, container, exc) from None
    n = len(values)
    problems = Problems(n)
    bad = np.zeros(n, dtype=bool)
    for i, raw in enumerate(raws):
        if not raw.isascii() and _SURROGATE.search(raw):
            bad[i] = True
            raws[i] = shown_escaped(raw)
            values[i] = _SURROGATE.sub("\ufffd", values[i])
    problems.add(bad, f"bad encoding: undecodable bytes in row (file read as {encoding})")
    return RawTable(
        path=path,
        format="lines",
        frame=pd.DataFrame({column: pd.Series(values, dtype="str")}, index=pd.RangeIndex(n)),
        source_line=np.asarray(starts, dtype=np.int64),
        problems=problems,
        structural=np.zeros(n, dtype=bool),
        raw_loader=lambda positions: [raws[int(i)].rstrip("\r\n") for i in positions],
        encoding=encoding,
    )


