"""RadSurv's radiomics engine, one module per PyRadiomics feature class, for ROIs and voxel maps alike.

A family module holds all of its family: the matrix of an ROI, the matrices of the voxel maps'
kernels, and the feature functions, one per feature (its formula, IBSI tag and PyRadiomics name in
the docstring), which both read: an ROI is one kernel. Modules: ``shape`` (ROI only: the mesh and
the principal axes), ``firstorder``, ``glcm``, ``glrlm``, ``glszm``, ``gldm``, ``ngtdm``. Shared:
``zones`` (the formulas the GLRLM, GLSZM and GLDM have in common, and the ROI's matrix of these
three), ``arrays`` (functions written for NumPy and torch alike, ``EPS``, ``evaluate``) and
``kernel_cubes`` (the voxel maps' directions, kernel ranks and chunk bound). The two drivers are
``radiomics.roi_engine`` (ROIs: image types, discretisation, the neighbour structure
``roi_engine.neighbours.RoiNeighbours``) and ``radiomics.voxelmaps`` (kernel cubes, chunks); no
module here imports either. NumPy and torch are imported where a function runs: the command line's
parser lists the voxel-map features in Slicer's Python, which has neither.

Every family module exposes ``FEATURES`` (PyRadiomics name -> IBSI tag or None, the features not
deprecated) and ``FEATURE_FUNCTIONS`` (PyRadiomics name -> function of the family's coefficient
object: per kernel (m,), or per kernel and angle (m, A) for GLCM and GLRLM).

For the ROI engine (NumPy, one ROI):

    roi_matrix(roi, n_levels, ...)   texture families: the ROI's matrix from its
                                     ``RoiNeighbours`` (gray-level ranks 1..n_levels), as
                                     PyRadiomics' C extension gives it, absent gray levels removed:
                                     GLCM (1, L, L, angles), GLRLM (1, L, run lengths, angles),
                                     GLSZM (1, L, zone sizes), GLDM (1, L, 27), NGTDM (1, L, 3).
                                     ``roi_engine.neighbours.compute`` calls it, or the Numba loops
                                     of ``roi_engine.kernels`` that give the same matrices.
    features(...)                    {PyRadiomics name: float} for the names asked, in their order:
                                     texture ``features(matrix, gray_levels, names)`` (NGTDM
                                     ``features(matrix, names)``), first order ``features(x, levels,
                                     spacing, settings, names)``, shape ``features(mask_box,
                                     spacing_zyx, names)``.

For the voxel-map engine (torch, CPU or CUDA; every family but shape):

    cubes: torch.int64, shape (n, D, D, D), D = 2 * kernel_radius + 1, axis order (z, y, x)
           cubes[v, r + dz, r + dy, r + dx] = gray level (1..n_levels) of the voxel at offset
           (dz, dy, dx) from the v-th ROI voxel (the kernel centre, cubes[v, r, r, r] >= 1),
           0 where that voxel is not in the kernel (outside the support or outside the image).
    settings (keyword arguments of ``compute``):
        values:        torch.float64 (n, D, D, D), HU, 0 where not in the kernel (first order only;
                       only passed to families whose module sets ``NEEDS_VALUES = True``)
        voxel_volume:  float, mm^3
        distances:     list of int, [1]
        n_levels:      passed positionally (Ng, the highest gray level of the support)
        directions_present: torch.bool (13,), per GLCM direction whether any ROI voxel's kernel
                       holds a pair in it (PyRadiomics drops globally empty angles before averaging)

    COSTLY                           names off by default (computed when asked by name).
    compute(cubes, n_levels, names, **settings) -> {name: torch.float64 (n,)}
    bytes_per_voxel(D, n_levels, names) -> int   optional: working-set estimate used to size the
                                     chunks (default ``64 * D**3 * 16``).
    NEEDS_VALUES                     optional: the family reads the HU ``values``.

A feature whose value is not a number (division by zero in PyRadiomics' formula) is NaN, as
PyRadiomics gives.
"""

from __future__ import annotations

from . import firstorder, glcm, gldm, glrlm, glszm, ngtdm, shape

#: Feature class -> its module.
MODULES = {"shape": shape, "firstorder": firstorder, "glcm": glcm, "glrlm": glrlm, "glszm": glszm,
           "gldm": gldm, "ngtdm": ngtdm}
#: Feature class -> {feature name: IBSI tag or None}, the non-deprecated features of PyRadiomics.
FEATURES = {family: module.FEATURES for family, module in MODULES.items()}


def enabled_names(family: str, names) -> list:
    """The features to compute, in PyRadiomics' order: ``names`` as given, or, when empty, every
    feature of the family sorted as PyRadiomics lists its ``get<Name>FeatureValue`` methods.

    Args:
        family: a key of ``MODULES``; names: feature names of the family, possibly empty.

    Raises:
        KeyError: ``names`` empty and ``family`` unknown.
    """
    if names:
        return list(names)
    return sorted(FEATURES[family], key=lambda name: f"get{name}FeatureValue")
