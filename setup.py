"""Builds jitbot; the redaction hot path is compiled to C with mypyc.

Redaction reads every string of a result that can be megabytes large, and has to keep up
with `json.dumps` (issue 3: at least half its throughput). The modules listed under
`[tool.jitbot] compiled` in pyproject.toml are plain typed Python, compiled when the
package is built (a C compiler is needed); with JITBOT_PURE_PYTHON=1 the build skips
that and the same modules run interpreted, at about three quarters of the speed.
"""

import os
import shlex
import shutil
import sysconfig
import tomllib
from pathlib import Path

from setuptools import setup

HERE = Path(__file__).parent


def missing_for_compiling() -> str | None:
    """What the C build lacks on this machine, if anything: said before the build starts
    rather than as a compiler's error in the middle of pip's output."""
    compiler = shlex.split(os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc")
    if not compiler or shutil.which(compiler[0]) is None:
        return f"a C compiler ({compiler[0] if compiler else 'cc'} was not found)"
    if not (Path(sysconfig.get_paths()["include"]) / "Python.h").exists():
        return "the Python headers (Python.h; Debian and Ubuntu: python3-dev)"
    return None


def compiled_modules() -> list:
    if os.environ.get("JITBOT_PURE_PYTHON"):
        return []
    missing = missing_for_compiling()
    if missing:
        raise SystemExit(
            f"jitbot compiles its redaction modules with mypyc and needs {missing}: install "
            "it, or set JITBOT_PURE_PYTHON=1 to build without compiling (redaction then "
            "runs interpreted, at about three quarters of the speed)"
        )
    from mypyc.build import mypycify

    project = tomllib.loads((HERE / "pyproject.toml").read_text())
    paths = project["tool"]["jitbot"]["compiled"]
    # One shared library inside the package (not a hash-named module beside it), so an
    # editable install finds it too.
    return mypycify(["--ignore-missing-imports", *paths], group_name="bot.core.compiled")


setup(ext_modules=compiled_modules())
