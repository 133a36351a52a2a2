"""Batch scoring of a cohort with a results CSV that survives a crash and resumes.

``process_cohort(cases, output_dir)`` scores every case, one after the other, into
``output_dir/cases/<case_id>/`` (the outputs of ``pipeline.score_case``) and appends one row per
case to ``output_dir/results.csv`` as soon as the case ends (file flushed and synced). A case that
fails is recorded with its error (status ``failed``) and the cohort goes on. Running the same call
again resumes: cases whose last row says ``done`` and whose ``result.json`` is there are skipped;
failed and missing cases are scored (again). A case whose ``result.json`` exists without a row
(a crash between the two) is recorded from its ``result.json``, not scored again.

Cases are a CSV file or a list:

- CSV: one row per case, columns ``case_id`` (optional), ``ct``, and ``gtv`` (mask file) or
  ``rtstruct`` + ``roi`` or ``seg`` (+ ``roi``) for a DICOM CT folder. Relative paths are relative
  to the CSV's folder.
- list: dicts with the same keys, ``(ct, gtv)`` or ``(case_id, ct, gtv)`` tuples.

NRRD, NIfTI and DICOM (CT series folder + RTSTRUCT or SEG) are read by the worker
(``RadSurvLib.worker.server`` / ``dicom.resolve_score_inputs``). How a case is scored is a *scorer*:
``worker_scorer`` (the worker process in RadSurv's environment: what the Slicer module uses) or
``in_process_scorer`` (``score_case`` in this interpreter: for the ``radsurv`` package). No Qt.
"""

from __future__ import annotations

import csv
import json
import os
import re
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from .errors import InputError

#: Columns of results.csv, in order.
RESULT_COLUMNS = ("case_id", "status", "risk_score", "risk_group", "model", "out_dir", "seconds", "error",
                  "finished_at")

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

    def job(self) -> dict:
        """The input part of a worker job."""
        return {"ct": self.ct, "gtv": self.gtv, "rtstruct": self.rtstruct, "seg": self.seg, "roi": self.roi}


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
    """The cases of a CSV file or a list (see the module docstring), checked for unique IDs.

    Files are not opened here: a missing file fails that case only, at its turn.

    Raises:
        InputError: the CSV is missing or has no ``ct`` column, an entry has no CT, two cases share
            an ID, or an entry is neither a dict nor a (ct, gtv) / (case_id, ct, gtv) tuple.
    """
    base = None
    if isinstance(cases, (str, os.PathLike)):
        path = Path(cases)
        if not path.is_file():
            raise InputError(f"cases: {path} is not a file; give a CSV with columns case_id, ct, gtv "
                             "(or rtstruct/seg + roi), or a Python list.")
        with open(path, newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.DictReader(handle))
        if not rows or "ct" not in rows[0]:
            raise InputError(f"cases: {path} needs a header with a 'ct' column (and gtv or rtstruct/seg, roi).")
        entries, base = rows, path.resolve().parent
    else:
        entries = list(cases)
    result, seen = [], {}
    for number, entry in enumerate(entries, start=1):
        if isinstance(entry, dict):
            values = {k: (str(v).strip() if v not in (None, "") else None) for k, v in entry.items() if k in CASE_COLUMNS}
        elif isinstance(entry, (tuple, list)) and len(entry) in (2, 3):
            values = dict(zip(("case_id", "ct", "gtv") if len(entry) == 3 else ("ct", "gtv"), map(str, entry)))
        else:
            raise InputError(f"cases: entry {number} ({entry!r}) must be a dict or a (ct, gtv) / (case_id, ct, gtv) tuple.")
        if not values.get("ct"):
            raise InputError(f"cases: entry {number} has no CT ('ct').")
        for key in ("ct", "gtv", "rtstruct", "seg"):
            if values.get(key) and base is not None and not Path(values[key]).is_absolute():
                values[key] = str(base / values[key])
        case_id = _safe_id(values.get("case_id") or _case_id_from_path(values["ct"]))
        if case_id in seen:
            raise InputError(f"cases: entries {seen[case_id]} and {number} both have case_id {case_id!r}; "
                             "give each case its own case_id.")
        seen[case_id] = number
        result.append(CohortCase(case_id, values["ct"], values.get("gtv"), values.get("rtstruct"),
                                 values.get("seg"), values.get("roi")))
    return result


def read_results(output_dir) -> dict[str, dict]:
    """Last row of ``results.csv`` per case ID (empty when there is no file)."""
    path = Path(output_dir) / RESULTS_FILE
    if not path.is_file():
        return {}
    with open(path, newline="", encoding="utf-8") as handle:
        return {row["case_id"]: row for row in csv.DictReader(handle)}


def _append_row(path: Path, row: dict) -> None:
    new = not path.exists() or path.stat().st_size == 0
    with open(path, "a", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=RESULT_COLUMNS, extrasaction="ignore")
        if new:
            writer.writeheader()
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in RESULT_COLUMNS})
        handle.flush()
        os.fsync(handle.fileno())


def _row_from_result(case_id, result: dict, out_dir: Path, seconds) -> dict:
    model = result.get("model") or {}
    return {"case_id": case_id, "status": DONE, "risk_score": result.get("risk_score"),
            "risk_group": result.get("risk_group"),
            "model": f"{model.get('name', '')} {model.get('version', '')}".strip(),
            "out_dir": str(out_dir), "seconds": seconds, "error": "",
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S")}


def in_process_scorer(job: dict) -> dict:
    """Score a worker job in this interpreter (needs torch, PyRadiomics...); returns result.json."""
    from .io.dicom import resolve_score_inputs
    from .worker.server import load_job
    from .pipeline import score_case

    job = load_job(job)
    ct, gtv = resolve_score_inputs(job["ct"], job["gtv"], job["rtstruct"], job["seg"], job["roi"])
    return score_case(ct, gtv, job["out_dir"], bundle=job["bundle"], rings_mm=job["rings_mm"], device=job["device"],
                      overwrite=bool(job["overwrite"]), params_file=job["params_file"],
                      kernel_radius=int(job["kernel_radius"]), voxel_map_features=job["voxel_map_features"],
                      signature=job["signature"])


def worker_scorer(python_command, runner=None, timeout_s=None, on_progress=None):
    """A scorer that runs each job in a worker process (``scoring_job.WorkerJob``).

    Args:
        python_command: the worker's Python (``[PythonEnvironment.python]``).
        runner: process runner (tests); timeout_s: per case, then the case fails;
        on_progress: callable(stage, fraction, message).

    Returns:
        callable(job dict) -> result dict; raises ``scoring_job.WorkerFailed`` (message + log).
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


def process_cohort(cases, output_dir, scorer=None, options=None, resume=True, progress=None) -> dict:
    """Score a cohort; one results.csv row per case as it goes; resume on a second call.

    Args:
        cases: CSV path or list (``read_cases``).
        output_dir: folder for ``results.csv`` and ``cases/<case_id>/`` (created).
        scorer: callable(job dict) -> result dict (``worker_scorer(...)`` or ``in_process_scorer``,
            the default).
        options: worker job options for every case (``rings_mm``, ``bundle``, ``device``,
            ``params_file``, ``kernel_radius``, ``voxel_map_features``, ``signature``).
        resume: skip cases already done (default); False scores every case again into a fresh
            ``cases/<case_id>`` (earlier outputs of that case are replaced).
        progress: optional callable(index: int, total: int, case_id: str, status: str) with status
            "started", "done", "failed" or "skipped".

    Returns:
        dict with ``results_csv`` (path), ``done``, ``failed``, ``skipped`` (lists of case IDs, this
        call) and ``rows`` (the last row per case, after this call).

    Raises:
        InputError: bad ``cases`` (see ``read_cases``) or options.
    """
    cohort = read_cases(cases)
    scorer = scorer or in_process_scorer
    options = dict(options or {})
    for key in ("ct", "gtv", "rtstruct", "seg", "roi", "out_dir", "overwrite"):
        if key in options:
            raise InputError(f"options: '{key}' is set per case, not for the cohort.")
    progress = progress or (lambda index, total, case_id, status: None)
    output_dir = Path(output_dir).resolve()
    (output_dir / "cases").mkdir(parents=True, exist_ok=True)
    results_csv = output_dir / RESULTS_FILE
    earlier = read_results(output_dir) if resume else {}
    summary = {"results_csv": str(results_csv), "done": [], "failed": [], "skipped": []}
    total = len(cohort)
    for index, case in enumerate(cohort):
        out_dir = output_dir / "cases" / case.case_id
        result_file = out_dir / "result.json"
        row = earlier.get(case.case_id)
        if resume and result_file.is_file():
            if row is None or row.get("status") != DONE:
                # finished but not recorded (stopped between the two): record it now
                try:
                    recovered = json.loads(result_file.read_text(encoding="utf-8"))
                    _append_row(results_csv, _row_from_result(case.case_id, recovered, out_dir, ""))
                except (OSError, ValueError):
                    pass
                else:
                    summary["skipped"].append(case.case_id)
                    progress(index, total, case.case_id, "skipped")
                    continue
            else:
                summary["skipped"].append(case.case_id)
                progress(index, total, case.case_id, "skipped")
                continue
        progress(index, total, case.case_id, "started")
        started = time.perf_counter()
        job = {**options, **case.job(), "out_dir": str(out_dir), "overwrite": not resume}
        try:
            result = scorer(job)
        except Exception as exc:  # noqa: BLE001  (recorded; the cohort goes on)
            message = str(exc) or type(exc).__name__
            if not isinstance(exc, InputError) and not hasattr(exc, "log"):
                message = f"{type(exc).__name__}: {message}"
            _append_row(results_csv, {"case_id": case.case_id, "status": FAILED, "out_dir": str(out_dir),
                                      "seconds": round(time.perf_counter() - started, 1),
                                      "error": " ".join(message.split()),
                                      "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S")})
            log = getattr(exc, "log", None) or traceback.format_exc()
            out_dir.mkdir(parents=True, exist_ok=True)
            (out_dir / "error.log").write_text(message + "\n\n" + log + "\n", encoding="utf-8")
            summary["failed"].append(case.case_id)
            progress(index, total, case.case_id, "failed")
            continue
        (out_dir / "error.log").unlink(missing_ok=True)
        _append_row(results_csv, _row_from_result(case.case_id, result, out_dir,
                                                  round(time.perf_counter() - started, 1)))
        summary["done"].append(case.case_id)
        progress(index, total, case.case_id, "done")
    summary["rows"] = read_results(output_dir)
    return summary
