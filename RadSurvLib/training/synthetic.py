"""Synthetic survival cases with a known ground-truth hazard, built on one real CT.

Each case is an 80 mm cube of real 1 mm CT background (the PAT1 lung CT, resampled with a cubic
B-spline) around a random point in the lung, with an inserted ellipsoidal "tumour" (semi-axes
8-25 mm, ~1 mm soft edge) whose texture is set by two latent variables:

- heterogeneity ``h ~ U(0, 1)``: amplitude ``HET_MIN_HU + HET_RANGE_HU * h`` of Gaussian-smoothed
  noise (sigma ``NOISE_SIGMA_MM``) added to the viable tumour (base ``TUMOUR_HU``);
- necrosis ``n ~ U(0, NECROSIS_MAX)``: volume fraction of a concentric low-density core
  (``NECROSIS_HU``), an ellipsoid with the tumour's semi-axes times ``n ** (1/3)``.

Ground truth: ``log_hazard = BETA_HET * z(h) + BETA_NEC * z(n)`` with ``z`` the exact z-score of each
uniform distribution (so log_hazard has mean 0, standard deviation sqrt(BETA_HET^2 + BETA_NEC^2));
survival times are exponential with hazard ``BASELINE_HAZARD_PER_DAY * exp(log_hazard)`` (median
``MEDIAN_SURVIVAL_DAYS`` at log_hazard 0); independent exponential censoring with a constant rate chosen
so that ``CENSORED_FRACTION`` of the cases are censored in expectation. Everything is seeded: case ``i``
of seed ``s`` uses ``numpy.random.default_rng([s, i])`` and does not depend on the other cases.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

BLOCK_MM = 80
RADIUS_MM = (8.0, 25.0)
TUMOUR_HU = 40.0
NECROSIS_HU = -10.0
NECROSIS_MAX = 0.6
HET_MIN_HU = 10.0
HET_RANGE_HU = 110.0
NOISE_SIGMA_MM = 1.5
BETA_HET = 1.0
BETA_NEC = 1.0
MEDIAN_SURVIVAL_DAYS = 600.0
BASELINE_HAZARD_PER_DAY = math.log(2.0) / MEDIAN_SURVIVAL_DAYS
CENSORED_FRACTION = 0.30


@dataclass
class SyntheticCase:
    """One synthetic case.

    Attributes:
        ct: SimpleITK float32 CT block (HU) on a 1 mm grid, ``BLOCK_MM`` voxels per axis.
        gtv: SimpleITK uint8 GTV mask (0/1) on the same grid.
        time_days: observed time (event or censoring), days.
        event: True if death was observed, False if censored.
        log_hazard: ground-truth log hazard ratio.
        heterogeneity, necrosis: the latent variables ``h`` and ``n``.
    """

    ct: object
    gtv: object
    time_days: float
    event: bool
    log_hazard: float
    heterogeneity: float
    necrosis: float


def default_background_path() -> Path:
    """The real CT used as background: the PAT1 sample CT (``resources/PAT1/image.nii.gz``)."""
    from ..resources import pat1_path

    return pat1_path("image.nii.gz")


def load_background(path=None):
    """Read the background CT and resample it to 1 mm isotropic voxels (cubic B-spline, float32 HU).

    Raises:
        InputError: the file is missing or unreadable.
    """
    from ..io.images import read_image
    from ..preprocessing import resample_image

    ct = read_image(path or default_background_path(), "synthetic background CT")
    return resample_image(ct, 1.0, interpolator="bspline")


def true_log_hazard(heterogeneity: float, necrosis: float) -> float:
    """Ground-truth log hazard ratio from the latent variables (z-scored uniforms, see module docstring)."""
    z_het = (heterogeneity - 0.5) / math.sqrt(1.0 / 12.0)
    z_nec = (necrosis - NECROSIS_MAX / 2.0) / (NECROSIS_MAX / math.sqrt(12.0))
    return BETA_HET * z_het + BETA_NEC * z_nec


def censoring_rate_per_day(grid: int = 200) -> float:
    """Constant exponential censoring rate giving ``CENSORED_FRACTION`` censored cases in expectation.

    P(censored | hazard lam) = c / (c + lam); the expectation over the latent uniforms is computed on a
    midpoint grid and solved for ``c`` by bisection (deterministic).
    """
    import numpy as np

    u = (np.arange(grid) + 0.5) / grid
    h, n = np.meshgrid(u, u * NECROSIS_MAX)
    lam = BASELINE_HAZARD_PER_DAY * np.exp(np.vectorize(true_log_hazard)(h, n))
    lo, hi = 1e-9, 1.0
    for _ in range(100):
        mid = math.sqrt(lo * hi)
        lo, hi = (mid, hi) if np.mean(mid / (mid + lam)) < CENSORED_FRACTION else (lo, mid)
    return math.sqrt(lo * hi)


def lung_centres(background, block_mm: int = BLOCK_MM, step: int = 4):
    """Candidate block centres (x, y, z voxel indices): lung voxels whose whole block fits the image.

    A centre qualifies when the mean HU of its 9 mm neighbourhood is below -500 (aerated lung).

    Raises:
        ValueError: no candidate (background too small or without lung).
    """
    import numpy as np
    import SimpleITK as sitk

    mean9 = sitk.GetArrayFromImage(sitk.BoxMean(background, [4, 4, 4]))  # (z, y, x)
    half = block_mm // 2
    size = np.array(background.GetSize())
    axes = [np.arange(half, s - half, step) for s in size]  # x, y, z
    xs, ys, zs = np.meshgrid(*axes, indexing="ij")
    centres = np.stack([xs.ravel(), ys.ravel(), zs.ravel()], 1)
    keep = mean9[centres[:, 2], centres[:, 1], centres[:, 0]] < -500.0
    if not keep.any():
        raise ValueError(f"no lung block of {block_mm} mm fits the background CT.")
    return centres[keep]


def smooth_noise(rng, shape, sigma_mm: float):
    """White Gaussian noise of ``shape`` (z, y, x) smoothed with a Gaussian of ``sigma_mm`` (on the
    1 mm grid, so in voxels), scaled to unit standard deviation; ``rng`` a ``numpy.random.Generator``.
    The synthetic tumours' heterogeneity."""
    import numpy as np
    import SimpleITK as sitk

    noise = sitk.GetImageFromArray(rng.standard_normal(shape).astype(np.float32))
    smooth = sitk.GetArrayFromImage(sitk.SmoothingRecursiveGaussian(noise, sigma_mm))
    return smooth / max(float(smooth.std()), 1e-6)


def make_case(background, centres, seed: int, index: int, censoring_rate: float) -> SyntheticCase:
    """Build case ``index`` of seed ``seed`` (see module docstring for the generative model)."""
    import numpy as np
    import SimpleITK as sitk

    rng = np.random.default_rng([seed, index])
    centre = centres[rng.integers(len(centres))]
    half = BLOCK_MM // 2
    block = sitk.RegionOfInterest(background, [BLOCK_MM] * 3, [int(c) - half for c in centre])
    ct = sitk.GetArrayFromImage(block).astype(np.float32)  # (z, y, x)
    radii = rng.uniform(*RADIUS_MM, size=3)  # (z, y, x) semi-axes, mm
    offset = rng.uniform(-3.0, 3.0, size=3)
    grid = np.indices(ct.shape, dtype=np.float32) - (np.array(ct.shape) / 2.0 + offset)[:, None, None, None]
    radius = np.sqrt(sum((g / r) ** 2 for g, r in zip(grid, radii)))  # 1 on the tumour surface
    het, nec = rng.uniform(0.0, 1.0), rng.uniform(0.0, NECROSIS_MAX)
    tumour = TUMOUR_HU + (HET_MIN_HU + HET_RANGE_HU * het) * smooth_noise(rng, ct.shape, NOISE_SIGMA_MM)
    core = radius < nec ** (1.0 / 3.0)
    tumour[core] = NECROSIS_HU + 5.0 * rng.standard_normal(int(core.sum()))
    weight = np.clip((1.0 - radius) * radii.min() + 0.5, 0.0, 1.0)  # ~1 mm partial-volume edge
    ct = (1.0 - weight) * ct + weight * tumour
    ct_image = sitk.GetImageFromArray(ct.astype(np.float32))
    ct_image.CopyInformation(block)
    gtv = sitk.GetImageFromArray((radius <= 1.0).astype(np.uint8))
    gtv.CopyInformation(block)
    log_hazard = true_log_hazard(het, nec)
    death = rng.exponential(1.0 / (BASELINE_HAZARD_PER_DAY * math.exp(log_hazard)))
    censor = rng.exponential(1.0 / censoring_rate)
    return SyntheticCase(ct=ct_image, gtv=gtv, time_days=float(min(death, censor)), event=bool(death <= censor),
                         log_hazard=float(log_hazard), heterogeneity=float(het), necrosis=float(nec))


def generate_cases(n_cases: int, seed: int = 0, background=None, start: int = 0):
    """Yield ``n_cases`` synthetic cases (indices ``start`` .. ``start + n_cases - 1``) of seed ``seed``.

    Args:
        n_cases: number of cases.
        seed: seed of the cases; the same seed and index always give the same case.
        background: 1 mm background CT (default: ``load_background()``).
        start: index of the first case.

    Yields:
        ``SyntheticCase``.
    """
    background = background if background is not None else load_background()
    centres = lung_centres(background)
    rate = censoring_rate_per_day()
    for index in range(start, start + n_cases):
        yield make_case(background, centres, seed, index, rate)
