"""``python -m skemotion``: the same as the ``skemotion`` command."""

import sys

from .cli._main import main

sys.exit(main())
