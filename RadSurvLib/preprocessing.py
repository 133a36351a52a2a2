"""Input validation and resampling to the 1 mm isotropic analysis grid.

Source: Liu et al. 2025 (Front. Oncol.), "CT images were ... resampled with B-spline
interpolation to 1x1x1 mm^3". The GTV is resampled with a volume-preserving rule so that the
tumour volume the features describe is the delineated volume.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import InputError
from .io.images import check_same_geometry

#: CT intensities outside this range (HU) cannot come from a CT in Hounsfield units.
HU_PLAUSIBLE_RANGE = (-3100.0, 40000.0)


def mask_array(gtv):
    """The GTV as a boolean NumPy array (z, y, x): every non-zero voxel is GTV."""
    import SimpleITK as sitk

    return sitk.GetArrayViewFromImage(gtv) != 0


def voxel_volume_mm3(image) -> float:
    """Volume of one voxel in mm^3 (product of the voxel spacing)."""
    sx, sy, sz = image.GetSpacing()
    return float(sx * sy * sz)


def validate_inputs(ct, gtv, ct_name: str = "CT", gtv_name: str = "GTV") -> None:
    """Check that a CT and its GTV mask can be scored.

    Checks: same voxel grid in physical space (see ``io.check_same_geometry``), a GTV that is not
    empty and holds integer labels, a CT without NaN whose intensities are plausible as HU (some
    air below -500 HU, nothing outside ``HU_PLAUSIBLE_RANGE``).

    Args:
        ct: SimpleITK image, CT in HU.
        gtv: SimpleITK image, GTV mask (non-zero = GTV).

    Raises:
        InputError: naming the input and the problem.
    """
    import numpy as np
    import SimpleITK as sitk

    check_same_geometry(ct, gtv, ct_name, gtv_name)
    labels = sitk.GetArrayViewFromImage(gtv)
    if np.issubdtype(labels.dtype, np.floating) and not np.all(np.mod(labels, 1) == 0):
        raise InputError(f"{gtv_name}: the mask holds non-integer values; a labelmap (0 = background, "
                         "non-zero = GTV) is needed, not a probability map.")
    if not np.any(labels):
        raise InputError(f"{gtv_name}: the mask is empty (no non-zero voxel). Delineate the GTV or "
                         "choose the segment that holds it.")
    hu = sitk.GetArrayViewFromImage(ct)
    if not np.all(np.isfinite(hu)):
        raise InputError(f"{ct_name}: the image holds NaN or infinite values; it cannot be scored.")
    low, high = float(hu.min()), float(hu.max())
    if low < HU_PLAUSIBLE_RANGE[0] or high > HU_PLAUSIBLE_RANGE[1] or low > -500.0:
        raise InputError(
            f"{ct_name}: intensities {low:.0f}..{high:.0f} do not look like Hounsfield units (a chest CT "
            "has air near -1000 HU). Convert the image to HU (apply the DICOM rescale slope and "
            "intercept) before scoring.")


def isotropic_grid(image, spacing_mm: float = 1.0):
    """The output grid of a resampling to isotropic voxels covering the same physical extent.

    The new grid keeps the direction and the physical centre of ``image`` (IBSI "align grid
    centres"); its size is the input extent (size x spacing, mm) divided by ``spacing_mm``, rounded.

    Returns:
        (size (x, y, z) voxels, spacing (mm, 3-tuple), origin (mm), direction) for SimpleITK.
    """
    import numpy as np

    size = np.array(image.GetSize(), dtype=float)
    spacing = np.array(image.GetSpacing(), dtype=float)
    direction = np.array(image.GetDirection(), dtype=float).reshape(3, 3)
    new_spacing = np.full(3, float(spacing_mm))
    new_size = np.maximum(np.round(size * spacing / new_spacing), 1).astype(int)
    centre = np.array(image.GetOrigin()) + direction @ ((size - 1) * spacing / 2)
    new_origin = centre - direction @ ((new_size - 1) * new_spacing / 2)
    return ([int(s) for s in new_size], tuple(new_spacing), tuple(new_origin),
            tuple(direction.ravel()))


def resample_image(image, spacing_mm: float = 1.0, interpolator: str = "bspline",
                   default_value: float = -1000.0, reference=None):
    """Resample an image onto an isotropic grid (or onto ``reference``'s grid).

    Args:
        image: SimpleITK image (e.g. a CT in HU).
        spacing_mm: isotropic voxel spacing of the output grid, mm (ignored with ``reference``).
        interpolator: ``"bspline"`` (cubic B-spline, Liu et al.), ``"linear"`` or ``"nearest"``.
        default_value: value for output voxels outside the input (HU of air for a CT).
        reference: optional SimpleITK image whose grid the output takes.

    Returns:
        SimpleITK image, float32 for bspline / linear.
    """
    import SimpleITK as sitk

    interpolators = {"bspline": sitk.sitkBSpline, "linear": sitk.sitkLinear,
                     "nearest": sitk.sitkNearestNeighbor}
    if interpolator not in interpolators:
        raise InputError(f"interpolator must be one of {sorted(interpolators)}, not {interpolator!r}.")
    resampler = sitk.ResampleImageFilter()
    if reference is not None:
        resampler.SetReferenceImage(reference)
    else:
        size, spacing, origin, direction = isotropic_grid(image, spacing_mm)
        resampler.SetSize(size)
        resampler.SetOutputSpacing(spacing)
        resampler.SetOutputOrigin(origin)
        resampler.SetOutputDirection(direction)
    resampler.SetInterpolator(interpolators[interpolator])
    resampler.SetDefaultPixelValue(default_value)
    if interpolator != "nearest":
        resampler.SetOutputPixelType(sitk.sitkFloat32)
        image = sitk.Cast(image, sitk.sitkFloat32)
    return resampler.Execute(image)


@dataclass
class MaskResampling:
    """A GTV resampled with ``resample_mask_preserving_volume`` and its volumes.

    Attributes:
        mask: SimpleITK uint8 image (1 = GTV) on the new grid.
        volume_mm3_input: GTV volume on the input grid (voxel count x voxel volume), mm^3.
        volume_mm3_resampled: GTV volume on the new grid, mm^3.
        threshold: level applied to the linearly interpolated mask (0.5 is the IBSI default).
    """

    mask: object
    volume_mm3_input: float
    volume_mm3_resampled: float
    threshold: float


def resample_mask_preserving_volume(gtv, reference, threshold_bounds=(0.3, 0.7)) -> MaskResampling:
    """Resample a GTV mask onto ``reference``'s grid so that its volume is kept.

    The mask is interpolated linearly (a partial-volume fraction per new voxel); instead of the
    fixed 0.5 threshold (IBSI), the threshold is chosen so that the number of new voxels times the
    new voxel volume equals the input volume, bounded to ``threshold_bounds`` so that the shape is
    never eroded or dilated beyond what partial volume allows.

    Args:
        gtv: SimpleITK mask (non-zero = GTV) on its own grid.
        reference: SimpleITK image giving the output grid (e.g. the 1 mm CT).

    Returns:
        MaskResampling with the new mask and the volumes before and after (mm^3).

    Raises:
        InputError: the GTV vanishes on the new grid (thinner than the new voxels).
    """
    import numpy as np
    import SimpleITK as sitk

    binary = sitk.Cast(sitk.NotEqual(gtv, 0), sitk.sitkFloat32)
    fraction = resample_image(binary, interpolator="linear", default_value=0.0, reference=reference)
    values = sitk.GetArrayFromImage(fraction)
    volume_in = float(mask_array(gtv).sum()) * voxel_volume_mm3(gtv)
    target_count = int(round(volume_in / voxel_volume_mm3(reference)))
    ranked = np.sort(values[values > 0], axis=None)[::-1]
    if ranked.size == 0 or target_count == 0:
        raise InputError("GTV: the mask vanishes when resampled to the analysis grid; it is thinner "
                         "than one voxel. Check the delineation.")
    level = float(ranked[min(target_count, ranked.size) - 1])
    threshold = float(np.clip(level, *threshold_bounds))
    new_mask = (values >= threshold).astype(np.uint8)
    mask_image = sitk.GetImageFromArray(new_mask)
    mask_image.CopyInformation(reference)
    return MaskResampling(mask_image, volume_in, float(new_mask.sum()) * voxel_volume_mm3(reference),
                          threshold)
