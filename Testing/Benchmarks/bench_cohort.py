"""Scaling of batch scoring on Dask: cases per minute with 1 and 2 workers, the scheduler's overhead
per task, and memory per worker over a long run.

    python Testing/Benchmarks/bench_cohort.py [--cases 8] [--long-run 30] [--noop-tasks 10000]

Cases are synthetic (``radsurv synth-cohort`` on PAT1's CT) scored with a light job (rings 3,6,9,
the quick PyRadiomics setting, one voxel map), so that the figures show the scheduling, not
PyRadiomics. Prints the load average beside each figure: take them on a quiet machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))


def load() -> str:
    return "load average %.2f %.2f %.2f" % os.getloadavg()


def _noop(i):
    return i


def scheduler_overhead(n_tasks: int) -> float:
    """Seconds per no-op task on a 2-worker LocalCluster (submit + run + gather)."""
    from distributed import wait

    from RadSurvLib.scheduler import SchedulerSpec, dask_client

    with dask_client(SchedulerSpec("local", 2)) as client:
        client.submit(_noop, -1).result()  # warm up
        start = time.perf_counter()
        futures = client.map(_noop, range(n_tasks), pure=False)
        wait(futures)
        client.gather(futures)
        return (time.perf_counter() - start) / n_tasks


def synthetic_cases(folder: Path, n: int) -> Path:
    """A cases CSV of ``n`` synthetic cases (synth-cohort's manifest: case_id, ct, gtv, time_days, ...)."""
    from RadSurvLib.training.synthetic_cohort import write_cohort

    return Path(write_cohort(folder, n_cases=n, seed=7)["manifest"])


def light_options():
    from RadSurvLib.options import ScoreOptions

    return ScoreOptions(rings_mm="3,6,9", radiomics="quick", voxel_map_features=("firstorder_Mean",), device="cpu")


def run(cases_csv: Path, out: Path, scheduler):
    from RadSurvLib.batch import process_cohort

    start = time.perf_counter()
    summary = process_cohort(cases_csv, out, options=light_options(), scheduler=scheduler, threads_per_case=1)
    return time.perf_counter() - start, summary


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=8, help="cases per throughput run (default 8)")
    parser.add_argument("--long-run", type=int, default=30, help="cases of the memory run (default 30)")
    parser.add_argument("--noop-tasks", type=int, default=10000, help="no-op tasks for the overhead (default 10000)")
    args = parser.parse_args(argv)

    per_task = scheduler_overhead(args.noop_tasks)
    print(f"scheduler overhead: {per_task * 1e3:.2f} ms per task over {args.noop_tasks} no-op tasks ({load()})")

    with tempfile.TemporaryDirectory(prefix="radsurv-bench-cohort-") as tmp:
        tmp = Path(tmp)
        cases_csv = synthetic_cases(tmp / "synth", max(args.cases, args.long_run))
        lines = cases_csv.read_text().splitlines()
        small = cases_csv.parent / "small.csv"  # beside the manifest: its paths are relative
        small.write_text("\n".join(lines[: args.cases + 1]) + "\n")
        rates = {}
        for workers in (1, 2):
            seconds, summary = run(small, tmp / f"out{workers}", f"local:{workers}")
            if summary["failed"]:
                raise SystemExit(f"cases failed: {summary['rows'][summary['failed'][0]]['error']}")
            rates[workers] = len(summary["done"]) / seconds * 60
            print(f"{workers} worker(s): {len(summary['done'])} cases in {seconds:.1f} s = "
                  f"{rates[workers]:.2f} cases/min ({load()})")
        long_csv = cases_csv.parent / "long.csv"
        long_csv.write_text("\n".join(lines[: args.long_run + 1]) + "\n")
        _, summary = run(long_csv, tmp / "long", "local:2")
        peaks = summary.get("peak_rss_mb", {})
        order = [c for c in summary["done"] if c in peaks]
        if order:
            print(f"memory per worker over {len(order)} cases: first case peak {peaks[order[0]]:.0f} MiB, "
                  f"last case peak {peaks[order[-1]]:.0f} MiB ({load()})")
        print(f"speedup_2_workers={rates[2] / rates[1]:.2f} overhead_ms_per_task={per_task * 1e3:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
