"""The runbook catalog: the shipped folder loads; every broken fixture yields its one message."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.core.catalog import CatalogError, load_catalog

ROOT = Path(__file__).resolve().parent.parent
BROKEN = ROOT / "tests" / "fixtures" / "broken_runbooks"
EXPECT = re.compile(r"^# expect: (?P<text>.*)$")


def _expectations() -> dict[str, list[str]]:
    """Each fixture opens with one `# expect: ...` line per problem it must produce."""
    found: dict[str, list[str]] = {}
    for file in sorted(BROKEN.glob("*.yaml")):
        texts = [m["text"] for m in map(EXPECT.match, file.read_text().splitlines()) if m]
        assert texts, f"{file.name} must start with '# expect: ...'"
        found[file.name] = [t for t in texts if not t.startswith("(valid")]
    return found


def test_shipped_runbooks_load() -> None:
    catalog = load_catalog(ROOT / "runbooks")
    assert catalog.names == ["customer-orders", "orders-lookup", "stuck-orders-scan"]


def test_every_broken_runbook_is_reported_at_once_with_file_field_and_line() -> None:
    with pytest.raises(CatalogError) as caught:
        load_catalog(BROKEN)
    by_file: dict[str, list[str]] = {}
    for problem in caught.value.problems:
        by_file.setdefault(Path(problem.file).name, []).append(str(problem))
        assert problem.line is not None, f"{problem} has no line"
    for name, expected in _expectations().items():
        messages = by_file.get(name, [])
        assert len(messages) == len(expected), f"{name}: expected {expected}, got {messages}"
        for want, got in zip(expected, messages, strict=True):
            assert want in got, f"{name}: {got!r} lacks {want!r}"
            assert got.startswith(str(BROKEN / name) + ":")


@pytest.mark.parametrize(
    ("fixture", "fragment"),
    [("limit-too-big.yaml", "limit: 5000"), ("session-too-long.yaml", "duration: 13h"),
     ("bad-yaml.yaml", "limit: [10"), ("undeclared-placeholder.yaml", 'sk: "LINE#{line}"'),
     ("trigger-undeclared-group.yaml", "pattern: 'order (?P<order>"),
     ("bad-approver.yaml", 'approvers: ["oncall"]')],
)
def test_line_numbers_point_at_the_offending_field(fixture: str, fragment: str) -> None:
    with pytest.raises(CatalogError) as caught:
        load_catalog(BROKEN)
    [problem] = [p for p in caught.value.problems if p.file.endswith("/" + fixture)]
    assert problem.line is not None
    source_line = (BROKEN / fixture).read_text().splitlines()[problem.line - 1]
    assert fragment in source_line, f"{problem} points at {source_line!r}"


def test_missing_and_empty_folders_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="no such folder"):
        load_catalog(tmp_path / "nope")
    with pytest.raises(CatalogError, match="holds no"):
        load_catalog(tmp_path)
