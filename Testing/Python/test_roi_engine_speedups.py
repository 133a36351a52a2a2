"""The ROI engine's faster code paths give the same numbers as their references.

* Compiled texture loops (``roi_engine.kernels``: byte ranks, branch-free run lengths, union-find
  that skips the neighbours joined through the voxel's predecessor) against the families' NumPy
  ``roi_matrix`` on PAT1's real GTV (CT binned with PyRadiomics' bin width 25 HU), in 3D and with
  ``force2D`` along every axis, and on more than 255 gray levels (uint16 ranks): integer counts,
  equal exactly.
* Compiled shape diameters (``families.shape._compiled_diameters``) against the NumPy reference
  (``_diameters_numpy``) on PAT1's and lung1's GTVs and on awkward shapes (one voxel, a flat slab, a
  line, an L, a hollow shell), anisotropic spacing: equal to the last bit.
* The per-ROI gather (``_Roi.values_in``, ``padded_idx``) against boolean indexing of the box.
"""

from pathlib import Path

import numpy as np
import pytest

kernels = pytest.importorskip("RadSurvLib.radiomics.roi_engine.kernels")
if not kernels.AVAILABLE:
    pytest.skip("numba not installed (optional)", allow_module_level=True)

DATA = Path(__file__).resolve().parents[1] / "Data" / "PyRadiomics_baseline"
FAMILIES = ("glcm", "glrlm", "glszm", "gldm", "ngtdm")


@pytest.fixture(scope="module")
def pat1_gtv():
    """(CT HU float64, GTV bool) of PAT1's GTV bounding box, z, y, x, at the file's spacing."""
    import SimpleITK as sitk

    from conftest import PAT1_CT, PAT1_GTV

    ct = sitk.GetArrayFromImage(sitk.ReadImage(str(PAT1_CT))).astype(np.float64)
    gtv_image = sitk.ReadImage(str(PAT1_GTV))
    gtv = sitk.GetArrayFromImage(gtv_image) > 0
    box = tuple(slice(i.min(), i.max() + 1) for i in np.nonzero(gtv))
    return ct[box], gtv[box], gtv_image.GetSpacing()[::-1]


def _ranked(levels_box, mask, dtype=np.int32):
    """(gray levels (L,), padded rank box) as the engine builds them."""
    gray_levels = np.unique(levels_box[mask])
    rank = np.zeros(gray_levels.max() + 1, dtype=np.int64)
    rank[gray_levels] = np.arange(1, len(gray_levels) + 1)
    return gray_levels, np.pad(np.where(mask, rank[np.where(mask, levels_box, 0)], 0), 1).astype(dtype)


def _compare(padded, gray_levels, mask, plane_axis):
    from RadSurvLib.radiomics.roi_engine import neighbours as M

    roi = M.RoiNeighbours(padded, mask.shape, plane_axis)
    args = (roi, len(gray_levels), gray_levels, FAMILIES, int(mask.sum()), max(mask.shape))
    fast, slow = M.compute(*args, compiled=True), M.compute(*args, compiled=False)
    for family in FAMILIES:
        a, b = fast[family], slow[family]
        if family == "glszm":  # the loops end at the largest zone, NumPy at the voxel count
            assert b[:, :, a.shape[2]:].sum() == 0
            b = b[:, :, :a.shape[2]]
        if family == "ngtdm":  # s_i: float sums in another order
            np.testing.assert_allclose(a, b, rtol=1e-13, atol=0, err_msg=family)
        else:
            assert a.shape == b.shape and np.array_equal(a, b), (family, plane_axis)
    return fast


@pytest.mark.parametrize("plane_axis", [None, 0, 1, 2])
def test_compiled_matrices_equal_numpy_on_pat1_gtv(pat1_gtv, plane_axis):
    """PAT1's GTV binned at 25 HU (PyRadiomics' default; about 20 levels): every matrix equal; the
    zones really merge (the union-find's skipped neighbours matter)."""
    from RadSurvLib.radiomics.roi_engine import bin_levels

    ct, gtv, _ = pat1_gtv
    levels_box = np.zeros(gtv.shape, dtype=np.int64)
    levels_box[gtv] = bin_levels(ct[gtv], 25)
    gray_levels, padded = _ranked(levels_box, gtv, np.uint8)
    fast = _compare(padded, gray_levels, gtv, plane_axis)
    sizes = np.arange(1, fast["glszm"].shape[2] + 1)
    assert (fast["glszm"][0] * sizes).sum() == gtv.sum()  # every voxel in exactly one zone
    assert fast["glszm"].shape[2] > 100  # zones of many voxels: joins through every kind of neighbour


def test_compiled_matrices_equal_numpy_with_uint16_ranks():
    """More than 255 gray levels: the loops run on uint16 ranks (``kernels.narrow``), same counts."""
    rng = np.random.default_rng(3)
    shape = (6, 30, 31)
    levels_box = rng.integers(1, 400, shape)
    levels_box[:, :10, :10] = 7  # one big zone and long runs
    mask = rng.random(shape) < 0.9
    gray_levels, padded = _ranked(levels_box, mask)
    assert len(gray_levels) > 255 and kernels.narrow(padded.reshape(-1), len(gray_levels)).dtype == np.uint16
    for plane_axis in (None, 0):
        _compare(padded, gray_levels, mask, plane_axis)


def test_zones_joined_only_through_a_skipped_neighbour():
    """a at (1, 1, 1), c at (2, 2, 1), v at (2, 2, 2): v joins its x-predecessor c, and a (at
    (-1, -1, -1) from v) is not checked for v but was joined with c: one zone of three voxels."""
    from RadSurvLib.radiomics.roi_engine import neighbours as M

    levels = np.zeros((4, 4, 5), dtype=np.uint8)
    levels[1, 1, 1] = 1  # a
    levels[2, 2, 1] = 1  # c: joined with a through (-1, -1, 0)
    levels[2, 2, 2] = 1  # v: x-successor of c; a is at (-1, -1, -1) from v, skipped for v
    roi = M.RoiNeighbours(levels, (2, 2, 3))
    zones = M.compute(roi, 1, np.array([1]), ("glszm",), 3, 3)["glszm"]
    assert zones[0, 0].tolist() == [0.0, 0.0, 1.0]  # one zone of three voxels
    anchors, plans, sizes = roi.zone_plan()
    assert anchors.tolist() == [1] and sizes.tolist() == [4, 12]


def test_narrow_refuses_too_many_gray_levels():
    with pytest.raises(ValueError, match="65535"):
        kernels.narrow(np.zeros(3, np.int32), 70000)


def _awkward_shapes():
    one = np.ones((1, 1, 1), bool)
    slab = np.ones((1, 7, 9), bool)
    line = np.ones((1, 1, 12), bool)
    ell = np.zeros((5, 6, 7), bool)
    ell[:, 0, :] = True
    ell[0, :, 0] = True
    shell = np.ones((9, 9, 9), bool)
    shell[2:-2, 2:-2, 2:-2] = False
    return {"one voxel": one, "flat slab": slab, "line": line, "L": ell, "hollow shell": shell}


def test_compiled_diameters_equal_numpy_on_real_and_awkward_shapes(pat1_gtv):
    import SimpleITK as sitk

    from RadSurvLib.radiomics.families import shape as S

    _, gtv, pat1_spacing = pat1_gtv
    label = sitk.ReadImage(str(DATA / "lung1_label.nrrd"))
    lung1 = sitk.GetArrayFromImage(label) == 1
    lung1 = lung1[tuple(slice(i.min(), i.max() + 1) for i in np.nonzero(lung1))]
    cases = {"PAT1 GTV": (gtv, pat1_spacing), "lung1 GTV": (lung1, label.GetSpacing()[::-1])}
    cases.update({name: (m, (2.5, 0.7, 0.9)) for name, m in _awkward_shapes().items()})
    for name, (mask, spacing) in cases.items():
        padded = np.pad(mask, 1)
        fast = S._compiled_diameters(padded, spacing)
        slow = S._diameters_numpy(padded, spacing)
        assert [float(x) for x in fast] == [float(x) for x in slow], name
        assert S.diameters(padded, spacing) == fast
    # the definition (``_cshape``: every pair of mesh vertices) by brute force on the small shapes
    for name, mask in _awkward_shapes().items():
        padded = np.pad(mask, 1)
        vertices = S.mesh_vertices(padded, (2.5, 0.7, 0.9))
        expected = []
        for axis in range(3):
            best = 0.0
            for plane in np.unique(vertices[:, axis]):
                points = vertices[vertices[:, axis] == plane]
                best = max(best, float(((points[:, None] - points[None]) ** 2).sum(-1).max()))
            expected.append(np.sqrt(best))
        expected.append(np.sqrt(((vertices[:, None] - vertices[None]) ** 2).sum(-1).max()))
        np.testing.assert_allclose(S._compiled_diameters(padded, (2.5, 0.7, 0.9)), expected, rtol=1e-12,
                                   err_msg=name)
    # a known answer: the 1 x 1 x 12 line's longest vertex pair is its two x-end faces' centres,
    # 12 voxels of 0.9 mm apart, in 3D and within its slice
    line = S._compiled_diameters(np.pad(_awkward_shapes()["line"], 1), (2.5, 0.7, 0.9))
    assert line[0] == pytest.approx(10.8, rel=1e-12) and line[3] == pytest.approx(10.8, rel=1e-12)


def test_roi_gather_equals_boolean_indexing():
    """``_Roi.values_in`` (flat indices computed once per ROI and array) = box[mask]; ``padded_idx``
    = the non-zero voxels of the padded box."""
    from RadSurvLib.radiomics.roi_engine import _Roi

    rng = np.random.default_rng(8)
    mask = np.zeros((20, 22, 24), bool)
    mask[5:12, 6:15, 4:20] = rng.random((7, 9, 16)) < 0.6
    roi = _Roi("GTV", mask, {})
    image = rng.normal(0, 100, (30, 31, 32))
    origin = np.array([-3, -2, -1])  # the array's first voxel in the mask's grid
    array = image[:mask.shape[0] - origin[0] + 5, :, :]
    expected = roi.box_of(array, origin)[roi.box_mask]
    assert np.array_equal(roi.values_in(array, origin), expected)
    assert np.array_equal(roi.values_in(array, origin), expected)  # cached index
    assert np.array_equal(roi.padded_idx, np.flatnonzero(np.pad(roi.box_mask, 1)))
    assert roi.n_voxels == int(mask.sum())
