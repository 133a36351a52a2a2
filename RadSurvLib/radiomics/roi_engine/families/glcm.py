"""Gray level co-occurrence matrix features (PyRadiomics ``glcm``) of one ROI.

P(i, j) per angle: the symmetric co-occurrence matrix at distance 1, normalised to sum 1 per angle
(angles without a pair removed); rows and columns are the gray levels present in the ROI, i and j
their values. Each feature is computed per angle and averaged over the angles (NaN angles skipped),
as PyRadiomics (``symmetricalGLCM`` true, no ``weightingNorm``). Ng in Idmn / Idn is the highest
gray level.

The formulas are those of the voxel maps (``voxelmaps.glcm``: one function per feature, with its
IBSI tag and PyRadiomics name): the ROI is one kernel, and ``Matrix`` gives them the statistics
they read (``voxelmaps.glcm.Statistics``) as NumPy arrays with a kernel axis of length 1.
"""

from __future__ import annotations

import numpy as np

from ...voxelmaps.engine import EPS
from ...voxelmaps.glcm import FEATURE_FUNCTIONS, FEATURES, Statistics, average  # noqa: F401 - one place for both
from .evaluation import evaluate


class Matrix(Statistics):
    """The ROI's normalised GLCM and the histograms the formulas read (``Statistics``), NumPy
    float64 with m = 1 kernel and A angles.

    Args:
        counts: (1, L, L, angles) co-occurrence counts over the L gray levels present (not symmetrised).
        gray_levels: int (L,) the gray levels present, ascending.
    """

    def __init__(self, counts, gray_levels):
        super().__init__()
        p = counts + np.transpose(counts, (0, 2, 1, 3))
        total = p.sum((1, 2))
        if p.shape[3] > 1:  # angles without a pair are left out
            keep = total.sum(0) != 0
            p, total = p[..., keep], total[:, keep]
        self.empty = total == 0
        total = np.where(self.empty, np.nan, total)
        self.p = np.moveaxis(p / total[:, None, None, :], 3, 1)  # (1, A, L, L)
        levels = np.asarray(gray_levels, np.int64)
        lo = int(levels[0])
        self.R = int(levels[-1]) - lo + 1
        self.ng = float(levels[-1])
        self.offset = np.array([[2.0 * lo]])
        self.k = np.arange(self.R, dtype=np.float64)
        self.s = np.arange(2 * self.R - 1, dtype=np.float64)
        self.p_diff = self._histogram(np.abs(levels[:, None] - levels[None, :]), self.R)
        self.p_sum = self._histogram(levels[:, None] + levels[None, :] - 2 * lo, 2 * self.R - 1)
        self.px = self.p.sum(-1)
        self.hxy1 = -(self.p * np.log2(self.px[..., :, None] * self.px[..., None, :] + EPS)).sum((-1, -2))
        self.use_dense = True

    def _histogram(self, bins, size):
        """sum of p(i, j) over the cells with bins(i, j) = b, b = 0..size-1: (1, A, size)."""
        angles = self.p.shape[1]
        index = np.arange(angles)[:, None, None] * size + bins[None]
        return np.bincount(index.ravel(), self.p[0].ravel(), angles * size).reshape(1, angles, size)


FUNCTIONS = {name: (lambda m, name=name: average(m.feature(name), name)) for name in FEATURE_FUNCTIONS}


def features(counts, gray_levels, names) -> dict:
    """GLCM features of one ROI: {PyRadiomics name: float} for ``names``.

    Args:
        counts: (1, L, L, angles) counts from ``matrices.glcm`` (not symmetrised).
        gray_levels: int (L,) gray levels present in the ROI.
    """

    return evaluate(FUNCTIONS, Matrix(counts, gray_levels), names)
