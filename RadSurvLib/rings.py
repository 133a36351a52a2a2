"""Peritumoral rings: shells at given distances (mm) outside the GTV surface.

Source: Liu et al. 2025, "three concentric peritumoral expansions (3/6/9 mm) were generated via
SimpleITK". Distances come from a signed Euclidean (Maurer) distance map in physical units, so a
ring is exact on anisotropic grids (no voxel-wise dilation).
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import InputError

#: Default outer distances of the rings, mm (Liu et al. 2025).
DEFAULT_RINGS_MM = (3.0, 6.0, 9.0)

#: Label of the GTV in a ring labelmap; ring k (0-based) has label ``FIRST_RING_LABEL + k``.
GTV_LABEL = 1
FIRST_RING_LABEL = 2


@dataclass
class Ring:
    """One peritumoral ring: the voxels at a distance in (inner_mm, outer_mm] from the GTV.

    Attributes:
        label: value of the ring in the labelmap.
        name: e.g. ``"ring_0-3mm"``.
        inner_mm, outer_mm: band of distances from the GTV surface, mm.
        voxels: number of voxels; volume_mm3: their volume, mm^3.
        mean_distance_mm: mean distance of the ring's voxels to the GTV surface, mm.
        clipped_at_border: True when the ring touches the image border (part of it may be lost).
    """

    label: int
    name: str
    inner_mm: float
    outer_mm: float
    voxels: int
    volume_mm3: float
    mean_distance_mm: float
    clipped_at_border: bool


def parse_rings(text) -> tuple[float, ...]:
    """Parse ring distances such as ``"3,6,9"`` (mm) into increasing positive floats.

    Raises:
        InputError: non-numeric, non-positive or non-increasing distances.
    """
    if isinstance(text, str):
        parts = [p.strip() for p in text.split(",") if p.strip()]
    else:
        parts = list(text)
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        raise InputError(f"--rings: {text!r} is not a comma-separated list of distances in mm "
                         "(e.g. 3,6,9).") from None
    if not values or any(v <= 0 for v in values) or any(b <= a for a, b in zip(values, values[1:])):
        raise InputError(f"--rings: distances must be positive and increasing (mm), got {text!r}.")
    return values


def ring_name(inner_mm: float, outer_mm: float) -> str:
    """Name of a ring, e.g. ``ring_0-3mm`` (distances in mm, trailing .0 dropped)."""
    return f"ring_{inner_mm:g}-{outer_mm:g}mm"


def distance_to_gtv_mm(gtv):
    """Signed Euclidean distance (mm) of each voxel centre to the GTV surface.

    Positive outside the GTV, zero or negative inside, computed with SimpleITK's
    ``SignedMaurerDistanceMap`` in physical units (voxel spacing taken into account).

    Args:
        gtv: SimpleITK mask (non-zero = GTV).

    Returns:
        NumPy float32 array (z, y, x), mm.
    """
    import SimpleITK as sitk

    binary = sitk.NotEqual(gtv, 0)
    distance = sitk.SignedMaurerDistanceMap(binary, insideIsPositive=False, squaredDistance=False,
                                            useImageSpacing=True)
    return sitk.GetArrayFromImage(distance).astype("float32")


def make_rings(gtv, rings_mm=DEFAULT_RINGS_MM):
    """Build the ring labelmap around a GTV.

    Ring k holds the voxels outside the GTV whose distance to the GTV surface is in
    (rings_mm[k-1], rings_mm[k]] mm (the first ring starts at 0), so rings exclude the GTV and
    the inner rings by construction; they are clipped to the image.

    Args:
        gtv: SimpleITK mask (non-zero = GTV), any spacing and direction.
        rings_mm: increasing outer distances, mm (default 3, 6, 9).

    Returns:
        (labelmap, rings): a SimpleITK uint8 image on the GTV's grid with ``GTV_LABEL`` (1) for the
        GTV and ``FIRST_RING_LABEL + k`` for ring k, and a list of ``Ring``.

    Raises:
        InputError: empty GTV or invalid distances.
    """
    import numpy as np
    import SimpleITK as sitk

    rings_mm = parse_rings(rings_mm)
    inside = sitk.GetArrayViewFromImage(gtv) != 0
    if not inside.any():
        raise InputError("GTV: the mask is empty; rings need a delineated GTV.")
    distance = distance_to_gtv_mm(gtv)
    labels = np.zeros(inside.shape, dtype=np.uint8)
    labels[inside] = GTV_LABEL
    border = np.zeros(inside.shape, dtype=bool)
    for axis in range(3):
        border[(slice(None),) * axis + (0,)] = True
        border[(slice(None),) * axis + (-1,)] = True
    voxel_mm3 = float(np.prod(gtv.GetSpacing()))
    rings, inner = [], 0.0
    for k, outer in enumerate(rings_mm):
        members = ~inside & (distance > inner) & (distance <= outer)
        label = FIRST_RING_LABEL + k
        labels[members] = label
        count = int(members.sum())
        rings.append(Ring(label, ring_name(inner, outer), inner, outer, count, count * voxel_mm3,
                          float(distance[members].mean()) if count else float("nan"),
                          bool((members & border).any())))
        inner = outer
    labelmap = sitk.GetImageFromArray(labels)
    labelmap.CopyInformation(gtv)
    return labelmap, rings


def roi_masks(labelmap, rings):
    """Binary SimpleITK masks (uint8, 1 = ROI) for the GTV and each ring, keyed by ROI name.

    Args:
        labelmap: ring labelmap from ``make_rings``.
        rings: the ``Ring`` list from ``make_rings``.

    Returns:
        dict: ``{"GTV": mask, "ring_0-3mm": mask, ...}`` on the labelmap's grid.
    """
    import SimpleITK as sitk

    masks = {"GTV": sitk.Cast(sitk.Equal(labelmap, GTV_LABEL), sitk.sitkUInt8)}
    for ring in rings:
        masks[ring.name] = sitk.Cast(sitk.Equal(labelmap, ring.label), sitk.sitkUInt8)
    return masks
