"""GLRLM and GLSZM voxel maps: parity with PyRadiomics voxel-based extraction.

Real data: a PAT1 crop across the upper GTV boundary (~480 GTV voxels) and PyRadiomics' own lung1
test case (its whole 837-voxel ROI, 3 slices thick, so many kernels touch the ROI's faces), kernel
radius 1 and 2, masked and unmasked kernels, every feature of both families. Synthetic images
cover the edge cases: a kernel of one voxel, a single gray level, and a one-slice ROI, where
PyRadiomics drops the directions along which no line of the kernel holds two voxels.

The cubes are built here from PyRadiomics' own discretisation (``imageoperations.binImage``), so
these tests check the family modules independently of the engine; ``test_through_engine`` checks
the engine path (``compute_voxel_maps``) as well.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

import numpy as np
import pytest

sitk = pytest.importorskip("SimpleITK")
torch = pytest.importorskip("torch")
radiomics = pytest.importorskip("radiomics")

from RadSurvLib.errors import InputError  # noqa: E402
from RadSurvLib.radiomics.families import glrlm, glszm  # noqa: E402

# PyRadiomics warns on its own NaN means (kernels of one voxel); they are expected here.
pytestmark = pytest.mark.filterwarnings("ignore:Mean of empty slice:RuntimeWarning")

from conftest import PAT1_CT, PAT1_GTV  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / "Data"
FAMILIES = {"glrlm": glrlm, "glszm": glszm}
BIN_WIDTH = 25.0

# Index ranges (x, y, z) in SimpleITK order.
CASES = {
    # 12 x 12 x 6 voxels across the upper PAT1 GTV boundary: ~480 GTV voxels, inside and edge.
    "pat1": (PAT1_CT, PAT1_GTV,
             (slice(108, 120), slice(48, 60), slice(26, 32))),
    # PyRadiomics' lung1 CT: its whole ROI (837 voxels on 3 slices) plus a margin.
    "lung1": (DATA / "PyRadiomics_baseline" / "lung1_image.nrrd",
              DATA / "PyRadiomics_baseline" / "lung1_label.nrrd",
              (slice(202, 234), slice(87, 121), slice(29, 38))),
}


@functools.lru_cache(maxsize=None)
def case_images(case: str):
    image_path, mask_path, crop = CASES[case]
    return sitk.ReadImage(str(image_path))[crop], sitk.ReadImage(str(mask_path))[crop]


def build_cubes(image, mask, kernel_radius: int, masked: bool):
    """Kernel cubes of every ROI voxel, as PyRadiomics' voxel-based extraction sees them.

    Crop to the ROI box grown by r (clipped to the image), discretise over the support (ROI, or
    the whole crop for an unmasked kernel) with PyRadiomics' ``binImage``, then gather the
    (2r+1)^3 neighbourhood of each ROI voxel with 0 outside the support / outside the crop.

    Returns:
        cubes int64 tensor (N, D, D, D) in ``numpy.nonzero(roi)`` order, n_levels (Ng).
    """
    from radiomics import imageoperations

    r = kernel_radius
    array = sitk.GetArrayFromImage(image).astype(np.float64)
    roi = sitk.GetArrayFromImage(mask) == 1
    nz = np.nonzero(roi)
    box = tuple(slice(max(int(c.min()) - r, 0), min(int(c.max()) + r + 1, s))
                for c, s in zip(nz, roi.shape))
    crop, roi_crop = array[box], roi[box]
    support = roi_crop if masked else np.ones_like(roi_crop)
    levels, _ = imageoperations.binImage(crop, support, binWidth=BIN_WIDTH)
    levels = np.where(support, levels, 0).astype(np.int64)
    padded = np.pad(levels, r)
    size = 2 * r + 1
    offsets = np.stack(np.meshgrid(*[np.arange(size)] * 3, indexing="ij"), -1).reshape(-1, 3)
    index = np.argwhere(roi_crop)[:, None, :] + offsets[None]
    cubes = padded[index[..., 0], index[..., 1], index[..., 2]].reshape(-1, size, size, size)
    return torch.as_tensor(cubes), int(levels[support].max())


def pyradiomics_values(image, mask, kernel_radius: int, masked: bool) -> dict:
    """PyRadiomics voxel-based GLRLM + GLSZM values at the ROI voxels: "glrlm_X" -> (N,) float64."""
    from radiomics import featureextractor

    logging.getLogger("radiomics").setLevel(logging.ERROR)
    extractor = featureextractor.RadiomicsFeatureExtractor(
        binWidth=BIN_WIDTH, kernelRadius=kernel_radius, maskedKernel=masked, force2D=False,
        voxelArrayShift=0, additionalInfo=False, normalize=False, resampledPixelSpacing=None)
    extractor.disableAllFeatures()
    extractor.enableFeaturesByName(glrlm=list(glrlm.FEATURES), glszm=list(glszm.FEATURES))
    with np.errstate(all="ignore"):
        result = extractor.execute(image, mask, voxelBased=True)
    roi = sitk.GetArrayFromImage(mask) == 1
    values = {}
    for key, out in result.items():
        if not isinstance(out, sitk.Image):
            continue
        full = np.full(roi.shape, np.inf)  # inf: a ROI voxel PyRadiomics did not write
        x0, y0, z0 = image.TransformPhysicalPointToIndex(out.GetOrigin())
        array = sitk.GetArrayFromImage(out)
        full[z0:z0 + array.shape[0], y0:y0 + array.shape[1], x0:x0 + array.shape[2]] = array
        values[key.replace("original_", "")] = full[roi]
    return values


@functools.lru_cache(maxsize=None)
def reference(case: str, kernel_radius: int, masked: bool) -> dict:
    return pyradiomics_values(*case_images(case), kernel_radius, masked)


def assert_parity(family, ours: dict, ref: dict, rel=1e-10, abs_=1e-10):
    """Every feature equal within rel * |ref| + abs_, NaN exactly where PyRadiomics is NaN."""
    assert set(ours) == set(FAMILIES[family].FEATURES)
    worst = 0.0
    for name, values in ours.items():
        values = values.cpu().numpy()
        expected = ref[f"{family}_{name}"]
        assert values.dtype == np.float64 and values.shape == expected.shape, name
        assert np.array_equal(np.isnan(values), np.isnan(expected)), f"{family}_{name}: NaN pattern"
        ok = ~np.isnan(expected)
        err = np.abs(values[ok] - expected[ok])
        bad = err > rel * np.abs(expected[ok]) + abs_
        assert not bad.any(), (f"{family}_{name}: {bad.sum()} of {ok.sum()} voxels differ, max "
                               f"abs err {err.max():.3g}")
        if ok.any():
            worst = max(worst, float((err / np.maximum(np.abs(expected[ok]), 1e-12)).max()))
    return worst


@pytest.mark.parametrize("masked", [True, False], ids=["masked", "unmasked"])
@pytest.mark.parametrize("kernel_radius", [1, 2])
@pytest.mark.parametrize("case", list(CASES))
def test_parity_with_pyradiomics(case, kernel_radius, masked):
    image, mask = case_images(case)
    ref = reference(case, kernel_radius, masked)
    cubes, n_levels = build_cubes(image, mask, kernel_radius, masked)
    assert len(cubes) == (sitk.GetArrayFromImage(mask) == 1).sum()
    for family, module in FAMILIES.items():
        ours = module.compute(cubes, n_levels, list(module.FEATURES))
        assert_parity(family, ours, ref)


def test_flat_directions_are_dropped_like_pyradiomics():
    """Kernels on the ROI's faces where some direction has no line with two kernel voxels.

    PyRadiomics (``multiElement`` in cmatrices.c) empties such a direction and averages over the
    others. The parity test covers such kernels (masked: lung1 85 at r=1 and 31 at r=2, PAT1 8 at
    r=1). Here: a one-slice ROI, where every direction leaving the slice is flat for every kernel.
    """
    rng = np.random.default_rng(3)
    array = rng.integers(-100, 100, size=(5, 8, 9)).astype(np.float64)
    roi = np.zeros(array.shape, dtype=np.uint8)
    roi[2, 1:7, 1:8] = 1
    image, mask = sitk.GetImageFromArray(array), sitk.GetImageFromArray(roi)
    cubes, n_levels = build_cubes(image, mask, 1, True)
    ref = pyradiomics_values(image, mask, 1, True)
    ours = glrlm.compute(cubes, n_levels, list(glrlm.FEATURES))
    assert_parity("glrlm", ours, ref)
    # A mean over all 13 directions would differ: the 9 out-of-slice ones have RunPercentage 1.
    assert (ours["RunPercentage"] < 1).any()
    assert_parity("glszm", glszm.compute(cubes, n_levels, list(glszm.FEATURES)), ref)


def test_one_voxel_kernel_and_single_gray_level():
    """An isolated ROI voxel (kernel of one voxel) and flat regions (one gray level)."""
    array = np.full((5, 7, 7), 40.0)
    array[:, :, 4:] = 110.0  # a second gray level, outside the flat block's kernels
    block = np.zeros(array.shape, dtype=np.uint8)
    block[1:4, 1:4, 0:3] = 1  # 27 voxels, all at 40 HU: one gray level in every kernel
    with_isolated = block.copy()
    with_isolated[2, 5, 5] = 1  # isolated voxel: its masked kernel holds only itself
    for roi, masked in [(with_isolated, True), (block, True), (block, False)]:
        # (block, masked): a single gray level in the whole ROI (Ng = 1).
        image, mask = sitk.GetImageFromArray(array), sitk.GetImageFromArray(roi)
        cubes, n_levels = build_cubes(image, mask, 1, masked)
        ref = pyradiomics_values(image, mask, 1, masked)
        for family, module in FAMILIES.items():
            assert_parity(family, module.compute(cubes, n_levels, list(module.FEATURES)), ref)
    cubes, n_levels = build_cubes(sitk.GetImageFromArray(array),
                                  sitk.GetImageFromArray(with_isolated), 1, True)
    isolated = int(np.flatnonzero(np.argwhere(with_isolated)[:, 1] == 5)[0])
    runs = glrlm.compute(cubes, n_levels, ["RunPercentage"])["RunPercentage"]
    assert torch.isnan(runs[isolated])  # PyRadiomics: every direction emptied -> NaN
    assert not torch.isnan(runs[:isolated]).any()
    zones = glszm.compute(cubes, n_levels, ["ZonePercentage", "GrayLevelVariance"])
    assert zones["ZonePercentage"][isolated].item() == 1.0
    assert zones["GrayLevelVariance"][isolated].item() == 0.0


def test_zone_labels_26_connected_through_kernel_only():
    # Level 2 at (0,0,0) and (1,0,1) (edge neighbours: one zone) and at (2,2,2) (alone); the
    # voxel (1,2,2) is not in the kernel and joins nothing. The 23 level-1 voxels all touch the
    # centre: one zone.
    cube = torch.ones(1, 3, 3, 3, dtype=torch.int64)
    cube[0, 0, 0, 0] = 2
    cube[0, 1, 0, 1] = 2
    cube[0, 2, 2, 2] = 2
    cube[0, 1, 2, 2] = 0
    labels = glszm.zone_labels(cube)[0].reshape(3, 3, 3)
    assert labels[0, 0, 0] == labels[1, 0, 1] == 0
    assert labels[2, 2, 2] == 26
    assert labels[1, 2, 2] == 27  # not in the kernel: the sentinel D^3
    assert set(labels[cube[0] == 1].tolist()) == {1}
    out = glszm.compute(cube, 2, ["ZonePercentage", "LargeAreaEmphasis"])
    assert out["ZonePercentage"].item() == pytest.approx(3 / 26)
    assert out["LargeAreaEmphasis"].item() == pytest.approx((23 ** 2 + 2 ** 2 + 1) / 3)


@pytest.mark.parametrize("size", [3, 5, 7])
def test_zone_labels_match_scipy_connected_components(size):
    """Both labellings (gathers at D = 3, direction sweeps above) against scipy.ndimage.label with
    26-connectivity on random cubes of 3 levels with holes (ground truth: the smallest flat index of
    each same-level component)."""
    from scipy import ndimage

    rng = np.random.default_rng(size)
    cubes = torch.as_tensor(rng.integers(0, 4, size=(300, size, size, size)))
    labels = glszm.zone_labels(cubes).numpy()
    k = size ** 3
    for v in range(cubes.shape[0]):
        cube = cubes[v].numpy()
        expected = np.full(k, k)
        for level in np.unique(cube[cube > 0]):
            comp, count = ndimage.label(cube == level, structure=np.ones((3, 3, 3)))
            comp = comp.ravel()
            for c in range(1, count + 1):
                members = np.nonzero(comp == c)[0]
                expected[members] = members.min()
        assert np.array_equal(labels[v], expected), v


def test_bad_input():
    cubes = torch.ones(2, 3, 3, 3, dtype=torch.int64)
    with pytest.raises(InputError, match="Nonsense.*available"):
        glrlm.compute(cubes, 1, ["Nonsense"])
    with pytest.raises(InputError, match="int64"):
        glszm.compute(cubes.float(), 1, ["ZonePercentage"])
    with pytest.raises(InputError, match="odd"):
        glrlm.compute(torch.ones(2, 4, 4, 4, dtype=torch.int64), 1, ["RunPercentage"])
    assert glrlm.compute(cubes[:0], 1, ["RunPercentage"])["RunPercentage"].shape == (0,)


def test_memory_estimates():
    for module in (glrlm, glszm):
        small, large = module.bytes_per_voxel(3), module.bytes_per_voxel(5)
        assert 0 < small < large < 10**6


def test_through_engine():
    """``compute_voxel_maps`` with GLRLM/GLSZM names: same values as PyRadiomics (float32 maps)."""
    from RadSurvLib.radiomics import voxelmaps

    image, mask = case_images("pat1")
    names = [f"glrlm_{n}" for n in glrlm.FEATURES] + [f"glszm_{n}" for n in glszm.FEATURES]
    maps = voxelmaps.compute_voxel_maps(image, mask, names, kernel_radius=1, bin_width=BIN_WIDTH,
                                        masked=True)
    ref = reference("pat1", 1, True)
    roi = sitk.GetArrayFromImage(mask) == 1
    for name in names:
        ours = sitk.GetArrayFromImage(maps[name])[roi].astype(np.float64)
        expected = ref[name]
        assert np.array_equal(np.isnan(ours), np.isnan(expected)), name
        ok = ~np.isnan(expected)
        assert np.all(np.abs(ours[ok] - expected[ok]) <= 1e-6 * np.abs(expected[ok]) + 1e-9), name
