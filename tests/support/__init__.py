"""Helpers shared by the tests (no fixtures here: those are in tests/conftest.py)."""
