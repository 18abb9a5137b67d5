from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "default", max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "ci", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("ci" if os.environ.get("CI") else "default")


def pytest_terminal_summary(terminalreporter: object) -> None:
    """Say which broker runs were skipped and why, on its own line (the README promises it)."""
    from tests.integration.browser import SKIPPED_BROWSER
    from tests.integration.conftest import SKIPPED_BROKERS

    for broker, reason in SKIPPED_BROKERS.items():
        terminalreporter.write_line(  # type: ignore[attr-defined]
            f"BROKER RUNS SKIPPED: every integration test on {broker}: {reason}", red=True
        )
    for reason in sorted(set(SKIPPED_BROWSER)):
        terminalreporter.write_line(  # type: ignore[attr-defined]
            f"BROWSER TESTS SKIPPED: {reason}", red=True
        )
