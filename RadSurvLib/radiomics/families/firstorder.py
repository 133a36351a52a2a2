"""First-order features (PyRadiomics ``firstorder``) of each voxel's kernel (voxel maps, ``compute``)
and of an ROI (``features``).

Each feature is computed over the HU values of the kernel voxels (``values`` where ``cubes > 0``)
as in ``radiomics/firstorder.py`` voxel-based: population moments (two-pass, so the kurtosis of
-800 HU lung keeps its precision), log2 entropies with eps, raw HU (``voxelArrayShift`` 0),
numpy's linear percentiles. Skewness and kurtosis of a flat kernel are 0 (PyRadiomics' m3, m4,
exactly 0 there). Entropy and Uniformity use the gray levels of the engine's discretisation.

For an ROI (one kernel): ``x`` the ROI's values (1D, float64, no NaN), ``levels`` their gray levels
(fixed bin width). PyRadiomics' conventions (its documentation): population moments, Kurtosis not
excess (IBSI IPH6 plus 3), Energy with ``voxelArrayShift`` c added to every value, percentiles with
NumPy's linear rule, entropy in bits with eps = 2.2e-16 added to p, Skewness and Kurtosis 0 for a
flat ROI.

One function per feature (formula, IBSI tag, PyRadiomics name), of a ``Sample``: the kernels'
values as torch tensors (``KernelSample``), an ROI's as a NumPy row (``Values``).
"""

from __future__ import annotations

from functools import cached_property

from .arrays import EPS, evaluate, take, to_float64, to_int64, xp

#: First-order features (PyRadiomics ``firstorder``), name -> IBSI tag (None: not in IBSI).
#: PyRadiomics deviates from IBSI in places (kurtosis not excess, entropies with eps).
FEATURES = {
    "Energy": "N8CA", "TotalEnergy": None, "Entropy": "TLU2", "Minimum": "1GSF",
    "10Percentile": "QG58", "90Percentile": "8DWT", "Maximum": "84IY", "Mean": "Q4LE",
    "Median": "Y12H", "InterquartileRange": "SALO", "Range": "2OJQ",
    "MeanAbsoluteDeviation": "4FUA", "RobustMeanAbsoluteDeviation": "1128",
    "RootMeanSquared": "5ZWQ", "Skewness": "KE2A",
    "Kurtosis": "IPH6 (+3: not excess)", "Variance": "ECT3", "Uniformity": "BJ5W",
}

#: No first-order feature is costly.
COSTLY = frozenset()

#: The family needs the HU values of the kernel voxels (``values`` setting).
NEEDS_VALUES = True


def bytes_per_voxel(D, n_levels, names) -> int:
    """Working-set estimate per ROI voxel (bytes): ~48 float64 arrays of D^3 samples (the values,
    their sorted copy, the level counts and the intermediates ``KernelSample`` keeps for the
    features asked; measured: the default maps' peak follows it)."""
    return 48 * 8 * D ** 3 + 64


def compute(cubes, n_levels, names, values=None, voxel_volume=1.0, **_):
    """First-order features of each kernel.

    Args:
        cubes: torch.int64 (n, D, D, D), gray levels, 0 = not in the kernel (layout: package docstring).
        n_levels: Ng (unused: the histogram counts the levels present).
        names: feature names from ``FEATURES``.
        values: torch.float64 (n, D, D, D), HU.
        voxel_volume: mm^3 (TotalEnergy).

    Returns:
        dict name -> torch.float64 (n,).
    """
    n = cubes.shape[0]
    ok = cubes.reshape(n, -1) > 0
    sample = KernelSample(values.reshape(n, -1), cubes.reshape(n, -1), ok, voxel_volume)
    return {f: sample.feature(f) for f in names}


def _run_counts(codes, ok):
    """Per row (last axis): how many valid entries hold each distinct code, one slot per run of
    equal sorted codes (zeros in the unused slots); float64, same shape as ``codes``."""
    import torch

    codes = torch.where(ok, codes, -1)
    ordered = codes.sort(-1).values
    starts = torch.ones_like(ordered, dtype=torch.bool)
    starts[..., 1:] = ordered[..., 1:] != ordered[..., :-1]
    run = starts.long().cumsum(-1) - 1
    valid = (ordered >= 0).double()
    return torch.zeros_like(valid).scatter_add_(-1, run, valid)


class Sample:
    """What the first-order feature functions read, for m kernels of up to K samples, float64.

    A subclass provides ``v`` (m, K) the values, ``ok`` (m, K) bool which samples are in the
    kernel, ``count`` (m,) their number, ``sorted`` (m, K) the values in the kernel ascending
    (then +inf), ``p_levels`` (m, slots) the fraction of the kernel's samples at each gray level
    present (0 in unused slots), ``voxel_volume`` (mm^3) and ``shift`` (PyRadiomics'
    ``voxelArrayShift`` c, added to the values in Energy). Intermediates shared by several
    features are computed once.
    """

    def feature(self, name):
        """The feature ``name`` of each kernel (m,)."""
        return FEATURE_FUNCTIONS[name](self)

    def in_kernel(self, x):
        """``x`` (m, K) with 0 at the samples not in the kernel."""
        return x * self.ok

    @cached_property
    def mean(self):
        return self.in_kernel(self.v).sum(-1) / self.count

    @cached_property
    def dev(self):
        """x - mean, 0 for the samples not in the kernel (m, K)."""
        return self.in_kernel(self.v - self.mean[:, None])

    @cached_property
    def dev2(self):
        return self.dev * self.dev

    def moment(self, k):
        """Central moment of order ``k`` = 2, 3 or 4 (population), by products (NumPy's ``**`` of
        an odd or large power is slow)."""
        power = self.dev2 if k == 2 else self.dev2 * (self.dev if k == 3 else self.dev2)
        return power.sum(-1) / self.count

    @cached_property
    def variance(self):
        return self.moment(2)

    @cached_property
    def energy(self):
        return self.in_kernel((self.v + self.shift) ** 2).sum(-1)

    def percentile(self, q):
        """NumPy's default ('linear') percentile of the values in each kernel (m,)."""
        X = xp(self.sorted)
        pos = (self.count - 1) * (q / 100.0)
        lo = X.floor(pos)
        lo_i = to_int64(lo)[:, None]
        hi_i = X.minimum(lo_i + 1, to_int64(self.count - 1)[:, None])
        a = take(self.sorted, lo_i)[:, 0]
        b = take(self.sorted, hi_i)[:, 0]
        t = pos - lo
        return X.where(t >= 0.5, b - (b - a) * (1 - t), a + (b - a) * t)


class KernelSample(Sample):
    """``Sample`` of the kernels of a chunk of voxels (torch): values (n, K) float64 (HU),
    levels (n, K) int64, validity (n, K) bool, ``voxel_volume`` mm^3; ``voxelArrayShift`` 0."""

    shift = 0.0

    def __init__(self, values, levels, ok, voxel_volume):
        self.v, self.levels, self.ok = values, levels, ok
        self.voxel_volume = voxel_volume
        self.count = ok.sum(-1).double()

    @cached_property
    def sorted(self):
        return self.v.masked_fill(~self.ok, float("inf")).sort(-1).values

    @cached_property
    def p_levels(self):
        return _run_counts(self.levels, self.ok) / self.count[:, None]


def _nonzero_or(x, value):
    """``x`` with exact zeros replaced by ``value`` (guards divisions in flat kernels)."""
    X = xp(x)
    return X.where(x == 0, X.full_like(x, value), x)


# One function per feature (PyRadiomics ``radiomics.firstorder``, its formulas), each of a ``Sample``
# (NumPy or torch: see ``arrays``), giving one value per kernel (m,).

def energy(v):
    """Energy = sum (x + c)^2, c = ``voxelArrayShift``. IBSI N8CA (with c = 0)."""
    return v.energy


def total_energy(v):
    """TotalEnergy = Energy x voxel volume (mm^3). Not in IBSI."""
    return v.energy * v.voxel_volume


def entropy(v):
    """Entropy = -sum_i p(i) log2(p(i) + eps) over the gray levels, eps = ``arrays.EPS``. IBSI TLU2."""
    p = v.p_levels
    return -(p * xp(p).log2(p + EPS)).sum(-1)


def minimum(v):
    """Minimum. IBSI 1GSF."""
    return v.sorted[:, 0]


def percentile10(v):
    """10Percentile: NumPy's linear 10th percentile. IBSI QG58."""
    return v.percentile(10)


def percentile90(v):
    """90Percentile: NumPy's linear 90th percentile. IBSI 8DWT."""
    return v.percentile(90)


def maximum(v):
    """Maximum. IBSI 84IY."""
    return take(v.sorted, to_int64(v.count - 1)[:, None])[:, 0]


def mean(v):
    """Mean = sum x / N_p. IBSI Q4LE."""
    return v.mean


def median(v):
    """Median (the linear 50th percentile). IBSI Y12H."""
    return v.percentile(50)


def interquartile_range(v):
    """InterquartileRange = P75 - P25. IBSI SALO."""
    return v.percentile(75) - v.percentile(25)


def range_(v):
    """Range = Maximum - Minimum. IBSI 2OJQ."""
    return maximum(v) - minimum(v)


def mean_absolute_deviation(v):
    """MeanAbsoluteDeviation = sum |x - mean| / N_p. IBSI 4FUA."""
    return xp(v.dev).abs(v.dev).sum(-1) / v.count


def robust_mean_absolute_deviation(v):
    """RobustMeanAbsoluteDeviation: the mean |x - mean_10-90| over the values x with
    P10 <= x <= P90, mean_10-90 their mean; NaN when there is none. IBSI 1128."""
    X = xp(v.v)
    inside = v.ok & (v.v >= v.percentile(10)[:, None]) & (v.v <= v.percentile(90)[:, None])
    n = to_float64(inside.sum(-1))
    robust_mean = (v.v * inside).sum(-1) / n
    return (X.abs(v.v - robust_mean[:, None]) * inside).sum(-1) / n


def root_mean_squared(v):
    """RootMeanSquared = sqrt(Energy / N_p). IBSI 5ZWQ (with c = 0)."""
    return xp(v.energy).sqrt(v.energy / v.count)


def skewness(v):
    """Skewness = m3 / m2^1.5 (population moments), 0 for a flat kernel. IBSI KE2A."""
    m2 = v.variance
    return v.moment(3) / _nonzero_or(m2, 1.0) ** 1.5 * (m2 != 0)


def kurtosis(v):
    """Kurtosis = m4 / m2^2 (not excess), 0 for a flat kernel. IBSI IPH6 (+ 3)."""
    m2 = v.variance
    return v.moment(4) / _nonzero_or(m2, 1.0) ** 2 * (m2 != 0)


def variance(v):
    """Variance = m2 = sum (x - mean)^2 / N_p (population). IBSI ECT3."""
    return v.variance


def uniformity(v):
    """Uniformity = sum_i p(i)^2 over the gray levels. IBSI BJ5W."""
    return (v.p_levels ** 2).sum(-1)


#: PyRadiomics feature name -> its function (of a ``Sample``; one value per kernel (m,)).
FEATURE_FUNCTIONS = {
    "Energy": energy, "TotalEnergy": total_energy, "Entropy": entropy, "Minimum": minimum,
    "10Percentile": percentile10, "90Percentile": percentile90, "Maximum": maximum, "Mean": mean,
    "Median": median, "InterquartileRange": interquartile_range, "Range": range_,
    "MeanAbsoluteDeviation": mean_absolute_deviation,
    "RobustMeanAbsoluteDeviation": robust_mean_absolute_deviation, "RootMeanSquared": root_mean_squared,
    "Skewness": skewness, "Kurtosis": kurtosis, "Variance": variance, "Uniformity": uniformity,
}


# The ROI, as one kernel.

class Values(Sample):
    """The ROI's values as one kernel (``Sample``, m = 1), NumPy.

    Args:
        x: float64 (n,) values in the image's unit (normalised HU in RadSurv's settings).
        levels: int (n,) gray levels of ``x``.
        spacing: voxel spacing (3,), mm. shift: ``voxelArrayShift``.
    """

    def __init__(self, x, levels, spacing, shift):
        import numpy as np

        self.v = np.asarray(x, dtype=np.float64)[None, :]
        self.ok = np.ones(self.v.shape, dtype=bool)
        self.count = np.array([float(self.v.shape[1])])
        self.levels = levels
        self.voxel_volume = float(np.prod(spacing))
        self.shift = shift

    def in_kernel(self, x):
        """``x`` itself: every value is in the ROI."""
        return x

    @cached_property
    def sorted(self):
        import numpy as np

        return np.sort(self.v, -1)

    @cached_property
    def p_levels(self):
        import numpy as np

        counts = np.bincount(self.levels)
        return (counts[counts > 0] / self.count[0])[None, :]


def features(x, levels, spacing, settings: dict, names) -> dict:
    """First-order features of one ROI: {PyRadiomics name: float} for ``names`` (in that order).

    Args:
        x: float64 (n,) the ROI's values; levels: int (n,) their gray levels (>= 1).
        spacing: voxel spacing (3,), mm. settings: ``voxelArrayShift`` is read (default 0).
    """

    return evaluate(FEATURE_FUNCTIONS, Values(x, levels, spacing, settings.get("voxelArrayShift", 0)), names)
