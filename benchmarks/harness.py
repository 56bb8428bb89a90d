"""Shared benchmark machinery: real points, query points, timing, machine info, result files.

Nothing here knows about a particular index; ``bench_*.py`` scripts combine it with the
adapters in :mod:`benchmarks.methods`.

Real data is read straight from the files with pandas (lat/lng columns only), independently
of ``geo_discovery.ingest``, from ``--real-data`` / ``GEO_DISCOVERY_REAL_DATA`` /
``../shared/data`` beside the repository.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

__all__ = [
    "BENCH_DIR",
    "NYC_FILES",
    "REPO_ROOT",
    "PointSet",
    "Queries",
    "RealDataMissing",
    "base_parser",
    "chunks",
    "command_line",
    "eprint",
    "load_all_points",
    "load_nyc_points",
    "machine_info",
    "make_queries",
    "nyc_engine",
    "output_dir",
    "percentiles_us",
    "query_regions",
    "real_data_dir",
    "real_data_or_smoke",
    "rebuild_results_md",
    "resample_points",
    "synthetic_points",
    "time_calls",
    "write_results",
]

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
METRES_PER_DEG_LAT = 111_320.0

# The main city: named merchants plus Airbnb listings (lodging, but real city-scale density).
NYC_FILES: tuple[tuple[str, str, str], ...] = (
    ("nyc/nyc_retail_food_stores.csv", "latitude", "longitude"),
    ("nyc/nyc_restaurants_dohmh_mongodb_primer_subset.csv", "latitude", "longitude"),
    ("nyc/nyc_airbnb_listings_2019.csv.gz", "latitude", "longitude"),
)
# Column pairs recognised when reading every real file (``--dataset all``).
_LATLNG_PAIRS = (
    ("latitude", "longitude"),
    ("lat", "lon"),
    ("lat", "lng"),
    ("centroid_lat", "centroid_lon"),
)


class RealDataMissing(FileNotFoundError):
    """The real-data folder is absent; callers say so and skip."""


# --------------------------------------------------------------------------- points
@dataclass
class PointSet:
    """Points in one array order: ``lat``/``lng`` degrees, unique string ``ids``.

    ``source`` gives each point's index into ``sources`` (one dict per file read, with its
    row counts), so uniform query points can be drawn per source.
    """

    name: str
    lat: NDArray[np.float64]
    lng: NDArray[np.float64]
    ids: NDArray[np.object_]
    source: NDArray[np.int32]
    sources: list[dict[str, Any]] = field(default_factory=list)
    note: str = ""

    def __len__(self) -> int:
        return len(self.lat)

    def subsample(self, n: int, seed: int) -> PointSet:
        """``n`` points drawn without replacement (all of them if ``n >= len(self)``)."""
        if n >= len(self):
            return self
        rng = np.random.default_rng(seed)
        pick = np.sort(rng.choice(len(self), size=n, replace=False))
        return PointSet(
            name=f"{self.name}-sample{n}",
            lat=self.lat[pick],
            lng=self.lng[pick],
            ids=self.ids[pick],
            source=self.source[pick],
            sources=self.sources,
            note=f"{self.note} Random sample of {n:,} of its {len(self):,} points (seed {seed}).",
        )


def real_data_dir(explicit: str | Path | None = None) -> Path:
    """``explicit`` > ``GEO_DISCOVERY_REAL_DATA`` > ``../shared/data`` beside the repository.

    Raises :class:`RealDataMissing` naming the folder when it has no ``nyc/`` inside.
    """
    env = os.environ.get("GEO_DISCOVERY_REAL_DATA")
    if explicit:
        path = Path(explicit)
    elif env:
        path = Path(env)
    else:
        path = REPO_ROOT.parent / "shared" / "data"
    if not (path / "nyc").is_dir():
        raise RealDataMissing(
            f"real data not found at {path} (no nyc/ inside): pass --real-data DIR or set "
            "GEO_DISCOVERY_REAL_DATA"
        )
    return path.resolve()


def real_data_or_smoke(explicit: str | Path | None, smoke: bool, instead: str) -> Path | None:
    """:func:`real_data_dir`, or ``None`` in a smoke run without it (saying it uses
    ``instead``); a full run without real data raises :class:`RealDataMissing`."""
    try:
        return real_data_dir(explicit)
    except RealDataMissing as exc:
        if not smoke:
            raise
        eprint(f"{exc}; the smoke run uses {instead}")
        return None


def _valid(lat: NDArray[np.float64], lng: NDArray[np.float64]) -> NDArray[np.bool_]:
    """Finite, in range, and not the null island."""
    with np.errstate(invalid="ignore"):
        return (
            np.isfinite(lat)
            & np.isfinite(lng)
            & (np.abs(lat) <= 90.0)
            & (np.abs(lng) <= 180.0)
            & ~((lat == 0.0) & (lng == 0.0))
        )


def _read_csv_latlng(path: Path, lat_col: str, lng_col: str) -> tuple[NDArray, NDArray]:
    frame = pd.read_csv(path, usecols=[lat_col, lng_col], dtype=str, keep_default_na=True)
    lat = pd.to_numeric(frame[lat_col], errors="coerce").to_numpy(dtype=np.float64)
    lng = pd.to_numeric(frame[lng_col], errors="coerce").to_numpy(dtype=np.float64)
    return lat, lng


def _read_geojson_points(path: Path) -> tuple[NDArray, NDArray, int]:
    """Point features as lat/lng; returns how many non-point features were skipped too."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    feats = doc.get("features", []) if isinstance(doc, dict) else []
    lat, lng, skipped = [], [], 0
    for f in feats:
        geom = (f or {}).get("geometry") or {}
        coords = geom.get("coordinates")
        if geom.get("type") == "Point" and isinstance(coords, list) and len(coords) >= 2:
            try:
                lng.append(float(coords[0]))
                lat.append(float(coords[1]))
            except (TypeError, ValueError):
                lat.append(np.nan)
                lng.append(np.nan)
        else:
            skipped += 1
    return np.asarray(lat, dtype=np.float64), np.asarray(lng, dtype=np.float64), skipped


def _combine(name: str, parts: list[tuple[str, NDArray, NDArray, dict[str, Any]]]) -> PointSet:
    lats, lngs, ids, srcs, sources = [], [], [], [], []
    for i, (label, lat, lng, info) in enumerate(parts):
        ok = _valid(lat, lng)
        rows = np.flatnonzero(ok)
        info = {
            **info,
            "rows": len(lat),
            "kept": len(rows),
            "dropped_invalid": len(lat) - len(rows),
        }
        sources.append(info)
        lats.append(lat[ok])
        lngs.append(lng[ok])
        ids.append(np.array([f"{label}:{r}" for r in rows.tolist()], dtype=object))
        srcs.append(np.full(len(rows), i, dtype=np.int32))
    return PointSet(
        name=name,
        lat=np.concatenate(lats) if lats else np.empty(0),
        lng=np.concatenate(lngs) if lngs else np.empty(0),
        ids=np.concatenate(ids) if ids else np.empty(0, dtype=object),
        source=np.concatenate(srcs) if srcs else np.empty(0, dtype=np.int32),
        sources=sources,
    )


def load_nyc_points(data_dir: Path) -> PointSet:
    """NYC food stores + DOHMH restaurants + Airbnb 2019, invalid coordinates dropped."""
    parts = []
    for rel, lat_col, lng_col in NYC_FILES:
        lat, lng = _read_csv_latlng(data_dir / rel, lat_col, lng_col)
        parts.append((Path(rel).name.split(".")[0], lat, lng, {"file": rel}))
    ps = _combine("nyc", parts)
    ps.note = (
        "Real NYC points: retail food stores, DOHMH restaurants and Airbnb 2019 listings, read "
        "with pandas (rows with NaN, out-of-range or (0, 0) coordinates dropped; the DOHMH "
        "rows with junk coordinates elsewhere in the world are valid coordinates and kept)."
    )
    return ps


EXCLUDED_DIRS = frozenset({"checkins"})  # a visit log: evaluation-only, and not merchants


def point_files(data_dir: Path) -> list[Path]:
    """The .csv, .csv.gz and .geojson files under ``data_dir``, sorted: symlinked folders
    are followed, each real folder once (a link back up, or one folder under two names, is
    read once); a folder named in :data:`EXCLUDED_DIRS`, or a link to one, is left out."""
    found, seen = [], set()
    for root, dirs, names in os.walk(data_dir, followlinks=True):
        real = os.path.realpath(root)
        if real in seen or Path(real).name in EXCLUDED_DIRS:
            dirs[:] = []
            continue
        seen.add(real)
        dirs[:] = sorted(d for d in dirs if d not in EXCLUDED_DIRS)
        found += [Path(root) / n for n in names if n.endswith((".csv", ".csv.gz", ".geojson"))]
    return sorted((p for p in found if p.is_file()), key=lambda p: p.relative_to(data_dir))


def load_all_points(data_dir: Path) -> PointSet:
    """Every point in every real file under ``data_dir`` (CSV with a lat/lng column pair,
    GeoJSON Point features); polygon files are listed as skipped. Symlinked sub-folders
    are followed; ``checkins/`` is left out (a visit log licensed for evaluating the
    ranking only, and visits are not merchants). Raises ``ValueError`` when no point is
    found."""
    parts = []
    skipped: list[str] = []
    files = point_files(data_dir)
    for path in files:
        rel = str(path.relative_to(data_dir))
        label = path.name.split(".")[0]
        if path.name.endswith(".geojson"):
            lat, lng, n_other = _read_geojson_points(path)
            if len(lat) == 0:
                skipped.append(f"{rel} (no Point features: {n_other} other geometries)")
                continue
            parts.append((label, lat, lng, {"file": rel, "non_point_features": n_other}))
            continue
        header = pd.read_csv(path, nrows=0).columns
        pair = next((p for p in _LATLNG_PAIRS if p[0] in header and p[1] in header), None)
        if pair is None:
            skipped.append(f"{rel} (no lat/lng columns)")
            continue
        lat, lng = _read_csv_latlng(path, *pair)
        parts.append((label, lat, lng, {"file": rel, "columns": list(pair)}))
    ps = _combine("all", parts)
    if len(ps.lat) == 0:
        why = f"; skipped: {'; '.join(skipped)}" if skipped else ""
        raise ValueError(f"no valid points in the {len(files)} point files under {data_dir} "
                         f"(checkins/ left out){why}")  # fmt: skip
    ps.note = (
        f"Every real file under the data folder together ({len(parts)} files: NYC, New York "
        "State, Utah, four Airbnb cities, Helsinki, a worldwide Foursquare sample; invalid "
        "coordinates dropped; the check-in log in `checkins/` left out: evaluation-only "
        "licence, and visits are not merchants)."
        + (f" Skipped: {'; '.join(skipped)}." if skipped else "")
    )
    return ps


def nyc_engine(data_dir: Path, work: Path) -> Any:
    """A :class:`~geo_discovery.engine.DiscoveryEngine` over the real NYC merchants, loaded
    through the real pipeline into ``work`` (so it has word of mouth and districts)."""
    from geo_discovery.engine import DiscoveryEngine
    from geo_discovery.settings import Settings
    from geo_discovery.snapshot.pipeline import load

    files = [data_dir / rel for rel, _, _ in NYC_FILES]
    load(files, data_dir=work, settings=Settings(data_dir=work))
    return DiscoveryEngine.from_snapshot(work, settings=Settings(data_dir=work))


def synthetic_points(n: int, seed: int) -> PointSet:
    """Clustered points around a few NYC-like centres (for smoke runs without real data)."""
    rng = np.random.default_rng(seed)
    centres = np.array([[40.758, -73.985], [40.690, -73.990], [40.730, -73.860], [40.840, -73.90]])
    which = rng.integers(0, len(centres), n)
    spread_m = rng.choice([150.0, 800.0, 3000.0], size=n)
    lat = centres[which, 0] + rng.normal(0, 1, n) * spread_m / METRES_PER_DEG_LAT
    lng = centres[which, 1] + rng.normal(0, 1, n) * spread_m / (
        METRES_PER_DEG_LAT * np.cos(np.radians(centres[which, 0]))
    )
    ps = _combine("synthetic", [("synthetic", lat, lng, {"file": "synthetic"})])
    ps.note = f"Synthetic clustered points (seed {seed}); real data was not available."
    return ps


def resample_points(base: PointSet, n: int, *, jitter_m: float = 20.0, seed: int) -> PointSet:
    """``n`` points drawn with replacement from ``base``, each moved by Gaussian jitter of
    ``jitter_m`` metres per axis (fixed ``seed``), with unique ids ``r00000000``….

    Keeps the real data's clustering (cities, streets) at any size; used for the 100k, 1M
    and 10M datasets. Memory: about 100 bytes a point (coordinates, source, id strings).
    """
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(base), n)
    lat = base.lat[pick]
    lat = lat + rng.normal(0.0, jitter_m, n) / METRES_PER_DEG_LAT
    np.clip(lat, -90.0, 90.0, out=lat)
    lng = base.lng[pick] + rng.normal(0.0, jitter_m, n) / (
        METRES_PER_DEG_LAT * np.maximum(np.cos(np.radians(lat)), 1e-6)
    )
    lng = (lng + 180.0) % 360.0 - 180.0
    width = len(str(max(n - 1, 0)))
    ids = np.array([f"r{i:0{width}d}" for i in range(n)], dtype=object)
    name = f"{n // 1_000_000}m" if n % 1_000_000 == 0 else f"{n // 1000}k"
    return PointSet(
        name=name,
        lat=lat,
        lng=lng,
        ids=ids,
        source=base.source[pick],
        sources=base.sources,
        note=(
            f"**Resampled from real points with {jitter_m:g} m jitter**: {n:,} points drawn "
            f"with replacement from the {len(base):,} real points of `{base.name}` (seed "
            f"{seed}), each moved by Gaussian jitter of {jitter_m:g} m per axis; unique ids. "
            f"The real set: {base.note}"
        ),
    )


# --------------------------------------------------------------------------- queries
@dataclass(frozen=True)
class Queries:
    """Query points in a fixed random order; ``kind`` is ``"merchant"`` or ``"uniform"``."""

    lat: NDArray[np.float64]
    lng: NDArray[np.float64]
    kind: NDArray[np.str_]
    description: str

    def __len__(self) -> int:
        return len(self.lat)


def _haversine_km(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    p1, p2 = np.radians(lat1), np.radians(lat2)
    a = (
        np.sin((p2 - p1) / 2) ** 2
        + np.cos(p1) * np.cos(p2) * np.sin(np.radians(lng2 - lng1) / 2) ** 2
    )
    return float(2 * 6371.0 * np.arcsin(np.sqrt(min(a, 1.0))))


def query_regions(
    points: PointSet, *, merge_km: float = 50.0, max_diagonal_km: float = 1000.0
) -> list[dict[str, Any]]:
    """Regions for uniform query points: sources whose median locations lie within
    ``merge_km`` of each other form one region (NYC's files are one city), with the
    0.5–99.5 percentile box of the region's points (so a few junk coordinates do not
    stretch it). Regions whose box diagonal exceeds ``max_diagonal_km`` (a worldwide
    sample) are left out: uniform points there would be mostly ocean, not where people are.
    """
    medians = [
        (
            float(np.median(points.lat[points.source == s])),
            float(np.median(points.lng[points.source == s])),
        )
        if np.any(points.source == s)
        else None
        for s in range(len(points.sources))
    ]
    sizes = np.bincount(points.source, minlength=len(points.sources))
    regions: list[dict[str, Any]] = []
    for s in np.argsort(-sizes, kind="stable").tolist():
        if medians[s] is None:
            continue
        for reg in regions:
            if _haversine_km(*reg["anchor"], *medians[s]) <= merge_km:
                reg["sources"].append(s)
                break
        else:
            regions.append({"anchor": medians[s], "sources": [s]})
    kept = []
    for reg in regions:
        mine = np.isin(points.source, reg["sources"])
        lo_lat, hi_lat = np.percentile(points.lat[mine], [0.5, 99.5])
        lo_lng, hi_lng = np.percentile(points.lng[mine], [0.5, 99.5])
        diag = _haversine_km(lo_lat, lo_lng, hi_lat, hi_lng)
        reg.update(
            box=(float(lo_lat), float(lo_lng), float(hi_lat), float(hi_lng)),
            diagonal_km=diag,
            n_points=int(mine.sum()),
            files=[points.sources[i]["file"] for i in reg["sources"]],
        )
        if diag <= max_diagonal_km:
            kept.append(reg)
    return kept


def make_queries(
    points: PointSet,
    n: int,
    *,
    uniform_share: float = 0.2,
    jitter_m: float = 5.0,
    seed: int = 20_240_601,
) -> Queries:
    """Query points "where people are".

    ``1 - uniform_share`` of them are merchants' locations moved by a few metres of
    Gaussian jitter (``jitter_m`` standard deviation per axis); the rest are uniform in the
    box of a region (:func:`query_regions`), chosen in proportion to its points. For one
    city that is the city's 0.5–99.5 percentile box: streets, parks, rivers and all.
    """
    rng = np.random.default_rng(seed)
    regions = query_regions(points)
    n_uniform = round(n * uniform_share) if regions else 0
    n_merchant = n - n_uniform
    pick = rng.integers(0, len(points), n_merchant)
    m_lat = points.lat[pick]
    dlat = rng.normal(0.0, jitter_m, n_merchant) / METRES_PER_DEG_LAT
    dlng = rng.normal(0.0, jitter_m, n_merchant) / (
        METRES_PER_DEG_LAT * np.maximum(np.cos(np.radians(m_lat)), 1e-6)
    )
    q_lat = [np.clip(m_lat + dlat, -90.0, 90.0)]
    q_lng = [(points.lng[pick] + dlng + 180.0) % 360.0 - 180.0]
    weights = np.array([r["n_points"] for r in regions], dtype=np.float64)
    which = rng.choice(len(regions), size=n_uniform, p=weights / weights.sum()) if regions else []
    boxes = np.array([r["box"] for r in regions]).reshape(-1, 4)[which]
    q_lat.append(rng.uniform(boxes[:, 0], boxes[:, 2]) if n_uniform else np.empty(0))
    q_lng.append(rng.uniform(boxes[:, 1], boxes[:, 3]) if n_uniform else np.empty(0))
    kind = np.array(["merchant"] * n_merchant + ["uniform"] * n_uniform)
    order = rng.permutation(n)
    reg_txt = "; ".join(
        f"{' + '.join(Path(f).name.split('.')[0] for f in r['files'])} "
        f"({r['diagonal_km']:,.0f} km across)"
        for r in regions
    )
    return Queries(
        lat=np.concatenate(q_lat)[order],
        lng=np.concatenate(q_lng)[order],
        kind=kind[order],
        description=(
            f"{n:,} query points (seed {seed}): {n_merchant:,} at merchants' locations with "
            f"{jitter_m:g} m Gaussian jitter, {n_uniform:,} ({n_uniform / max(n, 1):.0%}) uniform "
            f"in the 0.5–99.5 percentile box of {len(regions)} region(s), by their points "
            f"[{reg_txt}]; shuffled"
        ),
    )


# --------------------------------------------------------------------------- timing
def time_calls(fn: Callable[[float, float], object], lat: NDArray, lng: NDArray) -> NDArray:
    """Nanoseconds of each ``fn(lat_i, lng_i)`` call, one query at a time (Python floats,
    the way a request handler calls it), measured with ``time.perf_counter_ns``."""
    out = np.empty(len(lat), dtype=np.int64)
    clock = time.perf_counter_ns
    for i, (a, b) in enumerate(zip(lat.tolist(), lng.tolist(), strict=True)):
        t0 = clock()
        fn(a, b)
        out[i] = clock() - t0
    return out


def percentiles_us(ns: NDArray) -> dict[str, float]:
    """p50 (the median), p90, p99, mean and min of nanosecond timings, in microseconds."""
    us = np.asarray(ns, dtype=np.float64) / 1e3
    p50, p90, p99 = np.percentile(us, [50, 90, 99])
    return {
        "p50_us": float(p50),
        "p90_us": float(p90),
        "p99_us": float(p99),
        "mean_us": float(us.mean()),
        "min_us": float(us.min()),
        "n": len(us),
    }


def chunks(n: int, size: int) -> Iterable[slice]:
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


# --------------------------------------------------------------------------- machine
def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git_revision() -> str:
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "geo_discovery"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        return rev + (" (geo_discovery/ modified)" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def machine_info(packages: Iterable[str] = ()) -> dict[str, Any]:
    """CPU model, cores, load, Python and package versions, date, git revision."""
    from importlib import metadata

    versions = {"numpy": np.__version__, "pandas": pd.__version__}
    for name in packages:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        usable = os.cpu_count() or 0
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover
        load = []
    return {
        "cpu": _cpu_model(),
        "cores_usable": usable,
        "cores_total": os.cpu_count(),
        "load_average_at_start": load,
        "os": platform.platform(),
        "python": platform.python_version(),
        "versions": versions,
        "date_utc": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "git": _git_revision(),
    }


def base_parser(
    module: str, doc: str | None, smoke: str = "a few seconds"
) -> argparse.ArgumentParser:
    """The options every bench script takes: --smoke (``smoke``: how long), --seed, …"""
    p = argparse.ArgumentParser(
        prog=f"python -m {module}",
        description=doc,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--smoke", action="store_true", help=f"tiny run (CI), {smoke}")
    p.add_argument("--seed", type=int, default=20_240_601)
    p.add_argument("--real-data", default=None, help="folder with nyc/ (default: ../shared/data)")
    p.add_argument("--out-dir", default=None, help="where results/ and RESULTS.md go")
    return p


def command_line(module: str, argv: list[str]) -> str:
    """The exact command, as typed from the repository root."""
    return shlex.join(["python", "-m", module, *argv])


# --------------------------------------------------------------------------- results
RESULTS_HEADER = """# Benchmark results

Generated by the scripts in `benchmarks/` (do not edit by hand: each run rewrites its own
section from `benchmarks/results/*.json`). Reproduce a section with the command shown in it,
from the repository root, inside the project's virtual environment.
"""


def output_dir(explicit: str | None, smoke: bool, prefix: str) -> Path:
    """Where a run writes: ``--out-dir`` when given, else a new temporary folder for a
    smoke run (which must never touch ``benchmarks/RESULTS.md``), else ``benchmarks/``."""
    if explicit:
        return Path(explicit)
    if smoke:
        return Path(tempfile.mkdtemp(prefix=f"{prefix}_smoke_"))
    return BENCH_DIR


def write_results(out_dir: Path, key: str, result: dict[str, Any], markdown: str) -> Path:
    """Write ``results/<key>.json`` under ``out_dir`` and rebuild ``out_dir/RESULTS.md``.

    ``RESULTS.md`` is the header followed by the ``markdown`` section stored in every JSON
    file of ``results/`` (sorted by their ``order`` field, then name), so one script's run
    never erases another's section. Returns the path of ``RESULTS.md``.
    """
    res_dir = out_dir / "results"
    res_dir.mkdir(parents=True, exist_ok=True)
    payload = {**result, "markdown": markdown}
    (res_dir / f"{key}.json").write_text(json.dumps(payload, indent=1, default=_json_default))
    return rebuild_results_md(out_dir)


def rebuild_results_md(out_dir: Path) -> Path:
    """Rewrite ``out_dir/RESULTS.md`` from the sections in ``out_dir/results/*.json``."""
    sections = []
    for path in sorted((out_dir / "results").glob("*.json")):
        try:
            doc = json.loads(path.read_text())
        except ValueError:
            continue
        if isinstance(doc, dict) and isinstance(doc.get("markdown"), str):
            sections.append((doc.get("order", 100), path.name, doc["markdown"]))
    sections.sort(key=lambda s: (s[0], s[1]))
    text = RESULTS_HEADER + "".join("\n" + s[2].rstrip() + "\n" for s in sections)
    md = out_dir / "RESULTS.md"
    md.write_text(text)
    return md


def _json_default(obj: object) -> object:
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def eprint(*args: object) -> None:
    print(*args, file=sys.stderr, flush=True)
