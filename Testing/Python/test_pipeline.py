"""End-to-end: ``score_case`` on PAT1 writes every output; bad input gives clear errors and
never loses an earlier run's outputs."""

import json
import shutil

import numpy as np
import pytest
import SimpleITK as sitk
from conftest import PAT1_CT, PAT1_GTV, PAT1_IBSI_VOLUME_MM3

from RadSurvLib.models.bundle import default_bundle_path
from RadSurvLib.errors import BundleError, InputError
from RadSurvLib.options import ScoreOptions
from RadSurvLib.pipeline import score_case

STAGES = ["validate", "resample", "rings", "features", "voxel_maps", "model", "outputs"]


def _same_grid(a, b):
    return (a.GetSize() == b.GetSize() and np.allclose(a.GetSpacing(), b.GetSpacing())
            and np.allclose(a.GetOrigin(), b.GetOrigin()) and np.allclose(a.GetDirection(), b.GetDirection()))


def test_result_json_reports_risk_model_and_timings(pat1_run):
    out_dir, result, events = pat1_run
    on_disk = json.loads((out_dir / "result.json").read_text())
    assert on_disk["risk_score"] == result["risk_score"]
    assert -1.0 < result["risk_score"] < 1.0  # tanh output
    assert result["risk_group"] == ("high" if result["risk_score"] > result["risk_cutoff"] else "low")
    assert result["model"]["demonstration"] is True and result["model"]["name"]
    assert list(result["timings_s"]) == STAGES
    assert all(t >= 0 for t in result["timings_s"].values())
    assert [event.stage for event in events if event.done] == STAGES
    fractions = [event.fraction for event in events]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0
    assert len(result["case"]["ct"]["sha256"]) == 64 and len(result["case"]["gtv"]["sha256"]) == 64


def test_gtv_volume_after_resampling_matches_ibsi(pat1_run):
    gtv = pat1_run[1]["gtv"]
    assert abs(gtv["volume_mm3_resampled"] - PAT1_IBSI_VOLUME_MM3) / PAT1_IBSI_VOLUME_MM3 < 0.02
    # PAT1's GTV is one 26-connected part: listed, no GTVComponentsWarning (test_bad_input_gtv.py: several parts)
    assert gtv["n_components"] == 1 and gtv["components"][0]["volume_mm3"] == gtv["volume_mm3_input"]
    assert not [w for w in pat1_run[1]["warnings"] if w.startswith("GTVComponentsWarning")]


def test_ring_labelmap_in_ct_geometry_with_distances_in_band(pat1_run, pat1_images):
    out_dir, result, _ = pat1_run
    ct, gtv = pat1_images
    labelmap = sitk.ReadImage(str(out_dir / "rings.nrrd"))
    assert _same_grid(labelmap, ct)
    labels = sitk.GetArrayFromImage(labelmap)
    assert np.array_equal(labels == 1, sitk.GetArrayFromImage(gtv) > 0)
    assert sorted(np.unique(labels)) == [0, 1, 2, 3, 4]
    for ring in result["rings"]:
        assert ring["inner_mm"] < ring["mean_distance_mm"] <= ring["outer_mm"]
        assert ring["inner_mm"] < ring["mean_distance_mm_ct_grid"] <= ring["outer_mm"]
        assert (labels == ring["label"]).sum() * np.prod(ct.GetSpacing()) == pytest.approx(
            ring["volume_mm3_ct_grid"])


def test_voxel_maps_in_ct_geometry_inside_gtv(pat1_run, pat1_images):
    out_dir, result, _ = pat1_run
    ct, gtv = pat1_images
    inside = sitk.GetArrayFromImage(gtv) > 0
    assert result["voxel_maps"]["names"]
    for name, file in result["outputs"]["voxel_maps"].items():
        image = sitk.ReadImage(str(out_dir / file))
        assert _same_grid(image, ct), name
        values = sitk.GetArrayFromImage(image)
        assert np.all(values[~inside] == result["voxel_maps"]["background_value"]), name
    mean_map = sitk.GetArrayFromImage(sitk.ReadImage(str(out_dir / "voxelmap_firstorder_Mean.nrrd")))
    hu = sitk.GetArrayFromImage(ct)
    # A kernel mean stays within the HU range of the tumour.
    assert hu[inside].min() <= mean_map[inside].min() and mean_map[inside].max() <= hu[inside].max()


def test_heatmap_in_ct_geometry_and_on_the_tumour(pat1_run, pat1_images):
    out_dir, _, _ = pat1_run
    ct, gtv = pat1_images
    heatmap = sitk.ReadImage(str(out_dir / "heatmap.nrrd"))
    assert _same_grid(heatmap, ct)
    heat = sitk.GetArrayFromImage(heatmap)
    assert heat.min() >= 0.0 and heat.max() <= 1.0 and heat.max() > 0.0
    # The heatmap lives in the model's crop: the GTV bounding box plus a small margin.
    nz = np.argwhere(sitk.GetArrayFromImage(gtv) > 0)
    lo, hi = nz.min(axis=0), nz.max(axis=0)
    margin = np.ceil(10.0 / np.array(ct.GetSpacing()[::-1])).astype(int)
    box = np.zeros(heat.shape, bool)
    box[tuple(slice(max(a - m, 0), b + m + 1) for a, b, m in zip(lo, hi, margin))] = True
    assert np.all(heat[~box] == 0.0)


def test_overview_png_shows_an_image(pat1_outputs):
    import matplotlib.image as mpimg

    pixels = mpimg.imread(pat1_outputs / "overview.png")
    assert pixels.shape[0] > 300 and pixels.shape[1] > 900
    assert pixels[..., :3].std() > 0.05  # not blank
    # Contours and the heatmap put colour (not only grey) in the picture.
    rgb = pixels[..., :3]
    assert (np.ptp(rgb, axis=-1) > 0.3).mean() > 0.001


def test_earlier_run_is_kept(pat1_outputs):
    before = {p.name: p.read_bytes() for p in pat1_outputs.iterdir()}
    with pytest.raises(InputError, match="earlier run"):
        score_case(PAT1_CT, PAT1_GTV, pat1_outputs)
    assert {p.name: p.read_bytes() for p in pat1_outputs.iterdir()} == before


def test_failed_overwrite_keeps_the_earlier_run(pat1_outputs, tmp_path):
    before = {p.name: p.read_bytes() for p in pat1_outputs.iterdir()}
    with pytest.raises(InputError, match="not found"):
        score_case(tmp_path / "missing.nrrd", PAT1_GTV, pat1_outputs, ScoreOptions(overwrite=True))
    assert {p.name: p.read_bytes() for p in pat1_outputs.iterdir()} == before


def test_bad_inputs_give_clear_errors(tmp_path, pat1_images):
    ct, gtv = pat1_images
    empty = sitk.Image(gtv.GetSize(), sitk.sitkUInt8)
    empty.CopyInformation(gtv)
    with pytest.raises(InputError, match="empty"):
        score_case(ct, empty, tmp_path / "a")
    other_grid = sitk.Resample(gtv, [s // 2 for s in gtv.GetSize()], sitk.Transform(),
                               sitk.sitkNearestNeighbor, gtv.GetOrigin(),
                               [s * 2 for s in gtv.GetSpacing()], gtv.GetDirection())
    with pytest.raises(InputError, match="not on the ct grid"):
        score_case(ct, other_grid, tmp_path / "b")
    with pytest.raises(InputError, match="not found"):
        score_case(tmp_path / "no_ct.nii.gz", PAT1_GTV, tmp_path / "c")
    # A failed run leaves nothing behind: not even the output folder it would have made.
    for name in "abc":
        assert not (tmp_path / name).exists()


def test_bundle_with_wrong_checksum_is_refused(tmp_path):
    bundle = tmp_path / "bundle"
    shutil.copytree(default_bundle_path(), bundle)
    weights = bundle / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="checksum"):
        score_case(PAT1_CT, PAT1_GTV, tmp_path / "out", ScoreOptions(bundle=bundle))
    assert not (tmp_path / "out").exists()


def test_bundle_whose_weights_do_not_fit_its_architecture_is_refused_and_no_folder_is_left(tmp_path):
    bundle = tmp_path / "bundle"
    shutil.copytree(default_bundle_path(), bundle)
    config = json.loads((bundle / "bundle.json").read_text())
    config["architecture"]["params"]["base_width"] = 2 * config["architecture"]["params"].get("base_width", 16)
    (bundle / "bundle.json").write_text(json.dumps(config))
    with pytest.raises(BundleError, match="do not match"):  # found when the model stage builds the model
        score_case(PAT1_CT, PAT1_GTV, tmp_path / "out", ScoreOptions(bundle=bundle, voxel_map_features=["firstorder_Mean"]))
    assert not (tmp_path / "out").exists()


def test_the_validate_stage_imports_neither_torch_nor_monai():
    """Checking a CT and a GTV is quick: the model (torch, MONAI) is built in the model stage."""
    import subprocess
    import sys

    code = ("import sys; from RadSurvLib import pipeline; from RadSurvLib.options import ScoreOptions; "
            f"case = pipeline._validated_case({str(PAT1_CT)!r}, {str(PAT1_GTV)!r}, ScoreOptions()); "
            "print(case.bundle.name, case.device, sorted(m for m in ('torch', 'monai') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["demo-seresnet3d", "auto", "[]"], out


def test_ring_bands_inner_rim_and_air_exclusion_reach_the_outputs(tmp_path, pat1_images):
    ct, gtv = pat1_images
    params = tmp_path / "firstorder.yaml"
    params.write_text("imageType:\n  Original: {}\nfeatureClass:\n  firstorder:\nsetting:\n  binWidth: 25\n")
    result = score_case(PAT1_CT, PAT1_GTV, tmp_path / "out", ScoreOptions(
        rings_mm="3-6", inner_rim_mm=2.0, air_hu=-950.0, params_file=params,
        voxel_map_features=["firstorder_Mean"], device="cpu"))
    names = [ring["name"] for ring in result["rings"]]
    assert names == ["ring_3-6mm", "rim_0-2mm"]
    assert list(result["features"]["per_roi"]) == ["GTV", "ring_3-6mm", "rim_0-2mm"]
    labels = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "out" / "rings.nrrd")))
    hu = sitk.GetArrayFromImage(ct)
    inside = sitk.GetArrayFromImage(gtv) > 0
    ring, rim = (labels == result["rings"][0]["label"]), (labels == result["rings"][1]["label"])
    assert ring.any() and rim.any()
    assert hu[ring].min() >= -950.0  # air removed from the ring
    assert not (ring & inside).any() and np.all(inside[rim])  # the ring outside, the rim inside the GTV
    assert 3.0 < result["rings"][0]["mean_distance_mm"] <= 6.0


def test_signature_bundle_fitted_on_lung1_is_applied_to_the_case(tmp_path):
    """A Lung1 signature (real cohort, shape + first-order features) scores PAT1 inside score_case."""
    import csv

    from conftest import REPO

    from RadSurvLib.survival.data import load_feature_table
    from RadSurvLib.survival.signature import fit_signature, save_signature

    lung1 = REPO / "Testing" / "Data" / "Lung1"
    cohort = load_feature_table(lung1 / "extracted_features.csv.gz",
                         lung1 / "NSCLC-Radiomics-Lung1.clinical-version3-Oct-2019.csv")
    columns = [c for c in cohort.features.columns if c.startswith(("original_firstorder_", "original_shape_"))]
    signature = fit_signature(cohort.features[columns], cohort.time, cohort.event, seed=0)
    assert signature["features"]
    save_signature(signature, tmp_path / "signature")
    params = tmp_path / "params.yaml"  # Lung1's setting, original image only
    params.write_text("imageType:\n  Original: {}\nfeatureClass:\n  shape:\n  firstorder:\nsetting:\n"
                      "  binWidth: 25\n  normalize: true\n  normalizeScale: 100\n  voxelArrayShift: 1000\n")
    light = ScoreOptions(rings_mm="3", params_file=params, voxel_map_features=["firstorder_Mean"], device="cpu")
    result = score_case(PAT1_CT, PAT1_GTV, tmp_path / "out", light.replace(signature=str(tmp_path / "signature")))
    scored = result["signature"]
    with open(tmp_path / "out" / "features.csv") as handle:
        gtv = next(row for row in csv.DictReader(handle) if row["roi"] == "GTV")
    expected = sum((float(gtv[f]) - m) / s * c for f, m, s, c in zip(
        signature["features"], signature["means"], signature["sds"], signature["coefficients"]))
    assert scored["radscore"] == pytest.approx(expected, rel=1e-9)
    assert scored["risk_group"] == ("high" if scored["risk"] > signature["risk_cutoff"] else "low")
    assert 0.0 < scored["survival_3y"] <= scored["survival_2y"] <= scored["survival_1y"] < 1.0
    # A signature on features this parameter file does not compute is refused by name.
    signature["features"][0] = "square_firstorder_Mean"
    save_signature(signature, tmp_path / "other")
    with pytest.raises(InputError, match="square_firstorder_Mean"):
        score_case(PAT1_CT, PAT1_GTV, tmp_path / "out2", light.replace(signature=str(tmp_path / "other")))
