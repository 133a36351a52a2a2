"""Compiled (Numba) loops for the whole-ROI texture matrices, used by ``neighbours.compute`` when
Numba is installed (a default dependency); the families' NumPy ``roi_matrix``
(``radiomics.families``) is the fallback where Numba cannot be imported and the reference of the
tests. Same inputs and outputs as ``roi_matrix`` (``neighbours.RoiNeighbours``): ``flat`` is the
padded rank array raveled (int32, 0 outside the ROI), ``idx`` the flat indices of the ROI voxels,
offsets are flat offsets. One pass over the ROI's voxels per matrix family instead of one NumPy pass
per neighbour; ``nogil`` so that the engine's threads run ROIs side by side.
"""

from __future__ import annotations

import numpy as np

import importlib.util

from ..numba_jit import jit

#: Numba is a default dependency; the NumPy code runs without it.
AVAILABLE = importlib.util.find_spec("numba") is not None


def _compile(function):
    return jit(function) if AVAILABLE else None


def _neighbour_counts(flat, idx, offsets, angle_rows, n_levels, level_values):
    """GLCM counts (n_levels, n_levels, n_angles), GLDM counts (n_levels, 27), NGTDM n_i and s_i
    (n_levels,) in one pass over the 26 neighbours of every ROI voxel."""
    n_angles = angle_rows.size
    glcm = np.zeros((n_levels, n_levels, n_angles), dtype=np.int64)
    gldm = np.zeros((n_levels, 27), dtype=np.int64)
    n_i = np.zeros(n_levels, dtype=np.float64)
    s_i = np.zeros(n_levels, dtype=np.float64)
    for k in range(idx.size):
        v = idx[k]
        level = flat[v]
        dependent = 0
        count = 0
        total = 0.0
        for j in range(offsets.size):
            other = flat[v + offsets[j]]
            if other > 0:
                count += 1
                total += level_values[other]
                if other == level:
                    dependent += 1
        for a in range(n_angles):
            other = flat[v + offsets[angle_rows[a]]]
            if other > 0:
                glcm[level - 1, other - 1, a] += 1
        gldm[level - 1, dependent] += 1
        n_i[level - 1] += 1.0
        if count > 0:
            s_i[level - 1] += abs(level_values[level] - total / count)
    return glcm, gldm, n_i, s_i


def _run_lengths(flat, idx, angle_offsets, n_levels, max_run):
    """GLRLM counts (n_levels, max_run, n_angles): each run is walked once from its first voxel."""
    out = np.zeros((n_levels, max_run, angle_offsets.size), dtype=np.int64)
    for a in range(angle_offsets.size):
        step = angle_offsets[a]
        for k in range(idx.size):
            v = idx[k]
            level = flat[v]
            if flat[v - step] == level:
                continue  # not the first voxel of its run
            length = 1
            while flat[v + length * step] == level:
                length += 1
            out[level - 1, length - 1, a] += 1
    return out


def _zones(flat, idx, forward_offsets, n_levels):
    """GLSZM counts (n_levels, largest zone): union-find over same-rank 26-neighbours."""
    n = idx.size
    ordinal = np.full(flat.size, -1, dtype=np.int64)
    for k in range(n):
        ordinal[idx[k]] = k
    parent = np.arange(n)
    for k in range(n):
        v = idx[k]
        level = flat[v]
        for j in range(forward_offsets.size):
            w = v + forward_offsets[j]
            if flat[w] == level:
                a = k
                while parent[a] != a:
                    parent[a] = parent[parent[a]]
                    a = parent[a]
                b = ordinal[w]
                while parent[b] != b:
                    parent[b] = parent[parent[b]]
                    b = parent[b]
                if a != b:
                    if a < b:
                        parent[b] = a
                    else:
                        parent[a] = b
    size = np.zeros(n, dtype=np.int64)
    for k in range(n):
        a = k
        while parent[a] != a:
            a = parent[a]
        parent[k] = a
        size[a] += 1
    largest = 0
    for k in range(n):
        if size[k] > largest:
            largest = size[k]
    out = np.zeros((n_levels, largest), dtype=np.int64)
    for k in range(n):
        if size[k] > 0:
            out[flat[idx[k]] - 1, size[k] - 1] += 1
    return out


neighbour_counts = _compile(_neighbour_counts)
run_lengths = _compile(_run_lengths)
zones = _compile(_zones)
