"""``python -m widget_factory``: the same as the ``widget-factory`` command."""

import sys

from widget_factory.processes.early_drain import remember_drain_requests

remember_drain_requests()  # first: run may ask a service to drain while it still imports

from widget_factory.cli import main  # noqa: E402

sys.exit(main())
