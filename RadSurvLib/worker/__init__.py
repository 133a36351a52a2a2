"""The worker process that runs ``pipeline.score_case`` in RadSurv's own Python environment.

- ``worker.server``: the worker itself (``python -m RadSurvLib.worker JOB.json``): reads a job,
  scores it, writes JSON lines (progress, result, error) on stdout;
- ``worker.protocol``: the one ``ProgressEvent`` (stage weights included) and the job / message format;
- ``worker.client``: starts a worker, reads its protocol, cancels it (kills its process tree);
- ``worker.environment``: RadSurv's own Python environment that the worker runs in.
"""
