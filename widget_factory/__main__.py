"""``python -m widget_factory``: the same as the ``widget-factory`` command."""

import sys

from widget_factory.cli import main

sys.exit(main())
