"""Gray level dependence matrix features (PyRadiomics ``gldm``) of one ROI.

P(i, j): number of voxels of gray level i with j - 1 of their 26 neighbours in the ROI at the same
gray level (``gldm_a`` 0), columns no voxel has left out; N_z = number of voxels. Formulas
(``_zones``, IBSI tags in ``FEATURES``): SmallDependenceEmphasis = sum p_d(j) / j^2 / N_z, ... as
PyRadiomics' documentation of ``gldm``.
"""

from __future__ import annotations

import numpy as np

from ...voxelmaps.gldm import FEATURES  # noqa: F401 - name -> IBSI tag, one place for both
from . import _zones
from .evaluation import evaluate

FUNCTIONS = _zones.functions("SmallDependence", "LargeDependence", "Dependence", normalized_gray=False)


def features(counts, gray_levels, names) -> dict:
    """GLDM features of one ROI: {PyRadiomics name: float} for ``names``.

    Args:
        counts: (1, L, 27) from ``matrices.gldm`` (column k: k dependent neighbours); gray_levels: int (L,).
    """

    j = np.arange(1, counts.shape[2] + 1)
    total = counts.sum((1, 2))
    total = np.where(total == 0, 1, total)
    return evaluate(FUNCTIONS, _zones.Counts(counts, gray_levels, j, total), names)
