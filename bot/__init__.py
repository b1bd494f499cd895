"""jitbot: just-in-time DynamoDB query runbooks in Slack."""

__version__ = "0.1.0"
