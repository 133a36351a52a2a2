"""Scoring in this interpreter: a worker job (read and check it, run the pipeline, write the scene).

The worker process (``worker.server``) and a cohort scored in process (``batch.in_process_scorer``)
score a job (``protocol.make_job``'s dict, or a JSON file) with ``score_job``; ``radsurv score``
calls ``score_with_scene`` directly.
"""

from __future__ import annotations

from .protocol import load_job


def score_job(job, progress=None) -> tuple[str, dict]:
    """Score one job: ``protocol.load_job``, the case's inputs (a DICOM CT with an RTSTRUCT / SEG
    resolved by ``io.dicom.resolve_score_inputs``), ``pipeline.score_case``, and the Slicer scene
    when the job's ``scene_path`` asks for one (``slicer.mrb.save_case_scene``).

    Args:
        job: a job dict or a job file path (``"-"``: stdin); progress: optional
            callable(``progress.ProgressEvent``).

    Returns:
        (the output folder as given in the job, made absolute; ``result.json``'s content).

    Raises:
        InputError / OptionError / BundleError: as ``load_job`` and ``score_case``.
    """
    from ..io.dicom import resolve_score_inputs

    inputs, options = load_job(job)
    ct, gtv = resolve_score_inputs(inputs["ct"], inputs["gtv"], inputs["rtstruct"], inputs["seg"], inputs["roi"])
    return inputs["out_dir"], score_with_scene(ct, gtv, inputs["out_dir"], options, progress)


def score_with_scene(ct, gtv, out_dir, options, progress=None) -> dict:
    """``pipeline.score_case``, then the Slicer scene when ``options.scene_path`` asks for one
    (``slicer.mrb.save_case_scene``): what ``radsurv score`` and a job run. Arguments, return value
    and errors as ``score_case`` (the scene adds ``outputs["scene"]`` and ``timings_s["scene"]``)."""
    from ..pipeline import score_case

    result = score_case(ct, gtv, out_dir, options, progress=progress)
    if options is None or not options.scene_path:
        return result
    from ..io.dicom import CTSeries
    from ..slicer.mrb import save_case_scene

    ct = ct.image if isinstance(ct, CTSeries) else ct  # a DICOM series goes into the scene as its image
    return save_case_scene(ct, gtv, out_dir, options, result, progress=progress)
