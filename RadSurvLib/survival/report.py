"""Evaluation of a predictions table and the report a person reads.

* :func:`evaluate` - every statistic and figure of one prediction set, as an :class:`Evaluation`
  (``results`` dict + ``figures``: matplotlib Figures, for notebooks). Survival: Harrell's C (bootstrap
  CI, pooled and as the mean of the within-fold C), Uno's C, td-AUC, Kaplan-Meier by risk group with
  numbers at risk, log-rank p and HR, the baselines of :mod:`.baselines` compared with the signature
  on the same patients (paired bootstrap, same resamples), the subgroup forest plot, calibration at
  1/2/3 years (plain for out-of-fold / held-out predictions; optimism-corrected only for the 'train'
  set, the apparent fit) and decision curves. Binary endpoint
  (death by ``endpoint_years``): ROC with DeLong CI, confusion matrix at the signature's risk cut-off,
  calibration, DeLong comparison with every baseline.
* :func:`evaluate_to_folder` - the same written as ``evaluation.json`` and PNGs.
* :func:`write_report` - signature bundle + evaluation folder -> one self-contained HTML file (figures
  embedded) and a PDF of the same (:mod:`.report_document`).

Times are in days (figures in years, 365.25 days each).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError
from .data import DAYS_PER_YEAR

#: figure name -> PNG file in the evaluation folder (survival and binary reports).
FIGURES = {"km": "km.png", "baselines": "baselines.png", "td_auc": "td_auc.png", "forest": "subgroups_forest.png",
           "calibration": "calibration.png", "decision_curves": "decision_curves.png",
           "roc": "roc.png", "confusion": "confusion.png", "binary_calibration": "calibration_binary.png"}


@dataclass
class Evaluation:
    """The result of :func:`evaluate`.

    Attributes:
        results: JSON-serialisable statistics (``kind`` "survival" or "binary").
        figures: figure name (keys of :data:`FIGURES`) -> ``matplotlib.figure.Figure``.
    """

    results: dict
    figures: dict = field(default_factory=dict)

    def save(self, out_dir, dpi: int = 100) -> Path:
        """Write ``evaluation.json`` and one PNG per figure into ``out_dir`` (created); the figures
        are closed afterwards."""
        from .plots import save_figure

        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        for name, fig in self.figures.items():
            save_figure(fig, out_dir / FIGURES[name], dpi=dpi)
        (out_dir / "evaluation.json").write_text(json.dumps(self.results, indent=1))
        return out_dir


def choose_set(frame, requested=None) -> str:
    """The prediction set to evaluate: ``requested``, else test, else cv, else train."""
    sets = list(dict.fromkeys(frame["set"].astype(str)))
    if requested:
        if requested not in sets:
            raise InputError(f"set {requested!r} is not in the predictions (sets: {sets})")
        return requested
    for name in ("test", "cv", "train"):
        if name in sets:
            return name
    return sets[0]


def _prediction_set(predictions, which):
    from .data import read_table

    frame = read_table(predictions, "predictions table") if not hasattr(predictions, "columns") else predictions
    needed = ["set", "time_days", "event", "risk", "risk_group"]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise InputError(f"predictions table lacks column(s) {missing}; it must come from "
                         "`radsurv signature fit` or `signature apply` with survival data")
    name = choose_set(frame, which)
    return name, frame[frame["set"].astype(str) == name].reset_index(drop=True)


def _follow_up_days(time, event):
    """Median follow-up, reverse Kaplan-Meier (censoring as the event), days; None if not reached."""
    from lifelines import KaplanMeierFitter

    med = float(KaplanMeierFitter().fit(time, ~np.asarray(event, bool)).median_survival_time_)
    return med if np.isfinite(med) else None


def _characteristics(sub) -> list:
    """Rows (characteristic, value) describing the evaluated patients."""
    rows = []
    if "age" in sub.columns:
        age = sub["age"].to_numpy(float)
        age = age[np.isfinite(age)]
        if age.size:
            q1, med, q3 = np.percentile(age, [25, 50, 75])
            rows.append(["age, years: median (IQR)", f"{med:.0f} ({q1:.0f}-{q3:.0f})"])
    for col, what in (("gender", "sex"), ("Overall.Stage", "overall stage"), ("Histology", "histology")):
        if col in sub.columns:
            counts = sub[col].fillna("missing").astype(str).value_counts()
            for level, count in counts.sort_index().items():
                rows.append([f"{what}: {level}", f"{count} ({100 * count / len(sub):.0f} %)"])
    return rows


def _apparent(name) -> bool:
    """Whether a prediction set holds the fit's own patients (apparent performance): 'train'."""
    return str(name) == "train"


def _survival_results(sub, n_boot, seed, name="cv"):
    from .baselines import compare_survival
    from .calibration import bootstrap_calibration
    from .metrics import evaluate_predictions
    from .subgroups import subgroup_hazard_ratios

    res = evaluate_predictions(sub, n_boot=n_boot, seed=seed)
    time = sub["time_days"].to_numpy(float)
    event = sub["event"].to_numpy().astype(bool)
    risk = sub["risk"].to_numpy(float)
    res["calibration"] = {}
    for years in (1, 2, 3):
        col = f"survival_{years}y"
        if col in sub.columns:
            res["calibration"][str(years)] = bootstrap_calibration(time, event, risk, sub[col].to_numpy(float),
                                                                   years * DAYS_PER_YEAR, n_boot=n_boot, seed=seed,
                                                                   optimism=_apparent(name))
    res["subgroups"] = subgroup_hazard_ratios(sub)
    res["baselines"] = compare_survival(sub, n_boot=n_boot, seed=seed)
    # the signature's C and CI from the same resamples as the comparison (pooled and within-fold)
    sig_row = res["baselines"][0]
    res["harrell_c"] = {**res["harrell_c"], "low": sig_row["c"]["low"], "high": sig_row["c"]["high"],
                        "n_boot": sig_row["c"]["n_boot"],
                        "resampling": "patients resampled within each fold" if sig_row["c_within"]["n_folds"] > 1
                        else "patients resampled"}
    res["harrell_c_within_fold"] = sig_row["c_within"]
    res["notes"] += [r["note"] for r in res["baselines"] if "note" in r]
    res["baselines"] = [r for r in res["baselines"] if "note" not in r]
    if len(res["baselines"]) == 1:
        res["notes"].append("the predictions hold no baseline column (baselines are fitted by "
                            "`radsurv signature fit`; an applied signature has none)")
    return res


def _survival_figures(sub, res) -> dict:
    from . import plots

    time = sub["time_days"].to_numpy(float)
    event = sub["event"].to_numpy().astype(bool)
    high = (sub["risk_group"].astype(str) == "high").to_numpy()
    figs = {"km": plots.km_figure(time, event, high, res["km"],
                                  title=f"Overall survival by signature risk group ({res['set']} set)"),
            "baselines": plots.model_comparison_figure(
                [{"label": r["label"], **r["c"]} for r in res["baselines"]],
                title="Harrell's C-index: signature and baselines, same patients and folds"),
            "td_auc": plots.td_auc_figure(res["td_auc"])}
    if any(r.get("hr") is not None for r in res["subgroups"]):
        figs["forest"] = plots.forest_figure(res["subgroups"])
    if res["calibration"]:
        figs["calibration"] = plots.calibration_figure(res["calibration"])
        figs["decision_curves"] = plots.decision_curve_figure(res["decision_curves"])
    return figs


def _binary_results(sub, years, n_boot, seed, name="cv"):
    from .baselines import baseline_columns, label_of
    from .binary import delong_test, horizon_endpoint, roc_band, roc_points
    from .calibration import bootstrap_binary_calibration

    time = sub["time_days"].to_numpy(float)
    event = sub["event"].to_numpy().astype(bool)
    y, known = horizon_endpoint(time, event, years)
    col = f"survival_{years:g}y"
    score = 1.0 - sub[col].to_numpy(float) if col in sub.columns else sub["risk"].to_numpy(float)
    yk, sk = y[known], score[known]
    pred = (sub["risk_group"].astype(str) == "high").to_numpy()[known]
    tp, fn = int((pred & yk).sum()), int((~pred & yk).sum())
    tn, fp = int((~pred & ~yk).sum()), int((pred & ~yk).sum())
    roc = roc_points(yk, sk)
    confusion = {"tp": tp, "fp": fp, "tn": tn, "fn": fn, "accuracy": (tp + tn) / yk.size,
                 "sensitivity": tp / max(tp + fn, 1), "specificity": tn / max(tn + fp, 1),
                 "ppv": tp / max(tp + fp, 1), "npv": tn / max(tn + fn, 1),
                 "threshold": "signature high-risk group (risk above the training-median cut-off)"}
    models = [{"key": "signature", "label": "radiomics signature", "score": "P(death) = 1 - S(t)" if col in sub.columns
               else "risk score", **roc, "band": roc_band(yk, sk, n_boot=n_boot, seed=seed)}]
    notes = []
    for key, column in baseline_columns(sub).items():
        other = sub[column].to_numpy(float)[known]
        if not np.isfinite(other).all():
            notes.append(f"{label_of(key)}: could not be fitted in every fold; left out")
            continue
        row = {"key": key, "label": label_of(key), **roc_points(yk, other)}
        row["delong"] = delong_test(yk, sk, other)
        models.append(row)
    res = {"kind": "binary", "endpoint": f"death by {years:g} years", "horizon_years": float(years),
           "n": int(known.sum()), "n_pos": int(yk.sum()), "n_neg": int((~yk).sum()),
           "n_excluded": int((~known).sum()), "confusion": confusion, "models": models, "notes": notes}
    if col in sub.columns:
        res["calibration"] = bootstrap_binary_calibration(yk, sk, n_boot=n_boot, seed=seed, optimism=_apparent(name))
    else:
        res["notes"].append(f"no {col} column: the signature is ranked by its risk score and not calibrated")
    if len(models) == 1:
        res["notes"].append("the predictions hold no baseline column")
    return res


def _binary_figures(res) -> dict:
    from . import plots

    figs = {"roc": plots.roc_figure(res["models"], title=f"ROC, {res['endpoint']} (AUC with DeLong 95 % CI)"),
            "confusion": plots.confusion_figure(res["confusion"], title=f"Confusion matrix, {res['endpoint']}")}
    if res.get("calibration"):
        figs["binary_calibration"] = plots.binary_calibration_figure(
            res["calibration"], title=f"Calibration, {res['endpoint']}")
    return figs


def evaluate(predictions, which=None, endpoint_years=None, n_boot: int = 1000, seed: int = 0,
             figures: bool = True) -> Evaluation:
    """Evaluate one set of a predictions table, with the statistics and figures of the report.

    Args:
        predictions: ``predictions.csv`` path or DataFrame of ``radsurv signature fit``/``apply``
            (time in days, event, risk, risk_group, survival_{k}y, optional ``baseline_*`` and
            subgroup columns).
        which: set (train/test/cv; default test > cv > train).
        endpoint_years: None for the survival evaluation; a number t for the binary endpoint
            "death by t years" (patients censored before t excluded).
        n_boot: bootstrap resamples of the CIs, the model comparisons and the calibration
            (Liu et al.: 1000); seed: their seed; figures: also build the figures.

    Returns:
        :class:`Evaluation`.

    Raises:
        InputError: unreadable table, missing columns, bad survival data, a one-class endpoint.
    """
    name, sub = _prediction_set(predictions, which)
    if endpoint_years is None:
        res = _survival_results(sub, n_boot, seed, name)
        res["kind"] = "survival"
    else:
        res = _binary_results(sub, float(endpoint_years), n_boot, seed, name)
    res.update({"set": name, "n_boot": int(n_boot), "seed": int(seed),
                "source": str(predictions) if not hasattr(predictions, "columns") else "DataFrame",
                "follow_up_median_days": _follow_up_days(sub["time_days"].to_numpy(float), sub["event"].to_numpy()),
                "characteristics": _characteristics(sub)})
    figs = {}
    if figures:
        figs = _survival_figures(sub, res) if endpoint_years is None else _binary_figures(res)
    return Evaluation(res, figs)


def evaluate_to_folder(predictions_csv, out_dir, which=None, n_boot: int = 1000, seed: int = 0,
                       figures: bool = True, endpoint_years=None) -> dict:
    """:func:`evaluate` written into ``out_dir`` (``evaluation.json`` and PNGs); returns the results."""
    ev = evaluate(predictions_csv, which=which, endpoint_years=endpoint_years, n_boot=n_boot, seed=seed,
                  figures=figures)
    ev.save(out_dir)
    return ev.results


def load_evaluation(evaluation_dir) -> dict:
    """Read ``evaluation.json`` of an evaluation folder.

    Raises:
        InputError: missing or not valid JSON.
    """
    path = Path(evaluation_dir) / "evaluation.json"
    if not path.is_file():
        raise InputError(f"{path} does not exist: evaluate the predictions first (`radsurv evaluate`)")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(f"{path} is not valid JSON: {exc}") from exc


def write_report(signature_dir, evaluation_dir, out_html, out_pdf=None) -> Path:
    """Write the report of a signature and its evaluation: one self-contained HTML file (figures
    embedded as base64 PNG, no external resource) and, with ``out_pdf``, a PDF of the same content
    (matplotlib's PDF backend).

    Args:
        signature_dir: signature bundle folder (``signature.json``).
        evaluation_dir: folder written by :func:`evaluate_to_folder` (survival or binary).
        out_html: output HTML file; out_pdf: output PDF file (None: no PDF).

    Returns:
        The HTML path.

    Raises:
        InputError: the bundle or ``evaluation.json`` is missing or invalid.
    """
    from .report_document import build_document, render_html, render_pdf
    from .signature import load_signature

    doc = build_document(load_signature(signature_dir), load_evaluation(evaluation_dir), Path(evaluation_dir))
    out_html = Path(out_html)
    out_html.parent.mkdir(parents=True, exist_ok=True)
    out_html.write_text(render_html(doc), encoding="utf-8")
    if out_pdf is not None:
        render_pdf(doc, out_pdf)
    return out_html
