"""Integration tests use the service fixtures of tests/services.py (loaded by tests/conftest.py)."""
