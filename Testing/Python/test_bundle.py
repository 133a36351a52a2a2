"""Tests of model bundles (save / load / verification), the shipped demo bundle and predict_case."""

import json
import shutil

import numpy as np
import pytest

torch = pytest.importorskip("torch")
sitk = pytest.importorskip("SimpleITK")

from RadSurvLib.models.bundle import default_bundle_path, load_bundle, save_bundle  # noqa: E402
from RadSurvLib.errors import BundleError, InputError  # noqa: E402

PARAMS = {"base_width": 4, "head_units": [8], "dropout": 0.4}


def config():
    return {"name": "test-bundle", "version": "0", "demonstration": True, "disclaimer": "test only",
            "architecture": {"name": "SEResNet3D", "params": PARAMS},
            "preprocessing": {"crop_size": 64, "margin_mm": 5.0, "hu_clip": [-1000, 400],
                              "norm_mean": -300.0, "norm_std": 400.0, "spacing_mm": [1, 1, 1]},
            "gradcam_layer": "layer2", "risk_cutoff": 0.1, "provenance": {"command": "pytest"}}


@pytest.fixture()
def saved(tmp_path):
    from RadSurvLib.models.seresnet import SEResNet3D

    torch.manual_seed(0)
    model = SEResNet3D(**PARAMS).eval()
    return model, save_bundle(model, config(), tmp_path / "bundle")


def test_round_trip(saved):
    model, folder = saved
    bundle = load_bundle(folder)
    assert bundle.name == "test-bundle" and bundle.demonstration and bundle.cutoff == 0.1
    assert not bundle.model.training
    x = torch.randn(1, 1, 64, 64, 64)
    with torch.no_grad():
        assert torch.equal(bundle.model(x), model(x))
    written = json.loads((folder / "bundle.json").read_text())
    assert written["format"] == "radsurv-bundle" and len(written["weights"]["sha256"]) == 64


def test_refuses_tampered_weights(saved):
    _, folder = saved
    weights = folder / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-10] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="checksum") as info:
        load_bundle(folder)
    assert str(folder) in str(info.value)


def test_refuses_pickle_weights(saved, tmp_path):
    model, folder = saved
    pickle_file = tmp_path / "model.pt"
    torch.save(model.state_dict(), pickle_file)
    with pytest.raises(BundleError, match="pickle"):
        load_bundle(pickle_file)
    data = json.loads((folder / "bundle.json").read_text())
    shutil.copy(pickle_file, folder / "model.pt")
    data["weights"]["file"] = "model.pt"
    (folder / "bundle.json").write_text(json.dumps(data))
    with pytest.raises(BundleError, match="pickle"):
        load_bundle(folder)


def test_refuses_missing_and_malformed(saved, tmp_path):
    _, folder = saved
    with pytest.raises(BundleError, match="not found"):
        load_bundle(tmp_path / "nowhere")
    (folder / "bundle.json").write_text("{not json")
    with pytest.raises(BundleError, match="not valid JSON"):
        load_bundle(folder)


def test_refuses_unknown_format_and_architecture(saved):
    _, folder = saved
    data = json.loads((folder / "bundle.json").read_text())
    (folder / "bundle.json").write_text(json.dumps({**data, "format": "other"}))
    with pytest.raises(BundleError, match="unknown format"):
        load_bundle(folder)
    (folder / "bundle.json").write_text(json.dumps({**data, "architecture": {"name": "Mystery", "params": {}}}))
    with pytest.raises(BundleError, match="unknown architecture"):
        load_bundle(folder)


def test_refuses_weights_of_another_architecture(saved):
    _, folder = saved
    data = json.loads((folder / "bundle.json").read_text())
    data["architecture"]["params"] = {**PARAMS, "base_width": 8}
    (folder / "bundle.json").write_text(json.dumps(data))
    with pytest.raises(BundleError, match="do not match"):
        load_bundle(folder)
    deferred = load_bundle(folder, build_model=False)  # files and settings pass; the weights are checked
    with pytest.raises(BundleError, match="do not match"):  # when the model is built
        deferred.model


def test_a_deferred_model_is_the_same_model(saved):
    model, folder = saved
    deferred = load_bundle(folder, build_model=False)
    x = torch.randn(1, 1, 64, 64, 64)
    with torch.no_grad():
        assert torch.equal(deferred.model(x), model(x))
    assert deferred.model is deferred.model  # built once


def test_shipped_demo_bundle():
    folder = default_bundle_path()
    assert folder.name == "demo-seresnet3d"
    bundle = load_bundle(folder)
    assert bundle.demonstration is True
    assert "not a clinical model" in bundle.disclaimer
    provenance = bundle.config["provenance"]
    assert "synthetic" in provenance["data"].lower() and provenance["command"].startswith("python -m")
    assert provenance["heldout_c_index"] >= 0.70
    assert (folder / "model.safetensors").stat().st_size < 5 * 1024 * 1024
    assert bundle.gradcam_layer == "layer2" and -1 < bundle.cutoff < 1


def test_predict_case_with_shipped_bundle():
    from RadSurvLib.models.inference import predict_case

    ct = sitk.Image([40, 40, 40], sitk.sitkFloat32) - 800.0
    ct.SetOrigin([-20.0, -20.0, -20.0])
    gtv = sitk.Image([40, 40, 40], sitk.sitkUInt8)
    gtv.CopyInformation(ct)
    gtv[12:28, 14:26, 15:25] = 1
    ct = sitk.Mask(ct, gtv == 0, outsideValue=30.0, maskingValue=0)  # a soft-tissue block in air-like lung
    reference = sitk.Resample(ct, [20, 20, 14], sitk.Transform(), sitk.sitkLinear, ct.GetOrigin(),
                              [2.0, 2.0, 3.0], ct.GetDirection(), -1000.0, sitk.sitkFloat32)
    result = predict_case(load_bundle(), ct, gtv, reference, device="cpu")
    assert set(result) == {"risk_score", "heatmap", "device", "gradcam_layer", "gradcam_method",
                           "input_kind", "endpoint"}
    assert -1 < result["risk_score"] < 1 and result["device"] == "cpu"
    heat = sitk.GetArrayFromImage(result["heatmap"])
    assert result["heatmap"].GetSize() == reference.GetSize() and 0 <= heat.min() and heat.max() <= 1
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="CUDA"):
            predict_case(load_bundle(), ct, gtv, reference, device="cuda")
    assert np.isfinite(heat).all()
