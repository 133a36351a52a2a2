"""End to end on a tiny synthetic cohort: radsurv synth-cohort -> train -> finetune --head-only -> deep-features,
bad manifest rows (stop vs skip), the bundle's median cut-off and provenance, the training report."""

import csv
import json
import shutil

import numpy as np
import pytest

TINY = ['--model-params', '{"base_width": 2, "blocks_per_stage": [1, 1, 1, 1], "head_units": [4], "dropout": 0.0}',
        '--preprocessing', '{"crop_size": 16}']


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    from RadSurvLib.cli import main

    folder = tmp_path_factory.mktemp("synth")
    assert main(["synth-cohort", "--out", str(folder / "source"), "--n", "8", "--seed", "3"]) == 0
    assert main(["synth-cohort", "--out", str(folder / "target"), "--n", "6", "--seed", "4", "--shift"]) == 0
    return folder


@pytest.fixture(scope="module")
def trained(cohort, tmp_path_factory):
    from RadSurvLib.cli import main

    out = tmp_path_factory.mktemp("run") / "bundle"
    cache = out.parent / "cache"
    argv = ["train", "--manifest", str(cohort / "source" / "manifest.csv"), "--model", "SEResNet3D", "--out", str(out),
            "--epochs", "2", "--batch-size", "4", "--lr", "1e-3", "--val-fraction", "0.25", "--seed", "1",
            "--cache-dir", str(cache), "--no-progress", *TINY]
    assert main(argv) == 0
    return out, cache


def test_train_writes_bundle_report_and_checkpoints(trained, cohort):
    import torch

    from RadSurvLib.models.bundle import load_bundle
    from RadSurvLib.training.cache import CaseCache, load_training_set
    from RadSurvLib.training.train import normalised
    from RadSurvLib.training.loop import predict
    from RadSurvLib.training.manifest import read_manifest

    out, cache = trained
    bundle = load_bundle(out)
    assert bundle.config["architecture"]["params"]["base_width"] == 2
    prov = bundle.config["provenance"]
    assert prov["n_train"] == 6 and prov["n_val"] == 2 and prov["mode"] == "train"
    assert prov["training"]["augment"] == "liu" and prov["training"]["weight_decay"] == 1e-4
    assert len(prov["manifest_sha256"]) == 64
    report = json.loads((out / "training_report.json").read_text())
    assert [h["epoch"] for h in report["history"]] == [1, 2]
    assert {"train_loss", "train_c_index", "val_loss", "val_c_index"} <= set(report["history"][0])
    assert (out / "training_curves.png").stat().st_size > 1000
    assert (out / "checkpoints" / "latest.json").is_file()
    # the cut-off is the median risk of the training cases (recomputed from the bundle + cached inputs)
    pre = bundle.config["preprocessing"]
    cases = read_manifest(cohort / "source" / "manifest.csv").cases
    data = load_training_set(cases, CaseCache(cache, "ct3d", {k: v for k, v in pre.items() if not k.startswith("norm")}))
    assert data.x.shape[-1] == 16
    data = normalised("ct3d", data, pre)
    risk = predict(bundle.model, data)
    train_ids = set(data.case_ids) - set(_val_ids(data, prov))
    train_risk = [r for c, r in zip(data.case_ids, risk) if c in train_ids]
    assert len(train_risk) == 6
    assert bundle.cutoff == pytest.approx(float(np.median(train_risk)), abs=1e-5)
    assert abs(bundle.cutoff) < 1e-4  # output centred: median training risk 0
    # the Breslow baseline survival of the same training predictions (train_set order: data order without val)
    from RadSurvLib.models.bundle import estimate_baseline_survival

    train_rows = [i for i, c in enumerate(data.case_ids) if c in train_ids]
    expected = estimate_baseline_survival(risk[train_rows], data.time_days.numpy()[train_rows],
                                          data.event.numpy()[train_rows], fitted_on="")
    base = bundle.baseline_survival
    assert base["n_cases"] == 6 and "training predictions" in base["fitted_on"]
    assert base["time_days"] == pytest.approx(expected["time_days"])
    assert base["survival"] == pytest.approx(expected["survival"], abs=1e-5)
    assert torch.isfinite(torch.as_tensor(risk)).all()


def _val_ids(data, prov):
    from RadSurvLib.training.train import split_validation

    _, val = split_validation(data, 0.25, prov["seed"])
    return val.case_ids


def test_bad_rows_stop_or_skip_via_cli(trained, cohort, tmp_path, capsys):
    from RadSurvLib.cli import main

    source_bundle, cache = trained
    manifest = tmp_path / "target.csv"
    rows = list(csv.reader(open(cohort / "target" / "manifest.csv")))
    for row in rows[1:]:
        row[1] = str(cohort / "target" / row[1])
        row[2] = str(cohort / "target" / row[2])
    rows[2][4] = "2"  # line 3: event not 0/1
    rows[4][3] = "-10"  # line 5: negative time
    with open(manifest, "w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    base = ["finetune", "--from", str(source_bundle), "--manifest", str(manifest), "--epochs", "1",
            "--batch-size", "2", "--val-fraction", "0", "--cache-dir", str(cache), "--no-progress"]
    assert main(base + ["--out", str(tmp_path / "stopped")]) == 2
    err = capsys.readouterr().err
    assert "line 3" in err and "event" in err and "--on-bad-row skip" in err
    assert not (tmp_path / "stopped" / "bundle.json").exists()

    out = tmp_path / "ft"
    assert main(base + ["--out", str(out), "--on-bad-row", "skip", "--head-only", "--seed", "2"]) == 0
    printed = capsys.readouterr().out
    assert "line 3: event '2'" in printed and "line 5: time_days '-10'" in printed
    from safetensors.torch import load_file

    from RadSurvLib.models.bundle import load_bundle

    bundle = load_bundle(out)
    prov = bundle.config["provenance"]
    assert prov["n_train"] == 4 and [p[0] for p in prov["bad_rows_skipped"]] == [3, 5]
    assert prov["finetuned_from"]["weights_sha256"] == load_bundle(source_bundle).config["weights"]["sha256"]
    assert bundle.config["preprocessing"]["norm_mean"] == load_bundle(source_bundle).config["preprocessing"]["norm_mean"]
    before, after = load_file(str(source_bundle / "model.safetensors")), load_file(str(out / "model.safetensors"))
    import torch

    changed = sorted(k for k in before if not torch.equal(before[k], after[k]))
    assert changed and all(k.startswith(("head", "out")) for k in changed)  # head-only: backbone identical


def test_deep_features_and_resume(trained, cohort, tmp_path):
    from RadSurvLib.cli import main

    out, cache = trained
    csv_path = tmp_path / "deep.csv"
    assert main(["deep-features", "--bundle", str(out), "--manifest", str(cohort / "source" / "manifest.csv"),
                 "--out", str(csv_path), "--cache-dir", str(cache)]) == 0
    rows = list(csv.reader(open(csv_path)))
    assert rows[0] == ["PatientID"] + [f"deep_{i}" for i in range(16)] and len(rows) == 9
    # resume a finished run with more epochs: continues at epoch 3 from the checkpoint
    copy = tmp_path / "resumed"
    shutil.copytree(out, copy)
    argv = ["train", "--manifest", str(cohort / "source" / "manifest.csv"), "--model", "SEResNet3D", "--out", str(copy),
            "--epochs", "3", "--batch-size", "4", "--lr", "1e-3", "--val-fraction", "0.25", "--seed", "1",
            "--cache-dir", str(cache), "--no-progress", "--resume", *TINY]
    assert main(argv) == 0
    history = json.loads((copy / "training_report.json").read_text())["history"]
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert json.loads((copy / "bundle.json").read_text())["provenance"]["training"]["resumed_from_epoch"] == 2
