"""Readers: any supported file → a :class:`RawTable` of text cells, one row per record.

Formats are recognised by their first bytes (then by extension):

- CSV/TSV, plain, ``.gz`` or ``.zip`` (one member). The encoding is detected on a
  1 MiB sample: a UTF-8 BOM gives ``utf-8-sig``; text that is valid UTF-8 (or whose
  valid multi-byte UTF-8 sequences outnumber its undecodable bytes) is UTF-8; anything
  else is whatever charset-normalizer finds best, cp1252 winning ties (short samples
  often fit cp1250, cp1252 and cp1257 equally well). The delimiter
  comes from :class:`csv.Sniffer` on the sample, kept only when it splits the sample
  into rows of a consistent width; otherwise the candidate among ``, ; TAB |`` with the
  most consistent, widest rows wins, and ``,`` when nothing splits. Text is decoded with
  ``errors="surrogateescape"``, so a row with undecodable bytes is kept and rejected
  ("bad encoding") instead of failing the file. ``source_line`` is the first physical
  line of the row. Blank lines are skipped and are not rows (as in pandas).
- GeoJSON, GeoPackage, Shapefile (also zipped) and GeoParquet through pyogrio /
  geopandas: point geometries give ``lat``/``lng`` (projected CRSs are converted to
  EPSG:4326), ``source_line`` is the 1-based feature number.
- Plain Parquet: the columns as they are (coordinates come from columns).

Whole-file problems raise :class:`~geo_discovery.errors.IngestError` naming the file.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import hashlib
import io
import re
import zipfile
import zlib
from collections.abc import Callable, Sequence
from contextlib import ExitStack, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa

from ..errors import IngestError
from .validate import Problems

__all__ = ["RawTable", "file_sha256", "read_lines", "read_raw", "sniff_format"]

SAMPLE_BYTES = 1 << 20
_SURROGATE = re.compile("[\udc80-\udcff]")
_NUMBER = re.compile(r"^\s*[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?\s*$")
_GEO_SUFFIXES = {".geojson": "geojson", ".json": "geojson", ".gpkg": "gpkg", ".shp": "shp"}

csv.field_size_limit(1 << 30)

Progress = Callable[[int], None]


@dataclass
class RawTable:
    """One file's records as text cells, before any profile is applied.

    ``frame`` has one ``str`` column per source column (``""`` when empty), aligned with
    ``source_line``; ``problems`` holds row problems found while reading, and
    ``structural`` marks rows whose cells cannot be trusted (wrong field count, CSV
    syntax) so later checks skip them. ``lat``/``lng`` are set for geometry formats.
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


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of the file's bytes, streamed."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sniff_format(path: Path) -> str:
    """``csv``, ``geojson``, ``gpkg``, ``shp``, ``parquet``, or the archive forms
    ``gzip`` / ``zip``, from the first bytes and the extension."""
    try:
        with path.open("rb") as fh:
            head = fh.read(64)
    except OSError as exc:
        raise IngestError(f"{path}: cannot read file ({exc.strerror or exc})") from None
    suffix = path.suffix.lower()
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"SQLite format 3\x00"):
        return "gpkg"
    if suffix == ".shp" or head.startswith(b"\x00\x00\x27\x0a"):
        return "shp"
    if head.lstrip(codecs.BOM_UTF8 + b" \t\r\n").startswith(b"{"):
        return "geojson"
    if suffix in {".parquet", ".geoparquet", ".gpkg", ".gz", ".zip"} and head:
        raise IngestError(
            f"{path}: the file's content does not match its {suffix} extension "
            "(truncated or corrupt?); expected CSV, GeoJSON, GeoPackage, Shapefile or Parquet"
        )
    if b"\x00" in head and not head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise IngestError(
            f"{path}: unknown binary format; expected CSV (plain, .gz or .zip), GeoJSON, "
            "GeoPackage, Shapefile, GeoParquet or Parquet"
        )
    return "csv"


def read_raw(path: Path, progress: Progress | None = None) -> RawTable:
    """Read ``path`` into a :class:`RawTable`; ``progress`` gets bytes of ``path`` read."""
    kind = sniff_format(path)
    if kind == "gzip":
        with gzip.open(path, "rb") as gz:
            try:
                head = gz.read(64)
            except (OSError, EOFError, zlib.error) as exc:
                raise _truncated(path, "gzip", exc) from None
        if head.lstrip(codecs.BOM_UTF8 + b" \t\r\n").startswith(b"{"):
            return _read_geo(path, f"/vsigzip/{path}", "geojson", progress)
        return _read_csv(path, "gzip", progress)
    if kind == "zip":
        return _read_zip(path, progress)
    if kind == "csv":
        return _read_csv(path, "plain", progress)
    if kind == "parquet":
        return _read_parquet(path, progress)
    return _read_geo(path, str(path), kind, progress)


def _truncated(path: Path, what: str, exc: BaseException) -> IngestError:
    return IngestError(
        f"{path}: {what} archive is truncated or corrupt ({type(exc).__name__}: {exc}); "
        "expected a complete archive"
    )


# --------------------------------------------------------------------------- CSV


def _open_binary(path: Path, container: str, stack: ExitStack) -> tuple[IO[bytes], IO[bytes]]:
    """(stream of the CSV bytes, underlying file whose ``tell`` measures progress)."""
    raw = stack.enter_context(path.open("rb"))
    if container == "gzip":
        gz = stack.enter_context(gzip.GzipFile(fileobj=raw, mode="rb"))
        return gz, raw  # type: ignore[return-value]
    if container == "zip":
        zf = stack.enter_context(zipfile.ZipFile(raw))
        return stack.enter_context(zf.open(_zip_member(path, zf))), raw
    return raw, raw


def _zip_member(path: Path, zf: zipfile.ZipFile) -> str:
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


def _read_zip(path: Path, progress: Progress | None) -> RawTable:
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            if any(n.lower().endswith(".shp") for n in names):
                return _read_geo(path, f"/vsizip/{path}", "shp", progress)
            member = _zip_member(path, zf)
    except zipfile.BadZipFile as exc:
        raise _truncated(path, "zip", exc) from None
    suffix = Path(member).suffix.lower()
    if suffix in _GEO_SUFFIXES:
        return _read_geo(path, f"/vsizip/{path}/{member}", _GEO_SUFFIXES[suffix], progress)
    if suffix in {".parquet", ".geoparquet"}:
        raise IngestError(f"{path}: zipped Parquet is not supported; expected a bare .parquet")
    return _read_csv(path, "zip", progress)


def _read_sample(path: Path, container: str) -> bytes:
    with ExitStack() as stack:
        stream, _ = _open_binary(path, container, stack)
        try:
            return stream.read(SAMPLE_BYTES)
        except (OSError, EOFError, zlib.error, zipfile.BadZipFile) as exc:
            raise _truncated(path, container, exc) from None


def _detect_encoding(path: Path, sample: bytes) -> str:
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    cut = sample if len(sample) < SAMPLE_BYTES else sample[: sample.rfind(b"\n") + 1] or sample
    text = cut.decode("utf-8", "surrogateescape")
    undecodable = len(_SURROGATE.findall(text))
    if undecodable == 0:
        return "utf-8"
    multibyte_ok = sum(1 for ch in text if ord(ch) > 127) - undecodable
    if multibyte_ok > undecodable:
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
        rows = [r for r in csv.reader(io.StringIO(text), delimiter=delim) if r]
        if not rows or len(rows[0]) < 2:
            continue
        width = len(rows[0])
        consistency = sum(len(r) == width for r in rows[1:]) / max(1, len(rows) - 1)
        if rank == 0 and consistency >= 0.9:
            return delim
        scored.append((consistency, width, -rank, delim))
    return max(scored)[3] if scored else ","


def _clean_header(path: Path, header: list[str]) -> list[str]:
    names: list[str] = []
    seen: dict[str, int] = {}
    for i, name in enumerate(header):
        base = name.strip() or f"column_{i + 1}"
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


def _read_csv(path: Path, container: str, progress: Progress | None) -> RawTable:
    sample = _read_sample(path, container)
    if not sample.strip():
        raise IngestError(f"{path}: the file is empty; expected a header line and rows")
    encoding = _detect_encoding(path, sample)
    delimiter = _sniff_delimiter(sample.decode(encoding, "replace"))
    with ExitStack() as stack:
        stream, underlying = _open_binary(path, container, stack)
        text = io.TextIOWrapper(stream, encoding=encoding, errors="surrogateescape", newline="")
        try:
            return _parse_csv(path, text, underlying, container, encoding, delimiter, progress)
        except (EOFError, zlib.error, zipfile.BadZipFile) as exc:
            raise _truncated(path, container, exc) from None
        except OSError as exc:
            if container == "plain":
                raise IngestError(f"{path}: cannot read file ({exc})") from None
            raise _truncated(path, container, exc) from None


def _parse_csv(
    path: Path,
    text: IO[str],
    underlying: IO[bytes],
    container: str,
    encoding: str,
    delimiter: str,
    progress: Progress | None,
) -> RawTable:
    reader = csv.reader(text, delimiter=delimiter, quotechar='"', doublequote=True)
    header: list[str] | None = None
    try:
        for header in reader:
            if header:
                break
    except csv.Error as exc:
        raise IngestError(f"{path}: cannot parse the header line ({exc}); expected CSV") from None
    if not header:
        raise IngestError(f"{path}: no header line; expected a header line of column names")
    columns = _clean_header(path, header)
    width = len(columns)
    rows: list[list[str]] = []
    starts: list[int] = []
    ends: list[int] = []
    wrong_width: list[tuple[int, int]] = []
    syntax: list[tuple[int, str]] = []
    previous = reader.line_num
    append_row, append_start, append_end = rows.append, starts.append, ends.append
    while True:
        try:
            for row in reader:
                start, previous = previous + 1, reader.line_num
                if len(row) != width:
                    if not row:  # a blank line is not a row
                        continue
                    wrong_width.append((len(rows), len(row)))
                    row = (row + [""] * width)[:width]
                append_row(row)
                append_start(start)
                append_end(previous)
                if progress is not None and not len(rows) & 0xFFFF:
                    progress(underlying.tell())
            break
        except csv.Error as exc:
            syntax.append((len(rows), f"csv syntax error: {exc}"))
            append_row([""] * width)
            append_start(previous + 1)
            previous = reader.line_num
            append_end(previous)
    n = len(rows)
    loader = _raw_loader(path, container, encoding, starts, ends)
    # A quote left open at the end swallows the rest of the file into the last row:
    # look at its text (a second pass) only when it spans lines or the file is cut.
    suspicious = n > 0 and (ends[-1] > starts[-1] or not _ends_with_newline(path, container))
    if suspicious and loader(np.array([n - 1]))[0].count('"') % 2 == 1:
        # The field count of such a row is a symptom; report the cause only.
        wrong_width = [(pos, got) for pos, got in wrong_width if pos != n - 1]
        syntax.append((n - 1, "unterminated quoted field at end of file (truncated?)"))
    problems = Problems(n)
    structural = np.zeros(n, dtype=bool)
    if wrong_width:
        got_by_pos = dict(wrong_width)
        structural[list(got_by_pos)] = True
        problems.add(
            structural.copy(),
            lambda idx: [f"expected {width} fields, got {got_by_pos[int(i)]}" for i in idx],
        )
    for pos, message in syntax:
        structural[pos] = True
        one = np.zeros(n, dtype=bool)
        one[pos] = True
        problems.add(one, message)
    cells = list(zip(*rows, strict=True)) if rows else [()] * width
    del rows
    bad_encoding = np.zeros(n, dtype=bool)
    data = {name: _text_column(col, bad_encoding) for name, col in zip(columns, cells, strict=True)}
    problems.add(bad_encoding, f"bad encoding: undecodable bytes in row (file read as {encoding})")
    if progress is not None:
        progress(underlying.tell())
    return RawTable(
        path=path,
        format="csv",
        frame=pd.DataFrame(data, index=pd.RangeIndex(n)),
        source_line=np.asarray(starts, dtype=np.int64),
        problems=problems,
        structural=structural,
        raw_loader=loader,
        encoding=encoding,
        delimiter=delimiter,
    )


_STR_DTYPE = pd.StringDtype("pyarrow", na_value=np.nan)


def _text_column(values: Sequence[str], bad_rows: np.ndarray) -> pd.Series:
    """A ``str`` Series built through pyarrow (4x faster than pandas' constructor).

    Cells with undecodable bytes (lone surrogates from ``surrogateescape``) cannot be
    UTF-8: their rows are flagged in ``bad_rows`` and the bytes shown as U+FFFD.
    """
    try:
        array = pa.array(values, type=pa.large_string())
    except UnicodeEncodeError:
        fixed = list(values)
        for i, cell in enumerate(fixed):
            if not cell.isascii() and _SURROGATE.search(cell):
                bad_rows[i] = True
                fixed[i] = _SURROGATE.sub("\ufffd", cell)
        array = pa.array(fixed, type=pa.large_string())
    return pd.Series(pd.array(array, dtype=_STR_DTYPE))


def _ends_with_newline(path: Path, container: str) -> bool:
    if container != "plain":
        return True  # only plain files are checked for a cut-off last line
    with path.open("rb") as fh:
        fh.seek(0, io.SEEK_END)
        if fh.tell() == 0:
            return True
        fh.seek(-1, io.SEEK_END)
        return fh.read(1) in (b"\n", b"\r")


RAW_TEXT_LIMIT = 65_536


def _raw_loader(
    path: Path, container: str, encoding: str, starts: list[int], ends: list[int]
) -> Callable[[np.ndarray], list[str]]:
    """Re-read the physical lines of rows on demand (only rejected rows need them)."""

    def load(positions: np.ndarray) -> list[str]:
        spans = [(starts[int(p)], ends[int(p)]) for p in positions]
        if not spans:
            return []
        wanted: set[int] = set()
        for first, last in spans:
            wanted.update(range(first, min(last, first + 10_000) + 1))
        stop = max(last for _, last in spans)
        lines: dict[int, str] = {}
        with ExitStack() as stack:
            stream, _ = _open_binary(path, container, stack)
            text = io.TextIOWrapper(stream, encoding=encoding, errors="surrogateescape",
                                    newline="")
            for number, line in enumerate(text, 1):
                if number in wanted:
                    lines[number] = line
                if number >= stop:
                    break
        out = []
        for first, last in spans:
            raw = "".join(lines.get(i, "") for i in range(first, last + 1)).rstrip("\r\n")
            if _SURROGATE.search(raw):
                raw = raw.encode(encoding, "surrogateescape").decode(encoding, "backslashreplace")
            if len(raw) > RAW_TEXT_LIMIT:
                raw = raw[:RAW_TEXT_LIMIT] + f"… ({len(raw) - RAW_TEXT_LIMIT} more characters)"
            out.append(raw)
        return out

    return load


def read_lines(path: Path, column: str) -> RawTable:
    """A text file (plain, .gz or .zip) as one ``column``: one row per non-blank line.

    Lines starting with ``#`` are comments. Used for id lists; encoding as for CSV.
    """
    kind = sniff_format(path)
    container = {"gzip": "gzip", "zip": "zip", "csv": "plain"}.get(kind)
    if container is None:
        raise IngestError(f"{path}: expected a text file with one id per line, got {kind}")
    sample = _read_sample(path, container)
    encoding = _detect_encoding(path, sample) if sample else "utf-8"
    values: list[str] = []
    starts: list[int] = []
    raws: list[str] = []
    with ExitStack() as stack:
        stream, _ = _open_binary(path, container, stack)
        text = io.TextIOWrapper(stream, encoding=encoding, errors="surrogateescape")
        try:
            for number, line in enumerate(text, 1):
                stripped = line.strip()
                if not stripped or stripped.startswith("#"):
                    continue
                values.append(stripped)
                starts.append(number)
                raws.append(line)
        except (EOFError, OSError, zlib.error, zipfile.BadZipFile) as exc:
            raise _truncated(path, container, exc) from None
    n = len(values)
    problems = Problems(n)
    bad = np.zeros(n, dtype=bool)
    for i, raw in enumerate(raws):
        if not raw.isascii() and _SURROGATE.search(raw):
            bad[i] = True
            raws[i] = raw.encode(encoding, "surrogateescape").decode(encoding, "backslashreplace")
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


# --------------------------------------------------------------------------- geo / parquet


def _to_text(frame: pd.DataFrame) -> pd.DataFrame:
    out = {}
    for name in frame.columns:
        col = frame[name]
        if col.dtype.kind == "M":
            text = col.dt.strftime("%Y-%m-%dT%H:%M:%S").str.removesuffix("T00:00:00")
        elif col.dtype == object:
            text = col.map(lambda v: v if isinstance(v, str) else str(v))
        else:
            text = col.astype("str")
        out[str(name)] = text.where(col.notna(), "").astype("str")
    return pd.DataFrame(out, index=pd.RangeIndex(len(frame)))


def _read_parquet(path: Path, progress: Progress | None) -> RawTable:
    import pyarrow.parquet as pq

    try:
        metadata = pq.read_schema(path).metadata or {}
    except Exception as exc:  # pyarrow raises several types for corrupt files
        raise IngestError(f"{path}: cannot read Parquet ({exc}); expected a Parquet file") from None
    if b"geo" in metadata:
        return _read_geo(path, str(path), "geoparquet", progress)
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:
        raise IngestError(f"{path}: cannot read Parquet ({exc}); expected a Parquet file") from None
    return _table_from_frame(path, "parquet", frame.reset_index(drop=True), progress)


def _table_from_frame(
    path: Path, fmt: str, frame: pd.DataFrame, progress: Progress | None, **geo: Any
) -> RawTable:
    n = len(frame)
    if progress is not None:
        progress(path.stat().st_size)
    return RawTable(
        path=path,
        format=fmt,
        frame=_to_text(frame),
        source_line=np.arange(1, n + 1, dtype=np.int64),
        problems=geo.pop("problems", Problems(n)),
        structural=np.zeros(n, dtype=bool),
        **geo,
    )


def _read_geo(path: Path, source: str, fmt: str, progress: Progress | None) -> RawTable:
    import geopandas as gpd
    import shapely

    try:
        if fmt == "geoparquet":
            gdf = gpd.read_parquet(source)
        else:
            gdf = gpd.read_file(source, engine="pyogrio")
    except Exception as exc:  # pyogrio/GDAL raise many types for unreadable data
        raise IngestError(
            f"{path}: cannot read as {fmt} ({type(exc).__name__}: {exc}); expected a valid "
            "GeoJSON, GeoPackage, Shapefile or GeoParquet file"
        ) from None
    gdf = gdf.reset_index(drop=True)
    if gdf.crs is not None and gdf.crs.is_projected:
        gdf = gdf.to_crs(4326)
    geoms = gdf.geometry.to_numpy()
    n = len(gdf)
    problems = Problems(n)
    missing = shapely.is_missing(geoms)
    empty = ~missing & shapely.is_empty(geoms)
    type_ids = shapely.get_type_id(geoms)
    single_multipoint = (type_ids == 4) & (shapely.get_num_geometries(geoms) == 1)
    points = np.where(single_multipoint, shapely.get_geometry(geoms, 0), geoms)
    is_point = ~missing & ~empty & ((type_ids == 0) | single_multipoint)
    problems.add(missing, "geometry is missing")
    problems.add(empty, "geometry is empty")
    other = ~missing & ~empty & ~is_point
    names = {1: "LineString", 2: "LinearRing", 3: "Polygon", 4: "MultiPoint",
             5: "MultiLineString", 6: "MultiPolygon", 7: "GeometryCollection"}
    problems.add(
        other,
        lambda idx: [f"geometry is a {names.get(int(type_ids[i]), 'shape')}, expected a Point"
                     for i in idx],
    )
    lat = np.full(n, np.nan)
    lng = np.full(n, np.nan)
    lng[is_point] = shapely.get_x(points[is_point])
    lat[is_point] = shapely.get_y(points[is_point])
    wkt = np.full(n, None, dtype=object)
    wkt[~missing] = shapely.to_wkt(geoms[~missing], rounding_precision=-1)
    props = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
    return _table_from_frame(
        path, fmt, props, progress,
        problems=problems, lat=lat, lng=lng, geometry_wkt=wkt,
    )
