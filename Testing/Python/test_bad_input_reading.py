"""Bad input, reading half (issue 15): every image read is verified complete or refused naming the
file, masks are labelmaps with one chosen label, spacing and GTV size are plausible, DICOM objects
belong to the CT's patient.

Each case is real data made bad: copies of PAT1 (RadSurvLib/resources/PAT1, IBSI-1 lung CT) or the
PyRadiomics baseline NRRDs, cut, relabelled, rescaled. Each test asserts that the message names the
file or input and says what is wrong, and that the good originals still read unchanged.
"""

import gzip
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from conftest import PAT1_CT, PAT1_GTV, REPO, run_worker_job

from RadSurvLib.errors import InputError
from RadSurvLib.io.images import read_image, read_mask
from RadSurvLib.preprocessing import (GTVVolumeChangeWarning, resample_image,
                                      resample_mask_preserving_volume, validate_inputs)

BASELINE = REPO / "Testing" / "Data" / "PyRadiomics_baseline"
DICOM = REPO / "RadSurvLib" / "resources" / "PAT1" / "dicom"

#: Voxels of PAT1's GTV (IBSI-1 phantom, label 1).
PAT1_GTV_VOXELS = 125_256


def _cut(source: Path, target: Path, fraction: float = 0.6) -> Path:
    """A copy of ``source`` cut after ``fraction`` of its bytes (an interrupted copy)."""
    data = Path(source).read_bytes()
    target.write_bytes(data[: int(len(data) * fraction)])
    return target


def _with_array(reference, array):
    image = sitk.GetImageFromArray(array)
    image.CopyInformation(reference)
    return image


def _refused(call, *fragments):
    """Run ``call``; it must raise InputError whose message holds every fragment; returns the message."""
    with pytest.raises(InputError) as info:
        call()
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, message
    assert "np.float64" not in message and "Traceback" not in message
    return message


# --- good files still read -----------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(p.name for p in BASELINE.glob("*.nrrd")))
def test_every_baseline_nrrd_passes_the_completeness_check(name):
    image = read_image(BASELINE / name, "CT")
    assert image.GetDimension() == 3


def test_pat1_reads_unchanged_in_every_format(tmp_path, pat1_images):
    ct, gtv = pat1_images
    reference = sitk.GetArrayFromImage(ct)
    for suffix, compress in [(".nii", False), (".nii.gz", True), (".nrrd", False), (".nrrd", True),
                             (".nhdr", False), (".mha", False), (".mha", True), (".mhd", True)]:
        path = tmp_path / f"{suffix.strip('.')}{int(compress)}" / f"ct{suffix}"
        path.parent.mkdir()
        sitk.WriteImage(ct, str(path), compress)
        assert np.array_equal(sitk.GetArrayFromImage(read_image(path, "CT")), reference), suffix
    assert read_mask(PAT1_GTV).GetSize() == gtv.GetSize()


def test_nrrd_with_a_large_header_reads(tmp_path):
    # Slicer's .seg.nrrd files carry one block of metadata per segment: headers of hundreds of kB.
    gtv = sitk.ReadImage(str(PAT1_GTV))
    for k in range(200):
        gtv.SetMetaData(f"Segment{k}_Extent", "0 203 0 200 0 59 " * 60)
    path = tmp_path / "gtv.seg.nrrd"
    sitk.WriteImage(gtv, str(path), True)
    assert path.stat().st_size > 200_000
    assert int(sitk.GetArrayFromImage(read_mask(path)).sum()) == PAT1_GTV_VOXELS


# --- truncated, empty, corrupt, wrong-format files -----------------------------------------------

def test_nii_cut_inside_its_header_is_refused(tmp_path):
    full = tmp_path / "ct.nii"
    full.write_bytes(gzip.decompress(PAT1_CT.read_bytes()))
    cut = tmp_path / "cut.nii"
    cut.write_bytes(full.read_bytes()[:200])
    _refused(lambda: read_image(cut, "ct"), "ct: the file", "too short for a NIfTI header (200 of 348 bytes)")


def test_truncated_nii_gz_mask_is_refused_naming_the_file(tmp_path):
    cut = _cut(PAT1_GTV, tmp_path / "mask.nii.gz")
    _refused(lambda: read_mask(cut, "GTV mask"), "GTV mask", str(cut), "truncated", "gzip stream")


def test_truncated_nii_gz_ct_is_refused(tmp_path):
    cut = _cut(PAT1_CT, tmp_path / "image.nii.gz")
    _refused(lambda: read_image(cut, "CT"), "CT: the file", str(cut), "truncated")


def test_complete_gzip_with_missing_voxels_is_refused(tmp_path):
    # A well-formed gzip stream around a cut NIfTI: only the header's size x type shows it.
    raw = gzip.decompress(PAT1_GTV.read_bytes())
    path = tmp_path / "mask.nii.gz"
    path.write_bytes(gzip.compress(raw[: int(len(raw) * 0.6)]))
    needed = 204 * 201 * 60  # PAT1 mask: 204 x 201 x 60 voxels, uint8
    message = _refused(lambda: read_mask(path), "truncated", f"{needed:,} bytes")
    assert f"{int(len(raw) * 0.6) - 352:,}" in message  # data bytes held after the 352-byte header


def test_truncated_uncompressed_nii_is_refused(tmp_path):
    full = tmp_path / "ct.nii"
    full.write_bytes(gzip.decompress(PAT1_CT.read_bytes()))
    assert read_image(full, "CT").GetSize() == (204, 201, 60)
    cut = _cut(full, tmp_path / "cut.nii")
    _refused(lambda: read_image(cut, "CT"), str(cut), "truncated", "bytes of voxel data")


def test_truncated_gzip_nrrd_is_refused(tmp_path):
    cut = _cut(BASELINE / "lung1_image.nrrd", tmp_path / "lung1_image.nrrd")
    _refused(lambda: read_image(cut, "CT"), str(cut), "truncated", "gzip data stream")


def test_truncated_raw_nrrd_nhdr_and_mha_are_refused(tmp_path, pat1_images):
    ct = pat1_images[0]
    raw_nrrd = tmp_path / "ct.nrrd"
    sitk.WriteImage(ct, str(raw_nrrd), False)
    cut = _cut(raw_nrrd, tmp_path / "cut.nrrd")
    _refused(lambda: read_image(cut, "CT"), str(cut), "truncated", "9,840,960 bytes")  # 204*201*60 float32
    detached = tmp_path / "detached" / "ct.nhdr"
    detached.parent.mkdir()
    sitk.WriteImage(ct, str(detached), False)
    data_file = next(p for p in detached.parent.iterdir() if p != detached)
    _cut(data_file, data_file)
    _refused(lambda: read_image(detached, "CT"), str(detached), "truncated")
    for compress in (False, True):
        mha = tmp_path / f"ct{int(compress)}.mha"
        sitk.WriteImage(ct, str(mha), compress)
        cut = _cut(mha, tmp_path / f"cut{int(compress)}.mha")
        _refused(lambda: read_image(cut, "CT"), str(cut), "truncated")


def _ascii_nrrd(path: Path, values) -> Path:
    """An NRRD with ``encoding: ascii`` holding ``values`` for a 4 x 4 x 2 volume (the header says 32)."""
    header = ("NRRD0004\ntype: short\ndimension: 3\nsizes: 4 4 2\nencoding: ascii\n"
              "space: left-posterior-superior\nspace directions: (0.977,0,0) (0,0.977,0) (0,0,3)\n\n")
    path.write_text(header + " ".join(str(int(v)) for v in values) + "\n")
    return path


def test_ascii_nrrd_with_missing_values_is_refused(tmp_path):
    block = sitk.GetArrayFromImage(sitk.ReadImage(str(PAT1_CT)))[30:32, 100:104, 100:104]  # (z, y, x)
    whole = _ascii_nrrd(tmp_path / "block.nrrd", block.ravel())
    assert np.array_equal(sitk.GetArrayFromImage(read_image(whole, "ct")), block)
    cut = _ascii_nrrd(tmp_path / "cut.nrrd", block.ravel()[:20])
    _refused(lambda: read_image(cut, "ct"), str(cut), "truncated", "declares 32 values", "holds 20")


def test_nhdr_without_its_data_file_is_refused(tmp_path, pat1_images):
    header = tmp_path / "ct.nhdr"
    sitk.WriteImage(pat1_images[0], str(header), False)
    for p in tmp_path.iterdir():
        if p != header:
            p.unlink()
    _refused(lambda: read_image(header, "CT"), str(header), "does not exist")


@pytest.mark.parametrize("name", ["mask.nii.gz", "mask.nrrd", "mask.nii"])
def test_empty_file_is_refused(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"")
    _refused(lambda: read_mask(path), "gtv: the file", str(path), "is empty (0 bytes)")


def test_corrupt_gzip_is_refused(tmp_path):
    data = bytearray(PAT1_GTV.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte: a bad deflate block or a CRC mismatch
    path = tmp_path / "mask.nii.gz"
    path.write_bytes(bytes(data))
    message = _refused(lambda: read_mask(path), str(path))
    assert "gzip" in message and ("not a valid gzip file" in message or "truncated or corrupt" in message)


def test_corrupt_gzip_nrrd_is_refused(tmp_path):
    data = bytearray((BASELINE / "lung1_image.nrrd").read_bytes())
    data[-100] ^= 0xFF  # inside the deflate data, near its end
    path = tmp_path / "lung1_image.nrrd"
    path.write_bytes(bytes(data))
    _refused(lambda: read_image(path, "ct"), str(path), "gzip data stream")


def test_not_gzip_at_all_named_nii_gz_is_refused(tmp_path):
    path = tmp_path / "mask.nii.gz"
    path.write_text("patient 1, GTV\n" * 50)
    _refused(lambda: read_mask(path), str(path), "is not a NIfTI file")
    path.write_bytes(b"\x1f\x8b" + b"patient 1, GTV\n" * 50)  # gzip magic, then no gzip stream
    _refused(lambda: read_mask(path), str(path), "gzip")


def test_nifti_names_by_content(tmp_path):
    # ITK reads an uncompressed NIfTI named .nii.gz, but not a gzipped one named .nii.
    plain = tmp_path / "plain.nii.gz"
    plain.write_bytes(gzip.decompress(PAT1_GTV.read_bytes()))
    assert int(sitk.GetArrayFromImage(read_mask(plain)).sum()) == PAT1_GTV_VOXELS
    _refused(lambda: read_mask(_cut(plain, tmp_path / "cut.nii.gz")), "truncated", "bytes of voxel data")
    gzipped = shutil.copy(PAT1_GTV, tmp_path / "mask.nii")
    _refused(lambda: read_mask(gzipped), "gzip-compressed but named .nii", "Rename it to mask.nii.gz")


def test_text_file_named_nrrd_is_refused(tmp_path):
    path = tmp_path / "ct.nrrd"
    path.write_text("this is a note, not an image\n")
    _refused(lambda: read_image(path, "CT"), str(path), "is not an NRRD file", "suffix")


def test_text_file_named_mha_is_refused(tmp_path):
    path = tmp_path / "ct.mha"
    path.write_text("this is a note, not an image\n")
    _refused(lambda: read_image(path, "ct"), str(path), "is not a MetaImage file")


def test_nifti_renamed_nrrd_is_refused(tmp_path):
    path = shutil.copy(PAT1_GTV, tmp_path / "mask.nrrd")
    _refused(lambda: read_mask(path), "is not an NRRD file")


def test_nrrd_renamed_nii_is_refused(tmp_path):
    path = shutil.copy(BASELINE / "lung1_label.nrrd", tmp_path / "mask.nii")
    _refused(lambda: read_mask(path), "is not a NIfTI file")


def test_folder_given_as_mask_file_is_refused(tmp_path):
    _refused(lambda: read_mask(tmp_path, "GTV mask"), "GTV mask", str(tmp_path), "is a folder, not an image file")


def test_missing_file_is_still_not_found(tmp_path):
    _refused(lambda: read_mask(tmp_path / "none.nii.gz"), "file not found")


def test_cli_score_refuses_a_truncated_mask_with_exit_2(tmp_path, capsys):
    from RadSurvLib.cli import main

    cut = _cut(PAT1_GTV, tmp_path / "mask.nii.gz")
    status = main(["score", "--ct", str(PAT1_CT), "--gtv", str(cut), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert status == 2 and "truncated" in err and str(cut) in err and "Traceback" not in err


# --- masks: labels, the CT as a mask, probability maps -------------------------------------------

@pytest.fixture(scope="module")
def two_label_mask():
    """PAT1's GTV with its upper slices relabelled 2 (a GTV plus a second structure)."""
    gtv = sitk.ReadImage(str(PAT1_GTV))
    labels = sitk.GetArrayFromImage(gtv).astype(np.uint8)
    slices = np.flatnonzero(labels.any(axis=(1, 2)))
    upper = np.zeros_like(labels, dtype=bool)
    upper[slices[-5]:] = True
    labels[(labels == 1) & upper] = 2
    return _with_array(gtv, labels), int((labels == 1).sum()), int((labels == 2).sum())


def test_multi_label_mask_is_refused_listing_labels_and_counts(tmp_path, two_label_mask):
    mask, n1, n2 = two_label_mask
    path = tmp_path / "mask.nrrd"
    sitk.WriteImage(mask, str(path))
    assert n1 > 0 and n2 > 0
    _refused(lambda: read_mask(path, "GTV mask"), str(path), "2 labels", f"1 ({n1:,} voxels)",
             f"2 ({n2:,} voxels)", "gtv_label")
    _refused(lambda: validate_inputs(sitk.ReadImage(str(PAT1_CT)), mask), "2 labels",
             "gtv_label to the GTV's label (one of 1, 2)")


def test_chosen_label_is_the_gtv(two_label_mask):
    mask, n1, n2 = two_label_mask
    for label, count in ((1, n1), (2, n2)):
        chosen = sitk.GetArrayFromImage(read_mask(mask, label=label))
        assert chosen.dtype == np.uint8 and set(np.unique(chosen)) == {0, 1}
        assert int(chosen.sum()) == count
        assert np.array_equal(chosen == 1, sitk.GetArrayFromImage(mask) == label)


def test_label_not_in_the_mask_is_refused(two_label_mask):
    mask, n1, _ = two_label_mask
    _refused(lambda: read_mask(mask, label=3), "gtv_label: 3 is not a label of gtv", f"1 ({n1:,} voxels)")
    _refused(lambda: read_mask(mask, label=1.5), "gtv_label: must be a whole number")


def test_single_label_255_mask_is_taken_whole():
    gtv = sitk.ReadImage(str(PAT1_GTV))
    labels = (sitk.GetArrayFromImage(gtv) > 0).astype(np.uint8) * 255
    mask = read_mask(_with_array(gtv, labels))
    assert int(sitk.GetArrayFromImage(mask).sum()) == PAT1_GTV_VOXELS


def test_ct_given_as_the_mask_is_refused(pat1_images):
    ct = pat1_images[0]
    _refused(lambda: read_mask(PAT1_CT, "GTV mask"), str(PAT1_CT), "intensity image", "the CT given as the mask")
    _refused(lambda: validate_inputs(ct, ct), "CT was given as the GTV mask")
    # The CT stored without its rescale intercept (all values >= 0): many distinct values.
    shifted = _with_array(ct, (sitk.GetArrayFromImage(ct) + 1000).astype(np.uint16))
    _refused(lambda: read_mask(shifted), "distinct values", "intensity image")


def test_probability_map_and_nan_masks_are_refused(pat1_images):
    gtv = pat1_images[1]
    soft = sitk.GetArrayFromImage(gtv).astype(np.float32) * 0.7
    _refused(lambda: read_mask(_with_array(gtv, soft)), "non-integer values", "probability map")
    soft[0, 0, 0] = np.nan
    _refused(lambda: read_mask(_with_array(gtv, soft)), "NaN")


# --- GTV size ------------------------------------------------------------------------------------

def _single_voxels(gtv, count):
    labels = np.zeros(sitk.GetArrayFromImage(gtv).shape, dtype=np.uint8)
    labels[30, 100, 100:100 + count] = 1
    return _with_array(gtv, labels)


def test_one_voxel_gtv_is_too_small_not_empty(pat1_images):
    ct, gtv = pat1_images
    message = _refused(lambda: validate_inputs(ct, _single_voxels(gtv, 1)), "only 1 voxel", "2.86 mm^3",
                       "at least 5 voxels and 10 mm^3")
    assert "empty" not in message
    _refused(lambda: validate_inputs(ct, _single_voxels(gtv, 3)), "only 3 voxels")
    validate_inputs(ct, _single_voxels(gtv, 5))  # 5 voxels, 14.3 mm^3: accepted


def test_empty_gtv_is_called_empty(pat1_images):
    ct, gtv = pat1_images
    _refused(lambda: validate_inputs(ct, _with_array(gtv, np.zeros(sitk.GetArrayFromImage(gtv).shape, np.uint8))),
             "the mask is empty")


def test_whole_image_gtv_is_refused(pat1_images):
    ct, gtv = pat1_images
    everything = np.ones(sitk.GetArrayFromImage(gtv).shape, dtype=np.uint8)
    _refused(lambda: validate_inputs(ct, _with_array(gtv, everything)), "covers 100.0 % of the voxels of the CT",
             "at most 25 %")


# --- voxel spacing -------------------------------------------------------------------------------

def _respaced(image, factor):
    copy = sitk.Image(image)
    copy.SetSpacing(tuple(s * factor for s in image.GetSpacing()))
    return copy


def test_spacing_in_metres_is_reported_as_units(pat1_images):
    ct, gtv = pat1_images
    message = _refused(lambda: validate_inputs(_respaced(ct, 1e-3), _respaced(gtv, 1e-3)), "CT: voxel spacing",
                       "metres", "0.977 x 0.977 x 3 mm if so")
    assert "delineation" not in message


def test_spacing_times_ten_is_refused(pat1_images):
    ct, gtv = pat1_images
    _refused(lambda: validate_inputs(_respaced(ct, 10), _respaced(gtv, 10)), "9.77 x 9.77 x 30 mm",
             "10 times too large")


def test_implausible_mixed_spacing_is_refused(pat1_images):
    ct, gtv = pat1_images
    odd = sitk.Image(ct)
    odd.SetSpacing((0.05, 0.977, 3.0))
    odd_gtv = sitk.Image(gtv)
    odd_gtv.CopyInformation(odd)
    _refused(lambda: validate_inputs(odd, odd_gtv), "0.05 x 0.977 x 3 mm", "0.1 to 10.0 mm")


def test_geometry_messages_print_plain_numbers(pat1_images):
    ct, gtv = pat1_images
    shifted = sitk.Image(gtv)
    shifted.SetOrigin(tuple(np.array(gtv.GetOrigin()) + [0.0, 0.0, 2.0]))
    _refused(lambda: validate_inputs(ct, shifted, "CT", "GTV mask"), "GTV mask: not on the CT grid",
             "origin (-174.395, -79.6255, -98.4) mm vs (-174.395, -79.6255, -100.4) mm")


# --- thick slices: the resampled GTV volume ------------------------------------------------------

def test_thick_slices_warn_about_the_resampled_volume():
    # brain2 (PyRadiomics baseline): 6.5 mm slices; its small GTV grows by ~8.5 % at 1 mm.
    ct = read_image(BASELINE / "brain2_image.nrrd", "CT")
    gtv = read_mask(BASELINE / "brain2_label.nrrd")
    with pytest.warns(GTVVolumeChangeWarning, match=r"changed the GTV volume by \+\d+\.\d %") as record:
        result = resample_mask_preserving_volume(gtv, resample_image(ct, 1.0, "linear"))
    change = 100 * (result.volume_mm3_resampled / result.volume_mm3_input - 1)
    assert change > 5 and f"{change:+.1f} %" in str(record[0].message)


def test_thin_enough_slices_do_not_warn():
    # lung2: 5 mm slices, but a large GTV whose volume the bounded threshold keeps within 5 %.
    ct = read_image(BASELINE / "lung2_image.nrrd", "CT")
    gtv = read_mask(BASELINE / "lung2_label.nrrd")
    with warnings.catch_warnings():
        warnings.simplefilter("error", GTVVolumeChangeWarning)
        result = resample_mask_preserving_volume(gtv, resample_image(ct, 1.0, "linear"))
    assert abs(result.volume_mm3_resampled / result.volume_mm3_input - 1) < 0.05


# --- DICOM ---------------------------------------------------------------------------------------

def test_non_dicom_folder_as_ct_is_refused(tmp_path):
    from RadSurvLib.io.dicom import read_ct_series, resolve_score_inputs

    folder = tmp_path / "ct"
    folder.mkdir()
    shutil.copy(PAT1_CT, folder / "image.nii.gz")
    message = _refused(lambda: resolve_score_inputs(folder, gtv=PAT1_GTV), str(folder), "holds no DICOM file",
                       "image.nii.gz")
    assert "is a DICOM folder" not in message
    _refused(lambda: read_ct_series(folder), "holds no DICOM file")
    _refused(lambda: read_ct_series(DICOM / "mask"), "no image series")
    empty = tmp_path / "empty"
    empty.mkdir()
    _refused(lambda: read_ct_series(empty), "is empty")


def test_rtstruct_of_another_patient_on_the_same_frame_is_refused(tmp_path):
    import pydicom

    from RadSurvLib.io.dicom import rasterise_rtstruct, read_ct_series

    series = read_ct_series(DICOM / "image")
    assert series.patient_id == "1"
    ds = pydicom.dcmread(str(DICOM / "mask" / "DCM_RS_00060.dcm"))
    ds.PatientID = "LUNG1-042"  # frame of reference and series UIDs unchanged
    path = tmp_path / "rs.dcm"
    ds.save_as(str(path))
    _refused(lambda: rasterise_rtstruct(path, series, "GTV-1"), "rs.dcm", "patient ID 'LUNG1-042'",
             "patient ID '1'", "another patient's")


# --- through the command line: one message in the CLI's terms, exit 2 ----------------------------

def test_cli_score_names_the_cli_flags(tmp_path, capsys, two_label_mask):
    from RadSurvLib.cli import main

    two_labels = tmp_path / "two_labels.nrrd"
    sitk.WriteImage(two_label_mask[0], str(two_labels))
    folder = tmp_path / "folder.nii.gz"
    folder.mkdir()
    cases = [(two_labels, ["holds 2 labels", "Set --gtv-label to the GTV's label (one of 1, 2)"]),
             (PAT1_CT, ["--gtv: the file", "intensity image"]),
             (folder, ["--gtv:", "is a folder, not an image file"])]
    for gtv, fragments in cases:
        out = tmp_path / f"out_{Path(gtv).stem}"
        status = main(["score", "--ct", str(PAT1_CT), "--gtv", str(gtv), "--out", str(out)])
        err = capsys.readouterr().err
        assert status == 2 and "Traceback" not in err, err
        for fragment in fragments:
            assert fragment in err, err


# --- through the worker: the same message in the job's terms, exit 2 -----------------------------

def test_worker_names_the_job_keys(tmp_path, two_label_mask):
    import pydicom

    two_labels = tmp_path / "two_labels.nrrd"
    sitk.WriteImage(two_label_mask[0], str(two_labels))
    other_patient = tmp_path / "rs.dcm"
    ds = pydicom.dcmread(str(DICOM / "mask" / "DCM_RS_00060.dcm"))
    ds.PatientID = "LUNG1-042"
    ds.save_as(str(other_patient))
    cases = [({"gtv": str(_cut(PAT1_GTV, tmp_path / "cut.nii.gz"))}, "gtv: the file", "truncated"),
             ({"gtv": str(two_labels)}, "gtv: the file", "Set gtv_label to the GTV's label (one of 1, 2)"),
             ({"gtv": str(two_labels), "gtv_label": 3}, "gtv_label: 3 is not a label of gtv", "Choose one"),
             ({"ct": str(DICOM / "image"), "rtstruct": str(other_patient), "roi": "GTV-1"},
              "rtstruct: rs.dcm belongs to patient ID 'LUNG1-042'", "another patient's")]
    for k, (keys, *fragments) in enumerate(cases):
        job = {"ct": str(PAT1_CT), "out_dir": str(tmp_path / f"out{k}"), **keys}
        code, last = run_worker_job(job)
        assert code == 2 and last["type"] == "error" and last["kind"] == "input", last
        for fragment in fragments:
            assert fragment in last["message"], last["message"]
        assert "--" not in last["message"]  # job keys, not CLI flags
