"""Liu et al. 2025 Table 1 augmentations (RadSurvLib.training.augment): each transform has its documented
property, and the Augmenter applies each with its table probability."""

import math

import numpy as np
import pytest


@pytest.fixture(scope="module")
def ct_crop():
    """A real CT crop: 24^3 voxels around PAT1's GTV, HU z-scored, as ``[1, z, y, x]``."""
    import SimpleITK as sitk
    import torch

    from conftest import PAT1_CT, PAT1_GTV

    ct = sitk.GetArrayFromImage(sitk.ReadImage(str(PAT1_CT))).astype(np.float32)
    gtv = sitk.GetArrayFromImage(sitk.ReadImage(str(PAT1_GTV))) > 0
    z, y, x = (int(v.mean()) for v in np.nonzero(gtv))
    block = np.clip(ct[z - 12:z + 12, y - 12:y + 12, x - 12:x + 12], -1000, 400)
    return torch.from_numpy((block - block.mean()) / block.std())[None]


def test_liu_table1_parameters():
    from RadSurvLib.training.augment import LIU_TABLE1

    assert LIU_TABLE1["contrast"] == ((1.0, 1.75), 0.15)
    assert LIU_TABLE1["brightness"] == ((0.7, 1.5), 0.15)
    assert LIU_TABLE1["gamma"] == ((0.5, 2.0), 0.15)
    assert LIU_TABLE1["noise"] == ((0.0, 0.05), 0.15)
    assert LIU_TABLE1["blur"] == ((0.5, 1.5), 0.15)
    assert LIU_TABLE1["mirror"][1] == 0.30 and LIU_TABLE1["rotate_z"] == ((0.0, 360.0), 0.30)


def test_mirroring_is_exact(ct_crop):
    import torch

    from RadSurvLib.training.augment import mirror

    out = mirror(ct_crop, (0, 2))
    assert torch.equal(out, torch.flip(ct_crop, [1, 3]))
    assert torch.equal(mirror(out, (0, 2)), ct_crop)  # an involution: no interpolation
    assert torch.equal(out[0, 3, 5, 7], ct_crop[0, 20, 5, 16])


def test_gamma_keeps_range_and_order(ct_crop):
    import torch

    from RadSurvLib.training.augment import gamma

    for g in (0.5, 1.3, 2.0):
        out = gamma(ct_crop, g)
        assert torch.isclose(out.min(), ct_crop.min()) and torch.isclose(out.max(), ct_crop.max())
        flat_in, flat_out = ct_crop.flatten(), out.flatten()
        order = torch.argsort(flat_in)
        assert bool((flat_out[order][1:] >= flat_out[order][:-1] - 1e-6).all())  # monotone
    assert float((gamma(ct_crop, 2.0) - ct_crop).mean()) < 0 < float((gamma(ct_crop, 0.5) - ct_crop).mean())


def test_contrast_keeps_mean_and_scales_spread(ct_crop):
    from RadSurvLib.training.augment import contrast

    out = contrast(ct_crop, 1.5)
    assert float(out.mean()) == pytest.approx(float(ct_crop.mean()), abs=1e-5)
    assert float(out.std()) == pytest.approx(1.5 * float(ct_crop.std()), rel=1e-5)


def test_brightness_is_multiplicative(ct_crop):
    import torch

    from RadSurvLib.training.augment import brightness

    assert torch.allclose(brightness(ct_crop, 0.7), 0.7 * ct_crop)


def test_noise_has_the_requested_variance(ct_crop):
    import torch

    from RadSurvLib.training.augment import noise

    big = torch.zeros(1, 64, 64, 64)
    diff = noise(big, 0.04, torch.Generator().manual_seed(0))
    assert float(diff.mean()) == pytest.approx(0.0, abs=3e-3)
    assert float(diff.var()) == pytest.approx(0.04, rel=0.02)
    assert torch.equal(noise(ct_crop, 0.0), ct_crop)


def test_blur_smooths_and_keeps_constants(ct_crop):
    import torch

    from RadSurvLib.training.augment import blur

    out = blur(ct_crop[0], 1.0)
    assert out.shape == ct_crop[0].shape
    assert float(out.var()) < 0.8 * float(ct_crop[0].var())  # high frequencies removed
    assert float(out.mean()) == pytest.approx(float(ct_crop.mean()), abs=0.05)
    const = torch.full((10, 10, 10), 3.0)
    assert torch.allclose(blur(const, 1.5), const)
    impulse = torch.zeros(21, 21, 21)
    impulse[10, 10, 10] = 1.0
    spread = blur(impulse, 1.0)
    assert float(spread.sum()) == pytest.approx(1.0, abs=1e-5)
    offsets = torch.arange(-10, 11, dtype=torch.float32)
    var_z = float((spread.sum((1, 2)) * offsets ** 2).sum())
    assert var_z == pytest.approx(1.0, rel=0.02)  # sigma = 1 voxel along each axis


def test_rotation_about_z(ct_crop):
    import torch

    from RadSurvLib.training.augment import rotate_z

    assert torch.allclose(rotate_z(ct_crop, 0.0), ct_crop, atol=1e-5)
    assert torch.allclose(rotate_z(ct_crop, 360.0), ct_crop, atol=1e-4)
    quarter = rotate_z(ct_crop, 90.0)
    rot90 = torch.rot90(ct_crop, 1, dims=(2, 3))
    rot270 = torch.rot90(ct_crop, -1, dims=(2, 3))
    assert min(float((quarter - rot90).abs().max()), float((quarter - rot270).abs().max())) < 1e-4
    # z is the axis: a volume constant in-plane (a function of z only) is unchanged by any angle
    layered = torch.arange(24, dtype=torch.float32)[None, :, None, None].expand(1, 24, 24, 24).contiguous()
    assert torch.allclose(rotate_z(layered, 37.0), layered, atol=1e-5)
    # 2D inputs [C, y, x] rotate in their plane
    assert torch.allclose(rotate_z(ct_crop[:, 0], 180.0), torch.rot90(ct_crop[:, 0], 2, dims=(1, 2)), atol=1e-4)


def test_probabilities_are_respected_over_many_draws():
    import torch

    from RadSurvLib.training.augment import LIU_TABLE1, Augmenter

    augmenter = Augmenter()
    generator = torch.Generator().manual_seed(0)
    n = 1500
    counts = {name: 0 for name in LIU_TABLE1}
    params = {name: [] for name in LIU_TABLE1}
    for _ in range(5):
        augmenter(torch.randn(n // 5, 1, 4, 4, 4), generator)
        for applied in augmenter.last_applied:
            for name, value in applied:
                counts[name] += 1
                params[name].append(value)
    for name, (bounds, p) in LIU_TABLE1.items():
        sd = math.sqrt(n * p * (1 - p))
        assert abs(counts[name] - n * p) < 4 * sd, (name, counts[name], n * p)
        if bounds is not None:
            assert all(bounds[0] <= v <= bounds[1] for v in params[name]), name
    assert all(len(axes) >= 1 for axes in params["mirror"])


def test_augmenter_is_reproducible_and_channel_aware():
    import torch

    from RadSurvLib.training.augment import Augmenter

    batch = torch.randn(6, 3, 8, 8, 8)
    a = Augmenter()(batch, torch.Generator().manual_seed(3))
    b = Augmenter()(batch, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    only_intensity = Augmenter(["brightness"], probabilities={"brightness": 1.0})
    out = only_intensity(batch, torch.Generator().manual_seed(0))
    assert torch.equal(out[:, 1:], batch[:, 1:])  # voxel-map channels untouched by intensity transforms
    assert not torch.equal(out[:, 0], batch[:, 0])
    with pytest.raises(ValueError, match="unknown augmentation"):
        Augmenter(["sharpen"])
    assert torch.equal(Augmenter([])(batch, torch.Generator()), batch)


def test_flip_rot90_preset_is_the_demo_augmentation():
    """Each axis flipped independently with probability 1/2, then a k * 90 degree turn with k uniform in 0-3,
    exact (a permutation of the voxels)."""
    import torch

    from RadSurvLib.training.augment import augmenter_for, rotate_z90

    x = torch.arange(2 * 4 * 4 * 4, dtype=torch.float32).reshape(2, 4, 4, 4)
    assert torch.equal(rotate_z90(x, 1), torch.rot90(x, 1, dims=(2, 3)))
    assert torch.equal(rotate_z90(rotate_z90(x, 1), 3), x)
    augmenter = augmenter_for("flip-rot90")
    generator = torch.Generator().manual_seed(0)
    flips, turns = {}, {}
    for _ in range(4000):
        out, applied = augmenter.augment_case(x, generator)
        assert torch.equal(torch.sort(out.reshape(-1)).values, torch.sort(x.reshape(-1)).values)
        axes = next((a for name, a in applied if name == "mirror"), ())
        k = next(v for name, v in applied if name == "rotate_z90")
        flips[axes] = flips.get(axes, 0) + 1
        turns[k] = turns.get(k, 0) + 1
    assert len(flips) == 8 and all(abs(n / 4000 - 1 / 8) < 0.02 for n in flips.values())  # 8 subsets, 1/8 each
    assert sorted(turns) == [0, 1, 2, 3] and all(abs(n / 4000 - 1 / 4) < 0.025 for n in turns.values())
