"""The Slicer layer over MRML (no Qt): what the Slicer module and the web app share.

- ``slicer.export``: a scene's CT and GTV segment -> NRRD files for the worker;
- ``slicer.write``: a run's output folder -> ring segments, volumes, heatmap, tables in the scene;
- ``slicer.display``: how results look (colours shared with overview.png, slice views on the GTV);
- ``slicer.task``: ``SceneScoringTask``, export -> worker -> write, with cancel and re-run rules;
- ``slicer.mrb``: a run saved as a ``.mrb`` scene bundle, and loaded back;
- ``slicer.logic``: ``ScoringLogic``, the body of the module's ``RadSurvLogic`` (worker Python,
  ``startScoring`` / ``process`` / ``processCohort`` with ``options.ScoreOptions``).

It runs in 3D Slicer and, for tests and ``radsurv score --scene``, on the slicer-core wheel.
``import slicer`` inside these modules is the MRML package, never this one (absolute imports).
"""
