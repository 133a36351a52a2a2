"""Evaluation folder and HTML report.

:func:`evaluate_to_folder` evaluates one set of a ``predictions.csv`` and writes
``evaluation.json`` and the PNG figures; :func:`write_report` turns a signature bundle and an
evaluation folder into one self-contained HTML file (figures embedded as base64 PNG).
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

from ..errors import InputError

FIGURES = {"km": "km.png", "td_auc": "td_auc.png", "calibration": "calibration.png",
           "decision_curves": "decision_curves.png", "subgroups": "subgroups_km.png"}


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


def evaluate_to_folder(predictions_csv, out_dir, which=None, n_boot: int = 1000, seed: int = 0,
                       figures: bool = True) -> dict:
    """Evaluate one set of a predictions table; write ``evaluation.json`` and figures into ``out_dir``.

    Args:
        predictions_csv: ``predictions.csv`` of ``radsurv signature fit``/``apply`` (time in days).
        out_dir: output folder (created).
        which: set name (train/test/cv); default test > cv > train.
        n_boot: bootstrap resamples; seed: their seed; figures: also write the PNGs.

    Returns:
        The evaluation dict (as :func:`.metrics.evaluate_predictions`, plus ``set``, ``source``).

    Raises:
        InputError: unreadable table, missing columns, bad survival data.
    """
    from .data import read_table
    from .metrics import _subgroups, evaluate_predictions

    frame = read_table(predictions_csv, "predictions table")
    needed = ["set", "time_days", "event", "risk", "risk_group"]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise InputError(f"predictions table {predictions_csv} lacks column(s) {missing}")
    name = choose_set(frame, which)
    sub = frame[frame["set"].astype(str) == name].reset_index(drop=True)
    result = evaluate_predictions(sub, n_boot=n_boot, seed=seed)
    result["set"] = name
    result["source"] = str(predictions_csv)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if figures:
        from . import plots

        time = sub["time_days"].to_numpy(float)
        event = sub["event"].to_numpy().astype(bool)
        high = (sub["risk_group"].astype(str) == "high").to_numpy()
        plots.plot_km(time, event, high, result["km"], out_dir / FIGURES["km"])
        plots.plot_td_auc(result["td_auc"], out_dir / FIGURES["td_auc"])
        if result["calibration"]:
            plots.plot_calibration(result["calibration"], out_dir / FIGURES["calibration"])
            plots.plot_decision_curves(result["decision_curves"], out_dir / FIGURES["decision_curves"])
        if any("logrank_p" in v for v in result["subgroups"].values()):
            plots.plot_subgroups(sub, result["subgroups"], _subgroups(sub), out_dir / FIGURES["subgroups"])
    (out_dir / "evaluation.json").write_text(json.dumps(result, indent=1))
    return result


def _fmt(value, digits=3):
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1e-3 and value != 0 else f"{value:.{digits}f}"
    return html.escape(str(value))


def _table(header, rows) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def write_report(bundle_dir, evaluation_dir, out_html) -> Path:
    """Write one HTML report: signature (selected features, coefficients, selection counts),
    discrimination (Harrell's C with bootstrap CI, Uno's C, td-AUC), KM by risk group (log-rank p,
    HR with CI), calibration, decision curves and subgroup Kaplan-Meier, figures embedded.

    Args:
        bundle_dir: signature bundle folder (``signature.json``).
        evaluation_dir: folder written by :func:`evaluate_to_folder`.
        out_html: output file.

    Raises:
        InputError: the bundle or ``evaluation.json`` is missing or invalid.
    """
    from .signature import load_signature

    sig = load_signature(bundle_dir)
    eval_path = Path(evaluation_dir) / "evaluation.json"
    if not eval_path.is_file():
        raise InputError(f"{eval_path} does not exist: run `radsurv evaluate` first")
    ev = json.loads(eval_path.read_text())
    sel = sig["selection"]
    parts = ["<!DOCTYPE html><html><head><meta charset='utf-8'><title>RadSurv signature report</title>",
             "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}table{border-collapse:collapse;"
             "margin:8px 0}td,th{border:1px solid #bbb;padding:3px 8px;font-size:13px}th{background:#eee}"
             "img{max-width:100%}</style></head><body>",
             "<h1>RadSurv radiomics signature report</h1>",
             f"<p>Method: {html.escape(sig['provenance']['method'])}. Created {sig['provenance']['created_utc']}; "
             f"design {html.escape(json.dumps({k: v for k, v in sig['provenance'].get('design', {}).items() if k != 'train_ids'}))}."
             " Times in days; 1 year = 365.25 days.</p>",
             "<h2>Signature</h2>",
             _table(["training patients", "events", "features in", "usable", f"univariate p < {sel['univariate_p_threshold']}",
                     "Lasso lambda", "CV folds", "selected"],
                    [[sel["n_training"], sel["n_events"], sel["n_features_in"], sel["n_features_usable"],
                      sel["n_univariate_significant"], sel["lasso_lambda"], sel["lasso_folds"], len(sig["features"])]]),
             _table(["feature", "Lasso coefficient (per SD)", "training mean", "training SD", "univariate p"],
                    [[f, c, m, s, sel["univariate_p"].get(f)] for f, c, m, s in
                     zip(sig["features"], sig["coefficients"], sig["means"], sig["sds"])]),
             _table(["Cox model term", "coefficient (log HR)"], list(zip(sig["model"]["terms"], sig["model"]["coefficients"]))),
             f"<p>Risk cut-off (training median risk score): {_fmt(sig['risk_cutoff'], 4)}</p>"]
    if sig.get("combined"):
        comb = sig["combined"]
        parts.append(f"<p>Combined model: PCA over the {len(sig['features'])} features selected by the group "
                     f"signatures keeps {comb['n_components']} component(s), {100 * comb['variance_kept']:.1f} % of "
                     "the variance; the coefficients above are the per-feature weights of the Cox model on the "
                     "components.</p>")
        parts.append(_table(["group", "selected features"], [[g, ", ".join(f) or "none"] for g, f in comb["groups"].items()]))
        parts.append(_table(["component", "explained variance", "Cox coefficient"],
                            [[f"PC{i + 1}", v, c] for i, (v, c) in enumerate(zip(comb["explained_variance_ratio"],
                                                                             comb["component_cox_coefficients"]))]))
    if sig.get("warnings"):
        parts.append("<p><b>Warnings:</b> " + "; ".join(html.escape(w) for w in sig["warnings"]) + "</p>")
    c = ev["harrell_c"]
    km = ev["km"]
    parts += [f"<h2>Evaluation on the '{html.escape(ev['set'])}' set ({ev['n']} patients, {ev['events']} events)</h2>",
              _table(["Harrell's C", "95 % CI (bootstrap)", "Uno's C"] + [f"td-AUC {k} y" for k in ev["td_auc"]],
                     [[c["value"], f"{_fmt(c['low'])} - {_fmt(c['high'])} (n={c['n_boot']})", ev["uno_c"]]
                      + list(ev["td_auc"].values())]),
              _table(["group", "n", "events", "median OS (days)"],
                     [["high", km["n_high"], km["events_high"], km["median_days_high"]],
                      ["low", km["n_low"], km["events_low"], km["median_days_low"]]]),
              _table(["log-rank p", "HR high vs low", "95 % CI", "Cox p"],
                     [[km["logrank_p"], km["hr"], f"{_fmt(km['hr_low'])} - {_fmt(km['hr_high'])}", km["hr_p"]]])]
    if ev.get("delong"):
        d = ev["delong"]
        parts.append(f"<h3>DeLong comparison of AUCs ({html.escape(d['endpoint'])}; comparison model: "
                     f"{html.escape(d['compare'])})</h3>")
        parts.append(_table(["AUC this model", "AUC comparison", "difference (95 % CI)", "z", "p",
                             "positive / negative / excluded"],
                            [[d["auc_a"], d["auc_b"], f"{_fmt(d['difference'])} ({_fmt(d['difference_low'])} - "
                              f"{_fmt(d['difference_high'])})", d["z"], d["p_value"],
                              f"{d['n_pos']} / {d['n_neg']} / {d['n_excluded']}"]]))
    if ev["calibration"]:
        parts.append(_table(["horizon", "group", "n", "predicted S", "observed S (KM)", "95 % CI"],
                            [[f"{y} y", i + 1, g["n"], g["predicted"], g["observed"],
                              f"{_fmt(g['observed_low'])} - {_fmt(g['observed_high'])}"]
                             for y, cal in ev["calibration"].items() for i, g in enumerate(cal["groups"])]))
    if ev["subgroups"]:
        parts.append("<h3>Subgroups (Kaplan-Meier high vs low risk)</h3>")
        parts.append(_table(["subgroup", "n high", "n low", "log-rank p", "HR", "note"],
                            [[k, v.get("n_high"), v.get("n_low"), v.get("logrank_p"), v.get("hr"), v.get("note", "")]
                             for k, v in ev["subgroups"].items()]))
    if ev.get("notes"):
        parts.append("<p>Notes: " + "; ".join(html.escape(n) for n in ev["notes"]) + "</p>")
    parts.append("<h2>Figures</h2>")
    for key, name in FIGURES.items():
        png = Path(evaluation_dir) / name
        if png.is_file():
            data = base64.b64encode(png.read_bytes()).decode("ascii")
            parts.append(f"<h3>{html.escape(key.replace('_', ' '))}</h3><img alt='{key}' src='data:image/png;base64,{data}'>")
    parts.append("</body></html>")
    out_html = Path(out_html)
    out_html.parent.mkdir(parents=True, exist_ok=True)
    out_html.write_text("\n".join(parts), encoding="utf-8")
    return out_html
