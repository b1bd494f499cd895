"""Fixtures for the db part of the tests."""
