"""NGTDM voxel maps (PyRadiomics ``ngtdm``, distance 1), from the kernel cubes of the engine.

For each kernel voxel q with at least one of its 26 neighbours in the kernel (inside the cube
and the support), A_q = the mean gray level of those neighbours; n_i counts such voxels of level
i and s_i = sum |i - A_q| over them (voxels without a neighbour in the kernel do not count, as in
the C extension's ``calculate_ngtdm`` on the kernel mask). p_i = n_i / N_vp, N_gp = the number of
levels with p_i > 0. Sums over level pairs run over the levels present in the kernel (small
dense matrices over kernel level ranks). Special values as PyRadiomics: Coarseness 1e6 when
sum p_i s_i = 0, Contrast 0 when N_gp = 1, Busyness 0 when its denominator is 0, Strength 0 when
sum s_i = 0.
"""

from __future__ import annotations

from . import engine
from .engine import kernel_ranks, neighbour_sums

#: NGTDM features (PyRadiomics ``ngtdm``), name -> IBSI tag.
FEATURES = {"Coarseness": "QCDE", "Contrast": "65HE", "Busyness": "NQ30", "Complexity": "HDEZ",
            "Strength": "1X9X"}

#: No NGTDM feature is costly.
COSTLY = frozenset()


def bytes_per_voxel(D, n_levels, names) -> int:
    """Working-set estimate per ROI voxel (bytes): ~16 int64 / float64 (padded) cubes for the
    neighbour sums and the per-level sums. The L x L level-pair matrices are built per group of
    kernels with at most L_g levels, in batches that keep them within ``engine.CHUNK_BYTES``."""
    return 16 * 8 * (D + 2) ** 3


def compute(cubes, n_levels, names, **_):
    """NGTDM features of each kernel.

    Args:
        cubes: torch.int64 (n, D, D, D), gray levels, 0 = not in the kernel (engine layout).
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
    ranks = torch.where(has, ranks, 0)
    hasd = has.double()
    dev = cubes.device
    n_i = torch.zeros(n, L, dtype=torch.float64, device=dev).scatter_add_(-1, ranks, hasd)
    s_i = torch.zeros(n, L, dtype=torch.float64, device=dev).scatter_add_(-1, ranks, diff * hasd)
    gl = torch.zeros(n, L, dtype=torch.float64, device=dev).scatter_reduce_(
        -1, ranks, level * hasd, reduce="amax", include_self=True)
    nvp = n_i.sum(-1)
    p = n_i / nvp.clamp(min=1)[:, None]
    present = n_i > 0
    ngp = present.sum(-1).double()
    sum_ps = (p * s_i).sum(-1)
    sum_s = s_i.sum(-1)
    # Level-pair sums run over the levels of each kernel (ranks 0..L_v - 1, ascending): voxels are
    # grouped by L_v so that each group only builds L_g x L_g matrices (L_g = the group's largest).
    l_v = torch.where(present, torch.arange(L, device=dev)[None, :] + 1, 0).amax(-1)
    order = l_v.argsort()
    l_sorted = l_v[order]
    pair_feats = [f for f in names if f in ("Contrast", "Busyness", "Complexity", "Strength")]
    pair_sums = {f: torch.empty(n, dtype=torch.float64, device=dev) for f in pair_feats}
    if pair_feats:
        bounds = sorted({b for b in (2, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128) if b < L} | {L})
        cuts = torch.searchsorted(l_sorted, torch.tensor(bounds, device=dev), right=True).tolist()
        begin = 0
        for end, lg in zip(cuts, bounds):
            if end <= begin:
                continue
            step = max(1, engine.CHUNK_BYTES // (8 * 8 * lg * lg))
            for s0 in range(begin, end, step):
                sel = order[s0:min(s0 + step, end)]
                sums = _pair_sums(p[sel, :lg], s_i[sel, :lg], gl[sel, :lg], present[sel, :lg], pair_feats)
                for f in pair_feats:
                    pair_sums[f][sel] = sums[f]
            begin = end

    out = {}
    for f in names:
        if f == "Coarseness":
            v = torch.where(sum_ps != 0, 1 / torch.where(sum_ps != 0, sum_ps, 1.0),
                            torch.full_like(sum_ps, 1e6))
        elif f == "Contrast":
            div = ngp * (ngp - 1)
            num = pair_sums[f] * sum_s / nvp
            v = torch.where(div != 0, num / torch.where(div != 0, div, 1.0), torch.zeros_like(num))
        elif f == "Busyness":
            absdiff = pair_sums[f]
            v = torch.where(absdiff != 0, sum_ps / torch.where(absdiff != 0, absdiff, 1.0),
                            torch.zeros_like(absdiff))
        elif f == "Complexity":
            v = pair_sums[f] / nvp
        elif f == "Strength":
            s = pair_sums[f]
            v = torch.where(sum_s != 0, s / torch.where(sum_s != 0, sum_s, 1.0), torch.zeros_like(s))
        else:
            raise KeyError(f)
        out[f] = v
    return out


def _pair_sums(pg, sg, gg, pr, feats):
    """The level-pair double sums of NGTDM over (m, L_g) per-level vectors: p_i, s_i, level i and
    presence, for Contrast (sum p_i p_j (i - j)^2), Busyness (sum |i p_i - j p_j|), Complexity
    (sum |i - j| (p_i s_i + p_j s_j) / (p_i + p_j)) and Strength (sum (p_i + p_j) (i - j)^2),
    each over the levels present in the kernel."""
    import torch

    both = pr[:, :, None] & pr[:, None, :]
    dgl = gg[:, :, None] - gg[:, None, :]
    out = {}
    for f in feats:
        if f == "Contrast":
            v = (pg[:, :, None] * pg[:, None, :] * dgl ** 2).sum((1, 2))
        elif f == "Busyness":
            ip = gg * pg
            v = ((ip[:, :, None] - ip[:, None, :]).abs() * both).sum((1, 2))
        elif f == "Complexity":
            ps = pg * sg
            num = (ps[:, :, None] + ps[:, None, :]) * both
            div = pg[:, :, None] + pg[:, None, :]
            div = torch.where(div == 0, torch.ones_like(div), div)
            v = (dgl.abs() * num / div).sum((1, 2))
        else:  # Strength
            v = ((pg[:, :, None] + pg[:, None, :]) * dgl ** 2 * both).sum((1, 2))
        out[f] = v
    return out
