"""Export of a scene's CT and GTV segment to files for the worker (MRML only, no Qt).

``slicer`` (MRML: the 3D Slicer application or the slicer-core wheel) and ``vtk`` are imported
inside the functions.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ..errors import InputError


def _voxels(node):
    from vtk.util import numpy_support

    return numpy_support.vtk_to_numpy(node.GetImageData().GetPointData().GetScalars())


def ijk_to_ras(node):
    """The IJK-to-RAS matrix of a volume node as a 4 x 4 NumPy array (mm)."""
    import numpy as np
    import vtk

    matrix = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(matrix)
    return np.array([[matrix.GetElement(r, c) for c in range(4)] for r in range(4)])


def _ijk_to_ras_values(node) -> list[float]:
    """The IJK-to-RAS matrix, row by row, rounded to 1e-6 mm (for the input key)."""
    return [round(float(v), 6) for v in ijk_to_ras(node).ravel()]


def _write_volume(node, path: Path) -> Path:
    """Write a volume node to NRRD (RAS -> LPS as Slicer's Save does) without touching the node."""
    import slicer

    storage = slicer.vtkMRMLVolumeArchetypeStorageNode()
    storage.SetFileName(str(path))
    storage.SetUseCompression(False)
    if not storage.WriteData(node):
        raise InputError(f"Could not write {node.GetName()} to {path}; check the temporary folder's free space.")
    return path


def export_case(volume_node, segmentation_node, segment_id: str, folder) -> dict:
    """Write the CT and the GTV segment (a labelmap on the CT's grid) as NRRD files.

    The segment is exported with ``vtkSlicerSegmentationsModuleLogic.ExportSegmentsToLabelmapNode``
    using the CT as reference geometry, through a temporary labelmap node that is removed again:
    the scene holds the same nodes afterwards.

    Returns:
        dict ``ct`` and ``gtv`` (paths) and ``key_parts`` (SHA-256 of the CT voxels + geometry and of
        the mask voxels + geometry).

    Raises:
        InputError: the export fails or the GTV segment is empty.
    """
    import numpy as np
    import slicer
    import vtk

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    scene = volume_node.GetScene()
    before = {scene.GetNthNode(i).GetID() for i in range(scene.GetNumberOfNodes())}
    labelmap = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", "RadSurv GTV export")
    try:
        ids = vtk.vtkStringArray()
        ids.InsertNextValue(segment_id)
        if not slicer.vtkSlicerSegmentationsModuleLogic.ExportSegmentsToLabelmapNode(
                segmentation_node, ids, labelmap, volume_node):
            raise InputError(f"Could not export segment {segment_id} onto the grid of {volume_node.GetName()}.")
        mask = _voxels(labelmap)
        if not np.any(mask):
            raise InputError(f"The GTV segment {segment_id!r} is empty on the grid of {volume_node.GetName()}: "
                             "paint it in the Segment Editor first.")
        ct_hash = hashlib.sha256(_voxels(volume_node).tobytes())
        ct_hash.update(json.dumps(_ijk_to_ras_values(volume_node)).encode())
        mask_hash = hashlib.sha256((mask != 0).tobytes())
        mask_hash.update(json.dumps(_ijk_to_ras_values(labelmap)).encode())
        ct_path = _write_volume(volume_node, folder / "ct.nrrd")
        gtv_path = _write_volume(labelmap, folder / "gtv.nrrd")
    finally:
        # the labelmap and what the export made for it (display node, colour table), not singletons
        added = [scene.GetNthNode(i) for i in range(scene.GetNumberOfNodes())]
        for node in reversed([n for n in added if n.GetID() not in before and not n.GetSingletonTag()]):
            scene.RemoveNode(node)
    return {"ct": str(ct_path), "gtv": str(gtv_path), "key_parts": [ct_hash.hexdigest(), mask_hash.hexdigest()]}

