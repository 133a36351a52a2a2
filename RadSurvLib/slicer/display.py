"""How RadSurv's results look in a Slicer scene: the colour scheme of ``outputs.colours`` (shared
with ``overview.png``) applied to MRML nodes, and the slice views of a result scene (CT
background, Grad-CAM heatmap foreground, centred on the GTV).

:func:`show_results` sets up the slice views through the scene's slice composite nodes and slice
nodes (the MRML nodes Slicer's slice views read). In the 3D Slicer application those nodes exist
(one per view of the layout); in a ``slicer-core`` scene (``radsurv score --scene``) there are none,
so the Red / Green / Yellow views are created, which makes ``scene.mrb`` open with the CT and the
heatmap in its slice views. ``slicer`` and ``vtk`` are imported inside the functions, so importing
this module needs neither.
"""

from __future__ import annotations

# The colour scheme is outputs.colours; these names stay readable here for the render test.
from ..outputs.colours import (CT_WINDOW_HU, CT_WINDOW_PRESETS, GTV_COLOR, HEATMAP_COLORMAP,  # noqa: F401
                               HEATMAP_OPACITY, LUNG_WINDOW_HU, RING_COLORS, SOFT_TISSUE_WINDOW_HU,
                               VOXEL_MAP_COLORMAP, heatmap_display_range, ring_color, roi_colors)

#: Slice views of a result scene: (layout name, orientation), as in Slicer's conventional layout.
SLICE_VIEWS = (("Red", "Axial"), ("Green", "Coronal"), ("Yellow", "Sagittal"))

#: Field of view of the slice views: this many times the GTV's largest extent, within the bounds
#: below (mm) and at most the CT's largest extent, so that the peritumoral region shows around it.
FIELD_OF_VIEW_GTV_FACTOR = 2.5
FIELD_OF_VIEW_MIN_MM = 80.0


# --------------------------------------------------------------------------------------------
# MRML: styling nodes and setting up the slice views
# --------------------------------------------------------------------------------------------

def style_ct(ct_node, force: bool = False) -> None:
    """Give the CT the soft-tissue window ``CT_WINDOW_HU`` (W 400 / L 40) unless a window was chosen
    for it, and the window/level presets ``CT_WINDOW_PRESETS`` (soft tissue, lung).

    The presets are the display node's own (``AddWindowLevelPreset``): in 3D Slicer the lung window
    is one click away (Volumes module, window/level presets; ``SetWindowLevelFromPreset(1)`` in
    Python). A display node on automatic window/level has no window chosen (Slicer's default when
    it loads a volume); one set by hand (``AutoWindowLevel`` off) is left alone unless ``force``.
    """
    display = ct_node.GetDisplayNode()
    if display is None:
        ct_node.CreateDefaultDisplayNodes()
        display = ct_node.GetDisplayNode()
    known = {(display.GetWindowPreset(i), display.GetLevelPreset(i))
             for i in range(display.GetNumberOfWindowLevelPresets())}
    for _name, window, level in CT_WINDOW_PRESETS:
        if (window, level) not in known:
            display.AddWindowLevelPreset(window, level)
    if force or display.GetAutoWindowLevel():
        display.AutoWindowLevelOff()
        display.SetWindowLevelMinMax(*CT_WINDOW_HU)


def style_segments(segmentation_node, ring_segment_ids, gtv_segment_id=None) -> None:
    """Draw the rings (and, when given, the GTV) as outlines, not filled.

    The rings get their colours (``RING_COLORS``) when they are added; filled, they would tint the
    CT and the heatmap under them. Pass ``gtv_segment_id`` only for a GTV segment RadSurv made
    itself (``scene.mrb``): it then gets ``GTV_COLOR``; a user's GTV in the Slicer module keeps its
    own colour (:func:`show_results` only turns its fill off).
    """
    display = segmentation_node.GetDisplayNode()
    if display is None:
        segmentation_node.CreateDefaultDisplayNodes()
        display = segmentation_node.GetDisplayNode()
    own = [gtv_segment_id] if gtv_segment_id else []
    if gtv_segment_id:
        segmentation_node.GetSegmentation().GetSegment(gtv_segment_id).SetColor(*GTV_COLOR)
    for segment_id in [*own, *ring_segment_ids]:
        display.SetSegmentVisibility2DFill(segment_id, False)
        display.SetSegmentVisibility2DOutline(segment_id, True)
        display.SetSegmentOpacity2DOutline(segment_id, 1.0)


def gtv_on_top(segmentation_node, gtv_segment_id) -> None:
    """Draw the GTV's outline over the rings' (added after it, they would be drawn over it): the GTV
    segment is moved last in the segmentation, the order Slicer's slice views draw segments in
    (its name, colour and voxels are unchanged), and drawn as an opaque outline, not filled."""
    display = segmentation_node.GetDisplayNode()
    segmentation = segmentation_node.GetSegmentation()
    n = segmentation.GetNumberOfSegments()
    if segmentation.GetSegmentIndex(gtv_segment_id) != n - 1:
        segmentation.SetSegmentIndex(gtv_segment_id, n - 1)
    display.SetSegmentVisibility2DFill(gtv_segment_id, False)
    display.SetSegmentVisibility2DOutline(gtv_segment_id, True)
    display.SetSegmentOpacity2DOutline(gtv_segment_id, 1.0)


def slice_views(scene) -> list[tuple]:
    """(slice node, slice composite node) pairs of the scene's slice views, matched by layout name.

    Creates the Red / Green / Yellow views (``SLICE_VIEWS``) when the scene has none (a
    ``slicer-core`` scene); in 3D Slicer the views of the layout are returned.
    """
    if scene.GetNodesByClass("vtkMRMLSliceCompositeNode").GetNumberOfItems() == 0:
        for layout_name, orientation in SLICE_VIEWS:
            _add_slice_view(scene, layout_name, orientation)
    pairs = []
    composites = scene.GetNodesByClass("vtkMRMLSliceCompositeNode")
    for i in range(composites.GetNumberOfItems()):
        composite = composites.GetItemAsObject(i)
        slice_node = _slice_node(scene, composite.GetLayoutName())
        if slice_node is not None:
            pairs.append((slice_node, composite))
    return pairs


def _slice_node(scene, layout_name):
    nodes = scene.GetNodesByClass("vtkMRMLSliceNode")
    for i in range(nodes.GetNumberOfItems()):
        node = nodes.GetItemAsObject(i)
        if node.GetLayoutName() == layout_name:
            return node
    return None


def _add_slice_view(scene, layout_name: str, orientation: str) -> None:
    """A slice node and its composite node, as Slicer's layout manager makes them (singletons
    tagged with the layout name, so that Slicer merges them into its views when it loads the scene)."""
    import slicer

    slicer.vtkMRMLSliceNode.AddDefaultSliceOrientationPresets(scene, True)
    slice_node = scene.CreateNodeByClass("vtkMRMLSliceNode")
    slice_node.SetName(layout_name)
    slice_node.SetLayoutName(layout_name)
    slice_node.SetSingletonTag(layout_name)
    slice_node.SetDefaultOrientation(orientation)
    slice_node.SetOrientationToDefault()
    scene.AddNode(slice_node)
    composite = scene.CreateNodeByClass("vtkMRMLSliceCompositeNode")
    composite.SetLayoutName(layout_name)
    composite.SetSingletonTag(layout_name)
    scene.AddNode(composite)


def gtv_centre_and_extent_ras(segmentation_node, segment_id):
    """Centre (RAS, mm) of a segment's bounding box and its largest extent (mm).

    Raises:
        InputError: the segment is empty.
    """
    from ..errors import InputError

    bounds = [0.0] * 6
    segment = segmentation_node.GetSegmentation().GetSegment(segment_id)
    segment.GetBounds(bounds)
    if bounds[1] < bounds[0]:
        raise InputError(f"Segment '{segment.GetName()}' of '{segmentation_node.GetName()}' is empty: "
                         "paint the GTV first.")
    # Segment bounds are in the segmentation's own frame; the segmentation is not transformed
    # in a result scene (write_results_to_scene refuses a transform differing from the CT's).
    centre = [(bounds[2 * k] + bounds[2 * k + 1]) / 2 for k in range(3)]
    extent = max(bounds[2 * k + 1] - bounds[2 * k] for k in range(3))
    return centre, extent


def nearest_voxel_ras(volume_node, ras):
    """The centre (RAS, mm) of the voxel of ``volume_node`` nearest to a RAS point.

    Views through voxel centres show the CT's own slices, not an interpolation between two.
    """
    import vtk

    ras_to_ijk, ijk_to_ras = vtk.vtkMatrix4x4(), vtk.vtkMatrix4x4()
    volume_node.GetRASToIJKMatrix(ras_to_ijk)
    volume_node.GetIJKToRASMatrix(ijk_to_ras)
    ijk = [round(v) for v in ras_to_ijk.MultiplyPoint([*ras, 1.0])[:3]]
    return list(ijk_to_ras.MultiplyPoint([*ijk, 1.0])[:3])


def _ct_extent_mm(ct_node) -> float:
    bounds = [0.0] * 6
    ct_node.GetRASBounds(bounds)
    return max(bounds[2 * k + 1] - bounds[2 * k] for k in range(3))


def show_results(scene, ct_node, heatmap_node, segmentation_node, gtv_segment_id, ring_segment_ids=()) -> None:
    """Set the slice views to show a RadSurv result: CT, heatmap overlay, rings, centred on the GTV.

    Every slice view of the scene (created when there is none, see :func:`slice_views`) gets the
    CT as background, the heatmap as foreground at ``HEATMAP_OPACITY`` (its display node's
    threshold makes values below the median of the heatmap in the GTV transparent, see
    ``outputs.colours.heatmap_display_range``; without a heatmap the foreground is left as it
    was), no label layer, and is centred on the GTV's bounding box (at the nearest CT voxel
    centre) with a field of view of ``FIELD_OF_VIEW_GTV_FACTOR`` times its largest extent (at
    least ``FIELD_OF_VIEW_MIN_MM``, at most the CT's largest extent). The CT gets the soft-tissue
    window if it has none chosen (the lung window as its second preset, :func:`style_ct`); rings
    and the GTV are drawn as outlines, the GTV's over the rings' (:func:`gtv_on_top`; the GTV's
    fill would hide the heatmap; its colour is left as it was).

    Args:
        scene: ``vtkMRMLScene`` holding the nodes.
        ct_node: the scored CT (``vtkMRMLScalarVolumeNode``).
        heatmap_node: the Grad-CAM heatmap volume (values in [0, 1]), or None.
        segmentation_node: ``vtkMRMLSegmentationNode`` with the GTV and ring segments.
        gtv_segment_id: ID of the GTV segment (centres the views).
        ring_segment_ids: IDs of the ring segments, innermost first.
    """
    style_ct(ct_node)
    style_segments(segmentation_node, list(ring_segment_ids))
    # A filled GTV would hide the heatmap over it: outline only (its colour stays the user's).
    gtv_on_top(segmentation_node, gtv_segment_id)
    centre, gtv_extent = gtv_centre_and_extent_ras(segmentation_node, gtv_segment_id)
    centre = nearest_voxel_ras(ct_node, centre)
    fov = min(max(FIELD_OF_VIEW_GTV_FACTOR * gtv_extent, FIELD_OF_VIEW_MIN_MM), _ct_extent_mm(ct_node))
    for slice_node, composite in slice_views(scene):
        composite.SetBackgroundVolumeID(ct_node.GetID())
        if heatmap_node is not None:
            composite.SetForegroundVolumeID(heatmap_node.GetID())
            composite.SetForegroundOpacity(HEATMAP_OPACITY)
        composite.SetLabelVolumeID(None)
        dims = slice_node.GetDimensions()
        aspect = dims[1] / dims[0] if dims[0] else 1.0
        slice_node.SetFieldOfView(fov, fov * aspect, slice_node.GetFieldOfView()[2])
        slice_node.JumpSliceByCentering(*centre)
        slice_node.UpdateMatrices()
