"""RadSurv's colour scheme: one home for how results look in ``overview.png`` and in a Slicer scene.

``outputs.overview`` draws ``overview.png`` with these values and ``slicer.display`` styles the
scene's nodes with them, so the two look alike. Plain constants and NumPy: no MRML, no matplotlib.
"""

from __future__ import annotations

#: CT windows (HU): lower and upper end of the grey scale. The soft-tissue (mediastinal) window,
#: W 400 / L 40 (Slicer's "CT-Abdomen"-like preset), is the one shown: the tumour's interior keeps
#: its contrast under the heatmap. The lung window, W 1500 / L -600 (close to Slicer's "CT-Lung"),
#: shows the lung parenchyma around it: in a Slicer scene it is the CT display node's second
#: window/level preset (Volumes module, or the window/level presets of the slice view), one click away.
SOFT_TISSUE_WINDOW_HU = (-160.0, 240.0)
LUNG_WINDOW_HU = (-1350.0, 150.0)
#: The window a result is shown in first (overview.png, a scene's CT without a window chosen).
CT_WINDOW_HU = SOFT_TISSUE_WINDOW_HU
#: The CT display node's window/level presets, in order: (name, window HU, level HU).
CT_WINDOW_PRESETS = (("soft tissue", 400.0, 40.0), ("lung", 1500.0, -600.0))

#: How the heatmap is shown, from its own distribution inside the GTV (``heatmap_display_range``):
#: values below this percentile of the heatmap's GTV voxels are transparent, so the hotter half of
#: the tumour is coloured whatever the model's overall scale (Grad-CAM values are relative: PAT1's
#: GTV has a median of 0.02 and a few voxels near 1, so a fixed 0.2 coloured 3 % of it); the colour
#: scale runs from that value to the ``HEATMAP_TOP_PERCENTILE``-th percentile (brighter values
#: saturate), so the colours spread over the tumour instead of a few hot voxels.
HEATMAP_SHOWN_PERCENTILE = 50.0
HEATMAP_TOP_PERCENTILE = 99.0
#: The lowest threshold ever used: 0 (outside the model's crop) stays transparent.
HEATMAP_MIN_SHOWN = 1e-3

#: Opacity of the heatmap over the CT (slice-view foreground opacity; overview.png alpha).
HEATMAP_OPACITY = 0.6

#: Name of the colour map of the heatmap (matplotlib's; Slicer's table "Inferno" is the same map).
HEATMAP_COLORMAP = "inferno"
#: Colour map of the voxel radiomics maps (matplotlib's; Slicer's table "Viridis"), another
#: perceptual map than the heatmap's, so the two are never confused.
VOXEL_MAP_COLORMAP = "viridis"

#: GTV colour (RGB in [0, 1]) where RadSurv draws the GTV itself (overview.png, ``scene.mrb``).
#: In the Slicer module the user's GTV segment keeps the user's colour.
GTV_COLOR = (0.90, 0.10, 0.10)

#: Peritumoral ring colours (RGB in [0, 1]), innermost ring first, used in turn; they differ from
#: each other, from the red GTV, from grey CT and from the heatmap's colour map.
RING_COLORS = (
    (0.00, 0.75, 1.00),  # deep sky blue
    (0.00, 0.90, 0.25),  # green
    (1.00, 0.00, 1.00),  # magenta
    (1.00, 0.84, 0.00),  # gold
    (0.55, 0.35, 1.00),  # violet
    (0.60, 0.45, 0.25),  # brown
)


def ring_color(index: int) -> tuple[float, float, float]:
    """RGB colour (in [0, 1]) of the ``index``-th peritumoral ring (0 = innermost)."""
    return RING_COLORS[index % len(RING_COLORS)]


def roi_colors(n_rings: int) -> list[tuple[float, float, float]]:
    """Colours of the GTV and its ``n_rings`` rings, in label order (label 1 = GTV, k + 2 = ring k)."""
    return [GTV_COLOR, *(ring_color(k) for k in range(n_rings))]


def heatmap_display_range(heatmap, gtv) -> tuple[float, float]:
    """The heatmap values shown: (transparent below, top of the colour scale), from the heatmap inside the GTV.

    The threshold is the ``HEATMAP_SHOWN_PERCENTILE``-th percentile (the median) of the heatmap's
    values in the GTV's voxels, at least ``HEATMAP_MIN_SHOWN``; the top of the colour scale is their
    ``HEATMAP_TOP_PERCENTILE``-th percentile, above the threshold. Without heat in the GTV (all 0)
    the range is (``HEATMAP_MIN_SHOWN``, 1).

    Args:
        heatmap: array of heatmap values (any shape; values in [0, 1]).
        gtv: boolean / 0-1 array of the same shape, non-zero in the GTV.

    Returns:
        ``(shown_from, top)``, floats in (0, 1], ``shown_from < top``.

    Raises:
        ValueError: the shapes differ.
    """
    import numpy as np

    heatmap, gtv = np.asarray(heatmap), np.asarray(gtv) != 0
    if heatmap.shape != gtv.shape:
        raise ValueError(f"heatmap {heatmap.shape} and GTV {gtv.shape} are not on one grid")
    inside = heatmap[gtv].astype(float)
    inside = inside[np.isfinite(inside)]
    if inside.size == 0 or inside.max() <= HEATMAP_MIN_SHOWN:
        return HEATMAP_MIN_SHOWN, 1.0
    shown_from = max(float(np.percentile(inside, HEATMAP_SHOWN_PERCENTILE)), HEATMAP_MIN_SHOWN)
    top = float(np.percentile(inside, HEATMAP_TOP_PERCENTILE))
    if top <= shown_from:
        top = min(max(float(inside.max()), shown_from * 1.01), 1.0)
        if top <= shown_from:
            top = shown_from + 1e-6
    return shown_from, top
