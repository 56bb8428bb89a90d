"""The kernels compiled ahead of time (geo_discovery/search/aot.py).

* the extension exists for the current sources after ``geo-discovery warm-up`` (``make
  install`` / ``make test`` run it) and an index picks it for its exact array types;
* its answers equal the jitted kernels' bit for bit (hypothesis: random points, clusters at
  both poles and across the antimeridian; in memory and memory-mapped read-only);
* arrays of any other type take the jitted kernel, never a reinterpretation;
* any edit to a compiled source names a different module, so a stale build is not found;
* a fresh process answers its first kNN and radius queries without loading one jitted
  kernel (the point of the extension: no numba start-up at the first query).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geo_discovery.distance import m2c2_1
from geo_discovery.search import aot, kernels
from geo_discovery.search.index import CellIndex, build_cell_index

PROPERTY = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
WARM_UP = "run `geo-discovery warm-up` (make install and make test do) to build it"


def test_the_extension_is_built_for_these_sources() -> None:
    assert aot.kernel("knn_one", ("int32", True, True)) is not None, WARM_UP
    assert aot.m2c2(1000.0) == m2c2_1(1000.0)


def _cloud(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    centre = draw(
        st.sampled_from([(89.99, 0.0), (-89.99, 120.0), (0.0, 179.999), (40.75, -73.98)])
    )
    n = draw(st.integers(1, 400))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    spread = draw(st.sampled_from([1e-4, 0.01, 0.5]))
    lat = np.clip(centre[0] + rng.normal(0, spread, n), -90.0, 90.0)
    lng = (centre[1] + rng.normal(0, spread, n) + 180.0) % 360.0 - 180.0
    return lat, lng


@st.composite
def _case(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, float, float, int, float]:
    lat, lng = _cloud(draw)
    i = draw(st.integers(0, len(lat) - 1))
    qlat = float(np.clip(lat[i] + draw(st.floats(-0.01, 0.01)), -90.0, 90.0))
    qlng = float((lng[i] + draw(st.floats(-0.01, 0.01)) + 180.0) % 360.0 - 180.0)
    k = draw(st.integers(1, 30))
    radius = draw(st.sampled_from([0.0, 5.0, 150.0, 2_000.0, 50_000.0]))
    return lat, lng, qlat, qlng, k, radius


def _both(index: CellIndex, qlat: float, qlng: float, k: int, radius: float) -> None:
    assert index.knn_kernel is not kernels.knn_one, WARM_UP
    assert index.radius_kernel is not kernels.radius_one, WARM_UP
    no_mask = np.zeros(0, dtype=np.bool_)
    for max_c2 in (math.inf, m2c2_1(radius)):
        got = np.empty(k, np.int64), np.empty(k, np.float64)
        want = np.empty(k, np.int64), np.empty(k, np.float64)
        n = index.knn_kernel(qlat, qlng, k, max_c2, *index.knn_arrays, no_mask, *got)
        m = kernels.knn_one(qlat, qlng, k, max_c2, *index.knn_arrays, no_mask, *want)
        assert n == m
        assert np.array_equal(got[0][:n], want[0][:n])
        assert np.array_equal(got[1][:n], want[1][:n])
    c2 = m2c2_1(radius)
    got_r = index.radius_kernel(qlat, qlng, c2, *index.search_arrays, no_mask)
    want_r = kernels.radius_one(qlat, qlng, c2, *index.search_arrays, no_mask)
    assert np.array_equal(got_r[0], want_r[0])
    assert np.array_equal(got_r[1], want_r[1])


@PROPERTY
@given(case=_case())
def test_compiled_ahead_equals_jitted_in_memory_and_mapped(
    case: tuple[np.ndarray, np.ndarray, float, float, int, float], tmp_path: Path
) -> None:
    lat, lng, qlat, qlng, k, radius = case
    index = build_cell_index(lat, lng, [f"m{i}" for i in range(len(lat))])
    _both(index, qlat, qlng, k, radius)
    folder = tmp_path / f"ix{len(lat)}_{k}"
    index.to_directory(folder)
    mapped = CellIndex.from_directory(folder, mmap=True)
    assert not mapped.xyz.flags.writeable
    _both(mapped, qlat, qlng, k, radius)


def test_other_array_types_take_the_jitted_kernel() -> None:
    rows = np.arange(4, dtype=np.int32)
    assert aot.signature_key(rows, rows.astype(np.int64))[0] == "mixed rows"
    assert aot.signature_key(rows[::2], rows[::2])[0] == "not contiguous"
    frozen = rows.copy()
    frozen.flags.writeable = False
    tree = np.zeros((2, 4), np.int64)
    assert aot.signature_key(rows, rows, tree, np.zeros((2, 3)).view(np.ndarray))[1:] == (
        False,
        False,
    )
    assert aot.signature_key(frozen, frozen, tree)[1:] == (True, False)
    for bad in ("mixed rows", "not contiguous", "float32"):
        assert aot.kernel("knn_one", (bad, False, False)) is None
    # An index whose rows are uint32 (no export for them) still answers, through numba.
    index = build_cell_index(np.array([1.0, 2.0]), np.array([3.0, 4.0]), ["a", "b"])
    odd = CellIndex(
        resolution=index.resolution,
        cells=index.cells,
        offsets=index.offsets,
        positions=index.positions.astype(np.uint32),
        xyz=index.xyz,
        lat=index.lat,
        lng=index.lng,
        rank=index.rank.astype(np.uint32),
        cell_bbox=index.cell_bbox,
        tree=index.tree,
    )
    assert odd.knn_kernel is kernels.knn_one
    assert odd.radius_kernel is kernels.radius_one
    assert list(odd.knn(1.0, 3.0, 2)[0]) == list(index.knn(1.0, 3.0, 2)[0])


def test_an_edited_source_names_another_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = aot.module_name()
    copy = tmp_path / "kernels.py"
    copy.write_text(Path(kernels.__file__).read_text() + "\n# edited\n")
    monkeypatch.setattr(aot, "_SOURCES", (copy, *aot._SOURCES[1:]))
    assert aot.module_name() != before
    aot._module.cache_clear()
    try:
        assert aot.kernel("knn_one", ("int32", True, True)) is None
    finally:
        monkeypatch.undo()
        aot._module.cache_clear()
    assert aot.module_name() == before


_FIRST_QUERY = """
import json, sys
from pathlib import Path
from geo_discovery.engine import DiscoveryEngine
from geo_discovery.search import kernels
from geo_discovery import distance
from geo_discovery.settings import Settings
data_dir = Path(sys.argv[1])
engine = DiscoveryEngine.from_snapshot(data_dir, settings=Settings(data_dir=data_dir))
near = engine.nearby(60.17, 24.94, 20).merchant_ids
ring = engine.within_radius(60.17, 24.94, 300.0).merchant_ids
loaded = [f.__name__ for f in (kernels.knn_one, kernels.radius_one, distance.m2c2_1)
          if f.signatures]
print(json.dumps({"near": near, "ring": ring, "jitted": loaded}))
"""


def test_a_fresh_process_answers_without_a_jitted_kernel(
    sample_data_dir: Path, sample_engine: object
) -> None:
    out = subprocess.run(
        [sys.executable, "-c", _FIRST_QUERY, str(sample_data_dir)],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["jitted"] == [], WARM_UP
    assert got["near"] == sample_engine.nearby(60.17, 24.94, 20).merchant_ids  # type: ignore[attr-defined]
    assert got["ring"] == sample_engine.within_radius(60.17, 24.94, 300.0).merchant_ids  # type: ignore[attr-defined]
    assert len(got["near"]) == 20


def test_building_again_keeps_the_current_module() -> None:
    path = aot.build()
    assert path.name.startswith(aot.module_name() + ".")
    stamp = path.stat().st_mtime_ns
    assert aot.build() == path
    assert path.stat().st_mtime_ns == stamp


@pytest.mark.real_data
def test_compiled_ahead_equals_jitted_on_the_real_nyc_snapshot(nyc_engine: object) -> None:
    index: CellIndex = nyc_engine.snapshot.index  # type: ignore[attr-defined]
    assert not index.xyz.flags.writeable  # memory-mapped from the snapshot
    rng = np.random.default_rng(7)
    rows = rng.choice(len(index), 400, replace=False)
    lat = index.lat[rows] + rng.normal(0, 0.002, 400)
    lng = index.lng[rows] + rng.normal(0, 0.002, 400)
    for i in range(400):
        _both(index, float(lat[i]), float(lng[i]), 20, 400.0)
