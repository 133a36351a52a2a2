"""Gray level co-occurrence matrix features (PyRadiomics ``glcm``) of one ROI.

P(i, j) per angle: the symmetric co-occurrence matrix at distance 1, normalised to sum 1 per angle
(angles without a pair removed); rows and columns are the gray levels present in the ROI, i and j
their values. Each feature is computed per angle and averaged over the angles (NaN angles skipped),
as PyRadiomics (``symmetricalGLCM`` true, no ``weightingNorm``). Ng in Idmn / Idn is the highest
gray level. Definitions: PyRadiomics' documentation of ``glcm`` and the IBSI manual (tags below).
"""

from __future__ import annotations

from functools import cached_property

import numpy as np

from ...voxelmaps.glcm import FEATURES  # noqa: F401 - name -> IBSI tag, one place for both
from .evaluation import evaluate

EPS = np.spacing(1)


class Matrix:
    """The normalised GLCM and its marginals.

    Args:
        counts: (1, L, L, angles) co-occurrence counts over the L gray levels present (not symmetrised).
        gray_levels: int (L,) the gray levels present, ascending.
    """

    def __init__(self, counts, gray_levels):
        p = counts + np.transpose(counts, (0, 2, 1, 3))
        total = p.sum((1, 2))
        if p.shape[3] > 1:  # angles without a pair are left out
            keep = total.sum(0) != 0
            p, total = p[..., keep], total[:, keep]
        total = np.where(total == 0, np.nan, total)
        self.p = p / total[:, None, None, :]
        self.levels = gray_levels.astype(np.float64)
        self.ng = int(gray_levels.max())
        self.i, self.j = (a[None, :, :, None] for a in np.meshgrid(self.levels, self.levels, indexing="ij"))

    def sum_over_ij(self, x):
        return np.sum(x, (1, 2))

    @cached_property
    def px(self):
        return self.p.sum(2, keepdims=True)

    @cached_property
    def py(self):
        return self.p.sum(1, keepdims=True)

    @cached_property
    def ux(self):
        return self.sum_over_ij(self.p * self.i)[:, None, None, :]

    @cached_property
    def uy(self):
        return self.sum_over_ij(self.p * self.j)[:, None, None, :]

    @cached_property
    def k_diff(self):
        return np.arange(0, self.ng)

    @cached_property
    def k_sum(self):
        return np.arange(2, 2 * self.ng + 1)

    def _by(self, key, ks):
        return np.stack([np.sum(self.p[:, key == k, :], 1) for k in ks], axis=1)

    @cached_property
    def p_diff(self):
        """p_{x-y}(k), shape (1, Ng, angles): probability of |i - j| = k."""
        return self._by(np.abs(self.i - self.j)[0, :, :, 0], self.k_diff)

    @cached_property
    def p_sum(self):
        """p_{x+y}(k), shape (1, 2Ng - 1, angles): probability of i + j = k, k = 2..2Ng."""
        return self._by((self.i + self.j)[0, :, :, 0], self.k_sum)

    @cached_property
    def hxy(self):
        return -self.sum_over_ij(self.p * np.log2(self.p + EPS))

    @cached_property
    def pxpy(self):
        return self.px * self.py

    def sigma(self, u, axis):
        return np.sqrt(self.sum_over_ij(self.p * (axis - u) ** 2))


def _mean(per_angle):
    return np.nanmean(per_angle, -1)


def autocorrelation(m):
    """sum p(i,j) i j (IBSI QWB0)."""
    return _mean(m.sum_over_ij(m.p * m.i * m.j))


def joint_average(m):
    """mu_x = sum p(i,j) i (IBSI 60VM)."""
    return _mean(m.ux[:, 0, 0, :])


def _cluster(m, power):
    return _mean(m.sum_over_ij((m.i + m.j - m.ux - m.uy) ** power * m.p))


def cluster_prominence(m):
    """sum (i + j - mu_x - mu_y)^4 p(i,j) (IBSI AE86)."""
    return _cluster(m, 4)


def cluster_shade(m):
    """sum (i + j - mu_x - mu_y)^3 p(i,j) (IBSI 7NFM)."""
    return _cluster(m, 3)


def cluster_tendency(m):
    """sum (i + j - mu_x - mu_y)^2 p(i,j) (IBSI DG8W)."""
    return _cluster(m, 2)


def contrast(m):
    """sum (i - j)^2 p(i,j) (IBSI ACUI)."""
    return _mean(m.sum_over_ij((m.i - m.j) ** 2 * m.p))


def correlation(m):
    """sum p(i,j) (i - mu_x)(j - mu_y) / (sigma_x sigma_y); 1 where sigma_x sigma_y = 0 (a flat
    angle, PyRadiomics' choice) (IBSI NI2N)."""
    sigma = m.sigma(m.ux, m.i) * m.sigma(m.uy, m.j)
    covariance = m.sum_over_ij(m.p * (m.i - m.ux) * (m.j - m.uy))
    value = np.ones_like(covariance)
    nonzero = sigma != 0
    value[nonzero] = covariance[nonzero] / sigma[nonzero]
    return _mean(value)


def difference_average(m):
    """sum k p_{x-y}(k) (IBSI TF7R)."""
    return _mean(np.sum(m.k_diff[None, :, None] * m.p_diff, 1))


def difference_entropy(m):
    """-sum p_{x-y}(k) log2(p_{x-y}(k) + eps) (IBSI NTRS)."""
    return _mean(-np.sum(m.p_diff * np.log2(m.p_diff + EPS), 1))


def difference_variance(m):
    """sum (k - DifferenceAverage)^2 p_{x-y}(k) (IBSI D3YU)."""
    k = m.k_diff[None, :, None]
    average = np.sum(k * m.p_diff, 1, keepdims=True)
    return _mean(np.sum((k - average) ** 2 * m.p_diff, 1))


def joint_energy(m):
    """sum p(i,j)^2 (IBSI 8ZQL)."""
    return _mean(m.sum_over_ij(m.p ** 2))


def joint_entropy(m):
    """-sum p(i,j) log2(p(i,j) + eps) (IBSI TU9B)."""
    return _mean(m.hxy)


def imc1(m):
    """(HXY - HXY1) / max(HX, HY), 0 where HX = HY = 0; HXY1 = -sum p(i,j) log2(p_x(i) p_y(j) + eps)
    (IBSI R8DG)."""
    hx = -m.sum_over_ij(m.px * np.log2(m.px + EPS))
    hy = -m.sum_over_ij(m.py * np.log2(m.py + EPS))
    hxy1 = -m.sum_over_ij(m.p * np.log2(m.pxpy + EPS))
    div = np.fmax(hx, hy)
    value = m.hxy - hxy1
    value[div != 0] /= div[div != 0]
    value[div == 0] = 0
    return _mean(value)


def imc2(m):
    """sqrt(1 - exp(-2 (HXY2 - HXY))), 0 where HXY2 = HXY; HXY2 = -sum p_x(i) p_y(j) log2(p_x(i)
    p_y(j) + eps) (IBSI JN9H)."""
    hxy2 = -m.sum_over_ij(m.pxpy * np.log2(m.pxpy + EPS))
    value = 1 - np.e ** (-2 * (hxy2 - m.hxy))
    value[hxy2 == m.hxy] = 0
    return _mean(np.sqrt(value))


def idm(m):
    """sum p_{x-y}(k) / (1 + k^2) (IBSI WF0Z)."""
    return _mean(np.sum(m.p_diff / (1 + m.k_diff[None, :, None] ** 2), 1))


def mcc(m):
    """Maximal correlation coefficient: sqrt of the second largest eigenvalue of
    Q(i, j) = sum_k p(i,k) p(j,k) / (p_x(i) p_y(k) + eps); 1 with one gray level (PyRadiomics
    ``MCC``, not in IBSI)."""
    if m.p.shape[1] == 1:
        return np.ones(m.p.shape[0])
    px = m.px[:, :, 0, :]  # (1, L, angles)
    py = m.py[:, 0, :, :]
    q = np.zeros((m.p.shape[0], m.p.shape[3], m.p.shape[1], m.p.shape[1]))
    for k in range(m.p.shape[2]):
        pk = m.p[:, :, k, :]  # (1, L, angles): p(i, k)
        q += np.transpose(pk[:, :, None, :] * pk[:, None, :, :]
                          / (px[:, :, None, :] * py[:, None, k:k + 1, :] + EPS), (0, 3, 1, 2))
    eigen = np.linalg.eigvals(q)
    eigen.sort()
    return _mean(np.sqrt(eigen[:, :, -2])).real


def idmn(m):
    """sum p_{x-y}(k) / (1 + k^2 / Ng^2) (IBSI 1QCO)."""
    return _mean(np.sum(m.p_diff / (1 + m.k_diff[None, :, None] ** 2 / m.ng ** 2), 1))


def id_(m):
    """sum p_{x-y}(k) / (1 + k) (IBSI IB1Z)."""
    return _mean(np.sum(m.p_diff / (1 + m.k_diff[None, :, None]), 1))


def idn(m):
    """sum p_{x-y}(k) / (1 + k / Ng) (IBSI NDRX)."""
    return _mean(np.sum(m.p_diff / (1 + m.k_diff[None, :, None] / m.ng), 1))


def inverse_variance(m):
    """sum_{k >= 1} p_{x-y}(k) / k^2 (IBSI E8JP)."""
    k = m.k_diff[None, 1:, None]
    return _mean(np.sum(m.p_diff[:, 1:, :] / k ** 2, 1))


def maximum_probability(m):
    """max p(i,j) (IBSI GYBY)."""
    return _mean(np.amax(m.p, (1, 2)))


def sum_average(m):
    """sum k p_{x+y}(k) (IBSI ZGXS)."""
    return _mean(np.sum(m.k_sum[None, :, None] * m.p_sum, 1))


def sum_entropy(m):
    """-sum p_{x+y}(k) log2(p_{x+y}(k) + eps) (IBSI P6QZ)."""
    return _mean(-np.sum(m.p_sum * np.log2(m.p_sum + EPS), 1))


def sum_squares(m):
    """sum (i - mu_x)^2 p(i,j) (IBSI UR99)."""
    return _mean(m.sum_over_ij((m.i - m.ux) ** 2 * m.p))


FUNCTIONS = {
    "Autocorrelation": autocorrelation, "JointAverage": joint_average,
    "ClusterProminence": cluster_prominence, "ClusterShade": cluster_shade,
    "ClusterTendency": cluster_tendency, "Contrast": contrast, "Correlation": correlation,
    "DifferenceAverage": difference_average, "DifferenceEntropy": difference_entropy,
    "DifferenceVariance": difference_variance, "JointEnergy": joint_energy, "JointEntropy": joint_entropy,
    "Imc1": imc1, "Imc2": imc2, "Idm": idm, "MCC": mcc, "Idmn": idmn, "Id": id_, "Idn": idn,
    "InverseVariance": inverse_variance, "MaximumProbability": maximum_probability,
    "SumAverage": sum_average, "SumEntropy": sum_entropy, "SumSquares": sum_squares,
}


def features(counts, gray_levels, names) -> dict:
    """GLCM features of one ROI: {PyRadiomics name: float} for ``names``.

    Args:
        counts: (1, L, L, angles) counts from ``matrices.glcm`` (not symmetrised).
        gray_levels: int (L,) gray levels present in the ROI.
    """

    return evaluate(FUNCTIONS, Matrix(counts, gray_levels), names)
