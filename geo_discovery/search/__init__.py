"""Search: the index (one trie over points in H3 order) and the walks over it.

:mod:`.index` holds :class:`CellIndex`; :mod:`.kernels` the compiled kNN and radius walks;
:mod:`.ranked` the best-first top-k by any monotone score over the same trie;
:mod:`.planner` turns a validated query into one of those walks; :mod:`.cursor` signs
page cursors; :mod:`.shapes` reads boxes and polygons in every common form.
"""

from .index import CellIndex, build_cell_index

__all__ = ["CellIndex", "build_cell_index"]
