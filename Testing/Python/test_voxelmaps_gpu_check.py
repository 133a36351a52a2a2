"""``Testing/Benchmarks/gpu_check.sh`` (every CUDA path against the CPU): runs, in CPU-only mode, on a
machine without a GPU; skips cleanly without CUDA."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "Testing" / "Benchmarks" / "gpu_check.sh"
CHECKS = ("voxelmaps_r1", "voxelmaps_r2", "model_SEResNet3D", "model_VisionMamba3D",
          "model_DeepRadScore2D", "mamba_ssm_scan", "roi_engine")


def _run(*args):
    env = {"PYTHON": sys.executable, "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, env=env,
                          timeout=300)


def test_cpu_only_mode_runs_every_cpu_half():
    done = _run("--cpu-only")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    for check in CHECKS:
        line = next((ln for ln in lines if ln.startswith(f"check={check} ")), None)
        assert line is not None, (check, done.stdout)
        if check not in ("mamba_ssm_scan", "roi_engine"):  # these have no CPU half to run alone
            assert "status=cpu-only" in line and float(re.search(r"cpu_s=([0-9.]+)", line)[1]) > 0, line
    assert re.fullmatch(r"gpu_check: 0 ok, 0 failed, 2 skipped, 5 cpu-only", lines[-1]), lines[-1]


def test_without_cuda_every_check_is_skipped():
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present: the GPU mode would run the checks")
    done = _run()
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("status=skipped (no CUDA device)") == 5
    assert done.stdout.splitlines()[-1] == "gpu_check: 0 ok, 0 failed, 5 skipped"
