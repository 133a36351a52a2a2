"""Benchmark of RadSurv's voxel radiomics maps against PyRadiomics and flash-radiomics.

    .venv/bin/python Testing/Benchmarks/bench_voxelmaps.py [--device cpu|cuda] [--families all]
        [--kernel-radius 1] [--ring 3] [--pyradiomics-samples 200] [--no-flash] [--slices N] [--repeats N]
    .venv/bin/python Testing/Benchmarks/bench_voxelmaps.py --memory [--ring 9 --kernel-radius 2]

ROI: PAT1's GTV plus its peritumoral ring of ``--ring`` mm (``RadSurvLib.rings.make_rings``), on
the CT's own grid (0.977 x 0.977 x 3 mm), bin width 25 HU, masked kernel, distance 1.

* RadSurv (``voxel_feature_values``) computes every family on the whole ROI (one call per family).
* PyRadiomics voxel-based would take hours on the whole ROI, so it computes at a random subsample
  of ``--pyradiomics-samples`` ROI voxels (seed 0): its feature classes are built on the whole
  ROI (the same discretisation and masked kernels as a full run) and their voxel list is replaced
  by the sample; time per voxel = time / samples (batch set-up included).
* flash-radiomics (``pip install -e ".[bench]"``, BSD-3) computes every family on the whole ROI
  (``spatialMode=True``, ``backend`` cpu or cuda, all cores).

Per family it prints the time per voxel of each tool and the ratios (wall time, and the process CPU
time of all threads, which other jobs on a shared machine disturb less; ``--repeats N`` keeps the
fastest of N runs of RadSurv and flash), and the largest relative
error of RadSurv (and flash-radiomics) against PyRadiomics at the sampled voxels, counted as 0
where the absolute difference is <= 1e-9 (the parity rule: 1e-6 relative or 1e-9 absolute) and as
inf where exactly one of the two is NaN. Speedups over the families are ratios of summed time per
voxel. The last line is exactly::

    speedup_vs_pyradiomics=<x> speedup_vs_flash=<y> max_rel_err=<z>

``--memory`` instead measures the peak resident memory of one ``compute_voxel_maps`` call with all
families in a fresh process (``resource.getrusage`` ru_maxrss, minus the RSS after loading the
inputs); see ``RadSurvLib.radiomics.voxelmaps.engine`` for the bound.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
PAT1 = REPO / "RadSurvLib" / "resources" / "PAT1"


def load_roi(ring_mm: float, slices: int | None = None):
    """(ct, roi) SimpleITK images: PAT1's CT and its GTV plus the ring (uint8 0/1).

    ``slices``: keep only that many central ROI slices (quick runs)."""
    import SimpleITK as sitk

    from RadSurvLib.rings import make_rings

    ct = sitk.ReadImage(str(PAT1 / "image.nii.gz"))
    gtv = sitk.Cast(sitk.ReadImage(str(PAT1 / "mask.nii.gz")) != 0, sitk.sitkUInt8)
    roi = gtv
    if ring_mm:
        labelmap, _ = make_rings(gtv, (ring_mm,), warn=False)
        roi = sitk.Cast(labelmap != 0, sitk.sitkUInt8)
    if slices:
        a = sitk.GetArrayFromImage(roi)
        zs = np.nonzero(a.any((1, 2)))[0]
        z0 = zs[len(zs) // 2 - slices // 2]
        a[:z0] = 0
        a[z0 + slices:] = 0
        cut = sitk.GetImageFromArray(a)
        cut.CopyInformation(roi)
        roi = cut
    return ct, roi


def family_names(family: str) -> list:
    from RadSurvLib.radiomics.voxelmaps.engine import FAMILY_DEFAULTS

    return list(FAMILY_DEFAULTS[family])


def crop_like_pyradiomics(ct, roi, r: int):
    """CT and ROI cropped to the ROI bounding box grown by r (what the extractor does)."""
    import SimpleITK as sitk

    from RadSurvLib.radiomics.voxelmaps.engine import grown_bbox

    box = grown_bbox(sitk.GetArrayViewFromImage(roi) != 0, r)
    index = [box[2].start, box[1].start, box[0].start]
    size = [box[2].stop - box[2].start, box[1].stop - box[1].start, box[0].stop - box[0].start]
    return sitk.RegionOfInterest(ct, size, index), sitk.RegionOfInterest(roi, size, index)


def pyradiomics_at(ct, roi, family: str, names: list, r: int, masked: bool, sample_zyx):
    """PyRadiomics voxel-based values of ``names`` at the sampled voxels.

    Args:
        sample_zyx: int array (3, K) of voxel indices (z, y, x) in the full CT.

    Returns:
        (dict name -> float64 (K,), seconds).
    """
    import SimpleITK as sitk
    from radiomics import firstorder, glcm, gldm, glrlm, glszm, ngtdm

    classes = {"firstorder": firstorder.RadiomicsFirstOrder, "glcm": glcm.RadiomicsGLCM,
               "glrlm": glrlm.RadiomicsGLRLM, "glszm": glszm.RadiomicsGLSZM,
               "gldm": gldm.RadiomicsGLDM, "ngtdm": ngtdm.RadiomicsNGTDM}
    logging.getLogger("radiomics").setLevel(logging.ERROR)
    ct_c, roi_c = crop_like_pyradiomics(ct, roi, r)
    offset = np.array(ct.TransformPhysicalPointToIndex(ct_c.GetOrigin())[::-1])[:, None]
    local = sample_zyx - offset
    start = time.perf_counter()
    fc = classes[family](ct_c,
                         roi_c, voxelBased=True, kernelRadius=r, maskedKernel=masked,
                         binWidth=25, force2D=False, label=1, initValue=np.nan)
    fc.labelledVoxelCoordinates = local  # compute at the sample only (kernels use the whole ROI)
    fc.disableAllFeatures()
    for n in names:
        fc.enableFeatureByName(n.split("_", 1)[1])
    values = fc.execute()
    seconds = time.perf_counter() - start
    out = {}
    for n in names:
        arr = sitk.GetArrayFromImage(values[n.split("_", 1)[1]])
        out[n] = arr[tuple(local)].astype(np.float64)
    return out, seconds


def flash_maps(ct, roi, family: str, names: list, r: int, masked: bool, device: str, tmpdir: str):
    """flash-radiomics voxel-based maps of one family on the whole ROI.

    Returns (dict name -> float64 array on the CT grid (NaN outside its crop), seconds); the
    process CPU time of the call is left in ``flash_maps.cpu_seconds``."""
    import SimpleITK as sitk
    from flash_radiomics import featureextractor

    logging.getLogger("flash_radiomics").setLevel(logging.ERROR)
    backend = "cuda" if str(device).startswith("cuda") else "cpu"
    ex = featureextractor.RadiomicsFeatureExtractor(
        backend=backend, binWidth=25, kernelRadius=r, maskedKernel=masked, force2D=False,
        additionalInfo=False)
    ex.disableAllFeatures()
    ex.enableFeaturesByName(**{family: [n.split("_", 1)[1] for n in names]})
    start, cpu = time.perf_counter(), time.process_time()
    res = ex.execute(ct, roi, spatialMode=True,
                     output_hdf5_path=os.path.join(tmpdir, f"flash_{family}.h5"))
    seconds = time.perf_counter() - start
    flash_maps.cpu_seconds = time.process_time() - cpu  # CPU time of all threads (load-robust)
    shape = sitk.GetArrayViewFromImage(ct).shape
    out = {}
    for n in names:
        image = res.get(f"original_{n}")
        full = np.full(shape, np.nan)
        if image is not None:
            x0, y0, z0 = ct.TransformPhysicalPointToIndex(image.GetOrigin())
            a = sitk.GetArrayFromImage(image)
            full[z0:z0 + a.shape[0], y0:y0 + a.shape[1], x0:x0 + a.shape[2]] = a
        out[n] = full
    return out, seconds


def max_rel_err(ours, ref) -> float:
    """Largest |ours - ref| / |ref|, 0 where |ours - ref| <= 1e-9, inf on a NaN mismatch."""
    ours, ref = np.asarray(ours, np.float64), np.asarray(ref, np.float64)
    if (np.isnan(ours) != np.isnan(ref)).any():
        return float("inf")
    fin = np.isfinite(ref)
    diff = np.abs(ours[fin] - ref[fin])
    rel = np.where(diff <= 1e-9, 0.0, diff / np.maximum(np.abs(ref[fin]), 1e-300))
    return float(rel.max()) if rel.size else 0.0


def run_memory(args) -> None:
    """Peak RSS of one compute_voxel_maps call (all families) in this process."""
    import resource

    import SimpleITK as sitk
    import torch

    from RadSurvLib.radiomics.voxelmaps import compute_voxel_maps, features_of_families

    torch.set_num_threads(args.threads)
    ct, roi = load_roi(args.ring, args.slices)
    names = features_of_families(list(_families(args.families)))
    n = int(np.count_nonzero(sitk.GetArrayViewFromImage(roi)))
    base = _rss_now()
    start = time.perf_counter()
    maps = compute_voxel_maps(ct, roi, names, kernel_radius=args.kernel_radius, device=args.device)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(f"memory: ROI {n:,} voxels (GTV + {args.ring:g} mm ring), kernel radius {args.kernel_radius}, "
          f"{len(maps)} maps, {seconds:.1f} s")
    print(f"memory: RSS before {base / 2**30:.2f} GiB, peak {peak / 2**30:.2f} GiB, "
          f"peak increase {(peak - base) / 2**30:.2f} GiB")
    print(f"peak_rss_gib={peak / 2**30:.3f}")


def _rss_now() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _families(spec: str):
    from RadSurvLib.radiomics.voxelmaps.engine import FAMILIES

    return list(FAMILIES) if spec == "all" else [f for f in spec.split(",") if f]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu", help="RadSurv / flash device: cpu or cuda (default cpu)")
    p.add_argument("--families", default="all", help="comma-separated families (default all)")
    p.add_argument("--kernel-radius", type=int, default=1)
    p.add_argument("--ring", type=float, default=3.0, help="ring width around the GTV, mm (default 3)")
    p.add_argument("--pyradiomics-samples", type=int, default=200,
                   help="ROI voxels PyRadiomics computes (random, seed 0; default 200)")
    p.add_argument("--no-flash", action="store_true", help="skip flash-radiomics")
    p.add_argument("--slices", type=int, default=None, help="keep only N central ROI slices (quick runs)")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch CPU threads (default all)")
    p.add_argument("--memory", action="store_true", help="measure peak memory instead (see the docstring)")
    p.add_argument("--repeats", type=int, default=1,
                   help="runs of RadSurv and flash per family; the fastest counts (default 1)")
    args = p.parse_args(argv)
    if args.memory:
        run_memory(args)
        return 0

    import tempfile

    import SimpleITK as sitk
    import torch

    from RadSurvLib.radiomics.voxelmaps import voxel_feature_values

    torch.set_num_threads(args.threads)
    r = args.kernel_radius
    ct, roi = load_roi(args.ring, args.slices)
    image = sitk.GetArrayFromImage(ct).astype(np.float64)
    mask = sitk.GetArrayFromImage(roi) != 0
    coords = np.array(np.nonzero(mask))
    n = coords.shape[1]
    rng = np.random.default_rng(0)
    pick = np.sort(rng.choice(n, size=min(args.pyradiomics_samples, n), replace=False))
    sample = coords[:, pick]
    families = _families(args.families)
    voxel_volume = float(np.prod(ct.GetSpacing()))
    print(f"ROI: PAT1 GTV + {args.ring:g} mm ring, {n:,} voxels; kernel radius {r}, bin width 25 HU, "
          f"masked kernel; RadSurv device {args.device}, torch threads {args.threads}; "
          f"PyRadiomics on {len(pick)} sampled voxels; load average {os.getloadavg()[0]:.1f}")
    # warm up torch (first call pays allocator / thread-pool start-up)
    voxel_feature_values(image[:, :, :], mask & False | _first_voxel(mask), ["firstorder_Mean"], r,
                         device=args.device)
    rows, errs = [], []
    tmp = tempfile.mkdtemp(prefix="bench_voxelmaps_")
    for fam in families:
        names = family_names(fam)
        t_ours, c_ours = float("inf"), float("inf")
        for _ in range(args.repeats):  # the fastest of the repeats (wall and CPU time separately)
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            t0, c0 = time.perf_counter(), time.process_time()
            ours = voxel_feature_values(image, mask, names, r, 25.0, True, voxel_volume, args.device)
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            t_ours = min(t_ours, (time.perf_counter() - t0) / n)
            c_ours = min(c_ours, (time.process_time() - c0) / n)
        ref, t_py = pyradiomics_at(ct, roi, fam, names, r, True, sample)
        t_py /= len(pick)
        err = max(max_rel_err(ours[nm][pick], ref[nm]) for nm in names)
        t_flash, c_flash, err_flash = float("nan"), float("nan"), float("nan")
        if not args.no_flash:
            try:
                t_flash, c_flash = float("inf"), float("inf")
                for _ in range(args.repeats):
                    fl, secs = flash_maps(ct, roi, fam, names, r, True, args.device, tmp)
                    t_flash = min(t_flash, secs / n)
                    c_flash = min(c_flash, flash_maps.cpu_seconds / n)
                err_flash = max(max_rel_err(fl[nm][tuple(sample)], ref[nm]) for nm in names)
            except Exception as exc:  # report, keep benchmarking the others
                t_flash, c_flash = float("nan"), float("nan")
                print(f"  flash-radiomics failed on {fam}: {exc}")
        rows.append((fam, len(names), t_py, t_flash, t_ours, err, err_flash, c_flash, c_ours))
        errs.append(err)
        print(f"{fam:10s} {len(names):2d} maps  PyRadiomics {1e6 * t_py:10.1f} us/voxel  "
              f"flash {1e6 * t_flash:8.1f} us/voxel  RadSurv {1e6 * t_ours:8.1f} us/voxel  "
              f"x{t_py / t_ours:8.1f} vs PyRadiomics  x{t_flash / t_ours:6.2f} vs flash  "
              f"(CPU time: flash {1e6 * c_flash:.1f}, RadSurv {1e6 * c_ours:.1f} us/voxel, "
              f"x{c_flash / c_ours:.2f})  max rel err {err:.2e} (flash {err_flash:.2e})  "
              f"load {os.getloadavg()[0]:.1f}", flush=True)
    sum_py = sum(r_[2] for r_ in rows)
    sum_fl = sum(r_[3] for r_ in rows)
    sum_us = sum(r_[4] for r_ in rows)
    print(f"{'total':10s} {sum(r_[1] for r_ in rows):2d} maps  PyRadiomics {1e6 * sum_py:10.1f} us/voxel  "
          f"flash {1e6 * sum_fl:8.1f} us/voxel  RadSurv {1e6 * sum_us:8.1f} us/voxel")
    print(f"whole ROI ({n:,} voxels): PyRadiomics ~{sum_py * n / 3600:.2f} h (extrapolated), "
          f"flash {sum_fl * n:.1f} s, RadSurv {sum_us * n:.1f} s")
    cpu_fl, cpu_us = sum(r_[7] for r_ in rows), sum(r_[8] for r_ in rows)
    print(f"CPU time (all threads; robust to other load): flash {1e6 * cpu_fl:.1f} us/voxel, RadSurv "
          f"{1e6 * cpu_us:.1f} us/voxel, x{cpu_fl / cpu_us:.2f}; load average {os.getloadavg()[0]:.1f}")
    print(f"speedup_vs_pyradiomics={sum_py / sum_us:.1f} speedup_vs_flash={sum_fl / sum_us:.2f} "
          f"max_rel_err={max(errs):.2e}")
    return 0


def _first_voxel(mask):
    one = np.zeros_like(mask)
    one[tuple(c[:1] for c in np.nonzero(mask))] = True
    return one


if __name__ == "__main__":
    sys.exit(main())
