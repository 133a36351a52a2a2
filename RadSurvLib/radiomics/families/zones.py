"""Formulas shared by the GLRLM, GLSZM and GLDM features, for the voxel maps and the ROI engine,
and the ROI's matrix of these families as the formulas read it (``Matrix``).

Each family counts, per kernel (and per direction for the GLRLM), entries of a gray level i and a
second index j (run length, zone size, dependence size): P(i, j) the number of runs / zones /
voxels with level i and index j, N = sum P (N_r, N_z, N_p), N_p the number of voxels,
p_g(i) = sum_j P(i, j), p_j(j) = sum_i P(i, j). One function per IBSI definition; the families name
them (e.g. GLRLM ``ShortRunEmphasis``, GLSZM ``SmallAreaEmphasis`` and GLDM
``SmallDependenceEmphasis`` are ``small_j_emphasis``; each docstring gives the three names and
IBSI tags, also in each family's ``FEATURES``). Written for NumPy arrays and torch tensors alike
(``arrays``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from .arrays import EPS, ones, swapaxes, xp


class Counts(ABC):
    """What the formulas read, leading shape S ((m,) kernels, or (m, A) per direction), float64:
    ``total`` N and ``n_voxels`` N_p (S); ``per_level`` p_g, ``per_j`` p_j and ``per_cell`` P
    (S + (slots,)): counts over the levels, second indices and (i, j) cells present, any order, 0
    in unused slots; ``i`` and ``j`` the values of i and j, and ``weighted``. Subclasses:
    ``CellCounts`` (P as a matrix) and ``EntryCounts`` (one entry per zone or voxel)."""

    @abstractmethod
    def weighted(self, fi=None, fj=None):
        """sum_ij P(i, j) fi(i) fj(j) / N (S); ``fi`` / ``fj``: values over ``i`` / ``j`` (at least
        one given; an omitted one is 1; ``fj`` of a joint sum is a vector (Nj,)). Each subclass
        computes it from its own layout (``CellCounts``: a matrix; ``EntryCounts``: entries)."""

    def moment2_i(self):
        """sum_ij P(i, j) (i - mu)^2 / N, mu = sum_ij P(i, j) i / N."""
        return self.weighted(fi=(self.i - self.weighted(fi=self.i)[..., None]) ** 2)

    def moment2_j(self):
        """sum_ij P(i, j) (j - mu)^2 / N, mu = sum_ij P(i, j) j / N."""
        return self.weighted(fj=(self.j - self.weighted(fj=self.j)[..., None]) ** 2)


class CellCounts(Counts):
    """``Counts`` of a matrix P (S + (L, Nj)) with ``i`` (L,) or broadcastable to S + (L,) and
    ``j`` (Nj,): the ROI engine's matrices, the voxel maps' run length matrices. Marginals by
    products with ones (torch sums over a short last axis are slow)."""

    def __init__(self, P, i, j, total, n_voxels):
        self.P, self.i, self.j, self.total, self.n_voxels = P, i, j, total, n_voxels
        levels, nj = P.shape[-2], P.shape[-1]
        self.per_level = P @ ones(P, nj)
        self.per_j = swapaxes(P) @ ones(P, levels)
        self.per_cell = P.reshape(P.shape[:-2] + (levels * nj,))

    def weighted(self, fi=None, fj=None):
        if fi is None:
            return (self.per_j * fj).sum(-1) / self.total
        if fj is None:
            return (self.per_level * fi).sum(-1) / self.total
        return ((self.P @ fj) * fi).sum(-1) / self.total


class Matrix(CellCounts):
    """``CellCounts`` of one ROI's GLRLM, GLSZM or GLDM matrix P (1, L, Nj[, A]): P(i, j) counts over
    gray level i and a second index j (run length, zone size, dependence), the ROI being one kernel;
    NumPy, the angles (if any) moved before the matrix: (1[, A], L, Nj). The columns no entry uses
    are dropped (they add nothing).

    Args:
        counts: P (1, L, Nj[, A]); gray_levels (L,) and j (Nj,): the values of its rows and columns.
        total: N (1[, A]).
    """

    def __init__(self, counts, gray_levels, j, total):
        import numpy as np

        if counts.ndim == 4:
            counts = np.moveaxis(counts, 3, 1)  # (1, A, L, Nj)
        present = counts.reshape(-1, counts.shape[-1]).any(0)  # columns no entry has add nothing
        counts, j = counts[..., present], np.asarray(j, np.float64)[present]
        super().__init__(counts, np.asarray(gray_levels, np.float64), j, total, counts.sum(-2) @ j)


class EntryCounts(Counts):
    """``Counts`` of entries: ``w`` (S + (E,)) the count of each (1 for a zone or a voxel, 0 for an
    unused slot), ``i`` and ``j`` (S + (E,)) its gray level and second index (1 where ``w`` is 0,
    so that 1 / i^2 stays finite); ``per_level``, ``per_j``, ``per_cell`` from the subclass."""

    def weighted(self, fi=None, fj=None):
        x = self.w if fi is None else self.w * fi
        return (x if fj is None else x * fj).sum(-1) / self.total


def small_j_emphasis(c):
    """sum_ij P(i, j) / j^2 / N: ShortRunEmphasis (IBSI 22OV), SmallAreaEmphasis (5QRC),
    SmallDependenceEmphasis (SODN)."""
    return c.weighted(fj=1 / c.j ** 2)


def large_j_emphasis(c):
    """sum_ij P(i, j) j^2 / N: LongRunEmphasis (IBSI W4KF), LargeAreaEmphasis (48P8),
    LargeDependenceEmphasis (IMOQ)."""
    return c.weighted(fj=c.j ** 2)


def gray_level_non_uniformity(c):
    """sum_i p_g(i)^2 / N: GrayLevelNonUniformity (IBSI GLRLM R5YN, GLSZM JNSA, GLDM FP8K)."""
    return (c.per_level ** 2).sum(-1) / c.total


def gray_level_non_uniformity_normalized(c):
    """sum_i p_g(i)^2 / N^2: GrayLevelNonUniformityNormalized (IBSI GLRLM OVBL, GLSZM Y1RO)."""
    return (c.per_level ** 2).sum(-1) / c.total ** 2


def j_non_uniformity(c):
    """sum_j p_j(j)^2 / N: RunLengthNonUniformity (IBSI W92Y), SizeZoneNonUniformity (4JP3),
    DependenceNonUniformity (Z87G)."""
    return (c.per_j ** 2).sum(-1) / c.total


def j_non_uniformity_normalized(c):
    """sum_j p_j(j)^2 / N^2: RunLengthNonUniformityNormalized (IBSI IC23),
    SizeZoneNonUniformityNormalized (VB3A), DependenceNonUniformityNormalized (OKJI)."""
    return (c.per_j ** 2).sum(-1) / c.total ** 2


def j_percentage(c):
    """N / N_p: RunPercentage (IBSI 9ZK5), ZonePercentage (P30P)."""
    return c.total / c.n_voxels


def gray_level_variance(c):
    """sum_ij p(i, j) (i - mu)^2, p = P / N, mu = sum_ij p(i, j) i: GrayLevelVariance (IBSI GLRLM
    8CE5, GLSZM BYLV, GLDM 1PFV)."""
    return c.moment2_i()


def j_variance(c):
    """sum_ij p(i, j) (j - mu)^2, mu = sum_ij p(i, j) j: RunVariance (IBSI SXLW), ZoneVariance
    (3NSA), DependenceVariance (DNX2)."""
    return c.moment2_j()


def j_entropy(c):
    """-sum_ij p(i, j) log2(p(i, j) + eps), p = P / N: RunEntropy (IBSI HJ9O), ZoneEntropy (GU8N),
    DependenceEntropy (FCBV)."""
    p = c.per_cell / c.total[..., None]
    return -(p * xp(p).log2(p + EPS)).sum(-1)


def low_gray_level_emphasis(c):
    """sum_ij P(i, j) / i^2 / N: LowGrayLevelRunEmphasis (IBSI V3SW), LowGrayLevelZoneEmphasis
    (XMSY), LowGrayLevelEmphasis (TL9H)."""
    return c.weighted(fi=1 / c.i ** 2)


def high_gray_level_emphasis(c):
    """sum_ij P(i, j) i^2 / N: HighGrayLevelRunEmphasis (IBSI G3QZ), HighGrayLevelZoneEmphasis
    (5GN9), HighGrayLevelEmphasis (OAE7)."""
    return c.weighted(fi=c.i ** 2)


def small_j_low_gray_level_emphasis(c):
    """sum_ij P(i, j) / (i^2 j^2) / N: ShortRunLowGrayLevelEmphasis (IBSI HTZT),
    SmallAreaLowGrayLevelEmphasis (5RAI), SmallDependenceLowGrayLevelEmphasis (EQ3F)."""
    return c.weighted(1 / c.i ** 2, 1 / c.j ** 2)


def small_j_high_gray_level_emphasis(c):
    """sum_ij P(i, j) i^2 / j^2 / N: ShortRunHighGrayLevelEmphasis (IBSI GD3A),
    SmallAreaHighGrayLevelEmphasis (HW1V), SmallDependenceHighGrayLevelEmphasis (JA6D)."""
    return c.weighted(c.i ** 2, 1 / c.j ** 2)


def large_j_low_gray_level_emphasis(c):
    """sum_ij P(i, j) j^2 / i^2 / N: LongRunLowGrayLevelEmphasis (IBSI IVPO),
    LargeAreaLowGrayLevelEmphasis (YH51), LargeDependenceLowGrayLevelEmphasis (NBZI)."""
    return c.weighted(1 / c.i ** 2, c.j ** 2)


def large_j_high_gray_level_emphasis(c):
    """sum_ij P(i, j) i^2 j^2 / N: LongRunHighGrayLevelEmphasis (IBSI 3KUM),
    LargeAreaHighGrayLevelEmphasis (J17V), LargeDependenceHighGrayLevelEmphasis (9QMG)."""
    return c.weighted(c.i ** 2, c.j ** 2)


def functions(small, large, j_name, percentage=None, normalized_gray=True,
              low_high=("LowGrayLevel", "HighGrayLevel"), variance=None, entropy=None) -> dict:
    """PyRadiomics feature name -> function (of a ``Counts``) for a family whose second index is
    called ``j_name`` (its non-uniformities), with small / large emphases called ``small`` /
    ``large`` (e.g. "ShortRun", "LongRun"), ``low_high`` the gray-level emphases' prefixes, the
    percentage, variance and entropy names (default ``j_name`` + "Variance" / "Entropy")."""
    low, high = low_high
    out = {
        f"{small}Emphasis": small_j_emphasis, f"{large}Emphasis": large_j_emphasis,
        "GrayLevelNonUniformity": gray_level_non_uniformity,
        f"{j_name}NonUniformity": j_non_uniformity,
        f"{j_name}NonUniformityNormalized": j_non_uniformity_normalized,
        "GrayLevelVariance": gray_level_variance, variance or f"{j_name}Variance": j_variance,
        entropy or f"{j_name}Entropy": j_entropy,
        f"{low}Emphasis": low_gray_level_emphasis, f"{high}Emphasis": high_gray_level_emphasis,
        f"{small}LowGrayLevelEmphasis": small_j_low_gray_level_emphasis,
        f"{small}HighGrayLevelEmphasis": small_j_high_gray_level_emphasis,
        f"{large}LowGrayLevelEmphasis": large_j_low_gray_level_emphasis,
        f"{large}HighGrayLevelEmphasis": large_j_high_gray_level_emphasis,
    }
    if normalized_gray:
        out["GrayLevelNonUniformityNormalized"] = gray_level_non_uniformity_normalized
    if percentage:
        out[percentage] = j_percentage
    return out
