"""``overview.png``: axial, coronal and sagittal views through the GTV centre.

Each view shows the CT (lung window), the GTV and ring contours and the Grad-CAM heatmap as a
translucent overlay, drawn with the voxel spacing as aspect ratio so that shapes are true in mm.
Window, colours, heatmap threshold and opacity are ``outputs.colours``, which the Slicer scene
uses too (``slicer.display``), so ``overview.png`` and ``scene.mrb`` look alike.
"""

from __future__ import annotations

from pathlib import Path

from .colours import HEATMAP_COLORMAP, HEATMAP_OPACITY, HEATMAP_SHOWN_FROM, LUNG_WINDOW_HU, roi_colors


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
        title: figure title (risk score, model, demonstration notice).
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

    ct_a = sitk.GetArrayFromImage(ct)
    labels = sitk.GetArrayFromImage(labelmap)
    heat = sitk.GetArrayFromImage(heatmap) if heatmap is not None else None
    sx, sy, sz = ct.GetSpacing()
    aspects = {"axial": sy / sx, "coronal": sz / sx, "sagittal": sz / sy}
    centre = gtv_centre_index(labels)
    ct_v, lab_v = _views(ct_a, centre), _views(labels, centre)
    heat_v = _views(heat, centre) if heat is not None else None

    colours = roi_colors(max(int(labels.max()) - 1, len(ring_names)))
    fig, axes = plt.subplots(1, 3, figsize=(15, 5.6))
    for ax, view in zip(axes, ("axial", "coronal", "sagittal")):
        ax.imshow(ct_v[view], cmap="gray", vmin=LUNG_WINDOW_HU[0], vmax=LUNG_WINDOW_HU[1],
                  aspect=aspects[view], interpolation="nearest")
        if heat_v is not None:
            overlay = np.ma.masked_less(heat_v[view], HEATMAP_SHOWN_FROM)
            ax.imshow(overlay, cmap=HEATMAP_COLORMAP, vmin=0.0, vmax=1.0, alpha=HEATMAP_OPACITY,
                      aspect=aspects[view], interpolation="bilinear")
        # Outer boundary of the GTV plus rings 1..k: the GTV contour is not hidden under the
        # inner edge of the first ring, which it shares.
        for label in range(1, int(labels.max()) + 1):
            region = (lab_v[view] >= 1) & (lab_v[view] <= label)
            if region.any():
                ax.contour(region, levels=[0.5], linewidths=1.2,
                           colors=[colours[label - 1]])
        ax.set_title(view)
        ax.set_axis_off()
    names = ["GTV", *ring_names]
    handles = [Line2D([], [], color=colours[i], label=n) for i, n in enumerate(names)]
    if heat_v is not None:
        handles.append(Line2D([], [], color=plt.get_cmap(HEATMAP_COLORMAP)(0.8), lw=6, alpha=0.6,
                              label="Grad-CAM"))
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), frameon=False)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout(rect=(0, 0.06, 1, 0.95))
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
