"""Crop before resampling (``preprocessing.analysis_crop`` / ``resample_crop``) and the whole-image
normalisation statistics (``resampled_statistics`` / ``normalize_like_pyradiomics``).

Ground truth everywhere: resampling the WHOLE CT to 1 mm (what the pipeline did before) and
PyRadiomics' own ``normalize`` on that whole image."""

from pathlib import Path

import numpy as np
import pytest

from RadSurvLib import preprocessing as pp
from RadSurvLib.errors import InputError

LUNG1_001 = Path("/work/shared/data/lung1_001")

# small GTV pieces gain volume at 1 mm (thick slices); the warning is not what these tests check
pytestmark = pytest.mark.filterwarnings("ignore:GTV. resampling to the 1 mm")


def _array(image):
    import SimpleITK as sitk

    return sitk.GetArrayFromImage(image)


def _like(array, reference):
    import SimpleITK as sitk

    image = sitk.GetImageFromArray(array)
    image.CopyInformation(reference)
    return image


@pytest.fixture(scope="module")
def pat1_whole(pat1_images):
    """PAT1's CT resampled whole to 1 mm (the reference)."""
    return pp.resample_image(pat1_images[0], 1.0, "bspline")


@pytest.fixture(scope="module")
def pat1_small_gtv(pat1_images):
    """A 20 x 20 x 4-voxel piece of PAT1's GTV: its analysis box is much smaller than the CT."""
    gtv = _array(pat1_images[1])
    z, y, x = (int(np.median(c)) for c in np.nonzero(gtv))
    piece = np.zeros_like(gtv)
    box = np.s_[z - 2:z + 2, y - 10:y + 10, x - 10:x + 10]
    piece[box] = gtv[box]
    assert piece.any()
    return _like(piece, pat1_images[1])


def _check_crop_equals_whole(ct, gtv, whole, margin_mm):
    crop = pp.analysis_crop(ct, gtv, margin_mm)
    cropped = pp.resample_crop(ct, crop)
    assert tuple(cropped.GetSize()) == crop.size
    # the crop's voxels are points of the whole grid, same spacing and direction
    assert np.allclose(cropped.GetOrigin(), whole.TransformIndexToPhysicalPoint(crop.grid_lo), atol=1e-9)
    assert cropped.GetSpacing() == whole.GetSpacing() and cropped.GetDirection() == whole.GetDirection()
    diff = np.abs(_array(cropped) - _array(whole)[crop.grid_slices()])
    assert diff.max() <= 1e-4  # float32 rounding of ~1000 HU; observed 0 on PAT1
    return crop, cropped


def test_crop_equals_whole_resampling_pat1(pat1_images, pat1_whole, pat1_small_gtv):
    ct, gtv = pat1_images
    crop, cropped = _check_crop_equals_whole(ct, pat1_small_gtv, pat1_whole, 9.0)
    assert np.prod(crop.size) < 0.05 * np.prod(crop.grid_size)  # really a crop
    _check_crop_equals_whole(ct, gtv, pat1_whole, 9.0)
    # a margin beyond the CT: the box is clipped exactly where the whole grid ends
    crop_full, _ = _check_crop_equals_whole(ct, gtv, pat1_whole, 60.0)
    assert crop_full.grid_lo == (0, 0, 0) and crop_full.grid_hi == crop_full.grid_size


def test_crop_keeps_gtv_and_rings(pat1_images, pat1_whole, pat1_small_gtv):
    """The volume-preserving GTV and the rings built on the crop are those of the whole grid."""
    from RadSurvLib import rings

    ct, _ = pat1_images
    gtv = pat1_small_gtv
    crop = pp.analysis_crop(ct, gtv, 9.0)
    cropped = pp.resample_crop(ct, crop)
    whole_mask = pp.resample_mask_preserving_volume(gtv, pat1_whole)
    crop_mask = pp.resample_mask_preserving_volume(gtv, cropped)
    assert crop_mask.threshold == whole_mask.threshold
    assert crop_mask.volume_mm3_resampled == whole_mask.volume_mm3_resampled
    assert np.array_equal(_array(crop_mask.mask), _array(whole_mask.mask)[crop.grid_slices()])
    labels_whole, rings_whole = rings.make_rings(whole_mask.mask, (3, 6, 9), ct=pat1_whole, air_hu=-950)
    labels_crop, rings_crop = rings.make_rings(crop_mask.mask, (3, 6, 9), ct=cropped, air_hu=-950)
    whole = _array(labels_whole)
    assert np.array_equal(_array(labels_crop), whole[crop.grid_slices()])
    assert whole.sum() == _array(labels_crop).sum()  # nothing of the rings lies outside the crop
    assert [(r.voxels, r.lost_fraction, r.mean_distance_mm) for r in rings_crop] == [
        (r.voxels, r.lost_fraction, r.mean_distance_mm) for r in rings_whole]


def test_crop_rotated_anisotropic_grid():
    """A tilted, anisotropic CT: the crop still samples the whole grid's points (ground truth: the
    whole resampling)."""
    import SimpleITK as sitk

    rng = np.random.default_rng(7)
    values = rng.normal(-300, 400, size=(30, 70, 60)).astype(np.float32)
    ct = sitk.GetImageFromArray(values)
    ct.SetSpacing((0.8, 0.7, 2.5))
    ct.SetOrigin((-20.0, 13.5, 101.25))
    angle = 0.3
    ct.SetDirection((np.cos(angle), -np.sin(angle), 0.0, np.sin(angle), np.cos(angle), 0.0, 0.0, 0.0, 1.0))
    mask = np.zeros(values.shape, np.uint8)
    mask[14:17, 30:38, 25:31] = 1
    gtv = _like(mask, ct)
    whole = pp.resample_image(ct, 1.0)
    crop, _ = _check_crop_equals_whole(ct, gtv, whole, 4.0)
    assert np.prod(crop.size) < 0.5 * np.prod(crop.grid_size)


def test_resampled_statistics_match_whole_image(pat1_images, pat1_whole):
    """Mean and sigma of the 1 mm CT without resampling it: ITK's statistics of the real thing."""
    reference = pp.image_statistics(pat1_whole)
    stats = pp.resampled_statistics(pat1_images[0])
    assert stats.count == reference.count
    assert stats.mean == pytest.approx(reference.mean, rel=1e-9)
    assert stats.sigma == pytest.approx(reference.sigma, rel=1e-9)
    assert stats.mean != pytest.approx(float(_array(pat1_images[0]).mean()), rel=1e-4)  # not the CT's own


def test_normalisation_of_crop_equals_pyradiomics_on_whole(pat1_images, pat1_whole, pat1_small_gtv):
    import SimpleITK as sitk
    from radiomics import imageoperations

    crop = pp.analysis_crop(pat1_images[0], pat1_small_gtv, 9.0)
    cropped = pp.resample_crop(pat1_images[0], crop)
    expected = _array(imageoperations.normalizeImage(pat1_whole, normalizeScale=100))[crop.grid_slices()]
    exact = pp.normalize_like_pyradiomics(cropped, pp.image_statistics(pat1_whole), 100)
    assert exact.GetPixelID() == sitk.sitkFloat64
    assert np.array_equal(_array(exact), expected)  # same statistics -> bitwise
    analytic = pp.normalize_like_pyradiomics(cropped, pp.resampled_statistics(pat1_images[0]), 100)
    assert np.abs(_array(analytic) - expected).max() < 1e-6  # bin width 25: float noise
    clipped = pp.normalize_like_pyradiomics(cropped, pp.image_statistics(pat1_whole), 100, outliers=1.5)
    assert _array(clipped).max() <= 150.0 + 1e-9 and _array(clipped).min() >= -150.0 - 1e-9


def test_pyradiomics_features_unchanged_by_crop(pat1_images, pat1_whole, pat1_small_gtv):
    """PyRadiomics (preCrop, normalize, LoG sigma 5 mm, wavelet) on the outermost ring: the crop,
    normalised with the whole image's statistics, gives the whole image's features."""
    from radiomics import featureextractor

    from RadSurvLib import rings

    settings = {"binWidth": 25, "normalize": True, "normalizeScale": 100, "voxelArrayShift": 1000,
                "preCrop": True, "force2D": False, "label": 1}
    whole_mask = pp.resample_mask_preserving_volume(pat1_small_gtv, pat1_whole).mask
    labels, ring_list = rings.make_rings(whole_mask, (3, 6, 9))
    ring = rings.roi_masks(labels, ring_list)["ring_6-9mm"]
    crop = pp.analysis_crop(pat1_images[0], pat1_small_gtv, 9.0)
    cropped = pp.resample_crop(pat1_images[0], crop)
    ring_crop = _like(_array(ring)[crop.grid_slices()], cropped)

    def extractor(normalize):
        ex = featureextractor.RadiomicsFeatureExtractor(**{**settings, "normalize": normalize})
        ex.disableAllFeatures()
        ex.enableFeatureClassByName("firstorder")
        ex.enableFeatureClassByName("glcm")
        ex.enableImageTypes(Original={}, LoG={"sigma": [5.0]}, Wavelet={})
        return ex

    expected = extractor(True).execute(pat1_whole, ring)
    normalised = pp.normalize_like_pyradiomics(cropped, pp.resampled_statistics(pat1_images[0]), 100)
    got = extractor(False).execute(normalised, ring_crop)
    names = [k for k in expected if not k.startswith("diagnostics")]
    assert len(names) == 10 * (18 + 24)
    for k in names:
        assert float(got[k]) == pytest.approx(float(expected[k]), rel=1e-6, abs=1e-9), k
    # what PyRadiomics' own normalize on the crop would give (the crop's statistics): different
    wrong = extractor(True).execute(cropped, ring_crop)
    assert max(abs(float(wrong[k]) - float(expected[k])) / (abs(float(expected[k])) + 1e-9)
               for k in names) > 1e-2


def test_crop_bad_input(pat1_images):
    import SimpleITK as sitk

    ct, gtv = pat1_images
    empty = sitk.Image(gtv.GetSize(), sitk.sitkUInt8)
    empty.CopyInformation(gtv)
    with pytest.raises(InputError, match="GTV.*empty"):
        pp.analysis_crop(ct, empty, 9.0)
    with pytest.raises(InputError, match="margin_mm"):
        pp.analysis_crop(ct, gtv, -1.0)
    with pytest.raises(InputError, match="margin_mm"):
        pp.analysis_crop(ct, gtv, float("nan"))
    with pytest.raises(InputError, match="constant"):
        pp.normalize_like_pyradiomics(ct, pp.ImageStatistics(0.0, 0.0, 1), 100)


@pytest.mark.slow
@pytest.mark.skipif(not LUNG1_001.is_dir(), reason="lung1_001 (shared data) not on this machine")
def test_crop_equals_whole_resampling_lung1_001():
    """A full planning CT (512 x 512 x 134, DICOM + RTSTRUCT GTV-1): the crop equals the whole
    1 mm resampling on the analysis box, and the statistics match the whole 1 mm CT's."""
    from RadSurvLib.io.dicom import load_dicom_case

    rtstruct = next((LUNG1_001 / "rtstruct").iterdir())
    ct, gtv, _ = load_dicom_case(LUNG1_001 / "image", rtstruct=rtstruct, roi="GTV-1")
    whole = pp.resample_image(ct, 1.0)
    crop, cropped = _check_crop_equals_whole(ct, gtv, whole, 9.0)
    assert np.prod(crop.size) < 0.05 * np.prod(crop.grid_size)
    whole_mask = pp.resample_mask_preserving_volume(gtv, whole)
    crop_mask = pp.resample_mask_preserving_volume(gtv, cropped)
    assert np.array_equal(_array(crop_mask.mask), _array(whole_mask.mask)[crop.grid_slices()])
    reference = pp.image_statistics(whole)
    stats = pp.resampled_statistics(ct)
    assert stats.mean == pytest.approx(reference.mean, rel=1e-9)
    assert stats.sigma == pytest.approx(reference.sigma, rel=1e-9)
