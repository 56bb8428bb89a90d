"""Geometry formats and Parquet: GeoJSON, GeoPackage, Shapefile, (Geo)Parquet.

Read through pyogrio / geopandas: point geometries give ``lat``/``lng`` (a projected
CRS is converted to EPSG:4326; ``--crs`` states the CRS of a file that names none, or
a wrong one), ``source_line`` is the 1-based feature number. Plain Parquet gives its
columns as they are (coordinates come from columns). Every cell becomes text, so all
formats go through the same validation.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import IngestError
from .options import ReadOptions
from .raw import Progress, RawTable
from .validate import Problems

__all__ = ["read_geo", "read_parquet"]


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


def read_parquet(path: Path, progress: Progress | None, options: ReadOptions) -> RawTable:
    """A Parquet file: GeoParquet through geopandas, plain Parquet column by column."""
    import pyarrow.parquet as pq

    try:
        metadata = pq.read_schema(path).metadata or {}
    except Exception as exc:  # pyarrow raises several types for corrupt files
        raise IngestError(f"{path}: cannot read Parquet ({exc}); expected a Parquet file") from None
    if b"geo" in metadata:
        return read_geo(path, str(path), "geoparquet", progress, options)
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


def read_geo(
    path: Path, source: str, fmt: str, progress: Progress | None, options: ReadOptions
) -> RawTable:
    """A GeoJSON, GeoPackage, Shapefile or GeoParquet ``source`` (a GDAL path)."""
    import geopandas as gpd
    import shapely

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if fmt == "geoparquet":
                gdf = gpd.read_parquet(source)
            else:
                gdf = gpd.read_file(source, engine="pyogrio")
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
    gdf = gdf.reset_index(drop=True)
    if options.crs is not None:
        gdf = gdf.set_crs(options.crs, allow_override=True).to_crs(4326)
    elif gdf.crs is not None and gdf.crs.is_projected:
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
    for note in gdal_notes:
        problems.note(note)
    return _table_from_frame(
        path, fmt, props, progress,
        problems=problems, lat=lat, lng=lng, geometry_wkt=wkt,
    )
