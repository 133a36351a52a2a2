"""Radiomics: ROI features of the GTV and its rings (``radiomics.roi``: RadSurv's engine,
``roi_engine``, or PyRadiomics as the reference), parameter files (``params``), image types
(``filters``) and voxel-level radiomics maps (``radiomics.voxelmaps``)."""
