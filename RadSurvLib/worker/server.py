"""The RadSurv worker: runs ``pipeline.score_case`` for one job, in RadSurv's own environment.

Usage (the Slicer module and ``RadSurvLib.control.task`` start it; anyone can):

    <environment python> -m RadSurvLib.worker JOB.json        # or "-" to read the job on stdin

The job is a JSON object: the case's inputs (``protocol.INPUT_KEYS``) plus the scoring options
(``RadSurvLib.options.ScoreOptions.to_job()``; a missing option takes its default, an unknown key
is an error):

    {"ct": "ct.nrrd",            # CT: NRRD / NIfTI file, or a DICOM series folder
     "gtv": "gtv.nrrd",          # GTV mask on the CT grid (file) -- or, for a DICOM CT,
     "rtstruct": null, "seg": null, "roi": null,   #   an RTSTRUCT + ROI name or a DICOM SEG
     "out_dir": "out",           # output folder (pipeline.score_case)
     "rings_mm": "0-3,3-6,6-9", "device": "cpu", "params_file": null, ...}   # ScoreOptions fields

``protocol.make_job(options, ct, out_dir, gtv=...)`` builds one. Relative paths are relative to
the job file's folder. The worker writes one JSON object per line on stdout (``protocol``), and
nothing else (anything a library prints goes to stderr).

Exit status: 0 result, 2 bad input (``InputError`` / ``BundleError``, or what the system refused:
a full disk, a read-only folder, a file that vanished, ``errors.environment_failure``), 130
stopped by SIGINT / SIGTERM (an error message of kind ``"cancelled"``; the unfinished run's
outputs are removed), 1 crash (kind ``"crash"``; its message names a log file with the
traceback, in ``$RADSURV_LOG_DIR`` or ``<temp>/radsurv-logs``).
A killed worker (SIGKILL, the module's Cancel) leaves a staging folder that the next run into the
same folder removes (``pipeline``). A progress
message carries a ``progress.ProgressEvent``: ``fraction`` grows from 0 to 1 over the stages,
weighted by their usual share of the run time (``progress.STAGE_WEIGHTS``).
"""

from __future__ import annotations

import io
import logging
import os
import signal
import sys
import traceback
from pathlib import Path

from . import protocol

#: Lines of the worker's log kept in an error message.
LOG_TAIL_LINES = 60

#: Exit status and error kind of a job stopped by SIGINT or SIGTERM.
EXIT_CANCELLED, CANCELLED = 130, "cancelled"


class _Protocol:
    """Writes protocol messages (one JSON object per line) to the real standard output."""

    def __init__(self, stream):
        self.stream = stream

    def send(self, message: dict) -> None:
        """Write one message as a JSON line and flush it."""
        self.stream.write(protocol.encode(message) + "\n")
        self.stream.flush()


def _take_stdout():
    """Keep fd 1 for the protocol; send everything else written to stdout (prints, C libraries)
    to stderr, so a stray print can never corrupt a JSON line."""
    protocol_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return io.TextIOWrapper(os.fdopen(protocol_fd, "wb", buffering=0), encoding="utf-8", write_through=True)


def run_job(job, protocol_out, log_stream) -> int:
    """Check and run one job (``load_job``'s ``source``) and report it through ``protocol_out``
    (an object with ``send(message)``); returns the exit status (0, 2 bad input, 1 crash)."""
    from .. import __version__
    from ..errors import user_message

    protocol_out.send(protocol.started_message(os.getpid(), __version__, sys.executable))
    try:
        from .job import score_job

        out_dir, result = score_job(job, progress=lambda event: protocol_out.send(protocol.progress_message(event)))
    except KeyboardInterrupt:
        protocol_out.send(protocol.error_message(CANCELLED, "worker job: stopped (SIGINT / SIGTERM); the unfinished "
                                                 "run's outputs were removed, earlier results are kept.",
                                                 _tail(log_stream)))
        return EXIT_CANCELLED
    except Exception as exc:  # noqa: BLE001  (a crash is reported, not hidden)
        message = user_message(exc, "job")  # bad input, or what the system refused (disk full, ...)
        if message is None:
            return _crash(exc, protocol_out, log_stream)
        protocol_out.send(protocol.error_message(protocol.INPUT, message, _tail(log_stream)))
        return 2
    protocol_out.send(protocol.result_message(str(Path(out_dir).resolve()), result))
    return 0


def _crash(exc, protocol_out, log_stream) -> int:
    """Report an internal error: its traceback in the log and in a log file the message names."""
    from ..errors import write_crash_log

    trace = traceback.format_exc()
    logging.getLogger("RadSurv.worker").error("worker crashed:\n%s", trace)
    try:
        path = write_crash_log("worker", log_stream.getvalue() + "\n" + trace)
        where = f"the details are in {path}"
    except OSError as log_error:
        where = f"no log file could be written ({log_error})"
    protocol_out.send(protocol.error_message(
        protocol.CRASH, f"{type(exc).__name__}: {exc} (a bug in RadSurv; {where})", _tail(log_stream)))
    return 1


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def _tail(log_stream) -> str:
    lines = log_stream.getvalue().splitlines()
    return "\n".join(lines[-LOG_TAIL_LINES:])


def main(argv=None) -> int:
    """Entry point of ``python -m RadSurvLib.worker JOB.json``."""
    argv = sys.argv[1:] if argv is None else argv
    protocol_out = _Protocol(_take_stdout())
    log_stream = io.StringIO()
    handler = logging.StreamHandler(log_stream)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(logging.StreamHandler(sys.stderr))
    logging.getLogger().addHandler(handler)
    logging.getLogger().setLevel(logging.INFO)
    signal.signal(signal.SIGTERM, _raise_interrupt)  # cleans up like Ctrl-C (staging folder removed)
    if len(argv) != 1:
        protocol_out.send(protocol.error_message(protocol.INPUT, "usage: python -m RadSurvLib.worker JOB.json (or -)"))
        return 2
    return run_job(argv[0], protocol_out, log_stream)


if __name__ == "__main__":
    sys.exit(main())
