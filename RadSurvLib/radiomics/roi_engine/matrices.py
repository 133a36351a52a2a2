"""Whole-ROI texture matrices (GLCM, GLRLM, GLSZM, GLDM, NGTDM) in vectorised NumPy.

Each function takes one ROI's discretised crop and returns the matrix that PyRadiomics' C extension
(``radiomics._cmatrices.calculate_*``) returns for it, with the rows of gray levels absent from the
ROI already removed (PyRadiomics removes them right after the C call). The crop layout:

    levels: int array (z, y, x), the ROI's bounding box padded by one voxel of 0 on every side;
            ``levels[v]`` = rank of the voxel's gray level among the levels present in the ROI
            (1..n_levels), 0 outside the ROI.
    size:   (z, y, x) size of the unpadded bounding box (PyRadiomics drops the angles that move
            along an axis of size 1).

Distances are 1 (PyRadiomics' default ``distances: [1]``); the 13 angles are those of
``_cmatrices.generate_angles`` in its order, the 26 neighbours are the 13 angles and their opposites.
The voxel-map engine (``radiomics/voxelmaps``) works on small kernel cubes, batched; whole ROIs need
the flat-index neighbour gather used here instead.
"""

from __future__ import annotations

import numpy as np


def angles_13(size) -> np.ndarray:
    """The 13 (dz, dy, dx) GLCM / GLRLM angles of PyRadiomics, shape (n, 3), without the angles that
    move along an axis where ``size`` is 1 (as ``_cmatrices.generate_angles``)."""
    out = []
    for dz in (1, 0):
        for dy in ((1, 0, -1) if dz else (1, 0)):
            for dx in (1, 0, -1):
                if dz == 0 and dy == 0 and dx != 1:
                    continue
                a = (dz, dy, dx)
                if all(s > 1 or d == 0 for s, d in zip(size, a)):
                    out.append(a)
    return np.array(out, dtype=np.int64).reshape(-1, 3)


class RoiNeighbours:
    """Flat indices of an ROI's voxels and their gray-level ranks, with the 26 neighbours' ranks.

    Attributes:
        idx: int64 (n,), flat indices of the ROI voxels in the padded crop.
        lv: (n,) ranks of the ROI voxels.
        nb26: (26, n) ranks of the 26 neighbours at ``all_offsets`` (0 outside the ROI).
        angles, angle_offsets, angle_columns: the valid angles of ``angles_13(size)``, their flat
            offsets and their rows in ``nb26``.
        n_angles: number of valid angles (<= 13).
    """

    def __init__(self, levels: np.ndarray, size):
        self.levels = levels
        self.flat = levels.reshape(-1)
        strides = np.array([levels.shape[1] * levels.shape[2], levels.shape[2], 1], dtype=np.int64)
        self.angles = angles_13(size)
        self.n_angles = len(self.angles)
        self.angle_offsets = self.angles @ strides
        every = np.array([(dz, dy, dx) for dz in (-1, 0, 1) for dy in (-1, 0, 1) for dx in (-1, 0, 1)
                          if (dz, dy, dx) != (0, 0, 0)], dtype=np.int64)
        self.all_offsets = every @ strides
        self.angle_columns = np.array([int(np.flatnonzero(self.all_offsets == o)[0])
                                       for o in self.angle_offsets], dtype=np.int64)
        self.idx = np.flatnonzero(self.flat)
        self.lv = self.flat[self.idx]
        self._nb26 = None

    def neighbours(self, offsets) -> np.ndarray:
        """Ranks of the neighbours at the flat ``offsets``, shape (n, len(offsets))."""
        return self.flat[self.idx[:, None] + np.asarray(offsets)[None, :]]

    @property
    def nb26(self) -> np.ndarray:
        """Ranks of the 26 neighbours (26, n), rows in the order of ``all_offsets`` (gathered once)."""
        if self._nb26 is None:
            self._nb26 = self.flat[self.all_offsets[:, None] + self.idx[None, :]]
        return self._nb26


def glcm(roi: RoiNeighbours, n_levels: int) -> np.ndarray:
    """Co-occurrence counts, shape (1, n_levels, n_levels, n_angles): [0, i-1, j-1, a] = number of
    ROI voxels of rank i whose neighbour at angle a is in the ROI with rank j (not symmetrised)."""
    g = n_levels + 1
    nb = roi.nb26[roi.angle_columns]
    code = (roi.lv[None, :] * g + nb) * roi.n_angles + np.arange(roi.n_angles, dtype=nb.dtype)[:, None]
    counts = np.bincount(code.reshape(-1), minlength=g * g * roi.n_angles)
    counts = counts.reshape(g, g, roi.n_angles)[1:, 1:, :]
    return counts[None].astype(np.float64)


def gldm(roi: RoiNeighbours, n_levels: int) -> np.ndarray:
    """Dependence counts, shape (1, n_levels, 27): [0, i-1, k] = number of ROI voxels of rank i with
    k of their 26 neighbours in the ROI at the same gray level (PyRadiomics' ``gldm_a`` = 0, the only
    value the engine accepts: with ranks instead of levels a tolerance would not carry over)."""
    nb = roi.nb26
    dependent = (nb == roi.lv[None, :]).sum(axis=0)  # equal rank implies in the ROI
    counts = np.bincount((roi.lv.astype(np.int64) - 1) * 27 + dependent, minlength=n_levels * 27)
    return counts.reshape(1, n_levels, 27).astype(np.float64)


def ngtdm(roi: RoiNeighbours, n_levels: int, gray_levels: np.ndarray) -> np.ndarray:
    """Neighbouring gray tone difference matrix, shape (1, n_present, 3), as PyRadiomics after it
    removes empty rows: [0, :, 0] = number of ROI voxels of each level that have at least one of their
    26 neighbours in the ROI, [0, :, 1] = sum over them of |level - mean level of those neighbours|,
    [0, :, 2] = the level (gray level values, not ranks)."""
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


def glrlm(roi: RoiNeighbours, n_levels: int, max_run: int) -> np.ndarray:
    """Run-length counts, shape (1, n_levels, max_run, n_angles): [0, i-1, L-1, a] = number of runs
    (maximal chains along angle a of ROI voxels with the same rank) of rank i and length L.

    Every angle's flat offset o is positive, and the chain v, v+o, v+2o, ... of flat indices follows
    the angle until it reaches the zero padding; so reading the padded array in the order of the
    residues modulo o (``reshape(-1, o).T``) lays every line of the angle out contiguously, separated
    by zeros, and the runs are the runs of equal non-zero values of that 1D sequence."""
    out = np.zeros((n_levels, max_run, roi.n_angles), dtype=np.float64)
    flat = roi.flat
    for a, offset in enumerate(int(o) for o in roi.angle_offsets):
        tail = (-flat.size) % offset
        seq = np.concatenate([flat, np.zeros(tail, flat.dtype)]).reshape(-1, offset).T.reshape(-1)
        starts = np.concatenate([[0], np.flatnonzero(seq[1:] != seq[:-1]) + 1])
        lengths = np.diff(np.append(starts, seq.size))
        level = seq[starts]
        keep = level > 0
        code = (level[keep].astype(np.int64) - 1) * max_run + (lengths[keep] - 1)
        out[:, :, a] = np.bincount(code, minlength=n_levels * max_run).reshape(n_levels, max_run)
    return out[None]


def glszm(levels: np.ndarray, n_levels: int, n_voxels: int, roi: RoiNeighbours = None) -> np.ndarray:
    """Size-zone counts, shape (1, n_levels, largest zone size), as the C extension (at most
    ``n_voxels`` columns): [0, i-1, s-1] = number of zones (26-connected sets of ROI voxels with the
    same rank) of rank i and s voxels.

    Zones are the connected components (``scipy.sparse.csgraph``) of the graph joining each ROI voxel
    to its same-rank neighbours at the 13 angles (SimpleITK's ScalarConnectedComponent with a
    distance threshold of 0 was seen to split a zone at a corner contact)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    roi = roi or RoiNeighbours(levels, np.array(levels.shape) - 2)
    n = roi.idx.size
    ordinal = np.zeros(roi.flat.shape, dtype=np.int32)
    ordinal[roi.idx] = np.arange(n, dtype=np.int32)
    src, dst = [], []
    for column in np.flatnonzero(roi.all_offsets > 0):  # one of each opposite pair
        same = np.flatnonzero(roi.nb26[column] == roi.lv)  # same rank implies in the ROI
        src.append(same)
        dst.append(ordinal[roi.idx[same] + roi.all_offsets[column]])
    src, dst = np.concatenate(src), np.concatenate(dst)
    graph = coo_matrix((np.ones(src.size, dtype=np.int8), (src.astype(np.int32), dst)), shape=(n, n)).tocsr()
    n_zones, zone = connected_components(graph, directed=False)
    size = np.bincount(zone, minlength=n_zones)
    level = np.zeros(n_zones, dtype=np.int64)
    level[zone] = roi.lv
    width = int(size.max())
    code = (level - 1) * width + (size - 1)
    counts = np.bincount(code, minlength=n_levels * width)
    return counts.reshape(1, n_levels, width).astype(np.float64)


def compute(roi: RoiNeighbours, n_levels: int, gray_levels: np.ndarray, families, n_voxels: int,
            max_run: int, compiled: bool = None) -> dict:
    """The matrices of ``families`` (subset of glcm, glrlm, glszm, gldm, ngtdm) for one ROI, in the
    layouts of the functions above, from the compiled loops of ``kernels`` when Numba is installed
    (``compiled`` None) or asked for (True), else from NumPy."""
    from . import kernels

    families = set(families)
    if compiled is None:
        compiled = kernels.AVAILABLE
    out = {}
    if not compiled:
        for family in families:
            if family == "glcm":
                out[family] = glcm(roi, n_levels)
            elif family == "glrlm":
                out[family] = glrlm(roi, n_levels, max_run)
            elif family == "glszm":
                out[family] = glszm(roi.levels, n_levels, n_voxels, roi)
            elif family == "gldm":
                out[family] = gldm(roi, n_levels)
            elif family == "ngtdm":
                out[family] = ngtdm(roi, n_levels, gray_levels)
        return out
    flat = roi.flat
    if families & {"glcm", "gldm", "ngtdm"}:
        level_values = np.concatenate([[0.0], gray_levels.astype(np.float64)])
        counts, dependence, n_i, s_i = kernels.neighbour_counts(
            flat, roi.idx, roi.all_offsets, roi.angle_columns, n_levels, level_values)
        out["glcm"] = counts[None].astype(np.float64)
        out["gldm"] = dependence[None].astype(np.float64)
        table = np.stack([n_i, s_i, gray_levels.astype(np.float64)], axis=1)
        out["ngtdm"] = table[n_i > 0][None]
    if "glrlm" in families:
        out["glrlm"] = kernels.run_lengths(flat, roi.idx, roi.angle_offsets, n_levels, max_run)[None].astype(np.float64)
    if "glszm" in families:
        forward = roi.all_offsets[roi.all_offsets > 0]
        out["glszm"] = kernels.zones(flat, roi.idx, forward, n_levels)[None].astype(np.float64)
    return {family: out[family] for family in families}


def warm_up() -> None:
    """Run ``compute`` once on a tiny ROI (every family, the argument types of a real call), so that
    Numba loads its compiled loops now rather than in the first ROI."""
    levels = np.zeros((5, 5, 5), dtype=np.int32)
    levels[1:4, 1:4, 1:4] = np.arange(27, dtype=np.int32).reshape(3, 3, 3) % 2 + 1
    compute(RoiNeighbours(levels, (3, 3, 3)), 2, np.array([1, 2]), ("glcm", "glrlm", "glszm", "gldm", "ngtdm"),
            27, 3)
