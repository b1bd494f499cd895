"""The demo: a local, realistic setting for trying jitbot end to end."""
