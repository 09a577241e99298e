"""``python -m skemotion``: the same as the ``skemotion`` command."""

import sys

from .cli import main

sys.exit(main())
