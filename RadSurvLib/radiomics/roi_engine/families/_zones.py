"""The ROI's GLRLM, GLSZM or GLDM matrix as the voxel maps' formulas read it (``voxelmaps.zones``):
P(i, j) counts over gray level i and a second index j (run length, zone size, dependence), the
ROI being one kernel."""

from __future__ import annotations

import numpy as np

from ...voxelmaps import zones


class Matrix(zones.Counts):
    """``voxelmaps.zones.Counts`` of one ROI's matrix P (1, L, Nj[, A]) (GLRLM, GLSZM, GLDM),
    NumPy: one entry per cell, the angles (if any) moved before the cells: (1[, A], cells).

    Args:
        counts: P (1, L, Nj[, A]); gray_levels (L,) and j (Nj,): the values of its rows and columns.
        total: N (1[, A]).
    """

    def __init__(self, counts, gray_levels, j, total):
        if counts.ndim == 4:
            counts = np.moveaxis(counts, 3, 1)  # (1, A, L, Nj)
        present = counts.reshape(-1, counts.shape[-1]).any(0)  # columns no entry has add nothing
        counts, j = counts[..., present], np.asarray(j, np.float64)[present]
        levels, nj = counts.shape[-2], counts.shape[-1]
        self.per_level = counts.sum(-1)
        self.per_j = counts.sum(-2)
        self.w = self.per_cell = counts.reshape(counts.shape[:-2] + (levels * nj,))
        self.i = np.repeat(np.asarray(gray_levels, np.float64), nj)
        self.j = np.tile(j, levels)
        self.total = total
        self.n_voxels = (self.w * self.j).sum(-1)
