"""``radsurv train-demo``: reproduce the shipped demonstration bundle."""

from __future__ import annotations


def _train_demo_parser(sub) -> None:
    from ..training import demo

    p = sub.add_parser("train-demo", help="reproduce the shipped demonstration bundle (synthetic cohort on a real CT)",
                       description=demo.__doc__.split("\n\n")[0])
    demo.add_arguments(p)


def _run_train_demo(args) -> int:
    from ..training import demo

    demo.main(args=args)
    return 0


def add_parsers(sub) -> None:
    """Add ``radsurv train-demo``."""
    _train_demo_parser(sub)


RUNNERS = {"train-demo": _run_train_demo}
