"""Scoring the GTV segment of a scene's CT through the worker, with the results in the same scene.

``SceneScoringTask``: a CT node + segmentation + segment of a MRML scene -> NRRD files in a
temporary job folder (``slicer.export``) -> ``worker.client.WorkerJob`` -> ``slicer.write``. The
scene is touched only after the worker succeeded: cancel, a worker crash or bad input leave it as it
was. Every node and ring segment of a run is tagged with the run's *input key* (SHA-256 of the CT
and GTV voxels and geometry and of the options that change results), so running again on the same
inputs finds the earlier results: ``if_exists="skip"`` (default) reuses them, ``"add"`` adds a
second set (names suffixed `` (2)``), ``"replace"`` removes the earlier set once the new one is in.

No Qt: the Slicer module drives it from a ``QTimer`` (``poll()`` every 100 ms), scripts and tests
call ``wait()``.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from pathlib import Path

from ..errors import InputError, RadSurvError
from ..worker.client import (CANCELLED, FAILED, IDLE, RUNNING, SKIPPED, SUCCEEDED, WorkerFailed, WorkerJob,
                             _poll_until_done)
from .export import export_case

#: Attribute (nodes) and tag (segments) holding the input key of the run that made them.
INPUT_KEY_ATTRIBUTE = "RadSurv.InputKey"

#: What the scene receives, by default all of it.
DEFAULT_OUTPUTS = {"rings": True, "voxel_maps": True, "heatmap": True, "tables": True}

#: Choices for a second run on the same inputs.
IF_EXISTS_CHOICES = ("skip", "add", "replace")


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
        from .write import check_segment

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
        from .write import write_results_to_scene

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
