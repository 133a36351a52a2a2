"""The ``radsurv`` command.

    radsurv score --ct CT --gtv GTV --out DIR [scoring options: --bundle B, --rings, --device, ...,
                  --scene FILE.mrb, --overwrite]   (RadSurvLib.options.add_arguments)
    radsurv score --ct DICOM_DIR (--rtstruct FILE --roi NAME | --seg FILE [--roi LABEL]) --out DIR ...
    radsurv train-demo --out FOLDER      (reproduces the shipped demonstration bundle)
    radsurv ibsi --out DIR [--configs phantom,A,...]   (IBSI 1 compliance tables)
    radsurv environment create|status|repair [--location DIR]   (RadSurv's own Python environment)
    radsurv signature fit|apply ..., radsurv evaluate ..., radsurv report ..., radsurv baseline ...   (radiomics signatures)

Errors in the input are printed as one message naming the problem (exit status 2), never as a
traceback; Ctrl-C / SIGTERM exit 130, internal errors 1 with a log file (see ``main``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .. import __version__
from ..errors import user_message, write_crash_log


#: Modules that add subcommands: each has ``add_parsers(subparsers)`` and ``RUNNERS`` (name -> run(args)).
COMMAND_MODULES = (
    "RadSurvLib.cli.score",
    "RadSurvLib.cli.batch",
    "RadSurvLib.cli.voxelmaps",
    "RadSurvLib.cli.train_demo",
    "RadSurvLib.cli.ibsi",
    "RadSurvLib.cli.survival",
    "RadSurvLib.cli.environment",
    "RadSurvLib.cli.training",
    "RadSurvLib.cli.app",
)


def _command_modules():
    import importlib

    return [importlib.import_module(name) for name in COMMAND_MODULES]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``radsurv`` command."""
    parser = argparse.ArgumentParser(prog="radsurv", description="RadSurv: NSCLC survival from CT + GTV.")
    parser.add_argument("--version", action="version", version=f"radsurv {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in _command_modules():
        module.add_parsers(sub)
    return parser


#: Exit status of a run stopped by Ctrl-C (SIGINT) or SIGTERM: 128 + SIGINT, as shells report it.
EXIT_INTERRUPTED = 130

def _crash_log(command: str) -> Path:
    """Write the current exception's traceback to a new log file (``errors.write_crash_log``); returns its path."""
    import platform
    import traceback

    return write_crash_log(command, f"radsurv {__version__} {command}, Python {platform.python_version()} on "
                                    f"{platform.platform()}\ncommand line: {' '.join(sys.argv)}\n\n"
                                    f"{traceback.format_exc()}")


def _terminate_as_interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv=None) -> int:
    """Entry point of ``radsurv``; returns the exit status.

    Every failure is one line on stderr, never a traceback:

    - 0: done; 2: bad input (a ``RadSurvError``: input, option or bundle, in the CLI's terms), or
      what the system refused (a full disk, a read-only folder, permission, a file that vanished:
      ``errors.environment_failure``);
    - 130: stopped by Ctrl-C or SIGTERM (the unfinished run's outputs are removed, earlier ones kept);
    - 1: an internal error; the traceback is written to a log file whose path the message names
      (``$RADSURV_LOG_DIR``, default ``<temp>/radsurv-logs``).
    """
    import signal

    args = build_parser().parse_args(argv)
    runners = {}
    for module in _command_modules():
        runners.update(module.RUNNERS)
    previous = signal.getsignal(signal.SIGTERM)
    try:
        signal.signal(signal.SIGTERM, _terminate_as_interrupt)
    except ValueError:  # not the main thread: leave SIGTERM alone
        previous = None
    try:
        return runners[args.command](args)
    except KeyboardInterrupt:
        print(f"radsurv: interrupted; {args.command} stopped (unfinished outputs removed, earlier results "
              "kept).", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001  (one message and a log, never a traceback)
        message = user_message(exc, "cli")
        if message is None:
            return _internal_error(args.command, exc)
        print(f"radsurv: error: {message}", file=sys.stderr)
        return 2
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _internal_error(command: str, exc: BaseException) -> int:
    try:
        log = f"the details are in {_crash_log(command)}"
    except OSError as log_error:
        log = f"no log could be written ({log_error})"
    print(f"radsurv: internal error in {command}: {type(exc).__name__}: {exc}. This is a bug in RadSurv; "
          f"{log}; please report it with that file.", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
