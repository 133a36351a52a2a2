"""Grad-CAM of a trained model peaks inside the region that drives the synthetic hazard more often than chance.

Toy cohort on a real CT background (PAT1, Testing/Data): 24^3 voxel blocks of the CT's lung (block mean
< -600 HU), each with a bright 6^3 "lesion" cube at a random position; the cube's mean intensity alone
sets the true log hazard (survival time = exp(-log hazard), all events). A tiny SEResNet3D is trained with
the RadSurv loop (``RadSurvLib.training.loop.fit``); on fresh cases the Grad-CAM peak
(``RadSurvLib.explain.gradcam``, layer1 = 6^3 cells of 4 voxels) falls inside the driving region (the cube
grown by one CAM cell's half-width, 2 voxels) far more often than chance = that region's share of the block.
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


@pytest.mark.xfail(strict=False, reason=(
    "Known gap (helper T, 2026-11-22): the Grad-CAM peak (RadSurvLib.explain.gradcam) of this trained toy model "
    "fell inside the driving region in 0/32 cases (chance 7 %), and for the shipped demo bundle the peak lay on "
    "the crop border (z = 0) in 8/8 synthetic cases with nearly flat maps (0.7-0.9 everywhere): zero-padding "
    "edge activations dominate the min-max-scaled map. Kept running so that a fix shows up as XPASS."))
def test_gradcam_peaks_in_the_hazard_region_more_often_than_chance(tmp_path):
    import SimpleITK as sitk
    import torch
    from scipy.stats import binomtest

    from RadSurvLib.explain import gradcam
    from RadSurvLib.models.seresnet import SEResNet3D
    from RadSurvLib.training import pairwise_concordance
    from RadSurvLib.training.cache import CohortArrays
    from RadSurvLib.training.loop import TrainSettings, fit, predict

    background = sitk.GetArrayFromImage(sitk.ReadImage(str(PAT1_CT))).astype(np.float32)  # (z, y, x) HU
    torch.manual_seed(0)
    x, _, log_hazard = make_arrays(96, 1, background)
    train = CohortArrays([str(i) for i in range(len(x))], x, None, torch.tensor(np.exp(-log_hazard), dtype=torch.float32),
                         torch.ones(len(x)), None)
    model = SEResNet3D(base_width=4, blocks_per_stage=(1, 1, 1, 1), head_units=(16,), dropout=0.0)
    settings = TrainSettings(epochs=12, batch_size=16, lr=1e-2, decay_steps=6, patience=0, augment="spatial", seed=0)
    fit(model, train, None, settings, tmp_path, log=lambda m: None, progress=False)

    x_test, regions, log_hazard_test = make_arrays(32, 2, background)
    test = CohortArrays([str(i) for i in range(32)], x_test, None, torch.tensor(np.exp(-log_hazard_test)),
                        torch.ones(32), None)
    assert pairwise_concordance(predict(model, test), log_hazard_test) > 0.65  # the model learned the hazard
    cam, _ = gradcam(model, x_test, layer="layer1")
    peaks = [np.unravel_index(np.argmax(c), c.shape) for c in cam]
    hits = sum(bool(region[p]) for region, p in zip(regions, peaks))
    chance = float(regions.mean())  # (6 + 4)^3 / 24^3 = 7 %
    assert hits / len(regions) > 3 * chance, (hits, len(regions), chance)
    assert binomtest(hits, len(regions), chance, alternative="greater").pvalue < 1e-3
