"""The compiled Laplacian of Gaussian (``radiomics.recursive_gaussian``) equals SimpleITK's
``LaplacianRecursiveGaussian`` (what PyRadiomics' LoG image type runs) bit for bit: PAT1's analysis
crops at 1 mm for every sigma of the Liu et al. 2025 setting (float32, normalised float64, int16), an
anisotropic grid (PyRadiomics' lung1, 0.57 x 0.57 x 5 mm), and the shortest lines the filter takes."""

import numpy as np
import pytest
import SimpleITK as sitk
from conftest import PAT1_CT, PAT1_GTV, REPO

from RadSurvLib.radiomics.recursive_gaussian import coefficients, laplacian_of_gaussian

LUNG1 = REPO / "Testing" / "Data" / "PyRadiomics_baseline"


def _reference(image, sigma):
    return sitk.GetArrayFromImage(sitk.LaplacianRecursiveGaussian(image, sigma=float(sigma), normalizeAcrossScale=True))


def _box(ct, mask, pad):
    """``ct`` (float32) cropped to the mask's bounding box grown by ``pad`` voxels (PyRadiomics' preCrop)."""
    a = sitk.GetArrayViewFromImage(mask) != 0
    nz = np.nonzero(a)
    lo = [max(int(c.min()) - pad, 0) for c in nz]
    hi = [min(int(c.max()) + pad + 1, s) for c, s in zip(nz, a.shape)]
    size = np.array(a.shape)
    return sitk.Crop(sitk.Cast(ct, sitk.sitkFloat32), lo[::-1], [int(v) for v in (size - hi)[::-1]])


@pytest.fixture(scope="module")
def pat1_crop_1mm():
    from RadSurvLib import preprocessing

    ct = sitk.ReadImage(str(PAT1_CT))
    ct_iso = preprocessing.resample_image(ct, 1.0, "bspline")
    gtv_iso = preprocessing.resample_mask_preserving_volume(sitk.ReadImage(str(PAT1_GTV)), ct_iso).mask
    crop = _box(ct_iso, gtv_iso, 5)
    assert crop.GetPixelID() == sitk.sitkFloat32
    return crop


@pytest.mark.parametrize("sigma", [1.0, 2.0, 3.0, 4.0, 5.0])
def test_equals_simpleitk_bit_for_bit_on_pat1_at_1mm(pat1_crop_1mm, sigma):
    mine = laplacian_of_gaussian(sitk.GetArrayViewFromImage(pat1_crop_1mm), pat1_crop_1mm.GetSpacing()[::-1], sigma)
    reference = _reference(pat1_crop_1mm, sigma)
    assert mine.dtype == np.float32 and np.abs(reference).max() > 100  # a real LoG, not zeros
    assert np.array_equal(mine, reference)


@pytest.mark.parametrize("sigma", [1.0, 3.0])
def test_equals_simpleitk_on_an_anisotropic_grid(sigma):
    ct = sitk.ReadImage(str(LUNG1 / "lung1_image.nrrd"))
    crop = _box(ct, sitk.ReadImage(str(LUNG1 / "lung1_label.nrrd")), 5)
    assert len(set(np.round(crop.GetSpacing(), 3))) > 1
    mine = laplacian_of_gaussian(sitk.GetArrayViewFromImage(crop), crop.GetSpacing()[::-1], sigma)
    assert np.array_equal(mine, _reference(crop, sigma))


@pytest.mark.parametrize("pixel", ["float64 normalised", "int16"])
def test_equals_simpleitk_for_other_pixel_types(pat1_crop_1mm, pixel):
    """PyRadiomics' normalised image (float64, what the Liu et al. 2025 setting filters) and a CT
    stored as int16: SimpleITK's LoG is float32 for both; equal bit for bit."""
    from RadSurvLib.radiomics.filters import normalise

    image = (normalise(pat1_crop_1mm, 100.0) if pixel.startswith("float64")
             else sitk.Cast(sitk.Round(pat1_crop_1mm), sitk.sitkInt16))
    values = sitk.GetArrayViewFromImage(image)
    assert values.dtype == (np.float64 if pixel.startswith("float64") else np.int16)
    for sigma in (1.0, 4.0):
        reference = _reference(image, sigma)
        assert reference.dtype == np.float32
        assert np.array_equal(laplacian_of_gaussian(values, image.GetSpacing()[::-1], sigma), reference)


def test_shortest_lines_and_a_constant_image():
    """4-voxel axes (the shortest the filter takes) and a constant image, whose Laplacian is ~0."""
    rng = np.random.default_rng(0)
    values = rng.normal(0, 100, size=(4, 5, 6)).astype(np.float32)
    image = sitk.GetImageFromArray(values)
    image.SetSpacing((0.8, 1.2, 2.5))
    assert np.array_equal(laplacian_of_gaussian(values, (2.5, 1.2, 0.8), 1.5), _reference(image, 1.5))
    flat = np.full((8, 8, 8), -700.0, np.float32)
    assert np.abs(laplacian_of_gaussian(flat, (1.0, 1.0, 1.0), 2.0)).max() < 1e-3


def test_zero_order_response_sums_to_one():
    """Known ground truth of the coefficients: the Gaussian pass keeps a constant line constant
    (its causal plus anti-causal gains sum to 1)."""
    c = coefficients(3.0, 1.0, 0)
    n, d, m = c[0:4], c[4:8], c[8:12]
    assert (n.sum() + m.sum()) / (1 + d.sum()) == pytest.approx(1.0, abs=1e-12)


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="3D real array"):
        laplacian_of_gaussian(np.zeros((5, 5, 5), complex), (1, 1, 1), 1.0)
    with pytest.raises(ValueError, match=">= 4"):
        laplacian_of_gaussian(np.zeros((3, 5, 5), np.float32), (1, 1, 1), 1.0)
    with pytest.raises(ValueError, match="must be > 0"):
        laplacian_of_gaussian(np.zeros((5, 5, 5), np.float32), (1, 1, 1), 0.0)
