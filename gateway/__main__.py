"""``python -m gateway`` runs the ``lienthong`` command."""

import sys

from gateway.cli import main

sys.exit(main())
