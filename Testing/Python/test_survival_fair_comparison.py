"""Fair comparison of the signature with its baselines (issue 26), on synthetic cohorts with a known
hazard: one scale for out-of-fold predictions (each fold's linear predictor centred on its training
mean), pooled and within-fold Harrell's C with paired bootstrap differences, baselines that are there
or loudly absent, the prefilter / Lasso settings as options, calibration wording, and sentences that
name both models."""

import json

import numpy as np
import pandas as pd
import pytest

from RadSurvLib.errors import InputError


def synthetic_cohort(seed, n=200, noise=4, volume=True):
    """Patients whose true log hazard is log tumour volume minus 10 (exponential times, median about
    485 days at the mean volume; uniform censoring 300-3000 days).

    Features: the volume (``original_shape_MeshVolume`` = exp(v), mm^3), its major axis (monotone in
    v), a texture feature that is a linear function of v (the signature's signal is the volume's
    signal) and ``noise`` pure-noise features.

    Returns:
        (FeatureTable, true log hazard [n]).
    """
    from RadSurvLib.survival.data import FeatureTable

    rng = np.random.default_rng(seed)
    v = rng.normal(10.0, 1.0, n)
    log_hazard = v - 10.0
    t = rng.exponential(700.0 / np.exp(log_hazard))
    c = rng.uniform(300, 3000, n)
    time = np.maximum(np.ceil(np.minimum(t, c)), 1.0)
    event = t <= c
    f = {"original_glcm_Contrast": 2 * v + 1, "original_shape_MajorAxisLength": 1.5 * np.exp(v / 3)}
    if volume:
        f["original_shape_MeshVolume"] = np.exp(v)
    for j in range(noise):
        f[f"original_firstorder_Noise{j}"] = rng.normal(size=n)
    ids = np.array([f"P{i:03d}" for i in range(n)])
    return FeatureTable(ids=ids, features=pd.DataFrame(f), time=time, event=event,
                        clinical=pd.DataFrame(index=range(n))), log_hazard


def _cv_predictions(tmp_path, seed, centre=True, **kwargs):
    from RadSurvLib.survival.signature import fit_and_predict

    table, log_hazard = synthetic_cohort(seed, **kwargs)
    out = tmp_path / f"fit{seed}_{centre}"
    sig = fit_and_predict(table, out, cv=5, seed=seed, n_folds=5, n_lambdas=10, centre=centre,
                          binary_baselines=False)
    pred = pd.read_csv(out / "predictions.csv")
    cv = pred[pred["set"] == "cv"].reset_index(drop=True)
    truth = pd.Series(log_hazard, index=table.ids).loc[cv["PatientID"]].to_numpy()
    return sig, cv, truth


def test_pooled_and_within_fold_c_match_lifelines_with_ties():
    """The pair-matrix C equals lifelines' concordance_index, pooled and per fold, with tied times,
    tied risks and duplicated patients (as in a bootstrap resample)."""
    from RadSurvLib.survival.metrics import discrimination_bootstrap, harrell_c

    rng = np.random.default_rng(3)
    n = 90
    time = rng.integers(1, 40, n).astype(float)  # many ties
    event = rng.random(n) < 0.6
    risk = np.round(rng.normal(size=n), 1)  # tied risks
    folds = np.repeat([0, 1, 2], 30)
    dup = np.concatenate([np.arange(n), rng.integers(0, n, 40)])  # copies of patients
    for idx in (np.arange(n), dup):
        st = discrimination_bootstrap(time[idx], event[idx], {"a": risk[idx]}, folds=folds[idx], n_boot=3)["a"]
        assert st["pooled"]["value"] == pytest.approx(harrell_c(time[idx], event[idx], risk[idx]), abs=1e-12)
        per = [harrell_c(time[idx][folds[idx] == f], event[idx][folds[idx] == f], risk[idx][folds[idx] == f])
               for f in (0, 1, 2)]
        assert st["within_fold"]["per_fold"] == pytest.approx(per, abs=1e-12)
        assert st["within_fold"]["value"] == pytest.approx(np.mean(per), abs=1e-12)


def test_fold_shifts_move_pooled_c_only_and_paired_differences():
    """Shifting one fold's scores (an uncentred fold model) lowers the pooled C of a perfect score and
    leaves its within-fold C at 1; the paired difference of a score with itself is exactly 0."""
    from RadSurvLib.survival.metrics import discrimination_bootstrap

    rng = np.random.default_rng(0)
    n = 150
    log_hazard = rng.normal(size=n)
    time = rng.exponential(1.0 / np.exp(log_hazard)) * 365
    event = np.ones(n, bool)
    folds = np.arange(n) % 3
    shifted = log_hazard + np.where(folds == 0, 3.0, 0.0)
    st = discrimination_bootstrap(time, event, {"true": log_hazard, "shifted": shifted, "same": log_hazard.copy()},
                                  folds=folds, reference="true", n_boot=200, seed=1)
    assert st["shifted"]["within_fold"]["value"] == pytest.approx(st["true"]["within_fold"]["value"], abs=1e-12)
    assert st["shifted"]["pooled"]["value"] < st["true"]["pooled"]["value"] - 0.02
    same = st["same"]["vs_reference"]
    assert same["pooled"]["difference"] == 0 and same["pooled"]["low"] == 0 and same["pooled"]["high"] == 0
    d = st["shifted"]["vs_reference"]["pooled"]
    assert d["difference"] > 0 and d["low"] > 0 and d["p_value"] <= 0.01  # the shift costs C, detectably
    assert st["shifted"]["vs_reference"]["within_fold"]["difference"] == pytest.approx(0, abs=1e-12)
    with pytest.raises(InputError, match="reference score"):
        discrimination_bootstrap(time, event, {"a": log_hazard}, reference="b", n_boot=2)
    with pytest.raises(InputError, match="'a'"):
        discrimination_bootstrap(time, event, {"a": np.r_[log_hazard[:-1], np.nan]}, n_boot=2)


@pytest.mark.slow  # 12 synthetic cohorts x 2 five-fold fits (about 30 s)
def test_signature_and_volume_with_the_same_signal_get_the_same_c(tmp_path):
    """Signature and volume carry the same signal (known hazard = log volume): their pooled C differ by
    no more than sampling noise over many seeds once each fold is centred; with the uncentred linear
    predictors (the code before issue 26) the volume's pooled C is systematically lower, so this test
    would fail there."""
    from RadSurvLib.survival.metrics import discrimination_bootstrap

    seeds = range(12)
    fair, unfair, within = [], [], []
    for seed in seeds:
        _sig, cv, truth = _cv_predictions(tmp_path, seed)
        _sig, cv_raw, _truth = _cv_predictions(tmp_path, seed, centre=False)
        scores = {"signature": cv["risk"], "volume": cv["baseline_tumour_volume"],
                  "size": cv["baseline_tumour_size"], "truth": truth}
        st = discrimination_bootstrap(cv["time_days"], cv["event"], scores, folds=cv["fold"],
                                      reference="signature", n_boot=200, seed=seed)
        # the volume and size baselines rank each fold exactly as the true hazard does
        assert st["volume"]["within_fold"]["per_fold"] == pytest.approx(st["truth"]["within_fold"]["per_fold"], abs=1e-12)
        assert st["size"]["within_fold"]["per_fold"] == pytest.approx(st["truth"]["within_fold"]["per_fold"], abs=1e-12)
        d = st["volume"]["vs_reference"]["pooled"]
        # never "signature better than volume" on equal signal (a noise feature the Lasso keeps can make
        # the signature genuinely worse in a seed: that is not the bias under test)
        assert d["low"] <= 0, (seed, d)
        fair.append(d["difference"])
        within.append(st["volume"]["vs_reference"]["within_fold"]["difference"])
        raw = discrimination_bootstrap(cv_raw["time_days"], cv_raw["event"],
                                       {"signature": cv_raw["risk"], "volume": cv_raw["baseline_tumour_volume"]},
                                       folds=cv_raw["fold"], reference="signature", n_boot=1)
        unfair.append(raw["volume"]["vs_reference"]["pooled"]["difference"])
    fair, unfair = np.array(fair), np.array(unfair)
    sd = fair.std(ddof=1)
    assert abs(fair.mean()) < 0.005 and sd < 0.01, (fair.mean(), sd)
    assert abs(np.mean(within)) < 0.005
    # power: uncentred, the signature "beats" the volume by more than the tolerance, in most seeds
    assert unfair.mean() > 0.01 and (unfair > fair).mean() >= 0.75, unfair


def test_volume_baseline_absent_is_said_and_omitted(tmp_path):
    """A feature table without volume columns: the run says so at once, the predictions have no volume
    column, the bundle records the absence and the report's method names it as not fitted (never as a
    fitted baseline); --volume-column picks a volume, and a wrong name is one clear error."""
    from RadSurvLib.survival.report import evaluate_to_folder, write_report
    from RadSurvLib.survival.signature import fit_and_predict

    table, _ = synthetic_cohort(1, n=120, noise=2, volume=False)
    said = []
    sig = fit_and_predict(table, tmp_path / "novol", cv=3, seed=0, n_folds=3, n_lambdas=5, progress=said.append,
                          binary_baselines=False)
    warning = [m for m in said if "ABSENT" in m]
    assert warning and "tumour volume" in warning[0] and said.index(warning[0]) < said.index("outer fold 1/3")
    design = sig["provenance"]["design"]
    assert "tumour_volume" in design["baselines_absent"] and "tumour_volume" not in design["baselines"]
    pred = pd.read_csv(tmp_path / "novol" / "predictions.csv")
    assert "baseline_tumour_volume" not in pred.columns and "baseline_tumour_size" in pred.columns
    ev = evaluate_to_folder(tmp_path / "novol" / "predictions.csv", tmp_path / "ev", n_boot=20, figures=False)
    assert [r["key"] for r in ev["baselines"]] == ["signature", "tumour_size"]
    html = write_report(tmp_path / "novol", tmp_path / "ev", tmp_path / "r.html").read_text()
    assert "tumour volume alone" not in html and "Not fitted: no tumour volume" in html
    # the volume given as a column of another name
    table.features["GTV_volume_mm3"] = table.features["original_shape_MajorAxisLength"] ** 3
    sig = fit_and_predict(table, tmp_path / "vol", cv=3, seed=0, n_folds=3, n_lambdas=5, binary_baselines=False,
                          volume_column="GTV_volume_mm3")
    assert sig["provenance"]["design"]["baselines"]["tumour_volume"]["inputs"] == "the log of GTV_volume_mm3"
    assert "baseline_tumour_volume" in pd.read_csv(tmp_path / "vol" / "predictions.csv").columns
    with pytest.raises(InputError, match="--volume-column 'nope'"):
        fit_and_predict(table, tmp_path / "bad", cv=3, volume_column="nope")


def test_prefilter_and_lasso_settings_are_options_recorded(tmp_path):
    """No prefilter lets every feature reach the Lasso; the threshold, grid and folds are recorded in
    the bundle and written in the report's method; bad values are refused naming the option."""
    from RadSurvLib.survival.signature import fit_signature

    table, _ = synthetic_cohort(2, n=150, noise=6)
    loose = fit_signature(table.features, table.time, table.event, p_threshold=None, n_folds=4, n_lambdas=8,
                          min_ratio=0.2)
    strict = fit_signature(table.features, table.time, table.event, p_threshold=1e-6, n_folds=4, n_lambdas=8)
    assert loose["selection"]["n_univariate_significant"] == table.features.shape[1]  # all enter the Lasso
    assert strict["selection"]["n_univariate_significant"] < table.features.shape[1]
    assert set(strict["selection"]["univariate_p"]) <= {"original_glcm_Contrast", "original_shape_MajorAxisLength",
                                                        "original_shape_MeshVolume"}  # only the signal passes
    assert loose["selection"]["prefilter"]["method"].startswith("none")
    assert strict["selection"]["prefilter"]["p_threshold"] == 1e-6
    lasso = loose["selection"]["lasso"]
    assert lasso["n_lambdas"] == 8 and lasso["lambda_min_ratio"] == pytest.approx(0.2)
    assert len(loose["selection"]["lasso_lambdas"]) == 8
    with pytest.raises(InputError, match="p_threshold"):
        fit_signature(table.features, table.time, table.event, p_threshold=0)
    with pytest.raises(InputError, match="min_ratio"):
        fit_signature(table.features, table.time, table.event, min_ratio=2)


def test_plain_calibration_for_out_of_fold_and_optimism_only_for_apparent():
    """Out-of-fold predictions get plain calibration (observed with CIs, no 'corrected'); the apparent
    fit gets the optimism correction. The observed values are the same Kaplan-Meier in both."""
    from RadSurvLib.survival.calibration import bootstrap_binary_calibration, bootstrap_calibration

    rng = np.random.default_rng(5)
    n = 300
    x = rng.normal(size=n)
    t = rng.exponential(800 / np.exp(x))
    c = rng.uniform(200, 2500, n)
    time, event = np.minimum(t, c), t <= c
    horizon = 365.25
    true_s = np.exp(-horizon / 800 * np.exp(x))
    plain = bootstrap_calibration(time, event, x, true_s, horizon, n_boot=50, optimism=False)
    app = bootstrap_calibration(time, event, x, true_s, horizon, n_boot=50, optimism=True)
    assert plain["kind"].startswith("plain") and app["kind"].startswith("apparent")
    assert all(g["corrected"] is None and g["optimism"] is None for g in plain["groups"])
    assert plain["mean_abs_error_corrected"] is None
    assert [g["observed"] for g in plain["groups"]] == [g["observed"] for g in app["groups"]]
    assert all(g["observed_low"] <= g["observed"] <= g["observed_high"] for g in plain["groups"])
    assert plain["mean_abs_error"] < 0.06  # the true survival is calibrated
    y = (t <= horizon)
    b = bootstrap_binary_calibration(y[c > horizon], 1 - true_s[c > horizon], n_boot=20, optimism=False)
    assert b["kind"].startswith("plain") and all(g["corrected"] is None for g in b["groups"])


@pytest.mark.slow  # one synthetic cohort through the three commands (about 15 s)
def test_commands_on_a_synthetic_cohort_name_both_models(tmp_path, capsys):
    """`radsurv signature fit --cv` / `evaluate` / `report` on a synthetic cohort: pooled and
    within-fold C printed and in evaluation.json; every comparison sentence of the report names the
    signature and the other model; the method text says the scores were centred and lists the
    prefilter threshold given; out-of-fold calibration is plain."""
    import html as html_module
    import re

    from RadSurvLib.cli import main

    table, _ = synthetic_cohort(4, n=160, noise=3)
    feats = table.features.copy()
    feats.insert(0, "PatientID", table.ids)
    feats.to_csv(tmp_path / "features.csv", index=False)
    rng = np.random.default_rng(4)
    pd.DataFrame({"PatientID": table.ids, "Survival.time": table.time, "deadstatus.event": table.event.astype(int),
                  "age": rng.integers(45, 85, table.ids.size), "gender": rng.choice(["male", "female"], table.ids.size),
                  "Overall.Stage": rng.choice(["I", "II", "IIIa", "IIIb"], table.ids.size)}).to_csv(
        tmp_path / "clinical.csv", index=False)
    out = tmp_path / "sig"
    assert main(["signature", "fit", "--features", str(tmp_path / "features.csv"), "--clinical",
                 str(tmp_path / "clinical.csv"), "--cv", "4", "--seed", "0", "--lasso-folds", "4", "--n-lambdas", "8",
                 "--prefilter-p", "0.01", "--out", str(out)]) == 0
    sig = json.loads((out / "signature.json").read_text())
    assert sig["selection"]["univariate_p_threshold"] == 0.01
    assert main(["evaluate", "--predictions", str(out / "predictions.csv"), "--out", str(tmp_path / "ev"),
                 "--bootstrap", "50"]) == 0
    printed = capsys.readouterr().out
    assert "within-fold" in printed and "signature minus tumour volume alone" in printed
    ev = json.loads((tmp_path / "ev" / "evaluation.json").read_text())
    assert ev["harrell_c_within_fold"]["n_folds"] == 4
    assert {r["key"] for r in ev["baselines"]} == {"signature", "tumour_volume", "tumour_size", "clinical",
                                                    "signature_clinical"}
    assert all(c["kind"].startswith("plain") for c in ev["calibration"].values())
    html = main(["report", "--signature", str(out), "--evaluation", str(tmp_path / "ev"),
                 "--out", str(tmp_path / "report.html")])
    assert html == 0
    text = html_module.unescape(re.sub(r"<[^>]+>", " ", (tmp_path / "report.html").read_text()))
    assert "centred on its mean over that fold's training patients" in text
    assert "Wald p < 0.01" in text and "optimism-corrected" not in text
    body = text[text.index("Provenance and notes") + 20:]  # after the table of contents
    summary = body[body.index("Summary"):body.index("Method")]
    comparisons = [s for s in summary.split(". ") if any(w in s for w in ("better", "worse", "distinguishable"))]
    assert len(comparisons) == 4
    for sentence in comparisons:
        assert "signature" in sentence
        assert any(label in sentence for label in ("tumour volume alone", "tumour size (major axis) alone",
                                                    "clinical (age, sex, stage)", "signature + clinical"))
    capsys.readouterr()
    assert main(["signature", "fit", "--features", str(tmp_path / "features.csv"), "--clinical",
                 str(tmp_path / "clinical.csv"), "--prefilter-p", "often", "--out", str(tmp_path / "x")]) == 2
    assert "--prefilter-p" in capsys.readouterr().err


def test_shipped_lung1_signature_bundle():
    """The shipped Lung1 signature: loads, says what it is (research use, no better than volume), its
    features are all of image types the default parameter file computes (so `radsurv score
    --signature` can apply it), its extraction setting is the Lung1 table's, its out-of-fold C is
    recorded next to the volume's, and applied to the Lung1 table it gives decreasing survival."""
    from pathlib import Path

    import yaml

    from RadSurvLib.resources import parameter_file, signature_path
    from RadSurvLib.survival.data import load_feature_table
    from RadSurvLib.survival.signature import apply_signature, extraction_prefixes, load_signature

    folder = signature_path()
    sig = load_signature(folder)
    assert "research use" in sig["about"]["description"] and "no better than tumour volume" in sig["about"]["description"]
    assert {"features", "clinical"} <= set(sig["about"]["licences"]) and "CC BY-NC 3.0" in sig["about"]["licences"]["clinical"]
    prefixes = extraction_prefixes(parameter_file())
    assert sig["features"] and all(f.startswith(prefixes) for f in sig["features"])
    lung1 = Path(__file__).resolve().parents[2] / "Testing" / "Data" / "Lung1"
    assert sig["extraction"]["setting"] == yaml.safe_load((lung1 / "radiomics_config.yaml").read_text())
    assert (folder / "radiomics_config.yaml").read_text() == (lung1 / "radiomics_config.yaml").read_text()
    c = sig["about"]["evaluation"]["harrell_c"]
    assert c["tumour volume alone"]["c_pooled"]["low"] < c["radiomics signature"]["c_pooled"]["value"] \
        < c["tumour volume alone"]["c_pooled"]["high"]  # within the volume's CI: no better than volume
    d = c["tumour volume alone"]["signature_minus_this_pooled"]
    assert d["low"] < 0 < d["high"]
    table = load_feature_table(lung1 / "extracted_features.csv.gz",
                               lung1 / "NSCLC-Radiomics-Lung1.clinical-version3-Oct-2019.csv")
    res = apply_signature(sig, table.features)
    assert np.all(res["survival_1y"] >= res["survival_2y"]) and np.all(res["survival_2y"] >= res["survival_3y"])
    assert abs(res["high_risk"].mean() - 0.5) < 0.02  # the training-median cut-off on its training patients
    assert np.isclose(np.mean(res["risk"]), sig["risk_centre"], atol=1e-9)


def test_restrict_to_keeps_the_image_types_of_a_parameter_file(tmp_path):
    from RadSurvLib.survival.signature import extraction_prefixes

    yaml_file = tmp_path / "p.yaml"
    yaml_file.write_text("imageType:\n  Original: {}\n  LoG:\n    sigma: [1.0, 2.5]\n  Square: {}\n")
    assert extraction_prefixes(yaml_file) == ("original_", "log-sigma-1-0-mm-3D_", "log-sigma-2-5-mm-3D_", "square_")
    yaml_file.write_text("imageType:\n  Fancy: {}\n")
    with pytest.raises(InputError, match="Fancy"):
        extraction_prefixes(yaml_file)
