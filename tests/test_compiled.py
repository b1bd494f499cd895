"""The redaction hot path runs compiled (mypyc), and agrees with its interpreted source."""

from __future__ import annotations

import importlib
import os
import pickle
import subprocess
import sys
from decimal import Decimal
from importlib.machinery import ExtensionFileLoader
from pathlib import Path

import pytest

from bench.redaction import SPEC, make_items
from bot.core.redaction import Redactor
from tests.support.compiled import ROOT, builds, pure_python, sources

KEY = b"test-hash-key-0123456789"
NEAR_MISSES = (ROOT / "tests" / "data" / "near_misses.txt").read_text("utf-8").splitlines()

# Run in a child process: imports every compiled module from its source instead, redacts
# the pickled items read from stdin and writes the pickled result to stdout.
INTERPRETED = """
import importlib.util, pickle, sys
sources = pickle.loads(bytes.fromhex(sys.argv[1]))

class FromSource:
    def find_spec(self, name, path=None, target=None):
        if name in sources:
            return importlib.util.spec_from_file_location(name, sources[name])
        return None

sys.meta_path.insert(0, FromSource())
from bot.core.redaction import Redactor
from bench.redaction import SPEC
assert all(sys.modules[name].__file__.endswith(".py") for name in sources)
items, key = pickle.loads(sys.stdin.buffer.read())
result = Redactor(SPEC, key).redact(items)
sys.stdout.buffer.write(pickle.dumps((result.items, result.counts)))
"""


@pytest.mark.skipif(pure_python(), reason="JITBOT_PURE_PYTHON is set: built without mypyc")
def test_every_listed_module_is_built_and_imported_compiled() -> None:
    for name, source in sources().items():
        assert builds(source), f"{name} was not compiled: run `make install`"
        module = importlib.import_module(name)
        assert isinstance(module.__loader__, ExtensionFileLoader), name


def _items() -> list[dict]:
    items = make_items(0.3, seed=11)
    items += [{"note": line, "n": Decimal(index)} for index, line in enumerate(NEAR_MISSES)]
    items.append({"ann@example.com": {"ann@example.com": "x", "10.0.0.1": [["+44 20 7946 0958"]]},
                  "mixed": ["AKIAIOSFODNN7EXAMPLE", 1, None, True, {"ip": "2001:db8::1"}]})
    return items


def test_compiled_and_interpreted_redaction_give_the_same_result() -> None:
    items = _items()
    paths = {name: str(source) for name, source in sources().items()}
    interpreted = subprocess.run(
        [sys.executable, "-c", INTERPRETED, pickle.dumps(paths).hex()],
        input=pickle.dumps((items, KEY)), capture_output=True, cwd=ROOT, check=False,
    )
    assert interpreted.returncode == 0, interpreted.stderr.decode()
    expected_items, expected_counts = pickle.loads(interpreted.stdout)

    result = Redactor(SPEC, KEY).redact(items)
    assert result.counts == expected_counts and sum(result.counts.values()) > 1000
    assert result.items == expected_items
    assert Path(sys.modules["bot.core.redaction"].__file__ or "").suffix == (
        ".py" if pure_python() else ".so"
    )


def test_a_build_without_a_c_compiler_says_what_is_missing_and_the_way_out() -> None:
    env = {**os.environ, "CC": "no-such-cc"}
    env.pop("JITBOT_PURE_PYTHON", None)
    build = subprocess.run([sys.executable, "setup.py", "--version"], cwd=ROOT, env=env,
                           capture_output=True, text=True, check=False)
    assert build.returncode != 0
    assert "needs a C compiler (no-such-cc was not found)" in build.stderr
    assert "JITBOT_PURE_PYTHON=1" in build.stderr
