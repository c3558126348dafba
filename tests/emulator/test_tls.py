"""The emulator's TLS: verified against its own CA bundle, TLS 1.2 at least."""

from __future__ import annotations

import socket
import ssl

import pytest

pytestmark = pytest.mark.network


def handshake(emu, maximum: ssl.TLSVersion, minimum: ssl.TLSVersion = ssl.TLSVersion.MINIMUM_SUPPORTED) -> str:
    context = ssl.create_default_context(cafile=emu.ca_bundle)
    context.minimum_version = minimum
    context.maximum_version = maximum
    with (
        socket.create_connection(("127.0.0.1", emu.port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        return tls.version()


def test_tls13_and_tls12_verify_against_the_bundle(emu):
    assert handshake(emu, ssl.TLSVersion.TLSv1_3) == "TLSv1.3"
    assert handshake(emu, ssl.TLSVersion.TLSv1_2) == "TLSv1.2"


def test_tls11_is_refused_by_the_server(emu):
    """openssl s_client at security level 0 offers TLS 1.1; the SERVER must answer with
    a protocol_version alert (70), proving the refusal is the emulator's, not the client's."""
    import subprocess

    result = subprocess.run(
        [
            "openssl",
            "s_client",
            "-connect",
            f"127.0.0.1:{emu.port}",
            "-tls1_1",
            "-cipher",
            "DEFAULT:@SECLEVEL=0",
            "-CAfile",
            emu.ca_bundle,
        ],
        input=b"",
        capture_output=True,
        timeout=20,
        check=False,
    )
    assert result.returncode != 0
    assert b"alert protocol version" in result.stderr


def test_localhost_name_is_in_the_certificate(emu):
    context = ssl.create_default_context(cafile=emu.ca_bundle)
    with (
        socket.create_connection(("127.0.0.1", emu.port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        assert tls.version() in ("TLSv1.2", "TLSv1.3")


def test_the_system_trust_store_does_not_trust_it(emu):
    context = ssl.create_default_context()
    with (
        pytest.raises(ssl.SSLCertVerificationError),
        socket.create_connection(("127.0.0.1", emu.port), timeout=5) as raw,
    ):
        context.wrap_socket(raw, server_hostname="127.0.0.1")
