"""``radsurv signature fit|apply``, ``radsurv evaluate`` and ``radsurv report``: parsers and runners.

:func:`add_parsers` registers the sub-commands on the ``radsurv`` parser; :data:`RUNNERS` maps each
command name to its run function (``args -> exit status``).
"""

from __future__ import annotations

import time as _time


def _common_table_args(p, survival_required=True):
    p.add_argument("--features", required=True, help="feature table CSV (one row per patient)")
    p.add_argument("--clinical", default=None,
                   help="clinical CSV with survival time (days), event (0/1) and covariates; joined on --id-column")
    p.add_argument("--id-column", default="PatientID", help="patient ID column in both tables (default PatientID)")
    p.add_argument("--time-column", default="Survival.time", help="survival time column, days (default Survival.time)")
    p.add_argument("--event-column", default="deadstatus.event",
                   help="event column, 1 = death, 0 = censored (default deadstatus.event)")


def add_parsers(sub) -> None:
    """Add ``signature`` (with ``fit`` and ``apply``), ``evaluate`` and ``report`` to ``sub``."""
    sig = sub.add_parser("signature", help="fit or apply a radiomics signature (Liu et al. 2025)")
    sig_sub = sig.add_subparsers(dest="signature_command", required=True)
    fit = sig_sub.add_parser("fit", help="z-score, univariate Cox, Lasso-Cox (10-fold CV), RadScore; "
                                         "writes signature.json and predictions.csv into --out",
                             description="Fit a radiomics signature; feature selection sees training data only.")
    _common_table_args(fit)
    fit.add_argument("--out", required=True, help="bundle folder (signature.json, predictions.csv)")
    mode = fit.add_mutually_exclusive_group()
    mode.add_argument("--split", type=float, default=None, help="training fraction of a random stratified split, e.g. 0.7")
    mode.add_argument("--cv", type=int, default=None, help="outer K-fold cross-validation, e.g. 5")
    fit.add_argument("--seed", type=int, default=0, help="seed of the split and of the folds (default 0)")
    fit.add_argument("--clinical-covariates", default="", help="comma-separated clinical columns joining the Cox model, e.g. age,Overall.Stage")
    fit.add_argument("--lasso-folds", type=int, default=10, help="folds of the Lasso penalty CV (default 10)")
    fit.add_argument("--n-lambdas", type=int, default=30, help="penalty grid length (default 30)")
    fit.add_argument("--groups", default=None,
                     help="combined model (Liu et al.): feature groups as name=prefix1|prefix2;name2=prefix3, one "
                          "signature per group, PCA over their selected features, Cox on the components")
    fit.add_argument("--pca-variance", type=float, default=0.95,
                     help="explained-variance fraction the combined model's PCA keeps (default 0.95)")
    app = sig_sub.add_parser("apply", help="apply a signature bundle to a feature table",
                             description="Write predictions.csv (radscore, risk, risk group, survival at 1/2/3 y).")
    _common_table_args(app)
    app.add_argument("--bundle", required=True, help="signature bundle folder or signature.json")
    app.add_argument("--out", required=True, help="output CSV")
    app.add_argument("--set-name", default="external", help="value of the 'set' column (default external)")

    ev = sub.add_parser("evaluate", help="C-index with CI, Uno's C, td-AUC, KM/log-rank/HR, calibration, "
                                         "decision curves, subgroups",
                        description="Evaluate one set of a predictions.csv; writes evaluation.json and PNGs.")
    ev.add_argument("--predictions", required=True, help="predictions.csv from `signature fit` or `signature apply`")
    ev.add_argument("--set", default=None, help="set to evaluate: test, cv, train, ... (default test > cv > train)")
    ev.add_argument("--out", required=True, help="output folder")
    ev.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples (default 1000)")
    ev.add_argument("--seed", type=int, default=0)

    rep = sub.add_parser("report", help="one HTML report of a signature and its evaluation")
    rep.add_argument("--bundle", required=True, help="signature bundle folder")
    rep.add_argument("--evaluation", required=True, help="folder written by `radsurv evaluate`")
    rep.add_argument("--out", required=True, help="output HTML file")


def _log(start):
    return lambda message: print(f"[{_time.perf_counter() - start:7.1f} s] {message}", flush=True)


def run_signature(args) -> int:
    """Run ``radsurv signature fit`` or ``apply``."""
    from .data import load_cohort

    start = _time.perf_counter()
    say = _log(start)
    if args.signature_command == "fit":
        from .signature import fit_and_predict

        cohort = load_cohort(args.features, args.clinical, args.id_column, args.time_column, args.event_column)
        for note in cohort.notes:
            say(note)
        say(f"{cohort.time.size} patients, {int(cohort.event.sum())} events, {cohort.features.shape[1]} features")
        covariates = [c.strip() for c in args.clinical_covariates.split(",") if c.strip()]
        inputs = {"features": args.features}
        if args.clinical:
            inputs["clinical"] = args.clinical
        groups = None
        if args.groups:
            from .signature import parse_groups

            groups = parse_groups(args.groups, cohort.features.columns)
        sig = fit_and_predict(cohort, args.out, split=args.split, cv=args.cv, covariates=covariates,
                              seed=args.seed, n_folds=args.lasso_folds, n_lambdas=args.n_lambdas,
                              inputs=inputs, progress=say, groups=groups, variance=args.pca_variance)
        if sig.get("combined"):
            comb = sig["combined"]
            print(f"combined model: {comb['n_components']} principal component(s) keep "
                  f"{100 * comb['variance_kept']:.1f} % of the variance; per-feature weights below")
        print(f"selected features ({len(sig['features'])}):")
        for name, coef in zip(sig["features"], sig["coefficients"]):
            print(f"  {coef:+.4f}  {name}")
        for warning in sig["warnings"]:
            print(f"WARNING: {warning}")
        print(f"bundle: {args.out}/signature.json, predictions: {args.out}/predictions.csv")
        return 0
    from .signature import HORIZONS_YEARS, apply_signature, load_signature

    import pandas as pd

    sig = load_signature(args.bundle)
    cohort = load_cohort(args.features, args.clinical, args.id_column, args.time_column, args.event_column,
                         require_survival=False)
    res = apply_signature(sig, cohort.features, cohort.clinical)
    frame = pd.DataFrame({"PatientID": cohort.ids, "set": args.set_name, "fold": -1,
                          "radscore": res["radscore"], "risk": res["risk"], "risk_cutoff": sig["risk_cutoff"],
                          "risk_group": ["high" if h else "low" for h in res["high_risk"]]})
    for years in HORIZONS_YEARS:
        frame[f"survival_{years}y"] = res[f"survival_{years}y"]
    if cohort.time is not None:
        frame.insert(3, "time_days", cohort.time)
        frame.insert(4, "event", cohort.event.astype(int))
    from .signature import SUBGROUP_COLUMNS

    for col in SUBGROUP_COLUMNS:
        if col in cohort.clinical.columns:
            frame[col] = cohort.clinical[col].to_numpy()
    frame.to_csv(args.out, index=False)
    say(f"{len(frame)} patients scored -> {args.out}")
    return 0


def run_evaluate(args) -> int:
    """Run ``radsurv evaluate``."""
    from .report import evaluate_to_folder

    ev = evaluate_to_folder(args.predictions, args.out, which=args.set, n_boot=args.bootstrap, seed=args.seed)
    c, km = ev["harrell_c"], ev["km"]
    fmt = lambda v: "n/a" if v is None else f"{v:.3f}"  # noqa: E731
    print(f"set {ev['set']}: {ev['n']} patients, {ev['events']} events")
    print(f"Harrell's C {c['value']:.3f} (95% CI {fmt(c['low'])}-{fmt(c['high'])}, {c['n_boot']} bootstrap), "
          f"Uno's C {fmt(ev['uno_c'])}")
    print("td-AUC: " + ", ".join(f"{k} y {fmt(v)}" for k, v in ev["td_auc"].items()))
    p = "n/a" if km["logrank_p"] is None else f"{km['logrank_p']:.3g}"
    print(f"KM high ({km['n_high']}) vs low ({km['n_low']}): log-rank p {p}, HR {fmt(km['hr'])} "
          f"(95% CI {fmt(km['hr_low'])}-{fmt(km['hr_high'])})")
    for note in ev["notes"]:
        print(f"note: {note}")
    print(f"written: {args.out}/evaluation.json and figures")
    return 0


def run_report(args) -> int:
    """Run ``radsurv report``."""
    from .report import write_report

    path = write_report(args.bundle, args.evaluation, args.out)
    print(f"report: {path}")
    return 0


RUNNERS = {"signature": run_signature, "evaluate": run_evaluate, "report": run_report}
