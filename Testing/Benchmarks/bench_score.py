"""Benchmark: PyRadiomics vs RadSurv's ROI engine on PAT1's GTV + 3 rings (features part of issue 12).

Inputs as ``pipeline.score_case`` builds them: PAT1's CT resampled to 1 mm (B-spline), the GTV with
the volume-preserving threshold, rings 0-3, 3-6, 6-9 mm. Both engines run the Liu et al. 2025
parameter file on the same ROIs; per family (the parameter file restricted to that feature class,
all image types) and for all families together: the time of each engine, the ratio and the largest
relative error (1e-9 absolute floor) over all ROIs and features.

Run on a quiet machine (the load average is printed with the figures)::

    OMP_NUM_THREADS=2 .venv/bin/python Testing/Benchmarks/bench_score.py [--families all|shape,glcm,...]

Last line: ``features_speedup=<x> max_rel_err=<e> load_avg=<l>`` (the ``radsurv score`` stage
timings of the issue's final line belong to the pipeline part).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

FAMILIES = ("shape", "firstorder", "glcm", "glrlm", "glszm", "gldm", "ngtdm")


def pat1_inputs():
    """(CT at 1 mm, {ROI name: mask}) of PAT1 as the pipeline builds them."""
    import SimpleITK as sitk

    from RadSurvLib import preprocessing, rings
    from RadSurvLib.resources import pat1_path

    folder = Path(pat1_path())
    ct = sitk.ReadImage(str(folder / "image.nii.gz"))
    gtv = sitk.ReadImage(str(folder / "mask.nii.gz"))
    ct_iso = preprocessing.resample_image(ct, 1.0, "bspline")
    gtv_iso = preprocessing.resample_mask_preserving_volume(gtv, ct_iso).mask
    labels, ring_list = rings.make_rings(gtv_iso, rings.parse_bands((3, 6, 9)), ct=ct_iso)
    return ct_iso, rings.roi_masks(labels, ring_list)


def max_rel_err(mine: dict, ref: dict) -> float:
    worst = 0.0
    for roi, values in ref.items():
        for name, expected in values.items():
            got = mine[roi][name]
            if np.isnan(expected) and np.isnan(got):
                continue
            err = abs(got - expected)
            worst = max(worst, 0.0 if err <= 1e-9 else err / abs(expected) if expected else np.inf)
    return worst


def run(family, ct, masks):
    from RadSurvLib.radiomics import roi

    extractor = roi.make_extractor()
    if family != "all":
        extractor.disableAllFeatures()
        extractor.enableFeatureClassByName(family)
    times, cpu, tables = {}, {}, {}
    for engine in ("pyradiomics", "radsurv"):
        start, start_cpu = time.perf_counter(), time.process_time()
        tables[engine] = roi.extract_features(ct, masks, extractor, engine=engine)
        times[engine] = time.perf_counter() - start
        cpu[engine] = time.process_time() - start_cpu
    return times, cpu, max_rel_err(tables["radsurv"], tables["pyradiomics"])


# --- Stage timings (issue 12 items 1 and 4: crop before resampling, the pipeline's stages) ---------------

LUNG1_001 = Path("/work/shared/data/lung1_001")


def load_case(case: str):
    """(CT, GTV) SimpleITK images of ``"pat1"`` (NIfTI) or ``"lung1_001"`` (DICOM + RTSTRUCT GTV-1)."""
    import SimpleITK as sitk

    from RadSurvLib.resources import pat1_path

    if case == "pat1":
        folder = Path(pat1_path())
        return sitk.ReadImage(str(folder / "image.nii.gz")), sitk.ReadImage(str(folder / "mask.nii.gz"))
    from RadSurvLib.io.dicom import load_dicom_case

    rtstruct = next((LUNG1_001 / "rtstruct").iterdir())
    ct, gtv, _ = load_dicom_case(LUNG1_001 / "image", rtstruct=rtstruct, roi="GTV-1")
    return ct, gtv


def resample_timings(case: str, margin_mm: float = 9.0) -> dict:
    """Seconds of the whole-CT 1 mm resampling vs the analysis crop (box, crop resampling, the whole
    1 mm CT's normalisation statistics), and the crop's largest difference from the whole (HU)."""
    import SimpleITK as sitk

    from RadSurvLib import preprocessing as pp

    ct, gtv = load_case(case)
    t = time.perf_counter()
    whole = pp.resample_image(ct, 1.0, "bspline")
    t_whole = time.perf_counter() - t
    t = time.perf_counter()
    crop = pp.analysis_crop(ct, gtv, margin_mm)
    cropped = pp.resample_crop(ct, crop)
    t_crop = time.perf_counter() - t
    t = time.perf_counter()
    pp.resampled_statistics(ct)
    t_stats = time.perf_counter() - t
    diff = np.abs(sitk.GetArrayFromImage(cropped) - sitk.GetArrayFromImage(whole)[crop.grid_slices()]).max()
    return {"case": case, "ct_size": ct.GetSize(), "grid_size": crop.grid_size, "crop_size": crop.size,
            "whole_s": t_whole, "crop_s": t_crop, "stats_s": t_stats, "max_abs_diff_hu": float(diff)}


def _score_in_child(case, out_dir, queue):
    from RadSurvLib.options import ScoreOptions
    from RadSurvLib.pipeline import score_case

    ct, gtv = load_case(case)
    result = score_case(ct, gtv, out_dir, ScoreOptions(device="cpu", overwrite=True))
    queue.put(result["timings_s"])


def score_timings(case: str, out_dir: str) -> tuple:
    """``pipeline.score_case`` on a case in a fresh process: (timings per stage (s), peak RSS (GiB))."""
    import multiprocessing as mp
    import resource

    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    child = ctx.Process(target=_score_in_child, args=(case, out_dir, queue))
    child.start()
    timings = queue.get()
    child.join()
    return timings, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20


def stage_part(out_root: str) -> dict:
    """Print the resampling comparison and ``score_case``'s stage timings for PAT1 and lung1_001;
    returns {case: total seconds}."""
    totals = {}
    for case in ("pat1", "lung1_001"):
        if case == "lung1_001" and not LUNG1_001.is_dir():
            print("lung1_001: not on this machine, skipped")
            continue
        r = resample_timings(case)
        print(f"{case}: CT {r['ct_size']} -> 1 mm grid {r['grid_size']}, analysis crop {r['crop_size']}: "
              f"whole resampling {r['whole_s']:.2f} s, crop {r['crop_s']:.2f} s + whole-CT statistics "
              f"{r['stats_s']:.2f} s; crop vs whole max |diff| {r['max_abs_diff_hu']:.1e} HU; "
              f"load {os.getloadavg()[0]:.2f}", flush=True)
        timings, peak = score_timings(case, os.path.join(out_root, case))
        totals[case] = sum(timings.values())
        print(f"{case}: score_case stages (s) " + ", ".join(f"{k} {v:.2f}" for k, v in timings.items())
              + f"; total {totals[case]:.1f} s; peak RSS {peak:.2f} GiB; load {os.getloadavg()[0]:.2f}", flush=True)
    return totals


def _warm_up(ct, masks):
    """Load (or compile, on the first run after installing) every Numba loop of RadSurv's engine (texture
    matrices, shape diameters, LoG) and import scipy.spatial outside the timings: one untimed RadSurv
    extraction of the same input."""
    import scipy.spatial  # noqa: F401

    from RadSurvLib.radiomics import roi

    roi.extract_features(ct, masks, roi.make_extractor(), engine="radsurv")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", default="all",
                        help="'all' (all families together only) or a comma list, e.g. shape,glcm")
    parser.add_argument("--stages", action="store_true",
                        help="also time radsurv score's stages on PAT1 and lung1_001 (stage_part)")
    args = parser.parse_args(argv)
    ct, masks = pat1_inputs()
    _warm_up(ct, masks)
    print(f"PAT1 1 mm: CT {ct.GetSize()}, ROIs {list(masks)}; load average {os.getloadavg()}")
    families = [] if args.families == "all" else args.families.split(",")
    for family in families + ["all"]:
        times, cpu, err = run(family, ct, masks)
        ratio = times["pyradiomics"] / times["radsurv"]
        print(f"{family:10s} pyradiomics {times['pyradiomics']:8.2f} s (cpu {cpu['pyradiomics']:7.2f})  "
              f"radsurv {times['radsurv']:7.2f} s (cpu {cpu['radsurv']:6.2f})  ratio {ratio:6.1f}x  "
              f"max_rel_err {err:.2e}  load {os.getloadavg()[0]:.2f}")
    if args.stages:
        import tempfile

        totals = stage_part(tempfile.mkdtemp(prefix="bench_score_"))
        print(f"features_speedup={ratio:.1f} pat1_total_s={totals.get('pat1', float('nan')):.1f} "
              f"lung1_001_total_s={totals.get('lung1_001', float('nan')):.1f} max_rel_err={err:.2e} "
              f"load_avg={os.getloadavg()[0]:.2f}")
        return
    from RadSurvLib.radiomics.roi_engine import kernels

    print(f"numba kernels: {kernels.AVAILABLE}; CPU cores usable: {len(os.sched_getaffinity(0))}")
    print(f"features_speedup={ratio:.1f} max_rel_err={err:.2e} load_avg={os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
