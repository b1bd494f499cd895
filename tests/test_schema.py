"""The committed JSON Schema is current, and it accepts the shipped runbooks."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import yaml

from bot.core.schema import runbook_schema, runbook_schema_text

ROOT = Path(__file__).resolve().parent.parent
COMMITTED = ROOT / "runbooks" / "runbook.schema.json"


def test_committed_schema_is_current() -> None:
    assert COMMITTED.read_text() == runbook_schema_text(), (
        "runbooks/runbook.schema.json is stale: run `make schema` and commit it"
    )


def test_schema_accepts_shipped_runbooks_and_rejects_typos() -> None:
    validator = jsonschema.Draft202012Validator(runbook_schema())
    for file in sorted((ROOT / "runbooks").glob("*.yaml")):
        data = yaml.safe_load(file.read_text())
        assert list(validator.iter_errors(data)) == [], file.name
        broken = {**data, "projecton": ["pk"]}
        assert list(validator.iter_errors(broken)), "unknown fields must fail in the editor too"
    sample = json.loads(COMMITTED.read_text())
    assert sample["properties"]["session"]
