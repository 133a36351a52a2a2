"""First-order features (PyRadiomics ``firstorder``) of the ROI's voxel values.

``x``: the ROI's values (1D, float64, no NaN), ``levels`` their gray levels (fixed bin width).
PyRadiomics' conventions (its documentation): population moments, Kurtosis not excess (IBSI IPH6
plus 3), Energy with ``voxelArrayShift`` c added to every value, percentiles with NumPy's linear
rule, entropy in bits with eps = 2.2e-16 added to p, Skewness and Kurtosis 0 for a flat ROI.

The formulas are those of the voxel maps (``voxelmaps.firstorder``: one function per feature, with
its IBSI tag and PyRadiomics name): the ROI is one kernel, and ``Values`` gives them what they read
(``voxelmaps.firstorder.Sample``) as NumPy arrays with a kernel axis of length 1.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np

from ...voxelmaps.firstorder import FEATURE_FUNCTIONS, FEATURES, Sample  # noqa: F401
from .evaluation import evaluate


class Values(Sample):
    """The ROI's values as one kernel (``Sample``, m = 1).

    Args:
        x: float64 (n,) values in the image's unit (normalised HU in RadSurv's settings).
        levels: int (n,) gray levels of ``x``.
        spacing: voxel spacing (3,), mm. shift: ``voxelArrayShift``.
    """

    def __init__(self, x, levels, spacing, shift):
        self.v = np.asarray(x, dtype=np.float64)[None, :]
        self.ok = np.ones(self.v.shape, dtype=bool)
        self.count = np.array([float(self.v.shape[1])])
        self.levels = levels
        self.voxel_volume = float(np.prod(spacing))
        self.shift = shift

    def in_kernel(self, x):
        """``x`` itself: every value is in the ROI."""
        return x

    @cached_property
    def sorted(self):
        return np.sort(self.v, -1)

    @cached_property
    def p_levels(self):
        counts = np.bincount(self.levels)
        return (counts[counts > 0] / self.count[0])[None, :]


def features(x, levels, spacing, settings: dict, names) -> dict:
    """First-order features of one ROI: {PyRadiomics name: float} for ``names`` (in that order).

    Args:
        x: float64 (n,) the ROI's values; levels: int (n,) their gray levels (>= 1).
        spacing: voxel spacing (3,), mm. settings: ``voxelArrayShift`` is read (default 0).
    """

    return evaluate(FEATURE_FUNCTIONS, Values(x, levels, spacing, settings.get("voxelArrayShift", 0)), names)
