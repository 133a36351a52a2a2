"""Voxel maps: parity with PyRadiomics voxel-based extraction on a real PAT1 crop, geometry,
background, stacking and bad input."""

from __future__ import annotations

import functools
import logging
from pathlib import Path

import numpy as np
import pytest

sitk = pytest.importorskip("SimpleITK")
pytest.importorskip("torch")
radiomics = pytest.importorskip("radiomics")

from RadSurvLib import voxelmaps  # noqa: E402
from RadSurvLib.errors import InputError  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / "Data" / "PAT1"

# 12 x 12 x 6 voxels (x, y, z) across the upper GTV boundary: ~480 GTV voxels, inside and edge.
CROP = (slice(108, 120), slice(48, 60), slice(26, 32))


@functools.lru_cache(maxsize=None)
def pat1_crop():
    ct = sitk.ReadImage(str(DATA / "image.nii.gz"))
    gtv = sitk.ReadImage(str(DATA / "mask.nii.gz"))
    return ct[CROP], gtv[CROP]


@functools.lru_cache(maxsize=None)
def pyradiomics_maps(kernel_radius: int, masked: bool) -> dict:
    """PyRadiomics voxel-based maps (every feature we implement) on the CT crop's grid, float64."""
    from radiomics import featureextractor

    logging.getLogger("radiomics").setLevel(logging.ERROR)
    ct, gtv = pat1_crop()
    extractor = featureextractor.RadiomicsFeatureExtractor(
        binWidth=25, kernelRadius=kernel_radius, maskedKernel=masked, force2D=False,
        additionalInfo=False, normalize=False, resampledPixelSpacing=None)
    extractor.disableAllFeatures()
    extractor.enableFeaturesByName(
        firstorder=list(voxelmaps.FIRSTORDER_FEATURES), glcm=list(voxelmaps.GLCM_FEATURES))
    result = extractor.execute(ct, gtv, voxelBased=True)
    maps = {}
    for key, image in result.items():
        if not isinstance(image, sitk.Image):
            continue
        # PyRadiomics returns maps on its crop (GTV box + kernel radius): paste into the CT grid.
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


@pytest.mark.parametrize("kernel_radius,masked", [(1, True), (1, False), (2, True)])
def test_parity_with_pyradiomics(kernel_radius, masked):
    ct, gtv = pat1_crop()
    roi = sitk.GetArrayFromImage(gtv) != 0
    reference = pyradiomics_maps(kernel_radius, masked)
    names = list(voxelmaps.AVAILABLE_FEATURES)

    maps = voxelmaps.compute_voxel_maps(ct, gtv, names, kernel_radius=kernel_radius, masked=masked)
    exact = voxelmaps.voxel_feature_values(
        sitk.GetArrayFromImage(ct), roi, names, kernel_radius, 25.0, masked,
        float(np.prod(ct.GetSpacing())))
    for name in names:
        ref = reference[name][roi]
        ours32 = sitk.GetArrayFromImage(maps[name])[roi].astype(np.float64)
        ours64 = exact[name]
        finite = np.isfinite(ref)
        if name == "glcm_JointAverage":
            # PyRadiomics takes a plain mean over directions here (NaN if one is empty); ours
            # skips empty directions like every other GLCM feature: equal to SumAverage / 2.
            half_sum_average = reference["glcm_SumAverage"][roi] / 2
            assert_close(name + " (empty directions)", ours64[~finite], half_sum_average[~finite],
                         1e-12, 1e-12)
        else:
            assert finite.all(), f"{name}: unexpected NaN in the PyRadiomics reference"
        assert np.isfinite(ours64).all(), f"{name}: NaN in our map"
        assert_close(name + " (float64)", ours64[finite], ref[finite], 1e-9, 1e-12)
        assert_close(name + " (float32 map)", ours32[finite], ref[finite], 1e-6, 1e-9)


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
        assert np.all(np.isfinite(array[roi])), name
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
    # Maps that do not discretise are still defined.
    maps = voxelmaps.compute_voxel_maps(ct, gtv, ["firstorder_Mean"], bin_width=1000.0)
    assert np.isfinite(sitk.GetArrayFromImage(maps["firstorder_Mean"])).all()


def test_empty_gtv():
    ct, gtv = pat1_crop()
    with pytest.raises(InputError, match="empty"):
        voxelmaps.compute_voxel_maps(ct, gtv * 0)


def test_nan_in_ct_inside_gtv():
    ct, gtv = pat1_crop()
    array = sitk.GetArrayFromImage(ct)
    first_gtv_voxel = tuple(axis[0] for axis in np.nonzero(sitk.GetArrayFromImage(gtv)))
    array[first_gtv_voxel] = np.nan
    bad = sitk.GetImageFromArray(array)
    bad.CopyInformation(ct)
    with pytest.raises(InputError, match="NaN"):
        voxelmaps.compute_voxel_maps(bad, gtv)


def test_mismatched_grids():
    ct, gtv = pat1_crop()
    shifted = sitk.Image(gtv)
    shifted.SetOrigin(tuple(o + 5.0 for o in gtv.GetOrigin()))
    with pytest.raises(InputError, match="origin"):
        voxelmaps.compute_voxel_maps(ct, shifted)
    ct_full = sitk.ReadImage(str(DATA / "image.nii.gz"))
    with pytest.raises(InputError, match="size"):
        voxelmaps.compute_voxel_maps(ct_full, gtv)
