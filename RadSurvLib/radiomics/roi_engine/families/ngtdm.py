"""Neighbouring gray tone difference matrix features (PyRadiomics ``ngtdm``) of one ROI.

Per gray level i present: n_i voxels, p_i = n_i / N_vp, s_i = sum over them of |i - mean gray
level of their neighbours in the ROI| (26-neighbourhood). Definitions: PyRadiomics' documentation of
``ngtdm`` and the IBSI manual (tags in ``FEATURES``), with PyRadiomics' values for the degenerate
cases (Coarseness 10^6 when sum p_i s_i = 0; Contrast, Busyness and Strength 0 where the
denominator is 0).
"""

from __future__ import annotations

import numpy as np

from ...voxelmaps.ngtdm import FEATURES  # noqa: F401 - name -> IBSI tag, one place for both
from .evaluation import evaluate


class Table:
    """n_i, s_i and i of the levels present: ``matrix`` (1, L, 3)."""

    def __init__(self, matrix):
        self.n = matrix[:, :, 0]
        self.s = matrix[:, :, 1]
        self.i = matrix[:, :, 2]
        self.nvp = np.sum(self.n, 1, keepdims=True)
        self.p = self.n / self.nvp
        self.ngp = np.sum(self.p > 0, 1)
        self.ps = self.p * self.s
        self.pairs = (self.p[:, :, None] > 0) & (self.p[:, None, :] > 0)

    def outer(self, x, op):
        """x(i) op x(j) for every pair of levels present, shape (1, L, L)."""
        return np.where(self.pairs, op(x[:, :, None], x[:, None, :]), 0)


def coarseness(t):
    """1 / sum p_i s_i (IBSI QCDE); 10^6 when the sum is 0."""
    total = np.sum(t.ps, 1)
    return np.where(total != 0, 1 / np.where(total != 0, total, 1), 1e6)


def contrast(t):
    """[sum_i sum_j p_i p_j (i - j)^2 / (N_gp (N_gp - 1))] [sum_i s_i / N_vp] (IBSI 65HE); 0 with one level."""
    div = t.ngp * (t.ngp - 1)
    term = np.sum(t.outer(t.p, np.multiply) * t.outer(t.i, np.subtract) ** 2, (1, 2))
    value = term * np.sum(t.s, 1) / t.nvp[:, 0]
    return np.where(div != 0, value / np.where(div != 0, div, 1), 0)


def busyness(t):
    """sum p_i s_i / sum_i sum_j |i p_i - j p_j| (IBSI NQ30); 0 when the denominator is 0."""
    denominator = np.sum(np.abs(t.outer(t.i * t.p, np.subtract)), (1, 2))
    return np.where(denominator != 0, np.sum(t.ps, 1) / np.where(denominator != 0, denominator, 1), 0)


def complexity(t):
    """sum_i sum_j |i - j| (p_i s_i + p_j s_j) / (p_i + p_j) / N_vp (IBSI HDEZ)."""
    divisor = t.outer(t.p, np.add)
    divisor = np.where(divisor == 0, 1, divisor)
    term = np.abs(t.outer(t.i, np.subtract)) * t.outer(t.ps, np.add) / divisor
    return np.sum(term, (1, 2)) / t.nvp[:, 0]


def strength(t):
    """sum_i sum_j (p_i + p_j)(i - j)^2 / sum s_i (IBSI 1X9X); 0 when sum s_i = 0."""
    total = np.sum(t.s, 1)
    value = np.sum(t.outer(t.p, np.add) * t.outer(t.i, np.subtract) ** 2, (1, 2))
    return np.where(total != 0, value / np.where(total != 0, total, 1), 0)


FUNCTIONS = {"Coarseness": coarseness, "Contrast": contrast, "Busyness": busyness,
             "Complexity": complexity, "Strength": strength}


def features(matrix, names) -> dict:
    """NGTDM features of one ROI: {PyRadiomics name: float} for ``names``.

    Args:
        matrix: (1, L, 3) from ``matrices.ngtdm``: n_i, s_i, gray level per level present.
    """

    return evaluate(FUNCTIONS, Table(matrix), names)
