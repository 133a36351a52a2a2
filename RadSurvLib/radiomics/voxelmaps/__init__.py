"""Voxel-level radiomics feature maps (first order, GLCM, GLRLM, GLSZM, GLDM, NGTDM).

Each map gives, at every ROI voxel, a radiomics feature computed over the cubic kernel of
``kernel_radius`` voxels around it, with the semantics of PyRadiomics' voxel-based extraction
(``RadiomicsFeatureExtractor(...).execute(image, mask, voxelBased=True)`` with ``binWidth``,
``kernelRadius``, ``maskedKernel``, ``force2D=False``, ``distances=[1]``, symmetrical GLCM,
``weightingNorm=None``, ``voxelArrayShift=0``, ``gldm_a=0``, no resampling, no normalisation).
``Testing/Python/test_voxelmaps.py`` checks parity against PyRadiomics.

Layout: this package is the voxel-map driver, ``engine`` (discretisation, cropping, chunking,
kernel-cube gathering, progress; its docstring gives the memory bound). The families (``firstorder``,
``glcm``, ``glrlm``, ``glszm``, ``gldm``, ``ngtdm``) are the modules of ``radiomics.families``, whose
docstring gives the cube layout and what a family's ``compute`` is given. Their feature functions
are the radiomics engine's only ones: written for torch and NumPy alike, they also give the ROI
features (``radiomics.roi_engine``: an ROI is one kernel). ``radsurv voxelmaps``
(``cli/voxelmaps.py``) runs them through ``pipeline.map_case``. One torch code path for CPU and
CUDA, float64 throughout.

Map names are ``<family>_<Feature>`` as PyRadiomics names its voxel-based outputs.
``DEFAULT_FEATURES`` (what ``radsurv score`` writes) is deliberately the compact, fast set of the
first RadSurv maps: 10 first-order maps and 8 GLCM maps (the cheap, pair-linear ones plus joint
energy/entropy), ~1/3 of the cost of all first-order + GLCM maps; whole families are asked with
``features_of_families`` (``radsurv voxelmaps --families``), costly ones (glcm_MCC) by name.
"""

from .engine import (AVAILABLE_FEATURES, CHUNK_BYTES, DEFAULT_FEATURES, FAMILIES,  # noqa: F401
                     FAMILY_DEFAULTS, compute_voxel_maps, features_of_families, place_on_grid, stack_maps,
                     voxel_feature_values)

__all__ = ["AVAILABLE_FEATURES", "DEFAULT_FEATURES", "FAMILIES", "compute_voxel_maps", "place_on_grid",
           "voxel_feature_values", "stack_maps", "features_of_families"]
