"""``radsurv environment create|status|repair``: RadSurv's own Python environment.

The one entry point the Slicer module's Install / Repair buttons, scripts and tests share; from
Slicer: ``PythonSlicer -m RadSurvLib environment create`` (``RadSurvLib.worker.environment``).
Prints the location, the state and, on failure, the step that failed and its log; exit status 0
when the environment is ready, 1 when it is not, 2 for bad input.
"""

from __future__ import annotations

import sys

ACTIONS = ("create", "status", "repair")


def _environment_parser(sub) -> None:
    p = sub.add_parser("environment", help="create, check or repair RadSurv's own Python environment",
                       description="RadSurv runs PyTorch, PyRadiomics and MONAI in its own Python environment, "
                                   "apart from 3D Slicer's Python. 'create' makes it, 'status' checks that its "
                                   "pinned packages import, 'repair' makes it again.")
    p.add_argument("action", choices=ACTIONS)
    p.add_argument("--location", default=None,
                   help="environment folder (default: $RADSURV_ENV or the per-user data folder, e.g. "
                        "~/.local/share/RadSurv/python-env)")
    p.add_argument("--python", default=None,
                   help="interpreter to make it from (default: this one; from Slicer: PythonSlicer)")
    p.add_argument("--torch-backend", default=None,
                   help="PyTorch build: auto (from the GPU driver, default), cpu, cu128, ... or none "
                        "(left to the indexes and --find-links)")
    p.add_argument("--find-links", action="append", default=[],
                   help="folder or page of wheels to install from (repeatable; offline hospitals)")
    p.add_argument("--offline", action="store_true", help="use no network: only --find-links and uv's cache")
    p.add_argument("--no-import-check", action="store_true",
                   help="status: check the files and the record only, do not import the packages")


def _run_environment(args) -> int:
    from ..worker.environment import EnvironmentSetupError, PythonEnvironment

    uv_args = [a for folder in args.find_links for a in ("--find-links", folder)]
    if args.offline:
        uv_args.append("--offline")
    env = PythonEnvironment(args.location, base_python=args.python, uv_args=uv_args,
                            torch_backend=args.torch_backend,
                            log=lambda line: print(f"  {line} ...", flush=True))
    print(f"location: {env.location}")
    if args.action != "status":
        try:
            env.repair() if args.action == "repair" else env.create()
        except EnvironmentSetupError as exc:
            print("state: not ready")
            print(f"failed step: {exc.step}")
            print(f"log: {exc.log_file}")
            print(f"radsurv: error: {exc}", file=sys.stderr)
            return 1
    status = env.status(check_imports=not args.no_import_check)
    print(f"state: {status.state}")
    print(f"detail: {status.reason}")
    return 0 if status.ready else 1


def add_parsers(sub) -> None:
    """Add ``radsurv environment``."""
    _environment_parser(sub)


RUNNERS = {"environment": _run_environment}
