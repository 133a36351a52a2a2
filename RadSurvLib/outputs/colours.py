"""RadSurv's colour scheme: one home for how results look in ``overview.png`` and in a Slicer scene.

``outputs.overview`` draws ``overview.png`` with these values and ``slicer.display`` styles the
scene's nodes with them, so the two look alike. Plain constants: no MRML, no matplotlib.
"""

from __future__ import annotations

#: CT window (HU): lower and upper end of the grey scale, i.e. window 1500 HU at level -600 HU
#: (a lung window, close to Slicer's "CT-Lung" preset). Used when the CT has no window chosen.
LUNG_WINDOW_HU = (-1350.0, 150.0)

#: Grad-CAM values below this (heatmap in [0, 1]) are transparent, so that the CT stays visible
#: outside the regions the model weighted; 0 (outside the model's crop) is always transparent.
HEATMAP_SHOWN_FROM = 0.2

#: Opacity of the heatmap over the CT (slice-view foreground opacity; overview.png alpha).
HEATMAP_OPACITY = 0.6

#: Name of the colour map of the heatmap (matplotlib's; Slicer's table "Inferno" is the same map).
HEATMAP_COLORMAP = "inferno"

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
