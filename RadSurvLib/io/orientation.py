"""One canonical orientation for analysis, and the way back to the user's grid.

The same CT can be stored in many ways: slices head-to-feet or feet-to-head, rows and columns
mirrored (as NIfTI converters write RAS), axes in another order. Physically it is one image, but
the voxel array differs, and array-based steps (the wavelet filters, the model, Grad-CAM) would
give other numbers. So every analysis runs on the CT, the GTV and the lung mask brought to one
orientation, ``CANONICAL_ORIENTATION`` (LPS, as DICOM: the i axis towards the patient's left, j
towards posterior, k towards superior), with SimpleITK's ``DICOMOrient``: it permutes and flips
the axes to the nearest such orientation (no interpolation; an oblique CT keeps its small
rotation). Everything RadSurv writes on the CT grid is brought back with ``to_input_grid``: the
array permuted and flipped back, the geometry (size, spacing, origin, direction) copied exactly
from the user's CT, so results overlay the input as stored.

A direction matrix must be orthonormal (``check_orthonormal_direction``): a sheared or scaled one
(non-perpendicular axes) has voxels that are not the boxes spacing x spacing x spacing that every
volume and distance in RadSurv assumes.

Arrays are in SimpleITK's (z, y, x) order; geometry vectors in (x, y, z); direction matrices
row-major 3 x 3, their columns the axes' unit vectors in LPS (mm).
"""

from __future__ import annotations

from ..errors import input_error

#: The orientation of every analysis (DICOM letters: the direction each axis points towards).
CANONICAL_ORIENTATION = "LPS"

#: Largest entry of |D^T D - I| of an accepted direction matrix D (NIfTI stores it in float32: ~1e-7).
ORTHONORMAL_TOLERANCE = 1e-4


def direction_matrix(image):
    """The direction cosines of a 3D SimpleITK image as a 3 x 3 NumPy array (columns = axes i, j, k)."""
    import numpy as np

    return np.array(image.GetDirection(), dtype=float).reshape(3, 3)


def check_orthonormal_direction(image, what: str = "ct") -> None:
    """Refuse an image whose direction matrix is not orthonormal (sheared or scaled axes).

    Args:
        image: 3D SimpleITK image.
        what: the input's name in messages (``"ct"``, ``"gtv"``, ``"lung_mask"``: library
            parameters, named per front end by ``errors.translate``; any other text as it is).

    Raises:
        InputError (``OptionError`` for a library parameter): max |D^T D - I| above
            ``ORTHONORMAL_TOLERANCE``; the message gives the deviation and the angle between the axes.
    """
    _refuse_if_not_orthonormal(direction_matrix(image), what, "the image's direction matrix")


def check_nifti_sform(path, what: str = "ct") -> None:
    """Refuse a NIfTI-1 / NIfTI-2 file whose sform (used when ``sform_code`` > 0) has axes that are
    not perpendicular: ITK cannot represent it and silently reads the file with its qform instead
    (without the shear), or fails. Other files, and NIfTI files without an sform, pass.

    Args:
        path: ``.nii`` / ``.nii.gz`` file (gzip recognised by content), already checked complete
            by ``io.verify.verify_image_file``.
        what: the input's name in messages (as ``check_orthonormal_direction``).

    Raises:
        InputError (``OptionError`` for a library parameter): the sform's columns, scaled to unit
            length, deviate from an orthonormal matrix by more than ``ORTHONORMAL_TOLERANCE``.
    """
    import gzip
    import struct

    import numpy as np

    with open(path, "rb") as handle:
        gzipped = handle.read(2) == b"\x1f\x8b"
    with (gzip.open if gzipped else open)(path, "rb") as handle:
        header = handle.read(544)
    for endian in "<>":  # NIfTI-1 (348-byte header, float32 rows) or NIfTI-2 (540, float64)
        size = struct.unpack(endian + "i", header[:4])[0]
        if size == 348 and len(header) >= 348:
            code, rows = struct.unpack(endian + "h", header[254:256])[0], struct.unpack(endian + "12f", header[280:328])
            break
        if size == 540 and len(header) >= 540:
            code, rows = struct.unpack(endian + "i", header[348:352])[0], struct.unpack(endian + "12d", header[400:496])
            break
    else:
        return  # not a NIfTI header: verify_image_file / SimpleITK report it
    matrix = np.array(rows, dtype=float).reshape(3, 4)[:, :3]
    norms = np.linalg.norm(matrix, axis=0)
    if code <= 0 or not np.all(norms > 0):
        return  # no sform (the qform is a rotation), or a degenerate one that SimpleITK refuses
    _refuse_if_not_orthonormal(matrix / norms, what, "the file's NIfTI sform")


def _refuse_if_not_orthonormal(direction, what: str, source: str) -> None:
    """Raise the error of ``check_orthonormal_direction`` for a 3 x 3 direction (unit columns)."""
    import numpy as np

    deviation = float(np.abs(direction.T @ direction - np.eye(3)).max())
    if not deviation > ORTHONORMAL_TOLERANCE:  # NaN is refused too
        return
    norms = np.linalg.norm(direction, axis=0)
    unit = direction / np.where(norms > 0, norms, 1.0)
    tilt = max(float(np.degrees(np.arcsin(np.clip(abs(unit[:, a] @ unit[:, b]), 0.0, 1.0))))
               for a, b in ((0, 1), (0, 2), (1, 2)))  # how far from perpendicular two axes are
    raise input_error(what, f"{source} is not orthonormal (max |D^T D - I| = {deviation:.3g}, tolerance "
                            f"{ORTHONORMAL_TOLERANCE:g}; two of its axes are {tilt:.2f} degrees from "
                            "perpendicular): its voxels are sheared or scaled, "
                            "so volumes and distances would be wrong. Resample the image onto a grid with "
                            "perpendicular axes (e.g. a gantry-tilt correction when converting the DICOM, or "
                            "Slicer's Resample Scalar Volume), or fix the header's direction.")


def orientation_of(image) -> str:
    """The nearest DICOM orientation letters of an image's axes (e.g. ``"LPS"``, ``"RAS"``, ``"LPI"``)."""
    import SimpleITK as sitk

    return sitk.DICOMOrientImageFilter.GetOrientationFromDirectionCosines(image.GetDirection())


def to_canonical(image):
    """The image with its axes permuted and flipped to ``CANONICAL_ORIENTATION`` (the same physical
    image: voxel values moved, not interpolated; origin and direction adjusted). An image already
    in that orientation is returned as it is (no copy).

    Args:
        image: 3D SimpleITK image (any pixel type) with an orthonormal direction.

    Returns:
        SimpleITK image; its size and spacing are the input's, permuted.
    """
    import SimpleITK as sitk

    if orientation_of(image) == CANONICAL_ORIENTATION:
        return image
    return sitk.DICOMOrient(image, CANONICAL_ORIENTATION)


def to_input_grid(image, geometry: dict):
    """An image on the canonical grid of a CT, brought back onto the CT's own grid.

    The inverse of ``to_canonical`` for the CT whose geometry is ``geometry``: the array is
    permuted and flipped back, and size, spacing, origin and direction are copied exactly from
    ``geometry`` (the user's CT as stored, so the result overlays it in any viewer).

    Args:
        image: 3D SimpleITK image on ``to_canonical(ct)``'s grid (e.g. rings, a voxel map, the heatmap).
        geometry: the CT's ``io.images.geometry`` dict (size, spacing_mm, origin_mm, direction).

    Returns:
        SimpleITK image of ``image``'s pixel type on the CT's grid; ``image`` itself when the CT
        was already canonical.

    Raises:
        ValueError: ``image`` is not on the canonical grid of that CT (a programming error).
    """
    import numpy as np
    import SimpleITK as sitk

    signed = _signed_permutation(np.array(geometry["direction"], dtype=float).reshape(3, 3), direction_matrix(image))
    if _same_grid(image, geometry):
        return image
    axis = np.argmax(np.abs(signed), axis=1)  # input axis j is canonical axis axis[j]
    flipped = signed[np.arange(3), axis] < 0
    size = np.array(image.GetSize())[axis]
    if list(size) != list(geometry["size"]) or not _same_first_voxel(image, geometry, axis, flipped):
        raise ValueError(f"the image (size {image.GetSize()}, origin {image.GetOrigin()}) is not on the "
                         f"canonical grid of the CT {geometry}")
    array = sitk.GetArrayViewFromImage(image)
    array = np.flip(array, axis=tuple(2 - int(k) for k in axis[flipped]))
    array = np.transpose(array, [2 - int(axis[2 - a]) for a in range(3)])
    restored = sitk.GetImageFromArray(np.ascontiguousarray(array))
    restored.SetSpacing(geometry["spacing_mm"])
    restored.SetOrigin(geometry["origin_mm"])
    restored.SetDirection(geometry["direction"])
    return restored


def _signed_permutation(input_direction, canonical_direction):
    """M (3 x 3, entries 0 / +-1) with canonical_direction = input_direction @ M: canonical axis k
    is input axis j (flipped where M[j, k] = -1)."""
    import numpy as np

    signed = np.rint(input_direction.T @ canonical_direction)
    if not (np.all(np.abs(signed).sum(axis=0) == 1) and np.all(np.abs(signed).sum(axis=1) == 1)
            and np.allclose(input_direction @ signed, canonical_direction, atol=1e-6)):
        raise ValueError("the image's axes are not a permutation of the CT's axes")
    return signed


def _same_grid(image, geometry: dict) -> bool:
    """True when ``image`` has exactly the geometry ``geometry`` (the CT was canonical already)."""
    return (list(image.GetSize()) == list(geometry["size"])
            and list(image.GetSpacing()) == list(geometry["spacing_mm"])
            and list(image.GetOrigin()) == list(geometry["origin_mm"])
            and list(image.GetDirection()) == list(geometry["direction"]))


def _same_first_voxel(image, geometry: dict, axis, flipped, tolerance_mm: float = 1e-3) -> bool:
    """True when the CT's first voxel (index 0, 0, 0) is where ``image`` puts it."""
    import numpy as np

    index = [0, 0, 0]
    for j in range(3):
        index[int(axis[j])] = int(geometry["size"][j]) - 1 if flipped[j] else 0
    point = np.array(image.TransformIndexToPhysicalPoint(index))
    return bool(np.all(np.abs(point - np.array(geometry["origin_mm"])) <= tolerance_mm))
