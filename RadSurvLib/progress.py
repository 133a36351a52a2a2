"""The one progress event of RadSurv, and the stage weights that turn stages into a fraction.

``ProgressEvent`` is what every progress callback receives: ``pipeline.score_case``, the worker
(``worker.protocol`` carries it as a JSON line; ``worker.client.WorkerJob`` reads it back),
``batch.process_cohort``, the Slicer module's and the web app's scoring task. This module imports
nothing of RadSurv, so every floor of the package can use it.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Share of a typical run taken by each pipeline stage, in stage order (PAT1, Liu et al. 2025
#: setting, CPU). ``scene`` (only with a scene file) is not weighted.
STAGE_WEIGHTS = {"validate": 0.02, "resample": 0.06, "rings": 0.07, "features": 0.60,
                 "voxel_maps": 0.12, "model": 0.10, "outputs": 0.03}


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
