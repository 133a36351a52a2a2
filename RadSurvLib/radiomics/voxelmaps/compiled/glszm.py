"""GLSZM voxel maps, compiled (Numba) CPU path: per kernel, its zones by a flood fill, their
(gray level, zone size) counts, the features of that matrix (``compiled.zones.cell_features``).

Same semantics as the torch path (``radiomics.families.glszm``, PyRadiomics' voxel-based GLSZM):
zones are 26-connected sets of kernel voxels of one gray level, joined only through kernel voxels
(0 in the cube is not in the kernel) and within the cube; N_z the zones, N_p the kernel voxels.
Every kernel holds its centre, so no feature is NaN.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ...families import glszm as reference
from . import zones

#: The GLSZM features this path computes: all of them.
NAMES = tuple(reference.FEATURES)


@njit(cache=True, nogil=True)
def _glszm_chunk(flat, neighbours, slots, wanted, top_level, out):
    """Fill ``out`` (F, n) with the asked formulas of each kernel's GLSZM.

    Args:
        flat: int64 (n, K) gray levels, 0 not in the kernel, positions in (z, y, x) order.
        neighbours: int64 (K, 26) from ``zones.neighbour_table`` (-1 after the last neighbour).
        slots: int64 (F,) the ``zones.cell_features`` slot of each output row; wanted: bool (16,).
        top_level: the largest gray level in ``flat``.
    """
    n, k = flat.shape
    P, rows, cols, row_sum, col_sum, level_of_row, rank_of_level, stamp_of_level = \
        zones.new_scratch(k, k, top_level)
    seen = np.full(k, -1, np.int64)       # kernel index of the last fill that reached a position
    stack = np.empty(k, np.int64)
    values = np.empty(zones.N_FORMULAS)
    for v in range(n):
        cube = flat[v]
        n_rows = n_cells = n_voxels = 0
        for p in range(k):
            level = cube[p]
            if level == 0 or seen[p] == v:
                continue
            # flood fill of p's zone: same level, through kernel voxels, 26-connected
            seen[p] = v
            stack[0] = p
            top, size = 1, 0
            while top > 0:
                top -= 1
                q = stack[top]
                size += 1
                for m in range(26):
                    r = neighbours[q, m]
                    if r < 0:
                        break
                    if cube[r] == level and seen[r] != v:
                        seen[r] = v
                        stack[top] = r
                        top += 1
            n_voxels += size
            row, n_rows = zones.rank_of(level, v, rank_of_level, stamp_of_level, level_of_row, n_rows)
            n_cells = zones.add_cell(P, rows, cols, n_cells, row, size - 1)
        zones.cell_features(P, rows, cols, n_cells, level_of_row, float(n_voxels), wanted,
                            row_sum, col_sum, values)
        for f in range(slots.size):
            out[f, v] = values[slots[f]]


def compute(cubes, n_levels, names, **_) -> dict:
    """GLSZM features of each kernel (PyRadiomics voxel-based semantics, as ``families.glszm``).

    Args:
        cubes: numpy int64 (n, D, D, D), D = 2r+1, axis order (z, y, x): gray level 1..n_levels of
            each kernel voxel, 0 where the voxel is not in the kernel; the centre is >= 1.
        n_levels: Ng, the highest gray level of the ROI (no GLSZM feature depends on it).
        names: feature names from ``NAMES`` (PyRadiomics names without "glszm_").
        **_: the engine's other settings, unused.

    Returns:
        {name: numpy float64 (n,)}; units as ``families.glszm.compute``; never NaN.

    Raises:
        InputError: an unknown name, or cubes not an int64 (n, D, D, D) array with odd D.
    """
    names, flat = zones.check_inputs(cubes, names, NAMES, "GLSZM")
    out = np.zeros((len(names), flat.shape[0]))
    if flat.shape[0] and names:
        slots = zones.formula_slots(reference.FEATURE_FUNCTIONS, names)
        size = cubes.shape[1]
        _glszm_chunk(flat, zones.neighbour_table(size), slots, zones.wanted_flags(slots), int(flat.max()), out)
    return zones.as_dict(names, out)

