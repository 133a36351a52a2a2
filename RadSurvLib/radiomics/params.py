"""PyRadiomics parameter files (YAML), read and checked by RadSurv with PyRadiomics' names.

A parameter file has up to four sections (PyRadiomics' "Parameter file" documentation):
``imageType`` (image type -> its own settings; default ``Original`` only), ``featureClass`` (class ->
list of feature names, empty or null = every non-deprecated feature; default every class),
``setting`` (settings for every image type) and ``voxelSetting`` (voxel-based extraction only, not
used for ROI features). ``Parameters`` holds them in the attribute names of PyRadiomics'
``RadiomicsFeatureExtractor`` (``settings``, ``enabledImagetypes``, ``enabledFeatures``), so either
engine reads the same object; ``unsupported()`` lists what RadSurv's engine does not implement.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import InputError

#: PyRadiomics' defaults for the settings RadSurv's engine reads (``featureextractor`` and the
#: feature classes' ``__init__``).
DEFAULTS = {
    "label": 1, "minimumROIDimensions": 2, "minimumROISize": None, "normalize": False,
    "normalizeScale": 1, "removeOutliers": None, "resampledPixelSpacing": None,
    "interpolator": "sitkBSpline", "preCrop": False, "padDistance": 5, "distances": [1],
    "force2D": False, "force2Ddimension": 0, "resegmentRange": None, "resegmentMode": "absolute",
    "resegmentShape": False, "additionalInfo": True,
    "binWidth": 25, "voxelArrayShift": 0, "symmetricalGLCM": True, "weightingNorm": None,
    "gldm_a": 0, "geometryTolerance": None, "correctMask": False,
    # image-type settings: LoG, Wavelet
    "sigma": [], "wavelet": "coif1", "start_level": 0, "level": 1,
}

#: Settings RadSurv's engine implements with any value (the rest of ``DEFAULTS`` only with the
#: value given in ``ONLY``).
FREE = {"label", "minimumROIDimensions", "minimumROISize", "normalize", "normalizeScale",
        "removeOutliers", "interpolator", "preCrop", "padDistance", "force2D", "force2Ddimension",
        "additionalInfo", "binWidth", "binCount", "voxelArrayShift", "geometryTolerance", "sigma", "wavelet",
        "start_level", "level", "resegmentRange", "resegmentMode", "resegmentShape"}
#: Setting -> the one value RadSurv's engine implements (PyRadiomics' default).
ONLY = {"resampledPixelSpacing": None, "distances": [1],
        "symmetricalGLCM": True, "weightingNorm": None, "gldm_a": 0, "correctMask": False}

#: Image types RadSurv's engine implements (PyRadiomics' names, ``get<Name>Image``).
IMAGE_TYPES = ("Original", "Wavelet", "LoG", "Square", "SquareRoot", "Logarithm", "Exponential")
#: Feature classes RadSurv's engine implements.
FEATURE_CLASSES = ("shape", "firstorder", "glcm", "glrlm", "glszm", "gldm", "ngtdm")
_SECTIONS = ("imageType", "featureClass", "setting", "voxelSetting")


class Parameters:
    """A parameter file's content.

    Attributes:
        path: the file (Path) or None.
        settings: dict setting -> value (the file's ``setting`` section; ``DEFAULTS`` fill in
            where the engines read a setting).
        enabledImagetypes: dict image type -> its own settings, in the file's order.
        enabledFeatures: dict feature class -> list of feature names ([] = all), in the file's order.
    """

    def __init__(self, content: dict, path=None):
        self.path = Path(path) if path is not None else None
        name = self.path or "radiomics parameters"
        if not isinstance(content, dict):
            raise InputError(f"radiomics parameter file {name} is not a YAML mapping of {', '.join(_SECTIONS)}.")
        unknown = [k for k in content if k not in _SECTIONS]
        if unknown:
            raise InputError(f"radiomics parameter file {name}: unknown section(s) {', '.join(map(str, unknown))}; "
                             f"PyRadiomics' sections are {', '.join(_SECTIONS)}.")
        self.settings = dict(content.get("setting") or {})
        self._given = dict(self.settings)
        types = content.get("imageType") or {"Original": {}}
        self.enabledImagetypes = {str(k): dict(v or {}) for k, v in types.items()}
        classes = content.get("featureClass")
        if classes is None:  # every class, in PyRadiomics' order (its modules, alphabetical)
            classes = {c: [] for c in sorted(FEATURE_CLASSES)}
        self.enabledFeatures = {str(k): list(v or []) for k, v in classes.items()}
        for where, settings in [("setting", self.settings)] + [
                (f"imageType {k}", v) for k, v in self.enabledImagetypes.items()]:
            _check_values(settings, f"radiomics parameter file {name}: {where}")

    def changed_settings(self) -> dict:
        """Settings set or changed after reading (e.g. ``normalize`` turned off by the pipeline)."""
        missing = object()
        return {k: v for k, v in self.settings.items() if self._given.get(k, missing) != v}

    def unsupported(self) -> list:
        """What RadSurv's engine does not implement, as short phrases (empty: all of it is)."""
        from .families import FEATURES

        out = []
        for where, settings in [("setting", self.settings)] + [
                (f"imageType {k}", v) for k, v in self.enabledImagetypes.items()]:
            for key, value in settings.items():
                if key in FREE:
                    continue
                if key not in ONLY:
                    out.append(f"{where} {key}")
                elif _normalised(value) != _normalised(ONLY[key]):
                    out.append(f"{where} {key}: {value!r} (only {ONLY[key]!r})")
        out += [f"imageType {k}" for k in self.enabledImagetypes if k not in IMAGE_TYPES]
        if "Wavelet" in self.enabledImagetypes and any(
                s.get("force2D") for s in [self.settings] + [v or {} for v in self.enabledImagetypes.values()]):
            out.append("force2D with imageType Wavelet (PyRadiomics' 2D wavelet)")
        for family, names in self.enabledFeatures.items():
            if family not in FEATURE_CLASSES:
                out.append(f"featureClass {family}")
                continue
            out += [f"feature {family} {n} (deprecated or unknown)" for n in names if n not in FEATURES[family]]
        return out

    def check_supported(self) -> None:
        """Raises InputError naming every setting, image type or feature RadSurv's engine lacks."""
        missing = self.unsupported()
        if missing:
            raise InputError(f"radiomics parameter file {self.path or ''}: not supported by RadSurv's engine: "
                             f"{'; '.join(missing)}. Use --radiomics-engine pyradiomics (pip install "
                             "'radsurv[pyradiomics]') for these.")

    def get(self, key: str, custom: dict = None):
        """A setting: the image type's own (``custom``), else the file's, else PyRadiomics' default."""
        for source in (custom or {}, self.settings):
            if key in source and source[key] is not None:
                return source[key]
        return DEFAULTS.get(key)

    def pyradiomics_extractor(self):
        """PyRadiomics' ``RadiomicsFeatureExtractor`` of the same file, with the settings changed
        since reading applied (the reference engine).

        Raises:
            InputError: PyRadiomics is not installed, or it rejects the file.
        """
        import logging

        radiomics = require_pyradiomics()
        from radiomics import featureextractor

        radiomics.setVerbosity(logging.ERROR)  # keep the console for RadSurv's own progress
        try:
            if self.path is not None:
                extractor = featureextractor.RadiomicsFeatureExtractor(str(self.path))
            else:
                extractor = featureextractor.RadiomicsFeatureExtractor(dict(
                    setting=self._given, imageType=self.enabledImagetypes, featureClass=self.enabledFeatures))
        except Exception as exc:  # pykwalify / PyRadiomics raise assorted types for a bad file
            raise InputError(f"radiomics parameter file {self.path} is not valid: {exc}") from None
        extractor.settings.update(self.changed_settings())
        return extractor


#: PyRadiomics' settings (its ``schemas/paramSchema.yaml``, section ``setting``).
SETTING_NAMES = (
    "additionalInfo", "binCount", "binWidth", "correctMask", "distances", "force2D", "force2Ddimension",
    "geometryTolerance", "gldm_a", "gradientUseSpacing", "interpolator", "label", "label_channel", "lbp2DMethod",
    "lbp2DRadius", "lbp2DSamples", "lbp3DIcosphereRadius", "lbp3DIcosphereSubdivision", "lbp3DLevels", "level",
    "minimumROIDimensions", "minimumROISize", "normalize", "normalizeScale", "padDistance", "preCrop",
    "removeOutliers", "resampledPixelSpacing", "resegmentMode", "resegmentRange", "resegmentShape", "sigma",
    "start_level", "symmetricalGLCM", "voxelArrayShift", "wavelet", "weightingNorm")

#: Settings whose value must be a number in a range (PyRadiomics' schema): name -> (lowest, above it
#: (True) or from it, whole number, example).
_VALUE_RANGES = {"binWidth": (0, True, False, "25"), "binCount": (0, True, True, "32"),
                 "normalizeScale": (0, True, False, "1"), "label": (0, True, True, "1"),
                 "minimumROIDimensions": (1, False, True, "2"), "minimumROISize": (0, True, True, "10"),
                 "geometryTolerance": (0, True, False, "1e-6"), "padDistance": (0, False, True, "5"),
                 "start_level": (0, False, True, "0"), "level": (0, True, True, "1"),
                 "voxelArrayShift": (None, False, False, "0"), "removeOutliers": (0, True, False, "3")}


def _check_values(settings: dict, where: str) -> None:
    """Refuse an unknown setting (``binwidth``) or a value no engine can use (``binWidth: 0``),
    before any image is read.

    Raises:
        InputError: naming the file, the setting and a valid example (or the setting meant).
    """
    import difflib

    for key in settings:
        if key not in SETTING_NAMES:
            close = difflib.get_close_matches(str(key), SETTING_NAMES, n=1)
            hint = f"did you mean {close[0]}?" if close else f"PyRadiomics' settings are {', '.join(SETTING_NAMES)}."
            raise InputError(f"{where} {key}: not a PyRadiomics setting; {hint}")
    for key, (low, strict, whole, example) in _VALUE_RANGES.items():
        value = settings.get(key)
        if value is None:
            continue
        number = value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
        ok = number is not None and number == number and abs(number) != float("inf")
        ok = ok and (not whole or float(number).is_integer())
        ok = ok and (low is None or (number > low if strict else number >= low))
        if not ok:
            bound = "" if low is None else f" {'greater than' if strict else 'at least'} {low}"
            raise InputError(f"{where} {key}: {value!r} is not valid; give {'a whole' if whole else 'a'} number"
                             f"{bound}, e.g. {key}: {example}.")
    sigma = settings.get("sigma")
    if sigma is not None and not (isinstance(sigma, list) and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in sigma)):
        raise InputError(f"{where} sigma: {sigma!r} is not valid; give a list of LoG widths in mm greater than 0, "
                         "e.g. sigma: [1.0, 2.0].")


def _normalised(value):
    return [float(v) for v in value] if isinstance(value, (list, tuple)) else value


def require_pyradiomics():
    """The ``radiomics`` module (PyRadiomics), imported.

    Raises:
        InputError: PyRadiomics is not installed (one sentence saying how to get it).
    """
    try:
        import radiomics
    except ImportError:
        raise InputError("radiomics engine pyradiomics: PyRadiomics is not installed; install the extra with "
                         "pip install 'radsurv[pyradiomics]', or use RadSurv's engine (--radiomics-engine "
                         "radsurv, the default).") from None
    return radiomics


def read_parameters(path) -> Parameters:
    """Read a PyRadiomics parameter file (YAML).

    Raises:
        InputError: the file is missing or not a PyRadiomics parameter file.
    """
    import yaml

    path = Path(path)
    if not path.is_file():
        raise InputError(f"radiomics parameter file not found: {path}")
    try:
        content = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise InputError(f"radiomics parameter file {path} is not valid YAML: {exc}") from None
    return Parameters(content or {}, path)
