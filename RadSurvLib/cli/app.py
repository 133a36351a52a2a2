"""``radsurv app``: the web app (RadSurvLib.app) on 127.0.0.1 unless ``--host`` says otherwise."""

from __future__ import annotations

import argparse

from ..errors import InputError


def add_parsers(sub) -> None:
    """Add ``radsurv app`` to the subcommands."""
    parser = sub.add_parser("app", help="delineate and score in a browser (trame-slicer; pip install -e '.[app]')",
                            formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on; 0.0.0.0 only behind a reverse proxy with authentication")
    parser.add_argument("--port", type=int, default=8080, help="TCP port")
    parser.add_argument("--data", default=None, help="server-side folder offered in the app's data browser")


def run(args) -> int:
    """Start the server (blocks)."""
    from pathlib import Path

    if args.data is not None and not Path(args.data).is_dir():
        raise InputError(f"--data: {args.data} is not a folder.")
    if not 0 < args.port < 65536:
        raise InputError(f"--port: {args.port} is not a TCP port (1-65535).")
    try:
        from ..app.server import main
    except ImportError as exc:
        raise InputError(f"radsurv app needs the app extra ({exc.name} is missing): pip install -e '.[app]'.") from None
    main(host=args.host, port=args.port, data_dir=args.data)
    return 0


RUNNERS = {"app": run}
