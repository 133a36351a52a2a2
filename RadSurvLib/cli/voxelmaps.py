"""``radsurv voxelmaps``: voxel radiomics maps of a CT + GTV (optionally plus a peritumoral ring).

    radsurv voxelmaps --ct CT --gtv GTV --out DIR [--features a,b | --families firstorder,glcm]
                      [--kernel-radius 1] [--bin-width 25] [--unmasked] [--device auto]
                      [--ring MM] [--background 0]

Writes ``DIR/voxelmap_<family>_<Feature>.nrrd`` (float32, the CT's size, spacing, origin and
direction; ``--background`` (default 0) outside the ROI; NaN where PyRadiomics is NaN) and
``DIR/voxelmaps.json`` (settings, ROI voxel count, map names, timing).
"""

from __future__ import annotations

import time as _time

from ..errors import InputError


def add_parsers(sub) -> None:
    """Add the ``voxelmaps`` command to ``sub``."""
    from ..radiomics.voxelmaps import DEFAULT_FEATURES, FAMILIES

    p = sub.add_parser(
        "voxelmaps", help="voxel radiomics maps (PyRadiomics voxel-based semantics) as NRRD",
        description="Compute voxel-level radiomics maps inside the GTV (and optionally a peritumoral "
                    "ring) with PyRadiomics' voxel-based semantics and write one NRRD per map in the "
                    "CT's geometry.")
    p.add_argument("--ct", required=True, help="CT volume in HU (NRRD or NIfTI)")
    p.add_argument("--gtv", required=True, help="GTV mask on the CT's grid (non-zero = GTV)")
    p.add_argument("--out", required=True, help="output folder")
    sel = p.add_mutually_exclusive_group()
    sel.add_argument("--features", default=None,
                     help="comma-separated map names, e.g. firstorder_Mean,glcm_Contrast "
                          f"(default: the {len(DEFAULT_FEATURES)} default maps)")
    sel.add_argument("--families", default=None,
                     help=f"comma-separated families, all their non-costly features ({','.join(FAMILIES)}, "
                          "or 'all')")
    p.add_argument("--kernel-radius", type=int, default=1, help="kernel radius, voxels (default 1 = 3x3x3)")
    p.add_argument("--bin-width", type=float, default=25.0, help="gray-level bin width, HU (default 25)")
    p.add_argument("--unmasked", action="store_true",
                   help="unmasked kernel: every image voxel in the kernel counts (PyRadiomics maskedKernel=False)")
    p.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda, cuda:N")
    p.add_argument("--ring", type=float, default=None, metavar="MM",
                   help="also map the peritumoral ring of this width (mm) around the GTV (ROI = GTV + ring)")
    p.add_argument("--background", type=float, default=0.0, help="value outside the ROI (default 0)")
    p.add_argument("--quiet", action="store_true", help="no progress output")


def _progress_printer(quiet: bool):
    if quiet:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        tqdm = None
    if tqdm is not None:
        bar = tqdm(total=100, unit="%", desc="voxel maps", leave=True)

        def update(fraction):
            bar.n = round(100 * fraction)
            bar.refresh()
            if fraction >= 1:
                bar.close()
        return update
    state = {"last": -1}

    def plain(fraction):
        pct = int(100 * fraction)
        if pct // 10 != state["last"] // 10 or fraction >= 1:
            state["last"] = pct
            print(f"voxel maps: {pct:3d} %", flush=True)
    return plain


def run(args) -> int:
    """Run ``radsurv voxelmaps``; returns 0. Raises InputError for bad input."""
    import json
    from pathlib import Path

    import numpy as np
    import SimpleITK as sitk

    from ..io.images import check_same_geometry, read_image, write_image
    from ..radiomics.voxelmaps import DEFAULT_FEATURES, compute_voxel_maps, features_of_families
    from ..radiomics.voxelmaps.engine import FAMILIES

    if args.families:
        fams = list(FAMILIES) if args.families.strip() == "all" else [
            f.strip() for f in args.families.split(",") if f.strip()]
        names = features_of_families(fams)
    elif args.features:
        names = [f.strip() for f in args.features.split(",") if f.strip()]
    else:
        names = list(DEFAULT_FEATURES)
    if args.ring is not None and not args.ring > 0:
        raise InputError(f"--ring must be a positive width in mm, got {args.ring!r}.")
    ct = read_image(args.ct, "CT")
    gtv = read_image(args.gtv, "GTV")
    check_same_geometry(ct, gtv, "CT", "GTV")
    roi = sitk.Cast(sitk.NotEqual(gtv, 0), sitk.sitkUInt8)
    if args.ring is not None:
        from ..rings import make_rings

        labelmap, _ = make_rings(roi, (args.ring,), warn=False)
        roi = sitk.Cast(sitk.NotEqual(labelmap, 0), sitk.sitkUInt8)
    n_roi = int(np.count_nonzero(sitk.GetArrayViewFromImage(roi)))
    print(f"voxel maps: {len(names)} maps, ROI {n_roi:,} voxels"
          + (f" (GTV + {args.ring:g} mm ring)" if args.ring else "")
          + f", kernel radius {args.kernel_radius}, bin width {args.bin_width:g} HU, "
          + ("unmasked" if args.unmasked else "masked") + " kernel", flush=True)
    start = _time.perf_counter()
    maps = compute_voxel_maps(ct, roi, names, kernel_radius=args.kernel_radius, bin_width=args.bin_width,
                              masked=not args.unmasked, background=args.background, device=args.device,
                              progress=_progress_printer(args.quiet))
    seconds = _time.perf_counter() - start
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, image in maps.items():
        write_image(image, out / f"voxelmap_{name}.nrrd")
    info = {"ct": str(args.ct), "gtv": str(args.gtv), "ring_mm": args.ring, "roi_voxels": n_roi,
            "kernel_radius": args.kernel_radius, "bin_width_hu": args.bin_width,
            "masked_kernel": not args.unmasked, "background_value": args.background,
            "maps": {n: f"voxelmap_{n}.nrrd" for n in maps}, "seconds": round(seconds, 3)}
    (out / "voxelmaps.json").write_text(json.dumps(info, indent=2))
    print(f"voxel maps: {len(maps)} maps in {seconds:.1f} s ({1e6 * seconds / max(n_roi, 1):.1f} us/voxel) "
          f"written to {out}")
    return 0


#: Command name -> run function.
RUNNERS = {"voxelmaps": run}
