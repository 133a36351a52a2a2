"""Scoring a case through the worker process, and putting the results into a Slicer scene.

No Qt here: the Slicer module drives these classes from a ``QTimer`` (``poll()`` every 100 ms),
scripts and tests call ``wait()``. Two layers:

- ``WorkerJob``: one run of ``python -m RadSurvLib.worker`` (``RadSurvLib.worker`` describes the
  job and the JSON-lines protocol). It reads the messages as they come, keeps the stage, fraction
  and message of the last progress line, the result or the error with its log, and can cancel:
  the worker's whole process tree is killed (the worker starts in its own process group).
  The process is started by an injectable *runner* (``SubprocessRunner`` by default), so tests
  can drive the logic with a scripted fake worker.
- ``SceneScoringTask``: a CT node + segmentation + segment of a MRML scene -> NRRD files in a
  temporary job folder -> ``WorkerJob`` -> ``scene.write_results_to_scene``. The scene is touched
  only after the worker succeeded: cancel, a worker crash or bad input leave it as it was.
  Every node and ring segment of a run is tagged with the run's *input key* (SHA-256 of the CT and
  GTV voxels and geometry and of the options), so running again on the same inputs finds the
  earlier results: ``if_exists="skip"`` (default) reuses them, ``"add"`` adds a second set (names
  suffixed `` (2)``), ``"replace"`` removes the earlier set once the new one is ready.

``slicer`` (MRML: the 3D Slicer application or the slicer-core wheel) and ``vtk`` are imported
inside the functions that need them.
"""

from __future__ import annotations

import collections
import hashlib
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from .errors import InputError, RadSurvError

#: States of a job / task.
IDLE, RUNNING, SUCCEEDED, FAILED, CANCELLED, SKIPPED = ("idle", "running", "succeeded", "failed",
                                                        "cancelled", "skipped")

#: Attribute (nodes) and tag (segments) holding the input key of the run that made them.
INPUT_KEY_ATTRIBUTE = "RadSurv.InputKey"

#: What the scene receives, by default all of it.
DEFAULT_OUTPUTS = {"rings": True, "voxel_maps": True, "heatmap": True, "tables": True}

#: Seconds a worker may take to exit after its result / error message before it is killed.
EXIT_GRACE_S = 30.0

#: Choices for a second run on the same inputs.
IF_EXISTS_CHOICES = ("skip", "add", "replace")


class WorkerFailed(RadSurvError):
    """The worker reported an error or died; ``log`` holds its log tail (traceback, stderr)."""

    def __init__(self, message: str, log: str = "", kind: str = "crash"):
        super().__init__(message)
        self.log = log
        self.kind = kind


# --------------------------------------------------------------------------------------------
# Processes
# --------------------------------------------------------------------------------------------

def kill_process_tree(pid: int) -> None:
    """Kill a process and every process it started.

    POSIX: the worker is started as the leader of its own session / process group, so SIGKILL to
    the group reaches its children (PyTorch / PyRadiomics helpers). Windows: ``taskkill /T /F``.
    """
    if os.name == "nt":
        subprocess.run(["taskkill", "/T", "/F", "/PID", str(pid)], capture_output=True)
        return
    try:
        os.killpg(os.getpgid(pid), signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


class SubprocessHandle:
    """A started process whose stdout lines and stderr tail are read by two threads.

    ``lines()`` returns the stdout lines received since the last call (never blocks);
    ``returncode`` is None while the process runs; ``stderr_tail()`` the last stderr lines.
    """

    def __init__(self, command, env=None, cwd=None, stderr_lines: int = 400):
        kwargs = {}
        if os.name == "nt":
            kwargs["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP
        else:
            kwargs["start_new_session"] = True
        self.process = subprocess.Popen([str(c) for c in command], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        stdin=subprocess.DEVNULL, env=env, cwd=cwd, **kwargs)
        self.pid = self.process.pid
        self._lines = queue.Queue()
        self._stderr = collections.deque(maxlen=stderr_lines)
        self._threads = [threading.Thread(target=self._read, args=(self.process.stdout, self._lines.put), daemon=True),
                         threading.Thread(target=self._read, args=(self.process.stderr, self._stderr.append),
                                          daemon=True)]
        for thread in self._threads:
            thread.start()

    @staticmethod
    def _read(stream, sink):
        for raw in iter(stream.readline, b""):
            sink(raw.decode("utf-8", errors="replace").rstrip("\n"))
        stream.close()

    def lines(self) -> list[str]:
        """Stdout lines received since the last call (never blocks)."""
        out = []
        while True:
            try:
                out.append(self._lines.get_nowait())
            except queue.Empty:
                return out

    @property
    def returncode(self):
        """Exit status, None while the process runs (readers drained once it ended)."""
        code = self.process.poll()
        if code is not None:
            # The exit can be seen before the readers have drained the pipes.
            for thread in self._threads:
                thread.join(timeout=5)
        return code

    def stderr_tail(self) -> str:
        """The last ``stderr_lines`` lines of the process's stderr."""
        return "\n".join(self._stderr)

    def kill(self) -> None:
        """Kill the process tree (``kill_process_tree``) and wait for it."""
        if self.process.poll() is None:
            kill_process_tree(self.pid)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        for thread in self._threads:
            thread.join(timeout=5)


class SubprocessRunner:
    """Default runner: ``start(command, env, cwd)`` -> ``SubprocessHandle``."""

    def start(self, command, env=None, cwd=None):
        """Start ``command`` (list) with ``env`` (dict) in ``cwd``; returns a ``SubprocessHandle``."""
        return SubprocessHandle(command, env=env, cwd=cwd)


class WorkerJob:
    """One worker run.

    Args:
        job: the worker job (dict, see ``RadSurvLib.worker``); written to ``job_dir/job.json``.
        python_command: command prefix that starts a Python with the heavy packages, e.g.
            ``[env.python]`` (``environment.PythonEnvironment``) or ``[sys.executable]``.
        job_dir: folder for ``job.json`` (created).
        runner: object with ``start(command, env, cwd)`` returning a handle with ``lines()``,
            ``returncode``, ``stderr_tail()``, ``kill()`` (default ``SubprocessRunner()``).
        env: process environment (default ``environment.worker_environ()``).
        on_progress: optional callable(stage: str, fraction: float, message: str).

    Attributes after ``poll()``: ``state``, ``stage``, ``fraction`` (0-1), ``message``,
    ``result`` (result.json dict), ``out_dir``, ``error`` (``WorkerFailed`` or None),
    ``returncode`` (exit status once ended), ``messages`` (every protocol message received).
    """

    def __init__(self, job: dict, python_command, job_dir, runner=None, env=None, on_progress=None):
        from .environment import worker_environ

        self.job = dict(job)
        self.python_command = [str(c) for c in python_command]
        self.job_dir = Path(job_dir)
        self.runner = runner or SubprocessRunner()
        self.env = env if env is not None else worker_environ()
        self.on_progress = on_progress or (lambda stage, fraction, message: None)
        self.state, self.stage, self.fraction, self.message = IDLE, "", 0.0, ""
        self.result = self.out_dir = self.error = None
        self.handle = self.returncode = None
        self.messages = []
        self._outcome, self._outcome_time = None, 0.0

    def start(self) -> None:
        """Write ``job.json`` and start the worker."""
        self.job_dir.mkdir(parents=True, exist_ok=True)
        job_file = self.job_dir / "job.json"
        job_file.write_text(json.dumps(self.job, indent=2) + "\n", encoding="utf-8")
        command = [*self.python_command, "-m", "RadSurvLib.worker", str(job_file)]
        self.state, self.stage, self.message = RUNNING, "starting", "starting the RadSurv worker"
        self.on_progress(self.stage, 0.0, self.message)
        self.handle = self.runner.start(command, env=self.env, cwd=str(self.job_dir))

    def poll(self) -> str:
        """Read what the worker wrote; returns the state (RUNNING until the worker has exited).

        The outcome (result or error message) is final once the process has ended, so that its
        exit status and the rest of its stderr are known; a worker that does not exit within
        ``EXIT_GRACE_S`` after its last message is killed.
        """
        if self.state != RUNNING:
            return self.state
        for line in self.handle.lines():
            self._handle_line(line)
        code = self.handle.returncode
        if code is None and self._outcome is not None and time.monotonic() - self._outcome_time > EXIT_GRACE_S:
            self.handle.kill()
            code = self.handle.returncode
        if code is None:
            return self.state
        for line in self.handle.lines():  # lines that arrived with the exit
            self._handle_line(line)
        self.returncode = code
        if self._outcome is None:
            self._fail(WorkerFailed(f"The RadSurv worker stopped (exit status {code}) without a result.",
                                    self.handle.stderr_tail()))
        elif self._outcome.get("type") == "result":
            self.result, self.out_dir = self._outcome.get("result"), self._outcome.get("out_dir")
            self.state, self.fraction, self.stage, self.message = SUCCEEDED, 1.0, "done", "finished"
            self.on_progress(self.stage, 1.0, self.message)
        else:
            log = str(self._outcome.get("log") or "")
            stderr = self.handle.stderr_tail()
            if stderr and stderr not in log:
                log = (log + "\n--- worker stderr ---\n" + stderr).strip()
            self._fail(WorkerFailed(str(self._outcome.get("message")), log, str(self._outcome.get("kind", "crash"))))
        return self.state

    def _handle_line(self, line: str) -> None:
        try:
            message = json.loads(line)
        except ValueError:
            return  # not a protocol line (the worker sends everything else to stderr)
        if not isinstance(message, dict):
            return
        self.messages.append(message)
        kind = message.get("type")
        if kind == "progress":
            self.stage = str(message.get("stage", ""))
            self.fraction = float(message.get("fraction", self.fraction))
            self.message = str(message.get("message", ""))
            self.on_progress(self.stage, self.fraction, self.message)
        elif kind in ("result", "error") and self._outcome is None:
            self._outcome, self._outcome_time = message, time.monotonic()

    def _fail(self, error: WorkerFailed) -> None:
        self.error, self.state = error, FAILED
        self.message = str(error)

    def cancel(self) -> None:
        """Kill the worker and its children; the state becomes CANCELLED."""
        if self.handle is not None and self.state == RUNNING:
            self.handle.kill()
        if self.state in (RUNNING, IDLE):
            self.state, self.message = CANCELLED, "cancelled"

    def wait(self, timeout_s: float | None = None, interval_s: float = 0.1) -> str:
        """Poll until the job ends (or ``timeout_s`` passes: then it is cancelled); returns the state."""
        return _poll_until_done(self, timeout_s, interval_s)


def _poll_until_done(task, timeout_s: float | None, interval_s: float) -> str:
    """Call ``task.poll()`` every ``interval_s`` seconds while it is RUNNING; ``task.cancel()`` once
    ``timeout_s`` seconds have passed (None: no limit). Returns ``task.state``."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while task.poll() == RUNNING:
        if deadline is not None and time.monotonic() > deadline:
            task.cancel()
            break
        time.sleep(interval_s)
    return task.state


def current_python_command() -> list[str]:
    """``[sys.executable]``: the worker in this very interpreter (it must have torch etc.)."""
    return [sys.executable]


# --------------------------------------------------------------------------------------------
# Scene side (MRML only)
# --------------------------------------------------------------------------------------------

def _voxels(node):
    from vtk.util import numpy_support

    return numpy_support.vtk_to_numpy(node.GetImageData().GetPointData().GetScalars())


def _ijk_to_ras_values(node) -> list[float]:
    import vtk

    matrix = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(matrix)
    return [round(matrix.GetElement(r, c), 6) for r in range(4) for c in range(4)]


def _write_volume(node, path: Path) -> Path:
    """Write a volume node to NRRD (RAS -> LPS as Slicer's Save does) without touching the node."""
    import slicer

    storage = slicer.vtkMRMLVolumeArchetypeStorageNode()
    storage.SetFileName(str(path))
    storage.SetUseCompression(False)
    if not storage.WriteData(node):
        raise InputError(f"Could not write {node.GetName()} to {path}; check the temporary folder's free space.")
    return path


def export_case(volume_node, segmentation_node, segment_id: str, folder) -> dict:
    """Write the CT and the GTV segment (a labelmap on the CT's grid) as NRRD files.

    The segment is exported with ``vtkSlicerSegmentationsModuleLogic.ExportSegmentsToLabelmapNode``
    using the CT as reference geometry, through a temporary labelmap node that is removed again:
    the scene holds the same nodes afterwards.

    Returns:
        dict ``ct`` and ``gtv`` (paths) and ``key_parts`` (SHA-256 of the CT voxels + geometry and of
        the mask voxels + geometry).

    Raises:
        InputError: the export fails or the GTV segment is empty.
    """
    import numpy as np
    import slicer
    import vtk

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    scene = volume_node.GetScene()
    before = {scene.GetNthNode(i).GetID() for i in range(scene.GetNumberOfNodes())}
    labelmap = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", "RadSurv GTV export")
    try:
        ids = vtk.vtkStringArray()
        ids.InsertNextValue(segment_id)
        if not slicer.vtkSlicerSegmentationsModuleLogic.ExportSegmentsToLabelmapNode(
                segmentation_node, ids, labelmap, volume_node):
            raise InputError(f"Could not export segment {segment_id} onto the grid of {volume_node.GetName()}.")
        mask = _voxels(labelmap)
        if not np.any(mask):
            raise InputError(f"The GTV segment {segment_id!r} is empty on the grid of {volume_node.GetName()}: "
                             "paint it in the Segment Editor first.")
        ct_hash = hashlib.sha256(_voxels(volume_node).tobytes())
        ct_hash.update(json.dumps(_ijk_to_ras_values(volume_node)).encode())
        mask_hash = hashlib.sha256((mask != 0).tobytes())
        mask_hash.update(json.dumps(_ijk_to_ras_values(labelmap)).encode())
        ct_path = _write_volume(volume_node, folder / "ct.nrrd")
        gtv_path = _write_volume(labelmap, folder / "gtv.nrrd")
    finally:
        # the labelmap and what the export made for it (display node, colour table), not singletons
        added = [scene.GetNthNode(i) for i in range(scene.GetNumberOfNodes())]
        for node in reversed([n for n in added if n.GetID() not in before and not n.GetSingletonTag()]):
            scene.RemoveNode(node)
    return {"ct": str(ct_path), "gtv": str(gtv_path), "key_parts": [ct_hash.hexdigest(), mask_hash.hexdigest()]}


def input_key(key_parts, options: dict) -> str:
    """SHA-256 (first 16 hex digits) of the case's voxel hashes and the options that change results."""
    relevant = {k: options.get(k) for k in ("rings_mm", "bundle", "params_file", "kernel_radius",
                                            "voxel_map_features", "signature")}
    text = json.dumps([list(key_parts), relevant], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def find_results(scene, key: str, segmentation_node=None) -> dict:
    """Nodes (IDs) and ring segments (IDs) tagged with ``key`` by an earlier run; empty when none."""
    nodes = []
    for index in range(scene.GetNumberOfNodes()):
        node = scene.GetNthNode(index)
        if node.GetAttribute(INPUT_KEY_ATTRIBUTE) == key:
            nodes.append(node.GetID())
    segments = []
    if segmentation_node is not None:
        segmentation = segmentation_node.GetSegmentation()
        for i in range(segmentation.GetNumberOfSegments()):
            segment = segmentation.GetNthSegment(i)
            if _segment_tag(segment, INPUT_KEY_ATTRIBUTE) == key:
                segments.append(segmentation.GetNthSegmentID(i))
    return {"nodes": nodes, "segments": segments} if nodes or segments else {}


def _segment_tag(segment, name: str) -> str:
    """Value of a segment tag ("" when absent)."""
    import vtk

    if not segment.HasTag(name):
        return ""
    holder = vtk.reference("")
    segment.GetTag(name, holder)
    return str(holder)


def _tag_results(scene, segmentation_node, created: dict, key: str, outputs: dict) -> dict:
    """Tag what a run created with its input key; remove what the user did not ask for."""
    segmentation = segmentation_node.GetSegmentation()
    if not outputs.get("rings", True):
        for segment_id in created["ring_segment_ids"]:
            segmentation.RemoveSegment(segment_id)
        created["ring_segment_ids"], created["ring_segment_names"] = [], []
    for segment_id in created["ring_segment_ids"]:
        segmentation.GetSegment(segment_id).SetTag(INPUT_KEY_ATTRIBUTE, key)
    drop = []
    if not outputs.get("voxel_maps", True):
        drop += list(created["voxel_map_volumes"].values())
        created["voxel_map_volumes"] = {}
    if not outputs.get("heatmap", True):
        drop.append(created.pop("heatmap_volume"))
    if not outputs.get("tables", True):
        drop += [created.pop("scores_table"), created.pop("features_table")]
    for node_id in drop:
        node = scene.GetNodeByID(node_id)
        if node is not None:
            scene.RemoveNode(node)
    for node_id in [*created["voxel_map_volumes"].values(), created.get("heatmap_volume"),
                    created.get("scores_table"), created.get("features_table")]:
        node = scene.GetNodeByID(node_id) if node_id else None
        if node is not None:
            node.SetAttribute(INPUT_KEY_ATTRIBUTE, key)
    created["input_key"] = key
    return created


def remove_results(scene, segmentation_node, found: dict) -> None:
    """Remove the nodes and ring segments listed by ``find_results`` (and their display nodes)."""
    for node_id in found.get("nodes", []):
        node = scene.GetNodeByID(node_id)
        if node is not None:
            scene.RemoveNode(node)
    if segmentation_node is not None:
        for segment_id in found.get("segments", []):
            segmentation_node.GetSegmentation().RemoveSegment(segment_id)


class SceneScoringTask:
    """Score the GTV segment of a scene's CT through the worker; results into the same scene.

    Args:
        volume_node: ``vtkMRMLScalarVolumeNode``, the planning CT (HU).
        segmentation_node, segment_id: the GTV (``vtkMRMLSegmentationNode`` and segment ID).
        python_command: command prefix of the worker's Python (``[PythonEnvironment.python]``).
        options: worker job options: ``rings_mm`` (default [3, 6, 9]), ``bundle``, ``device``
            (auto / cpu / cuda), ``params_file``, ``kernel_radius``, ``voxel_map_features``,
            ``signature``.
        out_dir: output folder (default: ``out`` in a new temporary job folder). An earlier run
            there is never overwritten.
        outputs: which results go into the scene (``DEFAULT_OUTPUTS`` keys: rings, voxel_maps,
            heatmap, tables); the files are written in any case.
        if_exists: "skip" (earlier results of the same inputs are reused, nothing runs), "add"
            (a new suffixed set), "replace" (the earlier set is removed once the new one is in).
        runner, on_progress: as in ``WorkerJob``.
        work_dir: parent of the temporary job folder (default: the system's temporary folder).

    ``start()`` then ``poll()`` until it returns something other than RUNNING (or ``wait()``).
    Afterwards: ``state``, ``created`` (``write_results_to_scene``'s dict plus ``input_key``),
    ``result``, ``out_dir``, ``error`` (``WorkerFailed`` / ``InputError``), ``existing``.
    """

    def __init__(self, volume_node, segmentation_node, segment_id, python_command, options=None, out_dir=None,
                 outputs=None, if_exists="skip", runner=None, on_progress=None, work_dir=None):
        if if_exists not in IF_EXISTS_CHOICES:
            raise InputError(f"if_exists={if_exists!r}: choose one of {', '.join(IF_EXISTS_CHOICES)}.")
        self.volume_node, self.segmentation_node, self.segment_id = volume_node, segmentation_node, segment_id
        self.python_command = python_command
        self.options = {"rings_mm": [3, 6, 9], "device": "auto", **(options or {})}
        self.out_dir = Path(out_dir) if out_dir else None
        self.outputs = {**DEFAULT_OUTPUTS, **(outputs or {})}
        self.if_exists = if_exists
        self.runner, self.on_progress, self.work_dir = runner, on_progress, work_dir
        self.state, self.job, self.created, self.result, self.error = IDLE, None, None, None, None
        self.existing, self.key, self.job_dir = {}, None, None
        self._made_out_dir = False

    # -- life cycle ---------------------------------------------------------------------------
    def start(self) -> str:
        """Check and export the inputs, then start the worker (or SKIPPED: results exist)."""
        from .scene import check_segment

        if self.volume_node is None or self.volume_node.GetImageData() is None:
            raise InputError("No CT volume selected (or it has no image data).")
        check_segment(self.segmentation_node, self.segment_id)
        if self.options.get("device", "auto") not in ("auto", "cpu", "cuda"):
            raise InputError(f"Device {self.options['device']!r}: choose auto, cpu or cuda.")
        scene = self.volume_node.GetScene()
        self.job_dir = Path(tempfile.mkdtemp(prefix="RadSurv-job-", dir=self.work_dir))
        try:
            exported = export_case(self.volume_node, self.segmentation_node, self.segment_id, self.job_dir / "inputs")
        except BaseException:
            shutil.rmtree(self.job_dir, ignore_errors=True)
            raise
        self.key = input_key(exported["key_parts"], self.options)
        self.existing = find_results(scene, self.key, self.segmentation_node)
        if self.existing and self.if_exists == "skip":
            shutil.rmtree(self.job_dir, ignore_errors=True)
            self.state = SKIPPED
            return self.state
        if self.out_dir is None:
            self.out_dir = self.job_dir / "out"
        self._made_out_dir = not self.out_dir.exists()
        job = {**self.options, "ct": exported["ct"], "gtv": exported["gtv"], "out_dir": str(self.out_dir)}
        self.job = WorkerJob(job, self.python_command, self.job_dir, runner=self.runner,
                             on_progress=self.on_progress)
        self.job.start()
        self.state = RUNNING
        return self.state

    def poll(self) -> str:
        """Advance: read the worker; on success write the results into the scene."""
        if self.state != RUNNING:
            return self.state
        state = self.job.poll()
        if state == SUCCEEDED:
            try:
                self._write_scene()
            except Exception as exc:  # noqa: BLE001
                self.error = exc if isinstance(exc, RadSurvError) else WorkerFailed(
                    f"Could not put the results into the scene: {exc}")
                self.state = FAILED
            else:
                self.state = SUCCEEDED
            self._cleanup_inputs()
        elif state in (FAILED, CANCELLED):
            self.error = self.job.error
            self.state = state
            self._cleanup_after_stop()
        return self.state

    def cancel(self) -> None:
        """Kill the worker's process tree; the scene is left as it was."""
        if self.state == RUNNING:
            self.job.cancel()
            self.state = CANCELLED
            self._cleanup_after_stop()

    def wait(self, timeout_s: float | None = None, interval_s: float = 0.1) -> str:
        """Poll until done (cancel after ``timeout_s``); returns the state."""
        return _poll_until_done(self, timeout_s, interval_s)

    # -- progress shortcuts for the GUI ----------------------------------------------------------
    @property
    def stage(self) -> str:
        """Current pipeline stage reported by the worker ('' before it starts)."""
        return self.job.stage if self.job else ""

    @property
    def fraction(self) -> float:
        """Fraction of the run done, 0-1."""
        return self.job.fraction if self.job else 0.0

    @property
    def message(self) -> str:
        """Last progress message of the worker."""
        return self.job.message if self.job else ""

    # -- internals -------------------------------------------------------------------------------
    def _write_scene(self) -> None:
        from .scene import write_results_to_scene

        scene = self.volume_node.GetScene()
        out_dir = Path(self.job.out_dir or self.out_dir)
        created = write_results_to_scene(self.volume_node, self.segmentation_node, self.segment_id, out_dir)
        if self.existing and self.if_exists == "replace":
            remove_results(scene, self.segmentation_node, self.existing)
        self.created = _tag_results(scene, self.segmentation_node, created, self.key, self.outputs)
        self.result = dict(self.job.result or {}, out_dir=str(out_dir), nodes=self.created)
        self.out_dir = out_dir

    def _cleanup_inputs(self) -> None:
        shutil.rmtree(self.job_dir / "inputs", ignore_errors=True)

    def _cleanup_after_stop(self) -> None:
        """After cancel / failure: no inputs, no staging folder of the killed pipeline, no empty out dir."""
        self._cleanup_inputs()
        if self.out_dir is not None and self.out_dir.is_dir():
            for partial in self.out_dir.glob(".radsurv-partial-*"):
                shutil.rmtree(partial, ignore_errors=True)
            if self._made_out_dir and not any(self.out_dir.iterdir()):
                self.out_dir.rmdir()
