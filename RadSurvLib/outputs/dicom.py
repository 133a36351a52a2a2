"""A run's results as DICOM objects beside the source CT series (``radsurv score --dicom-out``).

With a DICOM CT as input, ``pipeline.score_case`` (option ``dicom_out``) writes into ``OUT/dicom/``:

- ``rtstruct.dcm``: an RT Structure Set on the CT's Frame of Reference with the GTV as scored and each
  peritumoral ring (and the inner rim when asked) as ROIs, named as in the Slicer scene (``GTV``,
  ``GTV ring 0-3 mm``, ``GTV inner rim 0-2 mm``) and coloured as there (``outputs.colours``); one
  closed planar polygon per region boundary on each CT slice (marching squares at the half-way level
  between voxel centres, ``skimage.measure.find_contours``), so RadSurv's own reader, which takes the
  voxels whose centre lies inside (``io.dicom.rasterise_rtstruct``), gives the regions back;
- ``seg.dcm``: a DICOM SEG (BINARY, highdicom) of the same regions, one segment each (they may
  overlap: the inner rim lies inside the GTV), frames on the CT's slices;
- ``heatmap_pm.dcm``: the Grad-CAM heatmap as a Parametric Map (highdicom): 32-bit float values, as
  ``heatmap.nrrd`` holds them, with a real-world value mapping (identity, unit "no units") coding
  what they are;
- ``sr.dcm``: a TID 1500 Measurement Report (Comprehensive 3D SR, highdicom) on the GTV segment of
  ``seg.dcm``: GTV volume, risk score, risk cut-off, risk group, survival probabilities where
  ``result.json`` has them (a signature's), the model's name and version (algorithm identification)
  and whether it is a demonstration model.

Every object references the source study (StudyInstanceUID and the patient and study attributes
copied from the CT), series and slices, has UIDs of its own (series and instance) and names RadSurv
as manufacturer with RadSurv's version as software version. The regions and the heatmap are read
from the files the run wrote on the CT's grid as stored (``rings.nrrd``, ``heatmap.nrrd``), whose
slices are the CT series' slices in order (``io.dicom.read_ct_series``): slice k is file k.

Codes: SNOMED CT and DICOM where one fits (Neoplasm, Volume, High / Low risk, Yes / No); RadSurv's
own quantities (risk score, cut-off, HiResCAM relevance, peritumoral ring) carry codes of the
private scheme ``99RADSURV`` (PS3.16 8.2: a scheme designator starting "99" is a private one).
"""

from __future__ import annotations

from pathlib import Path

from .. import __version__
from ..errors import OptionError

#: Subfolder of the output folder that holds the DICOM objects.
DICOM_FOLDER = "dicom"
#: File names inside ``DICOM_FOLDER`` (``result.json["outputs"]["dicom"]`` lists those written).
FILES = {"rtstruct": "rtstruct.dcm", "seg": "seg.dcm", "parametric_map": "heatmap_pm.dcm", "sr": "sr.dcm"}
#: Series numbers of the new series (one object each).
SERIES_NUMBERS = {"rtstruct": 9101, "seg": 9102, "parametric_map": 9103, "sr": 9104}

MANUFACTURER = "RadSurv"
MANUFACTURER_MODEL = "RadSurv"
#: Private coding scheme of RadSurv's own concepts.
SCHEME = "99RADSURV"

RTSTRUCT_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.481.3"
#: The study's reference in an RTSTRUCT (RTReferencedStudySequence): Study Component Management SOP class.
STUDY_REFERENCE_SOP_CLASS = "1.2.840.10008.3.1.2.3.2"

#: Patient and study attributes copied from the source CT (type 2: written empty when absent).
PATIENT_STUDY_ATTRIBUTES = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyInstanceUID",
                            "StudyDate", "StudyTime", "ReferringPhysicianName", "StudyID", "AccessionNumber")
OPTIONAL_COPIED = ("IssuerOfPatientID", "PatientAge", "StudyDescription", "SpecificCharacterSet")


def refuse_non_dicom_ct(ct) -> None:
    """``dicom_out`` needs the CT as a DICOM series (``io.dicom.CTSeries``): refuse any other CT.

    Raises:
        OptionError (``dicom_out``): the CT is a file (NIfTI / NRRD / MetaImage) or an image in memory.
    """
    from ..io.dicom import CTSeries

    if not isinstance(ct, CTSeries):
        what = str(ct) if not hasattr(ct, "GetSize") else "an image in memory"
        raise OptionError("dicom_out", f"the CT ({what}) is not a DICOM series, so there is no study to reference: "
                                       "give the CT as its DICOM series folder (with [[rtstruct]] or [[seg]]), or "
                                       "leave DICOM outputs off.")


def _code(value: str, meaning: str, scheme: str = SCHEME):
    import highdicom as hd

    return hd.sr.CodedConcept(value=value, scheme_designator=scheme, meaning=meaning)


# --------------------------------------------------------------------------------------------
# Regions and source
# --------------------------------------------------------------------------------------------

def regions(labelmap, rings_info: list) -> list:
    """The regions of a ring labelmap (``rings.nrrd``): the GTV as scored (label 1 and the inner rim,
    which lies inside it) and each ring, in label order, as dicts ``name``, ``mask`` (bool array
    (z, y, x)), ``color`` (RGB in [0, 1]), ``kind`` ("gtv", "ring" or "rim"), ``label``."""
    import numpy as np
    import SimpleITK as sitk

    from ..rings import GTV_LABEL
    from .colours import GTV_COLOR, ring_color

    array = sitk.GetArrayViewFromImage(labelmap)
    rims = [r["label"] for r in rings_info if r["inner_mm"] < 0]
    found = [{"name": "GTV", "mask": np.isin(array, [GTV_LABEL, *rims]), "color": GTV_COLOR, "kind": "gtv",
              "label": GTV_LABEL}]
    for index, ring in enumerate(rings_info):
        rim = ring["inner_mm"] < 0
        name = (f"GTV inner rim {abs(ring['outer_mm']):g}-{abs(ring['inner_mm']):g} mm" if rim
                else f"GTV ring {ring['inner_mm']:g}-{ring['outer_mm']:g} mm")
        found.append({"name": name, "mask": array == ring["label"], "color": ring_color(index),
                      "kind": "rim" if rim else "ring", "label": ring["label"]})
    return found


def _source_headers(series) -> list:
    """The CT slices' headers (pydicom, no pixel data), in the series' slice order."""
    import pydicom

    return [pydicom.dcmread(str(f), stop_before_pixels=True) for f in series.files]


def _check_on_series(image, series, headers, what: str) -> None:
    """``image`` (read from the run's folder) must lie on the CT series' grid: same size, and its
    slice k at slice k's ImagePositionPatient (the objects' frames are placed by those positions)."""
    import numpy as np

    size = image.GetSize()
    if size[2] != len(headers) or (size[0], size[1]) != (int(headers[0].Columns), int(headers[0].Rows)):
        raise ValueError(f"{what} ({size}) is not on the grid of the CT series in {series.folder}")
    for k in (0, len(headers) - 1):
        position = np.array(image.TransformIndexToPhysicalPoint((0, 0, k)))
        if not np.allclose(position, [float(v) for v in headers[k].ImagePositionPatient], atol=1e-2):
            raise ValueError(f"{what}: slice {k} at {position}, the CT's at {headers[k].ImagePositionPatient}")


#: Words of ``DeidentificationMethod`` when the source says its patient identity was removed but not how.
UNKNOWN_DEIDENTIFICATION = "de-identified before RadSurv; method not given in the source"


def _copy_deidentification(ds, source) -> None:
    """Patient Identity Removed and, where it is YES, the method (type 1C), as the source has them."""
    for name in ("PatientIdentityRemoved", "DeidentificationMethod", "DeidentificationMethodCodeSequence"):
        if name in source:
            setattr(ds, name, source.get(name))
    if str(source.get("PatientIdentityRemoved", "")).upper() == "YES" and not (
            "DeidentificationMethod" in source or "DeidentificationMethodCodeSequence" in source):
        ds.DeidentificationMethod = UNKNOWN_DEIDENTIFICATION


def _equipment() -> dict:
    return {"manufacturer": MANUFACTURER, "manufacturer_model_name": MANUFACTURER_MODEL,
            "software_versions": __version__, "device_serial_number": "0"}


def _demo_note(result: dict) -> str:
    model = result.get("model") or {}
    return " - DEMONSTRATION MODEL, not clinical" if model.get("demonstration") else ""


# --------------------------------------------------------------------------------------------
# The writer
# --------------------------------------------------------------------------------------------

def write_dicom_outputs(series, out_dir, result: dict) -> dict:
    """Write the DICOM objects of a finished run into ``out_dir / DICOM_FOLDER``.

    Args:
        series: the source ``io.dicom.CTSeries`` (the files the run read).
        out_dir: the folder holding the run's ``rings.nrrd`` (and ``heatmap.nrrd``) on the CT's grid:
            during a run, its staging folder.
        result: the run's ``result.json`` content so far (``outputs``, ``rings``, ``gtv``, risk, model).

    Returns:
        ``{"rtstruct": "dicom/rtstruct.dcm", "seg": ..., "parametric_map": ..., "sr": ...}`` (paths
        relative to ``out_dir``); without a heatmap (``features_only``) no parametric map, and the
        report holds the GTV volume alone.
    """
    import warnings

    with warnings.catch_warnings():
        # the source's own name as it stands (e.g. PAT1's "PAT1", one component) is copied, not judged
        warnings.filterwarnings("ignore", message=".*unlikely to represent the intended person name")
        return _write(series, Path(out_dir), result)


def _write(series, out_dir: Path, result: dict) -> dict:
    import SimpleITK as sitk

    folder = out_dir / DICOM_FOLDER
    folder.mkdir(exist_ok=True)
    headers = _source_headers(series)
    labelmap = sitk.ReadImage(str(out_dir / result["outputs"]["rings"]))
    _check_on_series(labelmap, series, headers, "rings")
    found = regions(labelmap, result["rings"])
    written = {}

    def save(kind: str, ds) -> None:
        _copy_deidentification(ds, headers[0])
        ds.save_as(str(folder / FILES[kind]), enforce_file_format=True)
        written[kind] = f"{DICOM_FOLDER}/{FILES[kind]}"

    save("rtstruct", build_rtstruct(headers, labelmap, found, result))
    seg = build_seg(headers, found, result)
    save("seg", seg)

    if result["outputs"].get("heatmap"):
        heatmap = sitk.ReadImage(str(out_dir / result["outputs"]["heatmap"]))
        _check_on_series(heatmap, series, headers, "heatmap")
        pm = build_parametric_map(headers, sitk.GetArrayFromImage(heatmap), result)
        pm.Laterality = ""  # General Series, type 2C: unpaired (the chest); empty, as dciodvfy asks
        save("parametric_map", pm)
    save("sr", build_sr(headers, seg, result))
    return written


# --------------------------------------------------------------------------------------------
# RTSTRUCT (pydicom)
# --------------------------------------------------------------------------------------------

def slice_polygons(mask2d) -> list:
    """Closed polygons around the True pixels of one slice, as (n, 2) arrays of (column, row)
    pixel indices: marching squares at 0.5 (half-way between an inside and an outside pixel
    centre), outer boundaries and holes alike (read back by the even-odd rule), collinear points
    dropped, the closing point not repeated."""
    import numpy as np
    from skimage import measure

    padded = np.pad(mask2d.astype(np.float32), 1)
    polygons = []
    for contour in measure.find_contours(padded, 0.5):
        contour = measure.approximate_polygon(contour, tolerance=0) - 1.0  # (row, column), unpadded
        if len(contour) > 1 and np.allclose(contour[0], contour[-1]):
            contour = contour[:-1]
        if len(contour) >= 3:
            polygons.append(contour[:, ::-1])
    return polygons


def _rgb255(color) -> list:
    return [int(round(255 * c)) for c in color]


def build_rtstruct(headers: list, labelmap, found: list, result: dict):
    """The RT Structure Set (pydicom ``FileDataset``) of the regions ``found`` on the CT slices ``headers``."""
    import datetime

    import numpy as np
    import highdicom as hd
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.sequence import Sequence
    from pydicom.uid import ExplicitVRLittleEndian

    first = headers[0]
    now = datetime.datetime.now()
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = RTSTRUCT_SOP_CLASS
    ds.SOPInstanceUID = hd.UID()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = RTSTRUCT_SOP_CLASS
    for name in PATIENT_STUDY_ATTRIBUTES:
        setattr(ds, name, first.get(name, ""))
    for name in OPTIONAL_COPIED:
        if name in first:
            setattr(ds, name, first.get(name))
    ds.InstanceCreationDate = now.strftime("%Y%m%d")
    ds.InstanceCreationTime = now.strftime("%H%M%S")
    ds.Modality = "RTSTRUCT"
    ds.SeriesInstanceUID = hd.UID()
    ds.SeriesNumber = SERIES_NUMBERS["rtstruct"]
    ds.SeriesDescription = f"RadSurv GTV and rings{_demo_note(result)}"[:64]
    ds.OperatorsName = ""
    ds.FrameOfReferenceUID = first.FrameOfReferenceUID
    ds.PositionReferenceIndicator = first.get("PositionReferenceIndicator", "")
    ds.Manufacturer = MANUFACTURER
    ds.ManufacturerModelName = MANUFACTURER_MODEL
    ds.SoftwareVersions = __version__
    ds.InstanceNumber = 1
    ds.StructureSetLabel = "RadSurv"
    ds.StructureSetName = "GTV and rings"
    ds.StructureSetDate = ds.InstanceCreationDate
    ds.StructureSetTime = ds.InstanceCreationTime

    contour_images = []
    for h in headers:
        item = Dataset()
        item.ReferencedSOPClassUID = h.SOPClassUID
        item.ReferencedSOPInstanceUID = h.SOPInstanceUID
        contour_images.append(item)
    series_ref = Dataset()
    series_ref.SeriesInstanceUID = first.SeriesInstanceUID
    series_ref.ContourImageSequence = Sequence(contour_images)
    study_ref = Dataset()
    study_ref.ReferencedSOPClassUID = STUDY_REFERENCE_SOP_CLASS
    study_ref.ReferencedSOPInstanceUID = first.StudyInstanceUID
    study_ref.RTReferencedSeriesSequence = Sequence([series_ref])
    frame_ref = Dataset()
    frame_ref.FrameOfReferenceUID = first.FrameOfReferenceUID
    frame_ref.RTReferencedStudySequence = Sequence([study_ref])
    ds.ReferencedFrameOfReferenceSequence = Sequence([frame_ref])

    to_patient = np.array(labelmap.GetDirection()).reshape(3, 3) * np.array(labelmap.GetSpacing())
    origin = np.array(labelmap.GetOrigin())
    rois, contours, observations = [], [], []
    for number, region in enumerate(found, start=1):
        roi = Dataset()
        roi.ROINumber = number
        roi.ReferencedFrameOfReferenceUID = first.FrameOfReferenceUID
        roi.ROIName = region["name"]
        roi.ROIDescription = ("GTV as scored by RadSurv" if region["kind"] == "gtv"
                              else f"RadSurv {region['name'][4:]} around the GTV" if region["kind"] == "ring"
                              else f"RadSurv {region['name'][4:]} inside the GTV")
        roi.ROIGenerationAlgorithm = "MANUAL" if region["kind"] == "gtv" else "AUTOMATIC"
        rois.append(roi)
        items = []
        for k in np.flatnonzero(region["mask"].any(axis=(1, 2))):
            for polygon in slice_polygons(region["mask"][k]):
                index = np.column_stack([polygon, np.full(len(polygon), float(k))])
                points = origin + index @ to_patient.T
                item = Dataset()
                image = Dataset()
                image.ReferencedSOPClassUID = headers[k].SOPClassUID
                image.ReferencedSOPInstanceUID = headers[k].SOPInstanceUID
                item.ContourImageSequence = Sequence([image])
                item.ContourGeometricType = "CLOSED_PLANAR"
                item.NumberOfContourPoints = len(points)
                item.ContourData = [f"{v:.4f}" for v in points.ravel()]
                items.append(item)
        roi_contour = Dataset()
        roi_contour.ROIDisplayColor = _rgb255(region["color"])
        roi_contour.ReferencedROINumber = number
        if items:
            roi_contour.ContourSequence = Sequence(items)
        contours.append(roi_contour)
        observation = Dataset()
        observation.ObservationNumber = number
        observation.ReferencedROINumber = number
        observation.ROIObservationLabel = region["name"][:16]
        observation.RTROIInterpretedType = "GTV" if region["kind"] == "gtv" else ""
        observation.ROIInterpreter = ""
        observations.append(observation)
    ds.StructureSetROISequence = Sequence(rois)
    ds.ROIContourSequence = Sequence(contours)
    ds.RTROIObservationsSequence = Sequence(observations)
    ds.ApprovalStatus = "UNAPPROVED"
    return ds


# --------------------------------------------------------------------------------------------
# SEG, Parametric Map, SR (highdicom)
# --------------------------------------------------------------------------------------------

def build_seg(headers: list, found: list, result: dict):
    """The DICOM SEG (highdicom ``Segmentation``, BINARY) of the regions ``found``: segment k + 1 is
    ``found[k]`` (segment 1 the GTV), one frame per CT slice where the segment is present."""
    import numpy as np
    import highdicom as hd
    from pydicom.sr.codedict import codes

    # rings: distance bands from the GTV (a Euclidean distance map, rings.make_rings)
    algorithm = hd.AlgorithmIdentificationSequence(name="RadSurv peritumoral rings",
                                                   family=codes.cid7162.MorphologicalOperations, version=__version__)
    descriptions = []
    for number, region in enumerate(found, start=1):
        if region["kind"] == "gtv":
            category, kind = codes.SCT.MorphologicallyAbnormalStructure, codes.SCT.Neoplasm
            algorithm_type, algorithm_id = hd.seg.SegmentAlgorithmTypeValues.MANUAL, None
        else:
            category = codes.SCT.SpatialAndRelationalConcept
            kind = (_code("RIM", "Inner rim of the tumour") if region["kind"] == "rim"
                    else _code("RING", "Peritumoral ring"))
            algorithm_type, algorithm_id = hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC, algorithm
        descriptions.append(hd.seg.SegmentDescription(
            segment_number=number, segment_label=region["name"], segmented_property_category=category,
            segmented_property_type=kind, algorithm_type=algorithm_type, algorithm_identification=algorithm_id,
            tracking_uid=hd.UID(), tracking_id=region["name"],
            display_color=hd.color.CIELabColor.from_rgb(*[int(round(255 * c)) for c in region["color"]])))
    pixels = np.stack([r["mask"] for r in found], axis=-1).astype(np.uint8)  # (frames, rows, columns, segments)
    return hd.seg.Segmentation(
        source_images=headers, pixel_array=pixels, segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions, series_instance_uid=hd.UID(), series_number=SERIES_NUMBERS["seg"],
        sop_instance_uid=hd.UID(), instance_number=1, **_equipment(),
        series_description=f"RadSurv GTV and rings{_demo_note(result)}"[:64],
        content_description="GTV and peritumoral rings", content_label="RADSURV_ROIS",
        omit_empty_frames=True)


def build_parametric_map(headers: list, heatmap, result: dict):
    """The heatmap (float array (z, y, x) on the CT's slices) as a highdicom ``ParametricMap``
    with 32-bit float frames and an identity real-world value mapping (unit: no units): one frame
    per CT slice where the heatmap is not all 0 (the others are 0)."""
    import numpy as np
    import highdicom as hd
    from pydicom.sr.codedict import codes

    values = np.ascontiguousarray(heatmap, dtype=np.float32)
    # frames on the slices the heatmap reaches (it is 0 outside the model's crop: a whole chest CT
    # would otherwise carry hundreds of MB of zeros); a slice without a frame reads back as 0
    kept = np.flatnonzero(values.any(axis=(1, 2)))
    if kept.size == 0:
        kept = np.arange(1)
    headers, values = [headers[k] for k in kept], values[kept]
    method = (result.get("gradcam_method") or "HiResCAM")
    mapping = hd.pm.RealWorldValueMapping(
        lut_label="HEATMAP", lut_explanation=f"{method} relevance of the risk score (0 to 1)",
        unit=codes.UCUM.NoUnits, value_range=(float(values.min()), float(values.max())),
        slope=1.0, intercept=0.0,
        quantity_definition=_code("HIRESCAM", "Grad-CAM relevance for the survival risk score"))
    return hd.pm.ParametricMap(
        source_images=headers, pixel_array=values, series_instance_uid=hd.UID(),
        series_number=SERIES_NUMBERS["parametric_map"], sop_instance_uid=hd.UID(), instance_number=1,
        **_equipment(), contains_recognizable_visual_features=False, real_world_value_mappings=[mapping],
        voi_lut_transformations=[hd.VOILUTTransformation(window_center=0.5, window_width=1.0)],
        content_label="HEATMAP",
        content_description=f"RadSurv {method} heatmap{_demo_note(result)}"[:64],
        series_description=f"RadSurv heatmap{_demo_note(result)}"[:64])


#: Codes of the report's own concepts (private scheme ``SCHEME``).
RISK_SCORE = ("RISKSCORE", "Survival risk score")
RISK_CUTOFF = ("RISKCUTOFF", "Risk group cut-off of the risk score")
RISK_GROUP = ("RISKGROUP", "Risk group")
DEMONSTRATION = ("DEMOMODEL", "Demonstration model (not for clinical use)")


def survival_probabilities(result: dict) -> list:
    """``[(source, horizon, p)]``: the survival probabilities of ``result.json``, the model bundle's
    (top-level ``survival_1y`` ..., source ``"model"``) and a signature's (``result["signature"]``,
    source ``"signature"``); horizon as ``"1y"``; none that are null."""
    out = []
    for source, values in (("model", result), ("signature", result.get("signature") or {})):
        out += [(source, k.split("_", 1)[1], float(v)) for k, v in values.items()
                if k.startswith("survival_") and k[len("survival_"):-1].isdigit() and v is not None]
    return out


def build_sr(headers: list, seg, result: dict):
    """The TID 1500 Measurement Report (highdicom ``Comprehensive3DSR``) on segment 1 (the GTV) of ``seg``."""
    import highdicom as hd
    from pydicom.sr.codedict import codes

    model = result.get("model") or None
    algorithm = (hd.sr.AlgorithmIdentification(name=str(model["name"]), version=str(model["version"]))
                 if model else None)
    no_units = codes.UCUM.NoUnits
    measurements = [hd.sr.Measurement(name=codes.SCT.Volume, value=float(result["gtv"]["volume_mm3_input"]),
                                      unit=codes.UCUM.CubicMillimeter)]
    evaluations = []
    if result.get("risk_score") is not None:
        measurements += [
            hd.sr.Measurement(name=_code(*RISK_SCORE), value=float(result["risk_score"]), unit=no_units,
                              algorithm_id=algorithm),
            hd.sr.Measurement(name=_code(*RISK_CUTOFF), value=float(result["risk_cutoff"]), unit=no_units,
                              algorithm_id=algorithm)]
        evaluations += [
            hd.sr.QualitativeEvaluation(_code(*RISK_GROUP),
                                        codes.SCT.HighRisk if result["risk_group"] == "high" else codes.SCT.LowRisk),
            hd.sr.QualitativeEvaluation(_code(*DEMONSTRATION),
                                        codes.SCT.Yes if model["demonstration"] else codes.SCT.No)]
    for source, horizon, value in survival_probabilities(result):
        if source == "model":
            name = _code(f"SURV{horizon.upper()}", f"Survival probability at {horizon}")
        else:
            name = _code(f"SIGSURV{horizon.upper()}", f"Survival probability at {horizon} (radiomics signature)")
        measurements.append(hd.sr.Measurement(name=name, value=value, unit=no_units,
                                              algorithm_id=algorithm if source == "model" else None))
    segment = hd.sr.ReferencedSegment(
        sop_class_uid=seg.SOPClassUID, sop_instance_uid=seg.SOPInstanceUID, segment_number=1,
        source_series=hd.sr.SourceSeriesForSegmentation(headers[0].SeriesInstanceUID))
    group = hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=hd.UID(), identifier="GTV"),
        referenced_segment=segment, finding_type=codes.SCT.Neoplasm, measurements=measurements,
        qualitative_evaluations=evaluations or None, algorithm_id=algorithm)
    observer = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=hd.UID(), name="RadSurv", manufacturer_name=MANUFACTURER,
            model_name=f"{model['name']} {model['version']}" if model else MANUFACTURER_MODEL))
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=observer),
        procedure_reported=codes.SCT.ImagingProcedure, imaging_measurements=[group])
    sr = hd.sr.Comprehensive3DSR(
        evidence=[seg, *headers], content=report, series_instance_uid=hd.UID(),
        series_number=SERIES_NUMBERS["sr"], sop_instance_uid=hd.UID(), instance_number=1,
        manufacturer=MANUFACTURER, is_complete=True, is_final=False, is_verified=False,
        series_description=f"RadSurv risk report{_demo_note(result)}"[:64])
    sr.SoftwareVersions = __version__
    sr.ManufacturerModelName = MANUFACTURER_MODEL
    return sr
