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

#: Plausible voxel spacing of a CT per axis, mm (a header in metres or cm falls outside).
SPACING_RANGE_MM = (0.1, 10.0)

#: Smallest GTV scored: voxels and mm^3 (both must be met; texture features need neighbours).
GTV_MIN_VOXELS = 5
GTV_MIN_VOLUME_MM3 = 10.0

#: Largest GTV scored, as a fraction of the CT's voxels (more is a body / lung mask or the CT itself).
GTV_MAX_FRACTION = 0.25

#: Relative change of the GTV volume by the 1 mm resampling above which a warning is issued.
GTV_VOLUME_CHANGE_WARNING = 0.05


class GTVVolumeChangeWarning(UserWarning):
    """Resampling to the analysis grid changed the GTV volume by more than ``GTV_VOLUME_CHANGE_WARNING``."""


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

    Checks, in this order: the CT's voxel spacing (``check_voxel_spacing``); the same voxel grid in
    physical space (``io.check_same_geometry``); a GTV that is a labelmap with one label (not the
    CT's own intensities, not a probability map, see ``io.images.read_mask``) and of plausible size
    (``check_gtv_size``); a CT without NaN whose intensities are plausible as HU (some air below
    -500 HU, nothing outside ``HU_PLAUSIBLE_RANGE``).

    Args:
        ct: SimpleITK image, CT in HU.
        gtv: SimpleITK image, GTV mask (0 = background, one non-zero label = GTV; choose the label
            of a multi-label mask with ``io.images.read_mask(..., label=...)`` first).
        ct_name, gtv_name: names of the inputs in messages.

    Raises:
        InputError: naming the input and the problem.
    """
    import numpy as np
    import SimpleITK as sitk

    from .errors import input_error, parameter
    from .io.images import read_mask

    check_voxel_spacing(ct, ct_name)
    check_same_geometry(ct, gtv, ct_name, gtv_name)
    labels = sitk.GetArrayViewFromImage(gtv)
    hu = sitk.GetArrayViewFromImage(ct)
    if labels.size and labels.max() > 1 and np.array_equal(labels, hu):
        raise input_error(gtv_name, f"the mask holds the same values as the {parameter(ct_name)}: the CT was "
                                    "given as the GTV mask. Give the GTV's labelmap (0 = background, 1 = GTV).")
    check_gtv_size(read_mask(gtv, gtv_name), ct, gtv_name, ct_name)
    if not np.all(np.isfinite(hu)):
        raise input_error(ct_name, "the image holds NaN or infinite values; it cannot be scored.")
    low, high = float(hu.min()), float(hu.max())
    if low < HU_PLAUSIBLE_RANGE[0] or high > HU_PLAUSIBLE_RANGE[1] or low > -500.0:
        raise input_error(
            ct_name, f"intensities {low:.0f}..{high:.0f} do not look like Hounsfield units (a chest CT "
            "has air near -1000 HU). Convert the image to HU (apply the DICOM rescale slope and "
            "intercept) before scoring.")


def _mm(values) -> str:
    """Spacings / volumes as plain numbers for messages: "0.977 x 0.977 x 3"."""
    return " x ".join(f"{float(v):.4g}" for v in values)


def check_voxel_spacing(image, name: str = "CT") -> None:
    """Check that the voxel spacing is plausible for a CT in mm (``SPACING_RANGE_MM``, 0.1 to 10 mm).

    Spacing below 0.1 mm that would be plausible x 1000 is reported as a header written in metres,
    spacing above 10 mm that would be plausible / 10 as a header written in cm.

    Raises:
        InputError: a spacing outside the range, naming the axis values in mm and the likely unit.
    """
    from .errors import input_error

    spacing = [float(s) for s in image.GetSpacing()]
    low, high = SPACING_RANGE_MM
    if all(low <= s <= high for s in spacing):
        return
    shown = f"voxel spacing {_mm(spacing)} mm"
    if all(low <= s * 1000 <= high for s in spacing):
        raise input_error(name, f"{shown} is below {low} mm: the header's spacing looks like metres "
                                f"({_mm(s * 1000 for s in spacing)} mm if so). RadSurv needs the spacing "
                                "in mm: rewrite the image's spacing in mm (x 1000).")
    if all(low <= s / 10 <= high for s in spacing) and max(spacing) > high:
        raise input_error(name, f"{shown} is above {high} mm: the header's spacing looks 10 times too "
                                f"large ({_mm(s / 10 for s in spacing)} mm would be plausible). RadSurv "
                                "needs the spacing in mm: fix the image's spacing.")
    raise input_error(name, f"{shown} is outside the plausible range for a CT ({low} to {high} mm per "
                            "axis). Check the image's header (spacing in mm).")


def check_gtv_size(mask, ct, gtv_name: str = "GTV", ct_name: str = "CT") -> None:
    """Check that a binary GTV mask is neither (nearly) empty nor most of the image.

    Bounds: at least ``GTV_MIN_VOXELS`` voxels (5) and ``GTV_MIN_VOLUME_MM3`` (10 mm^3), so that
    texture features have neighbours; at most ``GTV_MAX_FRACTION`` (25 %) of the CT's voxels (a
    mask covering most of the image is a body / lung mask or the CT itself, not a GTV).

    Args:
        mask: SimpleITK binary mask (non-zero = GTV) on the CT's grid.
        ct: SimpleITK CT image (its voxel count and spacing are used).

    Raises:
        InputError: empty, too small (voxels and mm^3 given) or too large (percentage given).
    """
    from .errors import input_error, parameter

    count = int(mask_array(mask).sum())
    volume = count * voxel_volume_mm3(mask)
    if count == 0:
        raise input_error(gtv_name, "the mask is empty (no non-zero voxel). Delineate the GTV or "
                                    "choose the segment that holds it.")
    if count < GTV_MIN_VOXELS or volume < GTV_MIN_VOLUME_MM3:
        raise input_error(gtv_name, f"the GTV has only {count} voxel{'s' if count > 1 else ''} "
                                    f"({volume:.3g} mm^3); at least {GTV_MIN_VOXELS} voxels and "
                                    f"{GTV_MIN_VOLUME_MM3:g} mm^3 are needed for radiomics features. Check "
                                    "that the mask is the GTV's delineation (not a marker or a seed point).")
    total = 1
    for s in ct.GetSize():
        total *= int(s)
    if count > GTV_MAX_FRACTION * total:
        raise input_error(gtv_name, f"the GTV covers {100 * count / total:.1f} % of the voxels of the "
                                    f"{parameter(ct_name)} ({volume:,.0f} mm^3); a GTV covers at most "
                                    f"{100 * GTV_MAX_FRACTION:.0f} % of the image. Check that the mask is "
                                    "the GTV (not a body or lung mask, or the CT itself).")


def check_resampled_volume(resampling: "MaskResampling", name: str = "GTV") -> float:
    """Warn when resampling changed the GTV volume by more than ``GTV_VOLUME_CHANGE_WARNING``.

    Thick slices (e.g. 5 mm) leave partial-volume fractions that the bounded threshold of
    ``resample_mask_preserving_volume`` cannot always bring back to the delineated volume.

    Returns:
        The relative change of the volume (resampled / input - 1).

    Warns:
        GTVVolumeChangeWarning (a ``UserWarning``), giving both volumes (mm^3) and the change in %.
    """
    import warnings

    change = resampling.volume_mm3_resampled / resampling.volume_mm3_input - 1.0
    if abs(change) > GTV_VOLUME_CHANGE_WARNING:
        warnings.warn(f"{name}: resampling to the 1 mm analysis grid changed the GTV volume by "
                      f"{100 * change:+.1f} % ({resampling.volume_mm3_input:,.0f} -> "
                      f"{resampling.volume_mm3_resampled:,.0f} mm^3; thick slices leave partial volume). "
                      "Volume-dependent features describe the resampled GTV.",
                      GTVVolumeChangeWarning, stacklevel=3)
    return change


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

    Warns:
        GTVVolumeChangeWarning: the volume changed by more than ``GTV_VOLUME_CHANGE_WARNING``
            (see ``check_resampled_volume``).
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
    result = MaskResampling(mask_image, volume_in, float(new_mask.sum()) * voxel_volume_mm3(reference),
                            threshold)
    check_resampled_volume(result)
    return result


# ---------------------------------------------------------------------------------------------
# Crop before resampling: resample only the box the analysis needs, on the whole-CT 1 mm grid.
# ---------------------------------------------------------------------------------------------

#: PyRadiomics' default ``padDistance`` (voxels): with ``preCrop`` it filters (LoG, wavelet) only
#: the ROI's bounding box grown by this many voxels, so that box is all the filters ever see.
PYRADIOMICS_PAD_DISTANCE = 5

#: Input voxels added on each side of the box the cubic B-spline reads (its 4-voxel support).
#: SimpleITK's B-spline coefficients come from a recursive (IIR) prefilter over the whole input;
#: cropping the input changes them by a factor |z1|^k at k voxels from the cut (z1 = sqrt(3) - 2,
#: |z1| = 0.268), so 24 voxels leave < 2e-14 of a HU step (below float32 rounding of the output).
BSPLINE_MARGIN_VOXELS = 24


@dataclass(frozen=True)
class AnalysisCrop:
    """The part of the whole-CT isotropic grid that the analysis needs, and the CT box it reads.

    All index tuples are (x, y, z) (SimpleITK order); ``*_lo`` inclusive, ``*_hi`` exclusive.

    Attributes:
        grid_size, spacing, origin, direction: the whole isotropic grid (``isotropic_grid``:
            voxels, mm, mm, row-major cosines), the one ``resample_image(ct, spacing_mm)`` produces.
        grid_lo, grid_hi: the analysis box on that grid (GTV + margin, clipped to the grid).
        ct_lo, ct_hi: the CT voxels the cubic B-spline needs for it (plus ``BSPLINE_MARGIN_VOXELS``,
            clipped to the CT).
    """

    grid_size: tuple
    spacing: tuple
    origin: tuple
    direction: tuple
    grid_lo: tuple
    grid_hi: tuple
    ct_lo: tuple
    ct_hi: tuple

    @property
    def size(self) -> tuple:
        """(x, y, z) voxels of the cropped grid."""
        return tuple(h - l for l, h in zip(self.grid_lo, self.grid_hi))

    @property
    def crop_origin(self) -> tuple:
        """Physical point (mm) of the cropped grid's first voxel: a point of the whole grid."""
        import numpy as np

        d = np.array(self.direction, dtype=float).reshape(3, 3)
        return tuple(float(v) for v in np.array(self.origin) + d @ (np.array(self.grid_lo) * np.array(self.spacing)))

    def reference(self):
        """An empty float32 SimpleITK image on the cropped grid (for ``resample_image(reference=)``)."""
        import SimpleITK as sitk

        image = sitk.Image([int(s) for s in self.size], sitk.sitkFloat32)
        image.SetSpacing(self.spacing)
        image.SetOrigin(self.crop_origin)
        image.SetDirection(self.direction)
        return image

    def grid_slices(self) -> tuple:
        """(z, y, x) slices of the crop inside a NumPy array of the whole grid (for comparisons)."""
        return tuple(slice(l, h) for l, h in zip(reversed(self.grid_lo), reversed(self.grid_hi)))


def _grid_to_ct_affine(ct, grid_origin, spacing):
    """Per axis (scale, offset): CT continuous index = scale * grid index + offset.

    Exact because the isotropic grid keeps the CT's direction (the map is diagonal)."""
    import numpy as np

    d = np.array(ct.GetDirection(), dtype=float).reshape(3, 3)
    ct_spacing = np.array(ct.GetSpacing(), dtype=float)
    offset = d.T @ (np.array(grid_origin) - np.array(ct.GetOrigin())) / ct_spacing
    return np.array(spacing, dtype=float) / ct_spacing, offset


def analysis_crop(ct, gtv, margin_mm: float, spacing_mm: float = 1.0,
                  pad_voxels: int = PYRADIOMICS_PAD_DISTANCE, kernel_radius: int = 0,
                  bspline_margin_voxels: int = BSPLINE_MARGIN_VOXELS) -> AnalysisCrop:
    """The box of the isotropic grid that scoring needs, and the CT box that resamples it exactly.

    The analysis box holds every isotropic voxel the resampled GTV can touch (its linear
    interpolation reaches one CT voxel beyond the mask), grown by ``margin_mm`` (the outermost
    ring distance, or the model crop's margin if larger; for a 2D patch of P mm centred in the GTV:
    P / 2), by PyRadiomics' ``padDistance`` (``pad_voxels``: with ``preCrop`` its LoG / wavelet
    filters see only the ROI box grown by it, so their whole support is inside), by the voxel-map
    ``kernel_radius`` and by one voxel of rounding slack; it is clipped to the whole grid, so a box
    that reaches the CT's edge ends exactly where the whole grid does (rings are clipped alike).

    Resampling ``ct_lo:ct_hi`` of the CT onto the cropped grid (``resample_crop``) gives, at every
    voxel of the analysis box, the value ``resample_image(ct, spacing_mm)`` gives there: the same
    physical points, and the B-spline reads only CT voxels inside the box (``BSPLINE_MARGIN_VOXELS``).

    Args:
        ct: SimpleITK CT (any spacing, direction and size, e.g. 512 x 512 x 134).
        gtv: SimpleITK GTV mask on the CT's grid (non-zero = GTV).
        margin_mm: distance beyond the GTV the analysis reads (mm, >= 0), e.g. 9 for rings to 9 mm.
        spacing_mm: isotropic spacing of the analysis grid, mm.
        pad_voxels: PyRadiomics ``padDistance`` (voxels of the isotropic grid).
        kernel_radius: voxel-map kernel radius when maps are computed on the isotropic grid (voxels).
        bspline_margin_voxels: CT voxels beyond the B-spline support (see the constant).

    Returns:
        AnalysisCrop.

    Raises:
        InputError: empty GTV, negative margins.
    """
    import math

    import numpy as np
    import SimpleITK as sitk

    if not (margin_mm >= 0 and math.isfinite(margin_mm)):
        raise InputError(f"margin_mm must be a finite distance >= 0 mm, got {margin_mm!r}.")
    if min(pad_voxels, kernel_radius, bspline_margin_voxels) < 0:
        raise InputError("pad_voxels, kernel_radius and bspline_margin_voxels must be >= 0 voxels.")
    nz = np.nonzero(sitk.GetArrayViewFromImage(gtv))
    if nz[0].size == 0:
        raise InputError("GTV: the mask is empty (no non-zero voxel); draw or select the tumour segment.")
    gtv_lo = np.array([int(c.min()) for c in reversed(nz)])  # (x, y, z)
    gtv_hi = np.array([int(c.max()) for c in reversed(nz)])
    size, spacing, origin, direction = isotropic_grid(ct, spacing_mm)
    scale, offset = _grid_to_ct_affine(ct, origin, spacing)
    # grid voxels whose linear interpolation of the mask can be > 0: CT index within (lo-1, hi+1)
    grow = math.ceil(margin_mm / spacing_mm) + int(pad_voxels) + int(kernel_radius) + 1
    g_lo = np.floor((gtv_lo - 1 - offset) / scale).astype(int) - grow
    g_hi = np.ceil((gtv_hi + 1 - offset) / scale).astype(int) + grow + 1
    g_lo, g_hi = np.clip(g_lo, 0, size), np.clip(g_hi, 0, size)
    # CT voxels the cubic B-spline reads for those grid points: floor(t) - 1 .. floor(t) + 2
    t_lo, t_hi = scale * g_lo + offset, scale * (g_hi - 1) + offset
    c_lo = np.floor(t_lo).astype(int) - 1 - int(bspline_margin_voxels)
    c_hi = np.floor(t_hi).astype(int) + 3 + int(bspline_margin_voxels)
    ct_size = np.array(ct.GetSize())
    c_lo, c_hi = np.clip(c_lo, 0, ct_size), np.clip(c_hi, 0, ct_size)
    as_tuple = lambda a: tuple(int(v) for v in a)  # noqa: E731
    as_float = lambda a: tuple(float(v) for v in a)  # noqa: E731
    return AnalysisCrop(as_tuple(size), as_float(spacing), as_float(origin), as_float(direction),
                        as_tuple(g_lo), as_tuple(g_hi), as_tuple(c_lo), as_tuple(c_hi))


def resample_crop(ct, crop: AnalysisCrop, interpolator: str = "bspline", default_value: float = -1000.0):
    """Resample only ``crop``'s CT box onto its cropped isotropic grid.

    Inside the analysis box the result equals ``resample_image(ct, crop.spacing[0], interpolator,
    default_value)`` cropped to ``crop.grid_slices()`` (to float32 rounding; tested on PAT1 and
    lung1_001); its origin is a point of that whole grid, its spacing and direction the same.

    Args:
        ct: the SimpleITK CT ``crop`` was made for.
        crop: from ``analysis_crop``.
        interpolator, default_value: as ``resample_image``.

    Returns:
        SimpleITK image (float32 for bspline / linear) of size ``crop.size``.
    """
    import SimpleITK as sitk

    box = sitk.RegionOfInterest(ct, [h - l for l, h in zip(crop.ct_lo, crop.ct_hi)], list(crop.ct_lo))
    return resample_image(box, interpolator=interpolator, default_value=default_value,
                          reference=crop.reference())


@dataclass(frozen=True)
class ImageStatistics:
    """Mean and standard deviation of an image's intensities, as ``SimpleITK.Normalize`` takes them.

    Attributes:
        mean: HU. sigma: HU, sample standard deviation (n - 1), as ITK's StatisticsImageFilter.
        count: number of voxels.
    """

    mean: float
    sigma: float
    count: int


def _bspline3(u):
    """Cubic B-spline kernel at offsets ``u`` (NumPy array)."""
    import numpy as np

    u = np.abs(u)
    return np.where(u < 1, 2 / 3 - u ** 2 + u ** 3 / 2, np.where(u < 2, (2 - u) ** 3 / 6, 0.0))


def _axis_sampling(scale: float, offset: float, n_out: int, n_in: int):
    """Per axis of the whole grid: which output points fall inside the CT, and the B-spline matrix.

    Returns (inside (n_out,) bool, A (n_inside, n_in)): A[i, k] = weight of coefficient k at the
    i-th inside point, ITK's rules (inside: continuous index in [-0.5, n_in - 0.5); support
    floor(t) - 1 .. floor(t) + 2; mirror boundary ``k -> -k``, ``k -> 2 (n_in - 1) - k``).
    """
    import numpy as np

    t = scale * np.arange(n_out) + offset
    inside = (t >= -0.5) & (t < n_in - 0.5)
    t = t[inside]
    a = np.zeros((t.size, n_in))
    rows = np.arange(t.size)
    for j in range(-1, 3):
        k = np.floor(t).astype(int) + j
        w = _bspline3(t - k)
        if n_in == 1:
            k = np.zeros_like(k)
        else:
            period = 2 * (n_in - 1)
            k = np.abs(k) % period
            k = np.where(k >= n_in, period - k, k)
        np.add.at(a, (rows, k), w)
    return inside, a


def _banded_apply(g, c, axis: int):
    """``c`` multiplied along ``axis`` by the symmetric banded matrix ``g`` (bandwidth <= 4)."""
    import numpy as np

    n = g.shape[0]
    x = np.moveaxis(c, axis, -1)
    out = x * np.diagonal(g)
    for d in range(1, 5):
        if d >= n:
            break
        band = np.diagonal(g, d)  # g[k, k + d] = g[k + d, k]
        out[..., :-d] += x[..., d:] * band
        out[..., d:] += x[..., :-d] * band
    outside = np.abs(np.triu(g, 5)).max() if n > 5 else 0.0
    if outside > 0:  # cannot happen for a cubic B-spline; guard against a silent wrong number
        raise RuntimeError("B-spline Gram matrix wider than its band")
    return np.moveaxis(out, -1, axis)


def resampled_statistics(ct, spacing_mm: float = 1.0, default_value: float = -1000.0) -> ImageStatistics:
    """Mean and sigma of ``resample_image(ct, spacing_mm)`` (B-spline) without resampling the CT.

    What PyRadiomics' ``normalize`` (``imageoperations.normalizeImage`` -> ``SimpleITK.Normalize``)
    computes over the whole image it is given, so that a crop can be normalised as the whole
    1 mm CT would be (``normalize_like_pyradiomics``). The resampled image is
    f = (A_z (x) A_y (x) A_x) c on the output points inside the CT (c: cubic B-spline
    coefficients, mirror boundary, as ITK's BSplineDecompositionImageFilter; A: per-axis sampling
    matrices, exact because the grid keeps the CT's direction) and ``default_value`` outside, so
    sum f = c . (w_z (x) w_y (x) w_x) with w = A^T 1 and sum f^2 = c . (G_z (x) G_y (x) G_x) c with
    the banded G = A^T A: O(CT voxels), not O(grid voxels). Agrees with ITK's
    StatisticsImageFilter on the resampled image to ~1e-10 relative (ITK truncates its prefilter's
    initial sum at 1e-10; float32 output rounding averages out), far below what moves a float32
    normalised value.

    Args:
        ct: SimpleITK CT (HU).
        spacing_mm: the isotropic grid (``isotropic_grid``).
        default_value: HU of output points outside the CT (``resample_image``'s default).

    Returns:
        ImageStatistics (mean HU, sample sigma HU, voxel count of the whole isotropic grid).
    """
    import numpy as np
    import SimpleITK as sitk
    from scipy import ndimage

    size, spacing, origin, _ = isotropic_grid(ct, spacing_mm)
    scale, offset = _grid_to_ct_affine(ct, origin, spacing)
    n_in = ct.GetSize()
    samplings = [_axis_sampling(scale[a], offset[a], size[a], n_in[a]) for a in range(3)]
    n_inside = int(np.prod([s[0].sum() for s in samplings]))
    total = int(np.prod(size))
    (wx, wy, wz) = [s[1].sum(0) for s in samplings]
    gx, gy, gz = [s[1].T @ s[1] for s in samplings]
    # B-spline coefficients in place (z first over the volume, then y and x slice by slice), then
    # per slice u = G_y c G_x and sum f^2 = sum_z sum_z' G_z[z, z'] <u[z], c[z']> (|z - z'| <= 4)
    coeffs = sitk.GetArrayFromImage(ct).astype(np.float64)  # (z, y, x)
    ndimage.spline_filter1d(coeffs, 3, axis=0, output=coeffs, mode="mirror")
    for z in range(coeffs.shape[0]):
        ndimage.spline_filter(coeffs[z], 3, output=coeffs[z], mode="mirror")
    # (einsum's own loops, not BLAS: its threads on these small products oversubscribe the cores)
    s1, s2 = 0.0, 0.0
    for z in range(coeffs.shape[0]):
        s1 += wz[z] * float(np.einsum("y,yx,x->", wy, coeffs[z], wx))
        u = _banded_apply(gx, _banded_apply(gy, coeffs[z], 0), 1)
        for z2 in range(max(0, z - 4), min(coeffs.shape[0], z + 5)):
            if gz[z, z2] != 0.0:
                s2 += gz[z, z2] * float(np.einsum("yx,yx->", u, coeffs[z2]))
    outside = total - n_inside
    s1 += default_value * outside
    s2 += default_value ** 2 * outside
    mean = float(s1) / total
    variance = (s2 - s1 * s1 / total) / (total - 1) if total > 1 else 0.0
    return ImageStatistics(mean, float(np.sqrt(max(variance, 0.0))), total)


def image_statistics(image) -> ImageStatistics:
    """Mean and sample sigma of a SimpleITK image as ``SimpleITK.Normalize`` computes them."""
    import SimpleITK as sitk

    stats = sitk.StatisticsImageFilter()
    stats.Execute(image)
    return ImageStatistics(stats.GetMean(), stats.GetSigma(), int(image.GetNumberOfPixels()))


def normalize_like_pyradiomics(image, stats: ImageStatistics, scale: float = 1.0, outliers=None):
    """PyRadiomics' ``normalize`` of a whole image, applied to a crop of it with the whole's statistics.

    ``imageoperations.normalizeImage``: ``SimpleITK.Normalize`` (= ShiftScale with shift -mean and
    scale 1 / sigma, computed in double, cast to the image's pixel type), then outliers clipped at
    +-``outliers`` (``removeOutliers``), then multiplied by ``scale`` (``normalizeScale``). With
    ``stats`` of the whole image (``resampled_statistics``) the crop holds, voxel for voxel, the
    values the normalised whole image holds there; extract with ``normalize: false`` afterwards.

    Args:
        image: SimpleITK image (a crop of the image the statistics describe).
        stats: ImageStatistics of the whole image.
        scale: PyRadiomics ``normalizeScale``. outliers: PyRadiomics ``removeOutliers`` or None.

    Returns:
        SimpleITK float64 image (``SimpleITK.Normalize``'s output type).

    Raises:
        InputError: sigma not > 0 (a constant image cannot be normalised).
    """
    import SimpleITK as sitk

    if not stats.sigma > 0:
        raise InputError(f"normalisation: the image's standard deviation is {stats.sigma}; a constant "
                         "image cannot be normalised (set normalize: false).")
    out = sitk.ShiftScale(sitk.Cast(image, sitk.sitkFloat64), -stats.mean, 1.0 / stats.sigma)
    if outliers is not None:
        out = sitk.Clamp(out, sitk.sitkFloat64, -float(outliers), float(outliers))
    return out * scale
