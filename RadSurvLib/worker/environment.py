"""RadSurv's own Python environment (the "bundled environment") for the heavy dependencies.

3D Slicer's Python must not receive torch, PyRadiomics or MONAI (large, version clashes with other
extensions, CUDA builds). RadSurv keeps them in a separate virtual environment under the user's
Slicer settings folder and runs the pipeline there as a worker process (``RadSurvLib.worker.server``).
This module manages that environment; it imports no Qt and no Slicer, so the Slicer module, the
console and the tests drive it alike.

- Location: ``<folder of Slicer's revision-specific settings file>/RadSurv/python-env`` inside
  Slicer (``default_location``), ``$RADSURV_ENV`` or ``~/.config/RadSurv/python-env`` elsewhere.
- ``PythonEnvironment.status()``: ``ready``, ``needs install`` (never created, unfinished, or made
  for other pinned versions) or ``broken`` (the interpreter is gone or a package does not import),
  each with a reason.
- ``PythonEnvironment.create()``: ``python -m venv`` with the base interpreter (Slicer's own
  ``PythonSlicer`` in Slicer), then ``pip install`` of the torch build chosen for the GPU driver
  (``choose_torch_build``: ``nvidia-smi``'s driver version -> the newest CUDA wheel index that driver
  runs, else the CPU index) and of the pinned requirements (``PINNED_REQUIREMENTS``). Built in a
  ``.partial`` sibling folder and renamed at the end, so an interrupted install never looks ready.
- ``PythonEnvironment.repair()``: delete and create again.

RadSurvLib itself is not installed into the environment: the worker runs the extension's own copy
(``PYTHONPATH`` = the folder that holds ``RadSurvLib``), so module and worker code never drift.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .. import __version__
from ..errors import InputError, RadSurvError

#: Status values of :meth:`PythonEnvironment.status`.
READY, NEEDS_INSTALL, BROKEN = "ready", "needs install", "broken"

#: torch version installed into the environment (CPU and CUDA builds share the version number).
TORCH_VERSION = "2.13.0"

#: Every runtime dependency of RadSurvLib (``pyproject.toml`` ``dependencies``) but torch, pinned
#: to the versions the test suite ran with. ``Testing/Python/test_environment.py`` fails when a
#: dependency of ``pyproject.toml`` is missing here.
PINNED_REQUIREMENTS = (
    "numpy==2.4.6",
    "SimpleITK==2.5.7",
    "pyradiomics-bhklab==3.1.4",
    "monai==1.6.1",
    "safetensors==0.8.0",
    "matplotlib==3.11.2",
    "PyYAML==6.0.3",
    "pydicom==3.0.2",
    "highdicom==0.28.2",
    "pandas==2.3.3",
    "scipy==1.17.1",
    "lifelines==0.30.3",
    "threadpoolctl==3.8.0",
    "scikit-learn==1.9.1",
    "mambapy==1.2.0",
    "tqdm==4.70.1",
)

#: Modules whose import proves the environment works (checked by ``status(check_imports=True)``).
CHECK_IMPORTS = ("torch", "radiomics", "SimpleITK", "monai", "safetensors", "numpy", "yaml", "pydicom")

#: PyTorch wheel indexes and the minimum NVIDIA Linux/Windows driver each CUDA build runs on
#: (CUDA toolkit release notes, "CUDA Toolkit and Corresponding Driver Versions", full
#: compatibility). Newest first; the first one the driver satisfies is chosen.
PYTORCH_INDEX = "https://download.pytorch.org/whl/"
CUDA_BUILDS = (
    ("cu130", (580, 65, 6)),
    ("cu128", (570, 26, 0)),
    ("cu126", (560, 28, 3)),
)

#: File written last by ``create``: what was installed; its absence means "not finished".
MARKER_FILE = "radsurv-environment.json"

#: ``RADSURV_TORCH_INDEX_URL`` overrides the chosen torch index; the value ``pip`` means "no
#: index option": pip's own configuration decides (a local mirror or wheel folder, for example).
TORCH_INDEX_ENV = "RADSURV_TORCH_INDEX_URL"

#: Variables of Slicer's launcher that must not leak into the environment's interpreter (they
#: would put Slicer's own site-packages before the environment's).
_LEAKY_VARIABLES = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE", "PYTHONNOUSERSITE",
                    "VIRTUAL_ENV", "PYTHONEXECUTABLE")


@dataclass
class TorchBuild:
    """The torch build to install: ``name`` ("cpu" or "cu128"...), pip requirement and index URL.

    ``index_url`` None means pip's configured indexes decide; ``reason`` says why it was chosen.
    """

    name: str
    requirement: str
    index_url: str | None
    reason: str


@dataclass
class EnvironmentStatus:
    """Result of :meth:`PythonEnvironment.status`: ``state`` (READY / NEEDS_INSTALL / BROKEN) and why."""

    state: str
    reason: str
    info: dict = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        """True when ``state`` is READY."""
        return self.state == READY

    def line(self) -> str:
        """One status line for the GUI, e.g. ``"RadSurv environment: ready (torch cpu, ...)"``."""
        return f"RadSurv environment: {self.state} ({self.reason})"


class EnvironmentSetupError(RadSurvError):
    """Creating or checking the environment failed; the message names the step and the log file."""


def default_location() -> Path:
    """Where the environment lives.

    In 3D Slicer: ``<folder of slicer.app.slicerRevisionUserSettingsFilePath>/RadSurv/python-env``
    (one per Slicer revision, as Slicer's own extensions: a new Slicer brings a new Python).
    Elsewhere: ``$RADSURV_ENV`` when set, else ``~/.config/RadSurv/python-env``.
    """
    if os.environ.get("RADSURV_ENV"):
        return Path(os.environ["RADSURV_ENV"])
    slicer = sys.modules.get("slicer")
    app = getattr(slicer, "app", None) if slicer is not None else None
    settings = getattr(app, "slicerRevisionUserSettingsFilePath", None) if app is not None else None
    if settings:
        return Path(settings).parent / "RadSurv" / "python-env"
    return Path.home() / ".config" / "RadSurv" / "python-env"


def default_base_python() -> str:
    """The interpreter the environment is made from: Slicer's ``PythonSlicer`` when it is on PATH
    (inside Slicer), else the current interpreter (``sys.executable``)."""
    if "slicer" in sys.modules:
        found = shutil.which("PythonSlicer")
        if found:
            return found
    return sys.executable


def radsurvlib_root() -> Path:
    """The folder that holds the ``RadSurvLib`` package (put on the worker's ``PYTHONPATH``)."""
    return Path(__file__).resolve().parents[2]


def nvidia_driver_version(run=subprocess.run) -> tuple[int, ...] | None:
    """The NVIDIA driver version from ``nvidia-smi`` (e.g. ``(570, 133, 20)``), None without one.

    Args:
        run: ``subprocess.run``-like callable (injectable for tests).
    """
    try:
        done = run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                   capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    if getattr(done, "returncode", 1) != 0:
        return None
    for line in (done.stdout or "").splitlines():
        parts = line.strip().split(".")
        try:
            return tuple(int(p) for p in parts)
        except ValueError:
            continue
    return None


def choose_torch_build(driver_version=None, index_url=None) -> TorchBuild:
    """The torch build for this machine.

    Args:
        driver_version: NVIDIA driver version tuple (``nvidia_driver_version()``) or None (no GPU).
        index_url: explicit index (overrides the choice); ``"pip"`` = pip's own configuration.
            Default: ``$RADSURV_TORCH_INDEX_URL`` when set.

    Returns:
        ``TorchBuild``: the newest CUDA build of ``CUDA_BUILDS`` whose minimum driver is at most
        ``driver_version``, else the CPU build (macOS: PyPI's default build, which is CPU/MPS).
    """
    requirement = f"torch=={TORCH_VERSION}"
    index_url = index_url if index_url is not None else os.environ.get(TORCH_INDEX_ENV)
    name, reason = "cpu", "no NVIDIA driver found (nvidia-smi)"
    if driver_version:
        for tag, minimum in CUDA_BUILDS:
            if tuple(driver_version) >= minimum:
                name = tag
                reason = f"NVIDIA driver {'.'.join(map(str, driver_version))} runs {tag}"
                break
        else:
            reason = (f"NVIDIA driver {'.'.join(map(str, driver_version))} is older than the oldest CUDA "
                      f"build ({'.'.join(map(str, CUDA_BUILDS[-1][1]))}); update the driver for GPU use")
    if index_url == "pip":
        return TorchBuild(name, requirement, None, reason + "; index: pip's configuration")
    if index_url:
        return TorchBuild(name, requirement, index_url, reason + f"; index: {index_url}")
    if sys.platform == "darwin":
        return TorchBuild("cpu", requirement, None, "macOS: PyPI's build")
    return TorchBuild(name, requirement, PYTORCH_INDEX + name, reason)


def worker_environ(base=None) -> dict:
    """Process environment for the environment's interpreter (pip and the worker).

    Slicer's launcher sets ``PYTHONPATH`` / ``PYTHONHOME`` for Slicer's own Python; they are
    removed so the environment's packages are used, and ``PYTHONPATH`` becomes the folder that
    holds ``RadSurvLib``. ``PYTHONUNBUFFERED=1`` makes progress lines arrive as they are written.
    """
    env = dict(os.environ if base is None else base)
    for name in _LEAKY_VARIABLES:
        env.pop(name, None)
    env["PYTHONPATH"] = str(radsurvlib_root())
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONNOUSERSITE"] = "1"  # ~/.local packages would shadow the pinned ones
    return env


class PythonEnvironment:
    """RadSurv's virtual environment at ``location``.

    Args:
        location: folder of the environment (default ``default_location()``).
        base_python: interpreter to create it from (default ``default_base_python()``).
        pip_args: extra arguments for every ``pip install`` (e.g. ``["--find-links", WHEELS]``
            for an offline wheel folder).
        torch_index_url: see ``choose_torch_build``.
        log: callable(str) for progress lines (default: none).
    """

    def __init__(self, location=None, base_python=None, pip_args=(), torch_index_url=None, log=None):
        self.location = Path(location) if location else default_location()
        self.base_python = base_python or default_base_python()
        self.pip_args = list(pip_args)
        self.torch_index_url = torch_index_url
        self.log = log or (lambda line: None)

    # -- paths ----------------------------------------------------------------------------------
    @property
    def python(self) -> Path:
        """The environment's interpreter (``bin/python``, ``Scripts/python.exe`` on Windows)."""
        if os.name == "nt":
            return self.location / "Scripts" / "python.exe"
        return self.location / "bin" / "python"

    @property
    def marker(self) -> Path:
        """``radsurv-environment.json``: written last by ``create`` (what was installed)."""
        return self.location / MARKER_FILE

    @property
    def log_file(self) -> Path:
        """Log of the last ``create`` (next to the environment, kept when creation fails)."""
        return self.location.parent / (self.location.name + "-install.log")

    def requirements(self) -> list[str]:
        """The pinned requirements (torch excluded; see ``choose_torch_build``)."""
        return list(PINNED_REQUIREMENTS)

    # -- status ---------------------------------------------------------------------------------
    def status(self, check_imports: bool = False, timeout_s: float = 180.0) -> EnvironmentStatus:
        """Whether the environment can run the worker.

        Args:
            check_imports: also start the interpreter and import ``CHECK_IMPORTS`` (a few seconds:
                torch's import); without it only files are checked (instant, for the GUI).
            timeout_s: limit for the import check.

        Returns:
            ``EnvironmentStatus``: READY; NEEDS_INSTALL (no environment, an unfinished one, or one
            made for other pinned versions: ``repair()``); BROKEN (interpreter missing or a package
            does not import: ``repair()``), with the reason.
        """
        if not self.location.exists():
            return EnvironmentStatus(NEEDS_INSTALL, f"not created yet; it will be made in {self.location}")
        if not self.marker.is_file():
            return EnvironmentStatus(NEEDS_INSTALL, f"{self.location} is unfinished (no {MARKER_FILE}); repair it")
        try:
            info = json.loads(self.marker.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            return EnvironmentStatus(BROKEN, f"{self.marker} is unreadable ({exc}); repair it")
        if info.get("requirements") != self.requirements() or not str(info.get("torch", "")).startswith(
                f"torch=={TORCH_VERSION}"):
            return EnvironmentStatus(NEEDS_INSTALL, "made for other package versions than this RadSurv "
                                                    f"{__version__} pins; update (repair) it", info)
        if not self.python.exists():
            return EnvironmentStatus(BROKEN, f"its interpreter {self.python} is missing; repair it", info)
        if check_imports:
            ok, message = self._check_imports(timeout_s)
            if not ok:
                return EnvironmentStatus(BROKEN, message, info)
        return EnvironmentStatus(READY, f"torch {info.get('torch_build', '?')}, {self.location}", info)

    def _check_imports(self, timeout_s: float):
        code = "import " + ", ".join(CHECK_IMPORTS) + "; import torch; print(torch.__version__, torch.cuda.is_available())"
        try:
            done = subprocess.run([str(self.python), "-c", code], capture_output=True, text=True,
                                  timeout=timeout_s, env=worker_environ())
        except (OSError, subprocess.SubprocessError) as exc:
            return False, f"its interpreter does not start ({exc}); repair it"
        if done.returncode != 0:
            last = (done.stderr or "").strip().splitlines()
            return False, f"a package does not import ({last[-1] if last else 'no message'}); repair it"
        return True, done.stdout.strip()

    # -- create / repair ------------------------------------------------------------------------
    def create(self, driver_version="detect", progress=None) -> EnvironmentStatus:
        """Create the environment (minutes; several GB for a CUDA build of torch).

        Steps: ``python -m venv`` into ``<location>.partial``, ``pip install`` torch (build from
        ``choose_torch_build``) and ``PINNED_REQUIREMENTS``, import check, marker file, rename to
        ``location``. Output of every step goes to ``log_file``.

        Args:
            driver_version: NVIDIA driver version tuple, None (CPU), or "detect" (``nvidia-smi``).
            progress: optional callable(message: str, fraction: float in [0, 1]).

        Returns:
            the new ``status(check_imports=True)``.

        Raises:
            InputError: ``location`` exists (use ``repair``).
            EnvironmentSetupError: a step failed; the message names it and the log file.
        """
        progress = progress or (lambda message, fraction: None)
        if self.location.exists():
            raise InputError(f"RadSurv environment {self.location} exists; use repair() to make it again.")
        driver = nvidia_driver_version() if driver_version == "detect" else driver_version
        torch_build = choose_torch_build(driver, self.torch_index_url)
        partial = self.location.with_name(self.location.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        self.location.parent.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        with open(self.log_file, "w", encoding="utf-8") as log:
            def step(what, command, fraction):
                """Run one creation step (command), its output into the log; EnvironmentSetupError on failure."""
                progress(what, fraction)
                self.log(what)
                log.write(f"\n### {what}\n$ {' '.join(map(str, command))}\n")
                log.flush()
                try:
                    done = subprocess.run([str(c) for c in command], stdout=log, stderr=subprocess.STDOUT,
                                          env=worker_environ(), cwd=str(self.location.parent))
                except OSError as exc:
                    log.write(f"{exc}\n")
                    raise EnvironmentSetupError(f"Creating the RadSurv environment failed at '{what}': {exc}. "
                                            f"See {self.log_file}.") from None
                if done.returncode != 0:
                    raise EnvironmentSetupError(f"Creating the RadSurv environment failed at '{what}' (exit status "
                                            f"{done.returncode}); see {self.log_file}. Check the network "
                                            "connection and free disk space, then repair the environment.")

            try:
                log.write(f"torch build: {torch_build.name} ({torch_build.reason})\n")
                step("creating the virtual environment", [self.base_python, "-m", "venv", partial], 0.02)
                python = partial / self.python.relative_to(self.location)
                pip = [python, "-m", "pip", "install", "--no-input", *self.pip_args]
                index = ["--index-url", torch_build.index_url] if torch_build.index_url else []
                step(f"installing torch ({torch_build.name})", [*pip, *index, torch_build.requirement], 0.1)
                step("installing PyRadiomics, MONAI and the other pinned packages", [*pip, *self.requirements()], 0.6)
                info = {"radsurv_version": __version__, "torch": torch_build.requirement,
                        "torch_build": torch_build.name, "torch_reason": torch_build.reason,
                        "requirements": self.requirements(), "base_python": str(self.base_python),
                        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
                        "seconds": round(time.perf_counter() - started, 1)}
                (partial / MARKER_FILE).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
                progress("checking the environment", 0.95)
                os.replace(partial, self.location)
            except BaseException:
                shutil.rmtree(partial, ignore_errors=True)
                raise
        status = self.status(check_imports=True)
        if status.state == BROKEN:
            raise EnvironmentSetupError(f"The RadSurv environment was created but does not work: {status.reason}. "
                                    f"See {self.log_file}.")
        progress("RadSurv environment ready", 1.0)
        return status

    def remove(self) -> None:
        """Delete the environment folder (and an unfinished ``.partial`` one)."""
        for folder in (self.location, self.location.with_name(self.location.name + ".partial")):
            shutil.rmtree(folder, ignore_errors=True)

    def repair(self, driver_version="detect", progress=None) -> EnvironmentStatus:
        """Delete the environment and create it again (``create``'s arguments, result and errors)."""
        self.remove()
        return self.create(driver_version=driver_version, progress=progress)

    # -- running --------------------------------------------------------------------------------
    def worker_command(self, job_file) -> list[str]:
        """Command line of a worker run on ``job_file`` (see ``RadSurvLib.worker.server``)."""
        return [str(self.python), "-m", "RadSurvLib.worker", str(job_file)]
