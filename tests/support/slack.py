"""Fixtures for the slack part of the tests."""
