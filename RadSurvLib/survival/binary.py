"""Binary endpoints: DeLong comparison of AUCs, accuracy/sensitivity/specificity, and the
logistic-regression and random-forest baselines of Kothinti et al. (5-fold cross-validation).

* :func:`delong_test` - DeLong, DeLong & Clarke-Pearson (1988, Biometrics 44:837) test of two
  correlated AUCs on the same patients, with the midrank algorithm of Sun & Xu (2014, IEEE Signal
  Process Lett 21:1389): AUCs, their difference, z, two-sided p and 95 % CIs.
* :func:`auc_ci` - one AUC with its DeLong 95 % CI.
* :func:`horizon_endpoint` - the binary endpoint "dead by t" from survival data: 1 = death at or
  before ``t``, 0 = followed beyond ``t``, excluded = censored at or before ``t`` (status unknown).
* :func:`binary_metrics` - accuracy, AUC (DeLong CI), sensitivity, specificity at a threshold.
* :func:`cross_validate_baseline` - stratified K-fold CV of a scikit-learn logistic regression or
  random forest; cleaning, z-scoring and feature selection are fitted inside each training fold.

A score is "higher = more likely class 1" throughout (a risk score for death, a probability).
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError

MODELS = ("logistic", "random-forest")


def check_binary(y, what: str = "endpoint"):
    """``y`` as a bool array ``[N]``; InputError unless every value is 0/1 (or bool) and both occur."""
    try:
        arr = np.asarray(y, dtype=float).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{what} must be 0/1 ({exc})") from exc
    bad = ~np.isin(arr, (0.0, 1.0))
    if bad.any():
        values = sorted({str(v) for v in arr[bad]})[:5]
        raise InputError(f"{what} must be binary 0/1; {int(bad.sum())} value(s) are not: {values}")
    if arr.all() or not arr.any():
        raise InputError(f"{what} has one class only ({int(arr.sum())} of {arr.size} are 1); "
                         "AUC, sensitivity and specificity need both classes")
    return arr.astype(bool)


def _scores(scores, n, what):
    s = np.asarray(scores, dtype=float).reshape(-1)
    if s.size != n:
        raise InputError(f"{what}: {s.size} scores for {n} outcomes")
    if not np.isfinite(s).all():
        raise InputError(f"{what}: {int((~np.isfinite(s)).sum())} score(s) are missing or not finite")
    return s


def _midrank(x):
    """Midranks (1-based, ties get their mean rank) of ``x`` ``[N]``."""
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    ranks = np.empty(x.size)
    i = 0
    while i < x.size:
        j = i
        while j < x.size and xs[j] == xs[i]:
            j += 1
        ranks[i:j] = 0.5 * (i + j - 1) + 1
        i = j
    out = np.empty(x.size)
    out[order] = ranks
    return out


def _placements(y, score_matrix):
    """AUCs ``[K]`` and DeLong structural components V10 ``[K, m]``, V01 ``[K, n]`` (Sun & Xu 2014)."""
    pos, neg = score_matrix[:, y], score_matrix[:, ~y]
    m, n = pos.shape[1], neg.shape[1]
    aucs, v10, v01 = [], [], []
    for k in range(score_matrix.shape[0]):
        tx, ty = _midrank(pos[k]), _midrank(neg[k])
        tz = _midrank(np.concatenate([pos[k], neg[k]]))
        aucs.append((tz[:m].sum() - m * (m + 1) / 2) / (m * n))
        v10.append((tz[:m] - tx) / n)
        v01.append(1.0 - (tz[m:] - ty) / m)
    return np.array(aucs), np.array(v10), np.array(v01)


def _covariance(y, score_matrix):
    aucs, v10, v01 = _placements(y, score_matrix)
    m, n = v10.shape[1], v01.shape[1]
    s10 = np.atleast_2d(np.cov(v10)) if m > 1 else np.zeros((len(aucs), len(aucs)))
    s01 = np.atleast_2d(np.cov(v01)) if n > 1 else np.zeros((len(aucs), len(aucs)))
    return aucs, s10 / m + s01 / n


def auc_ci(y_true, scores, level: float = 0.95) -> dict:
    """AUC of ``scores`` for ``y_true`` with its DeLong variance and normal-approximation CI.

    Args:
        y_true ``[N]`` 0/1; scores ``[N]`` (higher = class 1); level: CI level.

    Returns:
        dict ``auc``, ``se``, ``low``, ``high`` (clipped to [0, 1]), ``n_pos``, ``n_neg``.

    Raises:
        InputError: non-binary ``y_true``, one class only, length mismatch, non-finite scores.
    """
    from scipy.stats import norm

    y = check_binary(y_true)
    s = _scores(scores, y.size, "scores")
    aucs, cov = _covariance(y, s[None, :])
    se = float(np.sqrt(max(cov[0, 0], 0.0)))
    half = norm.ppf(0.5 + level / 2) * se
    return {"auc": float(aucs[0]), "se": se, "low": float(max(0.0, aucs[0] - half)),
            "high": float(min(1.0, aucs[0] + half)), "n_pos": int(y.sum()), "n_neg": int((~y).sum())}


def delong_test(y_true, scores_a, scores_b, level: float = 0.95) -> dict:
    """DeLong test of two correlated AUCs measured on the same patients.

    ``var(AUC_a - AUC_b) = S[a,a] + S[b,b] - 2 S[a,b]`` with ``S = S10 / m + S01 / n`` the DeLong
    covariance of the structural components (placement values) over the ``m`` positives and ``n``
    negatives; ``z = (AUC_a - AUC_b) / sqrt(var)``, two-sided normal p.

    Args:
        y_true ``[N]`` 0/1; scores_a, scores_b ``[N]`` (higher = class 1); level: CI level.

    Returns:
        dict ``auc_a``, ``auc_b`` (each with ``auc_a_low/high``, ``auc_b_low/high``), ``difference``
        (a - b), ``difference_low``, ``difference_high``, ``se``, ``z``, ``p_value``, ``n_pos``,
        ``n_neg``. When the variance of the difference is 0 (identical scores, or both perfect):
        ``z`` = 0 and ``p_value`` = 1 if the difference is 0.

    Raises:
        InputError: non-binary ``y_true``, one class only, lengths differ, non-finite scores.
    """
    from scipy.stats import norm

    y = check_binary(y_true)
    a = _scores(scores_a, y.size, "model A scores")
    b = _scores(scores_b, y.size, "model B scores")
    aucs, cov = _covariance(y, np.vstack([a, b]))
    q = norm.ppf(0.5 + level / 2)
    var = float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    diff = float(aucs[0] - aucs[1])
    se = float(np.sqrt(max(var, 0.0)))
    if se <= 1e-15:
        z, p = (0.0, 1.0) if abs(diff) <= 1e-15 else (float(np.sign(diff) * np.inf), 0.0)
    else:
        z = diff / se
        p = float(2 * norm.sf(abs(z)))
    out = {"auc_a": float(aucs[0]), "auc_b": float(aucs[1]), "difference": diff,
           "difference_low": float(diff - q * se), "difference_high": float(diff + q * se), "se": se,
           "z": float(z), "p_value": p, "n_pos": int(y.sum()), "n_neg": int((~y).sum())}
    for k, name in enumerate("ab"):
        half = q * np.sqrt(max(cov[k, k], 0.0))
        out[f"auc_{name}_low"] = float(max(0.0, aucs[k] - half))
        out[f"auc_{name}_high"] = float(min(1.0, aucs[k] + half))
    return out


def horizon_endpoint(time, event, years: float):
    """Binary "dead by ``years``" endpoint from survival data (time in days, 365.25-day years).

    Returns:
        ``(y bool [N], known bool [N])``: ``y`` = death at or before t; ``known`` = False for
        patients censored at or before t (alive at last contact, status at t unknown), who must be
        excluded.
    """
    from .data import DAYS_PER_YEAR, check_survival

    time, event = check_survival(time, event)
    t = float(years) * DAYS_PER_YEAR
    y = event & (time <= t)
    known = y | (time > t)
    return y, known


def binary_metrics(y_true, scores, threshold: float, level: float = 0.95) -> dict:
    """Accuracy, AUC (DeLong CI), sensitivity and specificity of ``scores >= threshold``.

    Args:
        y_true ``[N]`` 0/1; scores ``[N]`` (higher = class 1); threshold: a patient is predicted
            positive when its score is >= threshold (0.5 for probabilities; for risk scores the
            training median, as the signature's ``risk_cutoff``).

    Returns:
        dict ``n``, ``n_pos``, ``n_neg``, ``threshold``, ``accuracy``, ``sensitivity`` (TP / P),
        ``specificity`` (TN / N), ``auc``, ``auc_low``, ``auc_high``, ``tp``, ``fp``, ``tn``, ``fn``.
    """
    y = check_binary(y_true)
    s = _scores(scores, y.size, "scores")
    pred = s >= float(threshold)
    tp, fn = int((pred & y).sum()), int((~pred & y).sum())
    tn, fp = int((~pred & ~y).sum()), int((pred & ~y).sum())
    ci = auc_ci(y, s, level)
    return {"n": int(y.size), "n_pos": tp + fn, "n_neg": tn + fp, "threshold": float(threshold),
            "accuracy": (tp + tn) / y.size, "sensitivity": tp / (tp + fn), "specificity": tn / (tn + fp),
            "auc": ci["auc"], "auc_low": ci["low"], "auc_high": ci["high"],
            "tp": tp, "fp": fp, "tn": tn, "fn": fn}


def make_model(model: str, seed: int = 0, max_features: int = 20):
    """Unfitted scikit-learn pipeline: z-score -> univariate selection (ANOVA F, ``k`` best, training
    rows only) -> logistic regression (L2, C = 1) or random forest (500 trees).

    Raises:
        InputError: unknown ``model``.
    """
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.feature_selection import SelectKBest, f_classif
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    if model == "logistic":
        clf = LogisticRegression(C=1.0, max_iter=5000)
    elif model == "random-forest":
        clf = RandomForestClassifier(n_estimators=500, random_state=seed, n_jobs=1)
    else:
        raise InputError(f"unknown model {model!r}; choose one of {', '.join(MODELS)}")
    return Pipeline([("scale", StandardScaler()), ("select", SelectKBest(f_classif, k=max_features)),
                     ("model", clf)])


def cross_validate_baseline(features, y, model: str = "logistic", folds: int = 5, seed: int = 0,
                            max_features: int = 20) -> dict:
    """Stratified K-fold cross-validated probabilities of a baseline classifier (Kothinti et al.).

    In each fold the unusable columns (NaN, non-numeric, constant in the training folds, see
    :func:`clean_features`, or missing in a held-out patient), the
    z-score statistics and the ``max_features`` selected features are computed from the training
    folds only, then applied to the held-out fold.

    Args:
        features: ``pandas.DataFrame [N, F]``; y ``[N]`` 0/1; model: ``logistic`` or
            ``random-forest``; folds: K (default 5); seed: fold shuffling and forest seed;
            max_features: features kept per fold (ANOVA F-test).

    Returns:
        dict ``probability`` ``[N]`` (out-of-fold P(y = 1)), ``fold`` ``[N]`` (0..K-1), ``metrics``
        (:func:`binary_metrics` at threshold 0.5), ``selected`` (list per fold of feature names).

    Raises:
        InputError: bad endpoint, a class with fewer patients than folds, fewer than 2 folds.
    """
    from sklearn.model_selection import StratifiedKFold

    y = check_binary(y)
    if features.shape[0] != y.size:
        raise InputError(f"{features.shape[0]} feature rows for {y.size} endpoint values")
    folds = int(folds)
    if folds < 2:
        raise InputError(f"cross-validation needs at least 2 folds, got {folds}")
    smallest = int(min(y.sum(), (~y).sum()))
    if smallest < folds:
        raise InputError(f"the smaller class has {smallest} patient(s), fewer than the {folds} folds")
    prob = np.full(y.size, np.nan)
    fold_of = np.full(y.size, -1)
    selected = []
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for k, (train, test) in enumerate(splitter.split(np.zeros(y.size), y)):
        prob[test], names = fit_predict_classifier(features, y, train, test, model, seed=seed,
                                                   max_features=max_features, return_selected=True)
        fold_of[test] = k
        selected.append(names)
    return {"probability": prob, "fold": fold_of, "selected": selected,
            "metrics": binary_metrics(y, prob, 0.5)}


def fit_predict_classifier(features, y, train, test, model: str, seed: int = 0, max_features: int = 20,
                           return_selected: bool = False):
    """Fit :func:`make_model` on the ``train`` rows and return P(y = 1) ``[len(test)]`` of the ``test`` rows.

    Unusable columns (see :func:`.data.clean_features`, judged on the training rows, or missing in
    a test row: a label-free check) are left out before the pipeline.

    Args:
        features: ``pandas.DataFrame [N, F]``; y ``[N]`` bool; train, test: row indices;
        model, seed, max_features: as :func:`make_model`; return_selected: also return the names of
        the selected features.
    """
    from .data import clean_features

    kept, _ = clean_features(features.iloc[train])
    kept = [c for c in kept if np.isfinite(features.iloc[test][c].to_numpy(float)).all()]
    pipe = make_model(model, seed=seed, max_features=min(max_features, len(kept)))
    pipe.fit(features.iloc[train][kept].to_numpy(float), np.asarray(y)[train])
    prob = pipe.predict_proba(features.iloc[test][kept].to_numpy(float))[:, 1]
    if not return_selected:
        return prob
    mask = pipe.named_steps["select"].get_support()
    return prob, [c for c, keep in zip(kept, mask) if keep]


def roc_band(y_true, scores, n_boot: int = 1000, seed: int = 0, level: float = 0.95, n_points: int = 51) -> dict:
    """Pointwise percentile bootstrap band of the ROC curve: sensitivity at fixed false positive rates.

    Args:
        y_true ``[N]`` 0/1; scores ``[N]`` (higher = class 1); n_boot: resamples (those with one class
        are skipped); seed: RNG; level: band level; n_points: false-positive-rate grid on [0, 1].

    Returns:
        dict ``fpr`` ``[n_points]``, ``tpr_low``, ``tpr_high`` (lists), ``n_boot`` used.
    """
    from sklearn.metrics import roc_curve

    y = check_binary(y_true)
    s = _scores(scores, y.size, "scores")
    grid = np.linspace(0.0, 1.0, n_points)
    rng = np.random.default_rng(seed)
    curves = []
    for _ in range(int(n_boot)):
        idx = rng.integers(0, y.size, y.size)
        if y[idx].all() or not y[idx].any():
            continue
        fpr, tpr, _ = roc_curve(y[idx], s[idx])
        curves.append(np.interp(grid, fpr, tpr))
    alpha = (1 - level) / 2
    low, high = (np.quantile(curves, [alpha, 1 - alpha], axis=0) if curves else (grid * np.nan, grid * np.nan))
    return {"fpr": [float(v) for v in grid], "tpr_low": [float(v) for v in low], "tpr_high": [float(v) for v in high],
            "n_boot": len(curves)}


def roc_points(y_true, scores) -> dict:
    """ROC curve points (scikit-learn ``roc_curve``) with the AUC and its DeLong 95 % CI.

    Returns:
        dict ``fpr`` ``[K]``, ``tpr`` ``[K]`` (lists), ``auc``, ``auc_low``, ``auc_high``.
    """
    from sklearn.metrics import roc_curve

    y = check_binary(y_true)
    s = _scores(scores, y.size, "scores")
    fpr, tpr, _ = roc_curve(y, s)
    ci = auc_ci(y, s)
    return {"fpr": [float(v) for v in fpr], "tpr": [float(v) for v in tpr], "auc": ci["auc"],
            "auc_low": ci["low"], "auc_high": ci["high"]}


def score_column(frame, requested=None) -> str:
    """The score column of a predictions table: ``requested``, else ``probability``, else ``risk``."""
    for name in ([requested] if requested else ["probability", "risk"]):
        if name in frame.columns:
            return name
    raise InputError(f"predictions table has no score column {requested or 'probability or risk'!r}")


def default_threshold(frame, column: str):
    """``(threshold, how)``: 0.5 for a ``probability`` column; for a risk score the ``risk_cutoff``
    column (the training median written by ``radsurv signature fit``) when present, else the median
    of the scores given (with a note, since that median is not a training statistic)."""
    if column == "probability":
        return 0.5, "0.5 (probability)"
    if "risk_cutoff" in frame.columns and np.isfinite(frame["risk_cutoff"].to_numpy(float)).all():
        return float(frame["risk_cutoff"].iloc[0]), "training median (risk_cutoff)"
    return float(np.median(frame[column].to_numpy(float))), "median of the evaluated scores (no risk_cutoff column)"


def compare_tables(frame, other, y, known, id_column="PatientID", column=None, other_column=None,
                   set_name=None) -> dict:
    """DeLong test between the scores of ``frame`` (model A) and ``other`` (model B, joined on
    ``id_column``) for the binary outcome ``y`` ``[len(frame)]``, over the rows where ``known``.
    When ``other`` has a ``set`` column containing ``set_name``, only those rows are used (a
    patient listed twice keeps its last row).

    Raises:
        InputError: a patient of ``frame`` is missing from ``other``, or a column is missing.
    """
    for tab, what in ((frame, "predictions"), (other, "comparison predictions")):
        if id_column not in tab.columns:
            raise InputError(f"{what} table has no ID column {id_column!r}")
    col_a, col_b = score_column(frame, column), score_column(other, other_column)
    if set_name is not None and "set" in other.columns and (other["set"].astype(str) == set_name).any():
        other = other[other["set"].astype(str) == set_name]
    other = other.set_index(other[id_column].astype(str))
    other = other[~other.index.duplicated(keep="last")]
    ids = frame[id_column].astype(str).to_numpy()
    missing = [i for i in ids[known] if i not in other.index]
    if missing:
        raise InputError(f"{len(missing)} patient(s) are not in the comparison predictions: {missing[:5]}")
    b = other.loc[ids[known], col_b].to_numpy(float)
    out = delong_test(np.asarray(y)[known], frame[col_a].to_numpy(float)[known], b)
    out.update({"score_a": col_a, "score_b": col_b, "n_excluded": int((~np.asarray(known)).sum())})
    return out
