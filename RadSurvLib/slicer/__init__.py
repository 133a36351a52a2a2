"""The MRML adapters (no Qt): what the Slicer module, the web app and ``--scene`` share.

- ``slicer.export``: a scene's CT and GTV segment -> NRRD files for the worker;
- ``slicer.write``: a run's output folder -> ring segments, volumes, heatmap, tables in the scene;
- ``slicer.display``: how results look (``outputs.colours`` on MRML nodes, slice views on the GTV);
- ``slicer.mrb``: a run saved as a ``.mrb`` scene bundle (``save_case_scene``), and loaded back.

The controllers that drive a scoring run from a scene (``SceneScoringTask``, the module's
``ScoringLogic``) are front ends and live in ``RadSurvLib.control``.

It runs in 3D Slicer and, for tests and ``radsurv score --scene``, on the slicer-core wheel.
``import slicer`` inside these modules is the MRML package, never this one (absolute imports).
"""
