"""Figures of an evaluation (matplotlib, Agg backend).

Every ``*_figure`` function returns a ``matplotlib.figure.Figure`` (for notebooks; see
:func:`.report.evaluate`); :func:`save_figure` writes one as PNG and closes it. Each figure has a
title, labelled axes and a legend. Times on the axes are in years (days / 365.25).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .data import DAYS_PER_YEAR

COLOURS = ("tab:red", "tab:blue", "tab:green", "tab:orange", "tab:purple", "tab:brown", "tab:grey")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path, dpi: int = 100) -> Path:
    """Write ``fig`` as PNG at ``dpi`` and close it; returns the path."""
    plt = _pyplot()
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return Path(path)


def matplotlib_null_formatter():
    """A tick formatter that writes nothing (for the minor ticks of log axes)."""
    from matplotlib.ticker import NullFormatter

    return NullFormatter()


def _p_text(p) -> str:
    return "n/a" if p is None else ("< 0.001" if p < 0.001 else f"{p:.3f}")


def km_figure(time, event, high, km_stats: dict, title: str = "Overall survival by risk group"):
    """Kaplan-Meier curves of the low/high risk groups with 95 % CIs, censoring ticks, the numbers at
    risk under the axis (lifelines ``add_at_risk_counts``) and log-rank p and HR (95 % CI) on the plot.

    Args:
        time ``[N]`` days, event ``[N]`` bool, high ``[N]`` bool (True = high risk);
        km_stats: :func:`.metrics.km_risk_groups`; title: figure title.
    """
    from lifelines import KaplanMeierFitter
    from lifelines.plotting import add_at_risk_counts

    plt = _pyplot()
    time, event, high = np.asarray(time, float), np.asarray(event, bool), np.asarray(high, bool)
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    fitters = []
    for name, mask, colour in (("low risk", ~high, "tab:blue"), ("high risk", high, "tab:red")):
        if mask.any():
            km = KaplanMeierFitter(label=name)
            km.fit(time[mask] / DAYS_PER_YEAR, event[mask])
            km.plot_survival_function(ax=ax, ci_show=True, color=colour, show_censors=True,
                                      censor_styles={"ms": 5, "marker": "|"})
            fitters.append(km)
    text = f"log-rank p = {_p_text(km_stats.get('logrank_p'))}"
    if km_stats.get("hr") is not None:
        text += f"\nHR high vs low {km_stats['hr']:.2f} (95 % CI {km_stats['hr_low']:.2f}-{km_stats['hr_high']:.2f})"
    ax.text(0.98, 0.97, text, transform=ax.transAxes, ha="right", va="top", fontsize=9,
            bbox={"facecolor": "white", "edgecolor": "0.7"})
    ax.set_xlabel("time since diagnosis (years)")
    ax.set_ylabel("overall survival probability")
    ax.set_ylim(0, 1.02)
    ax.set_xlim(left=0)
    ax.set_title(title)
    ax.legend(loc="lower left", fontsize=9)
    if fitters:
        add_at_risk_counts(*fitters, ax=ax, rows_to_show=["At risk"])
    fig.tight_layout()
    return fig


def td_auc_figure(td_auc: dict, title: str = "Time-dependent AUC (cumulative/dynamic, IPCW)"):
    """Time-dependent AUC per horizon (years) as bars; undefined horizons are left out."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.8, 3.6))
    items = [(k, v) for k, v in td_auc.items() if v is not None]
    ax.bar([f"{k} y" for k, _ in items], [v for _, v in items], color="tab:green", label="signature")
    for i, (_, v) in enumerate(items):
        ax.text(i, v + 0.01, f"{v:.2f}", ha="center", fontsize=9)
    ax.axhline(0.5, color="grey", ls="--", lw=1, label="chance (0.5)")
    ax.set_ylim(0, 1)
    ax.set_xlabel("horizon")
    ax.set_ylabel("AUC")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def model_comparison_figure(rows, metric: str = "Harrell's C-index", title: str = "Signature and baselines"):
    """Horizontal interval plot of one metric (value and 95 % CI) per model, chance level dashed.

    Args:
        rows: list of dicts with ``label``, ``value``, ``low``, ``high`` (first row = the signature).
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8.6, 0.55 * len(rows) + 1.4))
    y = np.arange(len(rows))[::-1]
    for yi, row, colour in zip(y, rows, COLOURS):
        lo, hi = row.get("low"), row.get("high")
        err = None if lo is None or hi is None else [[row["value"] - lo], [hi - row["value"]]]
        ax.errorbar(row["value"], yi, xerr=err, fmt="o", color=colour, capsize=4, label=row["label"])
        ax.text(hi if hi is not None else row["value"], yi + 0.18, f" {row['value']:.3f}", fontsize=8)
    ax.axvline(0.5, color="grey", ls="--", lw=1, label="chance (0.5)")
    ax.set_yticks(y)
    ax.set_yticklabels([r["label"] for r in rows], fontsize=9)
    ax.set_xlabel(f"{metric} (95 % CI)")
    ax.set_ylabel("model")
    ax.set_xlim(0.3, 1.0)
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.set_title(title)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5))
    fig.tight_layout()
    return fig


def forest_figure(rows, title: str = "Subgroups: hazard ratio of high vs low risk"):
    """Forest plot: HR (95 % CI, log axis) per subgroup with n, events, p and the interaction p of
    each subgroup variable written beside it.

    Args:
        rows: from :func:`.subgroups.subgroup_hazard_ratios` (``label``, ``n``, ``events``, ``hr``,
            ``hr_low``, ``hr_high``, ``p``; ``variable`` and ``interaction_p``); rows without an HR
            are shown with their note.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8.6, 0.42 * len(rows) + 1.5))
    y = np.arange(len(rows))[::-1]
    finite = [r for r in rows if r.get("hr") is not None]
    lo = min([r["hr_low"] for r in finite] + [0.5])
    hi = max([r["hr_high"] for r in finite] + [2.0])
    lo, hi = max(lo, 0.05), min(hi, 50.0)
    for yi, row in zip(y, rows):
        if row.get("hr") is not None:
            ax.errorbar(row["hr"], yi, xerr=[[row["hr"] - max(row["hr_low"], lo)], [min(row["hr_high"], hi) - row["hr"]]],
                        fmt="s", color="black", ms=5 + 4 * row["n"] / max(r["n"] for r in rows), capsize=3)
            right = f"{row['hr']:.2f} ({row['hr_low']:.2f}-{row['hr_high']:.2f})   p {_p_text(row['p'])}"
        else:
            right = row.get("note", "not estimable")
        ax.text(1.02, yi, right, transform=ax.get_yaxis_transform(), va="center", fontsize=8)
        if row.get("interaction_p") is not None and row.get("first_of_variable"):
            ax.text(1.62, yi, f"interaction p {_p_text(row['interaction_p'])}", transform=ax.get_yaxis_transform(),
                    va="center", fontsize=8, color="tab:purple")
    ax.axvline(1.0, color="grey", ls="--", lw=1, label="HR = 1 (no difference)")
    ax.set_xscale("log")
    ax.set_xlim(lo * 0.9, hi * 1.1)
    ticks = [t for t in (0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32) if lo * 0.9 <= t <= hi * 1.1]
    ax.set_xticks(ticks)
    ax.set_xticklabels([f"{t:g}" for t in ticks])
    ax.xaxis.set_minor_formatter(matplotlib_null_formatter())
    ax.set_yticks(y)
    ax.set_yticklabels([f"{r['label']} (n={r['n']}, {r['events']} deaths)" for r in rows], fontsize=8)
    ax.set_xlabel("hazard ratio, high vs low risk (95 % CI, log scale)")
    ax.set_ylabel("subgroup")
    ax.set_ylim(-0.8, len(rows) - 0.2)
    ax.set_title(title)
    ax.legend(fontsize=7, loc="lower left")
    fig.subplots_adjust(right=0.58)
    return fig


def calibration_figure(calibration: dict, title: str = "Calibration at 1, 2 and 3 years"):
    """Predicted vs observed survival per horizon: observed (Kaplan-Meier per group, 95 % CI) and,
    for an apparent fit only, the bootstrap optimism-corrected points; the diagonal as ideal.

    Args:
        calibration: ``{years: result of .calibration.bootstrap_calibration}``.
    """
    plt = _pyplot()
    n = max(1, len(calibration))
    fig, axes = plt.subplots(1, n, figsize=(3.6 * n, 3.8), squeeze=False)
    for ax, (years, cal) in zip(axes[0], calibration.items()):
        pred = np.array([g["predicted"] for g in cal["groups"]])
        obs = np.array([g["observed"] for g in cal["groups"]])
        low = np.array([g["observed_low"] for g in cal["groups"]])
        high = np.array([g["observed_high"] for g in cal["groups"]])
        ax.errorbar(pred, obs, yerr=[obs - low, high - obs], fmt="o-", color="tab:blue", capsize=3,
                    label="apparent (KM, 95 % CI)")
        ax.plot(pred, [g["corrected"] for g in cal["groups"]], "s--", color="tab:red",
                label=f"optimism-corrected (B={cal['n_boot']})")
        ax.plot([0, 1], [0, 1], color="grey", ls=":", lw=1, label="ideal")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel(f"predicted {years}-year survival")
        ax.set_ylabel(f"observed {years}-year survival")
        ax.set_title(f"{years} year{'s' if str(years) != '1' else ''}", fontsize=10)
        ax.legend(fontsize=7, loc="upper left")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def decision_curve_figure(curves: dict, title: str = "Decision curves"):
    """Net benefit of the signature, treat-all and treat-none per horizon."""
    plt = _pyplot()
    n = max(1, len(curves))
    fig, axes = plt.subplots(1, n, figsize=(3.6 * n, 3.4), squeeze=False)
    for ax, (years, dc) in zip(axes[0], curves.items()):
        ax.plot(dc["thresholds"], dc["model"], label="signature", color="tab:red")
        ax.plot(dc["thresholds"], dc["treat_all"], label="treat all", color="grey")
        ax.axhline(0, color="black", lw=1, label="treat none")
        top = max(max(dc["model"]), max(dc["treat_all"]), 0.05)
        ax.set_ylim(-0.05, top * 1.1)
        ax.set_xlabel("threshold probability of death")
        ax.set_ylabel("net benefit")
        ax.set_title(f"death by {years} y", fontsize=10)
        ax.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def roc_figure(curves, title: str = "ROC curves"):
    """ROC curves (false positive rate vs sensitivity) of several models on the same patients.

    Args:
        curves: list of dicts ``label``, ``fpr`` ``[K]``, ``tpr`` ``[K]``, ``auc``, ``auc_low``, ``auc_high``;
            the first may carry ``band`` (:func:`.binary.roc_band`), drawn as a shaded band.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.2, 5.0))
    band = curves[0].get("band") if curves else None
    if band and band["n_boot"]:
        ax.fill_between(band["fpr"], band["tpr_low"], band["tpr_high"], color=COLOURS[0], alpha=0.15,
                        label=f"{curves[0]['label']}: 95 % bootstrap band")
    for curve, colour in zip(curves, COLOURS):
        ax.plot(curve["fpr"], curve["tpr"], color=colour, lw=2 if curve is curves[0] else 1.2,
                label=f"{curve['label']}: AUC {curve['auc']:.2f} ({curve['auc_low']:.2f}-{curve['auc_high']:.2f})")
    ax.plot([0, 1], [0, 1], color="grey", ls="--", lw=1, label="chance")
    ax.set_xlabel("1 - specificity (false positive rate)")
    ax.set_ylabel("sensitivity (true positive rate)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_title(title)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


def confusion_figure(metrics: dict, title: str = "Confusion matrix"):
    """2 x 2 confusion matrix (counts and row percentages) from :func:`.binary.binary_metrics`-like
    ``tp``/``fp``/``tn``/``fn``."""
    plt = _pyplot()
    cells = np.array([[metrics["tn"], metrics["fp"]], [metrics["fn"], metrics["tp"]]], float)
    fig, ax = plt.subplots(figsize=(4.4, 3.8))
    im = ax.imshow(cells, cmap="Blues")
    for i in range(2):
        for j in range(2):
            share = cells[i, j] / max(cells[i].sum(), 1)
            ax.text(j, i, f"{int(cells[i, j])}\n({100 * share:.0f} %)", ha="center", va="center",
                    color="white" if cells[i, j] > cells.max() / 2 else "black")
    ax.set_xticks([0, 1])
    ax.set_xticklabels(["predicted alive", "predicted dead"])
    ax.set_yticks([0, 1])
    ax.set_yticklabels(["alive", "dead"])
    ax.set_xlabel("prediction (high risk = predicted dead)")
    ax.set_ylabel("observed")
    ax.set_title(title, fontsize=10)
    fig.colorbar(im, ax=ax, label="patients")
    fig.tight_layout()
    return fig


def binary_calibration_figure(cal: dict, title: str = "Calibration of the predicted probability"):
    """Predicted probability vs observed fraction per group (95 % CI), apparent and optimism-corrected.

    Args:
        cal: :func:`.calibration.bootstrap_binary_calibration`.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.6, 4.4))
    pred = np.array([g["predicted"] for g in cal["groups"]])
    obs = np.array([g["observed"] for g in cal["groups"]])
    ax.errorbar(pred, obs, yerr=[obs - np.array([g["observed_low"] for g in cal["groups"]]),
                                 np.array([g["observed_high"] for g in cal["groups"]]) - obs],
                fmt="o-", color="tab:blue", capsize=3,
                label="apparent (95 % CI)" if cal.get("groups") and cal["groups"][0].get("corrected") is not None
                else "observed (95 % CI)")
    if cal.get("groups") and cal["groups"][0].get("corrected") is not None:
        ax.plot(pred, [g["corrected"] for g in cal["groups"]], "s--", color="tab:red",
                label=f"optimism-corrected (B={cal['n_boot']})")
    ax.plot([0, 1], [0, 1], color="grey", ls=":", lw=1, label="ideal")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("predicted probability of death")
    ax.set_ylabel("observed fraction dead")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return fig
