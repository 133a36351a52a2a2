"""Cox proportional-hazards building blocks in NumPy: univariate screening, Lasso-Cox, Breslow.

* :func:`univariate_cox` fits one Cox model per column at once (Newton-Raphson, Efron's handling
  of tied event times, Efron 1977) and returns coefficients and Wald p-values, as lifelines'
  ``CoxPHFitter`` reports them (the tests check the agreement).
* :func:`lasso_cox_path` minimises ``-l(b)/n + lambda * ||b||_1`` (Breslow partial likelihood)
  along a decreasing penalty grid by proximal Newton steps with cyclic coordinate descent, the
  scheme of Simon, Friedman, Hastie & Tibshirani (2011, J Stat Softw 39(5)) and Tibshirani (1997,
  Stat Med 16:385). Coefficients are exactly zero for dropped features.
* :func:`cv_lasso_cox` chooses the penalty by K-fold cross-validated partial likelihood
  (Verweij & van Houwelingen 1993, Stat Med 12:2305), as ``glmnet``'s ``cv.glmnet(family="cox")``.
* :func:`breslow_cumulative_hazard` gives the baseline cumulative hazard (Breslow 1972) and
  :func:`survival_probability` the survival ``S(t | eta) = exp(-H0(t) exp(eta))`` it implies: the one
  home of the baseline survival of signature bundles and of model bundles (``models.bundle``).

Times are in days; ``event`` is boolean (True = death observed); ``X`` is ``[N, F]``.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError


def _event_structure(time, event):
    """Sorting and tie structure shared by the partial-likelihood functions."""
    order = np.argsort(time, kind="stable")
    t = time[order]
    d = event[order]
    event_times = np.unique(t[d])
    first_at_risk = np.searchsorted(t, event_times, side="left")  # risk set of u_k: sorted rows >= index
    death_group = np.searchsorted(event_times, t[d])  # which event time each death belongs to
    n_deaths = np.bincount(death_group, minlength=event_times.size)
    return order, t, d, event_times, first_at_risk, death_group, n_deaths


def univariate_cox(X, time, event, max_iter: int = 60, tol: float = 1e-10):
    """One univariate Cox model per column of ``X`` (Efron ties), fitted all at once.

    Args:
        X: ``[N, F]`` covariates (z-scored features are best conditioned).
        time: ``[N]`` days; event: ``[N]`` bool.
        max_iter, tol: Newton-Raphson limits (step size below ``tol`` = converged).

    Returns:
        dict of ``[F]`` arrays: ``coef`` (log hazard ratio per unit of the column), ``se``,
        ``z`` (Wald), ``p`` (two-sided Wald p-value), ``converged`` (bool). A column whose
        likelihood has no finite maximum (monotone likelihood, e.g. perfect separation) is
        returned with ``converged=False`` and ``p=NaN``; callers treat it as not significant.
    """
    from scipy.stats import norm

    X = np.asarray(X, float)
    time = np.asarray(time, float)
    event = np.asarray(event, bool)
    order, t, d, event_times, first, group, n_deaths = _event_structure(time, event)
    X = X[order]
    Xd = X[d]  # deaths only, [D, F]
    membership = np.zeros((event_times.size, Xd.shape[0]))
    membership[group, np.arange(Xd.shape[0])] = 1.0
    sum_x_deaths = Xd.sum(axis=0)
    n_features = X.shape[1]

    def loglik_score_info(beta):
        eta = X * beta
        shift = eta.max(axis=0)
        e = np.exp(eta - shift)
        xe = X * e
        x2e = X * xe
        rev = lambda a: np.cumsum(a[::-1], axis=0)[::-1]  # noqa: E731  sum over rows >= i
        R0, R1, R2 = rev(e)[first], rev(xe)[first], rev(x2e)[first]
        ed = e[d]
        T0, T1, T2 = membership @ ed, membership @ (Xd * ed), membership @ (Xd * Xd * ed)
        ll = sum_x_deaths * beta
        score = sum_x_deaths.copy()
        info = np.zeros(n_features)
        for step in range(int(n_deaths.max())):
            active = n_deaths > step
            a = (step / n_deaths[active])[:, None]
            p0 = R0[active] - a * T0[active]
            p1 = R1[active] - a * T1[active]
            p2 = R2[active] - a * T2[active]
            ll = ll - (np.log(p0) + shift).sum(axis=0)
            ratio = p1 / p0
            score = score - ratio.sum(axis=0)
            info = info + (p2 / p0 - ratio ** 2).sum(axis=0)
        return ll, score, info

    beta = np.zeros(n_features)
    ll, score, info = loglik_score_info(beta)
    converged = np.zeros(n_features, bool)
    for _ in range(max_iter):
        with np.errstate(divide="ignore", invalid="ignore"):
            step = np.where(info > 0, score / info, 0.0)
        step = np.where(converged, 0.0, np.clip(step, -5.0, 5.0))
        trial = beta + step
        ll_new, score_new, info_new = loglik_score_info(trial)
        # step halving where the likelihood went down
        for _half in range(20):
            worse = ~(ll_new >= ll - 1e-12) & ~converged
            if not worse.any():
                break
            step = np.where(worse, step / 2, step)
            trial = beta + step
            ll_new, score_new, info_new = loglik_score_info(trial)
        beta, ll, score, info = trial, ll_new, score_new, info_new
        converged |= np.abs(step) < tol
        if converged.all():
            break
    with np.errstate(divide="ignore", invalid="ignore"):
        se = 1.0 / np.sqrt(info)
        z = beta / se
    ok = converged & np.isfinite(z) & (np.abs(beta) < 20)
    p = np.where(ok, 2.0 * norm.sf(np.abs(z)), np.nan)
    return {"coef": beta, "se": se, "z": z, "p": p, "converged": ok}


def breslow_loglik(eta, time, event) -> float:
    """Cox log partial likelihood with Breslow's handling of ties.

    Args:
        eta: ``[N]`` linear predictor; time: ``[N]`` days; event: ``[N]`` bool.

    Returns:
        ``sum_i event_i * (eta_i - log sum_{j: t_j >= t_i} exp(eta_j))`` (a float <= 0).
    """
    eta = np.asarray(eta, float)
    order, t, d, event_times, first, group, n_deaths = _event_structure(np.asarray(time, float),
                                                                        np.asarray(event, bool))
    eta = eta[order]
    shift = eta.max()
    rev = np.cumsum(np.exp(eta - shift)[::-1])[::-1]
    log_s0 = np.log(rev[first]) + shift
    return float(eta[d].sum() - (n_deaths * log_s0).sum())


def _breslow_gradient_weights(eta, t, d, first, n_deaths, event_times):
    """Gradient of the Breslow log partial likelihood and the diagonal of minus its Hessian, both
    with respect to ``eta`` (rows already sorted by time)."""
    shift = eta.max()
    e = np.exp(eta - shift)
    s0 = np.cumsum(e[::-1])[::-1][first]  # [K] scaled risk-set sums
    a = np.cumsum(n_deaths / s0)  # sum_{u_k <= t} d_k / S0_k (scaled)
    b = np.cumsum(n_deaths / s0 ** 2)
    # index of the last event time <= t_i for every row
    k = np.searchsorted(event_times, t, side="right") - 1
    a_i = np.where(k >= 0, a[np.maximum(k, 0)], 0.0)
    b_i = np.where(k >= 0, b[np.maximum(k, 0)], 0.0)
    grad = d.astype(float) - e * a_i
    weight = e * a_i - e ** 2 * b_i
    return grad, np.maximum(weight, 0.0)


def _exact_on_active_set(gram, q, b, active, lam) -> bool:
    """Try the closed-form minimiser of ``b'Hb/2 - c'b + lam*|b|_1`` on ``active`` with the current
    signs: ``b_A = H_AA^-1 (c_A - lam * s_A)``, where ``c = q + H b``. Accept it (updating ``b`` and
    ``q`` in place) only if the signs hold and every other coordinate meets ``|c_j - H_jA b_A| <=
    lam``: then it is the exact solution of the lasso sub-problem (its KKT conditions hold). Speeds
    up coordinate descent on nearly collinear features (radiomics shape features), where it crawls."""
    c = q + gram @ b
    active = active[b[active] != 0.0]  # coordinates that went back to zero are not active
    if active.size == 0:
        return False
    signs = np.sign(b[active])
    try:
        b_active = np.linalg.solve(gram[np.ix_(active, active)], c[active] - lam * signs)
    except np.linalg.LinAlgError:
        return False
    if not np.all(np.sign(b_active) == signs):
        return False
    trial = np.zeros_like(b)
    trial[active] = b_active
    q_trial = c - gram @ trial
    inactive = np.setdiff1d(np.arange(b.size), active)
    if inactive.size and np.abs(q_trial[inactive]).max() > lam * (1 + 1e-9):
        return False
    b[:] = trial
    q[:] = q_trial
    return True


def lasso_cox_path(X, time, event, lambdas, max_nonzero=None, tol: float = 1e-6, max_outer: int = 100):
    """Lasso-Cox coefficients along a penalty path (Breslow partial likelihood).

    Minimises ``-l(b) / N + lambda * sum_j |b_j|`` for each ``lambda`` in turn, warm-started from
    the previous solution.

    Args:
        X: ``[N, F]`` covariates (z-scored); time ``[N]`` days; event ``[N]`` bool.
        lambdas: decreasing penalties ``[L]``.
        max_nonzero: stop the path once more coefficients than this are non-zero (the later
            penalties get NaN rows; as ``glmnet``'s ``dfmax``); default
            ``min(N // 4, number of events)``: a Cox model with more than one coefficient per four
            patients is over-fitted anyway, and the path beyond it is the slow part (the stop is
            checked after every proximal-Newton step).
        tol: convergence threshold on the largest coefficient change.
        max_outer: proximal-Newton iterations per penalty.

    As ``glmnet``'s, the path also ends (after at least 5 penalties) when the log partial likelihood
    gains less than 1e-5 of the null model's between two penalties; the remaining rows then repeat
    that converged solution. Each proximal-Newton step solves its weighted lasso
    sub-problem by coordinate descent, finished by an exact solve on the active set when that one
    satisfies the sub-problem's optimality (KKT) conditions.

    Returns:
        ``[L, F]`` coefficient array (NaN rows after an early stop).
    """
    X = np.asarray(X, float)
    time = np.asarray(time, float)
    event = np.asarray(event, bool)
    order, t, d, event_times, first, _group, n_deaths = _event_structure(time, event)
    Xs = X[order]
    n, n_features = Xs.shape
    if max_nonzero is None:
        max_nonzero = max(1, min(n // 4, int(event.sum())))
    beta = np.zeros(n_features)
    path = np.full((len(lambdas), n_features), np.nan)

    null_loglik = previous = breslow_loglik(np.zeros(n), t, d)

    def objective(b, lam):
        return -breslow_loglik(Xs @ b, t, d) / n + lam * np.abs(b).sum()

    for li, lam in enumerate(lambdas):
        for _outer in range(max_outer):
            eta = Xs @ beta
            grad, w = _breslow_gradient_weights(eta, t, d, first, n_deaths, event_times)
            # quadratic model of -l/n: (1/2n) sum w (z - X b)^2 with w*(z - X b_old) = grad
            # Covariance form: q = X^T w (z - X b) / n, Gram matrix H = X^T diag(w) X / n.
            gram = (Xs * w[:, None]).T @ Xs / n
            q = Xs.T @ grad / n  # at b = beta
            hjj = np.diag(gram).copy()
            new = beta.copy()

            def sweep(indices):
                change = 0.0
                for j in indices:
                    if hjj[j] <= 0:
                        continue
                    gj = q[j] + hjj[j] * new[j]
                    bj = np.sign(gj) * max(abs(gj) - lam, 0.0) / hjj[j]
                    delta = bj - new[j]
                    if delta != 0.0:
                        q[:] -= gram[:, j] * delta
                        new[j] = bj
                        change = max(change, hjj[j] * delta * delta)
                return change

            everything = range(n_features)
            # glmnet's stopping rule: largest H_jj * delta_j^2 (objective change) below tol^2
            for _round in range(20):
                if sweep(everything) < tol * tol:
                    break
                active = np.flatnonzero(new != 0.0)
                for _inner in range(5):
                    if sweep(active) < tol * tol:
                        break
                if active.size and _exact_on_active_set(gram, q, new, active, lam):
                    break  # the sign pattern is right: the quadratic's exact minimiser, KKT checked
                for _inner in range(200):
                    if sweep(active) < tol * tol:
                        break
                    if _inner % 10 == 9 and _exact_on_active_set(gram, q, new, active, lam):
                        break
            if np.count_nonzero(new) > max_nonzero:
                return path  # the path stops here (this and the smaller penalties stay NaN)
            # damped step if the quadratic model overshot
            old_obj = objective(beta, lam)
            step = new - beta
            for _half in range(30):
                if objective(beta + step, lam) <= old_obj + 1e-12:
                    break
                step = step / 2
            change = np.abs(step).max()
            beta = beta + step
            if change < tol:
                break
        if np.count_nonzero(beta) > max_nonzero:
            break
        path[li] = beta
        # glmnet's other stop (after at least 5 penalties): the fit no longer improves (gain < 1e-5
        # of the null log-likelihood); the remaining penalties keep this converged solution.
        loglik = breslow_loglik(Xs @ beta, t, d)
        if li >= 5 and loglik - previous < 1e-5 * abs(null_loglik):
            path[li + 1:] = beta
            break
        previous = loglik
    return path


def lambda_grid(X, time, event, n_lambdas: int = 30, min_ratio=None):
    """A decreasing log-spaced penalty grid from ``lambda_max`` (all coefficients zero).

    Args:
        X ``[N, F]``, time ``[N]`` days, event ``[N]`` bool.
        n_lambdas: grid length.
        min_ratio: smallest / largest penalty (default 0.05 when F > N, else 0.01; glmnet uses
            0.01 and 1e-4: the nearly unpenalised end of the path is slow on collinear radiomics
            features and is not where cross-validation chooses).

    Returns:
        ``[n_lambdas]`` penalties.
    """
    X = np.asarray(X, float)
    order, t, d, event_times, first, _g, n_deaths = _event_structure(np.asarray(time, float),
                                                                     np.asarray(event, bool))
    grad, _w = _breslow_gradient_weights(np.zeros(X.shape[0]), t, d, first, n_deaths, event_times)
    lam_max = np.abs(X[order].T @ grad).max() / X.shape[0]
    if min_ratio is None:
        min_ratio = 0.05 if X.shape[1] > X.shape[0] else 0.01
    return lam_max * np.logspace(0, np.log10(min_ratio), n_lambdas)


def kfold_indices(n: int, k: int, seed: int, event=None):
    """Fold labels ``[n]`` in ``0..k-1``; with ``event`` given, events and censored subjects are
    dealt out separately so that every fold has its share of events."""
    rng = np.random.default_rng(seed)
    folds = np.empty(n, int)
    groups = [np.arange(n)] if event is None else [np.flatnonzero(event), np.flatnonzero(~np.asarray(event, bool))]
    offset = 0
    for members in groups:
        members = rng.permutation(members)
        folds[members] = (np.arange(members.size) + offset) % k
        offset += members.size
    return folds


def cv_lasso_cox(X, time, event, n_folds: int = 10, n_lambdas: int = 30, seed: int = 0, min_ratio=None):
    """Lasso-Cox with the penalty chosen by K-fold cross-validated partial likelihood.

    For each fold k the path is fitted without fold k and scored by
    ``l(b_-k) - l_-k(b_-k)`` (full-data minus fold-removed log partial likelihood; Verweij & van
    Houwelingen 1993); the penalty with the largest sum over folds is chosen and the path is
    refitted on all rows. Only the rows passed in are used: pass the training set only.

    Args:
        X ``[N, F]`` z-scored features, time ``[N]`` days, event ``[N]`` bool.
        n_folds: K (Liu et al. 2025 use 10); reduced to the number of events when smaller.
        n_lambdas: penalty-grid length; seed: fold assignment seed.
        min_ratio: smallest / largest penalty of the grid (None: :func:`lambda_grid`'s default).

    Returns:
        dict: ``lambda`` (chosen), ``min_ratio`` (used), ``coef`` ``[F]``, ``lambdas`` ``[L]``, ``cv_pl`` ``[L]`` (summed
        CV partial likelihood; -inf where a fold stopped early), ``n_folds``.

    Raises:
        InputError: fewer than 2 events, or fewer than 2 rows per fold.
    """
    X = np.asarray(X, float)
    time = np.asarray(time, float)
    event = np.asarray(event, bool)
    n_events = int(event.sum())
    if n_events < 2:
        raise InputError(f"Lasso-Cox needs at least 2 events in the training data, got {n_events}")
    n_folds = int(min(n_folds, n_events))
    if X.shape[0] < 2 * n_folds:
        raise InputError(f"{X.shape[0]} training patients are too few for {n_folds}-fold cross-validation")
    lambdas = lambda_grid(X, time, event, n_lambdas, min_ratio)
    folds = kfold_indices(X.shape[0], n_folds, seed, event)
    cv_pl = np.zeros(lambdas.size)
    for k in range(n_folds):
        train = folds != k
        if not event[train].any():
            continue
        path = lasso_cox_path(X[train], time[train], event[train], lambdas)
        for li, b in enumerate(path):
            if not np.isfinite(b).all():
                cv_pl[li] = -np.inf
                continue
            cv_pl[li] += breslow_loglik(X @ b, time, event) - breslow_loglik(X[train] @ b, time[train], event[train])
    best = int(np.argmax(cv_pl))
    full = lasso_cox_path(X, time, event, lambdas[: best + 1])
    coef = full[best]
    if not np.isfinite(coef).all():  # the full-data path stopped earlier than the folds: last finite
        finite = np.flatnonzero(np.isfinite(full).all(axis=1))
        best = int(finite[-1])
        coef = full[best]
    return {"lambda": float(lambdas[best]), "coef": coef, "lambdas": lambdas, "cv_pl": cv_pl,
            "n_folds": n_folds, "chosen_index": best, "min_ratio": float(lambdas[-1] / lambdas[0])}


def breslow_cumulative_hazard(eta, time, event):
    """Breslow estimate of the baseline cumulative hazard for a fitted linear predictor.

    ``H0(t) = sum_{u_k <= t} d_k / sum_{j: t_j >= u_k} exp(eta_j)`` (Breslow 1972), so that
    ``S(t | eta) = exp(-H0(t) * exp(eta))``.

    Args:
        eta: ``[N]`` linear predictor (not centred); time ``[N]`` days; event ``[N]`` bool.

    Returns:
        ``(event_times [K] days, H0 [K])``.
    """
    eta = np.asarray(eta, float)
    order, t, d, event_times, first, _g, n_deaths = _event_structure(np.asarray(time, float),
                                                                     np.asarray(event, bool))
    rev = np.cumsum(np.exp(eta[order])[::-1])[::-1]
    return event_times, np.cumsum(n_deaths / rev[first])


def cumulative_hazard_at(times_days, event_times, h0):
    """Step-function value of a baseline cumulative hazard at ``times_days`` (0 before the first
    event time; constant after the last)."""
    idx = np.searchsorted(np.asarray(event_times, float), np.asarray(times_days, float), side="right") - 1
    h0 = np.asarray(h0, float)
    return np.where(idx >= 0, h0[np.maximum(idx, 0)], 0.0)


def survival_probability(times_days, event_times, h0, eta):
    """Survival probability ``S(t | eta) = exp(-H0(t) * exp(eta)) = S0(t) ** exp(eta)`` of a Cox model.

    Args:
        times_days: horizons (days), scalar or array.
        event_times: ``[K]`` increasing event times of the baseline (days); h0: ``[K]`` baseline
            cumulative hazard there (``breslow_cumulative_hazard``; a step function, 0 before the first
            event time and constant after the last).
        eta: linear predictor(s) on the scale the baseline was estimated for, scalar or array.

    Returns:
        NumPy array, ``times_days`` and ``eta`` broadcast together (one horizon, ``[M]`` patients ->
        ``[M]``; ``[T]`` horizons, one patient -> ``[T]``).
    """
    h = cumulative_hazard_at(times_days, event_times, h0)
    return np.exp(-h * np.exp(np.asarray(eta, float)))
