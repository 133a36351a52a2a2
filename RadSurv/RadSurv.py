"""RadSurv: 3D Slicer module that predicts overall survival of NSCLC patients from a planning CT and its GTV.

The module is a thin front end over ``RadSurvLib`` (no Qt there):

- ``RadSurvLib.control.logic``: the logic itself (``ScoringLogic``: worker environment, including
  ``$RADSURV_WORKER_PYTHON``, ``startScoring`` / ``process`` / ``processCohort``), which
  ``RadSurvLogic`` below delegates to, so pytest runs it on slicer-core;
- ``RadSurvLib.options``: every scoring option (``ScoreOptions``), the same as ``radsurv score``'s;

- ``RadSurvLib.worker.environment``: RadSurv's own Python environment (torch, MONAI, Numba) under
  the user's Slicer settings folder, created after the user confirms, with a status line and repair;
- ``RadSurvLib.control.task``: exports the CT and the GTV segment to NRRD, runs the pipeline
  (``RadSurvLib.pipeline.score_case``) in a worker process in that environment (JSON lines on
  stdout), and writes the results into the scene only when the worker succeeded;
- ``RadSurvLib.batch``: batch scoring with a results CSV that resumes.

Here: the GUI (parameter node wrapper, Apply / Cancel, progress bar polled by a ``QTimer``), the
logic methods for the Python console (``process``, ``processCohort``) and PAT1 as sample data.
"""

import os
import sys
from typing import Annotated

import slicer
from slicer import vtkMRMLScalarVolumeNode, vtkMRMLSegmentationNode
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

from RadSurvLib.options import DEVICES  # noqa: E402
from RadSurvLib.rings import DEFAULT_RINGS_MM  # noqa: E402
from RadSurvLib.control.logic import RADIOMICS_SETTING_LABELS, WORKER_PYTHON_VARIABLE, ScoringLogic  # noqa: E402,F401
from RadSurvLib.control.task import IF_EXISTS_CHOICES as IF_EXISTS  # noqa: E402

#: The rings field's default text (outer distances in mm, comma-separated), from RadSurvLib.options.
DEFAULT_RINGS_TEXT = ",".join(f"{d:g}" for d in DEFAULT_RINGS_MM)


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

def _parameterNodeWrapperTools():
    """``parameterNodeWrapper`` and ``Choice`` (Slicer >= 5.2); imported late so the module file
    also loads where they are missing (the logic does not need them)."""
    from slicer.parameterNodeWrapper import Choice, parameterNodeWrapper

    return parameterNodeWrapper, Choice


def _makeParameterNodeClass():
    parameterNodeWrapper, Choice = _parameterNodeWrapperTools()

    @parameterNodeWrapper
    class RadSurvParameterNode:
        """The module's settings, saved with the scene.

        ctVolume: planning CT (HU). segmentation / segmentId: the GTV. rings: outer ring distances
        in mm ("5,10") or bands ("3-6,6-9"). modelBundle: bundle folder, empty = demonstration
        bundle. device: auto / cpu / cuda (GPU). radiomicsSetting: a key of RADIOMICS_SETTING_LABELS.
        output*: which results go into the scene. outputDirectory: empty = temporary folder.
        ifResultsExist: skip / add / replace (a second run on the same inputs).
        """

        ctVolume: vtkMRMLScalarVolumeNode
        segmentation: vtkMRMLSegmentationNode
        segmentId: str = ""
        rings: str = DEFAULT_RINGS_TEXT
        modelBundle: str = ""
        device: Annotated[str, Choice(list(DEVICES))] = "auto"
        radiomicsSetting: Annotated[str, Choice(list(RADIOMICS_SETTING_LABELS))] = next(iter(RADIOMICS_SETTING_LABELS))
        outputRings: bool = True
        outputVoxelMaps: bool = True
        outputHeatmap: bool = True
        outputTables: bool = True
        outputDirectory: str = ""
        ifResultsExist: Annotated[str, Choice(list(IF_EXISTS))] = "skip"

    return RadSurvParameterNode


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
    """Module panel: environment status, inputs, options, outputs, Apply / Cancel with progress."""

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

    def setup(self):
        """Build the widgets and connect them (called once by Slicer)."""
        import ctk
        import qt

        ScriptedLoadableModuleWidget.setup(self)
        self.logic = RadSurvLogic()

        # -- environment ------------------------------------------------------------------------
        envBox = ctk.ctkCollapsibleButton()
        envBox.text = "Python environment"
        self.layout.addWidget(envBox)
        envForm = qt.QFormLayout(envBox)
        self.environmentLabel = qt.QLabel("")
        self.environmentLabel.wordWrap = True
        self.environmentButton = qt.QPushButton("Install / repair")
        self.environmentButton.toolTip = ("Create RadSurv's Python environment (PyTorch, MONAI, Numba) in the "
                                          "Slicer settings folder, or delete and create it again when it is broken.")
        envForm.addRow(self.environmentLabel)
        envForm.addRow(self.environmentButton)

        # -- inputs -------------------------------------------------------------------------------
        inputs = ctk.ctkCollapsibleButton()
        inputs.text = "Inputs"
        self.layout.addWidget(inputs)
        form = qt.QFormLayout(inputs)
        self.volumeSelector = slicer.qMRMLNodeComboBox()
        self.volumeSelector.nodeTypes = ["vtkMRMLScalarVolumeNode"]
        self.volumeSelector.addEnabled = self.volumeSelector.removeEnabled = False
        self.volumeSelector.noneEnabled = True
        self.volumeSelector.setMRMLScene(slicer.mrmlScene)
        self.volumeSelector.setToolTip("Planning CT (HU).")
        form.addRow("CT volume:", self.volumeSelector)
        self.segmentSelector = slicer.qMRMLSegmentSelectorWidget()
        self.segmentSelector.setMRMLScene(slicer.mrmlScene)
        self.segmentSelector.setToolTip("Segmentation and its GTV segment.")
        form.addRow("GTV segment:", self.segmentSelector)

        # -- model and options ---------------------------------------------------------------------
        options = ctk.ctkCollapsibleButton()
        options.text = "Model and options"
        self.layout.addWidget(options)
        optionsForm = qt.QFormLayout(options)
        self.bundleEdit = qt.QLineEdit()
        self.bundleEdit.placeholderText = "demonstration bundle (not a clinical model)"
        self.bundleEdit.setToolTip("Model bundle folder (bundle.json + model.safetensors); empty: the shipped "
                                   "demonstration bundle.")
        bundleBrowse = qt.QPushButton("...")
        bundleBrowse.connect("clicked(bool)", self.onBrowseBundle)
        bundleRow = qt.QHBoxLayout()
        bundleRow.addWidget(self.bundleEdit)
        bundleRow.addWidget(bundleBrowse)
        optionsForm.addRow("Model bundle:", bundleRow)
        self.ringsEdit = qt.QLineEdit()
        self.ringsEdit.setToolTip(f"Outer ring distances from the GTV surface in mm ({DEFAULT_RINGS_TEXT}) or bands "
                                  "(3-6,6-9).")
        optionsForm.addRow("Rings (mm):", self.ringsEdit)
        self.deviceCombo = qt.QComboBox()
        self.deviceCombo.setToolTip("auto: the GPU (CUDA) when RadSurv's environment has a CUDA build of PyTorch "
                                    "and a GPU, else the CPU. cuda: GPU only.")
        optionsForm.addRow("Device:", self.deviceCombo)
        self.radiomicsCombo = qt.QComboBox()
        self.radiomicsCombo.setToolTip("PyRadiomics setting: the full Liu et al. 2025 setting (1316 features per ROI) "
                                       "or the original image only (107 features, several times faster).")
        optionsForm.addRow("Radiomics:", self.radiomicsCombo)

        # -- outputs --------------------------------------------------------------------------------
        outputs = ctk.ctkCollapsibleButton()
        outputs.text = "Outputs"
        self.layout.addWidget(outputs)
        outputsForm = qt.QFormLayout(outputs)
        self.ringsCheck = qt.QCheckBox("ring segments")
        self.mapsCheck = qt.QCheckBox("voxel radiomics maps")
        self.heatmapCheck = qt.QCheckBox("heatmap (HiResCAM / Grad-CAM)")
        self.tablesCheck = qt.QCheckBox("scores and features tables")
        for check in (self.ringsCheck, self.mapsCheck, self.heatmapCheck, self.tablesCheck):
            outputsForm.addRow(check)
        self.outputDirEdit = qt.QLineEdit()
        self.outputDirEdit.placeholderText = "a new temporary folder"
        self.outputDirEdit.setToolTip("Folder for result.json, features.csv and the NRRD outputs; an earlier run "
                                      "there is never overwritten.")
        outputsForm.addRow("Output folder:", self.outputDirEdit)
        self.ifExistsCombo = qt.QComboBox()
        self.ifExistsCombo.setToolTip("When this CT and GTV were already scored with these options: skip (keep the "
                                      "earlier results), add (a second set, names ending in (2)), replace.")
        outputsForm.addRow("If results exist:", self.ifExistsCombo)

        # -- run ---------------------------------------------------------------------------------------
        self.applyButton = qt.QPushButton("Apply")
        self.applyButton.toolTip = "Score the case and add the results to the scene."
        self.layout.addWidget(self.applyButton)
        self.progressBar = qt.QProgressBar()
        self.progressBar.setRange(0, 100)
        self.progressBar.visible = False
        self.layout.addWidget(self.progressBar)
        self.statusLabel = qt.QLabel("")
        self.statusLabel.wordWrap = True
        self.layout.addWidget(self.statusLabel)
        self.layout.addStretch(1)

        self.timer = qt.QTimer()
        self.timer.setInterval(100)
        self.timer.connect("timeout()", self.onTimer)

        self.applyButton.connect("clicked(bool)", self.onApplyButton)
        self.environmentButton.connect("clicked(bool)", self.onEnvironmentButton)
        self.segmentSelector.connect("currentNodeChanged(vtkMRMLNode*)", self.onSegmentSelectionChanged)
        self.segmentSelector.connect("currentSegmentChanged(QString)", self.onSegmentSelectionChanged)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        self.initializeParameterNode()
        self.updateEnvironmentLabel()

    # -- parameter node ---------------------------------------------------------------------------
    def _guiMapping(self):
        return {"ctVolume": self.volumeSelector, "rings": self.ringsEdit, "modelBundle": self.bundleEdit,
                "device": self.deviceCombo, "radiomicsSetting": self.radiomicsCombo,
                "outputRings": self.ringsCheck, "outputVoxelMaps": self.mapsCheck,
                "outputHeatmap": self.heatmapCheck, "outputTables": self.tablesCheck,
                "outputDirectory": self.outputDirEdit, "ifResultsExist": self.ifExistsCombo}

    def initializeParameterNode(self):
        """Use the scene's parameter node, with a CT and segmentation chosen when there is one."""
        self.setParameterNode(self.logic.getParameterNode())
        if not self._parameterNode.ctVolume:
            self._parameterNode.ctVolume = slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLScalarVolumeNode")

    def setParameterNode(self, inputParameterNode):
        """Connect the GUI to a (wrapped) parameter node; the segment selector is synced by hand."""
        import vtk

        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self.updateGUIFromParameterNode)
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            self._parameterNodeGuiTag = self._parameterNode.connectParametersToGui(self._guiMapping())
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self.updateGUIFromParameterNode)
            self.updateGUIFromParameterNode()

    def updateGUIFromParameterNode(self, caller=None, event=None):
        """Segment selector from the parameter node; Apply enabled when inputs are complete."""
        node = self._parameterNode
        if node is None:
            return
        wasBlocked = self.segmentSelector.blockSignals(True)
        self.segmentSelector.setCurrentNode(node.segmentation)
        if node.segmentId:
            self.segmentSelector.setCurrentSegmentID(node.segmentId)
        self.segmentSelector.blockSignals(wasBlocked)
        self.updateApplyButton()

    def onSegmentSelectionChanged(self, *_):
        """Segment selector -> parameter node (segmentation and segment ID)."""
        if self._parameterNode is None:
            return
        segmentation, segmentId = self.segmentSelector.currentNode(), self.segmentSelector.currentSegmentID() or ""
        with slicer.util.NodeModify(self._parameterNode):  # one Modified event, with both values set
            self._parameterNode.segmentation = segmentation
            self._parameterNode.segmentId = segmentId

    def updateApplyButton(self):
        """Apply (enabled when CT, segmentation and segment are set) or Cancel while running."""
        if self._task is not None:
            self.applyButton.text, self.applyButton.enabled = "Cancel", True
            return
        node = self._parameterNode
        ready = bool(node and node.ctVolume and node.segmentation and node.segmentId)
        self.applyButton.text = "Apply"
        self.applyButton.enabled = ready and self._envThread is None

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

    def onBrowseBundle(self):
        """Pick a model bundle folder."""
        import qt

        folder = qt.QFileDialog.getExistingDirectory(None, "Model bundle folder", self.bundleEdit.text)
        if folder:
            self._parameterNode.modelBundle = folder

    # -- environment ---------------------------------------------------------------------------------
    def updateEnvironmentLabel(self):
        """Status line of the environment (file check only, instant) and the Install / Repair button."""
        status = self.logic.environmentStatus()
        self.environmentLabel.text = status.line()
        self.environmentLabel.toolTip = ("PythonSlicer -m RadSurvLib environment status|repair"
                                         + (f" --location {status.location}" if getattr(status, "location", None) else ""))
        self.environmentButton.text = "Install" if status.state == "needs install" else "Repair"
        self.environmentButton.enabled = self._envThread is None and self._task is None

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
        self.progressBar.visible = True
        self.environmentButton.enabled = False
        self.timer.start()
        self.updateApplyButton()

    def _pollEnvironmentCreation(self):
        message, fraction = self._envProgress
        self.progressBar.value = int(100 * fraction)
        self.progressBar.format = f"environment: {message} %p%"
        if self._envThread.is_alive():
            return
        self._envThread = None
        self.progressBar.visible = False
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
            self.statusLabel.text = "Cancelled: the scene is as it was."
            return
        status = self.logic.environmentStatus()
        if not status.ready:
            if not self.confirmEnvironment():
                self.statusLabel.text = status.line()
                return
            self._scoreAfterEnvironment = True
            self.startEnvironmentCreation(repair=status.state != "needs install" or
                                          self.logic.environment().location.exists())
            return
        self.startScoring()

    def startScoring(self):
        """Start the worker for the parameter node's inputs; the QTimer follows it."""
        node = self._parameterNode
        self.statusLabel.text = ""
        from RadSurvLib.errors import RadSurvError
        from RadSurvLib.control.logic import guiMessage

        with slicer.util.tryWithErrorDisplay("RadSurv could not start.", waitCursor=True):
            try:
                options = self.logic.optionsFromGui(node.rings, node.modelBundle, node.device, node.radiomicsSetting)
                task = self.logic.startScoring(
                    node.ctVolume, node.segmentation, node.segmentId, options=options,
                    outputDir=node.outputDirectory or None,
                    outputs={"rings": node.outputRings, "voxel_maps": node.outputVoxelMaps,
                             "heatmap": node.outputHeatmap, "tables": node.outputTables},
                    ifExists=node.ifResultsExist)
            except RadSurvError as exc:
                self.statusLabel.text = guiMessage(exc)
                raise RadSurvError(guiMessage(exc)) from None
            if task.state == "skipped":
                self.statusLabel.text = ("This CT and GTV were already scored with these options; the earlier "
                                         "results are kept. Choose 'add' or 'replace' under 'If results exist' "
                                         "to run again.")
                return
            self._task = task
            self.progressBar.value = 0
            self.progressBar.visible = True
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
        self.progressBar.value = int(100 * task.fraction)
        self.progressBar.format = f"{task.stage}: %p%"
        self.statusLabel.text = task.message
        if state == "running":
            return
        self._finishTask()
        if state == "succeeded":
            result = task.result
            model = result.get("model") or {}
            note = " (DEMONSTRATION model, not for clinical use)" if model.get("demonstration", True) else ""
            warned = result.get("warnings") or []  # e.g. a GTV of several parts: rows of the results table
            notice = f" {len(warned)} warning(s), see the results table." if warned else ""
            self.statusLabel.text = (f"Risk score {result['risk_score']:.3f}, risk group {result.get('risk_group')}"
                                     f"{note}.{notice} Outputs: {result.get('out_dir', '')}")
        elif state == "failed":
            error = task.error
            self.statusLabel.text = f"Failed: {error}"
            slicer.util.errorDisplay(f"RadSurv failed: {error}", windowTitle="RadSurv",
                                     detailedText=getattr(error, "log", "") or None)

    def _finishTask(self):
        self._task = None
        self.timer.stop()
        self.progressBar.visible = False
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

class RadSurvLogic(ScriptedLoadableModuleLogic):
    """Scores cases from scene nodes or files; no Qt, so it runs from the Python console, in
    ``Slicer --no-main-window --python-script`` and in tests.

    A thin shell over ``RadSurvLib.control.logic.ScoringLogic`` (same methods and arguments; every
    scoring option is a ``RadSurvLib.options.ScoreOptions`` field), for example:
    ``RadSurvLogic().process(ct, segmentation, segmentId, rings_mm="0-3", device="cpu")``.
    """

    def __init__(self):
        ScriptedLoadableModuleLogic.__init__(self)
        self.scoring = ScoringLogic()

    def getParameterNode(self):
        """The module's parameter node, wrapped (``RadSurvParameterNode``)."""
        return RadSurvParameterNode(super().getParameterNode())

    def environment(self):
        """See ``ScoringLogic.environment``."""
        return self.scoring.environment()

    def environmentStatus(self, checkImports=False):
        """See ``ScoringLogic.environmentStatus``."""
        return self.scoring.environmentStatus(checkImports)

    def createEnvironment(self, repair=False):
        """See ``ScoringLogic.createEnvironment``."""
        return self.scoring.createEnvironment(repair)

    def workerPythonCommand(self):
        """See ``ScoringLogic.workerPythonCommand``."""
        return self.scoring.workerPythonCommand()

    def defaultBundlePath(self):
        """See ``ScoringLogic.defaultBundlePath``."""
        return self.scoring.defaultBundlePath()

    def radiomicsParameterFile(self, label):
        """See ``ScoringLogic.radiomicsParameterFile``."""
        return self.scoring.radiomicsParameterFile(label)

    def optionsFromGui(self, rings, bundle, device, radiomicsSetting, **settings):
        """See ``ScoringLogic.optionsFromGui``."""
        return self.scoring.optionsFromGui(rings, bundle, device, radiomicsSetting, **settings)

    def startScoring(self, volumeNode, segmentationNode, segmentId, **kwargs):
        """See ``ScoringLogic.startScoring``."""
        return self.scoring.startScoring(volumeNode, segmentationNode, segmentId, **kwargs)

    def process(self, volumeNode, segmentationNode, segmentId, **kwargs):
        """See ``ScoringLogic.process``."""
        return self.scoring.process(volumeNode, segmentationNode, segmentId, **kwargs)

    def processCohort(self, cases, outputDir, **kwargs):
        """See ``ScoringLogic.processCohort``."""
        return self.scoring.processCohort(cases, outputDir, **kwargs)


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
        self.test_processPAT1()

    def test_parameterNode(self):
        """The parameter node wrapper keeps the settings."""
        node = RadSurvLogic().getParameterNode()
        node.rings = "5,10"
        node.device = "cpu"
        self.assertEqual(RadSurvLogic().getParameterNode().rings, "5,10")
        self.assertEqual(RadSurvLogic().getParameterNode().device, "cpu")

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
