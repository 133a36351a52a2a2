"""The worker's JSON-lines protocol (no Qt, no heavy imports).

A progress message carries a ``progress.ProgressEvent`` (the one event every progress callback of
RadSurv receives). The worker (``worker.server``) writes one JSON object per line on stdout; ``encode`` / ``decode``
(de)serialise them and the ``*_message`` functions build them:

    {"type": "started", "pid": 1234, "radsurv_version": "0.1.0", "python": "/env/bin/python"}
    {"type": "progress", "stage": "features", "fraction": 0.35, "message": "...", "done": false}
    {"type": "result", "out_dir": "/abs/out", "result": {... result.json ...}}
    {"type": "error", "kind": "input" | "crash", "message": "...", "log": "traceback and log tail"}
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from dataclasses import asdict

from ..progress import ProgressEvent

#: Message types of the protocol.
STARTED, PROGRESS, RESULT, ERROR = "started", "progress", "result", "error"

#: Error kinds: bad input (exit status 2) or a crash (exit status 1).
INPUT, CRASH = "input", "crash"


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


def load_job(source):
    """Read and check a job: a path to a JSON file, ``"-"`` (stdin) or a dict.

    Returns:
        ``(inputs, options)``: dict of ``INPUT_KEYS`` (relative paths made absolute against
        the job file's folder, or the current folder) and the ``ScoreOptions``.

    Raises:
        InputError: unreadable JSON, unknown keys (named), no ``ct`` or ``out_dir``;
        OptionError: an invalid option.
    """
    from ..errors import InputError
    from ..options import ScoreOptions

    base = Path.cwd()
    if isinstance(source, dict):
        job = dict(source)
    else:
        try:
            if str(source) == "-":
                job = json.loads(sys.stdin.read())
            else:
                base = Path(source).resolve().parent
                job = json.loads(Path(source).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(f"worker job {source}: cannot read it as JSON ({exc}).") from None
    if not isinstance(job, dict):
        raise InputError("worker job: expected a JSON object.")
    inputs = {key: job.pop(key, None) for key in INPUT_KEYS}
    for key in ("ct", "out_dir"):
        if not inputs[key]:
            raise InputError(f"worker job: '{key}' is required.")
    for key in ("ct", "gtv", "rtstruct", "seg", "out_dir"):
        if inputs[key]:
            inputs[key] = str(inputs[key]) if Path(inputs[key]).is_absolute() else str((base / inputs[key]).resolve())
    try:
        options = ScoreOptions.from_job(job, base_dir=base)
    except InputError as exc:
        if not str(exc).startswith("options: unknown"):
            raise
        raise InputError(f"worker job: {str(exc).partition(': ')[2]} Case keys: "
                         f"{', '.join(INPUT_KEYS)}.") from None
    return inputs, options
