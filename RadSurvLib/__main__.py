"""``python -m RadSurvLib ...``: the ``radsurv`` command (e.g. from Slicer's ``PythonSlicer``)."""

import sys

from .cli import main

sys.exit(main())
