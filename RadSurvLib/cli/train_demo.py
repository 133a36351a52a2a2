"""``radsurv train-demo``: the demonstration bundle's preset of the normal training (``RadSurvLib.training.demo``)."""

from __future__ import annotations


def add_parsers(sub) -> None:
    """Add ``radsurv train-demo`` (``--out`` and one flag per ``training.demo.DEFAULTS`` entry)."""
    from ..training.demo import DEFAULTS

    p = sub.add_parser("train-demo", help="train the demonstration bundle (synthetic cases on a real CT)",
                       description="Train SEResNet3D on synthetic tumours inserted into the PAT1 CT with the "
                                   "demonstration preset of radsurv train (held-out C-index in the provenance).")
    p.add_argument("--out", required=True, help="output bundle folder")
    for key, value in DEFAULTS.items():
        p.add_argument(f"--{key.replace('_', '-')}", type=type(value), default=value, help=f"default {value}")
    p.add_argument("--progress", action="store_true", help="progress bars")


def _run_train_demo(args) -> int:
    from ..training.demo import DEFAULTS, train_demo

    train_demo(args.out, progress=args.progress, **{key: getattr(args, key) for key in DEFAULTS})
    return 0


RUNNERS = {"train-demo": _run_train_demo}
