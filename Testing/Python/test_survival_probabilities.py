"""Survival in years: the Breslow baseline survival of model bundles and the 1/2/3-year probabilities.

The estimator is checked against lifelines' ``CoxPHFitter.baseline_survival_`` (Breslow) and the predicted
probabilities against the true survival of a synthetic cohort with a known exponential baseline hazard.
"""

import json
import math

import numpy as np
import pytest

from RadSurvLib.models.bundle import estimate_baseline_survival, load_bundle

DAYS_PER_YEAR = 365.25
MEDIAN_DAYS = 600.0  # the true baseline: exponential, median 600 days at risk score 0 (as the demo's synthetic data)
LAMBDA0 = math.log(2) / MEDIAN_DAYS  # baseline hazard per day


def _cohort(n: int, seed: int):
    """Known truth: risk score r ~ U(-0.9, 0.9) on the model's tanh scale is the log hazard ratio (beta = 1);
    T ~ Exp(LAMBDA0 * exp(r)) days; independent exponential censoring (~25 %) and end of follow-up at 5 years."""
    rng = np.random.default_rng(seed)
    risk = rng.uniform(-0.9, 0.9, n)
    death = rng.exponential(1 / (LAMBDA0 * np.exp(risk)))
    censor = np.minimum(rng.exponential(1 / (LAMBDA0 / 3), n), 5 * DAYS_PER_YEAR)
    return risk, np.minimum(death, censor), (death <= censor).astype(int)


def _bundle_with(tmp_path, baseline, **extra):
    """A small real bundle (tiny SEResNet3D, saved and loaded) whose bundle.json has ``baseline`` (None: no entry)."""
    from RadSurvLib.models.bundle import save_bundle
    from RadSurvLib.models.registry import build_model

    shipped = load_bundle(build_model=False).config
    params = {**shipped["architecture"]["params"], "base_width": 2}
    config = {k: v for k, v in shipped.items() if k not in ("baseline_survival", "weights")}
    config.update(architecture={"name": "SEResNet3D", "params": params}, name="tiny", version="1", **extra)
    if baseline is not None:
        config["baseline_survival"] = baseline
    return save_bundle(build_model("SEResNet3D", params), config, tmp_path / "bundle")


def test_breslow_baseline_is_lifelines_breslow():
    """Same estimator as lifelines (MIT): with lifelines' fitted coefficient as the linear predictor, our S0 is
    lifelines' ``baseline_survival_`` up to lifelines' centring (its baseline is at the mean covariate)."""
    from lifelines import CoxPHFitter
    import pandas as pd

    risk, time, event = _cohort(400, seed=1)
    cph = CoxPHFitter(baseline_estimation_method="breslow").fit(
        pd.DataFrame({"r": risk, "T": time, "E": event}), "T", "E")
    beta = float(cph.params_["r"])
    assert abs(beta - 1.0) < 0.3  # the cohort's true log hazard ratio per unit risk score is 1
    entry = estimate_baseline_survival(beta * risk, time, event, fitted_on="test")
    ours = np.exp(-_step(cph.baseline_survival_.index.to_numpy(), entry) * np.exp(beta * risk.mean()))
    reference = cph.baseline_survival_["baseline survival"].to_numpy()
    assert np.max(np.abs(ours - reference)) < 1e-9
    assert entry["n_events"] == int(event.sum()) == len(entry["time_days"])  # continuous times: no ties
    assert entry["max_time_days"] == pytest.approx(time.max())


def _step(times, entry):
    """H0 of an entry at ``times`` (step function of its event times)."""
    from RadSurvLib.survival.cox import cumulative_hazard_at

    return cumulative_hazard_at(times, entry["time_days"], -np.log(entry["survival"]))


def test_predicted_survival_matches_the_true_survival(tmp_path):
    """Known exponential baseline: a bundle's 1/2/3-year survival at risk scores -0.9 .. 0.9 is the true
    S(t | r) = exp(-LAMBDA0 * t * exp(r)). Tolerance: 4 standard errors of the Breslow estimate itself
    (Aalen variance of H0, sum d_k / R_k^2, delta method: SE(S) = S * exp(r) * SE(H0)); with 6000 cases (4140
    deaths) this is 0.003 to 0.034 (largest at r = 0.9, 1 y), so an error in the scale (exp(r) left out: 0.43
    instead of 0.13 at r = 0.9, 2 y), in the time unit (years read as days) or in the estimator fails. The
    errors seen are at most 1.5 standard errors (0.013 at r = 0.9, 1 y)."""
    risk, time, event = _cohort(6000, seed=7)
    entry = estimate_baseline_survival(risk, time, event, fitted_on="synthetic training predictions")
    bundle = load_bundle(_bundle_with(tmp_path, entry), build_model=False)
    order = np.argsort(time)
    at_risk = np.exp(risk[order])[::-1].cumsum()[::-1]
    for r in (-0.9, -0.5, 0.0, 0.5, 0.9):
        result = bundle.survival_at_years(r)
        assert result["survival"]["available"] and "reason" not in result["survival"]
        for years in (1, 2, 3):
            t = years * DAYS_PER_YEAR
            truth = math.exp(-LAMBDA0 * t * math.exp(r))
            predicted = result[f"survival_{years}y"]
            dead_by_t = event[order].astype(bool) & (time[order] <= t)
            se = predicted * math.exp(r) * math.sqrt(np.sum(1.0 / at_risk[dead_by_t] ** 2))
            assert 4 * se < 0.035
            assert abs(predicted - truth) < 4 * se, (r, years, predicted, truth, se)


def test_a_bundle_without_baseline_loads_and_says_why(tmp_path):
    from RadSurvLib.cli.score import _survival_line

    bundle = load_bundle(_bundle_with(tmp_path, None))
    assert "baseline_survival" not in json.loads((bundle.path / "bundle.json").read_text())
    result = bundle.survival_at_years(0.3)
    assert [result[f"survival_{k}y"] for k in (1, 2, 3)] == [None, None, None]
    note = result["survival"]
    assert note["available"] is False and note["source"] is None
    assert "no baseline survival" in note["reason"] and "tiny" in note["reason"]
    line = _survival_line({**result, "risk_score": 0.3})
    assert line.startswith("survival probabilities: none (") and line.count("no baseline survival") == 1


def test_horizons_past_the_follow_up_and_binary_bundles_get_none(tmp_path):
    risk, time, event = _cohort(300, seed=3)
    short = time < 1.5 * DAYS_PER_YEAR
    entry = estimate_baseline_survival(risk[short], time[short], event[short], fitted_on="test")
    result = load_bundle(_bundle_with(tmp_path, entry), build_model=False).survival_at_years(0.0)
    assert result["survival_1y"] is not None and result["survival_2y"] is None and result["survival_3y"] is None
    assert "past the longest follow-up" in result["survival"]["reason"]
    binary = load_bundle(_bundle_with(tmp_path / "b", entry, endpoint="binary"), build_model=False)
    assert "binary endpoint" in binary.survival_at_years(0.0)["survival"]["reason"]


@pytest.mark.parametrize("change, message", [
    ({"time_unit": "years"}, "time_unit"),
    ({"linear_predictor": "centred"}, "linear_predictor"),
    ({"survival": [0.5, 0.9]}, "never increase"),
    ({"time_days": [5.0]}, "same"),
])
def test_a_malformed_baseline_is_refused_at_load(tmp_path, change, message):
    from RadSurvLib.errors import BundleError

    entry = {**estimate_baseline_survival([0.1, -0.2, 0.3], [10.0, 20.0, 30.0], [1, 1, 0], "test"), **change}
    with pytest.raises(BundleError, match=message):
        load_bundle(_bundle_with(tmp_path, entry), build_model=False)


def test_the_shipped_demo_bundle_has_its_training_baseline():
    """Estimated from its own 256 training cases (176 events) without touching the weights."""
    bundle = load_bundle(build_model=False)
    base = bundle.baseline_survival
    assert (base["n_cases"], base["n_events"]) == (256, 176) and base["estimator"] == "breslow"
    assert bundle.config["weights"]["sha256"] == "53a360c55075301bbc4a5e534f30872cbd81584fe5d11a35013b8bae9ed64730"
    assert "add-baseline" in bundle.config["provenance"]["baseline_survival"]["command"]
    low, high = bundle.survival_at_years(-0.5), bundle.survival_at_years(0.5)
    assert all(low[f"survival_{k}y"] > high[f"survival_{k}y"] for k in (1, 2, 3))  # higher risk, lower survival
    assert low["survival_1y"] > low["survival_2y"] > low["survival_3y"]


@pytest.mark.slow
def test_radsurv_score_on_pat1_reports_demonstration_survival(tmp_path, capsys):
    """``radsurv score`` on PAT1 with the shipped demonstration bundle: survival_1y..3y in result.json,
    marked as coming from the demonstration model, and one summary line."""
    from conftest import PAT1_CT, PAT1_GTV

    from RadSurvLib.cli import main

    out = tmp_path / "out"
    assert main(["score", "--ct", str(PAT1_CT), "--gtv", str(PAT1_GTV), "--out", str(out), "--device", "cpu"]) == 0
    result = json.loads((out / "result.json").read_text())
    bundle = load_bundle(build_model=False)
    expected = bundle.survival_at_years(result["risk_score"])
    for k in (1, 2, 3):
        assert 0 < result[f"survival_{k}y"] < 1 and result[f"survival_{k}y"] == pytest.approx(expected[f"survival_{k}y"])
    note = result["survival"]
    assert note["available"] and note["demonstration"] is True and note["source"] == "model bundle demo-seresnet3d 0.1.0-demo"
    assert "DEMONSTRATION" in note["note"] and note["estimator"] == "breslow" and note["time_unit"] == "days"
    printed = capsys.readouterr().out
    lines = [line for line in printed.splitlines() if line.startswith("survival 1-year")]
    assert len(lines) == 1 and "from DEMONSTRATION model bundle demo-seresnet3d 0.1.0-demo, Breslow baseline" in lines[0]
    assert f"2-year {100 * result['survival_2y']:.0f} %" in lines[0]
