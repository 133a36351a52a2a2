"""Benchmark: peak resident memory of the README's command, end to end, on lung1_001 and PAT1.

Runs ``radsurv score`` (default options: Liu et al. 2025 features, 18 voxel maps, the demonstration
model) under ``/usr/bin/time -v`` on lung1_001 (512 x 512 x 134 DICOM CT + RTSTRUCT, from
``../shared/data``) and on the bundled PAT1, and prints each run's peak resident set size beside the
issue's budget (lung1_001 1.5 GiB, PAT1 1 GiB), its wall time and the load average::

    .venv/bin/python Testing/Benchmarks/bench_memory.py [--data ../shared/data]

Last line: ``lung1_001_peak_gib=<g> pat1_peak_gib=<g> load_avg=<l>``.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BUDGET_GIB = {"lung1_001": 1.5, "PAT1": 1.0}


def peak_run(args: list) -> tuple[float, float]:
    """(peak resident memory in GiB, wall time in s) of ``radsurv score ARGS`` under /usr/bin/time -v."""
    radsurv = Path(sys.executable).with_name("radsurv")
    with tempfile.TemporaryDirectory() as out:
        proc = subprocess.run(["/usr/bin/time", "-v", str(radsurv), "score", *args, "--out", out + "/run"],
                              capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"radsurv score failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    kib = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr).group(1))
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", proc.stderr).group(1)
    seconds = sum(float(p) * 60 ** i for i, p in enumerate(reversed(wall.split(":"))))
    return kib / 2 ** 20, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data"), help="the shared data folder")
    data = Path(parser.parse_args().data)
    lung1 = data / "lung1_001"
    pat1 = REPO / "RadSurvLib" / "resources" / "PAT1"
    cases = {"lung1_001": ["--ct", str(lung1 / "image"), "--rtstruct", str(lung1 / "rtstruct" / "RS.dcm"),
                           "--roi", "GTV-1"],
             "PAT1": ["--ct", str(pat1 / "image.nii.gz"), "--gtv", str(pat1 / "mask.nii.gz")]}
    peaks = {}
    for name, args in cases.items():
        load = os.getloadavg()[0]
        peaks[name], seconds = peak_run(args)
        print(f"{name}: peak resident {peaks[name]:.2f} GiB (budget {BUDGET_GIB[name]:g} GiB, "
              f"{'within' if peaks[name] <= BUDGET_GIB[name] else 'OVER'}), {seconds:.1f} s, load {load:.2f}")
    print(f"lung1_001_peak_gib={peaks['lung1_001']:.3f} pat1_peak_gib={peaks['PAT1']:.3f} "
          f"load_avg={os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
