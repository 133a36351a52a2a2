"""The Slicer module's "DICOM outputs" on real MRML (slicer-core): a CT loaded from the DICOM database
goes to the worker as its DICOM series, so that the worker writes ``OUT/dicom/``.

3D Slicer itself cannot be installed here, so its two DICOM parts are reproduced: the CT node is
read from PAT1's DICOM slices the way Slicer's DICOMScalarVolumePlugin reads a loadable
(``vtkMRMLVolumeArchetypeStorageNode`` over the file list) and carries the attribute that plugin
sets (``DICOM.instanceUIDs``: the files' SOP Instance UIDs, space-separated); the DICOM database is
a stand-in that maps those UIDs to the files (``fileForInstance``, as ``ctkDICOMDatabase``'s). The
GTV segment is PAT1's RTSTRUCT ROI "GTV-1" rasterised onto the series.

- with "DICOM outputs" the worker's job names a folder holding exactly the CT's slices (by UID);
  without it the job is the NRRD export as before;
- a CT node not loaded from DICOM, or one whose files left the database, is refused before a job
  folder or a worker exists, in the module's words (no command-line flag);
- one real run (the worker's code in this process, quick radiomics) writes the four DICOM objects,
  which reference PAT1's series, and the results reach the scene.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

slicer = pytest.importorskip("slicer", reason="needs the slicer-core wheel (pip install slicer-core)")
pydicom = pytest.importorskip("pydicom")

from conftest import PAT1_DIR, InProcessWorkerRunner, make_pat1_scene  # noqa: E402

from RadSurvLib.control import task as sj  # noqa: E402
from RadSurvLib.control.logic import ScoringLogic, guiMessage  # noqa: E402
from RadSurvLib.options import OptionError, ScoreOptions  # noqa: E402
from RadSurvLib.worker.client import RUNNING, SUCCEEDED  # noqa: E402

PAT1_DICOM_CT = PAT1_DIR / "dicom" / "image"
PAT1_RTSTRUCT = PAT1_DIR / "dicom" / "mask" / "DCM_RS_00060.dcm"
DICOM_OBJECTS = {"rtstruct": "dicom/rtstruct.dcm", "seg": "dicom/seg.dcm", "parametric_map": "dicom/heatmap_pm.dcm",
                 "sr": "dicom/sr.dcm"}


class FakeDicomDatabase:
    """Stand-in for ``slicer.dicomDatabase``: ``fileForInstance(uid)`` gives the file, "" when unknown."""

    def __init__(self, files_by_uid):
        self.files_by_uid = dict(files_by_uid)

    def fileForInstance(self, uid):  # noqa: N802
        return self.files_by_uid.get(uid, "")


class NeverEndingRunner:
    """A worker runner that records each job (read at start, while its inputs exist) and never ends."""

    class Handle:
        returncode, pid = None, 0

        def lines(self):
            return []

        def stderr_tail(self):
            return ""

        def kill(self):
            self.returncode = -9

    def __init__(self):
        self.jobs = []

    def start(self, command, env=None, cwd=None):
        self.jobs.append(json.loads(Path(command[-1]).read_text()))
        return self.Handle()


def series_uids_in(folder) -> list:
    """SOP Instance UIDs of the DICOM files in ``folder``, by file name."""
    return [str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID) for p in sorted(Path(folder).iterdir())]


@pytest.fixture(scope="module")
def dicom_case(tmp_path_factory):
    """(scene, CT node as Slicer's DICOM module loads it, segmentation, GTV segment ID, database, UIDs)."""
    import SimpleITK as sitk

    from RadSurvLib.io.dicom import load_dicom_case

    files = sorted(PAT1_DICOM_CT.glob("*.dcm"))
    uids = [str(pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID) for f in files]
    scene = slicer.vtkMRMLScene()
    slicer.vtkSlicerSegmentationsModuleLogic().SetMRMLScene(scene)
    slicer.vtkMRMLSubjectHierarchyNode.ResolveSubjectHierarchy(scene)
    ct = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "2: PAT1 CT")
    storage = slicer.vtkMRMLVolumeArchetypeStorageNode()  # DICOMScalarVolumePlugin.loadFilesWithArchetype
    storage.SetFileName(str(files[0]))
    for path in files:
        storage.AddFileName(str(path))
    storage.SetSingleFile(0)
    assert storage.ReadData(ct)
    ct.SetAttribute(sj.DICOM_INSTANCE_UIDS_ATTRIBUTE, " ".join(uids))
    _, mask, _ = load_dicom_case(PAT1_DICOM_CT, rtstruct=PAT1_RTSTRUCT, roi="GTV-1")
    mask_path = tmp_path_factory.mktemp("gtv") / "gtv.nrrd"
    sitk.WriteImage(mask, str(mask_path))
    label = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", "GTV-1")
    label_storage = slicer.vtkMRMLVolumeArchetypeStorageNode()
    label_storage.SetFileName(str(mask_path))
    assert label_storage.ReadData(label)
    seg = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "RTSTRUCT")
    seg.SetReferenceImageGeometryParameterFromVolumeNode(ct)
    assert slicer.vtkSlicerSegmentationsModuleLogic.ImportLabelmapToSegmentationNode(label, seg)
    scene.RemoveNode(label)
    gtv_id = seg.GetSegmentation().GetNthSegmentID(0)
    database = FakeDicomDatabase({uid: str(path) for uid, path in zip(uids, files)})
    return scene, ct, seg, gtv_id, database, uids


def test_dicom_out_hands_the_worker_the_ct_series_and_without_it_the_nrrd(dicom_case, tmp_path):
    _, ct, seg, gtv_id, database, uids = dicom_case
    runner = NeverEndingRunner()
    task = sj.SceneScoringTask(ct, seg, gtv_id, ["python"], options=ScoreOptions(dicom_out=True),
                               runner=runner, work_dir=tmp_path, dicom_database=database)
    assert task.start() == RUNNING
    job = runner.jobs[-1]
    assert job["dicom_out"] is True and Path(job["ct"]).is_dir() and job["gtv"].endswith("gtv.nrrd")
    assert series_uids_in(job["ct"]) == uids  # the 60 slices the node was loaded from, nothing else
    task.cancel()

    # the panel's "DICOM outputs" box (parameter node -> ScoreOptions) takes the same way
    from RadSurvLib.control import parameters

    values = {**parameters.defaults(), "dicom_out": True}
    panel = ScoringLogic(runner=runner).startScoring(ct, seg, gtv_id,
                                                     options=parameters.options_from_parameters(values),
                                                     pythonCommand=["python"], dicomDatabase=database,
                                                     outputDir=tmp_path / "panel")
    assert runner.jobs[-1]["dicom_out"] is True and series_uids_in(runner.jobs[-1]["ct"]) == uids
    panel.cancel()

    plain = sj.SceneScoringTask(ct, seg, gtv_id, ["python"], options=ScoreOptions(), runner=runner,
                                work_dir=tmp_path, dicom_database=database)
    assert plain.start() == RUNNING
    assert runner.jobs[-1]["ct"].endswith("ct.nrrd") and runner.jobs[-1]["dicom_out"] is False
    plain.cancel()


def test_ct_not_from_dicom_or_with_files_gone_is_refused_before_anything_runs(dicom_case, tmp_path):
    scene, ct_nifti, seg_nifti, gtv_nifti = make_pat1_scene()  # PAT1 CT added from its NIfTI file
    runner = NeverEndingRunner()
    work = tmp_path / "work"
    work.mkdir()
    with pytest.raises(OptionError) as refused:
        ScoringLogic(runner=runner).startScoring(ct_nifti, seg_nifti, gtv_nifti, pythonCommand=["python"],
                                                 dicom_out=True, dicomDatabase=FakeDicomDatabase({}))
    text = guiMessage(refused.value)
    assert text == ('DICOM outputs: the CT volume "PAT1 CT" was not loaded from the DICOM database, and DICOM '
                    "outputs need a CT loaded from it (they reference its study, series and slices): untick "
                    '"DICOM outputs", or load the CT through the DICOM module.')
    assert "--" not in text and runner.jobs == []

    _, ct, seg, gtv_id, database, uids = dicom_case
    gone = FakeDicomDatabase({uid: path for uid, path in database.files_by_uid.items() if uid != uids[5]})
    task = sj.SceneScoringTask(ct, seg, gtv_id, ["python"], options=ScoreOptions(dicom_out=True), runner=runner,
                               work_dir=work, dicom_database=gone)
    with pytest.raises(OptionError) as refused:
        task.start()
    assert '1 of the 60 DICOM files of "2: PAT1 CT" are no longer in the DICOM database' in guiMessage(refused.value)
    assert runner.jobs == [] and list(work.iterdir()) == []  # no job folder, no worker


def test_real_run_writes_the_four_dicom_objects_for_the_series(dicom_case, tmp_path):
    scene, ct, seg, gtv_id, database, uids = dicom_case

    class SeriesCheckingRunner(InProcessWorkerRunner):
        """The real worker code in this process; the CT folder's UIDs noted before it runs."""

        def start(self, command, env=None, cwd=None):
            self.ct_uids = series_uids_in(json.loads(Path(command[-1]).read_text())["ct"])
            return super().start(command, env, cwd)

    runner = SeriesCheckingRunner()
    out = tmp_path / "out"
    result = ScoringLogic(runner=runner).process(ct, seg, gtv_id, outputDir=out, pythonCommand=["python"],
                                                 dicomDatabase=database, dicom_out=True, radiomics="quick",
                                                 device="cpu", timeoutS=900)
    assert runner.ct_uids == uids
    assert result["outputs"]["dicom"] == DICOM_OBJECTS
    source = pydicom.dcmread(sorted(PAT1_DICOM_CT.glob("*.dcm"))[0], stop_before_pixels=True)
    for kind, relative in DICOM_OBJECTS.items():
        written = pydicom.dcmread(out / relative)
        assert written.StudyInstanceUID == source.StudyInstanceUID and written.PatientID == source.PatientID
        assert written.SOPInstanceUID not in uids
    seg_object = pydicom.dcmread(out / DICOM_OBJECTS["seg"])
    assert [str(s.SeriesInstanceUID) for s in seg_object.ReferencedSeriesSequence] == [source.SeriesInstanceUID]
    assert result["case"]["ct"]["dicom"]["series_instance_uid"] == source.SeriesInstanceUID
    assert result["nodes"]["ring_segment_ids"] and scene.GetNodeByID(result["nodes"]["heatmap_volume"]) is not None
