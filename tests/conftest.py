"""Shared fixtures live in tests/support/, one module per real part (AWS, database, Slack)."""

import pytest

from tests.support.compiled import leftover_builds, stale_builds

pytest_plugins = [
    "tests.support.aws",
    "tests.support.db",
    "tests.support.slack",
]


def pytest_sessionstart(session: pytest.Session) -> None:
    stale = stale_builds()
    if stale:
        pytest.exit(
            f"the compiled {', '.join(stale)} predate their source, which would go untested: "
            "run `make install` to rebuild them",
            returncode=4,
        )
    leftover = leftover_builds()
    if leftover:
        pytest.exit(
            f"JITBOT_PURE_PYTHON is set but {', '.join(leftover)} are still compiled and would "
            "be tested instead of their source: run `make clean`, then `make test` again",
            returncode=4,
        )
