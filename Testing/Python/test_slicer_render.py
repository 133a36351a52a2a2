"""What the user sees: PAT1's result scene rendered with 3D Slicer's own slice views, pixel by pixel.

The scene is built twice, the two ways a user gets it: as the Slicer module builds it
(``write_results_to_scene`` into a scene that already has the Red / Green / Yellow views), and as
``scene.mrb`` opens (``save_scene_mrb``, then loaded into fresh views, as File > Load does). Each
is rendered offscreen by Slicer's slice-view displayable managers through trame-slicer
(``render_helpers``), under Xvfb when there is one, and checked against the voxels:

- the CT is visible, in the soft-tissue window (W 400 / L 40), over most of each view, and the
  tumour's interior is not saturated; the lung window is the CT's second preset;
- the heatmap colours the CT over the GTV as the colour table, its display range (from the
  heatmap's own values in the GTV) and opacity say, on at least a quarter of the GTV's pixels of
  the axial view; its colour legend is drawn;
- outside the heatmap's shown support (values >= its display threshold) every pixel equals the
  CT-only render: the zeros outside the model crop and the low values inside it darken nothing;
- the rings are drawn as outlines in their colours (``display.RING_COLORS``), the GTV's outline
  (red in ``scene.mrb``) over them; the views are centred on the GTV;
- the ring segments are the 1 mm rings the features were computed on (their volumes; lung1_001
  too, where 3 mm slices made the CT-grid rings up to 40 % smaller).

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


def segment_at(seg, segment_id, ras):
    """Whether each RAS point (..., 3) is in a segment, sampled on the segment's own labelmap
    geometry (nearest voxel): the 1 mm rings as they are, not resampled onto the CT."""
    import vtk
    from vtk.util import numpy_support

    binary = slicer.vtkOrientedImageData()
    seg.GetBinaryLabelmapRepresentation(segment_id, binary)
    matrix = vtk.vtkMatrix4x4()
    binary.GetWorldToImageMatrix(matrix)
    to_ijk = np.array([[matrix.GetElement(r, c) for c in range(4)] for r in range(4)])
    extent = binary.GetExtent()
    i, j, k = binary.GetDimensions()
    values = numpy_support.vtk_to_numpy(binary.GetPointData().GetScalars()).reshape(k, j, i)
    points = np.concatenate([ras, np.ones(ras.shape[:-1] + (1,))], axis=-1)
    ijk = np.rint(points @ to_ijk.T)[..., :3].astype(int) - np.array(extent[::2])
    inside = np.all((ijk >= 0) & (ijk < np.array([i, j, k])), axis=-1)
    out = np.zeros(ras.shape[:-1], bool)
    out[inside] = values[ijk[inside][:, 2], ijk[inside][:, 1], ijk[inside][:, 0]] > 0
    return out


def segment_volume_mm3(seg, segment_id):
    """Volume (mm^3) of a segment on its own binary labelmap geometry: voxels x voxel volume."""
    from vtk.util import numpy_support

    binary = slicer.vtkOrientedImageData()
    seg.GetBinaryLabelmapRepresentation(segment_id, binary)
    values = numpy_support.vtk_to_numpy(binary.GetPointData().GetScalars())
    return float(np.count_nonzero(values)) * float(np.prod(binary.GetSpacing()))


def _analyse(views, ct, heatmap, seg, gtv_id, ring_ids):
    """Render the three views (with and without the heatmap) and sample the volumes at each pixel."""
    from scipy import ndimage
    from vtk.util import numpy_support

    image = heatmap.GetImageData()
    i, j, k = image.GetDimensions()
    heat = numpy_support.vtk_to_numpy(image.GetPointData().GetScalars()).reshape(k, j, i)
    heat_display = heatmap.GetDisplayNode()
    shown_from = heat_display.GetLowerThreshold()
    # Linear interpolation spreads a voxel over its neighbours: one voxel of margin.
    shown = ndimage.binary_dilation(heat >= shown_from, iterations=1).astype(np.uint8)
    gtv = segment_array(seg, gtv_id, ct)
    legend = slicer.vtkSlicerColorLogic.GetColorLegendDisplayNode(heatmap)
    assert legend is not None and legend.GetVisibility(), "the heatmap has no visible colour legend"
    legend.Modified()  # trame-slicer's offscreen views place a legend added before their first render on the next event
    views_data = {}
    for orientation in ORIENTATIONS:
        views.render(orientation)  # first: rendering sizes the slice node to the view (and places the legend)
        rgb = views.render(orientation)
        ras = views.pixel_ras(orientation)
        legend.SetVisibility(False)
        no_legend = views.render(orientation)
        legend.SetVisibility(True)
        views_data[orientation] = {
            "rgb": rgb,
            "no_legend": no_legend,
            "ct_only": views.render_without_foreground(orientation),
            "ras": ras,
            "hu": sample_volume(ct, ras, outside=np.nan).astype(float),
            "heat": sample_volume(heatmap, ras, array=heat).astype(float),
            "shown": sample_volume(heatmap, ras, array=shown).astype(bool),
            "crop": sample_volume(heatmap, ras, array=(heat > 0).astype(np.uint8)).astype(bool),
            "gtv": sample_volume(ct, ras, array=gtv).astype(bool),
            "gtv_shown": segment_at(seg, gtv_id, ras),
            "rings": [segment_at(seg, ring_id, ras) for ring_id in ring_ids],
            "slice_node": views.slice_node(orientation),
            "layers": (views.composite(orientation).GetBackgroundVolumeID(),
                       views.composite(orientation).GetForegroundVolumeID()),
        }
    centre, _extent = display.gtv_centre_and_extent_ras(seg, gtv_id)
    return {"views": views_data, "gtv_centre": np.array(centre), "n_rings": len(ring_ids),
            "layers": (ct.GetID(), heatmap.GetID()), "ct_display": ct.GetDisplayNode(),
            "heat_range": (shown_from, heat_display.GetWindowLevelMax()),
            "gtv_color": seg.GetSegmentation().GetSegment(gtv_id).GetColor(),
            "ring_volumes_mm3": [segment_volume_mm3(seg, ring_id) for ring_id in ring_ids]}


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
    # 3D Slicer's Colors module registers the colour legend's node class; trame-slicer's core does not
    views.scene.RegisterNodeClass(slicer.vtkMRMLColorLegendDisplayNode())
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


def _window_grey(hu, window=display.SOFT_TISSUE_WINDOW_HU):
    low, high = window
    return np.clip((hu - low) / (high - low), 0, 1) * 255


# ---------------------------------------------------------------------------------------------
# tests
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("scene_name", SCENES)
@pytest.mark.parametrize("orientation", ORIENTATIONS)
def test_ct_visible_in_soft_tissue_window(request, scene_name, orientation):
    analysed = request.getfixturevalue(scene_name)
    data = analysed["views"][orientation]
    rgb, hu = data["rgb"], data["hu"]
    grey = _grey(rgb, minimum=0)
    print(f"{scene_name} {orientation}: CT grey pixels {grey.mean():.1%} of the view")
    assert grey.mean() > 0.5
    # The greys are the CT's HU through W 400 / L 40 (Slicer interpolates linearly; the
    # nearest-voxel expectation differs at edges, hence the median).
    in_ct = grey & np.isfinite(hu)
    error = np.abs(rgb[..., 0][in_ct] - _window_grey(hu[in_ct]))
    print(f"  median |grey - soft-tissue-window HU| = {np.median(error):.1f} levels")
    assert np.median(error) < 6
    # The tumour's interior is not saturated: in the lung window PAT1's solid tumour is flat white.
    ct_only = data["ct_only"][..., 0]
    interior = data["gtv"] & np.isfinite(hu)
    saturated = (ct_only[interior] >= 250).mean()
    spread = np.percentile(ct_only[interior], 90) - np.percentile(ct_only[interior], 10)
    lung = _window_grey(hu[interior], display.LUNG_WINDOW_HU)
    print(f"  GTV pixels at the window's top {saturated:.1%}, grey 10-90 % spread {spread:.0f} levels "
          f"(lung window: {np.percentile(lung, 90) - np.percentile(lung, 10):.0f} levels)")
    assert saturated < 0.2 and spread > 40
    # The lung window is one click away: the CT display node's presets (soft tissue first).
    ct_display = analysed["ct_display"]
    presets = [(ct_display.GetWindowPreset(i), ct_display.GetLevelPreset(i))
               for i in range(ct_display.GetNumberOfWindowLevelPresets())]
    assert (400.0, 40.0) in presets and (1500.0, -600.0) in presets
    assert (ct_display.GetWindow(), ct_display.GetLevel()) == pytest.approx((400.0, 40.0))


@pytest.mark.parametrize("scene_name", SCENES)
@pytest.mark.parametrize("orientation", ORIENTATIONS)
def test_heatmap_colours_the_gtv(request, scene_name, orientation):
    import matplotlib

    analysed = request.getfixturevalue(scene_name)
    data = analysed["views"][orientation]
    rgb, ct_only, heat = data["rgb"].astype(float), data["ct_only"].astype(float), data["heat"]
    shown_from, top = analysed["heat_range"]
    assert 0 < shown_from < top <= 1
    # Well inside the shown support (not at its edge: one colour-scale step above) and inside the GTV.
    over_gtv = data["gtv"] & (heat >= shown_from + 0.05 * (top - shown_from))
    changed = np.abs(rgb - ct_only).max(-1) > 8
    coloured = changed[data["gtv"]].mean()
    print(f"{scene_name} {orientation}: heatmap shown from {shown_from:.3f} (scale top {top:.3f}); "
          f"pixels over the GTV {over_gtv.sum()}, changed there {changed[over_gtv].mean():.1%}; "
          f"GTV pixels coloured {coloured:.1%}")
    assert over_gtv.sum() >= 50
    assert changed[over_gtv].mean() > 0.9
    if orientation == "axial":  # the view through the GTV's centre
        assert coloured >= 0.25
    # The colour is the colour table's at that value in the display range, blended at HEATMAP_OPACITY.
    scaled = np.clip((heat[over_gtv] - shown_from) / (top - shown_from), 0, 1)
    colours = matplotlib.colormaps[display.HEATMAP_COLORMAP](scaled)[:, :3] * 255
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
    differs &= ~_legend_pixels(data)  # the colour legend goes with the heatmap
    print(f"{scene_name} {orientation}: pixels in the crop but not shown {crop_only.sum()}, "
          f"pixels outside the support that differ from the CT-only render {differs[outside].sum()}")
    assert crop_only.sum() > 2000
    assert differs[outside].sum() == 0


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
    # The GTV's outline is drawn over the rings' (red in scene.mrb, the user's colour in the module).
    if scene_name == "mrb_scene":
        assert np.allclose(analysed["gtv_color"], display.GTV_COLOR, atol=0.01)
    gtv = data["gtv_shown"]
    edge = gtv & ~ndimage.binary_erosion(gtv)
    gtv_pixels = coloured(analysed["gtv_color"])
    on_edge = ndimage.binary_dilation(gtv_pixels, iterations=1)[edge].mean()
    first_ring = coloured(display.ring_color(0))
    print(f"{scene_name} {orientation}: GTV outline pixels {gtv_pixels.sum()}, GTV edge pixels with the GTV's "
          f"colour within 1 pixel {on_edge:.1%}, with the first ring's colour {first_ring[edge].mean():.1%}")
    assert gtv_pixels.sum() >= 40 and gtv_pixels[gtv].sum() < 0.5 * gtv.sum()
    assert on_edge > 0.9


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


@pytest.mark.parametrize("scene_name", SCENES)
@pytest.mark.parametrize("orientation", ORIENTATIONS)
def test_colour_legend_drawn(request, scene_name, orientation):
    """The heatmap's colour legend (Slicer's Color Legend) is in the view, with the colour table's colours."""
    import matplotlib

    data = request.getfixturevalue(scene_name)["views"][orientation]
    legend = _legend_pixels(data)
    rgb = data["rgb"][legend].astype(float)
    table = matplotlib.colormaps[display.HEATMAP_COLORMAP](np.linspace(0, 1, 256))[:, :3] * 255
    # which legend pixels are a colour of the table (the bar; the rest is its labels and title)
    nearest = np.abs(rgb[:, None, :] - table[None, :, :]).max(-1).min(-1)
    bar = nearest <= 6
    print(f"{scene_name} {orientation}: legend pixels {legend.sum()}, of the colour table {bar.sum()}")
    assert legend.sum() >= 500 and bar.sum() >= 300
    # The whole scale is there: dark and bright ends of Inferno.
    luminance = rgb[bar].mean(-1)
    assert luminance.min() < 60 and luminance.max() > 180
    assert not (legend & data["gtv"]).any()  # beside the tumour, not over it


def _legend_pixels(data):
    """Pixels the colour legend changes (the view rendered with and without it)."""
    return np.abs(data["rgb"].astype(int) - data["no_legend"].astype(int)).max(-1) > 0


@pytest.mark.parametrize("scene_name", SCENES)
def test_ring_segments_are_the_analysed_rings(request, scene_name, pat1_run):
    """The ring segments shown are the 1 mm rings the features used (their volumes, exactly)."""
    analysed = request.getfixturevalue(scene_name)
    result = pat1_run[1]
    expected = [ring["volume_mm3"] for ring in result["rings"]]
    print(f"{scene_name}: shown {analysed['ring_volumes_mm3']} mm^3, analysed {expected} mm^3")
    assert analysed["ring_volumes_mm3"] == pytest.approx(expected, rel=1e-6)


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


LUNG1 = Path("/work/shared/data/lung1_001")


@pytest.mark.skipif(not LUNG1.is_dir(), reason="lung1_001 is not on this machine")
def test_lung1_scene_rings_are_the_analysed_rings(tmp_path):
    """lung1_001 (3 mm slices): the rings of scene.mrb are the 1 mm rings the features used, within
    1 % of their volume, where the rings on the CT grid (rings.nrrd) are up to 40 % smaller."""
    from RadSurvLib.io.dicom import resolve_score_inputs
    from RadSurvLib.options import ScoreOptions
    from RadSurvLib.worker.job import score_with_scene

    ct, gtv = resolve_score_inputs(str(LUNG1 / "image"), None, str(LUNG1 / "rtstruct" / "RS.dcm"), None, "GTV-1")
    options = ScoreOptions(device="cpu", radiomics="quick", voxel_map_features=("firstorder_Mean",),
                           scene_path=str(tmp_path / "scene.mrb"))
    result = score_with_scene(ct, gtv, tmp_path / "out", options)  # as radsurv score --scene
    assert result["outputs"]["rings_1mm"] == "rings_1mm.nrrd"
    scene = rmrb.load_scene_mrb(result["outputs"]["scene"])
    seg = scene.GetNodesByName("Segmentation").GetItemAsObject(0)
    segmentation = seg.GetSegmentation()
    for ring in result["rings"]:
        segment_id = segmentation.GetSegmentIdBySegmentName(f"GTV ring {ring['inner_mm']:g}-{ring['outer_mm']:g} mm")
        shown = segment_volume_mm3(seg, segment_id)
        print(f"{ring['name']}: shown {shown:,.0f} mm^3, analysed {ring['volume_mm3']:,.0f} mm^3, "
              f"on the CT grid {ring['volume_mm3_ct_grid']:,.0f} mm^3")
        assert shown == pytest.approx(ring["volume_mm3"], rel=0.01)
    # the GTV shown is the GTV analysed (1 mm, volume-preserving resampling)
    gtv_shown = segment_volume_mm3(seg, segmentation.GetSegmentIdBySegmentName("GTV"))
    assert gtv_shown == pytest.approx(result["gtv"]["volume_mm3_resampled"], rel=0.01)
