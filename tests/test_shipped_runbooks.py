"""Every shipped runbook, tested the same way (as StackStorm tests every chat alias)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.core.catalog import load_catalog
from bot.core.params import bind, split_request_text
from bot.core.queries import render

ROOT = Path(__file__).resolve().parent.parent
CATALOG = load_catalog(ROOT / "runbooks")


@pytest.mark.parametrize("name", CATALOG.names)
def test_usage_line_with_examples_is_a_valid_request(name: str) -> None:
    runbook = CATALOG.get(name)
    assert runbook is not None
    for param_name, param in runbook.params.items():
        assert param.example, f"{name}.{param_name} needs an example for help and usage"
        assert param.description, f"{name}.{param_name} needs a description"
    text = split_request_text(runbook.usage().removeprefix("/jit ").replace('"..."', '"ticket 1"'))
    rendered = render(bind(runbook, text.values, text.reason), "us-east-1")
    assert rendered.call.table == runbook.table
    assert set(rendered.scope.attributes) >= set(runbook.projection)


@pytest.mark.parametrize("name", CATALOG.names)
def test_triggers_fill_declared_parameters(name: str) -> None:
    runbook = CATALOG.get(name)
    assert runbook is not None
    for trigger in runbook.triggers:
        assert set(re.compile(trigger.pattern).groupindex) <= set(runbook.params)
