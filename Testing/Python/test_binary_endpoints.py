"""DeLong AUC comparison, binary metrics and the cross-validated logistic / random-forest baselines,
on the real Lung1 cohort (Testing/Data/Lung1), against independent computations written here
(O(n^2) placement values) and scikit-learn's metrics.
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from RadSurvLib.errors import InputError

LUNG1 = Path(__file__).resolve().parents[2] / "Testing" / "Data" / "Lung1"
FEATURES = LUNG1 / "extracted_features.csv.gz"
CLINICAL = LUNG1 / "NSCLC-Radiomics-Lung1.clinical-version3-Oct-2019.csv"


@pytest.fixture(scope="module")
def lung1():
    """Lung1 cohort, endpoint death within 2 years (known status), two real scores with ties:
    log tumour volume rounded to 0.1 and age rounded to 5 years."""
    from RadSurvLib.survival.binary import horizon_endpoint
    from RadSurvLib.survival.data import load_feature_table

    cohort = load_feature_table(FEATURES, CLINICAL)
    y, known = horizon_endpoint(cohort.time, cohort.event, 2)
    vol = np.round(np.log(cohort.features["original_shape_MeshVolume"].to_numpy(float)), 1)
    age = np.round(cohort.clinical["age"].to_numpy(float) / 5) * 5
    ok = known & np.isfinite(age)
    return cohort, y, known, vol, age, ok


def ref_delong(y, a, b):
    """DeLong et al. (1988) from the definition: psi(x, z) = 1 if x > z, 1/2 if equal, else 0;
    V10_i = mean_j psi(X_i, Y_j) over negatives, V01_j = mean_i psi(X_i, Y_j) over positives."""
    y = np.asarray(y, bool)
    out = []
    for s in (a, b):
        pos, neg = s[y], s[~y]
        psi = np.array([[1.0 if p > q else 0.5 if p == q else 0.0 for q in neg] for p in pos])
        out.append((psi.mean(), psi.mean(axis=1), psi.mean(axis=0)))
    m, n = y.sum(), (~y).sum()
    s10 = np.cov(np.vstack([out[0][1], out[1][1]]))
    s01 = np.cov(np.vstack([out[0][2], out[1][2]]))
    cov = s10 / m + s01 / n
    var = cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]
    from scipy.stats import norm

    z = (out[0][0] - out[1][0]) / np.sqrt(var)
    return out[0][0], out[1][0], np.sqrt(var), z, 2 * norm.sf(abs(z)), np.sqrt(cov[0, 0])


def test_delong_matches_definition_on_lung1(lung1):
    from sklearn.metrics import roc_auc_score

    from RadSurvLib.survival.binary import auc_ci, delong_test

    _, y, _, vol, age, ok = lung1
    got = delong_test(y[ok], vol[ok], age[ok])
    auc_a, auc_b, se, z, p, se_a = ref_delong(y[ok], vol[ok], age[ok])
    assert got["auc_a"] == pytest.approx(auc_a, abs=1e-9)
    assert got["auc_b"] == pytest.approx(auc_b, abs=1e-9)
    assert got["auc_a"] == pytest.approx(roc_auc_score(y[ok], vol[ok]), abs=1e-12)
    assert got["se"] == pytest.approx(se, abs=1e-9)
    assert got["z"] == pytest.approx(z, abs=1e-9)
    assert got["p_value"] == pytest.approx(p, abs=1e-9)
    one = auc_ci(y[ok], vol[ok])
    assert one["high"] - one["auc"] == pytest.approx(1.959963984540054 * se_a, abs=1e-9)
    assert got["difference_low"] < got["difference"] < got["difference_high"]


def test_delong_identical_and_swapped(lung1):
    from RadSurvLib.survival.binary import delong_test

    _, y, _, vol, age, ok = lung1
    same = delong_test(y[ok], vol[ok], vol[ok])
    assert same["difference"] == 0 and same["p_value"] == 1.0 and same["z"] == 0.0
    ab, ba = delong_test(y[ok], vol[ok], age[ok]), delong_test(y[ok], age[ok], vol[ok])
    assert ab["z"] == pytest.approx(-ba["z"], abs=1e-12) and ab["p_value"] == pytest.approx(ba["p_value"], abs=1e-12)
    # a monotone transform of a score leaves its AUC unchanged
    mono = delong_test(y[ok], vol[ok], np.exp(vol[ok]))
    assert mono["difference"] == pytest.approx(0, abs=1e-15) and mono["p_value"] == 1.0


def test_bad_binary_input():
    from RadSurvLib.survival.binary import binary_metrics, delong_test

    with pytest.raises(InputError, match="binary"):
        delong_test([0, 1, 2], [1, 2, 3], [1, 2, 3])
    with pytest.raises(InputError, match="one class"):
        delong_test([1, 1, 1], [1, 2, 3], [1, 2, 3])
    with pytest.raises(InputError, match="2 scores for 3"):
        delong_test([0, 1, 1], [1, 2], [1, 2, 3])
    with pytest.raises(InputError, match="not finite"):
        binary_metrics([0, 1, 1], [0.1, np.nan, 0.3], 0.5)


def test_binary_metrics_match_sklearn(lung1):
    from sklearn.metrics import accuracy_score, recall_score, roc_auc_score

    from RadSurvLib.survival.binary import binary_metrics

    _, y, known, vol, _, _ = lung1
    thr = float(np.median(vol[known]))
    m = binary_metrics(y[known], vol[known], thr)
    pred = vol[known] >= thr
    assert m["accuracy"] == pytest.approx(accuracy_score(y[known], pred), abs=1e-12)
    assert m["sensitivity"] == pytest.approx(recall_score(y[known], pred), abs=1e-12)
    assert m["specificity"] == pytest.approx(recall_score(y[known], pred, pos_label=0), abs=1e-12)
    assert m["auc"] == pytest.approx(roc_auc_score(y[known], vol[known]), abs=1e-12)
    assert m["auc_low"] < m["auc"] < m["auc_high"]


def test_logistic_cv_metrics_and_no_leakage(lung1, monkeypatch):
    """Out-of-fold probabilities scored by sklearn; every preprocessing fit sees training rows only."""
    from sklearn.metrics import accuracy_score, recall_score, roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    from RadSurvLib.survival import binary

    cohort, y, known, _, _, _ = lung1
    feats = cohort.features.loc[known].reset_index(drop=True)
    yk = y[known]
    seen = []
    real_make = binary.make_model

    def spy(*args, **kwargs):
        pipe = real_make(*args, **kwargs)
        fit = pipe.fit

        def recording_fit(x, t):
            seen.append(np.asarray(x).copy())
            return fit(x, t)

        pipe.fit = recording_fit
        return pipe

    monkeypatch.setattr(binary, "make_model", spy)
    res = binary.cross_validate_baseline(feats, yk, model="logistic", folds=5, seed=3)
    prob, m = res["probability"], res["metrics"]
    assert np.isfinite(prob).all() and sorted(set(res["fold"])) == [0, 1, 2, 3, 4]
    pred = prob >= 0.5
    assert m["accuracy"] == pytest.approx(accuracy_score(yk, pred), abs=1e-12)
    assert m["sensitivity"] == pytest.approx(recall_score(yk, pred), abs=1e-12)
    assert m["specificity"] == pytest.approx(recall_score(yk, pred, pos_label=0), abs=1e-12)
    assert m["auc"] == pytest.approx(roc_auc_score(yk, prob), abs=1e-12)
    assert 0.5 < m["auc"] < 0.9
    # the folds are stratified K-fold with the seed, and each fit saw exactly its training rows
    splits = list(StratifiedKFold(5, shuffle=True, random_state=3).split(np.zeros(yk.size), yk))
    assert len(seen) == 5
    from RadSurvLib.survival.data import clean_features

    def fold_columns(train, test):
        cols, _ = clean_features(feats.iloc[train])
        return [c for c in cols if np.isfinite(feats.iloc[test][c].to_numpy(float)).all()]

    for k, (train, test) in enumerate(splits):
        assert (res["fold"][test] == k).all()
        # exactly the training rows (and the columns chosen from them) reached the pipeline's fit
        assert np.array_equal(seen[k], feats.iloc[train][fold_columns(train, test)].to_numpy(float))
    # the scaler statistics are those of the training rows: refit by hand gives the same probabilities
    train, test = splits[0]
    cols = fold_columns(train, test)
    pipe = real_make("logistic", seed=3, max_features=20).fit(feats.iloc[train][cols].to_numpy(float), yk[train])
    assert np.allclose(pipe.predict_proba(feats.iloc[test][cols].to_numpy(float))[:, 1], prob[test], atol=1e-12)
    assert np.allclose(pipe.named_steps["scale"].mean_, feats.iloc[train][cols].to_numpy(float).mean(axis=0))


def test_cli_random_forest_and_compare(lung1, tmp_path, capsys):
    """`radsurv baseline` (random forest, death by 2 y) and `radsurv evaluate --endpoint --compare`,
    plus the survival-mode `--compare` at 2 years, on Lung1."""
    from sklearn.metrics import roc_auc_score

    from RadSurvLib.cli import main
    from RadSurvLib.survival.binary import delong_test

    cohort, y, known, vol, age, ok = lung1
    assert main(["baseline", "--features", str(FEATURES), "--clinical", str(CLINICAL), "--death-by", "2",
                 "--model", "random-forest", "--out", str(tmp_path / "rf")]) == 0
    rf = pd.read_csv(tmp_path / "rf" / "predictions.csv")
    info = json.loads((tmp_path / "rf" / "metrics.json").read_text())
    assert info["metrics"]["auc"] == pytest.approx(roc_auc_score(rf["death_by_2y"], rf["probability"]), abs=1e-12)
    assert len(info["selected_per_fold"]) == 5
    # a second model: tumour volume as a risk score, threshold its median
    other = pd.DataFrame({"PatientID": cohort.ids, "risk": vol})
    other.to_csv(tmp_path / "vol.csv", index=False)
    assert main(["evaluate", "--predictions", str(tmp_path / "rf" / "predictions.csv"), "--endpoint", "death_by_2y",
                 "--compare", str(tmp_path / "vol.csv"), "--out", str(tmp_path / "ev")]) == 0
    ev = json.loads((tmp_path / "ev" / "evaluation.json").read_text())
    order = {p: i for i, p in enumerate(cohort.ids)}
    idx = [order[p] for p in rf["PatientID"]]
    ref = delong_test(rf["death_by_2y"], rf["probability"], vol[idx])
    assert ev["delong"]["p_value"] == pytest.approx(ref["p_value"], abs=1e-12)
    assert ev["binary"]["threshold"] == 0.5
    # survival predictions with --compare: death by 2 y among known status
    surv = pd.DataFrame({"PatientID": cohort.ids, "set": "test", "time_days": cohort.time,
                         "event": cohort.event.astype(int), "risk": vol, "risk_cutoff": np.median(vol),
                         "risk_group": np.where(vol >= np.median(vol), "high", "low")})
    surv.to_csv(tmp_path / "surv.csv", index=False)
    pd.DataFrame({"PatientID": cohort.ids, "risk": np.nan_to_num(age, nan=70.0)}).to_csv(tmp_path / "age.csv", index=False)
    assert main(["evaluate", "--predictions", str(tmp_path / "surv.csv"), "--compare", str(tmp_path / "age.csv"),
                 "--bootstrap", "20", "--out", str(tmp_path / "ev2")]) == 0
    d = json.loads((tmp_path / "ev2" / "evaluation.json").read_text())["delong"]
    ref = delong_test(y[known], vol[known], np.nan_to_num(age, nan=70.0)[known])
    assert d["z"] == pytest.approx(ref["z"], abs=1e-12) and d["n_excluded"] == int((~known).sum())
    assert "DeLong" in capsys.readouterr().out
    # bad endpoint: a non-binary column gives exit status 2 and a message
    assert main(["evaluate", "--predictions", str(tmp_path / "surv.csv"), "--endpoint", "risk",
                 "--out", str(tmp_path / "ev3")]) == 2
    assert "binary" in capsys.readouterr().err
