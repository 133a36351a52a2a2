"""Every scoring option, its default and its checks, in one place: ``ScoreOptions``.

``pipeline.score_case(ct, gtv, out_dir, options)`` takes one ``ScoreOptions``; every front end
builds one and passes it on: ``radsurv score`` and ``radsurv batch`` (``add_arguments`` /
``from_args``: every score option is a batch option), the worker (``to_job`` / ``from_job``: the
job is the inputs plus ``options.to_job()``), ``batch.process_cohort``, ``control.task`` and
``control.logic``. Nobody lists the options again.

Errors speak the library's terms: an ``OptionError`` names the field (``rings_mm``), and
``FRONT_END_NAMES`` gives each field's name in each front end (CLI flag ``--rings``, worker job key
``rings_mm``, Slicer GUI label ``Rings (mm)``) so that ``translate`` can say the same thing in the
caller's words (``errors``: ``OptionError``, ``FRONT_END_NAMES``, ``translate``).
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import FRONT_END_NAMES, InputError, OptionError
from .rings import CONVENTIONS, DEFAULT_RINGS_MM, parse_bands

#: Named PyRadiomics settings (``radiomics``) -> parameter file shipped in ``resources/parameters``.
RADIOMICS_SETTINGS = {"liu2025": "Liu2025_PyRadiomics.yaml", "quick": "Quick_PyRadiomics.yaml"}

DEVICES = ("auto", "cpu", "cuda")
RADIOMICS_ENGINES = ("pyradiomics", "radsurv")

#: Voxel-map kernel radius bounds, voxels (a radius of 6 is a 13^3 kernel already).
KERNEL_RADIUS_RANGE = (1, 6)

#: Air-threshold bounds, HU (below -1100 nothing is air-free; above 3000 is metal).
AIR_HU_RANGE = (-1100.0, 3000.0)

#: Option fields that hold a file or folder path (made absolute against a job file's folder).
PATH_FIELDS = ("bundle", "lung_mask", "params_file", "signature", "scene_path")


# --------------------------------------------------------------------------------------------
# Checks of single values
# --------------------------------------------------------------------------------------------

def _finite_float(field: str, value, what: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise OptionError(field, f"{value!r} is not a number; give {what}.") from None
    if not math.isfinite(number):
        raise OptionError(field, f"{value!r} is not finite; give {what}.")
    return number


def _bands(value) -> tuple[tuple[float, float], ...]:
    """Ring bands (inner_mm, outer_mm) from "3,6,9", "3-6,6-9", (3, 6, 9) or ((3, 6), (6, 9))."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = (value,)
    if not isinstance(value, (str, tuple, list)):
        raise OptionError("rings_mm", f"{value!r} is not a list of distances or bands in mm (e.g. 3,6,9 or 3-6,6-9).")
    try:
        bands = parse_bands(value)
    except InputError as exc:
        raise OptionError("rings_mm", str(exc).partition(": ")[2] or str(exc)) from None
    for inner, outer in bands:
        if not (math.isfinite(inner) and math.isfinite(outer)):
            raise OptionError("rings_mm", f"{value!r} holds a distance that is not finite; give distances "
                                          "in mm such as 3,6,9.")
    return bands


def bands_text(bands) -> str:
    """Ring bands as text, e.g. ``"0-3,3-6,6-9"`` (what ``rings.parse_bands`` reads back)."""
    return ",".join(f"{a:g}-{b:g}" for a, b in bands)


def _flag(field: str, value) -> bool:
    """A true / false option."""
    if not isinstance(value, bool):
        raise OptionError(field, f"{value!r} is not true or false.")
    return value


def _choice(field: str, value, choices) -> str:
    if value not in choices:
        raise OptionError(field, f"{value!r} is not one of {', '.join(choices)}.")
    return value


def _device(value) -> str:
    """A torch device: one of ``DEVICES``, or ``cuda:N`` for the N-th GPU."""
    if value not in DEVICES and not (isinstance(value, str) and re.fullmatch(r"cuda:\d+", value)):
        raise OptionError("device", f"{value!r} is not one of {', '.join(DEVICES)} or cuda:N.")
    return value


def _existing_file(field: str, value, what: str):
    if value is None or not isinstance(value, (str, os.PathLike)):
        return value
    if not Path(value).is_file():
        raise OptionError(field, f"{value} is not a file; give the path of {what}.")
    return str(value)


def _signature_bundle(value):
    """A signature bundle: its folder (with ``signature.json``), the file itself, or the name of one
    RadSurv ships (``resources/signatures``, e.g. ``lung1-os-99``: its folder), a path of that
    name in the working folder taking precedence."""
    if value is None:
        return None
    path = Path(value)
    if not path.exists() and isinstance(value, str) and value in shipped_signature_names():
        from .resources import signature_path

        return str(signature_path(value))
    if path.is_dir() and not (path / "signature.json").is_file():
        raise OptionError("signature", f"{value} has no signature.json: it is not a radiomics signature bundle "
                                       "(radsurv signature fit writes one).")
    if not path.exists():
        shipped = ", ".join(shipped_signature_names()) or "none"
        raise OptionError("signature", f"{value} does not exist; give a radiomics signature bundle (its folder or "
                                       f"its signature.json, from radsurv signature fit) or a shipped one by name "
                                       f"({shipped}).")
    return str(value)


def shipped_signature_names() -> tuple:
    """Names of the radiomics signature bundles shipped in ``resources/signatures`` (``lung1-os-99``)."""
    from .resources import resource_path

    folder = resource_path("signatures")
    return tuple(sorted(p.name for p in folder.iterdir() if (p / "signature.json").is_file())) if folder.is_dir() else ()


def _bundle_folder(value):
    if value is None or not isinstance(value, (str, os.PathLike)):
        return value  # None: the demonstration bundle; or a loaded models.bundle.Bundle
    from .models.bundle import CONFIG_FILE

    folder = Path(value)
    if not folder.is_dir():
        raise OptionError("bundle", f"{value} is not a folder; give a model bundle folder (with {CONFIG_FILE}), "
                                    "or nothing for the demonstration bundle.")
    if not (folder / CONFIG_FILE).is_file():
        raise OptionError("bundle", f"{value} has no {CONFIG_FILE}: it is not a model bundle folder.")
    return str(value)


def _kernel_radius(value) -> int:
    low, high = KERNEL_RADIUS_RANGE
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise OptionError("kernel_radius", f"{value!r} is not an integer; give {low} to {high} voxels.")
    try:
        number = float(value)
    except ValueError:
        raise OptionError("kernel_radius", f"{value!r} is not an integer; give {low} to {high} voxels.") from None
    if not number.is_integer() or not low <= number <= high:
        raise OptionError("kernel_radius", f"{number:g} is not an integer from {low} to {high} (voxels).")
    return int(number)


def _voxel_map_features(value):
    if value is None:
        return None
    names = (value.split(",") if isinstance(value, str) else list(value))
    names = tuple(str(n).strip() for n in names if str(n).strip())
    if not names:
        raise OptionError("voxel_map_features", "no feature named; give names such as firstorder_Mean, "
                                                "or nothing for the default maps.")
    from .radiomics.voxelmaps.engine import AVAILABLE_FEATURES

    unknown = [n for n in names if n not in AVAILABLE_FEATURES]
    if unknown:
        raise OptionError("voxel_map_features", f"unknown voxel-map feature(s) {', '.join(unknown)}; known names "
                                                "look like firstorder_Mean or glcm_Contrast (see "
                                                "radiomics.voxelmaps.AVAILABLE_FEATURES).")
    return names


def _scene_path(value):
    """A Slicer scene bundle's path, ending in ``.mrb`` (where it can be written:
    ``outputs.folder.check_new_file``, before the first stage)."""
    if value is None:
        return None
    if not isinstance(value, (str, os.PathLike)) or not str(value).strip():
        raise OptionError("scene_path", f"{value!r} is not a file name; give one ending in .mrb, e.g. scene.mrb.")
    if Path(value).suffix.lower() != ".mrb":
        raise OptionError("scene_path", f"{value} does not end in .mrb; a Slicer scene bundle is a .mrb file "
                                        "(e.g. scene.mrb).")
    return str(value)


def _gtv_label(value):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise OptionError("gtv_label", f"{value!r} is not a label; give an integer >= 1.")
    try:
        number = float(value)
    except ValueError:
        raise OptionError("gtv_label", f"{value!r} is not a label; give an integer >= 1.") from None
    if not number.is_integer() or number < 1:
        raise OptionError("gtv_label", f"{number:g} is not a label; give an integer >= 1.")
    return int(number)


# --------------------------------------------------------------------------------------------
# ScoreOptions
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ScoreOptions:
    """Every option of one scoring run (``pipeline.score_case``), checked when it is made.

    Fields (units in the name; paths as text):
        bundle: model bundle folder (``bundle.json`` inside); None = the shipped demonstration bundle.
            A loaded ``models.bundle.Bundle`` is accepted too (not for ``to_job``).
        rings_mm: peritumoral ring bands, mm: outer distances ``"3,6,9"`` / ``(3, 6, 9)`` (bands 0-3,
            3-6, 6-9) or bands ``"3-6,6-9"``; stored as ((inner_mm, outer_mm), ...).
        inner_rim_mm: also an inner rim of this width inside the GTV surface, mm (> 0), or None.
        air_hu: remove ring voxels below this HU (e.g. -950), in [-1100, 3000], or None.
        lung_mask: lung / body mask on the CT's grid (file or SimpleITK image): rings are kept inside it.
        ring_convention: "centre" (voxel centre distances) or "surface" (``rings`` module docstring).
        device: "auto" (CUDA when available), "cpu", "cuda" or "cuda:N" (the N-th GPU).
        params_file: PyRadiomics YAML; None = the ``radiomics`` setting's shipped file.
        radiomics: named PyRadiomics setting, a key of ``RADIOMICS_SETTINGS`` ("liu2025": Liu et al.
            2025, 1316 features per ROI; "quick": original image only). Ignored when ``params_file`` is set.
        kernel_radius: voxel-map kernel radius, voxels (1-6).
        voxel_map_features: voxel-map names (e.g. ``("firstorder_Mean",)``); None = ``DEFAULT_FEATURES``.
        signature: radiomics signature bundle (``radsurv signature fit``) applied to the case, or None.
        radiomics_engine: "radsurv" (RadSurv's own engine, the default) or "pyradiomics" (the reference).
        gtv_label: which label of a multi-label mask is the GTV (int >= 1); None = every non-zero voxel.
        features_only: compute the rings and the ROI features only (no voxel maps, model, heatmap):
            ``radsurv features`` for a cohort's feature table.
        scene_path: also save the results as a 3D Slicer scene (``.mrb``) there, or None.
        dicom_out: also write the results as DICOM objects (RTSTRUCT, SEG, Parametric Map, SR) into
            ``OUT/dicom/`` (``outputs.dicom``); needs the CT as a DICOM series (else refused before any stage).
        overwrite: replace the results of an earlier run in the output folder (all of its files; the
            user's own files there are kept, see ``outputs.folder``) and the scene file.

    Raises:
        OptionError: a field is invalid (``.field`` names it; the message says how to fix it).
    """

    bundle: object = None
    rings_mm: object = DEFAULT_RINGS_MM
    inner_rim_mm: float | None = None
    air_hu: float | None = None
    lung_mask: object = None
    ring_convention: str = "centre"
    device: str = "auto"
    params_file: str | None = None
    radiomics: str = "liu2025"
    kernel_radius: int = 1
    voxel_map_features: tuple | None = None
    signature: str | None = None
    radiomics_engine: str = "radsurv"
    gtv_label: int | None = None
    features_only: bool = False
    scene_path: str | None = None
    dicom_out: bool = False
    overwrite: bool = False

    def __post_init__(self):
        checked = {
            "bundle": _bundle_folder(self.bundle),
            "rings_mm": _bands(self.rings_mm),
            "inner_rim_mm": None if self.inner_rim_mm is None else self._positive_mm("inner_rim_mm"),
            "air_hu": None if self.air_hu is None else self._air_hu(),
            "lung_mask": _existing_file("lung_mask", self.lung_mask, "a lung or body mask on the CT's grid"),
            "ring_convention": _choice("ring_convention", self.ring_convention, CONVENTIONS),
            "device": _device(self.device),
            "params_file": _existing_file("params_file", self.params_file, "a PyRadiomics parameter file (YAML)"),
            "radiomics": _choice("radiomics", self.radiomics, tuple(RADIOMICS_SETTINGS)),
            "kernel_radius": _kernel_radius(self.kernel_radius),
            "voxel_map_features": _voxel_map_features(self.voxel_map_features),
            "signature": _signature_bundle(self.signature),
            "radiomics_engine": _choice("radiomics_engine", self.radiomics_engine, RADIOMICS_ENGINES),
            "gtv_label": _gtv_label(self.gtv_label),
            "features_only": _flag("features_only", self.features_only),
            "scene_path": _scene_path(self.scene_path),
            "dicom_out": _flag("dicom_out", self.dicom_out),
            "overwrite": self._overwrite(),
        }
        for name, value in checked.items():
            object.__setattr__(self, name, value)

    def _positive_mm(self, field: str) -> float:
        value = _finite_float(field, getattr(self, field), "a width in mm greater than 0")
        if value <= 0:
            raise OptionError(field, f"{value:g} mm is not greater than 0; give a width in mm, e.g. 2.")
        return value

    def _air_hu(self) -> float:
        low, high = AIR_HU_RANGE
        value = _finite_float("air_hu", self.air_hu, f"a threshold in HU from {low:g} to {high:g}, e.g. -950")
        if not low <= value <= high:
            raise OptionError("air_hu", f"{value:g} HU is outside {low:g} to {high:g} HU; give e.g. -950.")
        return value

    def _overwrite(self) -> bool:
        if not isinstance(self.overwrite, bool):
            raise OptionError("overwrite", f"{self.overwrite!r} is not true or false.")
        return self.overwrite

    # -- derived values ---------------------------------------------------------------------------
    def parameter_file(self) -> Path:
        """The PyRadiomics YAML this run uses: ``params_file``, else the ``radiomics`` setting's file."""
        if self.params_file is not None:
            return Path(self.params_file)
        from .resources import parameter_file

        return parameter_file(RADIOMICS_SETTINGS[self.radiomics])

    def replace(self, **changes) -> "ScoreOptions":
        """A copy with ``changes`` (checked again)."""
        return dataclasses.replace(self, **changes)

    # -- worker job ---------------------------------------------------------------------------------
    def to_job(self) -> dict:
        """The options as a JSON-safe dict (the option part of a worker job; ``from_job`` reads it back).

        Raises:
            OptionError: ``bundle`` or ``lung_mask`` is an in-memory object, not a path.
        """
        job = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name in ("bundle", "lung_mask") and value is not None and not isinstance(value, str):
                raise OptionError(field.name, "an in-memory object cannot go into a worker job; give a path.")
            if field.name == "rings_mm":
                value = bands_text(value)
            elif field.name == "voxel_map_features" and value is not None:
                value = list(value)
            job[field.name] = value
        return job

    @classmethod
    def from_job(cls, job: dict, base_dir=None) -> "ScoreOptions":
        """Options from a job dict (``to_job``'s form; missing keys take their defaults).

        Args:
            job: option keys only (see ``option_names()``).
            base_dir: folder that relative paths are relative to (None: left as they are).

        Raises:
            OptionError: an unknown key (field ``job``-named) or an invalid value.
        """
        if not isinstance(job, dict):
            raise InputError(f"options: expected a dict of option names to values, got {type(job).__name__}.")
        unknown = sorted(set(job) - set(option_names()))
        if unknown:
            raise InputError(f"options: unknown option(s) {', '.join(unknown)}; known options: "
                             f"{', '.join(option_names())}.")
        values = dict(job)
        if base_dir is not None:
            for name in PATH_FIELDS:
                if isinstance(values.get(name), str) and values[name] and not Path(values[name]).is_absolute():
                    values[name] = str((Path(base_dir) / values[name]).resolve())
        return cls(**values)

    # -- cache keys ---------------------------------------------------------------------------------
    def result_key_fields(self) -> dict:
        """The options that change a run's results, JSON-safe (the input key of a scene's results,
        and batch resume). Leaves out ``device``, ``scene_path`` and ``overwrite``; the PyRadiomics
        setting appears as the parameter file actually used.
        """
        key = {}
        for name in RESULT_KEY_FIELDS:
            value = getattr(self, name)
            key[name] = value if isinstance(value, (str, int, float, bool, type(None))) else repr(value)
        key["rings_mm"] = bands_text(self.rings_mm)
        key["params_file"] = str(self.parameter_file())
        if self.voxel_map_features is not None:
            key["voxel_map_features"] = list(self.voxel_map_features)
        return key

    # -- command line -------------------------------------------------------------------------------
    @classmethod
    def from_args(cls, args) -> "ScoreOptions":
        """Options from an ``argparse.Namespace`` made by a parser with ``add_arguments``.

        Raises:
            OptionError: an invalid value (translate it with ``translate(error, "cli")``).
        """
        return cls(**{name: getattr(args, name) for name in option_names() if hasattr(args, name)})


#: Fields that change a run's results (``ScoreOptions.result_key_fields``).
RESULT_KEY_FIELDS = ("bundle", "rings_mm", "inner_rim_mm", "air_hu", "lung_mask", "ring_convention",
                     "params_file", "kernel_radius", "voxel_map_features", "signature", "radiomics_engine",
                     "gtv_label", "features_only", "dicom_out")


def option_names() -> tuple[str, ...]:
    """Names of the ``ScoreOptions`` fields, in order."""
    return tuple(f.name for f in dataclasses.fields(ScoreOptions))


def add_arguments(parser) -> None:
    """Add every scoring option to an ``argparse`` parser (``radsurv score`` and ``radsurv batch``).

    Each option is stored under its field name (``--rings`` -> ``args.rings_mm``); values are
    checked by ``ScoreOptions.from_args``, not by argparse, so the messages are the library's.
    """
    d = ScoreOptions()
    group = parser.add_argument_group("scoring options")

    def add(field, help_text, **kwargs):
        group.add_argument(FRONT_END_NAMES[field][0], dest=field, default=getattr(d, field), help=help_text, **kwargs)

    add("bundle", "model bundle folder (default: the shipped demonstration bundle)")
    group.add_argument("--rings", dest="rings_mm", default=",".join(f"{r:g}" for r in DEFAULT_RINGS_MM),
                       help="peritumoral ring distances or bands in mm (default %(default)s = "
                            f"{bands_text(d.rings_mm)}; e.g. 3-6,6-9)")
    add("inner_rim_mm", "also an inner rim of this width inside the GTV surface (mm)", metavar="MM")
    add("air_hu", "remove ring voxels below this HU (e.g. -950)", metavar="HU")
    add("lung_mask", "lung or body mask on the CT's grid: rings are kept inside it", metavar="FILE")
    add("ring_convention", "distances between voxel centres (default, fast) or to the GTV surface (exact "
                           "shells)", metavar="centre|surface")
    add("device", "where the models and voxel maps run (default auto: CUDA when available)",
        metavar="auto|cpu|cuda")
    add("params_file", "PyRadiomics YAML (default: the --radiomics setting's file)", metavar="YAML")
    add("radiomics", f"named PyRadiomics setting: {' or '.join(RADIOMICS_SETTINGS)} (default %(default)s: "
                     "Liu et al. 2025)", metavar="|".join(RADIOMICS_SETTINGS))
    add("kernel_radius", "voxel-map kernel radius, voxels (default %(default)s)", metavar="R")
    add("voxel_map_features", "comma-separated voxel maps (default: radiomics.voxelmaps.DEFAULT_FEATURES)",
        metavar="NAMES")
    add("signature", "radiomics signature bundle (radsurv signature fit) to apply to each case, or a shipped one "
        "by name (lung1-os-99: overall survival, 99 Lung1 patients, research use)", metavar="FILE|NAME")
    add("radiomics_engine", "ROI feature engine: radsurv (default) or pyradiomics (the reference; "
        "extra radsurv[pyradiomics])", metavar="ENGINE")
    add("gtv_label", "label of the GTV in a multi-label mask (default: every non-zero voxel)", metavar="N")
    add("scene_path", "also save a 3D Slicer scene (.mrb) with all results", metavar="FILE.mrb")
    group.add_argument("--features-only", dest="features_only", action="store_true",
                       help="rings and ROI features only: no voxel maps, model or heatmap")
    group.add_argument("--dicom-out", dest="dicom_out", action="store_true",
                       help="also write DICOM objects into OUT/dicom/: RTSTRUCT and SEG of the GTV and rings, the "
                            "heatmap as a Parametric Map, a Structured Report of the risk (DICOM CT only)")
    group.add_argument("--overwrite", dest="overwrite", action="store_true",
                       help="replace the results of an earlier run in --out (all of its files), or write beside "
                            "files of your own there (kept)")
