"""ROI radiomics features with PyRadiomics (GTV and each peritumoral ring).

Source: PyRadiomics (van Griethuysen et al., Cancer Res 2017) with the parameter file of
Liu et al. 2025, ``RadSurvLib/resources/parameters/Liu2025_PyRadiomics.yaml`` (1316 features per ROI).
Feature names are PyRadiomics' (``<image type>_<family>_<Feature>``, e.g.
``original_firstorder_Mean``).

Two engines give these features (``extract_features(..., engine=)``): ``"pyradiomics"`` runs
PyRadiomics' extractor once per ROI (the reference); ``"radsurv"`` (``radiomics.roi_engine``) reads
the same parameter file and computes all ROIs of the image in one pass, with PyRadiomics' numbers
(relative difference < 1e-12 in the tests).
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..errors import InputError
from ..resources import parameter_file

#: Parameter file reproducing Liu et al. 2025 (1316 features per ROI).
LIU2025_PARAMS = parameter_file("Liu2025_PyRadiomics.yaml")


def make_extractor(params_file=LIU2025_PARAMS):
    """A ``radiomics.featureextractor.RadiomicsFeatureExtractor`` configured from a YAML file.

    Raises:
        InputError: the parameter file is missing or PyRadiomics rejects it.
    """
    params_file = Path(params_file)
    if not params_file.is_file():
        raise InputError(f"radiomics parameter file not found: {params_file}")
    import radiomics
    from radiomics import featureextractor

    # PyRadiomics logs every filter and notes such as "GLCM is symmetrical"; keep the console
    # for RadSurv's own progress and real errors.
    radiomics.setVerbosity(logging.ERROR)

    try:
        return featureextractor.RadiomicsFeatureExtractor(str(params_file))
    except Exception as exc:  # pykwalify / PyRadiomics raise assorted types for a bad file
        raise InputError(f"radiomics parameter file {params_file} is not valid: {exc}") from None


def extract_roi_features(image, mask, extractor=None) -> dict:
    """PyRadiomics features of one ROI.

    Args:
        image: SimpleITK image (CT in HU on the analysis grid, 1 mm isotropic in RadSurv).
        mask: SimpleITK uint8 mask on the same grid, 1 = ROI.
        extractor: from ``make_extractor`` (default: Liu et al. 2025's setting).

    Returns:
        dict feature name -> float, in PyRadiomics' order, without the ``diagnostics_*`` entries.

    Raises:
        InputError: the ROI is empty or too small for PyRadiomics (its message is passed on).
    """
    import numpy as np

    extractor = extractor or make_extractor()
    try:
        result = extractor.execute(image, mask, label=1)
    except (ValueError, AssertionError) as exc:
        raise InputError(f"radiomics: PyRadiomics cannot compute features for this ROI: {exc}") from None
    return {name: _real(value) for name, value in result.items() if not name.startswith("diagnostics_")}


def _real(value) -> float:
    """A feature value as float; PyRadiomics' shape features can come back as complex numbers with
    a zero imaginary part (eigenvalues, seen with Python 3.12 and newer NumPy)."""
    import numpy as np

    value = np.asarray(value)
    if np.iscomplexobj(value):
        if abs(value.imag) > 1e-9 * max(1.0, abs(value.real)):
            return float("nan")
        value = value.real
    return float(value)


#: ROI-feature engines: PyRadiomics itself (the reference) or RadSurv's (``radiomics.roi_engine``).
ENGINES = ("pyradiomics", "radsurv")


def extract_features(image, masks: dict, extractor=None, progress=None, engine: str = "pyradiomics") -> dict:
    """PyRadiomics features for several ROIs on one image.

    Args:
        image: SimpleITK CT (HU) on the analysis grid.
        masks: ROI name -> SimpleITK uint8 mask (e.g. from ``rings.roi_masks``).
        extractor: from ``make_extractor`` (default: Liu et al. 2025's setting).
        progress: optional callable(message: str).
        engine: ``"pyradiomics"`` (PyRadiomics per ROI, the reference) or ``"radsurv"`` (RadSurv's
            engine, ``radiomics.roi_engine``: the same features, all ROIs in one pass).

    Returns:
        dict ROI name -> dict feature name -> float. An ROI PyRadiomics cannot handle (e.g. a ring
        clipped away entirely) maps to an empty dict, reported through ``progress``.

    Raises:
        InputError: the GTV cannot be handled; an unknown ``engine``; with ``engine="radsurv"``, a
            setting of the parameter file that engine does not implement.
    """
    if engine not in ENGINES:
        raise InputError(f"radiomics: engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    extractor = extractor or make_extractor()
    if engine == "radsurv":
        from . import roi_engine

        raw = roi_engine.extract(image, masks, extractor, progress)
    else:
        raw = {}
        for name, mask in masks.items():
            if progress:
                progress(f"radiomics features: {name}")
            try:
                raw[name] = extract_roi_features(image, mask, extractor)
            except InputError as exc:
                if name == "GTV":
                    raise
                raw[name] = exc
    table = {}
    for name, values in raw.items():
        if isinstance(values, InputError):
            if name == "GTV":
                raise values
            table[name] = {}
            if progress:
                progress(f"radiomics features: {name} skipped ({values})")
        else:
            table[name] = {key: _real(value) for key, value in values.items()}
    return table


def write_features_csv(table: dict, path) -> Path:
    """Write ROI features as CSV: one row per ROI (column ``roi``), one column per feature.

    Features missing for an ROI are left empty. Returns the path.
    """
    import csv

    path = Path(path)
    columns = []
    for values in table.values():
        columns += [c for c in values if c not in columns]
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["roi"] + columns)
        for roi, values in table.items():
            writer.writerow([roi] + [repr(values[c]) if c in values else "" for c in columns])
    return path
