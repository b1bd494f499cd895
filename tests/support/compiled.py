"""The modules mypyc compiles (pyproject.toml `[tool.jitbot] compiled`), and their state.

An editable install puts each compiled module beside its source, where Python prefers it:
a source edited since the last build would go untested. `make install` rebuilds when a
listed source changes; pytest run on its own is stopped by `stale_builds` instead.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def sources() -> dict[str, Path]:
    """Module name -> source file, for every module listed as compiled."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    paths = project["tool"]["jitbot"]["compiled"]
    return {path.removesuffix(".py").replace("/", "."): ROOT / path for path in paths}


def builds(source: Path) -> list[Path]:
    return sorted(source.parent.glob(f"{source.stem}.cpython-*.so"))


def pure_python() -> bool:
    return bool(os.environ.get("JITBOT_PURE_PYTHON"))


def stale_builds() -> list[str]:
    """The compiled modules built before their source was last changed."""
    return [
        name
        for name, source in sources().items()
        for build in builds(source)
        if build.stat().st_mtime < source.stat().st_mtime
    ]


def leftover_builds() -> list[str]:
    """Compiled modules still present when the build is meant to be interpreted."""
    if not pure_python():
        return []
    return [name for name, source in sources().items() if builds(source)]
