"""Gray level size zone matrix features (PyRadiomics ``glszm``) of one ROI.

P(i, j): number of zones (26-connected voxels of one gray level) of gray level i and j voxels;
N_z = number of zones. Formulas (``_zones``, IBSI tags in ``FEATURES``): SmallAreaEmphasis =
sum p_s(j) / j^2 / N_z, ZonePercentage = N_z / N_p, ... as PyRadiomics' documentation of ``glszm``.
"""

from __future__ import annotations

import numpy as np

from ...voxelmaps.glszm import FEATURES  # noqa: F401 - name -> IBSI tag, one place for both
from . import _zones
from .evaluation import evaluate

FUNCTIONS = _zones.functions("SmallArea", "LargeArea", "SizeZone", percentage="ZonePercentage",
                             low_high=("LowGrayLevelZone", "HighGrayLevelZone"))
FUNCTIONS["ZoneVariance"] = FUNCTIONS.pop("SizeZoneVariance")
FUNCTIONS["ZoneEntropy"] = FUNCTIONS.pop("SizeZoneEntropy")


def features(counts, gray_levels, names) -> dict:
    """GLSZM features of one ROI: {PyRadiomics name: float} for ``names``.

    Args:
        counts: (1, L, largest zone) from ``matrices.glszm``; gray_levels: int (L,).
    """

    sizes = np.arange(1, counts.shape[2] + 1)
    return evaluate(FUNCTIONS, _zones.Counts(counts, gray_levels, sizes, counts.sum((1, 2))), names)
