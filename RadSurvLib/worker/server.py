"""The RadSurv worker: runs ``pipeline.score_case`` for one job, in RadSurv's own environment.

Usage (the Slicer module and ``RadSurvLib.slicer.task`` start it; anyone can):

    <environment python> -m RadSurvLib.worker JOB.json        # or "-" to read the job on stdin

The job is a JSON object:

    {"ct": "ct.nrrd",            # CT: NRRD / NIfTI file, or a DICOM series folder
     "gtv": "gtv.nrrd",          # GTV mask on the CT grid (file) -- or, for a DICOM CT,
     "rtstruct": null, "seg": null, "roi": null,   #   an RTSTRUCT + ROI name or a DICOM SEG
     "out_dir": "out",           # output folder (pipeline.score_case; never overwritten unless
     "overwrite": false,         #   "overwrite": true)
     "bundle": null,             # model bundle folder (null: the demonstration bundle)
     "rings_mm": [3, 6, 9],      # ring distances, mm (or a band string "3-6,6-9")
     "device": "auto",           # "auto" | "cpu" | "cuda"
     "params_file": null,        # PyRadiomics YAML (null: Liu et al. 2025; a lighter one, e.g.
                                 #   RadSurvLib/resources/parameters/Quick_PyRadiomics.yaml, is faster)
     "kernel_radius": 1, "voxel_map_features": null, "signature": null}

Relative paths are relative to the job file's folder. The worker writes one JSON object per line
on stdout, and nothing else (anything a library prints goes to stderr):

    {"type": "started", "pid": 1234, "radsurv_version": "0.1.0"}
    {"type": "progress", "stage": "features", "fraction": 0.35, "message": "..."}
    {"type": "result", "out_dir": "/abs/out", "result": {... result.json ...}}
    {"type": "error", "kind": "input" | "crash", "message": "...", "log": "traceback and log tail"}

Exit status: 0 result, 2 bad input (``InputError`` / ``BundleError``), 1 crash. ``fraction``
grows from 0 to 1 over the stages, weighted by their usual share of the run time
(``STAGE_WEIGHTS``).
"""

from __future__ import annotations

import io
import json
import logging
import os
import sys
import traceback
from pathlib import Path

#: Share of a typical run taken by each pipeline stage (PAT1, Liu et al. 2025 setting, CPU).
STAGE_WEIGHTS = {"validate": 0.02, "resample": 0.06, "rings": 0.07, "features": 0.60,
                 "voxel_maps": 0.12, "model": 0.10, "outputs": 0.03}

#: Job keys and their defaults; any other key is an error (a typo should not be ignored).
JOB_DEFAULTS = {"ct": None, "gtv": None, "rtstruct": None, "seg": None, "roi": None, "out_dir": None,
                "overwrite": False, "bundle": None, "rings_mm": [3, 6, 9], "device": "auto",
                "params_file": None, "kernel_radius": 1, "voxel_map_features": None, "signature": None}

#: Lines of the worker's log kept in an error message.
LOG_TAIL_LINES = 60


class _Protocol:
    """Writes protocol messages (one JSON object per line) to the real standard output."""

    def __init__(self, stream):
        self.stream = stream

    def send(self, message: dict) -> None:
        """Write one message as a JSON line and flush it."""
        self.stream.write(json.dumps(message, allow_nan=True, default=str) + "\n")
        self.stream.flush()


def _take_stdout():
    """Keep fd 1 for the protocol; send everything else written to stdout (prints, C libraries)
    to stderr, so a stray print can never corrupt a JSON line."""
    protocol_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return io.TextIOWrapper(os.fdopen(protocol_fd, "wb", buffering=0), encoding="utf-8", write_through=True)


def load_job(source) -> dict:
    """Read and check a job: a path to a JSON file, ``"-"`` (stdin) or a dict.

    Returns:
        the job with defaults filled in and relative paths made absolute (relative to the job
        file's folder, or the current folder).

    Raises:
        InputError: unreadable JSON, unknown keys, no ``ct`` or ``out_dir``.
    """
    from ..errors import InputError

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
    unknown = sorted(set(job) - set(JOB_DEFAULTS))
    if unknown:
        raise InputError(f"worker job: unknown keys {unknown}; known keys: {sorted(JOB_DEFAULTS)}.")
    job = {**JOB_DEFAULTS, **job}
    for key in ("ct", "out_dir"):
        if not job[key]:
            raise InputError(f"worker job: '{key}' is required.")
    for key in ("ct", "gtv", "rtstruct", "seg", "out_dir", "bundle", "params_file", "signature"):
        if job[key]:
            job[key] = str((base / job[key]).resolve()) if not Path(job[key]).is_absolute() else str(job[key])
    return job


class _Progress:
    """Turns ``score_case``'s (stage, message) calls into progress messages with a fraction."""

    def __init__(self, protocol):
        self.protocol = protocol
        self.done = set()

    def fraction(self, stage: str, finished: bool) -> float:
        """Fraction of the run done (0-1) at the start or the end of ``stage``."""
        total = sum(STAGE_WEIGHTS.values())
        before = sum(w for s, w in STAGE_WEIGHTS.items() if s in self.done)
        if finished:
            before += STAGE_WEIGHTS.get(stage, 0.0)
        return round(min(1.0, before / total), 4)

    def __call__(self, stage: str, message: str) -> None:
        finished = message.startswith("done in")
        fraction = self.fraction(stage, finished)
        if finished:
            self.done.add(stage)
        self.protocol.send({"type": "progress", "stage": stage, "fraction": fraction, "message": message})


def run_job(job: dict, protocol, log_stream) -> int:
    """Run one (checked) job and report it through ``protocol``; returns the exit status."""
    from .. import __version__
    from ..errors import BundleError, InputError

    protocol.send({"type": "started", "pid": os.getpid(), "radsurv_version": __version__,
                   "python": sys.executable})
    try:
        from ..io.dicom import resolve_score_inputs
        from ..pipeline import score_case

        ct, gtv = resolve_score_inputs(job["ct"], job["gtv"], job["rtstruct"], job["seg"], job["roi"])
        result = score_case(ct, gtv, job["out_dir"], bundle=job["bundle"], rings_mm=job["rings_mm"],
                            device=job["device"], overwrite=bool(job["overwrite"]), progress=_Progress(protocol),
                            params_file=job["params_file"], kernel_radius=int(job["kernel_radius"]),
                            voxel_map_features=job["voxel_map_features"], signature=job["signature"])
    except (InputError, BundleError) as exc:
        protocol.send({"type": "error", "kind": "input", "message": str(exc), "log": _tail(log_stream)})
        return 2
    except Exception as exc:  # noqa: BLE001  (a crash is reported, not hidden)
        logging.getLogger("RadSurv.worker").error("worker crashed:\n%s", traceback.format_exc())
        protocol.send({"type": "error", "kind": "crash", "message": f"{type(exc).__name__}: {exc}",
                       "log": _tail(log_stream)})
        return 1
    protocol.send({"type": "result", "out_dir": str(Path(job["out_dir"]).resolve()), "result": result})
    return 0


def _tail(log_stream) -> str:
    lines = log_stream.getvalue().splitlines()
    return "\n".join(lines[-LOG_TAIL_LINES:])


def main(argv=None) -> int:
    """Entry point of ``python -m RadSurvLib.worker JOB.json``."""
    argv = sys.argv[1:] if argv is None else argv
    protocol = _Protocol(_take_stdout())
    log_stream = io.StringIO()
    handler = logging.StreamHandler(log_stream)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(logging.StreamHandler(sys.stderr))
    logging.getLogger().addHandler(handler)
    logging.getLogger().setLevel(logging.INFO)
    if len(argv) != 1:
        protocol.send({"type": "error", "kind": "input", "message": "usage: python -m RadSurvLib.worker JOB.json (or -)",
                       "log": ""})
        return 2
    from ..errors import InputError

    try:
        job = load_job(argv[0])
    except InputError as exc:
        protocol.send({"type": "error", "kind": "input", "message": str(exc), "log": ""})
        return 2
    return run_job(job, protocol, log_stream)


if __name__ == "__main__":
    sys.exit(main())
