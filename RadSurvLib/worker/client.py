"""Running the worker process and reading its JSON-lines protocol, with cancel (no Qt, no MRML).

``WorkerJob`` is one run of ``python -m RadSurvLib.worker`` (``RadSurvLib.worker.server`` describes
the job and the protocol). It reads the messages as they come, keeps the stage, fraction and
message of the last progress event, the result or the error with its log, and can cancel: the
worker's whole process tree is killed (the worker starts in its own process group). The process is
started by an injectable *runner* (``SubprocessRunner`` by default), so tests can drive the logic
with a scripted fake worker. The Slicer module polls it from a ``QTimer``; scripts call ``wait()``.
"""

from __future__ import annotations

import collections
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from ..errors import RadSurvError
from . import protocol
from ..progress import ProgressEvent

#: States of a job / task.
IDLE, RUNNING, SUCCEEDED, FAILED, CANCELLED, SKIPPED = ("idle", "running", "succeeded", "failed",
                                                        "cancelled", "skipped")

#: Seconds a worker may take to exit after its result / error message before it is killed.
EXIT_GRACE_S = 30.0


class WorkerFailed(RadSurvError):
    """The worker reported an error or died; ``log`` holds its log tail (traceback, stderr)."""

    def __init__(self, message: str, log: str = "", kind: str = "crash"):
        super().__init__(message)
        self.log = log
        self.kind = kind


# --------------------------------------------------------------------------------------------
# Processes
# --------------------------------------------------------------------------------------------

def kill_process_tree(pid: int) -> None:
    """Kill a process and every process it started.

    POSIX: the worker is started as the leader of its own session / process group, so SIGKILL to
    the group reaches its children (PyTorch / PyRadiomics helpers). Windows: ``taskkill /T /F``.
    """
    if os.name == "nt":
        from .environment import process_flags

        subprocess.run(["taskkill", "/T", "/F", "/PID", str(pid)], capture_output=True, **process_flags())
        return
    try:
        os.killpg(os.getpgid(pid), signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


class SubprocessHandle:
    """A started process whose stdout lines and stderr tail are read by two threads.

    ``lines()`` returns the stdout lines received since the last call (never blocks);
    ``returncode`` is None while the process runs; ``stderr_tail()`` the last stderr lines.
    """

    def __init__(self, command, env=None, cwd=None, stderr_lines: int = 400):
        from .environment import process_flags

        # Own process group (cancel kills the tree); on Windows also no console window.
        kwargs = process_flags(new_group=True)
        self.process = subprocess.Popen([str(c) for c in command], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        stdin=subprocess.DEVNULL, env=env, cwd=cwd, **kwargs)
        self.pid = self.process.pid
        self._lines = queue.Queue()
        self._stderr = collections.deque(maxlen=stderr_lines)
        self._threads = [threading.Thread(target=self._read, args=(self.process.stdout, self._lines.put), daemon=True),
                         threading.Thread(target=self._read, args=(self.process.stderr, self._stderr.append),
                                          daemon=True)]
        for thread in self._threads:
            thread.start()

    @staticmethod
    def _read(stream, sink):
        for raw in iter(stream.readline, b""):
            sink(raw.decode("utf-8", errors="replace").rstrip("\n"))
        stream.close()

    def lines(self) -> list[str]:
        """Stdout lines received since the last call (never blocks)."""
        out = []
        while True:
            try:
                out.append(self._lines.get_nowait())
            except queue.Empty:
                return out

    @property
    def returncode(self):
        """Exit status, None while the process runs (readers drained once it ended)."""
        code = self.process.poll()
        if code is not None:
            # The exit can be seen before the readers have drained the pipes.
            for thread in self._threads:
                thread.join(timeout=5)
        return code

    def stderr_tail(self) -> str:
        """The last ``stderr_lines`` lines of the process's stderr."""
        return "\n".join(self._stderr)

    def kill(self) -> None:
        """Kill the process tree (``kill_process_tree``) and wait for it."""
        if self.process.poll() is None:
            kill_process_tree(self.pid)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        for thread in self._threads:
            thread.join(timeout=5)


class SubprocessRunner:
    """Default runner: ``start(command, env, cwd)`` -> ``SubprocessHandle``."""

    def start(self, command, env=None, cwd=None):
        """Start ``command`` (list) with ``env`` (dict) in ``cwd``; returns a ``SubprocessHandle``."""
        return SubprocessHandle(command, env=env, cwd=cwd)


class WorkerJob:
    """One worker run.

    Args:
        job: the worker job (dict, see ``RadSurvLib.worker.server``); written to ``job_dir/job.json``.
        python_command: command prefix that starts a Python with the heavy packages, e.g.
            ``[env.python]`` (``environment.PythonEnvironment``) or ``[sys.executable]``.
        job_dir: folder for ``job.json`` (created).
        runner: object with ``start(command, env, cwd)`` returning a handle with ``lines()``,
            ``returncode``, ``stderr_tail()``, ``kill()`` (default ``SubprocessRunner()``).
        env: process environment (default ``environment.worker_environ()``).
        on_progress: optional callable(``progress.ProgressEvent``): the worker's progress, plus
            a "starting" event at ``start()`` and a "done" event (fraction 1) on success.

    Attributes after ``poll()``: ``state``, ``event`` (the last ``ProgressEvent``) and its
    ``stage``, ``fraction`` (0-1) and ``message``,
    ``result`` (result.json dict), ``out_dir``, ``error`` (``WorkerFailed`` or None),
    ``returncode`` (exit status once ended), ``messages`` (every protocol message received).
    """

    def __init__(self, job: dict, python_command, job_dir, runner=None, env=None, on_progress=None):
        from .environment import worker_environ

        self.job = dict(job)
        self.python_command = [str(c) for c in python_command]
        self.job_dir = Path(job_dir)
        self.runner = runner or SubprocessRunner()
        self.env = env if env is not None else worker_environ()
        self.on_progress = on_progress or (lambda event: None)
        self.state, self.event = IDLE, ProgressEvent("", 0.0, "")
        self.result = self.out_dir = self.error = None
        self.handle = self.returncode = None
        self.messages = []
        self._outcome, self._outcome_time = None, 0.0
        self._final_message = ""

    def start(self) -> None:
        """Write ``job.json`` and start the worker."""
        self.job_dir.mkdir(parents=True, exist_ok=True)
        job_file = self.job_dir / "job.json"
        job_file.write_text(json.dumps(self.job, indent=2) + "\n", encoding="utf-8")
        command = [*self.python_command, "-m", "RadSurvLib.worker", str(job_file)]
        self.state = RUNNING
        self._report(ProgressEvent("starting", 0.0, "starting the RadSurv worker"))
        self.handle = self.runner.start(command, env=self.env, cwd=str(self.job_dir))

    def poll(self) -> str:
        """Read what the worker wrote; returns the state (RUNNING until the worker has exited).

        The outcome (result or error message) is final once the process has ended, so that its
        exit status and the rest of its stderr are known; a worker that does not exit within
        ``EXIT_GRACE_S`` after its last message is killed.
        """
        if self.state != RUNNING:
            return self.state
        for line in self.handle.lines():
            self._handle_line(line)
        code = self.handle.returncode
        if code is None and self._outcome is not None and time.monotonic() - self._outcome_time > EXIT_GRACE_S:
            self.handle.kill()
            code = self.handle.returncode
        if code is None:
            return self.state
        for line in self.handle.lines():  # lines that arrived with the exit
            self._handle_line(line)
        self.returncode = code
        if self._outcome is None:
            self._fail(WorkerFailed(f"The RadSurv worker stopped (exit status {code}) without a result.",
                                    self.handle.stderr_tail()))
        elif self._outcome.get("type") == "result":
            self.result, self.out_dir = self._outcome.get("result"), self._outcome.get("out_dir")
            self.state = SUCCEEDED
            self._report(ProgressEvent("done", 1.0, "finished", done=True))
        else:
            log = str(self._outcome.get("log") or "")
            stderr = self.handle.stderr_tail()
            if stderr and stderr not in log:
                log = (log + "\n--- worker stderr ---\n" + stderr).strip()
            self._fail(WorkerFailed(str(self._outcome.get("message")), log, str(self._outcome.get("kind", "crash"))))
        return self.state

    # -- the last event ------------------------------------------------------------------------
    @property
    def stage(self) -> str:
        """Stage of the last progress event ('' before the start)."""
        return self.event.stage

    @property
    def fraction(self) -> float:
        """Fraction of the run done, 0-1 (last progress event)."""
        return self.event.fraction

    @property
    def message(self) -> str:
        """Message of the last progress event, or the error / "cancelled" once ended so."""
        return self._final_message or self.event.message

    def _report(self, event: ProgressEvent) -> None:
        self.event = event
        self.on_progress(event)

    def _handle_line(self, line: str) -> None:
        message = protocol.decode(line)
        if message is None:
            return  # not a protocol line (the worker sends everything else to stderr)
        self.messages.append(message)
        kind = message.get("type")
        if kind == protocol.PROGRESS:
            self._report(protocol.event_from_message(message, self.fraction))
        elif kind in (protocol.RESULT, protocol.ERROR) and self._outcome is None:
            self._outcome, self._outcome_time = message, time.monotonic()

    def _fail(self, error: WorkerFailed) -> None:
        self.error, self.state = error, FAILED
        self._final_message = str(error)

    def cancel(self) -> None:
        """Kill the worker and its children; the state becomes CANCELLED."""
        if self.handle is not None and self.state == RUNNING:
            self.handle.kill()
        if self.state in (RUNNING, IDLE):
            self.state, self._final_message = CANCELLED, "cancelled"

    def wait(self, timeout_s: float | None = None, interval_s: float = 0.1) -> str:
        """Poll until the job ends (or ``timeout_s`` passes: then it is cancelled); returns the state."""
        return poll_until_done(self, timeout_s, interval_s)


def poll_until_done(task, timeout_s: float | None, interval_s: float = 0.1) -> str:
    """Call ``task.poll()`` every ``interval_s`` seconds while it is RUNNING; ``task.cancel()`` once
    ``timeout_s`` seconds have passed (None: no limit). Returns ``task.state``."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while task.poll() == RUNNING:
        if deadline is not None and time.monotonic() > deadline:
            task.cancel()
            break
        time.sleep(interval_s)
    return task.state


def current_python_command() -> list[str]:
    """``[sys.executable]``: the worker in this very interpreter (it must have torch etc.)."""
    return [sys.executable]

