"""ROI features of RadSurv's engine, one module per PyRadiomics feature class.

An ROI is one kernel: each texture module builds, from the family's matrix in PyRadiomics' layout
(GLCM (1, Ng, Ng, angles), GLRLM (1, Ng, run lengths, angles), GLSZM (1, Ng, zone sizes), GLDM
(1, Ng, dependences), NGTDM (1, Ng, 3)), the object the family's feature functions read, as NumPy
arrays with a kernel axis of length 1, and calls them. The feature functions (one per feature: its
formula, IBSI tag and PyRadiomics name) are those of the voxel maps, written for NumPy and torch
alike: ``voxelmaps.firstorder``, ``voxelmaps.glcm``, ``voxelmaps.ngtdm`` and ``voxelmaps.zones``
(GLRLM, GLSZM, GLDM; named per family in ``voxelmaps.<family>.FEATURE_FUNCTIONS``). Shape is ROI
only (``shape``). A feature whose value is not a number (division by zero in PyRadiomics' formula)
is NaN, as PyRadiomics gives.
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
    feature of the family sorted as PyRadiomics lists its ``get<Name>FeatureValue`` methods."""
    if names:
        return list(names)
    return sorted(FEATURES[family], key=lambda name: f"get{name}FeatureValue")
