"""Readers: any supported file → a :class:`RawTable` of text cells, one row per record.

Formats are recognised by their first bytes (then by extension), whatever the file is
called:

- CSV/TSV, plain, ``.gz`` or ``.zip`` (one member): :mod:`.csvfile`.
- GeoJSON (a FeatureCollection, or a sequence of features one per line, RFC 8142's
  record-separator form too), GeoPackage, Shapefile (also zipped: one per archive) and
  GeoParquet, and plain Parquet: :mod:`.geofile`.

A file that is something else fails naming what it is and what to do: an Excel or
OpenDocument workbook (also one renamed ``.csv``), a legacy Office file, a JSON array,
an HTML page, XML (KML, GPX), a PDF, another compression (bzip2, xz, 7z, rar, zstd),
other binary data. A shapefile fails when its ``.dbf`` (the attributes) or ``.shx`` (the
index) is not beside it (or not in its zip archive).

Whole-file problems raise :class:`~geo_discovery.errors.IngestError` naming the file.
"""

from __future__ import annotations

import codecs
import gzip
import zipfile
import zlib
from contextlib import suppress
from pathlib import Path

import orjson

from ..errors import IngestError
from .csvfile import read_csv, read_text_lines
from .geofile import read_geo, read_parquet
from .options import ReadOptions
from .raw import (
    Progress,
    RawTable,
    file_sha256,
    truncated_error,
    utf16_without_bom,
    zip_member,
)

__all__ = ["RawTable", "file_sha256", "read_lines", "read_raw", "sniff_format"]

_GEO_SUFFIXES = {".geojson": "geojson", ".json": "geojson", ".gpkg": "gpkg", ".shp": "shp"}
_EXPECTED = ("expected CSV (plain, .gz or .zip), GeoJSON, GeoPackage, Shapefile, GeoParquet "
             "or Parquet")
#: First bytes of formats that are not data we read → what they are.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "a legacy Microsoft Office file (.xls/.doc); "
     "save the sheet as CSV (UTF-8) and load that"),
    (b"%PDF-", "a PDF document; export the table as CSV and load that"),
    (b"BZh", "bzip2-compressed; recompress it with gzip (.gz) or zip"),
    (b"\xfd7zXZ\x00", "xz-compressed; recompress it with gzip (.gz) or zip"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive; recompress it with gzip (.gz) or zip"),
    (b"Rar!\x1a\x07", "a RAR archive; recompress it with gzip (.gz) or zip"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed; recompress it with gzip (.gz) or zip"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
)
_BOM_AND_SPACE = codecs.BOM_UTF8 + b" \t\r\n"
#: RFC 8142's record separator, which starts each record of a GeoJSON text sequence.
_RS = b"\x1e"


def _starts_json_object(head: bytes) -> bool:
    """Whether text starts with ``{`` (after a BOM, spaces, or RFC 8142 separators)."""
    return head.lstrip(_BOM_AND_SPACE + _RS).startswith(b"{")


def _named(path: Path) -> str:
    """``"named .csv, but "`` (the start of a sentence about what the file really is)."""
    suffix = path.suffix.lower()
    return f"named {suffix}, but " if suffix else ""


def _what_text_is(head: bytes) -> str | None:
    """What a text file that is not CSV or GeoJSON is, from its first bytes."""
    start = head.lstrip(_BOM_AND_SPACE)
    lower = start[:200].lower()
    if start.startswith(b"[") and start[1:].lstrip(b" \t\r\n")[:1] in (b"{", b"[", b"]", b'"'):
        return ("a JSON array, not CSV; convert it to CSV (e.g. pandas.read_json(path)"
                ".to_csv(...)) or to a GeoJSON FeatureCollection")
    if lower.startswith((b"<!doctype html", b"<html")):
        return ("an HTML page (a web page or an error page saved instead of the data?); "
                "download the data file itself")
    if lower.startswith(b"<?xml") or lower.startswith((b"<kml", b"<gpx")):
        kind = "KML" if b"<kml" in head.lower() else "GPX" if b"<gpx" in head.lower() else "XML"
        return (f"{kind}, not CSV or GeoJSON; convert it to GeoJSON first (e.g. ogr2ogr "
                "out.geojson in.kml)")
    return None


_CONTROL_BYTES = (*range(0, 9), *range(14, 32), 127)  # (not tab, newlines or form feed)


def _is_text(head: bytes) -> bool:
    """The first bytes are UTF-8 text without control bytes but tab and newlines (a cut
    multi-byte character at the end of the 4 KiB allowed)."""
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:
            return False
        text = head[: exc.start].decode("utf-8")
    return not any(ord(c) in _CONTROL_BYTES for c in text)


def sniff_format(path: Path) -> str:
    """``csv``, ``geojson``, ``gpkg``, ``shp``, ``parquet``, or the archive forms
    ``gzip`` / ``zip``, from the first bytes and the extension."""
    try:
        with path.open("rb") as fh:
            head = fh.read(4096)
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
    for magic, what in _MAGIC:
        if head.startswith(magic):
            raise IngestError(f"{path}: {_named(path)}the file is {what}; {_EXPECTED}")
    if _starts_json_object(head):
        return "geojson"
    text_kind = _what_text_is(head)
    if text_kind is not None:
        raise IngestError(f"{path}: {_named(path)}the file holds {text_kind}")
    if suffix in {".parquet", ".geoparquet", ".gpkg", ".gz", ".zip"} and head and not _is_text(
            head):  # text under a binary format's name is read as text, as a CSV named
        raise IngestError(  # .geojson is: the content decides (it was "corrupt?")
            f"{path}: the file's content does not match its {suffix} extension "
            "(truncated or corrupt?); expected CSV, GeoJSON, GeoPackage, Shapefile or Parquet"
        )
    # binary: a NUL in the first 64 bytes, and other control bytes past 5 % of the first
    # 4 KiB (a text file's NULs in fields, stray or padding, are removed with a note when
    # the rows are read, on row 1 as on any row)
    utf16 = head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or (
        utf16_without_bom(head) is not None)  # fmt: skip
    controls = sum(head.count(bytes([c])) for c in _CONTROL_BYTES if c)
    if b"\x00" in head[:64] and controls * 20 > len(head) and not utf16:
        raise IngestError(f"{path}: unknown binary format; {_EXPECTED}")
    header = head.split(b"\n", 1)[0]
    if b"\x00" in header and not utf16 and len(header) < len(head):  # a text header line
        at = header.index(b"\x00")
        raise IngestError(
            f"{path}: the header line holds a NUL byte (byte {at + 1}); allowed: column "
            "names of text (remove the NUL, e.g. with `tr -d '\\000'`)"
        )
    return "csv"


def read_raw(
    path: Path, progress: Progress | None = None, options: ReadOptions | None = None
) -> RawTable:
    """Read ``path`` into a :class:`RawTable`; ``progress`` gets bytes of ``path`` read."""
    options = options or ReadOptions()
    kind = sniff_format(path)
    if kind == "gzip":
        with gzip.open(path, "rb") as gz:
            try:
                head = gz.read(4096)
            except (OSError, EOFError, zlib.error) as exc:
                raise truncated_error(path, "gzip", exc) from None
        if _starts_json_object(head):
            raw = read_geo(path, f"/vsigzip/{path}", "geojson", progress, options)
        else:
            what = _what_text_is(head)
            if what is not None:
                raise IngestError(f"{path}: the compressed file holds {what}")
            raw = read_csv(path, "gzip", progress)
    elif kind == "zip":
        raw = _read_zip(path, progress, options)
    elif kind == "csv":
        raw = read_csv(path, "plain", progress)
    elif kind == "parquet":
        raw = read_parquet(path, progress, options)
    else:
        if kind == "shp":
            _check_shapefile_parts(path, [p.name for p in path.parent.iterdir()], archive=False)
        if kind == "geojson":
            _check_geojson(path)
        raw = read_geo(path, str(path), kind, progress, options)
    raw.options = options
    return raw


_GEOJSON_TYPES = {"FeatureCollection", "Feature", "Point", "MultiPoint", "LineString",
                  "MultiLineString", "Polygon", "MultiPolygon", "GeometryCollection"}
_JSON_PARSE_LIMIT = 50 << 20


def _check_geojson(path: Path) -> None:
    """Fail naming the cause when a ``{``-file is JSON but not GeoJSON (JSON lines of
    records, an API response object)."""
    with path.open("rb") as fh:
        first = fh.readline(1 << 20)
    obj: object = None
    with suppress(orjson.JSONDecodeError):
        obj = orjson.loads(first.lstrip(_BOM_AND_SPACE + _RS))
    if obj is None and path.stat().st_size <= _JSON_PARSE_LIMIT:
        with suppress(orjson.JSONDecodeError):
            obj = orjson.loads(path.read_bytes())
        if isinstance(obj, dict) and obj.get("type") not in _GEOJSON_TYPES:
            raise IngestError(
                f"{path}: the file holds a JSON object with keys {list(obj)[:8]} but no "
                "GeoJSON 'type'; expected a GeoJSON FeatureCollection (or CSV): take the "
                "records out and convert them"
            )
    elif isinstance(obj, dict) and obj.get("type") not in _GEOJSON_TYPES:
        raise IngestError(
            f"{path}: the file holds JSON lines (one object per line, keys "
            f"{list(obj)[:8]}), not GeoJSON; convert them to CSV (e.g. "
            "pandas.read_json(path, lines=True).to_csv(...)) or to a FeatureCollection"
        )


def _check_shapefile_parts(path: Path, names: list[str], *, archive: bool) -> None:
    """Fail naming the missing part when a shapefile's .dbf or .shx is not there."""
    if archive:
        stem = next(Path(n).name[:-4] for n in names if n.lower().endswith(".shp"))
    else:
        stem = path.stem
    lowered = {Path(n).name.lower() for n in names}
    missing = [ext for ext in (".dbf", ".shx") if f"{stem.lower()}{ext}" not in lowered]
    if not missing:
        return
    roles = {".dbf": "the attribute table: names, ids and every other field",
             ".shx": "the index of the shapes"}
    parts = "; ".join(f"{stem}{ext} ({roles[ext]})" for ext in missing)
    where = "in the archive" if archive else f"beside it in {path.parent}"
    raise IngestError(
        f"{path}: the shapefile is incomplete: no {parts} {where}; a shapefile is several "
        f"files with one base name (.shp, .shx, .dbf, and .prj for the CRS): copy them all "
        "together, or zip them and load the .zip"
    )


def _office_kind(zf: zipfile.ZipFile, names: list[str]) -> str | None:
    if "[Content_Types].xml" in names:
        for prefix, what in (("xl/", "an Excel workbook (.xlsx)"),
                             ("word/", "a Word document (.docx)"),
                             ("ppt/", "a PowerPoint file (.pptx)")):
            if any(n.startswith(prefix) for n in names):
                return what
        return "a Microsoft Office document"
    if "mimetype" in names:
        mime = zf.read("mimetype")[:100].decode("ascii", "replace")
        if "opendocument" in mime:
            return f"an OpenDocument file ({mime.rsplit('.', 1)[-1]})"
    return None


def _read_zip(path: Path, progress: Progress | None, options: ReadOptions) -> RawTable:
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            office = _office_kind(zf, names)
            if office is not None:
                raise IngestError(
                    f"{path}: {_named(path)}the file is {office}, not CSV; open it and save "
                    "the sheet as CSV (UTF-8), then load the CSV"
                )
            shapefiles = [n for n in names if n.lower().endswith(".shp")
                          and not Path(n).name.startswith("._") and "__MACOSX/" not in n]
            if len(shapefiles) > 1:
                raise IngestError(
                    f"{path}: zip archive holds {len(shapefiles)} shapefiles {shapefiles[:5]}; "
                    "expected exactly one data file: zip each shapefile (its .shp, .shx, .dbf "
                    "and .prj) on its own and load those"
                )
            if shapefiles:
                _check_shapefile_parts(path, names, archive=True)
                # the .shp itself: a folder zipped whole (macOS) holds it one level down
                return read_geo(path, f"/vsizip/{path}/{shapefiles[0]}", "shp", progress,
                                options)  # fmt: skip
            member = zip_member(path, zf)
    except zipfile.BadZipFile as exc:
        raise truncated_error(path, "zip", exc) from None
    suffix = Path(member).suffix.lower()
    if suffix in _GEO_SUFFIXES:
        return read_geo(path, f"/vsizip/{path}/{member}", _GEO_SUFFIXES[suffix], progress,
                        options)
    if suffix in {".parquet", ".geoparquet"}:
        raise IngestError(f"{path}: zipped Parquet is not supported; expected a bare .parquet")
    return read_csv(path, "zip", progress)


def read_lines(path: Path, column: str) -> RawTable:
    """A text file (plain, .gz or .zip) as one ``column``: one row per non-blank line.

    Lines starting with ``#`` are comments. Used for id lists; encoding as for CSV.
    """
    kind = sniff_format(path)
    container = {"gzip": "gzip", "zip": "zip", "csv": "plain"}.get(kind)
    if container is None:
        raise IngestError(f"{path}: expected a text file with one id per line, got {kind}")
    return read_text_lines(path, container, column)
