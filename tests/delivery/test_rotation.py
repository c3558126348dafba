"""Long-running modes pick up renewed certificate/key files at the next refresh."""

from __future__ import annotations

import base64
import shutil
import signal

import pytest
from cryptography import x509

from tests.delivery.helpers import serve_args, start_rasign, wait_for

pytestmark = pytest.mark.network


def _leaf_serial(entry) -> int:
    der = base64.b64decode(entry["headers"]["X-Amz-X509"])
    return x509.load_der_x509_certificate(der).serial_number


def test_serve_uses_renewed_files_at_the_next_refresh(make_emulator, pki, tmp_path):
    emu = make_emulator()
    old_cert, old_key = pki.software_identity(stem="rotation-old")
    new_cert, new_key = pki.software_identity(stem="rotation-new")
    cert, key = tmp_path / "client.pem", tmp_path / "client.key"
    shutil.copy(old_cert, cert)
    shutil.copy(old_key, key)
    running = start_rasign("serve", serve_args(emu, cert, key, "--min-refresh-interval", "0.2"), tmp_path)
    try:
        sessions = [e for e in emu.requests if e["path"] == "/sessions"]
        old_serial = x509.load_pem_x509_certificate(old_cert.read_bytes()).serial_number
        assert _leaf_serial(sessions[-1]) == old_serial
        # Renew: new key and certificate replace the files in place (as certbot-style tools do).
        shutil.copy(new_key, key)
        shutil.copy(new_cert, cert)
        running.process.send_signal(signal.SIGHUP)
        new_serial = x509.load_pem_x509_certificate(new_cert.read_bytes()).serial_number
        wait_for(
            lambda: any(
                _leaf_serial(e) == new_serial and e["status"] == 201 for e in emu.requests if e["path"] == "/sessions"
            ),
            20,
            message="renewed certificate used",
        )
    finally:
        assert running.stop() == 0
