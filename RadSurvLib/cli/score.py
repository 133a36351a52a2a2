"""``radsurv score``: one CT + GTV through ``pipeline.score_case``."""

from __future__ import annotations

import time


def _score_parser(sub) -> None:
    p = sub.add_parser("score", help="score one CT + GTV: rings, radiomics, voxel maps, risk, Grad-CAM",
                       description="Score one case and write rings.nrrd, voxelmap_*.nrrd, heatmap.nrrd, "
                                   "features.csv, result.json and overview.png into --out.")
    p.add_argument("--ct", required=True, help="CT volume in HU (NRRD or NIfTI), or a DICOM CT series folder")
    p.add_argument("--gtv", default=None, help="GTV mask on the CT's grid (NRRD or NIfTI, non-zero = GTV)")
    p.add_argument("--rtstruct", default=None, help="DICOM RTSTRUCT with the GTV (with a DICOM --ct and --roi)")
    p.add_argument("--seg", default=None, help="DICOM SEG with the GTV (with a DICOM --ct; --roi picks the segment)")
    p.add_argument("--roi", default=None, help="name of the GTV's ROI in --rtstruct (or segment label in --seg)")
    p.add_argument("--out", required=True, help="output folder (an earlier run there is kept unless --overwrite)")
    p.add_argument("--bundle", default=None, help="model bundle folder (default: the shipped demonstration bundle)")
    p.add_argument("--rings", default="3,6,9",
                   help="peritumoral ring distances or bands in mm (default 3,6,9 = 0-3,3-6,6-9; e.g. 3-6,6-9)")
    p.add_argument("--inner-rim", type=float, default=None, metavar="MM",
                   help="also an inner rim of this width inside the GTV surface (mm)")
    p.add_argument("--exclude-air", type=float, default=None, metavar="HU",
                   help="remove ring voxels below this HU (e.g. -950)")
    p.add_argument("--lung-mask", default=None, help="lung or body mask on the CT's grid: rings are kept inside it")
    p.add_argument("--ring-convention", default="centre", choices=("centre", "surface"),
                   help="distances between voxel centres (default, fast) or to the GTV surface (exact shells)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                   help="where the models and voxel maps run (default auto: CUDA when available)")
    p.add_argument("--kernel-radius", type=int, default=1, help="voxel-map kernel radius, voxels (default 1)")
    p.add_argument("--signature", default=None,
                   help="radiomics signature bundle (radsurv signature fit) to apply to this case's features")
    p.add_argument("--scene", default=None, help="also save a 3D Slicer scene (.mrb) with all results")
    p.add_argument("--overwrite", action="store_true", help="replace the results of an earlier run in --out")


def _run_score(args) -> int:
    from ..io.dicom import resolve_score_inputs
    from ..pipeline import score_case

    start = time.perf_counter()
    args.ct, args.gtv = resolve_score_inputs(args.ct, args.gtv, args.rtstruct, args.seg, args.roi)

    def progress(stage: str, message: str) -> None:
        print(f"[{time.perf_counter() - start:7.1f} s] {stage:<10} {message}", flush=True)

    result = score_case(args.ct, args.gtv, args.out, bundle=args.bundle, rings_mm=args.rings,
                        device=args.device, overwrite=args.overwrite, progress=progress,
                        scene_path=args.scene, kernel_radius=args.kernel_radius,
                        inner_rim_mm=args.inner_rim, air_hu=args.exclude_air, lung_mask=args.lung_mask,
                        ring_convention=args.ring_convention, signature=args.signature)
    model = result["model"]
    print()
    if model["demonstration"]:
        print(f"NOTE: {model['name']} is a DEMONSTRATION model: {model['disclaimer']}")
    print(f"risk score: {result['risk_score']:.4f}  risk group: {result['risk_group']} "
          f"(cut-off {result['risk_cutoff']:.4f}, model {model['name']} {model['version']})")
    if result.get("signature"):
        sig = result["signature"]
        print(f"signature: RadScore {sig['radscore']:.4f}, risk group {sig['risk_group']}, survival "
              + ", ".join(f"{k.split('_')[1]} {v:.2f}" for k, v in sig.items() if k.startswith("survival_")))
    print(f"GTV volume: {result['gtv']['volume_mm3_input']:,.0f} mm^3 input, "
          f"{result['gtv']['volume_mm3_resampled']:,.0f} mm^3 at 1 mm")
    print("timings (s): " + ", ".join(f"{k} {v:.1f}" for k, v in result["timings_s"].items())
          + f", total {sum(result['timings_s'].values()):.1f}")
    print(f"outputs in {args.out}: " + ", ".join(
        v for k, v in result["outputs"].items() if isinstance(v, str)) + ", voxelmap_*.nrrd")
    return 0


def add_parsers(sub) -> None:
    """Add ``radsurv score``."""
    _score_parser(sub)


RUNNERS = {"score": _run_score}
