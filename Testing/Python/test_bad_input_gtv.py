"""Bad input, the GTV the user meant (issue 22): a GTV of several parts is scored as delineated but
warned about and listed (volume in mm^3, centre in RAS and LPS mm) in result.json; stray paint (a
part below the smallest GTV scored) is refused naming its position and the fix; a GTV chosen by a
name that two ROIs / segments share (RTSTRUCT, DICOM SEG, Slicer .seg.nrrd) is refused listing them.

Cases are PAT1 (RadSurvLib/resources/PAT1, IBSI-1 lung CT: the NIfTI mask and its DICOM RTSTRUCT)
made bad with a known ground truth: one voxel painted 25 mm from the GTV, a 6 mm ball painted 25 mm
away (a second lesion), a copy of the RTSTRUCT's GTV-1 keeping every other contour under the same
name (a partial copy). The real masks of the project show the policy's effect on real data.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import io
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from conftest import PAT1_CT, PAT1_GTV, REPO, make_pat1_scene

from RadSurvLib.cli import main
from RadSurvLib.errors import InputError

DICOM = REPO / "RadSurvLib" / "resources" / "PAT1" / "dicom"
SERIES, RTSTRUCT = DICOM / "image", DICOM / "mask" / "DCM_RS_00060.dcm"
BASELINE = REPO / "Testing" / "Data" / "PyRadiomics_baseline"
SHARED = REPO.parent / "shared" / "data"
LUNG1_001 = SHARED / "lung1_001"
#: The IBSI phantoms' masks of the shared data, where it is at hand (the IBSI 1 digital phantom, IBSI 2's sphere).
IBSI_MASKS = [p for p in (SHARED / "ibsi1_digital_phantom" / "nifti" / "mask" / "mask.nii.gz",
                          SHARED / "ibsi2_digital_phantom" / "nifti" / "sphere" / "mask" / "mask.nii.gz") if p.is_file()]

#: A voxel of PAT1's CT 25.3 mm from its GTV (x, y, z index), on the GTV's middle slice.
STRAY_VOXEL = (171, 98, 27)
#: Centre (x, y, z index) and radius (mm) of the second lesion, 25 mm beside the GTV.
BALL_CENTRE, BALL_RADIUS_MM = (178, 98, 27), 6.0

#: A quick scoring run: original-image features, one voxel map, one 0-6 mm ring.
QUICK = ["--device", "cpu", "--radiomics", "quick", "--voxel-maps", "firstorder_Mean", "--rings", "6"]


def _cli(argv):
    """``radsurv argv`` in this process: (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = main([str(a) for a in argv])
        except SystemExit as exc:
            status = exc.code
    return status, out.getvalue(), err.getvalue()


def _lps(index) -> np.ndarray:
    """Physical point (LPS, mm) of a voxel index (x, y, z) of PAT1, computed here from origin and
    spacing (PAT1's direction is the identity), independently of SimpleITK's statistics."""
    gtv = sitk.ReadImage(str(PAT1_GTV))
    assert gtv.GetDirection() == (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
    return np.asarray(gtv.GetOrigin()) + np.asarray(gtv.GetSpacing()) * np.asarray(index, dtype=float)


def _ras_text(lps) -> str:
    """The RAS point as the messages print it: "RAS (7.3, -16.1, -19.4)"."""
    x, y, z = lps
    return f"RAS ({-x:.1f}, {-y:.1f}, {z:.1f})"


def _pat1_with(tmp_path: Path, name: str, extra: np.ndarray) -> Path:
    """PAT1's GTV with the voxels of ``extra`` (z, y, x bool) painted too, written to ``name``."""
    gtv = sitk.ReadImage(str(PAT1_GTV))
    array = sitk.GetArrayFromImage(gtv)
    array[extra] = 1
    image = sitk.GetImageFromArray(array)
    image.CopyInformation(gtv)
    path = tmp_path / name
    sitk.WriteImage(image, str(path))
    return path


def _ball() -> np.ndarray:
    """The second lesion: PAT1's voxels within ``BALL_RADIUS_MM`` of ``BALL_CENTRE`` (z, y, x bool)."""
    gtv = sitk.ReadImage(str(PAT1_GTV))
    sx, sy, sz = gtv.GetSpacing()
    zz, yy, xx = np.mgrid[tuple(slice(0, n) for n in reversed(gtv.GetSize()))]
    cx, cy, cz = BALL_CENTRE
    return ((xx - cx) * sx) ** 2 + ((yy - cy) * sy) ** 2 + ((zz - cz) * sz) ** 2 <= BALL_RADIUS_MM ** 2


@pytest.fixture(scope="module")
def stray_gtv(tmp_path_factory) -> Path:
    """PAT1's GTV plus one voxel 25 mm away (stray paint)."""
    extra = np.zeros(sitk.ReadImage(str(PAT1_GTV)).GetSize()[::-1], dtype=bool)
    x, y, z = STRAY_VOXEL
    extra[z, y, x] = True
    return _pat1_with(tmp_path_factory.mktemp("stray"), "gtv_stray.nii.gz", extra)


@pytest.fixture(scope="module")
def two_lesions(tmp_path_factory):
    """PAT1's GTV plus a 6 mm ball 25 mm away: (mask path, the ball's voxel count, volume mm^3 and
    centre LPS mm, from its voxel indices)."""
    ball = _ball()
    z, y, x = np.nonzero(ball)
    spacing = sitk.ReadImage(str(PAT1_GTV)).GetSpacing()
    path = _pat1_with(tmp_path_factory.mktemp("two"), "gtv_two.nii.gz", ball)
    return path, int(ball.sum()), float(ball.sum() * np.prod(spacing)), _lps((x.mean(), y.mean(), z.mean()))


# --------------------------------------------------------------------------------------------
# The policy on the real masks
# --------------------------------------------------------------------------------------------

def test_the_ground_truth_lies_where_the_cases_say(stray_gtv, two_lesions):
    gtv = sitk.ReadImage(str(PAT1_GTV))
    distance = sitk.GetArrayFromImage(sitk.SignedMaurerDistanceMap(gtv, insideIsPositive=False,
                                                                  squaredDistance=False, useImageSpacing=True))
    x, y, z = STRAY_VOXEL
    assert 25.0 < distance[z, y, x] < 26.0  # the stray voxel: 25 mm from the GTV
    assert distance[_ball()].min() > 18.0  # the second lesion: apart from the GTV
    assert two_lesions[1] > 200 and 800 < two_lesions[2] < 950  # 4/3 pi 6^3 = 905 mm^3, on 0.98 x 0.98 x 3 mm


@pytest.mark.parametrize("path", [PAT1_GTV] + sorted(BASELINE.glob("*_label.nrrd")) + IBSI_MASKS,
                         ids=lambda p: "/".join(Path(p).parts[-3:]))
def test_real_masks_pass_the_policy(path):
    # Every real GTV is one component, except PyRadiomics' brain1 (two tumour parts of 13,981 and 2,432 mm^3):
    # scored with a warning, never refused. No real mask holds a part below 5 voxels / 10 mm^3.
    from RadSurvLib.gtv_components import GTVComponentsWarning, check_gtv_components

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        parts = check_gtv_components(sitk.ReadImage(str(path)))
    several = [w for w in caught if w.category is GTVComponentsWarning]
    if Path(path).name == "brain1_label.nrrd":
        assert [round(p.volume_mm3) for p in parts] == [13981, 2432] and len(several) == 1
    else:
        assert len(parts) == 1 and not several
    assert not [p for p in parts if p.is_stray()]


def test_rtstruct_gtvs_are_one_component():
    from RadSurvLib.gtv_components import gtv_components
    from RadSurvLib.io.dicom import load_dicom_case

    _, gtv, _ = load_dicom_case(SERIES, rtstruct=RTSTRUCT, roi="GTV-1")
    assert [p.voxels for p in gtv_components(gtv)] == [125_256]  # PAT1's RTSTRUCT: its NIfTI mask
    if LUNG1_001.is_dir():  # the full-size planning CT of the shared data
        _, gtv, _ = load_dicom_case(LUNG1_001 / "image", rtstruct=LUNG1_001 / "rtstruct" / "RS.dcm", roi="GTV-1")
        assert [p.voxels for p in gtv_components(gtv)] == [54_639]


def test_connectivity_is_26_a_diagonal_step_is_one_lesion():
    # Two cubes touching at one corner only: one part with 26-connectivity (6 would split them).
    from RadSurvLib.gtv_components import CONNECTIVITY, gtv_components

    array = np.zeros((10, 10, 10), dtype=np.uint8)
    array[1:4, 1:4, 1:4] = 1
    array[4:7, 4:7, 4:7] = 1
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((0.5, 0.5, 2.0))
    assert CONNECTIVITY == 26 and [p.voxels for p in gtv_components(image)] == [54]
    array[4, 4, 4] = 0  # now a gap of one voxel: two parts of 27 and 26 voxels
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((0.5, 0.5, 2.0))
    parts = gtv_components(image)
    assert [p.voxels for p in parts] == [27, 26] and parts[0].volume_mm3 == 27 * 0.5


# --------------------------------------------------------------------------------------------
# Stray paint: one voxel 25 mm from the GTV, refused with its position
# --------------------------------------------------------------------------------------------

def test_stray_voxel_is_refused_in_the_validate_stage_with_its_position(tmp_path, stray_gtv):
    from RadSurvLib.options import ScoreOptions
    from RadSurvLib.pipeline import score_case

    events = []
    with pytest.raises(InputError) as caught:
        score_case(PAT1_CT, stray_gtv, tmp_path / "out", ScoreOptions(device="cpu"), progress=events.append)
    message = str(caught.value)
    lps = _lps(STRAY_VOXEL)
    for fragment in ("gtv: the GTV has 2 separate parts (26-connected components)", "stray paint",
                     f"2.86 mm^3 (1 voxel) at {_ras_text(lps)} mm", f"LPS ({lps[0]:.1f}, {lps[1]:.1f}, {lps[2]:.1f})",
                     "voxel (171, 98, 27)", "Islands effect", "\"Remove small islands\" with a minimum size of 2 voxels",
                     "in a mask file, set those voxels to 0"):
        assert fragment in message, message
    assert {e.stage for e in events} == {"validate"} and not (tmp_path / "out").exists()


def test_stray_voxel_is_refused_by_the_cli(tmp_path, stray_gtv):
    status, out, err = _cli(["score", "--ct", PAT1_CT, "--gtv", stray_gtv, "--out", tmp_path / "out", *QUICK])
    assert status == 2, (out, err)
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("radsurv: error: --gtv: the GTV has 2 separate parts"), err
    assert _ras_text(_lps(STRAY_VOXEL)) in err and "Traceback" not in err
    assert "resample" not in out and not (tmp_path / "out").exists()


def test_stray_voxel_fails_its_case_in_batch_naming_the_position(tmp_path, stray_gtv):
    cases = tmp_path / "cases.csv"
    cases.write_text(f"case_id,ct,gtv\nstray,{PAT1_CT},{stray_gtv}\n")
    status, out, err = _cli(["batch", "--cases", cases, "--out", tmp_path / "cohort", *QUICK])
    with open(tmp_path / "cohort" / "results.csv", newline="") as handle:
        (row,) = list(csv.DictReader(handle))
    assert status == 1 and row["status"] == "failed", (status, out, err)
    assert row["error"].startswith("gtv: the GTV has 2 separate parts"), row["error"]  # the cases.csv column
    assert _ras_text(_lps(STRAY_VOXEL)) in row["error"] and "voxel (171, 98, 27)" in row["error"]


def test_stray_voxel_is_refused_by_the_worker_in_job_terms(tmp_path, stray_gtv):
    from RadSurvLib.worker import server

    sent = []

    class Out:
        def send(self, message):
            sent.append(message)

    code = server.run_job({"ct": str(PAT1_CT), "gtv": str(stray_gtv), "out_dir": str(tmp_path / "out"),
                           "device": "cpu"}, Out(), io.StringIO())
    assert code == 2 and sent[-1]["kind"] == "input", sent[-1]
    assert sent[-1]["message"].startswith("gtv: the GTV has 2 separate parts"), sent[-1]
    assert "voxel (171, 98, 27)" in sent[-1]["message"]
    assert not [m for m in sent if m["type"] == "progress" and m["stage"] == "resample"]




@pytest.mark.slicer
def test_stray_voxel_is_refused_by_the_module_logic_in_gui_terms(tmp_path, stray_gtv):
    pytest.importorskip("slicer", reason="needs the slicer-core wheel")
    from conftest import InProcessWorkerRunner

    from RadSurvLib.control import logic as sl
    from RadSurvLib.worker.client import WorkerFailed

    scene, ct, seg, gtv_id = make_pat1_scene(stray_gtv)
    logic = sl.ScoringLogic(runner=InProcessWorkerRunner())
    with pytest.raises(WorkerFailed) as caught:
        logic.process(ct, seg, gtv_id, pythonCommand=["python"], outputDir=tmp_path / "out", device="cpu")
    message = sl.guiMessage(caught.value)
    assert message.startswith("GTV segment: the GTV has 2 separate parts"), message
    assert _ras_text(_lps(STRAY_VOXEL)) in message and "Remove small islands" in message
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------------------------
# Two lesions: scored as delineated, warned, each listed in result.json
# --------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_two_lesions_are_scored_warned_and_listed(tmp_path, two_lesions):
    path, voxels, volume, centre = two_lesions
    out = tmp_path / "out"
    status, stdout, err = _cli(["score", "--ct", PAT1_CT, "--gtv", path, "--out", out, *QUICK])
    assert status == 0, err
    result = json.loads((out / "result.json").read_text())
    gtv = result["gtv"]
    assert gtv["n_components"] == 2 and gtv["connectivity"] == 26 and "scored as delineated" in gtv["component_policy"]
    first, second = gtv["components"]
    assert first["voxels"] == 125_256 and second["voxels"] == voxels
    assert second["volume_mm3"] == pytest.approx(volume, rel=1e-9)
    assert np.allclose(second["centre_lps_mm"], centre, atol=1e-3)
    assert np.allclose(second["centre_ras_mm"], [-centre[0], -centre[1], centre[2]], atol=1e-3)
    assert second["centre_voxel_ijk"] == list(BALL_CENTRE)
    assert gtv["volume_mm3_input"] == pytest.approx(first["volume_mm3"] + second["volume_mm3"])  # one GTV, both
    (warning,) = [w for w in result["warnings"] if w.startswith("GTVComponentsWarning: GTV: the mask has 2 separate")]
    assert _ras_text(centre) in warning and "scored together as one GTV" in warning
    assert "WARNING: GTVComponentsWarning" in stdout  # printed by the CLI
    assert "GTV: 2 connected components" in stdout  # the validate stage's progress

    from RadSurvLib.slicer.write import scores_rows  # the module's and the app's results table

    rows = {quantity: (value, unit) for quantity, value, unit in scores_rows(result)}
    assert rows["GTV components"][0] == "2" and _ras_text(centre)[4:] in rows["GTV component 2"][1]
    assert any(q == "warning" and v.startswith("GTVComponentsWarning") for q, v, _ in scores_rows(result))


# --------------------------------------------------------------------------------------------
# Two ROIs / segments of one name
# --------------------------------------------------------------------------------------------

def _rtstruct_with_a_partial_copy(tmp_path: Path, copy_name: str = "GTV-1") -> Path:
    """PAT1's RTSTRUCT plus ROI number 2 named ``copy_name``: GTV-1 with every other contour (a partial copy)."""
    import pydicom

    ds = pydicom.dcmread(str(RTSTRUCT))
    roi = copy.deepcopy(ds.StructureSetROISequence[0])
    roi.ROINumber, roi.ROIName = 2, copy_name
    ds.StructureSetROISequence.append(roi)
    contours = copy.deepcopy(ds.ROIContourSequence[0])
    contours.ReferencedROINumber = 2
    contours.ContourSequence = pydicom.Sequence(list(contours.ContourSequence)[::2])
    ds.ROIContourSequence.append(contours)
    if "RTROIObservationsSequence" in ds:
        observation = copy.deepcopy(ds.RTROIObservationsSequence[0])
        observation.ObservationNumber, observation.ReferencedROINumber = 2, 2
        ds.RTROIObservationsSequence.append(observation)
    path = tmp_path / "rs.dcm"
    ds.save_as(str(path))
    return path


def test_rtstruct_with_two_rois_of_the_asked_name_is_refused(tmp_path):
    import pydicom

    from RadSurvLib.io.dicom import load_dicom_case

    path = _rtstruct_with_a_partial_copy(tmp_path)  # today: ROI 2, the partial copy, rasterised as "GTV-1"
    n = len(pydicom.dcmread(str(RTSTRUCT)).ROIContourSequence[0].ContourSequence)
    with pytest.raises(InputError) as caught:
        load_dicom_case(SERIES, rtstruct=path, roi="GTV-1")
    message = str(caught.value)
    assert f"2 ROIs of rs.dcm are named 'GTV-1' (ROI number 1, {n} contours at z" in message, message
    assert f"ROI number 2, {(n + 1) // 2} contours at z" in message and "give that name with roi" in message


def test_cli_refuses_the_duplicate_roi_name_in_its_terms(tmp_path, captured_score_case):
    path = _rtstruct_with_a_partial_copy(tmp_path)
    status, out, err = _cli(["score", "--ct", SERIES, "--rtstruct", path, "--roi", "GTV-1", "--out", tmp_path / "o"])
    assert status == 2 and not captured_score_case, err  # refused before any scoring
    assert err.strip().startswith("radsurv: error: --rtstruct: 2 ROIs of rs.dcm are named 'GTV-1'"), err
    assert "give that name with --roi" in err


def test_a_shared_name_that_was_not_asked_for_is_no_obstacle(tmp_path):
    from RadSurvLib.io.dicom import load_dicom_case

    ds_path = _rtstruct_with_a_partial_copy(tmp_path, copy_name="GTV-1 copy")
    import pydicom

    ds = pydicom.dcmread(str(ds_path))
    third = copy.deepcopy(ds.StructureSetROISequence[1])
    third.ROINumber = 3
    ds.StructureSetROISequence.append(third)  # two ROIs "GTV-1 copy"; the GTV asked for is "GTV-1"
    ds.save_as(str(ds_path))
    _, gtv, _ = load_dicom_case(SERIES, rtstruct=ds_path, roi="GTV-1")
    assert int(sitk.GetArrayViewFromImage(gtv).sum()) == 125_256


def test_dicom_seg_with_two_segments_of_one_label_is_refused(tmp_path):
    highdicom = pytest.importorskip("highdicom")
    import pydicom
    from pydicom.sr.codedict import codes

    from RadSurvLib.io.dicom import load_dicom_case, read_seg_segment

    ct, gtv, series = load_dicom_case(SERIES, rtstruct=RTSTRUCT, roi="GTV-1")
    full = sitk.GetArrayFromImage(gtv).astype(bool)
    partial = full.copy()
    partial[::2] = False  # every other slice: a partial copy
    descriptions = [highdicom.seg.SegmentDescription(
        segment_number=k, segment_label="GTV-1", segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
        segmented_property_type=codes.SCT.Neoplasm, algorithm_type=highdicom.seg.SegmentAlgorithmTypeValues.MANUAL)
        for k in (1, 2)]
    seg = highdicom.seg.Segmentation(
        source_images=[pydicom.dcmread(f) for f in series.files], pixel_array=np.stack([full, partial], axis=-1),
        segmentation_type=highdicom.seg.SegmentationTypeValues.BINARY, segment_descriptions=descriptions,
        series_instance_uid=highdicom.UID(), series_number=99, sop_instance_uid=highdicom.UID(), instance_number=1,
        manufacturer="RadSurv tests", manufacturer_model_name="test", software_versions="0", device_serial_number="0")
    path = tmp_path / "seg.dcm"
    seg.save_as(str(path))
    for roi in (None, "GTV-1"):  # today's reader took segment 2 (the partial copy) for both
        with pytest.raises(InputError) as caught:
            read_seg_segment(path, series, roi)
        message = str(caught.value)
        assert "2 segments of seg.dcm are named 'GTV-1' (segment number 1; segment number 2)" in message, message


def _seg_nrrd(tmp_path: Path, names) -> Path:
    """A 3D Slicer .seg.nrrd (one layer) of PAT1: label 1 its GTV, label 2 the second lesion, segments named ``names``."""
    gtv = sitk.ReadImage(str(PAT1_GTV))
    array = sitk.GetArrayFromImage(gtv)
    array[_ball()] = 2
    image = sitk.GetImageFromArray(array)
    image.CopyInformation(gtv)
    for k, name in enumerate(names):
        for key, value in (("ID", f"Segment_{k + 1}"), ("Name", name), ("LabelValue", str(k + 1)), ("Layer", "0")):
            image.SetMetaData(f"Segment{k}_{key}", value)
    path = tmp_path / "gtv.seg.nrrd"
    sitk.WriteImage(image, str(path), True)
    return path


def test_seg_nrrd_with_two_segments_of_one_name_is_refused(tmp_path):
    from RadSurvLib.io.images import read_mask

    path = _seg_nrrd(tmp_path, ["GTV", "GTV"])
    for label in (None, 1, 2):  # today: "2 labels, set gtv_label", then label 2 taken as the GTV
        with pytest.raises(InputError) as caught:
            read_mask(path, "gtv", label=label)
        message = str(caught.value)
        assert "2 segments of the file" in message and "are named 'GTV' (label 1, Segment0; label 2, Segment1)" in message
        assert "Export the GTV segment alone" in message, message
    named = _seg_nrrd(tmp_path, ["GTV", "node"])  # distinct names: the label chooses, as before
    assert int(sitk.GetArrayViewFromImage(read_mask(named, "gtv", label=1)).sum()) == 125_256


def test_cli_refuses_the_seg_nrrd_with_two_segments_of_one_name(tmp_path):
    path = _seg_nrrd(tmp_path, ["GTV", "GTV"])
    status, out, err = _cli(["score", "--ct", PAT1_CT, "--gtv", path, "--gtv-label", "2", "--out", tmp_path / "out",
                             *QUICK])
    assert status == 2, (out, err)
    assert err.strip().startswith("radsurv: error: --gtv: 2 segments of the file"), err
    assert "Export the GTV segment alone" in err and not (tmp_path / "out").exists()


def _rtstruct_with_a_stray_contour(tmp_path: Path) -> Path:
    """PAT1's RTSTRUCT whose GTV-1 has one more contour: a 1.5 mm square 40 mm to the patient's left
    of the first contour's first point, on its slice (stray paint, a few voxels)."""
    import pydicom

    ds = pydicom.dcmread(str(RTSTRUCT))
    contours = ds.ROIContourSequence[0].ContourSequence
    stray = copy.deepcopy(contours[len(contours) // 2])
    x, y, z = (float(v) for v in stray.ContourData[:3])
    x += 40.0
    stray.ContourData = [x, y, z, x + 1.5, y, z, x + 1.5, y + 1.5, z, x, y + 1.5, z]
    stray.NumberOfContourPoints = 4
    contours.append(stray)
    path = tmp_path / "rs_stray.dcm"
    ds.save_as(str(path))
    return path


def test_stray_contour_of_an_rtstruct_is_refused_naming_the_rtstruct(tmp_path):
    """A DICOM user gave --rtstruct and --roi, not --gtv: the refusal (validate stage) names what they gave."""
    status, out, err = _cli(["score", "--ct", SERIES, "--rtstruct", _rtstruct_with_a_stray_contour(tmp_path),
                             "--roi", "GTV-1", "--out", tmp_path / "o", *QUICK])
    assert status == 2 and "resample" not in out, (out, err)  # refused before any later stage
    assert err.strip().startswith("radsurv: error: --rtstruct: the GTV has 2 separate parts"), err
    assert "in an RTSTRUCT, delete the stray contour" in err and "--gtv" not in err
    assert not (tmp_path / "o").exists()


def test_voxelmaps_command_warns_of_two_lesions_in_its_own_words(tmp_path, two_lesions):
    """`radsurv voxelmaps` on a GTV of two parts: one WARNING line (as `radsurv score` prints it),
    recorded in voxelmaps.json, and no raw Python warning on stderr."""
    import json

    status, out, err = _cli(["voxelmaps", "--ct", PAT1_CT, "--gtv", two_lesions[0], "--out", tmp_path / "maps",
                             "--features", "firstorder_Mean", "--quiet"])
    assert status == 0, err
    lines = [line for line in out.splitlines() if line.startswith("WARNING: GTVComponentsWarning: GTV: the mask "
                                                                  "has 2 separate parts")]
    assert len(lines) == 1, out
    assert "GTVComponentsWarning" not in err, err
    info = json.loads((tmp_path / "maps" / "voxelmaps.json").read_text())
    assert len(info["warnings"]) == 1 and info["warnings"][0] in lines[0]
