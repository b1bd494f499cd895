"""Log lines are written on a thread of their own: a thread that logs never waits for the
stream, and every line logged is written by the time the process exits."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.logs import configure_logging, stop_logging


class HeldStream:
    """A stream whose writes wait until it is released: a slow pipe or a full disk."""

    def __init__(self) -> None:
        self.released = threading.Event()
        self.lines: list[str] = []

    def write(self, text: str) -> int:
        self.released.wait(10)
        self.lines.append(text)
        return len(text)

    def flush(self) -> None:
        pass


@pytest.fixture
def restored_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    stop_logging()
    root.handlers[:] = handlers
    root.setLevel(level)


def test_a_thread_that_logs_does_not_wait_for_the_stream(
        monkeypatch: pytest.MonkeyPatch, restored_logging: None) -> None:
    stream = HeldStream()
    monkeypatch.setattr(sys, "stderr", stream)
    configure_logging("INFO")
    logged = threading.Event()

    def answer_slack() -> None:
        logging.getLogger("bot.slack").info("request handed to the workflow",
                                            extra={"user": "U1"})
        logging.getLogger("bot.slack").info("another", extra={"user": "U2"})
        logged.set()

    threading.Thread(target=answer_slack, daemon=True).start()
    assert logged.wait(5), "logging waited for the stream"
    assert stream.lines == []
    stream.released.set()
    stop_logging()
    lines = [json.loads(line) for line in "".join(stream.lines).splitlines()]
    assert [(line["message"], line["user"]) for line in lines] == [
        ("request handed to the workflow", "U1"), ("another", "U2")]


def test_every_line_logged_is_written_by_exit_in_order_per_thread(tmp_path: Path) -> None:
    script = (
        "import logging, threading\n"
        "from bot.logs import configure_logging\n"
        "configure_logging('INFO')\n"
        "def burst(name):\n"
        "    for n in range(500):\n"
        "        logging.getLogger('bot.x').info('line %d', n, extra={'worker': name})\n"
        "threads = [threading.Thread(target=burst, args=(str(t),)) for t in range(4)]\n"
        "[t.start() for t in threads]; [t.join() for t in threads]\n"
        "try:\n"
        "    raise ValueError('boom')\n"
        "except ValueError:\n"
        "    logging.getLogger('bot.x').exception('failed')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, check=True, cwd=Path(__file__).resolve().parent.parent)
    lines = [json.loads(line) for line in done.stderr.splitlines()]
    for name in "0123":
        mine = [line["message"] for line in lines if line.get("worker") == name]
        assert mine == [f"line {n}" for n in range(500)]
    assert lines[-1]["message"] == "failed"
    assert lines[-1]["error"] == "ValueError" and "boom" in lines[-1]["traceback"]


def test_waitress_does_not_log_a_line_per_request_waiting_for_a_thread(
        monkeypatch: pytest.MonkeyPatch, restored_logging: None) -> None:
    stream = HeldStream()
    stream.released.set()
    monkeypatch.setattr(sys, "stderr", stream)
    configure_logging("INFO")
    logging.getLogger("waitress.queue").warning("Task queue depth is %d", 3)
    logging.getLogger("waitress").warning("Unknown adjustment %r", "x")
    stop_logging()
    assert [json.loads(line)["logger"] for line in "".join(stream.lines).splitlines()] == [
        "waitress"]


def test_bolt_builds_no_debug_lines_unless_debug_is_on(restored_logging: None) -> None:
    # Bolt tests its logger's own level before building a line per middleware
    bolt = logging.getLogger("bot.slack.bolt")
    configure_logging("INFO")
    assert bolt.level == logging.INFO
    configure_logging("DEBUG")
    assert bolt.level == logging.DEBUG
