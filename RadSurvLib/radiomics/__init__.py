"""Radiomics: ROI features of the GTV and its rings (``radiomics.roi``: RadSurv's engine,
``roi_engine``, or PyRadiomics as the reference), parameter files (``params``), image types
(``filters``) and voxel-level radiomics maps (``radiomics.voxelmaps``). RadSurv's features, ROI and
voxel maps alike, are those of ``radiomics.families`` (one module per feature class); ``roi_engine``
and ``voxelmaps`` are the two drivers that give them an ROI or each voxel's kernel."""
