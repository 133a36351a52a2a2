"""NGTDM features (PyRadiomics ``ngtdm``, distance 1) of each voxel's kernel (voxel maps, ``compute``)
and of an ROI (``roi_matrix``, ``features``).

For each kernel voxel q with at least one of its 26 neighbours in the kernel (inside the cube
and the support), A_q = the mean gray level of those neighbours; n_i counts the kernel voxels of
level i and s_i = sum |i - A_q| over those with a neighbour (a voxel without one adds 1 to n_i and
nothing to s_i, as in the C extension's ``calculate_ngtdm`` on the kernel mask). p_i = n_i / N_vp, N_gp = the number of
levels with p_i > 0. Sums over level pairs run over the levels present in the kernel (small
dense matrices over kernel level ranks). Special values as PyRadiomics: Coarseness 1e6 when
sum p_i s_i = 0, Contrast 0 when N_gp = 1, Busyness 0 when its denominator is 0, Strength 0 when
sum s_i = 0. One function per feature of a ``Table`` (NumPy or torch), shared with the ROI engine.

For an ROI (one kernel): per gray level i present, n_i voxels, p_i = n_i / N_vp, s_i = sum over them
of |i - mean gray level of their neighbours in the ROI| (26-neighbourhood). The ROI is one kernel,
its matrix the ``Table`` the formulas read.
"""

from __future__ import annotations

from functools import cached_property

from .arrays import evaluate, to_float64, xp
from .kernel_cubes import CHUNK_BYTES, kernel_ranks

#: NGTDM features (PyRadiomics ``ngtdm``), name -> IBSI tag.
FEATURES = {"Coarseness": "QCDE", "Contrast": "65HE", "Busyness": "NQ30", "Complexity": "HDEZ",
            "Strength": "1X9X"}

#: No NGTDM feature is costly.
COSTLY = frozenset()


def bytes_per_voxel(D, n_levels, names) -> int:
    """Working-set estimate per ROI voxel (bytes): ~16 int64 / float64 (padded) cubes for the
    neighbour sums and the per-level sums. The L x L level-pair matrices are built per group of
    kernels with at most L_g levels, in batches that keep them within ``kernel_cubes.CHUNK_BYTES``."""
    return 16 * 8 * (D + 2) ** 3


def neighbour_sums(cubes):
    """Per cube voxel: the sum of the gray levels of its 26 neighbours in the kernel, and their count.

    A 3 x 3 x 3 box sum over the zero-padded cube (separable: three passes of three shifted adds)
    minus the voxel itself; neighbours outside the cube or the kernel are 0 and add nothing.

    Args:
        cubes: torch.int64 (n, D, D, D) (layout: package docstring).

    Returns:
        (total, count): torch.int64 (n, D, D, D) each.
    """
    inside = (cubes > 0).to(cubes.dtype)
    return _box3(cubes) - cubes, _box3(inside) - inside


def _box3(x):
    """Sum over the 3 x 3 x 3 neighbourhood (itself included) of each voxel of (n, D, D, D), 0 outside."""
    import torch

    p = torch.nn.functional.pad(x, (1, 1, 1, 1, 1, 1))
    p = p[:, :-2] + p[:, 1:-1] + p[:, 2:]
    p = p[:, :, :-2] + p[:, :, 1:-1] + p[:, :, 2:]
    return p[..., :-2] + p[..., 1:-1] + p[..., 2:]


def compute(cubes, n_levels, names, **_):
    """NGTDM features of each kernel.

    Args:
        cubes: torch.int64 (n, D, D, D), gray levels, 0 = not in the kernel (layout: package docstring).
        n_levels: Ng (unused: sums run over the levels present).
        names: feature names from ``FEATURES``.

    Returns:
        dict name -> torch.float64 (n,).
    """
    import torch

    n = cubes.shape[0]
    total, count = neighbour_sums(cubes)
    total = total.double()
    inside = cubes > 0
    has = (inside & (count > 0)).reshape(n, -1)
    level = cubes.reshape(n, -1).double()
    diff = (level - total.reshape(n, -1) / count.reshape(n, -1).clamp(min=1)).abs()
    ranks, L = kernel_ranks(cubes.reshape(n, -1))
    in_kernel = inside.reshape(n, -1)
    ranks = torch.where(in_kernel, ranks, 0)  # voxels outside the kernel add 0 to slot 0
    counted = in_kernel.double()
    dev = cubes.device
    # n_i counts every kernel voxel of level i, s_i only those with a neighbour in the kernel: a
    # voxel without one adds 1 to n_i and 0 to s_i, as in PyRadiomics' C extension (calculate_ngtdm).
    n_i = torch.zeros(n, L, dtype=torch.float64, device=dev).scatter_add_(-1, ranks, counted)
    s_i = torch.zeros(n, L, dtype=torch.float64, device=dev).scatter_add_(-1, ranks, diff * has.double())
    gl = torch.zeros(n, L, dtype=torch.float64, device=dev).scatter_reduce_(
        -1, ranks, level * counted, reduce="amax", include_self=True)
    table = Table(n_i, s_i, gl)
    # Level-pair sums run over the levels of each kernel (ranks 0..L_v - 1, ascending): voxels are
    # grouped by L_v so that each group only builds L_g x L_g matrices (L_g = the group's largest).
    l_v = torch.where(table.present, torch.arange(L, device=dev)[None, :] + 1, 0).amax(-1)
    order = l_v.argsort()
    l_sorted = l_v[order]
    pair_feats = [f for f in names if f in PAIR_SUMS]
    table.pair_sums = {f: torch.empty(n, dtype=torch.float64, device=dev) for f in pair_feats}
    if pair_feats:
        bounds = sorted({b for b in (2, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128) if b < L} | {L})
        cuts = torch.searchsorted(l_sorted, torch.tensor(bounds, device=dev), right=True).tolist()
        begin = 0
        for end, lg in zip(cuts, bounds):
            if end <= begin:
                continue
            step = max(1, CHUNK_BYTES // (8 * 8 * lg * lg))
            for s0 in range(begin, end, step):
                sel = order[s0:min(s0 + step, end)]
                group = Table(n_i[sel, :lg], s_i[sel, :lg], gl[sel, :lg])
                for f in pair_feats:
                    table.pair_sums[f][sel] = PAIR_SUMS[f](group)
            begin = end
    return {f: FEATURE_FUNCTIONS[f](table) for f in names}


class Table:
    """What the NGTDM feature functions read, per kernel and gray level, float64 (m, L): the
    voxel maps' kernels (torch) or an ROI (NumPy, m = 1: ``features``).

    Args:
        n: n_i, the voxels of level i (those without a neighbour in the kernel or ROI too, as
            PyRadiomics); 0 for a slot whose level is absent.
        s: s_i. i: the gray level of each slot.

    ``p`` p_i = n_i / N_vp, ``present`` p_i > 0, ``nvp`` N_vp (m,), ``ngp`` N_gp (m,);
    ``pair_sums``: name -> (m,) the level-pair sum of ``PAIR_SUMS`` when computed elsewhere (the
    voxel maps build them by groups of kernels), else computed here.
    """

    def __init__(self, n, s, i):
        X = xp(n)
        self.n, self.s, self.i = n, s, i
        self.nvp = n.sum(-1)
        self.p = n / X.where(self.nvp > 0, self.nvp, 1.0)[:, None]
        self.present = n > 0
        self.ngp = to_float64(self.present.sum(-1))
        self.pair_sums = {}

    @cached_property
    def both(self):
        """Pairs of levels both present (m, L, L)."""
        return self.present[:, :, None] & self.present[:, None, :]

    @cached_property
    def level_difference(self):
        """i - j for every pair of slots (m, L, L)."""
        return _outer(self.i, _minus)

    def pair(self, name):
        """The level-pair sum ``PAIR_SUMS[name]`` (m,)."""
        if name not in self.pair_sums:
            self.pair_sums[name] = PAIR_SUMS[name](self)
        return self.pair_sums[name]


def _outer(x, op):
    """op(x_i, x_j) for every pair of slots: (m, L, L)."""
    return op(x[:, :, None], x[:, None, :])


def _minus(a, b):
    return a - b


def _plus(a, b):
    return a + b


# The level-pair double sums (over the levels present), each of a ``Table``: (m,).

def contrast_pairs(t):
    """sum_i sum_j p_i p_j (i - j)^2."""
    return (t.p[:, :, None] * t.p[:, None, :] * t.level_difference ** 2).sum((1, 2))


def busyness_pairs(t):
    """sum_i sum_j |i p_i - j p_j|."""
    return (xp(t.p).abs(_outer(t.i * t.p, _minus)) * t.both).sum((1, 2))


def complexity_pairs(t):
    """sum_i sum_j |i - j| (p_i s_i + p_j s_j) / (p_i + p_j)."""
    X = xp(t.p)
    divisor = _outer(t.p, _plus)
    divisor = X.where(divisor == 0, X.ones_like(divisor), divisor)
    return (X.abs(t.level_difference) * (_outer(t.p * t.s, _plus) * t.both) / divisor).sum((1, 2))


def strength_pairs(t):
    """sum_i sum_j (p_i + p_j) (i - j)^2."""
    return (_outer(t.p, _plus) * t.level_difference ** 2 * t.both).sum((1, 2))


#: Feature name -> its level-pair sum.
PAIR_SUMS = {"Contrast": contrast_pairs, "Busyness": busyness_pairs, "Complexity": complexity_pairs,
             "Strength": strength_pairs}


def _ratio_or(numerator, denominator, value):
    """numerator / denominator, ``value`` where the denominator is 0."""
    X = xp(denominator)
    safe = X.where(denominator != 0, denominator, X.ones_like(denominator))
    return X.where(denominator != 0, numerator / safe, X.full_like(denominator, value))


# One function per feature (PyRadiomics ``radiomics.ngtdm``, its formulas), each of a ``Table``
# (NumPy or torch: see ``arrays``), giving one value per kernel (m,).

def coarseness(t):
    """Coarseness = 1 / sum_i p_i s_i; 10^6 when the sum is 0 (PyRadiomics). IBSI QCDE."""
    return _ratio_or(1.0, (t.p * t.s).sum(-1), 1e6)


def contrast(t):
    """Contrast = [sum_i sum_j p_i p_j (i - j)^2 / (N_gp (N_gp - 1))] [sum_i s_i / N_vp]; 0 with
    one level (PyRadiomics). IBSI 65HE."""
    return _ratio_or(t.pair("Contrast") * t.s.sum(-1) / t.nvp, t.ngp * (t.ngp - 1), 0.0)


def busyness(t):
    """Busyness = sum_i p_i s_i / sum_i sum_j |i p_i - j p_j|; 0 when the denominator is 0
    (PyRadiomics). IBSI NQ30."""
    return _ratio_or((t.p * t.s).sum(-1), t.pair("Busyness"), 0.0)


def complexity(t):
    """Complexity = sum_i sum_j |i - j| (p_i s_i + p_j s_j) / (p_i + p_j) / N_vp. IBSI HDEZ."""
    return t.pair("Complexity") / t.nvp


def strength(t):
    """Strength = sum_i sum_j (p_i + p_j) (i - j)^2 / sum_i s_i; 0 when sum_i s_i = 0
    (PyRadiomics). IBSI 1X9X."""
    return _ratio_or(t.pair("Strength"), t.s.sum(-1), 0.0)


#: PyRadiomics feature name -> its function (of a ``Table``; one value per kernel (m,)).
FEATURE_FUNCTIONS = {"Coarseness": coarseness, "Contrast": contrast, "Busyness": busyness,
                     "Complexity": complexity, "Strength": strength}


# The ROI, as one kernel.

def roi_matrix(roi, n_levels: int, gray_levels):
    """Neighbouring gray tone difference matrix of one ROI, shape (1, n_present, 3), float64, as
    PyRadiomics' ``_cmatrices.calculate_ngtdm`` after it removes empty rows: [0, :, 0] = number of
    ROI voxels of each level (a voxel without a neighbour in the ROI counts too, as in the C
    extension), [0, :, 1] = sum over those with at least one of their 26 neighbours in the ROI of
    |level - mean level of those neighbours|, [0, :, 2] = the level (gray level values, not ranks).

    Args:
        roi: ``roi_engine.neighbours.RoiNeighbours`` of the ROI (ranks 1..n_levels).
        n_levels: number of gray levels present in the ROI.
        gray_levels: int (n_levels,) the gray level of each rank, ascending.
    """
    import numpy as np

    nb = roi.nb26
    values = np.concatenate([[0.0], gray_levels.astype(np.float64)])
    count = (nb > 0).sum(axis=0)
    total = values[nb].sum(axis=0)
    has = count > 0
    own = values[roi.lv[has]]
    diff = np.abs(own - total[has] / count[has])
    rank = roi.lv[has].astype(np.int64) - 1
    n_i = np.bincount(roi.lv.astype(np.int64) - 1, minlength=n_levels).astype(np.float64)
    s_i = np.bincount(rank, weights=diff, minlength=n_levels)
    out = np.stack([n_i, s_i, gray_levels.astype(np.float64)], axis=1)
    return out[n_i > 0][None]


def features(matrix, names) -> dict:
    """NGTDM features of one ROI: {PyRadiomics name: float} for ``names``.

    Args:
        matrix: (1, L, 3) from ``roi_matrix``: n_i, s_i, gray level per level present.
    """

    return evaluate(FEATURE_FUNCTIONS, Table(matrix[:, :, 0], matrix[:, :, 1], matrix[:, :, 2]), names)
