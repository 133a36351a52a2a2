"""Putting RadSurv results into a Slicer (MRML) scene (``slicer.mrb`` saves such a scene as ``.mrb``).

This module needs only the ``slicer`` MRML classes: it runs in 3D Slicer and, for tests and the
``radsurv --scene`` option, on the ``slicer-core`` wheel (pure-Python MRML, no Qt). ``slicer``,
``vtk`` and ``numpy`` are imported inside the functions, so importing ``RadSurvLib`` stays cheap.

What :func:`write_results_to_scene` reads is the output directory written by
``RadSurvLib.pipeline.score_case`` (``outputs.folder.read_output_dir``; file names as in
``result.json["outputs"]``):

- ``rings.nrrd``: uint8 labelmap on the CT grid, 1 = GTV, k + 2 = k-th peritumoral ring;
- ``rings_1mm.nrrd``: the same labels on the 1 mm analysis grid, the ROIs the features were
  computed on (runs older than this file have none: their ring segments come from ``rings.nrrd``);
- ``voxelmap_<family>_<Feature>.nrrd``: float32 voxel radiomics maps on the CT grid;
- ``heatmap.nrrd``: float32 Grad-CAM map on the CT grid, values in [0, 1];
- ``features.csv``: one row per ROI (column ``roi``), one column per PyRadiomics feature;
- ``result.json``: risk score, risk group, cut-off, model description, ring sizes.

What it adds to the scene (only the parts asked for in ``outputs``, all by default; it never
renames, modifies or removes anything that was there):

- one segment per ring in the GTV's segmentation node, named ``"<GTV name> ring 0-3 mm"``, from
  ``rings_1mm.nrrd``: each segment keeps the 1 mm analysis geometry (a segment's binary labelmap
  carries its own), so the rings shown are the rings analysed, in every view; a segmentation
  saved later by Slicer is written on its reference geometry (``slicer.mrb`` makes that the 1 mm
  grid for ``scene.mrb``);
- one ``vtkMRMLScalarVolumeNode`` per voxel map, named ``"RadSurv <family>_<Feature>"``, with the
  colour map ``outputs.colours.VOXEL_MAP_COLORMAP`` (Viridis), its window the 1st-99th percentile of
  its values in the GTV, 0 (outside the GTV) transparent, and a colour legend (shown with the map);
- the ``vtkMRMLScalarVolumeNode`` ``"RadSurv <method> heatmap"`` (the method ``result.json``
  records: ``"RadSurv HiResCAM heatmap"``, ``"RadSurv Grad-CAM heatmap"``) shown with the Inferno
  colour table, transparent below the median of its values in the GTV and with a colour scale up
  to their 99th percentile (``outputs.colours.heatmap_display_range``), with a colour legend;
- ``vtkMRMLTableNode`` ``"RadSurv scores"`` (rows: quantities; columns Quantity, Value, Unit);
- ``vtkMRMLTableNode`` ``"RadSurv features"`` (rows: features; columns: Feature, then one
  numeric column per ROI in ``features.csv`` order, e.g. GTV, ring_0-3mm, ...).

Display only (``display.show_results``): the slice views (created when the scene has none, as in
slicer-core) show the CT with the heatmap over it, centred on the GTV; the CT gets the soft-tissue
window (the lung window its second preset) if it has none chosen, and the GTV segment is drawn as
an outline so that the heatmap shows.

When a name is taken (a second run, or a user's segment that happens to share a ring's name),
the whole set of the run gets the first free suffix `` (2)``, `` (3)``, ... so that the nodes and
segments of one run keep matching names.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import InputError
from ..outputs.colours import HEATMAP_COLORMAP, VOXEL_MAP_COLORMAP, heatmap_display_range, ring_color
from ..outputs.folder import read_features_csv, read_output_dir
from .display import show_results
from .export import ijk_to_ras

#: Prefix of every node name that RadSurv creates.
NODE_PREFIX = "RadSurv"

#: How the heatmap node names each ``result.json["gradcam_method"]`` (``explain.METHODS``); a
#: result without a method (older runs) was Grad-CAM.
HEATMAP_METHOD_LABELS = {"hirescam": "HiResCAM", "gradcam": "Grad-CAM", None: "Grad-CAM"}

#: Parts of the results that can go into the scene (``write_results_to_scene``'s ``outputs``).
OUTPUT_PARTS = ("rings", "voxel_maps", "heatmap", "tables")

SCORES_TABLE_NAME = f"{NODE_PREFIX} scores"
FEATURES_TABLE_NAME = f"{NODE_PREFIX} features"

#: Name of the colour table RadSurv creates when Slicer's own "Inferno" table is not in the scene.
HEATMAP_COLOR_NODE_NAME = f"{NODE_PREFIX} heatmap (inferno)"
#: Name of the colour table RadSurv creates when Slicer's own "Viridis" table is not in the scene.
VOXEL_MAP_COLOR_NODE_NAME = f"{NODE_PREFIX} voxel maps (viridis)"

#: IDs of Slicer's built-in colour tables preferred for the heatmap, best first. They exist in
#: the 3D Slicer application; the slicer-core wheel has neither, so RadSurv then makes its own.
BUILTIN_HEATMAP_COLOR_NODE_IDS = (
    "vtkMRMLColorTableNodeFileInferno.txt",
)
#: Slicer's built-in Viridis table, for the voxel maps (RadSurv's own without it).
BUILTIN_VOXEL_MAP_COLOR_NODE_IDS = (
    "vtkMRMLColorTableNodeFileViridis.txt",
)

#: Percentiles of a voxel map's values in the GTV that bound its window (outliers saturate).
VOXEL_MAP_WINDOW_PERCENTILES = (1.0, 99.0)

#: Matplotlib's "inferno" colour map (CC0) sampled at 0, 1/8, ..., 1 (RGB in [0, 1]); the
#: 256-entry table is interpolated linearly between these anchors.
INFERNO_ANCHORS = (
    (0.001, 0.000, 0.014), (0.129, 0.047, 0.291), (0.342, 0.062, 0.429),
    (0.541, 0.135, 0.415), (0.736, 0.216, 0.330), (0.894, 0.353, 0.194),
    (0.978, 0.558, 0.035), (0.975, 0.798, 0.206), (0.988, 0.998, 0.645),
)

#: Attribute set on every node RadSurv creates: its role, so scripts can find the nodes.
ROLE_ATTRIBUTE = "RadSurv.Role"

#: Tolerance (mm, and unitless for the direction part) when comparing IJK-to-RAS matrices.
GEOMETRY_TOLERANCE_MM = 1e-3


def ring_segment_names(gtv_name: str, rings_info: list, labels_present) -> list[tuple[int, str]]:
    """Labels and segment names of the rings: ``"<GTV name> ring <inner>-<outer> mm"``.

    Args:
        gtv_name: name of the GTV segment.
        rings_info: ``result.json["rings"]`` (label, inner_mm, outer_mm per ring).
        labels_present: labels found in ``rings.nrrd``; used when ``rings_info`` is empty, then
            every label >= 2 is a ring named ``"<GTV name> ring <label - 1>"``.

    Returns:
        list of ``(label, name)`` in label order.
    """
    named = []
    for ring in rings_info:
        try:
            label = int(ring["label"])
            inner, outer = float(ring["inner_mm"]), float(ring["outer_mm"])
        except (KeyError, TypeError, ValueError):
            continue
        named.append((label, f"{gtv_name} ring {inner:g}-{outer:g} mm"))
    if not named:
        named = [(int(k), f"{gtv_name} ring {int(k) - 1}") for k in sorted(labels_present) if int(k) >= 2]
    return sorted(named)


def heatmap_color_table(n_colors: int = 256) -> list[tuple[float, float, float]]:
    """The heatmap colour table: ``n_colors`` RGB triples in [0, 1] interpolated from ``INFERNO_ANCHORS``."""
    anchors = INFERNO_ANCHORS
    table = []
    for i in range(n_colors):
        position = i / (n_colors - 1) * (len(anchors) - 1)
        k = min(int(position), len(anchors) - 2)
        t = position - k
        table.append(tuple((1 - t) * a + t * b for a, b in zip(anchors[k], anchors[k + 1])))
    return table


# --------------------------------------------------------------------------------------------
# MRML helpers
# --------------------------------------------------------------------------------------------

def read_volume(path, labelmap: bool = False):
    """Read an NRRD / NIfTI file into a new volume node that is not yet in any scene.

    ``vtkMRMLVolumeArchetypeStorageNode`` converts the file's LPS geometry to Slicer's RAS, as
    Slicer's "Add data" does; the storage node is dropped afterwards so that saving the scene
    later never writes into RadSurv's output folder.
    """
    import slicer

    node = slicer.vtkMRMLLabelMapVolumeNode() if labelmap else slicer.vtkMRMLScalarVolumeNode()
    storage = slicer.vtkMRMLVolumeArchetypeStorageNode()
    storage.SetFileName(str(path))
    if labelmap:
        storage.SetCenterImage(False)
    if not storage.ReadData(node) or node.GetImageData() is None:
        raise InputError(f"Cannot read {path} as a volume; the file is damaged. Run the pipeline again.")
    return node


def heatmap_node_name(method) -> str:
    """Name of the heatmap volume node for a CAM method (``result.json["gradcam_method"]``)."""
    label = HEATMAP_METHOD_LABELS.get(method, str(method))
    return f"{NODE_PREFIX} {label} heatmap"


def same_grid(node_a, node_b, tolerance_mm: float = GEOMETRY_TOLERANCE_MM) -> bool:
    """True when two volume nodes have the same voxel grid (dimensions and IJK-to-RAS matrix)."""
    import numpy as np

    dims_a = node_a.GetImageData().GetDimensions()
    dims_b = node_b.GetImageData().GetDimensions()
    return tuple(dims_a) == tuple(dims_b) and bool(
        np.allclose(ijk_to_ras(node_a), ijk_to_ras(node_b), atol=tolerance_mm, rtol=0))


def segment_names(segmentation_node) -> list[str]:
    """Names of the segments of a ``vtkMRMLSegmentationNode``, in segment order."""
    segmentation = segmentation_node.GetSegmentation()
    return [segmentation.GetNthSegment(i).GetName() for i in range(segmentation.GetNumberOfSegments())]


def check_segment(segmentation_node, segment_id: str) -> str:
    """Check that a segmentation can receive ring segments next to the given segment.

    Args:
        segmentation_node: ``vtkMRMLSegmentationNode`` holding the GTV.
        segment_id: ID of the GTV segment (not its name).

    Returns:
        the segment's name.

    Raises:
        InputError: no segmentation node, the segment ID is not in it, or the segmentation is
            stored as closed surfaces (adding labelmap rings would convert every segment).
    """
    import slicer

    if segmentation_node is None or not segmentation_node.IsA("vtkMRMLSegmentationNode"):
        raise InputError("No segmentation selected: choose the segmentation node that holds the GTV.")
    segmentation = segmentation_node.GetSegmentation()
    segment = segmentation.GetSegment(segment_id) if segment_id else None
    if segment is None:
        ids = [segmentation.GetNthSegmentID(i) for i in range(segmentation.GetNumberOfSegments())]
        raise InputError(f"Segment ID {segment_id!r} is not in segmentation "
                         f"'{segmentation_node.GetName()}' (its segment IDs: {', '.join(ids) or 'none'}). "
                         "Pick the GTV segment in that segmentation.")
    source = (segmentation.GetSourceRepresentationName() if hasattr(segmentation, "GetSourceRepresentationName")
              else segmentation.GetMasterRepresentationName())
    if source != slicer.vtkSegmentationConverter.GetSegmentationBinaryLabelmapRepresentationName():
        raise InputError(f"Segmentation '{segmentation_node.GetName()}' is stored as '{source}', not as a "
                         "binary labelmap; adding ring segments would convert all its segments. In the "
                         "Segmentations module, make 'Binary labelmap' the source representation first.")
    return segment.GetName()


def _name_taken(scene, segmentation_node, node_names, seg_names) -> bool:
    existing_segments = set(segment_names(segmentation_node))
    if any(name in existing_segments for name in seg_names):
        return True
    return any(scene.GetNodesByName(name).GetNumberOfItems() > 0 for name in node_names)


def _run_suffix(scene, segmentation_node, node_names, seg_names) -> str:
    """First suffix ("", " (2)", " (3)", ...) that makes every planned name of this run free."""
    run = 1
    while True:
        suffix = "" if run == 1 else f" ({run})"
        if not _name_taken(scene, segmentation_node, [n + suffix for n in node_names],
                           [n + suffix for n in seg_names]):
            return suffix
        run += 1


def threshold_image(image, low: float, high: float, inside: int, outside: int):
    """``vtkOrientedImageData`` (uint8): ``inside`` where ``low <= image <= high``, else ``outside``;
    keeps the image-to-world geometry of ``image``."""
    import slicer
    import vtk

    threshold = vtk.vtkImageThreshold()
    threshold.SetInputData(image)
    threshold.ThresholdBetween(low, high)
    threshold.SetInValue(inside)
    threshold.SetOutValue(outside)
    threshold.SetOutputScalarTypeToUnsignedChar()
    threshold.Update()
    binary = slicer.vtkOrientedImageData()
    binary.ShallowCopy(threshold.GetOutput())
    matrix = vtk.vtkMatrix4x4()
    image.GetImageToWorldMatrix(matrix)
    binary.SetImageToWorldMatrix(matrix)
    return binary


def _binary_labelmap(label_node, label: int):
    """``vtkOrientedImageData`` (uint8, 1 inside) of one label of a labelmap node, with its geometry."""
    import slicer

    image = slicer.vtkSlicerSegmentationsModuleLogic.CreateOrientedImageDataFromVolumeNode(label_node)
    return threshold_image(image, label, label, 1, 0)


def mark_chosen(segmentation_node, segment_id) -> None:
    """Flag a new segment's name and colour as chosen, so Slicer's terminology never replaces them."""
    segment = segmentation_node.GetSegmentation().GetSegment(segment_id)
    segment.SetNameAutoGenerated(False)
    segment.SetColorAutoGenerated(False)


def _color_node(scene, builtin_ids, name: str, colormap: str, role: str):
    """Slicer's built-in table when the scene has it, else RadSurv's own (matplotlib's ``colormap``
    sampled at 256 values), made once per scene and shared (it is never changed)."""
    import slicer

    for node_id in builtin_ids:
        node = scene.GetNodeByID(node_id)
        if node is not None:
            return node
    nodes = scene.GetNodesByName(name)
    for i in range(nodes.GetNumberOfItems()):
        node = nodes.GetItemAsObject(i)
        if node.GetAttribute(ROLE_ATTRIBUTE) == role:
            return node  # made by an earlier run
    colors = matplotlib_color_table(colormap) if colormap != HEATMAP_COLORMAP else heatmap_color_table()
    node = slicer.vtkMRMLColorTableNode()
    node.SetName(name)
    node.SetTypeToUser()
    node.SetNumberOfColors(len(colors))
    for i, (r, g, b) in enumerate(colors):
        node.SetColor(i, f"{i / (len(colors) - 1):.3f}", r, g, b, 1.0)
    node.SetAttribute(ROLE_ATTRIBUTE, role)
    scene.AddNode(node)
    return node


def matplotlib_color_table(colormap: str, n_colors: int = 256) -> list[tuple[float, float, float]]:
    """``n_colors`` RGB triples in [0, 1] of one of matplotlib's colour maps (e.g. ``"viridis"``)."""
    import matplotlib

    cmap = matplotlib.colormaps[colormap]
    return [tuple(float(c) for c in cmap(i / (n_colors - 1))[:3]) for i in range(n_colors)]


def _heatmap_color_node(scene):
    return _color_node(scene, BUILTIN_HEATMAP_COLOR_NODE_IDS, HEATMAP_COLOR_NODE_NAME, HEATMAP_COLORMAP,
                       "heatmap colors")


def _voxel_map_color_node(scene):
    return _color_node(scene, BUILTIN_VOXEL_MAP_COLOR_NODE_IDS, VOXEL_MAP_COLOR_NODE_NAME, VOXEL_MAP_COLORMAP,
                       "voxel map colors")


def register_color_legend_class(scene) -> None:
    """Let ``scene`` hold colour legends (``vtkMRMLColorLegendDisplayNode``), as Slicer's Colors
    module does at start: a bare slicer-core scene (trame-slicer's, the web app's, the tests') cannot
    otherwise create one, nor read a ``.mrb`` that holds one (RadSurv's result scenes do)."""
    import slicer

    if scene.CreateNodeByClass("vtkMRMLColorLegendDisplayNode") is None:
        scene.RegisterNodeClass(slicer.vtkMRMLColorLegendDisplayNode())


def add_color_legend(node, title: str):
    """A colour legend (``vtkMRMLColorLegendDisplayNode``, Slicer's Colors module) for a volume node.

    Made as Slicer's ``colors.logic().AddDefaultColorLegendDisplayNode`` makes it; it shows in the
    views where the volume is a layer, titled ``title``. Returns the legend display node.
    """
    import slicer

    register_color_legend_class(node.GetScene())
    legend = slicer.vtkSlicerColorLogic.AddDefaultColorLegendDisplayNode(node)
    if legend is None:
        raise InputError(f"Could not add a colour legend to '{node.GetName()}' (it has no display node).")
    legend.SetTitleText(title)
    legend.SetLabelFormat("%.2f" if "heatmap" in title else "%.3g")
    legend.SetVisibility(True)
    return legend


def _fmt(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "" if value is None else str(value)


def _percent(value) -> str:
    return "" if value is None else f"{100 * float(value):.0f} %"


def scores_rows(result: dict) -> list[tuple[str, str, str]]:
    """Rows (quantity, value, unit) of the scores table, from ``result.json``, numbers rounded to
    what they mean (``outputs.overview``: risk scores to 3 decimals, volumes in ml or mm^3,
    probabilities in %; ``result.json`` keeps them exact): scores, survival probabilities, model,
    GTV volume and components (each part's volume and RAS centre when there are several), rings,
    and RadSurv's warnings of the run (one row each)."""
    from ..outputs.overview import SURVIVAL_KEYS, format_risk, format_volume

    model = result.get("model") or {}
    gtv = result.get("gtv") or {}
    demonstration = bool(model.get("demonstration", True))
    rows = [
        ("risk score", format_risk(result["risk_score"]), "model output (higher = higher risk)"),
        ("risk group", _fmt(result.get("risk_group")), "high / low versus the cut-off"),
        ("risk cut-off", format_risk(result.get("risk_cutoff")), "model output"),
    ]
    rows += [(f"survival at {years} year{'s' if years > 1 else ''}", _percent(result[key]),
              "probability" + (" (demonstration model)" if demonstration else ""))
             for key, years in SURVIVAL_KEYS if result.get(key) is not None]
    rows += [
        ("model name", _fmt(model.get("name")), ""),
        ("model version", _fmt(model.get("version")), ""),
        ("demonstration model", _fmt(demonstration), "not for clinical use if yes"),
        ("disclaimer", _fmt(model.get("disclaimer")), ""),
        ("RadSurv version", _fmt(result.get("radsurv_version")), ""),
        ("device", _fmt(result.get("device")), ""),
        ("GTV volume", format_volume(gtv.get("volume_mm3_input")), "as delineated"),
    ]
    if "n_components" in gtv:  # gtv_components: the parts scored together as one GTV
        rows.append(("GTV components", _fmt(gtv["n_components"]), f"{gtv.get('connectivity')}-connected parts"))
    if len(gtv.get("components") or []) > 1:
        rows += [(f"GTV component {part['number']}", format_volume(part["volume_mm3"]),
                  "centre RAS (" + ", ".join(f"{v:.1f}" for v in part["centre_ras_mm"]) + ") mm")
                 for part in gtv["components"]]
    signature = result.get("signature") or {}
    if signature:
        rows += [("signature RadScore", format_risk(signature["radscore"]), "linear combination of z-scored features"),
                 ("signature risk group", _fmt(signature["risk_group"]), "high / low versus the training median"),
                 ("signature bundle", _fmt(signature.get("bundle")), "")]
        rows += [(f"signature survival at {k.split('_')[1]}", _percent(v), "probability")
                 for k, v in signature.items() if k.startswith("survival_")]
    for ring in result.get("rings") or []:
        if isinstance(ring, dict) and "volume_mm3" in ring:
            rows.append((f"{ring.get('name', 'ring')} volume", format_volume(ring["volume_mm3"]), "analysed (1 mm grid)"))
    rows += [("warning", _fmt(text), "") for text in result.get("warnings") or []]  # as radsurv score prints them
    return rows


def _column(array_class: str, name, values):
    """A named VTK array (``vtkStringArray`` / ``vtkDoubleArray``) holding ``values``, for a table column."""
    import vtk

    array = getattr(vtk, array_class)()
    array.SetName(name)
    for value in values:
        array.InsertNextValue(value)
    return array


def _string_column(name, values):
    return _column("vtkStringArray", name, values)


def _double_column(name, values):
    return _column("vtkDoubleArray", name, values)


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------

def write_results_to_scene(volume_node, segmentation_node, segment_id: str, out_dir, scene=None,
                           outputs=None) -> dict:
    """Add RadSurv's results (rings, voxel maps, heatmap, tables) to the scene of the CT.

    Every file is read and checked before the scene is touched, so an error leaves the scene as
    it was. Existing nodes and segments are never renamed, changed or removed.

    Args:
        volume_node: ``vtkMRMLScalarVolumeNode`` of the CT the pipeline scored; all output volumes
            must be on its voxel grid, and the new volumes get its parent transform.
        segmentation_node: ``vtkMRMLSegmentationNode`` holding the GTV segment; the ring segments
            are added to it (binary labelmaps on the CT grid, one layer each).
        segment_id: ID of the GTV segment (names the rings, e.g. ``"GTV ring 0-3 mm"``).
        out_dir: output folder of ``RadSurvLib.pipeline.score_case`` (see the module docstring).
        scene: ``vtkMRMLScene``; defaults to the volume node's scene.
        outputs: which parts go into the scene, ``{part: bool}`` for ``OUTPUT_PARTS`` (rings,
            voxel_maps, heatmap, tables); missing parts default to True.

    Returns:
        dict of what was created: ``segmentation`` (node ID), ``ring_segment_ids`` and
        ``ring_segment_names`` (lists, label order; empty without rings), ``voxel_map_volumes``
        (feature name -> node ID), ``heatmap_volume``, ``heatmap_legend`` (its colour legend display
        node ID), ``heatmap_shown_from`` / ``heatmap_top`` (the heatmap values shown: transparent
        below, colour scale top), ``heatmap_color`` (colour node ID, possibly
        shared), ``scores_table``, ``features_table`` (node IDs; absent when not asked for) and
        ``suffix`` (name suffix of this run).

    Raises:
        InputError: a file of ``out_dir`` is missing or unreadable; the segment ID is not in the
            segmentation; a node is not in the scene; an output volume is not on the CT's grid;
            the segmentation and the CT sit under different parent transforms; an unknown part
            in ``outputs``.
    """
    import numpy as np
    from vtk.util import numpy_support

    # -- check the inputs -------------------------------------------------------------------
    if volume_node is None or not volume_node.IsA("vtkMRMLScalarVolumeNode") or volume_node.GetImageData() is None:
        raise InputError("No CT volume: pass the scalar volume node (with image data) that was scored.")
    scene = scene if scene is not None else volume_node.GetScene()
    if scene is None or volume_node.GetScene() is not scene:
        raise InputError(f"Volume '{volume_node.GetName()}' is not in the given scene; add it to the scene first.")
    gtv_name = check_segment(segmentation_node, segment_id)
    if segmentation_node.GetScene() is not scene:
        raise InputError(f"Segmentation '{segmentation_node.GetName()}' is not in the CT's scene.")
    if (segmentation_node.GetTransformNodeID() or "") != (volume_node.GetTransformNodeID() or ""):
        raise InputError(f"Segmentation '{segmentation_node.GetName()}' and volume '{volume_node.GetName()}' "
                         "are under different parent transforms; harden the transforms (Data module) "
                         "so that the ring segments land where the rings were computed.")

    wanted = _wanted_parts(outputs)

    # -- read every file first --------------------------------------------------------------
    files = read_output_dir(out_dir)
    result = files["result"]
    rings_node = read_volume(files["rings"], labelmap=True) if wanted["rings"] or wanted["heatmap"] else None
    # the rings as analysed (1 mm grid) when the run wrote them; older runs: on the CT grid
    rings_shown = (read_volume(files["rings_1mm"], labelmap=True) if wanted["rings"] and files.get("rings_1mm")
                   else rings_node if wanted["rings"] else None)
    heatmap_node = read_volume(files["heatmap"]) if wanted["heatmap"] else None
    map_nodes = ({name: read_volume(path) for name, path in files["voxel_maps"].items()}
                 if wanted["voxel_maps"] else {})
    for what, node in [("rings.nrrd", rings_node), ("heatmap.nrrd", heatmap_node)] + [
            (Path(files["voxel_maps"][n]).name, node) for n, node in map_nodes.items()]:
        if node is not None and not same_grid(node, volume_node):
            raise InputError(f"{what} in {files['out_dir']} is not on the voxel grid of volume "
                             f"'{volume_node.GetName()}': the results were computed for another CT. "
                             "Select the CT that was scored, or score this one.")
    tables = read_features_csv(files["features"]) if wanted["tables"] else None

    rings = []
    if rings_shown is not None:
        ring_array = numpy_support.vtk_to_numpy(rings_shown.GetImageData().GetPointData().GetScalars())
        rings = ring_segment_names(gtv_name, files["rings_info"], np.unique(ring_array))
    heat_range = None
    if heatmap_node is not None:  # the heatmap's shown range from its values in the GTV (CT grid)
        heat_range = heatmap_display_range(_voxels(heatmap_node), _voxels(rings_node) == 1)

    heatmap_name = heatmap_node_name(result.get("gradcam_method"))
    map_names = {name: f"{NODE_PREFIX} {name}" for name in map_nodes}
    planned_nodes = [*([heatmap_name] if heatmap_node is not None else []),
                     *([SCORES_TABLE_NAME, FEATURES_TABLE_NAME] if tables is not None else []),
                     *map_names.values()]
    suffix = _run_suffix(scene, segmentation_node, planned_nodes, [name for _, name in rings])

    model = result.get("model") or {}
    demonstration = "yes" if model.get("demonstration", True) else "no"
    transform_id = volume_node.GetTransformNodeID()
    created = {"segmentation": segmentation_node.GetID(), "suffix": suffix}

    # -- ring segments ------------------------------------------------------------------------
    ring_ids, ring_names = [], []
    for index, (label, name) in enumerate(rings):
        binary = _binary_labelmap(rings_shown, label)
        color = ring_color(index)
        ring_id = segmentation_node.AddSegmentFromBinaryLabelmapRepresentation(binary, name + suffix, color)
        mark_chosen(segmentation_node, ring_id)
        ring_ids.append(ring_id)
        ring_names.append(name + suffix)
    created["ring_segment_ids"] = ring_ids
    created["ring_segment_names"] = ring_names

    def add_volume(node, name, role):
        node.SetName(name)
        node.SetAttribute(ROLE_ATTRIBUTE, role)
        node.SetAttribute("RadSurv.Demonstration", demonstration)
        scene.AddNode(node)
        node.CreateDefaultDisplayNodes()
        if transform_id:
            node.SetAndObserveTransformNodeID(transform_id)
        return node

    # -- voxel maps ----------------------------------------------------------------------------
    created["voxel_map_volumes"] = {}
    for name, node in map_nodes.items():
        add_volume(node, map_names[name] + suffix, "voxel map")
        node.SetDescription(f"Voxel-based radiomics map {name} (PyRadiomics definition) inside the GTV; "
                            "0 outside the GTV.")
        _style_voxel_map(scene, node, name)
        created["voxel_map_volumes"][name] = node.GetID()

    if heatmap_node is not None:
        created.update(_add_heatmap(scene, heatmap_node, heatmap_name + suffix, model, add_volume, heat_range))
    if tables is not None:
        created.update(_add_tables(scene, result, tables, suffix, demonstration))
    show_results(scene, volume_node, heatmap_node, segmentation_node, segment_id, ring_ids)
    return created


def _wanted_parts(outputs) -> dict:
    """``{part: bool}`` for every ``OUTPUT_PARTS`` entry (default True)."""
    outputs = dict(outputs or {})
    unknown = sorted(set(outputs) - set(OUTPUT_PARTS))
    if unknown:
        raise InputError(f"outputs: unknown part(s) {', '.join(unknown)}; choose from {', '.join(OUTPUT_PARTS)}.")
    return {part: bool(outputs.get(part, True)) for part in OUTPUT_PARTS}


def _voxels(node):
    """The voxel values of a volume node as a flat NumPy array (a view)."""
    from vtk.util import numpy_support

    return numpy_support.vtk_to_numpy(node.GetImageData().GetPointData().GetScalars())


def _style_voxel_map(scene, node, name: str) -> None:
    """Viridis, window over the map's 1st-99th percentile in the GTV (its non-zero voxels), 0
    transparent, and a colour legend titled with the feature's name."""
    import numpy as np

    values = _voxels(node)
    inside = values[(values != 0) & np.isfinite(values)]
    low, high = (np.percentile(inside, VOXEL_MAP_WINDOW_PERCENTILES) if inside.size else (0.0, 1.0))
    if high <= low:
        high = low + max(abs(low) * 1e-3, 1e-6)
    display = node.GetDisplayNode()
    display.SetAndObserveColorNodeID(_voxel_map_color_node(scene).GetID())
    display.AutoWindowLevelOff()
    display.SetWindowLevelMinMax(float(low), float(high))
    display.AutoThresholdOff()
    # 0 (outside the GTV) transparent: shown from just above / below 0 on the side the values lie
    lowest, highest = (float(inside.min()), float(inside.max())) if inside.size else (0.0, 1.0)
    display.SetThreshold(lowest, highest)
    display.ApplyThresholdOn()
    add_color_legend(node, name)


def _add_heatmap(scene, heatmap_node, name, model, add_volume, heat_range) -> dict:
    """Add the heatmap volume: Inferno from ``heat_range[0]`` (transparent below) to ``heat_range[1]``
    (``outputs.colours.heatmap_display_range``), with a colour legend."""
    add_volume(heatmap_node, name, "heatmap")
    shown_from, top = heat_range
    heatmap_node.SetDescription("Class-activation heatmap of the survival model, in [0, 1]; shows where the "
                                "model looked, not where the tumour is. Transparent below the median of its "
                                f"values in the GTV ({shown_from:.3f}); colour scale up to their 99th percentile "
                                f"({top:.3f}). " + str(model.get("disclaimer") or ""))
    color_node = _heatmap_color_node(scene)
    display = heatmap_node.GetDisplayNode()
    display.SetAndObserveColorNodeID(color_node.GetID())
    display.AutoWindowLevelOff()
    display.SetWindowLevelMinMax(shown_from, top)
    display.AutoThresholdOff()
    display.SetThreshold(shown_from, 1.0)
    display.ApplyThresholdOn()  # below the GTV's median heat (and 0 outside the model crop): transparent
    legend = add_color_legend(heatmap_node, name[len(NODE_PREFIX) + 1:] if name.startswith(NODE_PREFIX) else name)
    return {"heatmap_volume": heatmap_node.GetID(), "heatmap_color": color_node.GetID(),
            "heatmap_legend": legend.GetID(), "heatmap_shown_from": shown_from, "heatmap_top": top}


def _add_tables(scene, result, tables, suffix: str, demonstration: str) -> dict:
    """Add the scores table and the features table (one row per feature, one column per ROI)."""
    roi_names, feature_names, feature_values = tables
    rows = scores_rows(result)
    scores = scene.AddNewNodeByClass("vtkMRMLTableNode", SCORES_TABLE_NAME + suffix)
    scores.SetAttribute(ROLE_ATTRIBUTE, "scores")
    scores.SetAttribute("RadSurv.Demonstration", demonstration)
    scores.AddColumn(_string_column("Quantity", [r[0] for r in rows]))
    scores.AddColumn(_string_column("Value", [r[1] for r in rows]))
    scores.AddColumn(_string_column("Unit", [r[2] for r in rows]))

    features = scene.AddNewNodeByClass("vtkMRMLTableNode", FEATURES_TABLE_NAME + suffix)
    features.SetAttribute(ROLE_ATTRIBUTE, "features")
    features.AddColumn(_string_column("Feature", feature_names))
    for column, roi in enumerate(roi_names):
        features.AddColumn(_double_column(roi, [feature_values[f][column] for f in feature_names]))
        features.SetColumnDescription(roi, f"PyRadiomics feature values in ROI {roi}")
    features.SetUseFirstColumnAsRowHeader(True)
    return {"scores_table": scores.GetID(), "features_table": features.GetID()}
