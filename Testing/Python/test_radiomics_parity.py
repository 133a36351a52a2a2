"""RadSurv's radiomics engine (the default) against PyRadiomics (the oracle, extra ``radsurv[pyradiomics]``).

Every feature of three settings: Liu et al. 2025 (``Liu2025_PyRadiomics.yaml``, 1316 per ROI), the
quick setting (107) and the Lung1 feature table's (``Testing/Data/parameters``, 1502: also square,
square root, logarithm, exponential; no pre-cropping). Within 1e-6 relative (1e-9 absolute), NaN
where PyRadiomics gives NaN, same names in the same order, on real data:

* PAT1 (GTV and the 0-3, 3-6, 6-9 mm rings) and lung1_001 (a full planning CT from DICOM, GTV-1;
  skipped where the shared data is absent) through ``score_case`` with each engine: the crop-first
  pipeline, normalised with the whole CT's statistics, as a user runs it (the quick setting's
  oracle: the original-image features of PyRadiomics' Liu run, which has the same settings);
* PyRadiomics' own baseline cases (brain, breast, lung; their label and its 3 mm ring).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest
from conftest import PAT1_CT, PAT1_GTV, REPO

pytest.importorskip("radiomics", reason="PyRadiomics (extra radsurv[pyradiomics]) is the oracle")

REL, ABS = 1e-6, 1e-9
BASELINE = REPO / "Testing" / "Data" / "PyRadiomics_baseline"
LUNG1_001 = REPO.parent / "shared" / "data" / "lung1_001"
SETTINGS = {
    "liu2025": REPO / "RadSurvLib" / "resources" / "parameters" / "Liu2025_PyRadiomics.yaml",
    "quick": REPO / "RadSurvLib" / "resources" / "parameters" / "Quick_PyRadiomics.yaml",
    "lung1_table": REPO / "Testing" / "Data" / "parameters" / "Lung1_table_PyRadiomics.yaml",
}
FEATURE_COUNTS = {"liu2025": 1316, "quick": 107, "lung1_table": 1502}


def worst_error(mine: dict, ref: dict) -> tuple:
    """(largest relative error, ROI, feature) over the ROIs of two tables, with the checks of names,
    order and NaN; features within the absolute floor (1e-9) are left out of the maximum."""
    assert list(mine) == list(ref)
    worst = (0.0, None, None)
    for roi, expected_values in ref.items():
        assert list(mine[roi]) == list(expected_values), roi
        for name, expected in expected_values.items():
            got = mine[roi][name]
            if math.isnan(expected) or math.isnan(got):
                assert math.isnan(expected) and math.isnan(got), (roi, name, got, expected)
                continue
            error = abs(got - expected)
            relative = error / abs(expected) if error > ABS else 0.0
            if relative >= worst[0]:
                worst = (relative, roi, name)
    return worst


def _read_features(path: Path) -> dict:
    with open(path) as handle:
        rows = list(csv.DictReader(handle))
    return {row.pop("roi"): {k: float(v) for k, v in row.items() if v != ""} for row in rows}


@pytest.fixture(scope="session")
def pipeline_features(tmp_path_factory):
    """features(case, setting, engine) -> {ROI: {feature: value}} of a ``score_case`` run with
    ``features_only`` (computed once per argument set in the session)."""
    from RadSurvLib.options import ScoreOptions
    from RadSurvLib.pipeline import score_case

    cache, inputs = {}, {}

    def case_inputs(case):
        if case not in inputs:
            if case == "PAT1":
                inputs[case] = (PAT1_CT, PAT1_GTV)
            else:
                from RadSurvLib.io.dicom import load_dicom_case

                rtstruct = next((LUNG1_001 / "rtstruct").iterdir())
                inputs[case] = load_dicom_case(LUNG1_001 / "image", rtstruct=rtstruct, roi="GTV-1")[:2]
        return inputs[case]

    def features(case, setting, engine):
        key = (case, setting, engine)
        if key not in cache:
            out = tmp_path_factory.mktemp(f"{case}-{setting}-{engine}") / "out"
            options = ScoreOptions(device="cpu", features_only=True, params_file=str(SETTINGS[setting]),
                                   radiomics_engine=engine)
            score_case(*case_inputs(case), out, options)
            cache[key] = _read_features(out / "features.csv")
        return cache[key]

    return features


@pytest.mark.slow
@pytest.mark.parametrize("setting", list(SETTINGS))
@pytest.mark.parametrize("case", ["PAT1", "lung1_001"])
def test_pipeline_features_equal_pyradiomics(pipeline_features, case, setting):
    if case == "lung1_001" and not LUNG1_001.is_dir():
        pytest.skip("lung1_001 (shared data) not on this machine")
    mine = pipeline_features(case, setting, "radsurv")
    if setting == "quick":  # the original-image part of Liu's setting (same settings): one oracle run less
        liu = pipeline_features(case, "liu2025", "pyradiomics")
        ref = {roi: {k: v for k, v in values.items() if k.startswith("original_")} for roi, values in liu.items()}
    else:
        ref = pipeline_features(case, setting, "pyradiomics")
    if case == "PAT1":
        assert list(ref) == ["GTV", "ring_0-3mm", "ring_3-6mm", "ring_6-9mm"]
    assert all(len(values) == FEATURE_COUNTS[setting] for values in ref.values())
    worst = worst_error(mine, ref)
    print(f"\nparity {case} {setting}: max relative error {worst[0]:.2e} ({worst[1]} {worst[2]})")
    assert worst[0] <= REL, worst


@pytest.fixture(scope="session")
def baseline_inputs():
    """{case: (image, {"GTV": label, "ring_0-3mm": its 3 mm ring})} of PyRadiomics' baseline cases."""
    import SimpleITK as sitk

    from RadSurvLib import rings

    out = {}
    for case in ("brain1", "brain2", "breast1", "lung1", "lung2"):
        image = sitk.ReadImage(str(BASELINE / f"{case}_image.nrrd"))
        label = sitk.ReadImage(str(BASELINE / f"{case}_label.nrrd")) == 1
        labels, ring_list = rings.make_rings(sitk.Cast(label, sitk.sitkUInt8), rings.parse_bands((3,)), ct=image)
        out[case] = (image, rings.roi_masks(labels, ring_list))
    return out


@pytest.mark.parametrize("setting", list(SETTINGS))
@pytest.mark.parametrize("case", ["brain1", "brain2", "breast1", "lung1", "lung2"])
def test_baseline_cases_equal_pyradiomics(baseline_inputs, case, setting):
    from RadSurvLib.radiomics import roi

    image, masks = baseline_inputs[case]
    parameters = roi.make_extractor(SETTINGS[setting])
    mine = roi.extract_features(image, masks, parameters, engine="radsurv")
    ref = roi.extract_features(image, masks, parameters, engine="pyradiomics")
    assert len(ref["GTV"]) == FEATURE_COUNTS[setting]
    worst = worst_error(mine, ref)
    print(f"\nparity {case} {setting}: max relative error {worst[0]:.2e} ({worst[1]} {worst[2]})")
    assert worst[0] <= REL, worst


@pytest.mark.parametrize("resegment", ["resegmentRange: [-400, 150]",
                                       "resegmentRange: [-300]\n  resegmentShape: true",
                                       "resegmentRange: [-1.5, 1.5]\n  resegmentMode: sigma",
                                       "resegmentRange: [0.05, 0.9]\n  resegmentMode: relative"])
def test_resegmentation_equals_pyradiomics(baseline_inputs, tmp_path, resegment):
    """Range re-segmentation (IBSI), each mode, on lung1 (HU; original and LoG image, pre-cropped)."""
    from RadSurvLib.radiomics import roi

    params = tmp_path / "resegment.yaml"
    params.write_text("imageType:\n  Original: {}\n  LoG:\n    sigma: [2.0]\n"
                      f"setting:\n  binWidth: 25\n  preCrop: true\n  {resegment}\n")
    image, masks = baseline_inputs["lung1"]
    parameters = roi.make_extractor(params, engine="radsurv")
    mine = roi.extract_features(image, masks, parameters, engine="radsurv")
    ref = roi.extract_features(image, masks, parameters, engine="pyradiomics")
    unsegmented = roi.extract_features(image, masks, roi.make_extractor(SETTINGS["quick"]), engine="radsurv")
    assert mine["GTV"]["original_firstorder_Minimum"] != unsegmented["GTV"]["original_firstorder_Minimum"] or \
        mine["GTV"]["original_firstorder_Maximum"] != unsegmented["GTV"]["original_firstorder_Maximum"]
    worst = worst_error(mine, ref)
    assert worst[0] <= REL, worst


def test_unsupported_settings_are_named_before_any_stage(tmp_path):
    """A setting, image type or feature class RadSurv's engine lacks: one InputError naming each,
    from ``score_case`` before its first stage (no output folder made)."""
    from RadSurvLib.errors import InputError
    from RadSurvLib.options import ScoreOptions
    from RadSurvLib.pipeline import score_case

    params = tmp_path / "other.yaml"
    params.write_text("imageType:\n  Original: {}\n  Gradient: {}\n  Wavelet: {}\nfeatureClass:\n  shape2D:\n"
                      "  glcm:\nsetting:\n  resampledPixelSpacing: [2, 2, 2]\n  distances: [1, 2]\n  force2D: true\n")
    events = []
    with pytest.raises(InputError, match="not supported by RadSurv's engine") as caught:
        score_case(PAT1_CT, PAT1_GTV, tmp_path / "out", ScoreOptions(params_file=str(params)),
                   progress=events.append)
    for what in ("resampledPixelSpacing", "distances", "imageType Gradient", "featureClass shape2D",
                 "force2D with imageType Wavelet"):
        assert what in str(caught.value)
    assert events == [] and not (tmp_path / "out").exists()
