"""GLDM voxel maps, compiled (Numba) CPU path: per kernel, each kernel voxel's dependence size,
the (gray level, dependence size) counts, the features of that matrix
(``compiled.zones.cell_features``); the loop is ``zones.gldm_chunk``.

Same semantics as the torch path (``radiomics.families.gldm``, PyRadiomics' voxel-based GLDM with
``gldm_a`` 0 and distance 1): a kernel voxel's dependence size j is 1 + the number of its 26
neighbours that are in the kernel (inside the cube, not 0) with its gray level; N = N_p, the
kernel voxels. Every kernel holds its centre, so no feature is NaN.
"""

from __future__ import annotations

import numpy as np

from ...families import gldm as reference
from . import zones

#: The GLDM features this path computes: all of them.
NAMES = tuple(reference.FEATURES)


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
        zones.gldm_chunk(flat, zones.neighbour_table(cubes.shape[1]), slots,
                         zones.wanted_flags(slots), int(flat.max()), out)
    return zones.as_dict(names, out)
