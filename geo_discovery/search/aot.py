"""The single-query search kernels compiled ahead of time, for a fast first answer.

Any ``@njit`` function, even one loaded from numba's on-disk cache, pays numba's own
start-up at its first call in a process: about 0.35 s (``BaseContext.refresh`` loading
every typing and lowering registry), however small the query. A server replica or a
notebook that opens a snapshot and answers one question waits that long.

:func:`build` (run by ``geo-discovery warm-up``, hence by ``make install``) compiles
:func:`~geo_discovery.search.kernels.knn_one`, :func:`~geo_discovery.search.kernels.radius_one`
and :func:`~geo_discovery.distance.m2c2_1` with ``numba.pycc`` into a small C extension
beside this file: the same Python source through the same LLVM pipeline, but importable
without numba (under a millisecond). :func:`kernel` hands :class:`CellIndex` the compiled
entry point for its exact array types, or ``None`` (then the ``@njit`` kernel runs).

Staleness is impossible by construction: the extension's module name carries a digest of the
kernels' source files, numba's and Python's versions (:func:`source_digest`), so after any
edit the old build is simply not found, and the jitted kernels answer until the next
warm-up. ``GEO_DISCOVERY_NO_AOT=1`` in the environment ignores a built extension. Entry points
are exported per exact signature (int32/int64 rows, read-only memory-mapped or writable
arrays); a call whose arrays match none of them uses the jitted kernel, never a
reinterpretation of the memory.

Examples
--------
>>> import numpy as np
>>> rows = np.zeros(3, dtype=np.int32)
>>> signature_key(rows, rows)
('int32', False, False)
>>> len(source_digest())
16
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import os
import platform
import sys
import tempfile
import warnings
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from numpy.typing import NDArray

__all__ = ["DISABLE", "build", "kernel", "m2c2", "module_name", "signature_key", "source_digest"]

_HERE = Path(__file__).resolve().parent
#: Every file whose code is compiled into the extension (kernels inline distance helpers).
_SOURCES = (_HERE / "kernels.py", _HERE.parent / "distance.py", Path(__file__).resolve())
_PREFIX = "_aot_kernels_"
#: Set to ``1`` to ignore a built extension (the jitted kernels answer; for comparisons).
DISABLE = "GEO_DISCOVERY_NO_AOT"
_ROWS = ("int32", "int64")


def source_digest() -> str:
    """16 hex digits over the compiled sources, numba's and Python's versions and the
    machine architecture (pycc compiles for the architecture's generic CPU)."""
    import numba  # already imported by the kernels; its version names the compiler

    h = hashlib.sha256()
    for path in _SOURCES:
        h.update(path.read_bytes())
    h.update(f"{numba.__version__}|{sys.version}|{platform.machine()}".encode())
    return h.hexdigest()[:16]


def module_name() -> str:
    """The extension's module name for the current sources."""
    return _PREFIX + source_digest()


def signature_key(rank: NDArray, positions: NDArray, *arrays: NDArray) -> tuple[str, bool, bool]:
    """``(row dtype, read-only, read-only)`` of an index's arrays, or a key no export has.

    The first flag is for ``rank``/``positions``, the second for ``tree``/``xyz``
    (``arrays``; with none, the same as the first). Arrays must be C-contiguous and the two
    row arrays share a dtype and a flag, else the key names the mismatch and matches nothing.
    """
    every = (rank, positions, *arrays)
    if not all(a.flags.c_contiguous and a.flags.aligned for a in every):
        return ("not contiguous", False, False)
    if rank.dtype != positions.dtype or rank.flags.writeable != positions.flags.writeable:
        return ("mixed rows", False, False)
    big = arrays or (rank,)
    if any(a.flags.writeable != big[0].flags.writeable for a in big):
        return ("mixed flags", False, False)
    return (str(rank.dtype), not rank.flags.writeable, not big[0].flags.writeable)


def _name(kind: str, key: tuple[str, bool, bool]) -> str:
    rows, ro_rows, ro_tree = key
    return f"{kind}_{rows}_{'r' if ro_rows else 'w'}{'r' if ro_tree else 'w'}"


@cache
def _module() -> Any:
    """The built extension for the current sources, or ``None`` (not built, stale, or
    switched off with the environment variable ``GEO_DISCOVERY_NO_AOT=1``)."""
    if os.environ.get(DISABLE, "") not in ("", "0"):
        return None
    try:
        return importlib.import_module(f"{__package__}.{module_name()}")
    except ImportError:
        return None


def kernel(kind: str, key: tuple[str, bool, bool]) -> Callable[..., Any] | None:
    """The compiled ``kind`` (``knn_one``, ``radius_one``) for arrays with ``key``, if built."""
    mod = _module()
    return None if mod is None else getattr(mod, _name(kind, key), None)


def m2c2(distance_m: float) -> float:
    """:func:`~geo_discovery.distance.m2c2_1` through the extension when built (no numba
    start-up), else the jitted one; the same compiled code either way."""
    mod = _module()
    if mod is not None:
        return float(mod.m2c2_1(distance_m))
    from ..distance import m2c2_1

    return float(m2c2_1(distance_m))


def _signatures() -> dict[str, Any]:
    """Every export: name → numba signature."""
    from numba import types

    def arr(dtype: Any, ndim: int, readonly: bool) -> Any:
        return types.Array(dtype, ndim, "C", readonly=readonly)

    f8, i8, b1 = types.float64, types.int64, types.bool_
    out: dict[str, Any] = {"m2c2_1": f8(f8)}
    for rows in _ROWS:
        ri = getattr(types, rows)
        for ro_rows in (False, True):
            for ro_tree in (False, True):
                key = (rows, ro_rows, ro_tree)
                tree, xyz = arr(i8, 2, ro_tree), arr(f8, 2, ro_tree)
                rank, pos = arr(ri, 1, ro_rows), arr(ri, 1, ro_rows)
                mask = arr(b1, 1, False)
                out[_name("knn_one", key)] = i8(
                    f8, f8, i8, f8, tree, xyz, rank, pos, mask, arr(i8, 1, False), arr(f8, 1, False)
                )
                caps = arr(types.float32, 2, ro_tree)
                out[_name("radius_one", key)] = types.Tuple((arr(i8, 1, False), arr(f8, 1, False)))(
                    f8, f8, f8, caps, tree, xyz, rank, pos, mask
                )
    return out


def build(directory: Path | None = None, *, force: bool = False) -> Path:
    """Compile the extension into ``directory`` (default: beside this file) unless it is
    there for the current sources (or ``force``); remove older builds; return its path.

    Needs numba and a C compiler (``cc``). The module is compiled in a temporary folder and
    renamed into place, so a process that has the previous file loaded keeps its mapping.
    """
    from numba.core.errors import NumbaPendingDeprecationWarning

    from ..distance import m2c2_1
    from . import kernels

    directory = Path(directory) if directory is not None else _HERE
    name = module_name()
    done = sorted(directory.glob(f"{name}.*"))
    if not done or force:
        with tempfile.TemporaryDirectory(prefix=".aot-", dir=directory) as tmp:
            with warnings.catch_warnings():  # numba.pycc is "pending deprecation"
                warnings.simplefilter("ignore", NumbaPendingDeprecationWarning)
                from numba.pycc import CC

                cc = CC(name)
                cc.output_dir = tmp
                cc.verbose = False
                funcs: dict[str, Any] = {
                    "knn_one": kernels.knn_one,
                    "radius_one": kernels.radius_one,
                    "m2c2_1": m2c2_1,
                }
                for export, sig in _signatures().items():
                    kind = export if export == "m2c2_1" else export.rsplit("_", 2)[0]
                    cc.export(export, sig)(funcs[kind].py_func)
                cc.compile()
            built = sorted(Path(tmp).glob(f"{name}.*"))
            if not built:  # pragma: no cover - pycc raises on a failed compile
                raise FileNotFoundError(f"numba.pycc wrote no {name} module in {tmp}")
            done = [directory / built[0].name]
            os.replace(built[0], done[0])
    for old in directory.glob(f"{_PREFIX}*"):
        if not old.name.startswith(f"{name}."):
            with contextlib.suppress(OSError):
                old.unlink()
    _module.cache_clear()
    importlib.invalidate_caches()
    return done[0]
