"""One browser session's scoring: ``control.task.SceneScoringTask`` with the app's rules (no trame).

The app builds a ``ScoreOptions`` from its form (``options_from_form``), starts the same
``SceneScoringTask`` as the Slicer module (worker = this Python, ``sys.executable``), polls it
from the server's event loop, refuses a second Score while one runs, and after success keeps
the run's output folder for the downloads (``result.json``, ``features.csv``, ``overview.png``).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from ..errors import InputError, OptionError, translate
from ..options import ScoreOptions
from .task import SceneScoringTask
from ..worker.client import CANCELLED, FAILED, RUNNING, SKIPPED, SUCCEEDED

#: Radiomics settings offered in the app: label -> ``ScoreOptions.radiomics`` (the module's labels).
RADIOMICS_CHOICES = {"quick (original image only)": "quick", "Liu et al. 2025 (full)": "liu2025"}

#: The form's fields and their defaults (``ScoreOptions`` field names; text as typed in the form).
FORM_DEFAULTS = {"rings_mm": "3,6,9", "radiomics": "quick", "device": "auto", "bundle": "",
                 "signature": "", "inner_rim_mm": "", "air_hu": "", "ring_convention": "centre",
                 "kernel_radius": 1}


def options_from_form(form: dict) -> ScoreOptions:
    """``ScoreOptions`` from the app's form (empty text = the option's default).

    Raises:
        OptionError: a value ``ScoreOptions`` refuses (``message()`` names it as the GUI does).
    """
    values = {}
    for name, value in form.items():
        if name not in FORM_DEFAULTS:
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
    run's output folder, for downloads), ``result`` (its ``result.json`` dict).
    """

    def __init__(self, work_dir, python_command=None, runner=None):
        self.work_dir = Path(work_dir)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.python_command = list(python_command or [sys.executable])
        self.runner = runner
        self.task = None
        self.out_dir = None
        self.result = None

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
                                     work_dir=str(self.work_dir))
        return self.task.start()

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


__all__ = ["ScoringSession", "options_from_form", "message", "RADIOMICS_CHOICES", "FORM_DEFAULTS",
           "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED", "SKIPPED"]
