"""``radsurv train-demo`` is a preset of the normal training: the shipped bundle's settings, one loop."""

import pytest

pytest.importorskip("torch")


def test_the_shipped_bundle_has_the_specs_small_seresnet_and_preprocessing():
    """The registry's SEResNet3D defaults are the ones the shipped demonstration bundle was trained with."""
    from RadSurvLib.models.bundle import load_bundle
    from RadSurvLib.models.registry import model_spec
    from RadSurvLib.training.cache import NORM_KEYS
    from RadSurvLib.training.demo import DEFAULTS

    spec, config = model_spec("SEResNet3D"), load_bundle().config
    assert config["architecture"]["params"] == {**spec.small_params, "base_width": DEFAULTS["base_width"]}
    assert {k: v for k, v in config["preprocessing"].items() if k not in NORM_KEYS} == spec.preprocessing
    assert config["gradcam_layer"] == spec.cam_layer_for(config["architecture"]["params"])
    shipped = config["provenance"]
    assert (shipped["n_train"], shipped["n_heldout"], shipped["seed"]) == (DEFAULTS["n_train"], DEFAULTS["n_heldout"],
                                                                          DEFAULTS["seed"])
    assert shipped["training"]["epochs"] == DEFAULTS["epochs"] and shipped["training"]["lr"] == DEFAULTS["lr"]


def test_demo_preset_settings():
    """Per-epoch decay of the shipped recipe = one decay every n_train / batch_size optimiser steps."""
    import unittest.mock as mock

    from RadSurvLib.training import demo

    with mock.patch.object(demo, "synthetic_training_set", return_value=None), \
            mock.patch("RadSurvLib.training.synthetic.load_background", return_value=None):
        config = demo.demo_config("out", log=lambda m: None)
    s = config.settings
    assert (s.epochs, s.batch_size, s.lr, s.lr_decay, s.weight_decay) == (24, 32, 1e-3, 0.96, 1e-4)
    assert s.decay_steps == 256 // 32 and s.augment == "flip-rot90" and s.ties == "breslow"
    assert config.val_fraction == 0 and config.demonstration and config.model == "SEResNet3D"
    assert config.command == "radsurv train-demo --out out"


@pytest.mark.slow
def test_tiny_demo_run_writes_a_demonstration_bundle_through_train(tmp_path):
    from RadSurvLib.cli import main
    from RadSurvLib.models.bundle import load_bundle

    out = tmp_path / "demo"
    assert main(["train-demo", "--out", str(out), "--n-train", "8", "--n-heldout", "6", "--epochs", "1",
                 "--batch-size", "4", "--base-width", "2"]) == 0
    bundle = load_bundle(out)
    prov = bundle.config["provenance"]
    assert bundle.demonstration and bundle.name == "demo-seresnet3d" and "synthetic" in bundle.disclaimer
    assert (prov["n_train"], prov["n_test"], prov["n_val"]) == (8, 6, 0) and prov["mode"] == "train"
    assert 0 <= prov["test_c_index"] <= 1 and 0 <= prov["test_concordance_with_true_hazard"] <= 1
    assert prov["training"]["augment"] == "flip-rot90" and prov["training"]["decay_steps"] == 2
    assert abs(bundle.cutoff) < 1e-4  # centred like every trained survival model
    base = bundle.baseline_survival  # the Breslow baseline of its training predictions, as every survival model
    assert (base["n_cases"], base["n_events"]) == (8, prov["events_train"]) and base["time_unit"] == "days"
    assert sorted(p.name for p in out.iterdir()) == ["bundle.json", "model.safetensors"]  # no checkpoints left
