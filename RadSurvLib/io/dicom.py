"""DICOM inputs: a CT series, an ROI of an RTSTRUCT or a segment of a DICOM SEG, as SimpleITK images.

The CT series is read with SimpleITK's ``ImageSeriesReader`` (GDCM), which sorts the slices along
the slice normal and applies RescaleSlope / RescaleIntercept, so voxel values are HU. Headers are
read with pydicom (MIT) to check the series before it is used:

- one series in the folder (or the one asked for by SeriesInstanceUID),
- even slice spacing (a missing slice shows as a gap twice the others),
- an RTSTRUCT / SEG that references this series (FrameOfReferenceUID, SeriesInstanceUID and,
  where given, the SOPInstanceUIDs of the contoured slices).

RTSTRUCT contours (CLOSED_PLANAR polygons in patient coordinates, mm) are rasterised onto the CT
grid with the voxel-centre rule: a voxel belongs to the ROI when its centre lies inside the polygon
of its slice; several polygons on one slice combine by the even-odd rule (a polygon inside another
is a hole), as DICOM PS3.3 C.8.8.6 allows. Polygon containment uses ``matplotlib.path.Path``.

DICOM SEG is read with highdicom (MIT) when it is installed (``pip install highdicom``).

An ROI or segment is chosen by name; a name that two of them share is refused, listing both
(``segments.refuse_shared_name``): taking one of them would be a silent guess.

Every problem raises ``InputError`` naming the file or folder and what is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError, input_error
from .segments import Structure, refuse_shared_name, shared_name

#: Largest allowed deviation of a slice gap from the median gap, as a fraction of the median.
SLICE_GAP_TOLERANCE = 0.05

#: In-plane shift between the first and the last slice (in pixel spacings) above which a series counts
#: as gantry-tilted (``_refuse_tilt``); below it, rounding of the positions in the headers.
TILT_TOLERANCE = 0.1

#: Largest allowed distance of a contour's plane from the nearest CT slice centre, in slices.
CONTOUR_PLANE_TOLERANCE = 0.25


@dataclass
class CTSeries:
    """A CT series read from DICOM.

    Attributes:
        image: SimpleITK image in HU, (x, y, z) size, spacing in mm; NumPy views are (z, y, x).
        folder: the folder it was read from.
        files: the slice files in slice order (z index 0 first).
        series_uid: SeriesInstanceUID; frame_of_reference_uid: FrameOfReferenceUID.
        sop_instance_uids: SOPInstanceUID of each slice, in slice order.
        patient_id: PatientID of the series ("" when absent).
        gtv_input: the input the GTV was read from with the series (``"rtstruct"`` or ``"seg"``, set
            by ``load_dicom_case``; "" when the GTV is a separate mask file): the name the pipeline's
            messages about the GTV (e.g. stray paint) give it.
    """

    image: object
    folder: Path
    files: list
    series_uid: str
    frame_of_reference_uid: str
    sop_instance_uids: list = field(default_factory=list)
    patient_id: str = ""
    gtv_input: str = ""

    def provenance(self) -> dict:
        """The series as ``result.json["case"]["ct"]`` records it: its folder, UIDs and slice count
        (``pipeline.score_case`` adds the voxels' SHA-256)."""
        return {"path": str(Path(self.folder).resolve()),
                "dicom": {"series_instance_uid": self.series_uid,
                          "frame_of_reference_uid": self.frame_of_reference_uid,
                          "slices": len(self.files)}}


def _require_pydicom():
    try:
        import pydicom
    except ImportError:  # pragma: no cover - pydicom is a dependency of radsurv
        raise InputError("DICOM input needs pydicom: pip install pydicom") from None
    return pydicom


def read_ct_series(folder, series_uid: str | None = None, what: str = "ct") -> CTSeries:
    """Read a DICOM CT series into a SimpleITK image in HU and check that it is complete.

    Args:
        folder: folder holding the series' files (other files, e.g. an RTSTRUCT, may lie there too).
        series_uid: SeriesInstanceUID to read when the folder holds several series.
        what: name of the input in error messages.

    Returns:
        ``CTSeries``.

    Raises:
        InputError: the folder holds no DICOM file (the message says what it holds), no DICOM
            series, several series and none chosen, a DICOM file that cannot be read (a truncated
            slice, which GDCM would leave out of the series silently), a slice without
            position, duplicate slice positions, uneven slice spacing (missing slices) — the
            message gives the positions (mm) around the gap — or slices not stacked along their
            normal (gantry tilt: the message gives the angle).
    """
    import numpy as np
    import SimpleITK as sitk

    pydicom = _require_pydicom()
    folder = Path(folder)
    if not folder.is_dir():
        raise input_error(what, f"{folder} is not a folder of DICOM files.")
    reader = sitk.ImageSeriesReader()
    series_ids = _series_ids(folder)
    if not series_ids:
        raise input_error(what, f"{_no_series_reason(folder)} Give the folder of the CT's DICOM slices, "
                                "or a CT file (NRRD / NIfTI) with its GTV mask file.")
    if series_uid is None:
        if len(series_ids) > 1:
            raise input_error(what, f"{folder} holds {len(series_ids)} DICOM series "
                                    f"({', '.join(series_ids)}); give the CT series' folder alone.")
        series_uid = series_ids[0]
    elif series_uid not in series_ids:
        raise input_error(what, f"series {series_uid} is not in {folder} (found {', '.join(series_ids)}).")
    files = list(reader.GetGDCMSeriesFileNames(str(folder), series_uid))
    _check_left_out(folder, files, series_uid, what)

    headers = [pydicom.dcmread(f, stop_before_pixels=True) for f in files]
    first = headers[0]
    for name in ("ImagePositionPatient", "ImageOrientationPatient"):
        missing = [Path(f).name for f, h in zip(files, headers) if name not in h]
        if missing:
            raise input_error(what, f"{missing[0]} in {folder} has no {name}; cannot place the slices.")
    modality = str(first.get("Modality", ""))
    if modality and modality != "CT":
        raise input_error(what, f"the series in {folder} is {modality}, not CT.")
    orientation = np.array([float(v) for v in first.ImageOrientationPatient])
    normal = np.cross(orientation[:3], orientation[3:])
    positions = np.array([float(np.dot(normal, [float(v) for v in h.ImagePositionPatient])) for h in headers])
    order = np.argsort(positions, kind="stable")
    files = [files[i] for i in order]
    headers = [headers[i] for i in order]
    positions = positions[order]
    if len(files) > 1:
        gaps = np.diff(positions)
        if np.any(gaps < 1e-3):
            k = int(np.argmin(gaps))
            raise input_error(what, f"two slices in {folder} share the position {positions[k]:.2f} mm "
                                    f"({Path(files[k]).name}, {Path(files[k + 1]).name}); remove the duplicate.")
        median = float(np.median(gaps))
        bad = np.flatnonzero(np.abs(gaps - median) > SLICE_GAP_TOLERANCE * median)
        if bad.size:
            k = int(bad[0])
            raise input_error(
                what, f"uneven slice spacing in {folder}: {gaps[k]:.2f} mm between the slices at "
                f"{positions[k]:.2f} and {positions[k + 1]:.2f} mm, {median:.2f} mm elsewhere "
                f"({bad.size} uneven gap(s)); the series has missing slices.")
        _refuse_tilt(headers, orientation, normal, folder, what)

    reader.SetFileNames(files)
    try:
        image = reader.Execute()
    except RuntimeError as exc:
        raise input_error(what, f"cannot read the DICOM series in {folder}: "
                                f"{str(exc).strip().splitlines()[-1]}") from None
    return CTSeries(image=image, folder=folder, files=files, series_uid=str(series_uid),
                    frame_of_reference_uid=str(first.get("FrameOfReferenceUID", "")),
                    sop_instance_uids=[str(h.SOPInstanceUID) for h in headers],
                    patient_id=str(first.get("PatientID", "") or ""))


def _refuse_tilt(headers, orientation, normal, folder: Path, what: str) -> None:
    """Refuse slices not stacked along their normal (a gantry-tilted or sheared acquisition): read as a
    regular grid, the CT would be sheared and every position in it wrong.

    The deviation is measured in the slice plane between the first and the last slice (sorted along
    the normal); up to ``TILT_TOLERANCE`` of the smaller pixel spacing is rounding in the headers.
    """
    import numpy as np

    first = np.array([float(v) for v in headers[0].ImagePositionPatient])
    last = np.array([float(v) for v in headers[-1].ImagePositionPatient])
    step = last - first
    along = float(np.dot(step, normal))
    across = float(np.linalg.norm(step - along * normal))
    pixel = min(float(v) for v in headers[0].get("PixelSpacing", [1.0, 1.0]))
    if across <= TILT_TOLERANCE * pixel:
        return
    angle = float(np.degrees(np.arctan2(across, abs(along))))
    tilt = headers[0].get("GantryDetectorTilt")
    stated = f" (GantryDetectorTilt {float(tilt):g} degrees)" if tilt not in (None, "") else ""
    raise input_error(what, f"the slices in {folder} are not stacked along their normal: the last slice is shifted "
                            f"{across:.1f} mm within the slice plane over {abs(along):.1f} mm, a gantry tilt of "
                            f"{angle:.1f} degrees{stated}. Read as it is, the CT would be sheared, so RadSurv does not "
                            "score it. Correct the tilt first: load the series with 3D Slicer's DICOM module (its "
                            "acquisition geometry regularization, on by default, adds a transform for the tilt), "
                            "harden that transform (Data module), then score the CT in Slicer, or save the CT and "
                            "its GTV as NRRD files and score those.")


def _check_left_out(folder: Path, files: list, series_uid: str, what: str) -> None:
    """Refuse a series when GDCM left out DICOM files of it: a truncated or corrupt slice is dropped
    from the series silently (and at either end of the stack would shorten the CT unnoticed)."""
    pydicom = _require_pydicom()
    listed = {Path(f).resolve() for f in files}
    broken = []
    for path in dicom_files(folder):
        if path.resolve() in listed:
            continue
        try:
            header = pydicom.dcmread(str(path), stop_before_pixels=True)
        except Exception:  # noqa: BLE001  (pydicom raises several kinds on a cut header)
            broken.append(f"{path.name} (not readable as DICOM)")
            continue
        if str(header.get("SeriesInstanceUID", "")) == series_uid:
            broken.append(f"{path.name} (a slice of the series whose image cannot be read)")
    if broken:
        raise input_error(what, f"{folder}: {len(broken)} DICOM file(s) cannot be read and were left out of "
                                f"the CT series: {', '.join(broken[:5])}{' ...' if len(broken) > 5 else ''}. "
                                "The files are truncated or corrupt: copy the series again.")


def is_dicom_file(path) -> bool:
    """True when ``path`` is a DICOM Part 10 file (the "DICM" prefix at byte 128, PS3.10 7.1)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(128)
            return handle.read(4) == b"DICM"
    except OSError:
        return False


def dicom_files(folder) -> list:
    """The DICOM Part 10 files directly in ``folder``, sorted by name."""
    return sorted(p for p in Path(folder).iterdir() if p.is_file() and is_dicom_file(p))


def _series_ids(folder: Path) -> list:
    """SeriesInstanceUIDs GDCM finds in ``folder``, without ITK's "No Series were found" on stderr."""
    import SimpleITK as sitk

    shown = sitk.ProcessObject.GetGlobalWarningDisplay()
    sitk.ProcessObject.SetGlobalWarningDisplay(False)
    try:
        return list(sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(folder)))
    finally:
        sitk.ProcessObject.SetGlobalWarningDisplay(shown)


def _has_image_series(folder: Path) -> bool:
    return bool(_series_ids(folder))


def _no_series_reason(folder: Path) -> str:
    """Why a folder yields no DICOM image series, for messages."""
    files = sorted(p for p in folder.iterdir() if p.is_file())
    subfolders = [p for p in folder.iterdir() if p.is_dir()]
    if not files:
        inside = f" (it holds only the folder(s) {', '.join(p.name for p in subfolders[:3])})" if subfolders else ""
        return f"the folder {folder} is empty{inside}: it holds no DICOM file."
    dicom = [p for p in files if is_dicom_file(p)]
    if not dicom:
        return (f"the folder {folder} holds no DICOM file ({len(files)} file(s), none of them DICOM, "
                f"e.g. {files[0].name}).")
    return (f"the folder {folder} holds {len(dicom)} DICOM file(s) but no image series (e.g. only "
            "structure sets or segmentations).")


def _read_dataset(path, what: str, modality: str):
    pydicom = _require_pydicom()
    path = Path(path)
    if not path.is_file():
        raise input_error(what, f"file not found: {path}.")
    try:
        ds = pydicom.dcmread(str(path))
    except Exception as exc:  # pydicom raises InvalidDicomError and others
        raise input_error(what, f"{path} is not a readable DICOM file ({exc}).") from None
    if str(ds.get("Modality", "")) != modality:
        raise input_error(what, f"{path.name} is a {ds.get('Modality', 'non-DICOM')} object, not {modality}.")
    return ds


def rtstruct_roi_names(path, what: str = "rtstruct") -> list:
    """Names of the ROIs (StructureSetROISequence / ROIName) of an RTSTRUCT file, in file order.

    Raises:
        InputError: the file is missing, unreadable or not an RTSTRUCT.
    """
    ds = _read_dataset(path, what, "RTSTRUCT")
    return [str(roi.ROIName) for roi in ds.get("StructureSetROISequence", [])]


def _rtstruct_structures(ds) -> list:
    """The ROIs of an RTSTRUCT as ``segments.Structure``s (detail: ROI number, contours and their z range, mm)."""
    contours = {}
    for rc in ds.get("ROIContourSequence", []):
        if "ReferencedROINumber" in rc:
            z = [float(c.ContourData[2]) for c in rc.get("ContourSequence", []) if len(c.get("ContourData", [])) >= 3]
            contours.setdefault(int(rc.ReferencedROINumber), []).extend(z)
    structures = []
    for r in ds.get("StructureSetROISequence", []):
        number = int(r.ROINumber)
        z = contours.get(number, [])
        where = f" at z {min(z):.1f} to {max(z):.1f} mm" if z else ""
        structures.append(Structure(str(r.ROIName), number, f"ROI number {number}, {len(z)} contours{where}"))
    return structures


def _check_references(ds, ct: CTSeries, path: Path, what: str) -> None:
    """RTSTRUCT must reference the CT's frame of reference and, where it names them, its series
    and slices."""
    frames = [str(f.FrameOfReferenceUID) for f in ds.get("ReferencedFrameOfReferenceSequence", [])
              if "FrameOfReferenceUID" in f]
    if frames and ct.frame_of_reference_uid and ct.frame_of_reference_uid not in frames:
        raise input_error(what, f"{path.name} references frame of reference {', '.join(frames)}, but the CT "
                                f"series in {ct.folder} has {ct.frame_of_reference_uid}: the structure set "
                                "belongs to another scan.")
    series = [str(s.SeriesInstanceUID)
              for f in ds.get("ReferencedFrameOfReferenceSequence", [])
              for st in f.get("RTReferencedStudySequence", [])
              for s in st.get("RTReferencedSeriesSequence", []) if "SeriesInstanceUID" in s]
    if series and ct.series_uid not in series:
        raise input_error(what, f"{path.name} references series {', '.join(series)}, but the CT in "
                                f"{ct.folder} is series {ct.series_uid}: the structure set was drawn on "
                                "another series.")
    _check_patient(ds, ct, path, what, "structure set")


def _check_patient(ds, ct: CTSeries, path: Path, what: str, kind: str) -> None:
    """A structure set / segmentation must belong to the CT's patient (PatientID, where both give one):
    a frame of reference shared by two patients (e.g. a phantom or a copied UID) is no proof."""
    patient = str(ds.get("PatientID", "") or "")
    if patient and ct.patient_id and patient != ct.patient_id:
        raise input_error(what, f"{path.name} belongs to patient ID {patient!r}, but the CT series in "
                                f"{ct.folder} to patient ID {ct.patient_id!r}: the {kind} is another patient's. "
                                f"Give the {kind} of this CT's patient.")


def _patient_to_index(image):
    """(matrix, offset) mapping patient coordinates (mm) to continuous (x, y, z) voxel indices."""
    import numpy as np

    direction = np.array(image.GetDirection()).reshape(3, 3)
    spacing = np.array(image.GetSpacing())
    inverse = np.linalg.inv(direction * spacing)
    return inverse, np.array(image.GetOrigin())


def rasterise_rtstruct(path, ct: CTSeries, roi: str, what: str = "rtstruct"):
    """Rasterise one RTSTRUCT ROI onto the CT grid.

    Args:
        path: RTSTRUCT file.
        ct: the CT series from ``read_ct_series`` (its grid and UIDs are used).
        roi: ROI name (ROIName, exact match; a case-insensitive match is used when unique).
        what: name of the input in error messages.

    Returns:
        SimpleITK uint8 mask on the CT's grid (1 = ROI), array (z, y, x).

    Raises:
        InputError: not an RTSTRUCT, the ROI is not there (the message lists the names that are),
            two ROIs bear the name (the message lists their ROI numbers and contours), the structure
            set references another frame of reference / series / slices or another patient
            (PatientID), the ROI has no closed contour, or a contour lies between CT slices or
            outside the CT.
    """
    import numpy as np
    import SimpleITK as sitk
    from matplotlib.path import Path as Polygon

    path = Path(path)
    ds = _read_dataset(path, what, "RTSTRUCT")
    structures = _rtstruct_structures(ds)
    rois = {s.name: s.number for s in structures}
    name = roi if roi in rois else None
    if name is None:
        folded = [n for n in rois if n.lower() == str(roi).lower()]
        name = folded[0] if len(folded) == 1 else None
    if name is None:
        listed = ", ".join(repr(n) for n in rois) or "none"
        raise input_error("roi", f"{roi!r} is not an ROI of {path.name}; its ROIs are: {listed}.")
    refuse_shared_name(name, structures, what, path.name, "ROIs",
                       "Rename the ROIs so that the GTV's name is unique (in the planning system, or in 3D Slicer: "
                       "load the RTSTRUCT, rename the segment, export it again) and give that name with [[roi]].")
    _check_references(ds, ct, path, what)

    contours = [c for rc in ds.get("ROIContourSequence", []) if int(rc.ReferencedROINumber) == rois[name]
                for c in rc.get("ContourSequence", [])]
    known_slices = set(ct.sop_instance_uids)
    for contour in contours:
        for ref in contour.get("ContourImageSequence", []):
            uid = str(ref.get("ReferencedSOPInstanceUID", ""))
            if uid and uid not in known_slices:
                raise input_error(what, f"ROI {name!r} of {path.name} is drawn on image {uid}, which is not "
                                        f"a slice of the CT series in {ct.folder}: the structure set belongs to "
                                        "another series (or the series misses slices).")
    closed = [c for c in contours if str(c.get("ContourGeometricType", "CLOSED_PLANAR")) == "CLOSED_PLANAR"
              and int(c.get("NumberOfContourPoints", 0)) >= 3]
    if not closed:
        raise input_error(what, f"ROI {name!r} of {path.name} has no closed planar contour to rasterise.")

    image = ct.image
    size_x, size_y, size_z = image.GetSize()
    matrix, origin = _patient_to_index(image)
    mask = np.zeros((size_z, size_y, size_x), dtype=bool)
    for contour in closed:
        points = np.asarray([float(v) for v in contour.ContourData]).reshape(-1, 3)
        index = (points - origin) @ matrix.T  # continuous (x, y, z) indices
        z = float(np.mean(index[:, 2]))
        k = int(round(z))
        if np.ptp(index[:, 2]) > 2 * CONTOUR_PLANE_TOLERANCE or abs(z - k) > CONTOUR_PLANE_TOLERANCE:
            raise input_error(what, f"a contour of ROI {name!r} lies at slice index {z:.2f}, between CT "
                                    "slices (or is not planar in the CT's slice plane): the structure set does not "
                                    f"fit the CT series in {ct.folder}.")
        if not 0 <= k < size_z:
            raise input_error(what, f"a contour of ROI {name!r} lies outside the CT (slice index {k}, "
                                    f"the CT has {size_z} slices).")
        x0 = max(int(np.floor(index[:, 0].min())), 0)
        x1 = min(int(np.ceil(index[:, 0].max())), size_x - 1)
        y0 = max(int(np.floor(index[:, 1].min())), 0)
        y1 = min(int(np.ceil(index[:, 1].max())), size_y - 1)
        if x1 < x0 or y1 < y0:
            continue
        yy, xx = np.mgrid[y0:y1 + 1, x0:x1 + 1]
        inside = Polygon(index[:, :2]).contains_points(np.column_stack([xx.ravel(), yy.ravel()]))
        mask[k, y0:y1 + 1, x0:x1 + 1] ^= inside.reshape(xx.shape)
    if not mask.any():
        raise input_error(what, f"ROI {name!r} of {path.name} covers no voxel centre of the CT.")
    result = sitk.GetImageFromArray(mask.astype(np.uint8))
    result.CopyInformation(image)
    return result


def read_seg_segment(path, ct: CTSeries, segment: str | None = None, what: str = "seg"):
    """Read one segment of a DICOM SEG onto the CT grid.

    Args:
        path: DICOM SEG file (BINARY or FRACTIONAL; fractional values >= 0.5 count as inside).
        ct: the CT series from ``read_ct_series``.
        segment: SegmentLabel to read; None takes the only segment (an error when there are several).
        what: name of the input in error messages.

    Returns:
        SimpleITK uint8 mask on the CT's grid (1 = segment), array (z, y, x).

    Raises:
        InputError: highdicom is not installed, not a SEG, the segment is not there (the message
            lists the labels that are), two segments bear its label (or, with ``segment`` None, any
            label; listed with their numbers), the SEG references another frame of reference /
            series / patient (PatientID), or a frame references an image that is not a slice of the CT.
    """
    import numpy as np
    import SimpleITK as sitk

    path = Path(path)
    ds = _read_dataset(path, what, "SEG")
    try:
        import highdicom
    except ImportError:
        raise input_error(what, "reading DICOM SEG needs highdicom (MIT): pip install highdicom") from None
    structures = [Structure(str(s.SegmentLabel), int(s.SegmentNumber), f"segment number {int(s.SegmentNumber)}")
                  for s in ds.get("SegmentSequence", [])]
    labels = {s.name: s.number for s in structures}
    fix = ("Give each segment its own label (e.g. in 3D Slicer: load the SEG, rename the segments, export it again) "
           "and name the GTV's with [[roi]].")
    if segment is None and shared_name(structures) is not None:  # no choice among segments of one label
        refuse_shared_name(shared_name(structures), structures, what, path.name, "segments", fix)
    if segment is None:
        if len(structures) != 1:
            raise input_error("roi", f"{path.name} holds {len(structures)} segments "
                                     f"({', '.join(repr(s.name) for s in structures)}); choose one with [[roi]].")
        segment = structures[0].name
    if segment not in labels:
        listed = ", ".join(repr(n) for n in labels) or "none"
        raise input_error("roi", f"{segment!r} is not a segment of {path.name}; its segments are: {listed}.")
    refuse_shared_name(segment, structures, what, path.name, "segments", fix)
    frame = str(ds.get("FrameOfReferenceUID", ""))
    if frame and ct.frame_of_reference_uid and frame != ct.frame_of_reference_uid:
        raise input_error(what, f"{path.name} has frame of reference {frame}, but the CT series in "
                                f"{ct.folder} has {ct.frame_of_reference_uid}: the segmentation belongs to another "
                                "scan.")
    series = [str(s.SeriesInstanceUID) for s in ds.get("ReferencedSeriesSequence", [])]
    if series and ct.series_uid not in series:
        raise input_error(what, f"{path.name} references series {', '.join(series)}, but the CT in "
                                f"{ct.folder} is series {ct.series_uid}: the segmentation was made on another "
                                "series.")
    _check_patient(ds, ct, path, what, "segmentation")
    seg = highdicom.seg.Segmentation.from_dataset(ds)
    referenced = {str(uid) for _, _, uid in seg.get_source_image_uids()}
    unknown = referenced - set(ct.sop_instance_uids)
    if unknown:
        raise input_error(what, f"{path.name} references {len(unknown)} image(s) that are not slices of the CT "
                                f"series in {ct.folder}.")
    present = [uid for uid in ct.sop_instance_uids if uid in referenced]
    pixels = seg.get_pixels_by_source_instance(source_sop_instance_uids=present,
                                               segment_numbers=[labels[segment]],
                                               combine_segments=False, skip_overlap_checks=True)
    size_x, size_y, size_z = ct.image.GetSize()
    mask = np.zeros((size_z, size_y, size_x), dtype=bool)
    slice_of = {uid: k for k, uid in enumerate(ct.sop_instance_uids)}
    for uid, plane in zip(present, pixels):
        values = np.asarray(plane)[..., 0]
        if values.shape != (size_y, size_x):
            raise input_error(what, f"{path.name} frames are {values.shape} pixels, the CT slices "
                                    f"{(size_y, size_x)}.")
        limit = 0.5 * float(ds.get("MaximumFractionalValue", 1)) if str(ds.get("SegmentationType")) == "FRACTIONAL" else 0.5
        mask[slice_of[uid]] = values >= limit
    if not mask.any():
        raise input_error(what, f"segment {segment!r} of {path.name} is empty.")
    result = sitk.GetImageFromArray(mask.astype(np.uint8))
    result.CopyInformation(ct.image)
    return result


def load_dicom_case(ct_folder, rtstruct=None, seg=None, roi: str | None = None):
    """CT and GTV as SimpleITK images from DICOM: a CT series folder plus an RTSTRUCT or a SEG.

    Args:
        ct_folder: folder of the CT series.
        rtstruct: RTSTRUCT file (``roi`` required) or None.
        seg: DICOM SEG file (``roi`` = SegmentLabel, optional when it holds one segment) or None.
        roi: ROI / segment name.

    Returns:
        (ct image in HU, GTV uint8 mask on the CT grid, CTSeries).

    Raises:
        InputError: both or neither of rtstruct / seg, no ``roi`` for an RTSTRUCT, or any error of
            ``read_ct_series``, ``rasterise_rtstruct``, ``read_seg_segment``.
    """
    if (rtstruct is None) == (seg is None):
        raise input_error("ct", "a DICOM CT needs its GTV as [[rtstruct]] (with [[roi]]) or as [[seg]]: one of them.")
    if rtstruct is not None and not roi:
        names = ", ".join(repr(n) for n in rtstruct_roi_names(rtstruct))
        raise input_error("roi", f"name the GTV's ROI of {Path(rtstruct).name}; its ROIs are: {names}.")
    ct = read_ct_series(ct_folder)
    if rtstruct is not None:
        gtv = rasterise_rtstruct(rtstruct, ct, roi)
    else:
        gtv = read_seg_segment(seg, ct, roi)
    ct.gtv_input = "rtstruct" if rtstruct is not None else "seg"  # what later messages about the GTV name
    return ct.image, gtv, ct


def resolve_score_inputs(ct, gtv=None, rtstruct=None, seg=None, roi=None):
    """The CT and GTV that ``radsurv score`` passes to ``pipeline.score_case``.

    A CT file (NRRD / NIfTI) goes with ``gtv`` (a mask file) and is passed on as paths; a CT folder
    (DICOM series) goes with ``rtstruct`` + ``roi`` or with ``seg`` (+ ``roi``) and is converted to
    SimpleITK images (HU, and a uint8 mask on the CT grid), or with ``gtv``, a mask file on the
    series' grid (what the Slicer module and the web app export from a segment), passed on as a path.

    Returns:
        (ct, gtv): paths (a CT file and its mask file), or the ``CTSeries`` (its image, files and
        UIDs: ``pipeline.score_case`` scores its image and, with ``dicom_out``, writes DICOM objects
        that reference its slices) and the GTV as a SimpleITK image (or the ``gtv`` mask file's path).

    Raises:
        InputError: a combination of inputs that does not fit (e.g. a DICOM folder with ``gtv`` and ``rtstruct``, a
            CT file with ``rtstruct``), or any DICOM error of ``load_dicom_case``. Messages name the
            inputs by these parameter names (``options.FRONT_END_NAMES`` translates them).
    """
    ct_path = Path(ct)
    if ct_path.is_dir():
        if gtv is not None:
            if not _has_image_series(ct_path):
                raise input_error("ct", f"{_no_series_reason(ct_path)} A CT is a file (NRRD / NIfTI) or the "
                                        "folder of its DICOM slices.")
            if rtstruct is None and seg is None:  # a mask file on the series' grid (the Slicer module's and
                return read_ct_series(ct_path), gtv  # the app's exported segment); the grid is checked in validate
            raise input_error("ct", f"{ct_path} is a DICOM folder with its GTV given twice; give it once: as "
                                    "[[gtv]] (a mask file on the series' grid), [[rtstruct]] (with [[roi]]) or "
                                    "[[seg]].")
        _, mask, series = load_dicom_case(ct_path, rtstruct=rtstruct, seg=seg, roi=roi)
        return series, mask
    if rtstruct is not None or seg is not None:
        raise input_error("ct", f"[[rtstruct]] / [[seg]] need the CT as a DICOM series folder; {ct_path} "
                                "is not a folder.")
    if gtv is None:
        raise input_error("gtv", "a CT file (NRRD / NIfTI) needs its GTV mask file.")
    return ct, gtv
