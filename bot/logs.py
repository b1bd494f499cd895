"""Structured logs: one JSON object per line on stderr, via the standard logging module.

Code logs identifiers (request id, user id, runbook, counts), never parameter values,
results or credentials; as a second line of defence the formatter masks anything shaped
like a Slack token or an AWS secret that slips into a message.

Lines are formatted and written on a thread of their own (the standard library's
`QueueHandler` and `QueueListener`): a thread that logs only puts the record on a queue.
Written where they are logged, every HTTP thread answering Slack would take its turn at
the one stream's lock, and wait there while another thread's line goes out. The queue is
drained when the process exits normally; a process killed outright loses the lines not
yet written (at most the last 50 milliseconds' worth; the audit trail is in the
database).
"""

from __future__ import annotations

import atexit
import copy
import json
import logging
import re
import sys
import time
from datetime import UTC, datetime
from logging.handlers import QueueHandler, QueueListener
from pathlib import Path
from queue import SimpleQueue
from typing import Any

_SECRET = re.compile(
    r"xox[abposr]-[A-Za-z0-9-]+"  # Slack bot/user/app-configuration tokens
    r"|xapp-[A-Za-z0-9-]+"  # Slack app-level tokens
    r"|(?<![A-Za-z0-9/+=])[A-Za-z0-9/+=]{40}(?![A-Za-z0-9/+=])"  # AWS secret access keys
    r"|(?:ASIA|AKIA)[A-Z0-9]{16}"  # AWS access key ids
)
# attributes every LogRecord has; anything else came in through `extra=`
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
_AS_IS = (int, float, bool, type(None))  # extra values written as JSON numbers, true, null
# one encoder for every line: json.dumps with options builds a new one per call
_ENCODER = json.JSONEncoder(ensure_ascii=False)
WRITE_PAUSE_SECONDS = 0.05  # lines reach the stream this much later at most, when idle


# The loggers of slack_sdk's Web API and response_url clients. They would inherit the
# level set on "slack_sdk", but these clients test a logger's *own* level, and while it is
# unset they write out every request's and response's debug text (the bodies included,
# a good part of a call's cost) for logging to drop. Set, they log the same and skip that.
_SLACK_CLIENTS = ("slack_sdk.web.base_client", "slack_sdk.webhook.client")


def mask(text: str) -> str:
    return _SECRET.sub("[redacted]", text)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": mask(record.getMessage()),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value if isinstance(value, _AS_IS) else mask(str(value))
        if record.exc_info and record.exc_info[0] is not None:
            entry["error"] = record.exc_info[0].__name__
            entry["traceback"] = mask(self.formatException(record.exc_info))
        return _ENCODER.encode(entry)


class _Enqueue(QueueHandler):
    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        # The message is merged with its arguments now, while they are as they were when
        # logged; formatting, masking and the traceback's text wait for the writer thread.
        prepared = copy.copy(record)
        prepared.msg, prepared.args = record.getMessage(), None
        return prepared


class _Writer(QueueListener):
    """Writes the queued lines in batches: once the queue is empty it pauses before
    looking again, so a burst of lines wakes it a few times a second, not once a line
    (each wake-up takes the interpreter lock from the threads answering Slack)."""

    def dequeue(self, block: bool) -> logging.LogRecord:
        if self.queue.empty():
            time.sleep(WRITE_PAUSE_SECONDS)
        return super().dequeue(block)  # type: ignore[no-any-return]


_writer: QueueListener | None = None


def configure_logging(level: str = "INFO", path: Path | None = None) -> None:
    """Send every logger to stderr (or the file at `path`) as JSON lines, written on a
    thread of their own; quiet the chatty HTTP libraries."""
    global _writer
    replaced = _writer.handlers if _writer is not None else ()
    stop_logging()
    for handler in replaced:
        handler.close()
    output = (logging.FileHandler(path, encoding="utf-8") if path is not None
              else logging.StreamHandler(sys.stderr))
    output.setFormatter(JsonFormatter())
    records: SimpleQueue[logging.LogRecord] = SimpleQueue()
    _writer = _Writer(records, output)
    _writer.start()
    root = logging.getLogger()
    root.handlers[:] = [_Enqueue(records)]
    root.setLevel(level.upper())
    # slack_sdk at DEBUG prints request bodies; urllib3/botocore likewise; APScheduler
    # logs every sweep (every few seconds) at INFO; werkzeug each request to the moto
    # server the demo runs
    for noisy in ("slack_sdk", "urllib3", "botocore", "boto3", "apscheduler", "werkzeug",
                  *_SLACK_CLIENTS):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    # waitress warns once for every request that waits for an HTTP thread: thousands of
    # lines in a burst, each costing as much as the request's own ack. The same signal
    # is the jitbot_slack_requests_in_flight gauge on /metrics.
    logging.getLogger("waitress.queue").setLevel(max(logging.ERROR, root.level))
    # Bolt, too, looks at its logger's own level (jitbot gives it "bot.slack.bolt"), and
    # while it is unset builds a debug line for every middleware of every request
    logging.getLogger("bot.slack.bolt").setLevel(root.level)


def stop_logging() -> None:
    """Write out every line still queued and stop the writer thread (at exit): what is
    logged after that is written where it is logged."""
    global _writer
    if _writer is not None:
        writer, _writer = _writer, None
        writer.stop()
        logging.getLogger().handlers[:] = list(writer.handlers)


atexit.register(stop_logging)
