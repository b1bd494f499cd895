"""Channel id -> name through conversations.info, cached: triggers may name `#alerts-orders`
while message events carry only the channel id."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError

log = logging.getLogger(__name__)

NAME_SECONDS = 600.0  # channels are renamed rarely; a rename shows within ten minutes
FAILURE_SECONDS = 30.0  # a missing scope or a blip must not cost one call per message


class ChannelNames:
    def __init__(self, client: WebClient, *, ttl: float = NAME_SECONDS,
                 failure_ttl: float = FAILURE_SECONDS,
                 clock: Callable[[], float] = time.monotonic):
        self._client = client
        self._ttl = ttl
        self._failure_ttl = failure_ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._names: dict[str, tuple[float, str | None]] = {}

    def name(self, channel_id: str) -> str | None:
        """The channel's name without `#`, or None when Slack will not say."""
        now = self._clock()
        with self._lock:
            cached = self._names.get(channel_id)
        if cached is not None:
            at, known = cached
            if now - at < (self._ttl if known is not None else self._failure_ttl):
                return known
        name = self._look_up(channel_id)
        with self._lock:
            self._names[channel_id] = (now, name)
        return name

    def _look_up(self, channel_id: str) -> str | None:
        try:
            response = self._client.conversations_info(channel=channel_id)
        except SlackApiError as exc:
            error = str(exc.response.get("error"))
        except (SlackRequestError, OSError) as exc:
            error = type(exc).__name__
        else:
            return str((response.get("channel") or {}).get("name") or "") or None
        log.warning("could not resolve a channel name; triggers naming #channels will not see "
                    "it (check the channels:read and groups:read scopes)",
                    extra={"channel": channel_id, "error": error})
        return None
