"""Survival metrics against independent implementations written here (plain loops), on the real
Lung1 cohort, and the handling of bad survival data.

Lung1: Testing/Data/Lung1 (99 patients with PyRadiomics features, clinical table v3; see its README).
"""

from pathlib import Path

import numpy as np
import pytest

from RadSurvLib.errors import InputError

LUNG1 = Path(__file__).resolve().parents[2] / "Testing" / "Data" / "Lung1"
FEATURES = LUNG1 / "extracted_features.csv.gz"
CLINICAL = LUNG1 / "NSCLC-Radiomics-Lung1.clinical-version3-Oct-2019.csv"


@pytest.fixture(scope="module")
def lung1():
    """(time days, event bool, risk) on Lung1, risk = tumour mesh volume (a known OS predictor),
    rounded so that tied risks occur, plus the cohort."""
    from RadSurvLib.survival.data import load_feature_table

    cohort = load_feature_table(FEATURES, CLINICAL)
    risk = np.round(np.log(cohort.features["original_shape_MeshVolume"].to_numpy(float)), 1)
    return cohort.time, cohort.event, risk, cohort


# ---- independent reference implementations (loops, written from the definitions) ---------------

def ref_harrell(time, event, risk):
    """Harrell (1982): pair comparable if the shorter time is a death; a censored time equal to a
    death time counts as longer; both-death ties are not comparable; tied risks 1/2."""
    num = den = 0.0
    n = len(time)
    for i in range(n):
        if not event[i]:
            continue
        for j in range(n):
            if time[i] < time[j] or (time[i] == time[j] and not event[j]):
                den += 1
                num += 1.0 if risk[i] > risk[j] else 0.5 if risk[i] == risk[j] else 0.0
    return num / den


def ref_censoring_km_before(time, event, t):
    """G(t-): product over censoring times u < t of (1 - c_u / n_u)."""
    g = 1.0
    for u in sorted(set(time[~event])):
        if u >= t:
            break
        n_u = sum(1 for x in time if x >= u)
        c_u = sum(1 for x, e in zip(time, event) if x == u and not e)
        g *= 1 - c_u / n_u
    return g


def ref_uno(time, event, risk):
    num = den = 0.0
    for i in range(len(time)):
        if not event[i]:
            continue
        w = ref_censoring_km_before(time, event, time[i]) ** -2
        for j in range(len(time)):
            if time[i] < time[j]:
                den += w
                num += w * (1.0 if risk[i] > risk[j] else 0.5 if risk[i] == risk[j] else 0.0)
    return num / den


def ref_td_auc(time, event, risk, t):
    num = wsum = 0.0
    controls = [j for j in range(len(time)) if time[j] > t]
    for i in range(len(time)):
        if event[i] and time[i] <= t:
            w = 1.0 / ref_censoring_km_before(time, event, time[i])
            wsum += w
            for j in controls:
                num += w * (1.0 if risk[i] > risk[j] else 0.5 if risk[i] == risk[j] else 0.0)
    return num / (wsum * len(controls))


def ref_logrank_p(time, event, group):
    """Two-group log-rank (Mantel 1966): sum of O - E in group 1 and hypergeometric variance."""
    from scipy.stats import chi2

    o_minus_e = var = 0.0
    for u in sorted(set(time[event])):
        at_risk = time >= u
        n = at_risk.sum()
        n1 = (at_risk & group).sum()
        d = ((time == u) & event).sum()
        d1 = ((time == u) & event & group).sum()
        o_minus_e += d1 - d * n1 / n
        if n > 1:
            var += d * (n1 / n) * (1 - n1 / n) * (n - d) / (n - 1)
    return float(chi2.sf(o_minus_e ** 2 / var, 1))


# ---- agreement to 1e-6 --------------------------------------------------------------------------

def test_harrell_c_matches_reference_on_lung1(lung1):
    from RadSurvLib.survival.metrics import harrell_c

    time, event, risk, _ = lung1
    assert len(np.unique(risk)) < len(risk)  # tied risks are exercised
    assert np.unique(time).size < time.size  # tied times too
    c = harrell_c(time, event, risk)
    assert abs(c - ref_harrell(time, event, risk)) < 1e-6
    assert 0.55 < c < 0.75  # tumour volume is prognostic in Lung1 (Aerts 2014)


def test_uno_c_and_td_auc_match_reference_on_lung1(lung1):
    from RadSurvLib.survival.metrics import td_auc, uno_c

    time, event, risk, _ = lung1
    assert abs(uno_c(time, event, risk) - ref_uno(time, event, risk)) < 1e-6
    for years in (1, 2, 3):
        t = years * 365.25
        assert abs(td_auc(time, event, risk, t) - ref_td_auc(time, event, risk, t)) < 1e-6


def test_censoring_weights_matter():
    """With heavy censoring Uno's C differs from Harrell's: the weights are really applied."""
    from RadSurvLib.survival.metrics import harrell_c, uno_c

    rng = np.random.default_rng(3)
    risk = rng.normal(size=60)
    time = rng.exponential(np.exp(-risk)) * 365 + 1
    event = rng.random(60) < 0.4
    assert abs(uno_c(time, event, risk) - ref_uno(time, event, risk)) < 1e-6
    assert abs(uno_c(time, event, risk) - harrell_c(time, event, risk)) > 1e-4


def test_logrank_and_hr_on_lung1(lung1):
    from RadSurvLib.survival.metrics import km_risk_groups

    time, event, risk, _ = lung1
    high = risk > np.median(risk)
    km = km_risk_groups(time, event, high)
    assert abs(km["logrank_p"] - ref_logrank_p(time, event, high)) < 1e-6
    assert km["n_high"] + km["n_low"] == time.size
    assert km["hr_low"] < km["hr"] < km["hr_high"]
    # a large tumour (high group) has the higher hazard in Lung1
    assert km["hr"] > 1


def test_bootstrap_ci_brackets_the_estimate(lung1):
    from RadSurvLib.survival.metrics import bootstrap_ci, harrell_c

    time, event, risk, _ = lung1
    ci = bootstrap_ci(harrell_c, time, event, risk, n_boot=60, seed=1)
    c = harrell_c(time, event, risk)
    assert ci["low"] < c < ci["high"] and ci["n_boot"] == 60
    assert ci["high"] - ci["low"] < 0.3


def test_evaluate_predictions_full_and_subgroups(lung1):
    import pandas as pd

    from RadSurvLib.survival.metrics import evaluate_predictions

    time, event, risk, cohort = lung1
    frame = pd.DataFrame({"time_days": time, "event": event.astype(int), "risk": risk,
                          "risk_group": np.where(risk > np.median(risk), "high", "low")})
    for years in (1, 2, 3):  # an exponential model: S(t) decreasing with risk
        frame[f"survival_{years}y"] = np.exp(-years * 0.5 * np.exp(risk - risk.mean()))
    for col in ("Overall.Stage", "Histology", "gender", "age"):
        frame[col] = cohort.clinical[col].to_numpy()
    ev = evaluate_predictions(frame, n_boot=30)
    assert set(ev["td_auc"]) == {"1", "2", "3"} and all(v is not None for v in ev["td_auc"].values())
    assert ev["harrell_c"]["low"] < ev["harrell_c"]["value"] < ev["harrell_c"]["high"]
    assert {"stage I-II", "stage III", "adenocarcinoma", "squamous cell carcinoma", "male", "female",
            "age >= 65", "age < 65"} <= set(ev["subgroups"])
    stage3 = cohort.clinical["Overall.Stage"].astype(str).str.startswith("III").to_numpy()
    assert ev["subgroups"]["stage III"]["n_high"] + ev["subgroups"]["stage III"]["n_low"] == stage3.sum()
    for cal in ev["calibration"].values():
        assert all(g["observed_low"] <= g["observed"] <= g["observed_high"] for g in cal["groups"])
    dc = ev["decision_curves"]["2"]
    # treat-all net benefit at threshold p is (1-S) - S p/(1-p) with S the cohort KM at 2 years
    from RadSurvLib.survival.metrics import km_observed

    s = km_observed(time, event, 2 * 365.25)
    p = dc["thresholds"][3]
    assert abs(dc["treat_all"][3] - ((1 - s) - s * p / (1 - p))) < 1e-12


def test_km_observed_matches_lifelines(lung1):
    from lifelines import KaplanMeierFitter

    from RadSurvLib.survival.metrics import km_observed

    time, event, _, _ = lung1
    km = KaplanMeierFitter().fit(time, event)
    for t in (200.0, 365.25, 730.5, 1500.0):
        assert abs(km_observed(time, event, t) - float(km.survival_function_at_times(t).iloc[0])) < 1e-12


# ---- bad survival data ---------------------------------------------------------------------------

@pytest.mark.parametrize("time, event, message", [
    ([100, -5, 300], [1, 0, 1], "must be > 0"),
    ([100, 0, 300], [1, 0, 1], "must be > 0"),
    ([100, np.nan, 300], [1, 0, 1], "non-finite"),
    ([100, 200, 300], [0, 0, 0], "no event"),
    ([100, 200, 300], [1, 2, 0], "0 (censored) or 1"),
    ([100, 100, 100], [1, 1, 0], "same time"),
    ([100, 200], [1, 0, 1], "event indicators"),
])
def test_bad_survival_data_is_an_input_error(time, event, message):
    from RadSurvLib.survival.data import check_survival
    from RadSurvLib.survival.metrics import harrell_c

    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_survival(time, event)
    with pytest.raises(InputError):
        harrell_c(time, event, np.arange(len(time)))


def test_nan_risk_and_undefined_statistics_are_reported_not_nan():
    import pandas as pd

    from RadSurvLib.survival.metrics import evaluate_predictions, harrell_c, td_auc

    time = np.array([400.0, 500, 600, 700, 800, 900])
    event = np.array([1, 0, 1, 1, 0, 1])
    with pytest.raises(InputError, match="not finite"):
        harrell_c(time, event, [1, 2, np.nan, 3, 4, 5])
    with pytest.raises(InputError, match="no death by"):
        td_auc(time, event, np.arange(6.0), 365.25)  # first death at 400 days
    with pytest.raises(InputError, match="nobody is followed beyond"):
        td_auc(time, event, np.arange(6.0), 1000.0)
    frame = pd.DataFrame({"time_days": time, "event": event, "risk": np.arange(6.0),
                          "risk_group": ["high"] * 6})
    ev = evaluate_predictions(frame, n_boot=10, horizons_years=(1, 2, 3))
    assert ev["td_auc"]["1"] is None and any("td-AUC 1 y" in n for n in ev["notes"])
    assert ev["td_auc"]["2"] is not None
    assert ev["km"]["logrank_p"] is None and "one risk group" in ev["km"]["note"]


def test_agreement_with_torchsurv_on_lung1(lung1):
    """Harrell's C, Uno's C and the cumulative/dynamic td-AUC against torchsurv (MIT, Novartis),
    a separate implementation (float32 tensors, hence 1e-6)."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("torchsurv")
    from torchsurv.metrics.auc import Auc
    from torchsurv.metrics.cindex import ConcordanceIndex
    from torchsurv.stats.ipcw import get_ipcw

    from RadSurvLib.survival.metrics import harrell_c, td_auc, uno_c

    time, event, risk, _ = lung1
    t = torch.tensor(time, dtype=torch.float32)
    e = torch.tensor(event)
    r = torch.tensor(risk, dtype=torch.float32)
    cindex = ConcordanceIndex()
    assert abs(float(cindex(r, e, t)) - harrell_c(time, event, risk)) < 1e-6
    weight = get_ipcw(e, t)
    assert abs(float(cindex(r, e, t, weight=weight)) - uno_c(time, event, risk)) < 1e-6
    for years in (1, 2, 3):
        horizon = torch.tensor([years * 365.25], dtype=torch.float32)
        ref = Auc()(r, e, t, auc_type="cumulative", weight=weight, new_time=horizon,
                    weight_new_time=get_ipcw(e, t, horizon))
        assert abs(float(ref) - td_auc(time, event, risk, years * 365.25)) < 1e-6


def tied_survival(seed=0, n=80):
    """Integer times 1-10 (event-event and event-censored ties) and risks rounded to 1 decimal (tied risks)."""
    rng = np.random.default_rng(seed)
    risk = np.round(rng.normal(size=n), 1)
    time = np.minimum(10, np.ceil(rng.exponential(4.0 * np.exp(-risk)))).astype(float)
    event = (rng.random(n) < 0.7).astype(int)
    return time, event, risk


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_harrell_c_with_ties_in_time_and_risk_agrees_with_lifelines_torchsurv_and_the_definition(seed):
    torch = pytest.importorskip("torch")
    pytest.importorskip("torchsurv")
    from lifelines.utils import concordance_index
    from torchsurv.metrics.cindex import ConcordanceIndex

    from RadSurvLib.survival.metrics import harrell_c

    time, event, risk = tied_survival(seed)
    assert len(np.unique(time)) <= 10 and len(np.unique(risk)) < len(risk) / 2  # ties of both kinds
    assert ((time[:, None] == time[None, :]) & (event[:, None] == 1) & (event[None, :] == 0)).any()
    c = harrell_c(time, event, risk)
    assert c == pytest.approx(ref_harrell(time, event, risk), abs=1e-12)
    assert c == pytest.approx(concordance_index(time, -risk, event), abs=1e-12)
    ref = ConcordanceIndex()(torch.tensor(risk, dtype=torch.float64), torch.tensor(event).bool(),
                             torch.tensor(time, dtype=torch.float64))
    assert c == pytest.approx(float(ref), abs=1e-6)


def test_training_reports_the_same_c_index_as_evaluate():
    """``radsurv train`` (loop.c_index) and ``radsurv evaluate`` (harrell_c) give one C on one prediction set,
    tied times included (the old training C-index dropped event-censored ties)."""
    pytest.importorskip("torch")
    from RadSurvLib.survival.metrics import harrell_c
    from RadSurvLib.training.loop import c_index

    time, event, risk = tied_survival(5)
    assert c_index(time, event, risk) == harrell_c(time, event, risk)
    assert np.isnan(c_index([1.0, 2.0], [0, 0], [0.1, 0.2]))  # no comparable pair: NaN in a training log
