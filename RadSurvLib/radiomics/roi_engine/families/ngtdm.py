"""Neighbouring gray tone difference matrix features (PyRadiomics ``ngtdm``) of one ROI.

Per gray level i present: n_i voxels, p_i = n_i / N_vp, s_i = sum over them of |i - mean gray
level of their neighbours in the ROI| (26-neighbourhood). The formulas, with PyRadiomics' values for
the degenerate cases, are those of the voxel maps (``voxelmaps.ngtdm``: one function per feature,
with its IBSI tag and PyRadiomics name): the ROI is one kernel, its matrix the ``Table`` they read.
"""

from __future__ import annotations

from ...voxelmaps.ngtdm import FEATURE_FUNCTIONS, FEATURES, Table  # noqa: F401 - one place for both
from .evaluation import evaluate


def features(matrix, names) -> dict:
    """NGTDM features of one ROI: {PyRadiomics name: float} for ``names``.

    Args:
        matrix: (1, L, 3) from ``matrices.ngtdm``: n_i, s_i, gray level per level present.
    """

    return evaluate(FEATURE_FUNCTIONS, Table(matrix[:, :, 0], matrix[:, :, 1], matrix[:, :, 2]), names)
