"""Saving the results of a run as a 3D Slicer scene bundle (``.mrb``) and loading one back.

Outside Slicer this runs on the ``slicer-core`` wheel (pure-Python MRML); the scene is built with
``slicer.write.write_results_to_scene``, the same code the Slicer module uses. The pipeline writes
no scene: the front ends that ask for one (``radsurv score --scene``, a worker job or a cohort with
``scene_path``) call ``save_case_scene`` once ``pipeline.score_case`` has returned.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import InputError
from ..outputs.colours import GTV_COLOR
from .display import style_segments
from ..outputs.folder import read_output_dir
from .write import (mark_chosen, read_volume, register_color_legend_class, same_grid, threshold_image,
                    write_results_to_scene)


def _slicer_core_version() -> str:
    """MRML version string of the slicer-core wheel in Slicer's "Slicer X.Y.Z revision" form."""
    try:
        from importlib.metadata import version

        parts = version("slicer-core").split(".")
        return f"Slicer {parts[0]}.{parts[1]}.0 {parts[2] if len(parts) > 2 else 0}"
    except Exception:  # noqa: BLE001  (not installed as a distribution: keep the library default)
        return ""


def save_case_scene(ct, gtv, out_dir, options, result: dict, progress=None) -> dict:
    """Save a finished ``score_case`` run as the scene ``options.scene_path`` (nothing when None).

    Args:
        ct, gtv: the inputs given to ``score_case`` (paths, or SimpleITK images: those are saved in
            ``out_dir`` as ``input_ct.nrrd`` / ``input_gtv.nrrd`` for the scene).
        out_dir: the run's output folder; options: its ``ScoreOptions``; result: what it returned.
        progress: optional callable(``progress.ProgressEvent``): the "scene" stage's start and end.

    Returns:
        A copy of ``result`` with ``outputs["scene"]`` (the bundle's path) and ``timings_s["scene"]``
        (s), also written to ``result.json`` (``result`` itself is left as it was).

    Raises:
        InputError: as ``save_scene_mrb``.
    """
    import os
    import time

    from ..io.images import read_mask, write_image
    from ..outputs.folder import RESULT_FILE, write_json
    from ..progress import ProgressEvent

    if not options.scene_path:
        return result
    report = progress or (lambda event: None)
    report(ProgressEvent("scene", 1.0, f"saving the Slicer scene {options.scene_path}"))
    start = time.perf_counter()
    out_dir = Path(out_dir)
    paths = []
    for source, name in ((ct, "input_ct.nrrd"), (gtv, "input_gtv.nrrd")):
        if isinstance(source, (str, os.PathLike)):
            paths.append(Path(source))
        else:
            image = source if name == "input_ct.nrrd" else read_mask(source, "gtv", label=options.gtv_label)
            paths.append(write_image(image, out_dir / name))
    scene = str(save_scene_mrb(*paths, out_dir, options.scene_path))
    seconds = round(time.perf_counter() - start, 3)
    result = {**result, "outputs": {**result["outputs"], "scene": scene},
              "timings_s": {**result["timings_s"], "scene": seconds}}
    report(ProgressEvent("scene", 1.0, f"done in {seconds:.1f} s", done=True))
    write_json(result, out_dir / RESULT_FILE)
    return result


def save_scene_mrb(ct_path, gtv_path, out_dir, mrb_path) -> Path:
    """Build a scene from files with slicer-core, add the results and save a Slicer ``.mrb``.

    The scene holds the CT (``vtkMRMLScalarVolumeNode`` "CT"), a segmentation "Segmentation" with
    the segment "GTV" and the rings as analysed: on the 1 mm analysis grid of ``rings_1mm.nrrd``
    (the segmentation's reference geometry, so that the bundle stores them on it); for a run older
    than that file, the mask's non-zero voxels and the rings of ``rings.nrrd`` on the CT grid; and
    everything :func:`write_results_to_scene` adds, including the Red / Green / Yellow slice views
    set to show the CT with the heatmap, centred on the GTV (``display.show_results``). 3D Slicer
    opens the bundle with File > Load or drag and drop.

    Args:
        ct_path: CT image (NRRD / NIfTI, HU).
        gtv_path: GTV mask on the CT grid (NRRD / NIfTI, non-zero = GTV).
        out_dir: RadSurv output folder of this case.
        mrb_path: bundle to write (``.mrb``); its folder is created; an existing file is replaced.

    Returns:
        ``Path`` of the bundle.

    Raises:
        InputError: a file is missing or unreadable, the mask is empty or not on the CT grid, or
            the bundle cannot be written.
    """
    import slicer

    # vtkMRMLScene.WriteToMRB refuses relative paths.
    ct_path, gtv_path, mrb_path = Path(ct_path), Path(gtv_path), Path(mrb_path).resolve()
    for what, path in (("CT", ct_path), ("GTV mask", gtv_path)):
        if not path.is_file():
            raise InputError(f"{what} file not found: {path}. Check the path.")
    if mrb_path.suffix.lower() != ".mrb":
        raise InputError(f"Scene file {mrb_path} must end in .mrb (a Slicer scene bundle).")

    scene = slicer.vtkMRMLScene()
    version = _slicer_core_version()
    if version:
        scene.SetVersion(version)
    # Segment handling in slicer-core needs the segmentations logic attached to the scene.
    segmentations_logic = slicer.vtkSlicerSegmentationsModuleLogic()
    segmentations_logic.SetMRMLScene(scene)

    ct_node = read_volume(ct_path)
    ct_node.SetName("CT")
    scene.AddNode(ct_node)
    ct_node.CreateDefaultDisplayNodes()

    mask_node = read_volume(gtv_path, labelmap=True)
    if not same_grid(mask_node, ct_node):
        raise InputError(f"GTV mask {gtv_path.name} is not on the grid of CT {ct_path.name}; resample it onto the CT.")
    binary = binary_nonzero(mask_node)
    segmentation_node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "Segmentation")
    segmentation_node.CreateDefaultDisplayNodes()
    analysis = read_output_dir(out_dir).get("rings_1mm")
    if analysis is not None:
        # The GTV and rings as analysed, on the 1 mm grid: the segmentation is saved on its
        # reference geometry, so that grid must be it (the CT's would resample the rings onto 3 mm slices).
        analysis_node = read_volume(analysis, labelmap=True)
        segmentation_node.SetReferenceImageGeometryParameterFromVolumeNode(analysis_node)
        binary = threshold_image(
            slicer.vtkSlicerSegmentationsModuleLogic.CreateOrientedImageDataFromVolumeNode(analysis_node), 1, 1, 1, 0)
    else:  # a run older than rings_1mm.nrrd: everything on the CT grid
        segmentation_node.SetReferenceImageGeometryParameterFromVolumeNode(ct_node)
    gtv_id = segmentation_node.AddSegmentFromBinaryLabelmapRepresentation(binary, "GTV", GTV_COLOR)
    mark_chosen(segmentation_node, gtv_id)
    style_segments(segmentation_node, [], gtv_id)  # our own GTV: red outline, as in overview.png

    write_results_to_scene(ct_node, segmentation_node, gtv_id, out_dir, scene=scene)

    mrb_path.parent.mkdir(parents=True, exist_ok=True)
    if mrb_path.exists():
        mrb_path.unlink()
    if not scene.WriteToMRB(str(mrb_path)) or not mrb_path.is_file():
        raise InputError(f"Could not write the scene bundle {mrb_path}; check that the folder is writable.")
    scene.Clear(True)
    return mrb_path


def binary_nonzero(label_node):
    """``vtkOrientedImageData`` (uint8) that is 1 where a labelmap node is non-zero; InputError if none."""
    import slicer

    image = slicer.vtkSlicerSegmentationsModuleLogic.CreateOrientedImageDataFromVolumeNode(label_node)
    low, high = image.GetScalarRange()
    if low == 0 and high == 0:
        raise InputError(f"GTV mask '{label_node.GetName()}' is empty (no non-zero voxel).")
    return threshold_image(image, 0, 0, 0, 1)


def load_scene_mrb(mrb_path):
    """Read a ``.mrb`` bundle into a new ``vtkMRMLScene`` with slicer-core (for tests and checks).

    The bundle is unpacked into a temporary folder (the scene's cache), which stays until the
    process ends because the scene's storage nodes point into it.

    Raises:
        InputError: the file is missing or MRML cannot read it.
    """
    import tempfile

    import slicer

    mrb_path = Path(mrb_path)
    if not mrb_path.is_file():
        raise InputError(f"Scene bundle not found: {mrb_path}.")
    scene = slicer.vtkMRMLScene()
    register_color_legend_class(scene)  # the heatmap's legend (the Colors module's node)
    # Reading an .mrb unpacks it through the scene's cache manager, which slicer-core does not
    # set up by itself (3D Slicer's application logic does).
    cache = slicer.vtkCacheManager()
    cache.SetRemoteCacheDirectory(tempfile.mkdtemp(prefix="radsurv-mrb-"))
    io_manager = slicer.vtkDataIOManager()
    io_manager.SetCacheManager(cache)
    scene.SetCacheManager(cache)
    scene.SetDataIOManager(io_manager)
    if not scene.ReadFromMRB(str(mrb_path)):
        raise InputError(f"Cannot read the scene bundle {mrb_path}; it is damaged or not a Slicer .mrb.")
    return scene
