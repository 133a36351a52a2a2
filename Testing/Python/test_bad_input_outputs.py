"""Bad input, output folders (issue 22): nothing clobbers what a folder holds.

One run at a time per folder (a lock naming the other run; a killed run's lock taken over), a folder
holding the user's files refused without --overwrite, --overwrite replacing the whole set of the
earlier run's files (no stale voxel map or heatmap) while the user's files stay, and the scene path
checked before the first stage; through ``radsurv score`` / ``voxelmaps`` / ``batch``, the worker and
the module logic (control/). Most runs are refused before they read an image (a missing CT would be
the error otherwise), so they take a second; one features-only run of the small case (PAT1 cropped)
shows --overwrite end to end.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import PAT1_CT, PAT1_GTV, REPO, InProcessWorkerRunner, run_worker_job
from test_bad_input_frontends import QUICK, _checksums, _cli, _env, _refused, small_case  # noqa: F401  (fixture)

from RadSurvLib.outputs import folder

PYTHON = sys.executable

#: Holds ``run_lock`` on argv[1] until killed (a live run of another process).
_HOLDER = ("import sys, time\nfrom RadSurvLib.outputs.folder import run_lock\n"
           "with run_lock(sys.argv[1]):\n    print('locked', flush=True)\n    time.sleep(300)\n")


@contextlib.contextmanager
def _held_by_another_process(out):
    """``out`` (created) locked by a live subprocess; yields its pid."""
    out.mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen([PYTHON, "-c", _HOLDER, str(out)], stdout=subprocess.PIPE, text=True, env=_env(),
                              cwd=str(REPO))
    try:
        assert holder.stdout.readline().strip() == "locked"
        yield holder.pid
    finally:
        holder.kill()
        holder.wait()




def _dead_pid() -> int:
    dead = subprocess.Popen([PYTHON, "-c", "pass"])
    dead.wait()
    return dead.pid


# --------------------------------------------------------------------------------------------
# One run at a time
# --------------------------------------------------------------------------------------------

def test_a_second_run_into_a_busy_folder_is_refused_naming_the_other(tmp_path):
    out = tmp_path / "out"
    missing = tmp_path / "missing.nrrd"  # were the folder free, the CT would be the error
    with _held_by_another_process(out) as pid:
        for argv in (["score", "--ct", missing, "--gtv", missing, "--out", out],
                     ["voxelmaps", "--ct", missing, "--gtv", missing, "--out", out, "--quiet"]):
            stdout, _ = _refused(argv, f"--out: {out} is in use by another RadSurv run (process {pid} on "
                                       f"{socket.gethostname()}, started ", "wait until it ends")
            assert "validate" not in stdout and "voxel maps:" not in stdout
        code, message = run_worker_job({"ct": str(missing), "gtv": str(missing), "out_dir": str(out)})
        assert code == 2 and message["kind"] == "input"
        assert message["message"].startswith(f"out_dir: {out} is in use by another RadSurv run (process {pid}")
    assert [p.name for p in out.iterdir()] == [folder.LOCK_FILE]  # the killed holder's; the refused runs left nothing


def test_two_batches_into_one_folder(tmp_path):
    cohort = tmp_path / "cohort"
    cases = tmp_path / "cases.csv"
    cases.write_text(f"case_id,ct,gtv\nPAT1,{PAT1_CT},{PAT1_GTV}\n")
    with _held_by_another_process(cohort) as pid:
        _refused(["batch", "--cases", cases, "--out", cohort, "--device", "cpu"],
                 f"--out: {cohort} is in use by another RadSurv run (process {pid}")
    assert not (cohort / "results.csv").exists()


def test_a_killed_runs_lock_is_taken_over(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    lock = out / folder.LOCK_FILE
    lock.write_text(json.dumps({"pid": _dead_pid(), "host": socket.gethostname(), "started": "yesterday"}))
    _refused(["score", "--ct", tmp_path / "missing.nrrd", "--gtv", PAT1_GTV, "--out", out], "--ct:")
    assert not lock.exists()  # taken over, and released when the run ended
    with folder.run_lock(out) as held:  # free again
        assert json.loads(held.read_text())["pid"] != 0


def test_a_killed_but_unreaped_runs_lock_is_taken_over(tmp_path):
    """A run killed with its parent (a batch's worker under ``kill -9`` of the process group) stays a
    zombie where nothing reaps it (PID 1 of some containers); it answers ``kill(pid, 0)`` but runs
    no more: its lock is taken over."""
    out = tmp_path / "out"
    out.mkdir()
    killed = subprocess.Popen(["sleep", "60"])
    try:
        killed.kill()
        deadline = time.monotonic() + 10
        while not Path(f"/proc/{killed.pid}/stat").read_text().split(")")[-1].strip().startswith("Z"):
            assert time.monotonic() < deadline, "the killed process did not become a zombie"
            time.sleep(0.05)
        lock = out / folder.LOCK_FILE
        lock.write_text(json.dumps({"pid": killed.pid, "host": socket.gethostname(), "started": "now"}))
        _refused(["score", "--ct", tmp_path / "missing.nrrd", "--gtv", PAT1_GTV, "--out", out], "--ct:")
        assert not lock.exists()
    finally:
        killed.wait()


def test_a_lock_of_another_computer_is_not_taken(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / folder.LOCK_FILE).write_text(json.dumps({"pid": 1, "host": "elsewhere", "started": "now"}))
    _refused(["score", "--ct", PAT1_CT, "--gtv", PAT1_GTV, "--out", out],
             "is in use by another RadSurv run (process 1 on elsewhere", f"delete {out / folder.LOCK_FILE}")


# --------------------------------------------------------------------------------------------
# The user's files
# --------------------------------------------------------------------------------------------

def _users_folder(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    for name in ("features.csv", "overview.png", "notes.txt"):
        (out / name).write_text(f"the user's own {name}")
    return out


def test_a_folder_of_the_users_files_is_refused_without_overwrite(tmp_path):
    out = _users_folder(tmp_path)
    before = _checksums(out)
    missing = tmp_path / "missing.nrrd"
    for argv in (["score", "--ct", missing, "--gtv", missing, "--out", out],
                 ["voxelmaps", "--ct", missing, "--gtv", missing, "--out", out, "--quiet"]):
        _refused(argv, f"--out: {out} holds files that RadSurv did not write (features.csv, notes.txt, "
                       "overview.png); they are kept", "--overwrite")
    code, message = run_worker_job({"ct": str(missing), "gtv": str(missing), "out_dir": str(out)})
    assert code == 2 and "holds files that RadSurv did not write" in message["message"]
    assert "[[" not in message["message"] and "overwrite" in message["message"]
    assert _checksums(out) == before


def test_a_cohort_folder_of_the_users_files_is_refused(tmp_path):
    cohort = _users_folder(tmp_path)
    cases = tmp_path / "cases.csv"
    cases.write_text(f"case_id,ct,gtv\nPAT1,{PAT1_CT},{PAT1_GTV}\n")
    before = _checksums(cohort)
    _refused(["batch", "--cases", cases, "--out", cohort, "--device", "cpu"],
             f"--out: {cohort} holds files that RadSurv did not write (features.csv, notes.txt, overview.png)")
    assert _checksums(cohort) == before


@pytest.mark.slicer
def test_module_logic_names_the_output_folder_in_gui_terms(tmp_path):
    pytest.importorskip("slicer", reason="needs the slicer-core wheel")
    from RadSurvLib.control import logic as sl

    logic = sl.ScoringLogic(runner=InProcessWorkerRunner())
    cohort = tmp_path / "cohort"
    with _held_by_another_process(cohort) as pid:
        with pytest.raises(Exception) as caught:
            logic.processCohort([("PAT1", str(PAT1_CT), str(PAT1_GTV))], cohort, pythonCommand=["python"])
    assert sl.guiMessage(caught.value).startswith(f"Output folder: {cohort} is in use by another RadSurv run "
                                                  f"(process {pid}")
    # a case folder with the user's files: that case fails, named, the files kept
    case_dir = tmp_path / "cohort2" / "cases" / "PAT1"
    case_dir.mkdir(parents=True)
    (case_dir / "notes.txt").write_text("mine")
    summary = logic.processCohort([("PAT1", str(PAT1_CT), str(PAT1_GTV))], tmp_path / "cohort2",
                                  pythonCommand=["python"], device="cpu")
    assert summary["failed"] == ["PAT1"]
    assert "holds files that RadSurv did not write (notes.txt)" in summary["rows"]["PAT1"]["error"]
    assert (case_dir / "notes.txt").read_text() == "mine"


def test_overwrite_replaces_the_whole_set_and_keeps_the_users_files(tmp_path, small_case):
    """An earlier full run (its files written here by the test: a result.json listing a heatmap, an
    overview and two voxel maps, and those files) overwritten by a features-only run: nothing of the earlier run is left beside the new result.json;
    the user's notes stay."""
    ct, gtv = small_case
    out = tmp_path / "out"
    out.mkdir()
    earlier = {"rings": "rings.nrrd", "features": "features.csv", "heatmap": "heatmap.nrrd",
               "overview": "overview.png", "voxel_maps": {"firstorder_Mean": "voxelmap_firstorder_Mean.nrrd",
                                                          "glcm_Contrast": "voxelmap_glcm_Contrast.nrrd"}}
    for name in ["rings.nrrd", "features.csv", "heatmap.nrrd", "overview.png", *earlier["voxel_maps"].values()]:
        (out / name).write_bytes(b"earlier run")
    (out / "result.json").write_text(json.dumps({"risk_score": 0.5, "outputs": earlier}))
    (out / "notes.txt").write_text("mine")
    status, _, err = _cli(["score", "--ct", ct, "--gtv", gtv, "--out", out, *QUICK, "--features-only",
                           "--overwrite"])
    assert status == 0, err
    result = json.loads((out / "result.json").read_text())
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["features.csv", "notes.txt", "result.json", "rings.nrrd", "rings_1mm.nrrd"]) == sorted(
        [*result["outputs"].values(), "notes.txt", "result.json"])
    assert (out / "notes.txt").read_text() == "mine" and (out / "rings.nrrd").read_bytes() != b"earlier run"


# --------------------------------------------------------------------------------------------
# The scene path, before the first stage
# --------------------------------------------------------------------------------------------

def test_a_scene_path_not_ending_in_mrb_is_refused_before_any_stage(tmp_path):
    out = tmp_path / "out"
    stdout, _ = _refused(["score", "--ct", PAT1_CT, "--gtv", PAT1_GTV, "--out", out, "--scene", tmp_path / "out.txt"],
                         f"--scene: {tmp_path / 'out.txt'} does not end in .mrb")
    assert stdout == "" and not out.exists()
    code, message = run_worker_job({"ct": str(PAT1_CT), "gtv": str(PAT1_GTV), "out_dir": str(out),
                             "scene_path": str(tmp_path / "out.txt")})
    assert code == 2 and message["message"].startswith("scene_path: ") and not out.exists()


def test_a_scene_in_a_folder_that_cannot_be_written_is_refused_before_any_stage(tmp_path):
    from test_bad_input_frontends import _read_only_folder

    scene = _read_only_folder(tmp_path) / "scene.mrb"
    out = tmp_path / "out"
    stdout, _ = _refused(["score", "--ct", PAT1_CT, "--gtv", PAT1_GTV, "--out", out, "--scene", scene],
                         "--scene: cannot write into")
    assert stdout == "" and not out.exists()
