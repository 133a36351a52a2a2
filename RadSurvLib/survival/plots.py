"""Figures of an evaluation (matplotlib, Agg backend): Kaplan-Meier by risk group, td-AUC,
calibration, decision curves and subgroup Kaplan-Meier. Each function writes one PNG and returns
its path. Times on the axes are in years (days / 365.25)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .data import DAYS_PER_YEAR


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(plt, fig, path) -> Path:
    """Lay out, write as PNG (110 dpi) and close a figure; returns the path."""
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def _km_axes(ax, time, event, high, title):
    from lifelines import KaplanMeierFitter

    for name, mask, colour in (("low risk", ~high, "tab:blue"), ("high risk", high, "tab:red")):
        if mask.any():
            km = KaplanMeierFitter(label=f"{name} (n={int(mask.sum())})")
            km.fit(np.asarray(time)[mask] / DAYS_PER_YEAR, np.asarray(event)[mask])
            km.plot_survival_function(ax=ax, ci_show=True, color=colour, show_censors=True)
    ax.set_xlabel("years")
    ax.set_ylabel("overall survival")
    ax.set_ylim(0, 1.02)
    ax.set_title(title, fontsize=9)


def plot_km(time, event, high, km_stats: dict, path) -> Path:
    """Kaplan-Meier curves of the high/low risk groups with log-rank p and HR in the title.

    Args:
        time ``[N]`` days, event ``[N]``, high ``[N]`` bool; km_stats: :func:`.metrics.km_risk_groups`.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4))
    title = "Kaplan-Meier by risk group"
    if km_stats.get("logrank_p") is not None:
        title += f"\nlog-rank p = {km_stats['logrank_p']:.3g}"
    if km_stats.get("hr") is not None:
        title += f", HR {km_stats['hr']:.2f} ({km_stats['hr_low']:.2f}-{km_stats['hr_high']:.2f})"
    _km_axes(ax, time, event, np.asarray(high, bool), title)
    return _save(plt, fig, path)


def plot_td_auc(td_auc: dict, path) -> Path:
    """Time-dependent AUC per horizon (years) as a bar chart; undefined ones are left out."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4, 3.2))
    items = [(k, v) for k, v in td_auc.items() if v is not None]
    ax.bar([f"{k} y" for k, _ in items], [v for _, v in items], color="tab:green")
    for i, (_, v) in enumerate(items):
        ax.text(i, v + 0.01, f"{v:.3f}", ha="center", fontsize=8)
    ax.axhline(0.5, color="grey", ls="--", lw=1)
    ax.set_ylim(0, 1)
    ax.set_ylabel("time-dependent AUC")
    ax.set_title("cumulative/dynamic AUC (IPCW)", fontsize=9)
    return _save(plt, fig, path)


def plot_calibration(calibration: dict, path) -> Path:
    """Predicted vs observed (Kaplan-Meier, bootstrap 95 % CI) survival per horizon."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.2, 4))
    for (years, cal), colour in zip(calibration.items(), ("tab:blue", "tab:orange", "tab:green", "tab:red")):
        pred = [g["predicted"] for g in cal["groups"]]
        obs = [g["observed"] for g in cal["groups"]]
        low = [g["observed"] - g["observed_low"] for g in cal["groups"]]
        high = [g["observed_high"] - g["observed"] for g in cal["groups"]]
        ax.errorbar(pred, obs, yerr=[low, high], fmt="o-", color=colour, capsize=3, label=f"{years} y")
    ax.plot([0, 1], [0, 1], color="grey", ls="--", lw=1)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("predicted survival")
    ax.set_ylabel("observed survival (Kaplan-Meier)")
    ax.set_title("calibration", fontsize=9)
    ax.legend(fontsize=8)
    return _save(plt, fig, path)


def plot_decision_curves(curves: dict, path) -> Path:
    """Net benefit of the model, treat-all and treat-none per horizon."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, max(1, len(curves)), figsize=(3.6 * max(1, len(curves)), 3.2), squeeze=False)
    for ax, (years, dc) in zip(axes[0], curves.items()):
        ax.plot(dc["thresholds"], dc["model"], label="model", color="tab:red")
        ax.plot(dc["thresholds"], dc["treat_all"], label="treat all", color="grey")
        ax.axhline(0, color="black", lw=1, label="treat none")
        top = max(max(dc["model"]), max(dc["treat_all"]), 0.05)
        ax.set_ylim(-0.05, top * 1.1)
        ax.set_xlabel("threshold probability")
        ax.set_ylabel("net benefit")
        ax.set_title(f"decision curve, death by {years} y", fontsize=9)
        ax.legend(fontsize=7)
    return _save(plt, fig, path)


def plot_subgroups(frame, subgroups: dict, masks: dict, path) -> Path:
    """Grid of Kaplan-Meier plots (high vs low risk) for each subgroup with its log-rank p."""
    plt = _pyplot()
    names = [n for n in subgroups if "logrank_p" in subgroups[n]]
    cols = 4
    rows = max(1, -(-len(names) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.3 * cols, 2.8 * rows), squeeze=False)
    time = frame["time_days"].to_numpy(float)
    event = frame["event"].to_numpy().astype(bool)
    high = (frame["risk_group"].astype(str) == "high").to_numpy()
    for ax in axes.flat:
        ax.set_visible(False)
    for ax, name in zip(axes.flat, names):
        ax.set_visible(True)
        m = masks[name]
        p = subgroups[name].get("logrank_p")
        _km_axes(ax, time[m], event[m], high[m], f"{name}: p = {p:.3g}" if p is not None else name)
        ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return Path(path)
