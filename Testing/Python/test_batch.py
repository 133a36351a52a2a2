"""Batch scoring (RadSurvLib.batch, behind ``RadSurvLogic().processCohort``) over real cases.

Cases: PyRadiomics' lung1 and lung2 (NRRD), PAT1 from DICOM (CT series + RTSTRUCT; PAT1 from
NIfTI goes through the worker in test_worker.py) and one broken case (lung1's CT with lung2's mask: another grid). Each case runs in a real worker
process (``python -m RadSurvLib.worker`` in this interpreter), as in Slicer. The job is the light
one of test_worker.py (rings 3 mm, first-order features, one voxel map) to keep CI time.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from RadSurvLib import batch as cohort
from RadSurvLib.errors import InputError
from RadSurvLib.options import ScoreOptions
from RadSurvLib.worker.client import current_python_command

DATA = Path(__file__).resolve().parents[1] / "Data"
PAT1 = DATA.parents[1] / "RadSurvLib" / "resources" / "PAT1"
LUNG = DATA / "PyRadiomics_baseline"
LIGHT = ScoreOptions(rings_mm=[3], device="cpu", voxel_map_features=["firstorder_Mean"],
                     params_file=str(Path(__file__).resolve().parents[1] / "Parameters" / "FirstOrder_PyRadiomics.yaml"))


def rows_of(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_batch_with_a_broken_case_then_resume(tmp_path):
    cases_csv = tmp_path / "cases.csv"
    # relative paths are relative to the CSV's folder
    (tmp_path / "data").symlink_to(DATA)
    with open(cases_csv, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["case_id", "ct", "gtv"])
        writer.writerow(["lung1", "data/PyRadiomics_baseline/lung1_image.nrrd", "data/PyRadiomics_baseline/lung1_label.nrrd"])
        writer.writerow(["broken", str(LUNG / "lung1_image.nrrd"), str(LUNG / "lung2_label.nrrd")])
    out = tmp_path / "cohort"
    seen = []
    scorer = cohort.worker_scorer(current_python_command(), timeout_s=900)

    first = cohort.process_cohort(cases_csv, out, scorer=scorer, options=LIGHT,
                                  progress=lambda event: seen.append((event.case_id, event.stage)))

    assert first["done"] == ["lung1"] and first["failed"] == ["broken"]
    assert seen == [("lung1", "started"), ("lung1", "done"), ("broken", "started"), ("broken", "failed")]
    rows = rows_of(out / "results.csv")
    assert [(r["case_id"], r["status"]) for r in rows] == [("lung1", "done"), ("broken", "failed")]
    lung1 = json.loads((out / "cases" / "lung1" / "result.json").read_text())
    assert float(rows[0]["risk_score"]) == lung1["risk_score"] and rows[0]["risk_group"] == lung1["risk_group"]
    assert "grid" in rows[1]["error"]
    assert (out / "cases" / "broken" / "error.log").is_file()
    assert not (out / "cases" / "broken" / "result.json").exists()

    # Resume with the cohort grown by PAT1 (NIfTI), lung2 and PAT1 from DICOM: lung1 is skipped
    # (not re-scored: its result.json is untouched), the broken case is tried again and fails again.
    mtime = (out / "cases" / "lung1" / "result.json").stat().st_mtime_ns
    more = [{"case_id": "lung1", "ct": str(LUNG / "lung1_image.nrrd"), "gtv": str(LUNG / "lung1_label.nrrd")},
            ("broken", str(LUNG / "lung1_image.nrrd"), str(LUNG / "lung2_label.nrrd")),
            (str(LUNG / "lung2_image.nrrd"), str(LUNG / "lung2_label.nrrd")),
            {"case_id": "PAT1_dicom", "ct": str(PAT1 / "dicom" / "image"),
             "rtstruct": str(next((PAT1 / "dicom" / "mask").glob("*.dcm"))), "roi": "GTV-1"}]
    second = cohort.process_cohort(more, out, scorer=scorer, options=LIGHT)

    assert second["skipped"] == ["lung1"] and second["failed"] == ["broken"]
    assert second["done"] == ["lung2_image", "PAT1_dicom"]  # a tuple's case ID: the CT's file name
    assert (out / "cases" / "lung1" / "result.json").stat().st_mtime_ns == mtime
    rows = rows_of(out / "results.csv")
    assert [r["case_id"] for r in rows] == ["lung1", "broken", "broken", "lung2_image", "PAT1_dicom"]
    last = second["rows"]
    risks = {case_id: float(last[case_id]["risk_score"]) for case_id in ("lung1", "lung2_image", "PAT1_dicom")}
    print(f"\nbatch risk scores: {risks}, seconds: {[(r['case_id'], r['seconds']) for r in rows]}")
    for case_id, risk in risks.items():
        result = json.loads((out / "cases" / case_id / "result.json").read_text())
        assert result["risk_score"] == risk and -1 < risk < 1
        assert result["features"]["params_file"] == Path(LIGHT.params_file).name
    # PAT1 from DICOM: the RTSTRUCT's GTV is PAT1's 125,256-voxel mask
    pat1 = json.loads((out / "cases" / "PAT1_dicom" / "result.json").read_text())
    assert pat1["gtv"]["volume_mm3_input"] == pytest.approx(125_256 * 0.977 ** 2 * 3.0, rel=1e-4)
    assert len({round(r, 6) for r in risks.values()}) == 3  # different tumours, different scores

    # A third call finds everything finished except the broken case.
    third = cohort.process_cohort(more, out, scorer=scorer, options=LIGHT)
    assert third["skipped"] == ["lung1", "lung2_image", "PAT1_dicom"] and third["failed"] == ["broken"]


def test_finished_but_unrecorded_case_is_recorded_not_rescored(tmp_path):
    """A stop between a case's result.json and its results.csv row: the next run records it."""
    out = tmp_path / "cohort"
    case_dir = out / "cases" / "lung1"
    case_dir.mkdir(parents=True)
    from RadSurvLib.models.bundle import default_bundle_path, load_bundle
    from RadSurvLib.options import ScoreOptions

    weights = load_bundle(default_bundle_path()).config["weights"]["sha256"]
    (case_dir / "result.json").write_text(json.dumps(  # as score_case writes it: with its options and weights
        {"risk_score": 0.25, "risk_group": "high", "options": ScoreOptions().result_key_fields(),
         "model": {"name": "m", "version": "1", "weights_sha256": weights}}, default=str))

    def must_not_run(job):
        raise AssertionError("scored again")

    summary = cohort.process_cohort([("lung1", str(LUNG / "lung1_image.nrrd"), str(LUNG / "lung1_label.nrrd"))],
                                    out, scorer=must_not_run)
    assert summary["skipped"] == ["lung1"]
    assert summary["rows"]["lung1"]["risk_score"] == "0.25" and summary["rows"]["lung1"]["status"] == "done"


def test_bad_case_lists(tmp_path):
    with pytest.raises(InputError, match="not a file"):
        cohort.read_cases(tmp_path / "nope.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("image,mask\na,b\n")
    with pytest.raises(InputError, match="has no ct and no gtv .* column"):
        cohort.read_cases(bad)
    with pytest.raises(InputError, match="both have case_id 'x'"):
        cohort.read_cases([("x", "a.nrrd", "b.nrrd"), ("x", "c.nrrd", "d.nrrd")])
    with pytest.raises(InputError, match="entry 1"):
        cohort.read_cases(["just-a-path.nrrd"])
    with pytest.raises(InputError, match="ScoreOptions"):
        cohort.process_cohort([("a.nrrd", "b.nrrd")], tmp_path / "o", options={"out_dir": "x"})
    with pytest.raises(InputError, match="scene_path: .*file name only"):
        cohort.process_cohort([("a.nrrd", "b.nrrd")], tmp_path / "o", options=ScoreOptions(scene_path="/x/s.mrb"))
    cases = cohort.read_cases([("dir/CT_01.nii.gz", "dir/GTV_01.nii.gz"), {"ct": "x/ct 2.nrrd", "gtv": "g"}])
    assert [c.case_id for c in cases] == ["CT_01", "ct_2"]


def test_missing_file_fails_that_case_only(tmp_path):
    """In-process scorer: a missing CT is that case's error; the next case still runs (stub)."""
    calls = []

    def scorer(job):
        calls.append(job["ct"])
        if not Path(job["ct"]).exists():
            raise InputError(f"ct: file not found: {job['ct']}")
        return {"risk_score": 0.1, "risk_group": "low", "model": {}}

    summary = cohort.process_cohort([("a", str(tmp_path / "missing.nrrd"), "g"),
                                     ("b", str(LUNG / "lung1_image.nrrd"), str(LUNG / "lung1_label.nrrd"))],
                                    tmp_path / "o", scorer=scorer)
    assert summary["failed"] == ["a"] and summary["done"] == ["b"] and len(calls) == 2
    assert "file not found" in summary["rows"]["a"]["error"]


def test_radsurv_batch_command(tmp_path, capsys):
    """``radsurv batch``: a CSV with a broken case -> its row, exit status 1; a bad CSV -> status 2."""
    from RadSurvLib.cli import main

    cases = tmp_path / "cases.csv"
    cases.write_text(f"case_id,ct,gtv\nbroken,{LUNG / 'lung1_image.nrrd'},{LUNG / 'lung2_label.nrrd'}\n")
    assert main(["batch", "--cases", str(cases), "--out", str(tmp_path / "out"), "--device", "cpu"]) == 1
    assert "[1/1] broken: failed" in capsys.readouterr().out
    assert rows_of(tmp_path / "out" / "results.csv")[0]["status"] == "failed"
    assert main(["batch", "--cases", str(tmp_path / "none.csv"), "--out", str(tmp_path / "o2")]) == 2
