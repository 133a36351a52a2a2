"""Voxel maps: parity with PyRadiomics voxel-based extraction (first order, GLCM, GLDM, NGTDM) on
real crops of PAT1 and of PyRadiomics' lung1 case, kernel radius 1 and 2, masked and unmasked;
geometry, background, stacking, the command line and bad input. (GLRLM / GLSZM parity is in
test_voxelmaps_glrlm_glszm.py.)"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

import numpy as np
import pytest

sitk = pytest.importorskip("SimpleITK")
pytest.importorskip("torch")
radiomics = pytest.importorskip("radiomics")
from radiomics import featureextractor  # noqa: E402

from RadSurvLib.radiomics import voxelmaps  # noqa: E402
from RadSurvLib.errors import InputError  # noqa: E402
from RadSurvLib.radiomics.voxelmaps import engine  # noqa: E402
from RadSurvLib.radiomics.families.kernel_cubes import directions_13  # noqa: E402

from conftest import PAT1_CT, PAT1_GTV  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / "Data"

#: Families this file checks against PyRadiomics (every feature, MCC included).
FAMILIES = ("firstorder", "glcm", "gldm", "ngtdm")
NAMES = [n for n in voxelmaps.AVAILABLE_FEATURES if n.split("_", 1)[0] in FAMILIES]

# Small real crops across the ROI boundary (x, y, z index ranges): inside and edge voxels.
CASES = {
    # PAT1 (IBSI lung CT, 0.977 x 0.977 x 3 mm): 8 x 8 x 4 voxels, ~190 GTV voxels.
    "PAT1": (PAT1_CT, PAT1_GTV,
             (slice(110, 118), slice(50, 58), slice(27, 31))),
    # PyRadiomics lung1 (CT, 0.57 x 0.57 x 5 mm, a 3-slice nodule): 8 x 8 x 5 voxels, ~150 ROI voxels.
    "lung1": (DATA / "PyRadiomics_baseline" / "lung1_image.nrrd",
              DATA / "PyRadiomics_baseline" / "lung1_label.nrrd",
              (slice(213, 221), slice(97, 105), slice(31, 36))),
}


@functools.lru_cache(maxsize=None)
def crop(case: str):
    image_path, mask_path, box = CASES[case]
    return sitk.ReadImage(str(image_path))[box], sitk.ReadImage(str(mask_path))[box]


def pat1_crop():
    return crop("PAT1")


@functools.lru_cache(maxsize=None)
def pyradiomics_maps(case: str, kernel_radius: int, masked: bool) -> dict:
    """PyRadiomics voxel-based maps of NAMES on the crop's grid, float64, NaN where it gives none."""
    from radiomics import featureextractor

    logging.getLogger("radiomics").setLevel(logging.CRITICAL)
    ct, gtv = crop(case)
    extractor = featureextractor.RadiomicsFeatureExtractor(
        binWidth=25, kernelRadius=kernel_radius, maskedKernel=masked, force2D=False,
        additionalInfo=False, normalize=False, resampledPixelSpacing=None, initValue=np.nan)
    extractor.disableAllFeatures()
    extractor.enableFeaturesByName(**{f: [n.split("_", 1)[1] for n in NAMES if n.startswith(f + "_")]
                                      for f in FAMILIES})
    result = extractor.execute(ct, gtv, voxelBased=True)
    maps = {}
    for key, image in result.items():
        if not isinstance(image, sitk.Image):
            continue
        # PyRadiomics returns maps on its crop (ROI box + kernel radius): paste into the CT grid.
        full = np.full(sitk.GetArrayFromImage(ct).shape, np.nan)
        x0, y0, z0 = ct.TransformPhysicalPointToIndex(image.GetOrigin())
        array = sitk.GetArrayFromImage(image)
        full[z0:z0 + array.shape[0], y0:y0 + array.shape[1], x0:x0 + array.shape[2]] = array
        maps[key.replace("original_", "")] = full
    return maps


def relative_errors(ours, reference):
    return np.abs(ours - reference) / np.maximum(np.abs(reference), 1e-300)


def assert_close(name, ours, reference, rel, abs_):
    bad = np.abs(ours - reference) > rel * np.abs(reference) + abs_
    assert not bad.any(), (f"{name}: {bad.sum()} voxels differ; max rel err "
                           f"{relative_errors(ours, reference).max():.3g}")


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("kernel_radius,masked", [(1, True), (1, False), (2, True), (2, False)])
def test_parity_with_pyradiomics(case, kernel_radius, masked):
    ct, gtv = crop(case)
    roi = sitk.GetArrayFromImage(gtv) != 0
    reference = pyradiomics_maps(case, kernel_radius, masked)
    maps = voxelmaps.compute_voxel_maps(ct, gtv, NAMES, kernel_radius=kernel_radius, masked=masked,
                                        background=-1.0)
    exact = voxelmaps.voxel_feature_values(
        sitk.GetArrayFromImage(ct), roi, NAMES, kernel_radius, 25.0, masked,
        float(np.prod(ct.GetSpacing())))
    for name in NAMES:
        ref = reference[name][roi]
        ours64 = exact[name]
        ours32 = sitk.GetArrayFromImage(maps[name])[roi].astype(np.float64)
        if name == "glcm_MCC" and np.isnan(ref).all():
            # PyRadiomics' eigen solver failed on the whole batch (a voxel with an empty
            # direction makes its Q matrix NaN): documented difference, ours skips that direction.
            assert np.isnan(reference["glcm_JointAverage"][roi]).any()
            assert np.isfinite(ours64).all() and ((0 <= ours64) & (ours64 <= 1 + 1e-9)).all()
            continue
        assert np.array_equal(np.isnan(ours64), np.isnan(ref)), f"{name}: NaN pattern differs"
        finite = np.isfinite(ref)
        assert_close(name + " (float64)", ours64[finite], ref[finite], 1e-9, 1e-11)
        assert_close(name + " (float32 map)", ours32[finite], ref[finite], 1e-6, 1e-9)
    # The edge effects the parity covers really occur in these crops.
    if masked:
        assert not np.array_equal(exact["firstorder_Mean"],
                                  voxelmaps.voxel_feature_values(
                                      sitk.GetArrayFromImage(ct), roi, ["firstorder_Mean"],
                                      kernel_radius, 25.0, False)["firstorder_Mean"])


def test_joint_average_nan_where_a_direction_is_empty():
    """PyRadiomics takes a plain mean of the joint average over directions: NaN at a voxel whose
    masked kernel has no pair in one direction; every other GLCM feature skips that direction."""
    ct, gtv = crop("PAT1")
    roi = sitk.GetArrayFromImage(gtv) != 0
    values = voxelmaps.voxel_feature_values(sitk.GetArrayFromImage(ct), roi,
                                            ["glcm_JointAverage", "glcm_SumAverage"], 1)
    nan = np.isnan(values["glcm_JointAverage"])
    assert nan.any() and not nan.all()
    assert np.isfinite(values["glcm_SumAverage"]).all()
    np.testing.assert_allclose(values["glcm_JointAverage"][~nan],
                               values["glcm_SumAverage"][~nan] / 2, rtol=1e-12)


def test_globally_empty_direction_is_dropped():
    """A one-slice ROI (masked kernel): the 9 through-plane directions are empty for every voxel,
    so PyRadiomics drops them; the joint average is then defined (not NaN) at interior voxels."""
    ct, gtv = crop("PAT1")
    mask = sitk.GetArrayFromImage(gtv)
    mask[:1] = 0
    mask[2:] = 0
    roi = mask != 0
    assert roi.sum() > 20
    image = sitk.GetArrayFromImage(ct)
    present = engine.directions_present(roi, roi, 1)
    assert present.sum() == 4 and all(present[k] == (d[0] == 0)
                                      for k, d in enumerate(directions_13()))
    values = voxelmaps.voxel_feature_values(image, roi, ["glcm_JointAverage"], 1)
    assert np.isfinite(values["glcm_JointAverage"]).sum() > roi.sum() // 2
    gtv_one = sitk.GetImageFromArray(mask)
    gtv_one.CopyInformation(gtv)
    from radiomics import featureextractor

    extractor = featureextractor.RadiomicsFeatureExtractor(binWidth=25, kernelRadius=1, force2D=False,
                                                           additionalInfo=False, initValue=np.nan)
    extractor.disableAllFeatures()
    extractor.enableFeaturesByName(glcm=["JointAverage"])
    ref_image = extractor.execute(ct, gtv_one, voxelBased=True)["original_glcm_JointAverage"]
    ref = np.full(image.shape, np.nan)
    x0, y0, z0 = ct.TransformPhysicalPointToIndex(ref_image.GetOrigin())
    a = sitk.GetArrayFromImage(ref_image)
    ref[z0:z0 + a.shape[0], y0:y0 + a.shape[1], x0:x0 + a.shape[2]] = a
    ref = ref[roi]
    ours = values["glcm_JointAverage"]
    assert np.array_equal(np.isnan(ours), np.isnan(ref))
    np.testing.assert_allclose(ours[np.isfinite(ref)], ref[np.isfinite(ref)], rtol=1e-12)


def test_masked_kernel_changes_edge_voxels_only():
    ct, gtv = pat1_crop()
    names = ["firstorder_Mean", "glcm_Contrast"]
    masked = voxelmaps.compute_voxel_maps(ct, gtv, names, masked=True)
    unmasked = voxelmaps.compute_voxel_maps(ct, gtv, names, masked=False)
    roi = sitk.GetArrayFromImage(gtv) != 0
    a = sitk.GetArrayFromImage(masked["firstorder_Mean"])[roi]
    b = sitk.GetArrayFromImage(unmasked["firstorder_Mean"])[roi]
    assert (a != b).any()
    # An interior voxel (full 3x3x3 kernel inside the GTV) has the same kernel either way.
    interior = np.zeros_like(roi)
    interior[1:-1, 1:-1, 1:-1] = roi[1:-1, 1:-1, 1:-1]
    for dz in (-1, 0, 1):
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                interior &= np.roll(roi, (dz, dy, dx), axis=(0, 1, 2))
    assert interior.sum() > 10
    assert np.array_equal(sitk.GetArrayFromImage(masked["firstorder_Mean"])[interior],
                          sitk.GetArrayFromImage(unmasked["firstorder_Mean"])[interior])


def test_chunking_does_not_change_values(monkeypatch):
    ct, gtv = pat1_crop()
    image, roi = sitk.GetArrayFromImage(ct), sitk.GetArrayFromImage(gtv) != 0
    names = ["firstorder_Median", "glcm_JointEntropy", "gldm_DependenceEntropy", "ngtdm_Busyness",
             "glcm_Imc2"]
    whole = voxelmaps.voxel_feature_values(image, roi, names, 1)
    monkeypatch.setattr(engine, "CHUNK_BYTES", 1)  # one voxel per chunk
    fractions = []
    single = voxelmaps.voxel_feature_values(image, roi, names, 1, progress=fractions.append)
    for n in names:  # dense per-chunk matrices may change the summation order: 1e-16
        np.testing.assert_allclose(whole[n], single[n], rtol=1e-12, atol=1e-14)
    assert len(fractions) == roi.sum() and fractions[-1] == 1.0
    assert all(a < b for a, b in zip(fractions, fractions[1:]))


def test_geometry_and_background():
    ct, gtv = pat1_crop()
    # Grow the grid so that the GTV no longer touches its borders, keeping the physical space.
    ct = sitk.ConstantPad(ct, (3, 3, 2), (3, 3, 2), -1000.0)
    gtv = sitk.ConstantPad(gtv, (3, 3, 2), (3, 3, 2), 0)
    maps = voxelmaps.compute_voxel_maps(ct, gtv, background=-7.5)
    assert list(maps) == list(voxelmaps.DEFAULT_FEATURES)
    roi = sitk.GetArrayFromImage(gtv) != 0
    for name, image in maps.items():
        assert image.GetPixelID() == sitk.sitkFloat32, name
        assert image.GetSize() == ct.GetSize()
        assert image.GetSpacing() == ct.GetSpacing()
        assert image.GetOrigin() == ct.GetOrigin()
        assert image.GetDirection() == ct.GetDirection()
        array = sitk.GetArrayFromImage(image)
        assert np.all(array[~roi] == -7.5), name
        assert np.all(np.isfinite(array[roi])), name  # the default maps are never NaN
    # The first-order mean of a voxel lies between its kernel's min and max.
    mean = sitk.GetArrayFromImage(maps["firstorder_Mean"])[roi]
    assert np.all(sitk.GetArrayFromImage(maps["firstorder_Minimum"])[roi] <= mean)
    assert np.all(mean <= sitk.GetArrayFromImage(maps["firstorder_Maximum"])[roi])


def test_stack_maps():
    ct, gtv = pat1_crop()
    names = ["glcm_Contrast", "firstorder_Mean"]
    maps = voxelmaps.compute_voxel_maps(ct, gtv, names)
    stacked = voxelmaps.stack_maps(maps, names)
    assert stacked.shape == (2,) + sitk.GetArrayFromImage(ct).shape  # (C, z, y, x)
    assert stacked.dtype == np.float32
    assert np.array_equal(stacked[1], sitk.GetArrayFromImage(maps["firstorder_Mean"]))
    tensor = voxelmaps.stack_maps(maps, names, as_tensor=True)
    assert tuple(tensor.shape) == stacked.shape
    with pytest.raises(InputError, match="firstorder_Mean"):
        voxelmaps.stack_maps(maps, ["glcm_Idm"])


def test_feature_selection():
    assert "glcm_MCC" in voxelmaps.AVAILABLE_FEATURES
    fams = voxelmaps.features_of_families(["glcm", "ngtdm"])
    assert "glcm_MCC" not in fams and "glcm_Contrast" in fams and "ngtdm_Busyness" in fams
    assert len([n for n in fams if n.startswith("glcm_")]) == 23
    with pytest.raises(InputError, match="unknown family.*available: firstorder"):
        voxelmaps.features_of_families(["glcm", "wavelet"])
    assert set(voxelmaps.DEFAULT_FEATURES) <= set(voxelmaps.AVAILABLE_FEATURES)


def test_unknown_feature_lists_available():
    ct, gtv = pat1_crop()
    with pytest.raises(InputError, match="glcm_Nonsense.*available:.*firstorder_Mean"):
        voxelmaps.compute_voxel_maps(ct, gtv, ["glcm_Nonsense"])


@pytest.mark.parametrize("kwargs,message", [
    ({"kernel_radius": 0}, "kernel_radius"),
    ({"kernel_radius": 1.5}, "kernel_radius"),
    ({"bin_width": 0}, "bin_width"),
    ({"bin_width": float("nan")}, "bin_width"),
    ({"kernel_radius": "1"}, "kernel_radius"),
    ({"device": "no-such-device"}, "device"),
])
def test_bad_settings(kwargs, message):
    ct, gtv = pat1_crop()
    with pytest.raises(InputError, match=message):
        voxelmaps.compute_voxel_maps(ct, gtv, **kwargs)


def test_single_gray_level():
    ct, gtv = pat1_crop()
    ct = sitk.Clamp(ct, lowerBound=0.0, upperBound=100.0)  # every GTV value in one 1000 HU bin
    with pytest.raises(InputError, match="single gray level"):
        voxelmaps.compute_voxel_maps(ct, gtv, bin_width=1000.0)
    with pytest.raises(InputError, match="single gray level"):
        voxelmaps.compute_voxel_maps(ct, gtv, ["ngtdm_Coarseness"], bin_width=1000.0)
    # Maps that do not discretise are still defined.
    maps = voxelmaps.compute_voxel_maps(ct, gtv, ["firstorder_Mean"], bin_width=1000.0)
    assert np.isfinite(sitk.GetArrayFromImage(maps["firstorder_Mean"])).all()


def test_kernel_larger_than_roi():
    """A 2 x 2 x 1 ROI with a 5 x 5 x 5 kernel: every kernel is the whole ROI, as in PyRadiomics."""
    ct, gtv = pat1_crop()
    mask = np.zeros(sitk.GetArrayFromImage(gtv).shape, np.uint8)
    mask[2, 3:5, 3:5] = 1
    small = sitk.GetImageFromArray(mask)
    small.CopyInformation(gtv)
    names = ["firstorder_Mean", "glcm_Contrast", "gldm_DependenceEntropy", "ngtdm_Coarseness"]
    image = sitk.GetArrayFromImage(ct).astype(np.float64)
    if np.unique(np.floor(image[mask != 0] / 25)).size < 2:
        image[2, 3, 3] += 100.0
    values = voxelmaps.voxel_feature_values(image, mask != 0, names, 2)
    assert np.allclose(values["firstorder_Mean"], image[mask != 0].mean())
    for n in names:
        assert np.isfinite(values[n]).all() and np.ptp(values[n]) < 1e-9, n


def test_one_voxel_roi():
    """One ROI voxel: first order is that voxel's value (masked) or its neighbourhood's
    (unmasked); texture needs two gray levels, so the masked kernel gives a clear error."""
    ct, gtv = pat1_crop()
    mask = np.zeros(sitk.GetArrayFromImage(gtv).shape, np.uint8)
    mask[2, 4, 4] = 1
    one = sitk.GetImageFromArray(mask)
    one.CopyInformation(gtv)
    image = sitk.GetArrayFromImage(ct)
    maps = voxelmaps.compute_voxel_maps(ct, one, ["firstorder_Mean", "firstorder_Variance"])
    assert sitk.GetArrayFromImage(maps["firstorder_Mean"])[2, 4, 4] == pytest.approx(image[2, 4, 4])
    assert sitk.GetArrayFromImage(maps["firstorder_Variance"])[2, 4, 4] == 0
    with pytest.raises(InputError, match="single gray level"):
        voxelmaps.compute_voxel_maps(ct, one, ["glcm_Contrast"])
    unmasked = voxelmaps.compute_voxel_maps(ct, one, ["firstorder_Mean", "glcm_Contrast"], masked=False)
    assert sitk.GetArrayFromImage(unmasked["firstorder_Mean"])[2, 4, 4] == pytest.approx(
        image[1:4, 3:6, 3:6].mean())
    assert np.isfinite(sitk.GetArrayFromImage(unmasked["glcm_Contrast"])).all()


@pytest.mark.parametrize("kernel_radius", [1, 2])
def test_ngtdm_kernel_voxels_without_a_neighbour_count_as_in_pyradiomics(kernel_radius):
    """An ROI of scattered voxels (two face-adjacent, one 2 voxels diagonally away, one apart): in
    some kernels a voxel has no neighbour in the kernel; it still counts in n_i (with s_i 0), as in
    PyRadiomics' C extension; leaving it out changes Coarseness, Contrast, Busyness, ... there."""
    logging.getLogger("radiomics").setLevel(logging.ERROR)
    image = np.random.default_rng(0).integers(0, 4, (9, 9, 9)) * 25.0
    roi = np.zeros((9, 9, 9), bool)
    for z, y, x in [(4, 4, 4), (4, 4, 3), (6, 6, 6), (7, 7, 7)]:
        roi[z, y, x] = True
    names = [f"ngtdm_{n}" for n in ("Coarseness", "Contrast", "Busyness", "Complexity", "Strength")]
    ours = voxelmaps.voxel_feature_values(image, roi, names, kernel_radius=kernel_radius, bin_width=25.0)
    extractor = featureextractor.RadiomicsFeatureExtractor(binWidth=25, kernelRadius=kernel_radius,
                                                           maskedKernel=True, voxelBatch=1000)
    extractor.disableAllFeatures()
    extractor.enableFeatureClassByName("ngtdm")
    im, m = sitk.GetImageFromArray(image), sitk.GetImageFromArray(roi.astype(np.uint8))
    result = extractor.execute(im, m, voxelBased=True)
    for name in names:
        reference = sitk.GetArrayFromImage(sitk.Resample(result["original_" + name], im, sitk.Transform(),
                                                         sitk.sitkNearestNeighbor, -1.0))[np.nonzero(roi)]
        np.testing.assert_allclose(ours[name], reference, rtol=1e-12, err_msg=name)


def test_empty_gtv():
    ct, gtv = pat1_crop()
    with pytest.raises(InputError, match="empty"):
        voxelmaps.compute_voxel_maps(ct, gtv * 0)


def test_nan_in_ct():
    ct, gtv = pat1_crop()
    array = sitk.GetArrayFromImage(ct)
    roi = sitk.GetArrayFromImage(gtv) != 0
    first_gtv_voxel = tuple(axis[0] for axis in np.nonzero(roi))
    array[first_gtv_voxel] = np.nan
    bad = sitk.GetImageFromArray(array)
    bad.CopyInformation(ct)
    with pytest.raises(InputError, match="CT: NaN"):
        voxelmaps.compute_voxel_maps(bad, gtv)
    # NaN outside the GTV: harmless for a masked kernel, an error for an unmasked one.
    array = sitk.GetArrayFromImage(ct)
    outside = tuple(axis[0] for axis in np.nonzero(~roi))
    array[outside] = np.nan
    bad = sitk.GetImageFromArray(array)
    bad.CopyInformation(ct)
    assert np.isfinite(sitk.GetArrayFromImage(
        voxelmaps.compute_voxel_maps(bad, gtv, ["firstorder_Mean"])["firstorder_Mean"])).all()
    with pytest.raises(InputError, match="NaN.*bounding box"):
        voxelmaps.compute_voxel_maps(bad, gtv, ["firstorder_Mean"], masked=False)


def test_mismatched_grids():
    ct, gtv = pat1_crop()
    shifted = sitk.Image(gtv)
    shifted.SetOrigin(tuple(o + 5.0 for o in gtv.GetOrigin()))
    with pytest.raises(InputError, match="origin"):
        voxelmaps.compute_voxel_maps(ct, shifted)
    ct_full = sitk.ReadImage(str(CASES["PAT1"][0]))
    with pytest.raises(InputError, match="size"):
        voxelmaps.compute_voxel_maps(ct_full, gtv)


def test_command_line(tmp_path):
    from RadSurvLib.cli import main

    # the PAT1 crop's GTV voxels inside a 24 x 24 x 12 CT box (the reader rejects a GTV that covers
    # more than 25 % of the CT, as a mask that is not a GTV)
    full_ct, full_gtv = sitk.ReadImage(str(PAT1_CT)), sitk.ReadImage(str(PAT1_GTV))
    box = (slice(102, 126), slice(42, 66), slice(23, 35))
    ct = full_ct[box]
    piece = np.zeros_like(sitk.GetArrayFromImage(full_gtv))
    piece[27:31, 50:58, 110:118] = sitk.GetArrayFromImage(full_gtv)[27:31, 50:58, 110:118]
    gtv = sitk.GetImageFromArray(piece)
    gtv.CopyInformation(full_gtv)
    gtv = gtv[box]
    sitk.WriteImage(ct, str(tmp_path / "ct.nrrd"))
    sitk.WriteImage(gtv, str(tmp_path / "gtv.nrrd"))
    out = tmp_path / "maps"
    status = main(["voxelmaps", "--ct", str(tmp_path / "ct.nrrd"), "--gtv", str(tmp_path / "gtv.nrrd"),
                   "--out", str(out), "--features", "firstorder_Mean,ngtdm_Contrast", "--ring", "3",
                   "--background", "-1", "--quiet"])
    assert status == 0
    mean = sitk.ReadImage(str(out / "voxelmap_firstorder_Mean.nrrd"))
    assert mean.GetSize() == ct.GetSize() and mean.GetOrigin() == ct.GetOrigin()
    array = sitk.GetArrayFromImage(mean)
    roi = sitk.GetArrayFromImage(gtv) != 0
    assert np.isfinite(array[roi]).all() and (array[roi] != -1).all()
    assert (array != -1).sum() > roi.sum()  # the 3 mm ring is mapped too
    assert sorted(p.name for p in out.glob("*.nrrd")) == ["voxelmap_firstorder_Mean.nrrd",
                                                          "voxelmap_ngtdm_Contrast.nrrd"]
    assert main(["voxelmaps", "--ct", str(tmp_path / "ct.nrrd"), "--gtv", str(tmp_path / "gtv.nrrd"),
                 "--out", str(out), "--families", "glcm,nope", "--quiet"]) == 2


def test_roi_extent_is_the_gtv_box_and_goes_back_exactly():
    """``extent="roi"``: the maps cover exactly the GTV's bounding box and one voxel around it on the
    CT grid, and put back on the whole grid (``place_on_grid``) they equal the whole-grid maps voxel
    for voxel (the pipeline keeps the small maps and writes the whole-grid ones one at a time)."""
    ct = sitk.ReadImage(str(PAT1_CT))
    gtv = sitk.ReadImage(str(PAT1_GTV))
    names = ["firstorder_Mean", "glcm_Contrast"]
    whole = voxelmaps.compute_voxel_maps(ct, gtv, names)
    boxed = voxelmaps.compute_voxel_maps(ct, gtv, names, extent="roi")
    roi = sitk.GetArrayViewFromImage(gtv) != 0
    zyx = np.nonzero(roi)
    lo = [int(c.min()) - 1 for c in zyx][::-1]  # x, y, z: the GTV's box and one voxel around it
    size = [int(c.max()) - int(c.min()) + 3 for c in zyx][::-1]
    assert min(lo) >= 0 and all(a + n <= m for a, n, m in zip(lo, size, ct.GetSize()))  # PAT1: inside the CT
    for name in names:
        m = boxed[name]
        assert list(m.GetSize()) == size and m.GetSize() != ct.GetSize()
        assert np.allclose(m.GetOrigin(), ct.TransformIndexToPhysicalPoint(lo), atol=1e-9)
        back = voxelmaps.place_on_grid(m, ct)
        assert back.GetSize() == ct.GetSize() and np.allclose(back.GetOrigin(), ct.GetOrigin())
        a, b = sitk.GetArrayFromImage(back), sitk.GetArrayFromImage(whole[name])
        assert np.array_equal(np.isnan(a), np.isnan(b)) and np.array_equal(a[~np.isnan(a)], b[~np.isnan(b)])
        assert np.count_nonzero(a[roi]) > 0.9 * roi.sum()
    shifted = sitk.Image(boxed[names[0]])
    shifted.SetOrigin([o + 0.3 for o in shifted.GetOrigin()])  # between grid points
    with pytest.raises(ValueError, match="not on a box"):
        voxelmaps.place_on_grid(shifted, ct)
