"""Socket Mode: the same Bolt App, fed over a WebSocket that the bot opens to Slack.

Used when SLACK_APP_TOKEN is set; no public URL and no request signatures are needed.
The WebSocket URL comes from `apps.connections.open` on SLACK_API_URL, so tests can
point the bot at a local stand-in for Slack.
"""

from __future__ import annotations

from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler

# Envelopes handled at once; listeners only ack and hand off, so a few threads suffice.
CONCURRENCY = 8


def socket_mode_handler(app: App, app_token: str) -> SocketModeHandler:
    if not app_token.startswith("xapp-"):
        raise ValueError("SLACK_APP_TOKEN must be an app-level token (xapp-...) with the "
                         "connections:write scope, from the Slack app's Basic Information page")
    return SocketModeHandler(app, app_token=app_token, web_client=app.client,
                             concurrency=CONCURRENCY)
