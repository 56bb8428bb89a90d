"""Geometry formats and Parquet: GeoJSON, GeoPackage, Shapefile, (Geo)Parquet.

Read through pyogrio / geopandas: point geometries give ``lat``/``lng`` (any CRS other
than WGS84, projected or geographic such as ED50, is converted to EPSG:4326 with a note;
``--crs`` states the CRS of a file that names none, or a wrong one), ``source_line`` is
the 1-based feature number. Plain Parquet gives its columns as they are (coordinates
come from columns). Every cell becomes text, so all formats go through the same
validation; integer columns stay exact integers, nulls or not (``1000``, never
``1000.0``; a shapefile's wide ``N(19,0)`` ids too), as in CSV.

A GeoPackage with several layers fails naming them (which one is meant cannot be
known). A GeoJSON feature's own ``id`` (RFC 7946 §3.2) becomes the ``id`` column when
the properties have no id column. A Parquet column name given twice fails when read,
as in CSV (``'name' 2 times (columns 2, 5)``).
"""

from __future__ import annotations

import gzip
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import IngestError
from .generic import ID_ALIASES
from .names import duplicate_columns
from .options import ReadOptions
from .raw import Progress, RawTable
from .validate import Problems
from .values import cell_text

__all__ = ["exact_integers", "read_geo", "read_parquet"]


def _to_text(frame: pd.DataFrame) -> pd.DataFrame:
    out = {}
    for name in frame.columns:
        col = frame[name]
        if col.dtype.kind == "M":
            text = col.dt.strftime("%Y-%m-%dT%H:%M:%S").str.removesuffix("T00:00:00")
        elif col.dtype == object:
            text = col.map(cell_text)
        else:
            text = col.astype("str")
        out[str(name)] = text.where(col.notna(), "").astype("str")
    return pd.DataFrame(out, index=pd.RangeIndex(len(frame)))


def exact_integers(arrow_type: Any) -> Any:
    """The pandas nullable dtype for an Arrow integer type (``None`` for others), so that
    an integer column with nulls stays integers instead of becoming floats.

    >>> import pyarrow as pa
    >>> exact_integers(pa.int32()), exact_integers(pa.uint64()), exact_integers(pa.string())
    (Int32Dtype(), UInt64Dtype(), None)
    """
    import pyarrow as pa

    if not pa.types.is_integer(arrow_type):
        return None
    unsigned = "U" if pa.types.is_unsigned_integer(arrow_type) else ""
    return pd.api.types.pandas_dtype(f"{unsigned}Int{arrow_type.bit_width}")


def read_parquet(path: Path, progress: Progress | None, options: ReadOptions) -> RawTable:
    """A Parquet file: GeoParquet through geopandas, plain Parquet column by column."""
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path)
    except Exception as exc:  # pyarrow raises several types for corrupt files
        raise IngestError(f"{path}: cannot read Parquet ({exc}); expected a Parquet file") from None
    duplicates = duplicate_columns([str(n) for n in schema.names])
    if b"geo" in (schema.metadata or {}) and not duplicates:
        return read_geo(path, str(path), "geoparquet", progress, options)
    try:
        table = pq.ParquetFile(path).read()
        if duplicates:  # keep the first of each name: reading it fails (staging.column)
            first: dict[str, int] = {}
            for i, name in enumerate(table.column_names):
                first.setdefault(name.strip().lower(), i)
            table = table.select(sorted(first.values())).replace_schema_metadata(None)
        frame = table.to_pandas(types_mapper=exact_integers)
    except Exception as exc:
        raise IngestError(f"{path}: cannot read Parquet ({exc}); expected a Parquet file") from None
    return _table_from_frame(path, "parquet", frame.reset_index(drop=True), progress,
                             duplicates=duplicates)


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


def read_geo(
    path: Path, source: str, fmt: str, progress: Progress | None, options: ReadOptions
) -> RawTable:
    """A GeoJSON, GeoPackage, Shapefile or GeoParquet ``source`` (a GDAL path)."""
    import geopandas as gpd
    import shapely

    layer = _data_layer(path, source) if fmt == "gpkg" else None
    nul_note = None
    if fmt == "geojson":  # GDAL would cut a string at an escaped NUL (\u0000)
        source, nul_note = _without_nul_escapes(path, source)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if fmt == "geoparquet":
                gdf = gpd.read_parquet(source, to_pandas_kwargs={"types_mapper": exact_integers})
            else:
                # Arrow keeps integer fields with nulls as integers; ADJUST_TYPE reads a
                # shapefile's wide integer fields (N(19,0)) as Integer64, not Real.
                extra: dict[str, Any] = {"ADJUST_TYPE": "YES"} if fmt == "shp" else {}
                if layer is not None:
                    extra["layer"] = layer
                gdf = gpd.read_file(
                    source, engine="pyogrio", use_arrow=True,
                    arrow_to_pandas_kwargs={"types_mapper": exact_integers}, **extra,
                )
    except Exception as exc:  # pyogrio/GDAL raise many types for unreadable data
        raise IngestError(
            f"{path}: cannot read as {fmt} ({type(exc).__name__}: {exc}); expected a valid "
            "GeoJSON, GeoPackage, Shapefile or GeoParquet file"
        ) from None
    # GDAL's warnings (an invalid coordinate, a field it could not convert…) are notes
    # about the file, not noise on stderr.
    gdal_notes = list(dict.fromkeys(f"GDAL: {w.message}" for w in caught))[:5]
    if not isinstance(gdf, gpd.GeoDataFrame):  # GDAL fell back to a non-spatial driver
        raise IngestError(
            f"{path}: no geometry could be read as {fmt} (cut short, or not {fmt} at all?); "
            "expected a valid GeoJSON FeatureCollection, GeoPackage, Shapefile or GeoParquet"
        )
    notes: list[str] = [nul_note] if nul_note else []
    gdf = gdf.reset_index(drop=True)
    feature_ids = _feature_ids(source, gdf, notes) if fmt == "geojson" else None
    if options.crs is not None:
        gdf = gdf.set_crs(options.crs, allow_override=True).to_crs(4326)
    elif gdf.crs is not None and not _is_wgs84(gdf.crs):
        notes.append(f"coordinates converted to WGS84 (EPSG:4326) from the file's CRS "
                     f"{_crs_label(gdf.crs)}")
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
    if feature_ids is not None:
        props.insert(0, "id", feature_ids)
    for note in [*gdal_notes, *notes]:
        problems.note(note)
    return _table_from_frame(
        path, fmt, props, progress,
        problems=problems, lat=lat, lng=lng, geometry_wkt=wkt,
    )


_NUL_ESCAPE = re.compile(rb"(?<!\\)((?:\\\\)*)\\u0000")  # an even run of \ before


def _without_nul_escapes(path: Path, source: str) -> tuple[Any, str | None]:
    """A GeoJSON ``source`` (a path, or ``/vsigzip/`` one) as its bytes without escaped
    NUL characters (``"a\u0000b"`` → ``"ab"``), with a note counting them, when it holds
    any: GDAL cuts a string at a NUL (a name would lose its end, two ids become one),
    where the CSV reader removes NULs with a note. Unchanged (and not read here) else."""
    if source.startswith("/vsizip/"):
        return source, None  # (a zipped GeoJSON: read as GDAL reads it)
    opener = gzip.open if source.startswith("/vsigzip/") else open
    with opener(path, "rb") as fh:
        data = fh.read()
    if b"\\u0000" not in data:
        return source, None
    cleaned, count = _NUL_ESCAPE.subn(rb"\1", data)
    if not count:
        return source, None
    return cleaned, (f"NUL characters (\\u0000) removed from {count:,} place(s) in "
                     "strings: no text can hold them")  # fmt: skip


def _data_layer(path: Path, source: str) -> str | None:
    """A GeoPackage's one layer of geometries (tables without geometry, such as the
    ``layer_styles`` QGIS saves a style in, are not data); fail naming the layers when it
    holds several. ``None``: unreadable (reading it fails with the cause) or no such layer."""
    import pyogrio

    try:
        listed = pyogrio.list_layers(source)
    except Exception:
        return None
    spatial = [str(name) for name, geometry in listed if geometry is not None]
    layers = spatial or [str(name) for name, _ in listed]
    if len(layers) == 1:
        return layers[0]
    if len(layers) > 1:
        shown = ", ".join(repr(n) for n in layers[:10]) + (" …" if len(layers) > 10 else "")
        raise IngestError(
            f"{path}: the GeoPackage holds {len(layers)} layers ({shown}); expected exactly "
            "one: which one holds the data cannot be known, so save each as its own file "
            f"(e.g. ogr2ogr -f GPKG one.gpkg {path.name} {layers[0]}) and load those"
        )
    return None


def _feature_ids(source: Any, gdf: Any, notes: list[str]) -> pd.Series | None:
    """GeoJSON ``Feature.id`` values (GDAL's feature ids), when the properties have no id
    column and every feature has its own (GDAL numbers features without one 0, 1, 2 …
    by position, so an id equal to its position cannot be told from none). A string
    ``Feature.id`` is already a column ``id`` (GDAL makes it one)."""
    import pyogrio

    columns = {str(c).strip().lower() for c in gdf.columns}
    if any(alias in columns for alias in ID_ALIASES) or not len(gdf):
        return None
    try:
        _, table = pyogrio.read_arrow(source, columns=[], read_geometry=False, return_fids=True)
    except Exception:  # read once already: cannot fail but for a vanished file
        return None
    fids = np.asarray(table.column(0).to_numpy(zero_copy_only=False), dtype=np.int64)
    if len(fids) != len(gdf):
        return None
    numbered = fids == np.arange(len(fids))
    if numbered.all():
        return None
    if numbered.any():
        notes.append(
            f"GeoJSON Feature ids not used as ids: {int(numbered.sum())} of {len(fids)} "
            "features have none (or one equal to their position)"
        )
        return None
    notes.append("GeoJSON Feature ids (each feature's \"id\" member) used as the id column: "
                 "the properties have none")
    return pd.Series(fids, dtype="Int64")


def _is_wgs84(crs: Any) -> bool:
    """Whether ``crs`` is WGS84 degrees (EPSG:4326, or OGC:CRS84 with lng first)."""
    from pyproj import CRS

    return bool(crs.equals(CRS.from_epsg(4326), ignore_axis_order=True))


def _crs_label(crs: Any) -> str:
    """``"EPSG:4230 (ED50)"``, or the CRS's name when it has no authority code."""
    code = crs.to_authority()
    return f"{':'.join(code)} ({crs.name})" if code else repr(crs.name)
