"""Tests of the dual-input 3D Vision-Mamba (Wang et al. 2026): selective scan, model, inputs, bundle."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
sitk = pytest.importorskip("SimpleITK")
pytest.importorskip("mambapy")

from RadSurvLib.models.vmamba import (  # noqa: E402
    BiMambaBlock, VisionMamba3D, cuda_scan_available, selective_scan, selective_scan_torch)

MAPS = ["firstorder_Mean", "glcm_Contrast"]


def sequential_scan(A, X):
    """Ground truth of ``h_t = A_t * h_{t-1} + X_t`` (h_0 = 0) with a plain loop; [B, L, D, N] layout."""
    h = torch.zeros_like(X[:, 0])
    out = []
    for t in range(X.shape[1]):
        h = A[:, t] * h + X[:, t]
        out.append(h)
    return torch.stack(out, dim=1)


def selective_scan_loop(u, delta, A, B, C, D, z, delta_bias):
    """Mamba's selective scan (Gu & Dao 2023, Algorithm 2) step by step, mamba_ssm's reference semantics."""
    delta = torch.nn.functional.softplus(delta + delta_bias[None, :, None])
    h = torch.zeros(u.shape[0], u.shape[1], A.shape[1], dtype=u.dtype)
    ys = []
    for t in range(u.shape[2]):
        h = torch.exp(delta[:, :, t, None] * A) * h + delta[:, :, t, None] * B[:, None, :, t] * u[:, :, t, None]
        ys.append((h * C[:, None, :, t]).sum(-1))
    y = torch.stack(ys, dim=2) + u * D[None, :, None]
    return y * torch.nn.functional.silu(z)


@pytest.mark.parametrize("length", [1, 7, 64, 100])
def test_mambapy_pscan_matches_sequential_loop(length):
    from mambapy.pscan import pscan

    g = torch.Generator().manual_seed(length)
    A = torch.rand(2, length, 3, 4, generator=g, dtype=torch.float64)  # decay factors in (0, 1)
    X = torch.randn(2, length, 3, 4, generator=g, dtype=torch.float64)
    A.requires_grad_(True), X.requires_grad_(True)
    parallel, reference = pscan(A, X), sequential_scan(A, X)
    assert torch.allclose(parallel, reference, atol=1e-12, rtol=1e-10)
    weights = torch.randn(parallel.shape, generator=g, dtype=torch.float64)
    grad_p = torch.autograd.grad((parallel * weights).sum(), (A, X))
    grad_r = torch.autograd.grad((reference * weights).sum(), (A, X))
    for a, b in zip(grad_p, grad_r):  # mambapy's hand-written backward pass
        assert torch.allclose(a, b, atol=1e-10, rtol=1e-8)
    p32 = pscan(A.detach().float(), X.detach().float())
    assert float((p32.double() - reference.detach()).abs().max()) < 1e-5


def test_selective_scan_torch_matches_loop_reference():
    g = torch.Generator().manual_seed(3)
    b, d, n, length = 2, 6, 4, 37
    u, delta, z = (torch.randn(b, d, length, generator=g, dtype=torch.float64) for _ in range(3))
    A = -torch.rand(d, n, generator=g, dtype=torch.float64) * 2
    B, C = (torch.randn(b, n, length, generator=g, dtype=torch.float64) for _ in range(2))
    D, bias = torch.randn(d, generator=g, dtype=torch.float64), torch.randn(d, generator=g, dtype=torch.float64)
    fast = selective_scan_torch(u, delta, A, B, C, D, z, delta_bias=bias, delta_softplus=True)
    slow = selective_scan_loop(u, delta, A, B, C, D, z, bias)
    assert fast.shape == (b, d, length)
    assert float((fast - slow).abs().max()) < 1e-10
    assert torch.equal(selective_scan(u, delta, A, B, C, D, z, bias, True, backend="auto"), fast)  # CPU -> torch
    with pytest.raises(ValueError, match="backend"):
        selective_scan(u, delta, A, B, C, D, z, bias, True, backend="triton")


@pytest.mark.skipif(not cuda_scan_available(), reason="needs mamba-ssm's CUDA kernel and a CUDA GPU")
def test_cuda_kernel_matches_torch_scan():
    torch.manual_seed(0)
    model = VisionMamba3D(in_channels=3, image_size=16, patch_size=4, embed_dim=16, depth=2).cuda().eval()
    x = torch.randn(2, 3, 16, 16, 16, device="cuda")
    outputs, grads = {}, {}
    for backend in ("torch", "cuda"):
        model.scan_backend = backend
        model.zero_grad()
        risk = model(x)
        risk.sum().backward()
        outputs[backend] = risk.detach()
        grads[backend] = model.patch_embed.weight.grad.detach().clone()
    assert torch.allclose(outputs["torch"], outputs["cuda"], atol=1e-4, rtol=1e-3)
    assert torch.allclose(grads["torch"], grads["cuda"], atol=1e-4, rtol=1e-2)


def tiny(**kwargs):
    torch.manual_seed(0)
    defaults = dict(in_channels=3, image_size=16, patch_size=4, embed_dim=16, depth=1, d_state=4,
                    head_units=(8,), dropout=0.0)
    return VisionMamba3D(**{**defaults, **kwargs})


def test_shapes_features_and_head_consistency():
    model = tiny(depth=2).eval()
    x = torch.randn(3, 3, 16, 16, 16)
    with torch.no_grad():
        risk, feats = model(x), model.features(x)
        grid = model.token_grid(model.norm(torch.zeros(3, 64, 16)))
    from RadSurvLib.models.registry import spec_of

    assert spec_of(model).input_kind == "ct3d+maps" and spec_of(model).cam_layer_for() == "token_grid"
    assert risk.shape == (3,) and feats.shape == (3, 16) and model.feature_dim == 16
    assert torch.all(risk.abs() < 1) and grid.shape == (3, 16, 4, 4, 4)
    assert torch.allclose(risk, torch.tanh(model.out(model.head(feats)).squeeze(1)))
    binary = tiny(endpoint="binary").eval()
    with torch.no_grad():
        binary.out.bias += 5.0
        assert torch.all(binary(x) > 1.0)  # a logit, not squashed
    with pytest.raises(ValueError, match="expected"):
        model(torch.randn(1, 1, 16, 16, 16))
    with pytest.raises(ValueError, match="multiple"):
        VisionMamba3D(image_size=18, patch_size=4)


def test_block_is_bidirectional():
    """The last token reaches the first one only through the backward scan."""
    torch.manual_seed(0)
    block = BiMambaBlock(8, d_state=4).eval()
    tokens = torch.randn(1, 20, 8)
    changed = tokens.clone()
    changed[0, -1] = torch.randn(8)  # (not a constant shift: the LayerNorm would remove it)
    with torch.no_grad():
        both = (block(tokens)[0, 0] - block(changed)[0, 0]).abs().max()
        block.backward_scan.forward = lambda x, z, backend: torch.zeros_like(x)  # forward scan only
        forward_only = (block(tokens)[0, 0] - block(changed)[0, 0]).abs().max()
    assert float(both) > 1e-6 and float(forward_only) == 0.0


def test_few_training_steps_reduce_cox_loss():
    from RadSurvLib.training.losses import cox_partial_likelihood_loss

    g = torch.Generator().manual_seed(1)
    hazard = torch.linspace(-1, 1, 12)
    x = torch.randn(12, 3, 16, 16, 16, generator=g) * 0.1 + hazard[:, None, None, None, None]
    time, event = torch.exp(-hazard) * 100, torch.ones(12)
    model = tiny()
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(12):
        loss = cox_partial_likelihood_loss(model(x), time, event)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < losses[0] - 0.1


def synthetic_case():
    """A 1 mm CT block with a soft-tissue GTV, two voxel maps on a coarser grid, and a reference CT."""
    ct = sitk.Image([40, 40, 40], sitk.sitkFloat32) - 800.0
    ct.SetOrigin([-20.0, -20.0, -20.0])
    gtv = sitk.Image([40, 40, 40], sitk.sitkUInt8)
    gtv.CopyInformation(ct)
    gtv[12:28, 14:26, 15:25] = 1
    ct = sitk.Mask(ct, gtv == 0, outsideValue=30.0, maskingValue=0)
    reference = sitk.Resample(ct, [20, 20, 14], sitk.Transform(), sitk.sitkLinear, ct.GetOrigin(),
                              [2.0, 2.0, 3.0], ct.GetDirection(), -1000.0, sitk.sitkFloat32)
    maps = {}
    for value, name in zip((40.0, 7.0), MAPS):
        m = sitk.Cast(sitk.Resample(gtv, reference, sitk.Transform(), sitk.sitkNearestNeighbor, 0), sitk.sitkFloat32)
        maps[name] = m * value  # constant inside the GTV, 0 (background) outside
    return ct, gtv, reference, maps


PRE = {"crop_size": 16, "margin_mm": 5.0, "hu_clip": [-1000, 400], "norm_mean": -300.0, "norm_std": 400.0,
       "spacing_mm": [1, 1, 1], "voxel_maps": MAPS, "map_norm": {"firstorder_Mean": [20.0, 10.0]}}


def test_ct3d_maps_input_builder():
    from RadSurvLib.errors import InputError
    from RadSurvLib.models.inputs import build_ct3d, build_model_input

    ct, gtv, _, maps = synthetic_case()
    mi = build_model_input("ct3d+maps", ct, gtv, PRE, voxel_maps=maps)
    ct_only = build_ct3d(ct, gtv, PRE)
    assert mi.x.shape == (1, 3, 16, 16, 16) and mi.radscores is None and mi.geometry == ct_only.geometry
    assert torch.equal(mi.x[:, :1], ct_only.x)
    centre = mi.x[0, :, 8, 8, 8]  # inside the GTV: CT (30 + 300) / 400, maps z-scored (40 - 20) / 10, 7
    assert centre.tolist() == pytest.approx([330 / 400, 2.0, 7.0], abs=1e-4)
    corner = mi.x[0, :, 0, 0, 0]  # 5 mm margin: outside the GTV, maps at their background
    assert corner[1:].tolist() == pytest.approx([-2.0, 0.0], abs=1e-4)
    with pytest.raises(InputError, match="glcm_Contrast"):
        build_model_input("ct3d+maps", ct, gtv, PRE, voxel_maps={"firstorder_Mean": maps["firstorder_Mean"]})


def test_bundle_round_trip_and_predict_case(tmp_path):
    from RadSurvLib.models.bundle import load_bundle, save_bundle
    from RadSurvLib.models.inference import predict_case

    params = dict(in_channels=3, image_size=16, patch_size=4, embed_dim=16, depth=1, d_state=4, head_units=[8])
    torch.manual_seed(0)
    model = VisionMamba3D(**params).eval()
    config = {"name": "t-vmamba", "version": "0", "demonstration": True,
              "architecture": {"name": "VisionMamba3D", "params": params}, "preprocessing": PRE,
              "gradcam_layer": "token_grid", "risk_cutoff": 0.0}
    bundle = load_bundle(save_bundle(model, config, tmp_path / "b"))
    assert bundle.input_kind == "ct3d+maps" and bundle.preprocessing["voxel_maps"] == MAPS
    x = torch.randn(2, 3, 16, 16, 16)
    with torch.no_grad():
        assert torch.equal(bundle.model(x), model(x))
    ct, gtv, reference, maps = synthetic_case()
    result = predict_case(bundle, ct, gtv, reference, device="cpu", voxel_maps=maps)
    heat = result["heatmap"]
    assert heat.GetSize() == reference.GetSize() and heat.GetSpacing() == reference.GetSpacing()
    values = sitk.GetArrayFromImage(heat)
    assert 0 <= values.min() and values.max() <= 1 and values.max() > 0
    assert result["input_kind"] == "ct3d+maps" and result["gradcam_layer"] == "token_grid"
    with torch.no_grad():
        from RadSurvLib.models.inputs import build_model_input

        expected = float(model(build_model_input("ct3d+maps", ct, gtv, PRE, voxel_maps=maps).x)[0])
    assert result["risk_score"] == pytest.approx(expected, abs=1e-6)
    assert_heat_inside_crop(heat, bundle.preprocessing, gtv)


def assert_heat_inside_crop(heat, preprocessing, gtv_1mm):
    """Every non-zero heatmap voxel lies in the model crop (GTV box + margin), give or take one voxel."""
    from RadSurvLib.models.crop import crop_geometry

    geometry = crop_geometry(gtv_1mm, gtv_1mm, preprocessing["crop_size"], preprocessing["margin_mm"])
    crop = sitk.Image(geometry["size"], sitk.sitkUInt8)
    crop.SetSpacing(geometry["spacing"]), crop.SetOrigin(geometry["origin"]), crop.SetDirection(geometry["direction"])
    values = sitk.GetArrayFromImage(heat)
    slack = np.array(heat.GetSpacing()) / np.array(geometry["spacing"]) + 0.5
    for k, j, i in np.argwhere(values > 0):
        index = np.array(crop.TransformPhysicalPointToContinuousIndex(heat.TransformIndexToPhysicalPoint(
            [int(i), int(j), int(k)])))
        assert np.all(index >= -slack) and np.all(index <= np.array(geometry["size"]) - 1 + slack)


def test_pipeline_computes_the_maps_a_bundle_needs_and_bundle_requires_them(tmp_path):
    import json

    from RadSurvLib.models.bundle import load_bundle, save_bundle
    from RadSurvLib.errors import BundleError
    from RadSurvLib.options import ScoreOptions
    from RadSurvLib.pipeline import ModelNeeds

    params = dict(in_channels=3, image_size=16, patch_size=4, embed_dim=8, depth=1, d_state=4, head_units=[8])
    config = {"name": "t", "version": "0", "demonstration": True, "gradcam_layer": "token_grid", "risk_cutoff": 0.0,
              "architecture": {"name": "VisionMamba3D", "params": params}, "preprocessing": PRE}
    folder = save_bundle(VisionMamba3D(**params), config, tmp_path / "b")
    bundle = load_bundle(folder)
    needs = ModelNeeds.of(bundle, None, ScoreOptions())
    assert needs.run_maps(("firstorder_Mean", "firstorder_Energy")) == [
        "firstorder_Mean", "firstorder_Energy", "glcm_Contrast"]
    ct, gtv, _, maps = synthetic_case()
    assert needs.voxel_maps(maps, ct, gtv, "cpu") is maps
    # A bundle trained on maps with another kernel radius gets its own maps, not the run's.
    bundle.config["preprocessing"]["kernel_radius"] = 2
    needs = ModelNeeds.of(bundle, None, ScoreOptions())
    assert needs.run_maps(("firstorder_Mean",)) == ["firstorder_Mean"]
    values = sitk.GetArrayFromImage(ct)
    values += np.random.default_rng(0).normal(0, 60, values.shape).astype(np.float32)  # texture for GLCM
    textured = sitk.GetImageFromArray(values)
    textured.CopyInformation(ct)
    own = needs.voxel_maps(maps, textured, gtv, "cpu")
    inside = sitk.GetArrayFromImage(gtv) > 0
    box = [min(int(c.max()) + 2, n) - max(int(c.min()) - 1, 0)  # the GTV's box and a voxel around it
           for c, n in zip(np.nonzero(inside), inside.shape)][::-1]
    assert sorted(own) == sorted(MAPS) and list(own["firstorder_Mean"].GetSize()) == box
    from RadSurvLib.radiomics.voxelmaps import place_on_grid

    contrast = sitk.GetArrayFromImage(place_on_grid(own["glcm_Contrast"], ct))
    assert np.all(contrast[inside] > 0) and np.all(contrast[~inside] == 0)
    data = json.loads((folder / "bundle.json").read_text())
    del data["preprocessing"]["voxel_maps"]
    (folder / "bundle.json").write_text(json.dumps(data))
    with pytest.raises(BundleError, match="preprocessing.voxel_maps"):
        load_bundle(folder)


def test_training_cache_builds_the_maps_with_the_bundle_settings(tmp_path):
    """The training cache's ``ct3d+maps`` input takes its voxel maps from ``models.inputs.model_voxel_maps``
    with the settings' kernel radius and bin width, as inference does (compared with maps computed here)."""
    from RadSurvLib.models.inputs import build_model_input
    from RadSurvLib.radiomics.voxelmaps import compute_voxel_maps
    from RadSurvLib.training.cache import NORM_KEYS, build_case_arrays, resample_case

    ct, gtv, _, _ = synthetic_case()
    noise = np.random.default_rng(1).normal(0, 60, ct.GetSize()[::-1]).astype(np.float32)
    values = sitk.GetArrayFromImage(ct) + noise  # texture for GLCM
    textured = sitk.GetImageFromArray(values)
    textured.CopyInformation(ct)
    sitk.WriteImage(textured, str(tmp_path / "ct.nrrd"))
    sitk.WriteImage(gtv, str(tmp_path / "gtv.nrrd"))
    settings = {**PRE, "kernel_radius": 1, "bin_width": 50.0}
    x = build_case_arrays(tmp_path / "ct.nrrd", tmp_path / "gtv.nrrd", "ct3d+maps", settings)["x"]
    maps = compute_voxel_maps(textured, gtv, features=MAPS, kernel_radius=1, bin_width=50.0)
    raw = {k: v for k, v in settings.items() if k not in NORM_KEYS}
    expected = build_model_input("ct3d+maps", *resample_case(tmp_path / "ct.nrrd", tmp_path / "gtv.nrrd"),
                                 {**raw, "norm_mean": 0.0, "norm_std": 1.0}, voxel_maps=maps).x[0].numpy()
    assert x.shape == (1 + len(MAPS), 16, 16, 16)
    np.testing.assert_allclose(x, expected, rtol=1e-6, atol=1e-6)
    coarser = compute_voxel_maps(textured, gtv, features=MAPS, kernel_radius=1, bin_width=25.0)
    assert not np.allclose(sitk.GetArrayFromImage(coarser["glcm_Contrast"]),
                           sitk.GetArrayFromImage(maps["glcm_Contrast"]))  # the bin width matters here
