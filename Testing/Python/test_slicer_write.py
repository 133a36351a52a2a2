"""Tests of RadSurvLib.slicer.write on real MRML (the slicer-core wheel, no Qt) with the PAT1 CT and GTV.

The results under test are those of one real pipeline run on PAT1 (fixture ``pat1_outputs``).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

slicer = pytest.importorskip("slicer", reason="needs the slicer-core wheel (pip install slicer-core)")
sitk = pytest.importorskip("SimpleITK")

from RadSurvLib.slicer import mrb as rmrb  # noqa: E402
from RadSurvLib.slicer import write as rs  # noqa: E402
from RadSurvLib.errors import InputError  # noqa: E402
from RadSurvLib.outputs.overview import format_risk, format_volume  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "RadSurvLib" / "resources" / "PAT1"
CT_PATH = DATA / "image.nii.gz"
GTV_PATH = DATA / "mask.nii.gz"
RINGS_MM = (3.0, 6.0, 9.0)


@pytest.fixture
def out_dir(pat1_outputs):
    """The output folder of the real pipeline run on PAT1 (conftest.py)."""
    return Path(pat1_outputs)


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------

def read_volume(scene, path, name, labelmap=False):
    """Load a file into a new volume node of ``scene`` the way Slicer does (LPS file -> RAS)."""
    node = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode" if labelmap else "vtkMRMLScalarVolumeNode", name)
    storage = slicer.vtkMRMLVolumeArchetypeStorageNode()
    storage.SetFileName(str(path))
    assert storage.ReadData(node)
    return node


def make_case_scene():
    """Scene with the PAT1 CT and a segmentation holding the segment 'GTV' (as a user would have)."""
    scene = slicer.vtkMRMLScene()
    logic = slicer.vtkSlicerSegmentationsModuleLogic()
    logic.SetMRMLScene(scene)
    ct = read_volume(scene, CT_PATH, "CT")
    ct.CreateDefaultDisplayNodes()
    mask = read_volume(scene, GTV_PATH, "GTV mask", labelmap=True)
    seg = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "Segmentation")
    seg.CreateDefaultDisplayNodes()
    seg.SetReferenceImageGeometryParameterFromVolumeNode(ct)
    assert slicer.vtkSlicerSegmentationsModuleLogic.ImportLabelmapToSegmentationNode(mask, seg)
    gtv_id = seg.GetSegmentation().GetNthSegmentID(0)
    seg.GetSegmentation().GetSegment(gtv_id).SetName("GTV")
    scene.RemoveNode(mask)
    return scene, ct, seg, gtv_id, logic


def segment_voxels(seg, segment_id):
    """Number of voxels of a segment (the node extracts this segment alone, whatever layer it shares)."""
    image = slicer.vtkOrientedImageData()
    seg.GetBinaryLabelmapRepresentation(segment_id, image)
    from vtk.util import numpy_support

    return int(np.count_nonzero(numpy_support.vtk_to_numpy(image.GetPointData().GetScalars())))


def voxels(volume_node):
    """Voxel values of a volume node as a flat NumPy array (VTK x-fastest order)."""
    from vtk.util import numpy_support

    return numpy_support.vtk_to_numpy(volume_node.GetImageData().GetPointData().GetScalars())


def ijk_to_ras(node):
    import vtk

    m = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(m)
    return np.array([[m.GetElement(r, c) for c in range(4)] for r in range(4)])


def table_rows(table):
    """A vtkMRMLTableNode as a list of row dicts (column name -> str, or float for numeric columns)."""
    t = table.GetTable()
    names = [t.GetColumnName(c) for c in range(t.GetNumberOfColumns())]
    numeric = [t.GetColumn(c).IsNumeric() for c in range(len(names))]
    return [{names[c]: t.GetValue(r, c).ToDouble() if numeric[c] else t.GetValue(r, c).ToString()
             for c in range(len(names))} for r in range(t.GetNumberOfRows())]


def node_names(scene):
    return sorted(scene.GetNthNode(i).GetName() or "" for i in range(scene.GetNumberOfNodes())
                  if not scene.GetNthNode(i).GetHideFromEditors())


def snapshot(scene, seg, created):
    """What a run produced, as plain data, to compare before / after another run."""
    snap = {"segments": {sid: (seg.GetSegmentation().GetSegment(sid).GetName(), segment_voxels(seg, sid))
                         for sid in created["ring_segment_ids"]}}
    for key in ("heatmap_volume", "scores_table", "features_table", *created["voxel_map_volumes"].values()):
        node = scene.GetNodeByID(created.get(key, key))
        snap[key] = node.GetName()
        if node.IsA("vtkMRMLTableNode"):
            snap[key + " rows"] = table_rows(node)
        else:
            d = node.GetDisplayNode()
            snap[key + " display"] = (d.GetColorNodeID(), d.GetWindow(), d.GetLevel(), d.GetApplyThreshold())
            snap[key + " sum"] = float(voxels(node).astype(np.float64).sum())
    return snap


def expected_ring_counts(out_dir):
    """Voxels of each ring as analysed (rings_1mm.nrrd, the 1 mm grid the ring segments keep)."""
    labels = sitk.GetArrayFromImage(sitk.ReadImage(str(Path(out_dir) / "rings_1mm.nrrd")))
    result = json.loads((Path(out_dir) / "result.json").read_text())
    return {f"GTV ring {r['inner_mm']:g}-{r['outer_mm']:g} mm": int((labels == r["label"]).sum())
            for r in result["rings"]}


# ---------------------------------------------------------------------------------------------
# tests
# ---------------------------------------------------------------------------------------------

def test_rings_added_and_gtv_unchanged(out_dir):
    scene, ct, seg, gtv_id, _logic = make_case_scene()
    gtv_before = segment_voxels(seg, gtv_id)
    assert gtv_before > 0

    created = rs.write_results_to_scene(ct, seg, gtv_id, out_dir)

    segmentation = seg.GetSegmentation()
    assert segmentation.GetSegment(gtv_id).GetName() == "GTV"
    assert segment_voxels(seg, gtv_id) == gtv_before
    expected = expected_ring_counts(out_dir)
    assert created["ring_segment_names"] == list(expected)  # label order = ring order
    assert segmentation.GetNumberOfSegments() == 1 + len(expected)
    counts = {segmentation.GetSegment(sid).GetName(): segment_voxels(seg, sid)
              for sid in created["ring_segment_ids"]}
    assert counts == expected
    assert all(n > 0 for n in counts.values())
    colors = {tuple(round(c, 3) for c in segmentation.GetSegment(sid).GetColor())
              for sid in [gtv_id, *created["ring_segment_ids"]]}
    assert len(colors) == 1 + len(expected)  # every ring has its own colour, none the GTV's


def test_volumes_on_ct_grid_and_heatmap_overlay(out_dir):
    scene, ct, seg, gtv_id, _logic = make_case_scene()
    created = rs.write_results_to_scene(ct, seg, gtv_id, out_dir)
    result = json.loads((out_dir / "result.json").read_text())

    map_names = list(result["outputs"]["voxel_maps"])
    assert sorted(created["voxel_map_volumes"]) == sorted(map_names)
    for name, node_id in created["voxel_map_volumes"].items():
        node = scene.GetNodeByID(node_id)
        assert node.IsA("vtkMRMLScalarVolumeNode") and node.GetName() == f"RadSurv {name}"
        assert node.GetImageData().GetDimensions() == ct.GetImageData().GetDimensions()
        np.testing.assert_allclose(ijk_to_ras(node), ijk_to_ras(ct), atol=1e-4)

    heatmap = scene.GetNodeByID(created["heatmap_volume"])
    assert heatmap.GetName() == "RadSurv HiResCAM heatmap"
    np.testing.assert_allclose(ijk_to_ras(heatmap), ijk_to_ras(ct), atol=1e-4)
    low, high = heatmap.GetImageData().GetScalarRange()
    assert 0.0 <= low and high <= 1.0
    display = heatmap.GetDisplayNode()
    color = scene.GetNodeByID(created["heatmap_color"])
    assert display.GetColorNodeID() == color.GetID() and color.IsA("vtkMRMLColorTableNode")
    assert color.GetNumberOfColors() >= 128
    # Shown from the median of the heatmap in the GTV, colour scale to its 99th percentile (rings.nrrd label 1).
    heat = sitk.GetArrayFromImage(sitk.ReadImage(str(out_dir / result["outputs"]["heatmap"])))
    gtv = sitk.GetArrayFromImage(sitk.ReadImage(str(out_dir / result["outputs"]["rings"]))) == 1
    shown_from, top = np.percentile(heat[gtv], [50, 99])
    assert (display.GetWindowLevelMin(), display.GetWindowLevelMax()) == pytest.approx((shown_from, top), rel=1e-5)
    assert display.GetApplyThreshold() and display.GetLowerThreshold() == pytest.approx(shown_from, rel=1e-5)
    assert 0.0 < shown_from < top < 1.0 and (heat[gtv] >= shown_from).mean() >= 0.5
    assert (created["heatmap_shown_from"], created["heatmap_top"]) == pytest.approx((shown_from, top), rel=1e-5)

    # Voxel values survive the LPS->RAS round trip unchanged and in the same order.
    array = voxels(scene.GetNodeByID(created["voxel_map_volumes"][map_names[0]]))
    reference = sitk.GetArrayFromImage(sitk.ReadImage(str(out_dir / result["outputs"]["voxel_maps"][map_names[0]])))
    np.testing.assert_array_equal(array, reference.ravel())


def test_tables_hold_scores_and_features(out_dir):
    scene, ct, seg, gtv_id, _logic = make_case_scene()
    created = rs.write_results_to_scene(ct, seg, gtv_id, out_dir)
    result = json.loads((out_dir / "result.json").read_text())

    scores = {row["Quantity"]: row["Value"] for row in table_rows(scene.GetNodeByID(created["scores_table"]))}
    assert scores["risk score"] == format_risk(result["risk_score"]) and len(scores["risk score"]) <= 6
    assert scores["risk group"] == result["risk_group"]
    assert scores["risk cut-off"] == format_risk(result["risk_cutoff"])
    assert scores["GTV volume"] == format_volume(result["gtv"]["volume_mm3_input"])
    assert scores["model name"] == result["model"]["name"]
    assert scores["demonstration model"] == ("yes" if result["model"]["demonstration"] else "no")

    with open(out_dir / "features.csv", newline="") as handle:
        csv_rows = list(csv.DictReader(handle))
    features = table_rows(scene.GetNodeByID(created["features_table"]))
    columns = list(features[0])
    assert columns == ["Feature"] + [row["roi"] for row in csv_rows]
    by_feature = {row["Feature"]: row for row in features}
    n_numeric = 0
    for name in csv_rows[0]:
        if name == "roi":
            continue
        try:
            expected = [float(row[name]) for row in csv_rows]
        except ValueError:
            assert name not in by_feature  # text columns (diagnostics) stay in the CSV only
            continue
        n_numeric += 1
        got = [by_feature[name][row["roi"]] for row in csv_rows]
        np.testing.assert_array_equal(got, expected)
    assert n_numeric == len(features) > 0


def test_second_run_adds_suffixed_set_and_changes_nothing(out_dir):
    scene, ct, seg, gtv_id, _logic = make_case_scene()
    first = rs.write_results_to_scene(ct, seg, gtv_id, out_dir)
    before = snapshot(scene, seg, first)
    names_before = node_names(scene)

    second = rs.write_results_to_scene(ct, seg, gtv_id, out_dir)

    assert first["suffix"] == "" and second["suffix"] == " (2)"
    assert snapshot(scene, seg, first) == before
    segs = rs.segment_names(seg)
    assert len(segs) == len(set(segs)) == 1 + 2 * len(first["ring_segment_ids"])
    assert second["ring_segment_names"] == [n + " (2)" for n in first["ring_segment_names"]]
    visible = [n for n in node_names(scene) if n.startswith("RadSurv") and "inferno" not in n]
    assert len(visible) == len(set(visible))
    assert set(names_before) <= set(node_names(scene))
    assert second["heatmap_color"] == first["heatmap_color"]  # the colour table is shared, not copied
    assert scene.GetNodeByID(second["heatmap_volume"]).GetName() == "RadSurv HiResCAM heatmap (2)"


def test_user_segment_with_a_ring_name_is_kept(out_dir):
    scene, ct, seg, gtv_id, _logic = make_case_scene()
    ring_name = next(iter(expected_ring_counts(out_dir)))
    user_id = seg.GetSegmentation().AddEmptySegment("", ring_name)
    created = rs.write_results_to_scene(ct, seg, gtv_id, out_dir)

    assert seg.GetSegmentation().GetSegment(user_id).GetName() == ring_name
    assert segment_voxels(seg, user_id) == 0
    assert ring_name + " (2)" in created["ring_segment_names"]
    assert user_id not in created["ring_segment_ids"]


def test_only_the_parts_asked_for_are_added(out_dir):
    scene, ct, seg, gtv_id, _logic = make_case_scene()
    names_before, segments_before = node_names(scene), rs.segment_names(seg)
    created = rs.write_results_to_scene(ct, seg, gtv_id, out_dir, outputs={"rings": False, "tables": False})
    assert rs.segment_names(seg) == segments_before and created["ring_segment_ids"] == []
    assert "scores_table" not in created and "features_table" not in created
    added = sorted(n for n in set(node_names(scene)) - set(names_before) if n.startswith("RadSurv"))
    result = json.loads((out_dir / "result.json").read_text())
    assert [n for n in added if "inferno" not in n] == sorted(
        ["RadSurv HiResCAM heatmap", *(f"RadSurv {name}" for name in result["outputs"]["voxel_maps"])])
    with pytest.raises(InputError, match="unknown part"):
        rs.write_results_to_scene(ct, seg, gtv_id, out_dir, outputs={"heatmaps": False})


def test_heatmap_is_named_by_its_method():
    assert rs.heatmap_node_name("hirescam") == "RadSurv HiResCAM heatmap"
    assert rs.heatmap_node_name("gradcam") == "RadSurv Grad-CAM heatmap"
    assert rs.heatmap_node_name(None) == "RadSurv Grad-CAM heatmap"  # results from before the method was recorded


def test_errors_leave_the_scene_untouched(out_dir, tmp_path):
    scene, ct, seg, gtv_id, _logic = make_case_scene()
    n_nodes, n_segments = scene.GetNumberOfNodes(), seg.GetSegmentation().GetNumberOfSegments()

    with pytest.raises(InputError, match="not in segmentation"):
        rs.write_results_to_scene(ct, seg, "no-such-segment", out_dir)

    broken = tmp_path / "broken"
    broken.mkdir()
    for item in out_dir.iterdir():
        if item.name != "heatmap.nrrd":
            (broken / item.name).symlink_to(item)
    with pytest.raises(InputError, match="heatmap"):
        rs.write_results_to_scene(ct, seg, gtv_id, broken)
    with pytest.raises(InputError, match="result.json"):
        rs.write_results_to_scene(ct, seg, gtv_id, tmp_path)

    import vtk

    other = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "other CT")
    image = vtk.vtkImageData()
    image.SetDimensions(8, 8, 8)
    image.AllocateScalars(vtk.VTK_FLOAT, 1)
    other.SetAndObserveImageData(image)
    n_nodes += 1
    with pytest.raises(InputError, match="voxel grid"):
        rs.write_results_to_scene(other, seg, gtv_id, out_dir)

    assert scene.GetNumberOfNodes() == n_nodes
    assert seg.GetSegmentation().GetNumberOfSegments() == n_segments


def test_save_scene_mrb_loads_back(out_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a relative path, as users type it on the command line
    mrb = rmrb.save_scene_mrb(CT_PATH, GTV_PATH, out_dir, Path("case") / "PAT1.mrb")
    assert mrb == tmp_path / "case" / "PAT1.mrb"
    assert mrb.is_file() and mrb.stat().st_size > 0
    scene = rmrb.load_scene_mrb(mrb)

    def by_name(name):
        nodes = scene.GetNodesByName(name)
        assert nodes.GetNumberOfItems() == 1, name
        return nodes.GetItemAsObject(0)

    ct = by_name("CT")
    assert ct.IsA("vtkMRMLScalarVolumeNode") and ct.GetImageData() is not None
    seg = by_name("Segmentation")
    names = rs.segment_names(seg)
    expected = expected_ring_counts(out_dir)
    assert names == [*expected, "GTV"]  # the GTV last: drawn over the rings
    segmentation = seg.GetSegmentation()
    # the GTV as analysed: label 1 on the 1 mm grid
    gtv_voxels = int((sitk.GetArrayFromImage(sitk.ReadImage(str(out_dir / "rings_1mm.nrrd"))) == 1).sum())
    assert segment_voxels(seg, segmentation.GetSegmentIdBySegmentName("GTV")) == gtv_voxels
    for name, count in expected.items():
        assert segment_voxels(seg, segmentation.GetSegmentIdBySegmentName(name)) == count

    result = json.loads((out_dir / "result.json").read_text())
    for name in result["outputs"]["voxel_maps"]:
        node = by_name(f"RadSurv {name}")
        np.testing.assert_allclose(ijk_to_ras(node), ijk_to_ras(ct), atol=1e-4)
    heatmap = by_name("RadSurv HiResCAM heatmap")
    color = heatmap.GetDisplayNode().GetColorNode()
    assert color is not None and color.GetNumberOfColors() >= 128
    scores = {row["Quantity"]: row["Value"] for row in table_rows(by_name("RadSurv scores"))}
    assert scores["risk score"] == format_risk(result["risk_score"])
    assert by_name("RadSurv features").GetNumberOfRows() > 0
    # Only the results: no temporary labelmaps travel in the bundle.
    assert scene.GetNodesByClass("vtkMRMLLabelMapVolumeNode").GetNumberOfItems() == 0


def test_save_scene_mrb_rejects_bad_paths(out_dir, tmp_path):
    with pytest.raises(InputError, match="not found"):
        rmrb.save_scene_mrb(tmp_path / "nope.nrrd", GTV_PATH, out_dir, tmp_path / "x.mrb")
    with pytest.raises(InputError, match=r"\.mrb"):
        rmrb.save_scene_mrb(CT_PATH, GTV_PATH, out_dir, tmp_path / "x.zip")


def test_the_scene_is_written_after_score_case_by_the_front_end(out_dir, tmp_path):
    """``score_case`` writes no scene (the PAT1 run's folder holds none); ``save_case_scene`` adds it
    to a finished folder, in-memory inputs saved beside it, and records it in ``result.json``."""
    import shutil

    from RadSurvLib.options import ScoreOptions

    assert not list(out_dir.rglob("*.mrb"))
    folder = tmp_path / "run"
    shutil.copytree(out_dir, folder)
    result = json.loads((folder / "result.json").read_text())
    options = ScoreOptions(scene_path=str(tmp_path / "scenes" / "PAT1.mrb"))
    events = []
    saved = rmrb.save_case_scene(sitk.ReadImage(str(CT_PATH)), GTV_PATH, folder, options, result,
                                 progress=events.append)
    assert saved["outputs"]["scene"] == options.scene_path and Path(options.scene_path).is_file()
    assert list(saved["timings_s"]) == [*result["timings_s"], "scene"] and "scene" not in result["outputs"]
    assert json.loads((folder / "result.json").read_text()) == saved
    assert (folder / "input_ct.nrrd").is_file() and not (folder / "input_gtv.nrrd").exists()
    assert [(e.stage, e.done) for e in events] == [("scene", False), ("scene", True)]
    scene = rmrb.load_scene_mrb(options.scene_path)
    assert scene.GetNodesByName("CT").GetNumberOfItems() == 1
    assert rmrb.save_case_scene(CT_PATH, GTV_PATH, folder, ScoreOptions(), saved) is saved  # no scene asked


def test_scores_table_rounds_numbers_and_lists_survival():
    """The scene's and the app's table: risk to 3 decimals, a cut-off below 0.001 not rounded up,
    volumes in ml, the model's survival probabilities in % marked as the demonstration model's."""
    result = {"risk_score": 0.9919934868812561, "risk_group": "high", "risk_cutoff": 0.0006284710252657533,
              "survival_1y": 0.3488, "survival_2y": 0.1462, "survival_3y": None,
              "model": {"name": "demo", "version": "1", "demonstration": True},
              "gtv": {"volume_mm3_input": 310951.1839418908},
              "rings": [{"name": "ring_0-3mm", "volume_mm3": 65336.0}]}
    rows = {quantity: (value, unit) for quantity, value, unit in rs.scores_rows(result)}
    assert rows["risk score"][0] == "0.992" and rows["risk cut-off"][0] == "0.0006"
    assert rows["survival at 1 year"] == ("35 %", "probability (demonstration model)")
    assert rows["survival at 2 years"][0] == "15 %" and "survival at 3 years" not in rows
    assert rows["GTV volume"][0] == "311.0 ml" and rows["ring_0-3mm volume"][0] == "65.3 ml"
