"""Calibration: plain (predicted vs observed with bootstrap CIs) for predictions of patients the model
never saw, and with bootstrap optimism correction (Harrell's method, as ``rms::calibrate`` with
``method="boot"``, ``cmethod="KM"``; Liu et al. 2025 validate calibration with 1000 bootstraps) only
for the apparent fit (patients the model was fitted on).

Which one: ``optimism=False`` for out-of-fold or held-out predictions (cross-validation, a test
set, an external cohort): they are already free of the fit's optimism, and Harrell's correction,
which refits only the last Cox step on the risk score, would merely reproduce the apparent curve
there. ``optimism=True`` for the training set's own predictions (apparent fit), labelled as such.

Survival (:func:`bootstrap_calibration`): patients are split into quantile groups of their
predicted survival S(t); the *apparent* observed survival of a group is its Kaplan-Meier estimate
at t. In each of B bootstrap resamples the model that turns the risk score into survival, a Cox
model on the risk score (coefficient and Breslow baseline hazard), is refitted; its error
(observed - predicted per group, same group cut points) on the resample minus its error on the
original patients is the optimism. The corrected observed survival is the apparent one minus the
mean optimism. The radiomics feature selection is not repeated inside the resamples: it is fixed
(with cross-validated predictions it never saw the evaluated patients).

Binary (:func:`bootstrap_binary_calibration`): the same with the observed fraction of events per
group and a logistic recalibration model (intercept and slope on the logit of the predicted
probability) refitted in each resample.

Times are in days; probabilities in [0, 1].
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from .metrics import km_observed


def _mean_over_resamples(values, k):
    """Mean over resamples per group, ignoring resamples where a group was empty (0 if always)."""
    import warnings

    if not values:
        return np.zeros(k)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a group empty in every resample: NaN -> 0 below
        return np.nanmean(np.array(values), axis=0)


def _groups(pred, n_groups):
    """Quantile cut points of ``pred`` ``[N]`` for ``n_groups`` groups and each patient's group."""
    n_groups = int(max(1, min(n_groups, pred.size // 5)))
    cuts = np.unique(np.quantile(pred, np.linspace(0, 1, n_groups + 1)[1:-1]))
    return cuts, np.searchsorted(cuts, pred, side="right")


def _cox_survival_model(risk, time, event, horizon_days):
    """Refit S(t | risk) = exp(-H0(t) exp(b * risk)) (univariate Cox + Breslow) and return a function
    risk -> S(horizon)."""
    from .cox import breslow_cumulative_hazard, cumulative_hazard_at, univariate_cox

    centre, scale = risk.mean(), risk.std() or 1.0
    z = (risk - centre) / scale
    b = float(univariate_cox(z[:, None], time, event)["coef"][0])
    if not np.isfinite(b):
        b = 0.0
    times, h0 = breslow_cumulative_hazard(b * z, time, event)
    h = float(cumulative_hazard_at(horizon_days, times, h0))
    return lambda r: np.exp(-h * np.exp(b * (np.asarray(r, float) - centre) / scale))


def _survival_error(pred, time, event, label, n_groups, horizon_days):
    """Observed (KM) minus mean predicted survival per group (NaN for an empty group)."""
    out = np.full(n_groups, np.nan)
    for g in range(n_groups):
        m = label == g
        if m.any():
            out[g] = km_observed(time[m], event[m], horizon_days) - pred[m].mean()
    return out


def bootstrap_calibration(time, event, risk, predicted_survival, horizon_days, n_groups: int = 5,
                          n_boot: int = 1000, seed: int = 0, optimism: bool = True) -> dict:
    """Calibration of predicted survival at one horizon, optimism-corrected for an apparent fit.

    Args:
        time ``[N]`` days, event ``[N]`` bool, risk ``[N]`` (the model's risk score / linear
        predictor), predicted_survival ``[N]`` = S(horizon | patient) as the model predicts it.
        horizon_days: t in days; n_groups: quantile groups (at most N // 5); n_boot: B; seed: RNG.
        optimism: True for an apparent fit (Harrell's bootstrap optimism correction); False for
            out-of-fold / held-out predictions (plain calibration: no refit, ``optimism`` and
            ``corrected`` are None).

    Returns:
        dict ``horizon_days``, ``n_boot``, ``kind`` ("apparent, optimism-corrected" or "plain
        (out-of-sample predictions)"), ``groups``: list of {``n``, ``predicted`` (mean),
        ``observed`` (KM), ``observed_low``, ``observed_high`` (percentile bootstrap 95 % CI of the
        KM), ``optimism``, ``corrected``}, ``mean_abs_error`` and ``mean_abs_error_corrected``
        (mean |observed - predicted| over groups; None without the correction).

    Raises:
        InputError: predicted survival or risk not finite / not one per patient, ``n_boot`` < 1.
    """
    from .data import check_survival

    time, event = check_survival(time, event, what="calibration data")
    pred = np.asarray(predicted_survival, float)
    risk = np.asarray(risk, float)
    if pred.shape != time.shape or risk.shape != time.shape or not (np.isfinite(pred).all() and np.isfinite(risk).all()):
        raise InputError("calibration: predicted survival and risk must be finite, one value per patient")
    if int(n_boot) < 1:
        raise InputError(f"calibration: n_boot must be >= 1, got {n_boot}")
    cuts, label = _groups(pred, n_groups)
    k = cuts.size + 1
    rng = np.random.default_rng(seed)
    optimism_list, km_boot = [], []
    for _ in range(int(n_boot)):
        idx = rng.integers(0, time.size, time.size)
        tb, eb, rb = time[idx], event[idx], risk[idx]
        km_boot.append(_survival_error(np.zeros(idx.size), tb, eb, label[idx], k, horizon_days))
        if not optimism or not eb.any() or np.unique(rb).size < 2:
            continue
        model = _cox_survival_model(rb, tb, eb, horizon_days)
        pb, po = model(rb), model(risk)
        app = _survival_error(pb, tb, eb, np.searchsorted(cuts, pb, side="right"), k, horizon_days)
        test = _survival_error(po, time, event, np.searchsorted(cuts, po, side="right"), k, horizon_days)
        optimism_list.append(app - test)
    optimism_mean = _mean_over_resamples(optimism_list, k)
    km_boot = np.array(km_boot)
    groups = []
    for g in range(k):
        m = label == g
        if not m.any():
            continue
        obs = km_observed(time[m], event[m], horizon_days)
        lo, hi = np.nanquantile(km_boot[:, g], [0.025, 0.975])
        opt = float(np.nan_to_num(optimism_mean[g])) if optimism else None
        groups.append({"n": int(m.sum()), "predicted": float(pred[m].mean()), "observed": obs,
                       "observed_low": float(lo), "observed_high": float(hi), "optimism": opt,
                       "corrected": float(np.clip(obs - opt, 0.0, 1.0)) if optimism else None})
    return {"horizon_days": float(horizon_days), "n_boot": int(n_boot), "groups": groups,
            "kind": "apparent, optimism-corrected" if optimism else "plain (out-of-sample predictions)",
            "mean_abs_error": float(np.mean([abs(g["observed"] - g["predicted"]) for g in groups])),
            "mean_abs_error_corrected": float(np.mean([abs(g["corrected"] - g["predicted"]) for g in groups]))
            if optimism else None}


def _logit(p):
    p = np.clip(np.asarray(p, float), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def _logistic_recalibration(x, y):
    """Intercept and slope of a logistic regression of ``y`` on ``x`` (Newton-Raphson)."""
    X = np.column_stack([np.ones_like(x), x])
    beta = np.zeros(2)
    for _ in range(50):
        p = 1 / (1 + np.exp(-X @ beta))
        w = p * (1 - p) + 1e-9
        step = np.linalg.solve((X * w[:, None]).T @ X + 1e-8 * np.eye(2), X.T @ (y - p))
        beta += step
        if np.abs(step).max() < 1e-8:
            break
    return beta


def _binary_error(pred, y, label, k):
    out = np.full(k, np.nan)
    for g in range(k):
        m = label == g
        if m.any():
            out[g] = y[m].mean() - pred[m].mean()
    return out


def bootstrap_binary_calibration(y, probability, n_groups: int = 5, n_boot: int = 1000, seed: int = 0,
                                 optimism: bool = True) -> dict:
    """Calibration of a predicted probability of a binary outcome, optimism-corrected for an apparent fit.

    Args:
        y ``[N]`` 0/1 outcome, probability ``[N]`` predicted P(y = 1); n_groups: quantile groups;
        n_boot: B resamples; seed: RNG; optimism: as :func:`bootstrap_calibration` (False: plain,
        ``optimism`` / ``corrected`` None).

    Returns:
        dict ``n_boot``, ``kind``, ``groups`` ({``n``, ``predicted``, ``observed`` (fraction), ``observed_low``,
        ``observed_high`` (Wilson 95 % CI), ``optimism``, ``corrected``}), ``intercept``, ``slope``
        (logistic recalibration on the logit; ideal 0 and 1), ``brier``.

    Raises:
        InputError: probabilities outside [0, 1] or not one per patient.
    """
    from .binary import check_binary

    y = check_binary(y).astype(float)
    p = np.asarray(probability, float)
    if p.shape != y.shape or not np.isfinite(p).all() or (p < 0).any() or (p > 1).any():
        raise InputError("calibration: probabilities must be finite numbers in [0, 1], one per patient")
    cuts, label = _groups(p, n_groups)
    k = cuts.size + 1
    rng = np.random.default_rng(seed)
    optimism_list = []
    x = _logit(p)
    for _ in range(int(n_boot)):
        idx = rng.integers(0, y.size, y.size)
        if not optimism or y[idx].min() == y[idx].max():
            continue
        a, b = _logistic_recalibration(x[idx], y[idx])
        pb, po = 1 / (1 + np.exp(-(a + b * x[idx]))), 1 / (1 + np.exp(-(a + b * x)))
        optimism_list.append(_binary_error(pb, y[idx], np.searchsorted(cuts, pb, side="right"), k)
                        - _binary_error(po, y, np.searchsorted(cuts, po, side="right"), k))
    optimism_mean = _mean_over_resamples(optimism_list, k)
    groups = []
    for g in range(k):
        m = label == g
        if not m.any():
            continue
        n, obs = int(m.sum()), float(y[m].mean())
        z = 1.959964
        centre = (obs + z * z / (2 * n)) / (1 + z * z / n)
        half = z * np.sqrt(obs * (1 - obs) / n + z * z / (4 * n * n)) / (1 + z * z / n)
        opt = float(np.nan_to_num(optimism_mean[g])) if optimism else None
        groups.append({"n": n, "predicted": float(p[m].mean()), "observed": obs,
                       "observed_low": float(max(0.0, centre - half)), "observed_high": float(min(1.0, centre + half)),
                       "optimism": opt,
                       "corrected": float(np.clip(obs - opt, 0.0, 1.0)) if optimism else None})
    a, b = _logistic_recalibration(x, y)
    return {"n_boot": int(n_boot), "groups": groups,
            "kind": "apparent, optimism-corrected" if optimism else "plain (out-of-sample predictions)", "intercept": float(a), "slope": float(b),
            "brier": float(np.mean((p - y) ** 2))}
