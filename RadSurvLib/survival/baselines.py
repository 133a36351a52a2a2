"""Baselines a reviewer asks for, fitted on the same training rows (folds) as the signature, and the
comparison of the signature with each.

Survival baselines (Cox models, lifelines, Efron ties, ridge 0.01), each giving a risk score:

* ``tumour_volume``: log GTV volume alone (the ``volume_column`` given, else
  ``original_shape_MeshVolume``, else ``original_shape_VoxelVolume``); when none of these exists the
  baseline is *absent*: :func:`survival_baseline_plan` says so before anything is fitted and the
  report omits it everywhere;
* ``tumour_size``: GTV major axis length alone (``original_shape_MajorAxisLength``, else
  ``original_shape_Maximum3DDiameter``: the plan names the column used);
* ``clinical``: age, sex and overall stage (where present in the clinical table);
* ``signature_clinical``: the fold's RadScore plus the clinical covariates.

One scale for every out-of-fold prediction: each model's linear predictor is centred on its mean over
the patients it was fitted on (``x_test @ b - mean(x_train @ b)``), so the predictions of different
fold models are comparable when pooled (a Cox model has no intercept: without centring, fold-to-fold
differences in ``b`` times a large covariate such as log volume shift whole folds against each other).

Binary baselines of Kothinti et al. for death by a horizon: logistic regression and random forest
on all features (:func:`.binary.make_model`; cleaning, z-scoring and selection inside the training
rows).

Missing clinical values are filled with the *training* median (numbers) or most frequent value
(categories), and a category unseen in training with the training's most frequent one; both are
counted in the notes.

Comparison (:func:`compare_survival`): Harrell's C of each model pooled over the folds and as the mean
of the within-fold C, both with percentile bootstrap CIs, and the paired differences signature -
baseline (CI and two-sided p) from the same resamples (:func:`.metrics.discrimination_bootstrap`);
DeLong test of the AUCs for death by 2 years (:func:`.binary.delong_test`).
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError

#: Survival baselines in report order: key -> reader's label.
SURVIVAL_BASELINES = {"tumour_volume": "tumour volume alone", "tumour_size": "tumour size (major axis) alone",
                      "clinical": "clinical (age, sex, stage)", "signature_clinical": "signature + clinical"}
#: Binary baselines (Kothinti et al.): key -> label.
BINARY_BASELINES = {"logistic": "logistic regression (all features)", "random-forest": "random forest (all features)"}
VOLUME_COLUMNS = ("original_shape_MeshVolume", "original_shape_VoxelVolume")
SIZE_COLUMNS = ("original_shape_MajorAxisLength", "original_shape_Maximum3DDiameter")
CLINICAL_COVARIATES = ("age", "gender", "Overall.Stage")
#: Horizon (years) of the binary baselines and of the DeLong comparison.
BINARY_HORIZON_YEARS = 2


def column_of(columns, candidates):
    """First of ``candidates`` present in ``columns`` (None when none is)."""
    return next((c for c in candidates if c in columns), None)


def _fill(train, other, notes, name):
    """Fill missing values of one clinical column with training statistics; returns both columns."""
    import pandas as pd

    numeric = pd.to_numeric(train.dropna(), errors="coerce")
    if len(numeric) and not numeric.isna().any():
        fill = float(numeric.median())
        out = [pd.to_numeric(c, errors="coerce").fillna(fill).astype(float) for c in (train, other)]
    else:
        mode = train.dropna().astype(str).mode().iloc[0]
        seen = set(train.dropna().astype(str))
        out = [c.astype(object).where(c.notna(), mode).astype(str) for c in (train, other)]
        out[1] = out[1].where(out[1].isin(seen), mode)
    if train.isna().any() or other.isna().any():
        notes.add(f"clinical covariate {name}: missing values filled with the training median or most frequent value")
    return out


def clinical_matrices(clinical, train, test, notes):
    """Design matrices ``(X_train, X_test, names)`` of the clinical covariates present; categorical
    columns one-hot against their first training level."""
    import pandas as pd

    from .data import encode_covariates

    names = [c for c in CLINICAL_COVARIATES if c in clinical.columns]
    for name in [n for n in names if clinical[n].iloc[train].isna().all()]:
        notes.add(f"clinical covariate {name}: no training patient has a value; left out")
        names.remove(name)
    if not names:
        return None, None, []
    filled_train, filled_test = {}, {}
    for name in names:
        filled_train[name], filled_test[name] = _fill(clinical[name].iloc[train].reset_index(drop=True),
                                                      clinical[name].iloc[test].reset_index(drop=True), notes, name)
    x_train, cols, levels = encode_covariates(pd.DataFrame(filled_train), names)
    x_test, _c, _l = encode_covariates(pd.DataFrame(filled_test), names, levels)
    keep = x_train.std(axis=0) > 0  # a level absent from this training fold
    return x_train[:, keep], x_test[:, keep], [c for c, k in zip(cols, keep) if k]


def _cox_risk(x_train, time, event, x_test, centre: bool = True):
    """Centred linear predictor on the test rows of a Cox model fitted on the training rows.

    lifelines ``CoxPHFitter`` with a small ridge penalty 0.01 (so that sparse stage levels cannot
    diverge). The returned score is ``x_test @ b - mean(x_train @ b)``: centred on the training
    patients' mean, so that the predictions of different folds share one scale (see the module text).

    Args:
        x_train ``[n, p]``, time ``[n]`` days, event ``[n]``, x_test ``[m, p]``.
        centre: subtract the training mean (default); False: the raw ``x_test @ b`` (for comparison).

    Returns:
        ``[m]`` risk scores; NaN where the model cannot be fitted (lifelines' ConvergenceError, a
        singular design): the baseline is then reported as missing for those patients, never as a
        number.
    """
    import pandas as pd
    from lifelines import CoxPHFitter

    cols = [f"x{i}" for i in range(x_train.shape[1])]
    df = pd.DataFrame(x_train, columns=cols)
    df["T"], df["E"] = time, np.asarray(event, int)
    try:
        fitter = CoxPHFitter(penalizer=0.01).fit(df, "T", "E")
    except Exception:  # lifelines raises ConvergenceError / LinAlgError types that vary by version
        return np.full(len(x_test), np.nan)
    beta = fitter.params_.to_numpy(float)
    shift = float(np.mean(np.asarray(x_train, float) @ beta)) if centre else 0.0
    return np.asarray(x_test, float) @ beta - shift


def survival_baseline_plan(table, volume_column=None) -> dict:
    """Which survival baselines a feature table allows, decided once before any fit.

    Args:
        table: :class:`.data.FeatureTable`.
        volume_column: the feature column holding the tumour volume (mm^3; its log enters the
            model); None: ``original_shape_MeshVolume``, else ``original_shape_VoxelVolume``.

    Returns:
        dict ``fitted``: ``{key: {"label", "inputs"}}`` (inputs in words, e.g. "log of
        original_shape_MeshVolume") in report order; ``absent``: ``{key: reason}``.

    Raises:
        InputError: ``volume_column`` is given but is not a column of the feature table, or has
            values that are missing or not > 0.
    """
    fitted, absent = {}, {}
    columns = table.features.columns
    if volume_column is not None:
        if volume_column not in columns:
            raise InputError(f"--volume-column {volume_column!r} is not a column of the feature table "
                             f"(volume-like columns there: {[c for c in columns if 'olume' in str(c)][:5]})")
        vol = table.features[volume_column].to_numpy(float)
        if not (np.isfinite(vol).all() and (vol > 0).all()):
            raise InputError(f"--volume-column {volume_column!r}: {int((~(np.isfinite(vol) & (vol > 0))).sum())} "
                             "patient(s) have a missing or non-positive volume")
    col = volume_column or column_of(columns, VOLUME_COLUMNS)
    if col is None:
        absent["tumour_volume"] = (f"no tumour volume: none of {list(VOLUME_COLUMNS)} is a feature column and "
                                   "no --volume-column was given")
    elif not np.isfinite(table.features[col].to_numpy(float)).all():
        absent["tumour_volume"] = f"tumour volume: {col} has missing values"
    else:
        fitted["tumour_volume"] = {"label": SURVIVAL_BASELINES["tumour_volume"], "column": col,
                                   "inputs": f"the log of {col}"}
    col = column_of(columns, SIZE_COLUMNS)
    if col is None:
        absent["tumour_size"] = f"no tumour size: none of {list(SIZE_COLUMNS)} is a feature column"
    elif not np.isfinite(table.features[col].to_numpy(float)).all():
        absent["tumour_size"] = f"tumour size: {col} has missing values"
    else:
        label = SURVIVAL_BASELINES["tumour_size"] if col == SIZE_COLUMNS[0] else "tumour size (maximum 3D diameter) alone"
        fitted["tumour_size"] = {"label": label, "column": col, "inputs": col}
    clinical = [c for c in CLINICAL_COVARIATES if c in table.clinical.columns]
    if clinical:
        fitted["clinical"] = {"label": SURVIVAL_BASELINES["clinical"], "inputs": ", ".join(clinical)}
        fitted["signature_clinical"] = {"label": SURVIVAL_BASELINES["signature_clinical"],
                                        "inputs": "the fold's RadScore, " + ", ".join(clinical)}
    else:
        for key in ("clinical", "signature_clinical"):
            absent[key] = f"no clinical baseline: none of {list(CLINICAL_COVARIATES)} is a clinical column"
    return {"fitted": fitted, "absent": absent}


def survival_baseline_risks(table, train, test, radscore, notes, plan=None, centre: bool = True) -> dict:
    """Risk scores on the ``test`` rows of each survival baseline fitted on the ``train`` rows.

    Args:
        table: :class:`.data.FeatureTable`; train, test: row indices; radscore: callable(row
            indices) -> RadScores [n] of the signature fitted on ``train`` (for ``signature_clinical``;
            ``signature.apply_signature``); notes: a set collecting notes.
        plan: :func:`survival_baseline_plan` (None: made here with the default volume columns).
        centre: centre each linear predictor on its training mean (:func:`_cox_risk`).

    Returns:
        ``{baseline key: centred risk [len(test)]}`` (see :func:`_cox_risk`); an absent baseline is
        left out (the plan says why).
    """
    plan = survival_baseline_plan(table) if plan is None else plan
    out = {}
    t, e = table.time[train], table.event[train]
    for key, transform in (("tumour_volume", np.log), ("tumour_size", None)):
        if key not in plan["fitted"]:
            continue
        x = table.features[plan["fitted"][key]["column"]].to_numpy(float)
        if transform is not None:
            x = transform(np.maximum(x, 1e-6))
        out[key] = _cox_risk(x[train, None], t, e, x[test, None], centre)
    if "clinical" not in plan["fitted"]:
        return out
    x_train, x_test, names = clinical_matrices(table.clinical, train, test, notes)
    if names:
        out["clinical"] = _cox_risk(x_train, t, e, x_test, centre)
        radscores = [radscore(idx) for idx in (train, test)]
        if np.ptp(radscores[0]) > 0:
            out["signature_clinical"] = _cox_risk(np.column_stack([radscores[0], x_train]), t, e,
                                                  np.column_stack([radscores[1], x_test]), centre)
        else:
            notes.add("signature + clinical: a fold's signature kept no feature; that fold uses clinical alone")
            out["signature_clinical"] = out["clinical"]
    else:
        notes.add("clinical baselines: no training patient has a clinical covariate; left out")
    return out


def binary_baseline_probabilities(table, train, test, years: float = BINARY_HORIZON_YEARS, seed: int = 0,
                                  max_features: int = 20) -> dict:
    """P(death by ``years``) on the ``test`` rows from logistic regression and random forest fitted on
    the ``train`` rows whose status at ``years`` is known (Kothinti et al.).

    Returns:
        ``{model: probability [len(test)]}``; empty when the training rows lack one class.
    """
    from .binary import fit_predict_classifier, horizon_endpoint

    y, known = horizon_endpoint(table.time, table.event, years)
    fit_rows = np.asarray(train)[known[train]]
    if y[fit_rows].all() or not y[fit_rows].any():
        return {}
    return {model: fit_predict_classifier(table.features, y, fit_rows, np.asarray(test), model, seed=seed,
                                          max_features=max_features)
            for model in BINARY_BASELINES}


def paired_bootstrap_c(time, event, risk_a, risk_b, n_boot: int = 1000, seed: int = 0) -> dict:
    """Paired percentile bootstrap of Harrell's C of two risk scores on the same patients.

    Returns:
        dict ``c_a``, ``c_b``, ``difference`` (a - b), ``low``, ``high`` (95 % CI of the difference),
        ``p_value`` (two-sided: twice the smaller share of resamples on either side of 0, at least
        1 / n_boot), ``n_boot`` used.
    """
    from .metrics import harrell_c

    time, event = np.asarray(time, float), np.asarray(event, bool)
    a, b = np.asarray(risk_a, float), np.asarray(risk_b, float)
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(int(n_boot)):
        idx = rng.integers(0, time.size, time.size)
        if not event[idx].any() or np.unique(time[idx]).size < 2:
            continue
        try:
            diffs.append(harrell_c(time[idx], event[idx], a[idx]) - harrell_c(time[idx], event[idx], b[idx]))
        except InputError:
            continue
    c_a, c_b = harrell_c(time, event, a), harrell_c(time, event, b)
    if not diffs:
        return {"c_a": c_a, "c_b": c_b, "difference": c_a - c_b, "low": None, "high": None, "p_value": None, "n_boot": 0}
    diffs = np.array(diffs)
    p = 2 * min((diffs <= 0).mean(), (diffs >= 0).mean())
    return {"c_a": c_a, "c_b": c_b, "difference": c_a - c_b, "low": float(np.quantile(diffs, 0.025)),
            "high": float(np.quantile(diffs, 0.975)), "p_value": float(min(1.0, max(p, 1.0 / diffs.size))),
            "n_boot": int(diffs.size)}


def baseline_columns(frame, prefix: str = "baseline_") -> dict:
    """``{key: column}`` of the baseline score columns of a predictions table, in report order."""
    order = list(SURVIVAL_BASELINES) + [f"{m}_death_by_{BINARY_HORIZON_YEARS}y" for m in BINARY_BASELINES]
    found = {c[len(prefix):]: c for c in frame.columns if c.startswith(prefix)}
    return {k: found[k] for k in order if k in found} | {k: v for k, v in found.items() if k not in order}


def label_of(key: str) -> str:
    """Reader's label of a baseline key."""
    if key in SURVIVAL_BASELINES:
        return SURVIVAL_BASELINES[key]
    for model, label in BINARY_BASELINES.items():
        if key.startswith(model):
            return label
    return key.replace("_", " ")


def compare_survival(frame, n_boot: int = 1000, seed: int = 0, horizon_years: float = BINARY_HORIZON_YEARS) -> list:
    """The signature (``risk``) against every survival baseline column of ``frame``, same patients.

    Harrell's C pooled over all rows and as the mean of the within-fold C (folds from the ``fold``
    column when it holds several folds, else one set), each with a percentile bootstrap CI, and the
    paired differences signature - baseline, all from the same resamples
    (:func:`.metrics.discrimination_bootstrap`: patients resampled within folds).

    Args:
        frame: one prediction set (``time_days``, ``event``, ``risk``, optional ``fold``,
            ``survival_{t}y`` and ``baseline_*`` columns).
        n_boot: bootstrap resamples; seed: their seed; horizon_years: DeLong endpoint (death by t).

    Returns:
        list of dicts, the signature first: ``key``, ``label``, ``c`` {value, low, high} (pooled),
        ``c_within`` {value, low, high, per_fold, n_folds}; for the baselines ``vs_signature``
        (pooled: ``difference`` = signature - baseline, ``low``, ``high``, ``p_value``, ``n_boot``,
        ``c_a`` signature, ``c_b`` baseline), ``vs_signature_within`` (the same for the within-fold
        C) and ``delong`` (AUC for death by ``horizon_years``: the signature's predicted probability
        ``1 - survival_{t}y`` (its risk where that column is absent) vs the baseline's risk) or
        ``delong_note``. A baseline with missing scores has only ``key``, ``label`` and ``note``.

    Raises:
        InputError: invalid survival data or signature risks.
    """
    from .binary import delong_test, horizon_endpoint
    from .metrics import discrimination_bootstrap

    time = frame["time_days"].to_numpy(float)
    event = frame["event"].to_numpy().astype(bool)
    y, known = horizon_endpoint(time, event, horizon_years)
    sig = frame["risk"].to_numpy(float)
    # the signature's own prediction of death by the horizon (as in the binary report), else its risk
    col = f"survival_{horizon_years:g}y"
    sig_death = 1.0 - frame[col].to_numpy(float) if col in frame.columns else sig
    folds = frame["fold"].to_numpy() if "fold" in frame.columns and frame["fold"].nunique() > 1 else None
    scores, rows = {"signature": sig}, {}
    for key, column in baseline_columns(frame).items():
        if key not in SURVIVAL_BASELINES:
            continue
        risk = frame[column].to_numpy(float)
        if not np.isfinite(risk).all():  # a fold where the baseline could not be fitted
            rows[key] = {"key": key, "label": label_of(key), "note": f"{label_of(key)}: could not be fitted in "
                         f"every fold ({int((~np.isfinite(risk)).sum())} patients without a score); left out"}
            continue
        scores[key] = risk
    stats = discrimination_bootstrap(time, event, scores, folds=folds, reference="signature", n_boot=n_boot, seed=seed)
    c_sig = stats["signature"]["pooled"]["value"]
    cw_sig = stats["signature"]["within_fold"]["value"]
    out = []
    for key in ["signature"] + [k for k in baseline_columns(frame) if k in SURVIVAL_BASELINES]:
        if key in rows:
            out.append(rows[key])
            continue
        st = stats[key]
        row = {"key": key, "label": "radiomics signature" if key == "signature" else label_of(key),
               "c": {k: st["pooled"][k] for k in ("value", "low", "high", "n_boot")},
               "c_within": dict(st["within_fold"])}
        if key != "signature":
            row["vs_signature"] = {**st["vs_reference"]["pooled"], "c_a": c_sig, "c_b": st["pooled"]["value"]}
            row["vs_signature_within"] = {**st["vs_reference"]["within_fold"], "c_a": cw_sig,
                                          "c_b": st["within_fold"]["value"]}
            try:
                row["delong"] = delong_test(y[known], sig_death[known], scores[key][known])
            except InputError as exc:
                row["delong_note"] = str(exc)
        out.append(row)
    return out
