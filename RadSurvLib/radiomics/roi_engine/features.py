"""Feature values from the engine's matrices, with PyRadiomics' own feature formulas.

The formulas are PyRadiomics' (``radiomics.firstorder`` / ``glcm`` / ``glrlm`` / ``glszm`` /
``gldm`` / ``ngtdm`` / ``shape``: the ``get<Name>FeatureValue`` methods and, where it exists,
``_calculateCoefficients``), called on instances that receive the engine's matrices instead of
building them: the slow parts of PyRadiomics (image conversion and cropping per class, Python
``min`` / ``max`` binning, the C matrices, the O(n^2) diameters) are replaced, the arithmetic of
each feature is not. A getter that raises gives NaN, as in ``RadiomicsFeaturesBase._calculateFeatures``.
This relies on PyRadiomics 3.1's attribute names (``P_glcm``, ``coefficients``, ...); the parity
tests catch a change.
"""

from __future__ import annotations

import logging

import numpy as np

_LOGGER = logging.getLogger("radiomics.roi_engine")


def _shell(cls, settings: dict):
    """An instance of a PyRadiomics feature class without its constructor (no matrices built)."""
    obj = cls.__new__(cls)
    obj.settings = settings
    obj.logger = _LOGGER
    obj.label = 1
    obj.voxelBased = False
    obj.coefficients = {}
    obj.enabledFeatures = {}
    obj.featureValues = {}
    obj.featureNames = cls.getFeatureNames()
    obj.symmetricalGLCM = settings.get("symmetricalGLCM", True)
    obj.weightingNorm = settings.get("weightingNorm")
    obj.gldm_a = settings.get("gldm_a", 0)
    return obj


def _values(obj, names, precomputed=None) -> dict:
    """Feature values in PyRadiomics' order (``names`` None or empty: every non-deprecated feature);
    ``precomputed`` (name -> value) replaces the getters of the names it has."""
    for name in names or ():
        obj.enableFeatureByName(name)
    if not obj.enabledFeatures:  # as RadiomicsFeaturesBase.execute: none named -> all
        obj.enableAllFeatures()
    out = {}
    for name, enabled in obj.enabledFeatures.items():
        if not enabled:
            continue
        if precomputed and name in precomputed:
            out[name] = np.squeeze(precomputed[name])
            continue
        try:
            value = getattr(obj, f"get{name}FeatureValue")()
        except DeprecationWarning:
            continue
        except Exception:  # noqa: BLE001 - PyRadiomics turns any getter failure into NaN
            value = np.nan
        out[name] = np.squeeze(value)
    return out


def class_of(family: str):
    """The PyRadiomics feature class of a family (``firstorder``, ``glcm``, ..., ``shape``)."""
    from radiomics import getFeatureClasses

    return getFeatureClasses()[family]


def shape_features(mask_box: np.ndarray, spacing_zyx, area, volume, diameters, settings, names=None):
    """PyRadiomics ``shape`` features of a boolean ROI (its bounding box, z, y, x)."""
    obj = _shell(class_of("shape"), settings)
    obj.pixelSpacing = np.asarray(spacing_zyx, float)
    coords = np.nonzero(np.pad(mask_box, 1))
    obj.labelledVoxelCoordinates = coords
    obj.SurfaceArea, obj.Volume, obj.diameters = area, volume, diameters
    obj.eigenValues = _eigenvalues(coords, obj.pixelSpacing)
    return _values(obj, names)


def _eigenvalues(coords, spacing) -> np.ndarray:
    """Eigenvalues (ascending) of the covariance of the voxel centres in mm (PyRadiomics' shape)."""
    n = len(coords[0])
    physical = np.array(coords, dtype=int).T * spacing[None, :]
    physical = physical - np.mean(physical, axis=0)
    physical /= np.sqrt(n)
    eig = np.linalg.eigvals(np.dot(physical.T.copy(), physical))
    eig[(eig < 0) & (eig > -1e-10)] = 0
    eig.sort()
    return eig


def firstorder_features(values, levels, spacing_xyz, settings, names=None):
    """PyRadiomics ``firstorder`` features of the ROI voxel values (1D, finite) and their gray levels.

    The statistics of the values are computed here from one sort (PyRadiomics' ``nan*`` functions
    on a NaN-free array, percentiles with NumPy's default linear rule); entropy and uniformity, and
    any other feature, come from PyRadiomics' getters."""
    obj = _shell(class_of("firstorder"), settings)
    obj.pixelSpacing = tuple(spacing_xyz)
    obj.voxelArrayShift = settings.get("voxelArrayShift", 0)
    obj.targetVoxelArray = values.astype("float").reshape((1, -1))
    obj.coefficients["grayLevels"] = np.flatnonzero(np.bincount(levels))  # np.unique without a sort
    obj.coefficients["Ng"] = int(obj.coefficients["grayLevels"].max())
    p_i = np.bincount(levels)[obj.coefficients["grayLevels"]].astype(float).reshape(1, -1)
    obj.coefficients["p_i"] = p_i / p_i.sum(1, keepdims=True)
    obj.binWidth = settings.get("binWidth")
    return _values(obj, names, _value_statistics(values.astype(float), obj.voxelArrayShift, spacing_xyz))


def _percentile(ordered: np.ndarray, q: float) -> float:
    """``numpy.percentile(x, q)`` (linear rule) of the sorted array ``ordered``."""
    index = q / 100 * (ordered.size - 1)
    lo = int(np.floor(index))
    hi = min(lo + 1, ordered.size - 1)
    t = index - lo
    a, b = ordered[lo], ordered[hi]
    return b - (b - a) * (1 - t) if t >= 0.5 else a + (b - a) * t


def _value_statistics(x: np.ndarray, shift: float, spacing_xyz) -> dict:
    """PyRadiomics' first-order statistics of the values ``x`` (1D, no NaN)."""
    ordered = np.sort(x)
    n = x.size
    mean = np.mean(x)
    dev = x - mean
    m2 = np.mean(dev ** 2)
    m2_safe = m2 if m2 != 0 else 1.0  # flat region: PyRadiomics returns 0 skewness / kurtosis
    energy = np.sum((x + shift) ** 2)
    p10, p90 = _percentile(ordered, 10), _percentile(ordered, 90)
    robust = ordered[(ordered >= p10) & (ordered <= p90)]
    middle = ordered[(n - 1) // 2: n // 2 + 1]
    return {
        "Energy": energy,
        "TotalEnergy": energy * np.multiply.reduce(spacing_xyz),
        "Minimum": ordered[0],
        "10Percentile": p10,
        "90Percentile": p90,
        "Maximum": ordered[-1],
        "Mean": mean,
        "Median": np.mean(middle),
        "InterquartileRange": _percentile(ordered, 75) - _percentile(ordered, 25),
        "Range": ordered[-1] - ordered[0],
        "MeanAbsoluteDeviation": np.mean(np.abs(dev)),
        "RobustMeanAbsoluteDeviation": np.mean(np.abs(robust - np.mean(robust))) if robust.size else np.nan,
        "RootMeanSquared": np.sqrt(energy / n),
        "StandardDeviation": np.std(x),
        "Skewness": np.mean(dev ** 3) / m2_safe ** 1.5,
        "Kurtosis": np.mean(dev ** 4) / m2_safe ** 2.0,
        "Variance": np.std(x) ** 2,
    }


def _texture(family, settings, gray_levels):
    obj = _shell(class_of(family), settings)
    obj.coefficients["grayLevels"] = gray_levels
    obj.coefficients["Ng"] = int(gray_levels.max())
    return obj


def glcm_features(counts, gray_levels, settings, names=None):
    """PyRadiomics ``glcm`` features from ``matrices.glcm`` counts (symmetrised, normalised here as
    ``RadiomicsGLCM._calculateMatrix`` does after the C call)."""
    obj = _texture("glcm", settings, gray_levels)
    p = counts + np.transpose(counts, (0, 2, 1, 3))
    total = p.sum((1, 2))
    if p.shape[3] > 1:
        keep = total.sum(0) != 0
        p, total = p[..., keep], total[:, keep]
    total[total == 0] = np.nan
    obj.P_glcm = p / total[:, None, None, :]
    obj._calculateCoefficients()
    return _values(obj, names)


def glrlm_features(counts, gray_levels, settings, names=None):
    """PyRadiomics ``glrlm`` features from ``matrices.glrlm`` counts."""
    obj = _texture("glrlm", settings, gray_levels)
    n_r = counts.sum((1, 2))
    if counts.shape[3] > 1:
        keep = n_r.sum(0) != 0
        counts, n_r = counts[..., keep], n_r[:, keep]
    n_r[n_r == 0] = np.nan
    obj.coefficients["Nr"] = n_r
    obj.P_glrlm = counts
    obj._calculateCoefficients()
    return _values(obj, names)


def glszm_features(counts, gray_levels, settings, names=None):
    """PyRadiomics ``glszm`` features from ``matrices.glszm`` counts."""
    obj = _texture("glszm", settings, gray_levels)
    obj.P_glszm = counts
    obj._calculateCoefficients()
    return _values(obj, names)


def gldm_features(counts, gray_levels, settings, names=None):
    """PyRadiomics ``gldm`` features from ``matrices.gldm`` counts (the coefficients of
    ``RadiomicsGLDM._calculateMatrix`` after the C call)."""
    obj = _texture("gldm", settings, gray_levels)
    j = np.arange(1, counts.shape[2] + 1, dtype="float64")
    pd = counts.sum(1)
    pg = counts.sum(2)
    keep = pd.sum(0) != 0
    counts, j, pd = counts[:, :, keep], j[keep], pd[:, keep]
    nz = pd.sum(1)
    nz[nz == 0] = 1
    obj.coefficients.update(Nz=nz, pd=pd, pg=pg, ivector=gray_levels.astype(float), jvector=j)
    obj.P_gldm = counts
    return _values(obj, names)


def ngtdm_features(matrix, gray_levels, settings, names=None):
    """PyRadiomics ``ngtdm`` features from a ``matrices.ngtdm`` matrix."""
    obj = _texture("ngtdm", settings, gray_levels)
    obj.P_ngtdm = matrix
    obj._calculateCoefficients()
    return _values(obj, names)
