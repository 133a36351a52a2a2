"""Synthetic cohorts on disk (CT + GTV NIfTI per case, manifest CSV, truth CSV) with a known hazard.

Extends ``RadSurvLib.training.synthetic`` (same real CT background, same ellipsoidal tumours) with
tumour SIZE as a third driver of the hazard and an optional SHIFTED "target" cohort for fine-tuning
experiments (Wang et al. pre-train on RTOG 0617 and fine-tune on an immunotherapy cohort):

- latent variables per case: mean semi-axis ``s ~ U(RADIUS_MM)`` (size, mm), heterogeneity
  ``h ~ U(0, 1)`` (amplitude of the smoothed-noise texture), necrotic fraction ``n ~ U(0, NECROSIS_MAX)``;
- ``log_hazard = w_size * z(s) + w_het * z(h) + w_nec * z(n)`` (exact z-scores of the uniforms);
- exponential survival (median ``MEDIAN_SURVIVAL_DAYS`` days at log hazard 0) and independent
  exponential censoring at a rate chosen for ``CENSORED_FRACTION`` censored cases in expectation.

``SOURCE`` and ``TARGET`` (``shift=True``) differ in the hazard weights (necrosis matters
more, size less) and in a scanner-like intensity change: a HU offset and a noise-amplitude gain
applied to the whole block. Case ``i`` of seed ``s`` is drawn from ``numpy.random.default_rng([s, i,
cohort_code])``, independent of the other cases.
"""

from __future__ import annotations

import csv
import math
from dataclasses import asdict, dataclass
from pathlib import Path

from .synthetic import (BASELINE_HAZARD_PER_DAY, BLOCK_MM, CENSORED_FRACTION, HET_MIN_HU, HET_RANGE_HU,
                        MEDIAN_SURVIVAL_DAYS, NECROSIS_HU, NECROSIS_MAX, NOISE_SIGMA_MM, RADIUS_MM,
                        TUMOUR_HU, smooth_noise, load_background, lung_centres)


@dataclass(frozen=True)
class SyntheticCohortSpec:
    """Generative settings of one synthetic cohort.

    Attributes:
        name: "source" or "target" (written to the manifest's ``cohort`` column).
        w_size, w_het, w_nec: log-hazard weights of the z-scored size, heterogeneity, necrosis.
        hu_offset: HU added to the whole block (scanner calibration shift).
        noise_gain: multiplies the tumour texture amplitude (reconstruction-kernel-like change).
        code: integer mixed into the random seed so source and target cases differ.
    """

    name: str
    w_size: float
    w_het: float
    w_nec: float
    hu_offset: float = 0.0
    noise_gain: float = 1.0
    code: int = 0


SOURCE = SyntheticCohortSpec("source", w_size=1.0, w_het=1.0, w_nec=0.5, code=0)
TARGET = SyntheticCohortSpec("target", w_size=0.3, w_het=0.7, w_nec=1.5, hu_offset=25.0, noise_gain=1.3, code=1)


def _z_uniform(value: float, low: float, high: float) -> float:
    return (value - (low + high) / 2.0) / ((high - low) / math.sqrt(12.0))


def log_hazard(spec: SyntheticCohortSpec, size_mm: float, heterogeneity: float, necrosis: float) -> float:
    """Ground-truth log hazard ratio of one case (see the module docstring)."""
    return (spec.w_size * _z_uniform(size_mm, *RADIUS_MM) + spec.w_het * _z_uniform(heterogeneity, 0.0, 1.0)
            + spec.w_nec * _z_uniform(necrosis, 0.0, NECROSIS_MAX))


def censoring_rate(spec: SyntheticCohortSpec, n_draws: int = 20000) -> float:
    """Exponential censoring rate (1/day) giving ``CENSORED_FRACTION`` censored in expectation (fixed-seed
    Monte Carlo over the latent uniforms, then bisection)."""
    import numpy as np

    rng = np.random.default_rng(12345)
    s = rng.uniform(*RADIUS_MM, n_draws)
    h = rng.uniform(0, 1, n_draws)
    n = rng.uniform(0, NECROSIS_MAX, n_draws)
    lam = BASELINE_HAZARD_PER_DAY * np.exp([log_hazard(spec, *v) for v in zip(s, h, n)])
    lo, hi = 1e-9, 1.0
    for _ in range(100):
        mid = math.sqrt(lo * hi)
        lo, hi = (mid, hi) if np.mean(mid / (mid + lam)) < CENSORED_FRACTION else (lo, mid)
    return math.sqrt(lo * hi)


@dataclass
class SyntheticCohortCase:
    """Ground truth of one written case (the truth CSV's columns)."""

    case_id: str
    time_days: float
    event: int
    log_hazard: float
    size_mm: float
    heterogeneity: float
    necrosis: float


def make_case(background, centres, spec: SyntheticCohortSpec, seed: int, index: int, rate: float):
    """Build one case: ``(ct, gtv, SyntheticCohortCase)`` (SimpleITK float32 HU block and uint8 mask, 1 mm,
    ``BLOCK_MM`` voxels per axis, (z, y, x) arrays inside)."""
    import numpy as np
    import SimpleITK as sitk

    rng = np.random.default_rng([seed, index, spec.code])
    centre = centres[rng.integers(len(centres))]
    half = BLOCK_MM // 2
    block = sitk.RegionOfInterest(background, [BLOCK_MM] * 3, [int(c) - half for c in centre])
    ct = sitk.GetArrayFromImage(block).astype(np.float32)
    size = rng.uniform(*RADIUS_MM)
    radii = size * rng.uniform(0.8, 1.2, size=3)  # (z, y, x) semi-axes, mm; mean ~ size
    radii = np.clip(radii, RADIUS_MM[0] * 0.8, BLOCK_MM / 2 - 6)
    offset = rng.uniform(-3.0, 3.0, size=3)
    grid = np.indices(ct.shape, dtype=np.float32) - (np.array(ct.shape) / 2.0 + offset)[:, None, None, None]
    radius = np.sqrt(sum((g / r) ** 2 for g, r in zip(grid, radii)))
    het, nec = rng.uniform(0.0, 1.0), rng.uniform(0.0, NECROSIS_MAX)
    amplitude = (HET_MIN_HU + HET_RANGE_HU * het) * spec.noise_gain
    tumour = TUMOUR_HU + amplitude * smooth_noise(rng, ct.shape, NOISE_SIGMA_MM)
    core = radius < nec ** (1.0 / 3.0)
    tumour[core] = NECROSIS_HU + 5.0 * rng.standard_normal(int(core.sum()))
    weight = np.clip((1.0 - radius) * radii.min() + 0.5, 0.0, 1.0)
    ct = (1.0 - weight) * ct + weight * tumour + spec.hu_offset
    ct_image = sitk.GetImageFromArray(ct.astype(np.float32))
    ct_image.CopyInformation(block)
    gtv = sitk.GetImageFromArray((radius <= 1.0).astype(np.uint8))
    gtv.CopyInformation(block)
    lh = log_hazard(spec, size, het, nec)
    death = rng.exponential(1.0 / (BASELINE_HAZARD_PER_DAY * math.exp(lh)))
    censor = rng.exponential(1.0 / rate)
    truth = SyntheticCohortCase(case_id="", time_days=round(float(min(death, censor)), 2), event=int(death <= censor),
                       log_hazard=float(lh), size_mm=float(size), heterogeneity=float(het), necrosis=float(nec))
    return ct_image, gtv, truth


def write_cohort(out_dir, n_cases: int, seed: int = 0, shift: bool = False, background=None, start: int = 0,
                 log=None) -> dict:
    """Write a synthetic cohort: ``images/<id>_ct.nii.gz``, ``images/<id>_gtv.nii.gz``, ``manifest.csv``
    (case_id, ct, gtv, time_days, event, cohort; paths relative to the folder) and ``truth.csv``
    (case_id, log_hazard, size_mm, heterogeneity, necrosis, time_days, event).

    Args:
        out_dir: output folder (created).
        n_cases: number of cases (>= 1).
        seed: cohort seed; the same seed, index and ``shift`` always give the same case.
        shift: write the TARGET cohort (shifted hazard weights and intensities) instead of SOURCE.
        background: 1 mm background CT (default: PAT1, ``synthetic.load_background()``).
        start: index of the first case (case ids ``<cohort>-<index:04d>``).
        log: optional callable(str) for progress.

    Returns:
        ``{"manifest": Path, "truth": Path, "n_cases": int, "n_events": int, "spec": dict}``.

    Raises:
        InputError: ``n_cases < 1``.
    """
    from ..errors import InputError
    from ..io.images import write_image

    if int(n_cases) < 1:
        raise InputError(f"n_cases: number of cases must be >= 1, got {n_cases}.")
    spec = TARGET if shift else SOURCE
    out = Path(out_dir)
    (out / "images").mkdir(parents=True, exist_ok=True)
    background = background if background is not None else load_background()
    centres = lung_centres(background)
    rate = censoring_rate(spec)
    rows = []
    for index in range(start, start + int(n_cases)):
        ct, gtv, truth = make_case(background, centres, spec, seed, index, rate)
        truth.case_id = f"{spec.name}-{index:04d}"
        write_image(ct, out / "images" / f"{truth.case_id}_ct.nii.gz")
        write_image(gtv, out / "images" / f"{truth.case_id}_gtv.nii.gz")
        rows.append(truth)
        if log and (index - start + 1) % 25 == 0:
            log(f"  {index - start + 1}/{n_cases} cases written")
    manifest = out / "manifest.csv"
    with open(manifest, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["case_id", "ct", "gtv", "time_days", "event", "cohort"])
        for r in rows:
            writer.writerow([r.case_id, f"images/{r.case_id}_ct.nii.gz", f"images/{r.case_id}_gtv.nii.gz",
                             r.time_days, r.event, spec.name])
    truth_path = out / "truth.csv"
    with open(truth_path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(asdict(rows[0])))
        writer.writeheader()
        writer.writerows(asdict(r) for r in rows)
    return {"manifest": manifest, "truth": truth_path, "n_cases": len(rows),
            "n_events": int(sum(r.event for r in rows)), "spec": asdict(spec),
            "censoring_rate_per_day": rate, "median_survival_days_at_0": MEDIAN_SURVIVAL_DAYS}
