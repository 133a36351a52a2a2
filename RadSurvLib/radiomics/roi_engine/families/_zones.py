"""The ROI's GLRLM, GLSZM or GLDM matrix as the voxel maps' formulas read it (``voxelmaps.zones``):
P(i, j) counts over gray level i and a second index j (run length, zone size, dependence), the
ROI being one kernel."""

from __future__ import annotations

import numpy as np

from ...voxelmaps import zones


class Matrix(zones.CellCounts):
    """``voxelmaps.zones.CellCounts`` of one ROI's matrix P (1, L, Nj[, A]) (GLRLM, GLSZM, GLDM),
    NumPy, the angles (if any) moved before the matrix: (1[, A], L, Nj).

    Args:
        counts: P (1, L, Nj[, A]); gray_levels (L,) and j (Nj,): the values of its rows and columns.
        total: N (1[, A]).
    """

    def __init__(self, counts, gray_levels, j, total):
        if counts.ndim == 4:
            counts = np.moveaxis(counts, 3, 1)  # (1, A, L, Nj)
        present = counts.reshape(-1, counts.shape[-1]).any(0)  # columns no entry has add nothing
        counts, j = counts[..., present], np.asarray(j, np.float64)[present]
        super().__init__(counts, np.asarray(gray_levels, np.float64), j, total, counts.sum(-2) @ j)
