"""``radsurv score``: one CT + GTV through ``pipeline.score_case`` (and the scene, with ``--scene``)."""

from __future__ import annotations

import time

from ..options import ScoreOptions, add_arguments


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
    add_arguments(p)


def _run_score(args) -> int:
    from ..io.dicom import resolve_score_inputs
    from ..worker.job import score_with_scene

    start = time.perf_counter()
    options = ScoreOptions.from_args(args)
    ct, gtv = resolve_score_inputs(args.ct, args.gtv, args.rtstruct, args.seg, args.roi)

    def progress(event) -> None:
        print(f"[{time.perf_counter() - start:7.1f} s] {event.stage:<10} {event.message}", flush=True)

    result = score_with_scene(ct, gtv, args.out, options, progress=progress)
    model = result["model"]
    print()
    if model is None:
        print("ROI features only (--features-only): no model was run.")
    else:
        if model["demonstration"]:
            print(f"NOTE: {model['name']} is a DEMONSTRATION model: {model['disclaimer']}")
        print(f"risk score: {result['risk_score']:.4f}  risk group: {result['risk_group']} "
              f"(cut-off {result['risk_cutoff']:.4f}, model {model['name']} {model['version']})")
        print(_survival_line(result))
    if result.get("signature"):
        sig = result["signature"]
        print(f"signature: RadScore {sig['radscore']:.4f}, risk group {sig['risk_group']}, survival "
              + ", ".join(f"{k.split('_')[1]} {v:.2f}" for k, v in sig.items() if k.startswith("survival_")))
    print(f"GTV volume: {result['gtv']['volume_mm3_input']:,.0f} mm^3 input, "
          f"{result['gtv']['volume_mm3_resampled']:,.0f} mm^3 at 1 mm")
    print("timings (s): " + ", ".join(f"{k} {v:.1f}" for k, v in result["timings_s"].items())
          + f", total {sum(result['timings_s'].values()):.1f}")
    for warning in result.get("warnings") or []:
        print(f"WARNING: {warning}")
    print(f"outputs in {args.out}: " + ", ".join(
        v for k, v in result["outputs"].items() if isinstance(v, str))
          + (", voxelmap_*.nrrd" if result["outputs"].get("voxel_maps") else "")
          + (", " + ", ".join(result["outputs"]["dicom"].values()) if result["outputs"].get("dicom") else ""))
    return 0


def _survival_line(result: dict) -> str:
    """The summary's survival line: S(t) at 1, 2, 3 years with its source, or why there is none."""
    note = result.get("survival") or {}
    values = {k: result.get(k) for k in ("survival_1y", "survival_2y", "survival_3y")}
    if not note.get("available"):
        return f"survival probabilities: none ({note.get('reason', 'the model gave none')})"
    shown = ", ".join(f"{k.split('_')[1][:-1]} y {'n/a' if v is None else f'{v:.2f}'}" for k, v in values.items())
    source = ("DEMONSTRATION " if note.get("demonstration") else "") + str(note.get("source", ""))
    return (f"survival probability: {shown} ({source}, {note.get('estimator', '').capitalize()} baseline of its "
            "training data)" + (f"; {note['reason']}" if note.get("reason") else ""))


def add_parsers(sub) -> None:
    """Add ``radsurv score``."""
    _score_parser(sub)


RUNNERS = {"score": _run_score}
