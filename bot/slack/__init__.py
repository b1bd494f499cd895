"""The Slack adapter: turns Slack payloads into calls on the core and results into Block Kit."""
