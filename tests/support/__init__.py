"""Shared test helpers (PKI, CLI runner)."""
