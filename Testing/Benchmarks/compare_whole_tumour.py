"""Compare RadSurv's voxel maps with PyRadiomics' voxel-based output on a whole tumour.

    .venv/bin/python Testing/Benchmarks/compare_whole_tumour.py [--case lung1|lung2|PAT1]
        [--kernel-radius 1] [--unmasked] [--families all] [--samples N] [--with-costly]

RadSurv computes every map on the whole ROI. PyRadiomics computes at every ROI voxel (lung1: the
whole 837-voxel nodule) or, with ``--samples N`` (default for PAT1: 300, its GTV has 125,256
voxels), at N random ROI voxels (seed 0) with its feature classes built on the whole ROI, so the
discretisation and the masked kernels are those of a full run (see ``bench_voxelmaps``).

Prints per family the number of maps and compared values, NaN-pattern mismatches and the largest
relative error (0 where the absolute difference is <= 1e-9), and ends with
``whole_tumour_max_rel_err=<z>``. Parity means max_rel_err <= 1e-6.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1]))

import bench_voxelmaps as bench  # noqa: E402

CASES = {
    "lung1": ("PyRadiomics_baseline/lung1_image.nrrd", "PyRadiomics_baseline/lung1_label.nrrd"),
    "lung2": ("PyRadiomics_baseline/lung2_image.nrrd", "PyRadiomics_baseline/lung2_label.nrrd"),
    "PAT1": ("PAT1/image.nii.gz", "PAT1/mask.nii.gz"),
}


def main(argv=None) -> int:
    import SimpleITK as sitk

    from RadSurvLib.radiomics.voxelmaps import voxel_feature_values
    from RadSurvLib.radiomics.voxelmaps.engine import FAMILIES

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--case", default="lung1", choices=sorted(CASES))
    p.add_argument("--kernel-radius", type=int, default=1)
    p.add_argument("--unmasked", action="store_true")
    p.add_argument("--families", default="all")
    p.add_argument("--samples", type=int, default=None,
                   help="PyRadiomics at N random ROI voxels (default: all for lung1/lung2, 300 for PAT1)")
    p.add_argument("--with-costly", action="store_true", help="also the costly features (glcm_MCC)")
    args = p.parse_args(argv)
    data = HERE.parents[0] / "Data"
    ct = sitk.ReadImage(str(data / CASES[args.case][0]))
    roi = sitk.Cast(sitk.ReadImage(str(data / CASES[args.case][1])) != 0, sitk.sitkUInt8)
    mask = sitk.GetArrayFromImage(roi) != 0
    coords = np.array(np.nonzero(mask))
    n = coords.shape[1]
    samples = args.samples if args.samples is not None else (300 if args.case == "PAT1" else n)
    pick = np.arange(n) if samples >= n else np.sort(
        np.random.default_rng(0).choice(n, size=samples, replace=False))
    r, masked = args.kernel_radius, not args.unmasked
    families = list(FAMILIES) if args.families == "all" else args.families.split(",")
    print(f"{args.case}: ROI {n:,} voxels, PyRadiomics at {len(pick):,} of them; kernel radius {r}, "
          f"{'masked' if masked else 'unmasked'} kernel, bin width 25 HU")
    image = sitk.GetArrayFromImage(ct).astype(np.float64)
    worst = 0.0
    voxel_feature_values(image, mask, ["firstorder_Mean"], r)  # warm-up (torch start-up)
    for fam in families:
        names = [f"{fam}_{f}" for f in FAMILIES[fam].FEATURES
                 if args.with_costly or f not in FAMILIES[fam].COSTLY]
        t0 = time.perf_counter()
        ours = voxel_feature_values(image, mask, names, r, 25.0, masked, float(np.prod(ct.GetSpacing())))
        t_ours = time.perf_counter() - t0
        ref, t_py = bench.pyradiomics_at(ct, roi, fam, names, r, masked, coords[:, pick])
        failed = [nm for nm in names if np.isnan(ref[nm]).all() and not np.isnan(ours[nm][pick]).all()]
        if failed:  # e.g. glcm_MCC: PyRadiomics' eigen solver fails on the batch (documented)
            print(f"  PyRadiomics gave no value for {', '.join(failed)} (its calculation failed); "
                  "not compared")
        names_c = [nm for nm in names if nm not in failed]
        errs = {nm: bench.max_rel_err(ours[nm][pick], ref[nm]) for nm in names_c}
        nan_mismatch = sum(int((np.isnan(ours[nm][pick]) != np.isnan(ref[nm])).sum()) for nm in names_c)
        fam_worst = max(errs.values())
        worst = max(worst, fam_worst)
        bad = [nm for nm, e in errs.items() if e > 1e-6]
        print(f"{fam:10s} {len(names):2d} maps x {len(pick):,} voxels: max rel err {fam_worst:.2e}, "
              f"NaN mismatches {nan_mismatch}; RadSurv {t_ours:.1f} s (whole ROI), PyRadiomics "
              f"{t_py:.1f} s" + (f"; above 1e-6: {', '.join(bad)}" if bad else ""), flush=True)
    print(f"whole_tumour_max_rel_err={worst:.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
