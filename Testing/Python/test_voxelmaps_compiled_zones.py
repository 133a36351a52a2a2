"""Compiled (Numba) CPU path of the GLSZM, GLRLM and GLDM voxel maps (``voxelmaps.compiled``):
the same values as the torch path (``radiomics.families.<family>.compute``, itself checked against
PyRadiomics in test_voxelmaps_glrlm_glszm.py and test_voxelmaps.py) for every feature, to 1e-12
relative, NaN at the same kernels.

Real data: kernels of PAT1's GTV + 3 mm peritumoral ring (4 central slices, ~1500 kernels sampled
across the crop), kernel radius 1 and 2, masked and unmasked, built as the engine builds them
(``grown_bbox``, ``discretise``). Radius 3 (cubes of 343 positions) runs the compiled fallbacks
(flood fill, line walk) instead of the 128-bit sets. Synthetic kernels with values known by hand:
a one-voxel kernel, a single gray level, a kernel confined to one slice (9 GLRLM directions
dropped), two kernel voxels on one line with a gap (the direction is kept).
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

sitk = pytest.importorskip("SimpleITK")
torch = pytest.importorskip("torch")
pytest.importorskip("numba")

from conftest import REPO  # noqa: E402

from RadSurvLib.errors import InputError  # noqa: E402
from RadSurvLib.radiomics.families import gldm, glrlm, glszm  # noqa: E402
from RadSurvLib.radiomics.voxelmaps import compiled  # noqa: E402
from RadSurvLib.radiomics.voxelmaps.compiled import gldm as c_gldm  # noqa: E402
from RadSurvLib.radiomics.voxelmaps.compiled import glrlm as c_glrlm  # noqa: E402
from RadSurvLib.radiomics.voxelmaps.compiled import glszm as c_glszm  # noqa: E402
from RadSurvLib.radiomics.voxelmaps.engine import discretise, grown_bbox  # noqa: E402

#: family -> (torch module, compiled module)
FAMILIES = {"glszm": (glszm, c_glszm), "glrlm": (glrlm, c_glrlm), "gldm": (gldm, c_gldm)}
REL = 1e-12
MAX_KERNELS = 1500


def assert_same(family: str, cubes: np.ndarray, n_levels: int) -> dict:
    """The compiled values of every feature of ``family`` equal the torch path's; returns them."""
    reference, fast = FAMILIES[family]
    ours = fast.compute(cubes, n_levels, fast.NAMES)
    expected = reference.compute(torch.from_numpy(cubes), n_levels, list(fast.NAMES))
    assert list(ours) == list(fast.NAMES)
    for name in fast.NAMES:
        a, b = ours[name], expected[name].numpy()
        assert a.dtype == np.float64 and a.shape == (cubes.shape[0],), name
        assert np.array_equal(np.isnan(a), np.isnan(b)), f"{family}_{name}: NaN pattern"
        ok = ~np.isnan(b)
        err = np.abs(a[ok] - b[ok])
        bad = err > REL * np.abs(b[ok])
        assert not bad.any(), (f"{family}_{name}: {bad.sum()} of {ok.sum()} kernels differ, max "
                               f"rel err {(err / np.maximum(np.abs(b[ok]), 1e-300)).max():.3g}")
    return ours


def engine_cubes(image, roi, r: int, masked: bool):
    """Cubes of (a sample of at most MAX_KERNELS) ROI voxels as the engine builds them: the ROI box
    grown by r, gray levels (bin width 25 HU) over the support, padded by r with 0; n_levels."""
    box = grown_bbox(roi, r)
    img_box, roi_box = image[box], roi[box]
    support = roi_box if masked else np.ones_like(roi_box)
    levels = np.pad(discretise(img_box, support, 25.0), r)
    centres = np.argwhere(roi_box)
    centres = centres[:: max(1, len(centres) // MAX_KERNELS)]
    d = np.arange(2 * r + 1)
    z, y, x = (centres[:, i, None, None, None] for i in range(3))
    cubes = levels[z + d[:, None, None], y + d[None, :, None], x + d[None, None, :]]
    return np.ascontiguousarray(cubes, dtype=np.int64), int(levels.max())


@pytest.mark.parametrize("masked", [True, False], ids=["masked", "unmasked"])
@pytest.mark.parametrize("r", [1, 2])
@pytest.mark.parametrize("family", list(FAMILIES))
def test_pat1_gtv_and_ring_equal_torch(pat1_roi_slab, family, r, masked):
    cubes, n_levels = engine_cubes(*pat1_roi_slab, r, masked)
    assert len(cubes) > 1000 and (cubes[:, r, r, r] > 0).all()
    if masked:  # the sample holds kernels cut by the ROI's border (GTV + ring edge, slab faces)
        assert (cubes == 0).any((1, 2, 3)).mean() > 0.2
    assert_same(family, cubes, n_levels)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_radius_3_fallbacks_equal_torch(family):
    """Cubes of 343 positions (> 128): the flood fill (GLSZM) and the line walk (GLRLM)."""
    rng = np.random.default_rng(3)
    cubes = rng.integers(1, 4, (200, 7, 7, 7)) * (rng.random((200, 7, 7, 7)) < 0.8)
    cubes[:, 3, 3, 3] = 2
    cubes[:20, :3] = 0  # kernels at a face of the support
    assert_same(family, cubes.astype(np.int64), 3)


@pytest.mark.parametrize("family", list(FAMILIES))
@pytest.mark.parametrize("size", [3, 5])
def test_many_levels_and_holes_equal_torch(family, size):
    """Many gray levels per kernel (up to D^3 matrix rows) and holes (voxels not in the kernel)."""
    rng = np.random.default_rng(size)
    shape = (300, size, size, size)
    cubes = rng.integers(1, 40, shape) * (rng.random(shape) < 0.7)
    cubes[:100] = rng.integers(1, 3, (100, size, size, size))  # few levels: large zones, long runs
    cubes[:, size // 2, size // 2, size // 2] = 7
    assert_same(family, cubes.astype(np.int64), 39)


def kernel(size: int, voxels: dict) -> np.ndarray:
    """One cube (1, D, D, D) with the gray levels {(z, y, x): level}, 0 elsewhere."""
    cube = np.zeros((1, size, size, size), np.int64)
    for position, level in voxels.items():
        cube[(0,) + position] = level
    return cube


def test_one_voxel_kernel():
    cube = kernel(3, {(1, 1, 1): 5})
    zones_, deps = assert_same("glszm", cube, 5), assert_same("gldm", cube, 5)
    runs = assert_same("glrlm", cube, 5)
    assert zones_["ZonePercentage"][0] == 1 and zones_["SmallAreaEmphasis"][0] == 1
    assert zones_["GrayLevelVariance"][0] == 0 and zones_["HighGrayLevelZoneEmphasis"][0] == 25
    assert deps["SmallDependenceEmphasis"][0] == 1 and deps["LowGrayLevelEmphasis"][0] == 1 / 25
    assert all(np.isnan(v[0]) for v in runs.values())  # every direction dropped (PyRadiomics)


def test_single_gray_level_kernel():
    cube = np.full((1, 3, 3, 3), 2, np.int64)
    zones_ = assert_same("glszm", cube, 2)
    assert zones_["LargeAreaEmphasis"][0] == 27 ** 2 and zones_["ZonePercentage"][0] == 1 / 27
    assert zones_["ZoneVariance"][0] == 0 and zones_["GrayLevelNonUniformity"][0] == 1
    # dependence sizes 1 + same-level neighbours: 8 corners 8, 12 edges 12, 6 faces 18, centre 27
    deps = assert_same("gldm", cube, 2)
    j = np.array([8] * 8 + [12] * 12 + [18] * 6 + [27], np.float64)
    assert deps["LargeDependenceEmphasis"][0] == pytest.approx((j ** 2).mean(), rel=1e-15)
    # every direction keeps its runs; along x, 9 runs of 3 (RunPercentage 1/3 in the 3 axes)
    runs = assert_same("glrlm", cube, 2)
    assert runs["GrayLevelVariance"][0] == 0 and runs["LongRunEmphasis"][0] > 1


def test_kernel_in_one_slice_drops_nine_directions():
    """A 3 x 3 kernel of one level in the centre slice: only the 4 in-slice directions hold a
    line of two voxels; RunPercentage per direction 3/9 (x, y) and 5/9 (the two diagonals)."""
    cube = kernel(3, {(1, y, x): 4 for y in range(3) for x in range(3)})
    runs = assert_same("glrlm", cube, 4)
    assert runs["RunPercentage"][0] == pytest.approx((3 + 3 + 5 + 5) / 36, rel=1e-15)


def test_two_voxels_on_a_line_with_a_gap_keep_that_direction():
    """Centre and the voxel two steps along x (radius 2): the x direction holds a line of two
    kernel voxels (not adjacent), so it is kept: two runs of 1 in it, the 12 others dropped."""
    cube = kernel(5, {(2, 2, 2): 1, (2, 2, 4): 3})
    runs = assert_same("glrlm", cube, 3)
    assert runs["RunPercentage"][0] == 1 and runs["ShortRunEmphasis"][0] == 1
    assert runs["HighGrayLevelRunEmphasis"][0] == (1 + 9) / 2


def test_registered_for_the_engine():
    for family, (reference, fast) in FAMILIES.items():
        names, compute = compiled.compiled_family(family)
        assert names == tuple(reference.FEATURES) and compute is fast.compute


def test_bad_input_and_empty_chunk():
    cubes = np.ones((2, 3, 3, 3), np.int64)
    with pytest.raises(InputError, match="unknown feature"):
        c_glszm.compute(cubes, 1, ["Contrast"])
    with pytest.raises(InputError, match="int64 array"):
        c_glrlm.compute(cubes.astype(np.float64), 1, ["RunEntropy"])
    with pytest.raises(InputError, match="odd D"):
        c_gldm.compute(np.ones((2, 4, 4, 4), np.int64), 1, ["DependenceEntropy"])
    empty = c_glszm.compute(np.zeros((0, 3, 3, 3), np.int64), 1, ["ZoneEntropy"])
    assert empty["ZoneEntropy"].shape == (0,)


def test_works_where_numba_cannot_cache():
    """No writable cache location (a read-only install): compiled without the disk cache (the only
    locator allowed points below /dev/null, as in test_voxelmaps_compiled_glcm)."""
    import os

    code = ("import numpy as np\n"
            "from RadSurvLib.radiomics.voxelmaps.compiled import gldm, zones\n"
            "assert type(zones.cell_features._cache).__name__ == 'NullCache'\n"
            "print(gldm.compute(np.full((1, 3, 3, 3), 2), 2, ['SmallDependenceEmphasis'])"
            "['SmallDependenceEmphasis'][0])")
    env = dict(os.environ, NUMBA_CACHE_LOCATOR_CLASSES="UserProvidedCacheLocator",
               NUMBA_CACHE_DIR="/dev/null/no-cache", PYTHONPATH=str(REPO))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    j = np.array([8] * 8 + [12] * 12 + [18] * 6 + [27], np.float64)
    assert float(out.stdout.split()[-1]) == pytest.approx((1 / j ** 2).mean(), rel=1e-12)
