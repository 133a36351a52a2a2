"""Helpers of the voxel-map engine's kernel cubes (layout: the package docstring) that the engine and
several families share: the 13 directions of distance 1, the ranks of the gray levels within each
kernel, and the bound of the per-chunk working set.
"""

from __future__ import annotations

#: Upper bound of the per-chunk working set in bytes: the voxel-map engine sizes its chunks of
#: kernels by it (``voxelmaps.engine``'s docstring: the memory bound), the families split their
#: per-group work within it.
CHUNK_BYTES = 32 * 2**20


def directions_13():
    """The 13 unique distance-1 directions (dz, dy, dx) in 3D, one of each +- pair."""
    dirs = []
    for dz in (-1, 0, 1):
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                if (dz, dy, dx) > (0, 0, 0):
                    dirs.append((dz, dy, dx))
    return dirs


def kernel_ranks(flat):
    """Rank of each kernel voxel's gray level among the distinct levels of its kernel.

    Args:
        flat: torch.int64 (n, K), gray levels, 0 = not in the kernel.

    Returns:
        (ranks, L): ranks int64 (n, K), 0..L-1 for kernel voxels (ascending level) and L for the
        others; L = the largest number of distinct levels of a kernel in the chunk (at least 2).
    """
    import torch

    big = torch.iinfo(torch.int64).max
    codes = torch.where(flat > 0, flat, big)
    ordered, order = codes.sort(-1)
    starts = torch.ones_like(ordered, dtype=torch.bool)
    starts[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    rank_sorted = starts.long().cumsum(-1) - 1
    ranks = torch.empty_like(rank_sorted).scatter_(-1, order, rank_sorted)
    in_kernel = flat > 0
    L = int(torch.where(in_kernel, ranks, 0).amax()) + 1 if bool(in_kernel.any()) else 1
    L = max(L, 2)
    return torch.where(in_kernel, ranks, L), L
