"""Structured logs: one JSON object per line on stderr, via the standard logging module.

Code logs identifiers (request id, user id, runbook, counts), never parameter values,
results or credentials; as a second line of defence the formatter masks anything shaped
like a Slack token or an AWS secret that slips into a message.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
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


def configure_logging(level: str = "INFO") -> None:
    """Send every logger to stderr as JSON lines; quiet the chatty HTTP libraries."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # slack_sdk at DEBUG prints request bodies; urllib3/botocore likewise; APScheduler
    # logs every sweep (every few seconds) at INFO
    for noisy in ("slack_sdk", "urllib3", "botocore", "boto3", "apscheduler", *_SLACK_CLIENTS):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
