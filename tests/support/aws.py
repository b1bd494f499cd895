"""Fixtures for the aws part of the tests."""
