"""RadSurv: 3D Slicer module that predicts overall survival of NSCLC patients from a planning CT and its GTV.

The module is a thin front end: ``RadSurvLogic.process`` exports the GTV segment, calls
``RadSurvLib.pipeline.score_case`` (rings, radiomics, voxel maps, deep survival model, Grad-CAM)
and puts the results back into the scene with ``RadSurvLib.scene.write_results_to_scene``.
"""

import logging
import os
import sys
import tempfile

import slicer
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)


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


DEFAULT_RINGS_MM = (3, 6, 9)
DEVICES = ("auto", "cpu", "cuda")


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
            "<b>The model bundle shipped with RadSurv is a demonstration model trained on a few public "
            "cases. It is not a clinical model and must not be used for patient care.</b> Load a model "
            "bundle trained and validated on your own cohort for research.<br><br>"
            "Select the CT, the segmentation and its GTV segment, then press Apply. The same logic can "
            "be called from the Python console: "
            "<code>RadSurv.RadSurvLogic().process(ctNode, segmentationNode, segmentId)</code>."
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


#
# RadSurvWidget
#

class RadSurvWidget(ScriptedLoadableModuleWidget):
    """Module panel built in code: inputs, model bundle, options, output folder and Apply."""

    def setup(self):
        """Build the widgets and connect them (called once by Slicer)."""
        import ctk
        import qt

        ScriptedLoadableModuleWidget.setup(self)
        self.logic = RadSurvLogic()

        inputs = ctk.ctkCollapsibleButton()
        inputs.text = "Inputs"
        self.layout.addWidget(inputs)
        form = qt.QFormLayout(inputs)

        self.volumeSelector = slicer.qMRMLNodeComboBox()
        self.volumeSelector.nodeTypes = ["vtkMRMLScalarVolumeNode"]
        self.volumeSelector.addEnabled = False
        self.volumeSelector.removeEnabled = False
        self.volumeSelector.noneEnabled = False
        self.volumeSelector.setMRMLScene(slicer.mrmlScene)
        self.volumeSelector.setToolTip("Planning CT (HU).")
        form.addRow("CT volume:", self.volumeSelector)

        self.segmentSelector = slicer.qMRMLSegmentSelectorWidget()
        self.segmentSelector.setMRMLScene(slicer.mrmlScene)
        self.segmentSelector.setToolTip("Segmentation and its GTV segment.")
        form.addRow("GTV segment:", self.segmentSelector)

        options = ctk.ctkCollapsibleButton()
        options.text = "Model and options"
        self.layout.addWidget(options)
        optionsForm = qt.QFormLayout(options)

        self.bundlePathEdit = ctk.ctkPathLineEdit()
        self.bundlePathEdit.filters = ctk.ctkPathLineEdit.Dirs
        self.bundlePathEdit.currentPath = self.logic.defaultBundlePath()
        self.bundlePathEdit.setToolTip("Model bundle folder (bundle.json + model.safetensors). "
                                       "The default is the demonstration bundle: not a clinical model.")
        optionsForm.addRow("Model bundle:", self.bundlePathEdit)

        self.ringsEdit = qt.QLineEdit(",".join(str(d) for d in DEFAULT_RINGS_MM))
        self.ringsEdit.setToolTip("Outer distances of the peritumoral rings from the GTV surface, mm, comma separated.")
        optionsForm.addRow("Rings (mm):", self.ringsEdit)

        self.deviceCombo = qt.QComboBox()
        self.deviceCombo.addItems(list(DEVICES))
        self.deviceCombo.setToolTip("auto: GPU (CUDA) when available, else CPU.")
        optionsForm.addRow("Device:", self.deviceCombo)

        self.outputDirEdit = ctk.ctkPathLineEdit()
        self.outputDirEdit.filters = ctk.ctkPathLineEdit.Dirs
        self.outputDirEdit.setToolTip("Folder for result.json, features.csv and the NRRD outputs. "
                                      "Empty: a new temporary folder.")
        optionsForm.addRow("Output folder:", self.outputDirEdit)

        self.applyButton = qt.QPushButton("Apply")
        self.applyButton.toolTip = "Score the case and add the results to the scene."
        self.layout.addWidget(self.applyButton)

        self.statusLabel = qt.QLabel("")
        self.statusLabel.wordWrap = True
        self.layout.addWidget(self.statusLabel)
        self.layout.addStretch(1)

        self.volumeSelector.connect("currentNodeChanged(vtkMRMLNode*)", self.updateApplyButton)
        self.segmentSelector.connect("currentNodeChanged(vtkMRMLNode*)", self.updateApplyButton)
        self.segmentSelector.connect("currentSegmentChanged(QString)", self.updateApplyButton)
        self.applyButton.connect("clicked(bool)", self.onApply)
        self.updateApplyButton()

    def updateApplyButton(self, *_):
        """Enable Apply only when a CT, a segmentation and a segment are selected."""
        ready = bool(self.volumeSelector.currentNode() and self.segmentSelector.currentNode()
                     and self.segmentSelector.currentSegmentID())
        self.applyButton.enabled = ready

    def onApply(self):
        """Run the logic with the panel's settings; errors are shown in a message box."""
        with slicer.util.tryWithErrorDisplay("RadSurv failed.", waitCursor=True):
            from RadSurvLib.rings import parse_rings

            rings = parse_rings(self.ringsEdit.text)
            result = self.logic.process(
                self.volumeSelector.currentNode(),
                self.segmentSelector.currentNode(),
                self.segmentSelector.currentSegmentID(),
                bundlePath=self.bundlePathEdit.currentPath or None,
                ringsMm=rings,
                device=self.deviceCombo.currentText,
                outputDir=self.outputDirEdit.currentPath or None,
            )
            model = result.get("model") or {}
            note = " (DEMONSTRATION model, not for clinical use)" if model.get("demonstration", True) else ""
            self.statusLabel.text = (f"Risk score {result['risk_score']:.3f}, risk group {result.get('risk_group')}"
                                     f"{note}. Outputs: {result.get('out_dir', '')}")


#
# RadSurvLogic
#

class RadSurvLogic(ScriptedLoadableModuleLogic):
    """Scores one case from scene nodes; no Qt, so it runs from the Python console and in tests.

    The heavy work (torch, PyRadiomics) runs in this process through ``RadSurvLib.pipeline``.
    """

    def defaultBundlePath(self):
        """Folder of the shipped demonstration bundle (``Resources/Bundles/demo-seresnet3d``), as text."""
        from RadSurvLib.bundle import default_bundle_path

        return str(default_bundle_path())

    def process(self, volumeNode, segmentationNode, segmentId, bundlePath=None, ringsMm=DEFAULT_RINGS_MM,
                device="auto", outputDir=None, signaturePath=None):
        """Score the case and add rings, voxel maps, heatmap and tables to the scene.

        Args:
            volumeNode: ``vtkMRMLScalarVolumeNode``, the planning CT (HU).
            segmentationNode: ``vtkMRMLSegmentationNode`` holding the GTV.
            segmentId: ID of the GTV segment in ``segmentationNode``.
            bundlePath: model bundle folder; None = the shipped demonstration bundle.
            ringsMm: outer ring distances from the GTV surface, mm.
            device: "auto", "cpu" or "cuda".
            signaturePath: optional radiomics signature bundle (``radsurv signature fit``) applied
                to the case's features; its RadScore and risk group join the scores table.
            outputDir: folder for the pipeline outputs; None = a new temporary folder. An earlier
                run there is never overwritten (choose an empty folder).

        Returns:
            dict: the content of ``result.json`` plus ``out_dir`` (str) and ``nodes`` (the node IDs
            returned by ``RadSurvLib.scene.write_results_to_scene``).

        Raises:
            RadSurvLib.errors.InputError / BundleError: bad inputs or bundle (clear message).
        """
        from RadSurvLib.errors import InputError
        from RadSurvLib.pipeline import score_case
        from RadSurvLib.scene import check_segment, write_results_to_scene

        if volumeNode is None:
            raise InputError("No CT volume selected.")
        # Check the segment before minutes of computation, not after.
        check_segment(segmentationNode, segmentId)
        if device not in DEVICES:
            raise InputError(f"Device {device!r}: choose one of {', '.join(DEVICES)}.")

        ctImage, gtvImage = self._exportInputs(volumeNode, segmentationNode, segmentId)
        outDir = outputDir or os.path.join(tempfile.mkdtemp(prefix="RadSurv-"), "out")

        logging.info(f"RadSurv: scoring {volumeNode.GetName()} into {outDir}")
        result = score_case(ctImage, gtvImage, outDir, bundle=bundlePath or None, rings_mm=tuple(ringsMm),
                            device=device, signature=signaturePath or None, progress=lambda stage, message: logging.info(f"RadSurv {stage}: {message}"))
        nodes = write_results_to_scene(volumeNode, segmentationNode, segmentId, outDir)
        return dict(result, out_dir=str(outDir), nodes=nodes)

    @staticmethod
    def _exportInputs(volumeNode, segmentationNode, segmentId):
        """The CT and the GTV segment (a labelmap on the CT's grid) as SimpleITK images.

        Pulled from memory with ``sitkUtils``, so the user's nodes and their storage (file names)
        are left as they were.
        """
        import sitkUtils
        import vtk

        from RadSurvLib.errors import InputError

        scene = volumeNode.GetScene()
        labelmap = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", "RadSurv GTV export")
        try:
            ids = vtk.vtkStringArray()
            ids.InsertNextValue(segmentId)
            # The CT as reference: the mask gets exactly the CT's voxel grid (and its transform).
            if not slicer.modules.segmentations.logic().ExportSegmentsToLabelmapNode(
                    segmentationNode, ids, labelmap, volumeNode):
                raise InputError(f"Could not export segment {segmentId} onto the grid of {volumeNode.GetName()}.")
            return (sitkUtils.PullVolumeFromSlicer(volumeNode),
                    sitkUtils.PullVolumeFromSlicer(labelmap))
        finally:
            scene.RemoveNode(labelmap)


#
# RadSurvTest
#

class RadSurvTest(ScriptedLoadableModuleTest):
    """Self-test in Slicer: ring segments and tables from a synthetic CT with a spherical GTV."""

    def setUp(self):
        """Start from an empty scene."""
        slicer.mrmlScene.Clear()

    def runTest(self):
        """Run all tests of the module."""
        self.setUp()
        self.test_processSyntheticCase()

    def test_processSyntheticCase(self):
        """Score a synthetic 60 mm cube of CT with a 15 mm radius GTV sphere on the CPU."""
        import numpy as np

        self.delayDisplay("Scoring a synthetic case")
        z, y, x = np.indices((40, 64, 64))
        ct = np.where((z - 20) ** 2 * 4 + (y - 32) ** 2 + (x - 32) ** 2 < 15 ** 2, 40.0, -800.0).astype(np.float32)
        volume = slicer.util.addVolumeFromArray(ct, ijkToRAS=np.diag([1.0, 1.0, 2.0, 1.0]), name="CT")
        segmentation = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLSegmentationNode", "Segmentation")
        segmentation.SetReferenceImageGeometryParameterFromVolumeNode(volume)
        segmentId = segmentation.GetSegmentation().AddEmptySegment("", "GTV")
        slicer.util.updateSegmentBinaryLabelmapFromArray((ct > 0).astype(np.uint8), segmentation, segmentId, volume)

        result = RadSurvLogic().process(volume, segmentation, segmentId, device="cpu")

        names = [segmentation.GetSegmentation().GetNthSegment(i).GetName()
                 for i in range(segmentation.GetSegmentation().GetNumberOfSegments())]
        self.assertEqual(names, ["GTV", "GTV ring 0-3 mm", "GTV ring 3-6 mm", "GTV ring 6-9 mm"])
        self.assertTrue(slicer.mrmlScene.GetNodeByID(result["nodes"]["heatmap_volume"]))
        self.assertTrue(np.isfinite(result["risk_score"]))
        self.delayDisplay("Test passed")
