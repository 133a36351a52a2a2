"""The report as a document (sections of paragraphs, tables and figures) and its two renderings:
one self-contained HTML file (figures embedded as base64 PNG, a table of contents, no script, no
external resource) and a PDF of the same (matplotlib ``PdfPages``: text and tables drawn as
figures, the evaluation's PNGs placed on the pages).

Numbers are rounded for a reader: C-index, AUC and HR to 2-3 decimals with their 95 % CIs, p-values
to 3 decimals (``< 0.001`` below), survival probabilities in per cent. Times in the text are years
or days as labelled.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path

from .data import DAYS_PER_YEAR


@dataclass
class Table:
    """A table: ``caption``, ``header`` [C] and ``rows`` [R][C] of already formatted strings."""

    caption: str
    header: list
    rows: list


@dataclass
class Figure:
    """A figure: ``name`` (key of :data:`.report.FIGURES`), ``caption`` and its PNG ``path``."""

    name: str
    caption: str
    path: Path


@dataclass
class Section:
    """A section: ``id`` (HTML anchor), ``title`` and ``blocks`` (str paragraphs, Table, Figure)."""

    id: str
    title: str
    blocks: list = field(default_factory=list)


@dataclass
class Document:
    """Title, subtitle and sections of a report."""

    title: str
    subtitle: str
    sections: list


def fmt(value, digits: int = 3) -> str:
    """A number rounded for reading; ``n/a`` for None."""
    if value is None:
        return "n/a"
    if isinstance(value, (int,)) and not isinstance(value, bool):
        return str(value)
    return f"{float(value):.{digits}f}"


def fmt_ci(value, low, high, digits: int = 3) -> str:
    """``value (low-high)``."""
    if low is None or high is None:
        return fmt(value, digits)
    return f"{fmt(value, digits)} ({fmt(low, digits)} to {fmt(high, digits)})"


def fmt_p(p) -> str:
    """p-value: 3 decimals, ``< 0.001`` below."""
    if p is None:
        return "n/a"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def _verdict(diff) -> str:
    """Verb phrase of a comparison "A <verdict> B" from the difference A - B and its CI."""
    if diff.get("low") is None:
        return "cannot be compared with"
    if diff["low"] > 0:
        return "is better than"
    if diff["high"] < 0:
        return "is worse than"
    return "is not distinguishable from"


def _design_sentences(sig, ev) -> list:
    design = sig["provenance"].get("design", {})
    sel = sig["selection"]
    mode = design.get("mode", "all")
    folds = sel.get("lasso_folds") or 10
    inputs = sig["provenance"].get("inputs", {})
    files = ", ".join(f"{role} table {Path(v['path']).name}" for role, v in inputs.items()) or "the given tables"
    out = [f"Data: {files}, joined on the patient ID. Endpoint: overall survival, time in days from the "
           "start of follow-up to death (event) or last contact (censored). "
           f"{sel['n_features_in']} radiomic feature columns enter the signature fit; "
           f"{sel['n_features_usable'] if sel['n_features_usable'] is not None else 'the usable'} of them "
           "remain after columns with missing values, non-numeric or constant ones are dropped."]
    if sig.get("combined"):
        comb = sig["combined"]
        out.append(f"Model: the combined model of Liu et al. (2025): one signature per feature group "
                   f"({', '.join(comb['groups'])}), a principal component analysis over their selected features "
                   f"keeping {100 * comb['variance_threshold']:.0f} % of the variance ({comb['n_components']} "
                   "component(s)), and a Cox model on the components.")
    else:
        pre = sel.get("prefilter") or {"method": "univariate Cox, Wald p", "p_threshold": sel["univariate_p_threshold"]}
        lasso = sel.get("lasso") or {}
        screen = ("every usable feature with a finite univariate Cox estimate enters the Lasso (no univariate "
                  "prefilter)" if pre.get("p_threshold") is None else
                  f"a univariate Cox model per feature keeps those with Wald p < {pre['p_threshold']:g} (prefilter)")
        grid = (f"a grid of {lasso['n_lambdas']} penalties from the largest useful one down to "
                f"{fmt(lasso.get('lambda_min_ratio') or lasso.get('lambda_min_ratio_asked'), 3)} times it"
                if lasso.get("n_lambdas") else "a penalty grid")
        out.append("Signature (Liu et al. 2025), fitted on training patients only: every feature is z-scored "
                   f"with the training mean and standard deviation; {screen}; a Lasso-penalised Cox model over "
                   f"{grid}, its penalty chosen by {folds}-fold cross-validated partial likelihood (largest "
                   "value), keeps the features with non-zero "
                   "coefficients; the RadScore is the sum of the kept z-scores times their coefficients. A Cox "
                   "model on the RadScore" + (f" and {', '.join(sig['model']['covariates'])}" if sig['model']['covariates']
                                              else "") +
                   " gives the risk score, and with its Breslow baseline hazard the survival at 1, 2 and 3 years. "
                   "High risk means a risk score above the median of the training patients' scores.")
    centred = "centred" in str(design.get("risk_scale", ""))
    if mode == "cv":
        out.append(f"Validation: {design['outer_folds']}-fold cross-validation (folds stratified by event, seed "
                   f"{design.get('seed', 0)}). Each patient is scored by the signature fitted, selection included, "
                   f"on the other {design['outer_folds'] - 1} folds, and placed in the high or low risk group by that "
                   "fold's own training median; the statistics below are computed on these out-of-fold predictions. "
                   "The signature shown in the Signature section is refitted on all patients.")
        if centred:
            out.append("One scale for all folds: every model's out-of-fold risk score (the signature's and each "
                       "baseline's Cox linear predictor) is centred on its mean over that fold's training patients "
                       "before the folds are pooled. A Cox model has no intercept, so uncentred scores of "
                       "different fold models would be shifted against each other, and the pooled C-index would "
                       "penalise models on a large raw scale such as log volume. The mean of the within-fold "
                       "C-indices, which compares only patients scored by the same model, is reported as well.")
        elif design.get("risk_scale"):
            out.append("The out-of-fold risk scores are uncentred linear predictors: the pooled C-index mixes "
                       "fold-to-fold shifts in; prefer the within-fold C-index.")
    elif mode == "split":
        out.append(f"Validation: a random split stratified by event ({design['n_train']} training, "
                   f"{design['n_test']} test patients, seed {design.get('seed', 0)}); the statistics below are "
                   f"computed on the '{ev['set']}' set.")
    else:
        out.append(f"Validation: none: the signature was fitted on all patients and is evaluated on the "
                   f"'{ev['set']}' set (apparent performance, optimistic).")
    planned = design.get("baselines")
    if planned is not None:
        if planned:
            listed = "; ".join(f"{info['label']} ({info['inputs']})" for info in planned.values())
            out.append("Baselines, Cox models fitted on the same training patients (same split or folds) as the "
                       f"signature: {listed}; clinical missing values filled with the training median or most "
                       "frequent value." + (" For death by 2 years also a logistic regression and a random forest "
                                             "on all features (Kothinti et al.; z-scoring and 20-feature ANOVA "
                                             "selection inside the training folds)." if design.get("binary_baselines", True)
                                             else ""))
        for key, reason in design.get("baselines_absent", {}).items():
            if key != "signature_clinical" or "signature_clinical" not in planned:
                out.append(f"Not fitted: {reason}.")
    else:
        out.append("Baselines, fitted on the same training patients (same split or folds) as the signature: see "
                   "the table below (this bundle predates the record of their inputs).")
    n_boot = ev["n_boot"]
    cal_kinds = {c.get("kind", "apparent, optimism-corrected") for c in ev.get("calibration", {}).values()} \
        if ev["kind"] == "survival" else {ev.get("calibration", {}).get("kind", "apparent, optimism-corrected")}
    if ev["kind"] == "survival":
        cal_text = (f"calibration at 1, 2 and 3 years in quintiles of predicted survival, optimism-corrected with "
                    f"{n_boot} bootstrap resamples (Harrell's method for the apparent fit, labelled as such: the Cox "
                    "model on the risk score is refitted in each resample, the feature selection is not)"
                    if any("optimism" in k for k in cal_kinds) else
                    "calibration at 1, 2 and 3 years in quintiles of predicted survival: mean predicted against "
                    f"Kaplan-Meier observed survival with a {n_boot}-resample bootstrap 95 % CI (plain: the "
                    "predictions are already out of sample, so no optimism correction is applied)")
        out.append(f"Statistics: Harrell's C-index pooled over all evaluated patients and as the mean of the "
                   f"within-fold C-indices, each with a percentile bootstrap 95 % CI ({n_boot} resamples, patients "
                   "drawn with replacement within each fold); the signature minus each baseline, pooled and "
                   "within-fold, from the same resamples (paired; two-sided p); DeLong's test of the AUCs for "
                   "death by 2 years (the signature ranked by its predicted probability of death by then); Uno's "
                   "C; cumulative/dynamic time-dependent AUC (IPCW) at 1, 2, 3 years; Kaplan-Meier by risk group "
                   "with the log-rank test and the hazard ratio (Cox, 95 % CI); the hazard ratio within subgroups "
                   f"and the interaction test; {cal_text}; decision curves (net benefit).")
    else:
        cal_text = (f"optimism-corrected with {n_boot} bootstrap resamples of a logistic recalibration (apparent fit)"
                    if any("optimism" in k for k in cal_kinds) else "plain (out-of-sample predictions, no "
                    "optimism correction)")
        out.append(f"Binary endpoint: {ev['endpoint']}; patients censored before it are excluded (status unknown). "
                   "The signature's score is its predicted probability of death by then (1 - S(t)); the confusion "
                   "matrix uses its high-risk group as the positive prediction. AUCs with DeLong 95 % CIs, DeLong "
                   "test of each baseline against the signature, calibration in quintiles of predicted probability "
                   f"(Wilson 95 % CIs), {cal_text}.")
    out.append("Times: days; 1 year = 365.25 days.")
    return out


def _signature_blocks(sig) -> list:
    sel = sig["selection"]
    blocks = []
    if sig["features"]:
        blocks.append(f"The final signature keeps {len(sig['features'])} feature(s) "
                      + (f"of the {sel['n_univariate_significant']} that pass the univariate screen (Lasso penalty "
                         f"{fmt(sel['lasso_lambda'], 4)})." if sel.get("n_univariate_significant") is not None else "."))
        blocks.append(Table("Features of the final signature (refitted on all training patients)",
                            ["feature", "coefficient per SD", "training mean", "training SD", "univariate p"],
                            [[f, f"{c:+.4f}", f"{m:.4g}", f"{s:.4g}", fmt_p(sel["univariate_p"].get(f))]
                             for f, c, m, s in zip(sig["features"], sig["coefficients"], sig["means"], sig["sds"])]))
    else:
        blocks.append("The final signature keeps no feature: the RadScore is 0 for every patient.")
    blocks.append(Table("Cox model of the risk score", ["term", "coefficient (log hazard ratio)", "hazard ratio"],
                        [[t, f"{c:+.4f}", f"{2.718281828459045 ** c:.3f}"]
                         for t, c in zip(sig["model"]["terms"], sig["model"]["coefficients"])]))
    folds = sig["provenance"].get("design", {}).get("folds")
    if folds:
        blocks.append(Table("Features kept in each cross-validation fold (fitted without that fold)",
                            ["fold", "features kept", "names"],
                            [[str(f["fold"] + 1), str(len(f["features"])), ", ".join(f["features"]) or "none"]
                             for f in folds]))
    for warning in sig.get("warnings", []):
        blocks.append(f"Warning: {warning}.")
    return blocks


def _survival_sections(ev, folder) -> list:
    c, km = ev["harrell_c"], ev["km"]
    sig_row, base_rows = ev["baselines"][0], ev["baselines"][1:]
    cw = ev.get("harrell_c_within_fold") or sig_row.get("c_within") or {}
    summary = [f"On the {ev['n']} patients of the '{ev['set']}' set ({ev['events']} deaths), the radiomics "
               f"signature's Harrell's C-index is {fmt_ci(c['value'], c['low'], c['high'])} pooled"
               + (f" and {fmt_ci(cw['value'], cw['low'], cw['high'])} as the mean within-fold C"
                  if cw.get("n_folds", 1) > 1 else "") + "."]
    for row in base_rows:
        d = row["vs_signature"]
        summary.append(f"The radiomics signature {_verdict(d)} {row['label']}: pooled C "
                       f"{fmt(d.get('c_a', c['value']))} for the signature vs "
                       f"{fmt_ci(row['c']['value'], row['c']['low'], row['c']['high'])} for {row['label']}, "
                       f"difference signature minus {row['label']} {fmt_ci(d['difference'], d['low'], d['high'])}, "
                       f"p {fmt_p(d['p_value'])}"
                       + (f"; within-fold difference {fmt_ci(row['vs_signature_within']['difference'], row['vs_signature_within']['low'], row['vs_signature_within']['high'])}"
                          if cw.get("n_folds", 1) > 1 and row.get("vs_signature_within") else "") + ".")
    summary.append(f"The signature's high-risk group has a hazard ratio of "
                   f"{fmt_ci(km['hr'], km['hr_low'], km['hr_high'], 2)} against its low-risk group (log-rank p "
                   f"{fmt_p(km['logrank_p'])}).")
    sections = [Section("summary", "Summary", [" ".join(summary)])]
    disc_rows = [["Harrell's C-index, pooled", fmt_ci(c["value"], c["low"], c["high"])]]
    if cw.get("n_folds", 1) > 1:
        disc_rows.append([f"Harrell's C-index, mean of {cw['n_folds']} within-fold values",
                          fmt_ci(cw["value"], cw["low"], cw["high"])])
        disc_rows.append(["Harrell's C-index per fold", ", ".join(fmt(v) for v in cw["per_fold"])])
    disc = [Table("Discrimination of the signature", ["statistic", "value (95 % CI)"],
                  disc_rows + [["Uno's C-index", fmt(ev["uno_c"])]]
                  + [[f"time-dependent AUC at {k} year(s)", fmt(v)] for k, v in ev["td_auc"].items()]),
            Figure("td_auc", "Time-dependent AUC of the signature at 1, 2 and 3 years.", folder / "td_auc.png")]
    sections.append(Section("discrimination", "Discrimination", disc))
    within = cw.get("n_folds", 1) > 1
    header = ["model", "C pooled (95 % CI)"] + (["C within-fold (95 % CI)"] if within else []) + \
        ["signature minus model, pooled (95 % CI)", "p (bootstrap)"] + \
        (["signature minus model, within-fold (95 % CI)", "p (bootstrap)"] if within else []) + \
        ["AUC death by 2 y (95 % CI)", "DeLong p"]
    first = base_rows[0] if base_rows else {}
    rows = [[sig_row["label"], fmt_ci(sig_row["c"]["value"], sig_row["c"]["low"], sig_row["c"]["high"])]
            + ([fmt_ci(cw["value"], cw["low"], cw["high"])] if within else []) + ["", ""] + (["", ""] if within else [])
            + [fmt_ci(first["delong"]["auc_a"], first["delong"]["auc_a_low"], first["delong"]["auc_a_high"])
               if "delong" in first else "", ""]]
    for row in base_rows:
        d, dl, dw = row["vs_signature"], row.get("delong"), row.get("vs_signature_within") or {}
        cwb = row.get("c_within") or {}
        rows.append([row["label"], fmt_ci(row["c"]["value"], row["c"]["low"], row["c"]["high"])]
                    + ([fmt_ci(cwb.get("value"), cwb.get("low"), cwb.get("high"))] if within else [])
                    + [fmt_ci(d["difference"], d["low"], d["high"]), fmt_p(d["p_value"])]
                    + ([fmt_ci(dw.get("difference"), dw.get("low"), dw.get("high")), fmt_p(dw.get("p_value"))]
                       if within else [])
                    + [fmt_ci(dl["auc_b"], dl["auc_b_low"], dl["auc_b_high"]) if dl else row.get("delong_note", ""),
                       fmt_p(dl["p_value"]) if dl else ""])
    sections.append(Section("baselines", "Signature against baselines", [
        "Every model below is fitted on the same training patients and scored on the same evaluated patients; "
        "each difference is the radiomics signature's C minus that model's C, so a CI above 0 means the signature "
        "discriminates better and a CI below 0 means that model does. The DeLong p compares the signature's AUC "
        "(first row) with that model's AUC.",
        Table("Signature and baselines on the same patients", header, rows),
        Figure("baselines", "Pooled Harrell's C-index (95 % bootstrap CI) of the signature and of each baseline.",
               folder / "baselines.png")]))
    sections.append(Section("kaplan-meier", "Kaplan-Meier by risk group", [
        Figure("km", "Overall survival of the low and high risk groups (95 % CI bands, censoring ticks, numbers at "
                     "risk below), log-rank p and hazard ratio.", folder / "km.png"),
        Table("Risk groups", ["group", "patients", "deaths", "median overall survival (years)"],
              [[g, str(km[f"n_{g}"]), str(km[f"events_{g}"]),
                fmt(None if km[f"median_days_{g}"] is None else km[f"median_days_{g}"] / DAYS_PER_YEAR, 2)
                if km[f"median_days_{g}"] is not None else "not reached"] for g in ("low", "high")]),
        Table("Test", ["log-rank p", "hazard ratio high vs low (95 % CI)", "Cox p"],
              [[fmt_p(km["logrank_p"]), fmt_ci(km["hr"], km["hr_low"], km["hr_high"], 2), fmt_p(km["hr_p"])]])]))
    sub_rows = [[r["label"], str(r["n"]), str(r["events"]), f"{r['n_high']} / {r['n_low']}",
                 fmt_ci(r["hr"], r["hr_low"], r["hr_high"], 2) if r["hr"] is not None else r.get("note", ""),
                 fmt_p(r["p"]), fmt_p(r["interaction_p"]) if r["first_of_variable"] else ""] for r in ev["subgroups"]]
    blocks = ["Hazard ratio of the high vs the low risk group within each subgroup; the interaction p tests whether "
              "it differs between the two subgroups of a variable."]
    if (folder / "subgroups_forest.png").is_file():
        blocks.append(Figure("forest", "Forest plot of the subgroup hazard ratios (log scale).",
                             folder / "subgroups_forest.png"))
    blocks.append(Table("Subgroups", ["subgroup", "patients", "deaths", "high / low", "HR (95 % CI)", "p",
                                      "interaction p"], sub_rows))
    sections.append(Section("subgroups", "Subgroups", blocks))
    if ev["calibration"]:
        corrected = all(g.get("corrected") is not None for cal in ev["calibration"].values() for g in cal["groups"])
        cal_rows = [[f"{y} y", str(i + 1), str(g["n"]), f"{100 * g['predicted']:.0f} %",
                     f"{100 * g['observed']:.0f} % ({100 * g['observed_low']:.0f} to {100 * g['observed_high']:.0f})"]
                    + ([f"{100 * g['corrected']:.0f} %"] if corrected else [])
                    for y, cal in ev["calibration"].items() for i, g in enumerate(cal["groups"])]
        if corrected:
            mae = ", ".join(f"{y} y {100 * cal['mean_abs_error']:.1f} / {100 * cal['mean_abs_error_corrected']:.1f} "
                            "points" for y, cal in ev["calibration"].items())
            lead = ("Apparent fit (the patients the model was fitted on): mean absolute difference between predicted "
                    f"and observed survival, apparent / optimism-corrected: {mae}.")
            caption = ("Predicted vs observed survival at 1, 2 and 3 years: apparent (Kaplan-Meier per quintile, "
                       "95 % CI) and optimism-corrected (apparent fit).")
        else:
            mae = ", ".join(f"{y} y {100 * cal['mean_abs_error']:.1f} points" for y, cal in ev["calibration"].items())
            lead = ("Out-of-sample predictions, plain calibration (no optimism correction is needed or applied): "
                    f"mean absolute difference between predicted and observed survival: {mae}.")
            caption = ("Predicted vs observed survival at 1, 2 and 3 years (Kaplan-Meier per quintile of predicted "
                       "survival, 95 % bootstrap CI).")
        sections.append(Section("calibration", "Calibration", [
            lead, Figure("calibration", caption, folder / "calibration.png"),
            Table("Calibration by quintile of predicted survival",
                  ["horizon", "group", "patients", "predicted survival", "observed (95 % CI)"]
                  + (["optimism-corrected"] if corrected else []), cal_rows)]))
        sections.append(Section("decision-curves", "Decision curves", [
            "Net benefit of acting on the signature's predicted risk of death, against acting on everyone or on no one.",
            Figure("decision_curves", "Decision curves for death by 1, 2 and 3 years.", folder / "decision_curves.png")]))
    return sections


def _binary_sections(ev, folder) -> list:
    sig_row, base_rows = ev["models"][0], ev["models"][1:]
    cm = ev["confusion"]
    excluded = (f"{ev['n_excluded']} patient(s) censored earlier are excluded" if ev["n_excluded"]
                else "no patient was censored earlier")
    summary = [f"{ev['endpoint'].capitalize()}: {ev['n_pos']} of {ev['n']} evaluable patients died "
               f"({excluded}). The signature's AUC is "
               f"{fmt_ci(sig_row['auc'], sig_row['auc_low'], sig_row['auc_high'])}."]
    for row in base_rows:
        d = row["delong"]
        verdict = ("is better than" if d["difference_low"] > 0 else "is worse than" if d["difference_high"] < 0
                   else "is not distinguishable from")
        summary.append(f"The radiomics signature {verdict} {row['label']}: AUC {fmt(sig_row['auc'])} for the "
                       f"signature vs {fmt_ci(row['auc'], row['auc_low'], row['auc_high'])} for {row['label']} "
                       f"(DeLong p {fmt_p(d['p_value'])}).")
    sections = [Section("summary", "Summary", [" ".join(summary)])]
    sections.append(Section("discrimination", "Discrimination (ROC)", [
        Figure("roc", "ROC curves of the signature (with its pointwise 95 % bootstrap band) and of the baselines "
                      "on the same patients.", folder / "roc.png"),
        Table("AUC", ["model", "AUC (95 % CI, DeLong)"],
              [[r["label"], fmt_ci(r["auc"], r["auc_low"], r["auc_high"])] for r in ev["models"]])]))
    sections.append(Section("confusion", "Confusion matrix", [
        f"Positive prediction: {cm['threshold']}.",
        Figure("confusion", "Observed outcome against the signature's prediction.", folder / "confusion.png"),
        Table("Classification at the threshold", ["accuracy", "sensitivity", "specificity", "PPV", "NPV",
                                                 "TP / FP / TN / FN"],
              [[fmt(cm["accuracy"]), fmt(cm["sensitivity"]), fmt(cm["specificity"]), fmt(cm["ppv"]), fmt(cm["npv"]),
                f"{cm['tp']} / {cm['fp']} / {cm['tn']} / {cm['fn']}"]])]))
    if ev.get("calibration"):
        cal = ev["calibration"]
        corrected = all(g.get("corrected") is not None for g in cal["groups"])
        sections.append(Section("calibration", "Calibration", [
            f"Logistic recalibration: intercept {fmt(cal['intercept'], 2)} (ideal 0), slope {fmt(cal['slope'], 2)} "
            f"(ideal 1); Brier score {fmt(cal['brier'])}.",
            Figure("binary_calibration", "Predicted probability vs observed fraction of deaths per quintile.",
                   folder / "calibration_binary.png"),
            Table("Calibration by quintile of predicted probability"
                  + (" (apparent fit, optimism-corrected)" if corrected else " (out-of-sample predictions, plain)"),
                  ["group", "patients", "predicted", "observed (95 % CI)"] + (["optimism-corrected"] if corrected else []),
                  [[str(i + 1), str(g["n"]), f"{100 * g['predicted']:.0f} %",
                    f"{100 * g['observed']:.0f} % ({100 * g['observed_low']:.0f} to {100 * g['observed_high']:.0f})"]
                   + ([f"{100 * g['corrected']:.0f} %"] if corrected else []) for i, g in enumerate(cal["groups"])])]))
    sections.append(Section("baselines", "Signature against baselines (DeLong)", [
        Table("DeLong test of the signature's AUC against each baseline (same patients)",
              ["baseline", "AUC baseline (95 % CI)", "signature minus baseline (95 % CI)", "z", "p"],
              [[r["label"], fmt_ci(r["auc"], r["auc_low"], r["auc_high"]),
                fmt_ci(r["delong"]["difference"], r["delong"]["difference_low"], r["delong"]["difference_high"]),
                fmt(r["delong"]["z"], 2), fmt_p(r["delong"]["p_value"])] for r in base_rows])]))
    return sections


def build_document(sig, ev, folder) -> Document:
    """The report's sections for a signature (``signature.json`` dict) and its evaluation
    (``evaluation.json`` dict, survival or binary) whose PNGs lie in ``folder``."""
    folder = Path(folder)
    what = "overall survival" if ev["kind"] == "survival" else ev["endpoint"]
    follow = ev.get("follow_up_median_days")
    cohort = [f"{ev['n']} patients evaluated ('{ev['set']}' set)"
              + (f", median follow-up {follow / DAYS_PER_YEAR:.1f} years (reverse Kaplan-Meier)." if follow else ".")]
    if ev.get("characteristics"):
        cohort.append(Table("Patient characteristics (evaluated set)", ["characteristic", "patients"],
                            ev["characteristics"]))
    body = _survival_sections(ev, folder) if ev["kind"] == "survival" else _binary_sections(ev, folder)
    sections = [body[0], Section("method", "Method", _design_sentences(sig, ev)),
                Section("cohort", "Patients", cohort), Section("signature", "Signature", _signature_blocks(sig))]
    sections += body[1:]
    prov = sig["provenance"]
    rows = [["created (UTC)", prov.get("created_utc", "")], ["method", prov.get("method", "")]]
    rows += [[f"input: {role}", f"{Path(v['path']).name} (SHA-256 {v['sha256'][:16]}...)"]
             for role, v in prov.get("inputs", {}).items()]
    rows += [[f"version: {k}", str(v)] for k, v in prov.get("versions", {}).items()]
    rows += [["bootstrap resamples", str(ev["n_boot"])], ["bootstrap seed", str(ev["seed"])]]
    notes = list(ev.get("notes", [])) + list(prov.get("design", {}).get("baseline_notes", []))
    blocks = [Table("Provenance", ["item", "value"], rows)] + [f"Note: {n}." for n in notes]
    sections.append(Section("provenance", "Provenance and notes", blocks))
    return Document(title=f"RadSurv radiomics signature report: {what}",
                    subtitle=f"{ev['n']} patients, '{ev['set']}' set", sections=sections)


_CSS = ("body{font-family:Helvetica,Arial,sans-serif;max-width:1050px;margin:24px auto;color:#222;line-height:1.45}"
        "h1{font-size:26px}h2{border-bottom:1px solid #ccc;padding-bottom:3px;margin-top:34px}"
        "table{border-collapse:collapse;margin:10px 0 18px}caption{text-align:left;font-weight:bold;padding:4px 0}"
        "td,th{border:1px solid #bbb;padding:3px 8px;font-size:13px;vertical-align:top}th{background:#eee}"
        "figure{margin:12px 0}figcaption{font-size:13px;color:#444}img{max-width:100%}"
        "nav{background:#f6f6f6;padding:8px 16px;border:1px solid #ddd}nav li{margin:2px 0}")


def render_html(doc: Document) -> str:
    """One self-contained HTML page: table of contents, sections, tables, figures as data URIs."""
    esc = html.escape
    out = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{esc(doc.title)}</title>"
           f"<style>{_CSS}</style></head><body>", f"<h1>{esc(doc.title)}</h1><p><i>{esc(doc.subtitle)}</i></p>",
           "<nav id='contents'><b>Contents</b><ol>"
           + "".join(f"<li><a href='#{s.id}'>{esc(s.title)}</a></li>" for s in doc.sections) + "</ol></nav>"]
    for section in doc.sections:
        out.append(f"<section id='{section.id}'><h2>{esc(section.title)}</h2>")
        for block in section.blocks:
            if isinstance(block, Table):
                head = "".join(f"<th>{esc(h)}</th>" for h in block.header)
                body = "".join("<tr>" + "".join(f"<td>{esc(str(c))}</td>" for c in row) + "</tr>" for row in block.rows)
                out.append(f"<table><caption>{esc(block.caption)}</caption><tr>{head}</tr>{body}</table>")
            elif isinstance(block, Figure):
                if Path(block.path).is_file():
                    data = base64.b64encode(Path(block.path).read_bytes()).decode("ascii")
                    out.append(f"<figure id='figure-{block.name}'><img alt='{esc(block.caption)}' "
                               f"src='data:image/png;base64,{data}'><figcaption>{esc(block.caption)}</figcaption></figure>")
                else:
                    out.append(f"<p>(figure {esc(block.name)} was not produced)</p>")
            else:
                out.append(f"<p>{esc(block)}</p>")
        out.append("</section>")
    out.append("</body></html>")
    return "\n".join(out)


def render_pdf(doc: Document, path) -> Path:
    """The same document as a PDF (A4 pages, matplotlib ``PdfPages``): headings and wrapped
    paragraphs as text, tables as matplotlib tables, the PNG figures as images."""
    import textwrap

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.image as mpimg
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages

    width, height, margin = 8.27, 11.69, 0.6
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with PdfPages(path) as pdf:
        state = {"fig": None, "y": 0.0}

        def new_page():
            if state["fig"] is not None:
                pdf.savefig(state["fig"])
                plt.close(state["fig"])
            state["fig"] = plt.figure(figsize=(width, height))
            state["y"] = height - margin

        def need(inches):
            if state["fig"] is None or state["y"] - inches < margin:
                new_page()

        def text(s, size=9, weight="normal", chars=110):
            lines = textwrap.wrap(s, chars) or [""]
            step = size / 72 * 1.45
            for line in lines:
                need(step)
                state["fig"].text(margin / width, state["y"] / height, line, fontsize=size, weight=weight, va="top")
                state["y"] -= step
            state["y"] -= 0.08

        def draw_table(block):
            """Rows wrapped per column (width by content), split across pages; every cell of a row
            gets the row's height (its tallest cell)."""
            line_in, pad_in, usable = 0.115, 0.07, width - 2 * margin
            ncol = len(block.header)
            longest = [max([len(str(block.header[j]))] + [len(str(r[j])) for r in block.rows]) for j in range(ncol)]
            weights = [min(n, 70) + 3 for n in longest]
            shares = [w / sum(weights) for w in weights]
            chars = [max(8, int(share * usable / 0.06)) for share in shares]
            cells = [[textwrap.fill(str(c), chars[j]) or " " for j, c in enumerate(row)] for row in block.rows]
            head = [textwrap.fill(str(h), chars[j]) for j, h in enumerate(block.header)]
            heights = [line_in * max(c.count("\n") + 1 for c in row) + pad_in for row in cells]
            head_h = line_in * max(h.count("\n") + 1 for h in head) + pad_in
            start = 0
            while True:
                room = state["y"] - margin - head_h
                take, used = 0, 0.0
                for h in heights[start:]:
                    if used + h > room:
                        break
                    take, used = take + 1, used + h
                if take == 0 and start < len(cells):
                    new_page()
                    continue
                chunk = cells[start:start + take]
                total = used + head_h
                ax = state["fig"].add_axes([margin / width, (state["y"] - total) / height, usable / width,
                                            total / height])
                ax.axis("off")
                tab = ax.table(cellText=chunk or None, colLabels=head, colWidths=shares, loc="upper left",
                               cellLoc="left")
                tab.auto_set_font_size(False)
                tab.set_fontsize(6.5)
                for (r, _c), cell in tab.get_celld().items():
                    cell.set_height((head_h if r == 0 else heights[start + r - 1]) / total)
                    cell.set_linewidth(0.4)
                    if r == 0:
                        cell.set_facecolor("#eeeeee")
                state["y"] -= total + 0.15
                start += take
                if start >= len(cells):
                    return
                new_page()

        new_page()
        text(doc.title, 15, "bold", 70)
        text(doc.subtitle, 10)
        text("Contents", 11, "bold")
        for i, section in enumerate(doc.sections, 1):
            text(f"{i}. {section.title}", 9)
        for section in doc.sections:
            need(0.9)
            state["y"] -= 0.1
            text(section.title, 12, "bold", 80)
            for block in section.blocks:
                if isinstance(block, Table):
                    text(block.caption, 9, "bold")
                    draw_table(block)
                elif isinstance(block, Figure):
                    if not Path(block.path).is_file():
                        continue
                    img = mpimg.imread(block.path)
                    w_in = width - 2 * margin
                    h_in = w_in * img.shape[0] / img.shape[1]
                    if h_in > height - 2 * margin - 0.6:
                        h_in = height - 2 * margin - 0.6
                        w_in = h_in * img.shape[1] / img.shape[0]
                    w_in, h_in = min(w_in, img.shape[1] / 100), min(h_in, img.shape[0] / 100)
                    need(h_in + 0.4)
                    ax = state["fig"].add_axes([margin / width, (state["y"] - h_in) / height, w_in / width, h_in / height])
                    ax.imshow(img)
                    ax.axis("off")
                    state["y"] -= h_in + 0.05
                    text(block.caption, 8, "normal")
                else:
                    text(str(block), 9)
        pdf.savefig(state["fig"])
        plt.close(state["fig"])
    return path
