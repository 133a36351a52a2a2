"""The web app's parts that need no browser: what it accepts (``app.inputs``), the case in the MRML
scene (``app.scene``, slicer-core), the scoring session (``control.session``) and ``radsurv app``'s
arguments. The browser session itself is ``test_app_browser.py``."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from conftest import PAT1_CT, PAT1_DIR, PAT1_GTV

from RadSurvLib.app import inputs
from RadSurvLib.errors import InputError


# -- inputs ------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["notes.txt", "photo.png", "archive.zip"])
def test_upload_of_a_non_image_type_is_refused(name):
    with pytest.raises(InputError, match="not an image RadSurv reads"):
        inputs.check_upload(name, 100)


def test_upload_size_limit_and_empty_file():
    inputs.check_upload("ct.nii.gz", 10, max_bytes=10)
    with pytest.raises(InputError, match="11 MB, more than the 10 MB"):
        inputs.check_upload("ct.nii.gz", 11_000_000, max_bytes=10_000_000)
    with pytest.raises(InputError, match="empty"):
        inputs.check_upload("series/IM0001.dcm", 0)


def test_upload_names_cannot_leave_the_upload_folder(tmp_path):
    assert inputs.safe_upload_path(tmp_path, "series/IM1.dcm") == tmp_path / "series" / "IM1.dcm"
    assert inputs.safe_upload_path(tmp_path, "/abs/ct.nrrd") == tmp_path / "abs" / "ct.nrrd"
    with pytest.raises(InputError, match="not a plain file name"):
        inputs.safe_upload_path(tmp_path, "../../etc/passwd")


def test_data_folder_lists_images_and_folders_and_stays_inside(tmp_path):
    (tmp_path / "case1").mkdir()
    (tmp_path / "case1" / "ct.nii.gz").write_bytes(b"x")
    (tmp_path / "readme.txt").write_text("x")
    (tmp_path / "b.nrrd").write_bytes(b"x")
    entries = inputs.list_data_folder(tmp_path)
    assert [(e["name"], e["kind"]) for e in entries] == [("case1", "folder"), ("b.nrrd", "image")]
    assert inputs.list_data_folder(tmp_path, "case1")[0]["path"] == "case1/ct.nii.gz"
    with pytest.raises(InputError, match="outside the data folder"):
        inputs.list_data_folder(tmp_path, "../")
    with pytest.raises(InputError, match="without a data folder"):
        inputs.list_data_folder(None)


def test_pat1_case_reads_ct_and_gtv():
    case = inputs.pat1_case()
    assert case.name == "PAT1" and case.ct.GetSize() == (204, 201, 60)
    import SimpleITK as sitk

    assert int(sitk.GetArrayViewFromImage(case.gtv).sum()) == 125256


def test_non_image_file_ct_without_hu_and_empty_gtv_are_refused(tmp_path, pat1_images):
    import SimpleITK as sitk

    text = tmp_path / "ct.nii.gz"
    text.write_bytes(gzip.compress(b"this is a report, not an image" * 20))
    with pytest.raises(InputError):
        inputs.read_case(text)
    ct, gtv = pat1_images
    shifted = sitk.Cast(ct, sitk.sitkFloat32) + 2000.0  # CT without its intercept: no air near -1000 HU
    path = tmp_path / "ct_no_hu.nrrd"
    sitk.WriteImage(shifted, str(path))
    with pytest.raises(InputError, match="Hounsfield"):
        inputs.read_case(path)
    empty = sitk.Image(gtv.GetSize(), sitk.sitkUInt8)
    empty.CopyInformation(gtv)
    empty_path = tmp_path / "empty_mask.nrrd"
    sitk.WriteImage(empty, str(empty_path))
    with pytest.raises(InputError, match="(?i)empty|no non-zero|too small"):
        inputs.read_case(PAT1_CT, empty_path)


def test_classify_upload_of_image_files_and_of_a_dicom_folder(tmp_path):
    import shutil

    images = tmp_path / "images"
    images.mkdir()
    shutil.copy(PAT1_CT, images / "image.nii.gz")
    shutil.copy(PAT1_GTV, images / "mask.nii.gz")
    found = inputs.classify_upload(images)
    assert found["ct"].name == "image.nii.gz" and found["gtv"].name == "mask.nii.gz"
    dicom = PAT1_DIR / "dicom"
    if not dicom.is_dir():
        pytest.skip("PAT1 DICOM not present")
    upload = tmp_path / "dicom"
    shutil.copytree(dicom, upload)
    found = inputs.classify_upload(upload)
    assert found["ct"] is not None and (found["rtstruct"] is not None or found["seg"] is not None)


# -- the scene (slicer-core) ----------------------------------------------------------------------
@pytest.mark.slicer
def test_case_in_the_scene_gtv_segment_is_the_mask_voxel_for_voxel(pat1_images):
    slicer = pytest.importorskip("slicer")
    import SimpleITK as sitk

    from RadSurvLib.app import scene as app_scene

    ct, gtv = pat1_images
    scene = slicer.vtkMRMLScene()
    logic = slicer.vtkSlicerSegmentationsModuleLogic()
    logic.SetMRMLScene(scene)
    ct_node = app_scene.add_ct(scene, ct)
    segmentation = scene.AddNewNodeByClass("vtkMRMLSegmentationNode")
    segmentation.CreateDefaultDisplayNodes()
    empty_id = app_scene.ensure_gtv_segment(segmentation, ct_node)
    assert app_scene.gtv_segment_id(segmentation) == empty_id
    assert app_scene.ensure_gtv_segment(segmentation, ct_node) == empty_id  # not added twice
    before = app_scene.scene_snapshot(scene)
    segment_id = app_scene.set_gtv_from_mask(segmentation, ct_node, gtv)
    assert segmentation.GetSegmentation().GetNumberOfSegments() == 1
    mask = app_scene.segment_mask(segmentation, segment_id, ct_node)
    truth = sitk.GetArrayFromImage(gtv) > 0
    assert mask.shape == truth.shape and app_scene.dice(mask, truth) == 1.0
    assert app_scene.scene_snapshot(scene) != before  # the GTV segment was replaced: a new ID


def test_dice():
    from RadSurvLib.app.scene import dice

    a = np.zeros((4, 4), bool)
    b = a.copy()
    a[:2] = True
    b[1:3] = True
    assert dice(a, b) == pytest.approx(0.5) and dice(a, a) == 1.0 and dice(b & ~b, a & ~a) == 1.0


# -- scoring session -------------------------------------------------------------------------------
def test_form_gives_score_options_and_refuses_bad_values():
    from RadSurvLib.control.session import FORM_DEFAULTS, message, options_from_form
    from RadSurvLib.options import OptionError

    options = options_from_form(dict(FORM_DEFAULTS, rings_mm="3-6,6-9", air_hu="-950", inner_rim_mm=""))
    assert options.rings_mm == ((3.0, 6.0), (6.0, 9.0)) and options.air_hu == -950.0
    assert options.inner_rim_mm is None and options.radiomics == "quick"
    with pytest.raises(OptionError) as info:
        options_from_form(dict(FORM_DEFAULTS, kernel_radius=0))
    assert "Kernel radius (voxels)" in message(info.value)
    with pytest.raises(OptionError):
        options_from_form(dict(FORM_DEFAULTS, air_hu="air"))


class _NeverEnding:
    """A worker 'process' that runs until killed."""

    def __init__(self):
        self.returncode, self.pid, self.killed = None, 0, False

    def lines(self):
        return []

    def stderr_tail(self):
        return ""

    def kill(self):
        self.killed, self.returncode = True, -9


class _NeverEndingRunner:
    def __init__(self):
        self.handles = []

    def start(self, command, env=None, cwd=None):
        self.handles.append(_NeverEnding())
        return self.handles[-1]


@pytest.mark.slicer
def test_second_score_while_one_runs_is_refused_and_cancel_leaves_the_scene(tmp_path, pat1_images):
    slicer = pytest.importorskip("slicer")
    from RadSurvLib.app import scene as app_scene
    from RadSurvLib.control.session import ScoringSession
    from RadSurvLib.options import ScoreOptions
    from RadSurvLib.worker.client import CANCELLED, RUNNING

    ct, gtv = pat1_images
    scene = slicer.vtkMRMLScene()
    slicer.vtkSlicerSegmentationsModuleLogic().SetMRMLScene(scene)
    ct_node = app_scene.add_ct(scene, ct)
    segmentation = scene.AddNewNodeByClass("vtkMRMLSegmentationNode")
    segmentation.CreateDefaultDisplayNodes()
    segment_id = app_scene.set_gtv_from_mask(segmentation, ct_node, gtv)
    before = app_scene.scene_snapshot(scene)
    runner = _NeverEndingRunner()
    session = ScoringSession(tmp_path / "jobs", runner=runner)
    assert session.start(ct_node, segmentation, segment_id, ScoreOptions(radiomics="quick")) == RUNNING
    with pytest.raises(InputError, match="in progress"):
        session.start(ct_node, segmentation, segment_id, ScoreOptions(radiomics="quick"))
    with pytest.raises(InputError, match="score the case first"):
        session.output_file("result.json")
    session.cancel()
    assert session.task.state == CANCELLED and runner.handles[0].killed
    assert app_scene.scene_snapshot(scene) == before
    assert session.poll() == CANCELLED and not session.running


@pytest.mark.slicer
def test_empty_gtv_segment_is_refused_before_the_worker_starts(tmp_path, pat1_images):
    slicer = pytest.importorskip("slicer")
    from RadSurvLib.app import scene as app_scene
    from RadSurvLib.control.session import ScoringSession
    from RadSurvLib.options import ScoreOptions

    scene = slicer.vtkMRMLScene()
    slicer.vtkSlicerSegmentationsModuleLogic().SetMRMLScene(scene)
    ct_node = app_scene.add_ct(scene, pat1_images[0])
    segmentation = scene.AddNewNodeByClass("vtkMRMLSegmentationNode")
    segmentation.CreateDefaultDisplayNodes()
    segment_id = app_scene.ensure_gtv_segment(segmentation, ct_node)
    runner = _NeverEndingRunner()
    with pytest.raises(InputError):
        ScoringSession(tmp_path / "jobs", runner=runner).start(ct_node, segmentation, segment_id, ScoreOptions())
    assert runner.handles == []


# -- radsurv app -------------------------------------------------------------------------------------
def test_radsurv_app_arguments(tmp_path, capsys):
    from RadSurvLib.cli import build_parser, main

    args = build_parser().parse_args(["app"])
    assert (args.host, args.port, args.data) == ("127.0.0.1", 8080, None)
    assert main(["app", "--data", str(tmp_path / "missing")]) == 2
    assert "--data" in capsys.readouterr().err
    assert main(["app", "--port", "70000"]) == 2
