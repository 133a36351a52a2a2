"""IBSI 1 compliance check of the ROI features RadSurv reports (PyRadiomics' definitions and names).

Computes the features of RadSurv's extraction (shape, first order, GLCM, GLRLM, GLSZM, GLDM, NGTDM
on the original image, through ``radiomics.roi.make_extractor`` / ``radiomics.roi.extract_features``
with RadSurv's own engine by default, or PyRadiomics itself with ``engine="pyradiomics"``) on the
IBSI 1 digital phantom and on the IBSI CT phantom
(PAT1) under configurations A-E, maps PyRadiomics feature names to IBSI feature tags, and
compares them with the IBSI consensus reference values and tolerances.

Sources: Zwanenburg et al., "The Image Biomarker Standardization Initiative", Radiology 2020;
IBSI reference manual, chapter "Reference data sets" (IBSI_doc_05_Reference_data_sets.rst) for the
configurations; its reference-value tables (one CSV per data set / configuration).

Image processing per configuration (done here, IBSI-style, before the extraction, which then
runs without resampling):

- the NIfTI image and mask are converted to float32 and rounded (as IBSI_doc_05 asks);
- interpolation (B: 2 x 2 mm in-plane, bilinear; C, D: 2 mm isotropic, trilinear; E: 2 mm, cubic
  B-spline): the new grid has ceil(size x spacing / new spacing) voxels and is centred on the
  original grid, intensities beyond the border take the nearest border value, interpolated
  intensities are rounded to integers; the mask is interpolated linearly and kept where >= 0.5;
- re-segmentation of the intensity mask: range (A, B: [-500, 400] HU; C, E: [-1000, 400] HU),
  then outlier filtering at mean +- 3 SD (D, E); shape (morphology) features use the
  un-re-segmented morphological mask, every other family the intensity mask;
- discretisation (PyRadiomics settings): fixed bin size 25 HU (``binWidth: 25``; A, C), fixed bin
  number 32 (``binCount: 32``; B, D, E), none for the digital phantom (``binWidth: 1``, which keeps
  its grey levels 1-6);
- 2D configurations (A, B) use PyRadiomics' ``force2D`` (in-plane neighbours; the matrices of each
  direction are merged over the slices and the features averaged over directions), which is IBSI's
  "2.5D, direction-merged" aggregation (``*_2_5D_avg`` tags for GLCM / GLRLM, ``*_2_5D`` for
  GLSZM, NGTDM, NGLDM); 3D configurations use IBSI's "3D, averaged" (``*_3D_avg``) and ``*_3D``.
- GLCM, NGTDM, GLDM (IBSI NGLDM) distance 1, symmetric GLCM, GLDM alpha 0 (PyRadiomics defaults).

A value passes when ``|ours - reference| <= tolerance + half a unit of the reference's third
significant digit`` (IBSI reports references to three significant digits; the digital phantom's
tolerances are 0).
"""

from __future__ import annotations

import csv
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from ..resources import resource_path

#: Folder of the IBSI reference CSVs shipped with RadSurv (copies of the IBSI manual's tables).
DEFAULT_REFERENCE_DIR = resource_path("ibsi", "reference")
#: Input data sets, shipped in the package (see the licence notes there).
DEFAULT_PHANTOM_DIR = resource_path("ibsi", "digital_phantom")
DEFAULT_PAT1_DIR = resource_path("PAT1")

#: Reference CSV per configuration.
REFERENCE_FILES = {
    "phantom": "ibsi_1_reference_values_digital_phantom.csv",
    **{c: f"ibsi_1_reference_values_config_{c}.csv" for c in "ABCDE"},
}


@dataclass(frozen=True)
class Configuration:
    """IBSI 1 image-processing configuration (IBSI_doc_05, "Configurations").

    Attributes:
        name: "phantom" or "A"-"E".
        two_d: slice-wise (2D) texture.
        spacing_mm: new (x, y, z) spacing, mm; None for no interpolation, 0 keeps an axis.
        interpolator: "linear" or "bspline" (intensities).
        hu_range: re-segmentation range (HU) or None.
        outlier_sigma: outlier re-segmentation at mean +- k SD, or None.
        bin_width / bin_count: fixed bin size / fixed bin number discretisation.
    """

    name: str
    two_d: bool
    spacing_mm: tuple | None
    interpolator: str
    hu_range: tuple | None
    outlier_sigma: float | None
    bin_width: float | None
    bin_count: int | None


CONFIGURATIONS = {
    "phantom": Configuration("phantom", False, None, "linear", None, None, 1.0, None),
    "phantom-2D": Configuration("phantom-2D", True, None, "linear", None, None, 1.0, None),
    "A": Configuration("A", True, None, "linear", (-500, 400), None, 25.0, None),
    "B": Configuration("B", True, (2.0, 2.0, 0.0), "linear", (-500, 400), None, None, 32),
    "C": Configuration("C", False, (2.0, 2.0, 2.0), "linear", (-1000, 400), None, 25.0, None),
    "D": Configuration("D", False, (2.0, 2.0, 2.0), "linear", None, 3.0, None, 32),
    "E": Configuration("E", False, (2.0, 2.0, 2.0), "bspline", (-1000, 400), 3.0, None, 32),
}

#: PyRadiomics feature (class, name) -> IBSI base tags (the aggregation suffix is added per
#: configuration). Sources: PyRadiomics documentation of each feature class; IBSI reference manual.
PYRADIOMICS_TO_IBSI = {
    ("shape", "MeshVolume"): ["morph_volume"],
    ("shape", "VoxelVolume"): ["morph_vol_approx"],
    ("shape", "SurfaceArea"): ["morph_area_mesh"],
    ("shape", "SurfaceVolumeRatio"): ["morph_av"],
    ("shape", "Sphericity"): ["morph_sphericity"],
    ("shape", "Maximum3DDiameter"): ["morph_diam"],
    ("shape", "MajorAxisLength"): ["morph_pca_maj_axis"],
    ("shape", "MinorAxisLength"): ["morph_pca_min_axis"],
    ("shape", "LeastAxisLength"): ["morph_pca_least_axis"],
    ("shape", "Elongation"): ["morph_pca_elongation"],
    ("shape", "Flatness"): ["morph_pca_flatness"],
    ("firstorder", "Mean"): ["stat_mean"],
    ("firstorder", "Variance"): ["stat_var"],
    ("firstorder", "Skewness"): ["stat_skew"],
    ("firstorder", "Kurtosis"): ["stat_kurt"],
    ("firstorder", "Median"): ["stat_median"],
    ("firstorder", "Minimum"): ["stat_min"],
    ("firstorder", "10Percentile"): ["stat_p10"],
    ("firstorder", "90Percentile"): ["stat_p90"],
    ("firstorder", "Maximum"): ["stat_max"],
    ("firstorder", "InterquartileRange"): ["stat_iqr"],
    ("firstorder", "Range"): ["stat_range"],
    ("firstorder", "MeanAbsoluteDeviation"): ["stat_mad"],
    ("firstorder", "RobustMeanAbsoluteDeviation"): ["stat_rmad"],
    ("firstorder", "Energy"): ["stat_energy"],
    ("firstorder", "RootMeanSquared"): ["stat_rms"],
    ("firstorder", "Entropy"): ["ih_entropy"],
    ("firstorder", "Uniformity"): ["ih_uniformity"],
    ("glcm", "MaximumProbability"): ["cm_joint_max"],
    ("glcm", "JointAverage"): ["cm_joint_avg"],
    ("glcm", "SumSquares"): ["cm_joint_var"],
    ("glcm", "JointEntropy"): ["cm_joint_entr"],
    ("glcm", "DifferenceAverage"): ["cm_diff_avg", "cm_dissimilarity"],
    ("glcm", "DifferenceVariance"): ["cm_diff_var"],
    ("glcm", "DifferenceEntropy"): ["cm_diff_entr"],
    ("glcm", "SumAverage"): ["cm_sum_avg"],
    ("glcm", "ClusterTendency"): ["cm_clust_tend", "cm_sum_var"],
    ("glcm", "SumEntropy"): ["cm_sum_entr"],
    ("glcm", "JointEnergy"): ["cm_energy"],
    ("glcm", "Contrast"): ["cm_contrast"],
    ("glcm", "Id"): ["cm_inv_diff"],
    ("glcm", "Idn"): ["cm_inv_diff_norm"],
    ("glcm", "Idm"): ["cm_inv_diff_mom"],
    ("glcm", "Idmn"): ["cm_inv_diff_mom_norm"],
    ("glcm", "InverseVariance"): ["cm_inv_var"],
    ("glcm", "Correlation"): ["cm_corr"],
    ("glcm", "Autocorrelation"): ["cm_auto_corr"],
    ("glcm", "ClusterShade"): ["cm_clust_shade"],
    ("glcm", "ClusterProminence"): ["cm_clust_prom"],
    ("glcm", "Imc1"): ["cm_info_corr1"],
    ("glcm", "Imc2"): ["cm_info_corr2"],
    ("glrlm", "ShortRunEmphasis"): ["rlm_sre"],
    ("glrlm", "LongRunEmphasis"): ["rlm_lre"],
    ("glrlm", "LowGrayLevelRunEmphasis"): ["rlm_lgre"],
    ("glrlm", "HighGrayLevelRunEmphasis"): ["rlm_hgre"],
    ("glrlm", "ShortRunLowGrayLevelEmphasis"): ["rlm_srlge"],
    ("glrlm", "ShortRunHighGrayLevelEmphasis"): ["rlm_srhge"],
    ("glrlm", "LongRunLowGrayLevelEmphasis"): ["rlm_lrlge"],
    ("glrlm", "LongRunHighGrayLevelEmphasis"): ["rlm_lrhge"],
    ("glrlm", "GrayLevelNonUniformity"): ["rlm_glnu"],
    ("glrlm", "GrayLevelNonUniformityNormalized"): ["rlm_glnu_norm"],
    ("glrlm", "RunLengthNonUniformity"): ["rlm_rlnu"],
    ("glrlm", "RunLengthNonUniformityNormalized"): ["rlm_rlnu_norm"],
    ("glrlm", "RunPercentage"): ["rlm_r_perc"],
    ("glrlm", "GrayLevelVariance"): ["rlm_gl_var"],
    ("glrlm", "RunVariance"): ["rlm_rl_var"],
    ("glrlm", "RunEntropy"): ["rlm_rl_entr"],
    ("glszm", "SmallAreaEmphasis"): ["szm_sze"],
    ("glszm", "LargeAreaEmphasis"): ["szm_lze"],
    ("glszm", "LowGrayLevelZoneEmphasis"): ["szm_lgze"],
    ("glszm", "HighGrayLevelZoneEmphasis"): ["szm_hgze"],
    ("glszm", "SmallAreaLowGrayLevelEmphasis"): ["szm_szlge"],
    ("glszm", "SmallAreaHighGrayLevelEmphasis"): ["szm_szhge"],
    ("glszm", "LargeAreaLowGrayLevelEmphasis"): ["szm_lzlge"],
    ("glszm", "LargeAreaHighGrayLevelEmphasis"): ["szm_lzhge"],
    ("glszm", "GrayLevelNonUniformity"): ["szm_glnu"],
    ("glszm", "GrayLevelNonUniformityNormalized"): ["szm_glnu_norm"],
    ("glszm", "SizeZoneNonUniformity"): ["szm_zsnu"],
    ("glszm", "SizeZoneNonUniformityNormalized"): ["szm_zsnu_norm"],
    ("glszm", "ZonePercentage"): ["szm_z_perc"],
    ("glszm", "GrayLevelVariance"): ["szm_gl_var"],
    ("glszm", "ZoneVariance"): ["szm_zs_var"],
    ("glszm", "ZoneEntropy"): ["szm_zs_entr"],
    ("gldm", "SmallDependenceEmphasis"): ["ngl_lde"],
    ("gldm", "LargeDependenceEmphasis"): ["ngl_hde"],
    ("gldm", "LowGrayLevelEmphasis"): ["ngl_lgce"],
    ("gldm", "HighGrayLevelEmphasis"): ["ngl_hgce"],
    ("gldm", "SmallDependenceLowGrayLevelEmphasis"): ["ngl_ldlge"],
    ("gldm", "SmallDependenceHighGrayLevelEmphasis"): ["ngl_ldhge"],
    ("gldm", "LargeDependenceLowGrayLevelEmphasis"): ["ngl_hdlge"],
    ("gldm", "LargeDependenceHighGrayLevelEmphasis"): ["ngl_hdhge"],
    ("gldm", "GrayLevelNonUniformity"): ["ngl_glnu"],
    ("gldm", "DependenceNonUniformity"): ["ngl_dcnu"],
    ("gldm", "DependenceNonUniformityNormalized"): ["ngl_dcnu_norm"],
    ("gldm", "GrayLevelVariance"): ["ngl_gl_var"],
    ("gldm", "DependenceVariance"): ["ngl_dc_var"],
    ("gldm", "DependenceEntropy"): ["ngl_dc_entr"],
    ("ngtdm", "Coarseness"): ["ngt_coarseness"],
    ("ngtdm", "Contrast"): ["ngt_contrast"],
    ("ngtdm", "Busyness"): ["ngt_busyness"],
    ("ngtdm", "Complexity"): ["ngt_complexity"],
    ("ngtdm", "Strength"): ["ngt_strength"],
}

#: PyRadiomics features that RadSurv reports but IBSI 1 does not define.
NOT_IN_IBSI = {("shape", "Maximum2DDiameterSlice"), ("shape", "Maximum2DDiameterColumn"),
               ("shape", "Maximum2DDiameterRow"), ("firstorder", "TotalEnergy"),
               ("glcm", "MCC")}

#: Documented convention differences, by IBSI base tag: (how ours is compared, note).
CONVENTION_NOTES = {
    "stat_kurt": ("ours - 3", "PyRadiomics Kurtosis is m4/m2^2; IBSI stat_kurt is the excess kurtosis "
                              "m4/m2^2 - 3: PyRadiomics value minus 3 is compared."),
}

#: Notes that explain a difference without changing the compared value, by IBSI base tag.
SMALL_ROI_NOTES = {
    tag: "PyRadiomics' PCA uses the sample covariance (N - 1), IBSI the population covariance (N): the "
         "axis lengths differ by sqrt(N / (N - 1)), 0.7 % for the digital phantom's 74 voxels, negligible "
         "for PAT1." for tag in ("morph_pca_maj_axis", "morph_pca_min_axis", "morph_pca_least_axis")
}

#: Features that depend on the absolute grey-level index (not only on differences of grey levels):
#: they change when the first bin of a fixed-bin-size discretisation starts elsewhere.
ABSOLUTE_GREY_LEVEL = {
    "cm_auto_corr", "cm_joint_avg", "cm_sum_avg", "rlm_lgre", "rlm_hgre", "rlm_srlge", "rlm_srhge",
    "rlm_lrlge", "rlm_lrhge", "szm_lgze", "szm_hgze", "szm_szlge", "szm_szhge", "szm_lzlge", "szm_lzhge",
    "ngl_lgce", "ngl_hgce", "ngl_ldlge", "ngl_ldhge", "ngl_hdlge", "ngl_hdhge", "ngt_busyness",
}

#: Feature families, in RadSurv's parameter file order.
FAMILIES = ("shape", "firstorder", "glcm", "glrlm", "glszm", "gldm", "ngtdm")


def _suffix(base_tag: str, two_d: bool) -> str:
    """IBSI tag suffix of PyRadiomics' aggregation for a feature family."""
    family = base_tag.split("_")[0]
    dim = "2_5D" if two_d else "3D"
    if family in ("cm", "rlm"):
        return f"_{dim}_avg"
    if family in ("szm", "ngt", "ngl"):
        return f"_{dim}"
    return ""


def read_reference(config: str, reference_dir=None) -> dict:
    """IBSI reference values of one configuration.

    Args:
        config: "phantom" or "A"-"E" ("phantom-2D" reads the phantom's table).
        reference_dir: folder of the IBSI CSVs (default ``DEFAULT_REFERENCE_DIR``).

    Returns:
        dict IBSI tag -> (feature name, reference value, tolerance) for rows with a numeric value.

    Raises:
        InputError: the CSV is missing.
    """
    reference_dir = Path(reference_dir or DEFAULT_REFERENCE_DIR)
    path = reference_dir / REFERENCE_FILES[config.split("-")[0]]
    if not path.is_file():
        raise InputError(f"IBSI reference table not found: {path}")
    table = {}
    with open(path, encoding="utf-8-sig", newline="") as handle:
        for row in csv.DictReader(handle):
            try:
                table[row["tag"].strip()] = (row["feature"].strip(), float(row["reference value"]),
                                             float(row["tolerance"]))
            except (TypeError, ValueError):
                continue
    return table


def _centred_grid(image, spacing_mm):
    """(size, spacing, origin) of IBSI's interpolation grid: ceil(size x spacing / new spacing) voxels,
    centred on the original grid (spacing 0 keeps that axis)."""
    import numpy as np

    old_size = np.array(image.GetSize(), dtype=float)
    old_spacing = np.array(image.GetSpacing())
    new_spacing = np.array([s if s > 0 else o for s, o in zip(spacing_mm, old_spacing)])
    new_size = np.ceil(old_size * old_spacing / new_spacing).astype(int)
    shift = ((old_size - 1) * old_spacing - (new_size - 1) * new_spacing) / 2
    direction = np.array(image.GetDirection()).reshape(3, 3)
    origin = np.array(image.GetOrigin()) + direction @ shift
    return [int(n) for n in new_size], tuple(float(s) for s in new_spacing), tuple(float(o) for o in origin)


def prepare(image, mask, config: Configuration):
    """IBSI image processing of one configuration (see the module docstring).

    Args:
        image: SimpleITK image (HU for PAT1, grey levels for the phantom).
        mask: SimpleITK ROI mask on the image's grid (non-zero = ROI).
        config: the configuration.

    Returns:
        (image, morphological mask, intensity mask): SimpleITK images (float32, uint8, uint8).

    Raises:
        InputError: the re-segmented ROI is empty.
    """
    import numpy as np
    import SimpleITK as sitk

    image = sitk.Round(sitk.Cast(image, sitk.sitkFloat32))
    mask = sitk.Cast(sitk.Round(sitk.Cast(mask, sitk.sitkFloat32)) > 0, sitk.sitkFloat32)
    if config.spacing_mm is not None:
        size, spacing, origin = _centred_grid(image, config.spacing_mm)
        interpolator = sitk.sitkBSpline if config.interpolator == "bspline" else sitk.sitkLinear
        image = sitk.Resample(image, size, sitk.Transform(), interpolator, origin, spacing,
                              image.GetDirection(), 0.0, sitk.sitkFloat32, True)
        image = sitk.Round(image)
        mask = sitk.Resample(mask, size, sitk.Transform(), sitk.sitkLinear, origin, spacing,
                             mask.GetDirection(), 0.0, sitk.sitkFloat32, True)
    morph = sitk.Cast(mask >= 0.5, sitk.sitkUInt8)
    values = sitk.GetArrayFromImage(image)
    keep = sitk.GetArrayFromImage(morph) > 0
    if config.hu_range is not None:
        keep &= (values >= config.hu_range[0]) & (values <= config.hu_range[1])
    if config.outlier_sigma is not None and keep.any():
        mean, sd = values[keep].mean(), values[keep].std()
        keep &= np.abs(values - mean) <= config.outlier_sigma * sd
    if not keep.any():
        raise InputError(f"IBSI configuration {config.name}: the re-segmented ROI is empty.")
    intensity = sitk.GetImageFromArray(keep.astype(np.uint8))
    intensity.CopyInformation(image)
    return image, morph, intensity


def _extractor(config: Configuration, families, folder: Path, engine: str):
    """The parameter file of one configuration, read and checked for ``engine``
    (``radiomics.roi.make_extractor``)."""
    import yaml

    from ..radiomics.roi import make_extractor

    setting = {"label": 1, "force2D": bool(config.two_d), "force2Ddimension": 0,
               "normalize": False, "resampledPixelSpacing": None, "preCrop": True,
               "distances": [1], "symmetricalGLCM": True, "gldm_a": 0, "geometryTolerance": 1e-4}
    if config.bin_count is not None:
        setting["binCount"] = int(config.bin_count)
    else:
        setting["binWidth"] = float(config.bin_width)
    params = {"imageType": {"Original": {}}, "featureClass": {f: None for f in families}, "setting": setting}
    path = folder / f"ibsi_{config.name}_{'_'.join(families)}.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return make_extractor(path, engine=engine)


def bin_offset(intensity_values, config: Configuration) -> int:
    """Offset (in bins) of PyRadiomics' grey-level indices from IBSI's for fixed bin size.

    PyRadiomics' first bin starts at floor(min / binWidth) x binWidth of the ROI's intensities
    (``radiomics.imageoperations.getBinEdges``); IBSI's at the lower bound of the re-segmentation
    range (or at the ROI minimum without one). IBSI index = PyRadiomics index + offset. Zero for
    fixed bin number.
    """
    import numpy as np

    if config.bin_width is None:
        return 0
    width = float(config.bin_width)
    minimum = float(np.min(intensity_values))
    pyradiomics_start = minimum - (minimum % width)
    ibsi_start = float(config.hu_range[0]) if config.hu_range is not None else minimum
    return int(round((pyradiomics_start - ibsi_start) / width))


def compute_features(image, mask, config: Configuration, families=FAMILIES, info=None,
                     engine: str = "radsurv") -> dict:
    """ROI features (PyRadiomics' names) of one data set under one IBSI configuration.

    Shape features come from the morphological mask, all others from the re-segmented intensity
    mask; the extraction runs through ``radiomics.roi.extract_features`` with ``engine``
    (``"radsurv"``, RadSurv's own, or ``"pyradiomics"``, which needs the ``pyradiomics`` extra).

    Args:
        image, mask: SimpleITK image and ROI mask (same grid).
        config: the configuration.
        families: PyRadiomics feature classes to compute.
        info: optional dict that receives ``bin_offset`` (see ``bin_offset``) and ``voxels`` of the
            intensity mask.

    Returns:
        dict PyRadiomics name (``original_<class>_<Feature>``) -> float.
    """
    import SimpleITK as sitk

    from ..radiomics.roi import extract_features

    prepared, morph, intensity = prepare(image, mask, config)
    if info is not None:
        inside = sitk.GetArrayViewFromImage(intensity) > 0
        info["bin_offset"] = bin_offset(sitk.GetArrayViewFromImage(prepared)[inside], config)
        info["voxels"] = int(inside.sum())
    result = {}
    with tempfile.TemporaryDirectory(prefix="radsurv-ibsi-") as folder:
        for roi, classes in ((morph, [f for f in families if f == "shape"]),
                             (intensity, [f for f in families if f != "shape"])):
            if classes:
                extractor = _extractor(config, classes, Path(folder), engine)
                result.update(extract_features(prepared, {"GTV": roi}, extractor, engine=engine)["GTV"])
    return result


def _pass_margin(reference: float, tolerance: float) -> float:
    """Tolerance plus half a unit of the reference's third significant digit."""
    if reference == 0:
        return tolerance
    return tolerance + 0.5 * 10 ** (math.floor(math.log10(abs(reference))) - 2)


def _shift_corrected(base: str, features: dict, name: str, value: float, offset: int):
    """The value with IBSI's grey-level origin, for features that are linear in the grey level
    (None for the others): joint average + k, sum average + 2k, autocorrelation + 2k mu + k^2."""
    if base == "cm_joint_avg":
        return value + offset
    if base == "cm_sum_avg":
        return value + 2 * offset
    if base == "cm_auto_corr":
        mean = features.get(name.replace("Autocorrelation", "JointAverage"))
        return None if mean is None else value + 2 * offset * mean + offset ** 2
    return None


def compare(features: dict, config: str, reference_dir=None, offset: int = 0) -> list:
    """Compare PyRadiomics features with the IBSI references of a configuration.

    Args:
        features: from ``compute_features``.
        config: configuration name ("phantom", "phantom-2D", "A"-"E").
        reference_dir: folder of the IBSI CSVs.
        offset: PyRadiomics-to-IBSI grey-level index offset (``bin_offset``); when non-zero, the
            features linear in the grey level are compared after the shift and the others that
            depend on the absolute grey level carry a note.

    Returns:
        list of dict rows: configuration, feature (IBSI name), ibsi_tag, pyradiomics_feature,
        reference, tolerance, ours, compared (the value compared, e.g. ours - 3 for kurtosis),
        difference, pass (bool, or None without a reference), note.
    """
    two_d = CONFIGURATIONS[config].two_d
    references = read_reference(config, reference_dir)
    rows = []
    for name, value in features.items():
        _, klass, feature = name.split("_", 2)
        key = (klass, feature)
        if key in NOT_IN_IBSI or key not in PYRADIOMICS_TO_IBSI:
            continue
        for base in PYRADIOMICS_TO_IBSI[key]:
            tag = base + _suffix(base, two_d)
            how, note = CONVENTION_NOTES.get(base, ("ours", SMALL_ROI_NOTES.get(base, "")))
            compared = value - 3.0 if how == "ours - 3" else value
            if offset and base in ABSOLUTE_GREY_LEVEL:
                origin = (f"PyRadiomics' fixed-bin-size bins start at floor(min / binWidth) x binWidth of the "
                          f"ROI, IBSI's at the re-segmentation range's lower bound: grey-level indices differ "
                          f"by {offset} and this feature depends on the absolute grey level")
                shifted = _shift_corrected(base, features, name, value, offset)
                if shifted is None:
                    note = origin + " (not correctable from PyRadiomics' output)."
                else:
                    compared = shifted
                    note = origin + f"; compared after the exact shift of the indices by {offset}."
            row = {"configuration": config, "feature": "", "ibsi_tag": tag, "pyradiomics_feature": name,
                   "reference": None, "tolerance": None, "ours": value, "compared": compared,
                   "difference": None, "pass": None, "note": note}
            if tag in references:
                label, reference, tolerance = references[tag]
                difference = compared - reference
                row.update(feature=label, reference=reference, tolerance=tolerance, difference=difference,
                           **{"pass": bool(abs(difference) <= _pass_margin(reference, tolerance))})
            else:
                row["note"] = (row["note"] + " " if row["note"] else "") + "no IBSI reference value for this tag."
            rows.append(row)
    return rows


def load_dataset(name: str, phantom_dir=None, pat1_dir=None):
    """(image, mask) of "phantom" (IBSI digital phantom) or "PAT1" (IBSI CT phantom), NIfTI.

    Raises:
        InputError: the files are missing.
    """
    import SimpleITK as sitk

    folder = Path(phantom_dir or DEFAULT_PHANTOM_DIR) if name == "phantom" else Path(pat1_dir or DEFAULT_PAT1_DIR)
    files = ((folder / "phantom.nii.gz", folder / "mask.nii.gz") if name == "phantom"
             else (folder / "image.nii.gz", folder / "mask.nii.gz"))
    for path in files:
        if not path.is_file():
            raise InputError(f"IBSI data set {name}: file not found: {path}")
    return sitk.ReadImage(str(files[0])), sitk.ReadImage(str(files[1]))


def run_configuration(config: str, reference_dir=None, phantom_dir=None, pat1_dir=None,
                      families=FAMILIES, engine: str = "radsurv") -> list:
    """Compute (with ``engine``: ``compute_features``) and compare one configuration; returns the
    rows of ``compare``."""
    if config not in CONFIGURATIONS:
        raise InputError(f"IBSI configuration {config!r} unknown; use one of {', '.join(CONFIGURATIONS)}.")
    dataset = "phantom" if config.startswith("phantom") else "PAT1"
    if config == "phantom-2D":  # shape and first order are the same as for "phantom"
        families = [f for f in families if f not in ("shape", "firstorder")]
    image, mask = load_dataset(dataset, phantom_dir, pat1_dir)
    info = {}
    features = compute_features(image, mask, CONFIGURATIONS[config], families, info, engine)
    return compare(features, config, reference_dir, info["bin_offset"])


COLUMNS = ("configuration", "feature", "ibsi_tag", "pyradiomics_feature", "reference", "tolerance", "ours",
           "compared", "difference", "pass", "note")


def write_tables(rows: list, out_dir, engine: str = "radsurv") -> dict:
    """Write ``ibsi_features.csv`` (every row) and ``ibsi_summary.md`` (pass counts, then the rows
    per configuration; ``engine`` named) into ``out_dir``. Returns {configuration: (passed, compared)}."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / "ibsi_features.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if row[k] is None else (f"{row[k]:.6g}" if isinstance(row[k], float) else row[k]))
                             for k in COLUMNS})
    counts = {}
    for row in rows:
        if row["pass"] is not None:
            passed, total = counts.get(row["configuration"], (0, 0))
            counts[row["configuration"]] = (passed + bool(row["pass"]), total + 1)
    made_by = "radsurv ibsi --out DIR" + ("" if engine == "radsurv" else f" --radiomics-engine {engine}")
    lines = ["# IBSI 1 compliance of RadSurv's ROI features (PyRadiomics' definitions)", "",
             f"Made by `{made_by}` with the {engine} engine (RadSurvLib/validation/ibsi.py; settings and "
             "conventions in its docstring).",
             "A value passes when |compared - reference| <= tolerance + half a unit of the reference's third "
             "significant digit.", "", "| configuration | passed | compared |", "|---|---|---|"]
    lines += [f"| {c} | {p} | {t} |" for c, (p, t) in counts.items()]
    for config in dict.fromkeys(r["configuration"] for r in rows):
        lines += ["", f"## {config}", "", "| IBSI feature | tag | PyRadiomics | reference | tolerance | ours | pass | note |",
                  "|---|---|---|---|---|---|---|---|"]
        for r in (r for r in rows if r["configuration"] == config):
            fmt = lambda v: "" if v is None else f"{v:.4g}"  # noqa: E731
            mark = "" if r["pass"] is None else ("yes" if r["pass"] else "**no**")
            lines.append(f"| {r['feature']} | {r['ibsi_tag']} | {r['pyradiomics_feature']} | {fmt(r['reference'])} | "
                         f"{fmt(r['tolerance'])} | {fmt(r['compared'])} | {mark} | {r['note']} |")
    (out_dir / "ibsi_summary.md").write_text("\n".join(lines) + "\n")
    return counts


def run_all(out_dir, configs=None, reference_dir=None, phantom_dir=None, pat1_dir=None, progress=print,
            engine: str = "radsurv") -> dict:
    """Run every configuration (default: phantom, phantom-2D, A-E) with ``engine`` (RadSurv's own
    by default, or ``"pyradiomics"``), write the tables, return the counts."""
    rows = []
    for config in configs or list(CONFIGURATIONS):
        progress(f"IBSI configuration {config} ...")
        rows += run_configuration(config, reference_dir, phantom_dir, pat1_dir, engine=engine)
    counts = write_tables(rows, out_dir, engine)
    for config, (passed, total) in counts.items():
        progress(f"{config:>10}: {passed} / {total} features within the IBSI tolerance")
    return counts
