"""Rendering a result scene with 3D Slicer's own slice views, offscreen, for the render tests.

trame-slicer (PyPI ``trame-slicer[standalone]``, Apache-2.0) wraps Slicer's slice views: a
``vtkMRMLSliceLogic`` per view and the slice-view displayable managers (volumes, segmentations, ...)
drawing into a VTK render window, as in the Slicer application. :class:`SliceViews` makes the Red /
Green / Yellow views of its scene *before* anything is loaded, as Slicer's layout does, so that a
loaded ``.mrb`` is merged into those views the way Slicer merges it (singleton slice nodes and slice
composite nodes replaced by the file's).

Arrays are NumPy: pictures (rows, columns, 3) uint8 RGB with row 0 at the top; RAS coordinates in
mm; voxel arrays of volumes (k, j, i) as VTK stores them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import numpy as np

#: The three views, by Slicer layout name: orientation.
VIEWS = {"Red": "axial", "Green": "coronal", "Yellow": "sagittal"}


#: Set once a view (an X client, under Xvfb) was made in this process.
_VIEWS_MADE = []


def start_xvfb():
    """Start an Xvfb X server when there is no display and Xvfb exists; returns the process or None.

    VTK then renders through X as in Slicer; without X, VTK's wheels fall back to EGL. The server
    ends by itself when this process, its client, exits (``-terminate``): stopping it earlier
    would end the process too (Xlib exits on a lost connection). See :func:`stop_xvfb`.
    """
    if os.environ.get("DISPLAY") or shutil.which("Xvfb") is None:
        return None
    for number in range(99, 120):
        if os.path.exists(f"/tmp/.X11-unix/X{number}") or os.path.exists(f"/tmp/.X{number}-lock"):
            continue
        # -terminate: the server also ends when its last client leaves, should the caller not stop it.
        process = subprocess.Popen(["Xvfb", f":{number}", "-screen", "0", "1280x1024x24", "-nolisten", "tcp",
                                    "-terminate"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(50):
            if os.path.exists(f"/tmp/.X11-unix/X{number}"):
                os.environ["DISPLAY"] = f":{number}"
                return process
            if process.poll() is not None:
                break
            time.sleep(0.1)
        process.kill()
    return None


def stop_xvfb(process) -> None:
    """Stop an Xvfb from :func:`start_xvfb` that no view connected to; else leave it to ``-terminate``."""
    if process is not None and not _VIEWS_MADE:
        process.terminate()
        process.wait(10)


class SliceViews:
    """A Slicer application core (trame-slicer's ``SlicerApp``) with the Red / Green / Yellow views.

    Args:
        size: width and height of each view, pixels: one number (square views) or (width, height).
    """

    def __init__(self, size: int | tuple[int, int] = 512):
        from trame_slicer.core import SlicerApp

        from RadSurvLib.slicer.write import register_color_legend_class
        from trame_slicer.views import DirectViewFactory, ViewLayoutDefinition

        _VIEWS_MADE.append(True)
        self.app = SlicerApp()
        self.scene = self.app.scene
        register_color_legend_class(self.scene)  # as the Colors module in Slicer: result scenes hold legends
        self.app.view_manager.register_factory(DirectViewFactory(do_render_offscreen=True))
        definitions = {"axial": ViewLayoutDefinition.axial_view, "coronal": ViewLayoutDefinition.coronal_view,
                       "sagittal": ViewLayoutDefinition.sagittal_view}
        width, height = (size, size) if isinstance(size, int) else size
        self.views = {}
        for layout_name, orientation in VIEWS.items():
            view = self.app.view_manager.create_view(definitions[orientation]())
            assert view.name == layout_name, (view.name, layout_name)
            view.render_window().SetSize(width, height)
            self.views[orientation] = view

    def load_mrb(self, path) -> None:
        """Open a ``.mrb`` into the scene, as File > Load scene does in Slicer."""
        if not self.app.io_manager.load_scene(path):
            raise RuntimeError(f"cannot load {path}")

    def composite(self, orientation):
        """The ``vtkMRMLSliceCompositeNode`` of a view."""
        return self.views[orientation]._logic.GetSliceCompositeNode()

    def slice_node(self, orientation):
        """The ``vtkMRMLSliceNode`` of a view."""
        return self.views[orientation]._logic.GetSliceNode()

    def render(self, orientation) -> np.ndarray:
        """Render one view; (rows, columns, 3) uint8 RGB, row 0 at the top."""
        from vtk.util import numpy_support
        from vtkmodules.vtkRenderingCore import vtkWindowToImageFilter

        view = self.views[orientation]
        view._update_slice_size()
        view.render()
        grab = vtkWindowToImageFilter()
        grab.SetInput(view.render_window())
        grab.ReadFrontBufferOff()
        grab.Update()
        image = grab.GetOutput()
        width, height, _ = image.GetDimensions()
        rgb = numpy_support.vtk_to_numpy(image.GetPointData().GetScalars()).reshape(height, width, -1)
        return np.ascontiguousarray(rgb[::-1, :, :3])

    def render_without_foreground(self, orientation) -> np.ndarray:
        """Render a view with its foreground layer (the heatmap) removed, then put it back."""
        composite = self.composite(orientation)
        foreground = composite.GetForegroundVolumeID()
        composite.SetForegroundVolumeID(None)
        try:
            return self.render(orientation)
        finally:
            composite.SetForegroundVolumeID(foreground)

    def pixel_ras(self, orientation) -> np.ndarray:
        """RAS position (mm) of every pixel centre of a rendered view: (rows, columns, 3), row 0 at the top."""
        slice_node = self.slice_node(orientation)
        width, height = self.views[orientation].render_window().GetSize()
        xy_to_ras = _matrix(slice_node.GetXYToRAS())
        x, y = np.meshgrid(np.arange(width), np.arange(height))
        xy = np.stack([x, y, np.zeros_like(x), np.ones_like(x)], axis=-1).astype(float)
        ras = xy @ xy_to_ras.T
        return ras[::-1, :, :3]


def _matrix(vtk_matrix) -> np.ndarray:
    return np.array([[vtk_matrix.GetElement(r, c) for c in range(4)] for r in range(4)])


def sample_volume(volume_node, ras: np.ndarray, array=None, outside=0):
    """Nearest-voxel values of a volume node at RAS points (..., 3); ``outside`` beyond its grid.

    Args:
        volume_node: ``vtkMRMLScalarVolumeNode`` (not under a transform).
        ras: RAS points, mm.
        array: optional (k, j, i) array on the node's grid to sample instead of its voxels.
    """
    import vtk
    from vtk.util import numpy_support

    if array is None:
        image = volume_node.GetImageData()
        i, j, k = image.GetDimensions()
        array = numpy_support.vtk_to_numpy(image.GetPointData().GetScalars()).reshape(k, j, i)
    matrix = vtk.vtkMatrix4x4()
    volume_node.GetRASToIJKMatrix(matrix)
    ras_to_ijk = _matrix(matrix)
    points = np.concatenate([ras, np.ones(ras.shape[:-1] + (1,))], axis=-1)
    ijk = np.rint(points @ ras_to_ijk.T)[..., :3].astype(int)
    shape = array.shape[::-1]  # (i, j, k)
    inside = np.all((ijk >= 0) & (ijk < np.array(shape)), axis=-1)
    values = np.full(ras.shape[:-1], outside, dtype=array.dtype)
    ii, jj, kk = (ijk[inside][:, n] for n in range(3))
    values[inside] = array[kk, jj, ii]
    return values


def segment_array(segmentation_node, segment_id, reference_volume) -> np.ndarray:
    """(k, j, i) uint8 array, 1 inside a segment, on the grid of ``reference_volume``."""
    import slicer
    from vtk.util import numpy_support

    binary = slicer.vtkOrientedImageData()
    segmentation_node.GetBinaryLabelmapRepresentation(segment_id, binary)
    reference = slicer.vtkSlicerSegmentationsModuleLogic.CreateOrientedImageDataFromVolumeNode(reference_volume)
    resampled = slicer.vtkOrientedImageData()
    assert slicer.vtkOrientedImageDataResample.ResampleOrientedImageToReferenceOrientedImage(
        binary, reference, resampled), f"cannot resample segment {segment_id}"
    i, j, k = resampled.GetDimensions()
    assert (i, j, k) == reference_volume.GetImageData().GetDimensions()
    values = numpy_support.vtk_to_numpy(resampled.GetPointData().GetScalars()).reshape(k, j, i)
    return (values > 0).astype(np.uint8)
