"""``radsurv batch`` (score a cohort) and ``radsurv features`` (a cohort's ROI feature table), with a
resumable results.csv, on this machine or a Dask cluster (``RadSurvLib.batch``, ``RadSurvLib.scheduler``)."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from ..batch import ON_CHANGED_CHOICES, in_process_scorer, process_cohort, worker_scorer, write_feature_table
from ..options import ScoreOptions, add_arguments


def _cohort_arguments(p) -> None:
    p.add_argument("--cases", required=True,
                   help="CSV with columns case_id, ct, gtv (or rtstruct / seg, roi); other columns (clinical) "
                        "are carried into the feature table")
    p.add_argument("--out", required=True, help="output folder (results.csv, cases/)")
    p.add_argument("--no-resume", action="store_true", help="score every case again (outputs replaced)")
    p.add_argument("--on-changed", default="rerun", choices=ON_CHANGED_CHOICES,
                   help="a finished case made with other options or another model: score it again (default) "
                        "or refuse the run")
    p.add_argument("--scheduler", default=None, metavar="local[:N]|tcp://HOST:PORT",
                   help="run one Dask task per case: a LocalCluster of N workers, or an existing Dask scheduler "
                        "(default: one case after the other in this process)")
    p.add_argument("--threads-per-case", type=int, default=1, metavar="K",
                   help="BLAS / OpenMP / torch threads per case (default 1)")
    p.add_argument("--retries", type=int, default=2,
                   help="on Dask: worker deaths (kill, out of memory) a case survives (default 2)")
    p.add_argument("--timeout-per-case", type=float, default=None, metavar="S",
                   help="on Dask: stop and fail a case still running after S seconds")
    p.add_argument("--worker-python", default=None,
                   help="score each case in a worker process of this Python (default: in the scheduler's process)")
    # The Slicer module hands its ScoreOptions over as a job file (ScoreOptions.to_job).
    p.add_argument("--options-file", default=None, help=argparse.SUPPRESS)


def add_parsers(sub) -> None:
    """Add ``radsurv batch`` and ``radsurv features`` to the ``radsurv`` command's subparsers."""
    p = sub.add_parser("batch", help="score a cohort (CSV of cases) with a resumable results.csv",
                       description="Score every case of a CSV into OUT/cases/<case_id>/, one OUT/results.csv row per "
                                   "case as it ends; a failing case is recorded and the cohort goes on; a second "
                                   "call resumes.")
    _cohort_arguments(p)
    add_arguments(p)
    f = sub.add_parser("features", help="ROI features of a cohort as one table (no model)",
                       description="Compute the rings and the ROI features of every case (no voxel maps, model or "
                                   "heatmap) and write OUT/features.csv: one row per case, the cases CSV's other "
                                   "columns, then <ring_>feature columns, ready for `radsurv signature fit "
                                   "--features OUT/features.csv --id-column case_id`.")
    _cohort_arguments(f)
    add_arguments(f)


class _ConsoleProgress:
    """A tqdm bar of cases finished, with done / failed / running counts and an ETA; shown from the
    first event on (a cohort refused before any case prints its one error line alone)."""

    def __init__(self, total_hint: int | None = None):
        self.total_hint, self._bar = total_hint, None
        self.counts = {"done": 0, "failed": 0, "skipped": 0, "running": 0}

    @property
    def bar(self):
        """The tqdm bar (made when first used)."""
        if self._bar is None:
            from tqdm import tqdm

            self._bar = tqdm(total=self.total_hint, unit="case", dynamic_ncols=True)
        return self._bar

    def __call__(self, event) -> None:
        if event.stage == "started":
            self.counts["running"] += 1
        else:
            if event.stage in ("done", "failed"):
                self.counts["running"] = max(0, self.counts["running"] - 1)
            self.counts[event.stage] += 1
            self.bar.update(1)
            if event.stage == "failed":
                self.bar.write(event.message)
        self.bar.set_postfix(self.counts, refresh=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def _options(args, features_only: bool) -> ScoreOptions:
    if args.options_file:
        options = ScoreOptions.from_job(json.loads(Path(args.options_file).read_text(encoding="utf-8")))
    else:
        options = ScoreOptions.from_args(args)
    return options.replace(features_only=True) if features_only else options


def _run(args, features_only: bool) -> int:
    from ..batch import read_cases

    options = _options(args, features_only)
    scorer = worker_scorer([args.worker_python]) if args.worker_python else in_process_scorer
    progress = _ConsoleProgress(len(read_cases(args.cases)))
    started = time.perf_counter()
    try:
        summary = process_cohort(args.cases, args.out, scorer=scorer, options=options, resume=not args.no_resume,
                                 progress=progress, scheduler=args.scheduler, threads_per_case=args.threads_per_case,
                                 retries=args.retries, timeout_per_case_s=args.timeout_per_case,
                                 on_changed=args.on_changed,
                                 on_dashboard=lambda link: progress.bar.write(f"Dask dashboard: {link}"))
    finally:
        progress.close()
    print(f"done {len(summary['done'])}, failed {len(summary['failed'])}, skipped {len(summary['skipped'])} "
          f"in {time.perf_counter() - started:.0f} s: {summary['results_csv']}")
    if features_only:
        print(f"feature table: {write_feature_table(args.out, args.cases)}")
    return 1 if summary["failed"] else 0


RUNNERS = {"batch": lambda args: _run(args, False), "features": lambda args: _run(args, True)}
