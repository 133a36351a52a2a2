"""The Slicer module's parameter node, described once, and its mapping onto ``ScoreOptions`` (no Qt).

``PARAMETERS`` lists every field of the module's parameter node: its type, default, the widget
of ``RadSurv/Resources/UI/RadSurv.ui`` that shows it (objectName and class; the widget carries
the dynamic property ``SlicerParameterName`` = the field's name, so Slicer's
``parameterNodeWrapper.connectGui`` connects it) and, for a scoring option, the
``options.ScoreOptions`` field it sets. ``RadSurv.py`` builds its ``parameterNodeWrapper`` class
from this table; ``options_from_parameters`` / ``parameters_from_options`` are the only
translation between the parameter node and ``ScoreOptions`` (one option object: the parameter
node only stores the GUI's state).

Names: a parameter that sets a ``ScoreOptions`` field has the field's name (``rings_mm``,
``kernel_radius``); its helpers end in ``_enabled`` / ``_file``; the module's own settings
(inputs, what goes into the scene) are camelCase as in Slicer's template.

Representation (what Slicer's GUI connectors can show): an optional number is a check box
(``*_enabled``) plus a spin box; a path is a ``pathlib.Path`` in a ``ctkPathLineEdit``, empty
(``Path()`` = ".") meaning None; the signature is a choice ("none", a shipped signature by name,
"file") plus ``signature_file``; the voxel maps a comma-separated text, empty = the default maps.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..options import (AIR_HU_RANGE, OptionError, DEVICES, KERNEL_RADIUS_RANGE, RADIOMICS_ENGINES, RADIOMICS_SETTINGS,
                       ScoreOptions, bands_text, option_names, shipped_signature_names)
from ..rings import CONVENTIONS, DEFAULT_RINGS_MM
from .task import IF_EXISTS_CHOICES

#: The radiomics setting choices' labels in the GUI (``ScoreOptions.radiomics`` -> text).
RADIOMICS_LABELS = {"liu2025": "Liu et al. 2025 (full, 1316 features per ROI)",
                    "quick": "quick (original image only, 107 features)"}

#: Signature choice meaning "no signature" / "the file in signature_file".
NO_SIGNATURE, SIGNATURE_FROM_FILE = "none", "file"

#: Inner-rim width bounds in the GUI, mm.
INNER_RIM_RANGE_MM = (0.5, 30.0)


@dataclass(frozen=True)
class GuiParameter:
    """One field of the module's parameter node.

    Attributes:
        name: field name (``SlicerParameterName`` of its widget).
        kind: Python type (``str``, ``bool``, ``int``, ``float``, ``pathlib.Path``) or the name of an
            MRML node class (``"vtkMRMLScalarVolumeNode"``), resolved in Slicer.
        default: default value (None: the type's default, or no node).
        widget: objectName of its widget in ``RadSurv.ui``; widget_class: the widget's class there.
        option: the ``ScoreOptions`` field it sets (None: a module setting).
        choices: allowed values (a combo box), or None; value_range: (min, max) of a number, or None.
    """

    name: str
    kind: object
    default: object
    widget: str
    widget_class: str
    option: str | None = None
    choices: tuple | None = None
    value_range: tuple | None = None


_D = ScoreOptions()
_EMPTY = Path()

#: Every parameter of the module, in the order of the GUI.
PARAMETERS = (
    # inputs (the segmentation and segment ID have no GUI connector: the widget syncs them by hand)
    GuiParameter("ctVolume", "vtkMRMLScalarVolumeNode", None, "ctSelector", "qMRMLNodeComboBox"),
    GuiParameter("segmentation", "vtkMRMLSegmentationNode", None, "segmentSelector", "qMRMLSegmentSelectorWidget"),
    GuiParameter("segmentId", str, "", "segmentSelector", "qMRMLSegmentSelectorWidget"),
    # model and main options
    GuiParameter("bundle", Path, _EMPTY, "bundlePathLineEdit", "ctkPathLineEdit", option="bundle"),
    GuiParameter("rings_mm", str, ",".join(f"{d:g}" for d in DEFAULT_RINGS_MM), "ringsLineEdit", "QLineEdit",
                 option="rings_mm"),
    GuiParameter("radiomics", str, _D.radiomics, "radiomicsComboBox", "QComboBox", option="radiomics",
                 choices=tuple(RADIOMICS_SETTINGS)),
    GuiParameter("device", str, _D.device, "deviceComboBox", "QComboBox", option="device", choices=DEVICES),
    # advanced
    GuiParameter("inner_rim_enabled", bool, False, "innerRimCheckBox", "QCheckBox", option="inner_rim_mm"),
    GuiParameter("inner_rim_mm", float, 2.0, "innerRimSpinBox", "QDoubleSpinBox", option="inner_rim_mm",
                 value_range=INNER_RIM_RANGE_MM),
    GuiParameter("air_hu_enabled", bool, False, "airHUCheckBox", "QCheckBox", option="air_hu"),
    GuiParameter("air_hu", float, -950.0, "airHUSpinBox", "QDoubleSpinBox", option="air_hu", value_range=AIR_HU_RANGE),
    GuiParameter("lung_mask", Path, _EMPTY, "lungMaskPathLineEdit", "ctkPathLineEdit", option="lung_mask"),
    GuiParameter("ring_convention", str, _D.ring_convention, "ringConventionComboBox", "QComboBox",
                 option="ring_convention", choices=CONVENTIONS),
    GuiParameter("radiomics_engine", str, _D.radiomics_engine, "radiomicsEngineComboBox", "QComboBox",
                 option="radiomics_engine", choices=RADIOMICS_ENGINES),
    GuiParameter("params_file", Path, _EMPTY, "paramsFilePathLineEdit", "ctkPathLineEdit", option="params_file"),
    GuiParameter("kernel_radius", int, _D.kernel_radius, "kernelRadiusSpinBox", "QSpinBox", option="kernel_radius",
                 value_range=KERNEL_RADIUS_RANGE),
    GuiParameter("voxel_map_features", str, "", "voxelMapsLineEdit", "QLineEdit", option="voxel_map_features"),
    GuiParameter("signature", str, NO_SIGNATURE, "signatureComboBox", "QComboBox", option="signature",
                 choices=(NO_SIGNATURE, *shipped_signature_names(), SIGNATURE_FROM_FILE)),
    GuiParameter("signature_file", Path, _EMPTY, "signaturePathLineEdit", "ctkPathLineEdit", option="signature"),
    GuiParameter("features_only", bool, False, "featuresOnlyCheckBox", "QCheckBox", option="features_only"),
    GuiParameter("scene_path", Path, _EMPTY, "scenePathLineEdit", "ctkPathLineEdit", option="scene_path"),
    GuiParameter("dicom_out", bool, False, "dicomOutCheckBox", "QCheckBox", option="dicom_out"),
    GuiParameter("overwrite", bool, False, "overwriteCheckBox", "QCheckBox", option="overwrite"),
    # outputs into the scene
    GuiParameter("outputRings", bool, True, "outputRingsCheckBox", "QCheckBox"),
    GuiParameter("outputVoxelMaps", bool, True, "outputVoxelMapsCheckBox", "QCheckBox"),
    GuiParameter("outputHeatmap", bool, True, "outputHeatmapCheckBox", "QCheckBox"),
    GuiParameter("outputTables", bool, True, "outputTablesCheckBox", "QCheckBox"),
    GuiParameter("outputDirectory", Path, _EMPTY, "outputDirectoryPathLineEdit", "ctkPathLineEdit"),
    GuiParameter("ifResultsExist", str, "skip", "ifResultsExistComboBox", "QComboBox", choices=IF_EXISTS_CHOICES),
)

#: ``ScoreOptions`` fields set elsewhere in the GUI than by a parameter of their own: field -> widget.
#: ``gtv_label``: in a scene the GTV is a segment, chosen by the segment selector (the task exports
#: that one segment), so there is no label to pick.
CHOSEN_BY_WIDGET = {"gtv_label": "segmentSelector"}

#: Parameters connected by hand (no Slicer GUI connector for the segment selector).
SYNCED_BY_HAND = ("segmentation", "segmentId")

BY_NAME = {p.name: p for p in PARAMETERS}


def defaults() -> dict:
    """Every parameter's default value (node parameters: None)."""
    return {p.name: p.default for p in PARAMETERS}


def path_or_none(value) -> str | None:
    """A path parameter as ``ScoreOptions`` wants it: empty (``Path()``, "", None) -> None."""
    if value is None or str(value).strip() in ("", "."):
        return None
    return str(value)


def options_from_parameters(values) -> ScoreOptions:
    """The ``ScoreOptions`` of the parameter node's values (a mapping or an object with attributes:
    the wrapped parameter node itself).

    Raises:
        OptionError: a value is invalid, or the signature is "file" without a file (``control.logic.guiMessage`` names it by its GUI label).
    """
    get = values.get if hasattr(values, "get") and not hasattr(values, "allParameters") else (
        lambda name, default=None: getattr(values, name, default))
    value = {p.name: get(p.name, p.default) for p in PARAMETERS}
    signature = value["signature"]
    if signature == NO_SIGNATURE:
        signature_path = None
    elif signature == SIGNATURE_FROM_FILE:
        signature_path = path_or_none(value["signature_file"])
        if signature_path is None:
            raise OptionError("signature", "'file' is chosen but no signature file is given; choose its "
                                           "signature.json, or none.")
    else:
        from ..resources import signature_path as shipped

        signature_path = str(shipped(signature))
    features = str(value["voxel_map_features"] or "").strip()
    return ScoreOptions(
        bundle=path_or_none(value["bundle"]),
        rings_mm=value["rings_mm"],
        inner_rim_mm=value["inner_rim_mm"] if value["inner_rim_enabled"] else None,
        air_hu=value["air_hu"] if value["air_hu_enabled"] else None,
        lung_mask=path_or_none(value["lung_mask"]),
        ring_convention=value["ring_convention"],
        device=value["device"],
        params_file=path_or_none(value["params_file"]),
        radiomics=value["radiomics"],
        kernel_radius=value["kernel_radius"],
        voxel_map_features=features or None,
        signature=signature_path,
        radiomics_engine=value["radiomics_engine"],
        features_only=value["features_only"],
        scene_path=path_or_none(value["scene_path"]),
        dicom_out=value["dicom_out"],
        overwrite=value["overwrite"],
    )


def parameters_from_options(options: ScoreOptions) -> dict:
    """The parameter values that show ``options`` (the option parameters only; module settings are
    left out). ``options_from_parameters`` of the result equals ``options`` (but ``gtv_label``,
    chosen by the segment selector, and a ``device`` ``cuda:N``, shown as ``cuda``).

    Raises:
        InputError: ``options.bundle`` or ``lung_mask`` is an in-memory object (the GUI shows paths).
    """
    from ..errors import InputError
    from ..resources import signature_path as shipped

    for name in ("bundle", "lung_mask"):
        value = getattr(options, name)
        if value is not None and not isinstance(value, str):
            raise InputError(f"{name}: the module shows a path here, not a {type(value).__name__}.")
    signature, signature_file = NO_SIGNATURE, _EMPTY
    if options.signature is not None:
        given = Path(options.signature).resolve()
        by_name = [n for n in shipped_signature_names() if given in (shipped(n).resolve(),
                                                                (shipped(n) / "signature.json").resolve())]
        signature, signature_file = (by_name[0], _EMPTY) if by_name else (SIGNATURE_FROM_FILE, Path(options.signature))

    def path(value):
        return _EMPTY if value is None else Path(value)

    return {
        "bundle": path(options.bundle),
        "rings_mm": bands_text(options.rings_mm),
        "inner_rim_enabled": options.inner_rim_mm is not None,
        "inner_rim_mm": BY_NAME["inner_rim_mm"].default if options.inner_rim_mm is None else options.inner_rim_mm,
        "air_hu_enabled": options.air_hu is not None,
        "air_hu": BY_NAME["air_hu"].default if options.air_hu is None else options.air_hu,
        "lung_mask": path(options.lung_mask),
        "ring_convention": options.ring_convention,
        "device": options.device if options.device in DEVICES else "cuda",
        "params_file": path(options.params_file),
        "radiomics": options.radiomics,
        "kernel_radius": options.kernel_radius,
        "voxel_map_features": ",".join(options.voxel_map_features or ()),
        "signature": signature,
        "signature_file": signature_file,
        "radiomics_engine": options.radiomics_engine,
        "features_only": options.features_only,
        "scene_path": path(options.scene_path),
        "dicom_out": options.dicom_out,
        "overwrite": options.overwrite,
    }


def outputs_from_parameters(values) -> dict:
    """What goes into the scene (``slicer.write.OUTPUT_PARTS`` -> bool) from the parameter node."""
    get = (lambda name: values[name]) if isinstance(values, dict) else (lambda name: getattr(values, name))
    return {"rings": get("outputRings"), "voxel_maps": get("outputVoxelMaps"), "heatmap": get("outputHeatmap"),
            "tables": get("outputTables")}


def model_summary(bundle=None) -> tuple[str, bool]:
    """What the GUI says about a model bundle: (text with name, version, architecture, training data
    and held-out C-index from its ``provenance``; whether it is a demonstration model).

    Args:
        bundle: bundle folder, or None / empty for the shipped demonstration bundle.

    Raises:
        BundleError: not a readable bundle (the message says why).
    """
    from ..models.bundle import load_bundle

    loaded = load_bundle(path_or_none(bundle), build_model=False)  # no torch: files and checksum only
    config = loaded.config
    provenance = config.get("provenance") or {}
    if isinstance(provenance, str):  # older bundles hold the provenance as a dict's repr
        import ast

        try:
            provenance = ast.literal_eval(provenance)
        except (ValueError, SyntaxError):
            provenance = {"data": provenance}
    lines = [f"{loaded.name} {loaded.version} ({config.get('architecture', {}).get('name', 'unknown architecture')})"]
    if provenance.get("data"):
        lines.append(f"Trained on: {provenance['data']}")
    sizes = [f"{label} {provenance[key]}" for key, label in (("n_train", "training cases"),
                                                              ("n_heldout", "held-out cases")) if key in provenance]
    if "heldout_c_index" in provenance:
        sizes.append(f"held-out C-index {float(provenance['heldout_c_index']):.3f}")
    if sizes:
        lines.append(", ".join(sizes))
    if provenance.get("date"):
        lines.append(f"Made {provenance['date']} (RadSurv {provenance.get('radsurv_version', '?')})")
    return "\n".join(lines), loaded.demonstration


def option_parameter_names() -> dict:
    """``ScoreOptions`` field -> names of the parameters that set it (``CHOSEN_BY_WIDGET`` aside)."""
    found = {name: [] for name in option_names()}
    for p in PARAMETERS:
        if p.option is not None:
            found[p.option].append(p.name)
    return found
