"""What the user sees: PAT1's result scene rendered with 3D Slicer's own slice views, pixel by pixel.

The scene is built twice, the two ways a user gets it: as the Slicer module builds it
(``write_results_to_scene`` into a scene that already has the Red / Green / Yellow views), and as
``scene.mrb`` opens (``save_scene_mrb``, then loaded into fresh views, as File > Load does). Each
is rendered offscreen by Slicer's slice-view displayable managers through trame-slicer
(``render_helpers``), under Xvfb when there is one, and checked against the voxels:

- the CT is visible, in the lung window, over most of each view;
- the heatmap colours the CT over the GTV as the colour table and opacity say;
- outside the heatmap's shown support (values >= ``HEATMAP_SHOWN_FROM``) every pixel equals the
  CT-only render: the zeros outside the model crop and the low values inside it darken nothing;
- the rings are drawn as outlines in their colours (``display.RING_COLORS``), the GTV in red
  in ``scene.mrb``; the views are centred on the GTV.

The ``scene.mrb`` renders are the extension's screenshots (Resources/Screenshots); set
``RADSURV_UPDATE_SCREENSHOTS=1`` to rewrite them from this run.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.slicer, pytest.mark.slow]

slicer = pytest.importorskip("slicer", reason="needs the slicer-core wheel")
pytest.importorskip("trame_slicer", reason="needs trame-slicer (pip install 'trame-slicer[standalone]')")

from conftest import PAT1_CT, PAT1_GTV, REPO  # noqa: E402
from render_helpers import SliceViews, sample_volume, segment_array, start_xvfb, stop_xvfb  # noqa: E402

from RadSurvLib.slicer import display  # noqa: E402
from RadSurvLib.slicer import mrb as rmrb  # noqa: E402
from RadSurvLib.slicer import write as rs  # noqa: E402

SCREENSHOTS = REPO / "Resources" / "Screenshots"
ORIENTATIONS = ("axial", "coronal", "sagittal")
VIEW_SIZE = 512


@pytest.fixture(scope="module", autouse=True)
def xvfb():
    process = start_xvfb()
    yield
    stop_xvfb(process)


# ---------------------------------------------------------------------------------------------
# building and rendering the two scenes
# ---------------------------------------------------------------------------------------------

def _user_scene(views, out_dir):
    """PAT1 as a user has it in Slicer (CT, segmentation with segment 'GTV'), then the module's write."""
    scene = views.scene
    ct = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "CT")
    storage = slicer.vtkMRMLVolumeArchetypeStorageNode()
    storage.SetFileName(str(PAT1_CT))
    assert storage.ReadData(ct)
    ct.CreateDefaultDisplayNodes()
    mask = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", "GTV mask")
    storage = slicer.vtkMRMLVolumeArchetypeStorageNode()
    storage.SetFileName(str(PAT1_GTV))
    assert storage.ReadData(mask)
    seg = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "Segmentation")
    seg.CreateDefaultDisplayNodes()
    seg.SetReferenceImageGeometryParameterFromVolumeNode(ct)
    assert slicer.vtkSlicerSegmentationsModuleLogic.ImportLabelmapToSegmentationNode(mask, seg)
    gtv_id = seg.GetSegmentation().GetNthSegmentID(0)
    seg.GetSegmentation().GetSegment(gtv_id).SetName("GTV")
    scene.RemoveNode(mask)
    for orientation in ORIENTATIONS:  # the user looks at the CT before Apply
        views.composite(orientation).SetBackgroundVolumeID(ct.GetID())
    created = rs.write_results_to_scene(ct, seg, gtv_id, out_dir)
    return ct, scene.GetNodeByID(created["heatmap_volume"]), seg, gtv_id, created["ring_segment_ids"]


def _loaded_mrb_nodes(scene):
    def by_name(name):
        nodes = scene.GetNodesByName(name)
        assert nodes.GetNumberOfItems() == 1, name
        return nodes.GetItemAsObject(0)

    ct, seg = by_name("CT"), by_name("Segmentation")
    heatmaps = [scene.GetNthNodeByClass(i, "vtkMRMLScalarVolumeNode")
                for i in range(scene.GetNumberOfNodesByClass("vtkMRMLScalarVolumeNode"))]
    heatmap = [n for n in heatmaps if n.GetAttribute(rs.ROLE_ATTRIBUTE) == "heatmap"]
    assert len(heatmap) == 1
    segmentation = seg.GetSegmentation()
    ids = [segmentation.GetNthSegmentID(i) for i in range(segmentation.GetNumberOfSegments())]
    gtv_id = segmentation.GetSegmentIdBySegmentName("GTV")
    return ct, heatmap[0], seg, gtv_id, [i for i in ids if i != gtv_id]


def _analyse(views, ct, heatmap, seg, gtv_id, ring_ids):
    """Render the three views (with and without the heatmap) and sample the volumes at each pixel."""
    from scipy import ndimage
    from vtk.util import numpy_support

    image = heatmap.GetImageData()
    i, j, k = image.GetDimensions()
    heat = numpy_support.vtk_to_numpy(image.GetPointData().GetScalars()).reshape(k, j, i)
    # Linear interpolation spreads a voxel over its neighbours: one voxel of margin.
    shown = ndimage.binary_dilation(heat >= display.HEATMAP_SHOWN_FROM, iterations=1).astype(np.uint8)
    gtv = segment_array(seg, gtv_id, ct)
    rings = [segment_array(seg, ring_id, ct) for ring_id in ring_ids]
    views_data = {}
    for orientation in ORIENTATIONS:
        rgb = views.render(orientation)  # first: rendering sizes the slice node to the view
        ras = views.pixel_ras(orientation)
        views_data[orientation] = {
            "rgb": rgb,
            "ct_only": views.render_without_foreground(orientation),
            "ras": ras,
            "hu": sample_volume(ct, ras, outside=np.nan).astype(float),
            "heat": sample_volume(heatmap, ras, array=heat).astype(float),
            "shown": sample_volume(heatmap, ras, array=shown).astype(bool),
            "crop": sample_volume(heatmap, ras, array=(heat > 0).astype(np.uint8)).astype(bool),
            "gtv": sample_volume(ct, ras, array=gtv).astype(bool),
            "rings": [sample_volume(ct, ras, array=ring).astype(bool) for ring in rings],
            "slice_node": views.slice_node(orientation),
            "layers": (views.composite(orientation).GetBackgroundVolumeID(),
                       views.composite(orientation).GetForegroundVolumeID()),
        }
    centre, _extent = display.gtv_centre_and_extent_ras(seg, gtv_id)
    return {"views": views_data, "gtv_centre": np.array(centre), "n_rings": len(ring_ids),
            "layers": (ct.GetID(), heatmap.GetID())}


@pytest.fixture(scope="module")
def module_scene(pat1_outputs):
    """Rendered scene as the Slicer module leaves it after Apply."""
    views = SliceViews(VIEW_SIZE)
    return _analyse(views, *_user_scene(views, Path(pat1_outputs)))


@pytest.fixture(scope="module")
def mrb_scene(pat1_outputs, tmp_path_factory):
    """Rendered ``scene.mrb`` as 3D Slicer opens it; its renders saved as PNG (and as screenshots)."""
    import PIL.Image

    mrb = rmrb.save_scene_mrb(PAT1_CT, PAT1_GTV, pat1_outputs, tmp_path_factory.mktemp("mrb") / "scene.mrb")
    views = SliceViews(VIEW_SIZE)
    views.load_mrb(mrb)
    analysed = _analyse(views, *_loaded_mrb_nodes(views.scene))
    folder = tmp_path_factory.mktemp("renders")
    if os.environ.get("RADSURV_UPDATE_SCREENSHOTS") == "1":
        folder = SCREENSHOTS
        folder.mkdir(parents=True, exist_ok=True)
    analysed["pngs"] = {}
    for orientation, data in analysed["views"].items():
        path = folder / f"RadSurv-PAT1-{orientation}.png"
        PIL.Image.fromarray(data["rgb"]).save(path)
        analysed["pngs"][orientation] = path
    return analysed


SCENES = ["module_scene", "mrb_scene"]


def _grey(rgb, minimum=1):
    """Pixels whose three channels are equal within 2 and at least ``minimum`` (CT greys)."""
    rgb = rgb.astype(int)
    return (rgb.max(-1) - rgb.min(-1) <= 2) & (rgb.min(-1) >= minimum)


def _lung_window_grey(hu):
    low, high = display.LUNG_WINDOW_HU
    return np.clip((hu - low) / (high - low), 0, 1) * 255


# ---------------------------------------------------------------------------------------------
# tests
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("scene_name", SCENES)
@pytest.mark.parametrize("orientation", ORIENTATIONS)
def test_ct_visible_in_lung_window(request, scene_name, orientation):
    data = request.getfixturevalue(scene_name)["views"][orientation]
    rgb, hu = data["rgb"], data["hu"]
    grey = _grey(rgb)
    print(f"{scene_name} {orientation}: CT grey pixels {grey.mean():.1%} of the view")
    assert grey.mean() > 0.6
    # The greys are the CT's HU through the lung window (Slicer interpolates linearly; the
    # nearest-voxel expectation differs at edges, hence the median).
    in_ct = grey & np.isfinite(hu)
    error = np.abs(rgb[..., 0][in_ct] - _lung_window_grey(hu[in_ct]))
    print(f"  median |grey - lung-window HU| = {np.median(error):.1f} levels")
    assert np.median(error) < 6


@pytest.mark.parametrize("scene_name", SCENES)
@pytest.mark.parametrize("orientation", ORIENTATIONS)
def test_heatmap_colours_the_gtv(request, scene_name, orientation):
    import matplotlib

    data = request.getfixturevalue(scene_name)["views"][orientation]
    rgb, ct_only, heat = data["rgb"].astype(float), data["ct_only"].astype(float), data["heat"]
    # Well inside the shown support (not at its edge) and inside the GTV.
    over_gtv = data["gtv"] & (heat >= display.HEATMAP_SHOWN_FROM + 0.05)
    changed = np.abs(rgb - ct_only).max(-1) > 8
    print(f"{scene_name} {orientation}: heatmap pixels over the GTV {over_gtv.sum()}, "
          f"changed by the heatmap {changed[over_gtv].mean():.1%}")
    assert over_gtv.sum() >= 50
    assert changed[over_gtv].mean() > 0.9
    # The colour is the colour table's at that value, blended over the CT at HEATMAP_OPACITY.
    colours = matplotlib.colormaps[display.HEATMAP_COLORMAP](heat[over_gtv])[:, :3] * 255
    alpha = display.HEATMAP_OPACITY
    expected = (1 - alpha) * ct_only[over_gtv] + alpha * colours
    error = np.abs(rgb[over_gtv] - expected).max(-1)
    print(f"  median colour error {np.median(error):.1f} levels")
    assert np.median(error) < 12


@pytest.mark.parametrize("scene_name", SCENES)
@pytest.mark.parametrize("orientation", ORIENTATIONS)
def test_nothing_darkened_outside_the_heatmap_support(request, scene_name, orientation):
    analysed = request.getfixturevalue(scene_name)
    data = analysed["views"][orientation]
    assert data["layers"] == analysed["layers"], "the view must show the CT under the heatmap"
    outside = ~data["shown"]
    # The model crop (heatmap > 0) reaches far beyond the shown support: this is where a
    # heatmap whose low values are not transparent darkens the CT as a box.
    crop_only = data["crop"] & outside
    differs = np.abs(data["rgb"].astype(int) - data["ct_only"].astype(int)).max(-1) > 0
    print(f"{scene_name} {orientation}: pixels in the crop but not shown {crop_only.sum()}, "
          f"pixels outside the support that differ from the CT-only render {differs[outside].sum()}")
    assert crop_only.sum() > 2000
    assert differs[outside].sum() == 0
    assert (data["ct_only"][outside] == data["rgb"][outside]).all()


@pytest.mark.parametrize("scene_name", SCENES)
@pytest.mark.parametrize("orientation", ORIENTATIONS)
def test_rings_drawn_as_outlines_in_their_colours(request, scene_name, orientation):
    from scipy import ndimage

    analysed = request.getfixturevalue(scene_name)
    data = analysed["views"][orientation]
    rgb = data["rgb"].astype(int)
    assert analysed["n_rings"] == 3

    def coloured(colour):
        return np.abs(rgb - np.round(np.array(colour) * 255)).max(-1) <= 3

    for index, ring in enumerate(data["rings"]):
        pixels = coloured(display.ring_color(index))
        near = ndimage.binary_dilation(ring, iterations=2)  # the outline's pixels lie on the ring
        print(f"{scene_name} {orientation}: ring {index + 1} outline pixels {pixels.sum()} "
              f"({pixels[near].sum() / max(pixels.sum(), 1):.1%} on the ring), ring area {ring.sum()}")
        assert pixels.sum() >= 40
        # An outline, not a fill: most of the ring's area shows the CT.
        assert pixels[ring].sum() < 0.5 * ring.sum()
        assert pixels[near].sum() >= 0.95 * pixels.sum()
    if scene_name == "mrb_scene":  # RadSurv's own GTV: red outline, as in overview.png
        gtv_pixels = coloured(display.GTV_COLOR)
        assert gtv_pixels.sum() >= 40 and gtv_pixels[data["gtv"]].sum() < 0.5 * data["gtv"].sum()


@pytest.mark.parametrize("scene_name", SCENES)
@pytest.mark.parametrize("orientation", ORIENTATIONS)
def test_views_centred_on_the_gtv(request, scene_name, orientation):
    analysed = request.getfixturevalue(scene_name)
    data = analysed["views"][orientation]
    centre_pixel = data["ras"][VIEW_SIZE // 2, VIEW_SIZE // 2]
    distance = np.linalg.norm(centre_pixel - analysed["gtv_centre"])
    print(f"{scene_name} {orientation}: view centre {distance:.2f} mm from the GTV centre")
    # Within one CT voxel (3 mm slices): the slice snaps to the nearest voxel plane.
    assert distance < 3.0
    assert data["gtv"].mean() > 0.05  # and the GTV is in view


@pytest.mark.parametrize("orientation", ORIENTATIONS)
def test_screenshots_are_these_renders(mrb_scene, orientation):
    """The committed screenshots show what scene.mrb renders to today (regenerate them if not)."""
    import PIL.Image

    committed = SCREENSHOTS / f"RadSurv-PAT1-{orientation}.png"
    assert committed.is_file(), f"missing {committed}; run with RADSURV_UPDATE_SCREENSHOTS=1"
    picture = np.asarray(PIL.Image.open(committed).convert("RGB")).astype(int)
    rendered = mrb_scene["views"][orientation]["rgb"].astype(int)
    assert picture.shape == rendered.shape
    # Renderers may differ in the last bits of interpolation; the pictures must not.
    assert np.mean(np.abs(picture - rendered) > 16) < 0.01
