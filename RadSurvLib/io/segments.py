"""Structures chosen by name: RTSTRUCT ROIs, DICOM SEG segments and 3D Slicer ``.seg.nrrd`` segments.

A structure set exported twice, or a GTV copied and edited under the same name, holds two structures
of one name; taking "the" GTV by that name would take one of them silently (a partial copy scores
as a smaller tumour). ``refuse_shared_name`` refuses such a choice and lists the structures that share
the name, so the user can say which one is the GTV. ``slicer_segments`` reads the segment table of a
``.seg.nrrd`` header (``Segment<k>_Name``, ``_LabelValue``, ``_Layer``), which labels the labelmap's values.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import input_error


@dataclass(frozen=True)
class Structure:
    """One named structure of a segmentation file.

    Attributes:
        name: its name (RTSTRUCT ROIName, SEG SegmentLabel, ``.seg.nrrd`` Segment<k>_Name).
        number: its number in the file (ROINumber, SegmentNumber, or the label value of a ``.seg.nrrd``).
        detail: what tells it apart in a message, e.g. "ROI number 3, 12 contours".
    """

    name: str
    number: int
    detail: str


def refuse_shared_name(name: str, structures: list, what: str, source: str, kind: str, fix: str) -> None:
    """Refuse ``name`` when more than one structure of ``source`` bears it.

    Args:
        name: the name chosen (exactly as it appears in the file).
        structures: every ``Structure`` of the file.
        what: the input's name in messages (``"rtstruct"``, ``"seg"``, ``"gtv"``; each front end names it).
        source: the file's name, for the message; kind: what its structures are called ("ROIs", "segments").
        fix: what to do, e.g. how to rename one of them; ``[[parameter]]`` references allowed.

    Raises:
        InputError (``OptionError`` when ``what`` is a parameter): two or more structures bear
            ``name``; the message lists them (numbers and details).
    """
    sharing = [s for s in structures if s.name == name]
    if len(sharing) > 1:
        listed = "; ".join(s.detail for s in sharing)
        raise input_error(what, f"{len(sharing)} {kind} of {source} are named {name!r} ({listed}): RadSurv "
                                f"cannot tell which one is the GTV. {fix}")


def shared_name(structures: list) -> str | None:
    """The first name that two or more of ``structures`` bear, or None when every name is unique."""
    names = [s.name for s in structures]
    return next((n for n in names if names.count(n) > 1), None)


def slicer_segments(image) -> list:
    """The segments a 3D Slicer ``.seg.nrrd`` header describes, in file order (empty for another image).

    Args:
        image: SimpleITK image read from a file (its metadata keys ``Segment<k>_Name``,
            ``Segment<k>_LabelValue`` and ``Segment<k>_Layer``).

    Returns:
        list of ``Structure`` (number = the segment's label value in the labelmap; detail names
        the label value and, for a file of several layers, the layer).
    """
    keys = set(image.GetMetaDataKeys())
    segments, k = [], 0
    while f"Segment{k}_Name" in keys:
        name = image.GetMetaData(f"Segment{k}_Name")
        value = image.GetMetaData(f"Segment{k}_LabelValue").strip() if f"Segment{k}_LabelValue" in keys else ""
        label = int(value) if value.isdigit() else k + 1  # no (valid) label value: taken as k + 1
        layer = image.GetMetaData(f"Segment{k}_Layer") if f"Segment{k}_Layer" in keys else "0"
        detail = f"label {label}" + (f" in layer {layer}" if layer not in ("", "0") else "") + f", Segment{k}"
        segments.append(Structure(name, label, detail))
        k += 1
    return segments


#: What to do about a ``.seg.nrrd`` whose GTV segment cannot be told apart.
SEG_NRRD_FIX = ("Export the GTV segment alone to a labelmap file (3D Slicer: show only the GTV segment, "
                "right-click the segmentation in the Data module, \"Export visible segments to binary labelmap\", "
                "save it) and give that file, or give each segment its own name.")


def check_slicer_segment(image, counts: dict, label, what: str, source: str) -> None:
    """Refuse a ``.seg.nrrd`` GTV whose segment shares its name with another segment.

    The segment in question is the one of ``label`` (the option ``gtv_label``), else the one of the
    only non-zero label; with several labels and none chosen, any name two segments share.

    Args:
        image: the mask as read (SimpleITK, with the file's metadata); nothing is checked for an
            image without a segment table.
        counts: {label value: voxel count} of its non-zero values.
        label: the chosen label or None; what: the input's name; source: "the file X" for messages.

    Raises:
        InputError (``OptionError`` on ``what`` when it is a parameter): the name is shared (the
            message lists the segments, their label values and layers, and ``SEG_NRRD_FIX``).
    """
    segments = slicer_segments(image)
    if not segments:
        return
    if label is None and len(counts) == 1:
        label = next(iter(counts))
    if label is not None:
        name = next((s.name for s in segments if s.number == label), None)
    else:
        name = shared_name(segments)
    if name is not None:
        refuse_shared_name(name, segments, what, source, "segments", SEG_NRRD_FIX)
