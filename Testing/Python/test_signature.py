"""Radiomics signature (Liu et al. 2025) on the real Lung1 cohort: the Cox building blocks against
lifelines and the Lasso optimality conditions, no leakage of test data into the fit, the bundle
round trip, bad features, and the commands end to end on a reduced feature table (for speed)."""

import json
from pathlib import Path

import numpy as np
import pytest

from RadSurvLib.errors import InputError

LUNG1 = Path(__file__).resolve().parents[2] / "Testing" / "Data" / "Lung1"
FEATURES = LUNG1 / "extracted_features.csv.gz"
CLINICAL = LUNG1 / "NSCLC-Radiomics-Lung1.clinical-version3-Oct-2019.csv"


@pytest.fixture(scope="module")
def cohort():
    from RadSurvLib.survival.data import load_feature_table

    return load_feature_table(FEATURES, CLINICAL)


@pytest.fixture(scope="module")
def small(cohort):
    """Lung1 with 80 original/shape/first-order/GLCM/wavelet-LLL columns (fast Lasso paths)."""
    cols = [c for c in cohort.features.columns if c.startswith(("original_", "wavelet-LLL_"))][:80]
    return cohort.features[cols]


def test_join_on_patient_id(cohort):
    assert cohort.time.size == 99 and cohort.features.shape == (99, 1502)
    assert cohort.ids[0] == "LUNG1-001" and cohort.time[0] == 2165 and cohort.event[0]
    assert int(cohort.event.sum()) == 88


def test_univariate_cox_matches_lifelines(cohort):
    import pandas as pd
    from lifelines import CoxPHFitter

    from RadSurvLib.survival.cox import univariate_cox

    cols = ["original_shape_MeshVolume", "original_firstorder_Energy", "original_glcm_Idmn",
            "wavelet-HLH_glszm_ZoneEntropy"]
    X = cohort.features[cols].to_numpy(float)
    Z = (X - X.mean(0)) / X.std(0, ddof=1)
    uni = univariate_cox(Z, cohort.time, cohort.event)
    for j, col in enumerate(cols):
        df = pd.DataFrame({"x": Z[:, j], "T": cohort.time, "E": cohort.event.astype(int)})
        ref = CoxPHFitter().fit(df, "T", "E", fit_options={"precision": 1e-12}).summary.loc["x"]
        assert abs(uni["coef"][j] - ref["coef"]) < 1e-6, col
        assert abs(uni["se"][j] - ref["se(coef)"]) < 1e-6, col
        assert abs(uni["p"][j] - ref["p"]) < 1e-6, col
    assert uni["p"][0] < 0.05 and uni["coef"][0] > 0  # larger tumours die sooner


def test_lasso_cox_satisfies_kkt_on_lung1(cohort, small):
    from RadSurvLib.survival import cox

    Z = small.to_numpy(float)
    Z = (Z - Z.mean(0)) / Z.std(0, ddof=1)
    lambdas = cox.lambda_grid(Z, cohort.time, cohort.event, 12)
    path = cox.lasso_cox_path(Z, cohort.time, cohort.event, lambdas, tol=1e-7)
    assert np.count_nonzero(path[0]) == 0  # lambda_max: empty model
    n = Z.shape[0]
    checked = 0
    for lam, b in zip(lambdas[1:], path[1:]):
        if not np.isfinite(b).all():
            break
        # gradient of l(b)/n by finite differences of the Breslow log-likelihood (independent of the solver)
        g = np.array([(cox.breslow_loglik(Z @ (b + 1e-6 * e), cohort.time, cohort.event)
                       - cox.breslow_loglik(Z @ (b - 1e-6 * e), cohort.time, cohort.event)) / 2e-6 / n
                      for e in np.eye(Z.shape[1])])
        nz = b != 0
        assert np.allclose(g[nz], lam * np.sign(b[nz]), atol=1e-5 * max(1, lam))
        assert np.all(np.abs(g[~nz]) <= lam * (1 + 1e-4))
        checked += 1
    assert checked >= 5 and np.count_nonzero(path[checked]) > 1


def test_fit_uses_training_data_only(cohort, small):
    from RadSurvLib.survival.signature import fit_signature

    train = np.arange(0, 99, 3)
    train = np.setdiff1d(np.arange(99), train)
    sig = fit_signature(small.iloc[train].reset_index(drop=True), cohort.time[train], cohort.event[train],
                        n_folds=5, n_lambdas=15)
    assert sig["features"], "expected a non-empty signature on Lung1"
    X = small.iloc[train][sig["features"]].to_numpy(float)
    assert np.allclose(sig["means"], X.mean(0)) and np.allclose(sig["sds"], X.std(0, ddof=1))
    assert sig["selection"]["n_training"] == train.size
    # Changing the held-out patients' data does not change the fit at all.
    other = small.copy()
    test = np.setdiff1d(np.arange(99), train)
    other.iloc[test] = other.iloc[test] * 3 + 1
    sig2 = fit_signature(other.iloc[train].reset_index(drop=True), cohort.time[train], cohort.event[train],
                         n_folds=5, n_lambdas=15)
    assert sig2["features"] == sig["features"] and np.allclose(sig2["coefficients"], sig["coefficients"])
    assert set(sig["features"]) <= set(sig["selection"]["univariate_p"])
    assert all(p < 0.05 for p in sig["selection"]["univariate_p"].values())


def test_apply_reproduces_radscore_and_survival(cohort, small, tmp_path):
    from RadSurvLib.survival.signature import apply_signature, fit_signature, load_signature, save_signature

    sig = fit_signature(small, cohort.time, cohort.event, clinical=cohort.clinical,
                        covariates=["Overall.Stage"], n_folds=5, n_lambdas=15)
    assert sig["model"]["terms"][0] == "RadScore" and "Overall.Stage[II]" in sig["model"]["terms"]
    path = save_signature(sig, tmp_path / "bundle")
    loaded = load_signature(tmp_path / "bundle")
    res = apply_signature(loaded, small, cohort.clinical)
    Z = (small[sig["features"]].to_numpy(float) - sig["means"]) / np.asarray(sig["sds"])
    assert np.allclose(res["radscore"], Z @ np.asarray(sig["coefficients"]), atol=1e-12)
    assert np.isclose(np.median(res["risk"]), sig["risk_cutoff"])
    assert np.all(res["survival_1y"] >= res["survival_2y"]) and np.all(res["survival_2y"] >= res["survival_3y"])
    # the Breslow baseline makes the mean predicted 1-year survival close to the Kaplan-Meier one
    from RadSurvLib.survival.metrics import km_observed

    assert abs(res["survival_1y"].mean() - km_observed(cohort.time, cohort.event, 365.25)) < 0.05
    path.write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(InputError, match="not a RadSurv signature"):
        load_signature(path)
    with pytest.raises(InputError, match="lacks"):
        apply_signature(loaded, small.drop(columns=sig["features"][:1]))


def test_bad_features_are_dropped_and_named(cohort, small):
    from RadSurvLib.survival.data import clean_features
    from RadSurvLib.survival.signature import fit_signature

    bad = small.iloc[:, :10].copy()
    bad["const"] = 5.0
    bad["with_nan"] = np.where(np.arange(99) == 7, np.nan, 1.0 + np.arange(99))
    bad["text"] = "x"
    kept, dropped = clean_features(bad)
    assert dropped["constant"] == ["const"] and dropped["missing or non-finite values"] == ["with_nan"]
    assert dropped["non-numeric"] == ["text"] and len(kept) == 10
    sig = fit_signature(bad, cohort.time, cohort.event, n_folds=5, n_lambdas=10)
    assert any("constant" in w for w in sig["warnings"]) and "const" not in sig["features"]
    with pytest.raises(InputError, match="no usable feature"):
        clean_features(bad[["const", "with_nan", "text"]])
    with pytest.raises(InputError, match="no event"):
        fit_signature(small, cohort.time, np.zeros(99), n_folds=5)
    t = cohort.time.copy()
    t[3] = -1
    with pytest.raises(InputError, match="> 0"):
        fit_signature(small, t, cohort.event)


def test_more_features_than_patients_and_empty_signature(cohort, small):
    from RadSurvLib.survival.signature import apply_signature, fit_signature

    idx = np.arange(30)
    sig = fit_signature(small.iloc[idx].reset_index(drop=True), cohort.time[idx], cohort.event[idx],
                        n_folds=5, n_lambdas=10)  # 80 features for 30 patients
    assert len(sig["features"]) <= 10
    # no feature passes the screen: documented handling = RadScore 0 for all, a warning, finite output
    sig0 = fit_signature(small, cohort.time, cohort.event, p_threshold=1e-300, n_folds=5, n_lambdas=10)
    assert sig0["features"] == [] and any("RadScore is 0" in w for w in sig0["warnings"])
    res = apply_signature(sig0, small)
    assert np.all(res["radscore"] == 0) and np.all(np.isfinite(res["survival_2y"]))
    assert np.allclose(res["survival_2y"], res["survival_2y"][0])  # the cohort's Breslow/KM-like curve


def test_commands_end_to_end_on_lung1(cohort, small, tmp_path, capsys):
    import pandas as pd

    from RadSurvLib.cli import main

    table = pd.concat([pd.Series(cohort.ids, name="PatientID"), small], axis=1)
    feats = tmp_path / "features.csv"
    table.to_csv(feats, index=False)
    out = tmp_path / "bundle"
    assert main(["signature", "fit", "--features", str(feats), "--clinical", str(CLINICAL), "--split", "0.7",
                 "--seed", "1", "--out", str(out), "--lasso-folds", "5", "--n-lambdas", "15"]) == 0
    pred = pd.read_csv(out / "predictions.csv")
    assert (pred["set"] == "train").sum() == 70 and (pred["set"] == "test").sum() == 29
    sig = json.loads((out / "signature.json").read_text())
    train_ids = set(sig["provenance"]["design"]["train_ids"])
    assert train_ids == set(pred.loc[pred["set"] == "train", "PatientID"])
    assert not train_ids & set(pred.loc[pred["set"] == "test", "PatientID"])
    assert sig["provenance"]["inputs"]["clinical"]["sha256"]
    assert main(["evaluate", "--predictions", str(out / "predictions.csv"), "--out", str(tmp_path / "ev"),
                 "--bootstrap", "20"]) == 0
    ev = json.loads((tmp_path / "ev" / "evaluation.json").read_text())
    assert ev["set"] == "test" and ev["n"] == 29
    assert main(["report", "--signature", str(out), "--evaluation", str(tmp_path / "ev"),
                 "--out", str(tmp_path / "report.html")]) == 0
    html = (tmp_path / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= 4 and sig["features"][0] in html
    # apply to the same table reproduces the stored predictions
    assert main(["signature", "apply", "--signature", str(out), "--features", str(feats), "--clinical", str(CLINICAL),
                 "--out", str(tmp_path / "applied.csv")]) == 0
    applied = pd.read_csv(tmp_path / "applied.csv").set_index("PatientID")
    stored = pred.set_index("PatientID")
    assert np.allclose(applied.loc[stored.index, "risk"], stored["risk"])
    # bad input: a clear message and exit status 2, no traceback
    capsys.readouterr()
    assert main(["signature", "fit", "--features", str(feats), "--clinical", str(CLINICAL),
                 "--time-column", "nope", "--out", str(tmp_path / "x")]) == 2
    assert "nope" in capsys.readouterr().err


def test_combined_model_pca_cox(cohort, small):
    """Combined model (Liu et al.): per-group signatures, PCA >= 95 % variance, Cox on components;
    the PCA is checked against scikit-learn's and the Cox fit against lifelines on those components."""
    import pandas as pd
    from lifelines import CoxPHFitter
    from sklearn.decomposition import PCA

    from RadSurvLib.survival.signature import apply_signature, fit_combined, parse_groups

    groups = parse_groups("firstorder=original_firstorder;texture=original_glcm|original_glrlm",
                          small.columns)
    assert set(groups) == {"firstorder", "texture"}
    assert all(c.startswith("original_firstorder_") for c in groups["firstorder"])
    sig = fit_combined(small, cohort.time, cohort.event, groups, n_folds=4, n_lambdas=6)
    comb = sig["combined"]
    union = sig["features"]
    assert union and set(union) == {f for fs in comb["groups"].values() for f in fs}
    X = small[union].to_numpy(float)
    Z = (X - X.mean(0)) / X.std(0, ddof=1)
    ref = PCA().fit(Z)
    k = comb["n_components"]
    cum = np.cumsum(ref.explained_variance_ratio_)
    assert cum[k - 1] >= 0.95 and (k == 1 or cum[k - 2] < 0.95)
    assert np.allclose(comb["explained_variance_ratio"], ref.explained_variance_ratio_[:k], atol=1e-10)
    loadings = np.asarray(comb["loadings"])
    assert np.allclose(np.abs(loadings @ ref.components_[:k].T), np.eye(k), atol=1e-8)  # same axes up to sign
    pcs = Z @ loadings.T
    df = pd.DataFrame(pcs, columns=[f"p{i}" for i in range(k)])
    df["T"], df["E"] = cohort.time, cohort.event.astype(int)
    gamma = CoxPHFitter().fit(df, "T", "E", fit_options={"precision": 1e-12}).params_.to_numpy()
    assert np.allclose(comb["component_cox_coefficients"], gamma, atol=1e-5)
    res = apply_signature(sig, small)
    assert np.allclose(res["risk"], pcs @ gamma, atol=1e-4)
    with pytest.raises(InputError, match="matches no feature column"):
        parse_groups("deep=deep_", small.columns)


def test_cross_validated_fit_predicts_each_patient_out_of_fold(cohort, small, tmp_path):
    import pandas as pd

    from RadSurvLib.survival.data import FeatureTable
    from RadSurvLib.survival.signature import apply_signature, fit_signature

    feats = small[[c for c in small.columns if "shape" not in c][:30]]
    sub = FeatureTable(ids=cohort.ids, features=feats, time=cohort.time, event=cohort.event,
                 clinical=cohort.clinical)
    from RadSurvLib.survival.signature import fit_and_predict

    sig = fit_and_predict(sub, tmp_path / "cv", cv=3, seed=2, n_folds=3, n_lambdas=6)
    pred = pd.read_csv(tmp_path / "cv" / "predictions.csv")
    cv = pred[pred["set"] == "cv"]
    assert sorted(cv["PatientID"]) == sorted(cohort.ids) and set(cv["fold"]) == {0, 1, 2}
    folds = sig["provenance"]["design"]["folds"]
    assert [f["fold"] for f in folds] == [0, 1, 2]
    # refit fold 0 by hand on the other folds: same features, same out-of-fold risks
    held = cv[cv["fold"] == 0]["PatientID"].to_numpy()
    train = ~np.isin(cohort.ids, held)
    ref = fit_signature(feats[train].reset_index(drop=True), cohort.time[train], cohort.event[train],
                        n_folds=3, n_lambdas=6, seed=2)
    assert ref["features"] == folds[0]["features"]
    out = apply_signature(ref, feats[~train])
    assert np.allclose(out["risk"], cv[cv["fold"] == 0]["risk"].to_numpy())
