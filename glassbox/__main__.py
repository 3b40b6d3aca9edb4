"""Entry point for ``python -m glassbox``."""

import sys

from glassbox.cli import main

sys.exit(main())
