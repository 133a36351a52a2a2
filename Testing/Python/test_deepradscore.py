"""Tests of Deep-RadScore (Zhang et al. 2024): DenseNet121 + RadScore fusion, 2D inputs, Grad-CAM, bundle."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
sitk = pytest.importorskip("SimpleITK")

from RadSurvLib.errors import InputError  # noqa: E402
from RadSurvLib.models.deepradscore import DeepRadScore2D  # noqa: E402

TINY = dict(n_radscores=2, hidden_units=8, init_features=4, growth_rate=4, block_config=(2, 2), dropout=0.0)
RADSCORES = ["GTV", "ring_0-3mm"]


def tiny(**kwargs):
    torch.manual_seed(0)
    return DeepRadScore2D(**{**TINY, **kwargs})


def test_full_size_is_densenet121_with_fused_penultimate_layer():
    from monai.networks.nets.densenet import _DenseBlock, _DenseLayer

    model = DeepRadScore2D()  # DenseNet121, 2 RadScores, 128 hidden units
    blocks = [m for m in model.backbone.children() if isinstance(m, _DenseBlock)]
    assert [sum(isinstance(c, _DenseLayer) for c in b.children()) for b in blocks] == [6, 12, 24, 16]
    assert model.backbone_dim == 1024
    assert (model.fc_penultimate.in_features, model.fc_penultimate.out_features) == (1024 + 2, 128)
    assert (model.fc_out.in_features, model.fc_out.out_features) == (128, 1)
    from RadSurvLib.models.registry import spec_of

    assert spec_of(model).input_kind == "slice2d+radscores" and model.feature_dim == 128
    assert "backbone.denseblock3" in dict(model.named_modules())
    narrow = DeepRadScore2D(init_features=4, growth_rate=2).eval()  # DenseNet121's depth, cheap widths
    with torch.no_grad():
        grid = narrow.backbone[:-3](torch.zeros(1, 1, 160, 160))  # up to denseblock3
    assert grid.shape[-2:] == (10, 10)  # Grad-CAM default: 16 mm cells on the 160 mm patch


def test_radscores_are_fused_and_required():
    model = tiny().eval()
    x = torch.randn(3, 1, 32, 32)
    r = torch.randn(3, 2)
    with torch.no_grad():
        risk, feats = model(x, r), model.features(x, r)
        other = model(x, r + torch.tensor([1.0, -1.0]))
    assert risk.shape == (3,) and feats.shape == (3, 8) and torch.all(risk.abs() < 1)
    assert torch.allclose(risk, torch.tanh(model.fc_out(feats).squeeze(1)))
    assert not torch.allclose(risk, other)  # the RadScores reach the output
    with pytest.raises(ValueError, match="radscores"):
        model(x)
    with pytest.raises(ValueError, match="takes 2"):
        model(x, torch.randn(3, 3))
    image_only = tiny(n_radscores=0).eval()
    with torch.no_grad():
        assert image_only(x).shape == (3,)


def training_data(n=10, size=24):
    g = torch.Generator().manual_seed(2)
    hazard = torch.linspace(-1, 1, n)
    x = torch.randn(n, 1, size, size, generator=g) * 0.1 + hazard[:, None, None, None]
    r = torch.stack([hazard * 0.5, torch.randn(n, generator=g)], dim=1)
    return hazard, x, r


def run_steps(model, loss_fn, x, r, steps=10, lr=3e-3):
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        loss = loss_fn(model(x, r))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(float(loss.detach()))
    return losses


def test_few_training_steps_reduce_cox_loss():
    from RadSurvLib.training.losses import cox_partial_likelihood_loss

    hazard, x, r = training_data()
    time, event = torch.exp(-hazard) * 100, torch.ones(len(hazard))
    losses = run_steps(tiny(), lambda risk: cox_partial_likelihood_loss(risk, time, event), x, r)
    assert losses[-1] < losses[0] - 0.1


def test_binary_endpoint_logit_and_bce_steps():
    hazard, x, r = training_data()
    label = (hazard > 0).float()
    model = tiny(endpoint="binary")
    losses = run_steps(model, lambda logit: torch.nn.functional.binary_cross_entropy_with_logits(logit, label), x, r)
    assert losses[-1] < losses[0] - 0.1
    with torch.no_grad():
        model.fc_out.bias += 10.0
        assert torch.all(model.eval()(x, r) > 5.0)  # a logit, not squashed
    with pytest.raises(ValueError, match="endpoint"):
        DeepRadScore2D(endpoint="ordinal")


def synthetic_case():
    """A 1 mm CT with an elongated GTV whose largest axial slice is k = 21; a 0.8 x 0.8 x 2.5 mm reference."""
    ct = sitk.Image([60, 60, 40], sitk.sitkFloat32) - 800.0
    ct.SetOrigin([-30.0, -30.0, -20.0])
    gtv = sitk.Image([60, 60, 40], sitk.sitkUInt8)
    gtv.CopyInformation(ct)
    gtv[20:36, 24:34, 15:28] = 1
    gtv[16:40, 22:36, 21] = 1  # the largest slice, centroid (27.5, 28.5) in (i, j)
    ct = sitk.Mask(ct, gtv == 0, outsideValue=40.0, maskingValue=0)
    reference = sitk.Resample(ct, [75, 75, 16], sitk.Transform(), sitk.sitkLinear, [-30.0, -30.0, -19.6],
                              [0.8, 0.8, 2.5], ct.GetDirection(), -1000.0, sitk.sitkFloat32)
    return ct, gtv, reference


PRE = {"patch_size": 48, "hu_clip": [-1000, 400], "norm_mean": -300.0, "norm_std": 400.0,
       "radscore_names": RADSCORES, "spacing_mm": [1, 1, 1]}


def test_slice2d_input_builder():
    from RadSurvLib.models.inputs import build_model_input, largest_slice

    ct, gtv, _ = synthetic_case()
    assert largest_slice(gtv) == 21
    mi = build_model_input("slice2d+radscores", ct, gtv, PRE, radscores={"ring_0-3mm": -0.5, "GTV": 1.5})
    assert mi.x.shape == (1, 1, 48, 48) and mi.radscores.tolist() == [[1.5, -0.5]]
    assert mi.geometry["size"] == [48, 48, 1] and mi.geometry["slice_index"] == 21
    patch = mi.x[0, 0].numpy() * 400 - 300  # back to HU
    tumour = np.argwhere(patch > 0)
    # The 24 x 14 mm tumour section is centred in the patch (centre pixel index 23.5).
    assert tumour.mean(axis=0) == pytest.approx([23.5, 23.5], abs=0.6)
    assert len(tumour) == pytest.approx(24 * 14, rel=0.15)
    assert mi.geometry["origin"][2] == pytest.approx(-20.0 + 21)
    with pytest.raises(InputError, match="ring_0-3mm"):
        build_model_input("slice2d+radscores", ct, gtv, PRE, radscores={"GTV": 1.0})
    with pytest.raises(InputError, match="signature"):
        build_model_input("slice2d+radscores", ct, gtv, PRE, radscores=None)


def save_tiny_bundle(folder, endpoint="survival"):
    from RadSurvLib.models.bundle import save_bundle

    params = {**TINY, "block_config": [2, 2], "endpoint": endpoint}
    torch.manual_seed(0)
    model = DeepRadScore2D(**params).eval()
    config = {"name": "t-deepradscore", "version": "0", "demonstration": True,
              "architecture": {"name": "DeepRadScore2D", "params": params}, "preprocessing": PRE,
              "gradcam_layer": "backbone.denseblock2", "risk_cutoff": 0.0}
    return model, save_bundle(model, config, folder)


def test_bundle_round_trip_predict_case_and_2d_gradcam_on_one_slice(tmp_path):
    from RadSurvLib.models.bundle import load_bundle
    from RadSurvLib.models.inference import predict_case

    model, folder = save_tiny_bundle(tmp_path / "b", endpoint="binary")
    bundle = load_bundle(folder)
    assert bundle.input_kind == "slice2d+radscores" and bundle.endpoint == "binary"
    x, r = torch.randn(2, 1, 48, 48), torch.randn(2, 2)
    with torch.no_grad():
        assert torch.equal(bundle.model(x, r), model(x, r))
    ct, gtv, reference = synthetic_case()
    result = predict_case(bundle, ct, gtv, reference, device="cpu", radscores=[0.3, -0.2])
    assert result["probability"] == pytest.approx(1 / (1 + np.exp(-result["risk_score"])))
    heat = result["heatmap"]
    assert heat.GetSize() == reference.GetSize() and heat.GetOrigin() == reference.GetOrigin()
    values = sitk.GetArrayFromImage(heat)
    slices = np.flatnonzero(values.reshape(len(values), -1).max(axis=1) > 0)
    # The 1 mm slice k = 21 lies at z = 1 mm; the nearest 2.5 mm reference slice is k = 8 (z = 0.4 mm).
    assert slices.tolist() == [8] and values.max() <= 1.0
    painted = np.argwhere(values[8] > 0)  # (j, i) on the 0.8 mm grid: within the 48 mm patch around the GTV
    centre = np.array([28.5, 27.5]) / 0.8  # GTV centroid (j, i) on the reference grid
    assert np.all(np.abs(painted - centre) <= 24 / 0.8 + 2)


def test_radscores_by_roi_split_the_signature_radscore():
    import pandas as pd

    from RadSurvLib.models.inputs import radscores_by_roi
    from RadSurvLib.survival.signature import apply_signature

    signature = {"features": ["original_firstorder_Mean", "wavelet-LLH_glcm_Contrast",
                              "ring_0-3mm_original_shape_Sphericity", "ring_3-6mm_original_firstorder_Mean"],
                 "means": [1.0, 2.0, 0.5, 3.0], "sds": [2.0, 1.0, 0.1, 1.5],
                 "coefficients": [0.4, -0.3, 0.2, 0.7],
                 "model": {"terms": ["RadScore"], "coefficients": [1.0], "covariates": [], "covariate_levels": {}},
                 "baseline_cumulative_hazard": {"time_days": [100.0], "H0": [0.1]}, "risk_cutoff": 0.0}
    row = {"original_firstorder_Mean": 3.0, "wavelet-LLH_glcm_Contrast": 1.0,
           "ring_0-3mm_original_shape_Sphericity": 0.7, "ring_3-6mm_original_firstorder_Mean": 6.0}
    scores = radscores_by_roi(signature, row, ["GTV", "ring_0-3mm", "ring_3-6mm"])
    assert scores["GTV"] == pytest.approx(0.4 * 1.0 - 0.3 * -1.0)
    assert scores["ring_0-3mm"] == pytest.approx(0.2 * 2.0)
    total = apply_signature(signature, pd.DataFrame([row]))["radscore"][0]
    assert sum(scores.values()) == pytest.approx(total)
    assert radscores_by_roi(signature, row, RADSCORES)["ring_0-3mm"] == pytest.approx(0.4)
    with pytest.raises(InputError, match="original_firstorder_Mean"):
        radscores_by_roi(signature, {}, RADSCORES)


def test_pipeline_refuses_deepradscore_bundle_without_signature(tmp_path, pat1_images):
    from RadSurvLib.pipeline import score_case

    _, folder = save_tiny_bundle(tmp_path / "b")
    ct, gtv = pat1_images
    from RadSurvLib.options import ScoreOptions

    with pytest.raises(InputError, match="signature: "):
        score_case(ct, gtv, tmp_path / "out", ScoreOptions(bundle=str(folder), device="cpu"))
    assert not (tmp_path / "out" / "result.json").exists()
    assert json.loads((folder / "bundle.json").read_text())["architecture"]["name"] == "DeepRadScore2D"
