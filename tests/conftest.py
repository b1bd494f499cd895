"""Shared fixtures live in tests/support/, one module per real part (AWS, database, Slack)."""

pytest_plugins = [
    "tests.support.aws",
    "tests.support.db",
    "tests.support.slack",
]
