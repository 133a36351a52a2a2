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
    print()
    for line in summary_lines(result):
        print(line)
    print("timings (s): " + ", ".join(f"{k} {v:.1f}" for k, v in result["timings_s"].items())
          + f", total {sum(result['timings_s'].values()):.1f}")
    for warning in result.get("warnings") or []:
        print(f"WARNING: {warning}")
    print(f"outputs in {args.out}: " + ", ".join(
        v for k, v in result["outputs"].items() if isinstance(v, str))
          + (", voxelmap_*.nrrd" if result["outputs"].get("voxel_maps") else "")
          + (", " + ", ".join(result["outputs"]["dicom"].values()) if result["outputs"].get("dicom") else ""))
    return 0


def summary_lines(result: dict) -> list[str]:
    """The result lines of ``radsurv score``'s summary, numbers rounded to what they mean: risk
    scores to 3 decimals, survival probabilities in % (marked when from a demonstration model),
    volumes in ml (or mm^3 below 1 ml) with grouping.

    Args:
        result: ``result.json`` of the run (``pipeline.score_case``'s return).
    """
    from ..outputs.overview import format_risk, format_survival, format_volume

    lines = []
    model = result["model"]
    if model is None:
        lines.append("ROI features only (--features-only): no model was run.")
    else:
        if model["demonstration"]:
            lines.append(f"NOTE: {model['name']} is a DEMONSTRATION model: {model['disclaimer']}")
        lines.append(f"risk score: {format_risk(result['risk_score'])}  risk group: {result['risk_group']} "
                     f"(cut-off {format_risk(result['risk_cutoff'])}, model {model['name']} {model['version']})")
        survival = _survival_line(result)
        if survival:
            lines.append(survival)
    if result.get("signature"):
        sig = result["signature"]
        survival = [f"{k.split('_')[1]} {100 * v:.0f} %" for k, v in sig.items()
                    if k.startswith("survival_") and v is not None]
        lines.append(f"signature: RadScore {format_risk(sig['radscore'])}, risk group {sig['risk_group']}"
                     + (", survival " + ", ".join(survival) if survival else ""))
    gtv = result["gtv"]
    lines.append(f"GTV volume: {format_volume(gtv['volume_mm3_input'])} as delineated, "
                 f"{format_volume(gtv['volume_mm3_resampled'])} at 1 mm (analysed)")
    for ring in result.get("rings") or []:
        if isinstance(ring, dict) and "volume_mm3" in ring:
            lines.append(f"  {ring.get('name', 'ring')}: {format_volume(ring['volume_mm3'])} analysed (1 mm grid)"
                         + (f", {format_volume(ring['volume_mm3_ct_grid'])} on the CT grid"
                            if ring.get("volume_mm3_ct_grid") is not None else ""))
    return lines


def _survival_line(result: dict) -> str:
    """The summary's survival line: S(t) at 1, 2 and 3 years in % with its source, or why there is
    none (``result["survival"]``, the model bundle's note); "" for a result without either."""
    from ..outputs.overview import format_survival

    note = result.get("survival") or {}
    shown = format_survival(result)
    if not shown:
        return f"survival probabilities: none ({note['reason']})" if note.get("reason") else ""
    source = ("DEMONSTRATION " if note.get("demonstration") else "") + str(note.get("source") or "the model bundle")
    estimator = str(note.get("estimator") or "").capitalize()
    return f"{shown}; from {source}" + (f", {estimator} baseline of its training data" if estimator else "")


def add_parsers(sub) -> None:
    """Add ``radsurv score``."""
    _score_parser(sub)


RUNNERS = {"score": _run_score}
