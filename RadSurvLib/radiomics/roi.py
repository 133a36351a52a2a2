"""ROI radiomics features (GTV and each peritumoral ring) with PyRadiomics' definitions and names.

Setting: a PyRadiomics parameter file, by default that of Liu et al. 2025,
``RadSurvLib/resources/parameters/Liu2025_PyRadiomics.yaml`` (1316 features per ROI). Feature names
are PyRadiomics' (``<image type>_<family>_<Feature>``, e.g. ``original_firstorder_Mean``; van
Griethuysen et al., Cancer Res 2017).

Two engines give these features (``extract_features(..., engine=)``): ``"radsurv"`` (the default,
``radiomics.roi_engine``) is RadSurv's own: it reads the parameter file (``radiomics.params``) and
computes all ROIs of the image in one pass, without PyRadiomics; ``"pyradiomics"`` runs PyRadiomics'
extractor once per ROI (the reference; the optional extra ``radsurv[pyradiomics]``). The tests hold
the two to 1e-6 relative difference.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import InputError
from ..resources import parameter_file
from .params import Parameters, read_parameters, require_pyradiomics

#: Parameter file reproducing Liu et al. 2025 (1316 features per ROI).
LIU2025_PARAMS = parameter_file("Liu2025_PyRadiomics.yaml")

#: ROI-feature engines: RadSurv's (``radiomics.roi_engine``, the default) or PyRadiomics itself.
ENGINES = ("radsurv", "pyradiomics")
DEFAULT_ENGINE = "radsurv"


def make_extractor(params_file=LIU2025_PARAMS, engine: str = None) -> Parameters:
    """The parameter file, read and checked for ``engine``.

    Args:
        params_file: PyRadiomics YAML. engine: ``"radsurv"`` (check that RadSurv's engine implements
            every setting), ``"pyradiomics"`` (check that PyRadiomics is installed), or None (read only).

    Returns:
        ``params.Parameters`` (PyRadiomics' attribute names: ``settings``, ``enabledImagetypes``,
        ``enabledFeatures``).

    Raises:
        InputError: the file is missing or not valid; ``engine`` unknown; a setting RadSurv's engine
            does not implement ("not supported by RadSurv's engine: ..."); PyRadiomics missing.
    """
    parameters = read_parameters(params_file)
    if engine is not None:
        check_engine(engine)
        if engine == "radsurv":
            parameters.check_supported()
        else:
            require_pyradiomics()
    return parameters


def check_engine(engine: str) -> None:
    """Raises InputError for an engine not in ``ENGINES``."""
    if engine not in ENGINES:
        raise InputError(f"radiomics: engine must be one of {', '.join(ENGINES)}, not {engine!r}")


def _pyradiomics(extractor):
    """A PyRadiomics extractor from ``extractor`` (``Parameters`` or already PyRadiomics')."""
    return extractor.pyradiomics_extractor() if isinstance(extractor, Parameters) else extractor


def extract_roi_features(image, mask, extractor=None) -> dict:
    """PyRadiomics' own features of one ROI (the reference engine; needs the ``pyradiomics`` extra).

    Args:
        image: SimpleITK image (CT in HU on the analysis grid, 1 mm isotropic in RadSurv).
        mask: SimpleITK uint8 mask on the same grid, 1 = ROI.
        extractor: ``make_extractor``'s result or a PyRadiomics extractor (default: Liu et al. 2025).

    Returns:
        dict feature name -> float, in PyRadiomics' order, without the ``diagnostics_*`` entries.

    Raises:
        InputError: PyRadiomics is not installed; the ROI is empty or too small for PyRadiomics
            (its message is passed on).
    """
    extractor = _pyradiomics(extractor or make_extractor())
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


def extract_features(image, masks: dict, extractor=None, progress=None, engine: str = DEFAULT_ENGINE) -> dict:
    """ROI features (PyRadiomics' definitions and names) for several ROIs on one image.

    Args:
        image: SimpleITK CT (HU) on the analysis grid.
        masks: ROI name -> SimpleITK uint8 mask (e.g. from ``rings.roi_masks``).
        extractor: ``make_extractor``'s result (default: Liu et al. 2025's setting).
        progress: optional callable(message: str).
        engine: ``"radsurv"`` (RadSurv's engine, ``radiomics.roi_engine``: all ROIs in one pass) or
            ``"pyradiomics"`` (PyRadiomics per ROI, the reference).

    Returns:
        dict ROI name -> dict feature name -> float. An ROI that cannot be handled (e.g. a ring
        clipped away entirely) maps to an empty dict, reported through ``progress``.

    Raises:
        InputError: the GTV cannot be handled; an unknown ``engine``; with ``engine="radsurv"``, a
            setting of the parameter file that engine does not implement; with
            ``engine="pyradiomics"``, PyRadiomics not installed.
    """
    check_engine(engine)
    extractor = extractor or make_extractor()
    if engine == "radsurv":
        from . import roi_engine

        raw = roi_engine.extract(image, masks, extractor, progress)
    else:
        pyradiomics = _pyradiomics(extractor)
        raw = {}
        for name, mask in masks.items():
            if progress:
                progress(f"radiomics features: {name}")
            try:
                raw[name] = extract_roi_features(image, mask, pyradiomics)
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
