"""RadSurv's own Python environment (the "bundled environment") for the heavy dependencies.

3D Slicer's Python must not receive torch, MONAI or Numba (large, version clashes with other
extensions, CUDA builds). RadSurv keeps them in a
separate virtual environment in a per-user data folder and runs the pipeline there as a worker
process (``RadSurvLib.worker.server``). This module manages that environment; it imports no Qt and
no Slicer, so the Slicer module, ``PythonSlicer -m RadSurvLib environment ...``
(``RadSurvLib.cli.environment``) and the tests drive it alike.

Slicer's Python, and how the environment copes with it (Slicer 5.8 / 5.10 install trees):

- The interpreter is ``bin/python-real`` (``python-real.exe``); its standard library is in
  ``lib/Python/lib/python3.X`` (``lib/Python/Lib`` on Windows), where the interpreter's own search
  does not look: it finds it only through the ``PYTHONHOME`` that the launcher ``PythonSlicer``
  sets. ``python -m venv`` therefore dies at ensurepip, and every tool that starts an interpreter
  in isolated mode (``-I``: uv, pip's build isolation) fails the same way.
- So, when the base interpreter started in isolated mode does not find its own standard library
  (``starts_isolated``), RadSurv first makes a "base view" beside the environment
  (``make_base_view``: a copy of the few-kB interpreter next to links to Slicer's ``lib`` folder),
  which finds it the ordinary way; Slicer's install is only read. uv (PyPI wheel ``uv``, MIT OR
  Apache-2.0) then does the rest: ``uv venv --python <view>`` makes the environment (on Windows
  with a ``Scripts\\python.exe`` that starts the view's ``python.exe``), and ``uv pip install
  --torch-backend=auto`` installs the pinned set, choosing the PyTorch build (CUDA version or CPU)
  from the machine's driver; its build environments for source-only packages work the same way.
  uv is used from this Python when it is importable, else from ``$RADSURV_UV``, the ``tools``
  folder beside the environment, or ``PATH``; when none has it, ``pip install --target <tools>``
  puts the uv wheel there, leaving Slicer's Python untouched.
- Every child process gets a deliberate environment (``child_environ``): Slicer's ``PYTHONHOME``
  and ``PYTHONPATH`` removed, ``PYTHONPATH`` = the folder holding ``RadSurvLib``, the library
  search path (``LD_LIBRARY_PATH`` / ``DYLD_LIBRARY_PATH`` / ``PATH``) = the folder of
  ``libpython`` only, instead of Slicer's own library folders; no console window on Windows
  (``process_flags``).

Location (``default_location``): ``$RADSURV_ENV``, else a per-user data folder that survives
reinstalling or upgrading Slicer: ``$XDG_DATA_HOME`` or ``~/.local/share`` (Linux),
``%LOCALAPPDATA%`` (Windows), ``~/Library/Application Support`` (macOS), each ``/RadSurv/python-env``.

``radsurv-environment.json`` is written last and records the RadSurv version, the pinned set, the
base Python, the Slicer version (when known) and the library folders; any mismatch with the running
RadSurv / Slicer reads "needs repair". RadSurvLib itself is not installed into the environment: the
worker runs the extension's own copy (``PYTHONPATH``), so module and worker code never drift.
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
READY, NEEDS_INSTALL, NEEDS_REPAIR, BROKEN = "ready", "needs install", "needs repair", "broken"

#: torch version installed into the environment (CPU and CUDA builds share the version number).
TORCH_VERSION = "2.13.0"

#: macOS on Intel (x86_64; Slicer 5.8 / 5.10 for macOS is an x86_64 build, also under Rosetta on
#: Apple silicon): PyTorch's last release with wheels there is 2.2.2, which needs numpy 1.x and a
#: MONAI that still supports it. Resolved on every platform by test_platform_pins.py.
MAC_INTEL = "sys_platform == 'darwin' and platform_machine == 'x86_64'"
NOT_MAC_INTEL = "sys_platform != 'darwin' or platform_machine != 'x86_64'"
MAC_INTEL_TORCH_VERSION = "2.2.2"

#: What the macOS x86_64 set means for RadSurv's features (shown by ``status`` on that platform).
PLATFORM_NOTES = {
    ("darwin", "x86_64"): (
        f"macOS on Intel (x86_64): PyTorch's newest build there is {MAC_INTEL_TORCH_VERSION}, so this "
        f"environment has torch {MAC_INTEL_TORCH_VERSION}, MONAI 1.4.0 and numpy 1.26.4 instead of torch "
        f"{TORCH_VERSION}. Radiomics features, rings and voxel maps do not depend on torch; the deep "
        "survival model, Grad-CAM heatmaps and training run on that older set, which RadSurv's tests do "
        "not run (untested: treat their results with care)."),
}

#: The pinned environment (PEP 508 requirements, environment markers for the platform-specific
#: pins): every runtime dependency of RadSurvLib (``pyproject.toml`` ``dependencies``) at the
#: versions the test suite ran with. ``Testing/Python/test_environment.py`` fails when a
#: dependency of ``pyproject.toml`` is missing here.
PINNED_REQUIREMENTS = (
    f"torch=={TORCH_VERSION}; {NOT_MAC_INTEL}",
    f"torch=={MAC_INTEL_TORCH_VERSION}; {MAC_INTEL}",
    f"numpy==2.4.6; {NOT_MAC_INTEL}",
    f"numpy==1.26.4; {MAC_INTEL}",
    "SimpleITK==2.5.7",
    "PyWavelets==1.9.0",
    "scikit-image==0.26.0",
    f"numba==0.68.1; {NOT_MAC_INTEL}",
    f"numba==0.62.1; {MAC_INTEL}",  # Numba's last release with macOS x86_64 wheels
    f"monai==1.6.1; {NOT_MAC_INTEL}",
    f"monai==1.4.0; {MAC_INTEL}",
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
    "dask==2026.8.0",
    "distributed==2026.8.0",
)

#: Modules whose import proves the environment works (``status(check_imports=True)``).
CHECK_IMPORTS = ("torch", "pywt", "skimage", "numba", "SimpleITK", "monai", "safetensors", "numpy", "yaml", "pydicom",
                 "scipy", "pandas", "lifelines", "matplotlib", "highdicom", "sklearn", "mambapy", "tqdm")

#: uv version installed into the tools folder when no uv is found.
UV_VERSION = "0.13.9"

#: The pinned set as a requirements file inside the environment (what ``uv pip install -r`` got).
REQUIREMENTS_FILE = "radsurv-requirements.txt"

#: File written last by ``create``: what was installed; its absence means "not finished".
MARKER_FILE = "radsurv-environment.json"

#: ``--torch-backend`` of ``uv pip install`` (``auto``: from the GPU driver; ``cpu``, ``cu128``...;
#: ``none``: no option, the configured indexes and ``--find-links`` decide).
TORCH_BACKEND_ENV = "RADSURV_TORCH_BACKEND"
DEFAULT_TORCH_BACKEND = "auto"

#: Folders or pages of wheels (``os.pathsep``-separated) added as ``--find-links`` to every
#: environment made, also from the GUI: an offline hospital's mirror of the pinned wheels.
FIND_LINKS_ENV = "RADSURV_FIND_LINKS"

#: Windows' MAX_PATH (260 characters with the terminating NUL) and the longest path below
#: ``site-packages`` in the pinned set (torch 2.13.0's wheel: a licence file of a third-party
#: library, 171 characters), plus ``\\Lib\\site-packages\\``.
WINDOWS_MAX_PATH = 259
LONGEST_SITE_PACKAGES_PATH = 171 + len("\\Lib\\site-packages\\")

#: Variables of Slicer's launcher (and of activated environments) that must not reach the
#: environment's interpreter: they would put Slicer's standard library or site-packages first.
_LEAKY_VARIABLES = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE", "PYTHONEXECUTABLE",
                    "PYTHONSAFEPATH", "VIRTUAL_ENV", "__PYVENV_LAUNCHER__", "CONDA_PREFIX", "UV_PYTHON")

#: The library search path variable of each platform (where ``libpython`` is looked for).
_LIBRARY_PATH_VARIABLE = {"linux": "LD_LIBRARY_PATH", "darwin": "DYLD_LIBRARY_PATH", "win32": "PATH"}

#: Windows process creation flag: no console window for a console program started from a GUI.
CREATE_NO_WINDOW = 0x08000000
CREATE_NEW_PROCESS_GROUP = 0x00000200

#: What ``_inspect_base`` runs in the base interpreter (with its own launcher environment).
_PROBE = ("import json, os, platform, sys, sysconfig; print(json.dumps({'executable': sys.executable, "
          "'stdlib': os.path.dirname(os.__file__), "
          "'base_prefix': sys.base_prefix, 'version': '%d.%d.%d' % sys.version_info[:3], "
          "'platform': sys.platform, 'machine': platform.machine(), "
          "'ldlibrary': sysconfig.get_config_var('LDLIBRARY') or '', "
          "'dllname': sysconfig.get_config_var('DLLLIBRARY') or ''}))")


@dataclass
class EnvironmentStatus:
    """Result of :meth:`PythonEnvironment.status`: ``state`` (READY / NEEDS_INSTALL / NEEDS_REPAIR /
    BROKEN), why, and the recorded ``info`` (``radsurv-environment.json``)."""

    state: str
    reason: str
    info: dict = field(default_factory=dict)
    location: Path | None = None

    @property
    def ready(self) -> bool:
        """True when ``state`` is READY."""
        return self.state == READY

    def line(self) -> str:
        """One status line for the GUI, e.g. ``"RadSurv environment: ready (torch 2.13.0+cpu, ...)"``."""
        return f"RadSurv environment: {self.state} ({self.reason})"


class EnvironmentSetupError(RadSurvError):
    """Creating or checking the environment failed; ``step`` names the step, ``log_file`` its log."""

    def __init__(self, message: str, step: str = "", log_file=None):
        super().__init__(message)
        self.step = step
        self.log_file = log_file


# --------------------------------------------------------------------------------------------
# Where things are
# --------------------------------------------------------------------------------------------

def current_platform() -> str:
    """``sys.platform`` reduced to ``linux``, ``darwin`` or ``win32`` (the keys used here)."""
    if sys.platform.startswith("win"):
        return "win32"
    return "darwin" if sys.platform == "darwin" else "linux"


def _path_type(platform: str):
    """``Path`` for this machine's platform, the pure Windows / POSIX path class for another one
    (so that Windows paths can be computed, and tested, anywhere)."""
    from pathlib import PurePosixPath, PureWindowsPath

    if platform == current_platform():
        return Path
    return PureWindowsPath if platform == "win32" else PurePosixPath


def default_location(platform: str | None = None, environ=None, home=None) -> Path:
    """Where the environment lives: ``$RADSURV_ENV``, else ``<per-user data folder>/RadSurv/python-env``.

    The data folder is ``$XDG_DATA_HOME`` or ``~/.local/share`` (Linux), ``%LOCALAPPDATA%`` or
    ``~\\AppData\\Local`` (Windows), ``~/Library/Application Support`` (macOS): outside Slicer's
    install tree, so the environment survives reinstalling or upgrading Slicer.

    Args:
        platform: ``linux`` / ``darwin`` / ``win32`` (default ``current_platform()``).
        environ: variables to read (default ``os.environ``).
        home: the user's home folder (default ``Path.home()``).
    """
    platform = platform or current_platform()
    environ = os.environ if environ is None else environ
    path = _path_type(platform)
    if environ.get("RADSURV_ENV"):
        return path(environ["RADSURV_ENV"])
    home = path(home) if home is not None else path(Path.home())
    if platform == "win32":
        data = path(environ["LOCALAPPDATA"]) if environ.get("LOCALAPPDATA") else home / "AppData" / "Local"
    elif platform == "darwin":
        data = home / "Library" / "Application Support"
    else:
        data = path(environ["XDG_DATA_HOME"]) if environ.get("XDG_DATA_HOME") else home / ".local" / "share"
    return data / "RadSurv" / "python-env"


def interpreter_path(location, platform: str | None = None) -> Path:
    """The environment's interpreter: ``bin/python``, or ``Scripts\\python.exe`` on Windows."""
    platform = platform or current_platform()
    if platform == "win32":
        return _path_type(platform)(location) / "Scripts" / "python.exe"
    return _path_type(platform)(location) / "bin" / "python"


def check_location_length(location, platform: str | None = None) -> None:
    """Refuse an environment folder whose packages' paths would pass Windows' MAX_PATH.

    Raises:
        InputError: on Windows, ``location`` is longer than ``WINDOWS_MAX_PATH -
            LONGEST_SITE_PACKAGES_PATH`` characters (torch's deepest file would not be written).
    """
    if (platform or current_platform()) != "win32":
        return
    budget = WINDOWS_MAX_PATH - LONGEST_SITE_PACKAGES_PATH
    if len(str(location)) > budget:
        raise InputError(
            f"location: the RadSurv environment folder {location} is {len(str(location))} characters long; "
            f"PyTorch's files inside it would pass Windows' {WINDOWS_MAX_PATH + 1}-character path limit. "
            f"Choose a folder of at most {budget} characters (e.g. %LOCALAPPDATA%\\RadSurv\\python-env).")


def process_flags(platform: str | None = None, new_group: bool = False) -> dict:
    """``subprocess.Popen`` keyword arguments for a child started from Slicer's GUI.

    Windows: ``creationflags`` with ``CREATE_NO_WINDOW`` (no console window, as
    ``slicer.util.launchConsoleProcess``) and, with ``new_group``, ``CREATE_NEW_PROCESS_GROUP``.
    Elsewhere: ``start_new_session`` with ``new_group`` (its own process group, for cancelling).
    """
    if (platform or current_platform()) == "win32":
        return {"creationflags": CREATE_NO_WINDOW | (CREATE_NEW_PROCESS_GROUP if new_group else 0)}
    return {"start_new_session": True} if new_group else {}


def default_base_python() -> str:
    """The interpreter the environment is made from: Slicer's ``PythonSlicer`` launcher when it
    is on ``PATH`` inside Slicer, else the current interpreter (``sys.executable``)."""
    if "slicer" in sys.modules:
        found = shutil.which("PythonSlicer")
        if found:
            return found
    return sys.executable


def current_slicer_version() -> str | None:
    """``slicer.app.applicationVersion`` inside Slicer, ``$RADSURV_SLICER_VERSION`` when set, else None."""
    app = getattr(sys.modules.get("slicer"), "app", None)
    version = getattr(app, "applicationVersion", None) if app is not None else None
    return str(version) if version else os.environ.get("RADSURV_SLICER_VERSION") or None


def radsurvlib_root() -> Path:
    """The folder that holds the ``RadSurvLib`` package (put on the worker's ``PYTHONPATH``)."""
    return Path(__file__).resolve().parents[2]


def platform_note(platform: str | None = None, machine: str | None = None) -> str | None:
    """What the pinned set lacks on this platform (``PLATFORM_NOTES``), None where nothing."""
    import platform as _platform

    return PLATFORM_NOTES.get((platform or current_platform(), machine or _platform.machine()))


# --------------------------------------------------------------------------------------------
# Child processes
# --------------------------------------------------------------------------------------------

def child_environ(info=None, base=None, platform: str | None = None) -> dict:
    """Process environment for the environment's interpreter (uv, the import check, the worker).

    Slicer's ``PYTHONHOME`` / ``PYTHONPATH`` (and an activated environment's variables) are removed:
    the environment's interpreter finds the standard library through its ``pyvenv.cfg``.
    ``PYTHONPATH`` becomes the folder that holds ``RadSurvLib``; ``PYTHONNOUSERSITE=1`` keeps
    ``~/.local`` packages out; ``PYTHONUNBUFFERED=1`` makes progress lines arrive as written.
    With ``info["library_dirs"]`` (the folder of Slicer's ``libpython``, recorded at creation) the
    library search path is exactly that folder (``PATH``: that folder first), so Slicer's own
    libraries (VTK, ITK, Qt, OpenSSL) cannot shadow the packages' ones. uv downloads no Python.

    Args:
        info: ``radsurv-environment.json`` contents (``PythonEnvironment.info()``), or None.
        base: variables to start from (default ``os.environ``).
        platform: ``linux`` / ``darwin`` / ``win32`` (default ``current_platform()``).
    """
    env = dict(os.environ if base is None else base)
    for name in _LEAKY_VARIABLES:
        env.pop(name, None)
    env["PYTHONPATH"] = str(radsurvlib_root())
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONNOUSERSITE"] = "1"
    env["UV_PYTHON_DOWNLOADS"] = "never"
    library_dirs = [str(d) for d in (info or {}).get("library_dirs") or []]
    if library_dirs:
        platform = platform or current_platform()
        variable = _LIBRARY_PATH_VARIABLE[platform]
        separator = ";" if platform == "win32" else ":"
        kept = env.get("PATH", "").split(separator) if variable == "PATH" else []
        env[variable] = separator.join([*library_dirs, *[p for p in kept if p and p not in library_dirs]])
    return env


def worker_environ(base=None, info=None) -> dict:
    """``child_environ`` for the worker; ``info`` defaults to the default environment's record."""
    if info is None:
        info = PythonEnvironment(default_location()).info() or {}
    return child_environ(info, base)


def _run(command, log, env, cwd=None, timeout_s=None):
    """Run ``command`` with its output appended to the open ``log``; returns the exit status."""
    log.write(f"$ {' '.join(map(str, command))}\n")
    log.flush()
    done = subprocess.run([str(c) for c in command], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                          env=env, cwd=cwd, timeout=timeout_s, **process_flags())
    log.write(f"(exit status {done.returncode})\n")
    log.flush()
    return done.returncode


# --------------------------------------------------------------------------------------------
# uv
# --------------------------------------------------------------------------------------------

def find_uv(tools_dir=None) -> str | None:
    """The uv binary: ``$RADSURV_UV``, the ``uv`` package of this Python, ``tools_dir``, ``PATH``."""
    if os.environ.get("RADSURV_UV"):
        return os.environ["RADSURV_UV"]
    try:
        import uv  # noqa: PLC0415

        return uv.find_uv_bin()
    except (ImportError, FileNotFoundError):
        pass
    if tools_dir is not None:
        for sub, name in (("bin", "uv"), ("Scripts", "uv.exe"), ("bin", "uv.exe")):
            candidate = Path(tools_dir) / sub / name
            if candidate.is_file():
                return str(candidate)
    return shutil.which("uv")


# --------------------------------------------------------------------------------------------
# The environment
# --------------------------------------------------------------------------------------------

class PythonEnvironment:
    """RadSurv's virtual environment at ``location``.

    Args:
        location: folder of the environment (default ``default_location()``).
        base_python: interpreter to create it from (default ``default_base_python()``); it is run
            with this process's environment (Slicer's launcher variables, which it needs).
        uv_args: extra arguments for ``uv pip install``, e.g. ``["--offline", "--find-links", WHEELS]``
            for an offline hospital; ``$RADSURV_FIND_LINKS`` adds ``--find-links`` folders.
        torch_backend: ``--torch-backend`` of uv (``auto`` from the driver, ``cpu``, ``cu128``...;
            ``none``: left to the indexes / ``--find-links``). Default ``$RADSURV_TORCH_BACKEND`` or ``auto``.
        log: callable(str) for progress lines (default: none).
    """

    def __init__(self, location=None, base_python=None, uv_args=(), torch_backend=None, log=None):
        self.location = Path(location) if location else default_location()
        self.base_python = str(base_python or default_base_python())
        links = [f for f in os.environ.get(FIND_LINKS_ENV, "").split(os.pathsep) if f]
        self.uv_args = [str(a) for a in uv_args] + [a for folder in links for a in ("--find-links", folder)]
        self.torch_backend = torch_backend or os.environ.get(TORCH_BACKEND_ENV) or DEFAULT_TORCH_BACKEND
        self.log = log or (lambda line: None)

    # -- paths ----------------------------------------------------------------------------------
    @property
    def python(self) -> Path:
        """The environment's interpreter (``bin/python``, ``Scripts\\python.exe`` on Windows)."""
        return interpreter_path(self.location)

    @property
    def marker(self) -> Path:
        """``radsurv-environment.json``: written last by ``create`` (what was installed)."""
        return self.location / MARKER_FILE

    @property
    def log_file(self) -> Path:
        """Log of the last ``create`` / ``repair`` (beside the environment, kept when it fails)."""
        return self.location.parent / (self.location.name + "-install.log")

    @property
    def base_view(self) -> Path:
        """Folder of ``make_base_view`` (Slicer's Python seen as an ordinary prefix), beside the environment."""
        return self.location.with_name(self.location.name + "-base")

    @property
    def tools_dir(self) -> Path:
        """Folder for a uv installed by RadSurv (``pip install --target``), beside the environment."""
        return self.location.parent / "tools"

    def requirements(self) -> list[str]:
        """The pinned requirements, torch included (``PINNED_REQUIREMENTS``)."""
        return list(PINNED_REQUIREMENTS)

    def info(self) -> dict | None:
        """The recorded ``radsurv-environment.json`` (None when absent or unreadable)."""
        try:
            return json.loads(self.marker.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def environ(self) -> dict:
        """``child_environ`` for this environment (its recorded library folders)."""
        return child_environ(self.info())

    # -- status ---------------------------------------------------------------------------------
    def status(self, check_imports: bool = False, timeout_s: float = 300.0) -> EnvironmentStatus:
        """Whether the environment can run the worker.

        Args:
            check_imports: also start the interpreter and import ``CHECK_IMPORTS`` (seconds: torch's
                import); without it only the files and the record are checked (instant, for the GUI).
            timeout_s: limit for the import check.

        Returns:
            ``EnvironmentStatus``: READY; NEEDS_INSTALL (never created); NEEDS_REPAIR (unfinished, or
            made for another pinned set, RadSurv or Slicer version); BROKEN (its interpreter or the
            Python it was made from is gone, or a package does not import), with the reason.
        """
        def result(state, reason, info=None):
            return EnvironmentStatus(state, reason, info or {}, self.location)

        if not self.location.exists():
            return result(NEEDS_INSTALL, f"not created yet; it will be made in {self.location}")
        if not self.marker.is_file():
            return result(NEEDS_REPAIR, f"{self.location} is unfinished (no {MARKER_FILE}); repair it")
        info = self.info()
        if info is None:
            return result(NEEDS_REPAIR, f"{self.marker} is unreadable; repair it")
        if info.get("requirements") != self.requirements():
            return result(NEEDS_REPAIR, f"made for other package versions than RadSurv {__version__} pins; "
                                        "repair it", info)
        slicer_version = current_slicer_version()
        if slicer_version and info.get("slicer_version") and info["slicer_version"] != slicer_version:
            return result(NEEDS_REPAIR, f"made for Slicer {info['slicer_version']}, this is Slicer "
                                        f"{slicer_version}; repair it", info)
        base = info.get("base_executable")
        if base and not Path(base).exists():
            return result(BROKEN, f"the Python it was made from ({base}) no longer exists; repair it", info)
        if not self.python.exists():
            return result(BROKEN, f"its interpreter {self.python} is missing; repair it", info)
        reason = f"torch {info.get('torch', '?')}, {self.location}"
        if check_imports:
            ok, message = self._check_imports(info, timeout_s)
            if not ok:
                return result(BROKEN, message, info)
            reason = f"torch {message}, {self.location}"
        note = platform_note(info.get("platform"), info.get("machine"))
        return result(READY, reason + (f". {note}" if note else ""), info)

    def _check_imports(self, info, timeout_s: float):
        code = ("import " + ", ".join(CHECK_IMPORTS) +
                "; print(torch.__version__, 'cuda' if torch.cuda.is_available() else 'no cuda')")
        try:
            done = subprocess.run([str(self.python), "-c", code], capture_output=True, text=True,
                                  timeout=timeout_s, env=child_environ(info), stdin=subprocess.DEVNULL,
                                  **process_flags())
        except (OSError, subprocess.SubprocessError) as exc:
            return False, f"its interpreter {self.python} does not start ({exc}); repair it"
        if done.returncode != 0:
            last = (done.stderr or "").strip().splitlines()
            return False, f"a package does not import ({last[-1] if last else 'no message'}); repair it"
        return True, done.stdout.strip()

    # -- create / repair ------------------------------------------------------------------------
    def create(self, progress=None) -> EnvironmentStatus:
        """Create the environment (minutes; several GB for a CUDA build of torch).

        Steps (each named in the progress, the log and an error): finding uv (installing it into
        ``tools_dir`` with the base's pip when none is found), inspecting the base Python, creating
        the virtual environment (``uv venv --python`` the base, or its view ``make_base_view`` when
        it cannot start in isolated mode: Slicer's), checking the new interpreter starts, installing
        the pinned packages (``uv pip install --torch-backend ...``), checking that the packages
        import, writing ``radsurv-environment.json``. Output of every step goes to ``log_file``.

        Args:
            progress: optional callable(message: str, fraction: float in [0, 1]).

        Returns:
            the new ``status()`` (READY; the imports were checked by the last step).

        Raises:
            InputError: ``location`` exists (use ``repair``) or is too long for Windows.
            EnvironmentSetupError: a step failed; the message names it and the log file, and the
                half-made environment is removed.
        """
        progress = progress or (lambda message, fraction: None)
        if self.location.exists():
            raise InputError(f"location: the RadSurv environment {self.location} exists; repair it instead "
                             "(PythonSlicer -m RadSurvLib environment repair).")
        check_location_length(self.location)
        self.location.parent.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        with open(self.log_file, "w", encoding="utf-8") as log:
            log.write(f"RadSurv {__version__} environment at {self.location}, from {self.base_python}\n")
            try:
                info = self._create_steps(log, progress)
            except BaseException:
                self.remove()
                raise
            info["seconds"] = round(time.perf_counter() - started, 1)
            self.marker.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
        progress("RadSurv environment ready", 1.0)
        return self.status()

    def _step(self, log, progress, what, fraction):
        """Announce a step; returns a function that raises its EnvironmentSetupError."""
        progress(what, fraction)
        self.log(what)
        log.write(f"\n### {what}\n")
        log.flush()

        def fail(detail):
            log.write(f"FAILED: {detail}\n")
            log.flush()
            raise EnvironmentSetupError(f"Creating the RadSurv environment failed at '{what}': {detail}. "
                                        f"The log is {self.log_file}.", what, self.log_file)
        return fail

    def _create_steps(self, log, progress) -> dict:
        launcher_env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "__PYVENV_LAUNCHER__")}

        fail = self._step(log, progress, "finding uv", 0.01)
        uv = find_uv(self.tools_dir)
        if uv is None:
            command = [self.base_python, "-m", "pip", "install", "--no-input", "--target", self.tools_dir,
                       *self._pip_offline_args(), f"uv=={UV_VERSION}"]
            try:
                code = _run(command, log, launcher_env)
            except OSError as exc:
                fail(str(exc))
            uv = find_uv(self.tools_dir)
            if code != 0 or uv is None:
                fail(f"'pip install --target {self.tools_dir} uv' ended with exit status {code}")
        log.write(f"uv: {uv}\n")

        fail = self._step(log, progress, "inspecting the base Python", 0.03)
        try:
            done = subprocess.run([self.base_python, "-c", _PROBE], capture_output=True, text=True, env=launcher_env,
                                  stdin=subprocess.DEVNULL, timeout=120, **process_flags())
        except (OSError, subprocess.SubprocessError) as exc:
            fail(f"{self.base_python} does not start ({exc})")
        log.write(done.stdout + done.stderr)
        if done.returncode != 0:
            fail(f"{self.base_python} ended with exit status {done.returncode}")
        base = json.loads(done.stdout.strip().splitlines()[-1])

        fail = self._step(log, progress, "creating the virtual environment", 0.05)
        library = library_dirs(base, launcher_env)
        interpreter = base["executable"]
        try:
            if not starts_isolated(interpreter, base, child_environ({"library_dirs": library})):
                interpreter = str(make_base_view(base, self.base_view))
                log.write(f"{base['executable']} finds its standard library only through PYTHONHOME: "
                          f"made {self.base_view} (a copy of it beside links to its lib folder)\n")
            info = {"radsurv_version": __version__, "requirements": self.requirements(),
                    "torch_backend": self.torch_backend, "uv_args": self.uv_args, "uv": uv,
                    "slicer_version": current_slicer_version(), "base_python": self.base_python,
                    "base_executable": base["executable"], "interpreter": interpreter,
                    "python_version": base["version"],
                    "platform": "win32" if base["platform"].startswith("win") else base["platform"],
                    "machine": base["machine"], "library_dirs": library,
                    "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
            env = child_environ(info)
            code = _run([uv, "venv", "--no-config", "--python", interpreter, self.location], log, env,
                        cwd=str(self.location.parent))
        except OSError as exc:
            fail(str(exc))
        if code != 0:
            fail(f"'uv venv --python {interpreter}' ended with exit status {code}")

        fail = self._step(log, progress, "checking the new interpreter starts", 0.08)
        try:
            code = _run([self.python, "-I", "-c", "import encodings, ssl, sys; print(sys.prefix)"], log, env)
        except OSError as exc:
            fail(str(exc))
        if code != 0:
            fail(f"{self.python} ended with exit status {code}")

        fail = self._step(log, progress, "installing PyTorch, MONAI, Numba and the pinned packages", 0.1)
        backend = [] if self.torch_backend == "none" else ["--torch-backend", self.torch_backend]
        requirements = self.location / REQUIREMENTS_FILE
        requirements.write_text("\n".join(self.requirements()) + "\n", encoding="utf-8")
        # --no-build: wheels only, so that no user ever needs a C compiler or Python's headers (the
        # pinned set resolves from wheels on every platform: test_platform_pins.py)
        command = [uv, "pip", "install", "--python", self.python, "--no-build", *backend, *self.uv_args,
                   "-r", requirements]
        try:
            code = _run(command, log, env)
        except OSError as exc:
            fail(str(exc))
        if code != 0:
            fail(f"'uv pip install' ended with exit status {code}")

        fail = self._step(log, progress, "checking that the packages import", 0.9)
        ok, message = self._check_imports(info, 600.0)
        log.write(message + "\n")
        if not ok:
            fail(message)
        info["torch"] = message.split()[0]
        return info

    def _pip_offline_args(self) -> list[str]:
        """``--find-links`` / ``--no-index`` of ``uv_args``, for pip installing uv itself."""
        args, items = [], list(self.uv_args)
        for index, item in enumerate(items):
            if item == "--find-links" and index + 1 < len(items):
                args += ["--find-links", items[index + 1]]
            elif item in ("--offline", "--no-index"):
                args.append("--no-index")
        return args

    def remove(self) -> None:
        """Delete the environment folder and its base view (``make_base_view``)."""
        shutil.rmtree(self.location, ignore_errors=True)
        shutil.rmtree(self.base_view, ignore_errors=True)

    def repair(self, progress=None) -> EnvironmentStatus:
        """Delete the environment and create it again (``create``'s result and errors); uv's cache
        makes this much faster than the first creation."""
        self.remove()
        return self.create(progress=progress)


def library_dirs(base: dict, environ) -> list[str]:
    """The folder(s) holding the base's ``libpython`` (``python3X.dll``), for the child's library path.

    Empty when the base needs no help (its libpython is found by its own run path, as for an
    ordinary Python): only a base run with ``PYTHONHOME`` (Slicer's launcher) gets one.
    """
    if not environ.get("PYTHONHOME"):
        return []
    names = [n for n in (base.get("ldlibrary"), base.get("dllname")) if n]
    if base["platform"].startswith("win"):
        names.append(f"python{''.join(base['version'].split('.')[:2])}.dll")
    folders = [Path(base["base_prefix"]) / "lib", Path(base["base_prefix"]), Path(base["executable"]).parent]
    found = [str(f) for f in folders if any((f / n).exists() for n in names)]
    return found[:1]


def starts_isolated(executable, base: dict, environ) -> bool:
    """Whether ``executable`` started in isolated mode (``-I``: no ``PYTHONHOME``, as uv starts
    interpreters) finds the base's own standard library (``base["stdlib"]``); Slicer's
    ``python-real`` does not (it falls back to its build machine's prefix, or a system Python's)."""
    code = "import os; print(os.path.dirname(os.__file__))"
    try:
        done = subprocess.run([str(executable), "-I", "-c", code], capture_output=True, text=True, env=environ,
                              stdin=subprocess.DEVNULL, timeout=120, **process_flags())
    except (OSError, subprocess.SubprocessError):
        return False
    if done.returncode != 0 or not done.stdout.strip():
        return False
    found = done.stdout.strip().splitlines()[-1]
    return os.path.normcase(os.path.realpath(found)) == os.path.normcase(os.path.realpath(base["stdlib"]))


def make_base_view(base: dict, folder, platform: str | None = None) -> Path:
    """A Python prefix in ``folder`` whose interpreter finds the base's standard library by itself.

    CPython's path calculation (``Modules/getpath.py``) looks for the standard library next to the
    (resolved) executable: ``<exe folder>/../lib/pythonX.Y`` (``<exe folder>/Lib`` on Windows).
    Slicer keeps it in ``lib/Python`` instead, reached only through the launcher's ``PYTHONHOME``,
    which uv's isolated interpreters (the environment's, and its build environments') never see.
    The view puts a copy of the interpreter (a few kB: the code is in ``libpython``, found through
    the library path of ``child_environ``) beside links to Slicer's folders:

    - POSIX: ``bin/pythonX.Y`` (copy), ``lib`` and ``include`` -> ``<base_prefix>/lib`` and
      ``<base_prefix>/include`` (symbolic links; ``include`` where the base has one);
    - Windows: ``python.exe`` (copy, so that venv's launcher finds ``home\\python.exe``) and the
      ``python*.dll`` / ``vcruntime*.dll`` beside it (copies), ``Lib``, ``DLLs`` and ``include`` ->
      Slicer's (directory junctions, which need no administrator rights).

    The ``include`` link lets whoever adds a package that builds from source use the base's headers
    (the pinned set itself installs from wheels only).

    Slicer's install is only read. Returns the view's interpreter.
    """
    platform = platform or current_platform()
    folder = Path(folder)
    shutil.rmtree(folder, ignore_errors=True)
    executable = Path(base["executable"])
    prefix = Path(base["base_prefix"])
    if platform == "win32":
        import _winapi  # noqa: PLC0415  (Windows only)

        folder.mkdir(parents=True)
        target = folder / "python.exe"
        shutil.copy2(executable, target)
        for dll in [*executable.parent.glob("python*.dll"), *executable.parent.glob("vcruntime*.dll")]:
            shutil.copy2(dll, folder / dll.name)
        for name in ("Lib", "DLLs", "include"):
            if (prefix / name).is_dir():
                _winapi.CreateJunction(str(prefix / name), str(folder / name))
        return target
    major_minor = ".".join(base["version"].split(".")[:2])
    (folder / "bin").mkdir(parents=True)
    target = folder / "bin" / f"python{major_minor}"
    shutil.copy2(executable, target)
    for name in ("lib", "include"):
        if name == "lib" or (prefix / name).is_dir():
            os.symlink(prefix / name, folder / name, target_is_directory=True)
    return target
