"""GLDM voxel maps (PyRadiomics ``gldm``, alpha 0, distance 1), from the kernel cubes of the engine.

For each kernel voxel q, its dependence size is j = 1 + the number of its 26 neighbours that are
in the kernel (inside the cube and the support) and have the same gray level (``gldm_a`` = 0).
P(i, j) counts the kernel voxels of level i and size j; N_z = N_p, the kernel voxel count (the C
extension's ``calculate_gldm`` on the kernel mask). Sums over P become means over kernel voxels
(e.g. SDE = mean of 1 / j^2); the non-uniformities and the entropy use histograms.
"""

from __future__ import annotations

from .engine import EPS, same_level_neighbours

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


def compute(cubes, n_levels, names, **_):
    """GLDM features of each kernel.

    Args:
        cubes: torch.int64 (n, D, D, D), gray levels, 0 = not in the kernel (engine layout).
        n_levels: Ng, the highest gray level of the ROI.
        names: feature names from ``FEATURES``.

    Returns:
        dict name -> torch.float64 (n,).
    """
    import torch

    n = cubes.shape[0]
    inside = cubes > 0
    dep = same_level_neighbours(cubes)  # dependent neighbours (alpha = 0: same level, in the kernel)
    ok = inside.reshape(n, -1)
    okd = ok.double()
    i = cubes.reshape(n, -1).double()
    j = (dep.reshape(n, -1) + 1).double()
    nz = okd.sum(-1)

    def mean(x):
        return (x * okd).sum(-1) / nz

    def variance(x):
        mu = mean(x)
        return mean((x - mu[:, None]) ** 2)

    def histogram_square_sum(codes, slots):
        h = torch.zeros(n, slots, dtype=torch.float64, device=cubes.device)
        h.scatter_add_(-1, torch.where(ok, codes, 0), okd)
        return (h ** 2).sum(-1)

    out = {}
    for f in names:
        if f == "SmallDependenceEmphasis":
            v = mean(1 / j ** 2)
        elif f == "LargeDependenceEmphasis":
            v = mean(j ** 2)
        elif f == "GrayLevelNonUniformity":
            v = histogram_square_sum(cubes.reshape(n, -1), n_levels + 1) / nz
        elif f == "DependenceNonUniformity":
            v = histogram_square_sum(dep.reshape(n, -1) + 1, 28) / nz
        elif f == "DependenceNonUniformityNormalized":
            v = histogram_square_sum(dep.reshape(n, -1) + 1, 28) / nz ** 2
        elif f == "GrayLevelVariance":
            v = variance(i)
        elif f == "DependenceVariance":
            v = variance(j)
        elif f == "DependenceEntropy":
            codes = cubes.reshape(n, -1) * 32 + dep.reshape(n, -1)
            codes = torch.where(ok, codes, -1)
            ordered = codes.sort(-1).values
            starts = torch.ones_like(ordered, dtype=torch.bool)
            starts[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
            run = starts.long().cumsum(-1) - 1
            counts = torch.zeros_like(okd).scatter_add_(-1, run, (ordered >= 0).double())
            p = counts / nz[:, None]
            v = -(p * torch.log2(p + EPS)).sum(-1)
        elif f == "LowGrayLevelEmphasis":
            v = mean(1 / torch.where(ok, i, 1.0) ** 2)
        elif f == "HighGrayLevelEmphasis":
            v = mean(i ** 2)
        elif f == "SmallDependenceLowGrayLevelEmphasis":
            v = mean(1 / (torch.where(ok, i, 1.0) ** 2 * j ** 2))
        elif f == "SmallDependenceHighGrayLevelEmphasis":
            v = mean(i ** 2 / j ** 2)
        elif f == "LargeDependenceLowGrayLevelEmphasis":
            v = mean(j ** 2 / torch.where(ok, i, 1.0) ** 2)
        elif f == "LargeDependenceHighGrayLevelEmphasis":
            v = mean(i ** 2 * j ** 2)
        else:
            raise KeyError(f)
        out[f] = v
    return out
