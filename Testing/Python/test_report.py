"""The evaluation report (issue 16) on the real Lung1 cohort: baselines fitted on the signature's own
folds (checked against a hand-made lifelines fit), the paired comparison, optimism-corrected
calibration (synthetic data with a known true survival), the subgroup interaction test (synthetic
data with a known interaction), the figures returned by ``evaluate`` and the HTML/PDF report: every
section, figure and table present, no raw JSON shown to the reader."""

import base64
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

LUNG1 = Path(__file__).resolve().parents[2] / "Testing" / "Data" / "Lung1"
FEATURES = LUNG1 / "extracted_features.csv.gz"
CLINICAL = LUNG1 / "NSCLC-Radiomics-Lung1.clinical-version3-Oct-2019.csv"
N_BOOT = 25  # few resamples: the tests check structure and arithmetic, not the CI widths

SURVIVAL_SECTIONS = ["summary", "method", "cohort", "signature", "discrimination", "baselines", "kaplan-meier",
                     "subgroups", "calibration", "decision-curves", "provenance"]
SURVIVAL_FIGURES = ["td_auc", "baselines", "km", "forest", "calibration", "decision_curves"]
BINARY_SECTIONS = ["summary", "method", "cohort", "signature", "discrimination", "confusion", "calibration",
                   "baselines", "provenance"]
BINARY_FIGURES = ["roc", "confusion", "binary_calibration"]


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """A 3-fold cross-validated signature on Lung1 (30 first-order/texture columns plus the shape
    columns the baselines need), with its baselines."""
    from RadSurvLib.survival.data import load_feature_table
    from RadSurvLib.survival.signature import fit_and_predict

    table = load_feature_table(FEATURES, CLINICAL)
    cols = [c for c in table.features.columns if c.startswith("original_") and "shape" not in c][:30]
    table.features = table.features[cols + ["original_shape_MeshVolume", "original_shape_MajorAxisLength"]]
    out = tmp_path_factory.mktemp("fit") / "signature"
    sig = fit_and_predict(table, out, cv=3, seed=2, n_folds=3, n_lambdas=6,
                          inputs={"features": FEATURES, "clinical": CLINICAL})
    return table, sig, out, pd.read_csv(out / "predictions.csv")


@pytest.mark.slow  # the fitted fixture: a 3-fold signature with its baselines (about 20 s)
def test_baselines_use_the_signature_folds(fitted):
    from lifelines import CoxPHFitter

    table, sig, _, pred = fitted
    cv = pred[pred["set"] == "cv"].reset_index(drop=True)
    for col in ("baseline_tumour_volume", "baseline_tumour_size", "baseline_clinical", "baseline_signature_clinical",
                "baseline_logistic_death_by_2y", "baseline_random-forest_death_by_2y"):
        assert col in cv.columns and np.isfinite(cv[col]).all(), col
    # fold 1 by hand: Cox of log volume fitted on the other folds' patients only
    held = set(cv.loc[cv["fold"] == 1, "PatientID"])
    train = ~np.isin(table.ids, list(held))
    df = pd.DataFrame({"x": np.log(table.features["original_shape_MeshVolume"].to_numpy(float)),
                       "T": table.time, "E": table.event.astype(int)})
    coef = CoxPHFitter(penalizer=0.01).fit(df[train], "T", "E").params_["x"]
    mine = cv.set_index("PatientID").loc[table.ids[~train], "baseline_tumour_volume"].to_numpy()
    # centred on the fold's training mean (one scale for all folds, issue 26)
    x = df["x"].to_numpy()
    assert np.allclose(mine, coef * (x[~train] - x[train].mean()), atol=1e-6)
    assert coef > 0  # larger tumours die sooner (Lung1)
    assert any("age" in n for n in sig["provenance"]["design"]["baseline_notes"])  # one age is missing


@pytest.mark.slow  # the fitted fixture: a 3-fold signature with its baselines (about 20 s)
def test_paired_comparison_and_cli_print(fitted):
    from RadSurvLib.survival.baselines import compare_survival
    from RadSurvLib.survival.metrics import harrell_c

    _, _, _, pred = fitted
    cv = pred[pred["set"] == "cv"].reset_index(drop=True)
    rows = compare_survival(cv, n_boot=N_BOOT, seed=0)
    assert [r["key"] for r in rows] == ["signature", "tumour_volume", "tumour_size", "clinical", "signature_clinical"]
    for row in rows[1:]:
        d = row["vs_signature"]
        c_base = harrell_c(cv["time_days"], cv["event"], cv[f"baseline_{row['key']}"])
        assert np.isclose(row["c"]["value"], c_base)
        assert np.isclose(d["difference"], rows[0]["c"]["value"] - c_base)
        assert d["low"] <= d["high"] and 0 < d["p_value"] <= 1
        assert 0 <= row["delong"]["p_value"] <= 1
    # a baseline that could not be fitted in a fold (NaN scores) is left out with a note, not scored
    broken = cv.copy()
    broken.loc[3, "baseline_clinical"] = np.nan
    rows = compare_survival(broken, n_boot=5)
    clinical = next(r for r in rows if r["key"] == "clinical")
    assert "c" not in clinical and "could not be fitted" in clinical["note"]


def test_bootstrap_calibration_on_a_known_model():
    """Survival drawn from S(t | x) = exp(-t / 700 * exp(x)): predictions equal to the truth are
    calibrated (small corrected error), predictions of 0.99 for everyone are not."""
    from lifelines import KaplanMeierFitter

    from RadSurvLib.survival.calibration import bootstrap_calibration

    rng = np.random.default_rng(4)
    n = 400
    x = rng.normal(0, 0.8, n)
    t_event = rng.exponential(700 * np.exp(-x))
    t_cens = rng.uniform(200, 2500, n)
    time, event = np.minimum(t_event, t_cens), t_event <= t_cens
    horizon = 365.25
    true_s = np.exp(-horizon / 700 * np.exp(x))
    good = bootstrap_calibration(time, event, x, true_s, horizon, n_boot=N_BOOT, seed=1)
    assert len(good["groups"]) == 5 and sum(g["n"] for g in good["groups"]) == n
    assert good["mean_abs_error_corrected"] < 0.06
    # each group's observed survival is its Kaplan-Meier estimate (lifelines as reference)
    order = np.argsort(true_s)
    first = order[: good["groups"][0]["n"]]
    ref = KaplanMeierFitter().fit(time[first], event[first]).survival_function_at_times(horizon).iloc[0]
    assert abs(good["groups"][0]["observed"] - ref) < 1e-9
    bad = bootstrap_calibration(time, event, x, np.full(n, 0.99), horizon, n_groups=5, n_boot=N_BOOT)
    assert bad["mean_abs_error_corrected"] > 0.3


def test_subgroup_interaction_detects_a_known_interaction():
    """Risk group with HR 4 in men and 1 in women: small interaction p; HR 4 in both: large."""
    from RadSurvLib.survival.subgroups import subgroup_hazard_ratios

    rng = np.random.default_rng(0)
    n = 600
    male = rng.random(n) < 0.5
    high = rng.random(n) < 0.5

    def frame(hr_female):
        hazard = np.where(high, np.where(male, 4.0, hr_female), 1.0) / 500
        t = rng.exponential(1 / hazard)
        return pd.DataFrame({"time_days": np.minimum(t, 3000) + 1, "event": (t < 3000).astype(int),
                             "risk_group": np.where(high, "high", "low"),
                             "gender": np.where(male, "male", "female")})

    rows = subgroup_hazard_ratios(frame(1.0))
    men, women = rows
    assert men["label"] == "male" and 3 < men["hr"] < 5.5 and 0.7 < women["hr"] < 1.4
    assert men["interaction_p"] < 0.001 and men["first_of_variable"] and not women["first_of_variable"]
    assert subgroup_hazard_ratios(frame(4.0))[0]["interaction_p"] > 0.01


@pytest.mark.slow  # the fitted fixture: a 3-fold signature with its baselines (about 20 s)
def test_evaluate_returns_titled_figures_with_axes_and_legends(fitted):
    from RadSurvLib.survival.report import evaluate

    _, _, out, _ = fitted
    ev = evaluate(out / "predictions.csv", n_boot=N_BOOT)
    assert ev.results["kind"] == "survival" and ev.results["set"] == "cv"
    assert set(ev.figures) == set(SURVIVAL_FIGURES)
    for name, fig in ev.figures.items():
        ax = fig.axes[0]
        assert ax.get_title() or (fig._suptitle is not None and fig._suptitle.get_text()), name
        assert ax.get_xlabel() and ax.get_ylabel(), name
        assert any(a.get_legend() is not None for a in fig.axes), name
    km = ev.figures["km"]
    km.canvas.draw()  # the numbers-at-risk row is the tick labels of lifelines' twin axis
    km_texts = [t.get_text() for a in km.axes for t in list(a.texts) + a.get_xticklabels()]
    assert any("log-rank p" in t for t in km_texts) and any("At risk" in t for t in km_texts)
    binary = evaluate(out / "predictions.csv", endpoint_years=2, n_boot=N_BOOT)
    assert set(binary.figures) == set(BINARY_FIGURES)
    labels = [m["label"] for m in binary.results["models"]]
    assert labels[0] == "radiomics signature" and "random forest (all features)" in labels
    band, sig = binary.results["models"][0]["band"], binary.results["models"][0]
    inside = (np.array(band["tpr_low"]) - 1e-9 <= np.interp(band["fpr"], sig["fpr"], sig["tpr"])) & \
             (np.interp(band["fpr"], sig["fpr"], sig["tpr"]) <= np.array(band["tpr_high"]) + 1e-9)
    assert band["n_boot"] > 0 and inside.mean() > 0.9  # the bootstrap band surrounds the ROC curve
    cm = binary.results["confusion"]
    assert cm["tp"] + cm["fp"] + cm["tn"] + cm["fn"] == binary.results["n"]


class _Reader(HTMLParser):
    """Collects sections, TOC links, figures, images, tables and the text a reader sees."""

    def __init__(self):
        super().__init__()
        self.sections, self.links, self.figures, self.images, self.text = [], [], [], [], []
        self.tables = 0
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section":
            self.sections.append(attrs.get("id"))
        elif tag == "a" and attrs.get("href", "").startswith("#"):
            self.links.append(attrs["href"][1:])
        elif tag == "figure":
            self.figures.append(attrs.get("id"))
        elif tag == "img":
            self.images.append(attrs.get("src", ""))
        elif tag == "table":
            self.tables += 1
        elif tag in ("style", "script"):
            self._skip += 1

    def handle_endtag(self, tag):
        if tag in ("style", "script"):
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.text.append(data)


def _check_report(html_text, sections, figures, min_tables):
    reader = _Reader()
    reader.feed(html_text)
    assert reader.sections == sections
    assert reader.links == sections  # the table of contents lists every section, in order
    assert reader.figures == [f"figure-{f}" for f in figures]
    for src in reader.images:  # embedded, opens offline
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert reader.tables >= min_tables
    shown = "\n".join(reader.text)
    assert not re.search(r"[{\[]\s*[\"']", shown), "raw JSON / dict shown to the reader"
    assert not re.search(r"[\"']\s*:\s*[\"'\d\[{]", shown), "raw JSON key/value shown to the reader"
    assert "nan" not in re.findall(r"\b[a-z]+\b", shown.lower())
    assert "http" not in "".join(reader.images) and "<script" not in html_text
    return shown


@pytest.mark.slow  # the fitted fixture: a 3-fold signature with its baselines (about 20 s)
def test_html_and_pdf_reports_have_every_part(fitted, tmp_path):
    from RadSurvLib.cli import main

    _, sig, out, _ = fitted
    assert main(["evaluate", "--predictions", str(out / "predictions.csv"), "--out", str(tmp_path / "ev"),
                 "--bootstrap", str(N_BOOT)]) == 0
    assert main(["report", "--signature", str(out), "--evaluation", str(tmp_path / "ev"),
                 "--out", str(tmp_path / "report.html"), "--pdf", str(tmp_path / "report.pdf")]) == 0
    shown = _check_report((tmp_path / "report.html").read_text(), SURVIVAL_SECTIONS, SURVIVAL_FIGURES, 10)
    assert "5-fold" not in shown and "3-fold cross-validation" in shown
    for label in ("tumour volume alone", "clinical (age, sex, stage)", "signature + clinical"):
        assert label in shown
    assert sig["features"][0] in shown and "interaction p" in shown
    pdf = (tmp_path / "report.pdf").read_bytes()
    assert pdf[:5] == b"%PDF-" and pdf.count(b"/Type /Page\n") + pdf.count(b"/Type /Page ") >= 4

    assert main(["evaluate", "--predictions", str(out / "predictions.csv"), "--out", str(tmp_path / "ev2"),
                 "--bootstrap", str(N_BOOT), "--death-by", "2"]) == 0
    assert main(["report", "--signature", str(out), "--evaluation", str(tmp_path / "ev2"),
                 "--out", str(tmp_path / "binary.html")]) == 0
    shown = _check_report((tmp_path / "binary.html").read_text(), BINARY_SECTIONS, BINARY_FIGURES, 7)
    assert "death by 2 years" in shown and "DeLong" in shown and "random forest (all features)" in shown


def test_report_refuses_missing_inputs(tmp_path, capsys):
    from RadSurvLib.cli import main
    from RadSurvLib.errors import InputError
    from RadSurvLib.survival.report import load_evaluation

    assert main(["report", "--signature", str(tmp_path / "nothing"), "--evaluation", str(tmp_path / "none"),
                 "--out", str(tmp_path / "r.html")]) == 2
    assert "signature bundle" in capsys.readouterr().err and not (tmp_path / "r.html").exists()
    with pytest.raises(InputError, match="evaluation.json"):
        load_evaluation(tmp_path)
    (tmp_path / "evaluation.json").write_text("{not json")
    with pytest.raises(InputError, match="not valid JSON"):
        load_evaluation(tmp_path)
