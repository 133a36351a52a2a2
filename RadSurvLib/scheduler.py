"""Where the cases of a batch run: one after the other in this process, or one Dask task per case.

``RadSurvLib.batch`` decides *what* a batch is (the cases, ``results.csv``, resume); this module
decides *where* each case runs. A scheduler is named by a short text, as on the command line:

- ``None`` / ``""`` / ``"sequential"``: in this process, one case after the other;
- ``"local"`` or ``"local:N"``: a ``dask.distributed.LocalCluster`` of N worker processes on this
  machine (default: the CPU count divided by the threads per case), one thread each;
- ``"tcp://HOST:PORT"`` (or ``tls://``, ``ws://``, ``wss://``): an existing Dask scheduler, e.g. one
  started by dask-jobqueue on SLURM or by the Dask Helm chart on Kubernetes.

On Dask each case is one task (``run_case``) that sets the BLAS / OpenMP / torch thread pools to
``threads_per_case`` (no oversubscription) and returns its outcome as data: a scoring error is a
"failed" outcome, not a task error, so Dask never retries a case with bad input. A task whose
*worker process* dies (killed, out of memory) is rescheduled by Dask on another worker up to
``retries`` times (the scheduler's ``allowed_failures``), then reported as failed with that reason.
A case that runs longer than ``timeout_s`` is cancelled and its worker restarted (Python cannot
stop a running task otherwise). Only the caller (the client) writes results, through the
``on_finished`` callback, so results stay in one file with one writer.

Dask (``dask[distributed]``, BSD-3) is imported only when a Dask scheduler is asked for.
"""

from __future__ import annotations

import os
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass

from .errors import InputError, user_message

#: Event topic the Dask tasks log their start under (the client reads it for timeouts / progress).
EVENT_TOPIC = "radsurv-case"

#: Seconds between two looks at the running cases (progress, timeouts).
POLL_S = 0.5

DONE, FAILED = "done", "failed"


@dataclass(frozen=True)
class SchedulerSpec:
    """A parsed scheduler name: ``kind`` is "sequential", "local" or "address"."""

    kind: str
    n_workers: int | None = None
    address: str | None = None

    @classmethod
    def parse(cls, text, threads_per_case: int = 1) -> "SchedulerSpec":
        """Parse ``None``, ``"sequential"``, ``"local"``, ``"local:N"`` or a scheduler address.

        Raises:
            InputError: anything else, naming the parameter ``scheduler``.
        """
        text = (str(text).strip() if text is not None else "")
        if text in ("", "sequential"):
            return cls("sequential")
        if text == "local" or text.startswith("local:"):
            count = text.partition(":")[2]
            if not count:
                return cls("local", max(1, (os.cpu_count() or 1) // max(1, threads_per_case)))
            if not count.isdigit() or int(count) < 1:
                raise InputError(f"scheduler {text!r}: the number of local workers must be a whole number >= 1, "
                                 "e.g. local:2.")
            return cls("local", int(count))
        if "://" in text and text.split("://", 1)[0] in ("tcp", "tls", "ws", "wss", "inproc"):
            return cls("address", address=text)
        raise InputError(f"scheduler {text!r}: use 'sequential', 'local', 'local:N' (N worker processes on this "
                         "machine) or the address of a Dask scheduler such as tcp://host:8786.")


@dataclass
class CaseOutcome:
    """What one case gave: ``status`` "done" (``result``: result.json) or "failed" (``error``, ``log``).

    ``seconds`` is the scoring time; ``peak_rss_mb`` the peak resident memory of the process that
    scored it (MiB, after the case), ``worker`` the Dask worker address ("" in this process).
    """

    status: str
    result: dict | None = None
    error: str = ""
    log: str = ""
    seconds: float = 0.0
    peak_rss_mb: float = 0.0
    worker: str = ""


def _peak_rss_mb() -> float:
    try:
        import resource
    except ImportError:  # Windows
        return 0.0
    # Linux reports KiB, macOS bytes.
    scale = 1024 * 1024 if os.uname().sysname == "Darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale


@contextmanager
def limit_threads(threads: int):
    """Limit the BLAS / OpenMP pools (threadpoolctl) and torch's intra-op pool to ``threads``."""
    from threadpoolctl import threadpool_limits

    torch = None
    try:
        import torch
    except ImportError:
        pass
    before = torch.get_num_threads() if torch is not None else None
    with threadpool_limits(limits=int(threads)):
        if torch is not None:
            torch.set_num_threads(int(threads))
        try:
            yield
        finally:
            if torch is not None:
                torch.set_num_threads(before)


def _log_start(case_id: str) -> str:
    """Tell the client (through a Dask event) that this case started, and on which worker."""
    try:
        from distributed import get_worker

        worker = get_worker()
    except (ImportError, ValueError):
        return ""
    worker.log_event(EVENT_TOPIC, {"case_id": case_id, "worker": worker.address, "time": time.time()})
    return worker.address


def run_case(scorer, case_id: str, job: dict, threads: int = 1) -> CaseOutcome:
    """Score one case (``scorer(job)`` -> result.json dict) with ``threads`` threads; never raises
    for a scoring error: it becomes a "failed" outcome with the error and the traceback."""
    worker, started = "", time.perf_counter()
    try:
        with limit_threads(threads):
            worker = _log_start(case_id)  # after the imports: the timeout counts the scoring only
            started = time.perf_counter()
            result = scorer(job)
    except Exception as exc:  # noqa: BLE001  (the outcome carries it; the cohort goes on)
        known = user_message(exc, None)  # bad input, or what the system refused (a full disk, ...)
        message = known or str(exc) or type(exc).__name__
        if known is None and not hasattr(exc, "log"):
            message = f"{type(exc).__name__}: {message}"
        return CaseOutcome(FAILED, error=" ".join(message.split()),
                           log=getattr(exc, "log", None) or traceback.format_exc(),
                           seconds=round(time.perf_counter() - started, 1), peak_rss_mb=_peak_rss_mb(), worker=worker)
    return CaseOutcome(DONE, result=result, seconds=round(time.perf_counter() - started, 1),
                       peak_rss_mb=_peak_rss_mb(), worker=worker)


def run_sequential(cases, scorer, threads: int = 1, on_started=None, on_finished=None) -> None:
    """Score ``cases`` (list of (case_id, job)) one after the other in this process."""
    on_started = on_started or (lambda case_id: None)
    on_finished = on_finished or (lambda case_id, outcome: None)
    for case_id, job in cases:
        on_started(case_id)
        on_finished(case_id, run_case(scorer, case_id, job, threads))


@contextmanager
def dask_client(spec: SchedulerSpec, threads: int = 1, retries: int = 2):
    """A ``distributed.Client`` for ``spec`` (a new LocalCluster, or the scheduler at its address),
    with the scheduler's ``allowed_failures`` set to ``retries``; closed afterwards."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise InputError("scheduler: Dask is not installed in this Python; pip install 'dask[distributed]' "
                         "(or score the cases one after the other).") from None
    import dask

    cluster = None
    if spec.kind == "local":
        # A case can hold the GIL for minutes inside PyRadiomics' C code, so the worker misses its
        # heartbeats; on our own cluster that is no reason to restart it (a dead process still is).
        dask.config.set({"distributed.scheduler.worker-ttl": None})
        # One thread per worker process: the case sets its own pools to `threads`.
        cluster = LocalCluster(n_workers=spec.n_workers, threads_per_worker=1, processes=True,
                               dashboard_address=":0", env={"OMP_NUM_THREADS": str(threads),
                                                            "MKL_NUM_THREADS": str(threads),
                                                            "OPENBLAS_NUM_THREADS": str(threads)})
        client = Client(cluster)
    else:
        try:
            client = Client(spec.address, timeout="30s")
        except OSError as exc:
            raise InputError(f"scheduler {spec.address}: no Dask scheduler answers there ({exc}); start one "
                             "(dask scheduler / dask-jobqueue / the Dask Helm chart) or use local:N.") from None
    try:
        client.run_on_scheduler(_set_allowed_failures, int(retries))
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _set_allowed_failures(count: int, dask_scheduler=None) -> None:
    """Runs on the scheduler: how many worker deaths a task survives before it is given up."""
    dask_scheduler.allowed_failures = count


def run_on_dask(cases, scorer, client, threads: int = 1, timeout_s: float | None = None,
                on_started=None, on_finished=None, poll_s: float = POLL_S) -> None:
    """Score ``cases`` (list of (case_id, job)) as one Dask task each on ``client``'s cluster.

    ``on_started(case_id)`` is called when a worker starts a case, ``on_finished(case_id,
    CaseOutcome)`` when it ends (in this process, in completion order). A worker death beyond the
    scheduler's ``allowed_failures`` and a timeout become "failed" outcomes naming the reason.
    """
    import uuid

    from distributed import wait

    on_started = on_started or (lambda case_id: None)
    on_finished = on_finished or (lambda case_id, outcome: None)
    run = uuid.uuid4().hex[:8]
    futures = {client.submit(run_case, scorer, case_id, job, threads, key=f"radsurv-{case_id}-{run}", pure=False):
               case_id for case_id, job in cases}
    starts, seen_events = {}, 0  # case_id -> (start time, worker)
    while futures:
        try:
            wait(list(futures), timeout=poll_s, return_when="FIRST_COMPLETED")
        except TimeoutError:
            pass
        events = client.get_events(EVENT_TOPIC)
        for _, event in events[seen_events:]:
            if event.get("case_id") in futures.values():
                if event["case_id"] not in starts:
                    on_started(event["case_id"])
                starts[event["case_id"]] = (event["time"], event["worker"])
        seen_events = len(events)
        for future in [f for f in futures if f.done()]:
            case_id = futures.pop(future)
            on_finished(case_id, _outcome_of(future, starts.get(case_id)))
        if timeout_s:
            _stop_overdue(client, futures, starts, timeout_s, on_finished)


def _outcome_of(future, start) -> CaseOutcome:
    """The outcome a finished future carries, or a "failed" one for a worker that died."""
    try:
        return future.result()
    except Exception as exc:  # noqa: BLE001  (KilledWorker and scheduler errors become the case's error)
        name = type(exc).__name__
        if name == "KilledWorker":
            error = ("the worker process scoring this case died (killed or out of memory) each time it was "
                     "tried; the last worker was " + (start[1] if start else "unknown"))
        else:
            error = f"{name}: {exc}"
        return CaseOutcome(FAILED, error=error, log=traceback.format_exc(), worker=start[1] if start else "")


def _stop_overdue(client, futures, starts, timeout_s, on_finished) -> None:
    """Cancel the cases running longer than ``timeout_s`` and restart their workers."""
    now = time.time()
    for future, case_id in list(futures.items()):
        start = starts.get(case_id)
        if start is None or now - start[0] <= timeout_s:
            continue
        future.cancel()
        futures.pop(future)
        try:
            client.restart_workers([start[1]], raise_for_error=False)
        except Exception:  # noqa: BLE001  (a worker that is already gone needs no restart)
            pass
        on_finished(case_id, CaseOutcome(FAILED, error=f"timed out: still running after {timeout_s:g} s; its "
                                                       "worker was restarted", seconds=round(now - start[0], 1),
                                         worker=start[1]))
