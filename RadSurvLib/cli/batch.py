"""``radsurv batch``: score a cohort with a resumable results.csv (``RadSurvLib.batch``)."""

from __future__ import annotations

from ..batch import in_process_scorer, process_cohort, worker_scorer


def add_parsers(sub) -> None:
    """Add ``radsurv batch`` to the ``radsurv`` command's subparsers."""
    p = sub.add_parser("batch", help="score a cohort (CSV of cases) with a resumable results.csv",
                       description="Score every case of a CSV (case_id, ct, gtv | rtstruct/seg + roi) into "
                                   "OUT/cases/<case_id>/, one OUT/results.csv row per case as it ends; a failing "
                                   "case is recorded and the cohort goes on; a second call resumes.")
    p.add_argument("--cases", required=True, help="CSV with columns case_id, ct, gtv (or rtstruct / seg, roi)")
    p.add_argument("--out", required=True, help="output folder (results.csv, cases/)")
    p.add_argument("--bundle", default=None, help="model bundle folder (default: the demonstration bundle)")
    p.add_argument("--rings", default="3,6,9", help="ring distances or bands in mm (default 3,6,9)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--params-file", default=None, help="PyRadiomics YAML (default: Liu et al. 2025)")
    p.add_argument("--signature", default=None, help="radiomics signature bundle applied to each case")
    p.add_argument("--no-resume", action="store_true", help="score every case again (outputs replaced)")
    p.add_argument("--worker-python", default=None,
                   help="score each case in a worker process of this Python (default: in this process)")


def _run_batch(args) -> int:
    options = {"rings_mm": args.rings, "device": args.device, "bundle": args.bundle,
               "params_file": args.params_file, "signature": args.signature}
    scorer = worker_scorer([args.worker_python]) if args.worker_python else in_process_scorer

    def progress(index, total, case_id, status):
        """Print one line per case event."""
        print(f"[{index + 1}/{total}] {case_id}: {status}", flush=True)

    summary = process_cohort(args.cases, args.out, scorer=scorer, options=options, resume=not args.no_resume,
                             progress=progress)
    print(f"done {len(summary['done'])}, failed {len(summary['failed'])}, skipped {len(summary['skipped'])}: "
          f"{summary['results_csv']}")
    return 1 if summary["failed"] else 0


RUNNERS = {"batch": _run_batch}
