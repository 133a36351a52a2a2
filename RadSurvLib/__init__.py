"""RadSurvLib: the core of RadSurv, survival prediction for NSCLC from a planning CT and its GTV.

The package reads like the pipeline, one module per stage:

    io -> preprocessing -> rings -> features (PyRadiomics ROI features) -> voxelmaps
       -> models (3D SE-ResNet) -> explain (Grad-CAM) -> pipeline -> overview / scene

`RadSurvLib.pipeline.score_case` is the one pipeline that the ``radsurv`` command, the Slicer
module and batch scripts call. This package imports no Qt and no Slicer GUI code; heavy
dependencies (torch, radiomics, SimpleITK) are imported inside the functions that need them so
that Slicer's own Python can import the package without them.
"""

__version__ = "0.1.0"

from .errors import BundleError, InputError, RadSurvError  # noqa: F401  (re-exported)
