"""The controllers that drive a scoring run from a scene: one home for the Slicer module and the web app.

- ``control.task``: ``SceneScoringTask``: a scene's CT and GTV segment exported (``slicer.export``),
  scored by the worker (``worker.client``), the results written into the scene (``slicer.write``),
  with cancel and re-run rules; both front ends run it;
- ``control.logic``: ``ScoringLogic``, the body of the Slicer module's ``RadSurvLogic`` (worker
  Python, ``startScoring`` / ``process`` / ``processCohort`` with ``options.ScoreOptions``);
- ``control.session``: ``ScoringSession``, the web app's runs of one scene (its form, one run at a time).

No Qt and no trame: the module and ``app.server`` drive these from their event loops.
"""
