"""``update`` hardens itself once the key is open, and refreshes keep working afterwards."""

from __future__ import annotations

import configparser
import signal

import pytest
from cryptography.hazmat.primitives import serialization

from tests.conftest import emulator_args
from tests.delivery.helpers import identity_args, start_rasign, wait_for

pytestmark = pytest.mark.network

PASSWORD = "correct horse battery"


def _access_key(path) -> str | None:
    parser = configparser.RawConfigParser()
    parser.read(path)
    return parser["default"]["aws_access_key_id"] if parser.has_section("default") else None


def test_password_from_the_environment_survives_the_scrub_across_refreshes(make_emulator, identity, tmp_path):
    emulator = make_emulator()  # private: no other test's faults or clock changes reach it
    cert, key = identity
    private = serialization.load_pem_private_key(key.read_bytes(), None)
    encrypted = tmp_path / "encrypted-key.pem"
    encrypted.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(PASSWORD.encode()),
        )
    )
    path = tmp_path / "credentials"
    running = start_rasign(
        "update",
        [
            "--credentials-file",
            str(path),
            "--min-refresh-interval",
            "0",
            *identity_args(cert, encrypted),
            *emulator_args(emulator),
        ],
        tmp_path,
        env={"RASIGN_PKCS8_PASSWORD": PASSWORD},
    )
    try:
        first = wait_for(lambda: path.exists() and _access_key(path), 60, message="first write")
        running.process.send_signal(signal.SIGHUP)  # the file backend re-opens (and re-decrypts) the key
        try:
            wait_for(lambda: _access_key(path) not in (None, first), 60, message="refresh after SIGHUP")
        except AssertionError as err:
            raise AssertionError(f"{err}\n{running.log()}") from None
        assert running.alive(), running.log()
    finally:
        assert running.stop() == 0
    log = running.log()
    assert PASSWORD not in log and "Traceback" not in log, log
    assert "refresh failed" not in log, log
