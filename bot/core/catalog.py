"""Load a folder of runbooks, reporting every problem of every file at once.

Each problem names the file, the field path, the YAML line and what would be valid.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from bot.core.runbook_rules import check_runbook
from bot.core.runbooks import Runbook

Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    file: str
    path: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.path or '(file)'}: {self.message}"


class CatalogError(Exception):
    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class Catalog:
    """The runbooks of one folder, by name."""

    def __init__(self, runbooks: Iterable[Runbook]):
        self._by_name = {rb.name: rb for rb in runbooks}

    def __iter__(self) -> Iterator[Runbook]:
        return iter(sorted(self._by_name.values(), key=lambda rb: rb.name))

    def __len__(self) -> int:
        return len(self._by_name)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def get(self, name: str) -> Runbook | None:
        return self._by_name.get(name)

    @property
    def names(self) -> list[str]:
        return sorted(self._by_name)


def load_catalog(folder: str | Path) -> Catalog:
    """Load every `*.yaml`/`*.yml` in `folder`; raise CatalogError with all problems."""
    root = Path(folder)
    if not root.is_dir():
        raise CatalogError([Problem(str(root), "", None, "no such folder of runbooks; set "
                                    "JITBOT_RUNBOOKS_DIR or pass the folder")])
    files = sorted([*root.glob("*.yaml"), *root.glob("*.yml")])
    problems: list[Problem] = []
    runbooks: list[Runbook] = []
    first_file: dict[str, str] = {}
    for file in files:
        runbook, found = load_runbook_file(file)
        problems.extend(found)
        if runbook is None:
            continue
        if runbook.name in first_file:
            problems.append(Problem(str(file), "name", _line_of(file, ("name",)),
                                    f"runbook name {runbook.name!r} is already used by "
                                    f"{first_file[runbook.name]}; names must be unique"))
            continue
        first_file[runbook.name] = str(file)
        runbooks.append(runbook)
    if not files:
        problems.append(Problem(str(root), "", None, "the folder holds no *.yaml runbooks"))
    if problems:
        raise CatalogError(problems)
    return Catalog(runbooks)


def load_runbook_file(file: Path) -> tuple[Runbook | None, list[Problem]]:
    name = str(file)
    try:
        text = file.read_text(encoding="utf-8")
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except (OSError, UnicodeDecodeError) as exc:
        return None, [Problem(name, "", None, f"cannot read the file: {exc}")]
    except yaml.YAMLError as exc:
        return None, [_yaml_problem(name, exc)]
    lines = _line_index(node)
    if not isinstance(data, dict):
        return None, [Problem(name, "", 1, "a runbook is a YAML mapping of fields "
                                           "(name, description, table, ...)")]
    try:
        runbook = Runbook.model_validate(data)
    except ValidationError as exc:
        return None, [_problem_from_pydantic(name, lines, err) for err in exc.errors()]
    problems = [
        Problem(name, path, _lookup(lines, _split(path)), message)
        for path, message in check_runbook(runbook)
    ]
    return (None if problems else runbook), problems


def _yaml_problem(file: str, exc: yaml.YAMLError) -> Problem:
    """Point at where the broken construct starts (the context), naming both places."""
    problem_mark = getattr(exc, "problem_mark", None)
    context_mark = getattr(exc, "context_mark", None)
    reason = getattr(exc, "problem", None) or str(exc)
    if problem_mark is not None:
        reason += f" (line {problem_mark.line + 1})"
    context = getattr(exc, "context", None)
    if context and context_mark is not None:
        reason = f"{context} started on line {context_mark.line + 1}: {reason}"
    mark = context_mark or problem_mark
    return Problem(file, "", mark.line + 1 if mark else None, f"not valid YAML: {reason}")


def _problem_from_pydantic(file: str, lines: dict[Path_, int], err: Any) -> Problem:
    loc = tuple(err["loc"])
    path = ".".join(str(p) for p in loc)
    message = err["msg"].removeprefix("Value error, ")
    kind = err["type"]
    if kind == "missing":
        message = f"required field is missing; add `{loc[-1]}:`"
    elif kind == "extra_forbidden":
        message = f"unknown field `{loc[-1]}`; check the spelling against the runbook reference"
    elif kind == "enum":
        expected = err.get("ctx", {}).get("expected", "")
        message = f"{err.get('input')!r} is not allowed; use one of {expected}"
    elif kind == "string_pattern_mismatch":
        pattern = err.get("ctx", {}).get("pattern", "")
        message = f"{err.get('input')!r} does not match {pattern}"
    elif kind == "string_type":
        message = f"{err.get('input')!r} must be text; quote it in YAML"
    return Problem(file, path, _lookup(lines, loc), message)


def _line_index(node: yaml.Node | None) -> dict[Path_, int]:
    """Map every field path of the document to the 1-based line where YAML gives it."""
    index: dict[Path_, int] = {}

    def walk(current: yaml.Node, path: Path_) -> None:
        if isinstance(current, yaml.MappingNode):
            for key_node, value_node in current.value:
                child = (*path, key_node.value)
                index[child] = key_node.start_mark.line + 1
                walk(value_node, child)
        elif isinstance(current, yaml.SequenceNode):
            for i, item in enumerate(current.value):
                index[(*path, i)] = item.start_mark.line + 1
                walk(item, (*path, i))

    if node is not None:
        index[()] = node.start_mark.line + 1
        walk(node, ())
    return index


def _split(path: str) -> Path_:
    return tuple(int(p) if p.isdigit() else p for p in path.split(".")) if path else ()


def _lookup(lines: dict[Path_, int], loc: Path_) -> int | None:
    """The line of the deepest part of `loc` that the YAML gives."""
    for end in range(len(loc), -1, -1):
        prefix = tuple(loc[:end])
        if prefix in lines:
            return lines[prefix]
        # pydantic reports dict keys and list items as the same loc shape as YAML
        str_prefix = tuple(str(p) if isinstance(p, int) else p for p in prefix)
        if str_prefix in lines:
            return lines[str_prefix]
    return None


def _line_of(file: Path, loc: Path_) -> int | None:
    try:
        return _lookup(_line_index(yaml.compose(file.read_text(), Loader=yaml.SafeLoader)), loc)
    except (OSError, yaml.YAMLError):
        return None
