"""GLDM features (PyRadiomics ``gldm``, alpha 0, distance 1) of each voxel's kernel (voxel maps,
``compute``) and of an ROI (``roi_matrix``, ``features``).

For each kernel voxel q, its dependence size is j = 1 + the number of its 26 neighbours that are
in the kernel (inside the cube and the support) and have the same gray level (``gldm_a`` = 0).
P(i, j) counts the kernel voxels of level i and size j; N_z = N_p, the kernel voxel count (the C
extension's ``calculate_gldm`` on the kernel mask). Sums over P become means over kernel voxels
(e.g. SDE = mean of 1 / j^2); the non-uniformities and the entropy use histograms. The formulas
are ``zones``' (shared with the GLRLM, the GLSZM and the ROI engine).

For an ROI (one kernel): P(i, j), the number of voxels of gray level i with j - 1 of their 26
neighbours in the ROI at the same gray level (``gldm_a`` 0); N_z = number of voxels. The ROI is one
kernel, its matrix the ``zones.Matrix`` the formulas read.
"""

from __future__ import annotations

from functools import cached_property

from . import zones
from .arrays import evaluate
from .kernel_cubes import directions_13

#: GLDM features (PyRadiomics ``gldm``, the 14 not deprecated), name -> IBSI tag (IBSI NGLDM, coarseness 0).
FEATURES = {
    "SmallDependenceEmphasis": "SODN", "LargeDependenceEmphasis": "IMOQ",
    "GrayLevelNonUniformity": "FP8K", "DependenceNonUniformity": "Z87G",
    "DependenceNonUniformityNormalized": "OKJI", "GrayLevelVariance": "1PFV",
    "DependenceVariance": "DNX2", "DependenceEntropy": "FCBV",
    "LowGrayLevelEmphasis": "TL9H", "HighGrayLevelEmphasis": "OAE7",
    "SmallDependenceLowGrayLevelEmphasis": "EQ3F", "SmallDependenceHighGrayLevelEmphasis": "JA6D",
    "LargeDependenceLowGrayLevelEmphasis": "NBZI", "LargeDependenceHighGrayLevelEmphasis": "9QMG",
}

#: No GLDM feature is costly.
COSTLY = frozenset()


def bytes_per_voxel(D, n_levels, names) -> int:
    """Working-set estimate per ROI voxel (bytes): ~16 float64 / int64 cubes and the gray-level
    histogram (Ng + 1 slots)."""
    return 16 * 8 * D ** 3 + 8 * (n_levels + 1) + 28 * 8 * 2


#: PyRadiomics feature name -> its function (of a ``zones.Counts``).
FEATURE_FUNCTIONS = zones.functions("SmallDependence", "LargeDependence", "Dependence", normalized_gray=False)


def same_level_neighbours(cubes):
    """Per cube voxel in the kernel: how many of its 26 neighbours in the kernel have its gray level.

    Each of the 13 directions of ``directions_13`` compares the cube with itself shifted; an
    equal pair (q, q + d) counts at both ends (so the 26 neighbours are covered once each).

    Args:
        cubes: torch.int64 (n, D, D, D) (layout: package docstring).

    Returns:
        torch.int64 (n, D, D, D), 0 outside the kernel.
    """
    import torch

    count = torch.zeros_like(cubes)
    small = cubes.to(torch.int16) if int(cubes.max()) < 2 ** 15 else cubes
    for d in directions_13():
        a = tuple(slice(max(0, -o), small.shape[i + 1] - max(0, o)) for i, o in enumerate(d))
        b = tuple(slice(max(0, o), small.shape[i + 1] + min(0, o)) for i, o in enumerate(d))
        lo, hi = (slice(None),) + a, (slice(None),) + b
        eq = (small[lo] == small[hi]) & (small[lo] > 0)
        count[lo] += eq
        count[hi] += eq
    return count


def compute(cubes, n_levels, names, **_):
    """GLDM features of each kernel.

    Args:
        cubes: torch.int64 (n, D, D, D), gray levels, 0 = not in the kernel (layout: package docstring).
        n_levels: Ng, the highest gray level of the ROI.
        names: feature names from ``FEATURES``.

    Returns:
        dict name -> torch.float64 (n,).
    """
    counts = KernelDependences(cubes, n_levels)
    return {f: FEATURE_FUNCTIONS[f](counts) for f in names}


class KernelDependences(zones.EntryCounts):
    """``zones.EntryCounts`` of the kernels' voxels (torch, (n,) kernels): one entry per cube position,
    weight 1 for a kernel voxel, i its level, j its dependence size."""

    def __init__(self, cubes, n_levels):
        n = cubes.shape[0]
        self.levels = cubes.reshape(n, -1)
        self.ok = self.levels > 0
        self.dependent = same_level_neighbours(cubes).reshape(n, -1)  # alpha = 0: same level, in the kernel
        self.w = self.ok.double()
        self.i = self.levels.double().clamp(min=1)
        self.j = (self.dependent + 1).double()
        self.total = self.n_voxels = self.w.sum(-1)
        self.n_levels = n_levels

    def _histogram(self, codes, slots):
        import torch

        h = torch.zeros(codes.shape[0], slots, dtype=torch.float64, device=codes.device)
        return h.scatter_add_(-1, torch.where(self.ok, codes, 0), self.w)

    @cached_property
    def per_level(self):
        return self._histogram(self.levels, self.n_levels + 1)

    @cached_property
    def per_j(self):
        return self._histogram(self.dependent + 1, 28)

    @cached_property
    def per_cell(self):
        from .glrlm import counts_of_sorted

        codes = self.levels * 32 + self.dependent
        ordered = codes.masked_fill(~self.ok, -1).sort(-1).values
        return counts_of_sorted(ordered, ordered >= 0)


# The ROI, as one kernel.

def roi_matrix(roi, n_levels: int):
    """Dependence counts of one ROI, shape (1, n_levels, 27), float64: [0, i-1, k] = number of ROI
    voxels of rank i with k of their 26 neighbours in the ROI at the same gray level (PyRadiomics'
    ``gldm_a`` = 0, the only value the engine accepts: with ranks instead of levels a tolerance
    would not carry over).

    Args:
        roi: ``roi_engine.neighbours.RoiNeighbours`` of the ROI (ranks 1..n_levels).
        n_levels: number of gray levels present in the ROI.
    """
    import numpy as np

    nb = roi.nb26
    dependent = (nb == roi.lv[None, :]).sum(axis=0)  # equal rank implies in the ROI
    counts = np.bincount((roi.lv.astype(np.int64) - 1) * 27 + dependent, minlength=n_levels * 27)
    return counts.reshape(1, n_levels, 27).astype(np.float64)


def features(counts, gray_levels, names) -> dict:
    """GLDM features of one ROI: {PyRadiomics name: float} for ``names``.

    Args:
        counts: (1, L, 27) from ``roi_matrix`` (column k: k dependent neighbours); gray_levels: int (L,).
    """
    import numpy as np

    j = np.arange(1, counts.shape[2] + 1)
    total = counts.sum((1, 2))
    total = np.where(total == 0, 1, total)
    return evaluate(FEATURE_FUNCTIONS, zones.Matrix(counts, gray_levels, j, total), names)
