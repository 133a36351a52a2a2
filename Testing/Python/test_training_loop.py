"""Training loop: the loss falls for each architecture, checkpoint + resume equals an uninterrupted run,
head-only fine-tuning leaves the backbone unchanged, the Cox loss handles ties."""

import json

import numpy as np
import pytest


def toy_cohort(n, shape, seed=0, channels=1, radscores=0):
    """Inputs whose mean intensity of a central block drives the log hazard; deterministic times."""
    import torch

    from RadSurvLib.training.cache import TrainingSet

    g = torch.Generator().manual_seed(seed)
    x = torch.randn((n, channels, *shape), generator=g) * 0.3
    u = torch.rand(n, generator=g)
    centre = tuple(slice(s // 4, 3 * s // 4) for s in shape)
    x[(slice(None), 0) + centre] += (2.0 * u - 1.0)[(...,) + (None,) * len(shape)]
    time = torch.exp(-2.0 * u)
    event = (torch.rand(n, generator=g) < 0.8).float()
    r = torch.randn(n, radscores, generator=g) if radscores else None
    return TrainingSet([f"c{i}" for i in range(n)], x, r, time, event, None)


def tiny_model(name):
    from RadSurvLib.models.registry import build_model

    params = {
        "SEResNet3D": {"base_width": 4, "blocks_per_stage": [1, 1, 1, 1], "head_units": [8], "dropout": 0.0},
        "VisionMamba3D": {"in_channels": 2, "image_size": 16, "patch_size": 4, "embed_dim": 16, "depth": 1,
                          "d_state": 4, "head_units": [8], "dropout": 0.0},
        "DeepRadScore2D": {"n_radscores": 2, "hidden_units": 8, "dropout": 0.0, "init_features": 8,
                           "growth_rate": 4, "block_config": [1, 1], "bn_size": 2},
    }[name]
    return build_model(name, params)


DATA = {"SEResNet3D": dict(shape=(16, 16, 16)), "VisionMamba3D": dict(shape=(16, 16, 16), channels=2),
        "DeepRadScore2D": dict(shape=(32, 32), radscores=2)}


@pytest.mark.parametrize("name", ["SEResNet3D", "VisionMamba3D", "DeepRadScore2D"])
def test_loss_falls_over_a_few_steps(name):
    import torch

    from RadSurvLib.training.losses import cox_partial_likelihood_loss
    from RadSurvLib.training.loop import call_model

    torch.manual_seed(0)
    data = toy_cohort(16, **DATA[name])
    model = tiny_model(name)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3, weight_decay=1e-4)
    losses = []
    for _ in range(12):
        model.train()
        loss = cox_partial_likelihood_loss(call_model(model, data.x, data.radscores), data.time_days, data.event)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(float(loss.detach()))
    assert np.mean(losses[-3:]) < 0.95 * np.mean(losses[:3]), losses


def test_cox_loss_breslow_ties():
    import torch

    from RadSurvLib.training.losses import cox_partial_likelihood_loss

    risk = torch.tensor([0.3, -0.2, 0.5, 0.1])
    time = torch.tensor([1.0, 1.0, 2.0, 3.0])
    event = torch.tensor([1, 1, 0, 1])
    r = risk.numpy().astype(float)
    expected = -np.mean([r[0] - np.log(np.exp(r).sum()), r[1] - np.log(np.exp(r).sum()), r[3] - r[3]])
    assert float(cox_partial_likelihood_loss(risk, time, event)) == pytest.approx(expected, rel=1e-5)


def _settings(**kw):
    from RadSurvLib.training.loop import TrainSettings

    base = dict(epochs=4, batch_size=8, lr=3e-3, decay_steps=2, patience=0, monitor="c_index", seed=3, augment="liu")
    base.update(kw)
    return TrainSettings(**base)


def test_checkpoint_resume_equals_uninterrupted_run(tmp_path):
    import torch
    from safetensors.torch import load_file

    from RadSurvLib.training.loop import fit

    train, val = toy_cohort(24, (16, 16, 16), seed=1), toy_cohort(12, (16, 16, 16), seed=2)
    torch.manual_seed(0)
    full = tiny_model("SEResNet3D")
    init = {k: v.clone() for k, v in full.state_dict().items()}
    result_full = fit(full, train, val, _settings(), tmp_path / "full", log=lambda m: None, progress=False)

    part = tiny_model("SEResNet3D")
    part.load_state_dict(init)
    fit(part, train, val, _settings(epochs=2), tmp_path / "part", log=lambda m: None, progress=False)
    ckpt = tmp_path / "part" / "checkpoints"
    assert (ckpt / "epoch_0002.safetensors").is_file() and (ckpt / "best.safetensors").is_file()
    assert json.loads((ckpt / "latest.json").read_text())["epoch"] == 2
    # a "stopped" run: a fresh process would build a fresh model; the checkpoint restores everything
    resumed = tiny_model("SEResNet3D")
    result_resumed = fit(resumed, train, val, _settings(), tmp_path / "part", resume=True,
                         log=lambda m: None, progress=False)
    assert result_resumed.resumed_from == 2
    assert [h["train_loss"] for h in result_resumed.history] == pytest.approx(
        [h["train_loss"] for h in result_full.history], abs=1e-6)
    assert result_resumed.best_epoch == result_full.best_epoch
    last_full = load_file(str(tmp_path / "full" / "checkpoints" / "epoch_0004.safetensors"))
    last_resumed = load_file(str(ckpt / "epoch_0004.safetensors"))
    assert set(last_full) == set(last_resumed)
    for key in last_full:
        assert torch.allclose(last_full[key].float(), last_resumed[key].float(), atol=1e-6), key
    # only the last keep_checkpoints epochs remain (older ones deleted after the new ones were complete)
    assert sorted(p.name for p in ckpt.glob("epoch_*.json")) == ["epoch_0003.json", "epoch_0004.json"]


def test_resume_refuses_other_settings_and_missing_checkpoint(tmp_path):
    from RadSurvLib.errors import InputError
    from RadSurvLib.training.loop import fit

    train = toy_cohort(16, (16, 16, 16))
    with pytest.raises(InputError, match="no checkpoint"):
        fit(tiny_model("SEResNet3D"), train, None, _settings(epochs=1), tmp_path, resume=True, progress=False)
    fit(tiny_model("SEResNet3D"), train, None, _settings(epochs=1), tmp_path, log=lambda m: None, progress=False)
    with pytest.raises(InputError, match="settings differ"):
        fit(tiny_model("SEResNet3D"), train, None, _settings(epochs=2, lr=1e-2), tmp_path, resume=True, progress=False)


def test_early_stopping_keeps_the_best_epoch(tmp_path):
    from RadSurvLib.training.loop import fit

    train, val = toy_cohort(16, (16, 16, 16), seed=1), toy_cohort(8, (16, 16, 16), seed=2)
    result = fit(tiny_model("SEResNet3D"), train, val, _settings(epochs=30, patience=2, lr=0.05),
                 tmp_path, log=lambda m: None, progress=False)
    assert result.stopped_early and len(result.history) == result.best_epoch + 2
    best = max(result.history, key=lambda h: h["val_c_index"])
    assert best["val_c_index"] == result.history[result.best_epoch - 1]["val_c_index"]


@pytest.mark.parametrize("name", ["SEResNet3D", "DeepRadScore2D"])
def test_head_only_finetuning_leaves_the_backbone_unchanged(tmp_path, name):
    import torch

    from RadSurvLib.training.loop import fit, head_prefixes

    model = tiny_model(name)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fit(model, toy_cohort(16, **DATA[name]), None, _settings(epochs=2, head_only=True), tmp_path,
        log=lambda m: None, progress=False)
    after = model.state_dict()
    prefixes = head_prefixes(model)
    head = [k for k in before if k.startswith(prefixes)]
    backbone = [k for k in before if not k.startswith(prefixes)]
    assert head and backbone
    assert all(torch.equal(before[k], after[k]) for k in backbone)  # weights AND batch-norm statistics
    assert any(not torch.equal(before[k], after[k]) for k in head)


def test_train_from_python_with_efron_ties_reports_harrell_c_of_the_saved_bundle(tmp_path):
    """``train(TrainConfig)`` on an in-memory TrainingSet: the bundle's reported C-indices are
    ``survival.metrics.harrell_c`` of the saved model's risks on the normalised cases."""
    import torch

    from RadSurvLib.models.bundle import load_bundle
    from RadSurvLib.survival.metrics import harrell_c
    from RadSurvLib.training.loop import TrainSettings, predict
    from RadSurvLib.training.train import TrainConfig, TrainResult, normalised, split_validation, train

    data = toy_cohort(20, (16, 16, 16))
    data.time_days = torch.round(data.time_days * 4) / 4  # tied times
    settings = TrainSettings(epochs=2, batch_size=4, lr=1e-3, decay_steps=5, seed=3, augment="none", ties="efron")
    result = train(TrainConfig(out=tmp_path / "b", manifest=data, model="SEResNet3D", val_fraction=0.25,
                               model_params={"base_width": 2, "blocks_per_stage": [1, 1, 1, 1], "head_units": [4],
                                             "dropout": 0.0},
                               preprocessing={"crop_size": 16}, settings=settings, cache_dir=None, progress=False,
                               log=lambda m: None))
    assert isinstance(result, TrainResult) and len(result.history) == 2
    bundle = load_bundle(result.bundle_path)
    prov = bundle.config["provenance"]
    assert prov["training"]["ties"] == "efron" and "Efron" in prov["training"]["loss"]
    assert bundle.config["preprocessing"]["crop_size"] == 16 and "norm_std" in bundle.config["preprocessing"]
    train_set, val = split_validation(data, 0.25, settings.seed)
    for name, part in (("train", train_set), ("val", val)):
        risk = predict(bundle.model, normalised("ct3d", part, bundle.config["preprocessing"]))
        c = harrell_c(part.time_days.numpy(), part.event.numpy(), risk)
        assert result.metrics[f"{name}_c_index"] == pytest.approx(c, abs=1e-12)
        assert prov[f"{name}_c_index"] == pytest.approx(c, abs=1e-4)
    assert torch.equal(data.x, toy_cohort(20, (16, 16, 16)).x)  # the caller's inputs are not normalised in place
