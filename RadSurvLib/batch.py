"""Batch scoring of a cohort with a results CSV that survives a crash, a kill and a resume.

``process_cohort(cases, output_dir, options, scheduler=...)`` scores every case into
``output_dir/cases/<case_id>/`` (the outputs of ``pipeline.score_case``) and appends one row per
case to ``output_dir/results.csv`` as soon as the case ends. One cohort run at a time holds
``output_dir`` (``outputs.folder.run_lock``), and it refuses a folder holding files RadSurv did not
write unless ``overwrite`` (as ``score_case`` does for each case's folder). Only this process (the client) writes
``results.csv``: each row is one ``write`` of a whole line, flushed and synced, so a crash or a kill
never leaves half a row that a resume would trust (a cut last line is removed on resume). A case
that fails is recorded with its error (status ``failed``, ``cases/<id>/error.log``) and the cohort
goes on. Where the cases run is the *scheduler* (``RadSurvLib.scheduler``): one after the other in
this process, or one Dask task per case on a LocalCluster or any Dask cluster.

Running the same call again resumes. A case is skipped only when its ``result.json`` was made with
the same result-changing options (``ScoreOptions.result_key_fields``) and the same model weights
(SHA-256); a case scored with other options or another bundle is scored again (``on_changed=
"rerun"``, its earlier outputs replaced) or the call is refused (``"refuse"``), as the caller
chooses. Failed and missing cases are scored (again); a case whose ``result.json`` exists without a
row (stopped between the two) is recorded from it.

Cases are a CSV file or a list:

- CSV (UTF-8, with or without a byte-order mark; column names in any case): one row per case,
  columns ``case_id`` (optional), ``ct``, and ``gtv`` (mask file) or ``rtstruct`` + ``roi`` or
  ``seg`` (+ ``roi``) for a DICOM CT folder; checked whole before any case runs (``read_cases``).
  Relative paths are relative to the CSV's folder. Other columns (clinical: survival time, event,
  age, ...) are carried into the cohort feature table (``write_feature_table``).
- list: dicts with the same keys, ``(ct, gtv)`` or ``(case_id, ct, gtv)`` tuples.

How a case is scored is a *scorer*: ``in_process_scorer`` (``score_case`` in the scheduler's
process; the default) or ``worker_scorer`` (the worker process in RadSurv's environment: what the
Slicer module uses). No Qt.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from .errors import InputError, environment_failure
from .outputs import folder

#: Columns of results.csv, in order. ``warnings``: RadSurv's warnings of the case (result.json's,
#: joined by `` | ``), e.g. a GTV of several parts or a clipped ring.
RESULT_COLUMNS = ("case_id", "status", "risk_score", "risk_group", "model", "out_dir", "seconds", "error",
                  "finished_at", "warnings")
#: The columns of a results.csv written before the ``warnings`` column: still read, and appended to
#: in its own columns (a resumed cohort keeps one format per file).
EARLIER_RESULT_COLUMNS = RESULT_COLUMNS[:-1]

#: Input columns of a cases CSV.
CASE_COLUMNS = ("case_id", "ct", "gtv", "rtstruct", "seg", "roi")

RESULTS_FILE = "results.csv"
DONE, FAILED = "done", "failed"


@dataclass
class CohortCase:
    """One case: ``case_id`` (folder name of its outputs), CT and GTV sources (paths as text)."""

    case_id: str
    ct: str
    gtv: str | None = None
    rtstruct: str | None = None
    seg: str | None = None
    roi: str | None = None
    extra: dict | None = None  # the cases CSV's other columns (clinical), text

    def job(self, options, out_dir) -> dict:
        """The worker job of this case: its inputs, ``out_dir`` and ``options`` (``ScoreOptions``)."""
        from .worker.protocol import make_job

        return make_job(options, self.ct, str(out_dir), gtv=self.gtv, rtstruct=self.rtstruct, seg=self.seg,
                        roi=self.roi)


def _case_id_from_path(path: str) -> str:
    name = Path(path.rstrip("/\\")).name
    for suffix in (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    return name


def _safe_id(case_id: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", str(case_id)).strip("._")
    if not safe:
        raise InputError(f"case_id {case_id!r}: use letters, digits, '.', '_' or '-'.")
    return safe


def read_cases(cases) -> list[CohortCase]:
    """The cases of a CSV file or a list (see the module docstring), checked before any case runs.

    A CSV is UTF-8 (a byte-order mark is fine), with CRLF or LF line ends; its column names are
    not case-sensitive (``CT``, ``Gtv``); blank lines are skipped; errors name the file's line.
    Files are not opened here: a missing file fails that case only, at its turn.

    Raises:
        OptionError (``cases``): the CSV is missing, not UTF-8, or lacks the ``ct`` column or a
            GTV column (``gtv``, ``rtstruct`` or ``seg``), named once.
        InputError: an entry has no CT or no GTV, two cases share an ID, or an entry is neither
            a dict nor a (ct, gtv) / (case_id, ct, gtv) tuple.
    """
    base, where = None, "entry"
    if isinstance(cases, (str, os.PathLike)):
        entries, base, where = _read_cases_csv(Path(cases)), Path(cases).resolve().parent, "line"
    else:
        entries = list(enumerate(cases, start=1))
    result, seen = [], {}
    for number, entry in entries:
        extra = {}
        if isinstance(entry, dict):
            values = {k: (str(v).strip() if v not in (None, "") else None) for k, v in entry.items() if k in CASE_COLUMNS}
            extra = {k: v for k, v in entry.items() if k not in CASE_COLUMNS and k is not None}
        elif isinstance(entry, (tuple, list)) and len(entry) in (2, 3):
            values = dict(zip(("case_id", "ct", "gtv") if len(entry) == 3 else ("ct", "gtv"), map(str, entry)))
        else:
            raise InputError(f"cases: entry {number} ({entry!r}) must be a dict or a (ct, gtv) / (case_id, ct, gtv) tuple.")
        if not values.get("ct"):
            raise InputError(f"cases: {where} {number} has no CT ('ct').")
        if base is not None and not any(values.get(k) for k in ("gtv", "rtstruct", "seg")):
            raise InputError(f"cases: {where} {number} has no GTV: give its gtv (a mask file), or rtstruct + roi, "
                             "or seg.")
        for key in ("ct", "gtv", "rtstruct", "seg"):
            if values.get(key) and base is not None and not Path(values[key]).is_absolute():
                values[key] = str(base / values[key])
        case_id = _safe_id(values.get("case_id") or _case_id_from_path(values["ct"]))
        if case_id in seen:
            raise InputError(f"cases: {where}s {seen[case_id]} and {number} both have case_id {case_id!r}; "
                             "give each case its own case_id.")
        seen[case_id] = number
        result.append(CohortCase(case_id, values["ct"], values.get("gtv"), values.get("rtstruct"),
                                 values.get("seg"), values.get("roi"), extra))
    return result


def _read_cases_csv(path: Path) -> list[tuple[int, dict]]:
    """(line number in the file, row) of each case of a cases CSV; the case columns' names
    lower-cased, the other columns' kept as they are. Errors: see ``read_cases``."""
    import io

    from .errors import OptionError

    if not path.is_file():
        raise OptionError("cases", f"{path} is not a file; give a CSV with columns case_id, ct, gtv (or rtstruct/seg "
                                   "+ roi).")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise (environment_failure(exc, "cases", path) or exc) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, [])
    names = [h.strip().lower() if h.strip().lower() in CASE_COLUMNS else h for h in header]
    twice = sorted({n for n in names if n in CASE_COLUMNS and names.count(n) > 1})
    missing = [] if "ct" in names else ["ct"]
    if not {"gtv", "rtstruct", "seg"} & set(names):
        missing.append("gtv (or rtstruct + roi, or seg)")
    if missing or twice:
        problem = f"no {' and no '.join(missing)} column" if missing else f"the column {', '.join(twice)} twice"
        raise OptionError("cases", f"{path}: its header line ({','.join(header) or 'empty'}) has {problem}; the "
                                   "first line names the columns case_id, ct, gtv (or rtstruct + roi, or seg), in any "
                                   "case (CT, GTV).")
    rows, last = [], reader.line_num
    for values in reader:
        start, last = last + 1, reader.line_num
        if any(v.strip() for v in values):
            rows.append((start, {n: v for n, v in zip(names, values)}))
    return rows


def read_results(output_dir) -> dict[str, dict]:
    """Last valid row of ``results.csv`` per case ID (empty when there is no file).

    Rows that are not whole (a cut line, an unknown status) are ignored: their case is not done.

    Raises:
        InputError: the file is not a RadSurv results file (another header).
    """
    path = Path(output_dir) / RESULTS_FILE
    if not path.is_file() or path.stat().st_size == 0:
        return {}
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = tuple(next(reader, []))
        if header not in (RESULT_COLUMNS, EARLIER_RESULT_COLUMNS):
            raise InputError(f"output_dir: {path} is not a RadSurv results file (its header is {list(header[:4])}...); "
                             "choose another output folder.")
        rows = {}
        for values in reader:
            row = dict(zip(header, values))
            if len(values) == len(header) and row["case_id"] and row["status"] in (DONE, FAILED):
                rows[row["case_id"]] = {column: row.get(column, "") for column in RESULT_COLUMNS}
    return rows


def _file_columns(path: Path) -> tuple:
    """The columns to append to ``path``: its own header's when it is an earlier results file."""
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            header = tuple(next(csv.reader(handle), []))
    except FileNotFoundError:
        return RESULT_COLUMNS
    return EARLIER_RESULT_COLUMNS if header == EARLIER_RESULT_COLUMNS else RESULT_COLUMNS


def _repair_results(path: Path) -> None:
    """Cut a last line that a kill left half-written (no line end), so the next row starts clean."""
    if not path.is_file() or path.stat().st_size == 0:
        return
    data = path.read_bytes()
    if not data.endswith(b"\n"):
        with open(path, "r+b") as handle:
            handle.truncate(data.rfind(b"\n") + 1)


def _append_row(path: Path, row: dict) -> None:
    """Append one row as one write of a whole line (O_APPEND), flushed and synced."""
    import io

    buffer = io.StringIO()
    new_file = not path.exists() or path.stat().st_size == 0
    columns = RESULT_COLUMNS if new_file else _file_columns(path)
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    if new_file:
        writer.writeheader()
    writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in columns})
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, buffer.getvalue().encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:  # os.write names no file: a full disk is named here
        raise (environment_failure(exc, "out_dir", path) or exc) from None


def _row_from_result(case_id, result: dict, out_dir: Path, seconds) -> dict:
    model = result.get("model") or {}  # None for ROI features only
    return {"case_id": case_id, "status": DONE, "risk_score": result.get("risk_score"),
            "risk_group": result.get("risk_group"),
            "model": f"{model.get('name', '')} {model.get('version', '')}".strip(),
            "out_dir": str(out_dir), "seconds": seconds, "error": "",
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S"), "warnings": " | ".join(result.get("warnings") or [])}


def in_process_scorer(job: dict) -> dict:
    """Score a worker job in this interpreter (needs torch, PyRadiomics...); returns result.json."""
    from .worker.job import score_job

    return score_job(job)[1]


def worker_scorer(python_command, runner=None, timeout_s=None, on_progress=None):
    """A scorer that runs each job in a worker process (``worker.client.WorkerJob``).

    Args:
        python_command: the worker's Python (``[PythonEnvironment.python]``).
        runner: process runner (tests); timeout_s: per case, then the case fails;
        on_progress: callable(``progress.ProgressEvent``) for the events within a case.

    Returns:
        callable(job dict) -> result dict; raises ``worker.client.WorkerFailed`` (message + log).
    """
    import tempfile

    from .worker.client import SUCCEEDED, WorkerFailed, WorkerJob

    def score(job: dict) -> dict:
        """Run ``job`` in a worker; its result.json dict, or raise its ``WorkerFailed``."""
        with tempfile.TemporaryDirectory(prefix="RadSurv-cohort-job-") as job_dir:
            worker_job = WorkerJob(job, python_command, job_dir, runner=runner, on_progress=on_progress)
            worker_job.start()
            state = worker_job.wait(timeout_s)
            if state != SUCCEEDED:
                raise worker_job.error or WorkerFailed(f"the worker was stopped ({state}).")
            return worker_job.result

    return score


def _case_options(options, out_dir: Path, overwrite: bool):
    """The options of one case: ``overwrite`` as the cohort decides, a scene file in the case's folder."""
    from .options import OptionError

    changes = {"overwrite": overwrite}
    if options.scene_path:
        name = Path(options.scene_path)
        if name.name != str(name):
            raise OptionError("scene_path", f"{options.scene_path}: in a cohort each case gets its own scene in its "
                                            "folder; give a file name only (e.g. scene.mrb).")
        changes["scene_path"] = str(out_dir / name)
    return options.replace(**changes)


#: Choices for a finished case scored with other options or another bundle than this call's.
ON_CHANGED_CHOICES = ("rerun", "refuse")

#: The cohort feature table written by ``write_feature_table`` (``radsurv features``).
FEATURE_TABLE_FILE = "features.csv"


def _run_key(options) -> dict:
    """What a finished case must match to be skipped on resume: the result-changing options and the
    SHA-256 of the model weights (the bundle is verified here, once, so a tampered one is refused)."""
    key = {"options": json.loads(json.dumps(options.result_key_fields(), default=str)), "weights_sha256": None}
    if not options.features_only:
        from .models.bundle import default_bundle_path, load_bundle

        bundle = options.bundle if hasattr(options.bundle, "config") else load_bundle(
            options.bundle or default_bundle_path())
        key["weights_sha256"] = bundle.config.get("weights", {}).get("sha256")
    return key


def _recorded_key(result: dict) -> dict:
    """The run key a result.json was made with (``_run_key``'s shape)."""
    model = result.get("model") or {}
    return {"options": result.get("options"), "weights_sha256": model.get("weights_sha256")}


def _key_differences(recorded: dict, current: dict) -> list[str]:
    """Names of what differs between two run keys (option fields, "model weights")."""
    if recorded.get("options") is None:
        return ["options (not recorded: scored by an earlier RadSurv)"]
    names = sorted(k for k in set(recorded["options"]) | set(current["options"])
                   if recorded["options"].get(k) != current["options"].get(k))
    if recorded.get("weights_sha256") != current.get("weights_sha256"):
        names.append("model weights")
    return names


def _event(status: str, finished: int, total: int, case_id: str):
    """The ``ProgressEvent`` of a cohort: ``stage`` is the case's status, ``fraction`` the share of
    the cohort finished (done, failed or skipped)."""
    from .progress import ProgressEvent

    return ProgressEvent(status, round(finished / total, 4) if total else 1.0,
                         f"[{finished}/{total}] {case_id}: {status}", done=status != "started", case_id=case_id)


class _Recorder:
    """Writes what happens to each case (results.csv rows, error.log, the summary, progress events)."""

    def __init__(self, results_csv: Path, total: int, report):
        self.results_csv, self.total, self.report = results_csv, total, report
        self.summary = {"results_csv": str(results_csv), "done": [], "failed": [], "skipped": [], "peak_rss_mb": {}}
        self.finished = 0

    def skipped(self, case_id: str) -> None:
        self._finish(case_id, "skipped")

    def started(self, case_id: str) -> None:
        self.report(_event("started", self.finished, self.total, case_id))

    def outcome(self, case_id: str, out_dir: Path, outcome) -> None:
        """Record a ``scheduler.CaseOutcome``."""
        self.summary["peak_rss_mb"][case_id] = outcome.peak_rss_mb
        if outcome.status == DONE:
            (out_dir / folder.ERROR_LOG).unlink(missing_ok=True)
            _append_row(self.results_csv, _row_from_result(case_id, outcome.result, out_dir, outcome.seconds))
        else:
            _append_row(self.results_csv, {"case_id": case_id, "status": FAILED, "out_dir": str(out_dir),
                                           "seconds": outcome.seconds, "error": outcome.error,
                                           "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S")})
            out_dir.mkdir(parents=True, exist_ok=True)
            (out_dir / folder.ERROR_LOG).write_text(outcome.error + "\n\n" + outcome.log + "\n", encoding="utf-8")
        self._finish(case_id, outcome.status)

    def _finish(self, case_id: str, status: str) -> None:
        self.summary[status].append(case_id)
        self.finished += 1
        self.report(_event(status, self.finished, self.total, case_id))


def _check_run_settings(threads_per_case, retries, timeout_per_case_s, on_changed) -> None:
    if not isinstance(threads_per_case, int) or threads_per_case < 1:
        raise InputError(f"threads_per_case: {threads_per_case!r} is not a whole number >= 1.")
    if not isinstance(retries, int) or retries < 0:
        raise InputError(f"retries: {retries!r} is not a whole number >= 0.")
    if timeout_per_case_s is not None and not (isinstance(timeout_per_case_s, (int, float)) and timeout_per_case_s > 0):
        raise InputError(f"timeout_per_case_s: {timeout_per_case_s!r} is not a number of seconds > 0.")
    if on_changed not in ON_CHANGED_CHOICES:
        raise InputError(f"on_changed: {on_changed!r}; choose one of {', '.join(ON_CHANGED_CHOICES)}.")


def process_cohort(cases, output_dir, scorer=None, options=None, resume=True, progress=None, scheduler=None,
                   threads_per_case: int = 1, retries: int = 2, timeout_per_case_s=None,
                   on_changed: str = "rerun", on_dashboard=None) -> dict:
    """Score a cohort; one results.csv row per case as it ends; resume on a second call.

    Args:
        cases: CSV path or list (``read_cases``).
        output_dir: folder for ``results.csv`` and ``cases/<case_id>/`` (created).
        scorer: callable(job dict) -> result dict (``in_process_scorer``, the default, or
            ``worker_scorer(...)``); on Dask it must be picklable.
        options: ``options.ScoreOptions`` for every case (None: the defaults). Its ``scene_path``,
            when set, is a file name saved in each case's folder; ``overwrite`` replaces earlier
            outputs of a case that is scored (again).
        resume: skip cases already done with these options and this model (default); False scores
            every case again into a fresh ``cases/<case_id>``.
        progress: optional callable(``progress.ProgressEvent``), one per case event:
            ``stage`` "started", "done", "failed" or "skipped", ``case_id``, ``fraction`` of the
            cohort finished.
        scheduler: where the cases run (``scheduler.SchedulerSpec.parse``): None (one after the
            other here), "local[:N]" or a Dask scheduler address.
        threads_per_case: BLAS / OpenMP / torch threads per case (default 1).
        retries: on Dask, how many worker deaths (kill, out of memory) a case survives.
        timeout_per_case_s: on Dask, seconds after which a running case is stopped and failed.
        on_changed: "rerun" (default) or "refuse" a finished case made with other result-changing
            options or another model than this call's.
        on_dashboard: optional callable(str) given the Dask dashboard address.

    Returns:
        dict with ``results_csv`` (path), ``done``, ``failed``, ``skipped`` (lists of case IDs, this
        call, in the order they ended), ``peak_rss_mb`` (case -> MiB of the process that scored it)
        and ``rows`` (the last row per case, after this call).

    Raises:
        InputError: bad ``cases`` (see ``read_cases``), options, scheduler or run settings (with
            ``options.dicom_out``, a case whose CT is not a DICOM series folder); a
            model bundle that fails its checksum; a CUDA device on this computer without one (cases
            scored here); ``on_changed="refuse"`` with changed cases. OptionError (``out_dir``):
            another cohort run holds ``output_dir``, or it holds files RadSurv did not write
            (refused unless ``options.overwrite``; see ``outputs.folder``).
    """
    from .options import ScoreOptions
    from .scheduler import SchedulerSpec

    cohort = read_cases(cases)
    scorer = scorer or in_process_scorer
    options = ScoreOptions() if options is None else options
    if not isinstance(options, ScoreOptions):
        raise InputError(f"options: expected a RadSurvLib.options.ScoreOptions, got {type(options).__name__}.")
    _case_options(options, Path("."), False)  # a bad scene file name fails before any case
    _refuse_dicom_out_without_series(cohort, options)
    _check_run_settings(threads_per_case, retries, timeout_per_case_s, on_changed)
    spec = SchedulerSpec.parse(scheduler, threads_per_case)
    key = _run_key(options)
    if scorer is in_process_scorer and spec.kind != "address":  # the cases run on this computer
        from .models.inference import check_device

        check_device(options.device)  # cuda without a GPU: refused before any case

    output_dir = Path(output_dir).resolve()
    output_dir.mkdir(parents=True, exist_ok=True)
    with folder.run_lock(output_dir):  # one cohort run at a time appends to results.csv
        _check_cohort_folder(output_dir, options.overwrite, cases)
        return _run_cohort(cohort, output_dir, scorer, options, resume, progress, spec, key, on_changed,
                           threads_per_case, retries, timeout_per_case_s, on_dashboard)


def _refuse_dicom_out_without_series(cohort, options) -> None:
    """With ``dicom_out``, every case's CT must be a DICOM series folder (its objects reference the
    study): cases with a CT file are refused before any case runs, up to five named.

    Raises:
        OptionError (``dicom_out``).
    """
    from .errors import OptionError

    files = [case.case_id for case in cohort if not Path(case.ct).is_dir()]
    if options.dicom_out and files:
        more = f" and {len(files) - 5} more" if len(files) > 5 else ""
        raise OptionError("dicom_out", f"{len(files)} case(s) have their CT as a file (NIfTI / NRRD), not as a DICOM "
                                       f"series folder, so there is no study to reference: {', '.join(files[:5])}{more}. "
                                       "Give those CTs as their DICOM series folders (with [[rtstruct]] or [[seg]]), "
                                       "score them in another cohort without DICOM outputs, or leave DICOM outputs off.")


def _check_cohort_folder(output_dir: Path, overwrite: bool, cases) -> None:
    """Refuse a cohort folder holding files RadSurv did not write, unless ``overwrite``: RadSurv's
    are ``results.csv`` (its header checked by ``read_results``), ``cases/``, and the feature table
    beside a ``results.csv``; the cases CSV itself may lie there too."""
    read_results(output_dir)
    own = {RESULTS_FILE, "cases"} | ({FEATURE_TABLE_FILE} if (output_dir / RESULTS_FILE).is_file() else set())
    if isinstance(cases, (str, os.PathLike)) and Path(cases).resolve().parent == output_dir:
        own.add(Path(cases).name)
    theirs = sorted(p.name for p in output_dir.iterdir() if p.name not in own and not p.name.startswith("."))
    if theirs and not overwrite:
        raise folder.users_files_error(output_dir, theirs)


def _run_cohort(cohort, output_dir: Path, scorer, options, resume, progress, spec, key, on_changed,
                threads_per_case, retries, timeout_per_case_s, on_dashboard) -> dict:
    """``process_cohort`` once its settings are checked and it holds the output folder's lock."""
    from .scheduler import dask_client, run_on_dask, run_sequential

    (output_dir / "cases").mkdir(parents=True, exist_ok=True)
    results_csv = output_dir / RESULTS_FILE
    _repair_results(results_csv)
    earlier = read_results(output_dir) if resume else {}
    recorder = _Recorder(results_csv, len(cohort), progress or (lambda event: None))
    todo, changed = _plan(cohort, output_dir, earlier, key, resume, options, recorder)
    if changed and on_changed == "refuse":
        listed = "; ".join(f"{case.case_id} ({', '.join(what)})" for case, what in changed[:5])
        raise InputError(f"{len(changed)} finished case(s) were scored with other settings than now: {listed}. "
                         "Score them again (on_changed='rerun'), or use the earlier settings or another output folder.")
    jobs, out_dirs = [], {}
    for case, overwrite in todo + [(case, True) for case, _ in changed]:
        out_dirs[case.case_id] = output_dir / "cases" / case.case_id
        jobs.append((case.case_id, case.job(_case_options(options, out_dirs[case.case_id], overwrite),
                                            out_dirs[case.case_id])))

    def finished(case_id, outcome):
        recorder.outcome(case_id, out_dirs[case_id], outcome)

    if spec.kind == "sequential":
        run_sequential(jobs, scorer, threads_per_case, recorder.started, finished)
    elif jobs:
        with dask_client(spec, threads_per_case, retries) as client:
            if on_dashboard and client.dashboard_link:
                on_dashboard(client.dashboard_link)
            run_on_dask(jobs, scorer, client, threads_per_case, timeout_per_case_s, recorder.started, finished)
    summary = recorder.summary
    summary["rows"] = read_results(output_dir)
    return summary


def _plan(cohort, output_dir: Path, earlier: dict, key: dict, resume: bool, options, recorder):
    """Split the cohort into skipped cases (recorded now), cases to score ([(case, overwrite)]) and
    finished cases made with other settings ([(case, differences)])."""
    todo, changed = [], []
    for case in cohort:
        out_dir = output_dir / "cases" / case.case_id
        for partial in out_dir.glob(folder.STAGING_PREFIX + "*"):  # a killed run's staging folder
            shutil.rmtree(partial, ignore_errors=True)
        result = _read_result(out_dir) if resume else None
        if result is None:
            todo.append((case, options.overwrite or not resume))
            continue
        differences = _key_differences(_recorded_key(result), key)
        if differences:
            changed.append((case, differences))
            continue
        row = earlier.get(case.case_id)
        if row is None or row.get("status") != DONE:  # finished but not recorded: record it now
            _append_row(recorder.results_csv, _row_from_result(case.case_id, result, out_dir, ""))
        recorder.skipped(case.case_id)
    return todo, changed


def _read_result(out_dir: Path):
    """A case's result.json, or None when there is none (or it is unreadable: scored again)."""
    try:
        return json.loads((out_dir / "result.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_feature_table(output_dir, cases=None) -> Path:
    """The cohort feature table of a finished batch: ``<output_dir>/features.csv``.

    One row per done case: ``case_id``, the cases CSV's other columns (clinical data, carried
    through as text), then the case's ROI features named as ``survival.signature.case_feature_row``
    names them (GTV features under their PyRadiomics names, ring features prefixed with the ring,
    e.g. ``ring_3-6mm_original_firstorder_Mean``), so that ``radsurv signature fit --features`` reads it
    directly (``--id-column case_id``) and ``radsurv score --signature`` applies the fitted signature.

    Args:
        output_dir: the batch's output folder.
        cases: the cases (CSV path or list, ``read_cases``) for the clinical columns; None: none.

    Raises:
        InputError: no case of the batch is done.
    """
    from .survival.signature import case_feature_row

    output_dir = Path(output_dir)
    extra = {case.case_id: case.extra or {} for case in (read_cases(cases) if cases is not None else [])}
    rows = [row for row in read_results(output_dir).values() if row["status"] == DONE]
    if not rows:
        raise InputError(f"output_dir: no case of {output_dir} is done; there are no features to tabulate.")
    table, columns = [], ["case_id"]
    for row in sorted(rows, key=lambda r: r["case_id"]):
        features = case_feature_row(_read_features_csv(Path(row["out_dir"]) / "features.csv"))
        record = {"case_id": row["case_id"], **extra.get(row["case_id"], {}), **features}
        columns += [c for c in record if c not in columns]
        table.append(record)
    path = output_dir / FEATURE_TABLE_FILE
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows(table)
    return path


def _read_features_csv(path: Path) -> dict:
    """ROI -> feature -> value from a case's features.csv (``radiomics.roi.write_features_csv``)."""
    with open(path, newline="", encoding="utf-8") as handle:
        return {row.pop("roi"): {k: float(v) for k, v in row.items() if v != ""} for row in csv.DictReader(handle)}
