"""Scoring the GTV segment of a scene's CT through the worker, with the results in the same scene.

``SceneScoringTask``: a CT node + segmentation + segment of a MRML scene -> NRRD files in a
temporary job folder (``slicer.export``) -> ``worker.client.WorkerJob`` -> ``slicer.write``: the
controller the Slicer module (``control.logic``) and the web app (``control.session``) share. The
scene is touched only after the worker succeeded: cancel, a worker crash or bad input leave it as it
was. Only the parts of the results the user asked for (``outputs``) are added to the scene. Every
node and ring segment of a run is tagged with the run's *input key* (SHA-256 of the CT and GTV
voxels and geometry and of ``ScoreOptions.result_key_fields()``), so running again on the same
inputs finds the earlier results: ``if_exists="skip"`` (default) reuses them, ``"add"`` adds a
second set (names suffixed `` (2)``), ``"replace"`` removes the earlier set once the new one is in.

With ``options.dicom_out`` the worker needs the CT as the DICOM series it came from (the DICOM
objects reference its study, series and slices): a CT node loaded from Slicer's DICOM database
carries the attribute ``DICOM.instanceUIDs`` (its slices' SOP Instance UIDs, set by Slicer's
DICOM plugins), and ``dicom_series_files`` finds their files with the database's
``fileForInstance``; those files (linked, or copied) are the worker's CT, the exported segment its
GTV (on the series' grid). A CT node without that attribute is refused before anything runs.
The series is taken as stored: edits of the CT node's voxels in the scene do not reach the
worker then (the input key still hashes the node's voxels).

No Qt: the Slicer module drives it from a ``QTimer`` (``poll()`` every 100 ms), scripts and tests
call ``wait()``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from ..errors import InputError, OptionError, RadSurvError, environment_failure
from ..options import ScoreOptions
from ..outputs import folder
from ..worker.client import (CANCELLED, FAILED, IDLE, RUNNING, SKIPPED, SUCCEEDED, WorkerFailed, WorkerJob,
                             poll_until_done)
from ..worker.protocol import make_job
from ..slicer.export import export_case
from ..slicer.write import OUTPUT_PARTS

#: Attribute (nodes) and tag (segments) holding the input key of the run that made them.
INPUT_KEY_ATTRIBUTE = "RadSurv.InputKey"

#: What the scene receives, by default all of it.
DEFAULT_OUTPUTS = {part: True for part in OUTPUT_PARTS}

#: Choices for a second run on the same inputs.
IF_EXISTS_CHOICES = ("skip", "add", "replace")

#: Node attribute Slicer's DICOM plugins (DICOMScalarVolumePlugin, ...) set on a volume they loaded:
#: the SOP Instance UIDs of its files, separated by spaces ("Unknown" for a file without one).
DICOM_INSTANCE_UIDS_ATTRIBUTE = "DICOM.instanceUIDs"

#: Where a Slicer user's CT must come from for DICOM outputs, and how to get there (the refusal's words).
SLICER_DICOM_SOURCE = "the DICOM database"
SLICER_DICOM_HINT = 'untick "[[dicom_out]]", or load the CT through the DICOM module'


def slicer_dicom_database():
    """Slicer's DICOM database (``slicer.dicomDatabase``, a ``ctkDICOMDatabase``), None outside the
    Slicer application (the slicer-core wheel has none) or before the DICOM module opened one."""
    try:
        import slicer
    except ImportError:
        return None
    return getattr(slicer, "dicomDatabase", None)


def dicom_series_files(volume_node, dicom_database=None, hint: str = SLICER_DICOM_HINT) -> list | None:
    """The DICOM files a CT volume node was loaded from, in the order of its ``DICOM.instanceUIDs``.

    Args:
        volume_node: ``vtkMRMLScalarVolumeNode``.
        dicom_database: an object with ``fileForInstance(sop_instance_uid) -> path`` ("" when not
            there), as Slicer's ``ctkDICOMDatabase`` (default ``slicer_dicom_database()``).
        hint: how the user gets the files back, at the end of the refusal (``[[dicom_out]]`` is the
            option's label in the GUI).

    Returns:
        list of ``pathlib.Path`` (one per slice), or None when the node carries no
        ``DICOM.instanceUIDs`` (it was not loaded from a DICOM database).

    Raises:
        OptionError (``dicom_out``): the node says it came from DICOM but there is no DICOM database,
            or some of its files are no longer in the database or on disk (the message counts them).
    """
    uids = (volume_node.GetAttribute(DICOM_INSTANCE_UIDS_ATTRIBUTE) or "").split()
    if not uids:
        return None
    name = volume_node.GetName()
    database = dicom_database if dicom_database is not None else slicer_dicom_database()
    if database is None:
        raise OptionError("dicom_out", f'"{name}" was loaded from DICOM, but no DICOM database is open to find its '
                                       f"files: {hint}.")
    files = [str(database.fileForInstance(uid) or "") if uid != "Unknown" else "" for uid in uids]
    missing = [uid for uid, path in zip(uids, files) if not path or not os.path.isfile(path)]
    if missing:
        raise OptionError("dicom_out", f'{len(missing)} of the {len(uids)} DICOM files of "{name}" are no longer in '
                                       f"the DICOM database or on disk (e.g. instance {missing[0]}): {hint}.")
    return [Path(path) for path in files]


def stage_dicom_series(files, folder) -> Path:
    """Put the series' files into ``folder`` (created), alone, so that the worker reads this series and
    nothing else lying beside them: hard links where the file system allows, copies otherwise.
    Returns ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for index, source in enumerate(files):
        target = folder / f"{index:05d}.dcm"
        try:
            os.link(source, target)
        except OSError:  # another file system, or links not allowed: a copy
            shutil.copyfile(source, target)
    return folder


def input_key(key_parts, options: ScoreOptions) -> str:
    """SHA-256 (first 16 hex digits) of the case's voxel hashes and the options that change results
    (``ScoreOptions.result_key_fields``)."""
    text = json.dumps([list(key_parts), options.result_key_fields()], sort_keys=True, default=str)
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


def _tag_results(scene, segmentation_node, created: dict, key: str) -> dict:
    """Tag the nodes and ring segments a run created with its input key."""
    segmentation = segmentation_node.GetSegmentation()
    for segment_id in created["ring_segment_ids"]:
        segmentation.GetSegment(segment_id).SetTag(INPUT_KEY_ATTRIBUTE, key)
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
        options: ``options.ScoreOptions`` (None: the defaults); ``options.overwrite`` lets the
            pipeline replace an earlier run in ``out_dir``.
        out_dir: output folder (default: ``out`` in a new temporary job folder). An earlier run
            there is never overwritten unless ``options.overwrite``.
        outputs: which results go into the scene (``DEFAULT_OUTPUTS`` keys: rings, voxel_maps,
            heatmap, tables); only those are added, the files are written in any case.
        if_exists: "skip" (earlier results of the same inputs are reused, nothing runs), "add"
            (a new suffixed set), "replace" (the earlier set is removed once the new one is in).
        runner, on_progress: as in ``WorkerJob``.
        work_dir: parent of the temporary job folder (default: the system's temporary folder).
        dicom_database: with ``options.dicom_out``, where the CT node's DICOM files are found
            (``dicom_series_files``; default: Slicer's DICOM database).
        dicom_source, dicom_hint: where the CT must come from and how to get there, in the refusal of
            a CT not loaded from DICOM (``SLICER_DICOM_SOURCE``, ``SLICER_DICOM_HINT``).

    ``start()`` then ``poll()`` until it returns something other than RUNNING (or ``wait()``).
    Afterwards: ``state``, ``created`` (``write_results_to_scene``'s dict plus ``input_key``),
    ``result``, ``out_dir``, ``error`` (``WorkerFailed`` / ``InputError``), ``existing``.
    """

    def __init__(self, volume_node, segmentation_node, segment_id, python_command, options=None, out_dir=None,
                 outputs=None, if_exists="skip", runner=None, on_progress=None, work_dir=None, dicom_database=None,
                 dicom_source=SLICER_DICOM_SOURCE, dicom_hint=SLICER_DICOM_HINT):
        if if_exists not in IF_EXISTS_CHOICES:
            raise InputError(f"if_exists={if_exists!r}: choose one of {', '.join(IF_EXISTS_CHOICES)}.")
        self.volume_node, self.segmentation_node, self.segment_id = volume_node, segmentation_node, segment_id
        self.python_command = python_command
        if options is not None and not isinstance(options, ScoreOptions):
            raise InputError(f"options: expected a RadSurvLib.options.ScoreOptions, got {type(options).__name__}.")
        self.options = options or ScoreOptions()
        self.out_dir = Path(out_dir) if out_dir else None
        unknown = sorted(set(outputs or {}) - set(DEFAULT_OUTPUTS))
        if unknown:
            raise InputError(f"outputs: unknown part(s) {', '.join(unknown)}; choose from {', '.join(DEFAULT_OUTPUTS)}.")
        self.outputs = {**DEFAULT_OUTPUTS, **(outputs or {})}
        self.if_exists = if_exists
        self.runner, self.on_progress, self.work_dir = runner, on_progress, work_dir
        self.dicom_database, self.dicom_source, self.dicom_hint = dicom_database, dicom_source, dicom_hint
        self.state, self.job, self.created, self.result, self.error = IDLE, None, None, None, None
        self.existing, self.key, self.job_dir = {}, None, None
        self._made_out_dir = False

    # -- life cycle ---------------------------------------------------------------------------
    def start(self) -> str:
        """Check and export the inputs, then start the worker (or SKIPPED: results exist)."""
        from ..slicer.write import check_segment

        if self.volume_node is None or self.volume_node.GetImageData() is None:
            raise InputError("No CT volume selected (or it has no image data).")
        check_segment(self.segmentation_node, self.segment_id)
        if self.options.gtv_label is not None:
            raise OptionError("gtv_label", "in a scene the GTV is a segment (one label); choose the GTV's segment "
                                           "and leave [[gtv_label]] unset.")
        dicom_files = self._dicom_files()
        scene = self.volume_node.GetScene()
        self.job_dir = Path(tempfile.mkdtemp(prefix="RadSurv-job-", dir=self.work_dir))
        try:
            exported = export_case(self.volume_node, self.segmentation_node, self.segment_id, self.job_dir / "inputs")
            if dicom_files is not None:  # the worker reads the series itself; the exported GTV lies on its grid
                exported["ct"] = str(stage_dicom_series(dicom_files, self.job_dir / "inputs" / "ct-dicom"))
        except BaseException as exc:
            shutil.rmtree(self.job_dir, ignore_errors=True)
            failure = environment_failure(exc)  # a full or read-only temporary disk: named, not a bug
            if failure is None:
                raise
            raise failure from None
        self.key = input_key(exported["key_parts"], self.options)
        self.existing = find_results(scene, self.key, self.segmentation_node)
        if self.existing and self.if_exists == "skip":
            shutil.rmtree(self.job_dir, ignore_errors=True)
            self.state = SKIPPED
            return self.state
        if self.out_dir is None:
            self.out_dir = self.job_dir / "out"
        self._made_out_dir = not self.out_dir.exists()
        job = make_job(self.options, exported["ct"], str(self.out_dir), gtv=exported["gtv"])
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
        return poll_until_done(self, timeout_s, interval_s)

    def _dicom_files(self):
        """With ``dicom_out``: the CT node's DICOM files (``dicom_series_files``), or the refusal of a CT
        that was not loaded from DICOM; without it None (the CT goes to the worker as NRRD)."""
        if not self.options.dicom_out:
            return None
        files = dicom_series_files(self.volume_node, self.dicom_database, self.dicom_hint)
        if files is None:
            raise OptionError("dicom_out", f'the CT volume "{self.volume_node.GetName()}" was not loaded from '
                                           f"{self.dicom_source}, and DICOM outputs need a CT loaded from it (they "
                                           f"reference its study, series and slices): {self.dicom_hint}.")
        return files

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
        from ..slicer.write import write_results_to_scene

        scene = self.volume_node.GetScene()
        out_dir = Path(self.job.out_dir or self.out_dir)
        created = write_results_to_scene(self.volume_node, self.segmentation_node, self.segment_id, out_dir,
                                         outputs=self.outputs)
        if self.existing and self.if_exists == "replace":
            remove_results(scene, self.segmentation_node, self.existing)
        self.created = _tag_results(scene, self.segmentation_node, created, self.key)
        self.result = dict(self.job.result or {}, out_dir=str(out_dir), nodes=self.created)
        self.out_dir = out_dir

    def _cleanup_inputs(self) -> None:
        shutil.rmtree(self.job_dir / "inputs", ignore_errors=True)

    def _cleanup_after_stop(self) -> None:
        """After cancel / failure: no inputs, no staging folder of the killed pipeline, no empty out dir."""
        self._cleanup_inputs()
        if self.out_dir is not None and self.out_dir.is_dir():
            for partial in self.out_dir.glob(folder.STAGING_PREFIX + "*"):
                shutil.rmtree(partial, ignore_errors=True)
            folder.release_lock_of(self.out_dir, getattr(self.job and self.job.handle, "pid", None))
            if self._made_out_dir and not any(self.out_dir.iterdir()):
                self.out_dir.rmdir()
