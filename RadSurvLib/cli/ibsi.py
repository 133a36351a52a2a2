"""``radsurv ibsi``: IBSI 1 compliance tables."""

from __future__ import annotations


def _ibsi_parser(sub) -> None:
    p = sub.add_parser("ibsi", help="IBSI 1 compliance tables of the ROI features RadSurv reports",
                       description="Compute RadSurv's ROI features (PyRadiomics' definitions) on the IBSI digital phantom and on "
                                   "PAT1 under configurations A-E, compare them with the IBSI reference values "
                                   "and write ibsi_features.csv and ibsi_summary.md into --out.")
    p.add_argument("--out", required=True, help="output folder for the tables")
    p.add_argument("--configs", default=None,
                   help="comma-separated configurations (default: phantom,phantom-2D,A,B,C,D,E)")
    p.add_argument("--reference-dir", default=None, help="folder of the IBSI reference CSVs (default: shipped copy)")
    p.add_argument("--radiomics-engine", choices=("radsurv", "pyradiomics"), default="radsurv",
                   help="radsurv (RadSurv's own engine, the default) or pyradiomics (PyRadiomics itself, the "
                        "reference; needs pip install 'radsurv[pyradiomics]')")


def _run_ibsi(args) -> int:
    from ..validation.ibsi import run_all

    configs = [c.strip() for c in args.configs.split(",") if c.strip()] if args.configs else None
    run_all(args.out, configs, reference_dir=args.reference_dir, engine=args.radiomics_engine)
    print(f"tables in {args.out}: ibsi_features.csv, ibsi_summary.md")
    return 0


def add_parsers(sub) -> None:
    """Add ``radsurv ibsi``."""
    _ibsi_parser(sub)


RUNNERS = {"ibsi": _run_ibsi}
