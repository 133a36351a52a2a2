"""The zone-matrix formulas of the GLSZM, GLRLM and GLDM (``radiomics.families.zones``), compiled:
the features of one kernel's (gray level x second index) count matrix, and what the three compiled
families (``compiled.glszm``, ``compiled.glrlm``, ``compiled.gldm``) share around it.

A kernel's matrix P (rows: the kernel's distinct gray levels, ranked in the order the kernel meets
them; columns: the second index j - 1, j = zone size, run length or dependence size) lives in a
scratch array allocated once per chunk; only its non-zero cells are listed (``rows``, ``cols``,
``n_cells``), so a kernel costs its own number of cells, not L x Nj. ``cell_features`` reads them,
writes the 16 formulas of ``zones`` (the ``FORMULAS`` order) and sets the cells back to 0 for the
next kernel.

Formulas (N = sum P, p_g / p_j the row / column sums, i the row's gray level, j the column + 1):
exactly ``radiomics.families.zones``' (IBSI tags there and in each family's ``FEATURES``); the sums
run over the same terms in another order, so values agree with the torch path to a few ulps.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numba import njit

from ....errors import InputError
from ...families import zones
from ...families.arrays import EPS

#: The formulas of ``families.zones``, in the order of ``cell_features``' output slots.
FORMULAS = (zones.small_j_emphasis, zones.large_j_emphasis, zones.gray_level_non_uniformity,
            zones.gray_level_non_uniformity_normalized, zones.j_non_uniformity,
            zones.j_non_uniformity_normalized, zones.j_percentage, zones.gray_level_variance,
            zones.j_variance, zones.j_entropy, zones.low_gray_level_emphasis,
            zones.high_gray_level_emphasis, zones.small_j_low_gray_level_emphasis,
            zones.small_j_high_gray_level_emphasis, zones.large_j_low_gray_level_emphasis,
            zones.large_j_high_gray_level_emphasis)
N_FORMULAS = len(FORMULAS)
_GRAY_VARIANCE, _J_VARIANCE, _ENTROPY = 7, 8, 9


def formula_slots(feature_functions: dict, names) -> np.ndarray:
    """int64 (len(names),): the ``cell_features`` slot of each name's formula.

    Args:
        feature_functions: a family's ``FEATURE_FUNCTIONS`` (name -> ``zones`` function).
        names: feature names of that family (checked by ``check_inputs``).
    """
    slot = {f: s for s, f in enumerate(FORMULAS)}
    return np.array([slot[feature_functions[name]] for name in names], dtype=np.int64)


def wanted_flags(slots: np.ndarray) -> np.ndarray:
    """bool (N_FORMULAS,): True for the slots asked (entropy and variances cost an extra pass)."""
    wanted = np.zeros(N_FORMULAS, dtype=np.bool_)
    wanted[slots] = True
    return wanted


def check_inputs(cubes, names, features, family: str):
    """Validate a compiled ``compute``'s inputs; returns the names (duplicates dropped, in order)
    and the cubes as int64 (n, K), K = D^3, positions flattened in (z, y, x) order.

    Args:
        cubes: numpy int64 (n, D, D, D), D odd (layout: ``radiomics.families``).
        names: feature names; each must be in ``features``.
        features: the names the compiled family computes (its ``NAMES``).
        family: "GLSZM", "GLRLM" or "GLDM", for the message.

    Raises:
        InputError: an unknown name (the message lists the available ones), or cubes that are not
            an int64 (n, D, D, D) array with odd D.
    """
    names = list(dict.fromkeys(names))
    unknown = [n for n in names if n not in features]
    if unknown:
        raise InputError(f"{family} voxel maps (compiled): unknown feature(s) {unknown}; "
                         f"available: {', '.join(features)}.")
    shape = tuple(getattr(cubes, "shape", ()))
    if (not isinstance(cubes, np.ndarray) or cubes.dtype != np.int64 or len(shape) != 4
            or not shape[1] == shape[2] == shape[3] or shape[1] % 2 != 1):
        raise InputError(f"{family} voxel maps (compiled): cubes must be a NumPy int64 array "
                         f"(n, D, D, D) with odd D = 2r+1 (got {getattr(cubes, 'dtype', type(cubes))}"
                         f" {shape}). Build them with the voxel-map engine.")
    n, size = shape[0], shape[1]
    return names, np.ascontiguousarray(cubes).reshape(n, size ** 3)


@lru_cache(maxsize=None)
def neighbour_table(size: int) -> np.ndarray:
    """int64 (K, 26): the flat indices of the 26 neighbours of each position of a size^3 cube,
    (z, y, x) order, the neighbours inside the cube first and -1 after them (built once per size;
    callers must not write to it)."""
    k = size ** 3
    table = np.full((k, 26), -1, dtype=np.int64)
    for p in range(k):
        z, y, x = p // (size * size), (p // size) % size, p % size
        m = 0
        for dz in (-1, 0, 1):
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    q = (z + dz, y + dy, x + dx)
                    if (dz, dy, dx) != (0, 0, 0) and all(0 <= c < size for c in q):
                        table[p, m] = (q[0] * size + q[1]) * size + q[2]
                        m += 1
    return table


@njit(cache=True, nogil=True)
def new_scratch(k, n_cols, top_level):
    """Per-chunk scratch of one kernel's matrix, allocated once per chunk.

    Args:
        k: positions per cube (D^3), a bound on the kernel's levels and cells.
        n_cols: columns of P (largest second index).
        top_level: largest gray level in the chunk's cubes.

    Returns:
        (P float64 (k, n_cols) zeros, rows int64 (k,), cols int64 (k,), row_sum float64 (k,)
        zeros, col_sum float64 (n_cols,) zeros, level_of_row float64 (k,), rank_of_level int64
        (top_level + 1,), stamp_of_level int64 (top_level + 1,) -1: ``rank_of`` valid where the
        stamp is the current kernel's).
    """
    return (np.zeros((k, n_cols)), np.zeros(k, np.int64), np.zeros(k, np.int64), np.zeros(k),
            np.zeros(n_cols), np.zeros(k), np.zeros(top_level + 1, np.int64),
            np.full(top_level + 1, -1, np.int64))


@njit(cache=True, nogil=True)
def rank_of(level, stamp, rank_of_level, stamp_of_level, level_of_row, n_rows):
    """Row of gray ``level`` in the current kernel's matrix (kernel ``stamp``), a new row (rank
    ``n_rows``) the first time the kernel meets it. Returns (row, n_rows after)."""
    if stamp_of_level[level] != stamp:
        stamp_of_level[level] = stamp
        rank_of_level[level] = n_rows
        level_of_row[n_rows] = level
        n_rows += 1
    return rank_of_level[level], n_rows


@njit(cache=True, nogil=True)
def add_cell(P, rows, cols, n_cells, row, col):
    """P[row, col] += 1, listing the cell when it was 0. Returns the number of listed cells."""
    if P[row, col] == 0.0:
        rows[n_cells] = row
        cols[n_cells] = col
        n_cells += 1
    P[row, col] += 1.0
    return n_cells


@njit(cache=True, nogil=True)
def clear_cells(P, rows, cols, n_cells):
    """Set the listed cells of P back to 0."""
    for c in range(n_cells):
        P[rows[c], cols[c]] = 0.0


@njit(cache=True, nogil=True)
def cell_features(P, rows, cols, n_cells, level_of_row, n_voxels, wanted, row_sum, col_sum, values):
    """The 16 ``zones`` formulas of one count matrix, then its cells cleared.

    Args:
        P: float64 (L, Nj) counts; only the ``n_cells`` cells (``rows[c]``, ``cols[c]``) are non-zero
            (n_cells >= 1). Row r is gray level ``level_of_row[r]``, column c is j = c + 1.
        n_voxels: N_p, the kernel's voxel count (the percentage's denominator).
        wanted: bool (16,): the slots to fill; the gray-level variance, j variance and entropy are
            only computed when wanted (others are cheap and always filled).
        row_sum, col_sum: float64 (L,), (Nj,) zeros; left zero.
        values: float64 (16,) output, ``FORMULAS`` order.
    """
    total = 0.0
    s_small = s_large = s_low = s_high = 0.0
    s_small_low = s_small_high = s_large_low = s_large_high = 0.0
    s_i = s_j = 0.0
    for c in range(n_cells):
        r, k = rows[c], cols[c]
        count = P[r, k]
        i = level_of_row[r]
        j = k + 1.0
        i2, j2 = i * i, j * j
        total += count
        s_small += count / j2
        s_large += count * j2
        s_low += count / i2
        s_high += count * i2
        s_small_low += count / (i2 * j2)
        s_small_high += count * i2 / j2
        s_large_low += count * j2 / i2
        s_large_high += count * i2 * j2
        s_i += count * i
        s_j += count * j
        row_sum[r] += count
        col_sum[k] += count
    gln = jn = 0.0
    var_i = var_j = entropy = 0.0
    mu_i, mu_j = s_i / total, s_j / total
    for c in range(n_cells):
        r, k = rows[c], cols[c]
        count = P[r, k]
        if row_sum[r] != 0.0:  # first cell of its row: the row's sum, then reset
            gln += row_sum[r] * row_sum[r]
            row_sum[r] = 0.0
        if col_sum[k] != 0.0:
            jn += col_sum[k] * col_sum[k]
            col_sum[k] = 0.0
        if wanted[_GRAY_VARIANCE]:
            d = level_of_row[r] - mu_i
            var_i += count * (d * d)
        if wanted[_J_VARIANCE]:
            d = k + 1.0 - mu_j
            var_j += count * (d * d)
        if wanted[_ENTROPY]:
            p = count / total
            entropy -= p * np.log2(p + EPS)
        P[r, k] = 0.0
    values[0] = s_small / total
    values[1] = s_large / total
    values[2] = gln / total
    values[3] = gln / (total * total)
    values[4] = jn / total
    values[5] = jn / (total * total)
    values[6] = total / n_voxels
    values[7] = var_i / total
    values[8] = var_j / total
    values[9] = entropy
    values[10] = s_low / total
    values[11] = s_high / total
    values[12] = s_small_low / total
    values[13] = s_small_high / total
    values[14] = s_large_low / total
    values[15] = s_large_high / total


def as_dict(names, out) -> dict:
    """{name: float64 (n,)} from the (len(names), n) output of a compiled loop."""
    return {name: out[f] for f, name in enumerate(names)}
