"""First-order features (PyRadiomics ``firstorder``) of the ROI's voxel values.

``x``: the ROI's values (1D, float64, no NaN), ``levels`` their gray levels (fixed bin width).
PyRadiomics' conventions (its documentation): population moments, Kurtosis not excess (IBSI IPH6
plus 3), Energy with ``voxelArrayShift`` c added to every value, percentiles with NumPy's linear
rule, entropy in bits with eps = 2.2e-16 added to p, Skewness and Kurtosis 0 for a flat ROI.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np

from ...voxelmaps.firstorder import FEATURES  # noqa: F401 - name -> IBSI tag, one place for both
from .evaluation import evaluate

EPS = np.spacing(1)


class Values:
    """The ROI's values and what several features share.

    Args:
        x: float64 (n,) values in the image's unit (normalised HU in RadSurv's settings).
        levels: int (n,) gray levels of ``x``.
        spacing: voxel spacing (3,), mm. shift: ``voxelArrayShift``.
    """

    def __init__(self, x, levels, spacing, shift):
        self.x = np.asarray(x, dtype=np.float64)
        self.levels = levels
        self.voxel_volume = float(np.prod(spacing))
        self.shift = shift

    @cached_property
    def sorted(self):
        return np.sort(self.x)

    @cached_property
    def mean(self):
        return np.mean(self.x)

    @cached_property
    def dev(self):
        return self.x - self.mean

    @cached_property
    def dev2(self):
        return self.dev * self.dev

    def moment(self, k):
        """Central moment of order 2, 3 or 4."""
        return np.mean(self.dev2 if k == 2 else self.dev2 * (self.dev if k == 3 else self.dev2))

    def percentile(self, q):
        """NumPy's linear percentile of the sorted values."""
        s = self.sorted
        index = q / 100 * (s.size - 1)
        lo = int(np.floor(index))
        hi = min(lo + 1, s.size - 1)
        t = index - lo
        return s[hi] - (s[hi] - s[lo]) * (1 - t) if t >= 0.5 else s[lo] + (s[hi] - s[lo]) * t

    @cached_property
    def p(self):
        """Fraction of the voxels at each gray level present."""
        counts = np.bincount(self.levels)
        counts = counts[counts > 0]
        return counts / counts.sum()


def energy(v):
    """Energy = sum (x + c)^2 (IBSI N8CA with c = 0; PyRadiomics ``Energy``)."""
    return np.sum((v.x + v.shift) ** 2)


def total_energy(v):
    """TotalEnergy = Energy x voxel volume (mm^3) (PyRadiomics ``TotalEnergy``, not in IBSI)."""
    return energy(v) * v.voxel_volume


def entropy(v):
    """Entropy = -sum p(i) log2(p(i) + eps) over the gray levels (IBSI TLU2)."""
    return -np.sum(v.p * np.log2(v.p + EPS))


def minimum(v):
    """Minimum (IBSI 1GSF)."""
    return v.sorted[0]


def percentile10(v):
    """10th percentile (IBSI QG58)."""
    return v.percentile(10)


def percentile90(v):
    """90th percentile (IBSI 8DWT)."""
    return v.percentile(90)


def maximum(v):
    """Maximum (IBSI 84IY)."""
    return v.sorted[-1]


def mean(v):
    """Mean (IBSI Q4LE)."""
    return v.mean


def median(v):
    """Median (IBSI Y12H)."""
    n = v.sorted.size
    return np.mean(v.sorted[(n - 1) // 2: n // 2 + 1])


def interquartile_range(v):
    """P75 - P25 (IBSI SALO)."""
    return v.percentile(75) - v.percentile(25)


def range_(v):
    """Maximum - minimum (IBSI 2OJQ)."""
    return v.sorted[-1] - v.sorted[0]


def mean_absolute_deviation(v):
    """mean |x - mean| (IBSI 4FUA)."""
    return np.mean(np.abs(v.dev))


def robust_mean_absolute_deviation(v):
    """mean |x - mean| over the values between the 10th and 90th percentiles (IBSI 1128)."""
    s = v.sorted
    robust = s[(s >= v.percentile(10)) & (s <= v.percentile(90))]
    return np.mean(np.abs(robust - np.mean(robust))) if robust.size else np.nan


def root_mean_squared(v):
    """sqrt(Energy / n) (IBSI 5ZWQ with c = 0)."""
    return np.sqrt(energy(v) / v.x.size)


def skewness(v):
    """m3 / m2^1.5, 0 for a flat ROI (IBSI KE2A)."""
    m2 = v.moment(2)
    return v.moment(3) / m2 ** 1.5 if m2 != 0 else 0.0


def kurtosis(v):
    """m4 / m2^2, 0 for a flat ROI (IBSI IPH6 + 3)."""
    m2 = v.moment(2)
    return v.moment(4) / m2 ** 2 if m2 != 0 else 0.0


def variance(v):
    """Population variance (IBSI ECT3)."""
    return np.std(v.x) ** 2


def uniformity(v):
    """sum p(i)^2 over the gray levels (IBSI BJ5W)."""
    return np.sum(v.p ** 2)


FUNCTIONS = {
    "Energy": energy, "TotalEnergy": total_energy, "Entropy": entropy, "Minimum": minimum,
    "10Percentile": percentile10, "90Percentile": percentile90, "Maximum": maximum, "Mean": mean,
    "Median": median, "InterquartileRange": interquartile_range, "Range": range_,
    "MeanAbsoluteDeviation": mean_absolute_deviation,
    "RobustMeanAbsoluteDeviation": robust_mean_absolute_deviation, "RootMeanSquared": root_mean_squared,
    "Skewness": skewness, "Kurtosis": kurtosis, "Variance": variance, "Uniformity": uniformity,
}


def features(x, levels, spacing, settings: dict, names) -> dict:
    """First-order features of one ROI: {PyRadiomics name: float} for ``names`` (in that order).

    Args:
        x: float64 (n,) the ROI's values; levels: int (n,) their gray levels (>= 1).
        spacing: voxel spacing (3,), mm. settings: ``voxelArrayShift`` is read (default 0).
    """

    return evaluate(FUNCTIONS, Values(x, levels, spacing, settings.get("voxelArrayShift", 0)), names)
