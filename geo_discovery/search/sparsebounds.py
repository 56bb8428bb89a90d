"""Node bounds over a few points: the category part of a text query's walk.

:func:`~geo_discovery.search.ranked.node_bounds` visits every point of the trie, O(n);
a text query whose matches are a handful of categories needs bounds over those merchants
only, once per query. :func:`sparse_node_bounds` raises, for each such point, its leaf and
the ancestors it changes, O(points × depth), over the links :func:`trie_links` computes
once per index. Every node then holds the same maximum quality, minimum factor and "has
one" that the full pass over a mask of those points gives
(``tests/search/test_ranked_kernel.py`` compares them node by node).
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numpy.typing import NDArray

from .textscore import as_int

__all__ = ["CODE_BUCKETS", "code_buckets", "lift_nodes", "sparse_node_bounds", "trie_links"]

CODE_BUCKETS = 64  #: category codes fold into this many bits of a node's mask (code % 64)


@njit(cache=True, nogil=True)
def trie_links(tree: NDArray, n_points: int) -> tuple[NDArray, NDArray]:  # pragma: no cover
    """Each trie node's parent (-1 at the root) and each point's leaf."""
    parent = np.full(tree.shape[0], -1, dtype=np.int64)
    leaf_of = np.empty(n_points, dtype=np.int64)
    for j in range(tree.shape[0]):
        lo, hi = tree[j, 2], tree[j, 3]
        if lo >= 0:
            for c in range(lo, hi):
                parent[c] = j
        else:
            for p in range(-lo - 1, hi):
                leaf_of[p] = j
    return parent, leaf_of


@njit(cache=True, nogil=True)
def sparse_node_bounds(
    parent: NDArray, leaf_of: NDArray, points: NDArray, quality: NDArray, factor: NDArray,
    mask: NDArray, positions: NDArray,
) -> tuple[NDArray, NDArray, NDArray]:  # pragma: no cover - compiled  # fmt: skip
    """:func:`node_bounds` over only the eligible ``points`` (cell order), in
    O(points × depth): each raises its leaf and the ancestors it changes (an ancestor
    already covering it covers it from there up)."""
    n_nodes = parent.shape[0]
    use_mask = mask.shape[0] > 0
    nq = np.full(n_nodes, -np.inf)
    nk = np.full(n_nodes, np.inf)
    has = np.zeros(n_nodes, dtype=np.bool_)
    for i in range(points.shape[0]):
        p = as_int(points[i])
        if use_mask and not mask[positions[p]]:
            continue
        q, f = quality[p], factor[p]
        node = leaf_of[p]
        while node >= 0:
            changed = not has[node]
            has[node] = True
            if q > nq[node]:
                nq[node] = q
                changed = True
            if f < nk[node]:
                nk[node] = f
                changed = True
            if not changed:
                break
            node = parent[node]
    return nq, nk, has


@njit(cache=True, nogil=True)
def lift_nodes(
    parent: NDArray, leaf_of: NDArray, points: NDArray, lifts: NDArray
) -> tuple[NDArray, NDArray]:  # pragma: no cover - compiled
    """The trie nodes above any of ``points`` (cell order), ascending, each with the
    largest of ``lifts`` among the points below it, in O(points × depth)."""
    depth = 0
    node = leaf_of[points[0]] if points.shape[0] else -1
    while node >= 0:
        depth += 1
        node = parent[node]
    nodes = np.empty(points.shape[0] * (depth + 1) + 1, dtype=np.int64)
    vals = np.empty(nodes.shape[0], dtype=np.float64)
    n = 0
    for i in range(points.shape[0]):
        node = leaf_of[points[i]]
        while node >= 0:
            if n == nodes.shape[0]:  # a deeper branch: grow
                nodes = np.concatenate((nodes, np.empty(nodes.shape[0], dtype=np.int64)))
                vals = np.concatenate((vals, np.empty(vals.shape[0], dtype=np.float64)))
            nodes[n], vals[n] = node, lifts[i]
            n += 1
            node = parent[node]
    order = np.argsort(nodes[:n], kind="mergesort")
    out_n = np.empty(n, dtype=np.int64)
    out_v = np.empty(n, dtype=np.float64)
    m = 0
    for j in order:
        if m > 0 and out_n[m - 1] == nodes[j]:
            out_v[m - 1] = max(out_v[m - 1], vals[j])
        else:
            out_n[m], out_v[m] = nodes[j], vals[j]
            m += 1
    return out_n[:m], out_v[:m]


@njit(cache=True, nogil=True)
def code_buckets(
    parent: NDArray, leaf_of: NDArray, codes: NDArray
) -> NDArray:  # pragma: no cover - compiled
    """Each trie node's mask of the category codes below it (bit ``code % 64``), from each
    point's ``codes`` (cell order). A node holding a bit has it in every ancestor, so a
    point stops climbing at the first node that already has its bit."""
    out = np.zeros(parent.shape[0], dtype=np.uint64)
    for p in range(codes.shape[0]):
        bit = np.uint64(1) << np.uint64(codes[p] % CODE_BUCKETS)
        node = leaf_of[p]
        while node >= 0 and (out[node] & bit) == 0:
            out[node] |= bit
            node = parent[node]
    return out
