"""Gray level run length matrix features (PyRadiomics ``glrlm``) of one ROI.

P(i, j) per angle: number of runs of gray level i and length j along the angle (13 angles, angles
without a run left out); N_r = number of runs per angle. Each feature per angle, averaged over the
angles. The formulas are those of the voxel maps (``voxelmaps.zones``, named in
``voxelmaps.glrlm.FEATURE_FUNCTIONS``, IBSI tags in ``FEATURES``): ShortRunEmphasis =
sum p_r(j) / j^2 / N_r, RunPercentage = N_r / N_p, ...; the ROI is one kernel, its matrix the
``_zones.Matrix`` they read.
"""

from __future__ import annotations

import numpy as np

from ...voxelmaps.glrlm import FEATURE_FUNCTIONS, FEATURES  # noqa: F401 - one place for both
from ._zones import Matrix
from .evaluation import evaluate

#: Feature name -> its value for the ROI: the mean over the angles (NaN angles skipped).
FUNCTIONS = {name: (lambda m, f=f: np.nanmean(f(m), -1)) for name, f in FEATURE_FUNCTIONS.items()}


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
    return evaluate(FUNCTIONS, Matrix(counts, gray_levels, lengths, n_r), names)
