"""``radsurv signature fit|apply``, ``radsurv evaluate``, ``radsurv report`` and ``radsurv baseline``:
parsers and runners (parse, call ``RadSurvLib.survival``, print).

:func:`add_parsers` registers the sub-commands on the ``radsurv`` parser; :data:`RUNNERS` maps each
command name to its run function (``args -> exit status``).
"""

from __future__ import annotations

import time as _time

from ..errors import InputError


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
    fit.add_argument("--lasso-min-ratio", type=float, default=None,
                     help="smallest / largest penalty of the Lasso grid (default 0.05 with more features than "
                          "patients, else 0.01)")
    fit.add_argument("--prefilter-p", default="0.05",
                     help="univariate Cox Wald p threshold of the prefilter before the Lasso (default 0.05); "
                          "'none' for no prefilter (every usable feature enters the Lasso)")
    fit.add_argument("--params-file", default=None,
                     help="PyRadiomics parameter file (YAML) the features were extracted with: recorded in the bundle "
                          "(and copied beside signature.json)")
    fit.add_argument("--restrict-to", default=None, metavar="YAML",
                     help="fit only on the features of the image types this parameter file enables (e.g. the one "
                          "`radsurv score` uses), so that the signature can be applied to what it computes")
    fit.add_argument("--about", default=None, metavar="JSON",
                     help="JSON file of free text recorded as the bundle's 'about' (description, intended use, "
                          "licences of the data)")
    fit.add_argument("--volume-column", default=None,
                     help="feature column holding the tumour volume (mm^3) for the volume baseline (default "
                          "original_shape_MeshVolume, else original_shape_VoxelVolume; without one the volume "
                          "baseline is absent and the run says so)")
    fit.add_argument("--groups", default=None,
                     help="combined model (Liu et al.): feature groups as name=prefix1|prefix2;name2=prefix3, one "
                          "signature per group, PCA over their selected features, Cox on the components")
    fit.add_argument("--pca-variance", type=float, default=0.95,
                     help="explained-variance fraction the combined model's PCA keeps (default 0.95)")
    fit.add_argument("--no-baselines", action="store_true",
                     help="do not fit the baselines (tumour volume, size, clinical, signature + clinical, logistic "
                          "regression, random forest) on the same folds")
    app = sig_sub.add_parser("apply", help="apply a signature bundle to a feature table",
                             description="Write predictions.csv (radscore, risk, risk group, survival at 1/2/3 y).")
    _common_table_args(app)
    app.add_argument("--signature", required=True, help="signature bundle folder or signature.json")
    app.add_argument("--out", required=True, help="output CSV")
    app.add_argument("--set-name", default="external", help="value of the 'set' column (default external)")

    ev = sub.add_parser("evaluate", help="C-index with CI, Uno's C, td-AUC, KM/log-rank/HR, baselines, "
                                         "subgroup forest plot, calibration, decision curves",
                        description="Evaluate one set of a predictions.csv; writes evaluation.json and PNGs "
                                    "(the input of `radsurv report`).")
    ev.add_argument("--predictions", required=True, help="predictions.csv from `signature fit` or `signature apply`")
    ev.add_argument("--set", default=None, help="set to evaluate: test, cv, train, ... (default test > cv > train)")
    ev.add_argument("--out", required=True, help="output folder")
    ev.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples (default 1000)")
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--compare", default=None,
                    help="second predictions CSV (PatientID + probability or risk): DeLong test of the two AUCs "
                         "for --endpoint, or for death by --horizon years (patients censored before it excluded)")
    ev.add_argument("--horizon", type=float, default=2.0, help="years of the --compare survival endpoint (default 2)")
    ev.add_argument("--death-by", type=float, default=None,
                    help="binary report of the endpoint death within this many years (censored earlier: excluded): "
                         "ROC with CI, confusion matrix, calibration, DeLong against the baselines")
    ev.add_argument("--endpoint", default=None,
                    help="binary 0/1 column (in the predictions or --clinical): accuracy, AUC with DeLong 95%% CI, "
                         "sensitivity, specificity instead of the survival evaluation")
    ev.add_argument("--clinical", default=None, help="table holding the --endpoint column, joined on --id-column")
    ev.add_argument("--id-column", default="PatientID")
    ev.add_argument("--score-column", default=None, help="score column (default probability, else risk)")
    ev.add_argument("--threshold", type=float, default=None,
                    help="positive when score >= threshold (default 0.5 for probability, else the training "
                         "median risk_cutoff column, else the median of the evaluated scores)")

    bl = sub.add_parser("baseline", help="logistic-regression / random-forest baseline of a binary endpoint, "
                                         "stratified K-fold CV (Kothinti et al.)",
                        description="Cross-validated P(endpoint = 1); z-scoring and feature selection are fitted "
                                    "inside each training fold. Writes predictions.csv and metrics.json into --out.")
    _common_table_args(bl)
    bl.add_argument("--out", required=True, help="output folder")
    target = bl.add_mutually_exclusive_group(required=True)
    target.add_argument("--endpoint", default=None, help="binary 0/1 column of the clinical/feature table")
    target.add_argument("--death-by", type=float, default=None,
                        help="endpoint = death within this many years (censored earlier: excluded)")
    bl.add_argument("--model", choices=["logistic", "random-forest"], default="logistic")
    bl.add_argument("--folds", type=int, default=5, help="stratified CV folds (default 5)")
    bl.add_argument("--max-features", type=int, default=20, help="features kept per fold, ANOVA F (default 20)")
    bl.add_argument("--seed", type=int, default=0)

    rep = sub.add_parser("report", help="the report of a signature and its evaluation: one self-contained HTML "
                                        "file and a PDF of the same",
                         description="Method in sentences, tables with CIs, Kaplan-Meier with numbers at risk, "
                                     "baselines, subgroup forest plot, calibration, decision curves (or, for a "
                                     "binary endpoint, ROC, confusion matrix, calibration, DeLong).")
    rep.add_argument("--signature", required=True, help="signature bundle folder")
    rep.add_argument("--evaluation", required=True, help="folder written by `radsurv evaluate`")
    rep.add_argument("--out", required=True, help="output HTML file")
    rep.add_argument("--pdf", default=None, help="also write the report as this PDF file")


def _log(start):
    return lambda message: print(f"[{_time.perf_counter() - start:7.1f} s] {message}", flush=True)


def _extraction_and_about(args, table, say):
    """The bundle's ``extraction`` and ``about`` records from ``--params-file`` / ``--restrict-to`` /
    ``--about``; ``--restrict-to`` also drops the feature columns of other image types from ``table``
    (shape features, computed on the mask, are kept with the ``original_`` ones).

    Raises:
        InputError: an unreadable file, an ``--about`` that is not a JSON object, or a restriction that
            leaves no feature column.
    """
    import json
    from pathlib import Path

    from ..survival.signature import extraction_prefixes, sha256

    extraction = None
    if args.params_file or args.restrict_to:
        import yaml

        extraction = {}
        if args.params_file:
            if not Path(args.params_file).is_file():
                raise InputError(f"--params-file {args.params_file} does not exist")
            extraction.update({"parameter_file": "radiomics_config.yaml", "source": Path(args.params_file).name,
                               "sha256": sha256(args.params_file),
                               "setting": yaml.safe_load(Path(args.params_file).read_text())})
        if args.restrict_to:
            if not Path(args.restrict_to).is_file():
                raise InputError(f"--restrict-to {args.restrict_to} does not exist")
            prefixes = extraction_prefixes(args.restrict_to)
            keep = [c for c in table.features.columns if str(c).startswith(prefixes)]
            if not keep:
                raise InputError(f"--restrict-to {args.restrict_to}: no feature column starts with {list(prefixes)}")
            say(f"--restrict-to {Path(args.restrict_to).name}: {len(keep)} of {table.features.shape[1]} feature "
                "columns are of its image types")
            table.features = table.features[keep]
            extraction["restricted_to"] = {"parameter_file": Path(args.restrict_to).name,
                                           "sha256": sha256(args.restrict_to), "prefixes": list(prefixes)}
    about = None
    if args.about:
        try:
            about = json.loads(Path(args.about).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError(f"--about {args.about}: not a readable JSON file ({exc})") from None
        if not isinstance(about, dict):
            raise InputError(f"--about {args.about}: must hold a JSON object")
    return extraction, about


def _prefilter_p(text):
    """``--prefilter-p`` as a float, or None for 'none' / 'off'.

    Raises:
        InputError: neither a number nor none/off.
    """
    if str(text).strip().lower() in ("none", "off", "no"):
        return None
    try:
        return float(text)
    except ValueError:
        raise InputError(f"--prefilter-p: {text!r} is not a p-value threshold; give a number in (0, 1] "
                         "(default 0.05) or none") from None


def run_signature(args) -> int:
    """Run ``radsurv signature fit`` or ``apply``."""
    from ..survival.data import load_feature_table

    start = _time.perf_counter()
    say = _log(start)
    if args.signature_command == "fit":
        from ..survival.signature import check_cv_settings, fit_and_predict

        flags = {"n_folds": "--lasso-folds", "n_lambdas": "--n-lambdas", "cv": "--cv", "p_threshold": "--prefilter-p",
                 "min_ratio": "--lasso-min-ratio"}
        p_threshold = _prefilter_p(args.prefilter_p)
        check_cv_settings(n_folds=args.lasso_folds, n_lambdas=args.n_lambdas, names=flags, p_threshold=p_threshold,
                          min_ratio=args.lasso_min_ratio)  # before reading
        table = load_feature_table(args.features, args.clinical, args.id_column, args.time_column,
                                   args.event_column)
        check_cv_settings(n_folds=args.lasso_folds, n_lambdas=args.n_lambdas, cv=args.cv,
                          n_patients=int(table.time.size), names=flags)
        for note in table.notes:
            say(note)
        say(f"{table.time.size} patients, {int(table.event.sum())} events, {table.features.shape[1]} features")
        covariates = [c.strip() for c in args.clinical_covariates.split(",") if c.strip()]
        inputs = {"features": args.features}
        if args.clinical:
            inputs["clinical"] = args.clinical
        extraction, about = _extraction_and_about(args, table, say)
        groups = None
        if args.groups:
            from ..survival.signature import parse_groups

            groups = parse_groups(args.groups, table.features.columns)
        sig = fit_and_predict(table, args.out, split=args.split, cv=args.cv, covariates=covariates,
                              seed=args.seed, n_folds=args.lasso_folds, n_lambdas=args.n_lambdas,
                              inputs=inputs, progress=say, groups=groups, variance=args.pca_variance,
                              baselines=not args.no_baselines, p_threshold=p_threshold,
                              min_ratio=args.lasso_min_ratio, volume_column=args.volume_column,
                              extraction=extraction, about=about)
        if args.params_file:
            import shutil
            from pathlib import Path

            shutil.copyfile(args.params_file, Path(args.out) / "radiomics_config.yaml")
        if sig.get("combined"):
            comb = sig["combined"]
            print(f"combined model: {comb['n_components']} principal component(s) keep "
                  f"{100 * comb['variance_kept']:.1f} % of the variance; per-feature weights below")
        print(f"selected features ({len(sig['features'])}):")
        for name, coef in zip(sig["features"], sig["coefficients"]):
            print(f"  {coef:+.4f}  {name}")
        for warning in sig["warnings"]:
            print(f"WARNING: {warning}")
        for key, reason in sig["provenance"]["design"].get("baselines_absent", {}).items():
            print(f"WARNING: baseline {key.replace('_', ' ')} ABSENT: {reason}")
        print(f"bundle: {args.out}/signature.json, predictions: {args.out}/predictions.csv")
        return 0
    from ..survival.signature import HORIZONS_YEARS, apply_signature, load_signature

    import pandas as pd

    sig = load_signature(args.signature)
    table = load_feature_table(args.features, args.clinical, args.id_column, args.time_column, args.event_column,
                               require_survival=False)
    res = apply_signature(sig, table.features, table.clinical)
    frame = pd.DataFrame({"PatientID": table.ids, "set": args.set_name, "fold": -1,
                          "radscore": res["radscore"], "risk": res["risk"], "risk_cutoff": sig["risk_cutoff"],
                          "risk_group": ["high" if h else "low" for h in res["high_risk"]]})
    for years in HORIZONS_YEARS:
        frame[f"survival_{years}y"] = res[f"survival_{years}y"]
    if table.time is not None:
        frame.insert(3, "time_days", table.time)
        frame.insert(4, "event", table.event.astype(int))
    from ..survival.signature import SUBGROUP_COLUMNS

    for col in SUBGROUP_COLUMNS:
        if col in table.clinical.columns:
            frame[col] = table.clinical[col].to_numpy()
    frame.to_csv(args.out, index=False)
    say(f"{len(frame)} patients scored -> {args.out}")
    return 0


def _delong_line(d) -> str:
    return (f"DeLong: AUC {d['auc_a']:.3f} vs {d['auc_b']:.3f} (comparison), difference {d['difference']:+.3f} "
            f"(95% CI {d['difference_low']:+.3f} to {d['difference_high']:+.3f}), z {d['z']:.2f}, p {d['p_value']:.3g}; "
            f"{d['n_pos']} positive, {d['n_neg']} negative, {d['n_excluded']} excluded")


def _binary_metrics_line(m) -> str:
    return (f"accuracy {m['accuracy']:.3f}, AUC {m['auc']:.3f} (95% CI {m['auc_low']:.3f}-{m['auc_high']:.3f}, DeLong), "
            f"sensitivity {m['sensitivity']:.3f}, specificity {m['specificity']:.3f} at threshold {m['threshold']:.4g}; "
            f"{m['n_pos']} positive, {m['n_neg']} negative")


def run_evaluate(args) -> int:
    """Run ``radsurv evaluate``."""
    if args.endpoint:
        return _run_evaluate_binary(args)
    if args.death_by is not None:
        return _run_evaluate_death_by(args)
    import json
    from pathlib import Path

    from ..survival.report import evaluate_to_folder

    ev = evaluate_to_folder(args.predictions, args.out, which=args.set, n_boot=args.bootstrap, seed=args.seed)
    if args.compare:
        from ..survival.binary import compare_tables, horizon_endpoint
        from ..survival.data import read_table

        frame = read_table(args.predictions, "predictions table")
        frame = frame[frame["set"].astype(str) == ev["set"]].reset_index(drop=True)
        y, known = horizon_endpoint(frame["time_days"], frame["event"], args.horizon)
        d = compare_tables(frame, read_table(args.compare, "comparison predictions"), y, known,
                           id_column=args.id_column, column=args.score_column, set_name=ev["set"])
        d.update({"endpoint": f"death by {args.horizon:g} y", "compare": str(args.compare)})
        ev["delong"] = d
        Path(args.out, "evaluation.json").write_text(json.dumps(ev, indent=1))
    c, km = ev["harrell_c"], ev["km"]
    fmt = lambda v: "n/a" if v is None else f"{v:.3f}"  # noqa: E731
    print(f"set {ev['set']}: {ev['n']} patients, {ev['events']} events")
    print(f"Harrell's C pooled {c['value']:.3f} (95% CI {fmt(c['low'])}-{fmt(c['high'])}, {c['n_boot']} bootstrap), "
          f"Uno's C {fmt(ev['uno_c'])}")
    print("td-AUC: " + ", ".join(f"{k} y {fmt(v)}" for k, v in ev["td_auc"].items()))
    p = "n/a" if km["logrank_p"] is None else f"{km['logrank_p']:.3g}"
    print(f"KM high ({km['n_high']}) vs low ({km['n_low']}): log-rank p {p}, HR {fmt(km['hr'])} "
          f"(95% CI {fmt(km['hr_low'])}-{fmt(km['hr_high'])})")
    within = ev.get("harrell_c_within_fold") or {}
    if within.get("n_folds", 1) > 1:
        print(f"Harrell's C mean within-fold {fmt(within['value'])} (95% CI {fmt(within['low'])}-{fmt(within['high'])}; "
              f"per fold {', '.join(fmt(v) for v in within['per_fold'])})")
    print("Harrell's C, signature vs baselines (same patients, same folds; differences = signature minus that model, "
          "paired bootstrap from the same resamples):")
    for row in ev["baselines"]:
        cw = row.get("c_within") or {}
        line = (f"  {row['label']:<32} C pooled {row['c']['value']:.3f} (95% CI {fmt(row['c']['low'])}-"
                f"{fmt(row['c']['high'])})")
        if cw.get("n_folds", 1) > 1:
            line += f", within-fold {fmt(cw['value'])} ({fmt(cw['low'])}-{fmt(cw['high'])})"
        if "vs_signature" in row:
            d = row["vs_signature"]
            line += (f"; signature minus {row['label']}: pooled {d['difference']:+.3f} (95% CI {fmt(d['low'])} to "
                     f"{fmt(d['high'])}), p {fmt(d['p_value'])}")
            dw = row.get("vs_signature_within") or {}
            if cw.get("n_folds", 1) > 1 and dw.get("difference") is not None:
                line += f", within-fold {dw['difference']:+.3f} ({fmt(dw['low'])} to {fmt(dw['high'])}), p {fmt(dw['p_value'])}"
            if "delong" in row:
                line += (f"; AUC death by 2 y: signature {row['delong']['auc_a']:.3f}, {row['label']} "
                         f"{row['delong']['auc_b']:.3f}, DeLong p {row['delong']['p_value']:.3f}")
        print(line)
    for note in ev["notes"]:
        print(f"note: {note}")
    if "delong" in ev:
        print(f"{ev['delong']['endpoint']}: " + _delong_line(ev["delong"]))
    print(f"written: {args.out}/evaluation.json and figures")
    return 0


def _run_evaluate_death_by(args) -> int:
    """``radsurv evaluate --death-by YEARS``: the binary report's evaluation (ROC, confusion, calibration,
    DeLong against every baseline column of the predictions)."""
    from ..survival.report import evaluate_to_folder

    ev = evaluate_to_folder(args.predictions, args.out, which=args.set, n_boot=args.bootstrap, seed=args.seed,
                            endpoint_years=args.death_by)
    print(f"set {ev['set']}, {ev['endpoint']}: {ev['n_pos']} positive, {ev['n_neg']} negative, "
          f"{ev['n_excluded']} excluded (censored earlier)")
    for row in ev["models"]:
        line = f"  {row['label']:<36} AUC {row['auc']:.3f} (95% CI {row['auc_low']:.3f}-{row['auc_high']:.3f})"
        if "delong" in row:
            line += (f"; DeLong signature minus {row['label']} {row['delong']['difference']:+.3f}, "
                     f"p {row['delong']['p_value']:.3f}")
        print(line)
    cm = ev["confusion"]
    print(f"signature high-risk group as positive: accuracy {cm['accuracy']:.3f}, sensitivity {cm['sensitivity']:.3f}, "
          f"specificity {cm['specificity']:.3f}")
    print(f"written: {args.out}/evaluation.json and figures")
    return 0


def _run_evaluate_binary(args) -> int:
    """``radsurv evaluate --endpoint COLUMN``: binary metrics of one set (and DeLong with --compare)."""
    import json
    from pathlib import Path

    import numpy as np

    from ..survival.binary import binary_metrics, compare_tables, default_threshold, score_column
    from ..survival.data import read_table
    from ..survival.report import choose_set

    frame = read_table(args.predictions, "predictions table")
    if "set" in frame.columns:
        name = choose_set(frame, args.set)
        frame = frame[frame["set"].astype(str) == name].reset_index(drop=True)
    else:
        name = "all"
    if args.endpoint not in frame.columns:
        if not args.clinical:
            raise InputError(f"endpoint column {args.endpoint!r} is not in the predictions; give --clinical")
        clin = read_table(args.clinical, "clinical table")
        for col in (args.id_column, args.endpoint):
            if col not in clin.columns:
                raise InputError(f"clinical table {args.clinical} has no column {col!r}")
        if args.id_column not in frame.columns:
            raise InputError(f"predictions table has no ID column {args.id_column!r}")
        lookup = dict(zip(clin[args.id_column].astype(str), clin[args.endpoint]))
        frame[args.endpoint] = [lookup.get(i, float("nan")) for i in frame[args.id_column].astype(str)]
    known = frame[args.endpoint].notna().to_numpy()
    col = score_column(frame, args.score_column)
    threshold, how = (args.threshold, "given") if args.threshold is not None else default_threshold(frame, col)
    y = frame[args.endpoint].to_numpy()
    m = binary_metrics(y[known], frame[col].to_numpy(float)[known], threshold)
    ev = {"set": name, "endpoint": args.endpoint, "score": col, "threshold_rule": how,
          "n_excluded": int((~known).sum()), "binary": m, "source": str(args.predictions)}
    print(f"set {name}, endpoint {args.endpoint}, score {col} ({int((~known).sum())} without endpoint excluded)")
    print(_binary_metrics_line(m) + f" [{how}]")
    if args.compare:
        yk = np.where(known, frame[args.endpoint].fillna(0).to_numpy(float), 0)
        d = compare_tables(frame, read_table(args.compare, "comparison predictions"), yk, known,
                           id_column=args.id_column, column=col, set_name=name)
        d.update({"endpoint": args.endpoint, "compare": str(args.compare)})
        ev["delong"] = d
        print(_delong_line(d))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "evaluation.json").write_text(json.dumps(ev, indent=1))
    print(f"written: {out}/evaluation.json")
    return 0


def run_baseline(args) -> int:
    """Run ``radsurv baseline``: cross-validated logistic regression or random forest."""
    import json
    from pathlib import Path

    import numpy as np
    import pandas as pd

    from ..survival.binary import cross_validate_baseline, horizon_endpoint
    from ..survival.data import load_feature_table

    say = _log(_time.perf_counter())
    data = load_feature_table(args.features, args.clinical, args.id_column, args.time_column, args.event_column,
                              require_survival=args.death_by is not None)
    if args.death_by is not None:
        y, known = horizon_endpoint(data.time, data.event, args.death_by)
        name = f"death_by_{args.death_by:g}y"
    else:
        table = data.clinical if args.endpoint in data.clinical.columns else data.features
        if args.endpoint not in table.columns:
            raise InputError(f"endpoint column {args.endpoint!r} is in neither table")
        values = table[args.endpoint]
        known = values.notna().to_numpy()
        y = values.fillna(0).to_numpy()
        name = args.endpoint
    features = data.features.drop(columns=[args.endpoint], errors="ignore") if args.endpoint else data.features
    features = features.loc[known].reset_index(drop=True)
    say(f"{int(known.sum())} patients with a known endpoint ({int((~known).sum())} excluded), "
        f"{features.shape[1]} feature columns; {args.model}, {args.folds}-fold stratified CV")
    res = cross_validate_baseline(features, y[known], model=args.model, folds=args.folds, seed=args.seed,
                                  max_features=args.max_features)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame({"PatientID": np.asarray(data.ids)[known], "set": "cv", "fold": res["fold"],
                          name: np.asarray(y[known], dtype=float).astype(int), "probability": res["probability"]})
    frame.rename(columns={"PatientID": args.id_column}).to_csv(out / "predictions.csv", index=False)
    info = {"endpoint": name, "model": args.model, "folds": args.folds, "seed": args.seed,
            "max_features": args.max_features, "n_excluded": int((~known).sum()), "metrics": res["metrics"],
            "selected_per_fold": res["selected"]}
    (out / "metrics.json").write_text(json.dumps(info, indent=1))
    print(f"{args.model}, {args.folds}-fold CV, endpoint {name}: " + _binary_metrics_line(res["metrics"]))
    print(f"written: {out}/predictions.csv, {out}/metrics.json")
    return 0


def run_report(args) -> int:
    """Run ``radsurv report``."""
    from ..survival.report import write_report

    path = write_report(args.signature, args.evaluation, args.out, out_pdf=args.pdf)
    print(f"report: {path}" + (f", {args.pdf}" if args.pdf else ""))
    return 0


RUNNERS = {"signature": run_signature, "evaluate": run_evaluate, "report": run_report, "baseline": run_baseline}
