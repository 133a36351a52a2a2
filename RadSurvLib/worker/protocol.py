"""The one progress event, and the worker's JSON-lines protocol (no Qt, no heavy imports).

``ProgressEvent`` is what every progress callback of RadSurv receives: ``pipeline.score_case``,
the worker client (``worker.client.WorkerJob``), ``batch.process_cohort`` and the Slicer task.
Stage weights (``STAGE_WEIGHTS``) turn the pipeline's stages into a fraction of the run.

The worker (``worker.server``) writes one JSON object per line on stdout; ``encode`` / ``decode``
(de)serialise them and the ``*_message`` functions build them:

    {"type": "started", "pid": 1234, "radsurv_version": "0.1.0", "python": "/env/bin/python"}
    {"type": "progress", "stage": "features", "fraction": 0.35, "message": "...", "done": false}
    {"type": "result", "out_dir": "/abs/out", "result": {... result.json ...}}
    {"type": "error", "kind": "input" | "crash", "message": "...", "log": "traceback and log tail"}
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

#: Share of a typical run taken by each pipeline stage, in stage order (PAT1, Liu et al. 2025
#: setting, CPU). ``scene`` (only with a scene file) is not weighted.
STAGE_WEIGHTS = {"validate": 0.02, "resample": 0.06, "rings": 0.07, "features": 0.60,
                 "voxel_maps": 0.12, "model": 0.10, "outputs": 0.03}

#: Message types of the protocol.
STARTED, PROGRESS, RESULT, ERROR = "started", "progress", "result", "error"

#: Error kinds: bad input (exit status 2) or a crash (exit status 1).
INPUT, CRASH = "input", "crash"


@dataclass(frozen=True)
class ProgressEvent:
    """One progress report.

    Attributes:
        stage: pipeline stage (a key of ``STAGE_WEIGHTS``, or "scene"), "starting" / "done" for a
            worker's start and end, or for a cohort the case's status ("started", "done", "failed",
            "skipped").
        fraction: share of the whole run (or cohort) done, 0-1, never decreasing within a run.
        message: one line for a person.
        done: True when ``stage`` has just ended (its last event), False at its start and between.
        case_id: the case of a cohort (``batch.process_cohort``); None for one case.
    """

    stage: str
    fraction: float
    message: str
    done: bool = False
    case_id: str | None = None


def stage_fraction(finished_stages, stage: str, done: bool) -> float:
    """Fraction of a run (0-1) at the start (``done`` False) or the end of ``stage``, given the
    stages finished before it (``STAGE_WEIGHTS``)."""
    total = sum(STAGE_WEIGHTS.values())
    before = sum(w for s, w in STAGE_WEIGHTS.items() if s in finished_stages and s != stage)
    if done:
        before += STAGE_WEIGHTS.get(stage, 0.0)
    return round(min(1.0, before / total), 4)


def encode(message: dict) -> str:
    """One protocol message as a JSON line (no newline)."""
    return json.dumps(message, allow_nan=True, default=str)


def decode(line: str) -> dict | None:
    """The protocol message of a line, or None for a line that is not one (a stray print)."""
    try:
        message = json.loads(line)
    except ValueError:
        return None
    return message if isinstance(message, dict) and "type" in message else None


def started_message(pid: int, radsurv_version: str, python: str) -> dict:
    """The worker's first message."""
    return {"type": STARTED, "pid": pid, "radsurv_version": radsurv_version, "python": python}


def progress_message(event: ProgressEvent) -> dict:
    """A progress message carrying ``event``."""
    return {"type": PROGRESS, **{k: v for k, v in asdict(event).items() if k != "case_id"}}


def event_from_message(message: dict, previous_fraction: float = 0.0) -> ProgressEvent:
    """The ``ProgressEvent`` of a progress message (fields missing in it take neutral values)."""
    return ProgressEvent(stage=str(message.get("stage", "")),
                         fraction=float(message.get("fraction", previous_fraction)),
                         message=str(message.get("message", "")), done=bool(message.get("done", False)))


def result_message(out_dir: str, result: dict) -> dict:
    """The worker's success message: the output folder and ``result.json``'s content."""
    return {"type": RESULT, "out_dir": out_dir, "result": result}


def error_message(kind: str, message: str, log: str = "") -> dict:
    """The worker's failure message (``kind`` INPUT or CRASH)."""
    return {"type": ERROR, "kind": kind, "message": message, "log": log}


# --------------------------------------------------------------------------------------------
# The job
# --------------------------------------------------------------------------------------------

#: Keys of a worker job that name the case (the rest are ``ScoreOptions.to_job()`` keys).
INPUT_KEYS = ("ct", "gtv", "rtstruct", "seg", "roi", "out_dir")


def make_job(options, ct, out_dir, gtv=None, rtstruct=None, seg=None, roi=None) -> dict:
    """A worker job: the case's inputs plus ``options.to_job()`` (a ``ScoreOptions``), JSON-safe.

    Args:
        options: ``RadSurvLib.options.ScoreOptions``.
        ct: CT file or DICOM series folder; gtv: GTV mask file, or rtstruct (+ roi) / seg (+ roi)
            for a DICOM CT; out_dir: output folder. Paths as text.
    """
    inputs = {"ct": ct, "gtv": gtv, "rtstruct": rtstruct, "seg": seg, "roi": roi, "out_dir": out_dir}
    return {**{k: (None if v is None else str(v)) for k, v in inputs.items()}, **options.to_job()}
