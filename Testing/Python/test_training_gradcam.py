"""Grad-CAM of a trained model peaks inside the region that drives the synthetic hazard more often than chance.

Toy cohort on a real CT background (PAT1, Testing/Data): 24^3 voxel blocks of the CT's lung (block mean
< -600 HU), each with a bright 6^3 "lesion" cube at a random position; the cube's mean intensity alone
sets the true log hazard (survival time = exp(-log hazard), all events). A tiny SEResNet3D is trained with
the RadSurv loop (``RadSurvLib.training.loop.fit``); on fresh cases the heatmap peak
(``RadSurvLib.explain.gradcam`` with its default method, HiResCAM, at layer1 = 6^3 cells of 4 voxels) falls
inside the driving region (the cube grown by one CAM cell's half-width, 2 voxels) far more often than
chance = that region's share of the block. (MONAI's mean-gradient Grad-CAM, ``method="gradcam"``, peaked
there in 0/32 cases on this cohort; that is why HiResCAM is the default.)
"""

import numpy as np
import pytest

from conftest import PAT1_CT

SIZE, CUBE, GROW = 24, 6, 2


def make_arrays(n, seed, background):
    import torch

    rng = np.random.default_rng(seed)
    xs, regions, log_hazard = [], [], []
    while len(xs) < n:
        z, y, x = (int(rng.integers(0, s - SIZE)) for s in background.shape)
        block = background[z:z + SIZE, y:y + SIZE, x:x + SIZE].copy()
        if block.mean() > -600:
            continue
        c = rng.integers(GROW, SIZE - CUBE - GROW, size=3)
        u = rng.uniform(0.0, 1.0)
        block[tuple(slice(v, v + CUBE) for v in c)] = 100.0 + 500.0 * u + 20.0 * rng.standard_normal((CUBE,) * 3)
        region = np.zeros((SIZE,) * 3, bool)
        region[tuple(slice(v - GROW, v + CUBE + GROW) for v in c)] = True
        xs.append(np.clip(block, -1000, 700) / 500.0)
        regions.append(region)
        log_hazard.append(3.0 * u)
    return torch.tensor(np.stack(xs)[:, None], dtype=torch.float32), np.stack(regions), np.array(log_hazard)


def test_gradcam_peaks_in_the_hazard_region_more_often_than_chance(tmp_path):
    import SimpleITK as sitk
    import torch
    from scipy.stats import binomtest

    from RadSurvLib.explain import gradcam
    from RadSurvLib.models.seresnet import SEResNet3D
    from RadSurvLib.survival.metrics import pairwise_concordance
    from RadSurvLib.training.cache import TrainingSet
    from RadSurvLib.training.loop import TrainSettings, fit, predict

    background = sitk.GetArrayFromImage(sitk.ReadImage(str(PAT1_CT))).astype(np.float32)  # (z, y, x) HU
    torch.manual_seed(0)
    x, _, log_hazard = make_arrays(96, 1, background)
    train = TrainingSet([str(i) for i in range(len(x))], x, None, torch.tensor(np.exp(-log_hazard), dtype=torch.float32),
                         torch.ones(len(x)), None)
    model = SEResNet3D(base_width=4, blocks_per_stage=(1, 1, 1, 1), head_units=(16,), dropout=0.0)
    settings = TrainSettings(epochs=12, batch_size=16, lr=1e-2, decay_steps=6, patience=0, augment="spatial", seed=0)
    fit(model, train, None, settings, tmp_path, log=lambda m: None, progress=False)

    x_test, regions, log_hazard_test = make_arrays(32, 2, background)
    test = TrainingSet([str(i) for i in range(32)], x_test, None, torch.tensor(np.exp(-log_hazard_test)),
                        torch.ones(32), None)
    assert pairwise_concordance(predict(model, test), log_hazard_test) > 0.65  # the model learned the hazard
    cam, _ = gradcam(model, x_test, layer="layer1")
    peaks = [np.unravel_index(np.argmax(c), c.shape) for c in cam]
    hits = sum(bool(region[p]) for region, p in zip(regions, peaks))
    chance = float(regions.mean())  # (6 + 4)^3 / 24^3 = 7 %
    assert hits / len(regions) > 3 * chance, (hits, len(regions), chance)
    assert binomtest(hits, len(regions), chance, alternative="greater").pvalue < 1e-3


def test_demo_bundle_heatmap_peaks_inside_the_synthetic_gtv():
    """The shipped demo bundle (trained on synthetic tumours whose texture drives the hazard) puts its heatmap
    peak inside the tumour of fresh synthetic cases far more often than the tumour's share of the crop."""
    import SimpleITK as sitk
    from scipy.stats import binomtest

    from RadSurvLib.models.bundle import load_bundle
    from RadSurvLib.explain import gradcam
    from RadSurvLib.models.crop import make_model_input
    from RadSurvLib.training.synthetic import generate_cases, load_background

    bundle, background = load_bundle(), load_background()
    hits, shares = 0, []
    cases = list(generate_cases(8, seed=77, background=background, start=5000))
    for case in cases:
        x, _ = make_model_input(case.ct, case.gtv, **bundle.preprocessing)
        # The GTV on the same crop grid: crop a scaled copy of the mask with the same geometry rules.
        mask_as_image = sitk.Cast(case.gtv, sitk.sitkFloat32) * 1000.0
        m, _ = make_model_input(mask_as_image, case.gtv, crop_size=64, margin_mm=5.0, hu_clip=(-1e9, 1e9),
                                norm_mean=0.0, norm_std=1000.0)
        inside = m[0, 0].numpy() > 0.5
        cam, _ = gradcam(bundle.model, x, layer=bundle.gradcam_layer)
        hits += bool(inside[np.unravel_index(np.argmax(cam[0]), cam[0].shape)])
        shares.append(inside.mean())
    chance = float(np.mean(shares))  # ~22 % of the crop
    assert binomtest(hits, len(cases), chance, alternative="greater").pvalue < 1e-2, (hits, chance)
