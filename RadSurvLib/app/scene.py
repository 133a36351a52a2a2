"""The web app's case in its MRML scene: the CT node, the segmentation with its "GTV" segment.

MRML only (3D Slicer's classes from the slicer-core wheel, no trame, no Qt), so it is tested
without a browser. The reading of files into nodes, the GTV's colour and the ``.mrb`` writing are
those of ``RadSurvLib.slicer`` (``write.read_volume``, ``mrb``), shared with the Slicer module.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from ..errors import InputError

#: Name of the segment the app scores (the Segment Editor edits it).
GTV_SEGMENT_NAME = "GTV"

#: Name of the CT node.
CT_NODE_NAME = "CT"


def add_ct(scene, ct_image, name: str = CT_NODE_NAME):
    """Add a SimpleITK CT (HU) to the scene as a ``vtkMRMLScalarVolumeNode`` (LPS -> RAS as Slicer's
    "Add data"); returns the node."""
    from ..io.images import write_image
    from ..slicer.write import read_volume

    with tempfile.TemporaryDirectory(prefix="radsurv-app-") as tmp:
        node = read_volume(write_image(ct_image, Path(tmp) / "ct.nrrd", compress=False))
    node.SetName(name)
    scene.AddNode(node)
    node.CreateDefaultDisplayNodes()
    return node


def gtv_segment_id(segmentation_node) -> str:
    """ID of the segment named "GTV" ("" when there is none)."""
    segmentation = segmentation_node.GetSegmentation()
    return segmentation.GetSegmentIdBySegmentName(GTV_SEGMENT_NAME) or ""


def ensure_gtv_segment(segmentation_node, ct_node) -> str:
    """The "GTV" segment of ``segmentation_node``, added empty (in RadSurv's GTV colour) when missing;
    the segmentation's reference geometry is set to the CT's grid so edits land on CT voxels."""
    from ..slicer.display import style_segments

    if segmentation_node.GetNodeReference(segmentation_node.GetReferenceImageGeometryReferenceRole()) is None:
        segmentation_node.SetReferenceImageGeometryParameterFromVolumeNode(ct_node)
    segment_id = gtv_segment_id(segmentation_node)
    if not segment_id:
        segment_id = segmentation_node.GetSegmentation().AddEmptySegment("", GTV_SEGMENT_NAME)
        style_segments(segmentation_node, [], segment_id)
    return segment_id


def set_gtv_from_mask(segmentation_node, ct_node, mask_image) -> str:
    """Replace the "GTV" segment's voxels with a SimpleITK mask on the CT's grid (1 = GTV); returns
    the segment ID. A mask on another grid is refused (``InputError``)."""
    from ..io.images import write_image
    from ..slicer.mrb import binary_nonzero
    from ..slicer.write import mark_chosen, read_volume, same_grid
    from ..slicer.display import style_segments

    with tempfile.TemporaryDirectory(prefix="radsurv-app-") as tmp:
        label_node = read_volume(write_image(mask_image, Path(tmp) / "gtv.nrrd", compress=False), labelmap=True)
    if not same_grid(label_node, ct_node):
        raise InputError("gtv: the mask is not on the CT's voxel grid; resample it onto the CT.")
    binary = binary_nonzero(label_node)
    old = gtv_segment_id(segmentation_node)
    if old:
        segmentation_node.GetSegmentation().RemoveSegment(old)
    segmentation_node.SetReferenceImageGeometryParameterFromVolumeNode(ct_node)
    segment_id = segmentation_node.AddSegmentFromBinaryLabelmapRepresentation(binary, GTV_SEGMENT_NAME)
    mark_chosen(segmentation_node, segment_id)
    style_segments(segmentation_node, [], segment_id)
    return segment_id


def segment_mask(segmentation_node, segment_id: str, ct_node):
    """The segment as a NumPy bool array on the CT's voxel grid, axes (z, y, x) as SimpleITK's."""
    import numpy as np
    import slicer
    import vtk
    from vtk.util import numpy_support

    label_node = slicer.vtkMRMLLabelMapVolumeNode()
    ct_node.GetScene().AddNode(label_node)
    try:
        ids = vtk.vtkStringArray()
        ids.InsertNextValue(segment_id)
        ok = slicer.vtkSlicerSegmentationsModuleLogic.ExportSegmentsToLabelmapNode(
            segmentation_node, ids, label_node, ct_node)
        if not ok or label_node.GetImageData() is None:
            raise InputError(f"gtv: the segment {segment_id!r} could not be exported onto the CT's grid.")
        image = label_node.GetImageData()
        dims = image.GetDimensions()
        values = numpy_support.vtk_to_numpy(image.GetPointData().GetScalars())
        return np.asarray(values).reshape(dims[2], dims[1], dims[0]) > 0
    finally:
        ct_node.GetScene().RemoveNode(label_node)


def dice(a, b) -> float:
    """Dice similarity coefficient 2|A n B| / (|A| + |B|) of two boolean arrays (1.0 when both empty)."""
    import numpy as np

    a, b = np.asarray(a, bool), np.asarray(b, bool)
    total = int(a.sum()) + int(b.sum())
    return 1.0 if total == 0 else 2.0 * int((a & b).sum()) / total


def scene_snapshot(scene) -> dict:
    """What the user has in the scene: node ID -> (class, name), and per segmentation its segment IDs
    and the GTV's voxel count; equal snapshots mean an unchanged scene (used after Cancel)."""
    snapshot = {}
    for index in range(scene.GetNumberOfNodes()):
        node = scene.GetNthNode(index)
        if node.GetHideFromEditors() or node.IsA("vtkMRMLSelectionNode") or node.IsA("vtkMRMLViewNode"):
            continue
        entry = (node.GetClassName(), node.GetName())
        if node.IsA("vtkMRMLSegmentationNode"):
            segmentation = node.GetSegmentation()
            entry += (tuple(segmentation.GetNthSegmentID(i) for i in range(segmentation.GetNumberOfSegments())),)
        snapshot[node.GetID()] = entry
    return snapshot


def write_scene_mrb(scene, mrb_path) -> Path:
    """Save the whole scene as a Slicer ``.mrb`` (3D Slicer opens it with File > Load).

    Raises:
        InputError: the bundle cannot be written.
    """
    mrb_path = Path(mrb_path).resolve()
    mrb_path.parent.mkdir(parents=True, exist_ok=True)
    if mrb_path.exists():
        mrb_path.unlink()
    if not scene.WriteToMRB(str(mrb_path)) or not mrb_path.is_file():
        raise InputError(f"Could not write the scene bundle {mrb_path}.")
    return mrb_path


def segment_volume_ml(segmentation_node, segment_id: str) -> float:
    """Volume of a segment, ml, from its binary labelmap as the Segment Editor holds it (no export:
    cheap enough to run after every brush stroke).

    Counts the voxels carrying the segment's label value in its labelmap layer (segments may share
    a layer) times the voxel volume (the labelmap's spacing, mm^3); 0.0 for an empty segment or one
    without a binary labelmap.
    """
    import numpy as np
    from vtk.util import numpy_support

    segment = segmentation_node.GetSegmentation().GetSegment(segment_id)
    if segment is None:
        return 0.0
    labelmap = segment.GetRepresentation("Binary labelmap")
    if labelmap is None or labelmap.GetPointData() is None or labelmap.GetPointData().GetScalars() is None:
        return 0.0
    values = numpy_support.vtk_to_numpy(labelmap.GetPointData().GetScalars())
    count = int(np.count_nonzero(values == segment.GetLabelValue()))
    spacing = labelmap.GetSpacing()
    return count * spacing[0] * spacing[1] * spacing[2] / 1000.0
