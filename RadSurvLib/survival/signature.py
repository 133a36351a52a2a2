"""Radiomics signatures (Liu et al. 2025): fit on training data only, save as JSON, apply.

The recipe of Liu et al. (2025), "Feature selection and model development", restricted to the
training rows:

1. z-score every usable feature with the training mean and standard deviation (ddof = 1);
2. univariate Cox model per feature, keep features with Wald p < 0.05 (Efron ties);
3. Lasso-Cox with the penalty chosen by 10-fold cross-validated partial likelihood; the features
   with non-zero coefficients are the signature;
4. RadScore = sum_j coef_j * z_j, the linear combination of the kept z-scored features.

A Cox model on ``[RadScore, clinical covariates...]`` (lifelines' ``CoxPHFitter``, Efron ties) then
gives the risk score (its linear predictor) and, with the Breslow baseline hazard, survival
probabilities at 1/2/3 years. Patients are "high" risk when their risk score is above the median of
the training risk scores (the cut-off stored in the bundle).

The bundle is one JSON file (``signature.json``) holding everything needed to apply it with NumPy
alone: feature names, training means and SDs, coefficients, the Cox model, the baseline cumulative
hazard (days), the cut-off and the provenance (inputs with SHA-256, options, seed, versions).
"""

from __future__ import annotations

import datetime
import hashlib
import json
from pathlib import Path

import numpy as np

from ..errors import InputError
from .data import DAYS_PER_YEAR, clean_features, encode_covariates

SIGNATURE_FORMAT = "radsurv-signature"
SIGNATURE_VERSION = 1
HORIZONS_YEARS = (1, 2, 3)


def _blas_single_thread():
    """Context manager limiting BLAS to one thread: the many small products of the Cox fits are
    ~10x slower with threaded BLAS on busy cores."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def check_cv_settings(n_folds: int = 10, n_lambdas: int = 30, cv=None, n_patients=None, names=None,
                      p_threshold: float = 0.05, min_ratio=None) -> None:
    """Refuse cross-validation settings that would give a hollow signature or run for nothing.

    Args:
        n_folds: Lasso penalty CV folds (>= 2: with 0 or 1 fold no penalty can be chosen).
        n_lambdas: penalty-grid length (>= 1).
        cv: outer K-fold CV (None, or 2 <= K <= ``n_patients``).
        n_patients: number of patients (checks ``cv``; None: not checked).
        names: the parameters' names in the caller's terms (default the library's: ``n_folds``, ...).
        p_threshold: univariate prefilter threshold (None: no prefilter; else in (0, 1]).
        min_ratio: Lasso penalty-grid ratio (None: default; else in (0, 1)).

    Raises:
        InputError: a setting out of bounds; the message names it and gives the bounds.
    """
    names = {"n_folds": "n_folds", "n_lambdas": "n_lambdas", "cv": "cv", "p_threshold": "p_threshold",
             "min_ratio": "min_ratio", **(names or {})}
    if p_threshold is not None and (isinstance(p_threshold, bool) or not 0.0 < float(p_threshold) <= 1.0):
        raise InputError(f"{names['p_threshold']}: {p_threshold!r} is not a p-value threshold; give a number in "
                         "(0, 1] (default 0.05) or none for no univariate prefilter.")
    if min_ratio is not None and not 0.0 < float(min_ratio) < 1.0:
        raise InputError(f"{names['min_ratio']}: {min_ratio!r}; give the smallest / largest Lasso penalty as a "
                         "number in (0, 1) (default 0.05 with more features than patients, else 0.01).")
    for key, value, low in (("n_folds", n_folds, 2), ("n_lambdas", n_lambdas, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise InputError(f"{names[key]}: {value!r} is too small; give an integer >= {low} "
                             f"(default {10 if key == 'n_folds' else 30}).")
    if cv is not None:
        high = n_patients if n_patients is not None else cv
        if isinstance(cv, bool) or not isinstance(cv, (int, np.integer)) or not 2 <= cv <= high:
            raise InputError(f"{names['cv']}: {cv!r} folds for {n_patients} patients; give 2 to {high} "
                             "folds (5 or 10 are usual).")


def fit_signature(features, time, event, clinical=None, covariates=(), p_threshold: float = 0.05,
                  n_folds: int = 10, n_lambdas: int = 30, seed: int = 0, progress=None, min_ratio=None) -> dict:
    """Fit a radiomics signature (Liu et al. 2025) and its Cox model on training data.

    Args:
        features: ``pandas.DataFrame [N, F]`` of the training patients' features.
        time: ``[N]`` days; event: ``[N]`` bool/0-1.
        clinical: ``pandas.DataFrame [N, C]`` (needed when ``covariates`` are given).
        covariates: clinical column names joining the Cox model next to the RadScore (numeric
            columns as numbers, others one-hot against their first level).
        p_threshold: univariate Cox Wald p-value threshold of the prefilter (0.05); None: no
            prefilter (every usable feature with a finite univariate estimate enters the Lasso).
        n_folds: folds of the Lasso penalty cross-validation (10).
        n_lambdas: penalty-grid length; seed: fold seed.
        min_ratio: smallest / largest penalty of the Lasso grid (None: 0.05 when features outnumber
            patients, else 0.01; :func:`.cox.lambda_grid`).
        progress: optional ``callable(str)`` for log lines.

    Returns:
        The signature dict (JSON-serialisable; see :func:`save_signature`). When no feature passes
        the univariate screen or the Lasso keeps none, the RadScore is 0 for every patient, the
        dict's ``warnings`` says so, and the model uses the clinical covariates alone (if any).

    Raises:
        InputError: survival data are invalid (see :func:`.data.check_survival`), fewer than 10
            training patients, no usable feature column, bad covariates.
    """
    from .data import check_survival
    from . import cox

    say = progress or (lambda message: None)
    check_cv_settings(n_folds=n_folds, n_lambdas=n_lambdas, p_threshold=p_threshold, min_ratio=min_ratio)
    time, event = check_survival(time, event, what="training survival data")
    n = time.size
    if n < 10:
        raise InputError(f"{n} training patients are too few to fit a signature (need >= 10)")
    if len(features) != n:
        raise InputError(f"{len(features)} feature rows but {n} survival rows")
    covariates = [c for c in covariates if c]
    cov_matrix, cov_names, levels = (np.zeros((n, 0)), [], {})
    if covariates:  # checked before the (slower) feature selection
        if clinical is None:
            raise InputError("clinical covariates were asked for but no clinical table was given")
        cov_matrix, cov_names, levels = encode_covariates(clinical, covariates)
    warnings = []
    kept, dropped = clean_features(features)
    for reason, cols in dropped.items():
        if cols:
            warnings.append(f"{len(cols)} feature column(s) dropped ({reason}), e.g. {cols[:3]}")
    X = features[kept].to_numpy(dtype=float)
    means = X.mean(axis=0)
    sds = X.std(axis=0, ddof=1)
    Z = (X - means) / sds
    if len(kept) > n:
        say(f"{len(kept)} features for {n} patients: more features than patients, handled by the "
            "univariate screen and the Lasso penalty")
    with _blas_single_thread():
        uni = cox.univariate_cox(Z, time, event)
        if p_threshold is None:
            significant = np.flatnonzero(uni["converged"])
            say(f"no univariate prefilter: {significant.size} of {len(kept)} features enter the Lasso")
        else:
            significant = np.flatnonzero(uni["p"] < p_threshold)
            say(f"univariate Cox: {significant.size} of {len(kept)} features with p < {p_threshold}"
                + (f" ({int((~uni['converged']).sum())} without a finite estimate, not kept)"
                   if (~uni["converged"]).any() else ""))
        lasso = None
        selected, coefs = [], np.zeros(0)
        if significant.size == 0:
            warnings.append(f"no feature has univariate Cox p < {p_threshold}: the RadScore is 0 for everyone"
                            if p_threshold is not None else "no feature has a finite univariate Cox estimate: "
                            "the RadScore is 0 for everyone")
        else:
            lasso = cox.cv_lasso_cox(Z[:, significant], time, event, n_folds=n_folds, n_lambdas=n_lambdas,
                                     seed=seed, min_ratio=min_ratio)
            nz = np.flatnonzero(lasso["coef"] != 0)
            selected = [int(significant[i]) for i in nz]
            coefs = lasso["coef"][nz]
            say(f"Lasso-Cox ({lasso['n_folds']}-fold CV partial likelihood): lambda {lasso['lambda']:.4g}, "
                f"{len(selected)} feature(s) kept")
            if not selected:
                warnings.append("the Lasso-Cox at the cross-validated penalty keeps no feature: the RadScore "
                                "is 0 for everyone")
    names = [kept[i] for i in selected]
    radscore = Z[:, selected] @ coefs if selected else np.zeros(n)
    terms = (["RadScore"] if selected else []) + cov_names
    design = np.column_stack([radscore[:, None]] * bool(selected) + [cov_matrix]) if terms else np.zeros((n, 0))
    model_coef = _fit_cox(design, terms, time, event) if terms else np.zeros(0)
    lp = design @ model_coef if terms else np.zeros(n)
    h_times, h0 = cox.breslow_cumulative_hazard(lp, time, event)
    cutoff = float(np.median(lp))
    if not terms:
        warnings.append("the model has no term: every patient gets risk 0 and the same survival curve")
    return {
        "format": SIGNATURE_FORMAT,
        "format_version": SIGNATURE_VERSION,
        "features": names,
        "means": [float(means[i]) for i in selected],
        "sds": [float(sds[i]) for i in selected],
        "coefficients": [float(c) for c in coefs],
        "model": {"terms": terms, "coefficients": [float(c) for c in model_coef],
                  "covariates": covariates, "covariate_levels": levels,
                  "ties": "Efron (lifelines CoxPHFitter)"},
        "baseline_cumulative_hazard": {"time_days": [float(t) for t in h_times], "H0": [float(h) for h in h0]},
        "risk_cutoff": cutoff,
        "risk_cutoff_rule": "median risk score of the training patients",
        "risk_centre": float(np.mean(lp)),
        "selection": {
            "n_training": int(n), "n_events": int(event.sum()),
            "n_features_in": int(features.shape[1]), "n_features_usable": len(kept),
            "dropped_features": dropped,
            "univariate_p_threshold": p_threshold,
            "prefilter": ({"method": "none: every usable feature with a finite univariate Cox estimate"}
                          if p_threshold is None else
                          {"method": "univariate Cox, Wald p (Efron ties)", "p_threshold": p_threshold}),
            "lasso": {"penalty_cv_folds": None if lasso is None else lasso["n_folds"],
                      "penalty_cv_folds_asked": int(n_folds), "n_lambdas": int(n_lambdas),
                      "lambda_min_ratio": None if lasso is None else lasso["min_ratio"],
                      "lambda_min_ratio_asked": min_ratio,
                      "rule": "penalty with the largest cross-validated partial likelihood (Verweij & van "
                              "Houwelingen 1993)", "seed": int(seed)},
            "n_univariate_significant": int(significant.size),
            "univariate_p": {kept[i]: float(uni["p"][i]) for i in significant},
            "lasso_lambda": None if lasso is None else lasso["lambda"],
            "lasso_folds": None if lasso is None else lasso["n_folds"],
            "lasso_lambdas": None if lasso is None else [float(v) for v in lasso["lambdas"]],
            "lasso_cv_partial_likelihood": None if lasso is None else
            [float(v) if np.isfinite(v) else None for v in lasso["cv_pl"]],
            "seed": int(seed),
        },
        "warnings": warnings,
        "provenance": {"method": "Liu et al. 2025: z-score, " + (f"univariate Cox p<{p_threshold}" if p_threshold
                                                                   is not None else "no univariate prefilter")
                                 + f", Lasso-Cox {n_folds}-fold CV, RadScore",
                       "created_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                       "versions": _versions()},
    }


def fit_combined(features, time, event, groups: dict, clinical=None, covariates=(), variance: float = 0.95,
                 p_threshold: float = 0.05, n_folds: int = 10, n_lambdas: int = 30, seed: int = 0,
                 progress=None, min_ratio=None) -> dict:
    """The combined model of Liu et al. (2025): one signature per feature group, PCA over the union of
    their selected features keeping >= ``variance`` of the variance, a Cox model on the components.

    Each group (e.g. intratumoral, peritumoral, deep features) gets its own signature
    (:func:`fit_signature`, training rows only). The union of the selected features is z-scored with
    the training statistics; PCA (SVD of the z-scores) keeps the first k components whose cumulative
    explained variance reaches ``variance``; a Cox model (lifelines, Efron ties) is fitted on the k
    component scores (plus clinical covariates). Because the components are linear in the z-scores,
    the model's component part equals ``sum_j w_j z_j`` with ``w = loadings^T gamma``; it is stored as
    the bundle's RadScore (``coefficients = w``, RadScore term coefficient 1), so
    :func:`apply_signature` applies it unchanged. Loadings, explained variance and the per-group
    selections are kept under ``combined``.

    Args:
        features: ``pandas.DataFrame [N, F]`` (training rows).
        time ``[N]`` days, event ``[N]``.
        groups: ``{group name: [column names]}``.
        clinical, covariates, p_threshold, n_folds, n_lambdas, seed, progress, min_ratio: as
            :func:`fit_signature`.
        variance: cumulative explained-variance fraction to keep (0.95).

    Returns:
        Signature dict (format as :func:`fit_signature`, plus ``combined``).

    Raises:
        InputError: an empty or unknown group, ``variance`` outside (0, 1], no group keeps a feature,
            or as :func:`fit_signature`.
    """
    from .data import check_survival

    say = progress or (lambda message: None)
    if not 0.0 < variance <= 1.0:
        raise InputError(f"explained-variance fraction must be in (0, 1], got {variance}")
    time, event = check_survival(time, event, what="training survival data")
    if covariates and clinical is not None:
        encode_covariates(clinical, [c for c in covariates if c])  # fail early on bad covariates
    per_group, union, warnings = {}, [], []
    for name, cols in groups.items():
        cols = [c for c in cols if c in features.columns]
        if not cols:
            raise InputError(f"feature group {name!r} matches no column of the feature table")
        say(f"group {name}: {len(cols)} features")
        sig = fit_signature(features[cols], time, event, p_threshold=p_threshold, n_folds=n_folds,
                            n_lambdas=n_lambdas, seed=seed, progress=say, min_ratio=min_ratio)
        per_group[name] = sig["features"]
        warnings += [f"group {name}: {w}" for w in sig["warnings"]]
        union += [f for f in sig["features"] if f not in union]
    if not union:
        raise InputError("no feature group kept a feature: there is nothing to combine")
    X = features[union].to_numpy(dtype=float)
    means, sds = X.mean(axis=0), X.std(axis=0, ddof=1)
    Z = (X - means) / sds
    _u, singular, vt = np.linalg.svd(Z - Z.mean(axis=0), full_matrices=False)
    explained = singular ** 2 / np.sum(singular ** 2)
    k = int(np.searchsorted(np.cumsum(explained), variance - 1e-12) + 1)
    loadings = vt[:k]  # [k, M]
    pcs = Z @ loadings.T
    say(f"PCA over {len(union)} selected features: {k} component(s) keep "
        f"{100 * np.cumsum(explained)[k - 1]:.1f} % of the variance")
    covariates = [c for c in covariates if c]
    n = time.size
    cov_matrix, cov_names, levels = (np.zeros((n, 0)), [], {})
    if covariates:
        if clinical is None:
            raise InputError("clinical covariates were asked for but no clinical table was given")
        cov_matrix, cov_names, levels = encode_covariates(clinical, covariates)
    pc_names = [f"PC{i + 1}" for i in range(k)]
    coef = _fit_cox(np.column_stack([pcs, cov_matrix]), pc_names + cov_names, time, event)
    gamma, beta = coef[:k], coef[k:]
    weights = loadings.T @ gamma
    radscore = Z @ weights
    lp = radscore + cov_matrix @ beta
    from . import cox

    h_times, h0 = cox.breslow_cumulative_hazard(lp, time, event)
    return {
        "format": SIGNATURE_FORMAT, "format_version": SIGNATURE_VERSION,
        "features": union, "means": [float(v) for v in means], "sds": [float(v) for v in sds],
        "coefficients": [float(v) for v in weights],
        "model": {"terms": ["RadScore"] + cov_names, "coefficients": [1.0] + [float(v) for v in beta],
                  "covariates": covariates, "covariate_levels": levels, "ties": "Efron (lifelines CoxPHFitter)"},
        "baseline_cumulative_hazard": {"time_days": [float(t) for t in h_times], "H0": [float(h) for h in h0]},
        "risk_cutoff": float(np.median(lp)),
        "risk_cutoff_rule": "median risk score of the training patients",
        "risk_centre": float(np.mean(lp)),
        "combined": {"groups": per_group, "variance_kept": float(np.cumsum(explained)[k - 1]),
                     "variance_threshold": variance, "n_components": k,
                     "explained_variance_ratio": [float(v) for v in explained[:k]],
                     "loadings": [[float(v) for v in row] for row in loadings],
                     "component_cox_coefficients": [float(v) for v in gamma]},
        "selection": {"n_training": int(n), "n_events": int(event.sum()), "n_features_in": int(features.shape[1]),
                      "n_features_usable": None, "dropped_features": {}, "univariate_p_threshold": p_threshold,
                      "prefilter": ({"method": "none"} if p_threshold is None else
                                    {"method": "univariate Cox, Wald p (Efron ties)", "p_threshold": p_threshold}),
                      "lasso": {"penalty_cv_folds_asked": int(n_folds), "n_lambdas": int(n_lambdas),
                                "lambda_min_ratio_asked": min_ratio, "seed": int(seed),
                                "rule": "penalty with the largest cross-validated partial likelihood"},
                      "n_univariate_significant": None, "univariate_p": {}, "lasso_lambda": None,
                      "lasso_folds": n_folds, "seed": int(seed)},
        "warnings": warnings,
        "provenance": {"method": "Liu et al. 2025 combined model: per-group signatures, PCA >= "
                                 f"{100 * variance:g} % variance, Cox on the components",
                       "created_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                       "versions": _versions()},
    }


def parse_groups(text: str, columns) -> dict:
    """Parse ``"name=prefix1|prefix2;name2=prefix3"`` into ``{name: [columns starting with a prefix]}``.

    Raises:
        InputError: malformed text or a group that matches no column.
    """
    groups = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        if "=" not in part:
            raise InputError(f"feature group {part!r} must read name=prefix1|prefix2")
        name, prefixes = part.split("=", 1)
        prefixes = tuple(p.strip() for p in prefixes.split("|") if p.strip())
        cols = [c for c in columns if str(c).startswith(prefixes)] if prefixes else []
        if not cols:
            raise InputError(f"feature group {name.strip()!r} (prefixes {list(prefixes)}) matches no feature column")
        groups[name.strip()] = cols
    if not groups:
        raise InputError("groups: the feature-group text defines no group")
    return groups


def _fit_cox(design, terms, time, event):
    """Unpenalised Cox coefficients (lifelines CoxPHFitter, Efron ties) of a small design matrix."""
    import pandas as pd
    from lifelines import CoxPHFitter

    df = pd.DataFrame(design, columns=[f"x{i}" for i in range(len(terms))])
    df["T"], df["E"] = time, event.astype(int)
    try:
        fitter = CoxPHFitter().fit(df, "T", "E", fit_options={"precision": 1e-10})
    except Exception as exc:  # lifelines: ConvergenceError, LinAlgError on collinear covariates
        raise InputError(f"the Cox model on {terms} cannot be fitted ({type(exc).__name__}: {exc}); "
                         "drop collinear or constant covariates") from exc
    return fitter.params_.to_numpy(dtype=float)


def _versions() -> dict:
    import platform

    from .. import __version__

    out = {"radsurv": __version__, "python": platform.python_version(), "numpy": np.__version__}
    try:
        import lifelines

        out["lifelines"] = lifelines.__version__
    except ImportError:  # pragma: no cover - lifelines is a dependency of fitting
        pass
    return out


def apply_signature(signature: dict, features, clinical=None, horizons_years=HORIZONS_YEARS) -> dict:
    """Apply a fitted signature to new patients (NumPy only).

    Args:
        signature: dict from :func:`fit_signature` / :func:`load_signature`.
        features: ``pandas.DataFrame [M, >=F]`` holding the signature's feature columns (extra
            columns ignored).
        clinical: ``pandas.DataFrame [M, C]`` with the model's covariates (if it has any).
        horizons_years: survival-probability horizons in years (365.25 days each).

    Returns:
        dict of ``[M]`` arrays: ``radscore``, ``risk`` (Cox linear predictor), ``high_risk`` (bool,
        risk > cut-off) and ``survival_{k}y`` for each horizon k.

    Raises:
        InputError: a signature feature or covariate column is missing, non-numeric or non-finite.
    """
    from .cox import survival_probability

    m = len(features)
    names = signature["features"]
    missing = [c for c in names if c not in features.columns]
    if missing:
        raise InputError(f"the feature table lacks {len(missing)} signature feature(s): {missing[:5]}")
    if names:
        import pandas as pd

        X = features[names].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
        bad = ~np.isfinite(X)
        if bad.any():
            rows, cols = np.nonzero(bad)
            raise InputError(f"signature feature {names[cols[0]]!r} is missing or not a finite number for "
                             f"{int(bad.any(axis=1).sum())} patient(s) (first: row {rows[0]})")
        Z = (X - np.asarray(signature["means"])) / np.asarray(signature["sds"])
        radscore = Z @ np.asarray(signature["coefficients"])
    else:
        radscore = np.zeros(m)
    model = signature["model"]
    parts = [radscore[:, None]] if "RadScore" in model["terms"] else []
    if model["covariates"]:
        if clinical is None:
            raise InputError(f"the signature's model uses clinical covariates {model['covariates']}: "
                             "give the clinical table")
        cov, _names, _levels = encode_covariates(clinical, model["covariates"], model["covariate_levels"])
        parts.append(cov)
    design = np.column_stack(parts) if parts else np.zeros((m, 0))
    risk = design @ np.asarray(model["coefficients"], float) if parts else np.zeros(m)
    base = signature["baseline_cumulative_hazard"]
    out = {"radscore": radscore, "risk": risk, "high_risk": risk > signature["risk_cutoff"]}
    for years in horizons_years:
        out[f"survival_{years}y"] = survival_probability(years * DAYS_PER_YEAR, base["time_days"], base["H0"], risk)
    return out


def case_feature_row(table: dict) -> dict:
    """One case's ROI features as one row of signature inputs.

    GTV features keep their PyRadiomics names (``original_firstorder_Mean``), as in feature
    tables such as Lung1's; ring features are prefixed with the ring's name
    (``ring_3-6mm_original_firstorder_Mean``).

    Args:
        table: ROI name -> feature name -> value (``RadSurvLib.radiomics.roi.extract_features``).

    Returns:
        dict column name -> value.
    """
    row = {}
    for roi, values in table.items():
        prefix = "" if roi == "GTV" else f"{roi}_"
        row.update({prefix + name: value for name, value in values.items()})
    return row


def score_case_with_signature(signature: dict, table: dict) -> dict:
    """Apply a signature bundle to one scored case (``radsurv score --signature``).

    Args:
        signature: from :func:`load_signature`; its model must not need clinical covariates.
        table: ROI name -> feature name -> value of the case (see :func:`case_feature_row`).

    Returns:
        dict: ``radscore``, ``risk`` (Cox linear predictor), ``risk_group`` (high / low against the
        signature's training-median cut-off), ``risk_cutoff``, ``survival_{k}y`` (k = 1, 2, 3 years)
        and ``features`` (the signature's feature names).

    Raises:
        InputError: the case lacks a signature feature (e.g. the signature was fitted on image
            types the parameter file does not compute) or the model needs clinical covariates.
    """
    import pandas as pd

    if signature["model"]["covariates"]:
        raise InputError(f"signature: the signature's model uses clinical covariates "
                         f"{signature['model']['covariates']}; apply it with `radsurv signature apply`.")
    row = pd.DataFrame([case_feature_row(table)])
    try:
        scores = apply_signature(signature, row)
    except InputError as exc:
        raise InputError(f"signature: {exc}. Fit the signature on features that the radiomics "
                         "parameter file computes.") from None
    out = {"radscore": float(scores["radscore"][0]), "risk": float(scores["risk"][0]),
           "risk_group": "high" if bool(scores["high_risk"][0]) else "low",
           "risk_cutoff": float(signature["risk_cutoff"]), "features": list(signature["features"])}
    out.update({k: float(v[0]) for k, v in scores.items() if k.startswith("survival_")})
    return out


def save_signature(signature: dict, bundle_dir) -> Path:
    """Write ``signature.json`` into ``bundle_dir`` (created) and return its path."""
    bundle_dir = Path(bundle_dir)
    bundle_dir.mkdir(parents=True, exist_ok=True)
    path = bundle_dir / "signature.json"
    path.write_text(json.dumps(signature, indent=1))
    return path


def load_signature(path) -> dict:
    """Read a signature bundle (its folder or its ``signature.json``).

    Raises:
        InputError: missing file, not JSON, or not a RadSurv signature of a known version.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "signature.json"
    if not path.is_file():
        raise InputError(f"signature bundle {path} does not exist")
    try:
        signature = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(f"signature bundle {path} is not valid JSON: {exc}") from exc
    if signature.get("format") != SIGNATURE_FORMAT or signature.get("format_version") != SIGNATURE_VERSION:
        raise InputError(f"{path} is not a RadSurv signature bundle (format {signature.get('format')!r}, "
                         f"version {signature.get('format_version')!r})")
    return signature


def sha256(path) -> str:
    """Hex SHA-256 of a file (for provenance)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


#: PyRadiomics image type -> feature-name prefix (LoG: one per sigma, see :func:`extraction_prefixes`).
_IMAGE_PREFIXES = {"Original": ("original_",), "Wavelet": ("wavelet-",), "Square": ("square_",),
                   "SquareRoot": ("squareroot_",), "Logarithm": ("logarithm_",), "Exponential": ("exponential_",),
                   "Gradient": ("gradient_",), "LBP2D": ("lbp-2D_",), "LBP3D": ("lbp-3D",)}


def extraction_prefixes(params_file) -> tuple:
    """Feature-name prefixes of the image types a PyRadiomics parameter file enables.

    ``Original`` -> ``original_``, ``Wavelet`` -> ``wavelet-``, ``LoG`` with sigma s ->
    ``log-sigma-<s with '-' for '.'>-mm-3D_``, ``Square`` -> ``square_``, ... (PyRadiomics' image names,
    which RadSurv's engine and PyRadiomics' feature tables share).

    Args:
        params_file: YAML path.

    Returns:
        tuple of prefixes.

    Raises:
        InputError: unreadable YAML, or an image type without a known prefix.
    """
    import yaml

    try:
        content = yaml.safe_load(Path(params_file).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(f"--params-file {params_file}: cannot be read as a PyRadiomics parameter file ({exc})") from None
    types = content.get("imageType") or {"Original": {}}
    out = []
    for name, settings in types.items():
        if name == "LoG":
            sigmas = (settings or {}).get("sigma") or []
            out += [f"log-sigma-{str(float(s)).replace('.', '-')}-mm-3D_" for s in sigmas]
        elif name in _IMAGE_PREFIXES:
            out += list(_IMAGE_PREFIXES[name])
        else:
            raise InputError(f"--params-file {params_file}: image type {name!r} has no known feature-name prefix")
    return tuple(out)


def split_indices(event, train_fraction: float, seed: int):
    """Random train/test split stratified by event status.

    Args:
        event: ``[N]`` bool; train_fraction: in (0, 1); seed: RNG seed.

    Returns:
        ``(train_idx, test_idx)`` sorted index arrays.

    Raises:
        InputError: the fraction is outside (0, 1) or leaves a set empty.
    """
    if not 0.0 < train_fraction < 1.0:
        raise InputError(f"train_fraction (split) must be between 0 and 1, got {train_fraction}")
    event = np.asarray(event, bool)
    rng = np.random.default_rng(seed)
    train = []
    for members in (np.flatnonzero(event), np.flatnonzero(~event)):
        members = rng.permutation(members)
        train.extend(members[: int(round(train_fraction * members.size))])
    train = np.sort(np.asarray(train, int))
    test = np.setdiff1d(np.arange(event.size), train)
    if train.size == 0 or test.size == 0:
        raise InputError(f"train_fraction (split) {train_fraction} leaves an empty training or test set")
    return train, test


#: Clinical columns carried into predictions.csv for subgroup analyses (when present).
SUBGROUP_COLUMNS = ("Overall.Stage", "Histology", "gender", "age")


def fit_and_predict(table, out_dir, split=None, cv=None, covariates=(), seed: int = 0, n_folds: int = 10,
                    n_lambdas: int = 30, inputs=None, progress=None, groups=None, variance: float = 0.95,
                    baselines: bool = True, p_threshold: float = 0.05, min_ratio=None, volume_column=None,
                    centre: bool = True, binary_baselines: bool = True, extraction=None, about=None) -> dict:
    """Fit a signature on a feature table, save the bundle and per-patient predictions.

    With ``split`` (training fraction) the signature is fitted on a stratified random training set
    and applied to the held-out test set. With ``cv`` (K) every patient is predicted by a signature
    fitted on the other K-1 outer folds (selection inside each fold), high/low risk judged against
    that fold's own training median; the saved bundle is then refitted on all patients. With
    neither, it is fitted on all patients (apparent performance only).

    One scale for all predictions: every model's ``risk`` (the signature's and each survival
    baseline's Cox linear predictor) is written centred on its mean over the patients that model
    was fitted on, ``lp - mean_train(lp)`` (with the cut-off shifted alike, so the risk groups and
    survival probabilities do not change). A Cox model has no intercept, so without centring the
    out-of-fold scores of different fold models are shifted against each other and a pooled C-index
    mixes those shifts in (issue 26: log tumour volume alone lost about 0.01-0.03 of pooled C that
    way). ``centre=False`` writes the uncentred linear predictors (for comparison only).

    Args:
        table: :class:`.data.FeatureTable`.
        out_dir: bundle folder; receives ``signature.json`` and ``predictions.csv`` (one row per
            patient and set: ``set`` is train / test / cv, with time in days, event, radscore,
            risk (centred), risk_centre (the training mean subtracted), risk_cutoff (centred alike),
            risk_group, survival at 1/2/3 years, the subgroup columns and, with ``baselines``, one
            ``baseline_<key>`` column per baseline of :mod:`.baselines`).
        split, cv: see above (not both).
        covariates, seed, n_folds, n_lambdas, p_threshold, min_ratio: as :func:`fit_signature`.
        groups: ``{name: [columns]}``: fit the combined model (:func:`fit_combined`) instead;
            variance: its PCA explained-variance fraction.
        inputs: dict role -> path recorded with SHA-256 in the provenance.
        progress: ``callable(str)``.
        baselines: also fit the baselines (:mod:`.baselines`) on the same training rows as each
            signature (same split, same folds) and write their scores; binary_baselines: include the
            logistic-regression / random-forest ones (death by 2 years).
        volume_column: feature column of the tumour volume for the volume baseline (None:
            ``original_shape_MeshVolume``, else ``VoxelVolume``); with none, the volume baseline is
            absent, said at once through ``progress`` and recorded in the bundle.
        centre: centre each fold's linear predictors on its training mean (default; see above).
        extraction: dict recorded as the bundle's ``extraction`` (the features' extraction setting,
            e.g. ``{"parameter_file": name, "sha256": ..., "setting": {...}}``), or None.
        about: dict recorded as the bundle's ``about`` (description, intended use, licences), or None.

    Returns:
        The signature dict that was saved. Its ``provenance.design`` records the design, the
        baselines fitted (``baselines``: key -> label and inputs), those absent (``baselines_absent``)
        and whether the risks were centred.

    Raises:
        InputError: both ``split`` and ``cv`` given, K < 2, a bad ``volume_column``, or as
            :func:`fit_signature`.
    """
    import pandas as pd

    from .cox import kfold_indices

    say = progress or (lambda message: None)
    if split is not None and cv is not None:
        raise InputError("give split or cv, not both")
    n = table.time.size
    check_cv_settings(n_folds=n_folds, n_lambdas=n_lambdas, cv=cv, n_patients=n, p_threshold=p_threshold,
                      min_ratio=min_ratio)
    if covariates:  # every patient is predicted: check the covariates of all of them first
        encode_covariates(table.clinical, [c for c in covariates if c])
    rows = []
    baseline_notes = set()
    plan = None
    if baselines:
        from .baselines import survival_baseline_plan

        plan = survival_baseline_plan(table, volume_column)
        for key, info in plan["fitted"].items():
            say(f"baseline {info['label']}: {info['inputs']}")
        for key, reason in plan["absent"].items():
            say(f"WARNING: baseline {key.replace('_', ' ')} ABSENT: {reason}; the report leaves it out")

    def predict(sig, idx, set_name, fold=None, train_idx=None):
        res = apply_signature(sig, table.features.iloc[idx], table.clinical.iloc[idx])
        shift = float(sig.get("risk_centre", 0.0)) if centre else 0.0
        frame = pd.DataFrame({"PatientID": table.ids[idx], "set": set_name,
                              "fold": -1 if fold is None else fold,
                              "time_days": table.time[idx], "event": table.event[idx].astype(int),
                              "radscore": res["radscore"], "risk": res["risk"] - shift,
                              "risk_centre": shift, "risk_cutoff": sig["risk_cutoff"] - shift,
                              "risk_group": np.where(res["high_risk"], "high", "low")})
        for years in HORIZONS_YEARS:
            frame[f"survival_{years}y"] = res[f"survival_{years}y"]
        for col in SUBGROUP_COLUMNS:
            if col in table.clinical.columns:
                frame[col] = table.clinical[col].iloc[idx].to_numpy()
        if baselines and train_idx is not None:
            from .baselines import BINARY_HORIZON_YEARS, binary_baseline_probabilities, survival_baseline_risks

            radscore = lambda rows: apply_signature(sig, table.features.iloc[rows])["radscore"]  # noqa: E731
            risks = survival_baseline_risks(table, train_idx, idx, radscore, baseline_notes, plan=plan, centre=centre)
            for key, risk in risks.items():
                frame[f"baseline_{key}"] = risk
            if binary_baselines:
                for model, prob in binary_baseline_probabilities(table, train_idx, idx, seed=seed).items():
                    frame[f"baseline_{model}_death_by_{BINARY_HORIZON_YEARS}y"] = prob
        rows.append(frame)

    def fit(idx):
        if groups:
            return fit_combined(table.features.iloc[idx].reset_index(drop=True), table.time[idx],
                                table.event[idx], groups, clinical=table.clinical.iloc[idx].reset_index(drop=True),
                                covariates=covariates, variance=variance, n_folds=n_folds, n_lambdas=n_lambdas,
                                seed=seed, progress=say, p_threshold=p_threshold, min_ratio=min_ratio)
        return fit_signature(table.features.iloc[idx].reset_index(drop=True), table.time[idx], table.event[idx],
                             clinical=table.clinical.iloc[idx].reset_index(drop=True), covariates=covariates,
                             n_folds=n_folds, n_lambdas=n_lambdas, seed=seed, progress=say,
                             p_threshold=p_threshold, min_ratio=min_ratio)

    design = {"mode": "all"}
    fold_info = []
    if split is not None:
        train, test = split_indices(table.event, split, seed)
        say(f"split: {train.size} training, {test.size} test patients (seed {seed})")
        sig = fit(train)
        predict(sig, train, "train", train_idx=train)
        predict(sig, test, "test", train_idx=train)
        design = {"mode": "split", "train_fraction": split, "n_train": int(train.size), "n_test": int(test.size),
                  "train_ids": [str(i) for i in table.ids[train]]}
    else:
        if cv is not None:
            if int(cv) < 2:
                raise InputError(f"cv needs at least 2 folds, got {cv}")
            folds = kfold_indices(n, int(cv), seed, table.event)
            for k in range(int(cv)):
                say(f"outer fold {k + 1}/{cv}")
                fold_train = np.flatnonzero(folds != k)
                fold_sig = fit(fold_train)
                predict(fold_sig, np.flatnonzero(folds == k), "cv", fold=k, train_idx=fold_train)
                fold_info.append({"fold": k, "features": fold_sig["features"],
                                  "coefficients": fold_sig["coefficients"], "warnings": fold_sig["warnings"]})
                for warning in fold_sig["warnings"]:
                    say(f"outer fold {k + 1}: {warning}")
            design = {"mode": "cv", "outer_folds": int(cv), "folds": fold_info}
        say("final signature on all patients")
        sig = fit(np.arange(n))
        predict(sig, np.arange(n), "train", train_idx=np.arange(n))
    design["seed"] = int(seed)
    design["baseline_notes"] = sorted(baseline_notes)
    design["risk_scale"] = ("each model's linear predictor centred on its mean over the patients it was fitted on"
                            if centre else "uncentred linear predictors")
    if plan is not None:
        design["baselines"] = plan["fitted"]
        design["baselines_absent"] = plan["absent"]
        design["binary_baselines"] = bool(binary_baselines)
    sig["provenance"]["design"] = design
    sig["provenance"]["inputs"] = {role: {"path": str(p), "sha256": sha256(p)} for role, p in (inputs or {}).items()}
    sig["provenance"]["join_notes"] = list(table.notes)
    if extraction is not None:
        sig["extraction"] = extraction
    if about is not None:
        sig["about"] = about
    out_dir = Path(out_dir)
    save_signature(sig, out_dir)
    pd.concat(rows, ignore_index=True).to_csv(out_dir / "predictions.csv", index=False)
    return sig
