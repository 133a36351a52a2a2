"""Gray level size zone matrix features (PyRadiomics ``glszm``) of one ROI.

P(i, j): number of zones (26-connected voxels of one gray level) of gray level i and j voxels;
N_z = number of zones. The formulas are those of the voxel maps (``voxelmaps.zones``, named in
``voxelmaps.glszm.FEATURE_FUNCTIONS``, IBSI tags in ``FEATURES``): SmallAreaEmphasis =
sum p_s(j) / j^2 / N_z, ZonePercentage = N_z / N_p, ...; the ROI is one kernel, its matrix the
``_zones.Matrix`` they read.
"""

from __future__ import annotations

import numpy as np

from ...voxelmaps.glszm import FEATURE_FUNCTIONS, FEATURES  # noqa: F401 - one place for both
from ._zones import Matrix
from .evaluation import evaluate


def features(counts, gray_levels, names) -> dict:
    """GLSZM features of one ROI: {PyRadiomics name: float} for ``names``.

    Args:
        counts: (1, L, largest zone) from ``matrices.glszm``; gray_levels: int (L,).
    """

    sizes = np.arange(1, counts.shape[2] + 1)
    return evaluate(FEATURE_FUNCTIONS, Matrix(counts, gray_levels, sizes, counts.sum((1, 2))), names)
