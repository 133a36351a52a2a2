"""What the web app accepts as a case: uploads, the server-side data folder, PAT1 (no trame, no MRML).

A case is a CT (NRRD, NIfTI, MetaImage file or a DICOM series folder) and, optionally, its GTV:
a mask file on the CT's grid, an RTSTRUCT (with the ROI name) or a DICOM SEG. Reading goes through
``RadSurvLib.io`` (``read_image``, ``read_mask``, ``io.dicom.load_dicom_case``), so the app refuses
exactly what ``radsurv score`` refuses, with the same messages. Uploads are limited in size and
type before anything reads them; the data folder browser never leaves the folder it was given.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError

#: Largest upload accepted, bytes (a whole-thorax CT series is a few hundred MB).
MAX_UPLOAD_BYTES = 2 * 1024**3

#: Image file suffixes accepted for a CT or a mask (lower case).
IMAGE_SUFFIXES = (".nrrd", ".nhdr", ".nii", ".nii.gz", ".mha", ".mhd")

#: DICOM files: any ``.dcm`` / ``.ima`` file, or a file without suffix (scanners often write those).
DICOM_SUFFIXES = (".dcm", ".ima", "")


@dataclass
class Case:
    """A loaded case: ``ct`` (SimpleITK image, HU) and ``gtv`` (uint8 mask on the CT grid, 1 = GTV,
    or None when the GTV is to be delineated), ``name`` (shown in the app); for a CT read from a
    DICOM series, ``dicom_files`` (its slice files, z index 0 first) and ``dicom_uids`` (their SOP
    Instance UIDs, same order), empty otherwise: what "DICOM outputs" need."""

    ct: object
    gtv: object
    name: str
    dicom_files: tuple = ()
    dicom_uids: tuple = ()


def keep_dicom_files(case: Case, folder) -> Case:
    """``case`` with its DICOM slice files moved into ``folder`` (created; one file per slice, named
    by index): an upload's folder is removed after loading, the series must outlive it for "DICOM
    outputs". A case without DICOM files is returned as it is."""
    if not case.dicom_files:
        return case
    import shutil

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    kept = []
    for index, path in enumerate(case.dicom_files):
        target = folder / f"{index:05d}.dcm"
        shutil.move(str(path), target)
        kept.append(target)
    return Case(ct=case.ct, gtv=case.gtv, name=case.name, dicom_files=tuple(kept), dicom_uids=case.dicom_uids)


def suffix(name: str) -> str:
    """The file's image suffix in lower case (``.nii.gz`` counts as one)."""
    lower = name.lower()
    return ".nii.gz" if lower.endswith(".nii.gz") else Path(lower).suffix


def check_upload(name: str, size_bytes: int, max_bytes: int = MAX_UPLOAD_BYTES) -> None:
    """Refuse an uploaded file by type or size before it is written anywhere.

    Args:
        name: the file's name as the browser sent it (a relative path for a folder upload).
        size_bytes: its size, bytes.
        max_bytes: the limit, bytes.

    Raises:
        InputError: a type that is neither an image file nor DICOM, or a file over the limit.
    """
    kind = suffix(name)
    if kind not in IMAGE_SUFFIXES and kind not in DICOM_SUFFIXES:
        raise InputError(f"upload: {Path(name).name} is not an image RadSurv reads (NRRD, NIfTI, MetaImage "
                         f"or DICOM: {', '.join(s for s in IMAGE_SUFFIXES)}, .dcm).")
    if size_bytes > max_bytes:
        raise InputError(f"upload: {Path(name).name} is {size_bytes / 1e6:.0f} MB, more than the "
                         f"{max_bytes / 1e6:.0f} MB this server accepts.")
    if size_bytes == 0:
        raise InputError(f"upload: {Path(name).name} is empty (0 bytes).")


def safe_upload_path(folder, name: str) -> Path:
    """Where an uploaded file goes inside ``folder``: its relative path without ``..`` or a root.

    Raises:
        InputError: a name that would leave ``folder``.
    """
    parts = [p for p in Path(name.replace("\\", "/")).parts if p not in ("", ".", "/")]
    if not parts or ".." in parts:
        raise InputError(f"upload: {name!r} is not a plain file name.")
    return Path(folder).joinpath(*parts)


def resolve_in_data_folder(data_dir, relative: str) -> Path:
    """``relative`` inside the data folder, refusing anything that resolves outside it.

    Raises:
        InputError: no data folder was given (``--data``), the path leaves it or does not exist.
    """
    if data_dir is None:
        raise InputError("data: this server was started without a data folder (radsurv app --data DIR).")
    root = Path(data_dir).resolve()
    path = (root / (relative or ".")).resolve()
    if path != root and root not in path.parents:
        raise InputError(f"data: {relative!r} is outside the data folder.")
    if not path.exists():
        raise InputError(f"data: {relative!r} does not exist in the data folder.")
    return path


def list_data_folder(data_dir, relative: str = "") -> list[dict]:
    """Entries of a folder of the data folder, folders first: ``{"name", "path", "kind"}`` with kind
    ``"folder"``, ``"image"`` (an image file) or ``"dicom"`` (a ``.dcm`` file); other files are left out.

    Raises:
        InputError: as ``resolve_in_data_folder``; a file instead of a folder.
    """
    folder = resolve_in_data_folder(data_dir, relative)
    if not folder.is_dir():
        raise InputError(f"data: {relative!r} is a file, not a folder.")
    root = Path(data_dir).resolve()
    entries = []
    for child in sorted(folder.iterdir(), key=lambda p: (not p.is_dir(), p.name.lower())):
        if child.name.startswith("."):
            continue
        kind = "folder" if child.is_dir() else ("image" if suffix(child.name) in IMAGE_SUFFIXES else
                                                 "dicom" if suffix(child.name) in (".dcm", ".ima") else None)
        if kind:
            entries.append({"name": child.name, "path": str(child.relative_to(root)), "kind": kind})
    return entries


def read_case(ct, gtv=None, rtstruct=None, seg=None, roi=None, name: str | None = None) -> Case:
    """Read a CT and its optional GTV as ``radsurv score`` does.

    Args:
        ct: CT file (NRRD / NIfTI / MetaImage) or DICOM series folder.
        gtv: mask file on the CT's grid, or None.
        rtstruct, roi: RTSTRUCT file and the GTV's ROI name (DICOM CT only), or None.
        seg: DICOM SEG file (``roi``: its segment label when it holds several), or None.
        name: the case's name in the app (default: the CT's file or folder name).

    Returns:
        ``Case`` with ``gtv`` None when no GTV was given (and with the series' files and UIDs for a
        DICOM CT).

    Raises:
        InputError: anything ``io.read_image``, ``io.read_mask``, ``io.dicom.load_dicom_case`` or
            ``preprocessing.validate_inputs`` refuses (a non-image file, a CT not in HU, an empty
            GTV, a GTV on another grid, ...).
    """
    from ..io.images import read_image, read_mask
    from ..preprocessing import check_voxel_spacing, validate_inputs

    ct_path = Path(ct)
    label = name or ct_path.name
    series = None
    if ct_path.is_dir():
        from ..io.dicom import load_dicom_case, read_ct_series

        if rtstruct is None and seg is None:
            series = read_ct_series(ct_path)
            image, mask = series.image, None
        else:
            image, mask, series = load_dicom_case(ct_path, rtstruct=rtstruct, seg=seg, roi=roi)
    else:
        if rtstruct is not None or seg is not None:
            raise InputError("rtstruct: an RTSTRUCT or SEG needs the CT as a DICOM series folder.")
        image = read_image(ct_path, "ct")
        mask = read_mask(gtv, "gtv") if gtv is not None else None
    if mask is not None:
        validate_inputs(image, mask)
    else:
        check_voxel_spacing(image)
        check_hounsfield(image)
    if series is None:
        return Case(ct=image, gtv=mask, name=label)
    return Case(ct=image, gtv=mask, name=label, dicom_files=tuple(Path(f) for f in series.files),
                dicom_uids=tuple(series.sop_instance_uids))


def check_hounsfield(ct) -> None:
    """Refuse a CT whose intensities are not plausible as HU (the rule of ``validate_inputs``).

    Raises:
        InputError: NaN / inf voxels, or no air near -1000 HU / values outside the HU range.
    """
    import numpy as np
    import SimpleITK as sitk

    from ..preprocessing import HU_PLAUSIBLE_RANGE

    hu = sitk.GetArrayViewFromImage(ct)
    if not np.all(np.isfinite(hu)):
        raise InputError("ct: the image holds NaN or infinite values; it cannot be scored.")
    low, high = float(hu.min()), float(hu.max())
    if low < HU_PLAUSIBLE_RANGE[0] or high > HU_PLAUSIBLE_RANGE[1] or low > -500.0:
        raise InputError(f"ct: intensities {low:.0f}..{high:.0f} do not look like Hounsfield units (a chest CT "
                         "has air near -1000 HU). Convert the image to HU before scoring.")


def pat1_case() -> Case:
    """The bundled PAT1 sample (CT + GTV, ``resources.pat1_path``)."""
    from ..resources import pat1_path

    return read_case(pat1_path("image.nii.gz"), pat1_path("mask.nii.gz"), name="PAT1")


def classify_upload(folder) -> dict:
    """Sort the files of an upload folder into a case: ``{"ct": path, "gtv": path|None, "rtstruct":
    path|None, "seg": path|None}``. Image files: the first is the CT, a second is the GTV mask (a
    name with mask / gtv / seg / label marks the mask); DICOM files: the CT series is their folder,
    an RTSTRUCT / SEG file among them is the GTV.

    Raises:
        InputError: no image and no DICOM file, more than two image files.
    """
    from ..io.dicom import is_dicom_file

    folder = Path(folder)
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    images = [p for p in files if suffix(p.name) in IMAGE_SUFFIXES and not p.name.lower().endswith(".raw")]
    if images:
        if len(images) > 2:
            raise InputError(f"upload: {len(images)} image files; upload a CT and at most one GTV mask.")
        masks = [p for p in images if any(w in p.name.lower() for w in ("mask", "gtv", "seg", "label"))]
        ct = next((p for p in images if p not in masks), images[0])
        gtv = next((p for p in images if p != ct), None)
        return {"ct": ct, "gtv": gtv, "rtstruct": None, "seg": None}
    dicoms = [p for p in files if is_dicom_file(p)]
    if not dicoms:
        raise InputError("upload: no image file and no DICOM file among the uploaded files.")
    return _classify_dicom(folder, dicoms)


def _classify_dicom(folder: Path, dicoms: list) -> dict:
    """CT series folder and RTSTRUCT / SEG among uploaded DICOM files (moved out of the series folder)."""
    import pydicom

    found = {"ct": None, "gtv": None, "rtstruct": None, "seg": None}
    objects = folder / ".objects"
    for path in dicoms:
        modality = str(getattr(pydicom.dcmread(path, stop_before_pixels=True), "Modality", ""))
        if modality in ("RTSTRUCT", "SEG"):
            objects.mkdir(exist_ok=True)
            target = objects / path.name
            path.rename(target)
            found["rtstruct" if modality == "RTSTRUCT" else "seg"] = target
        else:
            found["ct"] = path.parent
    if found["ct"] is None:
        raise InputError("upload: the DICOM files hold no CT series (only RTSTRUCT / SEG).")
    return found
