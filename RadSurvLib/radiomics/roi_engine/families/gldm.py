"""Gray level dependence matrix features (PyRadiomics ``gldm``) of one ROI.

P(i, j): number of voxels of gray level i with j - 1 of their 26 neighbours in the ROI at the same
gray level (``gldm_a`` 0); N_z = number of voxels. The formulas are those of the voxel maps
(``voxelmaps.zones``, named in ``voxelmaps.gldm.FEATURE_FUNCTIONS``, IBSI tags in ``FEATURES``):
the ROI is one kernel, its matrix the ``_zones.Matrix`` they read.
"""

from __future__ import annotations

import numpy as np

from ...voxelmaps.gldm import FEATURE_FUNCTIONS, FEATURES  # noqa: F401 - one place for both
from ._zones import Matrix
from .evaluation import evaluate


def features(counts, gray_levels, names) -> dict:
    """GLDM features of one ROI: {PyRadiomics name: float} for ``names``.

    Args:
        counts: (1, L, 27) from ``matrices.gldm`` (column k: k dependent neighbours); gray_levels: int (L,).
    """

    j = np.arange(1, counts.shape[2] + 1)
    total = counts.sum((1, 2))
    total = np.where(total == 0, 1, total)
    return evaluate(FEATURE_FUNCTIONS, Matrix(counts, gray_levels, j, total), names)
