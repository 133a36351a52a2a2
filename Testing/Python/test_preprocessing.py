"""Validation and 1 mm resampling, on PAT1 and on a sphere of known volume."""

import numpy as np
import pytest
import SimpleITK as sitk
from conftest import PAT1_IBSI_VOLUME_MM3

from RadSurvLib.errors import InputError
from RadSurvLib.preprocessing import (resample_image, resample_mask_preserving_volume,
                                      validate_inputs)


def _with_array(reference, array):
    image = sitk.GetImageFromArray(array)
    image.CopyInformation(reference)
    return image


def test_pat1_passes_validation(pat1_images):
    validate_inputs(*pat1_images)


def test_mask_on_another_grid_is_refused(pat1_images):
    ct, gtv = pat1_images
    shifted = sitk.Image(gtv)
    shifted.SetOrigin(tuple(np.array(gtv.GetOrigin()) + [0.0, 0.0, 2.0]))
    with pytest.raises(InputError, match="origin"):
        validate_inputs(ct, shifted)
    cropped = gtv[:, :, :50]
    with pytest.raises(InputError, match="size"):
        validate_inputs(ct, cropped)


def test_empty_gtv_is_refused(pat1_images):
    ct, gtv = pat1_images
    with pytest.raises(InputError, match="empty"):
        validate_inputs(ct, _with_array(gtv, np.zeros_like(sitk.GetArrayFromImage(gtv))))


def test_ct_not_in_hu_is_refused(pat1_images):
    ct, gtv = pat1_images
    raw = sitk.GetArrayFromImage(ct) + 1024.0  # stored values without the rescale intercept
    with pytest.raises(InputError, match="Hounsfield"):
        validate_inputs(_with_array(ct, raw), gtv)
    with_nan = sitk.GetArrayFromImage(ct)
    with_nan[10, 10, 10] = np.nan
    with pytest.raises(InputError, match="NaN"):
        validate_inputs(_with_array(ct, with_nan), gtv)


def test_ct_resampled_to_1mm_keeps_extent_and_hu(pat1_images):
    ct, gtv = pat1_images
    iso = resample_image(ct, 1.0)
    assert iso.GetSpacing() == (1.0, 1.0, 1.0)
    extent_in = np.array(ct.GetSize()) * np.array(ct.GetSpacing())
    extent_out = np.array(iso.GetSize()) * np.array(iso.GetSpacing())
    assert np.all(np.abs(extent_in - extent_out) <= 1.0)
    # Physical centre of the grid is kept.
    centre = lambda im: np.array(im.TransformContinuousIndexToPhysicalPoint(  # noqa: E731
        [(s - 1) / 2 for s in im.GetSize()]))
    assert np.allclose(centre(ct), centre(iso), atol=1e-3)
    # The mean HU inside the GTV changes by less than 2 HU.
    mask_iso = resample_mask_preserving_volume(gtv, iso).mask
    hu_in = sitk.GetArrayFromImage(ct)[sitk.GetArrayFromImage(gtv) > 0].mean()
    hu_out = sitk.GetArrayFromImage(iso)[sitk.GetArrayFromImage(mask_iso) > 0].mean()
    assert abs(hu_in - hu_out) < 2.0


def test_pat1_gtv_volume_kept_and_matches_ibsi(pat1_images):
    ct, gtv = pat1_images
    result = resample_mask_preserving_volume(gtv, resample_image(ct, 1.0))
    assert result.volume_mm3_input == pytest.approx(125_256 * 0.977 * 0.977 * 3.0, rel=1e-4)
    assert abs(result.volume_mm3_resampled - result.volume_mm3_input) / result.volume_mm3_input < 0.005
    assert abs(result.volume_mm3_resampled - PAT1_IBSI_VOLUME_MM3) / PAT1_IBSI_VOLUME_MM3 < 0.02


def test_sphere_volume_recovered_on_anisotropic_grid():
    radius = 20.0
    spacing = np.array([0.8, 0.8, 2.5])  # x, y, z mm
    size = (100, 100, 34)
    z, y, x = np.meshgrid(*[np.arange(n) * s for n, s in zip(size[::-1], spacing[::-1])], indexing="ij")
    centre = (np.array(size) - 1) * spacing / 2
    inside = ((x - centre[0]) ** 2 + (y - centre[1]) ** 2 + (z - centre[2]) ** 2) <= radius**2
    mask = sitk.GetImageFromArray(inside.astype(np.uint8))
    mask.SetSpacing(tuple(spacing))
    ct = sitk.GetImageFromArray(np.where(inside, 30.0, -800.0).astype(np.float32))
    ct.CopyInformation(mask)
    result = resample_mask_preserving_volume(mask, resample_image(ct, 1.0))
    analytic = 4 / 3 * np.pi * radius**3
    assert abs(result.volume_mm3_resampled - analytic) / analytic < 0.02


def test_spacing_bounds_are_inclusive(pat1_images):
    from RadSurvLib.preprocessing import SPACING_RANGE_MM, check_voxel_spacing

    ct = sitk.Image(pat1_images[0])
    for spacing in [(0.1, 0.1, 10.0), (0.977, 0.977, 3.0), (10.0, 10.0, 10.0)]:
        ct.SetSpacing(spacing)
        check_voxel_spacing(ct, "ct")
    for spacing in [(0.099, 0.977, 3.0), (0.977, 0.977, 10.01)]:
        ct.SetSpacing(spacing)
        with pytest.raises(InputError, match=rf"ct: voxel spacing .* mm is "):
            check_voxel_spacing(ct, "ct")
    assert SPACING_RANGE_MM == (0.1, 10.0)


def test_gtv_size_bounds(pat1_images):
    from RadSurvLib.preprocessing import GTV_MAX_FRACTION, check_gtv_size

    ct, gtv = pat1_images
    total = int(np.prod(ct.GetSize()))
    flat = np.zeros(total, dtype=np.uint8)
    limit = int(GTV_MAX_FRACTION * total)  # 25 % of the voxels: accepted; one voxel more: refused
    flat[:limit] = 1
    check_gtv_size(_with_array(gtv, flat.reshape(sitk.GetArrayFromImage(gtv).shape)), ct)
    flat[limit] = 1
    with pytest.raises(InputError, match=r"covers 25\.0 % of the voxels"):
        check_gtv_size(_with_array(gtv, flat.reshape(sitk.GetArrayFromImage(gtv).shape)), ct)
    # 5 voxels of 0.977 x 0.977 x 3 mm = 14.3 mm^3 pass; on a 1 mm grid 5 voxels (5 mm^3) are too small.
    small = np.zeros(sitk.GetArrayFromImage(gtv).shape, dtype=np.uint8)
    small[30, 100, 100:105] = 1
    check_gtv_size(_with_array(gtv, small), ct)
    iso_ct, iso_gtv = sitk.Image(ct), _with_array(gtv, small)
    iso_ct.SetSpacing((1.0, 1.0, 1.0))
    iso_gtv.SetSpacing((1.0, 1.0, 1.0))
    with pytest.raises(InputError, match=r"only 5 voxels \(5 mm\^3\); at least 5 voxels and 10 mm\^3"):
        check_gtv_size(iso_gtv, iso_ct)
