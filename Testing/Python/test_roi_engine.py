"""RadSurv's ROI-radiomics engine (``radiomics.roi_engine``, ``radiomics.families``) against PyRadiomics.

PyRadiomics is the reference: the matrices are compared with its C extension, the shape
coefficients with ``_cshape``, the 1316 features with ``RadiomicsFeatureExtractor.execute`` under
the Liu et al. 2025 parameter file (real data: PyRadiomics' lung1 baseline case and a box of PAT1 at
1 mm with its GTV and first ring), and the edge cases with PyRadiomics' outcome on the same input.
"""

from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).resolve().parents[1] / "Data" / "PyRadiomics_baseline"
REL, ABS = 1e-6, 1e-9


def _ranked(q, m):
    levels = np.unique(q[m])
    rank = np.zeros(levels.max() + 1, int)
    rank[levels] = np.arange(1, len(levels) + 1)
    return levels, np.pad(rank[np.where(m, q, 0)] * m, 1)


def test_matrices_equal_pyradiomics_c_extension():
    from radiomics import _cmatrices as cm

    from RadSurvLib.radiomics.families import glcm, gldm, glrlm, glszm, ngtdm
    from RadSurvLib.radiomics.roi_engine.neighbours import RoiNeighbours

    rng = np.random.default_rng(0)
    for trial in range(25):
        shape = tuple(int(s) for s in rng.integers(1, 9, 3)) if trial < 20 else (1, 7, 8)
        q = rng.integers(1, 5, shape)
        m = rng.random(shape) < 0.7
        if m.sum() < 2:
            continue
        levels, padded = _ranked(q, m)
        qi, ng, n = np.where(m, q, 0), int(levels.max()), len(levels)
        roi = RoiNeighbours(padded, shape)
        ref = cm.calculate_glcm(qi, m, np.array([1]), ng, False, 0)[0][:, levels - 1][:, :, levels - 1]
        assert np.array_equal(glcm.roi_matrix(roi, n), ref)
        ref = cm.calculate_glrlm(qi, m, ng, max(shape), False, 0)[0][:, levels - 1]
        assert np.array_equal(glrlm.roi_matrix(roi, n, max(shape)), ref)
        ref = cm.calculate_glszm(qi, m, ng, int(m.sum()), False, 0)[:, levels - 1]
        assert np.array_equal(glszm.roi_matrix(roi, n, int(m.sum())), ref)
        ref = cm.calculate_gldm(qi, m, np.array([1]), ng, 0, False, 0)[:, levels - 1]
        mine, k = gldm.roi_matrix(roi, n), min(27, ref.shape[2])
        assert ref[:, :, k:].sum() == 0 and mine[:, :, k:].sum() == 0
        assert np.array_equal(mine[:, :, :k], ref[:, :, :k])
        ref = cm.calculate_ngtdm(qi, m, np.array([1]), ng, False, 0)
        ref = ref[:, ref[0, :, 0] > 0]
        np.testing.assert_allclose(ngtdm.roi_matrix(roi, n, levels), ref, rtol=1e-13, atol=0)


def test_firstorder_equals_pyradiomics_class():
    """The engine's first-order statistics against ``RadiomicsFirstOrder`` (anisotropic spacing,
    tiny, flat and normal samples)."""
    import warnings

    import SimpleITK as sitk
    from radiomics import firstorder, imageoperations

    from RadSurvLib.radiomics.families import enabled_names
    from RadSurvLib.radiomics.families import firstorder as ours

    rng = np.random.default_rng(0)
    spacing = (0.7, 0.8, 2.5)
    for n in (2, 3, 10, 1001):
        for x in (rng.normal(0, 300, n), np.full(n, 37.5)):
            image = sitk.GetImageFromArray(x.reshape(1, 1, n))
            image.SetSpacing(spacing)
            mask = sitk.GetImageFromArray(np.ones((1, 1, n), np.uint8))
            mask.CopyInformation(image)
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # PyRadiomics' "mean of empty slice" for n = 2
                ref = firstorder.RadiomicsFirstOrder(image, mask, binWidth=25, voxelArrayShift=1000).execute()
            levels = np.digitize(x, imageoperations.getBinEdges(x, binWidth=25))
            mine = ours.features(x, levels, spacing, {"voxelArrayShift": 1000},
                                       enabled_names("firstorder", []))
            assert list(mine) == list(ref)
            for name, expected in ref.items():
                assert float(mine[name]) == pytest.approx(float(expected), rel=1e-12, abs=1e-12, nan_ok=True), name


@pytest.mark.skipif(not __import__("RadSurvLib.radiomics.roi_engine.kernels", fromlist=["x"]).AVAILABLE,
                    reason="numba not installed (optional)")
def test_compiled_kernels_equal_numpy_matrices():
    from RadSurvLib.radiomics.roi_engine import neighbours as M

    rng = np.random.default_rng(5)
    families = ("glcm", "glrlm", "glszm", "gldm", "ngtdm")
    for trial in range(15):
        shape = tuple(int(s) for s in rng.integers(1, 10, 3)) if trial < 12 else (1, 9, 7)
        q = rng.integers(1, 6, shape)
        m = rng.random(shape) < 0.75
        if m.sum() < 2:
            continue
        levels, padded = _ranked(q, m)
        roi = M.RoiNeighbours(padded, shape)
        args = (roi, len(levels), levels, families, int(m.sum()), max(shape))
        fast, slow = M.compute(*args, compiled=True), M.compute(*args, compiled=False)
        for family in families:
            a, b = fast[family], slow[family]
            if family == "glszm":  # both end at the largest zone; keep the check shape-proof
                assert b[:, :, a.shape[2]:].sum() == 0
                b = b[:, :, :a.shape[2]]
            np.testing.assert_allclose(a, b, rtol=1e-13, atol=0, err_msg=family)


def test_glszm_zone_joined_at_a_corner():
    """Two voxels of one level touching only at a corner are one zone (26-connectivity)."""
    from RadSurvLib.radiomics.families import glszm
    from RadSurvLib.radiomics.roi_engine.neighbours import RoiNeighbours

    levels = np.zeros((4, 4, 4), int)
    levels[1, 1, 1] = levels[2, 2, 2] = 1
    counts = glszm.roi_matrix(RoiNeighbours(levels, (2, 2, 2)), 1, 2)
    assert counts[0, 0].tolist() == [0.0, 1.0]


def test_shape_coefficients_equal_cshape():
    import SimpleITK as sitk
    from radiomics import _cshape

    from RadSurvLib.radiomics.families import shape as S

    rng = np.random.default_rng(1)
    cases = [(rng.random((12, 10, 9)) < 0.5, (2.5, 0.7, 0.9)) for _ in range(3)]
    label = sitk.ReadImage(str(DATA / "lung1_label.nrrd"))
    mask = sitk.GetArrayFromImage(label) == 1
    nz = np.nonzero(mask)
    cases.append((mask[tuple(slice(i.min(), i.max() + 1) for i in nz)], label.GetSpacing()[::-1]))
    for mask, spacing in cases:
        ref = _cshape.calculate_coefficients(np.pad(mask, 1), np.array(spacing, float))
        area, volume, diameters = S.mesh_coefficients(mask, spacing)
        assert area == pytest.approx(ref[0], rel=1e-12)
        assert volume == pytest.approx(ref[1], rel=1e-12)
        assert np.allclose(diameters, ref[2], rtol=1e-14, atol=0)


def _max_errors(mine: dict, ref: dict) -> dict:
    """{family: (relative error, feature)} of the worst feature per family."""
    assert list(mine) == list(ref)  # same names, same order
    worst = {}
    for name, expected in ref.items():
        got = mine[name]
        if np.isnan(expected) or np.isnan(got):
            assert np.isnan(expected) and np.isnan(got), name
            continue
        err = abs(got - expected)
        rel = 0.0 if err <= ABS else err / abs(expected)
        family = name.split("_")[1]
        if rel >= worst.get(family, (0.0, ""))[0]:
            worst[family] = (rel, name)
    return worst


@pytest.fixture(scope="module")
def parity_cases():
    """Both engines, once, on lung1 (PyRadiomics' baseline case, its GTV and 0-3 mm ring: crops not
    clipped, so the wavelet of the union box is shared) and on a box of PAT1 at 1 mm (GTV and 0-3 mm
    ring clipped by the box: one wavelet per ROI): {case: (radsurv table, pyradiomics table)}."""
    import SimpleITK as sitk

    from conftest import PAT1_CT, PAT1_GTV
    from RadSurvLib import preprocessing, rings
    from RadSurvLib.radiomics import roi

    extractor = roi.make_extractor()
    lung1_ct = sitk.ReadImage(str(DATA / "lung1_image.nrrd"))
    lung1_labels, lung1_rings = rings.make_rings(sitk.ReadImage(str(DATA / "lung1_label.nrrd")),
                                                 rings.parse_bands((3,)), ct=lung1_ct)
    lung1 = (lung1_ct, rings.roi_masks(lung1_labels, lung1_rings))
    ct = preprocessing.resample_image(sitk.ReadImage(str(PAT1_CT)), 1.0, "bspline")
    gtv = preprocessing.resample_mask_preserving_volume(sitk.ReadImage(str(PAT1_GTV)), ct).mask
    labels, ring_list = rings.make_rings(gtv, rings.parse_bands((3,)), ct=ct)
    masks = rings.roi_masks(labels, ring_list)
    lo, hi = [40, 40, 40], [110, 110, 80]  # x, y, z voxel box: clips the GTV on three sides
    upper = [s - h for s, h in zip(ct.GetSize(), hi)]
    pat1 = (sitk.Crop(ct, lo, upper), {k: sitk.Crop(m, lo, upper) for k, m in masks.items()})
    out = {}
    for case, (image, roi_masks) in {"lung1": lung1, "pat1_box": pat1}.items():
        out[case] = (roi.extract_features(image, roi_masks, extractor, engine="radsurv"),
                     roi.extract_features(image, roi_masks, extractor, engine="pyradiomics"))
    return out


@pytest.mark.slow
@pytest.mark.parametrize("case", ["lung1", "pat1_box"])
def test_features_equal_pyradiomics(parity_cases, case):
    mine, ref = parity_cases[case]
    assert list(mine) == list(ref)
    for roi_name in ref:
        assert len(ref[roi_name]) == 1316
        worst = _max_errors(mine[roi_name], ref[roi_name])
        bad = {f: w for f, w in worst.items() if w[0] > REL}
        assert not bad, (case, roi_name, bad)


def _small_case(ct_array, mask_array):
    import SimpleITK as sitk

    ct = sitk.GetImageFromArray(ct_array.astype(np.float32))
    mask = sitk.GetImageFromArray(mask_array.astype(np.uint8))
    mask.CopyInformation(ct)
    return ct, mask


def _both(ct, masks):
    from RadSurvLib.radiomics import roi

    extractor = roi.make_extractor()
    return (roi.extract_features(ct, masks, extractor, engine="radsurv"),
            roi.extract_features(ct, masks, extractor, engine="pyradiomics"))


@pytest.fixture(scope="module")
def small_ct():
    rng = np.random.default_rng(3)
    ct = rng.normal(0, 200, (24, 26, 28))
    gtv = np.zeros(ct.shape, bool)
    gtv[8:16, 9:17, 10:18] = True
    return ct, gtv


def test_one_voxel_and_empty_rings_are_skipped_like_pyradiomics(small_ct):
    ct_array, gtv = small_ct
    one, empty = np.zeros(gtv.shape, bool), np.zeros(gtv.shape, bool)
    one[2, 2, 2] = True
    ct, gtv_mask = _small_case(ct_array, gtv)
    masks = {"GTV": gtv_mask, "ring_one": _small_case(ct_array, one)[1],
             "ring_empty": _small_case(ct_array, empty)[1]}
    mine, ref = _both(ct, masks)
    assert mine["ring_one"] == ref["ring_one"] == {}
    assert mine["ring_empty"] == ref["ring_empty"] == {}
    assert not {f: w for f, w in _max_errors(mine["GTV"], ref["GTV"]).items() if w[0] > REL}


def test_one_gray_level_gives_pyradiomics_values(small_ct):
    """A flat GTV: every image has one gray level in it; values and NaNs as PyRadiomics'."""
    ct_array, gtv = small_ct
    flat = ct_array.copy()
    flat[4:20, 5:21, 6:22] = 40.0  # flat well beyond the filters' reach around the GTV
    ct, gtv_mask = _small_case(flat, gtv)
    mine, ref = _both(ct, {"GTV": gtv_mask})
    assert not {f: w for f, w in _max_errors(mine["GTV"], ref["GTV"]).items() if w[0] > REL}
    assert mine["GTV"]["original_firstorder_Entropy"] == ref["GTV"]["original_firstorder_Entropy"]


def test_nan_in_ct_is_an_error_like_pyradiomics(small_ct):
    from RadSurvLib.errors import InputError

    ct_array, gtv = small_ct
    nan_ct = ct_array.copy()
    nan_ct[7, 9, 10] = np.nan  # next to the GTV: inside every filter's support
    ct, gtv_mask = _small_case(nan_ct, gtv)
    from RadSurvLib.radiomics import roi

    extractor = roi.make_extractor()
    for engine in ("pyradiomics", "radsurv"):
        with pytest.raises(InputError):
            roi.extract_features(ct, {"GTV": gtv_mask}, extractor, engine=engine)


def test_unknown_engine_unsupported_setting_and_other_grid(tmp_path, small_ct):
    import SimpleITK as sitk

    from RadSurvLib.errors import InputError
    from RadSurvLib.radiomics import roi

    ct, gtv_mask = _small_case(*small_ct)
    with pytest.raises(InputError, match="engine"):
        roi.extract_features(ct, {"GTV": gtv_mask}, engine="fast")
    shifted = sitk.Image(gtv_mask)
    shifted.SetOrigin((0.5, 0.0, 0.0))
    with pytest.raises(InputError, match="grid"):
        roi.extract_features(ct, {"GTV": shifted}, engine="radsurv")
    params = tmp_path / "resampled.yaml"
    params.write_text("imageType:\n  Original: {}\nfeatureClass:\n  firstorder:\n"
                      "setting:\n  resampledPixelSpacing: [2, 2, 2]\n")
    with pytest.raises(InputError, match="resampledPixelSpacing"):
        roi.extract_features(ct, {"GTV": gtv_mask}, roi.make_extractor(params), engine="radsurv")


def test_without_precrop_filters_are_shared_and_equal_pyradiomics(tmp_path, small_ct):
    """``preCrop: false``: PyRadiomics filters the whole image for every ROI; the engine filters it
    once for all ROIs, with the same values."""
    from RadSurvLib.radiomics import roi

    text = roi.LIU2025_PARAMS.read_text().replace("preCrop: true", "preCrop: false")
    assert "preCrop: false" in text
    params = tmp_path / "no_precrop.yaml"
    params.write_text(text)
    ct_array, gtv = small_ct
    ring = np.zeros(gtv.shape, bool)
    ring[5:19, 6:20, 7:21] = True
    ring &= ~gtv
    ct, gtv_mask = _small_case(ct_array, gtv)
    masks = {"GTV": gtv_mask, "ring": _small_case(ct_array, ring)[1]}
    extractor = roi.make_extractor(params)
    mine = roi.extract_features(ct, masks, extractor, engine="radsurv")
    ref = roi.extract_features(ct, masks, extractor, engine="pyradiomics")
    for name in masks:
        assert len(ref[name]) == 1316
        assert not {f: w for f, w in _max_errors(mine[name], ref[name]).items() if w[0] > REL}
