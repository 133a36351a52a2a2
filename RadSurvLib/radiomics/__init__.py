"""Radiomics: PyRadiomics ROI features of the GTV and its rings (``radiomics.roi``) and voxel-level
radiomics maps (``radiomics.voxelmaps``)."""
