"""The web app's "DICOM outputs" without a browser: the case keeps its DICOM series (``app.inputs``),
the session marks the CT node and holds the files (``control.session``), the worker gets the series,
and the downloads offer the run's ``dicom/`` objects as ``dicom.zip``.

One real run (the worker's code in this process, quick radiomics) on PAT1 read from its DICOM series
and RTSTRUCT as the app reads an upload: the upload's slices moved to a kept folder, the CT node and
the GTV segment made as the app makes them.
"""

from __future__ import annotations

import io
import shutil
import zipfile

import pytest

pydicom = pytest.importorskip("pydicom")

from conftest import PAT1_CT, PAT1_DIR, PAT1_GTV, InProcessWorkerRunner  # noqa: E402

from RadSurvLib.app import inputs  # noqa: E402
from RadSurvLib.control.session import FORM_DEFAULTS, ScoringSession, message, options_from_form  # noqa: E402
from RadSurvLib.errors import InputError  # noqa: E402
from RadSurvLib.options import OptionError  # noqa: E402

PAT1_DICOM = PAT1_DIR / "dicom"
#: SOP Class UIDs: RT Structure Set, Segmentation, Parametric Map, Comprehensive 3D SR.
SOP_CLASSES = {"dicom/rtstruct.dcm": "1.2.840.10008.5.1.4.1.1.481.3", "dicom/seg.dcm": "1.2.840.10008.5.1.4.1.1.66.4",
               "dicom/heatmap_pm.dcm": "1.2.840.10008.5.1.4.1.1.30", "dicom/sr.dcm": "1.2.840.10008.5.1.4.1.1.88.34"}


def uids_of(files) -> list:
    return [str(pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID) for f in files]


def test_form_switch_gives_the_option():
    assert FORM_DEFAULTS["dicom_out"] is False and options_from_form(FORM_DEFAULTS).dicom_out is False
    assert options_from_form(dict(FORM_DEFAULTS, dicom_out=True)).dicom_out is True


def test_dicom_case_keeps_its_series_files_and_a_nifti_case_has_none(tmp_path):
    upload = tmp_path / "upload"
    shutil.copytree(PAT1_DICOM, upload)
    found = inputs.classify_upload(upload)
    case = inputs.read_case(found["ct"], found["gtv"], found["rtstruct"], found["seg"], roi="GTV-1")
    assert len(case.dicom_files) == 60 and list(case.dicom_uids) == uids_of(case.dicom_files)
    kept = inputs.keep_dicom_files(case, tmp_path / "kept")
    shutil.rmtree(upload)  # the app removes the upload folder after loading
    assert [p.parent for p in kept.dicom_files] == [tmp_path / "kept"] * 60
    assert uids_of(kept.dicom_files) == list(case.dicom_uids)  # the same slices, same order
    nifti = inputs.read_case(PAT1_CT, PAT1_GTV)
    assert nifti.dicom_files == () and nifti.dicom_uids == ()


@pytest.mark.slicer
def test_dicom_case_scored_with_dicom_outputs_downloads_the_four_objects(tmp_path):
    slicer = pytest.importorskip("slicer")
    from RadSurvLib.app import scene as app_scene
    from RadSurvLib.control.task import DICOM_INSTANCE_UIDS_ATTRIBUTE
    from RadSurvLib.worker.client import SUCCEEDED

    upload = tmp_path / "upload"
    shutil.copytree(PAT1_DICOM, upload)
    found = inputs.classify_upload(upload)
    case = inputs.keep_dicom_files(inputs.read_case(found["ct"], rtstruct=found["rtstruct"], roi="GTV-1"),
                                   tmp_path / "kept")
    shutil.rmtree(upload)
    scene = slicer.vtkMRMLScene()
    slicer.vtkSlicerSegmentationsModuleLogic().SetMRMLScene(scene)
    ct_node = app_scene.add_ct(scene, case.ct)
    segmentation = scene.AddNewNodeByClass("vtkMRMLSegmentationNode")
    segmentation.CreateDefaultDisplayNodes()
    segment_id = app_scene.set_gtv_from_mask(segmentation, ct_node, case.gtv)

    runner = InProcessWorkerRunner()
    session = ScoringSession(tmp_path / "jobs", runner=runner)
    with pytest.raises(InputError, match="score the case first"):
        session.dicom_archive()
    assert session.register_dicom_series(ct_node, case.dicom_uids, case.dicom_files)
    assert ct_node.GetAttribute(DICOM_INSTANCE_UIDS_ATTRIBUTE).split() == list(case.dicom_uids)
    assert session.has_dicom_series(ct_node)
    options = options_from_form(dict(FORM_DEFAULTS, dicom_out=True))
    session.start(ct_node, segmentation, segment_id, options)
    while session.poll() == "running":
        pass
    assert session.task.state == SUCCEEDED, session.task.error
    assert runner.jobs[-1]["dicom_out"] is True and runner.jobs[-1]["ct"].endswith("ct-dicom")

    archive = zipfile.ZipFile(io.BytesIO(session.dicom_archive()))
    assert sorted(archive.namelist()) == sorted(SOP_CLASSES)
    source = pydicom.dcmread(case.dicom_files[0], stop_before_pixels=True)
    for name, sop_class in SOP_CLASSES.items():
        written = pydicom.dcmread(io.BytesIO(archive.read(name)))
        assert written.SOPClassUID == sop_class and written.StudyInstanceUID == source.StudyInstanceUID
        assert archive.read(name) == (session.out_dir / name).read_bytes()

    # another case without a series: the node is unmarked, DICOM outputs refused in the app's words
    assert not session.register_dicom_series(ct_node)
    assert ct_node.GetAttribute(DICOM_INSTANCE_UIDS_ATTRIBUTE) is None and not session.has_dicom_series(ct_node)
    jobs = len(runner.jobs)
    with pytest.raises(OptionError) as refused:
        session.start(ct_node, segmentation, segment_id, options)
    assert message(refused.value) == (
        'DICOM outputs: the CT volume "CT" was not loaded from a DICOM series, and DICOM outputs need a CT loaded '
        'from it (they reference its study, series and slices): switch off "DICOM outputs", or load the CT as a '
        "DICOM series (upload the folder of its slices, or choose that folder in the data folder).")
    assert len(runner.jobs) == jobs


def test_archive_of_a_run_without_dicom_outputs_is_refused(tmp_path):
    session = ScoringSession(tmp_path / "jobs")
    session.out_dir, session.result = tmp_path, {"outputs": {"result": "result.json"}}
    with pytest.raises(InputError, match='no DICOM objects: switch on "DICOM outputs"'):
        session.dicom_archive()


@pytest.mark.slicer
def test_app_switch_follows_the_case_and_tells_why_it_is_off(tmp_path):
    """The app server (no browser): the "DICOM outputs" switch is disabled, with its reason as tooltip,
    until a DICOM case is loaded; a NIfTI case after it switches it off again and drops the kept slices."""
    pytest.importorskip("trame_slicer", reason="needs the app extra (pip install -e '.[app]')")
    import render_helpers
    from render_helpers import start_xvfb, stop_xvfb

    from RadSurvLib.app.server import TOOLTIPS, RadSurvApp

    xvfb = start_xvfb()
    try:
        render_helpers._VIEWS_MADE.append(True)  # the app's views are X clients: Xvfb ends with this process
        app = RadSurvApp(work_dir=tmp_path / "app")
        assert app.state.rs_dicom_available is False and app.state.rs_opt_dicom_out is False
        assert app.state.rs_dicom_tooltip == TOOLTIPS["dicom_out_unavailable"]
        assert "DICOM series" in app.state.rs_dicom_tooltip
        upload = tmp_path / "upload"
        shutil.copytree(PAT1_DICOM, upload)
        case = inputs.read_case(upload / "image", rtstruct=upload / "mask" / "DCM_RS_00060.dcm", roi="GTV-1")
        kept = tmp_path / "app" / "dicom-ct-1"
        app.load_case(inputs.keep_dicom_files(case, kept))
        assert app.state.rs_dicom_available is True and app.state.rs_dicom_tooltip == TOOLTIPS["dicom_out"]
        assert app.scoring.has_dicom_series(app.ct_node)
        app.state.rs_opt_dicom_out = True
        assert app.download("dicom.zip") is None and "score the case first" in app.state.rs_error
        app.load_pat1()  # NIfTI: no study to reference
        assert app.state.rs_dicom_available is False and app.state.rs_opt_dicom_out is False
        assert app.ct_node.GetAttribute("DICOM.instanceUIDs") is None and not kept.exists()
    finally:
        stop_xvfb(xvfb)
