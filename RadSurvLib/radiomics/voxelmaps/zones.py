"""Formulas shared by the GLRLM, GLSZM and GLDM features, for the voxel maps and the ROI engine.

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

from .arrays import xp
from .engine import EPS


class Counts:
    """What the formulas read, leading shape S ((m,) kernels, or (m, A) per direction), float64.

    A subclass provides:

    * entries ``w`` (S + (E,)) the count of each entry, ``i`` and ``j`` (broadcastable to ``w``)
      its gray level and second index (1 where ``w`` is 0, so that 1 / i^2 stays finite); an entry
      is a cell of P (the ROI engine, the voxel GLRLM) or a single zone / voxel (voxel GLSZM, GLDM);
    * ``total`` N and ``n_voxels`` N_p (S);
    * ``per_level`` p_g, ``per_j`` p_j and ``per_cell`` P (S + (slots,)): counts over the levels,
      second indices and (i, j) cells present, any order, 0 in unused slots.
    """

    def weighted(self, x):
        """sum over the entries of P(i, j) x(i, j) / N."""
        return (self.w * x).sum(-1) / self.total

    def moment2(self, x):
        """sum P(i, j) (x - mu)^2 / N, mu = sum P(i, j) x / N."""
        mu = self.weighted(x)
        return self.weighted((x - mu[..., None]) ** 2)


def small_j_emphasis(c):
    """sum_ij P(i, j) / j^2 / N: ShortRunEmphasis (IBSI 22OV), SmallAreaEmphasis (5QRC),
    SmallDependenceEmphasis (SODN)."""
    return c.weighted(1 / c.j ** 2)


def large_j_emphasis(c):
    """sum_ij P(i, j) j^2 / N: LongRunEmphasis (IBSI W4KF), LargeAreaEmphasis (48P8),
    LargeDependenceEmphasis (IMOQ)."""
    return c.weighted(c.j ** 2)


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
    return c.moment2(c.i)


def j_variance(c):
    """sum_ij p(i, j) (j - mu)^2, mu = sum_ij p(i, j) j: RunVariance (IBSI SXLW), ZoneVariance
    (3NSA), DependenceVariance (DNX2)."""
    return c.moment2(c.j)


def j_entropy(c):
    """-sum_ij p(i, j) log2(p(i, j) + eps), p = P / N: RunEntropy (IBSI HJ9O), ZoneEntropy (GU8N),
    DependenceEntropy (FCBV)."""
    p = c.per_cell / c.total[..., None]
    return -(p * xp(p).log2(p + EPS)).sum(-1)


def low_gray_level_emphasis(c):
    """sum_ij P(i, j) / i^2 / N: LowGrayLevelRunEmphasis (IBSI V3SW), LowGrayLevelZoneEmphasis
    (XMSY), LowGrayLevelEmphasis (TL9H)."""
    return c.weighted(1 / c.i ** 2)


def high_gray_level_emphasis(c):
    """sum_ij P(i, j) i^2 / N: HighGrayLevelRunEmphasis (IBSI G3QZ), HighGrayLevelZoneEmphasis
    (5GN9), HighGrayLevelEmphasis (OAE7)."""
    return c.weighted(c.i ** 2)


def small_j_low_gray_level_emphasis(c):
    """sum_ij P(i, j) / (i^2 j^2) / N: ShortRunLowGrayLevelEmphasis (IBSI HTZT),
    SmallAreaLowGrayLevelEmphasis (5RAI), SmallDependenceLowGrayLevelEmphasis (EQ3F)."""
    return c.weighted(1 / (c.i ** 2 * c.j ** 2))


def small_j_high_gray_level_emphasis(c):
    """sum_ij P(i, j) i^2 / j^2 / N: ShortRunHighGrayLevelEmphasis (IBSI GD3A),
    SmallAreaHighGrayLevelEmphasis (HW1V), SmallDependenceHighGrayLevelEmphasis (JA6D)."""
    return c.weighted(c.i ** 2 / c.j ** 2)


def large_j_low_gray_level_emphasis(c):
    """sum_ij P(i, j) j^2 / i^2 / N: LongRunLowGrayLevelEmphasis (IBSI IVPO),
    LargeAreaLowGrayLevelEmphasis (YH51), LargeDependenceLowGrayLevelEmphasis (NBZI)."""
    return c.weighted(c.j ** 2 / c.i ** 2)


def large_j_high_gray_level_emphasis(c):
    """sum_ij P(i, j) i^2 j^2 / N: LongRunHighGrayLevelEmphasis (IBSI 3KUM),
    LargeAreaHighGrayLevelEmphasis (J17V), LargeDependenceHighGrayLevelEmphasis (9QMG)."""
    return c.weighted(c.i ** 2 * c.j ** 2)


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
