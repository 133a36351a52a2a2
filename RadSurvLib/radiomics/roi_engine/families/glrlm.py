"""Gray level run length matrix features (PyRadiomics ``glrlm``) of one ROI.

P(i, j) per angle: number of runs of gray level i and length j along the angle (13 angles, angles
without a run left out); N_r = number of runs per angle. Each feature per angle, averaged over the
angles. Formulas (``_zones``, IBSI tags in ``FEATURES``): ShortRunEmphasis = sum p_r(j) / j^2 / N_r,
RunPercentage = N_r / N_p, ... as PyRadiomics' documentation of ``glrlm``.
"""

from __future__ import annotations

import numpy as np

from ...voxelmaps.glrlm import FEATURES  # noqa: F401 - name -> IBSI tag, one place for both
from . import _zones
from .evaluation import evaluate

FUNCTIONS = _zones.functions("ShortRun", "LongRun", "RunLength", percentage="RunPercentage",
                             low_high=("LowGrayLevelRun", "HighGrayLevelRun"))
FUNCTIONS["RunVariance"] = FUNCTIONS.pop("RunLengthVariance")
FUNCTIONS["RunEntropy"] = FUNCTIONS.pop("RunLengthEntropy")


def features(counts, gray_levels, names) -> dict:
    """GLRLM features of one ROI: {PyRadiomics name: float} for ``names``.

    Args:
        counts: (1, L, max run length, angles) from ``matrices.glrlm``; gray_levels: int (L,).
    """

    n_r = counts.sum((1, 2))
    if counts.shape[3] > 1:  # angles without a run are left out
        keep = n_r.sum(0) != 0
        counts, n_r = counts[..., keep], n_r[:, keep]
    n_r = np.where(n_r == 0, np.nan, n_r)
    lengths = np.arange(1, counts.shape[2] + 1)
    return evaluate(FUNCTIONS, _zones.Counts(counts, gray_levels, lengths, n_r), names)
