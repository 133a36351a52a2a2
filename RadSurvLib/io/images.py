"""Reading and writing images, checksums and geometry checks.

Images are SimpleITK images throughout RadSurv (physical geometry: origin and voxel spacing in
mm, direction cosines). NumPy arrays taken from them are in SimpleITK's (z, y, x) axis order.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from ..errors import InputError

#: Image file suffixes RadSurv reads (NRRD and NIfTI).
IMAGE_SUFFIXES = (".nrrd", ".nhdr", ".nii", ".nii.gz", ".mha", ".mhd")

#: Default tolerances for "same physical space": origin in mm, spacing relative, direction absolute.
GEOMETRY_TOLERANCE = {"origin_mm": 1e-3, "spacing_rel": 1e-4, "direction": 1e-4}


def read_image(path, what: str = "image"):
    """Read an NRRD / NIfTI image with SimpleITK.

    Args:
        path: file path (``.nrrd``, ``.nhdr``, ``.nii``, ``.nii.gz``, ``.mha``, ``.mhd``).
        what: name of the input used in error messages, e.g. ``"--ct"``.

    Returns:
        ``SimpleITK.Image`` (3D).

    Raises:
        InputError: the file does not exist, has an unsupported suffix, cannot be read, or is not 3D.
    """
    import SimpleITK as sitk

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{what}: file not found: {path}. Check the path.")
    if not str(path).lower().endswith(IMAGE_SUFFIXES):
        raise InputError(
            f"{what}: {path.name} is not an NRRD or NIfTI file "
            f"(expected one of {', '.join(IMAGE_SUFFIXES)})."
        )
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as exc:  # SimpleITK reports read failures as RuntimeError
        first = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unknown reason"
        raise InputError(f"{what}: cannot read {path}: {first}") from None
    if image.GetDimension() != 3:
        raise InputError(f"{what}: {path.name} has {image.GetDimension()} dimensions; a 3D volume is needed.")
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise InputError(f"{what}: {path.name} has several components per voxel; a scalar volume is needed.")
    return image


def write_image(image, path, compress: bool = True) -> Path:
    """Write a SimpleITK image (format from the suffix, e.g. ``.nrrd``); returns the path."""
    import SimpleITK as sitk

    path = Path(path)
    sitk.WriteImage(image, str(path), compress)
    return path


def sha256_file(path, chunk_bytes: int = 1 << 20) -> str:
    """SHA-256 hex digest of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk_bytes), b""):
            digest.update(block)
    return digest.hexdigest()


def geometry(image) -> dict:
    """Geometry of an image as plain lists: size (x, y, z voxels), spacing (mm), origin (mm), direction."""
    return {
        "size": list(image.GetSize()),
        "spacing_mm": [float(s) for s in image.GetSpacing()],
        "origin_mm": [float(o) for o in image.GetOrigin()],
        "direction": [float(d) for d in image.GetDirection()],
    }


def check_same_geometry(reference, other, reference_name: str = "CT", other_name: str = "GTV",
                        tolerance: dict | None = None) -> None:
    """Check that two images share one voxel grid in physical space.

    Tolerances (``GEOMETRY_TOLERANCE`` by default): origin within 1e-3 mm, spacing within 1e-4
    relative, direction cosines within 1e-4, identical size.

    Raises:
        InputError: naming the first quantity that differs and both values, with how to fix it.
    """
    import numpy as np

    tol = {**GEOMETRY_TOLERANCE, **(tolerance or {})}
    fix = (f" Resample the {other_name} onto the {reference_name} grid (e.g. in Slicer, export the "
           f"segment with the {reference_name} as reference geometry).")
    if reference.GetSize() != other.GetSize():
        raise InputError(f"{other_name} is not on the {reference_name} grid: size {other.GetSize()} voxels "
                         f"vs {reference.GetSize()}." + fix)
    spacing_r, spacing_o = np.array(reference.GetSpacing()), np.array(other.GetSpacing())
    if np.any(np.abs(spacing_r - spacing_o) > tol["spacing_rel"] * spacing_r):
        raise InputError(f"{other_name} is not on the {reference_name} grid: voxel spacing "
                         f"{tuple(spacing_o)} mm vs {tuple(spacing_r)} mm." + fix)
    origin_r, origin_o = np.array(reference.GetOrigin()), np.array(other.GetOrigin())
    if np.any(np.abs(origin_r - origin_o) > tol["origin_mm"]):
        raise InputError(f"{other_name} is not on the {reference_name} grid: origin {tuple(origin_o)} mm "
                         f"vs {tuple(origin_r)} mm (tolerance {tol['origin_mm']} mm)." + fix)
    direction_r, direction_o = np.array(reference.GetDirection()), np.array(other.GetDirection())
    if np.any(np.abs(direction_r - direction_o) > tol["direction"]):
        raise InputError(f"{other_name} is not on the {reference_name} grid: direction cosines differ "
                         f"({tuple(direction_o)} vs {tuple(direction_r)})." + fix)
