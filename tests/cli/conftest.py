"""Fixtures of the CLI tests: the SoftHSM tokens of the PKCS#11 area (for ``--pkcs11-pin``)."""

from tests.pkcs11.conftest import hsm  # noqa: F401
