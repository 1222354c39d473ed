import sys

from hrcam.cli import main

sys.exit(main())
