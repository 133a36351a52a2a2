"""GLDM voxel maps, compiled (Numba) CPU path: per kernel, each kernel voxel's dependence size,
the (gray level, dependence size) counts, the features of that matrix
(``compiled.zones.cell_features``); the loop is ``zones.gldm_chunk``.

Same semantics as the torch path (``radiomics.families.gldm``, PyRadiomics' voxel-based GLDM with
``gldm_a`` 0 and distance 1): a kernel voxel's dependence size j is 1 + the number of its 26
neighbours that are in the kernel (inside the cube, not 0) with its gray level; N = N_p, the
kernel voxels. Every kernel holds its centre, so no feature is NaN.
"""

from __future__ import annotations

from ...families import gldm as reference
from . import zones

#: The GLDM features this path computes: all of them.
NAMES = tuple(reference.FEATURES)


def compute(cubes, n_levels, names, **_) -> dict:
    """GLDM features of each kernel (PyRadiomics voxel-based semantics, as ``families.gldm``).

    Args:
        cubes: numpy int64 (n, D, D, D), the kernels (layout: ``radiomics.families``).
        n_levels: Ng (no GLDM feature depends on it). names: from ``NAMES``.
        **_: the engine's other settings, unused.

    Returns:
        {name: numpy float64 (n,)}; units: gray levels (squared) for the gray-level emphases and
        variance, neighbours (squared) for the dependence ones, unitless otherwise; never NaN.

    Raises:
        InputError: as ``zones.check_inputs``.
    """
    def loop(flat, size, slots, wanted, max_level, out):
        zones.gldm_chunk(flat, zones.neighbour_table(size), slots, wanted, max_level, out)

    return zones.run_family(cubes, names, NAMES, "GLDM", reference.FEATURE_FUNCTIONS, loop)
