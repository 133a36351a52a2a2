"""Model input: the GTV bounding-box crop of a 1 mm CT, resized to 64^3 and z-scored.

Source: Liu et al. 2025, "Intratumoral ROIs were resized to 64x64x64 via linear interpolation and
normalized via Z score transformation". RadSurv crops the GTV bounding box plus a margin (mm) in
physical space, clips it to the image, and resamples that box onto a ``crop_size``^3 grid with
linear interpolation (anisotropic spacing = box extent / crop_size per axis, the CT's direction).
The z-score uses a FIXED mean and standard deviation (training-set statistics stored in the model
bundle), so absolute HU information is kept. The same function is used in training and inference.
"""

from __future__ import annotations

from ..errors import InputError


def gtv_bounding_box(gtv):
    """Voxel index bounding box of the non-zero voxels of ``gtv``.

    Returns:
        ``(start, end)``: inclusive (x, y, z) voxel indices.

    Raises:
        InputError: the mask has no non-zero voxel.
    """
    import SimpleITK as sitk

    stats = sitk.LabelShapeStatisticsImageFilter()
    stats.ComputePerimeterOff()  # only the bounding box is needed; the perimeter is slow
    stats.Execute(sitk.Cast(gtv != 0, sitk.sitkUInt8))
    if not stats.HasLabel(1):
        raise InputError("GTV: the mask is empty (no non-zero voxel); draw or select the tumour segment.")
    box = stats.GetBoundingBox(1)  # (x0, y0, z0, nx, ny, nz)
    start = [int(v) for v in box[:3]]
    return start, [s + int(n) - 1 for s, n in zip(start, box[3:])]


def crop_geometry(image, gtv, crop_size: int = 64, margin_mm: float = 5.0) -> dict:
    """Geometry of the ``crop_size``^3 grid that covers the GTV bounding box plus ``margin_mm``.

    The box is grown by ``margin_mm`` on every side, clipped to the image, and runs between voxel
    edges; the crop grid divides it into ``crop_size`` voxels per axis.

    Returns:
        dict with ``size`` (x, y, z voxels), ``spacing`` (mm), ``origin`` (mm, centre of the first
        crop voxel), ``direction`` (row-major 3x3 cosines, the image's).

    Raises:
        InputError: empty GTV.
    """
    import numpy as np

    start, end = gtv_bounding_box(gtv)
    spacing = np.array(image.GetSpacing(), dtype=float)
    grow = np.ceil(float(margin_mm) / spacing).astype(int)
    size = np.array(image.GetSize())
    lo = np.maximum(np.array(start) - grow, 0)
    hi = np.minimum(np.array(end) + grow, size - 1)
    edge_lo = lo - 0.5  # continuous index of the box's lower voxel edge
    extent_index = (hi - lo + 1).astype(float)
    out_spacing = extent_index * spacing / crop_size
    direction = np.array(image.GetDirection(), dtype=float).reshape(3, 3)
    corner = np.array(image.TransformContinuousIndexToPhysicalPoint([float(v) for v in edge_lo]))
    origin = corner + direction @ (out_spacing / 2.0)
    return {"size": [int(crop_size)] * 3, "spacing": [float(v) for v in out_spacing],
            "origin": [float(v) for v in origin], "direction": [float(v) for v in direction.ravel()]}


def geometry_image(geometry: dict, value: float = 0.0):
    """An empty float32 SimpleITK image on the grid described by ``geometry`` (see ``crop_geometry``)."""
    import SimpleITK as sitk

    image = sitk.Image([int(v) for v in geometry["size"]], sitk.sitkFloat32)
    image.SetSpacing(geometry["spacing"])
    image.SetOrigin(geometry["origin"])
    image.SetDirection(geometry["direction"])
    if value:
        image += value
    return image


def make_model_input(ct_1mm, gtv_1mm, crop_size: int = 64, margin_mm: float = 5.0,
                     hu_clip=(-1000.0, 400.0), norm_mean: float = 0.0, norm_std: float = 1.0):
    """Crop, resize and normalise a CT around its GTV for the 3D SE-ResNet.

    Args:
        ct_1mm: SimpleITK CT on the 1 mm isotropic grid, HU (any pixel type; read as float32).
        gtv_1mm: SimpleITK GTV mask (non-zero = GTV) on the same grid.
        crop_size: voxels per axis of the model input (Liu et al.: 64).
        margin_mm: margin added around the GTV bounding box, mm.
        hu_clip: (low, high) HU window applied before normalisation.
        norm_mean, norm_std: fixed z-score statistics in HU (from the bundle's training set).

    Returns:
        ``(tensor, geometry)``: float32 torch tensor ``[1, 1, z, y, x]`` (``crop_size``^3) and the
        crop grid geometry dict (see ``crop_geometry``), used to map Grad-CAM back.

    Raises:
        InputError: CT and GTV on different grids, empty GTV, or ``norm_std <= 0``.
    """
    import numpy as np
    import SimpleITK as sitk
    import torch

    from ..io.images import check_same_geometry

    check_same_geometry(ct_1mm, gtv_1mm, "CT (1 mm)", "GTV (1 mm)")
    if not norm_std > 0:
        raise InputError(f"model preprocessing: norm_std must be > 0 HU, got {norm_std}; check the bundle.")
    geometry = crop_geometry(ct_1mm, gtv_1mm, crop_size, margin_mm)
    resampler = sitk.ResampleImageFilter()
    resampler.SetReferenceImage(geometry_image(geometry))
    resampler.SetInterpolator(sitk.sitkLinear)
    resampler.SetDefaultPixelValue(float(hu_clip[0]))
    resampler.SetOutputPixelType(sitk.sitkFloat32)
    crop = sitk.GetArrayFromImage(resampler.Execute(sitk.Cast(ct_1mm, sitk.sitkFloat32)))
    crop = (np.clip(crop, hu_clip[0], hu_clip[1]) - float(norm_mean)) / float(norm_std)
    tensor = torch.from_numpy(np.ascontiguousarray(crop, dtype=np.float32))[None, None]
    return tensor, geometry
