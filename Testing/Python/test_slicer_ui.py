"""The module's panel: ``RadSurv/Resources/UI/RadSurv.ui`` and its parameter node
(``RadSurvLib.control.parameters``), without Slicer's Qt.

Slicer's Qt (PythonQt, CTK, qMRMLWidgets) is not installable here, so the ``.ui`` is read as XML
and checked against what the module and Slicer's ``parameterNodeWrapper.connectGui`` look up:
every parameter's widget exists with the class its connector needs and names its parameter in
the dynamic property ``SlicerParameterName``; every ``self.ui.<name>`` of ``RadSurv.py`` exists
with the class it is used as. Then: every ``ScoreOptions`` field is set by some parameter (a new
option without a GUI control fails here), and parameters <-> ``ScoreOptions`` round-trip with
the same values. ``RadSurvTest.test_panelSetsEveryOption`` (in ``RadSurv.py``) loads the same
``.ui`` with ``slicer.util.loadUI`` inside Slicer.
"""

from __future__ import annotations

import ast
import dataclasses
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from test_options import every_option, files  # noqa: F401  (fixtures)

from RadSurvLib.control import parameters as P
from RadSurvLib.control.logic import guiMessage
from RadSurvLib.errors import FRONT_END_NAMES
from RadSurvLib.options import OptionError, ScoreOptions, option_names
from RadSurvLib.resources import signature_path

REPO = Path(__file__).resolve().parents[2]
UI_FILE = REPO / "RadSurv" / "Resources" / "UI" / "RadSurv.ui"
MODULE_FILE = REPO / "RadSurv" / "RadSurv.py"

#: Widgets the module uses that are not parameters: objectName -> class.
OTHER_WIDGETS = {
    "environmentCollapsibleButton": "ctkCollapsibleButton", "environmentLabel": "QLabel",
    "environmentButton": "QPushButton", "demonstrationLabel": "QLabel", "modelProvenanceLabel": "QLabel",
    "applyButton": "QPushButton", "progressBar": "QProgressBar", "statusLabel": "QLabel",
}


def ui_widgets() -> dict:
    """objectName -> (class, {dynamic property name: text}) of every widget in the .ui."""
    root = ET.parse(UI_FILE).getroot()
    found = {}
    for widget in root.iter("widget"):
        name = widget.get("name")
        assert name not in found, f"two widgets named {name} in {UI_FILE.name}"
        dynamic = {p.get("name"): (p.findtext("string") or "") for p in widget.findall("property")
                   if p.get("stdset") == "0"}
        found[name] = (widget.get("class"), dynamic)
    return found


def ui_lookups() -> set[str]:
    """Every ``<x>.ui.<name>`` and ``ui.<name>`` that RadSurv.py reads (attribute access)."""
    names = set()
    for node in ast.walk(ast.parse(MODULE_FILE.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Attribute):
            owner = node.value
            if (isinstance(owner, ast.Attribute) and owner.attr == "ui") or (isinstance(owner, ast.Name)
                                                                              and owner.id == "ui"):
                names.add(node.attr)
    return names


def test_ui_is_a_slicer_template_panel():
    root = ET.parse(UI_FILE).getroot()
    top = root.find("widget")
    assert (top.get("class"), top.get("name"), root.findtext("class")) == ("qMRMLWidget", "RadSurv", "RadSurv")
    widgets = ui_widgets()
    # every MRML widget gets the scene from the top widget (as in Slicer's template)
    connected = {(c.findtext("sender"), c.findtext("signal"), c.findtext("receiver"), c.findtext("slot"))
                 for c in root.iter("connection")}
    for name, (cls, _) in widgets.items():
        if cls.startswith("qMRML") and name != "RadSurv":
            assert ("RadSurv", "mrmlSceneChanged(vtkMRMLScene*)", name, "setMRMLScene(vtkMRMLScene*)") in connected, name
    # custom widget classes are declared (Designer / loadUI need them)
    declared = {c.findtext("class") for c in root.iter("customwidget")}
    used = {cls for cls, _ in widgets.values() if not cls.startswith("Q")}
    assert used <= declared, used - declared
    # an "Advanced" section, collapsed, holds every option not shown at the top
    advanced = next(w for w in root.iter("widget") if w.get("name") == "advancedCollapsibleButton")
    assert advanced.get("class") == "ctkCollapsibleButton"
    props = {p.get("name"): p for p in advanced.findall("property")}
    assert props["text"].findtext("string") == "Advanced" and props["collapsed"].findtext("bool") == "true"
    inside = {w.get("name") for w in advanced.iter("widget")}
    main = {"bundle", "rings_mm", "radiomics", "device"}
    for parameter in P.PARAMETERS:
        if parameter.option is not None and parameter.name not in main:
            assert parameter.widget in inside, f"{parameter.name} is not under Advanced"


def test_every_parameter_has_its_widget():
    widgets = ui_widgets()
    for parameter in P.PARAMETERS:
        assert parameter.widget in widgets, f"{parameter.widget} ({parameter.name}) is not in {UI_FILE.name}"
        cls, dynamic = widgets[parameter.widget]
        assert cls == parameter.widget_class, (parameter.name, cls)
        if parameter.name not in P.SYNCED_BY_HAND:
            assert dynamic.get("SlicerParameterName") == parameter.name, parameter.widget
    # connectGui connects every widget with the property: each must be a parameter
    named = {d["SlicerParameterName"] for _, d in widgets.values() if "SlicerParameterName" in d}
    assert named == {p.name for p in P.PARAMETERS} - set(P.SYNCED_BY_HAND)


def test_widget_class_fits_the_parameter_type():
    """The class that Slicer's GUI connector for the parameter's type accepts (guiConnectors.py)."""
    accepted = {bool: {"QCheckBox"}, int: {"QSpinBox", "QSlider"}, float: {"QDoubleSpinBox"},
                str: {"QLineEdit"}, Path: {"ctkPathLineEdit"}}
    for parameter in P.PARAMETERS:
        if parameter.name in P.SYNCED_BY_HAND:
            continue
        if parameter.choices is not None:
            assert parameter.widget_class == "QComboBox", parameter.name
        elif isinstance(parameter.kind, str):
            assert parameter.widget_class == "qMRMLNodeComboBox", parameter.name
        else:
            assert parameter.widget_class in accepted[parameter.kind], parameter.name


def test_every_widget_the_module_looks_up_exists():
    widgets = ui_widgets()
    expected = {**{p.widget: p.widget_class for p in P.PARAMETERS}, **OTHER_WIDGETS}
    lookups = ui_lookups()
    assert {"applyButton", "ringsLineEdit", "segmentSelector", "demonstrationLabel"} <= lookups  # the parse works
    for name in sorted(lookups):
        assert name in expected, f"RadSurv.py uses ui.{name}: add its class to this test"
        assert name in widgets, f"RadSurv.py uses ui.{name}, which is not in {UI_FILE.name}"
        assert widgets[name][0] == expected[name], (name, widgets[name][0])
    for name, cls in OTHER_WIDGETS.items():
        assert widgets.get(name, (None,))[0] == cls, name


def test_every_score_option_is_reachable_from_the_panel(every_option):
    """Each ScoreOptions field is set by a parameter with a widget (or, gtv_label, by the segment
    selector), and changing the field alone changes what the panel shows."""
    setters = P.option_parameter_names()
    widgets = ui_widgets()
    default = ScoreOptions()
    shown = P.parameters_from_options(default)
    for field in dataclasses.fields(ScoreOptions):
        if field.name in P.CHOSEN_BY_WIDGET:
            assert P.CHOSEN_BY_WIDGET[field.name] in widgets
            continue
        assert setters[field.name], f"ScoreOptions.{field.name} has no control in the module's panel"
        for name in setters[field.name]:
            assert P.BY_NAME[name].widget in widgets
        changed = P.parameters_from_options(default.replace(**{field.name: getattr(every_option, field.name)}))
        differs = {k for k in shown if shown[k] != changed[k]}
        assert differs and differs <= set(setters[field.name]), (field.name, differs)
        assert field.name in FRONT_END_NAMES  # its GUI label for messages


def test_parameters_and_score_options_round_trip(every_option):
    options = every_option.replace(gtv_label=None)  # a scene's GTV is a segment
    values = {**P.defaults(), **P.parameters_from_options(options)}
    assert P.options_from_parameters(values) == options
    # the values are what the parameter node accepts: type, choice, range
    for name, value in values.items():
        parameter = P.BY_NAME[name]
        if isinstance(parameter.kind, str) or value is None:
            continue
        assert isinstance(value, parameter.kind), (name, value)
        if parameter.choices is not None:
            assert value in parameter.choices, (name, value)
        if parameter.value_range is not None:
            assert parameter.value_range[0] <= value <= parameter.value_range[1], (name, value)
    # the defaults are ScoreOptions' defaults, and read back unchanged
    assert P.options_from_parameters(P.defaults()) == ScoreOptions()
    assert P.options_from_parameters({**P.defaults(), **P.parameters_from_options(ScoreOptions())}) == ScoreOptions()


def test_values_set_in_the_panel_become_these_options():
    """Parameters as a user sets them (text, check boxes, choices) -> ScoreOptions, value by value."""
    values = {**P.defaults(), "rings_mm": "2,4", "inner_rim_enabled": True, "inner_rim_mm": 1.5,
              "air_hu_enabled": True, "air_hu": -900.0, "ring_convention": "surface", "device": "cpu",
              "radiomics": "quick", "kernel_radius": 3, "voxel_map_features": " firstorder_Mean, glcm_Contrast ",
              "signature": "lung1-os-99", "radiomics_engine": "pyradiomics", "features_only": True,
              "overwrite": True}
    options = P.options_from_parameters(values)
    assert options == ScoreOptions(rings_mm=((0, 2), (2, 4)), inner_rim_mm=1.5, air_hu=-900.0, ring_convention="surface",
                                   device="cpu", radiomics="quick", kernel_radius=3,
                                   voxel_map_features=("firstorder_Mean", "glcm_Contrast"),
                                   signature=str(signature_path("lung1-os-99")), radiomics_engine="pyradiomics",
                                   features_only=True, overwrite=True)
    # a number whose check box is off is not used; the shipped signature reads back by name
    assert P.options_from_parameters({**values, "inner_rim_enabled": False, "air_hu_enabled": False}).air_hu is None
    assert P.parameters_from_options(options)["signature"] == "lung1-os-99"
    assert "lung1-os-99" in P.BY_NAME["signature"].choices


def test_bad_values_are_named_by_their_gui_label():
    with pytest.raises(OptionError) as caught:
        P.options_from_parameters({**P.defaults(), "rings_mm": "6,3"})
    assert guiMessage(caught.value).startswith("Rings (mm): ")
    with pytest.raises(OptionError) as caught:
        P.options_from_parameters({**P.defaults(), "signature": P.SIGNATURE_FROM_FILE})
    assert guiMessage(caught.value).startswith("Radiomics signature: 'file' is chosen but no signature file")
    with pytest.raises(OptionError) as caught:
        P.options_from_parameters({**P.defaults(), "voxel_map_features": "no_such_map"})
    assert guiMessage(caught.value).startswith("Voxel maps: unknown voxel-map feature(s) no_such_map")


def test_model_summary_shows_provenance_and_demonstration(tmp_path):
    text, demonstration = P.model_summary()
    assert demonstration
    assert text.splitlines()[0] == "demo-seresnet3d 0.1.0-demo (SEResNet3D)"
    assert "Trained on: Synthetic cohort" in text and "held-out C-index 0.714" in text
    from RadSurvLib.errors import BundleError

    with pytest.raises(BundleError):
        P.model_summary(tmp_path)  # an empty folder is no bundle


def test_every_option_field_is_listed_once_in_the_mapping():
    """option_names() and the parameters' ``option`` agree (no parameter sets an unknown field)."""
    assert {p.option for p in P.PARAMETERS if p.option} | set(P.CHOSEN_BY_WIDGET) == set(option_names())
