"""Formulas shared by the GLRLM, GLSZM and GLDM features: each is a matrix P(i, j) of counts over
gray level i and a second index j (run length, zone size, dependence), with N = sum P the number of
runs / zones / voxels (per angle for the GLRLM), p_g(i) = sum_j P(i, j), p_j(j) = sum_i P(i, j).
One function per IBSI definition; the families name them (e.g. ``ShortRunEmphasis``,
``SmallAreaEmphasis``, ``SmallDependenceEmphasis`` are ``small_j_emphasis``)."""

from __future__ import annotations

from functools import cached_property

import numpy as np

from ...voxelmaps import zones

EPS = np.spacing(1)


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


class Counts:
    """P (1, Ng, Nj[, angles]) with gray levels i (Ng,) and second index values j (Nj,);
    ``total`` N (1[, angles]); sums over axis 1 (i) and 2 (j). Values of j that no run / zone /
    voxel has are left out (they add nothing to any sum; a zone-size axis is as long as the
    largest zone)."""

    def __init__(self, counts, i, j, total):
        present = counts.reshape(counts.shape[0], counts.shape[1], counts.shape[2], -1).any(axis=(0, 1, 3))
        counts, j = counts[:, :, present], np.asarray(j)[present]
        self.P = counts
        extra = (None,) * (counts.ndim - 3)
        self.i = np.asarray(i, np.float64)[(None, slice(None), None) + extra]
        self.j = np.asarray(j, np.float64)[(None, None, slice(None)) + extra]
        self.total = total

    def per_total(self, x):
        return np.sum(x, (1, 2)) / self.total

    @cached_property
    def pg(self):
        return np.sum(self.P, 2, keepdims=True)

    @cached_property
    def pj(self):
        return np.sum(self.P, 1, keepdims=True)

    @cached_property
    def p(self):
        return self.P / self.total[:, None, None]


def _mean(x):
    return np.nanmean(x, -1) if x.ndim > 1 else x


def small_j_emphasis(c):
    """sum p_j(j) / j^2 / N."""
    return _mean(c.per_total(c.pj / c.j ** 2))


def large_j_emphasis(c):
    """sum p_j(j) j^2 / N."""
    return _mean(c.per_total(c.pj * c.j ** 2))


def gray_level_non_uniformity(c):
    """sum p_g(i)^2 / N."""
    return _mean(c.per_total(c.pg ** 2))


def gray_level_non_uniformity_normalized(c):
    """sum p_g(i)^2 / N^2."""
    return _mean(c.per_total(c.pg ** 2) / c.total)


def j_non_uniformity(c):
    """sum p_j(j)^2 / N."""
    return _mean(c.per_total(c.pj ** 2))


def j_non_uniformity_normalized(c):
    """sum p_j(j)^2 / N^2."""
    return _mean(c.per_total(c.pj ** 2) / c.total)


def j_percentage(c):
    """N / number of voxels (sum_j j p_j(j))."""
    return _mean(c.total / np.sum(c.pj * c.j, (1, 2)))


def gray_level_variance(c):
    """sum p(i,j) (i - mu)^2, mu = sum p(i,j) i, p = P / N."""
    mu = np.sum(c.p * c.i, (1, 2), keepdims=True)
    return _mean(np.sum(c.p * (c.i - mu) ** 2, (1, 2)))


def j_variance(c):
    """sum p(i,j) (j - mu)^2, mu = sum p(i,j) j."""
    mu = np.sum(c.p * c.j, (1, 2), keepdims=True)
    return _mean(np.sum(c.p * (c.j - mu) ** 2, (1, 2)))


def j_entropy(c):
    """-sum p(i,j) log2(p(i,j) + eps)."""
    return _mean(-np.sum(c.p * np.log2(c.p + EPS), (1, 2)))


def low_gray_level_emphasis(c):
    """sum p_g(i) / i^2 / N."""
    return _mean(c.per_total(c.pg / c.i ** 2))


def high_gray_level_emphasis(c):
    """sum p_g(i) i^2 / N."""
    return _mean(c.per_total(c.pg * c.i ** 2))


def small_j_low_gray_level_emphasis(c):
    """sum P(i,j) / (i^2 j^2) / N."""
    return _mean(c.per_total(c.P / (c.i ** 2 * c.j ** 2)))


def small_j_high_gray_level_emphasis(c):
    """sum P(i,j) i^2 / j^2 / N."""
    return _mean(c.per_total(c.P * c.i ** 2 / c.j ** 2))


def large_j_low_gray_level_emphasis(c):
    """sum P(i,j) j^2 / i^2 / N."""
    return _mean(c.per_total(c.P * c.j ** 2 / c.i ** 2))


def large_j_high_gray_level_emphasis(c):
    """sum P(i,j) i^2 j^2 / N."""
    return _mean(c.per_total(c.P * c.i ** 2 * c.j ** 2))


def functions(small, large, j_name, percentage=None, normalized_gray=True, low_high=("LowGrayLevel", "HighGrayLevel"),
              suffix="Emphasis"):
    """Feature name -> function for a family whose second index is called ``j_name``, with small /
    large emphases called ``small`` / ``large`` (e.g. "ShortRun", "LongRun")."""
    low, high = low_high
    out = {
        f"{small}Emphasis": small_j_emphasis, f"{large}Emphasis": large_j_emphasis,
        "GrayLevelNonUniformity": gray_level_non_uniformity,
        f"{j_name}NonUniformity": j_non_uniformity,
        f"{j_name}NonUniformityNormalized": j_non_uniformity_normalized,
        "GrayLevelVariance": gray_level_variance, f"{j_name}Variance": j_variance,
        f"{j_name}Entropy": j_entropy,
        f"{low}{suffix}": low_gray_level_emphasis, f"{high}{suffix}": high_gray_level_emphasis,
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
