"""Voxel maps: the compiled (Numba) GLCM and NGTDM paths (``radiomics.voxelmaps.compiled``) give
the torch path's values (``radiomics.families.<family>.compute``, itself checked against live
PyRadiomics in test_voxelmaps.py) on the same kernel cubes.

Cubes: kernels of PAT1's GTV + 3 mm ring (a sample of ROI voxels of 4 central slices), kernel
radius 1 and 2, masked and unmasked kernel, gathered with the engine's own crop, discretisation
(25 HU) and direction rule; plus hand-made kernels with a known answer (a single gray level, a
one-voxel kernel, a kernel with pairs along one direction only).

Tolerance: equal NaN places, and |compiled - torch| <= 1e-12 * max(|torch|, scale), scale = the
largest |torch| value of that feature over the sample: the two paths sum the same terms in another
order, so a value that is a cancellation of larger terms (ClusterShade near 0, Correlation near
0) carries rounding noise of the terms' size, not of its own.
"""

from __future__ import annotations

import numpy as np
import pytest

sitk = pytest.importorskip("SimpleITK")
torch = pytest.importorskip("torch")
pytest.importorskip("numba")

from RadSurvLib.radiomics.families import glcm as torch_glcm  # noqa: E402
from RadSurvLib.radiomics.families import ngtdm as torch_ngtdm  # noqa: E402
from RadSurvLib.radiomics.voxelmaps import compiled, engine  # noqa: E402
from RadSurvLib.radiomics.voxelmaps.compiled import glcm as compiled_glcm  # noqa: E402
from RadSurvLib.radiomics.voxelmaps.compiled import ngtdm as compiled_ngtdm  # noqa: E402


#: ROI voxels sampled per (radius, masked) case: enough for every kind of kernel of the ring and
#: GTV edge, small enough for the torch reference to take about a second.
SAMPLE = 1500


def kernel_cubes(image, roi, r: int, masked: bool, sample: int = SAMPLE):
    """Kernel cubes (n, D, D, D) int64 of ``sample`` ROI voxels (seed 0), N_g and the present
    directions (13,), as the engine builds them (``voxelmaps.engine``)."""
    box = engine.grown_bbox(roi, r)
    img, roi_box = image[box], roi[box]
    support = roi_box if masked else np.ones_like(roi_box)
    levels = engine.discretise(img, support, 25.0)
    D = 2 * r + 1
    padded = np.pad(levels, r)
    centres = np.argwhere(roi_box)
    pick = np.random.default_rng(0).choice(len(centres), min(sample, len(centres)), replace=False)
    cubes = np.stack([padded[z:z + D, y:y + D, x:x + D] for z, y, x in centres[pick]])
    return cubes, int(levels[support].max()), engine.directions_present(roi_box, support, r)


def assert_same(fast: dict, reference: dict, names):
    """Compiled == torch per feature: NaN at the same kernels, values within the module's rule."""
    for name in names:
        got, want = fast[name], reference[name].numpy()
        assert got.dtype == np.float64 and got.shape == want.shape, name
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=name)
        ok = ~np.isnan(want)
        if not ok.any():
            continue
        scale = np.abs(want[ok]).max()
        diff = np.abs(got[ok] - want[ok])
        assert (diff <= 1e-12 * np.maximum(np.abs(want[ok]), scale)).all(), (name, float(diff.max()), scale)


def test_glcm_is_registered_with_every_feature_but_mcc():
    names, compute = compiled.compiled_family("glcm")
    assert compute is compiled_glcm.compute
    assert set(names) == set(torch_glcm.FEATURES) - {"MCC"}


@pytest.mark.parametrize("r", [1, 2])
@pytest.mark.parametrize("masked", [True, False], ids=["masked", "unmasked"])
def test_glcm_equals_torch_on_pat1_kernels(pat1_roi_slab, r, masked):
    cubes, n_levels, present = kernel_cubes(*pat1_roi_slab, r, masked)
    names = list(compiled_glcm.NAMES)
    fast = compiled_glcm.compute(cubes, n_levels, names, directions_present=present)
    reference = torch_glcm.compute(torch.from_numpy(cubes), n_levels, names,
                                   directions_present=torch.from_numpy(present))
    assert_same(fast, reference, names)
    # the sample holds varied kernels: many gray levels
    assert np.nanmax(fast["Contrast"]) > 1.0 and np.nanmax(fast["JointEntropy"]) > 2.0


def test_glcm_asked_subset_in_any_order_equals_the_full_run(pat1_roi_slab):
    cubes, n_levels, present = kernel_cubes(*pat1_roi_slab, 1, True, sample=300)
    full = compiled_glcm.compute(cubes, n_levels, list(compiled_glcm.NAMES), directions_present=present)
    subset = ["SumEntropy", "Contrast", "Imc2", "JointAverage"]
    part = compiled_glcm.compute(cubes, n_levels, subset, directions_present=present)
    assert list(part) == subset
    for name in subset:
        np.testing.assert_array_equal(part[name], full[name])


def _cube(r: int, fill: dict):
    """One kernel cube (1, D, D, D) with gray levels at the given (dz, dy, dx) offsets."""
    D = 2 * r + 1
    cube = np.zeros((1, D, D, D), np.int64)
    for (dz, dy, dx), level in fill.items():
        cube[0, r + dz, r + dy, r + dx] = level
    return cube


def test_glcm_awkward_kernels_equal_torch_and_known_values():
    names = list(compiled_glcm.NAMES)
    D = 3
    single = np.full((1, D, D, D), 4, np.int64)  # one gray level everywhere
    lone = _cube(1, {(0, 0, 0): 2})  # the centre alone: no pair in any direction
    line = _cube(1, {(0, 0, -1): 1, (0, 0, 0): 2, (0, 0, 1): 3})  # pairs along x only
    cubes = np.concatenate([single, lone, line])
    x_only = np.zeros(13, bool)
    x_only[[k for k, d in enumerate(engine.directions_13()) if d == (0, 0, 1)]] = True
    for present in (np.ones(13, bool), x_only):
        fast = compiled_glcm.compute(cubes, 5, names, directions_present=present)
        reference = torch_glcm.compute(torch.from_numpy(cubes), 5, names,
                                       directions_present=torch.from_numpy(present))
        assert_same(fast, reference, names)
        # one level: no contrast, all mass in one cell, sigma = 0 -> Correlation 1 (PyRadiomics)
        assert fast["Contrast"][0] == 0 and fast["JointEnergy"][0] == pytest.approx(1, abs=1e-15) and fast["Correlation"][0] == 1
        assert fast["SumAverage"][0] == 8 and fast["JointAverage"][0] == 4 and fast["Imc2"][0] == 0
        assert all(np.isnan(fast[name][1]) for name in names)  # no pair anywhere: NaN
        # the line: pairs (1, 2) and (2, 3) -> |i - j| = 1, i + j in {3, 5}
        assert fast["Contrast"][2] == 1 and fast["SumAverage"][2] == 4
        assert fast["JointEnergy"][2] == pytest.approx(4 * 0.25 ** 2)
    # JointAverage: a plain mean over the present directions, NaN while the empty ones count
    assert np.isnan(compiled_glcm.compute(line, 3, ["JointAverage"])["JointAverage"][0])
    assert compiled_glcm.compute(line, 3, ["JointAverage"], directions_present=x_only)["JointAverage"][0] == 2


def test_glcm_through_the_engine_uses_the_compiled_path(pat1_roi_slab, monkeypatch):
    """The engine runs the compiled path on CPU for GLCM (MCC, not compiled, with torch) and gives
    the torch path's maps."""
    image, roi = pat1_roi_slab
    zs = np.nonzero(roi.any((1, 2)))[0]
    small = roi.copy()
    small[zs[1]:] = False  # one slice: a quick engine run
    names = ["glcm_Contrast", "glcm_Imc1", "glcm_MCC", "glcm_JointAverage"]
    calls = []
    original = compiled_glcm.compute
    monkeypatch.setattr(compiled_glcm, "compute",
                        lambda *a, **k: calls.append(a[2]) or original(*a, **k))
    fast = engine.voxel_feature_values(image, small, names, kernel_radius=1, workers=1)
    assert calls and all(c == ["Contrast", "Imc1", "JointAverage"] for c in calls)
    monkeypatch.setattr(compiled, "_COMPILED", {})
    slow = engine.voxel_feature_values(image, small, names, kernel_radius=1, workers=1)
    assert_same(fast, {n: torch.from_numpy(v) for n, v in slow.items()}, names)


def test_ngtdm_is_registered_with_every_feature():
    names, compute = compiled.compiled_family("ngtdm")
    assert compute is compiled_ngtdm.compute and set(names) == set(torch_ngtdm.FEATURES)


@pytest.mark.parametrize("r", [1, 2])
@pytest.mark.parametrize("masked", [True, False], ids=["masked", "unmasked"])
def test_ngtdm_equals_torch_on_pat1_kernels(pat1_roi_slab, r, masked):
    cubes, n_levels, _ = kernel_cubes(*pat1_roi_slab, r, masked)
    names = list(compiled_ngtdm.NAMES)
    fast = compiled_ngtdm.compute(cubes, n_levels, names)
    assert_same(fast, torch_ngtdm.compute(torch.from_numpy(cubes), n_levels, names), names)
    assert np.ptp(fast["Contrast"]) > 0 and np.ptp(fast["Busyness"]) > 0  # varied kernels


def test_ngtdm_awkward_kernels_equal_torch_and_known_values():
    """A lone centre, one level everywhere, and voxels without a neighbour in the kernel (they add
    1 to n_i and nothing to s_i, as PyRadiomics' C extension)."""
    names = list(compiled_ngtdm.NAMES)
    lone = _cube(1, {(0, 0, 0): 2})
    single = np.full((1, 3, 3, 3), 4, np.int64)
    # centre (level 1) with one neighbour (level 3); a level-5 voxel at distance 2: no neighbour
    apart = _cube(2, {(0, 0, 0): 1, (0, 0, 1): 3, (0, 0, -2): 5})
    cubes = [lone, single, apart]
    fast = [compiled_ngtdm.compute(c, 5, names) for c in cubes]
    for c, f in zip(cubes, fast):
        assert_same(f, torch_ngtdm.compute(torch.from_numpy(c), 5, names), names)
    for f in fast[:2]:  # no difference anywhere: PyRadiomics' special values
        assert [f[n][0] for n in names] == [1e6, 0, 0, 0, 0]
    # apart: n = (1, 1, 1), s = (|1 - 3|, |3 - 1|, 0) = (2, 2, 0), p_i = 1/3
    f = fast[2]
    assert f["Coarseness"][0] == pytest.approx(1 / (4 / 3))
    assert f["Strength"][0] == pytest.approx((2 / 3) * (4 + 16 + 4) * 2 / 4)
    assert f["Contrast"][0] == pytest.approx((1 / 9) * (4 + 16 + 4) * 2 / 6 * 4 / 3)


def test_ngtdm_through_the_engine_uses_the_compiled_path(pat1_roi_slab, monkeypatch):
    image, roi = pat1_roi_slab
    zs = np.nonzero(roi.any((1, 2)))[0]
    small = roi.copy()
    small[zs[1]:] = False
    names = [f"ngtdm_{n}" for n in compiled_ngtdm.NAMES]
    calls = []
    original = compiled_ngtdm.compute
    monkeypatch.setattr(compiled_ngtdm, "compute",
                        lambda *a, **k: calls.append(a[2]) or original(*a, **k))
    fast = engine.voxel_feature_values(image, small, names, kernel_radius=2, workers=2)
    assert calls
    monkeypatch.setattr(compiled, "_COMPILED", {})
    slow = engine.voxel_feature_values(image, small, names, kernel_radius=2, workers=2)
    assert_same(fast, {n: torch.from_numpy(v) for n, v in slow.items()}, names)


def test_compiled_modules_work_without_a_writable_numba_cache():
    """Where Numba finds no cache directory it can write, ``cache=True`` raises at import; the
    compiled modules (these and the ROI engine's, ``radiomics.numba_jit``) then compile without the
    on-disk cache instead (here: the only locator allowed points
    below /dev/null)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    code = ("import numpy as np\n"
            "from RadSurvLib.radiomics.voxelmaps.compiled import glcm, ngtdm\n"
            "from RadSurvLib.radiomics.roi_engine import neighbours\n"
            "neighbours.warm_up()\n"  # the ROI engine's loops (numba_jit.jit, as these)
            "print(ngtdm.compute(np.full((1, 3, 3, 3), 2), 2, ['Coarseness'])['Coarseness'][0])\n")
    env = dict(os.environ, NUMBA_CACHE_LOCATOR_CLASSES="UserProvidedCacheLocator",
               NUMBA_CACHE_DIR="/dev/null/no-cache",
               PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "1000000.0"
