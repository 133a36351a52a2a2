"""RadSurv's environment created, checked, used and repaired from a faithful copy of Slicer's Python.

Slicer 5.10's Linux install (its ``CMake/SlicerBlockInstallPython.cmake`` and the SuperBuild's
launcher settings), rebuilt from this machine's pyenv CPython 3.11.7 (a shared build, like
Slicer's; Slicer 5.10 has 3.12, the mechanics are the same):

- ``bin/python-real`` (the interpreter), no ``bin/python``;
- the standard library in ``lib/Python/lib/python3.11`` (with pip in its site-packages),
  ``libpython3.11.so*`` in ``lib/Python/lib``, of the headers only ``pyconfig.h``;
- ``bin/PythonSlicer``, a launcher that exports ``PYTHONHOME``, ``PYTHONPATH`` (the standard
  library, lib-dynload, site-packages, ``bin/Python`` and the scripted-modules folder that holds
  RadSurvLib, as an installed extension), ``LD_LIBRARY_PATH``, ``PATH``, ``PYTHONNOUSERSITE``
  and runs ``python-real``.

Every command runs under ``unshare -m`` with the interpreter's compiled-in prefix (the pyenv
folder) hidden by an empty tmpfs, so that, as on a user's machine, the interpreter finds nothing
where it was built. The first test shows that the layout reproduces the reported failure
(``PythonSlicer -m venv`` dies at ensurepip).

One environment is created for the module (minutes): by ``PythonSlicer -m RadSurvLib environment
create``, uv installed by the code itself into the tools folder with Slicer's pip, torch from this
machine's local CPU wheel (``--find-links``), everything else from the package index with building
forbidden (``uv pip install --no-build``) and no wheel made beforehand, as a user without a C
compiler (Slicer ships no ``Python.h``). The worker then scores PAT1 with RadSurv's own radiomics
engine. Marks: venv, slow.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from RadSurvLib.worker import environment as renv

pytestmark = [pytest.mark.venv, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
PYENV = Path("/root/.pyenv/versions/3.11.7")
VERSION = "3.11"
LOCAL_WHEELS = Path("/opt/wheels")  # this machine's torch 2.13.0 CPU wheel for Python 3.11
FIRST_ORDER = REPO / "Testing" / "Parameters" / "FirstOrder_PyRadiomics.yaml"
LIGHT = {"rings_mm": "0-3", "params_file": str(FIRST_ORDER), "voxel_map_features": ["firstorder_Mean"],
         "device": "cpu"}

LAUNCHER = """#!/bin/sh
# PythonSlicer: what Slicer's launcher (CTKAppLauncher + PythonSlicerLauncherSettings.ini) sets.
S="$(cd "$(dirname "$0")/.." && pwd)"
export PYTHONHOME="$S/lib/Python"
export PYTHONPATH="$S/lib/Python/lib/python{v}:$S/lib/Python/lib/python{v}/lib-dynload:\
$S/lib/Python/lib/python{v}/site-packages:$S/bin/Python:$S/lib/Slicer-5.10/qt-scripted-modules"
export LD_LIBRARY_PATH="$S/bin:$S/lib/Python/lib"
export PATH="$S/bin:$PATH"
export PYTHONNOUSERSITE=1
exec "$S/bin/python-real" "$@"
"""


def _requirements_met() -> str | None:
    if sys.platform != "linux" or os.geteuid() != 0 or not shutil.which("unshare"):
        return "needs Linux, root and unshare (to hide the interpreter's build prefix)"
    if not (PYENV / "bin" / f"python{VERSION}").is_file() or not (PYENV / "lib" / f"libpython{VERSION}.so.1.0").exists():
        return f"needs pyenv's shared CPython at {PYENV}"
    if not list(LOCAL_WHEELS.glob("torch-2.13.0*cp311*.whl")):
        return f"needs the local torch 2.13.0 CPU wheel in {LOCAL_WHEELS}"
    return None


if _requirements_met():
    pytest.skip(_requirements_met(), allow_module_level=True)


def build_slicer_layout(root: Path) -> Path:
    """Slicer 5.10's Linux Python layout under ``root/Slicer`` (see the module docstring)."""
    slicer = root / "Slicer"
    stdlib = slicer / "lib" / "Python" / "lib" / f"python{VERSION}"
    (slicer / "bin" / "Python").mkdir(parents=True)
    shutil.copy2(PYENV / "bin" / f"python{VERSION}", slicer / "bin" / "python-real")
    stdlib.parent.mkdir(parents=True)
    for library in (PYENV / "lib").glob("libpython3*.so*"):
        shutil.copy2(library, stdlib.parent / library.name, follow_symlinks=False)
    skip = {"site-packages", "test", "idlelib", "tkinter", "turtledemo", "__pycache__"}
    shutil.copytree(PYENV / "lib" / f"python{VERSION}", stdlib, symlinks=True,
                    ignore=lambda folder, names: [n for n in names if n in skip])
    for name in ("pip", "pip-23.2.1.dist-info"):  # Slicer ships pip
        shutil.copytree(PYENV / "lib" / f"python{VERSION}" / "site-packages" / name, stdlib / "site-packages" / name)
    include = slicer / "lib" / "Python" / "include" / f"python{VERSION}"
    include.mkdir(parents=True)
    shutil.copy2(PYENV / "include" / f"python{VERSION}" / "pyconfig.h", include)  # Slicer installs only this header
    modules = slicer / "lib" / "Slicer-5.10" / "qt-scripted-modules"
    modules.mkdir(parents=True)
    (modules / "RadSurvLib").symlink_to(REPO / "RadSurvLib", target_is_directory=True)
    launcher = slicer / "bin" / "PythonSlicer"
    launcher.write_text(LAUNCHER.format(v=VERSION), encoding="utf-8")
    launcher.chmod(0o755)
    return slicer


def clean_environ(**extra) -> dict:
    """This test process's variables without its own Python's (the venv running pytest)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTHON", "VIRTUAL_ENV", "RADSURV_", "UV_")) and k != "LD_LIBRARY_PATH"}
    env["PATH"] = ":".join(p for p in env.get("PATH", "").split(":") if not p.startswith(str(REPO / ".venv")))
    env.update(extra)
    return env


def hidden_prefix_run(command, timeout=1800, **extra):
    """Run ``command`` with the interpreter's build prefix hidden (``unshare -m`` + tmpfs)."""
    script = f'mount -t tmpfs none "{PYENV}" && exec "$@"'
    return subprocess.run(["unshare", "-m", "sh", "-c", script, "sh", *map(str, command)], capture_output=True,
                          text=True, env=clean_environ(**extra), cwd="/tmp", timeout=timeout)


@pytest.fixture(scope="module")
def slicer(tmp_path_factory):
    return build_slicer_layout(tmp_path_factory.mktemp("slicer-install"))


def python_slicer(slicer, *args, **kwargs):
    return hidden_prefix_run([slicer / "bin" / "PythonSlicer", *args], **kwargs)


@pytest.fixture(scope="module")
def created(slicer, tmp_path_factory):
    """The environment, created from PythonSlicer by ``python -m RadSurvLib environment create``."""
    location = tmp_path_factory.mktemp("data") / "RadSurv" / "python-env"
    done = python_slicer(slicer, "-m", "RadSurvLib", "environment", "create", "--location", location,
                         "--torch-backend", "none", "--find-links", LOCAL_WHEELS)
    return location, done


def test_layout_reproduces_the_reported_failure(slicer, tmp_path):
    """As in Slicer: PythonSlicer runs, python-real alone does not, ``-m venv`` dies at ensurepip."""
    done = python_slicer(slicer, "-c", "import sys, ssl; print(sys.prefix)")
    assert done.returncode == 0 and done.stdout.strip() == str(slicer / "lib" / "Python"), done.stderr
    alone = hidden_prefix_run([slicer / "bin" / "python-real", "-c", "pass"],
                              LD_LIBRARY_PATH=str(slicer / "lib" / "Python" / "lib"))
    assert alone.returncode != 0 and "encodings" in alone.stderr
    venv = python_slicer(slicer, "-m", "venv", tmp_path / "venv")
    assert venv.returncode != 0 and "ensurepip" in venv.stderr


def test_environment_created_from_python_slicer_is_ready(created, slicer):
    location, done = created
    assert done.returncode == 0, done.stdout + done.stderr + _log(location)
    assert f"location: {location}" in done.stdout and "state: ready" in done.stdout
    info = json.loads((location / renv.MARKER_FILE).read_text())
    assert info["base_executable"] == str(slicer / "bin" / "python-real")
    assert info["library_dirs"] == [str(slicer / "lib" / "Python" / "lib")]
    assert info["torch"].startswith("2.13.0") and info["requirements"] == list(renv.PINNED_REQUIREMENTS)
    assert (location.parent / "tools" / "bin" / "uv").is_file()  # uv installed by the code, with Slicer's pip
    # Slicer's own Python is untouched: nothing new in its site-packages
    site = slicer / "lib" / "Python" / "lib" / f"python{VERSION}" / "site-packages"
    assert sorted(p.name for p in site.iterdir()) == ["pip", "pip-23.2.1.dist-info"]
    # wheels only, and no PyRadiomics: RadSurv's own engine and its packages
    assert "pip install --python" in (log := Path(str(location) + "-install.log").read_text()) and "--no-build" in log
    packages = location / "lib" / f"python{VERSION}" / "site-packages"
    assert not (packages / "radiomics").exists() and all((packages / m).is_dir() for m in ("numba", "pywt", "skimage"))
    status = python_slicer(slicer, "-m", "RadSurvLib", "environment", "status", "--location", location)
    assert status.returncode == 0 and "state: ready" in status.stdout, status.stdout + status.stderr
    assert "2.13.0+cpu" in status.stdout


def _log(location) -> str:
    log = Path(str(location) + "-install.log")
    return log.read_text()[-6000:] if log.is_file() else ""


def test_worker_scores_pat1_with_the_same_risk_as_radsurv_score(created, slicer, tmp_path):
    location, done = created
    assert done.returncode == 0, done.stdout + _log(location)
    from RadSurvLib.resources import pat1_path

    ct, gtv = pat1_path("image.nii.gz"), pat1_path("mask.nii.gz")
    # from Slicer's Python: the module's code path (WorkerJob in the environment, deliberate environ)
    script = textwrap.dedent(f"""
        import json, sys
        from RadSurvLib.options import ScoreOptions
        from RadSurvLib.worker import protocol
        from RadSurvLib.worker.client import WorkerJob
        from RadSurvLib.worker.environment import PythonEnvironment
        env = PythonEnvironment({str(location)!r})
        options = ScoreOptions(**{LIGHT!r})
        job = WorkerJob(protocol.make_job(options, {str(ct)!r}, {str(tmp_path / 'worker')!r}, gtv={str(gtv)!r}),
                        [env.python], {str(tmp_path / 'job')!r}, env=env.environ())
        job.start()
        state = job.wait(timeout_s=1500)
        print(json.dumps({{"state": state, "result": job.result,
                          "error": str(job.error) if job.error else None,
                          "log": getattr(job.error, "log", "")}}))
    """)
    run = python_slicer(slicer, "-c", script)
    assert run.returncode == 0, run.stderr[-4000:]
    outcome = json.loads(run.stdout.strip().splitlines()[-1])
    assert outcome["state"] == "succeeded", (outcome["error"], outcome["log"][-4000:])
    # the command line, in this test's own Python
    cli = subprocess.run([sys.executable, "-m", "RadSurvLib", "score", "--ct", str(ct), "--gtv", str(gtv), "--out",
                          str(tmp_path / "cli"), "--rings", "3", "--params-file", str(FIRST_ORDER),
                          "--voxel-maps", "firstorder_Mean", "--device", "cpu"],
                         capture_output=True, text=True, cwd=str(REPO), timeout=1500)
    assert cli.returncode == 0, cli.stderr[-3000:]
    reference = json.loads((tmp_path / "cli" / "result.json").read_text())
    worker = json.loads((tmp_path / "worker" / "result.json").read_text())
    assert worker["features"]["engine"] == reference["features"]["engine"] == "radsurv"
    assert worker["risk_score"] == pytest.approx(reference["risk_score"], abs=1e-6)
    assert outcome["result"]["risk_score"] == pytest.approx(reference["risk_score"], abs=1e-6)


def test_status_finds_a_deleted_package_and_repair_fixes_it(created, slicer):
    location, done = created
    assert done.returncode == 0, done.stdout + _log(location)
    site = location / "lib" / f"python{VERSION}" / "site-packages"
    shutil.rmtree(site / "safetensors")
    broken = python_slicer(slicer, "-m", "RadSurvLib", "environment", "status", "--location", location)
    assert broken.returncode == 1 and "state: broken" in broken.stdout and "safetensors" in broken.stdout
    repaired = python_slicer(slicer, "-m", "RadSurvLib", "environment", "repair", "--location", location,
                             "--torch-backend", "none", "--find-links", LOCAL_WHEELS)
    assert repaired.returncode == 0 and "state: ready" in repaired.stdout, repaired.stdout + _log(location)
    assert (site / "safetensors" / "__init__.py").is_file()
