"""How long a test waits for something that should happen at once (a thread's answer, a batch).

60 seconds by default: a deadline for a loaded CI machine, never a timing goal. ``make mutation``
sets ``LIENTHONG_TEST_PATIENCE_S`` lower (scripts/mutation.py): a mutant that makes such a wait
hang then fails its test in seconds, instead of running into mutmut's timeout (about 15 s for
the intake's committer tests, 41 of whose mutants hung).
"""

from __future__ import annotations

import os

PATIENCE_S = float(os.environ.get("LIENTHONG_TEST_PATIENCE_S", "60"))
