"""``radsurv voxelmaps``: voxel radiomics maps of a CT + GTV (optionally plus a peritumoral ring).

    radsurv voxelmaps --ct CT --gtv GTV --out DIR [--features a,b | --families firstorder,glcm]
                      [--kernel-radius 1] [--bin-width 25] [--unmasked] [--device auto]
                      [--ring MM] [--background 0] [--overwrite]

Writes ``DIR/voxelmap_<family>_<Feature>.nrrd`` (float32, the CT's size, spacing, origin and
direction; ``--background`` (default 0) outside the ROI; NaN where PyRadiomics is NaN) and
``DIR/voxelmaps.json`` (settings, ROI voxel count, map names, timing). Settings and ``--out`` are
checked before any work; an earlier run in ``DIR`` is kept unless ``--overwrite`` (a ``radsurv
score`` folder is never written into).
"""

from __future__ import annotations

import time as _time
from pathlib import Path

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
    p.add_argument("--overwrite", action="store_true",
                   help="replace the maps of an earlier voxelmaps run in --out (its other maps are removed)")


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


#: Outputs of ``radsurv voxelmaps``: its description of the maps, and the maps.
INFO_FILE = "voxelmaps.json"
MAP_PATTERN = "voxelmap_*.nrrd"

#: The voxelmaps command's flag for each ScoreOptions field it shares (its errors speak these).
_FLAGS = {"kernel_radius": "--kernel-radius", "voxel_map_features": "--features"}


def _map_names(args) -> list:
    from ..options import OptionError, _voxel_map_features
    from ..radiomics.voxelmaps import DEFAULT_FEATURES, features_of_families
    from ..radiomics.voxelmaps.engine import FAMILIES

    if args.families:
        fams = list(FAMILIES) if args.families.strip() == "all" else [
            f.strip() for f in args.families.split(",") if f.strip()]
        try:
            return features_of_families(fams)
        except InputError as exc:
            raise InputError(f"--families: {str(exc).partition(': ')[2]}") from None
    if args.features:
        try:
            return list(_voxel_map_features(args.features))
        except OptionError as exc:
            raise InputError(f"{_FLAGS[exc.field]}: {exc.problem}") from None
    return list(DEFAULT_FEATURES)


def check_settings(args) -> list:
    """Every setting of ``radsurv voxelmaps`` checked before any file is read; returns the map names.

    Raises:
        InputError: naming the flag: kernel radius outside 1-6 voxels, bin width not a finite number
            > 0 HU, unknown map or family, ring width not > 0 mm, unknown device.
    """
    import math
    import re

    from ..options import DEVICES, OptionError, _kernel_radius

    names = _map_names(args)
    try:
        _kernel_radius(args.kernel_radius)
    except OptionError as exc:
        raise InputError(f"--kernel-radius: {exc.problem}") from None
    if not (math.isfinite(args.bin_width) and args.bin_width > 0):
        raise InputError(f"--bin-width: {args.bin_width:g} is not a bin width; give a number of HU greater than 0, "
                         "e.g. 25.")
    if args.ring is not None and not (math.isfinite(args.ring) and args.ring > 0):
        raise InputError(f"--ring: {args.ring:g} is not a ring width; give a number of mm greater than 0, e.g. 3.")
    if args.device not in DEVICES and not re.fullmatch(r"cuda:\d+", args.device):
        raise InputError(f"--device: {args.device!r} is not one of {', '.join(DEVICES)} or cuda:N.")
    return names


def check_out_folder(out, overwrite: bool):
    """Refuse an ``--out`` that would lose earlier results, before any work.

    A file, a ``radsurv score`` folder (its ``result.json`` describes its own maps: never mixed),
    or an earlier ``voxelmaps`` folder without ``--overwrite`` are refused. Returns the folders
    ``pipeline._prepare_out_dir`` created (removed again if the run fails).
    """
    from ..pipeline import RESULT_FILE, _prepare_out_dir

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out: {out} exists and is a file, not a folder; give a folder.")
    if (out / RESULT_FILE).exists():
        raise InputError(f"--out: {out} holds a radsurv score run, whose {RESULT_FILE} describes its own voxel maps; "
                         "they are kept. Write these maps into another folder.")
    earlier = sorted(p.name for p in out.glob(MAP_PATTERN)) if out.is_dir() else []
    if (earlier or (out / INFO_FILE).exists()) and not overwrite:
        raise InputError(f"--out: {out} already holds voxel maps of an earlier run ({len(earlier)} maps); they are "
                         "kept. Choose another folder, or add --overwrite to replace them.")
    return _prepare_out_dir(out, overwrite=True)[1]


def run(args) -> int:
    """Run ``radsurv voxelmaps``; returns 0. Raises InputError for bad input.

    Every setting and ``--out`` are checked before the images are read; maps are written to a
    staging folder and moved in when all are done (``voxelmaps.json`` last); with ``--overwrite``
    maps of the earlier run that this run did not make are removed, so the folder holds exactly
    the maps ``voxelmaps.json`` lists.
    """
    import json
    import os
    import shutil
    import tempfile

    import numpy as np
    import SimpleITK as sitk

    from ..io.images import read_image, read_mask, write_image
    from ..pipeline import STAGING_PREFIX, _remove_stale_staging, remove_created
    from ..preprocessing import validate_inputs
    from ..radiomics.voxelmaps import compute_voxel_maps

    names = check_settings(args)
    out = Path(args.out)
    created = check_out_folder(out, args.overwrite)
    _remove_stale_staging(out)
    staging = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{os.getpid()}-", dir=out))
    finished = False
    try:
        ct = read_image(args.ct, "ct")
        gtv = read_mask(args.gtv, "gtv")
        validate_inputs(ct, gtv, "ct", "gtv")
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
        for name, image in maps.items():
            write_image(image, staging / f"voxelmap_{name}.nrrd")
        info = {"ct": str(args.ct), "gtv": str(args.gtv), "ring_mm": args.ring, "roi_voxels": n_roi,
                "kernel_radius": args.kernel_radius, "bin_width_hu": args.bin_width,
                "masked_kernel": not args.unmasked,
                "background_value": args.background if np.isfinite(args.background) else None,
                "maps": {n: f"voxelmap_{n}.nrrd" for n in maps}, "seconds": round(seconds, 3)}
        (staging / INFO_FILE).write_text(json.dumps(info, indent=2, allow_nan=False))
        new = set(info["maps"].values())
        for stale in out.glob(MAP_PATTERN):  # only reached with --overwrite (check_out_folder)
            if stale.name not in new:
                stale.unlink()
        for name in sorted(new) + [INFO_FILE]:
            (staging / name).replace(out / name)
        finished = True
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if not finished:
            remove_created(created)
    print(f"voxel maps: {len(maps)} maps in {seconds:.1f} s ({1e6 * seconds / max(n_roi, 1):.1f} us/voxel) "
          f"written to {out}")
    return 0


#: Command name -> run function.
RUNNERS = {"voxelmaps": run}
