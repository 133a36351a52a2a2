"""RadSurvLib: the core of RadSurv, survival prediction for NSCLC from a planning CT and its GTV.

The package is built in floors, each importing only those below it (bottom first):

    errors, progress (shared contracts) -> io -> preprocessing -> rings -> radiomics (ROI features,
    voxel maps) -> models, explain (Grad-CAM), survival -> training, validation -> options -> outputs
    -> pipeline -> slicer (MRML adapters) -> worker, batch -> control, app, cli (front ends)

(``Testing/Python/test_import_graph.py`` checks it.) ``RadSurvLib.pipeline.score_case`` is the one
pipeline that the ``radsurv`` command, the worker (Slicer module, web app) and batch scripts call.
This package imports no Qt and no Slicer GUI code; heavy dependencies (torch, radiomics, SimpleITK)
are imported inside the functions that need them so that Slicer's own Python can import the package
without them.
"""

__version__ = "0.1.0"

from .errors import BundleError, InputError, RadSurvError  # noqa: F401  (re-exported)
