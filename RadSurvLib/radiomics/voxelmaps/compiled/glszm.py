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
        cubes: numpy int64 (n, D, D, D), the kernels (layout: ``radiomics.families``).
        n_levels: Ng (no GLSZM feature depends on it). names: from ``NAMES``.
        **_: the engine's other settings, unused.

    Returns:
        {name: numpy float64 (n,)}; units as ``families.glszm.compute``; never NaN.

    Raises:
        InputError: as ``zones.check_inputs``.
    """
    def loop(flat, size, slots, wanted, max_level, out):
        zones.glszm_chunk(flat, zones.neighbour_table(size), _bit_masks(size), slots, wanted, max_level, out)

    return zones.run_family(cubes, names, NAMES, "GLSZM", reference.FEATURE_FUNCTIONS, loop)


@lru_cache(maxsize=None)
def _bit_masks(size: int):
    """``zones.bit_masks(size)`` for cubes of at most 128 positions (built once), else a dummy."""
    return zones.bit_masks(size) if size ** 3 <= 128 else np.zeros((6, 2), np.uint64)
