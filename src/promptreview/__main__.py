"""``python -m promptreview`` is the same as the ``promptreview`` command."""

import sys

from promptreview.cli import main

sys.exit(main())
