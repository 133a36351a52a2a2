"""Peritumoral rings: bands at given distances (mm) from the GTV surface, and an inner rim.

Source: Liu et al. 2025, "three concentric peritumoral expansions (3/6/9 mm) were generated via
SimpleITK". Distances come from Euclidean distance maps in physical units (mm), so a ring is exact
on anisotropic grids (no voxel-wise dilation). Arrays are in SimpleITK's (z, y, x) order.

Two distance conventions (``convention=``):

``"centre"`` (default, the behaviour of RadSurv 0.1)
    Distance of a voxel centre to the nearest GTV voxel centre (SimpleITK
    ``SignedMaurerDistanceMap``). Fast and exactly reproducible with any EDT, but biased on coarse
    grids: the first outside voxel is at least one voxel step away, so the first ring is thinner
    than its nominal width (on a 15 mm sphere sampled at 0.98 x 0.98 x 3 mm, the 0-3 mm ring holds
    about 20 % less volume than the analytic shell).

``"surface"``
    Signed distance of a voxel centre to a smooth estimate of the GTV surface: the mask is smoothed
    with a Gaussian (sigma = ``SURFACE_SMOOTHING`` x voxel spacing per axis, which removes the
    staircase of thick slices), resampled linearly onto an isotropic grid of spacing
    min(spacing) / ``SURFACE_UPSAMPLING``, thresholded at 0.5, and its Maurer distance map is
    interpolated linearly back at the voxel centres. Ring volumes then follow the analytic shells
    of a sphere within 3 % (Testing/Python/test_rings.py). Slower (an upsampled grid).

In both conventions a ring never contains GTV voxels and the inner rim only GTV voxels; with
``"surface"`` an outside voxel that lies inside the smooth surface counts to the first ring if
that ring starts at 0 mm (nothing is lost between the GTV and the first ring).

Clipping: the distances are computed on a grid padded beyond the image, so the part of a ring that
falls outside the image is counted; ``Ring.lost_fraction`` holds it and a ``RingClippedWarning``
says how much was lost.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

from .errors import InputError

#: Default outer distances of the peritumoral rings, mm (Liu et al. 2025): bands 0-3, 3-6, 6-9 mm.
DEFAULT_RINGS_MM = (3.0, 6.0, 9.0)

#: Label of the GTV in a ring labelmap; ring k (0-based) has label ``FIRST_RING_LABEL + k``
#: (the inner rim, when asked for, comes after the outside rings).
GTV_LABEL = 1
FIRST_RING_LABEL = 2

#: Distance conventions (see the module docstring).
CONVENTIONS = ("centre", "surface")

#: ``"surface"`` convention: Gaussian sigma as a fraction of the voxel spacing of each axis.
SURFACE_SMOOTHING = 0.7
#: ``"surface"`` convention: the fine grid's spacing is min(spacing) / this factor.
SURFACE_UPSAMPLING = 3.0


class RingClippedWarning(UserWarning):
    """Part of a ring lies outside the image (or the whole ring does)."""


@dataclass
class Ring:
    """One ring: the voxels at a distance in (inner_mm, outer_mm] from the GTV surface.

    Attributes:
        label: value of the ring in the labelmap.
        name: e.g. ``"ring_0-3mm"``, or ``"rim_0-2mm"`` for the inner rim.
        inner_mm, outer_mm: band of signed distances from the GTV surface, mm (negative = inside
            the GTV: the inner rim of width w has inner_mm = -w, outer_mm = 0).
        voxels: number of voxels; volume_mm3: their volume, mm^3.
        mean_distance_mm: mean signed distance of the ring's voxels to the GTV surface, mm.
        clipped_at_border: True when part of the ring falls outside the image.
        lost_fraction: fraction of the ring (in voxels of the padded grid, before the air and mask
            constraints) that falls outside the image, 0-1.
        excluded_air_voxels: voxels removed because the CT is below ``air_hu``.
        excluded_mask_voxels: voxels removed because they lie outside the lung / body mask.
        inside: True for the inner rim (voxels inside the GTV).
        component: GTV component (1 = largest) for per-component rings, None for the union.
    """

    label: int
    name: str
    inner_mm: float
    outer_mm: float
    voxels: int
    volume_mm3: float
    mean_distance_mm: float
    clipped_at_border: bool
    lost_fraction: float = 0.0
    excluded_air_voxels: int = 0
    excluded_mask_voxels: int = 0
    inside: bool = False
    component: int | None = None


@dataclass
class ComponentRings:
    """Rings of one connected GTV component (``make_rings_per_component``).

    Attributes:
        component: 1 for the largest component, 2 for the next, ...
        voxels: the component's number of voxels.
        labelmap: SimpleITK uint8 labelmap (``GTV_LABEL`` = this component, rings as in ``make_rings``).
        rings: list of ``Ring``.
    """

    component: int
    voxels: int
    labelmap: object
    rings: list


def parse_rings(text) -> tuple[float, ...]:
    """Parse ring distances such as ``"5,10"`` (mm) into increasing positive floats.

    Raises:
        InputError: non-numeric, non-positive or non-increasing distances.
    """
    if isinstance(text, str):
        parts = [p.strip() for p in text.split(",") if p.strip()]
    else:
        parts = list(text)
    try:
        values = tuple(float(p) for p in parts)
    except (TypeError, ValueError):
        raise InputError(f"rings_mm: {text!r} is not a comma-separated list of distances in mm "
                         "(e.g. 5,10).") from None
    if not values or any(v <= 0 for v in values) or any(b <= a for a, b in zip(values, values[1:])):
        raise InputError(f"rings_mm: distances must be positive and increasing (mm), got {text!r}.")
    return values


def parse_bands(spec) -> tuple[tuple[float, float], ...]:
    """Parse ring bands into (inner_mm, outer_mm) pairs.

    Accepts outer distances (``"5,10"`` or ``(5, 10)``: contiguous bands 0-5, 5-10), bands
    (``"3-6,6-9"`` or ``((3, 6), (6, 9))``), or a mix (``"3,5-8"``: 0-3 and 5-8).

    Returns:
        Increasing, non-overlapping bands with 0 <= inner < outer, mm.

    Raises:
        InputError: unparsable, negative, empty or overlapping bands.
    """
    items = [p.strip() for p in spec.split(",") if p.strip()] if isinstance(spec, str) else list(spec)
    bands, previous = [], 0.0
    try:
        for item in items:
            if isinstance(item, str) and "-" in item:
                inner, outer = (float(v) for v in item.split("-"))
            elif isinstance(item, (tuple, list)):
                inner, outer = (float(v) for v in item)
            else:
                inner, outer = previous, float(item)
            bands.append((inner, outer))
            previous = outer
    except (TypeError, ValueError):
        raise InputError(f"rings_mm: {spec!r} is not a list of distances or bands in mm "
                         "(e.g. 5,10 or 3-6,6-9).") from None
    if not bands:
        raise InputError(f"rings_mm: no ring distances given ({spec!r}).")
    for k, (inner, outer) in enumerate(bands):
        if inner < 0 or outer <= inner:
            raise InputError(f"rings_mm: band {inner:g}-{outer:g} mm is invalid: need 0 <= inner < outer.")
        if k and inner < bands[k - 1][1]:
            raise InputError(f"rings_mm: bands must be increasing and must not overlap, got {spec!r}.")
    return tuple(bands)


def ring_name(inner_mm: float, outer_mm: float) -> str:
    """Name of a ring, e.g. ``ring_0-3mm`` (distances in mm, trailing .0 dropped); an inner rim
    (outer_mm <= 0) is ``rim_0-<width>mm``."""
    if outer_mm <= 0:
        return f"rim_{abs(outer_mm):g}-{abs(inner_mm):g}mm"
    return f"ring_{inner_mm:g}-{outer_mm:g}mm"


def distance_to_gtv_mm(gtv):
    """Signed Euclidean distance (mm) of each voxel centre to the GTV ("centre" convention).

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


def _centre_distance(inside_image):
    """(outside distance, inside distance) in mm, "centre" convention, as (z, y, x) arrays.

    Outside: distance to the nearest GTV voxel centre (0 inside). Inside: distance to the nearest
    non-GTV voxel centre (0 outside).
    """
    import numpy as np
    import SimpleITK as sitk

    outside = distance_to_gtv_mm(inside_image)
    inside_d = distance_to_gtv_mm(sitk.Equal(inside_image, 0))
    return np.maximum(outside, 0), np.maximum(inside_d, 0)


def _surface_distance(inside_image):
    """Signed distance (mm, positive outside) of each voxel centre to the smoothed GTV surface
    ("surface" convention, see the module docstring), as a float32 (z, y, x) array."""
    import numpy as np
    import SimpleITK as sitk

    spacing = inside_image.GetSpacing()
    smooth = sitk.SmoothingRecursiveGaussian(sitk.Cast(inside_image, sitk.sitkFloat32),
                                             [SURFACE_SMOOTHING * s for s in spacing])
    fine_mm = min(spacing) / SURFACE_UPSAMPLING
    size = [int(math.ceil(n * s / fine_mm)) for n, s in zip(inside_image.GetSize(), spacing)]
    # Fine grid with the same corner as the coarse grid (first voxel centres half a voxel in).
    direction = np.array(inside_image.GetDirection()).reshape(3, 3)
    corner = np.array(inside_image.GetOrigin()) - direction @ (0.5 * np.array(spacing))
    origin = corner + direction @ np.full(3, 0.5 * fine_mm)
    fine = sitk.Resample(smooth, size, sitk.Transform(), sitk.sitkLinear, tuple(origin), (fine_mm,) * 3,
                         inside_image.GetDirection(), 0.0, sitk.sitkFloat32)
    binary = sitk.GreaterEqual(fine, 0.5)
    # Outside: distance to the nearest fine voxel inside; inside: minus the distance to the nearest
    # fine voxel outside (the same rule both ways, so the rim and the rings are measured alike).
    outside = sitk.Maximum(sitk.SignedMaurerDistanceMap(binary, insideIsPositive=False, squaredDistance=False,
                                                        useImageSpacing=True), 0.0)
    inside = sitk.Maximum(sitk.SignedMaurerDistanceMap(sitk.Equal(binary, 0), insideIsPositive=False,
                                                       squaredDistance=False, useImageSpacing=True), 0.0)
    back = sitk.Resample(outside - inside, inside_image, sitk.Transform(), sitk.sitkLinear, 0.0,
                         sitk.sitkFloat32)
    return sitk.GetArrayFromImage(back)


def _check_grid(reference, other, name: str) -> None:
    from .io.images import check_same_geometry

    check_same_geometry(reference, other, "GTV", name)


def _working_region(inside, spacing_zyx, reach_mm):
    """Slices of a padded working region: the GTV's bounding box plus ``reach_mm`` (+ 2 voxels).

    Returns (lo, hi) per axis in voxel indices of the original image; they may lie outside it.
    """
    import numpy as np

    where = np.argwhere(inside)
    first, last = where.min(0), where.max(0)
    margin = [int(math.ceil(reach_mm / s)) + 2 for s in spacing_zyx]
    return [(int(f) - m, int(l) + m + 1) for f, l, m in zip(first, last, margin)]


def _take(array, region, fill=0):
    """The (possibly out-of-image) ``region`` of a (z, y, x) array, padded with ``fill``."""
    import numpy as np

    shape = [hi - lo for lo, hi in region]
    out = np.full(shape, fill, dtype=array.dtype)
    src = tuple(slice(max(lo, 0), min(hi, n)) for (lo, hi), n in zip(region, array.shape))
    dst = tuple(slice(s.start - lo, s.stop - lo) for s, (lo, _) in zip(src, region))
    out[dst] = array[src]
    return out, dst


def make_rings(gtv, rings_mm=DEFAULT_RINGS_MM, *, ct=None, air_hu=None, mask=None, inner_rim_mm=None,
               convention: str = "centre", exclude=None, component=None, warn: bool = True):
    """Build the ring labelmap around a GTV.

    Ring k holds the voxels outside the GTV whose distance to the GTV surface is in
    (inner_k, outer_k] mm, so rings exclude the GTV by construction. With the default
    ``rings_mm`` (``DEFAULT_RINGS_MM``) the bands are 0-3, 3-6 and 6-9 mm and the
    labelmap is the one of RadSurv 0.1 ("centre" convention).

    Args:
        gtv: SimpleITK mask (non-zero = GTV), any spacing and direction.
        rings_mm: outer distances (contiguous bands from 0) or bands, mm; see ``parse_bands``
            (default ``DEFAULT_RINGS_MM``).
        ct: SimpleITK CT in HU on the GTV's grid; needed for ``air_hu``.
        air_hu: remove ring voxels whose CT value is below this (HU), e.g. -950 for air.
        mask: SimpleITK lung / body mask on the GTV's grid (non-zero = allowed): ring voxels
            outside it are removed.
        inner_rim_mm: width of an inner rim inside the GTV surface, mm (None: no rim). The rim is
            labelled after the outside rings; its voxels stay part of the GTV in ``roi_masks``.
        convention: ``"centre"`` or ``"surface"`` (see the module docstring).
        exclude: optional SimpleITK mask of voxels that no ring may contain (e.g. other GTV
            components); used by ``make_rings_per_component``.
        component: stored in each ``Ring.component``.
        warn: issue a ``RingClippedWarning`` when a ring is clipped at the image border.

    Returns:
        (labelmap, rings): a SimpleITK uint8 image on the GTV's grid with ``GTV_LABEL`` (1) for the
        GTV and ``FIRST_RING_LABEL + k`` for ring k, and a list of ``Ring``.

    Raises:
        InputError: empty GTV, invalid distances or convention, ``air_hu`` without ``ct``, or a
            CT / mask that is not on the GTV's grid.
    """
    import numpy as np
    import SimpleITK as sitk

    bands = parse_bands(rings_mm)
    if convention not in CONVENTIONS:
        raise InputError(f"rings: unknown distance convention {convention!r}; use one of {CONVENTIONS}.")
    if inner_rim_mm is not None and not inner_rim_mm > 0:
        raise InputError(f"rings: the inner rim width must be positive (mm), got {inner_rim_mm!r}.")
    if air_hu is not None and ct is None:
        raise InputError("rings: excluding air (air_hu) needs the CT (ct=...).")
    inside_full = sitk.GetArrayViewFromImage(gtv) != 0
    if not inside_full.any():
        raise InputError("GTV: the mask is empty; rings need a delineated GTV.")
    for other, name in ((ct, "CT"), (mask, "lung/body mask"), (exclude, "excluded mask")):
        if other is not None:
            _check_grid(gtv, other, name)

    spacing_zyx = gtv.GetSpacing()[::-1]
    reach = max(bands[-1][1], inner_rim_mm or 0.0) + 2 * max(spacing_zyx)
    region = _working_region(inside_full, spacing_zyx, reach)
    inside, in_image = _take(inside_full, region, False)
    valid = np.zeros(inside.shape, dtype=bool)
    valid[in_image] = True

    work = sitk.GetImageFromArray(inside.astype(np.uint8))
    work.SetSpacing(gtv.GetSpacing())
    work.SetDirection(gtv.GetDirection())
    work.SetOrigin(gtv.TransformContinuousIndexToPhysicalPoint([float(r[0]) for r in region[::-1]]))
    if convention == "centre":
        outside_d, inside_d = _centre_distance(work)
        signed = np.where(inside, -inside_d, outside_d)
    else:
        signed = _surface_distance(work)

    allowed = valid.copy()
    if exclude is not None:
        allowed &= ~_take(sitk.GetArrayViewFromImage(exclude) != 0, region, False)[0]
    air = np.zeros_like(valid)
    if air_hu is not None:
        air = _take(sitk.GetArrayViewFromImage(ct), region, 0)[0] < air_hu
    outside_mask = np.zeros_like(valid)
    if mask is not None:
        outside_mask = ~_take(sitk.GetArrayViewFromImage(mask) != 0, region, False)[0]

    labels = np.zeros(inside.shape, dtype=np.uint8)
    labels[inside] = GTV_LABEL
    voxel_mm3 = float(np.prod(gtv.GetSpacing()))
    specs = [(inner, outer, False) for inner, outer in bands]
    if inner_rim_mm:
        specs.append((-float(inner_rim_mm), 0.0, True))
    rings = []
    for k, (inner, outer, is_rim) in enumerate(specs):
        if is_rim:
            band = inside & (signed >= inner)
        else:
            band = ~inside & (signed <= outer) & ((signed > inner) | (inner == 0))
            band &= allowed | ~valid  # other GTV components are never ring voxels
        total = int(band.sum())
        lost = int((band & ~valid).sum())
        members = band & valid
        air_hits = int((members & air & ~inside).sum())
        mask_hits = int((members & outside_mask & ~inside & ~air).sum())
        if not is_rim:
            members &= ~air & ~outside_mask
        label = FIRST_RING_LABEL + k
        labels[members] = label
        count = int(members.sum())
        ring = Ring(label, ring_name(inner, outer), inner, outer, count, count * voxel_mm3,
                    float(signed[members].mean()) if count else float("nan"), lost > 0,
                    lost_fraction=lost / total if total else 0.0, excluded_air_voxels=air_hits,
                    excluded_mask_voxels=mask_hits, inside=is_rim, component=component)
        rings.append(ring)
        if warn and lost:
            which = f"GTV component {component}: " if component is not None else ""
            warnings.warn(f"{which}{ring.name}: {100 * ring.lost_fraction:.1f} % of the ring "
                          f"({lost} of {total} voxels) lies outside the image and is lost; the "
                          "GTV is too close to the image border.", RingClippedWarning, stacklevel=2)

    full = np.zeros(inside_full.shape, dtype=np.uint8)
    src = tuple(slice(s.start + lo, s.stop + lo) for s, (lo, _) in zip(in_image, region))
    full[src] = labels[in_image]
    labelmap = sitk.GetImageFromArray(full)
    labelmap.CopyInformation(gtv)
    return labelmap, rings


def make_rings_per_component(gtv, rings_mm=DEFAULT_RINGS_MM, **options):
    """Rings around each connected GTV component separately (e.g. primary tumour and nodes).

    Components are those of ``gtv_components.label_components`` (26-connected), numbered by
    decreasing size (1 = largest). The rings of a
    component never contain voxels of any other component; rings of different components may
    overlap each other, so each component gets its own labelmap. For one ring set around the union
    of the components, call ``make_rings``.

    Args:
        gtv: SimpleITK mask (non-zero = GTV).
        rings_mm, **options: as for ``make_rings`` (``exclude`` and ``component`` are set here).

    Returns:
        list of ``ComponentRings``, largest component first.

    Raises:
        InputError: as ``make_rings``.
    """
    import SimpleITK as sitk

    from .gtv_components import label_components

    binary = sitk.Cast(sitk.NotEqual(gtv, 0), sitk.sitkUInt8)
    if not sitk.GetArrayViewFromImage(binary).any():
        raise InputError("GTV: the mask is empty; rings need a delineated GTV.")
    components = label_components(binary)
    stats = sitk.LabelShapeStatisticsImageFilter()
    stats.Execute(components)
    result = []
    for label in sorted(stats.GetLabels()):
        own = sitk.Cast(sitk.Equal(components, label), sitk.sitkUInt8)
        others = sitk.Cast(sitk.And(binary, sitk.Equal(own, 0)), sitk.sitkUInt8)
        labelmap, rings = make_rings(own, rings_mm, exclude=others, component=label, **options)
        result.append(ComponentRings(label, int(stats.GetNumberOfPixels(label)), labelmap, rings))
    return result


def roi_masks(labelmap, rings):
    """Binary SimpleITK masks (uint8, 1 = ROI) for the GTV and each ring, keyed by ROI name.

    The GTV mask includes the inner rim's voxels (the rim is part of the GTV).

    Args:
        labelmap: ring labelmap from ``make_rings``.
        rings: the ``Ring`` list from ``make_rings``.

    Returns:
        dict: ``{"GTV": mask, "ring_0-3mm": mask, ...}`` on the labelmap's grid.
    """
    import SimpleITK as sitk

    gtv = sitk.Equal(labelmap, GTV_LABEL)
    for ring in rings:
        if ring.inside:
            gtv = sitk.Or(gtv, sitk.Equal(labelmap, ring.label))
    masks = {"GTV": sitk.Cast(gtv, sitk.sitkUInt8)}
    for ring in rings:
        masks[ring.name] = sitk.Cast(sitk.Equal(labelmap, ring.label), sitk.sitkUInt8)
    return masks
