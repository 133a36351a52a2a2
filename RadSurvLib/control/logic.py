"""The Slicer module's logic without Qt or ScriptedLoadableModule: ``ScoringLogic``.

``RadSurv/RadSurv.py``'s ``RadSurvLogic`` is a thin ``ScriptedLoadableModuleLogic`` over this
class, so the same code runs in 3D Slicer (console, ``--no-main-window`` scripts, the GUI) and in
pytest on slicer-core. It holds:

- the worker's Python: RadSurv's own environment (``worker.environment.PythonEnvironment``), or
  the interpreter named by ``$RADSURV_WORKER_PYTHON`` (developers, shared cluster environments);
- ``startScoring`` (the GUI polls the returned ``control.task.SceneScoringTask``), ``process``
  (blocking, for scripts) and ``processCohort`` (``batch.process_cohort`` through the worker);
- the GUI's radiomics setting labels -> ``ScoreOptions.radiomics`` and the translation of
  ``OptionError`` into the GUI's labels (``guiMessage``).

Every scoring option is a ``RadSurvLib.options.ScoreOptions`` field; the methods take one
(``options=``) and/or field names as keywords (``process(..., rings_mm="0-3", device="cpu")``).
"""

from __future__ import annotations

import logging
import os

from ..errors import InputError, translate, user_message
from ..options import ScoreOptions

#: Set this variable to a Python that has RadSurv's dependencies to skip the bundled environment.
WORKER_PYTHON_VARIABLE = "RADSURV_WORKER_PYTHON"

#: Radiomics settings offered in the GUI: label -> ``ScoreOptions.radiomics``.
RADIOMICS_SETTING_LABELS = {"Liu et al. 2025 (full)": "liu2025", "quick (original image only)": "quick"}


def _options(options, settings: dict) -> ScoreOptions:
    """``options`` (default ``ScoreOptions()``) with ``settings`` (field names) applied and checked."""
    if options is not None and not isinstance(options, ScoreOptions):
        raise InputError(f"options: expected a RadSurvLib.options.ScoreOptions, got {type(options).__name__}.")
    options = options or ScoreOptions()
    return options.replace(**settings) if settings else options


def guiMessage(error: Exception) -> str:
    """An error's message with parameters named by their GUI labels (``options.FRONT_END_NAMES``); a
    refusal of the system (full disk, read-only folder, ...) as ``errors.environment_failure`` says it."""
    return user_message(error, "gui") or translate(error, "gui")


class ScoringLogic:
    """Scores cases from scene nodes or files through the worker (no Qt).

    Args:
        environment: ``worker.environment.PythonEnvironment`` (default: the one under the Slicer
            settings folder, made when first needed).
        runner: process runner handed to the worker client (tests inject a scripted one).
    """

    def __init__(self, environment=None, runner=None):
        self._environment = environment
        self.runner = runner

    # -- environment ---------------------------------------------------------------------------
    def environment(self):
        """``worker.environment.PythonEnvironment`` under the Slicer settings folder."""
        if self._environment is None:
            from ..worker.environment import PythonEnvironment

            self._environment = PythonEnvironment()
        return self._environment

    def environmentStatus(self, checkImports=False):
        """``EnvironmentStatus`` (ready / needs install / broken, with the reason); ready when
        ``$RADSURV_WORKER_PYTHON`` is set."""
        from ..worker.environment import READY, EnvironmentStatus

        if os.environ.get(WORKER_PYTHON_VARIABLE):
            return EnvironmentStatus(READY, f"${WORKER_PYTHON_VARIABLE} = {os.environ[WORKER_PYTHON_VARIABLE]}")
        return self.environment().status(check_imports=checkImports)

    def createEnvironment(self, repair=False):
        """Create (or with ``repair`` re-create) the environment, blocking; for the Python console."""
        env = self.environment()

        def log(message, fraction):
            logging.info(f"RadSurv environment: {message} ({fraction:.0%})")

        return env.repair(progress=log) if repair or env.location.exists() else env.create(progress=log)

    def workerPythonCommand(self):
        """Command prefix that starts the worker's Python: ``[$RADSURV_WORKER_PYTHON]`` or the environment's.

        Raises:
            InputError: the environment is not ready (the message says how to fix it).
        """
        if os.environ.get(WORKER_PYTHON_VARIABLE):
            return [os.environ[WORKER_PYTHON_VARIABLE]]
        status = self.environmentStatus()
        if not status.ready:
            raise InputError(f"{status.line()}. Create it with the Install button of the RadSurv module, or "
                             "RadSurv.RadSurvLogic().createEnvironment() in the Python console.")
        return [str(self.environment().python)]

    # -- settings ------------------------------------------------------------------------------
    @staticmethod
    def defaultBundlePath():
        """Folder of the shipped demonstration bundle, as text."""
        from ..models.bundle import default_bundle_path

        return str(default_bundle_path())

    @staticmethod
    def radiomicsSetting(label):
        """``ScoreOptions.radiomics`` of a GUI label (``RADIOMICS_SETTING_LABELS``) or of a setting name.

        Raises:
            OptionError: neither a label nor a setting name.
        """
        return ScoreOptions(radiomics=RADIOMICS_SETTING_LABELS.get(label, label)).radiomics

    @staticmethod
    def radiomicsParameterFile(label):
        """Path (text) of the PyRadiomics parameter file of a GUI label or setting name."""
        return str(ScoreOptions(radiomics=ScoringLogic.radiomicsSetting(label)).parameter_file())

    @staticmethod
    def optionsFromGui(rings, bundle, device, radiomicsSetting, **settings) -> ScoreOptions:
        """The ``ScoreOptions`` of the GUI's fields (empty text = default).

        Raises:
            OptionError: a field is invalid (``guiMessage`` names it by its GUI label).
        """
        return ScoreOptions(rings_mm=rings, bundle=bundle or None, device=device,
                            radiomics=ScoringLogic.radiomicsSetting(radiomicsSetting), **settings)

    # -- one case ------------------------------------------------------------------------------
    def startScoring(self, volumeNode, segmentationNode, segmentId, options=None, outputDir=None, outputs=None,
                     ifExists="skip", onProgress=None, pythonCommand=None, dicomDatabase=None, **settings):
        """Start scoring in the worker; returns the started ``control.task.SceneScoringTask``.

        Args:
            volumeNode, segmentationNode, segmentId: the CT and the GTV segment.
            options: ``ScoreOptions`` (default: the defaults); ``settings``: field names overriding it.
            outputDir: folder for the pipeline outputs (None: a new temporary folder).
            outputs: parts that go into the scene (``slicer.write.OUTPUT_PARTS`` -> bool).
            ifExists: "skip" / "add" / "replace" for inputs scored before (``SceneScoringTask``).
            onProgress: callable(``progress.ProgressEvent``).
            pythonCommand: the worker's Python (default ``workerPythonCommand()``).
            dicomDatabase: with ``dicom_out``, where the CT's DICOM files are found (default
                ``slicer.dicomDatabase``); the CT must have been loaded from it (``control.task``).

        Poll the task (``task.poll()``) until its state is not "running", or ``task.wait()``. State
        "skipped": the same inputs were scored before and ``ifExists`` is "skip".
        """
        from .task import SceneScoringTask

        options = _options(options, settings)
        task = SceneScoringTask(volumeNode, segmentationNode, segmentId,
                                pythonCommand or self.workerPythonCommand(), options=options, out_dir=outputDir,
                                outputs=outputs, if_exists=ifExists, runner=self.runner, on_progress=onProgress,
                                dicom_database=dicomDatabase)
        task.start()
        return task

    def process(self, volumeNode, segmentationNode, segmentId, options=None, outputDir=None, outputs=None,
                ifExists="skip", timeoutS=None, pythonCommand=None, dicomDatabase=None, **settings):
        """Score the case and add rings, voxel maps, heatmap and tables to the scene (blocking).

        Arguments as ``startScoring``; ``timeoutS`` cancels after this many seconds. Example:
        ``process(ct, segmentation, segmentId, rings_mm="0-3", device="cpu", radiomics="quick")``.

        Returns:
            dict: the content of ``result.json`` plus ``out_dir`` and ``nodes`` (created node IDs;
            with ``dicom_out``, ``outputs["dicom"]`` names the objects in ``out_dir/dicom/``); for a
            skipped run ``{"skipped": True, "existing": {...}}``.

        Raises:
            InputError (``OptionError`` for a bad option): bad inputs or environment not ready;
            worker.client.WorkerFailed: the worker failed (``.log`` has its log).
        """
        def log(event):
            logging.info(f"RadSurv {event.stage} {event.fraction:.0%}: {event.message}")

        task = self.startScoring(volumeNode, segmentationNode, segmentId, options=options, outputDir=outputDir,
                                 outputs=outputs, ifExists=ifExists, onProgress=log, pythonCommand=pythonCommand,
                                 dicomDatabase=dicomDatabase, **settings)
        if task.state == "skipped":
            return {"skipped": True, "existing": task.existing}
        state = task.wait(timeoutS)
        if state != "succeeded":
            from ..worker.client import WorkerFailed

            raise task.error or WorkerFailed(f"RadSurv scoring {state}.")
        return task.result

    # -- cohort --------------------------------------------------------------------------------
    def processCohort(self, cases, outputDir, options=None, resume=True, timeoutPerCaseS=None, pythonCommand=None,
                      scheduler=None, threadsPerCase=1, retries=2, **settings):
        """Score a cohort through the worker: each case scored, its outputs saved, a results.csv row.

        Args:
            cases: CSV file (columns case_id, ct, gtv; or rtstruct / seg + roi for a DICOM CT folder)
                or a list of dicts / (ct, gtv) / (case_id, ct, gtv) tuples (``batch.read_cases``).
            outputDir: ``results.csv`` and ``cases/<case_id>/``.
            options, settings: as ``process``; resume: skip cases already done with these options;
            timeoutPerCaseS: fail a case that takes longer.
            scheduler: None (one case after the other, each in a worker process), or "local[:N]" /
                a Dask scheduler address: then the whole batch runs as ``radsurv batch --scheduler``
                in RadSurv's environment (Dask lives there, not in Slicer's Python), blocking.
            threadsPerCase, retries: as ``radsurv batch`` (with a scheduler).

        Returns:
            dict ``results_csv``, ``done``, ``failed``, ``skipped`` (case IDs) and ``rows``.

        A failing case is recorded (status ``failed``, ``cases/<id>/error.log``) and the cohort goes
        on. Works under ``Slicer --no-main-window --python-script`` (end the script with ``sys.exit``).
        """
        from ..batch import process_cohort, worker_scorer

        options = _options(options, settings)
        python = pythonCommand or self.workerPythonCommand()
        if scheduler:
            return self._processCohortOnDask(cases, outputDir, options, resume, python, scheduler, threadsPerCase,
                                             retries, timeoutPerCaseS)

        def progress(event):
            logging.info(f"RadSurv cohort {event.message}")

        scorer = worker_scorer(python, runner=self.runner, timeout_s=timeoutPerCaseS)
        return process_cohort(cases, outputDir, scorer=scorer, options=options, resume=resume, progress=progress)

    def _processCohortOnDask(self, cases, outputDir, options, resume, python, scheduler, threadsPerCase, retries,
                             timeoutPerCaseS):
        """``radsurv batch --scheduler`` in RadSurv's environment; the summary read back from results.csv."""
        import json
        import subprocess
        import tempfile
        from pathlib import Path

        from ..batch import read_cases, read_results
        from ..worker.environment import worker_environ

        outputDir = Path(outputDir).resolve()
        outputDir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="RadSurv-cohort-") as folder:
            casesFile = Path(folder) / "cases.csv"
            if isinstance(cases, (str, Path)):
                casesFile = Path(cases).resolve()
            else:
                import csv

                cohort = read_cases(cases)
                with open(casesFile, "w", newline="", encoding="utf-8") as handle:
                    writer = csv.writer(handle)
                    writer.writerow(["case_id", "ct", "gtv", "rtstruct", "seg", "roi"])
                    for case in cohort:
                        writer.writerow([case.case_id, case.ct, case.gtv or "", case.rtstruct or "", case.seg or "",
                                         case.roi or ""])
            optionsFile = Path(folder) / "options.json"
            optionsFile.write_text(json.dumps(options.to_job()), encoding="utf-8")
            command = [*python, "-m", "RadSurvLib", "batch", "--cases", str(casesFile), "--out", str(outputDir),
                       "--options-file", str(optionsFile), "--scheduler", str(scheduler),
                       "--threads-per-case", str(int(threadsPerCase)), "--retries", str(int(retries))]
            command += [] if resume else ["--no-resume"]
            command += [] if timeoutPerCaseS is None else ["--timeout-per-case", str(timeoutPerCaseS)]
            done = subprocess.run(command, env=worker_environ(), capture_output=True, text=True)
        if done.returncode not in (0, 1):  # 1: some case failed (recorded); anything else: the run itself
            lines = (done.stderr or done.stdout or "").strip().splitlines()
            raise InputError(f"The cohort could not run on {scheduler}: {lines[-1] if lines else 'no message'}")
        rows = read_results(outputDir)
        summary = {status: [c for c, r in rows.items() if r["status"] == status] for status in ("done", "failed")}
        return {"results_csv": str(outputDir / "results.csv"), **summary, "skipped": [], "rows": rows}
