"""The JSON Schema of the runbook format, for editors that validate as users type."""

from __future__ import annotations

import json
from typing import Any

from bot.core.runbooks import Runbook

SCHEMA_ID = "https://github.com/jitbot/jitbot/raw/main/runbooks/runbook.schema.json"


def runbook_schema() -> dict[str, Any]:
    schema = Runbook.model_json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        **schema,
        "title": "jitbot runbook",
        "description": "One just-in-time DynamoDB query runbook (runbooks/*.yaml).",
    }


def runbook_schema_text() -> str:
    return json.dumps(runbook_schema(), indent=2, sort_keys=True) + "\n"
