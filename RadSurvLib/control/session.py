"""One browser session's scoring: ``control.task.SceneScoringTask`` with the app's rules (no trame).

The app builds a ``ScoreOptions`` from its form (``options_from_form``), starts the same
``SceneScoringTask`` as the Slicer module (worker = this Python, ``sys.executable``), polls it
from the server's event loop, refuses a second Score while one runs, and after success keeps
the run's output folder for the downloads (``result.json``, ``features.csv``, ``overview.png``,
and with "DICOM outputs" ``dicom.zip``: the run's ``dicom/`` objects).

"DICOM outputs" need the CT's DICOM series: the app reads a DICOM CT itself, so the session keeps
the series' files in ``dicom_database`` (``DicomSeriesFiles``, the app's stand-in for Slicer's DICOM
database) and marks the CT node with their UIDs as Slicer's DICOM module does
(``register_dicom_series``); ``SceneScoringTask`` then hands the worker that series.
"""

from __future__ import annotations

import io
import shutil
import sys
import zipfile
from pathlib import Path

from ..errors import InputError, OptionError, translate
from ..options import ScoreOptions
from .task import DICOM_INSTANCE_UIDS_ATTRIBUTE, SceneScoringTask, dicom_series_files
from ..worker.client import CANCELLED, FAILED, RUNNING, SKIPPED, SUCCEEDED

#: Radiomics settings offered in the app: label -> ``ScoreOptions.radiomics`` (the module's labels).
RADIOMICS_CHOICES = {"quick (original image only)": "quick", "Liu et al. 2025 (full)": "liu2025"}

#: The form's fields and their defaults (``ScoreOptions`` field names; text as typed in the form).
FORM_DEFAULTS = {"rings_mm": "3,6,9", "radiomics": "quick", "device": "auto", "bundle": "",
                 "signature": "", "inner_rim_mm": "", "air_hu": "", "ring_convention": "centre",
                 "kernel_radius": 1, "dicom_out": False}

#: Where an app user's CT must come from for "DICOM outputs", and how to get there (the refusal's words).
APP_DICOM_SOURCE = "a DICOM series"
APP_DICOM_HINT = ('switch off "[[dicom_out]]", or load the CT as a DICOM series (upload the folder of its '
                  "slices, or choose that folder in the data folder)")

#: Name of the download that holds a run's DICOM objects.
DICOM_ARCHIVE = "dicom.zip"


class DicomSeriesFiles:
    """The app's stand-in for Slicer's DICOM database: the files of the DICOM series it loaded, by
    SOP Instance UID (``fileForInstance`` as ``ctkDICOMDatabase``'s, "" for an unknown UID)."""

    def __init__(self):
        self._files = {}

    def set(self, uids, files) -> None:
        """Hold this series' files (paths, one per UID, same order) instead of any earlier one's."""
        uids, files = list(uids), [str(f) for f in files]
        if len(uids) != len(files):
            raise InputError(f"DICOM series: {len(uids)} UIDs for {len(files)} files.")
        self._files = dict(zip(uids, files))

    def clear(self) -> None:
        """Forget every series."""
        self._files = {}

    def fileForInstance(self, uid: str) -> str:  # noqa: N802  (ctkDICOMDatabase's name)
        """The file of SOP Instance ``uid``, "" when it is not held."""
        return self._files.get(str(uid), "")


def options_from_form(form: dict) -> ScoreOptions:
    """``ScoreOptions`` from the app's form (empty text = the option's default).

    Raises:
        OptionError: a value ``ScoreOptions`` refuses (``message()`` names it as the GUI does).
    """
    values = {}
    for name, value in form.items():
        if name not in FORM_DEFAULTS:
            continue
        if name == "dicom_out":
            values[name] = bool(value)
            continue
        if isinstance(value, str):
            value = value.strip()
            if value == "":
                continue
        if name in ("inner_rim_mm", "air_hu"):
            value = _number(name, value)
        values[name] = value
    return ScoreOptions(**values)


def _number(name: str, value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise OptionError(name, f"{value!r} is not a number.") from None


def message(error: Exception) -> str:
    """An error for the app's user: options named by their GUI labels."""
    return translate(error, "gui")


class ScoringSession:
    """Scoring runs of one scene, one at a time.

    Args:
        work_dir: folder for the job folders (inputs, worker log, outputs) of this session.
        python_command: the worker's Python (default ``[sys.executable]``: the app's environment).
        runner: process runner for ``WorkerJob`` (tests inject a scripted one).

    Attributes: ``task`` (the current or last ``SceneScoringTask``), ``out_dir`` (the last successful
    run's output folder, for downloads), ``result`` (its ``result.json`` dict), ``dicom_database``
    (``DicomSeriesFiles``: the loaded DICOM CT's files, for "DICOM outputs").
    """

    def __init__(self, work_dir, python_command=None, runner=None):
        self.work_dir = Path(work_dir)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.python_command = list(python_command or [sys.executable])
        self.runner = runner
        self.task = None
        self.out_dir = None
        self.result = None
        self.dicom_database = DicomSeriesFiles()

    @property
    def running(self) -> bool:
        """True while a run is in progress."""
        return self.task is not None and self.task.state == RUNNING

    def start(self, ct_node, segmentation_node, segment_id: str, options: ScoreOptions, on_progress=None) -> str:
        """Start a run (``if_exists="add"``: each Score adds a set of results); returns the task state.

        Raises:
            InputError: a run is in progress, no CT / no GTV segment / an empty GTV, or bad options.
        """
        if self.running:
            raise InputError("A scoring run is in progress: wait for it or cancel it before scoring again.")
        self.task = SceneScoringTask(ct_node, segmentation_node, segment_id, self.python_command, options=options,
                                     if_exists="add", runner=self.runner, on_progress=on_progress,
                                     work_dir=str(self.work_dir), dicom_database=self.dicom_database,
                                     dicom_source=APP_DICOM_SOURCE, dicom_hint=APP_DICOM_HINT)
        return self.task.start()

    # -- DICOM outputs -----------------------------------------------------------------------------
    def register_dicom_series(self, ct_node, uids=(), files=()) -> bool:
        """Remember the DICOM series ``ct_node`` was read from (SOP Instance UIDs and their files, slice
        order) and mark the node with the UIDs (``DICOM.instanceUIDs``, as Slicer's DICOM module does);
        with no UIDs, forget any series and unmark the node. Returns whether the node now has a series."""
        if uids:
            self.dicom_database.set(uids, files)
            ct_node.SetAttribute(DICOM_INSTANCE_UIDS_ATTRIBUTE, " ".join(str(u) for u in uids))
            return True
        self.dicom_database.clear()
        ct_node.RemoveAttribute(DICOM_INSTANCE_UIDS_ATTRIBUTE)
        return False

    def has_dicom_series(self, ct_node) -> bool:
        """Whether "DICOM outputs" can run on ``ct_node``: its DICOM files are all held here."""
        if ct_node is None:
            return False
        try:
            return dicom_series_files(ct_node, self.dicom_database, APP_DICOM_HINT) is not None
        except OptionError:
            return False

    def dicom_archive(self) -> bytes:
        """The DICOM objects of the last successful run (``dicom/``: RTSTRUCT, SEG, Parametric Map, SR),
        as a ZIP archive (deflated) whose entries are ``dicom/<file>``.

        Raises:
            InputError: no run has succeeded yet, or it was scored without "DICOM outputs".
        """
        if self.out_dir is None:
            raise InputError("Nothing to download yet: score the case first.")
        written = ((self.result or {}).get("outputs") or {}).get("dicom") or {}
        if not written:
            raise InputError(translate(OptionError("dicom_out", "the last run wrote no DICOM objects: switch on "
                                                                '"[[dicom_out]]" and score again.'), "gui"))
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for relative in sorted(written.values()):
                path = self.out_dir / relative
                if not path.is_file():
                    raise InputError(f"The last run's {relative} is missing from its output folder.")
                archive.write(path, relative)
        return buffer.getvalue()

    def poll(self) -> str:
        """Advance the run; on success remember its outputs. Returns the state."""
        if self.task is None:
            return ""
        state = self.task.poll()
        if state == SUCCEEDED and self.task.out_dir is not None and self.task.result is not None:
            self.out_dir, self.result = Path(self.task.out_dir), self.task.result
        return state

    def cancel(self) -> None:
        """Cancel the run in progress (the scene is left as it was); nothing when none runs."""
        if self.running:
            self.task.cancel()

    def output_file(self, name: str) -> Path:
        """A file of the last successful run (``result.json``, ``features.csv``, ``overview.png``).

        Raises:
            InputError: no run has succeeded yet, or the run did not write that file.
        """
        if self.out_dir is None:
            raise InputError("Nothing to download yet: score the case first.")
        path = self.out_dir / name
        if not path.is_file():
            raise InputError(f"The last run wrote no {name}.")
        return path

    def close(self) -> None:
        """Cancel a run and remove this session's job folders."""
        self.cancel()
        shutil.rmtree(self.work_dir, ignore_errors=True)


__all__ = ["ScoringSession", "DicomSeriesFiles", "options_from_form", "message", "RADIOMICS_CHOICES",
           "FORM_DEFAULTS", "APP_DICOM_SOURCE", "APP_DICOM_HINT", "DICOM_ARCHIVE", "RUNNING", "SUCCEEDED", "FAILED",
           "CANCELLED", "SKIPPED"]
