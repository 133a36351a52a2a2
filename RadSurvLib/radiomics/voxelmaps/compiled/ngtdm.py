"""NGTDM voxel maps, compiled (Numba): every kernel's neighbouring gray tone difference table and its
five features in one pass over its cube.

Same values as the torch path ``radiomics.families.ngtdm.compute`` (its docstring and its feature
functions, one per feature with formula and IBSI tag, are the specification; PyRadiomics
``ngtdm``, distance 1, 26-neighbourhood):

* for each kernel voxel q (level > 0), A_q = the mean level of its neighbours that are in the cube
  and in the kernel; n_i counts every kernel voxel of level i, s_i sums |i - A_q| over those with
  at least one such neighbour (a voxel without one adds 1 to n_i and nothing to s_i, as the C
  extension's ``calculate_ngtdm`` on the kernel mask);
* p_i = n_i / N_vp, N_gp = the number of levels present; the level-pair sums run over the levels
  present (each unordered pair once, doubled: the diagonal adds 0 to every pair sum);
* Coarseness 1e6 when sum p_i s_i = 0, Contrast 0 when N_gp = 1, Busyness 0 when its denominator
  is 0, Strength 0 when sum s_i = 0 (PyRadiomics).

How: serial loops over the chunk's kernels (the engine's threads run chunks side by side;
``nogil``); scratch (a level -> rank table, per-rank n_i, s_i, level) allocated once per chunk,
the kernel's levels ranked in order of first appearance (the features do not depend on it).
"""

from __future__ import annotations

import numpy as np

from ...families.ngtdm import FEATURES
from ...numba_jit import jit

#: Features computed here (all five), in the order of the kernel's value rows.
NAMES = tuple(FEATURES)
_INDEX = {name: k for k, name in enumerate(NAMES)}
_NEIGHBOURS = {}


def neighbour_lists(D: int):
    """For each voxel of a (D, D, D) cube (z, y, x raster order), the flat indices of its 26
    neighbours that lie in the cube.

    Returns:
        (neighbours, counts): int64 (D^3, 26), valid up to ``counts[q]`` (padded with 0), and
        int64 (D^3,).
    """
    if D not in _NEIGHBOURS:
        neighbours = np.zeros((D ** 3, 26), np.int64)
        counts = np.zeros(D ** 3, np.int64)
        offsets = [(a, b, c) for a in (-1, 0, 1) for b in (-1, 0, 1) for c in (-1, 0, 1) if (a, b, c) != (0, 0, 0)]
        for q, (z, y, x) in enumerate(np.ndindex(D, D, D)):
            for a, b, c in offsets:
                if 0 <= z + a < D and 0 <= y + b < D and 0 <= x + c < D:
                    neighbours[q, counts[q]] = ((z + a) * D + (y + b)) * D + (x + c)
                    counts[q] += 1
        _NEIGHBOURS[D] = (neighbours, counts)
    return _NEIGHBOURS[D]


def compute(cubes, n_levels, names, **_):
    """NGTDM features of each kernel.

    Args:
        cubes: int (n, D, D, D) numpy array, axis order (kernel, z, y, x), gray levels 1..n_levels,
            0 = not in the kernel (layout: ``radiomics.families``' package docstring).
        n_levels: N_g, the highest gray level of the support (sizes the level table).
        names: feature names from ``NAMES``.

    Returns:
        dict name -> numpy float64 (n,).

    Raises:
        KeyError: a name not in ``NAMES``.
    """
    cubes = np.ascontiguousarray(cubes, dtype=np.int64)
    n, D = cubes.shape[0], cubes.shape[1]
    rows = np.array([_INDEX[f] for f in names], np.int64)
    neighbours, counts = neighbour_lists(D)
    out = _kernels(cubes.reshape(n, D ** 3), neighbours, counts, int(n_levels), rows)
    return {f: out[k] for k, f in enumerate(names)}


@jit
def _kernels(flat, neighbours, counts, n_levels, rows):
    """(len(rows), n) float64: row k = feature ``NAMES[rows[k]]`` of each kernel (flat (n, D^3))."""
    n, K = flat.shape
    out = np.empty((rows.size, n), np.float64)
    rank_of = np.full(n_levels + 1, -1, np.int64)
    level = np.zeros(K, np.float64)
    n_i = np.zeros(K, np.float64)
    s_i = np.zeros(K, np.float64)
    p = np.zeros(K, np.float64)
    vals = np.empty(5, np.float64)
    for v in range(n):
        cube = flat[v]
        L = 0
        for q in range(K):
            g = cube[q]
            if g <= 0:
                continue
            r = rank_of[g]
            if r < 0:
                r = L
                rank_of[g] = r
                level[r] = g
                n_i[r] = 0.0
                s_i[r] = 0.0
                L += 1
            total = 0
            count = 0
            for j in range(counts[q]):
                h = cube[neighbours[q, j]]
                if h > 0:
                    total += h
                    count += 1
            n_i[r] += 1.0
            if count > 0:
                s_i[r] += abs(g - float(total) / count)
        _features(L, level, n_i, s_i, p, vals)
        for k in range(rows.size):
            out[k, v] = vals[rows[k]]
        for r in range(L):
            rank_of[int(level[r])] = -1
    return out


@jit
def _features(L, level, n_i, s_i, p, vals):
    """The five features (``NAMES`` order) of one kernel's table of L levels (formulas:
    ``families.ngtdm``)."""
    nvp = 0.0
    for r in range(L):
        nvp += n_i[r]
    ps = 0.0
    s_sum = 0.0
    for r in range(L):
        p[r] = n_i[r] / nvp
        ps += p[r] * s_i[r]
        s_sum += s_i[r]
    contrast = 0.0
    busy = 0.0
    complexity = 0.0
    strength = 0.0
    for a in range(L):
        for b in range(a + 1, L):
            d = level[a] - level[b]
            d2 = d * d
            contrast += p[a] * p[b] * d2
            busy += abs(level[a] * p[a] - level[b] * p[b])
            complexity += abs(d) * (p[a] * s_i[a] + p[b] * s_i[b]) / (p[a] + p[b])
            strength += (p[a] + p[b]) * d2
    contrast *= 2
    busy *= 2
    complexity *= 2
    strength *= 2
    n_pairs = float(L) * (L - 1)
    vals[_COARSENESS] = 1e6 if ps == 0 else 1.0 / ps
    vals[_CONTRAST] = 0.0 if n_pairs == 0 else contrast * s_sum / nvp / n_pairs
    vals[_BUSYNESS] = 0.0 if busy == 0 else ps / busy
    vals[_COMPLEXITY] = complexity / nvp
    vals[_STRENGTH] = 0.0 if s_sum == 0 else strength / s_sum


_COARSENESS = _INDEX["Coarseness"]
_CONTRAST = _INDEX["Contrast"]
_BUSYNESS = _INDEX["Busyness"]
_COMPLEXITY = _INDEX["Complexity"]
_STRENGTH = _INDEX["Strength"]
