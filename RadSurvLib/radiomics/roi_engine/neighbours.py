"""The ROI engine's neighbour structure of one ROI and the dispatch of its texture matrices.

``RoiNeighbours`` holds, for one ROI's discretised crop, the flat indices of its voxels, their
gray-level ranks and the ranks of their 26 neighbours, from which each family's ``roi_matrix``
(``radiomics.families``) builds the matrix that PyRadiomics' C extension
(``radiomics._cmatrices.calculate_*``) returns for the ROI, with the rows of gray levels absent from
the ROI already removed (PyRadiomics removes them right after the C call). ``compute`` gives the
matrices of several families, from the compiled loops of ``kernels`` when Numba is there, else from
the families' NumPy ``roi_matrix``. The crop layout:

    levels: int array (z, y, x), the ROI's bounding box padded by one voxel of 0 on every side;
            ``levels[v]`` = rank of the voxel's gray level among the levels present in the ROI
            (1..n_levels), 0 outside the ROI.
    size:   (z, y, x) size of the unpadded bounding box (PyRadiomics drops the angles that move
            along an axis of size 1).

Distances are 1 (PyRadiomics' default ``distances: [1]``); the 13 angles are those of
``_cmatrices.generate_angles`` in its order, the 26 neighbours are the 13 angles and their opposites.
With PyRadiomics' ``force2D`` (``plane_axis``: its ``force2Ddimension``, 0 = z, the axial slices) only
the angles and neighbours within a slice count: 4 angles and 8 neighbours, so co-occurrences, runs,
zones (8-connected), dependences and neighbourhoods never cross slices (IBSI's "2D, merged"
aggregation, the slices' matrices summed).
The voxel-map engine (``radiomics/voxelmaps``) works on small kernel cubes, batched; whole ROIs need
the flat-index neighbour gather used here instead.
"""

from __future__ import annotations

import numpy as np

from ..families import glcm, gldm, glrlm, glszm, ngtdm


def angles_13(size, plane_axis: int = None) -> np.ndarray:
    """The 13 (dz, dy, dx) GLCM / GLRLM angles of PyRadiomics, shape (n, 3), without the angles that
    move along an axis where ``size`` is 1 or, with ``plane_axis`` (``force2D``), along that axis (as
    ``_cmatrices.generate_angles``)."""
    out = []
    for dz in (1, 0):
        for dy in ((1, 0, -1) if dz else (1, 0)):
            for dx in (1, 0, -1):
                if dz == 0 and dy == 0 and dx != 1:
                    continue
                a = (dz, dy, dx)
                if all(s > 1 or d == 0 for s, d in zip(size, a)) and (plane_axis is None or a[plane_axis] == 0):
                    out.append(a)
    return np.array(out, dtype=np.int64).reshape(-1, 3)


class RoiNeighbours:
    """Flat indices of an ROI's voxels and their gray-level ranks, with the 26 neighbours' ranks
    (8 in-plane ones with ``plane_axis``).

    Args:
        levels: the padded crop of ranks (z, y, x) (module docstring); size: the unpadded box's size.
        plane_axis: None (3D), or the axis (0 = z) across which nothing is a neighbour (PyRadiomics'
            ``force2D`` with ``force2Ddimension`` = ``plane_axis``).
        idx: the flat indices of the non-zero voxels of ``levels``, ascending, when the caller has
            them (the same for every image of one ROI); found here otherwise.

    Attributes:
        levels, flat: the padded crop and its flat view (any integer type, 0 outside the ROI).
        idx: int64 (n,), flat indices of the ROI voxels in the padded crop.
        lv: (n,) ranks of the ROI voxels.
        all_offsets: int64 (26,) (8 in 2D), flat offsets of the neighbours ((dz, dy, dx) in raster order).
        nb26: (26, n) (8 in 2D) ranks of the neighbours at ``all_offsets`` (0 outside the ROI).
        angles, angle_offsets, angle_columns: the valid angles of ``angles_13(size, plane_axis)``,
            their flat offsets and their rows in ``nb26``.
        n_angles: number of valid angles (<= 13; <= 4 in 2D).
    """

    def __init__(self, levels: np.ndarray, size, plane_axis: int = None, idx: np.ndarray = None):
        self.levels = levels
        self.size = tuple(int(s) for s in size)
        self.plane_axis = plane_axis
        self.flat = levels.reshape(-1)
        strides = np.array([levels.shape[1] * levels.shape[2], levels.shape[2], 1], dtype=np.int64)
        self.angles = angles_13(size, plane_axis)
        self.n_angles = len(self.angles)
        self.angle_offsets = self.angles @ strides
        every = np.array([(dz, dy, dx) for dz in (-1, 0, 1) for dy in (-1, 0, 1) for dx in (-1, 0, 1)
                          if (dz, dy, dx) != (0, 0, 0) and (plane_axis is None or (dz, dy, dx)[plane_axis] == 0)],
                         dtype=np.int64)
        self._vectors = every
        self._strides = strides
        self.all_offsets = every @ strides
        self.angle_columns = np.array([int(np.flatnonzero(self.all_offsets == o)[0])
                                       for o in self.angle_offsets], dtype=np.int64)
        self.idx = np.flatnonzero(self.flat) if idx is None else idx
        self._lv = None
        self._nb26 = None

    @property
    def lv(self) -> np.ndarray:
        """(n,) ranks of the ROI voxels (gathered once, on first use)."""
        if self._lv is None:
            self._lv = self.flat[self.idx]
        return self._lv

    def widened(self) -> "RoiNeighbours":
        """This ROI with int32 ranks (the NumPy ``roi_matrix`` compute codes such as rank * (L + 1)
        in the ranks' type: bytes would overflow)."""
        if self.flat.dtype.itemsize >= 4:
            return self
        return RoiNeighbours(self.levels.astype(np.int32), self.size, self.plane_axis, self.idx)

    def zone_plan(self) -> tuple:
        """(anchors, plans, plan_sizes) for ``kernels.zones``: the earlier neighbours (negative flat
        offsets, given as the positive offset o of ``v - o``) that the union-find must check.

        The anchor p is the nearest earlier neighbour (the previous voxel along x; along y when
        ``plane_axis`` is x). When it has the voxel's rank, the voxel joins its zone, and an earlier
        neighbour w = v + d need not be checked when w is also an earlier neighbour of the anchor
        (d - p a neighbour vector before 0 in raster order): the anchor, processed before, was joined
        with w then if w has their rank. Row 0 of ``plans``: the offsets left when the anchor matched;
        row 1: every earlier neighbour but the anchor (known not to match).
        """
        earlier = [tuple(int(c) for c in d) for d in self._vectors if tuple(d) < (0, 0, 0)]
        anchor = max(earlier)  # raster order: the nearest earlier neighbour
        left = [d for d in earlier if d != anchor
                and not (max(abs(a - b) for a, b in zip(d, anchor)) <= 1
                         and tuple(a - b for a, b in zip(d, anchor)) < (0, 0, 0))]
        rest = [d for d in earlier if d != anchor]
        plans = np.zeros((2, max(len(rest), 1)), dtype=np.int64)
        for row, vectors in enumerate((left, rest)):
            plans[row, :len(vectors)] = [-int(np.dot(d, self._strides)) for d in vectors]
        anchors = np.array([-int(np.dot(anchor, self._strides))], dtype=np.int64)
        return anchors, plans, np.array([len(left), len(rest)], dtype=np.int64)

    def neighbours(self, offsets) -> np.ndarray:
        """Ranks of the neighbours at the flat ``offsets``, shape (n, len(offsets))."""
        return self.flat[self.idx[:, None] + np.asarray(offsets)[None, :]]

    @property
    def nb26(self) -> np.ndarray:
        """Ranks of the 26 neighbours (26, n), rows in the order of ``all_offsets`` (gathered once)."""
        if self._nb26 is None:
            self._nb26 = self.flat[self.all_offsets[:, None] + self.idx[None, :]]
        return self._nb26


def compute(roi: RoiNeighbours, n_levels: int, gray_levels: np.ndarray, families, n_voxels: int,
            max_run: int, compiled: bool = None) -> dict:
    """The matrices of ``families`` (subset of glcm, glrlm, glszm, gldm, ngtdm) for one ROI, in the
    layouts of the families' ``roi_matrix``, from the compiled loops of ``kernels`` when Numba is
    installed (``compiled`` None) or asked for (True), else from NumPy (``roi_matrix``).

    Args:
        roi: the ROI's ``RoiNeighbours``. n_levels: number of gray levels present in the ROI.
        gray_levels: int (n_levels,) the gray level of each rank, ascending.
        families: names of the texture families wanted. n_voxels: the ROI's voxel count.
        max_run: the longest possible run (the largest edge of the ROI's bounding box).

    Returns:
        {family: float64 matrix}, one per family of ``families``.
    """
    from . import kernels

    families = set(families)
    if compiled is None:
        compiled = kernels.AVAILABLE
    out = {}
    if not compiled:
        roi = roi.widened()
        for family in families:
            if family == "glcm":
                out[family] = glcm.roi_matrix(roi, n_levels)
            elif family == "glrlm":
                out[family] = glrlm.roi_matrix(roi, n_levels, max_run)
            elif family == "glszm":
                out[family] = glszm.roi_matrix(roi, n_levels, n_voxels)
            elif family == "gldm":
                out[family] = gldm.roi_matrix(roi, n_levels)
            elif family == "ngtdm":
                out[family] = ngtdm.roi_matrix(roi, n_levels, gray_levels)
        return out
    flat = kernels.narrow(roi.flat, n_levels)
    if families & {"glcm", "gldm", "ngtdm"}:
        level_values = np.concatenate([[0.0], gray_levels.astype(np.float64)])
        counts, dependence, n_i, s_i = kernels.neighbour_counts(
            flat, roi.idx, roi.all_offsets, roi.angle_offsets, n_levels, level_values)
        out["glcm"] = counts[None]
        out["gldm"] = dependence[None]
        table = np.stack([n_i, s_i, gray_levels.astype(np.float64)], axis=1)
        out["ngtdm"] = table[n_i > 0][None]
    if "glrlm" in families:
        out["glrlm"] = kernels.run_lengths(flat, roi.idx, roi.angle_offsets, n_levels, max_run)[None]
    if "glszm" in families:
        anchors, plans, plan_sizes = roi.zone_plan()
        out["glszm"] = kernels.zones(flat, roi.idx, anchors, plans, plan_sizes, n_levels)[None]
    return {family: out[family] for family in families}


def warm_up() -> None:
    """Run ``compute`` once on a tiny ROI (every family, the argument types of a real call), so that
    Numba loads its compiled loops now rather than in the first ROI."""
    levels = np.zeros((5, 5, 5), dtype=np.uint8)  # the type ``roi_image_features`` builds
    levels[1:4, 1:4, 1:4] = np.arange(27, dtype=np.uint8).reshape(3, 3, 3) % 2 + 1
    compute(RoiNeighbours(levels, (3, 3, 3)), 2, np.array([1, 2]), ("glcm", "glrlm", "glszm", "gldm", "ngtdm"),
            27, 3)
