"""Shared test helpers and fixtures (registered in tests/conftest.py); tests import from here,
never from another test module."""
