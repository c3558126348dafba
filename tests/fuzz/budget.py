"""How hard the fuzz tests try: small by default so the suite stays fast.

``RASIGN_FUZZ_EXAMPLES=N`` raises every fuzz test's example count to N for a longer run,
e.g. ``RASIGN_FUZZ_EXAMPLES=20000 .venv/bin/python -m pytest tests/fuzz``.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings


def examples(default: int) -> settings:
    """Hypothesis settings with ``default`` examples, or ``$RASIGN_FUZZ_EXAMPLES``."""
    wanted = os.environ.get("RASIGN_FUZZ_EXAMPLES")
    count = int(wanted) if wanted and wanted.isdigit() else default
    return settings(
        max_examples=count, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=not wanted
    )
