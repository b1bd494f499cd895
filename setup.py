"""Builds jitbot; the redaction hot path is compiled to C with mypyc.

Redaction reads every string of a result that can be megabytes large, and has to keep up
with `json.dumps` (issue 3: at least half its throughput). The modules listed under
`[tool.jitbot] compiled` in pyproject.toml are plain typed Python, compiled when the
package is built (a C compiler is needed); with JITBOT_PURE_PYTHON=1 the build skips
that and the same modules run interpreted, at about three quarters of the speed.
"""

import os
import tomllib
from pathlib import Path

from setuptools import setup

HERE = Path(__file__).parent


def compiled_modules() -> list:
    if os.environ.get("JITBOT_PURE_PYTHON"):
        return []
    from mypyc.build import mypycify

    project = tomllib.loads((HERE / "pyproject.toml").read_text())
    paths = project["tool"]["jitbot"]["compiled"]
    # One shared library inside the package (not a hash-named module beside it), so an
    # editable install finds it too.
    return mypycify(["--ignore-missing-imports", *paths], group_name="bot.core.compiled")


setup(ext_modules=compiled_modules())
