"""Run the ``hrcam`` command line as ``python -m hrcam``."""

import sys

from hrcam.cli import main

sys.exit(main())
