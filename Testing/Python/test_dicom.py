"""DICOM inputs on PAT1's real DICOM files (IBSI-1 CT phantom: 60 CT slices + RTSTRUCT 'GTV-1'):
the rasterised ROI against the NIfTI mask, bad series built from copies of the real files, SEG, CLI."""

import shutil
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from RadSurvLib.errors import InputError
from RadSurvLib.io.dicom import CTSeries

from conftest import PAT1_CT, PAT1_GTV

#: PAT1's original DICOM files (copied unchanged from the IBSI data set, see RadSurvLib/resources/PAT1/README.md).
DICOM = Path(__file__).resolve().parents[2] / "RadSurvLib" / "resources" / "PAT1" / "dicom"
SERIES = DICOM / "image"
RTSTRUCT = DICOM / "mask" / "DCM_RS_00060.dcm"


@pytest.fixture(scope="module")
def pat1_dicom():
    from RadSurvLib.io.dicom import load_dicom_case

    return load_dicom_case(SERIES, rtstruct=RTSTRUCT, roi="GTV-1")


def _dice(a, b):
    return 2 * (a & b).sum() / (a.sum() + b.sum())


def test_pat1_dicom_matches_the_nifti_version(pat1_dicom):
    ct, gtv, series = pat1_dicom
    nifti_ct, nifti_gtv = sitk.ReadImage(str(PAT1_CT)), sitk.ReadImage(str(PAT1_GTV))
    assert ct.GetSize() == nifti_ct.GetSize() == (204, 201, 60)
    assert np.allclose(ct.GetSpacing(), nifti_ct.GetSpacing(), atol=1e-4)
    assert np.allclose(ct.GetOrigin(), nifti_ct.GetOrigin(), atol=1e-3)
    # RescaleIntercept -1000 applied: the same HU as the NIfTI file.
    assert np.array_equal(sitk.GetArrayFromImage(ct), sitk.GetArrayFromImage(nifti_ct))
    mask, reference = sitk.GetArrayFromImage(gtv) > 0, sitk.GetArrayFromImage(nifti_gtv) > 0
    assert abs(mask.sum() / reference.sum() - 1) < 0.01
    assert _dice(mask, reference) >= 0.97
    assert reference.sum() == 125_256
    assert len(series.sop_instance_uids) == 60 and series.series_uid and series.frame_of_reference_uid


def test_roi_name_that_is_not_there_lists_the_names():
    from RadSurvLib.io.dicom import load_dicom_case, rtstruct_roi_names

    assert rtstruct_roi_names(RTSTRUCT) == ["GTV-1"]
    with pytest.raises(InputError, match=r"'GTV-2' is not an ROI of DCM_RS_00060.dcm; its ROIs are: 'GTV-1'"):
        load_dicom_case(SERIES, rtstruct=RTSTRUCT, roi="GTV-2")
    with pytest.raises(InputError, match="its ROIs are: 'GTV-1'"):
        load_dicom_case(SERIES, rtstruct=RTSTRUCT, roi=None)


def test_missing_slice_is_reported(tmp_path):
    from RadSurvLib.io.dicom import read_ct_series

    folder = tmp_path / "series"
    shutil.copytree(SERIES, folder)
    (folder / "DCM_IMG_00030.dcm").unlink()
    with pytest.raises(InputError, match=r"uneven slice spacing .* 6\.00 mm between .* 3\.00 mm elsewhere"):
        read_ct_series(folder)


@pytest.mark.parametrize("name, fraction", [("DCM_IMG_00030.dcm", 0.99), ("DCM_IMG_00030.dcm", 0.6),
                                            ("DCM_IMG_00059.dcm", 0.99), ("DCM_IMG_00000.dcm", 0.1)])
def test_truncated_slice_is_named_not_dropped(tmp_path, name, fraction):
    # GDCM leaves a cut slice out of the series silently: at an end of the stack the CT would lose a
    # slice without any gap to show it.
    from RadSurvLib.io.dicom import read_ct_series

    folder = tmp_path / "series"
    shutil.copytree(SERIES, folder)
    data = (folder / name).read_bytes()
    (folder / name).write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(InputError, match=rf"1 DICOM file\(s\) cannot be read .*{name} .*truncated or corrupt"):
        read_ct_series(folder)


def _edited_rtstruct(tmp_path, edit):
    import pydicom

    ds = pydicom.dcmread(str(RTSTRUCT))
    edit(ds)
    path = tmp_path / "rs.dcm"
    ds.save_as(str(path))
    return path


def test_rtstruct_of_another_series_or_frame_is_rejected(tmp_path, pat1_dicom):
    from RadSurvLib.io.dicom import rasterise_rtstruct

    series = pat1_dicom[2]

    def other_series(ds):
        ref = ds.ReferencedFrameOfReferenceSequence[0].RTReferencedStudySequence[0].RTReferencedSeriesSequence[0]
        ref.SeriesInstanceUID = "1.2.3.4.5.6.7"

    with pytest.raises(InputError, match="references series 1.2.3.4.5.6.7.*another series"):
        rasterise_rtstruct(_edited_rtstruct(tmp_path, other_series), series, "GTV-1")

    def other_frame(ds):
        ds.ReferencedFrameOfReferenceSequence[0].FrameOfReferenceUID = "1.2.3.4.5"

    with pytest.raises(InputError, match="frame of reference 1.2.3.4.5.*another scan"):
        rasterise_rtstruct(_edited_rtstruct(tmp_path, other_frame), series, "GTV-1")

    def shifted_contours(ds):  # contours 1.5 mm off the slice planes: drawn on another scan
        for contour in ds.ROIContourSequence[0].ContourSequence:
            data = [float(v) for v in contour.ContourData]
            data[2::3] = [z + 1.5 for z in data[2::3]]
            contour.ContourData = [f"{v:.4f}" for v in data]

    with pytest.raises(InputError, match="between CT slices"):
        rasterise_rtstruct(_edited_rtstruct(tmp_path, shifted_contours), series, "GTV-1")


def test_not_an_rtstruct(tmp_path):
    from RadSurvLib.io.dicom import rasterise_rtstruct, read_ct_series

    series = read_ct_series(SERIES)
    with pytest.raises(InputError, match="is a CT object, not RTSTRUCT"):
        rasterise_rtstruct(SERIES / "DCM_IMG_00000.dcm", series, "GTV-1")
    with pytest.raises(InputError, match="file not found"):
        rasterise_rtstruct(tmp_path / "none.dcm", series, "GTV-1")


def _pat1_seg(tmp_path, pat1_dicom):
    """A DICOM SEG of PAT1's rasterised GTV ('GTV-1') made with highdicom; returns (path, mask)."""
    highdicom = pytest.importorskip("highdicom")
    import pydicom
    from pydicom.sr.codedict import codes

    ct, gtv, series = pat1_dicom
    sources = [pydicom.dcmread(f) for f in series.files]
    mask = sitk.GetArrayFromImage(gtv).astype(bool)
    description = highdicom.seg.SegmentDescription(
        segment_number=1, segment_label="GTV-1", segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
        segmented_property_type=codes.SCT.Neoplasm, algorithm_type=highdicom.seg.SegmentAlgorithmTypeValues.MANUAL)
    seg = highdicom.seg.Segmentation(
        source_images=sources, pixel_array=mask, segmentation_type=highdicom.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=[description], series_instance_uid=highdicom.UID(), series_number=99,
        sop_instance_uid=highdicom.UID(), instance_number=1, manufacturer="RadSurv tests",
        manufacturer_model_name="test", software_versions="0", device_serial_number="0")
    path = tmp_path / "seg.dcm"
    seg.save_as(str(path))
    return path, mask


def test_dicom_seg_round_trip(tmp_path, pat1_dicom):
    from RadSurvLib.io.dicom import read_seg_segment

    ct, gtv, series = pat1_dicom
    path, mask = _pat1_seg(tmp_path, pat1_dicom)
    read = read_seg_segment(path, series)
    assert np.array_equal(sitk.GetArrayFromImage(read) > 0, mask)
    assert read_seg_segment(path, series, "GTV-1").GetSize() == ct.GetSize()
    with pytest.raises(InputError, match="'lung' is not a segment of seg.dcm; its segments are: 'GTV-1'"):
        read_seg_segment(path, series, "lung")


def test_seg_of_another_patient_is_refused(tmp_path, pat1_dicom):
    import pydicom

    from RadSurvLib.io.dicom import read_seg_segment

    path, _ = _pat1_seg(tmp_path, pat1_dicom)
    ds = pydicom.dcmread(str(path))
    ds.PatientID = "LUNG1-042"  # same frame of reference, series and slices: only the patient differs
    ds.save_as(str(path))
    with pytest.raises(InputError, match=r"seg.dcm belongs to patient ID 'LUNG1-042', .* patient ID '1'"):
        read_seg_segment(path, pat1_dicom[2])


def test_cli_score_passes_dicom_images_to_the_pipeline(monkeypatch, tmp_path, capsys):
    from RadSurvLib import cli, pipeline

    seen = {}

    def fake_score_case(ct, gtv, out_dir, *args, **kwargs):
        seen["ct"], seen["gtv"] = ct, gtv
        raise InputError("stop after the inputs")

    monkeypatch.setattr(pipeline, "score_case", fake_score_case)
    status = cli.main(["score", "--ct", str(SERIES), "--rtstruct", str(RTSTRUCT), "--roi", "GTV-1",
                       "--out", str(tmp_path / "out")])
    assert status == 2 and "stop after the inputs" in capsys.readouterr().err
    assert isinstance(seen["ct"], CTSeries) and isinstance(seen["ct"].image, sitk.Image)  # the series: its files too
    assert isinstance(seen["gtv"], sitk.Image)
    reference = sitk.GetArrayFromImage(sitk.ReadImage(str(PAT1_GTV))) > 0
    assert _dice(sitk.GetArrayFromImage(seen["gtv"]) > 0, reference) >= 0.97

    status = cli.main(["score", "--ct", str(SERIES), "--rtstruct", str(RTSTRUCT), "--roi", "Lung",
                       "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert status == 2 and "its ROIs are: 'GTV-1'" in err and "Traceback" not in err
    # a mask file on the series' grid (what the Slicer module and the app export) goes on as its path
    status = cli.main(["score", "--ct", str(SERIES), "--gtv", str(PAT1_GTV), "--out", str(tmp_path / "out")])
    assert status == 2 and "stop after the inputs" in capsys.readouterr().err
    assert isinstance(seen["ct"], CTSeries) and seen["gtv"] == str(PAT1_GTV)
    status = cli.main(["score", "--ct", str(SERIES), "--gtv", str(PAT1_GTV), "--rtstruct", str(RTSTRUCT),
                       "--roi", "GTV-1", "--out", str(tmp_path / "out")])
    assert status == 2 and "GTV given twice" in capsys.readouterr().err


@pytest.mark.parametrize("degrees", [10.0, 0.5])
def test_gantry_tilted_series_is_refused_with_its_angle(tmp_path, degrees):
    """PAT1's series with each slice shifted along the rows by gap x tan(tilt) (a gantry-tilted
    acquisition): read as a regular grid it would be sheared, so it is refused with the angle."""
    import math

    import pydicom

    from RadSurvLib.io.dicom import read_ct_series

    folder = tmp_path / "tilted"
    folder.mkdir()
    for path in sorted(SERIES.glob("*.dcm")):
        ds = pydicom.dcmread(str(path))
        x, y, z = (float(v) for v in ds.ImagePositionPatient)
        ds.ImagePositionPatient = [x, y + z * math.tan(math.radians(degrees)), z]
        ds.GantryDetectorTilt = degrees
        ds.save_as(str(folder / path.name))
    with pytest.raises(InputError) as caught:
        read_ct_series(folder)
    message = str(caught.value)
    assert "not stacked along their normal" in message and f"a gantry tilt of {degrees:.1f} degrees" in message, message
    assert f"(GantryDetectorTilt {degrees:g} degrees)" in message and "harden that transform" in message


def test_rounding_in_slice_positions_is_not_a_tilt(tmp_path):
    """Positions jittered by 0.01 mm within the slice plane (header rounding) read as before."""
    import pydicom

    from RadSurvLib.io.dicom import read_ct_series

    folder = tmp_path / "jitter"
    folder.mkdir()
    for k, path in enumerate(sorted(SERIES.glob("*.dcm"))):
        ds = pydicom.dcmread(str(path))
        x, y, z = (float(v) for v in ds.ImagePositionPatient)
        ds.ImagePositionPatient = [x + 0.01 * (k % 2), y, z]
        ds.save_as(str(folder / path.name))
    assert read_ct_series(folder).image.GetSize() == read_ct_series(SERIES).image.GetSize()
