"""The ``radsurv`` command.

    radsurv score --ct CT --gtv GTV --out DIR [--bundle B] [--rings 3,6,9] [--device auto|cpu|cuda]
                  [--scene FILE.mrb] [--overwrite]
    radsurv score --ct DICOM_DIR (--rtstruct FILE --roi NAME | --seg FILE [--roi LABEL]) --out DIR ...
    radsurv train-demo --out FOLDER      (reproduces the shipped demonstration bundle)
    radsurv ibsi --out DIR [--configs phantom,A,...]   (IBSI 1 compliance tables)
    radsurv signature fit|apply ..., radsurv evaluate ..., radsurv report ..., radsurv baseline ...   (radiomics signatures)

Errors in the input are printed as one message naming the problem (exit status 2), never as a
traceback.
"""

from __future__ import annotations

import argparse
import sys

from .. import __version__
from ..errors import RadSurvError


#: Modules that add subcommands: each has ``add_parsers(subparsers)`` and ``RUNNERS`` (name -> run(args)).
COMMAND_MODULES = (
    "RadSurvLib.cli.score",
    "RadSurvLib.cli.batch",
    "RadSurvLib.cli.voxelmaps",
    "RadSurvLib.cli.train_demo",
    "RadSurvLib.cli.ibsi",
    "RadSurvLib.cli.survival",
    "RadSurvLib.training.commands",
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


def main(argv=None) -> int:
    """Entry point of ``radsurv``; returns the exit status (2 for input errors)."""
    args = build_parser().parse_args(argv)
    runners = {}
    for module in _command_modules():
        runners.update(module.RUNNERS)
    try:
        return runners[args.command](args)
    except RadSurvError as exc:
        print(f"radsurv: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
