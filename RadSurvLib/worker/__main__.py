"""``python -m RadSurvLib.worker JOB.json``: run one scoring job (see ``RadSurvLib.worker.server``)."""

import sys

from .server import main

sys.exit(main())
