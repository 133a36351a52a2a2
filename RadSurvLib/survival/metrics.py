"""Survival-model evaluation as the papers report it (Liu et al. 2025, "Model validation").

Every function takes ``time`` in **days** ``[N]``, ``event`` ``[N]`` (1/True = death observed) and a
risk score ``[N]`` where a higher score means a shorter expected survival.

* :func:`harrell_c` - Harrell's C-index (Harrell et al. 1982, JAMA 247:2543), computed by lifelines;
  :func:`bootstrap_ci` gives its percentile bootstrap 95 % CI. Training (``radsurv train``) reports
  this same C-index. :func:`pairwise_concordance` - agreement of a score with a known true log hazard.
* :func:`discrimination_bootstrap` - Harrell's C of several scores pooled over folds and as the mean
  within-fold C, with CIs and paired differences from the same resamples (:func:`comparable_pairs`).
* :func:`uno_c` - Uno's IPCW C-index (Uno et al. 2011, Stat Med 30:1105).
* :func:`td_auc` - cumulative/dynamic time-dependent AUC with inverse-probability-of-censoring
  weights (Uno et al. 2007, JASA 102:527; Hung & Chiang 2010, Can J Stat 38:8).
* :func:`km_risk_groups` - Kaplan-Meier of high vs low risk, log-rank p (Mantel 1966), hazard ratio
  with 95 % CI (Cox model on the group), all through lifelines.
* :func:`calibration` - predicted vs Kaplan-Meier observed survival at a horizon, by risk quantile
  group, with bootstrap 95 % CIs of the observed survival.
* :func:`decision_curve` - net benefit of treating patients whose predicted risk of death by a
  horizon exceeds a threshold (Vickers et al. 2008, BMC Med Inform Decis Mak 8:53, survival form).
* :func:`evaluate_predictions` - all of the above for one prediction table, plus subgroup
  Kaplan-Meier (stage I-II vs III, adenocarcinoma vs squamous, sex, age >= 65) as in Liu et al.

A statistic that cannot be computed (e.g. no patient with an event before a horizon) is returned as
``None`` together with the reason, never as a bare NaN.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from .data import DAYS_PER_YEAR, check_survival


def _arrays(time, event, risk):
    time, event = check_survival(time, event, what="evaluation data")
    risk = np.asarray(risk, dtype=float).reshape(-1)
    if risk.shape != time.shape:
        raise InputError(f"{risk.size} risk scores for {time.size} patients")
    if not np.isfinite(risk).all():
        raise InputError(f"{int((~np.isfinite(risk)).sum())} risk score(s) are missing or not finite")
    return time, event, risk


def harrell_c(time, event, risk) -> float:
    """Harrell's C-index (lifelines ``concordance_index``).

    A pair is comparable when the shorter time is an event (a censored time tied with an event time
    counts as longer); concordant when that patient has the higher risk; tied risks count 1/2.

    Args:
        time ``[N]`` days, event ``[N]``, risk ``[N]`` (higher = worse).

    Returns:
        C in [0, 1].

    Raises:
        InputError: invalid survival data or risks, or no comparable pair.
    """
    from lifelines.utils import concordance_index

    time, event, risk = _arrays(time, event, risk)
    try:
        return float(concordance_index(time, -risk, event))
    except ZeroDivisionError as exc:
        raise InputError("no comparable pair of patients: the C-index is undefined") from exc


def pairwise_concordance(predicted, truth) -> float:
    """Fraction of pairs that ``predicted`` orders as ``truth`` does (e.g. a risk score against a synthetic
    cohort's true log hazard): pairs tied in ``truth`` are skipped, ties in ``predicted`` count 1/2.

    Equals ``(1 + tau) / 2`` with ``tau = (concordant - discordant) / pairs untied in truth``; no censoring.

    Args:
        predicted, truth: array-likes ``[N]``.

    Returns:
        Concordance in [0, 1]; NaN when every pair is tied in ``truth``.
    """
    predicted, truth = np.asarray(predicted, float).reshape(-1), np.asarray(truth, float).reshape(-1)
    ordered = truth[:, None] > truth[None, :]
    score = (predicted[:, None] > predicted[None, :]) + 0.5 * (predicted[:, None] == predicted[None, :])
    n = ordered.sum()
    return float((score * ordered).sum() / n) if n else float("nan")


def bootstrap_ci(statistic, time, event, risk, n_boot: int = 1000, seed: int = 0, level: float = 0.95):
    """Percentile bootstrap confidence interval of ``statistic(time, event, risk)``.

    Resamples patients with replacement; resamples where the statistic is undefined (no event, no
    comparable pair) are skipped and counted.

    Returns:
        dict ``low``, ``high``, ``n_boot`` (used), ``n_skipped``.
    """
    time, event, risk = _arrays(time, event, risk)
    rng = np.random.default_rng(seed)
    values, skipped = [], 0
    for _ in range(int(n_boot)):
        idx = rng.integers(0, time.size, time.size)
        if not event[idx].any() or np.unique(time[idx]).size < 2:
            skipped += 1
            continue
        try:
            values.append(statistic(time[idx], event[idx], risk[idx]))
        except InputError:
            skipped += 1
    if not values:
        return {"low": None, "high": None, "n_boot": 0, "n_skipped": skipped}
    alpha = (1 - level) / 2
    low, high = np.quantile(values, [alpha, 1 - alpha])
    return {"low": float(low), "high": float(high), "n_boot": len(values), "n_skipped": skipped}


def censoring_survival_before(time, event, at):
    """Kaplan-Meier estimate of the censoring survival just before ``at``: ``G(at-)``.

    Censoring is the "event" here; a censoring tied with a death is taken to happen after it.

    Args:
        time ``[N]`` days, event ``[N]`` bool, at ``[M]`` days.

    Returns:
        ``[M]`` values in (0, 1].
    """
    time = np.asarray(time, float)
    censored = ~np.asarray(event, bool)
    u = np.unique(time[censored])
    at_risk = (time[None, :] >= u[:, None]).sum(axis=1)
    n_cens = (time[censored][None, :] == u[:, None]).sum(axis=1)
    g = np.cumprod(1.0 - n_cens / at_risk)
    idx = np.searchsorted(u, np.asarray(at, float), side="left") - 1  # last censoring time < at
    return np.where(idx >= 0, g[np.maximum(idx, 0)], 1.0)


def uno_c(time, event, risk, tau=None) -> float:
    """Uno's C-index: Harrell's pairs weighted by ``G(T_i-)^-2`` (Uno et al. 2011).

    ``C = sum_ij d_i G(T_i-)^-2 I(T_i < T_j, T_i <= tau) [I(r_i > r_j) + I(r_i = r_j)/2]
    / sum_ij d_i G(T_i-)^-2 I(T_i < T_j, T_i <= tau)`` with ``G`` the Kaplan-Meier estimate of the
    censoring distribution (see :func:`censoring_survival_before`).

    Args:
        time ``[N]`` days, event ``[N]``, risk ``[N]``; tau: truncation time in days (default: the
            largest time).

    Returns:
        C in [0, 1].

    Raises:
        InputError: invalid inputs or no comparable pair before ``tau``.
    """
    time, event, risk = _arrays(time, event, risk)
    tau = time.max() if tau is None else float(tau)
    w = np.where(event & (time <= tau), censoring_survival_before(time, event, time) ** -2.0, 0.0)
    comparable = (time[:, None] < time[None, :]) * w[:, None]
    score = (risk[:, None] > risk[None, :]) + 0.5 * (risk[:, None] == risk[None, :])
    total = comparable.sum()
    if total <= 0:
        raise InputError("no comparable pair before tau: Uno's C-index is undefined")
    return float((comparable * score).sum() / total)


def td_auc(time, event, risk, horizon_days) -> float:
    """Cumulative/dynamic AUC at ``horizon_days`` with IPCW (Uno et al. 2007; Hung & Chiang 2010).

    Cases: ``T_i <= t`` with an event, weight ``1 / G(T_i-)``; controls: ``T_j > t`` (equal weights).
    ``AUC(t) = sum_ij w_i [I(r_i > r_j) + I(r_i = r_j)/2] / (sum_i w_i * n_controls)``.

    Args:
        time ``[N]`` days, event ``[N]``, risk ``[N]``; horizon_days: t in days.

    Returns:
        AUC in [0, 1].

    Raises:
        InputError: no case (no death by t) or no control (nobody followed beyond t).
    """
    time, event, risk = _arrays(time, event, risk)
    t = float(horizon_days)
    cases = event & (time <= t)
    controls = time > t
    if not cases.any():
        raise InputError(f"no death by {t:g} days: the time-dependent AUC there is undefined")
    if not controls.any():
        raise InputError(f"nobody is followed beyond {t:g} days: the time-dependent AUC there is undefined")
    w = 1.0 / censoring_survival_before(time, event, time[cases])
    rc, rn = risk[cases], risk[controls]
    score = (rc[:, None] > rn[None, :]) + 0.5 * (rc[:, None] == rn[None, :])
    return float((w[:, None] * score).sum() / (w.sum() * controls.sum()))


def km_risk_groups(time, event, high) -> dict:
    """Kaplan-Meier by risk group, log-rank test and hazard ratio (high vs low) with 95 % CI.

    Args:
        time ``[N]`` days, event ``[N]``, high ``[N]`` bool (True = high risk).

    Returns:
        dict: ``n_high``, ``n_low``, ``events_high``, ``events_low``, ``median_days_high/low``
        (None when not reached), ``logrank_p``, ``logrank_chi2``, ``hr``, ``hr_low``, ``hr_high``,
        ``hr_p``; the test fields are None with ``note`` when a group is empty.
    """
    import pandas as pd
    from lifelines import CoxPHFitter, KaplanMeierFitter
    from lifelines.statistics import logrank_test

    time, event = check_survival(time, event, what="evaluation data")
    high = np.asarray(high, bool)
    out = {"n_high": int(high.sum()), "n_low": int((~high).sum()),
           "events_high": int(event[high].sum()), "events_low": int(event[~high].sum())}
    for name, mask in (("high", high), ("low", ~high)):
        med = None
        if mask.any():
            km = KaplanMeierFitter().fit(time[mask], event[mask])
            med = float(km.median_survival_time_)
        out[f"median_days_{name}"] = med if med is not None and np.isfinite(med) else None
    keys = ("logrank_p", "logrank_chi2", "hr", "hr_low", "hr_high", "hr_p")
    if high.all() or (~high).all():
        out.update({k: None for k in keys})
        out["note"] = "only one risk group: no log-rank test or hazard ratio"
        return out
    lr = logrank_test(time[high], time[~high], event[high], event[~high])
    out["logrank_p"] = float(lr.p_value)
    out["logrank_chi2"] = float(lr.test_statistic)
    if not event[high].any() or not event[~high].any():
        out.update({k: None for k in keys[2:]})
        out["note"] = "a risk group has no event: the hazard ratio is not estimable"
        return out
    df = pd.DataFrame({"T": time, "E": event.astype(int), "high": high.astype(float)})
    fit = CoxPHFitter().fit(df, "T", "E")
    row = fit.summary.loc["high"]
    out.update({"hr": float(row["exp(coef)"]), "hr_low": float(row["exp(coef) lower 95%"]),
                "hr_high": float(row["exp(coef) upper 95%"]), "hr_p": float(row["p"])})
    return out


def km_observed(time, event, horizon_days) -> float:
    """Kaplan-Meier survival probability at ``horizon_days`` (product-limit, own implementation:
    ``prod_{u <= t} (1 - d_u / n_u)``)."""
    time = np.asarray(time, float)
    event = np.asarray(event, bool)
    u = np.unique(time[event & (time <= horizon_days)])
    if u.size == 0:
        return 1.0
    n_risk = (time[None, :] >= u[:, None]).sum(axis=1)
    deaths = (time[event][None, :] == u[:, None]).sum(axis=1)
    return float(np.prod(1.0 - deaths / n_risk))


def calibration(time, event, predicted_survival, horizon_days, n_groups: int = 3, n_boot: int = 200,
                seed: int = 0) -> dict:
    """Calibration at one horizon: mean predicted vs Kaplan-Meier observed survival per risk group.

    Patients are split into ``n_groups`` quantile groups of predicted survival; the observed survival
    of each group is its Kaplan-Meier estimate at the horizon with a percentile bootstrap 95 % CI
    (``n_boot`` resamples of the group; Liu et al. use 1000).

    Args:
        time ``[N]`` days, event ``[N]``, predicted_survival ``[N]`` = S(horizon | patient).
        horizon_days: horizon in days; n_groups, n_boot, seed: see above.

    Returns:
        dict ``horizon_days``, ``groups``: list of {``n``, ``predicted``, ``observed``,
        ``observed_low``, ``observed_high``}, ``mean_abs_error`` (mean |predicted - observed|).
    """
    time, event = check_survival(time, event, what="evaluation data")
    pred = np.asarray(predicted_survival, float)
    if pred.shape != time.shape or not np.isfinite(pred).all():
        raise InputError("predicted survival must be finite, one value per patient")
    n_groups = int(max(1, min(n_groups, time.size // 5)))
    edges = np.quantile(pred, np.linspace(0, 1, n_groups + 1)[1:-1])
    label = np.searchsorted(edges, pred, side="right")
    rng = np.random.default_rng(seed)
    groups = []
    for g in range(n_groups):
        m = label == g
        if not m.any():
            continue
        tg, eg = time[m], event[m]
        boots = [km_observed(tg[i], eg[i], horizon_days) for i in (rng.integers(0, m.sum(), m.sum())
                                                                   for _ in range(n_boot))]
        groups.append({"n": int(m.sum()), "predicted": float(pred[m].mean()),
                       "observed": km_observed(tg, eg, horizon_days),
                       "observed_low": float(np.quantile(boots, 0.025)) if boots else None,
                       "observed_high": float(np.quantile(boots, 0.975)) if boots else None})
    mae = float(np.mean([abs(g["predicted"] - g["observed"]) for g in groups]))
    return {"horizon_days": float(horizon_days), "groups": groups, "mean_abs_error": mae}


def decision_curve(time, event, predicted_survival, horizon_days, thresholds=None) -> dict:
    """Decision curve for death by ``horizon_days`` (Vickers et al. 2008, time-to-event form).

    At threshold probability ``p``, "treat" the patients whose predicted risk ``1 - S(t)`` is >= p:
    ``NB(p) = (1 - S_KM(t | treated)) * f - S_KM(t | treated) * f * p / (1 - p)`` with ``f`` the
    treated fraction and ``S_KM`` the Kaplan-Meier survival; "treat all" uses the whole cohort and
    "treat none" is 0.

    Returns:
        dict ``thresholds`` ``[K]``, ``model`` ``[K]``, ``treat_all`` ``[K]`` net benefits.
    """
    time, event = check_survival(time, event, what="evaluation data")
    risk = 1.0 - np.asarray(predicted_survival, float)
    thresholds = np.arange(0.05, 0.96, 0.05) if thresholds is None else np.asarray(thresholds, float)
    s_all = km_observed(time, event, horizon_days)
    model, treat_all = [], []
    for p in thresholds:
        odds = p / (1 - p)
        treated = risk >= p
        f = treated.mean()
        s_t = km_observed(time[treated], event[treated], horizon_days) if treated.any() else 1.0
        model.append(float((1 - s_t) * f - s_t * f * odds))
        treat_all.append(float((1 - s_all) - s_all * odds))
    return {"horizon_days": float(horizon_days), "thresholds": [float(p) for p in thresholds],
            "model": model, "treat_all": treat_all}


def subgroup_masks(frame) -> dict:
    """Subgroup masks of Liu et al.: stage I-II vs III, adenocarcinoma vs squamous, sex, age >= 65."""
    out = {}
    if "Overall.Stage" in frame.columns:
        stage = frame["Overall.Stage"].astype(str).str.strip().str.upper()
        out["stage I-II"] = stage.isin(["I", "IA", "IB", "II", "IIA", "IIB"]).to_numpy()
        out["stage III"] = stage.str.startswith("III").to_numpy()
    if "Histology" in frame.columns:
        hist = frame["Histology"].astype(str).str.lower()
        out["adenocarcinoma"] = hist.str.contains("adeno").to_numpy()
        out["squamous cell carcinoma"] = hist.str.contains("squamous").to_numpy()
    if "gender" in frame.columns:
        sex = frame["gender"].astype(str).str.lower()
        out["male"] = (sex == "male").to_numpy()
        out["female"] = (sex == "female").to_numpy()
    if "age" in frame.columns:
        age = frame["age"].to_numpy(dtype=float)
        out["age >= 65"] = np.nan_to_num(age, nan=-1) >= 65
        out["age < 65"] = np.isfinite(age) & (age < 65)
    return out


def _safe(fn, *args, **kwargs):
    """``(value, None)`` or ``(None, reason)`` for statistics that can be undefined."""
    try:
        return fn(*args, **kwargs), None
    except InputError as exc:
        return None, str(exc)


def evaluate_predictions(frame, n_boot: int = 1000, horizons_years=(1, 2, 3), seed: int = 0) -> dict:
    """All evaluation statistics for one set of predictions.

    Args:
        frame: ``pandas.DataFrame`` with ``time_days``, ``event``, ``risk``, ``risk_group``
            (high/low) and ``survival_{k}y`` columns (``predictions.csv`` of a signature fit), plus
            optional subgroup columns (``Overall.Stage``, ``Histology``, ``gender``, ``age``).
        n_boot: bootstrap resamples for the C-index CI and calibration (Liu et al.: 1000).
        horizons_years: td-AUC / calibration / decision-curve horizons (365.25-day years).
        seed: bootstrap seed.

    Returns:
        dict with ``n``, ``events``, ``harrell_c`` {value, low, high}, ``uno_c``, ``td_auc`` {years:
        value or None}, ``km`` (see :func:`km_risk_groups`), ``calibration``, ``decision_curves``,
        ``subgroups`` and ``notes`` (reasons for any None).
    """
    time = frame["time_days"].to_numpy(float)
    event = frame["event"].to_numpy()
    risk = frame["risk"].to_numpy(float)
    time, event, risk = _arrays(time, event, risk)
    high = (frame["risk_group"].astype(str) == "high").to_numpy()
    notes = []
    c = harrell_c(time, event, risk)
    ci = bootstrap_ci(harrell_c, time, event, risk, n_boot=n_boot, seed=seed)
    uno, why = _safe(uno_c, time, event, risk)
    if why:
        notes.append(f"Uno's C: {why}")
    aucs = {}
    for years in horizons_years:
        aucs[str(years)], why = _safe(td_auc, time, event, risk, years * DAYS_PER_YEAR)
        if why:
            notes.append(f"td-AUC {years} y: {why}")
    cal, dca = {}, {}
    for years in horizons_years:
        col = f"survival_{years}y"
        if col in frame.columns:
            cal[str(years)] = calibration(time, event, frame[col].to_numpy(float), years * DAYS_PER_YEAR,
                                          n_boot=max(50, n_boot // 5), seed=seed)
            dca[str(years)] = decision_curve(time, event, frame[col].to_numpy(float), years * DAYS_PER_YEAR)
    subgroups = {}
    for name, mask in subgroup_masks(frame).items():
        if mask.sum() < 4 or not event[mask].any() or np.unique(time[mask]).size < 2:
            subgroups[name] = {"n": int(mask.sum()), "note": "too few patients or no event"}
            continue
        subgroups[name] = km_risk_groups(time[mask], event[mask], high[mask])
    return {"n": int(time.size), "events": int(event.sum()),
            "harrell_c": {"value": c, "low": ci["low"], "high": ci["high"], "n_boot": ci["n_boot"]},
            "uno_c": uno, "td_auc": aucs, "km": km_risk_groups(time, event, high),
            "calibration": cal, "decision_curves": dca, "subgroups": subgroups, "notes": notes}


def comparable_pairs(time, event):
    """Harrell's comparable pairs as a matrix (the pairs lifelines' ``concordance_index`` counts).

    ``P[i, j]`` is True when patient i died first: ``event_i`` and either ``T_i < T_j``, or
    ``T_i == T_j`` with j censored (a censoring tied with a death counts as the longer time). Two
    deaths at the same time are not comparable (nor is a patient with itself or its bootstrap copy).

    Args:
        time ``[N]`` days, event ``[N]`` bool (not checked: callers check once).

    Returns:
        ``[N, N]`` bool.
    """
    time = np.asarray(time, float)
    event = np.asarray(event, bool)
    earlier = time[:, None] < time[None, :]
    tied_censored = (time[:, None] == time[None, :]) & ~event[None, :]
    return event[:, None] & (earlier | tied_censored)


def _concordant(risk):
    """``S[i, j]`` = 1 if risk_i > risk_j, 1/2 if tied, else 0."""
    risk = np.asarray(risk, float)
    return (risk[:, None] > risk[None, :]) + 0.5 * (risk[:, None] == risk[None, :])


def _pooled_and_within(pairs, folds, fold_ids, risk):
    """Pooled Harrell's C and the per-fold Harrell's C (NaN for a fold without comparable pairs)."""
    score = _concordant(risk)
    total = pairs.sum()
    pooled = float((pairs * score).sum() / total) if total else np.nan
    within = []
    for f in fold_ids:
        m = folds == f
        block = pairs[np.ix_(m, m)]
        n = block.sum()
        within.append(float((block * score[np.ix_(m, m)]).sum() / n) if n else np.nan)
    return pooled, np.asarray(within)


def _p_two_sided(diffs):
    """Two-sided bootstrap p of a difference: twice the smaller share of resamples on either side of 0,
    at least 1 / B."""
    p = 2 * min((diffs <= 0).mean(), (diffs >= 0).mean())
    return float(min(1.0, max(p, 1.0 / diffs.size)))


def discrimination_bootstrap(time, event, scores: dict, folds=None, reference=None, n_boot: int = 1000,
                             seed: int = 0, level: float = 0.95) -> dict:
    """Pooled and mean within-fold Harrell's C of several risk scores on the same patients, with
    percentile bootstrap CIs and paired differences to a reference score, all from the same resamples.

    Harrell's C (Harrell et al. 1982) is computed on the comparable-pair matrix of
    :func:`comparable_pairs` (equal to lifelines' ``concordance_index``; the tests check it).

    * pooled C: all out-of-fold predictions together (pairs across folds count);
    * within-fold C: Harrell's C of each fold's patients alone, averaged over the folds (unweighted);
      it compares only patients scored by the same fitted model, so shifts between fold models
      cannot move it.

    Each bootstrap resample draws patients with replacement *within each fold* (fold sizes kept; one
    fold when ``folds`` is None), and every score and both statistics are computed on that same
    resample, so the differences to ``reference`` are paired. A resample where a statistic is undefined
    (no comparable pair in the pool or in a fold) is skipped for that statistic and counted.

    Args:
        time ``[N]`` days, event ``[N]`` (1 = death).
        scores: ``{name: risk [N]}`` (higher = worse); all finite.
        folds: ``[N]`` fold labels of the out-of-fold predictions (None: one set, within-fold = pooled).
        reference: name in ``scores`` whose differences to every other score are reported (None: none).
        n_boot: resamples (B); seed: RNG seed; level: CI level.

    Returns:
        ``{name: {"pooled": {value, low, high, n_boot}, "within_fold": {value, low, high, n_boot,
        per_fold [K], n_folds}, "vs_reference": {"pooled": {difference, low, high, p_value, n_boot},
        "within_fold": {...}} (absent for the reference)}}``; difference = reference - this score.
        A statistic undefined on the original data is None.

    Raises:
        InputError: invalid survival data, a score not finite or not one per patient, an unknown
            ``reference``, ``n_boot`` < 1.
    """
    time, event = check_survival(time, event, what="evaluation data")
    n = time.size
    names = list(scores)
    risks = {}
    for name in names:
        r = np.asarray(scores[name], float).reshape(-1)
        if r.shape != time.shape or not np.isfinite(r).all():
            raise InputError(f"risk score {name!r}: needs one finite value per patient ({n})")
        risks[name] = r
    if reference is not None and reference not in risks:
        raise InputError(f"reference score {reference!r} is not among {names}")
    if int(n_boot) < 1:
        raise InputError(f"bootstrap resamples must be >= 1, got {n_boot}")
    folds = np.zeros(n, int) if folds is None else np.asarray(folds).reshape(-1)
    if folds.shape != time.shape:
        raise InputError(f"{folds.size} fold labels for {n} patients")
    fold_ids = list(dict.fromkeys(folds.tolist()))
    pairs = comparable_pairs(time, event)
    point = {name: _pooled_and_within(pairs, folds, fold_ids, risks[name]) for name in names}
    members = [np.flatnonzero(folds == f) for f in fold_ids]
    rng = np.random.default_rng(seed)
    boot_pooled = {name: [] for name in names}
    boot_within = {name: [] for name in names}
    for _ in range(int(n_boot)):
        idx = np.concatenate([rng.choice(m, m.size, replace=True) for m in members])
        p = pairs[np.ix_(idx, idx)]
        fb = folds[idx]
        for name in names:
            pooled, within = _pooled_and_within(p, fb, fold_ids, risks[name][idx])
            boot_pooled[name].append(pooled)
            boot_within[name].append(np.mean(within) if np.isfinite(within).all() else np.nan)
    alpha = (1 - level) / 2

    def interval(values):
        values = np.asarray(values, float)
        values = values[np.isfinite(values)]
        if not values.size:
            return None, None, 0
        low, high = np.quantile(values, [alpha, 1 - alpha])
        return float(low), float(high), int(values.size)

    out = {}
    for name in names:
        pooled, within = point[name]
        lo, hi, nb = interval(boot_pooled[name])
        wlo, whi, wnb = interval(boot_within[name])
        row = {"pooled": {"value": None if not np.isfinite(pooled) else pooled, "low": lo, "high": hi, "n_boot": nb},
               "within_fold": {"value": float(np.mean(within)) if np.isfinite(within).all() else None,
                               "low": wlo, "high": whi, "n_boot": wnb, "n_folds": len(fold_ids),
                               "per_fold": [None if not np.isfinite(w) else float(w) for w in within]}}
        if reference is not None and name != reference:
            row["vs_reference"] = {}
            for stat, boots, value in (("pooled", boot_pooled, point[reference][0] - pooled),
                                       ("within_fold", boot_within,
                                        np.mean(point[reference][1]) - np.mean(within))):
                diffs = np.asarray(boots[reference], float) - np.asarray(boots[name], float)
                diffs = diffs[np.isfinite(diffs)]
                if not diffs.size or not np.isfinite(value):
                    row["vs_reference"][stat] = {"difference": None if not np.isfinite(value) else float(value),
                                                 "low": None, "high": None, "p_value": None, "n_boot": 0}
                    continue
                low, high = np.quantile(diffs, [alpha, 1 - alpha])
                row["vs_reference"][stat] = {"difference": float(value), "low": float(low), "high": float(high),
                                             "p_value": _p_two_sided(diffs), "n_boot": int(diffs.size)}
        out[name] = row
    return out
