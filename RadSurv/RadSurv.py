"""RadSurv: 3D Slicer module that predicts overall survival of NSCLC patients from a planning CT and its GTV.

Built as Slicer's scripted-module template builds one: the panel is ``Resources/UI/RadSurv.ui``
(Qt Designer) loaded with ``slicer.util.loadUI``, a ``parameterNodeWrapper`` parameter node
connected to it with ``connectGui`` (each widget names its parameter in the dynamic property
``SlicerParameterName``), and this file only wires them. Everything else is ``RadSurvLib`` (no Qt):

- ``RadSurvLib.control.parameters``: the parameter node's fields (type, default, widget) and their
  mapping onto ``ScoreOptions``, in one place (``PARAMETERS``, ``options_from_parameters``), and
  the model's summary (provenance, demonstration or not) shown in the panel;
- ``RadSurvLib.control.logic``: the logic itself (``ScoringLogic``: worker environment, including
  ``$RADSURV_WORKER_PYTHON``, ``startScoring`` / ``process`` / ``processCohort``), which
  ``RadSurvLogic`` below inherits, so pytest runs it on slicer-core;
- ``RadSurvLib.options``: every scoring option (``ScoreOptions``), the same as ``radsurv score``'s;

- ``RadSurvLib.worker.environment``: RadSurv's own Python environment (torch, MONAI, Numba) under
  the user's Slicer settings folder, created after the user confirms, with a status line and repair;
- ``RadSurvLib.control.task``: exports the CT and the GTV segment to NRRD, runs the pipeline
  (``RadSurvLib.pipeline.score_case``) in a worker process in that environment (JSON lines on
  stdout), and writes the results into the scene only when the worker succeeded;
- ``RadSurvLib.batch``: batch scoring with a results CSV that resumes.

Here: the widget (environment install / repair, Apply / Cancel, progress bar polled by a ``QTimer``),
the parameter node class built from ``PARAMETERS``, and PAT1 as sample data.
"""

import os
import sys

import slicer
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin


def _make_radsurvlib_importable():
    """Put the folder that holds ``RadSurvLib`` on ``sys.path`` if Python cannot import it yet.

    Installed extension: CMake copies ``RadSurvLib/`` next to this file (the scripted-modules
    folder, already on ``sys.path``). Source checkout added with "Additional module paths":
    ``RadSurvLib/`` is a sibling of the ``RadSurv/`` folder, so its parent is added.
    """
    try:
        import RadSurvLib  # noqa: F401
        return
    except ImportError:
        pass
    here = os.path.dirname(os.path.abspath(__file__))
    for folder in (here, os.path.dirname(here)):
        if os.path.isfile(os.path.join(folder, "RadSurvLib", "__init__.py")):
            if folder not in sys.path:
                sys.path.insert(0, folder)
            return


_make_radsurvlib_importable()

from RadSurvLib.control import parameters  # noqa: E402
from RadSurvLib.control.logic import WORKER_PYTHON_VARIABLE, ScoringLogic, guiMessage  # noqa: E402,F401


def _dataFolder(*parts):
    """A file shipped with the extension: next to this file once installed, one folder up in a checkout."""
    here = os.path.dirname(os.path.abspath(__file__))
    for folder in (here, os.path.dirname(here)):
        path = os.path.join(folder, *parts)
        if os.path.exists(path):
            return path
    return os.path.join(here, *parts)


#
# RadSurv
#

class RadSurv(ScriptedLoadableModule):
    """Module description shown by Slicer (title, category, help, acknowledgement)."""

    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = "RadSurv"
        self.parent.categories = ["Radiomics"]
        self.parent.dependencies = ["Segmentations"]
        self.parent.contributors = ["RadSurv developers"]
        self.parent.helpText = (
            "Predicts overall survival of non-small-cell lung cancer (NSCLC) patients from a planning CT "
            "and its gross tumour volume (GTV). Adds to the scene: peritumoral ring segments (3/6/9 mm by "
            "default), voxel radiomics map volumes, a Grad-CAM heatmap overlaid on the CT and tables with "
            "the risk score, risk group and radiomics features.<br><br>"
            "<b>The model bundle shipped with RadSurv is a demonstration model. It is not a clinical model "
            "and must not be used for patient care.</b> Load a model bundle trained and validated on your "
            "own cohort for research.<br><br>"
            "The first Apply asks to create RadSurv's own Python environment (PyTorch, MONAI, Numba) "
            "in the Slicer settings folder; Slicer's Python is left alone. Scoring runs in a separate "
            "process: Cancel stops it and the scene stays as it was.<br><br>"
            "Every scoring option of <code>radsurv score</code> is under Advanced.<br><br>"
            "Python console: <code>RadSurv.RadSurvLogic().process(ctNode, segmentationNode, segmentId)</code>; "
            "a cohort: <code>RadSurv.RadSurvLogic().processCohort('cases.csv', 'out')</code>. "
            "Sample data (PAT1, CC BY-NC 3.0): <code>RadSurv.loadPAT1Sample()</code>, or the Sample Data module "
            "(category RadSurv) once opted in with the setting RadSurv/RegisterPAT1SampleData = true."
        )
        self.parent.acknowledgementText = (
            "RadSurv follows the peritumoral radiomics and deep-learning survival approach of Liu et al. "
            "2025 (PyRadiomics features of the GTV and 3/6/9 mm rings). Radiomics features: van Griethuysen "
            "et al., Computational Radiomics System to Decode the Radiographic Phenotype, Cancer Research "
            "2017 (PyRadiomics). Networks and Grad-CAM: MONAI (Cardoso et al. 2022); Grad-CAM: Selvaraju "
            "et al., ICCV 2017. Sample data: the IBSI-1 CT radiomics phantom, a lung-cancer CT with its GTV "
            "(Lambin P., Radiomics Digital Phantom, CancerData 2016, DOI 10.17195/candat.2016.08.1; NIfTI "
            "conversion by A. Zwanenburg for the IBSI, Zwanenburg et al., Radiology 2020; CC BY-NC 3.0). "
            "RadSurv is licensed under Apache-2.0."
        )
        # Sample data is registered once the application (and the SampleData module) is up.
        slicer.app.connect("startupCompleted()", registerSampleData)


#
# Sample data
#

PAT1_SAMPLE = {
    "ct": ("RadSurvLib", "resources", "PAT1", "image.nii.gz"),
    "gtv": ("RadSurvLib", "resources", "PAT1", "mask.nii.gz"),
    "checksums": ("SHA256:909129fdf99d5f5fd17bc568b1834d31edce8663ea6746c6020720bfc1d7bbcb",
                  "SHA256:0e9243e473b1255c60e6460df465d0b07b65436d6e0c691fe3d17bca0594ae78"),
}


def loadPAT1Sample(source=None):
    """Load PAT1 (IBSI-1 CT phantom: a lung-cancer CT and its GTV) from the extension's own files.

    Returns:
        (CT volume node "RadSurvPAT1 CT", segmentation node "RadSurvPAT1 GTV" with one segment "GTV").
    """
    ct = slicer.util.loadVolume(_dataFolder(*PAT1_SAMPLE["ct"]), {"name": "RadSurvPAT1 CT"})
    segmentation = slicer.util.loadSegmentation(_dataFolder(*PAT1_SAMPLE["gtv"]), {"name": "RadSurvPAT1 GTV"})
    segmentation.SetReferenceImageGeometryParameterFromVolumeNode(ct)
    segments = segmentation.GetSegmentation()
    if segments.GetNumberOfSegments() == 1:
        segments.GetNthSegment(0).SetName("GTV")
    return ct, segmentation


#: Application setting that opts in to PAT1 in the Sample Data module (PAT1 is CC BY-NC 3.0:
#: non-commercial use only): ``slicer.app.settings().setValue(SAMPLE_DATA_SETTING, True)``.
SAMPLE_DATA_SETTING = "RadSurv/RegisterPAT1SampleData"


def registerSampleData():
    """Register PAT1 with the SampleData module (category "RadSurv"), only when the user opted in
    (``SAMPLE_DATA_SETTING``); ``loadPAT1Sample()`` loads it either way.

    The files ship with the extension (``RadSurvLib/resources/PAT1``, installed next to the module, 3.9 MB;
    CC BY-NC 3.0, see its README), so no download is needed: a custom downloader loads them. The
    ``file://`` URIs (``Path.as_uri()``: ``file:///C:/...`` on Windows) and checksums describe the
    same files for SampleData's listing.
    """
    from pathlib import Path

    if str(slicer.app.settings().value(SAMPLE_DATA_SETTING, False)).lower() not in ("true", "1"):
        return
    try:
        import SampleData
    except ImportError:
        return
    files = [_dataFolder(*PAT1_SAMPLE["ct"]), _dataFolder(*PAT1_SAMPLE["gtv"])]
    SampleData.SampleDataLogic.registerCustomSampleDataSource(
        category="RadSurv",
        sampleName="RadSurvPAT1",
        uris=[Path(path).resolve().as_uri() for path in files],
        fileNames=["RadSurvPAT1-CT.nii.gz", "RadSurvPAT1-GTV.seg.nii.gz"],
        nodeNames=["RadSurvPAT1 CT", "RadSurvPAT1 GTV"],
        checksums=list(PAT1_SAMPLE["checksums"]),
        loadFileType=["VolumeFile", "SegmentationFile"],
        thumbnailFileName=_dataFolder("Resources", "Icons", "RadSurv.png"),
        customDownloader=loadPAT1Sample,
    )


#
# Parameter node
#

def _makeParameterNodeClass():
    """The ``parameterNodeWrapper`` class of ``RadSurvLib.control.parameters.PARAMETERS`` (one field
    each: type, default, ``Choice`` / ``WithinRange``); imported late (Slicer >= 5.2)."""
    from typing import Annotated

    from slicer.parameterNodeWrapper import Choice, WithinRange, parameterNodeWrapper

    annotations, defaults = {}, {}
    for parameter in parameters.PARAMETERS:
        kind = getattr(slicer, parameter.kind) if isinstance(parameter.kind, str) else parameter.kind
        if parameter.choices is not None:
            kind = Annotated[kind, Choice(list(parameter.choices))]
        elif parameter.value_range is not None:
            kind = Annotated[kind, WithinRange(*parameter.value_range)]
        annotations[parameter.name] = kind
        if parameter.default is not None:
            defaults[parameter.name] = parameter.default
    namespace = {"__annotations__": annotations, "__doc__": "The module's settings, saved with the scene "
                 "(RadSurvLib.control.parameters.PARAMETERS).", **defaults}
    return parameterNodeWrapper(type("RadSurvParameterNode", (), namespace))


_PARAMETER_NODE_CLASS = None


def RadSurvParameterNode(parameterNode):
    """Wrap a ``vtkMRMLScriptedModuleNode`` in the module's parameter node wrapper class."""
    global _PARAMETER_NODE_CLASS
    if _PARAMETER_NODE_CLASS is None:
        _PARAMETER_NODE_CLASS = _makeParameterNodeClass()
    return _PARAMETER_NODE_CLASS(parameterNode)


#
# RadSurvWidget
#

class RadSurvWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """Module panel (``Resources/UI/RadSurv.ui``): environment, inputs, model, Advanced, outputs,
    Apply / Cancel with progress."""

    def __init__(self, parent=None):
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None
        self._task = None
        self._envThread = None
        self._envProgress = ("", 0.0)
        self._envResult = None
        self._scoreAfterEnvironment = False
        self._shownBundle = None

    def setup(self):
        """Load the .ui, connect the buttons and the parameter node (called once by Slicer)."""
        import ctk
        import qt

        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/RadSurv.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = RadSurvLogic()

        self.ui.bundlePathLineEdit.filters = ctk.ctkPathLineEdit.Dirs
        self.ui.outputDirectoryPathLineEdit.filters = ctk.ctkPathLineEdit.Dirs | ctk.ctkPathLineEdit.Writable
        self.ui.scenePathLineEdit.filters = ctk.ctkPathLineEdit.Files | ctk.ctkPathLineEdit.Writable
        self.ui.progressBar.visible = False
        self.timer = qt.QTimer()
        self.timer.setInterval(100)
        self.timer.connect("timeout()", self.onTimer)

        self.ui.applyButton.connect("clicked(bool)", self.onApplyButton)
        self.ui.environmentButton.connect("clicked(bool)", self.onEnvironmentButton)
        self.ui.segmentSelector.connect("currentNodeChanged(vtkMRMLNode*)", self.onSegmentSelectionChanged)
        self.ui.segmentSelector.connect("currentSegmentChanged(QString)", self.onSegmentSelectionChanged)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        self.initializeParameterNode()
        self.updateEnvironmentLabel()

    # -- parameter node ---------------------------------------------------------------------------
    def initializeParameterNode(self):
        """Use the scene's parameter node, with a CT chosen when there is one."""
        self.setParameterNode(self.logic.getParameterNode())
        if not self._parameterNode.ctVolume:
            self._parameterNode.ctVolume = slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLScalarVolumeNode")

    def setParameterNode(self, inputParameterNode):
        """Connect the .ui to a (wrapped) parameter node (``connectGui``); the segment selector by hand."""
        import vtk

        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self.updateGUIFromParameterNode)
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            combo = self.ui.radiomicsComboBox  # the connector lists the setting names; show what they are
            for index, setting in enumerate(parameters.BY_NAME["radiomics"].choices):
                combo.setItemText(index, parameters.RADIOMICS_LABELS.get(setting, setting))
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self.updateGUIFromParameterNode)
            self.updateGUIFromParameterNode()

    def updateGUIFromParameterNode(self, caller=None, event=None):
        """What ``connectGui`` does not: the segment selector, which fields apply, the model's
        summary and the Apply button."""
        node = self._parameterNode
        if node is None:
            return
        wasBlocked = self.ui.segmentSelector.blockSignals(True)
        self.ui.segmentSelector.setCurrentNode(node.segmentation)
        if node.segmentId:
            self.ui.segmentSelector.setCurrentSegmentID(node.segmentId)
        self.ui.segmentSelector.blockSignals(wasBlocked)
        self.ui.innerRimSpinBox.enabled = node.inner_rim_enabled
        self.ui.airHUSpinBox.enabled = node.air_hu_enabled
        self.ui.signaturePathLineEdit.enabled = node.signature == parameters.SIGNATURE_FROM_FILE
        fromDicom = bool(node.ctVolume and node.ctVolume.GetAttribute("DICOM.instanceUIDs"))
        self.ui.dicomOutCheckBox.enabled = fromDicom or node.dicom_out  # a checked box can always be cleared
        for name in ("outputVoxelMapsCheckBox", "outputHeatmapCheckBox"):
            getattr(self.ui, name).enabled = not node.features_only
        self.updateModelSummary()
        self.updateApplyButton()

    def updateModelSummary(self):
        """Model bundle's name, provenance and the demonstration warning (read again when the bundle changes)."""
        bundle = str(self._parameterNode.bundle)
        if bundle == self._shownBundle:
            return
        self._shownBundle = bundle
        try:
            text, demonstration = parameters.model_summary(self._parameterNode.bundle)
        except Exception as exc:  # noqa: BLE001  (a bad bundle is shown here; Apply reports it too)
            text, demonstration = f"Not a usable model bundle: {guiMessage(exc)}", False
        self.ui.modelProvenanceLabel.text = text
        self.ui.demonstrationLabel.visible = demonstration

    def onSegmentSelectionChanged(self, *_):
        """Segment selector -> parameter node (segmentation and segment ID)."""
        if self._parameterNode is None:
            return
        segmentation, segmentId = self.ui.segmentSelector.currentNode(), self.ui.segmentSelector.currentSegmentID() or ""
        with slicer.util.NodeModify(self._parameterNode):  # one Modified event, with both values set
            self._parameterNode.segmentation = segmentation
            self._parameterNode.segmentId = segmentId

    def updateApplyButton(self):
        """Apply (enabled when CT, segmentation and segment are set) or Cancel while running."""
        if self._task is not None:
            self.ui.applyButton.text, self.ui.applyButton.enabled = "Cancel", True
            return
        node = self._parameterNode
        ready = bool(node and node.ctVolume and node.segmentation and node.segmentId)
        self.ui.applyButton.text = "Apply"
        self.ui.applyButton.enabled = ready and self._envThread is None

    def onSceneStartClose(self, caller, event):
        """Scene closing: cancel a running job, drop the parameter node."""
        self.cancelRunning()
        self.setParameterNode(None)

    def onSceneEndClose(self, caller, event):
        """Scene closed: a new parameter node when the module is shown."""
        if self.parent.isEntered:
            self.initializeParameterNode()

    def enter(self):
        """Module shown: parameter node and environment status."""
        self.initializeParameterNode()
        self.updateEnvironmentLabel()

    def exit(self):
        """Module hidden: disconnect the GUI from the parameter node."""
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None

    def cleanup(self):
        """Module closed: cancel a running job, remove observers."""
        self.cancelRunning()
        self.removeObservers()

    # -- environment ---------------------------------------------------------------------------------
    def updateEnvironmentLabel(self):
        """Status line of the environment (file check only, instant) and the Install / Repair button."""
        status = self.logic.environmentStatus()
        self.ui.environmentLabel.text = status.line()
        self.ui.environmentLabel.toolTip = ("PythonSlicer -m RadSurvLib environment status|repair"
                                            + (f" --location {status.location}" if getattr(status, "location", None) else ""))
        self.ui.environmentButton.text = "Install" if status.state == "needs install" else "Repair"
        self.ui.environmentButton.enabled = self._envThread is None and self._task is None
        self.ui.environmentCollapsibleButton.collapsed = bool(status.ready)  # open while something is to do

    def confirmEnvironment(self):
        """Ask before creating the environment (minutes, several GB with a CUDA build of torch)."""
        env = self.logic.environment()
        return slicer.util.confirmOkCancelDisplay(
            "RadSurv runs in its own Python environment (PyTorch, MONAI, Numba), kept apart from "
            f"Slicer's Python, in:\n\n{env.location}\n\nCreate it now? It takes several minutes and about 1 GB "
            "(several GB when a CUDA build of PyTorch is chosen for your GPU); an internet connection is needed.",
            windowTitle="RadSurv: install the Python environment")

    def onEnvironmentButton(self):
        """Install / Repair: confirm, then (re-)create the environment."""
        if self.confirmEnvironment():
            self.startEnvironmentCreation(repair=True)

    def startEnvironmentCreation(self, repair=False):
        """Create (or repair) the environment in a Python thread; the QTimer shows its progress."""
        import threading

        env = self.logic.environment()

        def work():
            """Thread body: create or repair, keep the result or the exception."""
            try:
                method = env.repair if repair else env.create
                self._envResult = method(progress=lambda message, fraction: setattr(self, "_envProgress",
                                                                                     (message, fraction)))
            except Exception as exc:  # noqa: BLE001  (shown in the GUI)
                self._envResult = exc

        self._envResult = None
        self._envThread = threading.Thread(target=work, daemon=True)
        self._envThread.start()
        self.ui.progressBar.visible = True
        self.ui.environmentButton.enabled = False
        self.timer.start()
        self.updateApplyButton()

    def _pollEnvironmentCreation(self):
        message, fraction = self._envProgress
        self.ui.progressBar.value = int(100 * fraction)
        self.ui.progressBar.format = f"environment: {message} %p%"
        if self._envThread.is_alive():
            return
        self._envThread = None
        self.ui.progressBar.visible = False
        result = self._envResult
        if isinstance(result, Exception):
            self._scoreAfterEnvironment = False
            slicer.util.errorDisplay(f"Could not create RadSurv's Python environment:\n{result}",
                                     windowTitle="RadSurv")
        self.updateEnvironmentLabel()
        self.updateApplyButton()
        if self._scoreAfterEnvironment and not isinstance(result, Exception):
            self._scoreAfterEnvironment = False
            self.startScoring()

    # -- run ---------------------------------------------------------------------------------------
    def onApplyButton(self):
        """Apply starts scoring (after creating the environment when needed); while running: Cancel."""
        if self._task is not None:
            self.cancelRunning()
            self.ui.statusLabel.text = "Cancelled: the scene is as it was."
            return
        status = self.logic.environmentStatus()
        if not status.ready:
            if not self.confirmEnvironment():
                self.ui.statusLabel.text = status.line()
                return
            self._scoreAfterEnvironment = True
            self.startEnvironmentCreation(repair=status.state != "needs install" or
                                          self.logic.environment().location.exists())
            return
        self.startScoring()

    def startScoring(self):
        """Start the worker for the parameter node's inputs and options; the QTimer follows it."""
        from RadSurvLib.errors import RadSurvError

        node = self._parameterNode
        self.ui.statusLabel.text = ""
        with slicer.util.tryWithErrorDisplay("RadSurv could not start.", waitCursor=True):
            try:
                task = self.logic.startScoring(
                    node.ctVolume, node.segmentation, node.segmentId, options=self.logic.options(node),
                    outputDir=parameters.path_or_none(node.outputDirectory),
                    outputs=parameters.outputs_from_parameters(node), ifExists=node.ifResultsExist)
            except RadSurvError as exc:
                self.ui.statusLabel.text = guiMessage(exc)
                raise RadSurvError(guiMessage(exc)) from None
            if task.state == "skipped":
                self.ui.statusLabel.text = ("This CT and GTV were already scored with these options; the earlier "
                                            "results are kept. Choose 'add' or 'replace' under 'If results exist' "
                                            "to run again.")
                return
            self._task = task
            self.ui.progressBar.value = 0
            self.ui.progressBar.visible = True
            self.timer.start()
        self.updateApplyButton()
        self.updateEnvironmentLabel()

    def onTimer(self):
        """Every 100 ms: environment creation progress, or the worker's progress and outcome."""
        if self._envThread is not None:
            self._pollEnvironmentCreation()
            return
        task = self._task
        if task is None:
            self.timer.stop()
            return
        try:
            state = task.poll()
        except Exception as exc:  # noqa: BLE001  (the GUI goes on)
            self._finishTask()
            slicer.util.errorDisplay(f"RadSurv failed: {exc}", windowTitle="RadSurv")
            return
        self.ui.progressBar.value = int(100 * task.fraction)
        self.ui.progressBar.format = f"{task.stage}: %p%"
        self.ui.statusLabel.text = task.message
        if state == "running":
            return
        self._finishTask()
        if state == "succeeded":
            result = task.result
            model = result.get("model") or {}
            note = " (DEMONSTRATION model, not for clinical use)" if model.get("demonstration", True) else ""
            warned = result.get("warnings") or []  # e.g. a GTV of several parts: rows of the results table
            notice = f" {len(warned)} warning(s), see the results table." if warned else ""
            risk = result.get("risk_score")
            riskText = "ROI features only" if risk is None else f"Risk score {risk:.3f}, risk group {result.get('risk_group')}"
            self.ui.statusLabel.text = f"{riskText}{note}.{notice} Outputs: {result.get('out_dir', '')}"
        elif state == "failed":
            error = task.error
            self.ui.statusLabel.text = f"Failed: {error}"
            slicer.util.errorDisplay(f"RadSurv failed: {error}", windowTitle="RadSurv",
                                     detailedText=getattr(error, "log", "") or None)

    def _finishTask(self):
        self._task = None
        self.timer.stop()
        self.ui.progressBar.visible = False
        self.updateApplyButton()
        self.updateEnvironmentLabel()

    def cancelRunning(self):
        """Cancel: kill the worker's process tree; the scene is left as it was."""
        if self._task is not None:
            self._task.cancel()
            self._finishTask()


#
# RadSurvLogic
#

class RadSurvLogic(ScriptedLoadableModuleLogic, ScoringLogic):
    """Scores cases from scene nodes or files; no Qt, so it runs from the Python console, in
    ``Slicer --no-main-window --python-script`` and in tests.

    All of ``RadSurvLib.control.logic.ScoringLogic`` (``environmentStatus``, ``createEnvironment``,
    ``startScoring``, ``process``, ``processCohort``, ...; every scoring option is a
    ``RadSurvLib.options.ScoreOptions`` field), for example:
    ``RadSurvLogic().process(ct, segmentation, segmentId, rings_mm="0-3", device="cpu")``; plus the
    module's parameter node.
    """

    def __init__(self):
        ScriptedLoadableModuleLogic.__init__(self)  # its super().__init__() is ScoringLogic's (the MRO)
        ScoringLogic.__init__(self)  # again, for a Slicer whose ScriptedLoadableModuleLogic does not call it

    def getParameterNode(self):
        """The module's parameter node, wrapped (``RadSurvParameterNode``)."""
        return RadSurvParameterNode(super().getParameterNode())

    @staticmethod
    def options(parameterNode):
        """The ``ScoreOptions`` of a (wrapped) parameter node (``control.parameters.options_from_parameters``).

        Raises:
            OptionError: an invalid value (``guiMessage`` names it by its GUI label).
        """
        return parameters.options_from_parameters(parameterNode)


#
# RadSurvTest
#

class RadSurvTest(ScriptedLoadableModuleTest):
    """Self-test in Slicer: PAT1 sample data scored through the worker (needs the environment)."""

    def setUp(self):
        """Start from an empty scene."""
        slicer.mrmlScene.Clear()

    def runTest(self):
        """Run all tests of the module."""
        self.setUp()
        self.test_parameterNode()
        self.setUp()
        self.test_panelSetsEveryOption()
        self.setUp()
        self.test_processPAT1()

    def test_parameterNode(self):
        """The parameter node wrapper keeps the settings, and they become the ScoreOptions."""
        node = RadSurvLogic().getParameterNode()
        node.rings_mm = "5,10"
        node.device = "cpu"
        again = RadSurvLogic().getParameterNode()
        self.assertEqual((again.rings_mm, again.device), ("5,10", "cpu"))
        options = RadSurvLogic.options(again)
        self.assertEqual((options.rings_mm, options.device), (((0.0, 5.0), (5.0, 10.0)), "cpu"))

    def test_panelSetsEveryOption(self):
        """The .ui loads, every parameter has its widget, and values typed into the widgets reach
        ScoreOptions (through connectGui, as in the module)."""
        import qt

        uiWidget = slicer.util.loadUI(_dataFolder("Resources", "UI", "RadSurv.ui"))
        ui = slicer.util.childWidgetVariables(uiWidget)
        node = RadSurvLogic().getParameterNode()
        tag = node.connectGui(ui)
        try:
            for parameter in parameters.PARAMETERS:
                widget = getattr(ui, parameter.widget)
                self.assertEqual(widget.className(), parameter.widget_class, parameter.name)
            ui.ringsLineEdit.text = "3-6,6-9"
            ui.innerRimCheckBox.checked = True
            ui.innerRimSpinBox.value = 2.5
            ui.airHUCheckBox.checked = True
            ui.airHUSpinBox.value = -900
            ui.kernelRadiusSpinBox.value = 2
            ui.voxelMapsLineEdit.text = "firstorder_Mean"
            ui.ringConventionComboBox.currentIndex = parameters.BY_NAME["ring_convention"].choices.index("surface")
            ui.radiomicsEngineComboBox.currentIndex = parameters.BY_NAME["radiomics_engine"].choices.index("pyradiomics")
            ui.signatureComboBox.currentIndex = parameters.BY_NAME["signature"].choices.index("lung1-os-99")
            ui.featuresOnlyCheckBox.checked = True
            ui.overwriteCheckBox.checked = True
            qt.QApplication.processEvents()
            options = RadSurvLogic.options(node)
            self.assertEqual(options.rings_mm, ((3.0, 6.0), (6.0, 9.0)))
            self.assertEqual((options.inner_rim_mm, options.air_hu, options.kernel_radius), (2.5, -900.0, 2))
            self.assertEqual(options.voxel_map_features, ("firstorder_Mean",))
            self.assertEqual((options.ring_convention, options.radiomics_engine), ("surface", "pyradiomics"))
            self.assertTrue(options.signature.endswith("lung1-os-99"))
            self.assertTrue(options.features_only and options.overwrite)
        finally:
            node.disconnectGui(tag)

    def test_processPAT1(self):
        """PAT1 from SampleData, quick radiomics setting, scored on the CPU; a second run is skipped."""
        logic = RadSurvLogic()
        if not logic.environmentStatus().ready:
            self.delayDisplay("RadSurv environment not installed: skipping the scoring test")
            return
        self.delayDisplay("Scoring PAT1")
        ct, segmentation = loadPAT1Sample()
        segmentId = segmentation.GetSegmentation().GetNthSegmentID(0)
        result = logic.process(ct, segmentation, segmentId, device="cpu", rings_mm="0-3", radiomics="quick")
        self.assertTrue(-1.0 < result["risk_score"] < 1.0)
        names = [segmentation.GetSegmentation().GetNthSegment(i).GetName()
                 for i in range(segmentation.GetSegmentation().GetNumberOfSegments())]
        self.assertEqual(names, ["GTV", "GTV ring 0-3 mm"])
        again = logic.process(ct, segmentation, segmentId, device="cpu", rings_mm="0-3", radiomics="quick")
        self.assertTrue(again["skipped"])
        self.delayDisplay("Test passed")
