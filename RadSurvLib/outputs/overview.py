"""``overview.png``: axial, coronal and sagittal views through the GTV centre.

Each view shows the CT in the soft-tissue window (W 400 / L 40), the ring contours with the GTV's
drawn over them, and the Grad-CAM heatmap as a translucent Inferno overlay, transparent below the
median of its values in the GTV, with a colour bar (``colours.heatmap_display_range``); drawn
with the voxel spacing as aspect ratio so that shapes are true in mm. Window, colours, heatmap
threshold and opacity are ``outputs.colours``, which the Slicer scene uses too
(``slicer.display``), so ``overview.png`` and ``scene.mrb`` look alike.
"""

from __future__ import annotations

from pathlib import Path

from .colours import CT_WINDOW_HU, HEATMAP_COLORMAP, HEATMAP_OPACITY, heatmap_display_range, roi_colors


def gtv_centre_index(labels):
    """Index (z, y, x) of the GTV's centre of mass in a labelmap array (label 1 = GTV)."""
    import numpy as np

    return tuple(int(round(c)) for c in np.argwhere(labels == 1).mean(axis=0))


def _views(volume, centre):
    """Axial, coronal and sagittal 2D slices (rows, columns) through ``centre`` of a (z, y, x) array."""
    import numpy as np

    z, y, x = centre
    # Flip the vertical axis of coronal / sagittal views so that superior is up.
    return {"axial": volume[z], "coronal": np.flipud(volume[:, y, :]),
            "sagittal": np.flipud(volume[:, :, x])}


def write_overview(ct, labelmap, heatmap, path, title: str = "", ring_names=()) -> Path:
    """Draw the three orthogonal views and save them as PNG.

    Args:
        ct: SimpleITK CT (HU) on its original grid.
        labelmap: SimpleITK ring labelmap on the same grid (1 = GTV, 2.. = rings).
        heatmap: SimpleITK Grad-CAM heatmap on the same grid, values in [0, 1], or None.
        path: output PNG path.
        title: figure title (risk score, model, demonstration notice; lines split by "\\n").
        ring_names: names of the rings, in label order, for the legend.

    Returns:
        The path written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    import SimpleITK as sitk
    from matplotlib.lines import Line2D

    # Views, not copies: a full-size CT, its labelmap and heatmap would add ~300 MB to the run's peak.
    ct_a = sitk.GetArrayViewFromImage(ct)
    labels = sitk.GetArrayViewFromImage(labelmap)
    heat = sitk.GetArrayViewFromImage(heatmap) if heatmap is not None else None
    sx, sy, sz = ct.GetSpacing()
    aspects = {"axial": sy / sx, "coronal": sz / sx, "sagittal": sz / sy}
    centre = gtv_centre_index(labels)
    ct_v, lab_v = _views(ct_a, centre), _views(labels, centre)
    heat_v = _views(heat, centre) if heat is not None else None
    shown_from, top = heatmap_display_range(heat, labels == 1) if heat is not None else (None, None)

    colours = roi_colors(max(int(labels.max()) - 1, len(ring_names)))
    fig, axes = plt.subplots(1, 3, figsize=(15, 5.6))
    shown = None
    for ax, view in zip(axes, ("axial", "coronal", "sagittal")):
        ax.imshow(ct_v[view], cmap="gray", vmin=CT_WINDOW_HU[0], vmax=CT_WINDOW_HU[1],
                  aspect=aspects[view], interpolation="nearest")
        if heat_v is not None:
            overlay = np.ma.masked_less(heat_v[view], shown_from)
            shown = ax.imshow(overlay, cmap=HEATMAP_COLORMAP, vmin=shown_from, vmax=top, alpha=HEATMAP_OPACITY,
                              aspect=aspects[view], interpolation="nearest")
        # Outer boundary of the GTV plus rings 1..k, outermost first and the GTV last, so that the
        # GTV's contour lies over the inner edge of the first ring, which it shares.
        for label in range(int(labels.max()), 0, -1):
            region = (lab_v[view] >= 1) & (lab_v[view] <= label)
            if region.any():
                ax.contour(region, levels=[0.5], linewidths=2.0 if label == 1 else 1.2,
                           colors=[colours[label - 1]])
        ax.set_title(view)
        ax.set_axis_off()
    names = ["GTV", *ring_names]
    handles = [Line2D([], [], color=colours[i], label=n) for i, n in enumerate(names)]
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), frameon=False)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout(rect=(0, 0.06, 0.93, 0.93 if "\n" in title else 0.95))
    if shown is not None:
        bar = fig.colorbar(shown, cax=fig.add_axes((0.94, 0.15, 0.012, 0.65)))
        bar.set_label(f"Grad-CAM (transparent below {shown_from:.3f}, the GTV's median)", fontsize=9)
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# --------------------------------------------------------------------------------------------
# Numbers as a reader reads them (overview.png's title and ``radsurv score``'s summary)
# --------------------------------------------------------------------------------------------

#: ``result.json``'s survival probabilities, by the years they are at (top-level keys).
SURVIVAL_KEYS = (("survival_1y", 1), ("survival_2y", 2), ("survival_3y", 3))


def format_risk(value) -> str:
    """A risk score or cut-off (unitless model output) to 3 decimals: ``0.992``; below 0.001 (not 0)
    to 1 significant digit, as 3 decimals would misstate it (a cut-off of 0.00063 reads ``0.0006``,
    not ``0.001``); "n/a" for None."""
    if value is None:
        return "n/a"
    value = float(value)
    return f"{value:.1g}" if 0 < abs(value) < 0.001 else f"{value:.3f}"


def format_volume(volume_mm3) -> str:
    """A volume given in mm^3 as a reader reads it: ml to 1 decimal from 1 ml up (``310,951 mm^3``
    reads ``311.0 ml``), else mm^3 with thousands grouping (``853 mm^3``); "n/a" for None."""
    if volume_mm3 is None:
        return "n/a"
    volume_mm3 = float(volume_mm3)
    return f"{volume_mm3 / 1000:,.1f} ml" if volume_mm3 >= 1000 else f"{volume_mm3:,.0f} mm^3"


def format_hu(value) -> str:
    """A CT number to 1 decimal with its unit: ``-712.4 HU``."""
    return f"{float(value):.1f} HU"


def format_survival(result: dict) -> str:
    """The predicted survival probabilities of ``result.json`` (top-level ``survival_1y``, ...) as
    "1-year 83 %, 2-year 64 %, 3-year 51 %", marked "(demonstration model)" when the model is one;
    "" when the result has none."""
    parts = [f"{years}-year {100 * float(result[key]):.0f} %" for key, years in SURVIVAL_KEYS
             if result.get(key) is not None]
    if not parts:
        return ""
    demonstration = bool((result.get("model") or {}).get("demonstration", True))
    return "survival " + ", ".join(parts) + (" (demonstration model)" if demonstration else "")
