"""Reading and writing images, checksums and geometry checks.

Images are SimpleITK images throughout RadSurv (physical geometry: origin and voxel spacing in
mm, direction cosines). NumPy arrays taken from them are in SimpleITK's (z, y, x) axis order.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from ..errors import InputError, input_error, parameter

#: Image file suffixes RadSurv reads (NRRD, NIfTI and MetaImage).
IMAGE_SUFFIXES = (".nrrd", ".nhdr", ".nii", ".nii.gz", ".mha", ".mhd")

#: Default tolerances for "same physical space": origin in mm, spacing relative, direction absolute.
GEOMETRY_TOLERANCE = {"origin_mm": 1e-3, "spacing_rel": 1e-4, "direction": 1e-4}


def read_image(path, what: str = "image"):
    """Read an NRRD / NIfTI / MetaImage image with SimpleITK, verified complete first.

    SimpleITK reads a truncated file with zeros for the missing voxels; ``io.verify.verify_image_file``
    therefore checks the file against its own header (data bytes, gzip stream ended) before reading.

    Args:
        path: file path (``.nrrd``, ``.nhdr``, ``.nii``, ``.nii.gz``, ``.mha``, ``.mhd``).
        what: name of the input used in error messages, e.g. ``"--ct"``.

    Returns:
        ``SimpleITK.Image`` (3D).

    Raises:
        InputError: the file does not exist, is a folder, is empty, truncated or corrupt (see
            ``verify_image_file``), has an unsupported suffix, cannot be read, is not 3D, or its
            direction matrix (or a NIfTI file's sform) is not orthonormal
            (``io.orientation.check_orthonormal_direction``, ``check_nifti_sform``).
    """
    import SimpleITK as sitk

    from .orientation import check_nifti_sform, check_orthonormal_direction
    from .verify import verify_image_file

    path = Path(path)
    if not path.exists():
        raise InputError(f"{what}: file not found: {path}. Check the path.")
    verify_image_file(path, what)
    if not str(path).lower().endswith(IMAGE_SUFFIXES):
        raise InputError(
            f"{what}: {path.name} is not an NRRD, NIfTI or MetaImage file "
            f"(expected one of {', '.join(IMAGE_SUFFIXES)})."
        )
    if str(path).lower().endswith((".nii", ".nii.gz")):
        check_nifti_sform(path, what)
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as exc:  # SimpleITK reports read failures as RuntimeError
        first = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unknown reason"
        raise InputError(f"{what}: cannot read {path}: {first}") from None
    if image.GetDimension() != 3:
        raise InputError(f"{what}: {path.name} has {image.GetDimension()} dimensions; a 3D volume is needed.")
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise InputError(f"{what}: {path.name} has several components per voxel; a scalar volume is needed.")
    check_orthonormal_direction(image, what)
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
        InputError: naming the first quantity that differs and both values (plain numbers), with how
            to fix it; an ``OptionError`` (see ``input_error``) when the names are library parameters.
    """
    import numpy as np

    tol = {**GEOMETRY_TOLERANCE, **(tolerance or {})}
    fix = (f" Resample the {parameter(other_name)} onto the {parameter(reference_name)} grid (e.g. in "
           f"Slicer, export the segment with the {parameter(reference_name)} as reference geometry).")
    where = f"not on the {parameter(reference_name)} grid:"
    if reference.GetSize() != other.GetSize():
        raise input_error(other_name, f"{where} size {_numbers(other.GetSize())} voxels vs "
                                      f"{_numbers(reference.GetSize())}." + fix)
    spacing_r, spacing_o = np.array(reference.GetSpacing()), np.array(other.GetSpacing())
    if np.any(np.abs(spacing_r - spacing_o) > tol["spacing_rel"] * spacing_r):
        raise input_error(other_name, f"{where} voxel spacing {_numbers(spacing_o)} mm vs "
                                      f"{_numbers(spacing_r)} mm." + fix)
    origin_r, origin_o = np.array(reference.GetOrigin()), np.array(other.GetOrigin())
    if np.any(np.abs(origin_r - origin_o) > tol["origin_mm"]):
        raise input_error(other_name, f"{where} origin {_numbers(origin_o)} mm vs {_numbers(origin_r)} mm "
                                      f"(tolerance {tol['origin_mm']:g} mm)." + fix)
    direction_r, direction_o = np.array(reference.GetDirection()), np.array(other.GetDirection())
    if np.any(np.abs(direction_r - direction_o) > tol["direction"]):
        raise input_error(other_name, f"{where} direction cosines differ ({_numbers(direction_o)} vs "
                                      f"{_numbers(direction_r)})." + fix)


def _numbers(values) -> str:
    """A vector for messages as plain numbers, "(0.977, 0.977, 3)", never ``np.float64(...)``."""
    return "(" + ", ".join(f"{float(v):.6g}" for v in values) + ")"


#: A labelmap with more distinct non-zero values than this is taken for an intensity image (e.g. the CT).
MAX_MASK_LABELS = 255


def _describe(source) -> str:
    """How a mask problem names the input after its parameter name: "the file X" or "the image"."""
    return f"the file {source}" if isinstance(source, (str, os.PathLike)) else "the image"


#: Voxels per block in the label scans (bounded temporary memory on large images).
_CHUNK_VOXELS = 1 << 22


def _whole_numbers(values) -> bool:
    """True when every value of a NumPy array is a whole number (integer dtypes trivially)."""
    import numpy as np

    if not np.issubdtype(values.dtype, np.floating):
        return True
    flat = values.ravel()
    return all(np.array_equal(np.rint(flat[i:i + _CHUNK_VOXELS]), flat[i:i + _CHUNK_VOXELS])
               for i in range(0, flat.size, _CHUNK_VOXELS))


def _label_counts(values):
    """{label: voxel count} of the non-zero values of an array of whole numbers (any dtype)."""
    import numpy as np

    flat = np.asarray(values).ravel()
    chunk = _CHUNK_VOXELS
    high = float(flat.max()) if flat.size else 0.0
    if flat.size and float(flat.min()) >= 0 and high < 1 << 16 and _whole_numbers(flat):
        # O(n) in chunks: labelmaps hold small labels; bincount would copy the whole array to int64.
        counts = np.zeros(int(high) + 1, dtype=np.int64)
        for start in range(0, flat.size, chunk):
            counts += np.bincount(flat[start:start + chunk].astype(np.int64), minlength=counts.size)
        labels = np.flatnonzero(counts)
        pairs = zip(labels.tolist(), counts[labels].tolist())
    else:
        labels, counts = np.unique(flat, return_counts=True)
        pairs = zip(labels.tolist(), counts.tolist())
    return {(int(v) if float(v).is_integer() else float(v)): int(c) for v, c in pairs if v != 0}


def _label_list(counts: dict, limit: int = 10) -> str:
    labels = [str(label) for label in list(counts)[:limit]]
    return ", ".join(labels) + (", ..." if len(counts) > limit else "")


def _format_labels(counts: dict, limit: int = 10) -> str:
    shown = [f"{label} ({count:,} voxels)" for label, count in list(counts.items())[:limit]]
    more = f" and {len(counts) - limit} more" if len(counts) > limit else ""
    return ", ".join(shown) + more


def binary_mask(mask):
    """A uint8 0/1 copy of a mask (non-zero = 1), keeping its geometry (SimpleITK image in, out)."""
    import SimpleITK as sitk

    return sitk.Cast(sitk.NotEqual(mask, 0), sitk.sitkUInt8)


def read_mask(source, what: str = "gtv", label: int | None = None):
    """Read a GTV labelmap (a file or a SimpleITK image) and return it as a binary mask.

    A mask that holds one non-zero label is taken whole. A mask with several non-zero labels is
    refused unless ``label`` chooses one: merging labels silently changes the GTV. Values that
    cannot be a labelmap are refused: NaN, non-integer values (a probability map), negative values
    or more than ``MAX_MASK_LABELS`` distinct values (an intensity image, e.g. the CT given as the mask).

    Args:
        source: mask file (see ``read_image``) or SimpleITK image; 0 = background.
        what: name of the input in messages, in the library's terms (``"gtv"``, the parameter of
            ``pipeline.score_case``; any other text, e.g. ``"GTV mask"``, is used as it is).
        label: the GTV's label value (the option ``gtv_label``); None takes the only non-zero label.

    Returns:
        SimpleITK uint8 image on the input's grid, 1 = GTV, 0 elsewhere; arrays are (z, y, x).

    Raises:
        InputError: the file cannot be read (see ``read_image``), the values are not a labelmap,
            several labels and none chosen (the message lists labels and voxel counts and names
            ``gtv_label``), a 3D Slicer ``.seg.nrrd`` whose GTV segment shares its name with another
            (``segments.check_slicer_segment``), or ``label`` is not in the mask (an ``OptionError`` on ``gtv_label``).
    """
    import numpy as np
    import SimpleITK as sitk

    from .segments import check_slicer_segment

    name = _describe(source)
    if isinstance(source, (str, os.PathLike)):
        image = read_image(source, what)
    elif isinstance(source, sitk.Image):
        image = source
    else:
        raise input_error(what, f"expected a file path or a SimpleITK image, got {type(source).__name__}.")
    values = sitk.GetArrayViewFromImage(image)
    not_a_labelmap = "not a labelmap (0 = background, 1 = GTV). Give the GTV's mask file."
    if not np.all(np.isfinite(values)):
        raise input_error(what, f"{name} holds NaN or infinite values: {not_a_labelmap}")
    if not _whole_numbers(values):
        raise input_error(what, f"{name} holds non-integer values: it is a probability map, "
                                f"{not_a_labelmap} Threshold it first (e.g. at 0.5).")
    low = float(values.min()) if values.size else 0.0
    if low < 0:
        raise input_error(what, f"{name} holds negative values (down to {low:g}): it looks like an "
                                f"intensity image (the CT given as the mask?), {not_a_labelmap}")
    counts = _label_counts(values)
    if len(counts) > MAX_MASK_LABELS:
        raise input_error(what, f"{name} holds {len(counts):,} distinct values: it looks like an intensity "
                                f"image (the CT given as the mask?), {not_a_labelmap}")
    check_slicer_segment(image, counts, label, what, name)  # a .seg.nrrd: two segments of one name
    if label is None:
        if len(counts) > 1:
            raise input_error(what, f"{name} holds {len(counts)} labels: {_format_labels(counts)}. Set "
                                    f"[[gtv_label]] to the GTV's label (one of {_label_list(counts)}).")
        chosen = values != 0
    else:
        if isinstance(label, bool) or not float(label).is_integer():
            raise input_error("gtv_label", f"must be a whole number (a label of the mask), not {label!r}.")
        label = int(label)
        if label not in counts:
            present = _format_labels(counts) if counts else "none (the mask is empty)"
            raise input_error("gtv_label", f"{label} is not a label of {parameter(what)} ({name}); its "
                                           f"labels are: {present}. Choose one of them.")
        chosen = values == label
    mask = sitk.GetImageFromArray(chosen.astype(np.uint8))
    mask.CopyInformation(image)
    return mask
