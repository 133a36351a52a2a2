"""GLRLM voxel maps, compiled (Numba) CPU path: per kernel and direction, its runs (counted on
128-bit position sets up to kernel radius 2, walked line by line beyond), the (gray level, run
length) counts, the features of that matrix (``compiled.zones.cell_features``), averaged over the
directions kept; the loop is ``zones.glrlm_chunk``.

Same semantics as the torch path (``radiomics.families.glrlm``, PyRadiomics' voxel-based GLRLM,
``weightingNorm`` None, distance 1): the 13 directions of ``kernel_cubes.directions_13``, runs of
one gray level through kernel voxels only (0 in the cube ends a run; runs stop at the cube's faces);
a direction in which no line of the cube holds two kernel voxels is left out of the mean
(PyRadiomics' ``multiElement``), so a one-voxel kernel is NaN for every feature.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ...families import glrlm as reference
from ...families.kernel_cubes import directions_13
from . import zones

#: The GLRLM features this path computes: all of them.
NAMES = tuple(reference.FEATURES)


@lru_cache(maxsize=None)
def line_tables(size: int):
    """The lines of a size^3 cube along each of the 13 directions (``directions_13`` order).

    Returns:
        (start int64 (13, M), length int64 (13, M), n_lines int64 (13,), step int64 (13,)): line l
        of direction a visits the flat positions start[a, l] + t * step[a], t < length[a, l]
        (from a position whose predecessor is outside the cube to the last one inside), M the
        largest number of lines of a direction (3 size^2). Built once per size; do not modify.
    """
    dirs = directions_13()
    m = 3 * size * size
    start = np.zeros((13, m), np.int64)
    length = np.zeros((13, m), np.int64)
    n_lines = np.zeros(13, np.int64)
    step = np.array([(dz * size + dy) * size + dx for dz, dy, dx in dirs], np.int64)

    def inside(*c):
        return all(0 <= x < size for x in c)

    for a, (dz, dy, dx) in enumerate(dirs):
        for z in range(size):
            for y in range(size):
                for x in range(size):
                    if inside(z - dz, y - dy, x - dx):
                        continue  # not the first position of its line
                    t = 0
                    while inside(z + t * dz, y + t * dy, x + t * dx):
                        t += 1
                    start[a, n_lines[a]] = (z * size + y) * size + x
                    length[a, n_lines[a]] = t
                    n_lines[a] += 1
    return start, length, n_lines, step


def compute(cubes, n_levels, names, **_) -> dict:
    """GLRLM features of each kernel (PyRadiomics voxel-based semantics, as ``families.glrlm``):
    per direction, then the mean over the directions kept.

    Args:
        cubes: numpy int64 (n, D, D, D), the kernels (layout: ``radiomics.families``).
        n_levels: Ng (no GLRLM feature depends on it). names: from ``NAMES``.
        **_: the engine's other settings (``distances`` is always [1]), unused.

    Returns:
        {name: numpy float64 (n,)}; units as ``families.glrlm.compute``; NaN where no direction is
        kept (a one-voxel kernel).

    Raises:
        InputError: as ``zones.check_inputs``.
    """
    def loop(flat, size, slots, wanted, max_level, out):
        zones.glrlm_chunk(flat, *line_tables(size), _direction_masks(size), slots, wanted, max_level, out)

    return zones.run_family(cubes, names, NAMES, "GLRLM", reference.FEATURE_FUNCTIONS, loop)


@lru_cache(maxsize=None)
def _direction_masks(size: int):
    """``zones.direction_masks`` of the 13 directions for cubes of at most 128 positions (built
    once), else a dummy."""
    if size ** 3 > 128:
        return np.zeros((13, 3), np.uint64)
    return zones.direction_masks(size, directions_13())
