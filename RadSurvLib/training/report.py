"""Training report: ``training_report.json`` and ``training_curves.png`` (loss and C-index per epoch)."""

from __future__ import annotations

import json
from pathlib import Path


def write_report(out_dir, report: dict, history: list) -> dict:
    """Write the JSON report and the PNG curves into ``out_dir``.

    Args:
        out_dir: folder (created).
        report: JSON-serialisable summary (settings, sizes, metrics, provenance).
        history: per-epoch dicts with ``epoch``, ``train_loss``, ``train_c_index`` and optionally
            ``val_loss``, ``val_c_index`` (see ``RadSurvLib.training.loop.fit``).

    Returns:
        ``{"json": path, "png": path}`` (str).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    json_path, png_path = out / "training_report.json", out / "training_curves.png"
    json_path.write_text(json.dumps({**report, "history": history}, indent=2, default=float) + "\n", encoding="utf-8")
    epochs = [h["epoch"] for h in history]
    fig, (ax_loss, ax_c) = plt.subplots(1, 2, figsize=(10, 4))
    ax_loss.plot(epochs, [h["train_loss"] for h in history], "o-", label="training (mean over batches)")
    if history and "val_loss" in history[0]:
        ax_loss.plot(epochs, [h["val_loss"] for h in history], "s-", label="validation (whole set)")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("loss (Cox NPLL or BCE)")
    ax_loss.legend()
    ax_c.plot(epochs, [h["train_c_index"] for h in history], "o-", label="training")
    if history and "val_c_index" in history[0]:
        ax_c.plot(epochs, [h["val_c_index"] for h in history], "s-", label="validation")
    best = report.get("best_epoch")
    for ax in (ax_loss, ax_c):
        if best:
            ax.axvline(best, color="grey", ls=":", label=None)
    ax_c.axhline(0.5, color="k", lw=0.5)
    ax_c.set_xlabel("epoch")
    ax_c.set_ylabel("Harrell C-index" if report.get("endpoint", "survival") == "survival" else "AUC")
    ax_c.legend()
    fig.suptitle(f"{report.get('architecture', '')} {report.get('mode', 'train')}: best epoch {best}")
    fig.tight_layout()
    fig.savefig(png_path, dpi=100)
    plt.close(fig)
    return {"json": str(json_path), "png": str(png_path)}
