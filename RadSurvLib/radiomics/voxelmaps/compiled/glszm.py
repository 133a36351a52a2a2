"""GLSZM voxel maps, compiled (Numba) CPU path: per kernel, its zones (grown as 128-bit position
sets up to kernel radius 2, by a flood fill beyond), their (gray level, zone size) counts, the
features of that matrix (``compiled.zones.cell_features``); the loop is ``zones.glszm_chunk``.

Same semantics as the torch path (``radiomics.families.glszm``, PyRadiomics' voxel-based GLSZM):
zones are 26-connected sets of kernel voxels of one gray level, joined only through kernel voxels
(0 in the cube is not in the kernel) and within the cube; N_z the zones, N_p the kernel voxels.
Every kernel holds its centre, so no feature is NaN.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ...families import glszm as reference
from . import zones

#: The GLSZM features this path computes: all of them.
NAMES = tuple(reference.FEATURES)


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
        zones.glszm_chunk(flat, zones.neighbour_table(size), _bit_masks(size), slots,
                          zones.wanted_flags(slots), int(flat.max()), out)
    return zones.as_dict(names, out)


@lru_cache(maxsize=None)
def _bit_masks(size: int):
    """``zones.bit_masks(size)`` for cubes of at most 128 positions (built once), else a dummy."""
    return zones.bit_masks(size) if size ** 3 <= 128 else np.zeros((6, 2), np.uint64)
