"""Compiled (Numba) loops for the whole-ROI texture matrices, used by ``neighbours.compute`` when
Numba is installed (a default dependency); the families' NumPy ``roi_matrix``
(``radiomics.families``) is the fallback where Numba cannot be imported and the reference of the
tests. Same inputs and outputs as ``roi_matrix`` (``neighbours.RoiNeighbours``): ``flat`` is the
padded rank array raveled (uint8, or uint16 past 255 gray levels: ``narrow``; 0 outside the ROI),
``idx`` the flat indices of the ROI voxels, ascending (raster order), offsets are flat offsets.
``nogil`` so that the engine's threads run ROIs side by side. The counts come out as float64 (exact
integers: below 2^53), the type the features take, with no copy.

Why they are fast (the matrices are integer counts, identical to the NumPy ones): the ranks are
bytes, so a ring's padded box stays in the CPU caches; the runs are counted without a branch per
voxel (each voxel's run length so far, from its predecessor along the angle, in raster order); the
zones are a union-find on the flat indices (no ordinal array over the box) that skips the neighbours
already joined through the voxel's predecessor (``RoiNeighbours.zone_plan``).
"""

from __future__ import annotations

import importlib.util

import numpy as np

from ..numba_jit import jit

#: Numba is a default dependency; the NumPy code runs without it.
AVAILABLE = importlib.util.find_spec("numba") is not None


def _compile(function):
    return jit(function) if AVAILABLE else None


def narrow(flat: np.ndarray, n_levels: int) -> np.ndarray:
    """``flat`` (ranks 0..n_levels) as uint8 (n_levels <= 255) or uint16 (<= 65535), the types the
    loops are compiled for; no copy when it already is.

    Raises:
        ValueError: more than 65535 gray levels in one ROI (a bin width far too small for the image).
    """
    if n_levels > 65535:
        raise ValueError(f"radiomics: {n_levels} gray levels in one ROI (more than 65535); use a larger "
                         "binWidth or a binCount.")
    dtype = np.uint8 if n_levels <= 255 else np.uint16
    return flat if flat.dtype == dtype else flat.astype(dtype)


def _neighbour_counts(flat, idx, offsets, angle_offsets, n_levels, level_values):
    """GLCM counts (n_levels, n_levels, n_angles), GLDM counts (n_levels, 27), NGTDM n_i and s_i
    (n_levels,) in one pass over the 26 neighbours (``offsets``) of every ROI voxel. ``level_values``
    (n_levels + 1,): 0 then the gray level of each rank."""
    n_angles = angle_offsets.size
    glcm = np.zeros((n_levels + 1, n_levels + 1, n_angles), dtype=np.float64)  # row / column 0: outside
    gldm = np.zeros((n_levels, 27), dtype=np.float64)
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
            count += other > 0
            total += level_values[other]  # + 0.0 outside: the same sum
            dependent += other == level  # equal rank implies in the ROI
        for a in range(n_angles):
            glcm[level, flat[v + angle_offsets[a]], a] += 1.0
        gldm[level - 1, dependent] += 1.0
        n_i[level - 1] += 1.0
        if count > 0:
            s_i[level - 1] += abs(level_values[level] - total / count)
    return glcm[1:, 1:].copy(), gldm, n_i, s_i


def _run_lengths(flat, idx, angle_offsets, n_levels, max_run):
    """GLRLM counts (n_levels, max_run, n_angles). Every angle's offset is positive, so in raster
    order a voxel's predecessor along the angle comes first: its run length so far is 1 + that of the
    predecessor when of the same rank; a run is counted at its last voxel."""
    n_angles = angle_offsets.size
    per_angle = np.zeros((n_angles, n_levels, max_run), dtype=np.float64)
    length = np.empty(flat.size, dtype=np.int32)  # read only where written earlier in the pass
    for a in range(n_angles):
        step = angle_offsets[a]
        counts = per_angle[a]
        for k in range(idx.size):
            v = idx[k]
            level = flat[v]
            run = 1 + (flat[v - step] == level) * length[v - step]
            length[v] = run
            counts[level - 1, run - 1] += 1.0 if flat[v + step] != level else 0.0
    out = np.empty((n_levels, max_run, n_angles), dtype=np.float64)
    for a in range(n_angles):
        for i in range(n_levels):
            for j in range(max_run):
                out[i, j, a] = per_angle[a, i, j]
    return out


def _zones(flat, idx, anchors, plans, plan_sizes, n_levels):
    """GLSZM counts (n_levels, largest zone): union-find over same-rank neighbours, each voxel joined
    to those of its earlier (raster order) neighbours, ``v - offset``, of the same rank. ``anchors``
    (m,): offsets tried first, in order; ``plans[i, :plan_sizes[i]]``: the offsets still to check
    when anchor i is the first of the voxel's rank (row m: when none is); see
    ``RoiNeighbours.zone_plan``."""
    n = idx.size
    m = anchors.size
    parent = np.empty(flat.size, dtype=np.int32)  # by flat index, set for ROI voxels only
    for k in range(n):
        v = idx[k]
        level = flat[v]
        i = 0
        while i < m and flat[v - anchors[i]] != level:
            i += 1
        if i < m:  # join the anchor's zone
            r = v - anchors[i]
            while parent[r] != r:
                parent[r] = parent[parent[r]]
                r = parent[r]
            parent[v] = r
            root = r
        else:
            parent[v] = v
            root = v
        for j in range(plan_sizes[i]):
            w = v - plans[i, j]
            if flat[w] == level:  # equal rank implies in the ROI
                r = w
                while parent[r] != r:
                    parent[r] = parent[parent[r]]
                    r = parent[r]
                if r != root:
                    if r < root:
                        parent[root] = r
                        root = r
                    else:
                        parent[r] = root
    size = np.empty(flat.size, dtype=np.int32)
    for k in range(n):
        size[idx[k]] = 0
    largest = 0
    for k in range(n):
        v = idx[k]
        r = v
        while parent[r] != r:
            r = parent[r]
        parent[v] = r
        s = size[r] + 1
        size[r] = s
        if s > largest:
            largest = s
    out = np.zeros((n_levels, largest), dtype=np.float64)
    for k in range(n):
        v = idx[k]
        if parent[v] == v:
            out[flat[v] - 1, size[v] - 1] += 1.0
    return out


neighbour_counts = _compile(_neighbour_counts)
run_lengths = _compile(_run_lengths)
zones = _compile(_zones)
