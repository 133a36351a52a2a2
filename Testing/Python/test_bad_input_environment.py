"""Bad input, the computer's part (issue 22): what the system refuses is named as such, before the
first stage where it can be known, with the fix; "internal error" is kept for RadSurv's own bugs.

A full disk (simulated where the run writes: an ``OSError`` ENOSPC, or SimpleITK's ``RuntimeError``
on a disk with no space left), a read-only disk, an input deleted while the run uses it, a cases CSV
saved as cp1252, a cases CSV's columns (case-insensitive, BOM, CRLF; a missing column named once),
parameter-file values (``binWidth: 0``) and a CUDA device on a computer without one; through
``radsurv``, the worker, the cohort's results.csv and the module's messages (``control.logic.guiMessage``).
"""

from __future__ import annotations

import errno
import shutil
from collections import namedtuple

import pytest
from conftest import PAT1_CT, PAT1_GTV, run_worker_job
from test_bad_input_frontends import _refused, small_case  # noqa: F401  (fixture)

from RadSurvLib import batch
from RadSurvLib.errors import OptionError, translate




# --------------------------------------------------------------------------------------------
# A full disk, a read-only disk
# --------------------------------------------------------------------------------------------

def test_a_full_disk_while_writing_is_named_with_the_fix(tmp_path, monkeypatch):
    from RadSurvLib.io import images

    out = tmp_path / "out"

    def full(image, path, compress=True):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(images, "write_image", full)
    monkeypatch.setattr("RadSurvLib.radiomics.voxelmaps.compute_voxel_maps",
                        lambda ct, roi, names, **kwargs: {"firstorder_Mean": ct})
    _, err = _refused(["voxelmaps", "--ct", PAT1_CT, "--gtv", PAT1_GTV, "--out", out, "--quiet",
                       "--features", "firstorder_Mean"],
                      f"--out: the disk holding {out} is full; free some space there")
    assert "internal error" not in err and not out.exists()  # the run's own folder removed again


def test_simpleitks_write_error_on_a_full_disk_is_a_full_disk(tmp_path, monkeypatch):
    """SimpleITK reports a failed write as a RuntimeError without errno: with no space left on the
    output folder's disk it is the full disk, not a bug."""
    from RadSurvLib.io import images

    def refused(image, path, compress=True):
        raise RuntimeError("Exception thrown in SimpleITK ImageFileWriter_Execute: Could not write file")

    Usage = namedtuple("Usage", "total used free")
    monkeypatch.setattr(images, "write_image", refused)
    monkeypatch.setattr("RadSurvLib.radiomics.voxelmaps.compute_voxel_maps",
                        lambda ct, roi, names, **kwargs: {"firstorder_Mean": ct})
    monkeypatch.setattr(shutil, "disk_usage", lambda path: Usage(1 << 30, 1 << 30, 0))
    out = tmp_path / "out"
    _refused(["voxelmaps", "--ct", PAT1_CT, "--gtv", PAT1_GTV, "--out", out, "--quiet",
              "--features", "firstorder_Mean"], f"--out: the disk holding {out} is full")


def test_the_worker_and_the_module_name_a_full_disk_in_their_terms(tmp_path, monkeypatch):
    from RadSurvLib import preprocessing
    from RadSurvLib.errors import environment_failure

    out = tmp_path / "out"

    def full(*args, **kwargs):
        (staging,) = out.glob(".radsurv-partial-*")
        raise OSError(errno.ENOSPC, "No space left on device", str(staging / "rings.nrrd"))

    monkeypatch.setattr(preprocessing, "validate_inputs", full)
    code, message = run_worker_job({"ct": str(PAT1_CT), "gtv": str(PAT1_GTV), "out_dir": str(out), "device": "cpu"})
    assert code == 2 and message["kind"] == "input", message
    assert message["message"].startswith("out_dir: the disk holding ") and "free some space" in message["message"]
    failure = environment_failure(OSError(errno.ENOSPC, "No space left on device", str(out / "x")), "out_dir")
    assert translate(failure, "gui").startswith("Output folder: the disk holding")


def test_a_read_only_disk_and_a_missing_permission_are_named(tmp_path):
    from RadSurvLib.errors import user_message

    read_only = user_message(OSError(errno.EROFS, "Read-only file system", "/mnt/cd/out"), "cli")
    assert read_only == "/mnt/cd/out is on a read-only disk; choose a folder you can write to."
    denied = user_message(PermissionError(errno.EACCES, "Permission denied", "/data/ct.nrrd"), "cli")
    assert denied.startswith("Permission denied for /data/ct.nrrd; choose a file or folder you can read")
    assert user_message(ZeroDivisionError("a bug"), "cli") is None  # a bug stays a bug


# --------------------------------------------------------------------------------------------
# An input that vanished during the run
# --------------------------------------------------------------------------------------------

def test_an_input_deleted_during_the_run_is_named(tmp_path, monkeypatch, small_case):
    from RadSurvLib import preprocessing

    ct, gtv = small_case
    moved = tmp_path / "ct.nrrd"
    shutil.copy(ct, moved)
    real = preprocessing.validate_inputs

    def deleted_meanwhile(*args, **kwargs):
        real(*args, **kwargs)
        moved.unlink()  # someone deletes the CT while the run uses it
        return open(moved, "rb")

    monkeypatch.setattr(preprocessing, "validate_inputs", deleted_meanwhile)
    _, err = _refused(["score", "--ct", moved, "--gtv", gtv, "--out", tmp_path / "out", "--device", "cpu"],
                      f"{moved} is gone (moved or deleted while RadSurv was using it); put it back")
    assert "internal error" not in err and not (tmp_path / "out").exists()


# --------------------------------------------------------------------------------------------
# The cases CSV
# --------------------------------------------------------------------------------------------

def test_a_cp1252_cases_csv_is_refused_naming_the_line(tmp_path):
    cases = tmp_path / "cases.csv"
    cases.write_bytes(f"case_id,ct,gtv\nPAT1,{PAT1_CT},{PAT1_GTV}\nPatiënt2,{PAT1_CT},{PAT1_GTV}\n".encode("cp1252"))
    out = tmp_path / "cohort"
    _refused(["batch", "--cases", cases, "--out", out, "--device", "cpu"],
             f"--cases: {cases} is not UTF-8 text (byte 0xeb on line 3); save it as UTF-8")
    assert not out.exists()


def test_cases_csv_columns_in_any_case_with_bom_and_crlf(tmp_path):
    cases = tmp_path / "cases.csv"
    cases.write_bytes(b"\xef\xbb\xbfCase_ID,CT,GTV,OS_months\r\nA,a.nrrd,a_gtv.nrrd,12\r\n\r\n"
                      b"B,b.nrrd,b_gtv.nrrd,30\r\n")
    (a, b) = batch.read_cases(cases)
    assert (a.case_id, a.ct, a.gtv, a.extra) == ("A", str(tmp_path / "a.nrrd"), str(tmp_path / "a_gtv.nrrd"),
                                                  {"OS_months": "12"})
    assert (b.case_id, b.gtv) == ("B", str(tmp_path / "b_gtv.nrrd"))


@pytest.mark.parametrize("text, message", [
    ("case_id,ct\nA,a.nrrd\nB,b.nrrd\n", "has no gtv (or rtstruct + roi, or seg) column"),
    ("image,mask\na,b\n", "has no ct and no gtv (or rtstruct + roi, or seg) column"),
    ("ct,CT,gtv\na,b,c\n", "has the column ct twice"),
    ("case_id,ct,gtv\nA,a.nrrd,a_gtv.nrrd\n\nB,,b_gtv.nrrd\n", "line 4 has no CT"),
    ("case_id,ct,gtv\nA,a.nrrd,a_gtv.nrrd\nB,b.nrrd,\n", "line 3 has no GTV"),
])
def test_a_cases_csv_problem_is_named_once_before_any_case(tmp_path, text, message):
    cases = tmp_path / "cases.csv"
    cases.write_text(text)
    out = tmp_path / "cohort"
    _refused(["batch", "--cases", cases, "--out", out, "--device", "cpu"], "--cases: ", message)
    assert not out.exists()


# --------------------------------------------------------------------------------------------
# Parameter-file values and the device, before the first stage
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("setting, message", [
    ("binWidth: 0", "setting binWidth: 0 is not valid; give a number greater than 0, e.g. binWidth: 25"),
    ("binWidth: -25", "setting binWidth: -25 is not valid"),
    ("binWidth: wide", "setting binWidth: 'wide' is not valid"),
    ("binCount: 2.5", "setting binCount: 2.5 is not valid; give a whole number greater than 0"),
    ("binwidth: 25", "setting binwidth: not a PyRadiomics setting; did you mean binWidth?"),
])
def test_parameter_file_values_are_refused_before_any_stage(tmp_path, setting, message):
    params = tmp_path / "params.yaml"
    params.write_text(f"imageType:\n  Original: {{}}\nfeatureClass:\n  firstorder:\nsetting:\n  {setting}\n")
    out = tmp_path / "out"
    for engine in ("radsurv", "pyradiomics"):
        stdout, _ = _refused(["score", "--ct", PAT1_CT, "--gtv", PAT1_GTV, "--out", out, "--params-file", params,
                              "--radiomics-engine", engine, "--device", "cpu"], f"{params}: ", message)
        assert stdout == "" and not out.exists()


def test_cuda_without_a_gpu_is_refused_before_any_stage(tmp_path):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this computer has a CUDA GPU")
    out = tmp_path / "out"
    missing = tmp_path / "missing.nrrd"  # read in the validate stage: the device must come first
    for argv in (["score", "--ct", missing, "--gtv", missing, "--out", out, "--device", "cuda"],
                 ["voxelmaps", "--ct", missing, "--gtv", missing, "--out", out, "--device", "cuda", "--quiet"]):
        stdout, _ = _refused(argv, "--device: cuda was requested but no CUDA GPU is available")
        assert stdout == "" and not out.exists()
    cases = tmp_path / "cases.csv"
    cases.write_text(f"case_id,ct,gtv\nPAT1,{PAT1_CT},{PAT1_GTV}\n")
    _refused(["batch", "--cases", cases, "--out", out, "--device", "cuda"], "--device: cuda was requested")
    assert not out.exists()  # no case ran, no results.csv


def test_environment_failure_in_library_and_front_end_terms():
    from RadSurvLib.errors import EnvironmentFailure, environment_failure

    failure = environment_failure(OSError(errno.ENOSPC, "No space left on device", "/out/x.nrrd"), "out_dir")
    assert isinstance(failure, OptionError)
    assert translate(failure, "cli") == ("--out: the disk holding /out/x.nrrd is full; free some space there (or "
                                         "choose a folder on another disk), then run again.")
    assert isinstance(environment_failure(FileNotFoundError(errno.ENOENT, "gone", "/ct.nrrd")), EnvironmentFailure)


def test_a_full_disk_under_results_csv_is_named(tmp_path, monkeypatch):
    """``os.write`` names no file: the cohort's results.csv row names the folder and the fix."""
    import os

    from RadSurvLib.options import ScoreOptions

    def full(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    cohort = tmp_path / "cohort"
    monkeypatch.setattr(os, "write", full)
    with pytest.raises(OptionError) as caught:
        batch.process_cohort([("PAT1", str(PAT1_CT), str(PAT1_GTV))], cohort, scorer=lambda job: {"risk_score": 1.0},
                             options=ScoreOptions(features_only=True))
    assert translate(caught.value, "cli").startswith(f"--out: the disk holding {cohort / 'results.csv'} is full")


@pytest.mark.slicer
def test_the_module_names_a_full_temporary_disk(monkeypatch):
    """The module exports the scene's CT and GTV to a temporary job folder first: a full disk there
    is one sentence in the module's message, not a traceback."""
    pytest.importorskip("slicer", reason="needs the slicer-core wheel")
    from test_slicer_task import make_case_scene

    from RadSurvLib.control import logic as sl
    from RadSurvLib.control import task

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", "/tmp/RadSurv-job-1/inputs/ct.nrrd")

    monkeypatch.setattr(task, "export_case", full)
    scene, ct, seg, gtv_id, _ = make_case_scene()
    with pytest.raises(Exception) as caught:
        sl.ScoringLogic().startScoring(ct, seg, gtv_id, pythonCommand=["python"])
    assert sl.guiMessage(caught.value).startswith("The disk holding /tmp/RadSurv-job-1/inputs/ct.nrrd is full; "
                                                  "free some space there")
