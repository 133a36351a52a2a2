"""``radsurv voxelmaps``: voxel radiomics maps of a CT + GTV (optionally plus a peritumoral ring).

    radsurv voxelmaps --ct CT --gtv GTV --out DIR [--features a,b | --families firstorder,glcm]
                      [--kernel-radius 1] [--bin-width 25] [--unmasked] [--device auto]
                      [--ring MM] [--background 0] [--overwrite]

Writes ``DIR/voxelmap_<family>_<Feature>.nrrd`` (float32, the CT's size, spacing, origin and
direction; ``--background`` (default 0) outside the ROI; NaN where PyRadiomics is NaN) and
``DIR/voxelmaps.json`` (settings, ROI voxel count, map names, timing), through
``pipeline.map_case``: the validate stage and the output folder handling of ``radsurv score``. The
maps, kernel radius, device and ``--overwrite`` are ``ScoreOptions`` fields, checked there; settings
and ``--out`` are checked before any work; an earlier run in ``DIR`` is kept unless ``--overwrite``
(a ``radsurv score`` folder is never written into).
"""

from __future__ import annotations

from ..errors import InputError


def add_parsers(sub) -> None:
    """Add the ``voxelmaps`` command to ``sub``."""
    from ..models.inputs import VOXEL_MAP_BIN_WIDTH_HU
    from ..options import ScoreOptions
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
    p.add_argument("--kernel-radius", default=ScoreOptions().kernel_radius,
                   help="kernel radius, voxels (default %(default)s = 3x3x3)")
    p.add_argument("--bin-width", type=float, default=VOXEL_MAP_BIN_WIDTH_HU,
                   help="gray-level bin width, HU (default %(default)g)")
    p.add_argument("--unmasked", action="store_true",
                   help="unmasked kernel: every image voxel in the kernel counts (PyRadiomics maskedKernel=False)")
    p.add_argument("--device", default=ScoreOptions().device, help="auto (CUDA when available), cpu, cuda, cuda:N")
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


#: ``radsurv voxelmaps`` names the ``voxel_map_features`` option ``--features`` (``radsurv score``: ``--voxel-maps``).
FEATURES_FLAG = "--features"


def _map_names(args):
    """The maps asked for: ``--families`` expanded to their names, else ``--features`` (None: the default maps)."""
    from ..radiomics.voxelmaps import FAMILIES, features_of_families

    if args.families:
        fams = list(FAMILIES) if args.families.strip() == "all" else [
            f.strip() for f in args.families.split(",") if f.strip()]
        try:
            return features_of_families(fams)
        except InputError as exc:
            raise InputError(f"--families: {str(exc).partition(': ')[2]}") from None
    return args.features


def options_from_args(args):
    """The ``ScoreOptions`` of a ``radsurv voxelmaps`` run (maps, kernel radius, device, overwrite),
    checked there like every ``radsurv score`` option, before any file is read.

    Raises:
        InputError / OptionError: naming the flag (``--features`` for the maps).
    """
    from ..errors import OptionError, render
    from ..options import ScoreOptions

    try:
        return ScoreOptions(voxel_map_features=_map_names(args), kernel_radius=args.kernel_radius,
                            device=args.device, overwrite=args.overwrite)
    except OptionError as exc:
        if exc.field != "voxel_map_features":
            raise
        raise InputError(f"{FEATURES_FLAG}: {render(exc.field, exc.problem, 'cli').partition(': ')[2]}") from None


def run(args) -> int:
    """Run ``radsurv voxelmaps`` through ``pipeline.map_case``; returns 0. Raises InputError for bad input.

    Every setting and ``--out`` are checked before the images are read; maps are written to a
    staging folder and moved in when all are done (``voxelmaps.json`` last); with ``--overwrite``
    maps of the earlier run that this run did not make are removed, so the folder holds exactly
    the maps ``voxelmaps.json`` lists.
    """
    from ..pipeline import map_case

    options = options_from_args(args)

    def progress(event) -> None:
        if not event.done and event.stage == "voxel_maps":
            print(f"voxel maps: {event.message}", flush=True)

    info = map_case(args.ct, args.gtv, args.out, options, bin_width=args.bin_width, ring_mm=args.ring,
                    masked=not args.unmasked, background=args.background, progress=progress,
                    map_progress=_progress_printer(args.quiet))
    for warning in info.get("warnings") or []:
        print(f"WARNING: {warning}")
    seconds = info["seconds"]
    print(f"voxel maps: {len(info['maps'])} maps in {seconds:.1f} s "
          f"({1e6 * seconds / max(info['roi_voxels'], 1):.1f} us/voxel) written to {args.out}")
    return 0


#: Command name -> run function.
RUNNERS = {"voxelmaps": run}
