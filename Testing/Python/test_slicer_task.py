"""The Slicer module's Qt-free logic on real MRML (slicer-core): worker jobs driven into a scene.

- success: the logic exports the CT / GTV of a real PAT1 scene, drives a worker and writes the
  results into the scene (the scripted worker replays the outputs of the real PAT1 pipeline run,
  ``pat1_outputs`` in conftest.py, that the scene tests use too);
- a second run on the same inputs neither duplicates nor overwrites unless asked ("add", "replace");
- cancel kills the worker's whole process tree and leaves the scene (nodes, segments) unchanged;
- a worker crash is reported with its message and log, the scene is unchanged, and the next run
  works;
- the real worker (``python -m RadSurvLib.worker`` in this interpreter) reports input errors.

The real scoring of PAT1 through RadSurv's own environment is in test_worker.py.
"""

from __future__ import annotations

import json
import os
import sys
import textwrap
import time
from pathlib import Path

import pytest

slicer = pytest.importorskip("slicer", reason="needs the slicer-core wheel (pip install slicer-core)")

from RadSurvLib.control import task as sj  # noqa: E402
from RadSurvLib.worker import client as wc  # noqa: E402
from RadSurvLib.errors import InputError  # noqa: E402
from RadSurvLib.options import OptionError, ScoreOptions  # noqa: E402
from RadSurvLib.slicer.write import heatmap_node_name  # noqa: E402
from RadSurvLib.progress import ProgressEvent  # noqa: E402
from test_slicer_write import make_case_scene as make_pat1_scene  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "RadSurvLib" / "resources" / "PAT1"


def make_case_scene():
    """A scene with the PAT1 CT and a segmentation holding the segment 'GTV', as a user has it, plus the
    subject hierarchy node that Slicer always has (test_slicer_write's scene, resolved)."""
    scene, ct, seg, gtv_id, logic = make_pat1_scene()
    slicer.vtkMRMLSubjectHierarchyNode.ResolveSubjectHierarchy(scene)
    return scene, ct, seg, gtv_id, logic


def scene_state(scene, seg):
    """Names and classes of every node and the segment names: what 'unchanged' compares."""
    nodes = sorted((scene.GetNthNode(i).GetClassName(), scene.GetNthNode(i).GetName() or "")
                   for i in range(scene.GetNumberOfNodes()))
    segmentation = seg.GetSegmentation()
    return nodes, [segmentation.GetNthSegment(i).GetName() for i in range(segmentation.GetNumberOfSegments())]


FAKE_WORKER = textwrap.dedent('''
    """Scripted stand-in for ``python -m RadSurvLib.worker JOB``: behaviour from $FAKE_MODE."""
    import json, os, shutil, subprocess, sys, time
    job = json.load(open(sys.argv[-1]))
    mode = os.environ["FAKE_MODE"]
    def send(**m):
        sys.stdout.write(json.dumps(m) + "\\n"); sys.stdout.flush()
    send(type="started", pid=os.getpid())
    # the exported inputs must be there, as NRRD
    assert job["ct"].endswith(".nrrd") and os.path.isfile(job["ct"]) and os.path.isfile(job["gtv"])
    send(type="progress", stage="validate", fraction=0.0, message="reading")
    if mode == "success":
        os.makedirs(job["out_dir"], exist_ok=True)
        for name in os.listdir(os.environ["FAKE_OUTPUTS"]):
            shutil.copy(os.path.join(os.environ["FAKE_OUTPUTS"], name), job["out_dir"])
        send(type="progress", stage="features", fraction=0.5, message="PyRadiomics")
        result = json.load(open(os.path.join(job["out_dir"], "result.json")))
        send(type="result", out_dir=job["out_dir"], result=result)
    elif mode == "crash":
        sys.stderr.write("Traceback (most recent call last):\\n  boom in voxel maps\\nMemoryError\\n")
        sys.stderr.flush()
        os._exit(3)
    elif mode == "hang":
        # a child process, as PyTorch / PyRadiomics helpers would be; its pid for the test
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        open(os.environ["FAKE_PIDS"], "w").write(f"{os.getpid()} {child.pid}")
        os.makedirs(os.path.join(job["out_dir"], ".radsurv-partial-x"), exist_ok=True)
        send(type="progress", stage="features", fraction=0.3, message="PyRadiomics")
        time.sleep(600)
''')


@pytest.fixture
def fake_worker(tmp_path, monkeypatch, request):
    script = tmp_path / "fake_worker.py"
    script.write_text(FAKE_WORKER)
    monkeypatch.setenv("FAKE_PIDS", str(tmp_path / "pids"))

    def command(mode):
        if mode == "success":  # the real PAT1 run (conftest.py), only when a test needs its outputs
            monkeypatch.setenv("FAKE_OUTPUTS", str(request.getfixturevalue("pat1_outputs")))
        monkeypatch.setenv("FAKE_MODE", mode)
        return [sys.executable, str(script)]

    return command


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (exited, not yet reaped by its parent) counts as gone
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def test_success_writes_results_and_tags_them(fake_worker, tmp_path):
    scene, ct, seg, gtv_id, _ = make_case_scene()
    events = []
    task = sj.SceneScoringTask(ct, seg, gtv_id, fake_worker("success"), work_dir=tmp_path,
                               on_progress=events.append, options=ScoreOptions(device="cpu"))
    assert task.start() == sj.RUNNING
    assert task.wait(timeout_s=120) == sj.SUCCEEDED, task.error
    assert [e.stage for e in events] == ["starting", "validate", "features", "done"]
    assert events[-1].fraction == 1.0 and events[-1].done
    created = task.created
    names = [seg.GetSegmentation().GetSegment(s).GetName() for s in created["ring_segment_ids"]]
    assert names == ["GTV ring 0-3 mm", "GTV ring 3-6 mm", "GTV ring 6-9 mm"]
    heatmap = scene.GetNodeByID(created["heatmap_volume"])
    method = json.loads((Path(task.out_dir) / "result.json").read_text())["gradcam_method"]
    assert method == "hirescam" and heatmap.GetName() == "RadSurv HiResCAM heatmap"  # named by its method
    assert heatmap.GetAttribute(sj.INPUT_KEY_ATTRIBUTE) == created["input_key"]
    scores = scene.GetNodeByID(created["scores_table"])
    assert scores.GetAttribute(sj.INPUT_KEY_ATTRIBUTE) == created["input_key"]
    result = json.loads((Path(task.out_dir) / "result.json").read_text())
    assert task.result["risk_score"] == result["risk_score"]
    assert not (task.job_dir / "inputs").exists()  # exported NRRDs are cleaned up
    found = sj.find_results(scene, created["input_key"], seg)
    assert sorted(found["segments"]) == sorted(created["ring_segment_ids"])


def test_second_run_skips_adds_or_replaces_only_when_asked(fake_worker, tmp_path):
    scene, ct, seg, gtv_id, _ = make_case_scene()
    first = sj.SceneScoringTask(ct, seg, gtv_id, fake_worker("success"), work_dir=tmp_path)
    first.start()
    assert first.wait(120) == sj.SUCCEEDED
    state = scene_state(scene, seg)

    again = sj.SceneScoringTask(ct, seg, gtv_id, fake_worker("success"), work_dir=tmp_path)
    assert again.start() == sj.SKIPPED  # default: the earlier results are kept, nothing runs
    assert again.existing["segments"] == first.created["ring_segment_ids"]
    assert scene_state(scene, seg) == state

    # other options = other inputs: not the same key
    other = sj.SceneScoringTask(ct, seg, gtv_id, fake_worker("success"), work_dir=tmp_path,
                                options=ScoreOptions(rings_mm=[5, 10]))
    other.start()
    other.cancel()
    assert other.key != first.created["input_key"]

    added = sj.SceneScoringTask(ct, seg, gtv_id, fake_worker("success"), work_dir=tmp_path, if_exists="add")
    added.start()
    assert added.wait(120) == sj.SUCCEEDED
    assert added.created["suffix"] == " (2)"
    assert scene.GetNodeByID(first.created["heatmap_volume"]) is not None  # earlier set kept

    replaced = sj.SceneScoringTask(ct, seg, gtv_id, fake_worker("success"), work_dir=tmp_path,
                                   if_exists="replace")
    replaced.start()
    assert replaced.wait(120) == sj.SUCCEEDED
    for old in (first.created, added.created):
        assert scene.GetNodeByID(old["heatmap_volume"]) is None
        assert all(seg.GetSegmentation().GetSegment(s) is None for s in old["ring_segment_ids"])
    assert len(sj.find_results(scene, replaced.key, seg)["segments"]) == 3
    assert scene.GetNodeByID(replaced.created["heatmap_volume"]) is not None


def test_outputs_wanted(fake_worker, tmp_path):
    import vtk

    scene, ct, seg, gtv_id, _ = make_case_scene()
    added = []

    @vtk.calldata_type(vtk.VTK_OBJECT)
    def on_added(caller, event, node):
        added.append(node.GetName())

    scene.AddObserver(scene.NodeAddedEvent, on_added)
    task = sj.SceneScoringTask(ct, seg, gtv_id, fake_worker("success"), work_dir=tmp_path,
                               outputs={"voxel_maps": False, "heatmap": False})
    task.start()
    assert task.wait(120) == sj.SUCCEEDED
    assert task.created["voxel_map_volumes"] == {} and "heatmap_volume" not in task.created
    # never added (not added, then removed): no map or heatmap node went through the scene
    assert "RadSurv scores" in added and not [n for n in added if n and ("heatmap" in n or "firstorder" in n)]
    assert scene.GetNodesByName(heatmap_node_name("hirescam")).GetNumberOfItems() == 0
    assert len(task.created["ring_segment_ids"]) == 3
    assert scene.GetNodeByID(task.created["scores_table"]) is not None


def test_cancel_kills_the_process_tree_and_leaves_the_scene(fake_worker, tmp_path):
    scene, ct, seg, gtv_id, _ = make_case_scene()
    before = scene_state(scene, seg)
    out_dir = tmp_path / "user-out"
    task = sj.SceneScoringTask(ct, seg, gtv_id, fake_worker("hang"), work_dir=tmp_path, out_dir=out_dir)
    task.start()
    deadline = time.monotonic() + 60
    while task.poll() == sj.RUNNING and task.stage != "features" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert task.stage == "features" and task.fraction == 0.3
    worker_pid, child_pid = map(int, (tmp_path / "pids").read_text().split())
    assert alive(worker_pid) and alive(child_pid)

    task.cancel()

    assert task.state == sj.CANCELLED
    deadline = time.monotonic() + 10
    while (alive(worker_pid) or alive(child_pid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(worker_pid) and not alive(child_pid)
    assert scene_state(scene, seg) == before
    assert not out_dir.exists()  # the killed run's staging folder and the empty folder are gone
    assert not (task.job_dir / "inputs").exists()


def test_crash_is_reported_with_its_log_and_the_next_run_works(fake_worker, tmp_path):
    scene, ct, seg, gtv_id, _ = make_case_scene()
    before = scene_state(scene, seg)
    task = sj.SceneScoringTask(ct, seg, gtv_id, fake_worker("crash"), work_dir=tmp_path)
    task.start()
    assert task.wait(120) == sj.FAILED
    assert isinstance(task.error, sj.WorkerFailed)
    assert "exit status 3" in str(task.error)
    assert "MemoryError" in task.error.log and "boom in voxel maps" in task.error.log
    assert scene_state(scene, seg) == before

    retry = sj.SceneScoringTask(ct, seg, gtv_id, fake_worker("success"), work_dir=tmp_path)
    retry.start()
    assert retry.wait(120) == sj.SUCCEEDED
    assert len(retry.created["ring_segment_ids"]) == 3


def test_bad_inputs_fail_before_any_worker(tmp_path, fake_worker):
    scene, ct, seg, gtv_id, _ = make_case_scene()
    before = scene_state(scene, seg)
    with pytest.raises(InputError, match="not in segmentation"):
        sj.SceneScoringTask(ct, seg, "nope", fake_worker("crash"), work_dir=tmp_path).start()
    empty_id = seg.GetSegmentation().AddEmptySegment("", "empty")
    with pytest.raises(InputError, match="empty"):
        sj.SceneScoringTask(ct, seg, empty_id, fake_worker("crash"), work_dir=tmp_path).start()
    seg.GetSegmentation().RemoveSegment(empty_id)
    with pytest.raises(OptionError, match="device"):
        sj.SceneScoringTask(ct, seg, gtv_id, fake_worker("crash"), options=ScoreOptions(device="tpu")).start()
    with pytest.raises(InputError, match="ScoreOptions"):
        sj.SceneScoringTask(ct, seg, gtv_id, fake_worker("crash"), options={"device": "cpu"})
    with pytest.raises(OptionError, match="gtv_label"):
        sj.SceneScoringTask(ct, seg, gtv_id, fake_worker("crash"), options=ScoreOptions(gtv_label=2)).start()
    with pytest.raises(InputError, match="unknown part"):
        sj.SceneScoringTask(ct, seg, gtv_id, fake_worker("crash"), outputs={"maps": False})
    with pytest.raises(InputError, match="if_exists"):
        sj.SceneScoringTask(ct, seg, gtv_id, fake_worker("crash"), if_exists="overwrite")
    assert scene_state(scene, seg) == before
    assert not list(tmp_path.glob("RadSurv-job-*/inputs"))


def test_real_worker_reports_bad_input_as_a_json_error(tmp_path):
    """The real worker module in this interpreter: a mask on another grid -> 'input' error, exit 2."""
    job = {"ct": str(DATA / "image.nii.gz"),
           "gtv": str(Path(__file__).resolve().parents[1] / "Data" / "PyRadiomics_baseline" / "lung1_label.nrrd"),
           "out_dir": str(tmp_path / "out"), "device": "cpu"}
    worker_job = sj.WorkerJob(job, wc.current_python_command(), tmp_path / "job")
    worker_job.start()
    assert worker_job.wait(300) == sj.FAILED
    assert worker_job.error.kind == "input"
    assert "--gtv" in str(worker_job.error) or "grid" in str(worker_job.error)
    assert worker_job.returncode == 2
    assert [m["type"] for m in worker_job.messages][0] == "started"
    assert not (tmp_path / "out" / "result.json").exists()


def test_worker_rejects_unknown_job_keys(tmp_path):
    worker_job = sj.WorkerJob({"ct": "a.nrrd", "out_dir": "o", "rings": [3]}, wc.current_python_command(),
                              tmp_path)
    worker_job.start()
    assert worker_job.wait(120) == sj.FAILED
    assert "unknown option(s) rings;" in str(worker_job.error)


class ScriptedRunner:
    """An injected runner: no process, the worker's stdout lines and exit status are given."""

    def __init__(self, lines, returncode, exit_after_polls=2):
        self.lines_, self.code, self.exit_after = list(lines), returncode, exit_after_polls
        self.started, self.killed, self.polls = None, False, 0

    def start(self, command, env=None, cwd=None):
        self.started = (command, env, cwd)
        return self

    def lines(self):
        out, self.lines_ = self.lines_[:1], self.lines_[1:]  # one line per poll, as if streamed
        return out

    @property
    def returncode(self):
        self.polls += 1
        return self.code if (self.polls > self.exit_after and not self.lines_) or self.killed else None

    def stderr_tail(self):
        return "stderr tail"

    def kill(self):
        self.killed = True


def test_injected_runner_protocol(tmp_path):
    lines = ['{"type": "started", "pid": 1}', "a stray line that is not JSON",
             '{"type": "progress", "stage": "rings", "fraction": 0.15, "message": "rings"}',
             '{"type": "result", "out_dir": "/x", "result": {"risk_score": 0.5}}']
    runner = ScriptedRunner(lines, 0)
    events = []
    job = sj.WorkerJob({"ct": "ct.nrrd", "out_dir": "out"}, ["python"], tmp_path, runner=runner,
                       env={"PYTHONPATH": "x"}, on_progress=events.append)
    job.start()
    command, env, cwd = runner.started
    assert command == ["python", "-m", "RadSurvLib.worker", str(tmp_path / "job.json")]
    assert env == {"PYTHONPATH": "x"} and cwd == str(tmp_path)
    assert json.loads((tmp_path / "job.json").read_text())["ct"] == "ct.nrrd"
    states = [job.poll() for _ in range(10)]
    assert states[-1] == sj.SUCCEEDED and sj.RUNNING in states
    assert job.result == {"risk_score": 0.5} and job.out_dir == "/x" and job.returncode == 0
    assert events == [ProgressEvent("starting", 0.0, "starting the RadSurv worker"), ProgressEvent("rings", 0.15, "rings"),
                      ProgressEvent("done", 1.0, "finished", done=True)]

    # an error message: final once the process exited, with the stderr tail in the log
    failing = sj.WorkerJob({"ct": "c", "out_dir": "o"}, ["python"], tmp_path / "2", runner=ScriptedRunner(
        ['{"type": "error", "kind": "input", "message": "--gtv: empty", "log": "worker log"}'], 2))
    failing.start()
    assert failing.wait(10, interval_s=0) == sj.FAILED
    assert str(failing.error) == "--gtv: empty" and failing.error.kind == "input"
    assert "worker log" in failing.error.log and "stderr tail" in failing.error.log

    # cancel kills through the runner
    hanging = ScriptedRunner([], 0, exit_after_polls=10 ** 9)
    cancelled = sj.WorkerJob({"ct": "c", "out_dir": "o"}, ["python"], tmp_path / "3", runner=hanging)
    cancelled.start()
    assert cancelled.poll() == sj.RUNNING
    cancelled.cancel()
    assert hanging.killed and cancelled.state == sj.CANCELLED
