"""Tests of the 3D SE-ResNet, the Cox loss, model preprocessing, Grad-CAM, the registry and the synthetic cases."""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
sitk = pytest.importorskip("SimpleITK")

from conftest import PAT1_CT, PAT1_GTV  # noqa: E402


@pytest.fixture(scope="module")
def pat1_1mm():
    """PAT1 CT (B-spline) and GTV (volume-preserving) on the 1 mm grid, and the original CT."""
    from RadSurvLib.preprocessing import resample_image, resample_mask_preserving_volume

    ct, gtv = sitk.ReadImage(str(PAT1_CT)), sitk.ReadImage(str(PAT1_GTV))
    ct_1mm = resample_image(ct, 1.0, interpolator="bspline")
    gtv_1mm = resample_mask_preserving_volume(gtv, ct_1mm).mask
    return ct_1mm, gtv_1mm, ct, gtv


def small_model(**kwargs):
    from RadSurvLib.models.seresnet import SEResNet3D

    torch.manual_seed(0)
    return SEResNet3D(base_width=kwargs.pop("base_width", 4), head_units=kwargs.pop("head_units", (16, 8)), **kwargs)


def test_model_shapes_and_range():
    model = small_model(base_width=8, head_units=(64, 32, 16)).eval()
    x = torch.randn(2, 1, 64, 64, 64)
    with torch.no_grad():
        risk, features = model(x), model.features(x)
    assert risk.shape == (2,)
    assert torch.all(risk.abs() < 1)
    assert features.shape == (2, 64) and model.feature_dim == 64


def test_full_width_matches_paper_dimensions():
    from RadSurvLib.models.seresnet import SEResNet3D

    model = SEResNet3D()  # base_width 64: 64-128-256-512 filters, 512-d features, head 512-256-128
    assert model.feature_dim == 512
    linears = [m for m in model.head if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(512, 512), (512, 256), (256, 128)]
    assert model.out.in_features == 128 and model.out.out_features == 1
    dropouts = [m.p for m in model.head if isinstance(m, torch.nn.Dropout)]
    assert dropouts == [0.4, 0.4, 0.4]


def test_stage_resolutions_at_64():
    model = small_model().eval()
    shapes = {}
    x = torch.zeros(1, 1, 64, 64, 64)
    with torch.no_grad():
        x = model.stem(x)
        shapes["stem"] = x.shape[-1]
        for name in ("layer1", "layer2", "layer3", "layer4"):
            x = getattr(model, name)(x)
            shapes[name] = x.shape[-1]
    assert shapes == {"stem": 16, "layer1": 16, "layer2": 8, "layer3": 4, "layer4": 2}


def test_se_layer_after_every_residual_block():
    from monai.networks.blocks import ChannelSELayer

    from RadSurvLib.models.seresnet import BasicBlock3D

    model = small_model()
    blocks = [m for m in model.modules() if isinstance(m, BasicBlock3D)]
    assert len(blocks) == 8  # ResNet18: 4 stages x 2 blocks
    for block in blocks:
        assert isinstance(block.se, ChannelSELayer)
        assert list(block._modules)[-1] == "se"  # applied last, after the residual sum
    full = small_model(base_width=64, head_units=(8,))
    se = [m for m in full.modules() if isinstance(m, ChannelSELayer)]
    assert se[0].fc[0].out_features == 1 and se[-1].fc[0].out_features == 512 // 64  # r = 64


def test_cox_loss_hand_computed_with_ties():
    from RadSurvLib.training.losses import cox_partial_likelihood_loss

    risk = torch.tensor([0.1, 0.5, -0.2, 0.3])
    time = torch.tensor([1.0, 1.0, 2.0, 3.0])
    event = torch.tensor([1, 1, 0, 1])
    # Breslow: both events at t=1 share the risk set {0,1,2,3}; the event at t=3 has risk set {3}.
    lse = math.log(sum(math.exp(r) for r in (0.1, 0.5, -0.2, 0.3)))
    expected = -((0.1 - lse) + (0.5 - lse) + (0.3 - 0.3)) / 3
    assert float(cox_partial_likelihood_loss(risk, time, event)) == pytest.approx(expected, rel=1e-6)
    assert float(cox_partial_likelihood_loss(risk, time, torch.zeros(4))) == 0.0


def test_c_index_simple_cases():
    from RadSurvLib.survival.metrics import harrell_c, pairwise_concordance

    time, event = [1, 2, 3, 4], [1, 1, 1, 0]
    assert harrell_c(time, event, [4, 3, 2, 1]) == 1.0
    assert harrell_c(time, event, [1, 2, 3, 4]) == 0.0
    assert harrell_c(time, event, [1, 1, 1, 1]) == 0.5
    assert pairwise_concordance([0.1, 0.2, 0.3], [1, 2, 3]) == 1.0
    assert pairwise_concordance([0.3, 0.2, 0.1], [1, 2, 3]) == 0.0
    assert pairwise_concordance([0.1, 0.1, 0.3], [1, 2, 2]) == 0.75  # truth tie skipped, predicted tie 1/2


def test_training_steps_reduce_cox_loss():
    from RadSurvLib.training.losses import cox_partial_likelihood_loss

    generator = torch.Generator().manual_seed(1)
    hazard = torch.linspace(-1, 1, 16)
    x = torch.randn(16, 1, 32, 32, 32, generator=generator) * 0.1 + hazard[:, None, None, None, None]
    time = torch.exp(-hazard) * 100  # higher hazard -> shorter survival
    event = torch.ones(16)
    model = small_model(dropout=0.0)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(15):
        loss = cox_partial_likelihood_loss(model(x), time, event)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < losses[0] - 0.1


def test_make_model_input_on_pat1(pat1_1mm):
    from RadSurvLib.models.crop import gtv_bounding_box, make_model_input

    ct_1mm, gtv_1mm, _, _ = pat1_1mm
    x, geometry = make_model_input(ct_1mm, gtv_1mm, norm_mean=-300.0, norm_std=400.0)
    assert x.shape == (1, 1, 64, 64, 64) and x.dtype == torch.float32
    assert torch.isfinite(x).all()
    assert float(x.min()) >= (-1000 + 300) / 400 - 1e-5 and float(x.max()) <= (400 + 300) / 400 + 1e-5
    # The GTV's bounding-box corners (voxel edges) lie inside the crop grid.
    start, end = gtv_bounding_box(gtv_1mm)
    crop = sitk.Image(geometry["size"], sitk.sitkFloat32)
    crop.SetSpacing(geometry["spacing"]), crop.SetOrigin(geometry["origin"]), crop.SetDirection(geometry["direction"])
    for index in (start, end):
        point = gtv_1mm.TransformIndexToPhysicalPoint([int(i) for i in index])
        continuous = crop.TransformPhysicalPointToContinuousIndex(point)
        assert all(-0.5 <= c <= 63.5 for c in continuous)
    # The GTV mask resampled into the crop fills a good part of it but is not cut at the crop's faces.
    mask = sitk.GetArrayFromImage(sitk.Resample(gtv_1mm, crop, sitk.Transform(), sitk.sitkNearestNeighbor, 0))
    assert mask.mean() > 0.2
    assert mask[0].sum() == 0 and mask[-1].sum() == 0 and mask[:, 0].sum() == 0 and mask[:, :, -1].sum() == 0


def test_make_model_input_rejects_empty_gtv(pat1_1mm):
    from RadSurvLib.errors import InputError
    from RadSurvLib.models.crop import make_model_input

    ct_1mm, gtv_1mm, _, _ = pat1_1mm
    with pytest.raises(InputError, match="empty"):
        make_model_input(ct_1mm, gtv_1mm * 0)


def test_gradcam_heatmap_in_original_geometry(pat1_1mm):
    from RadSurvLib.explain import gradcam, gradcam_to_reference
    from RadSurvLib.models.crop import make_model_input

    ct_1mm, gtv_1mm, ct, gtv = pat1_1mm
    x, geometry = make_model_input(ct_1mm, gtv_1mm, norm_mean=-300.0, norm_std=400.0)
    model = small_model(base_width=8).eval()
    cam, risk = gradcam(model, x, layer="layer2")
    assert cam.shape == (1, 64, 64, 64) and risk.shape == (1,)
    heat = gradcam_to_reference(cam[0], geometry, ct)
    assert heat.GetSize() == ct.GetSize() and heat.GetSpacing() == ct.GetSpacing()
    assert heat.GetOrigin() == ct.GetOrigin() and heat.GetPixelID() == sitk.sitkFloat32
    values = sitk.GetArrayFromImage(heat)
    assert values.min() >= 0.0 and values.max() <= 1.0 and values.max() > 0.0
    # Nonzero only within the GTV bounding box + 5 mm margin (+ one voxel of interpolation).
    nz = np.argwhere(values > 0)  # (z, y, x)
    g = np.argwhere(sitk.GetArrayFromImage(gtv) > 0)
    spacing_zyx = np.array(ct.GetSpacing()[::-1])
    allowed = np.ceil(5.0 / spacing_zyx) + 2
    assert np.all(nz.min(0) >= g.min(0) - allowed) and np.all(nz.max(0) <= g.max(0) + allowed)


def test_synthetic_cases_reproducible_and_labelled():
    from RadSurvLib.training.synthetic import BLOCK_MM, generate_cases, load_background, true_log_hazard

    background = load_background()
    a = list(generate_cases(3, seed=5, background=background))
    b = list(generate_cases(1, seed=5, background=background, start=2))
    assert a[2].time_days == b[0].time_days and a[2].log_hazard == b[0].log_hazard
    assert np.array_equal(sitk.GetArrayFromImage(a[2].ct), sitk.GetArrayFromImage(b[0].ct))
    for case in a:
        assert case.ct.GetSize() == (BLOCK_MM,) * 3 and case.ct.GetSpacing() == (1.0, 1.0, 1.0)
        assert sitk.GetArrayFromImage(case.gtv).sum() > 0 and case.time_days > 0
        assert case.log_hazard == pytest.approx(true_log_hazard(case.heterogeneity, case.necrosis))


def test_gradcam_rejects_unknown_layer_and_leaves_model_clean():
    from RadSurvLib.explain import gradcam

    model = small_model().eval()
    x = torch.zeros(1, 1, 64, 64, 64)
    with pytest.raises(ValueError, match="layer9"):
        gradcam(model, x, layer="layer9")
    gradcam(model, x, layer="layer3")
    assert not model.layer3._forward_hooks and not model.layer3._backward_hooks


def test_centre_output_keeps_ranking_and_centres_the_median():
    from RadSurvLib.training.cache import TrainingSet
    from RadSurvLib.training.loop import predict
    from RadSurvLib.training.train import centre_output

    model = small_model(head_units=(8,))
    with torch.no_grad():
        model.out.bias += 2.5  # a drifted output, as the Cox loss allows
    data = TrainingSet([str(i) for i in range(9)], torch.randn(9, 1, 32, 32, 32), None, torch.ones(9),
                       torch.ones(9), None)
    before = predict(model, data)
    shift = centre_output(model, data)
    after = predict(model, data)
    assert shift > 0
    assert np.array_equal(np.argsort(before), np.argsort(after))
    assert abs(np.median(after)) < 1e-5 and abs(np.median(before)) > 0.5


def test_gradcam_risk_is_the_eval_mode_risk_every_time(pat1_1mm):
    """Grad-CAM must not leave dropout or batch statistics on: the risk is the model's eval output."""
    from RadSurvLib.models.bundle import default_bundle_path, load_bundle
    from RadSurvLib.models.inference import predict_case
    from RadSurvLib.models.crop import make_model_input

    ct_1mm, gtv_1mm, ct, _ = pat1_1mm
    bundle = load_bundle(default_bundle_path())
    x, _ = make_model_input(ct_1mm, gtv_1mm, **bundle.preprocessing)
    with torch.no_grad():
        expected = float(bundle.model.eval()(x)[0])
    risks = [predict_case(bundle, ct_1mm, gtv_1mm, ct, device="cpu")["risk_score"] for _ in range(3)]
    assert risks == pytest.approx([expected] * 3, abs=1e-6)
    assert not bundle.model.training


# --- the architecture registry (SE-ResNet, Vision-Mamba, Deep-RadScore) -------------------------------

TINY_ARCHITECTURES = {
    "SEResNet3D": ({"base_width": 4, "head_units": [8]}, (2, 1, 32, 32, 32), None),
    "VisionMamba3D": ({"in_channels": 3, "image_size": 16, "patch_size": 4, "embed_dim": 8, "depth": 1,
                       "d_state": 4, "head_units": [8]}, (2, 3, 16, 16, 16), None),
    "DeepRadScore2D": ({"n_radscores": 2, "hidden_units": 8, "init_features": 4, "growth_rate": 4,
                        "block_config": [2, 2]}, (2, 1, 32, 32), (2, 2)),
}


@pytest.mark.parametrize("name", sorted(TINY_ARCHITECTURES))
def test_registry_architectures_share_one_api(name):
    from RadSurvLib.errors import InputError
    from RadSurvLib.models.registry import INPUT_KINDS, SPECS, build_model, model_spec, spec_of

    params, x_shape, r_shape = TINY_ARCHITECTURES[name]
    torch.manual_seed(0)
    model = build_model(name, params).eval()
    spec = model_spec(name)
    assert type(model) is spec.model_class and spec_of(model) is spec is SPECS[name]
    assert spec.input_kind in INPUT_KINDS
    layer = spec.cam_layer_for(params)
    assert layer in dict(model.named_modules())
    names = [n for n, _ in model.named_parameters()]
    for prefix in spec.head_prefixes:  # head-only fine-tuning trains exactly these, ending at the output
        assert any(n.startswith(prefix + ".") for n in names)
    assert names[-1].startswith(spec.head_prefixes[-1] + ".")
    from RadSurvLib.models.bundle import PREPROCESSING_KEYS_BY_KIND

    # the default preprocessing plus the training-set statistics is a complete bundle preprocessing
    filled = {**spec.preprocessing, "norm_mean": 0.0, "norm_std": 1.0}
    assert set(PREPROCESSING_KEYS_BY_KIND[spec.input_kind]) <= set(filled)
    # the small CPU configuration builds (VisionMamba3D's channels follow its default maps)
    small = build_model(name, spec.small_params)
    assert spec.cam_layer_for(spec.small_params) in dict(small.named_modules())
    if spec.input_kind == "ct3d+maps":
        assert spec.small_params["in_channels"] == 1 + len(spec.preprocessing["voxel_maps"])
        assert spec.small_params["image_size"] == spec.preprocessing["crop_size"]
    x = torch.randn(*x_shape)
    r = None if r_shape is None else torch.randn(*r_shape)
    with torch.no_grad():
        risk, feats = model(x, radscores=r), model.features(x, radscores=r)
    assert risk.shape == (2,) and torch.all(risk.abs() < 1)
    assert feats.shape == (2, model.feature_dim)
    cam, cam_risk = __import__("RadSurvLib.explain", fromlist=["gradcam"]).gradcam(
        model, x, layer=layer, radscores=r)
    assert cam.shape == (2,) + x_shape[2:] and 0 <= cam.min() and cam.max() <= 1
    assert cam_risk == pytest.approx(risk.numpy(), abs=1e-6)
    with pytest.raises(InputError, match="SEResNet3D"):
        build_model("ResNet50", {})


def test_seresnet_full_width_size_and_spec():
    from RadSurvLib.models import registry, seresnet

    model = seresnet.SEResNet3D()
    spec = registry.spec_of(model)
    assert spec.input_kind == "ct3d" and spec.cam_layer_for() == "layer2"
    assert not hasattr(seresnet, "ARCHITECTURES") and not hasattr(registry, "ARCHITECTURES")  # no second home
    # ResNet18-3D trunk + 16 SE layers (r = 64) + the 512-512-256-128-1 head (Liu et al. 2025).
    assert sum(p.numel() for p in model.parameters()) == 33_590_495


def test_demo_bundle_risk_on_pat1_is_unchanged(pat1_1mm):
    """The shipped bundle gives the risk it gave before the registry (recorded with the earlier code)."""
    from RadSurvLib.models.bundle import load_bundle
    from RadSurvLib.models.inference import predict_case

    ct_1mm, gtv_1mm, ct, _ = pat1_1mm
    result = predict_case(load_bundle(), ct_1mm, gtv_1mm, ct, device="cpu")
    assert result["risk_score"] == pytest.approx(0.98517334, abs=1e-5)
    assert result["input_kind"] == "ct3d" and result["endpoint"] == "survival" and "probability" not in result


def test_slice2d_input_on_pat1(pat1_1mm):
    from RadSurvLib.models.inputs import build_slice2d

    ct_1mm, gtv_1mm, _, _ = pat1_1mm
    mask = sitk.GetArrayFromImage(gtv_1mm) > 0
    mi = build_slice2d(ct_1mm, gtv_1mm, {"hu_clip": [-1000, 400], "norm_mean": -300.0, "norm_std": 400.0,
                                         "radscore_names": ["GTV"]}, radscores=[0.25])
    k = mi.geometry["slice_index"]
    assert mask[k].sum() == mask.sum(axis=(1, 2)).max()  # the largest axial GTV section
    assert mi.x.shape == (1, 1, 160, 160) and mi.radscores.tolist() == [[0.25]]
    # The patch centre is the centroid of that section (which, for PAT1's compact GTV, lies inside it).
    centre = np.array(ct_1mm.TransformContinuousIndexToPhysicalPoint([*np.argwhere(mask[k]).mean(0)[::-1], k]))
    patch = sitk.Image([160, 160, 1], sitk.sitkUInt8)
    patch.SetSpacing(mi.geometry["spacing"]), patch.SetOrigin(mi.geometry["origin"])
    patch.SetDirection(mi.geometry["direction"])
    assert np.allclose(patch.TransformPhysicalPointToContinuousIndex(centre.tolist()), [79.5, 79.5, 0], atol=1e-6)
    hu = mi.x[0, 0].numpy() * 400 - 300
    assert np.median(hu[70:90, 70:90]) > -300  # soft tissue at the centre, not lung
