"""Cohort manifest validation (line numbers, skip vs stop), the preprocessing cache, the synthetic cohort."""

import csv

import numpy as np
import pytest

from conftest import PAT1_CT, PAT1_GTV


def write_csv(path, rows, header=("case_id", "ct", "gtv", "time_days", "event")):
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture()
def bad_manifest(tmp_path):
    (tmp_path / "img").mkdir()
    for name in ("a_ct.nii.gz", "a_gtv.nii.gz"):
        (tmp_path / "img" / name).write_bytes(b"x")
    good = ["img/a_ct.nii.gz", "img/a_gtv.nii.gz"]
    rows = [
        ["ok1", *good, "100", "1"],          # line 2
        ["missing", "img/nope.nii.gz", good[1], "100", "1"],  # line 3: missing file
        ["negative", *good, "-5", "0"],      # line 4: negative time
        ["event2", *good, "100", "2"],       # line 5: event not 0/1
        ["nan", *good, "nan", "1"],          # line 6: NaN time
        ["zero", *good, "0", "1"],           # line 7: zero time
        ["ok1", *good, "50", "0"],           # line 8: duplicate id
        ["ok2", *good, "200.5", "0"],        # line 9
    ]
    return write_csv(tmp_path / "m.csv", rows)


def test_bad_rows_are_reported_with_line_numbers_and_skipped(bad_manifest):
    from RadSurvLib.training.manifest import read_manifest

    messages = []
    manifest = read_manifest(bad_manifest, on_bad_row="skip", log=messages.append)
    assert [c.case_id for c in manifest.cases] == ["ok1", "ok2"]
    assert [c.line for c in manifest.cases] == [2, 9]
    assert [line for line, _ in manifest.problems] == [3, 4, 5, 6, 7, 8]
    problems = dict(manifest.problems)
    assert "not found" in problems[3] and "positive" in problems[4] and "0 (censored) or 1" in problems[5]
    assert "positive" in problems[6] and "positive" in problems[7] and "twice" in problems[8]
    assert all(f"line {n}:" in m and m.endswith("(skipped)") for n, m in zip(range(3, 9), messages))
    case = manifest.cases[1]
    assert case.ct.is_absolute() and case.ct.name == "a_ct.nii.gz"  # resolved against the CSV's folder
    assert case.time_days == 200.5 and case.event == 0


def test_stop_raises_at_the_first_bad_row(bad_manifest):
    from RadSurvLib.errors import InputError
    from RadSurvLib.training.manifest import read_manifest

    with pytest.raises(InputError, match=r"line 3: ct file not found.*on_bad_row skip"):  # the library names the parameter
        read_manifest(bad_manifest, on_bad_row="stop")


def test_manifest_header_and_endpoint_checks(tmp_path):
    from RadSurvLib.errors import InputError
    from RadSurvLib.training.manifest import read_manifest

    with pytest.raises(InputError, match="missing column"):
        read_manifest(write_csv(tmp_path / "h.csv", [], header=("case_id", "ct", "time_days", "event")))
    with pytest.raises(InputError, match="not found"):
        read_manifest(tmp_path / "absent.csv")
    rows = [["a", str(PAT1_CT), str(PAT1_GTV), "10", "1", "1", "61"],
            ["b", str(PAT1_CT), str(PAT1_GTV), "10", "0", "yes", "70"]]
    path = write_csv(tmp_path / "e.csv", rows, header=("case_id", "ct", "gtv", "time_days", "event", "endpoint", "age"))
    manifest = read_manifest(path, on_bad_row="skip")
    assert [c.endpoint for c in manifest.cases] == [1] and manifest.cases[0].extra == {"age": "61"}
    assert manifest.problems[0][0] == 3 and "endpoint" in manifest.problems[0][1]
    with pytest.raises(InputError, match="no valid case"):
        read_manifest(write_csv(tmp_path / "n.csv", [["x", "a", "b", "1", "1"]]), on_bad_row="skip")


@pytest.fixture(scope="module")
def tiny_cohort(tmp_path_factory):
    """Three synthetic cases (real PAT1 CT background) written by the cohort generator."""
    from RadSurvLib.training.synthetic_cohort import write_cohort

    folder = tmp_path_factory.mktemp("cohort")
    info = write_cohort(folder, 3, seed=4)
    return folder, info


def test_synthetic_cohort_files_and_truth(tiny_cohort):
    import pandas as pd
    import SimpleITK as sitk

    from RadSurvLib.training.synthetic_cohort import SOURCE, TARGET, log_hazard
    from RadSurvLib.training.manifest import read_manifest

    folder, info = tiny_cohort
    manifest = read_manifest(info["manifest"])
    truth = pd.read_csv(info["truth"])
    assert len(manifest.cases) == 3 and list(truth["case_id"]) == [c.case_id for c in manifest.cases]
    for case, row in zip(manifest.cases, truth.itertuples()):
        gtv = sitk.GetArrayFromImage(sitk.ReadImage(str(case.gtv)))
        assert gtv.sum() > 0 and sitk.ReadImage(str(case.ct)).GetSpacing() == pytest.approx((1, 1, 1), abs=1e-6)
        assert row.log_hazard == pytest.approx(log_hazard(SOURCE, row.size_mm, row.heterogeneity, row.necrosis))
        assert case.time_days == pytest.approx(row.time_days) and case.event == row.event
        # size drives the hazard: the GTV volume follows the latent mean semi-axis (ellipsoid, axes 0.8-1.2 x size)
        assert 4 / 3 * np.pi * (0.8 * row.size_mm) ** 3 * 0.9 < gtv.sum() < 4 / 3 * np.pi * (1.2 * row.size_mm) ** 3
    # the shifted target cohort weighs the latent variables differently
    assert log_hazard(TARGET, 25.0, 0.5, 0.3) != log_hazard(SOURCE, 25.0, 0.5, 0.3)


def test_cache_hit_does_not_recompute(tiny_cohort, tmp_path):
    from RadSurvLib.models.registry import SPECS
    from RadSurvLib.training.cache import CaseCache, build_case_arrays, load_training_set
    from RadSurvLib.training.manifest import read_manifest

    calls = []

    def counting_builder(*args):
        calls.append(args[0])
        return build_case_arrays(*args)

    _, info = tiny_cohort
    cases = read_manifest(info["manifest"]).cases
    settings = SPECS["SEResNet3D"].preprocessing
    first = CaseCache(tmp_path / "cache", "ct3d", settings, builder=counting_builder)
    data1 = load_training_set(cases, first)
    assert len(calls) == 3 and (first.hits, first.misses) == (0, 3)
    assert tuple(data1.x.shape) == (3, 1, 64, 64, 64) and float(data1.x.min()) >= -1000.0  # clipped HU
    second = CaseCache(tmp_path / "cache", "ct3d", settings, builder=counting_builder)  # e.g. a rerun
    data2 = load_training_set(cases, second)
    assert len(calls) == 3 and (second.hits, second.misses) == (3, 0)  # nothing recomputed
    assert np.array_equal(data1.x.numpy(), data2.x.numpy())
    other = CaseCache(tmp_path / "cache", "ct3d", {**settings, "margin_mm": 2.0}, builder=counting_builder)
    load_training_set(cases[:1], other)  # other settings -> other key -> recomputed
    assert len(calls) == 4 and other.misses == 1


def test_a_case_stored_in_another_axis_order_gives_the_same_training_input(tmp_path):
    """PAT1 with its axes permuted and two of them reversed (the same patient as another scanner or
    converter stores it) gives the training input of PAT1 as stored, as scoring does (canonical
    orientation), so that a model trains on what it will be given."""
    import SimpleITK as sitk
    from conftest import stored

    from RadSurvLib.models.registry import SPECS
    from RadSurvLib.training.cache import build_case_arrays

    ct, gtv = sitk.ReadImage(str(PAT1_CT)), sitk.ReadImage(str(PAT1_GTV))
    order, flips = (2, 0, 1), (True, False, True)
    sitk.WriteImage(stored(ct, order, flips), str(tmp_path / "ct.nrrd"))
    sitk.WriteImage(stored(gtv, order, flips), str(tmp_path / "gtv.nrrd"))
    settings = SPECS["SEResNet3D"].preprocessing
    reference = build_case_arrays(PAT1_CT, PAT1_GTV, "ct3d", settings)["x"]
    other = build_case_arrays(tmp_path / "ct.nrrd", tmp_path / "gtv.nrrd", "ct3d", settings)["x"]
    assert reference.shape == other.shape == (1, 64, 64, 64)
    assert reference.std() > 100  # a real CT crop, not a constant
    np.testing.assert_allclose(other, reference, rtol=0, atol=1e-3)
