"""First-order voxel maps (PyRadiomics ``firstorder``), from the kernel cubes of the engine.

Each feature is computed over the HU values of the kernel voxels (``values`` where ``cubes > 0``)
as in ``radiomics/firstorder.py`` voxel-based: population moments (two-pass, so the kurtosis of
-800 HU lung keeps its precision), log2 entropies with eps, raw HU (``voxelArrayShift`` 0),
numpy's linear percentiles. Skewness and kurtosis of a flat kernel are 0 (PyRadiomics' m3, m4,
exactly 0 there). Entropy and Uniformity use the gray levels of the engine's discretisation.
"""

from __future__ import annotations

from functools import cached_property

from .engine import EPS

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
    """Working-set estimate per ROI voxel (bytes): ~12 float64 arrays of D^3 samples."""
    return 12 * 8 * D ** 3 + 64


def compute(cubes, n_levels, names, values=None, voxel_volume=1.0, **_):
    """First-order features of each kernel.

    Args:
        cubes: torch.int64 (n, D, D, D), gray levels, 0 = not in the kernel (engine layout).
        n_levels: Ng (unused: the histogram counts the levels present).
        names: feature names from ``FEATURES``.
        values: torch.float64 (n, D, D, D), HU.
        voxel_volume: mm^3 (TotalEnergy).

    Returns:
        dict name -> torch.float64 (n,).
    """
    n = cubes.shape[0]
    ok = cubes.reshape(n, -1) > 0
    sample = _KernelSample(values.reshape(n, -1), cubes.reshape(n, -1), ok, voxel_volume)
    return {f: getattr(sample, _snake(f)) for f in names}


def _snake(name: str) -> str:
    """'RootMeanSquared' -> 'root_mean_squared', '10Percentile' -> 'p10' (attribute names)."""
    import re

    if name[0].isdigit():
        return "p" + name[:2]
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


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


def _entropy(p):
    import torch

    return -(p * torch.log2(p + EPS)).sum(-1)


def _masked_mean(x, ok, count):
    return (x * ok).sum(-1) / count


class _KernelSample:
    """Kernel samples of a chunk of voxels: values (n, K) float64, levels (n, K), validity (n, K).

    Each property is one PyRadiomics first-order feature (shape (n,)), following
    ``radiomics/firstorder.py`` (population moments, log2 entropies with eps, raw HU).
    """

    def __init__(self, values, levels, ok, voxel_volume):
        self.v, self.levels, self.ok = values, levels, ok
        self.voxel_volume = voxel_volume  # mm^3, for TotalEnergy
        self.count = ok.sum(-1).double()

    @cached_property
    def mean(self):
        return _masked_mean(self.v, self.ok, self.count)

    @cached_property
    def _dev(self):
        return (self.v - self.mean[:, None]) * self.ok

    def _moment(self, k):
        return (self._dev ** k).sum(-1) / self.count

    @cached_property
    def variance(self):
        return self._moment(2)

    @cached_property
    def standard_deviation(self):
        return self.variance.sqrt()

    @cached_property
    def skewness(self):
        m2 = self.variance
        return self._moment(3) / _nonzero_or(m2, 1.0) ** 1.5 * (m2 != 0)

    @cached_property
    def kurtosis(self):
        m2 = self.variance
        return self._moment(4) / _nonzero_or(m2, 1.0) ** 2 * (m2 != 0)

    @cached_property
    def _p_levels(self):
        """Histogram p(i) of the discretised kernel, one slot per gray level present."""
        return _run_counts(self.levels, self.ok) / self.count[:, None]

    @cached_property
    def entropy(self):
        return _entropy(self._p_levels)

    @cached_property
    def uniformity(self):
        return (self._p_levels ** 2).sum(-1)

    @cached_property
    def energy(self):
        return (self.v ** 2 * self.ok).sum(-1)

    @cached_property
    def total_energy(self):
        return self.energy * self.voxel_volume

    @cached_property
    def root_mean_squared(self):
        return (self.energy / self.count).sqrt()

    @cached_property
    def minimum(self):
        return self.v.masked_fill(~self.ok, float("inf")).amin(-1)

    @cached_property
    def maximum(self):
        return self.v.masked_fill(~self.ok, float("-inf")).amax(-1)

    @cached_property
    def range(self):
        return self.maximum - self.minimum

    @cached_property
    def _sorted(self):
        return self.v.masked_fill(~self.ok, float("inf")).sort(-1).values

    def _percentile(self, q):
        """numpy's default ('linear') percentile of the valid samples of each row."""
        import torch

        pos = (self.count - 1) * (q / 100.0)
        lo = pos.floor()
        lo_i = lo.long()[:, None]
        hi_i = torch.minimum(lo_i + 1, (self.count.long() - 1)[:, None])
        a = self._sorted.gather(-1, lo_i)[:, 0]
        b = self._sorted.gather(-1, hi_i)[:, 0]
        t = pos - lo
        return torch.where(t >= 0.5, b - (b - a) * (1 - t), a + (b - a) * t)

    @cached_property
    def median(self):
        return self._percentile(50)

    @cached_property
    def p10(self):
        return self._percentile(10)

    @cached_property
    def p90(self):
        return self._percentile(90)

    @cached_property
    def interquartile_range(self):
        return self._percentile(75) - self._percentile(25)

    @cached_property
    def mean_absolute_deviation(self):
        return _masked_mean(self._dev.abs(), self.ok, self.count)

    @cached_property
    def robust_mean_absolute_deviation(self):
        inside = self.ok & (self.v >= self.p10[:, None]) & (self.v <= self.p90[:, None])
        n = inside.sum(-1).double()
        mean = _masked_mean(self.v, inside, n)
        return _masked_mean((self.v - mean[:, None]).abs(), inside, n)


def _nonzero_or(x, value):
    """``x`` with exact zeros replaced by ``value`` (guards divisions in flat kernels)."""
    import torch

    return torch.where(x == 0, torch.full_like(x, value), x)
