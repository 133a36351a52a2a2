"""DICOM outputs (``radsurv score --dicom-out``, ``RadSurvLib.outputs.dicom``): read back by RadSurv's own
RTSTRUCT and SEG readers onto the CT's grid, by pydicom and highdicom, and checked by David Clunie's
``dciodvfy`` (dicom3tools; those tests are skipped where it is not installed).

One ``radsurv score`` run of PAT1 from DICOM (CT series + RTSTRUCT) with ``--dicom-out`` and an inner rim is
shared by the tests (module fixture); lung1_001 (a whole chest CT) is run once more under the ``slow`` marker.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import PAT1_CT, PAT1_DIR, PAT1_GTV

PAT1_DICOM_CT = PAT1_DIR / "dicom" / "image"
PAT1_RTSTRUCT = PAT1_DIR / "dicom" / "mask" / "DCM_RS_00060.dcm"
LUNG1 = Path("/work/shared/data/lung1_001")
OBJECTS = ("rtstruct", "seg", "parametric_map", "sr")
#: What each object is (SOP Class UID).
SOP_CLASSES = {"rtstruct": "1.2.840.10008.5.1.4.1.1.481.3", "seg": "1.2.840.10008.5.1.4.1.1.66.4",
               "parametric_map": "1.2.840.10008.5.1.4.1.1.30", "sr": "1.2.840.10008.5.1.4.1.1.88.34"}


def _score(ct, rtstruct, out, *extra):
    from RadSurvLib.cli import main

    status = main(["score", "--ct", str(ct), "--rtstruct", str(rtstruct), "--roi", "GTV-1", "--out", str(out),
                   "--radiomics", "quick", "--voxel-maps", "firstorder_Mean", "--device", "cpu", "--dicom-out",
                   *extra])
    assert status == 0
    return out, json.loads((out / "result.json").read_text())


@pytest.fixture(scope="module")
def pat1_dicom_run(tmp_path_factory):
    """(output folder, result.json, the CT series) of PAT1 scored from DICOM with --dicom-out and a 2 mm inner rim."""
    from RadSurvLib.io.dicom import read_ct_series

    out, result = _score(PAT1_DICOM_CT, PAT1_RTSTRUCT, tmp_path_factory.mktemp("dicom-out") / "PAT1",
                         "--inner-rim", "2")
    return out, result, read_ct_series(PAT1_DICOM_CT)


def _path(run, kind) -> Path:
    out, result, _ = run
    return out / result["outputs"]["dicom"][kind]


def _regions(run):
    """The regions of rings.nrrd as RadSurv wrote it (GTV = label 1 + the inner rim; each ring and the rim)."""
    import SimpleITK as sitk

    from RadSurvLib.outputs.dicom import regions

    out, result, _ = run
    return regions(sitk.ReadImage(str(out / result["outputs"]["rings"])), result["rings"])


def _dice(a, b) -> float:
    return 2.0 * np.count_nonzero(a & b) / (np.count_nonzero(a) + np.count_nonzero(b))


# -- the run and its folder --------------------------------------------------------------------

def test_dicom_objects_are_listed_in_result_json_and_written(pat1_dicom_run):
    out, result, _ = pat1_dicom_run
    assert result["outputs"]["dicom"] == {"rtstruct": "dicom/rtstruct.dcm", "seg": "dicom/seg.dcm",
                                          "parametric_map": "dicom/heatmap_pm.dcm", "sr": "dicom/sr.dcm"}
    assert sorted(p.name for p in (out / "dicom").iterdir()) == ["heatmap_pm.dcm", "rtstruct.dcm", "seg.dcm",
                                                                 "sr.dcm"]
    assert not [p for p in out.iterdir() if p.name.startswith(".radsurv")]  # staging moved in, lock released
    assert result["case"]["ct"]["dicom"]["slices"] == 60 and result["options"]["dicom_out"] is True
    regions = _regions(pat1_dicom_run)
    assert [r["name"] for r in regions] == ["GTV", "GTV ring 0-3 mm", "GTV ring 3-6 mm", "GTV ring 6-9 mm",
                                            "GTV inner rim 0-2 mm"]
    assert all(r["mask"].any() for r in regions)


def test_every_object_references_the_source_study_and_has_uids_of_its_own(pat1_dicom_run):
    import pydicom

    from RadSurvLib import __version__

    _, _, series = pat1_dicom_run
    ct = pydicom.dcmread(series.files[0], stop_before_pixels=True)
    seen_series, seen_instances = {ct.SeriesInstanceUID}, set(series.sop_instance_uids)
    for kind in OBJECTS:
        ds = pydicom.dcmread(_path(pat1_dicom_run, kind))
        assert ds.SOPClassUID == SOP_CLASSES[kind]
        for name in ("StudyInstanceUID", "PatientID", "PatientName", "PatientBirthDate", "PatientSex", "StudyID",
                     "AccessionNumber", "StudyDate"):
            assert ds.get(name) == ct.get(name), (kind, name)
        assert ds.SeriesInstanceUID not in seen_series and ds.SOPInstanceUID not in seen_instances
        seen_series.add(ds.SeriesInstanceUID)
        seen_instances.add(ds.SOPInstanceUID)
        assert ds.Manufacturer == "RadSurv" and ds.SoftwareVersions == __version__
        assert "DEMONSTRATION" in ds.SeriesDescription  # the demonstration model, labelled as everywhere
        if kind != "sr":
            assert ds.FrameOfReferenceUID == ct.FrameOfReferenceUID


def test_seg_and_map_reference_the_ct_slices(pat1_dicom_run):
    import pydicom

    _, _, series = pat1_dicom_run
    for kind in ("seg", "parametric_map"):
        ds = pydicom.dcmread(_path(pat1_dicom_run, kind))
        (referenced,) = ds.ReferencedSeriesSequence
        assert referenced.SeriesInstanceUID == series.series_uid
        uids = {item.ReferencedSOPInstanceUID for item in referenced.ReferencedInstanceSequence}
        assert uids and uids <= set(series.sop_instance_uids)


# -- RTSTRUCT ----------------------------------------------------------------------------------

def test_rtstruct_read_back_by_radsurv_matches_rings_nrrd(pat1_dicom_run):
    import pydicom
    import SimpleITK as sitk

    from RadSurvLib.io.dicom import rasterise_rtstruct, rtstruct_roi_names
    from RadSurvLib.outputs.colours import GTV_COLOR, ring_color

    _, _, series = pat1_dicom_run
    path = _path(pat1_dicom_run, "rtstruct")
    regions = _regions(pat1_dicom_run)
    assert rtstruct_roi_names(path) == [r["name"] for r in regions]
    for region in regions:
        read = sitk.GetArrayFromImage(rasterise_rtstruct(path, series, region["name"])).astype(bool)
        assert read.shape == region["mask"].shape
        assert _dice(read, region["mask"]) >= 0.98, region["name"]
    ds = pydicom.dcmread(path)
    colours = {r.ReferencedROINumber: [int(v) for v in r.ROIDisplayColor] for r in ds.ROIContourSequence}
    expected = [GTV_COLOR, *(ring_color(k) for k in range(len(regions) - 1))]
    assert [colours[n + 1] for n in range(len(regions))] == [[round(255 * c) for c in rgb] for rgb in expected]
    (frame,) = ds.ReferencedFrameOfReferenceSequence
    (study,) = frame.RTReferencedStudySequence
    (referenced,) = study.RTReferencedSeriesSequence
    assert frame.FrameOfReferenceUID == series.frame_of_reference_uid
    assert study.ReferencedSOPInstanceUID == ds.StudyInstanceUID
    assert referenced.SeriesInstanceUID == series.series_uid
    assert [c.ReferencedSOPInstanceUID for c in referenced.ContourImageSequence] == series.sop_instance_uids


def test_rtstruct_polygons_give_each_slice_back_exactly(pat1_dicom_run):
    """Stricter than the Dice bound: the half-way polygons hold exactly the region's voxel centres."""
    import SimpleITK as sitk

    from RadSurvLib.io.dicom import rasterise_rtstruct

    _, _, series = pat1_dicom_run
    for region in _regions(pat1_dicom_run):
        read = sitk.GetArrayFromImage(rasterise_rtstruct(_path(pat1_dicom_run, "rtstruct"), series, region["name"]))
        assert np.array_equal(read.astype(bool), region["mask"]), region["name"]


def test_slice_polygons_keep_holes_and_diagonal_neighbours():
    from matplotlib.path import Path as Polygon

    from RadSurvLib.outputs.dicom import slice_polygons

    mask = np.zeros((9, 10), bool)
    mask[1:8, 1:8] = True
    mask[3:5, 3:5] = False  # a hole
    mask[8, 8] = True  # a pixel touching the square at a corner only
    mask[0, 9] = True
    inside = np.zeros_like(mask)
    rows, cols = np.mgrid[0:9, 0:10]
    centres = np.column_stack([cols.ravel(), rows.ravel()])
    for polygon in slice_polygons(mask):
        inside ^= Polygon(polygon).contains_points(centres).reshape(mask.shape)
    assert np.array_equal(inside, mask)


# -- SEG ---------------------------------------------------------------------------------------

def test_seg_read_back_by_radsurv_equals_rings_nrrd(pat1_dicom_run):
    import SimpleITK as sitk

    from RadSurvLib.io.dicom import read_seg_segment

    _, _, series = pat1_dicom_run
    for region in _regions(pat1_dicom_run):
        read = sitk.GetArrayFromImage(read_seg_segment(_path(pat1_dicom_run, "seg"), series, region["name"]))
        assert np.array_equal(read.astype(bool), region["mask"]), region["name"]


def test_seg_segments_are_described(pat1_dicom_run):
    import highdicom as hd

    from RadSurvLib.outputs.colours import GTV_COLOR

    seg = hd.seg.segread(_path(pat1_dicom_run, "seg"))
    assert seg.SegmentationType == "BINARY"
    descriptions = [seg.get_segment_description(n) for n in seg.segment_numbers]
    assert [d.segment_label for d in descriptions] == [r["name"] for r in _regions(pat1_dicom_run)]
    assert descriptions[0].algorithm_type == hd.seg.SegmentAlgorithmTypeValues.MANUAL
    assert all(d.algorithm_type == hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC for d in descriptions[1:])
    rgb = hd.color.CIELabColor.from_dicom_value(seg.SegmentSequence[0].RecommendedDisplayCIELabValue).to_rgb()
    assert np.allclose(rgb, [255 * c for c in GTV_COLOR], atol=2)


# -- Parametric Map ----------------------------------------------------------------------------

def test_parametric_map_values_equal_heatmap_nrrd(pat1_dicom_run):
    """Each frame, placed by its own ImagePositionPatient on the CT's slices, holds heatmap.nrrd's
    float32 values; the slices without a frame are 0 in heatmap.nrrd."""
    import pydicom
    import SimpleITK as sitk

    out, result, series = pat1_dicom_run
    heatmap = sitk.ReadImage(str(out / result["outputs"]["heatmap"]))
    expected = sitk.GetArrayFromImage(heatmap)
    assert expected.dtype == np.float32 and expected.max() > 0
    ds = pydicom.dcmread(_path(pat1_dicom_run, "parametric_map"))
    assert "FloatPixelData" in ds and ds.BitsAllocated == 32
    frames = ds.pixel_array.reshape(-1, ds.Rows, ds.Columns)
    slice_z = [float(pydicom.dcmread(f, stop_before_pixels=True).ImagePositionPatient[2]) for f in series.files]
    covered = set()
    for frame, item in zip(frames, ds.PerFrameFunctionalGroupsSequence):
        z = float(item.PlanePositionSequence[0].ImagePositionPatient[2])
        k = int(np.argmin(np.abs(np.array(slice_z) - z)))
        assert abs(slice_z[k] - z) < 1e-3
        covered.add(k)
        assert np.array_equal(frame, expected[k]), k
    assert covered and all(not expected[k].any() for k in set(range(len(slice_z))) - covered)
    mapping = ds.SharedFunctionalGroupsSequence[0].RealWorldValueMappingSequence[0]
    assert float(mapping.RealWorldValueSlope) == 1.0 and float(mapping.RealWorldValueIntercept) == 0.0
    assert mapping.MeasurementUnitsCodeSequence[0].CodeValue == "1"
    assert mapping.QuantityDefinitionSequence[0].ConceptCodeSequence[0].CodeMeaning.startswith("Grad-CAM")


# -- SR ----------------------------------------------------------------------------------------

def _sr_numbers(path) -> dict:
    import highdicom as hd

    sr = hd.sr.srread(path)
    (group,) = sr.content.get_volumetric_roi_measurement_groups()
    numbers = {m.name.meaning: (m.value, m.unit.value) for m in group.get_measurements()}
    codes = {q.name.meaning: q.value.meaning for q in group.get_qualitative_evaluations()}
    return sr, group, numbers, codes


def test_sr_numbers_equal_result_json(pat1_dicom_run):
    import pydicom

    out, result, _ = pat1_dicom_run
    sr, group, numbers, codes = _sr_numbers(_path(pat1_dicom_run, "sr"))
    assert sr.ContentTemplateSequence[0].TemplateIdentifier == "1500"
    assert numbers == {"Volume": (result["gtv"]["volume_mm3_input"], "mm3"),
                       "Survival risk score": (result["risk_score"], "1"),
                       "Risk group cut-off of the risk score": (result["risk_cutoff"], "1"),
                       **{f"Survival probability at {h}": (result[f"survival_{h}"], "1") for h in ("1y", "2y", "3y")}}
    assert codes == {"Risk group": "High risk" if result["risk_group"] == "high" else "Low risk",
                     "Demonstration model (not for clinical use)": "Yes" if result["model"]["demonstration"] else "No"}
    seg = pydicom.dcmread(_path(pat1_dicom_run, "seg"))
    segment = group.referenced_segment
    assert segment.referenced_sop_instance_uid == seg.SOPInstanceUID
    assert list(segment.referenced_segment_numbers) == [1]  # the GTV
    texts = {item.ConceptNameCodeSequence[0].CodeMeaning: item.get("TextValue")
             for item in _content_items(sr) if item.ValueType == "TEXT"}
    assert texts["Algorithm Name"] == result["model"]["name"]
    assert texts["Algorithm Version"] == result["model"]["version"]
    evidence = {i.ReferencedSOPInstanceUID for s in sr.CurrentRequestedProcedureEvidenceSequence
                for r in s.ReferencedSeriesSequence for i in r.ReferencedSOPSequence}
    assert seg.SOPInstanceUID in evidence


def _content_items(ds):
    for item in ds.get("ContentSequence", []):
        yield item
        yield from _content_items(item)


@pytest.mark.filterwarnings("ignore:.*unlikely to represent the intended person name")
def test_sr_carries_survival_probabilities_when_result_has_them(pat1_dicom_run):
    """The demonstration bundle's (top-level survival_1y ...) and a signature's, added to the run's
    result, each under its own name."""
    import highdicom as hd

    from RadSurvLib.outputs.dicom import build_sr, _source_headers

    out, result, series = pat1_dicom_run
    seg = hd.seg.segread(_path(pat1_dicom_run, "seg"))
    with_signature = {**result, "signature": {"radscore": 0.3, "risk_group": "high", "survival_1y": 0.8125,
                                              "survival_3y": 0.43359375}}
    sr = build_sr(_source_headers(series), seg, with_signature)
    path = out.parent / "sr-with-signature.dcm"
    sr.save_as(str(path))
    _, _, numbers, _ = _sr_numbers(path)
    assert numbers["Survival probability at 1y (radiomics signature)"] == (0.8125, "1")
    assert numbers["Survival probability at 3y (radiomics signature)"] == (0.43359375, "1")
    for horizon in ("1y", "2y", "3y"):  # the model bundle's, from the run itself
        assert numbers[f"Survival probability at {horizon}"] == (pytest.approx(result[f"survival_{horizon}"]), "1")


# -- every object read by pydicom and highdicom, and valid ----------------------------------------

@pytest.mark.parametrize("kind", OBJECTS)
def test_pydicom_and_highdicom_read_the_object(pat1_dicom_run, kind):
    import highdicom as hd
    import pydicom

    path = _path(pat1_dicom_run, kind)
    ds = pydicom.dcmread(path)  # without force: a Part 10 file (preamble, "DICM", file meta)
    assert ds.preamble is not None and ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    assert ds.file_meta.MediaStorageSOPClassUID == ds.SOPClassUID == SOP_CLASSES[kind]
    if kind == "seg":
        assert hd.seg.segread(path).number_of_segments == len(_regions(pat1_dicom_run))
    elif kind == "parametric_map":
        pm = hd.pm.ParametricMap.from_dataset(ds)
        assert pm.pixel_array.dtype == np.float32
    elif kind == "sr":
        assert isinstance(hd.sr.srread(path), hd.sr.Comprehensive3DSR)
    else:  # highdicom has no RT Structure Set class; its UID helpers read the references
        assert all(hd.UID(item.ReferencedSOPInstanceUID) for item in
                   ds.ReferencedFrameOfReferenceSequence[0].RTReferencedStudySequence[0]
                   .RTReferencedSeriesSequence[0].ContourImageSequence)
        assert len(ds.ROIContourSequence) == len(_regions(pat1_dicom_run))


def _dciodvfy(path) -> list:
    """dciodvfy's error lines for ``path`` (its warnings are listed in the README)."""
    done = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, timeout=120)
    return [line for line in (done.stdout + done.stderr).splitlines() if line.startswith("Error")]


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dciodvfy (dicom3tools) is not installed")
@pytest.mark.parametrize("kind", OBJECTS)
def test_dciodvfy_finds_no_error(pat1_dicom_run, kind):
    assert _dciodvfy(_path(pat1_dicom_run, kind)) == []


# -- refusals and the folder rules ------------------------------------------------------------------

def test_a_nifti_ct_with_dicom_out_is_refused_before_anything_is_written(tmp_path, capsys):
    from RadSurvLib.cli import main

    out = tmp_path / "a" / "out"
    status = main(["score", "--ct", str(PAT1_CT), "--gtv", str(PAT1_GTV), "--out", str(out), "--dicom-out"])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1
    assert err[0].startswith("radsurv: error: --dicom-out: the CT") and "not a DICOM series" in err[0]
    assert "--rtstruct" in err[0] and not (tmp_path / "a").exists()


def test_a_batch_with_nifti_cts_and_dicom_out_is_refused_up_front(tmp_path, capsys):
    """A cohort with --dicom-out whose cases have CT files: one sentence naming them, before any
    case runs and before the output folder is made."""
    from RadSurvLib.cli import main

    cases = tmp_path / "cases.csv"
    cases.write_text(f"case_id,ct,gtv,rtstruct,roi\nnifti,{PAT1_CT},{PAT1_GTV},,\n"
                     f"dicom,{PAT1_DICOM_CT},,{PAT1_RTSTRUCT},GTV-1\n")
    status = main(["batch", "--cases", str(cases), "--out", str(tmp_path / "cohort"), "--dicom-out"])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1, err
    assert err[0].startswith("radsurv: error: --dicom-out: 1 case(s) have their CT as a file") and ": nifti." in err[0]
    assert "--rtstruct" in err[0] and not (tmp_path / "cohort").exists()


def test_an_image_in_memory_with_dicom_out_is_refused(tmp_path, pat1_images):
    from RadSurvLib.errors import OptionError
    from RadSurvLib.options import ScoreOptions
    from RadSurvLib.pipeline import score_case

    with pytest.raises(OptionError, match="not a DICOM series") as caught:
        score_case(*pat1_images, tmp_path / "out", ScoreOptions(dicom_out=True))
    assert caught.value.field == "dicom_out" and not (tmp_path / "out").exists()


def test_batch_takes_dicom_out(captured_score_case, tmp_path):
    from RadSurvLib.cli import main

    cases = tmp_path / "cases.csv"
    cases.write_text(f"case_id,ct,rtstruct,roi\nPAT1,{PAT1_DICOM_CT},{PAT1_RTSTRUCT},GTV-1\n")
    main(["batch", "--cases", str(cases), "--out", str(tmp_path / "cohort"), "--dicom-out"])
    (call,) = captured_score_case
    assert call["options"].dicom_out is True
    assert call["ct"].files and call["ct"].series_uid  # the series itself (io.dicom.CTSeries), not its image


def test_overwrite_without_dicom_out_removes_the_dicom_folder_and_keeps_the_users_files(pat1_dicom_run, tmp_path):
    """The folder rules hold for dicom/: an earlier run's objects are RadSurv's, the user's file there is kept."""
    from RadSurvLib.errors import OptionError
    from RadSurvLib.outputs import folder

    out, result, _ = pat1_dicom_run
    copy = tmp_path / "run"
    shutil.copytree(out, copy)
    (copy / "dicom" / "notes.txt").write_text("mine")
    with pytest.raises(OptionError, match="earlier run"):
        folder.out_dir_plan(copy, overwrite=False)
    assert folder.earlier_outputs(copy) >= {"dicom/rtstruct.dcm", "dicom/seg.dcm", "dicom/sr.dcm"}
    with folder.staged(copy, overwrite=True) as (_, staging):  # a new run without DICOM outputs
        (staging / "rings.nrrd").write_bytes(b"new")
        folder.write_json({"outputs": {"rings": "rings.nrrd"}}, staging / folder.RESULT_FILE)
    assert sorted(p.relative_to(copy).as_posix() for p in copy.rglob("*")) == [
        "dicom", "dicom/notes.txt", "result.json", "rings.nrrd"]
    with folder.staged(copy, overwrite=True) as (_, staging):  # and one with them: moved in beside the note
        (staging / "dicom").mkdir()
        (staging / "dicom" / "seg.dcm").write_bytes(b"seg")
        folder.write_json({"outputs": {"dicom": {"seg": "dicom/seg.dcm"}}}, staging / folder.RESULT_FILE)
    assert sorted(p.relative_to(copy).as_posix() for p in copy.rglob("*")) == [
        "dicom", "dicom/notes.txt", "dicom/seg.dcm", "result.json"]
    (copy / "dicom" / "seg.dcm").unlink()
    (copy / "result.json").unlink()
    with pytest.raises(OptionError, match="dicom"):  # a dicom/ folder of the user's alone is the user's
        folder.out_dir_plan(copy, overwrite=False)


# -- lung1_001: a whole chest CT -------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.skipif(not LUNG1.is_dir(), reason="lung1_001 is not on this machine")
def test_lung1_objects_round_trip_and_validate(tmp_path):
    import pydicom
    import SimpleITK as sitk

    from RadSurvLib.io.dicom import rasterise_rtstruct, read_ct_series, read_seg_segment

    out, result = _score(LUNG1 / "image", LUNG1 / "rtstruct" / "RS.dcm", tmp_path / "lung1")
    run = (out, result, read_ct_series(LUNG1 / "image"))
    series = run[2]
    for region in _regions(run):
        rt = sitk.GetArrayFromImage(rasterise_rtstruct(_path(run, "rtstruct"), series, region["name"])).astype(bool)
        seg = sitk.GetArrayFromImage(read_seg_segment(_path(run, "seg"), series, region["name"])).astype(bool)
        assert _dice(rt, region["mask"]) >= 0.98 and np.array_equal(seg, region["mask"]), region["name"]
    assert _sr_numbers(_path(run, "sr"))[2]["Survival risk score"] == (result["risk_score"], "1")
    pm = pydicom.dcmread(_path(run, "parametric_map"))
    assert pm.NumberOfFrames < len(series.files)  # only the slices the heatmap reaches
    if shutil.which("dciodvfy"):
        assert {kind: _dciodvfy(_path(run, kind)) for kind in OBJECTS} == {kind: [] for kind in OBJECTS}
