"""GLDM voxel maps, compiled (Numba) CPU path: per kernel, each kernel voxel's dependence size,
the (gray level, dependence size) counts, the features of that matrix
(``compiled.zones.cell_features``).

Same semantics as the torch path (``radiomics.families.gldm``, PyRadiomics' voxel-based GLDM with
``gldm_a`` 0 and distance 1): a kernel voxel's dependence size j is 1 + the number of its 26
neighbours that are in the kernel (inside the cube, not 0) with its gray level; N = N_p, the
kernel voxels. Every kernel holds its centre, so no feature is NaN.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ...families import gldm as reference
from . import zones

#: The GLDM features this path computes: all of them.
NAMES = tuple(reference.FEATURES)


@njit(cache=True, nogil=True)
def _gldm_chunk(flat, neighbours, slots, wanted, top_level, out):
    """Fill ``out`` (F, n) with the asked formulas of each kernel's GLDM.

    Args:
        flat: int64 (n, K) gray levels, 0 not in the kernel, positions in (z, y, x) order.
        neighbours: int64 (K, 26) from ``zones.neighbour_table`` (-1 after the last neighbour).
        slots: int64 (F,) the ``zones.cell_features`` slot of each output row; wanted: bool (16,).
        top_level: the largest gray level in ``flat``.
    """
    n, k = flat.shape
    P, rows, cols, row_sum, col_sum, level_of_row, rank_of_level, stamp_of_level = \
        zones.new_scratch(k, 27, top_level)
    values = np.empty(zones.N_FORMULAS)
    for v in range(n):
        cube = flat[v]
        n_rows = n_cells = n_voxels = 0
        for p in range(k):
            level = cube[p]
            if level == 0:
                continue
            dependent = 0
            for m in range(26):
                q = neighbours[p, m]
                if q < 0:
                    break
                if cube[q] == level:
                    dependent += 1
            n_voxels += 1
            row, n_rows = zones.rank_of(level, v, rank_of_level, stamp_of_level, level_of_row, n_rows)
            n_cells = zones.add_cell(P, rows, cols, n_cells, row, dependent)
        zones.cell_features(P, rows, cols, n_cells, level_of_row, float(n_voxels), wanted,
                            row_sum, col_sum, values)
        for f in range(slots.size):
            out[f, v] = values[slots[f]]


def compute(cubes, n_levels, names, **_) -> dict:
    """GLDM features of each kernel (PyRadiomics voxel-based semantics, as ``families.gldm``).

    Args:
        cubes: numpy int64 (n, D, D, D), D = 2r+1, axis order (z, y, x): gray level 1..n_levels of
            each kernel voxel, 0 where the voxel is not in the kernel; the centre is >= 1.
        n_levels: Ng, the highest gray level of the ROI (no GLDM feature depends on it).
        names: feature names from ``NAMES`` (PyRadiomics names without "gldm_").
        **_: the engine's other settings, unused.

    Returns:
        {name: numpy float64 (n,)}; units: gray levels (squared) for the gray-level emphases and
        variance, neighbours (squared) for the dependence ones, unitless otherwise; never NaN.

    Raises:
        InputError: an unknown name, or cubes not an int64 (n, D, D, D) array with odd D.
    """
    names, flat = zones.check_inputs(cubes, names, NAMES, "GLDM")
    out = np.zeros((len(names), flat.shape[0]))
    if flat.shape[0] and names:
        slots = zones.formula_slots(reference.FEATURE_FUNCTIONS, names)
        _gldm_chunk(flat, zones.neighbour_table(cubes.shape[1]), slots, zones.wanted_flags(slots),
                    int(flat.max()), out)
    return zones.as_dict(names, out)
